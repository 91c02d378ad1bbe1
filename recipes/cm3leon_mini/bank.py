# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The retrieval bank of CM3Leon-Mini: its training documents, searched with the recipes' TF-IDF + pixel
bi-encoder ([`TfidfPixelBank`]; no CLIP weights can be downloaded where CM3Leon-Mini is trained).

Numerals are read as words ("7" -> "seven"), so "the number 7" and "a handwritten digit seven" share their content
word; `max_document_frequency` filters template words such as "a", "handwritten" or "number".
"""

from __future__ import annotations

from tfidf_pixel_bank import TfidfPixelBank, words

from cm3leon_mini.digits import DIGIT_WORDS


def caption_words(text: str) -> list[str]:
    return [DIGIT_WORDS[int(word)] if word.isdigit() and len(word) == 1 else word for word in words(text)]


class CaptionBankRetriever(TfidfPixelBank):
    """Documents (caption, image, image token ids); see [`TfidfPixelBank`]."""

    def __init__(self, texts, images, image_token_ids, max_document_frequency: float = 0.12):
        super().__init__(texts, images, image_token_ids, max_document_frequency, words=caption_words)


__all__ = ["CaptionBankRetriever"]
