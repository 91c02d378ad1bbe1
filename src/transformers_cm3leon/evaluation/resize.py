# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The resize protocol of zero-shot MS-COCO FID, applied to generated and reference images alike.

GigaGAN's evaluation, which LlamaGen adopted (`evaluations/t2i/evaluation.py`), center-crops every image to a square
on its short side and resizes it with PIL's Lanczos filter to the evaluation resolution (256) before feature
extraction. FID is sensitive to resize filters, so the protocol is part of every result.
"""

from __future__ import annotations

import PIL.Image

DEFAULT_EVAL_RESOLUTION = 256


def center_crop_lanczos(image: PIL.Image.Image, resolution: int) -> PIL.Image.Image:
    """Crop the centered square of side `min(width, height)` (torchvision's `center_crop` offsets, which BigGAN's
    `CenterCropLongEdge` uses) and resize it to `resolution` x `resolution` with Lanczos; returns an RGB image."""
    image = image.convert("RGB")
    width, height = image.size
    side = min(width, height)
    left, top = int(round((width - side) / 2.0)), int(round((height - side) / 2.0))
    image = image.crop((left, top, left + side, top + side))
    return image.resize((resolution, resolution), PIL.Image.Resampling.LANCZOS)


def resize_protocol(resolution: int) -> dict:
    """The resize protocol as it is written into results."""
    return {
        "name": "center-crop-lanczos",
        "resolution": resolution,
        "description": (
            f"Generated and reference images alike: center crop to a square on the short side, then PIL Lanczos "
            f"resize to {resolution}x{resolution} (GigaGAN / LlamaGen evaluations/t2i/evaluation.py). The FID "
            "feature extractor then applies its own input resize (Inception: torch-fidelity's TF1-compatible "
            "bilinear resize to 299x299, as torchmetrics' FrechetInceptionDistance does). Features and FID come "
            "from torchmetrics, not clean-fid, whose own resize to 299 differs slightly."
        ),
    }


__all__ = ["DEFAULT_EVAL_RESOLUTION", "center_crop_lanczos", "resize_protocol"]
