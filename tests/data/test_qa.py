"""Question-answer tasks: records in GSM8K and Skywork-OR1 form become questions with their final answers."""

import json

import pytest
from omegaconf import OmegaConf

from rpt.config import QAConfig
from rpt.data.qa import QA_INSTRUCTION, QATask, TaskPromptFormat, read_qa_tasks
from rpt.errors import RptError

GSM8K_ROWS = [
    {"question": "Natalia sold 48 clips in April and half as many in May. How many in all?",
     "answer": "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nAltogether 48+24 = <<48+24=72>>72.\n#### 72"},
    {"question": "A robe takes 2 bolts of blue fiber and half that much white fiber. How many bolts?",
     "answer": "It takes 2/2=<<2/2=1>>1 bolt of white fiber\n#### 3"},
]
SKYWORK_ROWS = [
    {"prompt": [{"role": "user", "content": "Compute 1/2 + 1/4."}], "reward_model": {"ground_truth": '["\\\\frac{3}{4}"]'}},
    {"prompt": [{"role": "user", "content": "Roots of x^2=1?"}], "reward_model": {"ground_truth": '["1", "-1"]'}},
]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def qa(**options) -> QAConfig:
    return OmegaConf.structured(QAConfig(**options))


def test_gsm8k_records_give_the_number_after_the_last_marker(tmp_path):
    tasks = read_qa_tasks(str(write_jsonl(tmp_path / "g.jsonl", GSM8K_ROWS)), "train", qa())
    assert tasks == [QATask(0, GSM8K_ROWS[0]["question"], ("72",)), QATask(1, GSM8K_ROWS[1]["question"], ("3",))]


def test_skywork_records_by_dotted_paths_and_json_lists(tmp_path):
    path = write_jsonl(tmp_path / "s.jsonl", SKYWORK_ROWS)
    options = qa(question_field="prompt.0.content", answer_field="reward_model.ground_truth",
                 answer_format="json_list", answer_marker=None)
    tasks = read_qa_tasks(str(path), "train", options)
    assert [t.question for t in tasks] == ["Compute 1/2 + 1/4.", "Roots of x^2=1?"]
    assert [t.references for t in tasks] == [("\\frac{3}{4}",), ("1", "-1")]
    assert tasks[1].reference == "1"


def test_max_records_reads_the_first_ones(tmp_path):
    assert len(read_qa_tasks(str(write_jsonl(tmp_path / "g.jsonl", GSM8K_ROWS)), "train", qa(), max_records=1)) == 1


@pytest.mark.parametrize("rows,options,message", [
    ([{"question": "q", "answer": "no marker here"}], {}, "no '####'"),
    ([{"question": "q"}], {}, "no field 'answer'"),
    ([{"question": "", "answer": "#### 1"}], {}, "not a non-empty string"),
    ([{"question": "q", "answer": "#### "}], {}, "empty reference"),
    ([{"question": "q", "answer": "[]"}], {"answer_format": "json_list"}, "not a non-empty JSON list"),
    ([{"question": "q", "answer": "1"}], {"answer_format": "yaml"}, "answer_format must be one of"),
])
def test_bad_records_are_one_line_errors(tmp_path, rows, options, message):
    with pytest.raises(RptError, match=message):
        read_qa_tasks(str(write_jsonl(tmp_path / "bad.jsonl", rows)), "train", qa(**options))


def test_missing_file_is_an_error(tmp_path):
    with pytest.raises(RptError, match="question file not found"):
        read_qa_tasks(str(tmp_path / "none.jsonl"), "train", qa())


def test_prompts_hold_the_question(tiny_model_dir):
    from rpt.models import load_tokenizer

    tokenizer = load_tokenizer(str(tiny_model_dir))
    task = QATask(0, "What is 2+3?", ("5",))
    direct = TaskPromptFormat("direct", tokenizer, chat=False).render(task)
    assert tokenizer.decode(direct) == "What is 2+3?"
    for template in ("v0", "rpt_reasoning"):  # every boxed template asks a question the same way
        reasoning = TaskPromptFormat(template, tokenizer, chat=True).render(task)  # no chat template: plain text
        assert tokenizer.decode(reasoning) == f"{QA_INSTRUCTION}\n\nWhat is 2+3?"
