# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Image pre-tokenisation: a batched `datasets.map` step that turns image columns into image token ids once.

Running the VQ encoder inside the training loop would re-encode every image every epoch; CM3Leon trains on token
streams, so images are tokenized once and the training set holds token ids only.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence

from .document import images_to_token_id_lists
from .skipping import SkipCounter, check_on_error, filter_batch


def decode_image(value):
    """A PIL image from a PIL image, an undecoded `datasets.Image` value (`{"bytes", "path"}`), or a file path."""
    from PIL import Image

    if isinstance(value, Image.Image):
        return value
    if isinstance(value, dict):
        data, path = value.get("bytes"), value.get("path")
        if data is None and path is None:
            raise ValueError("the image value has neither 'bytes' nor 'path'")
        image = Image.open(io.BytesIO(data) if data is not None else path)
    elif isinstance(value, (str, os.PathLike)):
        image = Image.open(value)
    elif isinstance(value, bytes):
        image = Image.open(io.BytesIO(value))
    else:
        raise TypeError(
            f"expected a PIL image, image bytes, a path or a datasets Image dict, got {type(value).__name__}"
        )
    image.load()  # decode now, so a corrupt file fails here rather than inside the image processor
    return image


class ImagePretokenizer:
    r"""
    A batched `datasets.map` step: every image of `columns` becomes a list of image token ids, written to
    `{column}{suffix}` (by default `image` -> `image_token_ids`), through `images_to_token_ids` calls of
    `encode_batch_size` images.

    Args:
        processor: A [`CM3LeonProcessor`] (its `.image_processor` is used) or an image processor with
            `images_to_token_ids(images) -> ids per image`.
        columns (`str` or `list[str]`, *optional*, defaults to `"image"`): The image columns.
        suffix (`str`, *optional*, defaults to `"_token_ids"`): Output column = input column + suffix.
        keep_images (`bool`, *optional*, defaults to `False`): Keep the image columns next to the token ids.
        encode_batch_size (`int`, *optional*, defaults to 16): Images per `images_to_token_ids` call, which bounds the
            VQ encoder's memory whatever the `map` batch size.
        on_error (`str`, *optional*, defaults to `"raise"`): For an image that is missing or fails to decode:
            `"raise"` a `ValueError` naming the row and column, or `"skip"` the row (counted in `skipped`, logged).

    [`ImagePretokenizer.map`] casts `datasets.Image` columns to `decode=False` first, so that a corrupt image reaches
    this step (and `on_error`) instead of failing inside `datasets`.

    Example:

    ```python
    >>> dataset = ImagePretokenizer(processor, columns="image").map(dataset, batch_size=64)
    >>> dataset.column_names  # the other columns are kept
    ['text', 'image_token_ids']
    ```
    """

    def __init__(
        self,
        processor,
        columns: str | Sequence[str] = "image",
        *,
        suffix: str = "_token_ids",
        keep_images: bool = False,
        encode_batch_size: int = 16,
        on_error: str = "raise",
    ):
        image_processor = processor
        if not hasattr(image_processor, "images_to_token_ids"):
            image_processor = getattr(processor, "image_processor", None)
        if not callable(getattr(image_processor, "images_to_token_ids", None)):
            raise TypeError(
                "`processor` must have an `images_to_token_ids(images)` method, or an `image_processor` that has one; "
                f"got {type(processor).__name__}."
            )
        self.image_processor = image_processor
        self.columns = [columns] if isinstance(columns, str) else list(columns)
        if not self.columns or not all(isinstance(c, str) for c in self.columns):
            raise ValueError(f"`columns` must be a column name or a non-empty list of names, got {columns!r}.")
        if not suffix:
            raise ValueError("`suffix` must be non-empty, or the token ids would overwrite the images.")
        self.suffix = suffix
        self.keep_images = keep_images
        if isinstance(encode_batch_size, bool) or not isinstance(encode_batch_size, int) or encode_batch_size <= 0:
            raise ValueError(f"`encode_batch_size` must be a positive integer, got {encode_batch_size!r}.")
        self.encode_batch_size = encode_batch_size
        self.on_error = check_on_error(on_error)
        self.skipped = SkipCounter(type(self).__name__)

    def output_column(self, column: str) -> str:
        return f"{column}{self.suffix}"

    def __call__(self, batch: dict, indices: Sequence[int] | None = None) -> dict:
        missing = [c for c in self.columns if c not in batch]
        if missing:
            raise ValueError(f"The dataset has no image column {missing} (columns: {sorted(batch)}).")
        num_rows = len(batch[self.columns[0]])
        keep, images = [], []
        for i in range(num_rows):
            row = i if indices is None else indices[i]
            try:
                decoded = []
                for column in self.columns:
                    value = batch[column][i]
                    if value is None:
                        raise ValueError("the image is missing (None)")
                    try:
                        decoded.append(decode_image(value))
                    except Exception as error:  # PIL raises many error types for corrupt files
                        raise ValueError(f"the image failed to decode ({type(error).__name__}: {error})") from error
            except ValueError as error:
                message = f"row {row}, column {column!r}: {error}"
                if self.on_error == "raise":
                    raise ValueError(f"{message}. Use on_error='skip' to skip such rows.") from error
                self.skipped("bad image", message)
                continue
            keep.append(i)
            images.extend(decoded)

        output = filter_batch(batch, keep)
        token_ids = []
        for start in range(0, len(images), self.encode_batch_size):
            token_ids += images_to_token_id_lists(self.image_processor, images[start : start + self.encode_batch_size])
        for c, column in enumerate(self.columns):
            output[self.output_column(column)] = token_ids[c :: len(self.columns)]
            if not self.keep_images:
                del output[column]
        return output

    def map(self, dataset, **map_kwargs):
        """Run the step over a `datasets.Dataset` (or `IterableDataset`); other columns are kept."""
        from datasets import Image

        features = getattr(dataset, "features", None) or {}
        for column in self.columns:
            if isinstance(features.get(column), Image) and features[column].decode:
                dataset = dataset.cast_column(column, Image(decode=False))
        map_kwargs.setdefault("remove_columns", dataset.column_names)
        return dataset.map(self, batched=True, with_indices=True, **map_kwargs)
