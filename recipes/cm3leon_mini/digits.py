# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The handwritten-digits world of CM3Leon-Mini: scikit-learn's `load_digits` (1,797 real 8x8 scans by 43 writers).

Images are upsampled to `resolution` pixels (black ink on a white background, RGB) and captioned from a few templates
("a handwritten digit seven", "the number 7", ...). The train/held-out split is stratified and fixed by a seed, so
the held-out digits are never seen by the image tokenizer, the language model or the retrieval bank.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
# `{word}` is the digit's English name, `{digit}` its numeral.
CAPTION_TEMPLATES = (
    "a handwritten digit {word}",
    "the number {digit}",
    "a hand-drawn {word}",
    "the digit {word} written by hand",
    "a picture of the number {word}",
)
DEFAULT_RESOLUTION = 16
HELD_OUT_FRACTION = 0.2
_WORD_PATTERN = re.compile(r"\b(" + "|".join(DIGIT_WORDS) + r"|[0-9])\b")


@dataclass
class DigitsSplit:
    """Images `(n, resolution, resolution, 3)` uint8 and their labels `(n,)`, of one split."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


def digit_caption(label: int, template: int = 0) -> str:
    """The caption of digit `label` (0-9) from `CAPTION_TEMPLATES[template]`."""
    if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or not 0 <= label <= 9:
        raise ValueError(f"`label` must be an integer in [0, 9], got {label!r}.")
    if isinstance(template, bool) or not isinstance(template, (int, np.integer)):
        raise ValueError(f"`template` must be an integer index into CAPTION_TEMPLATES, got {template!r}.")
    if not 0 <= template < len(CAPTION_TEMPLATES):
        raise ValueError(f"`template` must be in [0, {len(CAPTION_TEMPLATES)}), got {template}.")
    return CAPTION_TEMPLATES[template].format(word=DIGIT_WORDS[label], digit=int(label))


def parse_digit(text: str) -> int | None:
    """The digit a caption names (its first digit word or numeral), or `None` when it names none."""
    if not isinstance(text, str):
        raise TypeError(f"`text` must be a string, got {type(text).__name__}.")
    match = _WORD_PATTERN.search(text.lower())
    if match is None:
        return None
    token = match.group(1)
    return int(token) if token.isdigit() else DIGIT_WORDS.index(token)


def render_digits(raw: np.ndarray, resolution: int = DEFAULT_RESOLUTION) -> np.ndarray:
    """8x8 ink intensities in [0, 16] `(n, 8, 8)` -> black-on-white RGB images `(n, resolution, resolution, 3)` uint8,
    upsampled bilinearly."""
    import torch
    import torch.nn.functional as F

    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 8:
        raise ValueError(f"`resolution` must be an integer >= 8, got {resolution!r}.")
    raw = np.asarray(raw, dtype=np.float32)
    if raw.ndim != 3 or raw.shape[1:] != (8, 8):
        raise ValueError(f"`raw` must have shape (n, 8, 8), got {raw.shape}.")
    ink = torch.from_numpy(raw / 16.0)[:, None]
    ink = F.interpolate(ink, size=(resolution, resolution), mode="bilinear", align_corners=False)[:, 0]
    gray = np.clip(np.rint(255.0 * (1.0 - ink.numpy())), 0, 255).astype(np.uint8)
    return np.repeat(gray[..., None], 3, axis=-1)


def load_digit_splits(
    resolution: int = DEFAULT_RESOLUTION, held_out_fraction: float = HELD_OUT_FRACTION, seed: int = 0
) -> tuple[DigitsSplit, DigitsSplit]:
    """scikit-learn's digits, rendered at `resolution`, split into (train, held-out), stratified by class.

    Needs scikit-learn (`pip install transformers-cm3leon[mini]`); the data ships inside scikit-learn, so nothing is
    downloaded.
    """
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as error:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            "The digits world needs scikit-learn: `pip install transformers-cm3leon[mini]` (or `pip install "
            "scikit-learn`)."
        ) from error
    if not 0 < held_out_fraction < 1:
        raise ValueError(f"`held_out_fraction` must be in (0, 1), got {held_out_fraction!r}.")
    digits = load_digits()
    images = render_digits(digits.images, resolution)
    labels = digits.target.astype(np.int64)
    train_idx, test_idx = train_test_split(
        np.arange(len(labels)), test_size=held_out_fraction, stratify=labels, random_state=seed
    )
    train_idx, test_idx = np.sort(train_idx), np.sort(test_idx)
    return DigitsSplit(images[train_idx], labels[train_idx]), DigitsSplit(images[test_idx], labels[test_idx])


def augment_digit(
    image: np.ndarray,
    rng: np.random.Generator,
    max_rotation: float = 12.0,
    max_scale: float = 0.1,
    max_translation: float = 1.5,
    fill: int = 255,
) -> np.ndarray:
    """`image` `(h, w, 3)` under a random affine map about its centre: a rotation within `max_rotation` degrees, a
    scaling within `1 +- max_scale` and a translation within `max_translation` pixels (bilinear, uncovered pixels
    `fill`). Real handwriting varies this way; the captioning rows see such copies so that reading a digit does not
    mean recognising one of the 1,437 training scans."""
    from PIL import Image

    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
        raise ValueError(f"`image` must be an (h, w, 3) uint8 array, got shape {image.shape} and dtype {image.dtype}.")
    for name, value in (
        ("max_rotation", max_rotation),
        ("max_scale", max_scale),
        ("max_translation", max_translation),
    ):
        if not value >= 0:
            raise ValueError(f"`{name}` must be >= 0, got {value!r}.")
    if max_scale >= 1:
        raise ValueError(f"`max_scale` must be < 1 (the scale is drawn in 1 +- max_scale), got {max_scale!r}.")
    height, width = image.shape[:2]
    angle = np.deg2rad(rng.uniform(-max_rotation, max_rotation))
    scale = rng.uniform(1 - max_scale, 1 + max_scale)
    shift_x, shift_y = rng.uniform(-max_translation, max_translation, size=2)
    centre_x, centre_y = width / 2, height / 2
    # PIL maps each output pixel back to its source: source = A^-1 (output - centre - shift) + centre.
    cos, sin = np.cos(angle) / scale, np.sin(angle) / scale
    a, b, d, e = cos, sin, -sin, cos
    offset_x, offset_y = centre_x + shift_x, centre_y + shift_y
    c = centre_x - a * offset_x - b * offset_y
    f = centre_y - d * offset_x - e * offset_y
    transformed = Image.fromarray(image).transform(
        (width, height),
        Image.Transform.AFFINE,
        (a, b, c, d, e, f),
        resample=Image.Resampling.BILINEAR,
        fillcolor=(fill,) * 3,
    )
    return np.asarray(transformed, dtype=np.uint8)


def to_grayscale(images: np.ndarray) -> np.ndarray:
    """`(n, h, w, 3)` uint8 (or a list of PIL images) -> `(n, h * w)` float32 ink in [0, 1] (1 = black)."""
    if isinstance(images, (list, tuple)):
        images = np.stack([np.asarray(image.convert("RGB")) for image in images])
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"`images` must have shape (n, height, width, 3), got {images.shape}.")
    return (1.0 - images.mean(axis=-1) / 255.0).reshape(len(images), -1)


__all__ = [
    "CAPTION_TEMPLATES",
    "DIGIT_WORDS",
    "DigitsSplit",
    "augment_digit",
    "digit_caption",
    "load_digit_splits",
    "parse_digit",
    "render_digits",
    "to_grayscale",
]
