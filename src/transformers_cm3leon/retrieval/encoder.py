# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The retriever's frozen bi-encoder: texts and images to unit vectors in CLIP's joint space."""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from transformers import AutoImageProcessor, AutoModel, AutoTokenizer, PreTrainedModel
from transformers.utils import logging

logger = logging.get_logger(__name__)


class CM3LeonRetrievalEncoder:
    """
    A frozen CLIP-like bi-encoder ([P] §2.1): any model with `get_text_features` and/or `get_image_features`
    (CLIP, SigLIP, ...), with its tokenizer and image processor.

    A text and an image are each embedded and L2-normalised. A document (or query) with both is represented by the
    mean of its two unit vectors, re-normalised; one with a single modality by that modality's unit vector. Every
    vector is therefore a unit vector, so an inner product is a cosine similarity in [-1, 1] and an exact copy of a
    query scores 1.0, which is what makes the paper's 0.9 near-copy threshold meaningful. (The paper says "normalise
    and average" without saying whether the average is re-normalised. Without it, a document's norm would grow with
    the agreement of its text and image, and inner products would rank by that as well as by relevance.)

    Args:
        model ([`PreTrainedModel`]): The encoder; it is put in eval mode and never trained.
        tokenizer (*optional*): Its tokenizer; required to embed texts.
        image_processor (*optional*): Its image processor; required to embed images.
        processor (*optional*): A processor holding both (e.g. [`CLIPProcessor`]), instead of the two above.
    """

    def __init__(self, model: PreTrainedModel, tokenizer=None, image_processor=None, processor=None):
        if not (hasattr(model, "get_text_features") or hasattr(model, "get_image_features")):
            raise TypeError(
                f"`model` must have `get_text_features` and/or `get_image_features` (a CLIP-like model), got "
                f"{type(model).__name__}."
            )
        if processor is not None:
            if tokenizer is not None or image_processor is not None:
                raise ValueError("Pass either `processor` or `tokenizer`/`image_processor`, not both.")
            tokenizer = getattr(processor, "tokenizer", None)
            image_processor = getattr(processor, "image_processor", None)
        self.model = model.eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self._embedding_dim = getattr(model.config, "projection_dim", None)

    @classmethod
    def from_pretrained(cls, name_or_path: str, model_kwargs: dict | None = None, **kwargs) -> CM3LeonRetrievalEncoder:
        """
        Load the model, tokenizer and image processor saved at `name_or_path` (a hub id or a directory).

        `kwargs` (e.g. `revision`, `token`, `local_files_only`) go to all three `from_pretrained` calls, `model_kwargs`
        (e.g. `dtype`) to the model's only.
        """
        model = AutoModel.from_pretrained(name_or_path, **kwargs, **(model_kwargs or {}))
        tokenizer = AutoTokenizer.from_pretrained(name_or_path, **kwargs)
        image_processor = AutoImageProcessor.from_pretrained(name_or_path, **kwargs)
        return cls(model, tokenizer=tokenizer, image_processor=image_processor)

    def save_pretrained(self, save_directory: str | os.PathLike) -> None:
        self.model.save_pretrained(save_directory)
        for part in (self.tokenizer, self.image_processor):
            if part is not None:
                part.save_pretrained(save_directory)

    @property
    def name_or_path(self) -> str | None:
        """The id or path the model was loaded from; `None` for a model built in memory."""
        return getattr(self.model, "name_or_path", None) or None

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def embedding_dim(self) -> int:
        if self._embedding_dim is None:  # not a CLIP config: measure it once
            if self.tokenizer is None:
                raise ValueError(
                    "Cannot infer the encoder's embedding dimension: the model config has no `projection_dim` and no "
                    "tokenizer was given to measure it."
                )
            self._embedding_dim = self.embed(texts=["a"]).shape[1]
        return self._embedding_dim

    def to(self, device: str | torch.device) -> CM3LeonRetrievalEncoder:
        self.model.to(device)
        return self

    @torch.inference_mode()
    def embed(
        self,
        texts: Sequence[str | None] | None = None,
        images: Sequence | None = None,
        token_dropout: float = 0.0,
        generator: torch.Generator | None = None,
        batch_size: int = 64,
    ) -> np.ndarray:
        """
        Embed a batch of documents or queries.

        Args:
            texts (`list[str | None]`, *optional*): One text per item (`None` for an item without text).
            images (`list`, *optional*): One image per item: a PIL image, an array, a file path, or `None`.
            token_dropout (`float`, *optional*, defaults to 0): Fraction of each text's tokens (special tokens
                excepted) dropped before encoding: the paper's query dropout.
            generator (`torch.Generator`, *optional*): Draws the dropped tokens.
            batch_size (`int`, *optional*, defaults to 64): Items per encoder forward.

        Returns:
            `np.ndarray` of shape `(num_items, embedding_dim)`, float32, one unit vector per item.
        """
        if texts is None and images is None:
            raise ValueError("Nothing to embed: pass `texts` and/or `images`.")
        if texts is not None and images is not None and len(texts) != len(images):
            raise ValueError(
                f"`texts` and `images` must hold one entry per item, got {len(texts)} texts and {len(images)} images."
            )
        num_items = len(texts) if texts is not None else len(images)
        if num_items == 0:
            raise ValueError("Nothing to embed: `texts`/`images` are empty.")
        text_rows = [i for i in range(num_items) if texts is not None and texts[i] is not None]
        image_rows = [i for i in range(num_items) if images is not None and images[i] is not None]
        missing = sorted(set(range(num_items)) - set(text_rows) - set(image_rows))
        if missing:
            raise ValueError(f"Items {missing[:10]} have neither a text nor an image to embed.")
        embed_texts = functools.partial(self._embed_texts, token_dropout=token_dropout, generator=generator)
        text_vectors = _batched(embed_texts, texts, text_rows, batch_size)
        image_vectors = _batched(self._embed_images, images, image_rows, batch_size)
        width = (text_vectors if text_vectors is not None else image_vectors).shape[1]
        total = torch.zeros(num_items, width, dtype=torch.float32, device=self.device)
        if text_vectors is not None:
            total[text_rows] += text_vectors
        if image_vectors is not None:
            total[image_rows] += image_vectors
        # Rows with both modalities hold the sum of two unit vectors: normalising it gives the normalised mean.
        return F.normalize(total, dim=-1).cpu().numpy()

    def _embed_texts(self, texts: list[str], token_dropout: float, generator: torch.Generator | None) -> torch.Tensor:
        if self.tokenizer is None or not hasattr(self.model, "get_text_features"):
            raise ValueError(
                "This encoder cannot embed texts: it needs a tokenizer and a model with `get_text_features`."
            )
        if not all(isinstance(text, str) for text in texts):
            bad = next(text for text in texts if not isinstance(text, str))
            raise TypeError(f"`texts` must hold strings (or None), got {type(bad).__name__} {bad!r}.")
        max_length = _text_context_length(self.model)
        input_ids = []
        for ids in self.tokenizer(texts)["input_ids"]:
            if max_length is not None and len(ids) > max_length:
                # The text encoder has a fixed context (77 tokens for CLIP): keep its head and the end token.
                logger.warning_once(
                    f"Texts longer than the encoder's context of {max_length} tokens are cut to it (keeping the end "
                    "token)."
                )
                ids = ids[: max_length - 1] + ids[-1:]
            if token_dropout > 0:
                special = self.tokenizer.get_special_tokens_mask(ids, already_has_special_tokens=True)
                ids = drop_tokens(ids, special, token_dropout, generator)
            input_ids.append(ids)
        batch = self.tokenizer.pad({"input_ids": input_ids}, padding=True, return_tensors="pt").to(self.device)
        output = self.model.get_text_features(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        return F.normalize(_features(output).float(), dim=-1)

    def _embed_images(self, images: list) -> torch.Tensor:
        if self.image_processor is None or not hasattr(self.model, "get_image_features"):
            raise ValueError(
                "This encoder cannot embed images: it needs an image processor and a model with `get_image_features`."
            )
        images = [_load_image(image) for image in images]
        pixel_values = self.image_processor(images=images, return_tensors="pt")["pixel_values"]
        pixel_values = pixel_values.to(device=self.device, dtype=self.model.dtype)
        output = self.model.get_image_features(pixel_values=pixel_values)
        return F.normalize(_features(output).float(), dim=-1)


def drop_tokens(
    input_ids: list[int], special_tokens_mask: list[int], fraction: float, generator: torch.Generator | None = None
) -> list[int]:
    """
    Query dropout: remove `round(fraction * n)` of the `n` non-special tokens of `input_ids` (at least one is kept),
    chosen uniformly with `generator`. Special tokens and the order of the kept tokens are preserved.
    """
    content = [i for i, special in enumerate(special_tokens_mask) if not special]
    num_dropped = min(math.floor(fraction * len(content) + 0.5), len(content) - 1)
    if num_dropped <= 0:
        return list(input_ids)
    dropped = {content[j] for j in torch.randperm(len(content), generator=generator)[:num_dropped].tolist()}
    return [token for i, token in enumerate(input_ids) if i not in dropped]


def _batched(embed_batch, items, rows: list[int], batch_size: int) -> torch.Tensor | None:
    """`embed_batch` over `items[rows]`, `batch_size` at a time, concatenated; `None` when `rows` is empty."""
    if not rows:
        return None
    selected = [items[i] for i in rows]
    return torch.cat(
        [embed_batch(selected[start : start + batch_size]) for start in range(0, len(selected), batch_size)]
    )


def _features(output) -> torch.Tensor:
    # transformers 5 returns a BaseModelOutputWithPooling whose `pooler_output` is the projected embedding;
    # older versions and other models return the tensor itself.
    if isinstance(output, torch.Tensor):
        return output
    pooled = getattr(output, "pooler_output", None)
    if isinstance(pooled, torch.Tensor):
        return pooled
    raise TypeError(
        f"The encoder's `get_*_features` returned {type(output).__name__}; expected a tensor or an output with a "
        "`pooler_output` tensor."
    )


def _text_context_length(model) -> int | None:
    config = getattr(model.config, "text_config", model.config)
    return getattr(config, "max_position_embeddings", None)


def _load_image(image, name: str = "images"):
    if isinstance(image, (str, os.PathLike)):
        try:
            with Image.open(image) as opened:
                return opened.convert("RGB")
        except (OSError, ValueError) as error:  # missing, unreadable or not an image (PIL's UnidentifiedImageError)
            raise ValueError(f"`{name}`: {os.fspath(image)!r} could not be opened as an image ({error}).") from None
    return image


__all__ = ["CM3LeonRetrievalEncoder", "drop_tokens"]
