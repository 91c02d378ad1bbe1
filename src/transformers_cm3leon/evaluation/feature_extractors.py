# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The FID feature extractors a recipe can name: the standard Inception-v3 (needs its weights file), a tiny random
convolutional net for tests and offline smoke runs, or any module given by its import path."""

from __future__ import annotations

import importlib

import torch

INCEPTION = "inception"
RANDOM_CONV = "random-conv"


class RandomConvFeatureExtractor(torch.nn.Module):
    """A tiny convolutional net with fixed random weights: uint8 images `(N, 3, H, W)` -> features `(N, 16)`.

    For tests and offline smoke runs of the FID plumbing only. Its FID measures nothing that is comparable with
    published FIDs (which use Inception-v3's features); results computed with it say so.

    Args:
        seed (`int`): Seed of the weights: the same seed gives the same features on every machine.
    """

    num_features = 16

    def __init__(self, seed: int = 0):
        super().__init__()
        self.layers = torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, kernel_size=4, stride=4),
            torch.nn.ReLU(),
            torch.nn.Conv2d(8, self.num_features, kernel_size=3, stride=2, padding=1),
            torch.nn.AdaptiveAvgPool2d(1),
            torch.nn.Flatten(),
        )
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for parameter in self.parameters():
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.2)
        self.requires_grad_(False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.layers(images.float() / 127.5 - 1.0)


def load_feature_extractor(spec: str) -> torch.nn.Module | None:
    """The feature extractor named by `spec`: `None` for "inception" (the FID metric then loads Inception-v3), a
    [`RandomConvFeatureExtractor`] for "random-conv", else `"package.module:name"`, where `name` is a
    `torch.nn.Module` instance, or a class or function that returns one when called without arguments."""
    if spec == INCEPTION:
        return None
    if spec == RANDOM_CONV:
        return RandomConvFeatureExtractor()
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(
            f"`fid_feature_extractor` must be {INCEPTION!r}, {RANDOM_CONV!r} or an import path 'package.module:name', "
            f"got {spec!r}."
        )
    try:
        extractor = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"`fid_feature_extractor`={spec!r} could not be imported: {error}") from error
    if not isinstance(extractor, torch.nn.Module) and callable(extractor):
        extractor = extractor()
    if not isinstance(extractor, torch.nn.Module):
        raise TypeError(
            f"`fid_feature_extractor`={spec!r} must name a torch.nn.Module or something that returns one when "
            f"called, got {type(extractor).__name__}."
        )
    return extractor


__all__ = ["INCEPTION", "RANDOM_CONV", "RandomConvFeatureExtractor", "load_feature_extractor"]
