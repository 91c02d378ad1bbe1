# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The data side of image-tokenizer training: the dataset's columns and the collator that decodes and scales a
batch's images (and, for a palette code, its labels and base images)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..data import SkipCounter
from ..data.image_tokenization import decode_image  # the pretokenizer's decoder: same inputs, same errors
from ..data.skipping import check_on_error
from ..image_processing_cm3leon import CM3LeonImageProcessor
from .dataset_loading import check_dataset


def prepare_image_columns(dataset, data_args) -> object:
    """Check `data_args`' (`VQDataArguments`) columns and make `datasets` hand over undecoded images, so a corrupt file reaches the collator's
    `on_error` instead of failing inside `datasets`."""
    import datasets

    dataset = check_dataset(dataset, "dataset")
    columns = [data_args.image_column, data_args.palette_column, data_args.base_image_column]
    columns = [column for column in columns if column is not None]
    for column in columns:
        if column not in dataset.column_names:
            raise ValueError(f"The dataset has no column {column!r} (columns: {dataset.column_names}).")
    for column in (data_args.image_column, data_args.base_image_column):
        feature = (dataset.features or {}).get(column)
        if isinstance(feature, datasets.Image) and feature.decode:
            dataset = dataset.cast_column(column, datasets.Image(decode=False))
    return dataset.select_columns(columns)


class VQImageCollator:
    r"""
    Decodes a batch's images and turns them into `pixel_values` with the image processor (resize, crop, [-1, 1]).

    Args:
        image_processor ([`CM3LeonImageProcessor`]): Does the resizing and scaling.
        image_column (`str`, *optional*, defaults to `"image"`): The image column.
        on_error (`str`, *optional*, defaults to `"raise"`): An image that is missing or fails to decode raises a
            `ValueError` (`"raise"`) or is left out of its batch, counted in `skipped` and logged (`"skip"`).
        palette_column (`str`, *optional*): Int palette labels, returned as `palette_codes`.
        base_image_column (`str`, *optional*): Each image's base image, returned as `base_pixel_values`.
    """

    def __init__(
        self,
        image_processor: CM3LeonImageProcessor,
        image_column: str = "image",
        on_error: str = "raise",
        palette_column: str | None = None,
        base_image_column: str | None = None,
    ):
        self.image_processor = image_processor
        self.image_column = image_column
        self.on_error = check_on_error(on_error)
        self.palette_column = palette_column
        self.base_image_column = base_image_column
        self.skipped = SkipCounter(type(self).__name__)

    @staticmethod
    def _image(feature: dict, column: str, what: str = "image"):
        if column not in feature or feature[column] is None:
            raise ValueError(f"the row has no {what} in column {column!r}")
        try:
            return decode_image(feature[column]).convert("RGB")
        except Exception as error:  # PIL raises many error types for corrupt files
            raise ValueError(f"the {what} failed to decode ({type(error).__name__}: {error})") from error

    def _palette(self, feature: dict) -> int:
        label = feature.get(self.palette_column)
        if isinstance(label, bool) or not isinstance(label, int):
            raise ValueError(f"the palette label in column {self.palette_column!r} must be an int, got {label!r}")
        return label

    def __call__(self, features: Sequence[dict]) -> dict[str, torch.Tensor]:
        images, base_images, palettes = [], [], []
        for index, feature in enumerate(features):
            try:
                image = self._image(feature, self.image_column)
                base = self._image(feature, self.base_image_column, "base image") if self.base_image_column else None
                palette = self._palette(feature) if self.palette_column else None
            except ValueError as error:
                if self.on_error == "raise":
                    raise ValueError(
                        f"Batch row {index}: {error}. Use on_error='skip' to skip such images."
                    ) from error
                self.skipped("bad image", f"batch row {index}: {error}")
                continue
            images.append(image)
            base_images.append(base)
            palettes.append(palette)
        if not images:
            raise ValueError(f"Every image of a batch of {len(features)} failed to decode; check the dataset.")
        batch = {"pixel_values": self.image_processor.preprocess(images, return_tensors="pt")["pixel_values"]}
        if self.base_image_column:
            batch["base_pixel_values"] = self.image_processor.preprocess(base_images, return_tensors="pt")[
                "pixel_values"
            ]
        if self.palette_column:
            batch["palette_codes"] = torch.tensor(palettes)
        return batch


__all__ = ["VQImageCollator", "prepare_image_columns"]
