# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The independent judge of generated digits: a scikit-learn classifier trained on the real training digits only.

It never sees a generated image or anything of the language model; it is retrained from scratch (deterministic, a few
seconds) whenever an evaluation needs it, so no pickled model is ever shipped or loaded.
"""

from __future__ import annotations

import numpy as np

from cm3leon_mini.digits import DEFAULT_RESOLUTION, DigitsSplit, load_digit_splits, to_grayscale


class DigitClassifier:
    """An RBF support-vector classifier over the grayscale pixels of `resolution`-pixel digit images.

    Args:
        train (`DigitsSplit`, *optional*): Training digits; defaults to the train split of `load_digit_splits`.
        resolution (`int`): The image side the classifier reads.
        seed (`int`): Seed of the split (when `train` is not given).
    """

    def __init__(self, train: DigitsSplit | None = None, resolution: int = DEFAULT_RESOLUTION, seed: int = 0):
        from sklearn.svm import SVC

        if train is None:
            train, _ = load_digit_splits(resolution, seed=seed)
        if train.images.shape[1] != resolution:
            raise ValueError(f"`train` holds {train.images.shape[1]}px images, but `resolution` is {resolution}.")
        self.resolution = resolution
        self.model = SVC(C=10.0, gamma="scale").fit(to_grayscale(train.images), train.labels)

    def predict(self, images) -> np.ndarray:
        """Digit labels `(n,)` of `images`: an `(n, h, w, 3)` uint8 array or a list of PIL images (resized if needed)."""
        if isinstance(images, (list, tuple)):
            images = [image.convert("RGB").resize((self.resolution, self.resolution)) for image in images]
        return self.model.predict(to_grayscale(images))

    def accuracy(self, images, labels) -> float:
        return float(np.mean(self.predict(images) == np.asarray(labels)))


__all__ = ["DigitClassifier"]
