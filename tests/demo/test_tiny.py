from rpt.models import load_tokenizer
from rpt.recipes.demo.corpus import generate_corpus
from rpt.recipes.demo.tiny import tiny_qwen2, train_tokenizer

TEXTS = [r["text"] for r in generate_corpus(40, seed=0)] + ["Ünïcödé text, emoji 🙂 and café au lait."]


def test_tokenizer_saved_with_a_qwen2_model_loads_splitting_text_the_same_way(tmp_path):
    # transformers loads such a folder as Qwen2Tokenizer, which installs its own pre-tokenizer:
    # the tokenizer must already split text that way, or ids and offsets would change on disk.
    tokenizer = train_tokenizer(TEXTS, vocab_size=320)
    tokenizer.save_pretrained(tmp_path)
    tiny_qwen2(len(tokenizer), hidden_size=32).save_pretrained(tmp_path)
    loaded = load_tokenizer(str(tmp_path))
    assert len(loaded) == len(tokenizer)
    for text in TEXTS + ["new words 1234, never seen\n\n  before"]:
        ours = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        theirs = loaded(text, add_special_tokens=False, return_offsets_mapping=True)
        assert ours["input_ids"] == theirs["input_ids"]
        assert ours["offset_mapping"] == theirs["offset_mapping"]
        assert loaded.decode(theirs["input_ids"]) == text


def test_digits_are_single_tokens_and_frequent_words_merge():
    tokenizer = train_tokenizer(TEXTS, vocab_size=320)
    pieces = [tokenizer.decode([i]) for i in tokenizer("Ann adds 3 + 4 + 5 = 12 plums.", add_special_tokens=False)["input_ids"]]
    assert pieces[:2] == ["Ann", " adds"]
    assert pieces[-5:] == [" ", "1", "2", " plums", "."]
