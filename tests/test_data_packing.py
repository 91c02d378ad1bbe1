# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Packing documents into fixed-length blocks."""

from __future__ import annotations

import itertools

import pytest
from datasets import Dataset
from hypothesis import given, settings
from hypothesis import strategies as st

from transformers_cm3leon.data import DocumentPacker

documents = st.lists(st.lists(st.integers(4, 60000), min_size=1, max_size=30), min_size=1, max_size=20)


@settings(max_examples=100, deadline=None)
@given(docs=documents, block_size=st.integers(1, 40))
def test_concatenate_mode_is_the_concatenation_cut_into_blocks(docs, block_size):
    stream = list(itertools.chain.from_iterable(docs))
    kept = DocumentPacker(block_size, remainder="keep")({"input_ids": docs})["input_ids"]
    assert list(itertools.chain.from_iterable(kept)) == stream
    assert all(len(block) == block_size for block in kept[:-1]) and 0 < len(kept[-1]) <= block_size

    packer = DocumentPacker(block_size)
    dropped = packer({"input_ids": docs})["input_ids"]
    full = len(stream) // block_size
    assert dropped == [stream[i * block_size : (i + 1) * block_size] for i in range(full)]
    assert packer.dropped_tokens == len(stream) - full * block_size


@settings(max_examples=100, deadline=None)
@given(docs=documents, block_size=st.integers(30, 60))
def test_whole_documents_mode_never_splits_a_document(docs, block_size):
    blocks = DocumentPacker(block_size, mode="whole_documents")({"input_ids": docs})["input_ids"]
    assert all(len(block) <= block_size for block in blocks)
    assert list(itertools.chain.from_iterable(blocks)) == list(itertools.chain.from_iterable(docs))
    # Each block is a run of whole documents, and the next document would not have fitted.
    position = 0
    for block in blocks:
        taken = 0
        while position < len(docs) and taken + len(docs[position]) <= len(block):
            taken += len(docs[position])
            position += 1
        assert taken == len(block)
        if position < len(docs):
            assert len(block) + len(docs[position]) > block_size
    assert position == len(docs)


def test_exact_blocks_and_labels_are_packed_alongside():
    batch = {
        "input_ids": [[2, 5, 6, 2], [2, 7, 2], [2, 8, 9, 2]],
        "labels": [[-100, 5, 6, 2], [-100, 7, 2], [-100, -100, 9, 2]],
    }
    packed = DocumentPacker(4, remainder="keep")(batch)
    assert packed == {
        "input_ids": [[2, 5, 6, 2], [2, 7, 2, 2], [8, 9, 2]],
        "labels": [[-100, 5, 6, 2], [-100, 7, 2, -100], [-100, 9, 2]],
    }
    whole = DocumentPacker(7, mode="whole_documents")(batch)
    assert whole["input_ids"] == [[2, 5, 6, 2, 2, 7, 2], [2, 8, 9, 2]]
    assert whole["labels"] == [[-100, 5, 6, 2, -100, 7, 2], [-100, -100, 9, 2]]


def test_map_over_a_dataset_and_documents_longer_than_the_block():
    dataset = Dataset.from_dict({"input_ids": [[2] * 3, [2] * 9, [2] * 2], "text": ["a", "b", "c"]})
    packed = DocumentPacker(4, remainder="keep").map(dataset)
    assert packed.column_names == ["input_ids"] and packed["input_ids"] == [[2] * 4] * 3 + [[2] * 2]
    with pytest.raises(ValueError, match="row 1 has 9 tokens, more than block_size=4"):
        DocumentPacker(4, mode="whole_documents").map(dataset)
    packer = DocumentPacker(4, mode="whole_documents", on_error="skip")
    assert packer.map(dataset)["input_ids"] == [[2] * 3, [2] * 2]
    assert packer.skipped.counts == {"longer than block_size": 1}


def test_packer_argument_errors():
    with pytest.raises(ValueError, match="block_size"):
        DocumentPacker(0)
    with pytest.raises(ValueError, match="mode"):
        DocumentPacker(8, mode="greedy")
    with pytest.raises(ValueError, match="remainder"):
        DocumentPacker(8, remainder="pad")
    with pytest.raises(ValueError, match="no column 'input_ids'"):
        DocumentPacker(8)({"ids": [[1]]})
    with pytest.raises(ValueError, match="`labels` has 1 entries"):
        DocumentPacker(8)({"input_ids": [[1, 2]], "labels": [[1]]})
