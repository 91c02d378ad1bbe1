# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The optional super-resolution stage of the image pipelines: transformers' Swin2SR after VQ decoding.

CM3Leon draws 256x256 images (the tokenizer's resolution); the paper describes no super-resolution stage, and Meta's
internal demo upscaled its outputs with separate, off-the-shelf models (the paper's §6). Here any
`Swin2SRForImageSuperResolution` does the job, e.g. `caidas/swin2SR-classical-sr-x2-64` (x2) or
`caidas/swin2SR-realworld-sr-x4-64-bsrgan-psnr` (x4).
"""

from __future__ import annotations

import torch
from transformers import Swin2SRForImageSuperResolution


def load_upscaler(upscaler: str | Swin2SRForImageSuperResolution, **from_pretrained_kwargs):
    """The upscaler itself, or the `Swin2SRForImageSuperResolution` loaded from the id or path `upscaler`.

    Loading happens only here, when a user passes an id: nothing is downloaded otherwise.
    """
    if isinstance(upscaler, Swin2SRForImageSuperResolution):
        return upscaler
    if isinstance(upscaler, str):
        return Swin2SRForImageSuperResolution.from_pretrained(upscaler, **from_pretrained_kwargs).eval()
    raise TypeError(
        f"`upscaler` must be a Swin2SRForImageSuperResolution or the id/path of one, got {type(upscaler).__name__}."
    )


@torch.no_grad()
def upscale_images(upscaler: Swin2SRForImageSuperResolution, pixel_values: torch.Tensor) -> torch.Tensor:
    """Upscale `(batch, 3, height, width)` pixel values in [0, 1] by `upscaler.config.upscale`.

    Swin2SR's image processor only rescales uint8 pixels to [0, 1] and pads; the model pads to its window size and
    crops its output itself, so [0, 1] pixels go straight in. Returns `(batch, 3, height * s, width * s)` in [0, 1],
    on the device of `pixel_values`.
    """
    device = pixel_values.device
    inputs = pixel_values.to(device=upscaler.device, dtype=upscaler.dtype)
    reconstruction = upscaler(pixel_values=inputs).reconstruction
    return reconstruction.float().clamp_(0.0, 1.0).to(device)


__all__ = ["load_upscaler", "upscale_images"]
