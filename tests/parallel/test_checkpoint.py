"""Export to a Hugging Face folder from a `.ckpt` file and from a sharded (DCP) folder."""

import pytest
import torch
import torch.distributed.checkpoint as dcp
from transformers import AutoModelForCausalLM, AutoTokenizer

from tests.fixtures import tiny_qwen2
from rpt.errors import RptError
from rpt.parallel.checkpoint import export_checkpoint, save_hf_folder

INPUT = torch.tensor([[5, 17, 42, 7, 99, 3]])


@pytest.fixture
def trained(tiny_model_dir):
    """The fixture model with every weight moved off its saved value (as if trained)."""
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    return model


def logits(model) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=INPUT).logits


def lightning_state(model) -> dict[str, torch.Tensor]:
    """Weights keyed as a LightningModule holding the model at `self.policy` stores them."""
    return {f"policy.{k}": v.clone() for k, v in model.state_dict().items()}


def assert_same_model(folder, model, tiny_model_dir):
    loaded = AutoModelForCausalLM.from_pretrained(folder)
    assert type(loaded).__name__ == "Qwen2ForCausalLM"
    torch.testing.assert_close(logits(loaded), logits(model), atol=0, rtol=0)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert tokenizer.get_vocab() == AutoTokenizer.from_pretrained(tiny_model_dir).get_vocab()


def test_export_from_a_ckpt_file(trained, tiny_model_dir, tmp_path):
    ckpt = tmp_path / "step-000001.ckpt"
    torch.save({"state_dict": lightning_state(trained), "global_step": 1}, ckpt)
    out = export_checkpoint(ckpt, tmp_path / "hf", policy=tiny_model_dir)
    assert_same_model(out, trained, tiny_model_dir)


def test_export_from_a_sharded_folder_reads_only_the_policy(trained, tiny_model_dir, tmp_path):
    """Lightning's ModelParallelStrategy layout: DCP of {"state_dict": ..., "optimizer_0": ...}."""
    ckpt = tmp_path / "step-000001.ckpt"
    optimizer_state = {"state": {"exp_avg": torch.ones(3)}}
    dcp.save({"state_dict": lightning_state(trained), "optimizer_0": optimizer_state}, checkpoint_id=ckpt, no_dist=True)
    out = export_checkpoint(ckpt, tmp_path / "hf", policy=tiny_model_dir)
    assert_same_model(out, trained, tiny_model_dir)


def test_export_replaces_an_earlier_export_with_force_and_leaves_no_staging(trained, tiny_model_dir, tmp_path):
    save_hf_folder(trained.state_dict(), trained.config, tmp_path / "hf")
    (tmp_path / "hf" / "stale.txt").write_text("old")
    with pytest.raises(RptError, match="--force"):
        save_hf_folder(trained.state_dict(), trained.config, tmp_path / "hf")
    save_hf_folder(trained.state_dict(), trained.config, tmp_path / "hf", force=True)
    assert not (tmp_path / "hf" / "stale.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hf"]


def test_two_models_in_one_checkpoint_need_a_prefix(trained, tiny_model_dir, tmp_path):
    ckpt = tmp_path / "two.ckpt"
    state = lightning_state(trained) | {f"reference.{k}": v for k, v in tiny_qwen2(300).state_dict().items()}
    torch.save({"state_dict": state}, ckpt)
    with pytest.raises(RptError, match="several models"):
        export_checkpoint(ckpt, tmp_path / "hf", policy=tiny_model_dir)
    assert_same_model(export_checkpoint(ckpt, tmp_path / "hf", policy=tiny_model_dir, prefix="policy."),
                      trained, tiny_model_dir)


def test_bad_checkpoints_are_user_errors(tiny_model_dir, tmp_path):
    with pytest.raises(RptError, match="does not exist"):
        export_checkpoint(tmp_path / "nope.ckpt", tmp_path / "hf", policy=tiny_model_dir)
    (tmp_path / "empty").mkdir()
    with pytest.raises(RptError, match="not a sharded checkpoint"):
        export_checkpoint(tmp_path / "empty", tmp_path / "hf", policy=tiny_model_dir)
    torch.save({"state_dict": {"other.weight": torch.zeros(2)}}, tmp_path / "other.ckpt")
    with pytest.raises(RptError, match="no weights of this model"):
        export_checkpoint(tmp_path / "other.ckpt", tmp_path / "hf", policy=tiny_model_dir)
