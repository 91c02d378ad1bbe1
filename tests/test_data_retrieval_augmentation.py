# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Retrieval-augmented training examples (the paper's §2.2-2.3)."""

from __future__ import annotations

import numpy as np
import pytest
from data_fakes import BREAK, CONFIG, EOS, FakeRetriever, RetrievedDocument, WordTokenizer
from datasets import Dataset

from transformers_cm3leon.data import RetrievalAugmentedExampleBuilder, build_retrieval_augmented_input_ids
from transformers_cm3leon.data.retrieval_augmentation import drop_query_words

CAT = RetrievedDocument("a cat", [40, 41, 42], 0.7)
DOG = RetrievedDocument("a dog", [50, 51, 52], 0.6)
NEAR_COPY = RetrievedDocument("a red bus!", [60, 61, 62], 0.95)  # relevance > 0.9: a near-duplicate of the query
CAT_AGAIN = RetrievedDocument("a cat", [40, 41, 42], 0.5)


def test_layout_from_token_ids():
    ids = build_retrieval_augmented_input_ids(
        [100, 101], [4, 5], [([200], [6, 7]), ([300, 301], [8])], eos_token_id=EOS, break_token_id=BREAK
    )
    assert ids == [EOS, 200, BREAK, 6, 7, BREAK, 300, 301, BREAK, 8, BREAK, 100, 101, BREAK, 4, 5, EOS]
    assert build_retrieval_augmented_input_ids([100], [4], [], eos_token_id=EOS, break_token_id=BREAK) == [
        EOS,
        100,
        BREAK,
        4,
        EOS,
    ]


def query_dataset(num_rows: int = 2) -> Dataset:
    return Dataset.from_dict(
        {"text": ["a red bus"] * num_rows, "image_token_ids": [[70, 71, 72]] * num_rows, "id": list(range(num_rows))}
    )


def test_builder_filters_relevance_and_duplicates_and_writes_the_layout():
    tokenizer = WordTokenizer()
    retriever = FakeRetriever([NEAR_COPY, CAT, CAT_AGAIN])
    builder = RetrievalAugmentedExampleBuilder(retriever, tokenizer, CONFIG, num_retrieved=1, num_candidates=3)
    result = builder.map(query_dataset())
    assert result.column_names == ["text", "image_token_ids", "id", "input_ids"]
    cat, query = tokenizer.encode("a cat"), tokenizer.encode("a red bus")
    assert result[0]["input_ids"] == [EOS, *cat, BREAK, 40, 41, 42, BREAK, *query, BREAK, 70, 71, 72, EOS]
    assert builder.stats == {"dropped_above_max_relevance": 2, "dropped_duplicate": 2}
    assert retriever.queries == ["a red bus", "a red bus"]


def test_builder_draws_among_candidates_reproducibly():
    retriever = FakeRetriever([CAT, DOG, CAT_AGAIN])
    tokenizer = WordTokenizer()
    dataset = query_dataset(32)
    first = RetrievalAugmentedExampleBuilder(
        retriever, tokenizer, CONFIG, num_retrieved=2, num_candidates=3, seed=3
    ).map(dataset)
    again = RetrievalAugmentedExampleBuilder(
        retriever, tokenizer, CONFIG, num_retrieved=2, num_candidates=3, seed=3
    ).map(dataset, batch_size=5)
    assert first["input_ids"] == again["input_ids"]
    cat, dog, query = tokenizer.encode("a cat"), tokenizer.encode("a dog"), tokenizer.encode("a red bus")
    tail = [*query, BREAK, 70, 71, 72, EOS]
    cat_then_dog = [EOS, *cat, BREAK, 40, 41, 42, BREAK, *dog, BREAK, 50, 51, 52, BREAK, *tail]
    dog_then_cat = [EOS, *dog, BREAK, 50, 51, 52, BREAK, *cat, BREAK, 40, 41, 42, BREAK, *tail]
    orders = [ids == cat_then_dog for ids in first["input_ids"]]
    assert all(ids in (cat_then_dog, dog_then_cat) for ids in first["input_ids"])
    assert 0 < sum(orders) < len(orders)  # the retrieved documents come in random order

    short = RetrievalAugmentedExampleBuilder(
        FakeRetriever([CAT]), tokenizer, CONFIG, num_retrieved=2, num_candidates=2
    )
    short.map(query_dataset(3))
    assert short.stats["fewer_than_requested"] == 3


def test_query_dropout():
    rng = np.random.default_rng(0)
    text = " ".join(f"w{i}" for i in range(1000))
    kept = drop_query_words(text, 0.2, rng).split()
    assert abs(len(kept) / 1000 - 0.8) < 0.05 and kept == sorted(kept, key=lambda w: int(w[1:]))
    assert drop_query_words("one", 0.9, rng) == "one"
    assert len(drop_query_words("a b", 0.99, rng).split()) >= 1
    retriever, tokenizer = FakeRetriever([CAT]), WordTokenizer()
    builder = RetrievalAugmentedExampleBuilder(retriever, tokenizer, CONFIG, query_dropout=0.5, num_retrieved=1)
    full_text = "w1 w2 w3 w4 w5 w6 w7 w8"
    dataset = Dataset.from_dict({"text": [full_text] * 20, "image_token_ids": [[70, 71, 72]] * 20})
    result = builder.map(dataset)
    assert len(set(retriever.queries)) > 1 and all(set(q.split()) <= set(full_text.split()) for q in retriever.queries)
    assert sum(len(q.split()) for q in retriever.queries) < 0.75 * 8 * 20
    # The stored example keeps the full query text: dropout only changes what is sent to the retriever.
    assert result[0]["input_ids"][-13:] == [*tokenizer.encode(full_text), BREAK, 70, 71, 72, EOS]


def test_bad_rows_raise_or_are_skipped():
    dataset = Dataset.from_dict(
        {"text": ["a red bus", None, "x"], "image_token_ids": [[70, 71, 72], [71, 72, 73], []]}
    )
    with pytest.raises(ValueError, match="Row 1: 'text' is NoneType"):
        RetrievalAugmentedExampleBuilder(FakeRetriever([CAT]), WordTokenizer(), CONFIG).map(dataset)
    builder = RetrievalAugmentedExampleBuilder(FakeRetriever([CAT]), WordTokenizer(), CONFIG, on_error="skip")
    assert builder.map(dataset)["text"] == ["a red bus"]
    assert builder.skipped.counts == {"bad query": 2}
    with pytest.raises(TypeError, match="retrieve"):
        RetrievalAugmentedExampleBuilder(object(), WordTokenizer(), CONFIG)
    with pytest.raises(ValueError, match="num_candidates"):
        RetrievalAugmentedExampleBuilder(FakeRetriever([]), WordTokenizer(), CONFIG, num_retrieved=3, num_candidates=2)
    with pytest.raises(ValueError, match="query_dropout"):
        RetrievalAugmentedExampleBuilder(FakeRetriever([]), WordTokenizer(), CONFIG, query_dropout=1.0)
    with pytest.raises(ValueError, match="no column 'caption'"):
        RetrievalAugmentedExampleBuilder(FakeRetriever([]), WordTokenizer(), CONFIG, text_column="caption").map(
            dataset
        )
