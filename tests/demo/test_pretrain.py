import numpy as np
import torch

from rpt.recipes.demo.corpus import generate_corpus
from rpt.padding import right_pad
from rpt.recipes.demo.pretrain import pretrain
from rpt.recipes.demo.tiny import tiny_qwen2, train_tokenizer


def _setup():
    texts = [r["text"] for r in generate_corpus(16, seed=0)]
    tokenizer = train_tokenizer(texts, vocab_size=300)
    docs = [np.asarray(x) for x in tokenizer(texts, add_special_tokens=False)["input_ids"]]
    return tokenizer, docs


def _mean_loss(model, docs, pad_id):
    ids, mask = right_pad(docs, pad_id, torch.device("cpu"))
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=mask, labels=ids.masked_fill(mask == 0, -100)).loss.item()


def test_pretraining_learns_the_corpus_and_is_reproducible():
    torch.set_num_threads(1)
    tokenizer, docs = _setup()
    model = tiny_qwen2(len(tokenizer), hidden_size=32, layers=1, heads=2, seed=0)
    before = _mean_loss(model, docs, tokenizer.pad_token_id)
    losses = pretrain(model, docs, tokenizer.pad_token_id, steps=40, batch_size=8, lr=1e-2, seed=0)
    after = _mean_loss(model, docs, tokenizer.pad_token_id)
    assert len(losses) == 40
    assert before > np.log(len(tokenizer)) - 0.5  # an untrained model is close to uniform
    assert after < 0.6 * before  # formatting and names are easy: the loss falls a lot
    assert not model.training  # handed back ready for evaluation

    again = tiny_qwen2(len(tokenizer), hidden_size=32, layers=1, heads=2, seed=0)
    assert pretrain(again, docs, tokenizer.pad_token_id, steps=40, batch_size=8, lr=1e-2, seed=0) == losses


def test_padding_does_not_change_the_loss():
    # a short document padded next to a long one is scored as if alone: masked inputs and labels
    tokenizer, docs = _setup()
    model = tiny_qwen2(len(tokenizer), hidden_size=32, layers=1, heads=2, seed=0).eval()
    short = min(docs, key=len)
    long = max(docs, key=len)
    ids, mask = right_pad([short, long], tokenizer.pad_token_id, torch.device("cpu"))
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask).logits[0, : len(short)]
        alone = model(input_ids=torch.as_tensor(short)[None]).logits[0]
    torch.testing.assert_close(logits, alone, atol=1e-5, rtol=1e-5)
