# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The retrieval bank of CM3Leon-Emoji: its training documents (name, picture), searched with the recipes'
TF-IDF + pixel bi-encoder ([`TfidfPixelBank`]; no CLIP weights can be downloaded where this model is trained).

Names are split into words ("thumbs up: dark skin tone" -> thumbs, up, dark, skin, tone) and pictures embedded at
16x16. So a held-out "thumbs up: dark skin tone" retrieves "thumbs up: medium-dark skin tone" and other dark-toned
emoji: the base and the tone it has never seen together, side by side in its prompt.
"""

from __future__ import annotations

from tfidf_pixel_bank import TfidfPixelBank


class EmojiBank(TfidfPixelBank):
    """Documents (name, picture, image token ids); see [`TfidfPixelBank`]."""

    def __init__(self, texts, images, image_token_ids, max_document_frequency: float = 0.12):
        super().__init__(texts, images, image_token_ids, max_document_frequency, image_size=16)


__all__ = ["EmojiBank"]
