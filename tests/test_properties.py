# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Property tests (hypothesis) of the processor and the tokenizer: for any text, any ids, any batch.

Each property runs a small sample in the default test run and 1,500 examples under the slow mark (7 properties,
10,500 cases: `pytest -m slow tests/test_properties.py`).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transformers_cm3leon.processing_cm3leon import IMAGE_PLACEHOLDER
from transformers_cm3leon.testing_utils import get_tiny_cm3leon_processor

PROCESSOR = get_tiny_cm3leon_processor()
TOKENIZER = PROCESSOR.tokenizer
IDS = PROCESSOR.special_token_ids
IMAGE_IDS = range(IDS.image_token_offset, IDS.image_token_offset + IDS.image_vocab_size)
CONTROL_IDS = {
    i for i in (IDS.eos_token_id, IDS.break_token_id, IDS.eoss_token_id, IDS.bos_token_id, IDS.pad_token_id)
} | {IDS.sentinel_token_offset + i for i in range(IDS.num_sentinel_tokens)}
VOCAB_SIZE = len(TOKENIZER)
SEQ = PROCESSOR.image_seq_length

# Text as users write it, biased toward what could be mistaken for structure.
MARKUP = ["</s>", "<s>", "<pad>", "<racm3:break>", "<eoss>", "<sentinel:0>", "<sentinel:3>", "IMGIMGAZ", "IMGIMGBA"]
texts = st.lists(
    st.one_of(st.text(st.characters(exclude_categories=("Cs",)), max_size=12), st.sampled_from(MARKUP)), max_size=6
).map("".join)
plain_texts = texts.filter(lambda text: IMAGE_PLACEHOLDER not in text)
image_ids = st.lists(st.integers(IMAGE_IDS.start, IMAGE_IDS.stop - 1), min_size=SEQ, max_size=SEQ)


def sampled(max_examples: int):
    return settings(max_examples=max_examples, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- the properties ----------------------------------------------------------------------------------------------
def typed_text_stays_text(text):
    """Any text a user types is tokenized as text: no control or image id, and it decodes back exactly."""
    ids = list(PROCESSOR(text=text).input_ids[0])
    assert not CONTROL_IDS.intersection(ids) and not any(i in IMAGE_IDS for i in ids)
    assert PROCESSOR.decode(ids) == text


def placeholders_take_images_in_order(pieces, images):
    """`<image>` placeholders between text pieces become exactly the given images' ids, in order, and
    `decode_segments` gives the pieces and images back."""
    images = images[: len(pieces) - 1]
    text = IMAGE_PLACEHOLDER.join(pieces[: len(images) + 1])
    ids = list(PROCESSOR(text=text, images=[torch.tensor(image) for image in images] or None).input_ids[0])
    runs = [i for i in ids if i in IMAGE_IDS]
    assert runs == [token for image in images for token in image]
    segments = PROCESSOR.decode_segments(ids)
    assert sum(not isinstance(segment, str) for segment in segments) == len(images)


def decode_accepts_vocabulary_ids_and_names_any_other(ids):
    """`decode` of ids in the vocabulary gives text; any other id is a ValueError naming it (never an overflow or
    a crash inside tokenizers)."""
    outside = [i for i in ids if not 0 <= i < VOCAB_SIZE]
    if outside:
        with pytest.raises(ValueError, match=str(outside[0])):
            TOKENIZER.decode(ids)
    else:
        assert isinstance(TOKENIZER.decode(ids), str)


def convert_ids_to_tokens_is_the_inverse_of_convert_tokens_to_ids(ids):
    ids = [i % VOCAB_SIZE for i in ids]
    assert TOKENIZER.convert_tokens_to_ids(TOKENIZER.convert_ids_to_tokens(ids)) == ids


def padding_keeps_every_row(rows, side, multiple):
    """Padding a batch keeps each row's ids in order on the chosen side, with a mask that marks exactly them."""
    batch = PROCESSOR.pad(rows, padding_side=side, pad_to_multiple_of=multiple, return_tensors="np")
    width = batch["input_ids"].shape[1]
    assert width % multiple == 0 and width >= max(len(row) for row in rows)
    for row, ids, mask in zip(rows, batch["input_ids"], batch["attention_mask"]):
        assert mask.sum() == len(row)
        kept = ids[mask.astype(bool)]
        assert kept.tolist() == row
        positions = np.flatnonzero(mask)
        if len(row):
            assert positions[-1] == width - 1 if side == "left" else positions[0] == 0
        assert (ids[~mask.astype(bool)] == IDS.pad_token_id).all()


def documents_follow_the_cm3leon_layout(documents):
    """`</s> segment <racm3:break> segment ... </s>` for any document of text and image-id segments."""
    rows = PROCESSOR.encode_documents(documents)["input_ids"]
    for document, row in zip(documents, rows):
        expected = [IDS.eos_token_id]
        for index, segment in enumerate(document):
            if index:
                expected.append(IDS.break_token_id)
            if isinstance(segment, str):
                segment = TOKENIZER(segment, add_special_tokens=False, split_special_tokens=True).input_ids
            expected += segment
        expected.append(IDS.eos_token_id)
        assert list(row) == expected


def chat_messages_are_text(user_text):
    """Whatever a user writes in a chat message, the rendered prompt holds it as text."""
    messages = [{"role": "user", "content": [{"type": "text", "text": user_text}]}]
    ids = PROCESSOR.apply_chat_template(messages, tokenize=True, add_generation_prompt=True, return_dict=True)
    ids = ids["input_ids"][0]
    ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
    reference = PROCESSOR.apply_chat_template(
        [{"role": "user", "content": [{"type": "text", "text": "x"}]}],
        tokenize=True,
        add_generation_prompt=True,
        return_dict=True,
    )["input_ids"][0]
    reference = reference.tolist() if isinstance(reference, torch.Tensor) else list(reference)
    # The structure around the message is the same; the message itself adds no control or image id.
    assert sum(i in CONTROL_IDS for i in ids) == sum(i in CONTROL_IDS for i in reference)
    assert not any(i in IMAGE_IDS for i in ids)


PROPERTIES = {
    "typed_text_stays_text": (typed_text_stays_text, {"text": plain_texts}),
    "placeholders_take_images_in_order": (
        placeholders_take_images_in_order,
        {"pieces": st.lists(plain_texts, min_size=1, max_size=4), "images": st.lists(image_ids, max_size=3)},
    ),
    "decode": (
        decode_accepts_vocabulary_ids_and_names_any_other,
        {"ids": st.lists(st.one_of(st.integers(0, VOCAB_SIZE - 1), st.integers(-(2**63), 2**63 - 1)), max_size=8)},
    ),
    "convert_ids_to_tokens": (
        convert_ids_to_tokens_is_the_inverse_of_convert_tokens_to_ids,
        {"ids": st.lists(st.integers(0, 10**6), max_size=12)},
    ),
    "pad": (
        padding_keeps_every_row,
        {
            "rows": st.lists(st.lists(st.integers(0, VOCAB_SIZE - 1), max_size=9), min_size=1, max_size=5),
            "side": st.sampled_from(["left", "right"]),
            "multiple": st.integers(1, 8),
        },
    ),
    "encode_documents": (
        documents_follow_the_cm3leon_layout,
        {
            "documents": st.lists(
                st.lists(st.one_of(plain_texts.filter(bool), image_ids), min_size=1, max_size=4),
                min_size=1,
                max_size=3,
            )
        },
    ),
    "chat": (chat_messages_are_text, {"user_text": texts}),
}


@pytest.mark.parametrize("name", PROPERTIES)
def test_property_on_a_sample(name):
    check, strategies = PROPERTIES[name]
    sampled(15)(given(**strategies)(check))()


@pytest.mark.slow
@pytest.mark.parametrize("name", PROPERTIES)
def test_property_on_1500_examples(name):
    check, strategies = PROPERTIES[name]
    sampled(1500)(given(**strategies)(check))()
