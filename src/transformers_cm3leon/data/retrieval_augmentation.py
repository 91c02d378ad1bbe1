# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Retrieval-augmented training examples (the paper's §2.2-2.3).

Layout (the paper's Fig. 9, metaseq `_tokenize_ra_json`):

    </s> ret_text_1 <break> ret_img_1 <break> ... ret_text_k <break> ret_img_k <break> query_text <break> query_img </s>

The retrieved documents are ordinary context with the same loss as the query (CM3Leon removed RA-CM3's query
up-weighting). Sampling rules of the paper, applied by [`RetrievalAugmentedExampleBuilder`]: candidates with a
relevance score above 0.9 are dropped (near-copies of the query), duplicates of the query or of one another are
dropped, retrieval queries lose 20% of their words in training ("query dropout"), and the retrieved documents are
drawn at random from the remaining candidates (the paper draws 3 from 2 image-based + 2 text-based retrievals;
metaseq's default, and this builder's, is 2 of 4).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from .document import Document, DocumentEncoder, is_token_ids, join_segments
from .skipping import SkipCounter, check_on_error, filter_batch


def build_retrieval_augmented_input_ids(
    query_text_ids: Sequence[int],
    query_image_ids: Sequence[int],
    retrieved: Sequence[tuple[Sequence[int], Sequence[int]]],
    *,
    eos_token_id: int,
    break_token_id: int,
) -> list[int]:
    """The token ids of a retrieval-augmented example from token ids.

    Args:
        query_text_ids, query_image_ids: The query document's caption ids and image token ids.
        retrieved: `(text_ids, image_ids)` of each retrieved document, in the order they are to appear.
    """
    segments: list[Sequence[int]] = []
    for text_ids, image_ids in retrieved:
        segments += [text_ids, image_ids]
    segments += [query_text_ids, query_image_ids]
    return join_segments(
        [list(segment) for segment in segments], eos_token_id=eos_token_id, break_token_id=break_token_id
    )


def build_retrieval_augmented_document(query_text: str, query_image, retrieved: Sequence) -> Document:
    """A [`Document`] `ret_text_1, ret_img_1, ..., query_text, query_image` from retrieved documents that have `.text`
    and `.image_token_ids` (attributes or mapping keys); a document without token ids contributes its `.image`."""
    segments: list = []
    for document in retrieved:
        segments += [_field(document, "text"), _retrieved_image(document)]
    return Document(segments + [query_text, query_image])


def _retrieved_image(document):
    """The image token ids of a retrieved document, or its image when the memory bank stores no ids."""
    token_ids = _field(document, "image_token_ids")
    if token_ids is not None:
        return token_ids
    image = _field_or_none(document, "image")
    if image is None:
        raise TypeError("A retrieved document has neither `image_token_ids` nor an `image`.")
    return image


def _field(document, name: str):
    if isinstance(document, dict):
        if name not in document:
            raise TypeError(f"A retrieved document has no {name!r} (keys: {sorted(document)}).")
        return document[name]
    if not hasattr(document, name):
        raise TypeError(f"A retrieved document ({type(document).__name__}) has no attribute {name!r}.")
    return getattr(document, name)


def _field_or_none(document, name: str):
    return document.get(name) if isinstance(document, dict) else getattr(document, name, None)


def drop_query_words(text: str, probability: float, rng: np.random.Generator) -> str:
    """Query dropout: drop each whitespace-separated word with `probability`, keeping at least one word."""
    words = text.split()
    if probability <= 0 or len(words) <= 1:
        return text
    keep = rng.random(len(words)) >= probability
    if not keep.any():
        keep[rng.integers(len(words))] = True
    return " ".join(word for word, kept in zip(words, keep) if kept)


class RetrievalAugmentedExampleBuilder:
    r"""
    A batched `datasets.map` step that retrieves documents for each row and writes the retrieval-augmented example's
    `input_ids` (computed once, stored with the dataset).

    The retriever is any object with `retrieve(texts=[...], images=None, k=k)` returning, per query, a list of
    documents with `.text` (str), `.image_token_ids` (list of ids) and `.score` (relevance; attributes or dict keys),
    such as [`CM3LeonRetriever`]. Candidates without text, or without any image, are not prepended (the paper
    retrieves multimodal documents); a candidate stored with an image path instead of token ids contributes its
    `.image`, tokenized through `image_processor`.

    Args:
        retriever: The retriever (see above).
        tokenizer: The text tokenizer (see [`DocumentEncoder`]).
        config ([`CM3LeonConfig`], *optional*): Source of `eos_token_id` and `break_token_id`.
        eos_token_id, break_token_id (`int`, *optional*): Explicit ids; win over `config`.
        num_retrieved (`int`, *optional*, defaults to 2): Documents prepended per example (fewer when fewer
            candidates survive the filters; counted in `stats["fewer_than_requested"]`).
        num_candidates (`int`, *optional*, defaults to 4): Documents asked from the retriever per query; the
            prepended ones are drawn at random among the candidates that pass the filters.
        max_relevance (`float`, *optional*, defaults to 0.9): Candidates scoring above this are dropped (`None`: keep
            all).
        query_dropout (`float`, *optional*, defaults to 0.0): Fraction of query words dropped before retrieval (the
            paper's training value is 0.2; [`CM3LeonRetriever`] can also apply it itself, in training mode; use one
            of the two).
        seed (`int`, *optional*, defaults to 0): Seed of the dropout and the draws, combined with the row index.
        text_column (`str`, *optional*, defaults to `"text"`): The query caption.
        image_column (`str`, *optional*, defaults to `"image_token_ids"`): The query image's token ids.
        retrieval_image_column (`str`, *optional*): A column passed to the retriever as `images` (e.g. PIL images),
            for image-based retrieval; by default retrieval is text-only (`images=None`).
        output_column (`str`, *optional*, defaults to `"input_ids"`): Where the example is written.
        image_processor (*optional*): Tokenizes the images of retrieved documents stored without token ids (a memory
            bank holding image paths); not needed when the bank stores `image_token_ids`.
        on_error (`str`, *optional*, defaults to `"raise"`): For a row without text or image ids: `"raise"` or
            `"skip"` (counted in `skipped` and logged).
    """

    def __init__(
        self,
        retriever,
        tokenizer,
        config=None,
        *,
        eos_token_id: int | None = None,
        break_token_id: int | None = None,
        num_retrieved: int = 2,
        num_candidates: int = 4,
        max_relevance: float | None = 0.9,
        query_dropout: float = 0.0,
        seed: int = 0,
        text_column: str = "text",
        image_column: str = "image_token_ids",
        retrieval_image_column: str | None = None,
        output_column: str = "input_ids",
        image_processor=None,
        on_error: str = "raise",
    ):
        if not callable(getattr(retriever, "retrieve", None)):
            raise TypeError(
                f"`retriever` must have a `retrieve(texts=..., images=..., k=...)` method, got {retriever!r}."
            )
        for name, value in (("num_retrieved", num_retrieved), ("num_candidates", num_candidates)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"`{name}` must be a non-negative integer, got {value!r}.")
        if num_candidates < num_retrieved:
            raise ValueError(f"`num_candidates` ({num_candidates}) must be >= `num_retrieved` ({num_retrieved}).")
        if not 0 <= query_dropout < 1:
            raise ValueError(f"`query_dropout` must be in [0, 1), got {query_dropout!r}.")
        self.retriever = retriever
        self.encoder = DocumentEncoder(
            tokenizer,
            config,
            eos_token_id=eos_token_id,
            break_token_id=break_token_id,
            image_processor=image_processor,
        )
        self.num_retrieved = num_retrieved
        self.num_candidates = num_candidates
        self.max_relevance = max_relevance
        self.query_dropout = query_dropout
        self.seed = seed
        self.text_column = text_column
        self.image_column = image_column
        self.retrieval_image_column = retrieval_image_column
        self.output_column = output_column
        self.on_error = check_on_error(on_error)
        self.skipped = SkipCounter(type(self).__name__)
        self.stats: Counter[str] = Counter()
        self._rng = np.random.default_rng(seed)

    def _row_rng(self, index: int | None) -> np.random.Generator:
        return self._rng if index is None else np.random.default_rng((self.seed, index))

    def select(self, query_text: str, query_image_ids: list[int], candidates: Sequence, rng) -> list:
        """Apply the relevance and duplicate filters, then draw up to `num_retrieved` documents in random order."""
        query_key = (query_text, tuple(query_image_ids))
        seen, kept = {query_key}, []
        for document in candidates:
            if self.max_relevance is not None and float(_field(document, "score")) > self.max_relevance:
                self.stats["dropped_above_max_relevance"] += 1
                continue
            text, token_ids = _field(document, "text"), _field(document, "image_token_ids")
            image_path = _field_or_none(document, "image_path")
            if text is None or (
                token_ids is None and image_path is None and _field_or_none(document, "image") is None
            ):
                # The paper retrieves multimodal documents only: a text-only or image-only one is not prepended.
                self.stats["dropped_not_multimodal"] += 1
                continue
            key = (text, tuple(token_ids) if token_ids is not None else image_path)
            if key in seen:
                self.stats["dropped_duplicate"] += 1
                continue
            seen.add(key)
            kept.append(document)
        if len(kept) < self.num_retrieved:
            self.stats["fewer_than_requested"] += 1
        order = rng.permutation(len(kept))[: self.num_retrieved]
        return [kept[i] for i in order]

    def __call__(self, batch: dict, indices: Sequence[int] | None = None) -> dict:
        for column in (self.text_column, self.image_column):
            if column not in batch:
                raise ValueError(f"The dataset has no column {column!r} (columns: {sorted(batch)}).")
        keep, queries, rngs = [], [], []
        for i, (text, image_ids) in enumerate(zip(batch[self.text_column], batch[self.image_column])):
            problem = None
            if not isinstance(text, str):
                problem = f"{self.text_column!r} is {type(text).__name__}, not text"
            elif image_ids is None or not is_token_ids(image_ids) or len(image_ids) == 0:
                problem = f"{self.image_column!r} is not a non-empty list of image token ids"
            if problem is not None:
                row = i if indices is None else indices[i]
                if self.on_error == "raise":
                    raise ValueError(f"Row {row}: {problem}; use on_error='skip' to skip such rows.")
                self.skipped("bad query", f"row {row}: {problem}")
                continue
            rng = self._row_rng(None if indices is None else indices[i])
            keep.append(i)
            rngs.append(rng)
            queries.append(drop_query_words(text, self.query_dropout, rng))

        output = filter_batch(batch, keep)
        if not keep:
            output[self.output_column] = []
            return output
        images = None
        if self.retrieval_image_column is not None:
            images = output[self.retrieval_image_column]
        results = (
            self.retriever.retrieve(texts=queries, images=images, k=self.num_candidates)
            if self.num_candidates
            else [[] for _ in keep]
        )
        if len(results) != len(keep):
            raise ValueError(f"`retriever.retrieve` returned {len(results)} result lists for {len(keep)} queries.")
        documents = []
        for text, image_ids, candidates, rng in zip(
            output[self.text_column], output[self.image_column], results, rngs
        ):
            image_ids = list(image_ids)
            retrieved = self.select(text, image_ids, candidates, rng)
            documents.append(build_retrieval_augmented_document(text, image_ids, retrieved))
        output[self.output_column] = [example["input_ids"] for example in self.encoder.encode(documents)]
        return output

    def map(self, dataset, **map_kwargs):
        """`dataset.map(self, batched=True, with_indices=True)`, adding the `output_column`."""
        map_kwargs.setdefault("remove_columns", dataset.column_names)
        return dataset.map(self, batched=True, with_indices=True, **map_kwargs)
