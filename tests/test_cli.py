"""The CLI: help, plugin listing, config display, and one-line errors for bad input."""

import pytest

from rpt.cli import COMMANDS, main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code, err):
    assert code == 2
    assert err.startswith("rpt: error: ") and err.count("\n") == 1 and "Traceback" not in err
    return err


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_help(capsys, command):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: rpt " + command in capsys.readouterr().out


def test_plugins_lists_rewards(capsys):
    code, out, _ = run(capsys, "plugins")
    assert code == 0
    for name in ("exact_match", "prefix_match", "first_token", "proxy_prob", "hf", "all"):
        assert f"  {name} " in out


def test_config_show_applies_overrides(capsys):
    code, out, _ = run(capsys, "config", "show", "reward=exact_match", "trainer.max_steps=20")
    assert code == 0
    assert "name: exact_match" in out and "max_steps: 20" in out


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["reward=exact_mtch"], "unknown reward 'exact_mtch' (did you mean 'exact_match'"),
        (["trainer.max_step=3"], "unknown config key 'trainer.max_step' (did you mean 'max_steps'?)"),
        (["trainer.max_steps=abc"], "bad value in override 'trainer.max_steps=abc'"),
    ],
)
def test_bad_config_is_one_line(capsys, overrides, message):
    code, _, err = run(capsys, "config", "show", *overrides)
    assert message in one_line_error(code, err)


def test_unknown_plugin_name_lists_valid_ones(capsys, corpus_jsonl, tiny_model_dir):
    from rpt.registry import build

    with pytest.raises(Exception) as info:
        build("reward", {"name": "prefix_mach"})
    assert "did you mean 'prefix_match'" in str(info.value) and "valid names: exact_match" in str(info.value)


def test_tasks_bad_inputs_are_one_line(capsys, tmp_path, tiny_model_dir):
    code, _, err = run(capsys, "tasks", f"data.path={tmp_path / 'missing.jsonl'}", f"model.tokenizer={tiny_model_dir}")
    assert "corpus not found" in one_line_error(code, err)
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"text": "hello world"}\n', encoding="utf-8")
    code, _, err = run(capsys, "tasks", f"data.path={corpus}", f"model.tokenizer={tmp_path / 'no_tok'}")
    assert "tokenizer path does not exist" in one_line_error(code, err)
    code, _, err = run(capsys, "tasks", f"data.path={corpus}")
    assert "'model.policy' is required" in one_line_error(code, err)


def test_tasks_prints_ground_truth(capsys, corpus_jsonl, tiny_model_dir, tmp_path):
    code, out, _ = run(
        capsys, "tasks", f"data.path={corpus_jsonl}", f"model.tokenizer={tiny_model_dir}",
        f"data.cache_dir={tmp_path}", "--count", "2",
    )
    assert code == 0
    assert out.count("# doc ") == 2 and "boundaries [" in out
