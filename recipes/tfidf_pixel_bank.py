# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The retrieval bank of the shipped models' recipes: their training documents, searched with a small multimodal
bi-encoder.

The paper retrieves with a frozen CLIP bi-encoder ([`CM3LeonRetriever`]): a document's vector is the mean of its text
and image embeddings, and candidates scoring above 0.9 (near-copies of the query) are dropped. No CLIP weights can be
downloaded where the shipped models are trained, so this bank uses the simplest encoders that keep those rules
meaningful:

- text: TF-IDF over the words of the text, words found in more than `max_document_frequency` of the documents
  ignored (template words that say nothing about the content);
- image: the picture's pixels (optionally area-resized) minus their own mean, unit length, so that brightness and
  background do not dominate;
- document: `[text, image] / sqrt(2)`, so `query . document` is the mean of the two cosine similarities: a training
  query (text + picture) scores 1.0 against itself, which the 0.9 relevance cap drops; a text-only query (inference)
  scores at most 0.71.

It has the interface the package's [`RetrievalAugmentedExampleBuilder`] expects: `retrieve(texts=..., images=...,
k=...)` returning documents with `text`, `image`, `image_token_ids` and `score`.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image

_WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> list[str]:
    """The lowercase words of a text."""
    return _WORD.findall(text.lower())


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


class TfidfPixelBank:
    """Documents (text, picture, image token ids) searched by text, or by text and picture.

    Args:
        texts (`Sequence[str]`): The documents' texts.
        images (`Sequence`): Their pictures (PIL images, or RGB arrays all of one size).
        image_token_ids (`Sequence[Sequence[int]]`): Their image token ids (what a prompt holds).
        max_document_frequency (`float`): Words found in more than this fraction of the documents are ignored.
        words (`Callable[[str], list[str]]`): How a text is split into words.
        image_size (`int`, *optional*): Pictures are area-resized to this size before embedding (as they are, if None).
    """

    def __init__(
        self,
        texts: Sequence[str],
        images: Sequence,
        image_token_ids: Sequence[Sequence[int]],
        max_document_frequency: float = 0.12,
        words: Callable[[str], list[str]] = words,
        image_size: int | None = None,
    ):
        if not (len(texts) == len(images) == len(image_token_ids)) or not texts:
            raise ValueError(
                f"`texts`, `images` and `image_token_ids` must be non-empty and of one length, got {len(texts)}, "
                f"{len(images)} and {len(image_token_ids)}."
            )
        if not 0 < max_document_frequency <= 1:
            raise ValueError(f"`max_document_frequency` must be in (0, 1], got {max_document_frequency!r}.")
        self.words = words
        self.image_size = image_size
        self.texts = list(texts)
        self.images = list(images)
        self.image_token_ids = [list(map(int, ids)) for ids in image_token_ids]
        frequency = Counter(word for text in self.texts for word in set(self.words(text)))
        kept = sorted(word for word, count in frequency.items() if count <= max_document_frequency * len(self.texts))
        self.vocabulary = {word: index for index, word in enumerate(kept)}
        self.idf = np.array([math.log((1 + len(self.texts)) / (1 + frequency[word])) + 1.0 for word in kept])
        image_vectors = self._embed_images(self.images)
        self.image_dim = image_vectors.shape[1]
        self.vectors = np.concatenate([self._embed_texts(self.texts), image_vectors], axis=1) / math.sqrt(2.0)

    def __len__(self) -> int:
        return len(self.texts)

    def _embed_images(self, images) -> np.ndarray:
        arrays = []
        for image in images:
            if hasattr(image, "convert"):
                image = image.convert("RGB")
                if self.image_size is not None:
                    image = image.resize((self.image_size, self.image_size), Image.Resampling.BOX)
            arrays.append(np.asarray(image, dtype=np.float32).ravel() / 255.0)
        pixels = np.stack(arrays)
        return _unit(pixels - pixels.mean(axis=1, keepdims=True))

    def _embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        vectors = np.zeros((len(texts), len(self.vocabulary)), dtype=np.float32)
        for row, text in enumerate(texts):
            for word, count in Counter(self.words(text)).items():
                if word in self.vocabulary:
                    vectors[row, self.vocabulary[word]] = count * self.idf[self.vocabulary[word]]
        return _unit(vectors)

    def embed_queries(self, texts: Sequence[str], images=None) -> np.ndarray:
        """Query vectors: `[text, 0]` for text-only queries, `[text, image] / sqrt(2)` with images."""
        text_vectors = self._embed_texts(texts)
        if images is None:
            return np.concatenate([text_vectors, np.zeros((len(texts), self.image_dim), np.float32)], axis=1)
        if len(images) != len(texts):
            raise ValueError(f"`images` must hold one image per text, got {len(images)} for {len(texts)} texts.")
        return np.concatenate([text_vectors, self._embed_images(images)], axis=1) / math.sqrt(2.0)

    def retrieve(self, texts: Sequence[str], images=None, k: int = 4, seed: int = 0) -> list[list[dict]]:
        """The `k` best documents per query (dicts with `text`, `image`, `image_token_ids`, `score`), best first.

        Equal scores (identical texts) are ordered at random (from `seed`), so equally relevant documents all get
        drawn over a training run.
        """
        if isinstance(texts, str) or not isinstance(texts, Sequence):
            raise TypeError(f"`texts` must be a list of query strings, got {type(texts).__name__}.")
        if isinstance(k, bool) or not isinstance(k, int) or k < 0:
            raise ValueError(f"`k` must be a non-negative integer, got {k!r}.")
        rng = np.random.default_rng(seed)
        scores = self.embed_queries(texts, images) @ self.vectors.T
        results = []
        for row in scores:
            order = np.lexsort((rng.random(len(row)), -np.round(row, 6)))[:k]
            results.append(
                [
                    {
                        "text": self.texts[i],
                        "image": self.images[i],
                        "image_token_ids": self.image_token_ids[i],
                        "score": float(row[i]),
                    }
                    for i in order
                ]
            )
        return results


__all__ = ["TfidfPixelBank", "words"]
