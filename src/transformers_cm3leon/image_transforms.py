# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Pixel-level helpers of the image processor: user images (PIL, arrays, tensors) as checked PIL images, transparency,
pixel masks, and moment normalisation of a picture's content.

Moment normalisation (as handwriting recognisers normalise a character before reading it) moves a picture so that
the centre of mass of its content (the pixels that differ from the background colour) is at the image centre, and
scales it so that the content's radius of gyration is a fixed fraction of the image size. The VQ codes of a small
picture change almost entirely when it moves by a pixel or two (each code sees one cell of a fixed grid); after
normalisation, a picture and its slightly moved or resized copies are nearly the same pixels, so they get mostly the
same codes.
"""

from __future__ import annotations

import numpy as np
import PIL.Image
import torch

ARRAY_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}  # channels -> PIL mode
# PIL modes with 8 bits per channel; 16-bit and float modes ("I", "F", "I;16", ...) would need a tone mapping.
_SUPPORTED_PIL_MODES = ("1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "LAB", "HSV")

# The moved picture is sampled onto a grid this many times finer, then downsampled: sampled at the image's own size,
# every edge blurs (a probe on 32 px emoji: 74% of a moved copy's codes agreed with the original's that way, against
# 82% at 4x).
_WORK_SCALE = 4
_MAX_ZOOM = 4.0


def whiten_transparency(image: PIL.Image.Image) -> PIL.Image.Image:
    """RGB image; transparent pixels are blended over white (Chameleon's `_whiten_transparency`, bit for bit)."""
    if image.mode == "RGB":
        return image
    rgba = np.array(image.convert("RGBA"))
    if not (rgba[:, :, 3] < 255).any():
        return image.convert("RGB")
    alpha = rgba[:, :, 3:] / 255.0
    blended = (1 - alpha) * 255 + alpha * rgba[:, :, :3]
    return PIL.Image.fromarray(blended.astype(np.uint8), "RGB")


def array_to_pil(array: np.ndarray, name: str) -> PIL.Image.Image:
    """`(H, W)` or `(H, W, C)` uint8 array -> PIL image of the mode its channel count implies."""
    if array.ndim == 3 and array.shape[2] in ARRAY_MODES:
        mode = ARRAY_MODES[array.shape[2]]
        return PIL.Image.fromarray(np.ascontiguousarray(array[:, :, 0] if mode == "L" else array), mode)
    if array.ndim == 2:
        return PIL.Image.fromarray(np.ascontiguousarray(array), "L")
    raise ValueError(f"`{name}` must have shape (height, width) or (height, width, 1|2|3|4), got {array.shape}.")


def to_pil_image(image, name: str) -> PIL.Image.Image:
    """`image` (a PIL image, a uint8 array `(H, W[, C])` or a tensor `(C, H, W)` / `(H, W)` of floats in [0, 1] or
    uint8) as a PIL image, checked; errors name the argument `name`."""
    if isinstance(image, PIL.Image.Image):
        if image.mode not in _SUPPORTED_PIL_MODES:
            raise ValueError(
                f"`{name}` has PIL mode {image.mode!r}; supported modes are {list(_SUPPORTED_PIL_MODES)}. Convert "
                "16-bit or float images to 8-bit RGB first."
            )
        return image
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8:
            raise TypeError(f"`{name}` must be a uint8 array in (height, width, channels) layout, got {image.dtype}.")
        return array_to_pil(image, name)
    if isinstance(image, torch.Tensor):
        if image.dim() not in (2, 3) or (image.dim() == 3 and image.shape[0] not in ARRAY_MODES):
            raise ValueError(
                f"`{name}` must be a tensor of shape (channels, height, width) with 1-4 channels, or "
                f"(height, width), got {tuple(image.shape)}."
            )
        if image.is_floating_point():
            if image.numel() and not torch.isfinite(image).all():
                raise ValueError(f"`{name}` is a float tensor with NaN or infinite values; pixels must be in [0, 1].")
            if image.numel() and (image.min() < 0 or image.max() > 1):
                raise ValueError(
                    f"`{name}` is a float tensor, which must hold values in [0, 1]; got values in "
                    f"[{float(image.min()):.4g}, {float(image.max()):.4g}]."
                )
            image = (image.detach().float() * 255).round()
        elif image.dtype != torch.uint8:
            raise TypeError(
                f"`{name}` must be a float tensor in [0, 1] or a uint8 tensor, got {image.dtype}; image token ids "
                "go in as one 1-D tensor per image (`list(output.images)` of a pipeline's output_type='tokens')."
            )
        array = image.detach().cpu().to(torch.uint8).numpy()
        return array_to_pil(np.moveaxis(array, 0, -1) if array.ndim == 3 else array, name)
    raise TypeError(
        f"`{name}` must be a PIL.Image.Image, a uint8 numpy array (height, width, channels) or a torch tensor "
        f"(channels, height, width), got {type(image).__name__}."
    )


def mask_to_pil(mask_image) -> PIL.Image.Image:
    """A pixel mask (PIL image of any mode, or a 2-D array / tensor of booleans, uint8 or floats in [0, 1]) as an
    8-bit grayscale image, 255 where the mask is set."""
    if isinstance(mask_image, torch.Tensor):
        mask_image = mask_image.detach().cpu().numpy()
    if isinstance(mask_image, np.ndarray):
        array = mask_image
        if array.ndim == 3 and array.shape[-1] == 1:
            array = array[..., 0]
        if array.ndim != 2 or array.size == 0:
            raise ValueError(f"`mask_image` must be a 2-D (height, width) mask, got shape {array.shape}.")
        if array.dtype == bool:
            array = array.astype(np.uint8) * 255
        elif np.issubdtype(array.dtype, np.floating):
            if not np.isfinite(array).all():
                raise ValueError("`mask_image` holds NaN or infinite values; a float mask must be in [0, 1].")
            if array.min() < 0 or array.max() > 1:
                raise ValueError(
                    f"`mask_image` holds floats in [{array.min():.4g}, {array.max():.4g}]; a float mask must be in "
                    "[0, 1]."
                )
            array = (array * 255).round().astype(np.uint8)
        elif array.dtype != np.uint8:
            raise TypeError(f"`mask_image` must hold bools, uint8 or floats in [0, 1], got {array.dtype}.")
        return PIL.Image.fromarray(array, "L")
    if isinstance(mask_image, PIL.Image.Image):
        if mask_image.width == 0 or mask_image.height == 0:
            raise ValueError(f"`mask_image` is empty ({mask_image.width}x{mask_image.height} pixels).")
        return mask_image.convert("L")
    raise TypeError(
        f"`mask_image` must be a PIL image, a 2-D numpy array or a torch tensor, got {type(mask_image).__name__}."
    )


def content_affine(image: PIL.Image.Image, background_color, radius: float) -> tuple[float, ...] | None:
    """The affine map (PIL's output -> input coefficients, in pixels of `image`, a square RGB image) that centres
    the content of `image` and scales its radius of gyration to `radius` times the image size (zooming in or out by
    at most 4x); `None` for an image with no content (all `background_color`), which is left as it is."""
    size = image.width
    pixels = np.asarray(image, dtype=np.float32)
    weights = np.abs(pixels - np.asarray(background_color, dtype=np.float32)).max(axis=2) / 255.0
    total = float(weights.sum())
    if total < 1e-6:
        return None
    centres = np.arange(size, dtype=np.float32) + 0.5  # pixel centres
    column_mass, row_mass = weights.sum(axis=0), weights.sum(axis=1)
    cx, cy = float(column_mass @ centres) / total, float(row_mass @ centres) / total
    spread = float(column_mass @ (centres - cx) ** 2 + row_mass @ (centres - cy) ** 2)
    # Output -> input scale; the zoom stays within _MAX_ZOOM either way, so a speck is not blown up into a blur.
    inverse_scale = min(max(float(np.sqrt(spread / total)) / (radius * size), 1 / _MAX_ZOOM), _MAX_ZOOM)
    half = size / 2
    return (inverse_scale, 0.0, cx - half * inverse_scale, 0.0, inverse_scale, cy - half * inverse_scale)


def apply_affine(image: PIL.Image.Image, affine: tuple[float, ...], fill, resample, downsample) -> PIL.Image.Image:
    """`image` (square) moved by `affine` (from [`content_affine`]): sampled once onto a grid `_WORK_SCALE` times
    finer, then downsampled; what comes in from outside the image is `fill`."""
    size, scale = image.width, _WORK_SCALE
    a, b, c, d, e, f = affine
    # Output pixel x of the fine grid is x / scale of the image's own grid.
    fine = (a / scale, b / scale, c, d / scale, e / scale, f)
    moved = image.transform((size * scale,) * 2, PIL.Image.Transform.AFFINE, fine, resample=resample, fillcolor=fill)
    return moved.resize((size, size), downsample)


def normalize_content(image: PIL.Image.Image, background_color, radius: float):
    """`(normalised image, affine)`: `image` (square RGB) with its content centred and scaled (see the module's
    docstring); an image without content comes back as it is, with `affine=None`."""
    affine = content_affine(image, background_color, radius)
    if affine is None:
        return image, None
    fill = tuple(int(c) for c in background_color)
    resample = PIL.Image.Resampling.BICUBIC
    return apply_affine(image, affine, fill, resample, PIL.Image.Resampling.LANCZOS), affine


def transform_mask(mask: PIL.Image.Image, affine: tuple[float, ...] | None) -> PIL.Image.Image:
    """A grayscale mask (square, in the image's pixels) moved as [`normalize_content`] moved its image."""
    if affine is None:
        return mask
    nearest = PIL.Image.Resampling.NEAREST
    return apply_affine(mask, affine, 0, nearest, PIL.Image.Resampling.BOX)


__all__ = [
    "array_to_pil",
    "content_affine",
    "mask_to_pil",
    "normalize_content",
    "to_pil_image",
    "transform_mask",
    "whiten_transparency",
]
