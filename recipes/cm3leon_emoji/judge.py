# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The independent judge of CM3Leon-Emoji: which emoji is this picture?

A nearest-neighbour classifier over pixel features of the reference renders of every emoji of the world (seen and
held out): an image is identified as the emoji whose render is nearest. The feature is the image at 32x32
(area-averaged), RGB in [0, 1], flattened: small enough to ignore the VQ tokenizer's pixel noise, large enough to see
a skin tone, a colour, or a face's expression. It never looks at the model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

FEATURE_SIZE = 32


def image_features(images: Sequence[Image.Image]) -> np.ndarray:
    """`(n, 3 * FEATURE_SIZE**2)` float32 features."""
    return np.stack(
        [
            np.asarray(
                image.convert("RGB").resize((FEATURE_SIZE, FEATURE_SIZE), Image.Resampling.BOX), dtype=np.float32
            ).ravel()
            / 255.0
            for image in images
        ]
    )


def in_model_frame(image_processor, pictures: list) -> list:
    """`pictures` as a model with this image processor sees and draws them: moved and scaled by its moment
    normalisation (`content_radius`), when it has one. The judge's references are put in the frame the model draws
    in; the transform is fixed pixel arithmetic, not the model."""
    if getattr(image_processor, "content_radius", None) is None:
        return list(pictures)
    import torch

    pixel_values = image_processor.preprocess(pictures, return_tensors="np")["pixel_values"]
    return image_processor.postprocess(torch.from_numpy(pixel_values))


class ImageJudge:
    """Identifies images among reference renders.

    Args:
        names (`Sequence[str]`): The name of each reference.
        references (`Sequence[PIL.Image.Image]`): One render per name.
    """

    def __init__(self, names: Sequence[str], references: Sequence[Image.Image]):
        if len(names) != len(references) or not names:
            raise ValueError(f"`names` and `references` must be non-empty and of one length, got {len(names)}.")
        self.names = list(names)
        self.features = image_features(references)
        self._squared_norms = (self.features**2).sum(axis=1)

    def identify(self, images: Sequence[Image.Image]) -> list[str]:
        """The name of the nearest reference of each image."""
        if not images:
            return []
        features = image_features(images)
        distances = self._squared_norms[None, :] - 2.0 * features @ self.features.T
        return [self.names[i] for i in distances.argmin(axis=1)]

    def accuracy(self, images: Sequence[Image.Image], expected: Sequence[str]) -> float:
        """The fraction of `images` identified as `expected`."""
        if len(images) != len(expected):
            raise ValueError(f"Got {len(images)} images for {len(expected)} expected names.")
        found = self.identify(images)
        return float(np.mean([a == b for a, b in zip(found, expected)])) if found else float("nan")
