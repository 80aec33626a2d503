"""data=omnimath reads the OmniMATH schema (a local parquet written here stands in for the hub dataset)."""

import pyarrow as pa
import pyarrow.parquet as pq

from rpt.config import load_config
from rpt.data.corpus import read_documents, split_documents

ROWS = [
    {"domain": ["Mathematics -> Algebra"], "difficulty": 3.5, "problem": "Find $x$ if $2x = 4$.",
     "solution": "Divide by 2: $x = 2$.", "answer": "2", "source": "amc"},
    {"domain": ["Mathematics -> Number Theory"], "difficulty": 6.0, "problem": "Is 91 prime?",
     "solution": "No: 91 = 7 x 13.", "answer": "No", "source": "imo"},
]


def test_omnimath_documents_are_problem_then_solution(tmp_path):
    path = tmp_path / "omnimath.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), path)
    cfg = load_config(["data=omnimath", f"data.path={path}"])
    assert read_documents(cfg.data) == ["Find $x$ if $2x = 4$.\n\nDivide by 2: $x = 2$.", "Is 91 prime?\n\nNo: 91 = 7 x 13."]


def test_omnimath_preset_names_the_hub_dataset_and_holds_out_200_of_4428():
    data = load_config(["data=omnimath"]).data
    assert (data.path, data.split) == ("KbsdJames/Omni-MATH", "test")
    train, val = split_documents(4428, data.val_fraction, data.seed)
    assert (len(train), len(val)) == (4228, 200)
