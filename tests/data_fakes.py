# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Small stand-ins for the tokenizer, image processor and retriever used by the data tests."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from transformers_cm3leon import CM3LeonConfig

# The default CM3Leon vocabulary layout: image tokens 4..8195, <eoss> 8196, <racm3:break> 8197, sentinels 8198...
# Images are 3 tokens long.
CONFIG = CM3LeonConfig(
    vocab_size=56320,
    hidden_size=8,
    intermediate_size=16,
    num_hidden_layers=1,
    num_attention_heads=2,
    image_seq_length=3,
)
EOS, PAD, BREAK, EOSS = CONFIG.eos_token_id, CONFIG.pad_token_id, CONFIG.break_token_id, CONFIG.eoss_token_id
SENTINELS = list(CONFIG.sentinel_token_ids)
TEXT_OFFSET = 9000


class WordTokenizer:
    """Whitespace tokenizer: each new word gets the next id from 9000 (above every special and image token)."""

    def __init__(self):
        self.vocab: dict[str, int] = {}

    def token_id(self, word: str) -> int:
        return self.vocab.setdefault(word, TEXT_OFFSET + len(self.vocab))

    def __call__(self, texts, add_special_tokens=False):
        assert add_special_tokens is False
        return {"input_ids": [[self.token_id(w) for w in text.split()] for text in texts]}

    def encode(self, text: str) -> list[int]:
        return self([text])["input_ids"][0]


class FakeImageProcessor:
    """`images_to_token_ids`: 4 image tokens per image, the mean of each quadrant's red channel (+4)."""

    def __init__(self):
        self.calls = 0

    def images_to_token_ids(self, images):
        self.calls += 1
        ids = []
        for image in images:
            pixels = np.asarray(image.convert("RGB"), dtype=np.int64)[..., 0]
            h, w = pixels.shape
            quadrants = [
                pixels[: h // 2, : w // 2],
                pixels[: h // 2, w // 2 :],
                pixels[h // 2 :, : w // 2],
                pixels[h // 2 :, w // 2 :],
            ]
            ids.append([4 + int(q.mean()) for q in quadrants])
        return np.array(ids)


class FakeProcessor:
    def __init__(self):
        self.image_processor = FakeImageProcessor()


@dataclass
class RetrievedDocument:
    text: str
    image_token_ids: list[int]
    score: float


class FakeRetriever:
    """Returns the same ranked candidates for every query and records the queries it saw."""

    def __init__(self, candidates: list[RetrievedDocument]):
        self.candidates = candidates
        self.queries: list[str] = []

    def retrieve(self, texts, images=None, k=2):
        self.queries += list(texts)
        return [self.candidates[:k] for _ in texts]
