# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""A document returned by the retriever, in the form the processor prepends to a prompt."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image


@dataclass(frozen=True)
class RetrievedDocument:
    """
    One document of the memory bank, as retrieved for a query.

    The processor writes it in the paper's layout as `text <break> image <break>`: it uses `image_token_ids` when
    the bank stores them (no VQ encoding needed), and otherwise tokenizes `image` (loaded from `image_path`).

    Attributes:
        text (`str` or `None`): The document's text (a caption).
        image_token_ids (`list[int]` or `None`): The document's image as CM3Leon image token ids, when stored.
        image_path (`str` or `None`): Path of the document's image file, when stored.
        score (`float`): Relevance to the query: the cosine similarity of the query and document vectors.
        index (`int`): Row of the document in the memory bank.
    """

    text: str | None
    image_token_ids: list[int] | None
    image_path: str | None
    score: float
    index: int

    @property
    def has_text(self) -> bool:
        return self.text is not None

    @property
    def has_image(self) -> bool:
        return self.image_token_ids is not None or self.image_path is not None

    @property
    def image(self) -> Image.Image | None:
        """The image read from `image_path` (RGB), or `None` when the document stores no image file."""
        if self.image_path is None:
            return None
        with Image.open(self.image_path) as image:
            return image.convert("RGB")


__all__ = ["RetrievedDocument"]
