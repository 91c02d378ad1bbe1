# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Tests of the CM3Leon tokenizer builder, the image-token naming and `special_token_ids`."""

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from transformers_cm3leon.configuration_cm3leon import CM3LeonConfig
from transformers_cm3leon.tokenization_cm3leon import (
    build_cm3leon_tokenizer,
    image_token_code,
    image_token_name,
    sentinel_token_name,
    special_token_ids,
)

CORPUS = [
    "A photo of a cat sitting on a mat.",
    "A dog runs in the park.",
    "Two cats and a dog sleep on the sofa.",
    "Question: what is the cat doing? Answer: sleeping.",
] * 5
# 4 named specials + 16 image tokens + <eoss> + <racm3:break> + 4 sentinels = 26 ids before the byte alphabet.
TINY = dict(image_vocab_size=16, num_sentinel_tokens=4, vocab_size=26 + 256 + 40)


@pytest.fixture(scope="module")
def tokenizer():
    return build_cm3leon_tokenizer(CORPUS, **TINY)


def tokenizer_from_vocab(names: list[str]) -> PreTrainedTokenizerFast:
    """A word-level tokenizer whose ids are the positions of `names` (to test `special_token_ids` on any layout)."""
    backend = Tokenizer(models.WordLevel({name: i for i, name in enumerate(names)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>"
    )


# -- image token names -------------------------------------------------------------------------------------------


def test_image_token_names_follow_metaseq():
    assert image_token_name(1234) == "IMGIMGBCDEZ"
    assert image_token_name(0) == "IMGIMGAZ"
    assert image_token_name(8191) == "IMGIMGIBJBZ"
    assert image_token_name(10) == "IMGIMGBAZ"
    assert image_token_code("IMGIMGBCDEZ") == 1234
    assert image_token_code("IMGIMGAZ") == 0
    for code in range(0, 20000, 37):
        assert image_token_code(image_token_name(code)) == code


@pytest.mark.parametrize("code, error", [(-1, ValueError), (1.5, TypeError), (True, TypeError), ("12", TypeError)])
def test_image_token_name_rejects_bad_codes(code, error):
    with pytest.raises(error, match="`code`"):
        image_token_name(code)


@pytest.mark.parametrize("name", ["IMGIMGAAZ", "IMGIMGZ", "IMGIMGBCDE", "imgimgBZ", "IMGIMGBKZ", "<s>", ""])
def test_image_token_code_rejects_bad_names(name):
    with pytest.raises(ValueError, match="not an image token name"):
        image_token_code(name)
    with pytest.raises(TypeError, match="`name`"):
        image_token_code(12)


def test_sentinel_token_name():
    assert sentinel_token_name(12) == "<sentinel:12>"
    with pytest.raises(ValueError, match="`index`"):
        sentinel_token_name(-1)


# -- the builder ----------------------------------------------------------------------------------------------------


def test_tiny_vocabulary_layout(tokenizer):
    ids = tokenizer.convert_tokens_to_ids
    assert ids(["<s>", "<pad>", "</s>", "<unk>"]) == [0, 1, 2, 3]
    assert ids([image_token_name(code) for code in range(16)]) == list(range(4, 20))
    assert ids(["<eoss>", "<racm3:break>"]) == [20, 21]
    assert ids([f"<sentinel:{i}>" for i in range(4)]) == [22, 23, 24, 25]
    assert min(tokenizer.get_vocab()[name] for name in ("a", "Ġcat", "Ġdog")) >= 26
    assert len(tokenizer) <= TINY["vocab_size"]
    named = (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id, tokenizer.unk_token_id)
    assert named == (0, 2, 1, 3)
    assert (tokenizer.break_token, tokenizer.break_token_id) == ("<racm3:break>", 21)
    assert (tokenizer.eoss_token, tokenizer.eoss_token_id) == ("<eoss>", 20)
    assert tokenizer.extra_special_tokens == [f"<sentinel:{i}>" for i in range(4)]


def test_full_size_vocabulary_layout():
    tokenizer = build_cm3leon_tokenizer(CORPUS, vocab_size=9000)
    assert special_token_ids(tokenizer) == {
        "vocab_size": len(tokenizer),
        "image_token_offset": 4,
        "image_vocab_size": 8192,
        "eoss_token_id": 8196,
        "break_token_id": 8197,
        "sentinel_token_offset": 8198,
        "num_sentinel_tokens": 512,
        "pad_token_id": 1,
        "bos_token_id": 0,
        "eos_token_id": 2,
    }
    assert tokenizer.convert_tokens_to_ids(["IMGIMGBCDEZ", "<sentinel:511>"]) == [4 + 1234, 8198 + 511]
    assert tokenizer.model_max_length == 4096


def test_special_and_image_tokens_are_single_tokens(tokenizer):
    ids = tokenizer("</s>a cat<racm3:break><sentinel:3>IMGIMGBZ<eoss>", add_special_tokens=False).input_ids
    cat = tokenizer("a cat", add_special_tokens=False).input_ids
    assert ids == [2, *cat, 21, 25, 4 + 1, 20]
    assert tokenizer.tokenize("<sentinel:12>") != ["<sentinel:12>"]  # not in this 4-sentinel vocabulary
    assert tokenizer.tokenize("<sentinel:2>") == ["<sentinel:2>"]


def test_no_automatic_bos_or_eos(tokenizer):
    ids = tokenizer("a cat").input_ids
    assert ids == tokenizer("a cat", add_special_tokens=False).input_ids
    assert not {0, 2} & set(ids)


def test_text_round_trips_and_skip_special_tokens(tokenizer):
    text = "Two cats, a dog & émojis 🐱!"
    assert tokenizer.decode(tokenizer(text).input_ids) == text  # byte-level: no unknown characters
    ids = tokenizer("</s>a cat<racm3:break>IMGIMGBZIMGIMGAZ<sentinel:1> sleeps<eoss></s><pad>").input_ids
    assert tokenizer.decode(ids, skip_special_tokens=True) == "a cat sleeps"
    assert tokenizer.decode(ids) == "</s>a cat<racm3:break>IMGIMGBZIMGIMGAZ<sentinel:1> sleeps<eoss></s><pad>"


def test_save_and_reload_through_auto_tokenizer(tokenizer, tmp_path):
    tokenizer.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    texts = ["</s>Two cats<racm3:break>IMGIMGBFZ<sentinel:0> on a sofa<eoss></s>", "Question: why? Answer: 42"]
    assert reloaded(texts).input_ids == tokenizer(texts).input_ids
    assert reloaded.get_vocab() == tokenizer.get_vocab()
    assert special_token_ids(reloaded) == special_token_ids(tokenizer)
    assert (reloaded.break_token_id, reloaded.eoss_token_id) == (21, 20)
    assert reloaded.extra_special_tokens == tokenizer.extra_special_tokens
    assert reloaded.model_max_length == 4096
    assert reloaded.padding_side == tokenizer.padding_side == "left"
    ids = tokenizer(texts[0]).input_ids
    assert reloaded.decode(ids, skip_special_tokens=True) == tokenizer.decode(ids, skip_special_tokens=True)


def test_min_frequency_limits_merges():
    rare = build_cm3leon_tokenizer(CORPUS, min_frequency=1000, **TINY)
    assert len(rare) == 26 + 256  # no pair occurs 1000 times: specials + byte alphabet only


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(vocab_size=26 + 255), ValueError, "at least 282"),
        (dict(vocab_size=0), ValueError, "`vocab_size`"),
        (dict(image_vocab_size=0), ValueError, "`image_vocab_size`"),
        (dict(num_sentinel_tokens=-1), ValueError, "`num_sentinel_tokens`"),
        (dict(min_frequency=0), ValueError, "`min_frequency`"),
        (dict(model_max_length=0), ValueError, "`model_max_length`"),
    ],
)
def test_builder_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        build_cm3leon_tokenizer(CORPUS, **{**TINY, **kwargs})


def test_builder_rejects_bad_corpus():
    with pytest.raises(TypeError, match="not a single string"):
        build_cm3leon_tokenizer("a cat sat on the mat", **TINY)
    with pytest.raises(TypeError, match="item 1 is int"):
        build_cm3leon_tokenizer(["a cat", 3], **TINY)


def test_builder_without_sentinels():
    tokenizer = build_cm3leon_tokenizer(CORPUS, image_vocab_size=16, num_sentinel_tokens=0, vocab_size=300)
    layout = special_token_ids(tokenizer)
    assert (layout["sentinel_token_offset"], layout["num_sentinel_tokens"]) == (None, 0)
    assert (layout["eoss_token_id"], layout["break_token_id"]) == (20, 21)


# -- special_token_ids --------------------------------------------------------------------------------------------------


def test_token_layout_feeds_the_config(tokenizer):
    config = CM3LeonConfig(
        **special_token_ids(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
    )
    assert config.vocab_size == len(tokenizer)
    assert list(config.image_token_ids) == list(range(4, 20))
    assert list(config.sentinel_token_ids) == [22, 23, 24, 25]
    assert (config.eoss_token_id, config.break_token_id) == (20, 21)
    assert (config.bos_token_id, config.pad_token_id, config.eos_token_id) == (0, 1, 2)


def test_token_layout_of_a_chameleon_style_vocabulary():
    # Chameleon: <s> <pad> </s> <unk>, image tokens 4.., <eoss>, <racm3:break>, text tokens, no sentinels.
    names = ["<s>", "<pad>", "</s>", "<unk>"] + [image_token_name(c) for c in range(12)]
    names += ["<eoss>", "<racm3:break>", "hello", "world"]
    layout = special_token_ids(tokenizer_from_vocab(names))
    assert layout == {
        "vocab_size": 20,
        "image_token_offset": 4,
        "image_vocab_size": 12,
        "eoss_token_id": 16,
        "break_token_id": 17,
        "sentinel_token_offset": None,
        "num_sentinel_tokens": 0,
        "pad_token_id": 1,
        "bos_token_id": 0,
        "eos_token_id": 2,
    }
    config = CM3LeonConfig(**layout, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2)
    assert config.sentinel_token_ids == range(0)


BASE = ["<s>", "<pad>", "</s>", "<unk>"]
TAIL = ["<eoss>", "<racm3:break>"]


@pytest.mark.parametrize(
    "names, match",
    [
        (BASE + TAIL + ["word"], "has no image tokens"),
        (BASE + [image_token_name(c) for c in (0, 1, 3)] + TAIL, "'IMGIMGCZ' is missing"),
        (BASE + [image_token_name(c) for c in (1, 0, 2)] + TAIL, "'IMGIMGAZ'=5, but 'IMGIMGBZ' has id 4"),
        (BASE + [image_token_name(0), "word", image_token_name(1)] + TAIL, "'IMGIMGBZ' has id 6 \\(expected 5\\)"),
        (BASE + [image_token_name(0), "IMGIMGABZ"] + TAIL, "malformed image token 'IMGIMGABZ'"),
        (BASE + [image_token_name(0), "<racm3:break>"], "no '<eoss>' token"),
        (BASE + [image_token_name(0), "<eoss>"], "no '<racm3:break>' token"),
        (BASE + [image_token_name(0)] + TAIL + ["<sentinel:0>", "<sentinel:2>"], "'<sentinel:1>' is missing"),
        (BASE + [image_token_name(0)] + TAIL + ["<sentinel:0>", "x", "<sentinel:1>"], "consecutive ids"),
    ],
)
def test_token_layout_errors(names, match):
    with pytest.raises(ValueError, match=match):
        special_token_ids(tokenizer_from_vocab(names))


def test_token_layout_rejects_non_tokenizers():
    with pytest.raises(TypeError, match="`tokenizer`"):
        special_token_ids({"<s>": 0})
