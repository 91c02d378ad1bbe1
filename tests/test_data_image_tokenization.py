# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Image pre-tokenisation as a `datasets.map` step."""

from __future__ import annotations

import io

import pytest
from data_fakes import FakeImageProcessor, FakeProcessor
from datasets import Dataset, Features, Image, Value
from PIL import Image as PILImage

from transformers_cm3leon.data import ImagePretokenizer


def png_bytes(red: int) -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", (8, 8), (red, 0, 0)).save(buffer, format="PNG")
    return buffer.getvalue()


def image_dataset(corrupt_row: int | None = None) -> Dataset:
    images = [{"bytes": png_bytes(10 * i), "path": None} for i in range(4)]
    if corrupt_row is not None:
        images[corrupt_row] = {"bytes": b"not an image", "path": None}
    features = Features({"image": Image(), "caption": Value("string")})
    return Dataset.from_dict({"image": images, "caption": [f"red {10 * i}" for i in range(4)]}, features=features)


def test_images_become_token_ids_in_batches():
    processor = FakeProcessor()  # a processor holding an image processor works, as does the image processor itself
    result = ImagePretokenizer(processor, encode_batch_size=2).map(image_dataset(), batch_size=3)
    assert result.column_names == ["caption", "image_token_ids"]
    assert result["image_token_ids"] == [[4 + 10 * i] * 4 for i in range(4)]
    assert result["caption"] == ["red 0", "red 10", "red 20", "red 30"]
    assert processor.image_processor.calls == 3  # map batches of 3 and 1 images, encoded 2 at a time


def test_several_columns_and_keeping_the_images():
    dataset = image_dataset().map(lambda row: {"condition_image": row["image"]})
    step = ImagePretokenizer(FakeImageProcessor(), columns=["condition_image", "image"], keep_images=True)
    result = step.map(dataset)
    assert result["condition_image_token_ids"] == result["image_token_ids"] == [[4 + 10 * i] * 4 for i in range(4)]
    assert "image" in result.column_names and "condition_image" in result.column_names


def test_corrupt_or_missing_images_raise_or_are_skipped():
    with pytest.raises(ValueError, match=r"row 2, column 'image': the image failed to decode"):
        ImagePretokenizer(FakeImageProcessor()).map(image_dataset(corrupt_row=2))
    step = ImagePretokenizer(FakeImageProcessor(), on_error="skip")
    result = step.map(image_dataset(corrupt_row=2))
    assert result["caption"] == ["red 0", "red 10", "red 30"]
    assert step.skipped.counts == {"bad image": 1}
    missing = Dataset.from_dict({"image": [None, png_bytes(0)]}, features=Features({"image": Image()}))
    with pytest.raises(ValueError, match=r"row 0, column 'image': the image is missing"):
        ImagePretokenizer(FakeImageProcessor()).map(missing)


def test_argument_errors():
    with pytest.raises(TypeError, match="images_to_token_ids"):
        ImagePretokenizer(object())
    with pytest.raises(ValueError, match="suffix"):
        ImagePretokenizer(FakeImageProcessor(), suffix="")
    with pytest.raises(ValueError, match="no image column"):
        ImagePretokenizer(FakeImageProcessor(), columns="picture").map(image_dataset())
