# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The retrieval bank of CM3Leon-Emoji: its training documents (name, picture), searched with a small bi-encoder.

The paper retrieves with a frozen CLIP bi-encoder ([`CM3LeonRetriever`]); no CLIP weights can be downloaded where
this model is trained, so the bank uses the simplest encoders that keep the paper's rules meaningful:

- text: TF-IDF over the words of the name ("thumbs up: dark skin tone" -> thumbs, up, dark, skin, tone), words in
  more than `max_document_frequency` of the documents ignored;
- image: the picture at 16x16, minus its own mean, unit length;
- document: `[text, image] / sqrt(2)`, so `query . document` is the mean of the two cosine similarities; a training
  query (name + picture) scores 1.0 against itself, which the 0.9 relevance cap drops; a text-only query (inference)
  scores at most 0.71.

So a held-out "thumbs up: dark skin tone" retrieves "thumbs up: medium-dark skin tone" and other dark-toned
emoji: the base and the tone it has never seen together, side by side in its prompt.

It has the interface [`RetrievalAugmentedExampleBuilder`] expects: `retrieve(texts=..., images=..., k=...)`
returning documents with `text`, `image`, `image_token_ids` and `score`.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np
from PIL import Image

_WORD = re.compile(r"[a-z0-9]+")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def _embed_images(images) -> np.ndarray:
    pixels = np.stack(
        [np.asarray(i.convert("RGB").resize((16, 16), Image.Resampling.BOX), np.float32).ravel() / 255 for i in images]
    )
    return _unit(pixels - pixels.mean(axis=1, keepdims=True))


class EmojiBank:
    """Documents (name, picture, image token ids) searched by text, or by text and picture.

    Args:
        texts (`Sequence[str]`): The documents' texts.
        images (`Sequence[PIL.Image.Image]`): Their pictures.
        image_token_ids (`Sequence[Sequence[int]]`): Their image token ids (what a prompt holds).
        max_document_frequency (`float`): Words found in more than this fraction of the documents are ignored.
    """

    def __init__(self, texts, images, image_token_ids, max_document_frequency: float = 0.12):
        if not (len(texts) == len(images) == len(image_token_ids)) or not texts:
            raise ValueError(
                f"`texts`, `images` and `image_token_ids` must be non-empty and of one length, got {len(texts)}, "
                f"{len(images)} and {len(image_token_ids)}."
            )
        self.texts = list(texts)
        self.images = list(images)
        self.image_token_ids = [list(map(int, ids)) for ids in image_token_ids]
        frequency = Counter(word for text in self.texts for word in set(_words(text)))
        kept = sorted(word for word, count in frequency.items() if count <= max_document_frequency * len(self.texts))
        self.vocabulary = {word: index for index, word in enumerate(kept)}
        self.idf = np.array([math.log((1 + len(self.texts)) / (1 + frequency[word])) + 1.0 for word in kept])
        image_vectors = _embed_images(self.images)
        self.image_dim = image_vectors.shape[1]
        self.vectors = np.concatenate([self._embed_texts(self.texts), image_vectors], axis=1) / math.sqrt(2.0)

    def __len__(self) -> int:
        return len(self.texts)

    def _embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        vectors = np.zeros((len(texts), len(self.vocabulary)), dtype=np.float32)
        for row, text in enumerate(texts):
            for word, count in Counter(_words(text)).items():
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
        return np.concatenate([text_vectors, _embed_images(images)], axis=1) / math.sqrt(2.0)

    def retrieve(self, texts: Sequence[str], images=None, k: int = 4, seed: int = 0) -> list[list[dict]]:
        """The `k` best documents per query (dicts with `text`, `image`, `image_token_ids`, `score`), best first;
        equal scores in an order drawn from `seed`."""
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
