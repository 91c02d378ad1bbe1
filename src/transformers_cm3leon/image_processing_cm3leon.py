# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Image processor of CM3Leon: pixels <-> [-1, 1] tensors <-> VQ codes <-> image token ids.

The processor holds the VQ image tokenizer ([`CM3LeonVQModel`]) in memory. Image processors serialise only JSON, so
`save_pretrained` also writes the VQ model (safetensors) into an `image_tokenizer/` subfolder, and `from_pretrained`
restores it from there.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import numpy as np
import PIL.Image
import torch
from transformers.image_processing_base import BatchFeature
from transformers.image_processing_utils import BaseImageProcessor
from transformers.processing_utils import ImagesKwargs
from transformers.utils import cached_file, logging

from .image_transforms import (
    mask_to_pil,
    normalize_content,
    to_pil_image,
    transform_mask,
    whiten_transparency,
)
from .modeling_cm3leon_vq import CM3LeonVQModel

logger = logging.get_logger(__name__)

IMAGE_TOKENIZER_SUBFOLDER = "image_tokenizer"
"""Subfolder, beside the processor's JSON, that holds the VQ model (`config.json` + `model.safetensors`)."""

_OUTPUT_TYPES = ("pil", "np", "pt")
_RETURN_TENSORS = (None, "np", "pt")
# Keys that transformers itself writes into an image processor's JSON; they are not settings.
_SERVICE_KEYS = ("image_processor_type", "processor_class", "feature_extractor_type", "auto_map")
# `from_pretrained` keywords that locate files, forwarded to the VQ model's `from_pretrained`.
_HUB_KWARGS = ("cache_dir", "force_download", "local_files_only", "token", "revision", "proxies")
_PUSH_TO_HUB_KWARGS = (
    "repo_id",
    "commit_message",
    "commit_description",
    "private",
    "token",
    "revision",
    "create_pr",
    "tags",
)


class CM3LeonImageProcessorKwargs(ImagesKwargs, total=False):
    image_token_offset: int


def _check_int(name: str, value, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}, got {value!r}.")


def _check_color(name: str, value) -> list[int] | None:
    """`None` or an RGB triple of integers in [0, 255], returned as a list (the JSON form)."""
    if value is None:
        return None
    channels = list(value) if isinstance(value, (tuple, list, np.ndarray)) else None
    if (
        channels is None
        or len(channels) != 3
        or not all(isinstance(c, (int, np.integer)) and not isinstance(c, bool) and 0 <= c <= 255 for c in channels)
    ):
        raise ValueError(f"`{name}` must be None or three integers in [0, 255] (R, G, B), got {value!r}.")
    return [int(c) for c in channels]


class CM3LeonImageProcessor(BaseImageProcessor):
    r"""
    Turns images into the pixel tensors and the image token ids of CM3Leon, and back.

    Preprocessing follows Chameleon's reference image tokenizer: transparency is blended over white, the shorter
    side is resized to `size` (LANCZOS by default), the center `size x size` square is cropped, and pixels are
    scaled to [-1, 1] (`x / 127.5 - 1`).

    With a VQ image tokenizer attached (`vq_model`), the processor also maps images to codes (`encode`), codes to
    images (`decode`), and images to and from the language model's image token ids: code `c` is token id
    `image_token_offset + c`. The VQ model is held in memory, never written into the JSON; `save_pretrained` saves
    it to `image_tokenizer/` beside the JSON and `from_pretrained` loads it from there.

    Args:
        size (`int`, *optional*):
            Side of the square the images are resized and cropped to. Defaults to `vq_model.config.resolution` when a
            VQ model is given, else 256 (CM3Leon's resolution). Must equal the VQ model's resolution.
        resample (`int` or `PIL.Image.Resampling`, *optional*, defaults to `PIL.Image.Resampling.LANCZOS`):
            Resampling filter of the resize.
        image_token_offset (`int`, *optional*, defaults to 4):
            Token id of VQ code 0 (`CM3LeonConfig.image_token_offset`).
        vq_model ([`CM3LeonVQModel`], *optional*):
            The image tokenizer. Needed by `encode`, `decode`, `images_to_token_ids` and `token_ids_to_images`; it can
            also be attached later with `image_processor.vq_model = model`.
        background_color (`tuple[int, int, int]`, *optional*):
            An RGB colour (0-255) that backgrounds are drawn in, e.g. `(255, 255, 255)` for icons on white. A cell of
            the code grid whose pixels are all this colour (within 2 levels) is given the code that cell has in an
            image of that colour alone. A VQ encoder with group normalisation gives an empty cell a code that depends
            on the rest of the image, so the same white corner would otherwise take hundreds of codes; with one code
            per position, a language model learns backgrounds at once. `None` (the default) leaves the codes as the
            encoder gives them, as Chameleon's tokenizer does.
        content_radius (`float`, *optional*):
            Moment normalisation, for pictures on a plain `background_color` (icons, emoji, sketches): after the
            resize, each picture is moved so that the centre of mass of its content (the pixels that differ from
            `background_color`) is at the image centre, and scaled so that the content's radius of gyration is
            `content_radius` times the image size (in (0, 0.5]; 0.25 fits most icons; the zoom is at most 4x either way). A picture and its slightly moved
            or resized copies then get mostly the same codes: 83% of the codes of a 32 px emoji moved by up to 1.5 px
            and scaled by up to 10% agree with the original's, against 18% without. `token_mask` moves a mask with
            its image. `None` (the default) leaves pictures where they are.

    Example:

    ```python
    >>> from PIL import Image
    >>> from transformers_cm3leon import CM3LeonImageProcessor, CM3LeonVQConfig, CM3LeonVQModel

    >>> vq = CM3LeonVQModel(CM3LeonVQConfig(resolution=16, base_channels=32, channel_multiplier=[1, 2],
    ...                                     num_embeddings=32, embed_dim=8, latent_channels=8, num_res_blocks=1))
    >>> image_processor = CM3LeonImageProcessor(vq_model=vq.eval())
    >>> token_ids = image_processor.images_to_token_ids(Image.new("RGB", (20, 16), "red"))  # (1, 64), in [4, 36)
    >>> images = image_processor.token_ids_to_images(token_ids)  # [PIL.Image of 16x16]
    ```
    """

    model_input_names = ["pixel_values"]
    valid_kwargs = CM3LeonImageProcessorKwargs

    def __init__(
        self,
        size: int | None = None,
        resample: int | PIL.Image.Resampling = PIL.Image.Resampling.LANCZOS,
        image_token_offset: int = 4,
        vq_model: CM3LeonVQModel | None = None,
        background_color: tuple[int, int, int] | None = None,
        content_radius: float | None = None,
        **kwargs,
    ):
        unknown = sorted(set(kwargs) - set(_SERVICE_KEYS))
        if unknown:
            raise TypeError(
                f"CM3LeonImageProcessor got unexpected arguments {unknown}; it accepts `size`, `resample`, "
                "`image_token_offset`, `vq_model`, `background_color` and `content_radius`."
            )
        super().__init__(**{k: v for k, v in kwargs.items() if k == "auto_map"})
        if size is None:
            size = vq_model.config.resolution if isinstance(vq_model, CM3LeonVQModel) else 256
        _check_int("size", size, 1)
        if resample not in set(PIL.Image.Resampling):
            raise ValueError(
                f"`resample` must be a PIL resampling filter {[f'{r.name}={r.value}' for r in PIL.Image.Resampling]}, "
                f"got {resample!r}."
            )
        _check_int("image_token_offset", image_token_offset, 0)
        self.size = size
        self.resample = int(resample)
        self.image_token_offset = image_token_offset
        self.background_color = _check_color("background_color", background_color)
        if content_radius is not None:
            if isinstance(content_radius, bool) or not isinstance(content_radius, (int, float)):
                raise TypeError(f"`content_radius` must be a float in (0, 0.5] or None, got {content_radius!r}.")
            if not 0 < content_radius <= 0.5:
                raise ValueError(
                    f"`content_radius` must be in (0, 0.5] (a fraction of the image size), got {content_radius!r}."
                )
            if self.background_color is None:
                raise ValueError(
                    f"`content_radius`={content_radius!r} needs `background_color`: the content is what differs from it."
                )
            content_radius = float(content_radius)
        self.content_radius = content_radius
        self._vq_model = None
        self.vq_model = vq_model

    # -- the VQ model -----------------------------------------------------------------------------------------------
    @property
    def vq_model(self) -> CM3LeonVQModel | None:
        """The attached VQ image tokenizer, or `None`."""
        return self._vq_model

    @vq_model.setter
    def vq_model(self, vq_model: CM3LeonVQModel | None) -> None:
        if vq_model is not None:
            if not isinstance(vq_model, CM3LeonVQModel):
                raise TypeError(f"`vq_model` must be a CM3LeonVQModel or None, got {type(vq_model).__name__}.")
            if vq_model.config.resolution != self.size:
                raise ValueError(
                    f"`vq_model` works at resolution {vq_model.config.resolution} but this image processor resizes to "
                    f"size={self.size}; build the image processor with size={vq_model.config.resolution} (or leave "
                    "`size` unset to take the VQ model's resolution)."
                )
        self._vq_model = vq_model

    def _require_vq_model(self) -> CM3LeonVQModel:
        if self._vq_model is None:
            raise ValueError(
                "This CM3LeonImageProcessor has no VQ image tokenizer attached. Pass `vq_model=` when building it, set "
                "`image_processor.vq_model = CM3LeonVQModel(...)`, or load a folder that has an "
                f"`{IMAGE_TOKENIZER_SUBFOLDER}/` subfolder with `CM3LeonImageProcessor.from_pretrained`."
            )
        return self._vq_model

    @property
    def grid_size(self) -> int:
        """Codes per side of an image."""
        return self._require_vq_model().config.grid_size

    @property
    def image_seq_length(self) -> int:
        """Image tokens per image: `grid_size ** 2`, then the palette code when the VQ model has one."""
        return self._require_vq_model().config.image_seq_length

    @property
    def num_image_tokens(self) -> int:
        """Number of distinct image tokens: the VQ codebook size (and then the palette codes)."""
        return self._require_vq_model().config.num_image_tokens

    @property
    def image_token_ids(self) -> range:
        """The token ids of the image tokens, in code order."""
        return range(self.image_token_offset, self.image_token_offset + self.num_image_tokens)

    # -- pixels -----------------------------------------------------------------------------------------------------
    def _flatten_images(self, images) -> list[tuple[object, str]]:
        """One entry per image, with the name to use in error messages; 4-d arrays/tensors are batches."""
        if isinstance(images, (np.ndarray, torch.Tensor)) and images.ndim == 4:
            return [(image, f"images[{i}]") for i, image in enumerate(images)]
        if isinstance(images, (list, tuple)):
            if not images:
                raise ValueError("`images` is empty; pass at least one image.")
            return [(image, f"images[{i}]") for i, image in enumerate(images)]
        return [(images, "images")]

    def _resize_and_crop(self, image: PIL.Image.Image, name: str = "images") -> PIL.Image.Image:
        if image.width == 0 or image.height == 0:
            raise ValueError(f"`{name}` is empty ({image.width}x{image.height} pixels).")
        size = self.size
        scale = size / min(image.size)
        image = image.resize((round(scale * image.width), round(scale * image.height)), self.resample)
        left, top = (image.width - size) // 2, (image.height - size) // 2
        return image.crop((left, top, left + size, top + size))

    def preprocess(self, images, return_tensors: str | None = None) -> BatchFeature:
        """Resize, crop and scale images to the VQ model's input.

        Args:
            images: One image or a list of images: `PIL.Image.Image` (any 8-bit mode; transparency is blended over
                white, grayscale becomes RGB), uint8 `np.ndarray` of shape `(H, W)` or `(H, W, C)`, or `torch.Tensor`
                of shape `(C, H, W)` holding floats in [0, 1] or uint8. A 4-d array `(B, H, W, C)` or tensor
                `(B, C, H, W)` is a batch.
            return_tensors (`str`, *optional*): `"pt"` for a `torch.FloatTensor` `(B, 3, size, size)`, `"np"` for a
                float32 array of that shape, `None` for a list of float32 arrays `(3, size, size)`.

        Returns:
            [`BatchFeature`] with `pixel_values` in [-1, 1].
        """
        if return_tensors not in _RETURN_TENSORS:
            raise ValueError(f"`return_tensors` must be one of {list(_RETURN_TENSORS)}, got {return_tensors!r}.")
        pixel_values = []
        for image, name in self._flatten_images(images):
            image = self._resize_and_crop(whiten_transparency(to_pil_image(image, name)), name)
            if self.content_radius is not None:
                image, _ = normalize_content(image, self.background_color, self.content_radius)
            pixels = np.asarray(image, dtype=np.float32) / 127.5 - 1.0
            pixel_values.append(np.ascontiguousarray(pixels.transpose(2, 0, 1)))
        if return_tensors is not None:
            pixel_values = np.stack(pixel_values)
        return BatchFeature({"pixel_values": pixel_values}, tensor_type=return_tensors)

    def postprocess(self, pixel_values: torch.Tensor, output_type: str = "pil"):
        """Turn `(B, 3, H, W)` (or `(3, H, W)`) pixel values in [-1, 1] into images.

        Values outside [-1, 1] are clamped. `output_type` is `"pil"` (list of RGB `PIL.Image.Image`), `"np"` (uint8
        array `(B, H, W, 3)`) or `"pt"` (float tensor `(B, 3, H, W)` in [0, 1]).
        """
        if output_type not in _OUTPUT_TYPES:
            raise ValueError(f"`output_type` must be one of {list(_OUTPUT_TYPES)}, got {output_type!r}.")
        if not isinstance(pixel_values, torch.Tensor) or not pixel_values.is_floating_point():
            raise TypeError(
                "`pixel_values` must be a floating-point torch.Tensor in [-1, 1], got "
                f"{getattr(pixel_values, 'dtype', type(pixel_values).__name__)}."
            )
        if pixel_values.dim() == 3:
            pixel_values = pixel_values.unsqueeze(0)
        if pixel_values.dim() != 4 or pixel_values.shape[1] != 3:
            raise ValueError(
                f"`pixel_values` must have shape (batch_size, 3, height, width), got {tuple(pixel_values.shape)}."
            )
        pixel_values = pixel_values.detach().float().cpu().clamp(-1.0, 1.0)
        if output_type == "pt":
            return (pixel_values + 1.0) / 2.0
        # Meta's `pil_from_chw_tensor`: scaled to [0, 255] and truncated (not rounded), bit for bit.
        arrays = ((pixel_values + 1.0) / 2.0 * 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
        if output_type == "np":
            return arrays
        return [PIL.Image.fromarray(array, "RGB") for array in arrays]

    # -- codes and token ids ----------------------------------------------------------------------------------------
    def encode(self, images) -> torch.LongTensor:
        """Images (any input `preprocess` accepts) -> VQ codes `(B, image_seq_length)`, row-major (cells of
        `background_color`, when it is set, get the codes of a blank image), then the palette code if any."""
        vq_model = self._require_vq_model()
        pixel_values = self.preprocess(images, return_tensors="pt")["pixel_values"].to(vq_model.device)
        codes = vq_model.encode(pixel_values)
        if self.background_color is not None:
            background = torch.tensor(self.background_color, dtype=pixel_values.dtype, device=pixel_values.device)
            background = (background / 127.5 - 1.0).view(1, 3, 1, 1)
            blank_codes = vq_model.encode(background.expand(1, 3, self.size, self.size))
            grid = vq_model.config.grid_size
            cell = self.size // grid
            deviation = (pixel_values - background).abs().amax(dim=1)  # (B, size, size)
            blank = deviation.view(-1, grid, cell, grid, cell).amax(dim=(2, 4)).flatten(1) <= 2 / 127.5
            cells = grid * grid  # a palette code (after the grid) describes the whole image: kept
            codes[:, :cells] = torch.where(blank, blank_codes[:, :cells], codes[:, :cells])
        return codes

    def decode(self, codes: torch.LongTensor) -> torch.FloatTensor:
        """VQ codes `(B, image_seq_length)` (or `(B, grid_size, grid_size)` without a palette) -> pixel values
        `(B, 3, size, size)` in [-1, 1]; `postprocess` turns them into images."""
        return self._require_vq_model().decode(codes)

    def images_to_token_ids(self, images) -> torch.LongTensor:
        """Images -> image token ids `(B, image_seq_length)`: the VQ codes shifted by `image_token_offset`."""
        return self.encode(images) + self.image_token_offset

    def token_ids_to_images(self, token_ids, output_type: str = "pil"):
        """Image token ids `(B, image_seq_length)` (or one image's `(image_seq_length,)`) -> images, see `postprocess`.

        Every id must be an image token id (`image_token_ids`) and each row must hold exactly `image_seq_length`.
        """
        if output_type not in _OUTPUT_TYPES:
            raise ValueError(f"`output_type` must be one of {list(_OUTPUT_TYPES)}, got {output_type!r}.")
        return self.postprocess(self.token_ids_to_pixel_values(token_ids), output_type=output_type)

    def token_ids_to_pixel_values(self, token_ids) -> torch.FloatTensor:
        """Image token ids `(B, image_seq_length)` -> the VQ model's pixel values `(B, 3, size, size)`, in [-1, 1]
        (unclamped); `postprocess` turns them into images."""
        vq_model = self._require_vq_model()
        if isinstance(token_ids, np.ndarray):
            token_ids = torch.from_numpy(token_ids)
        elif isinstance(token_ids, (list, tuple)):
            try:
                token_ids = torch.tensor(token_ids)
            except (TypeError, ValueError) as error:
                raise ValueError(f"`token_ids` must be a rectangular list of int lists: {error}") from None
        elif not isinstance(token_ids, torch.Tensor):
            raise TypeError(
                "`token_ids` must be a torch.Tensor, a numpy array or a (nested) list of ints, got "
                f"{type(token_ids).__name__}."
            )
        if token_ids.is_floating_point() or token_ids.is_complex() or token_ids.dtype == torch.bool:
            raise TypeError(f"`token_ids` must hold integers, got dtype {token_ids.dtype}.")
        if token_ids.dim() == 1:
            token_ids = token_ids.unsqueeze(0)
        if token_ids.dim() != 2 or token_ids.shape[1] != self.image_seq_length:
            layout = f"{self.grid_size}x{self.grid_size}" + (
                " + a palette code" if self.image_seq_length > self.grid_size**2 else ""
            )
            raise ValueError(
                f"`token_ids` must have shape (batch_size, {self.image_seq_length}) (image_seq_length = {layout}), got "
                f"{tuple(token_ids.shape)}."
            )
        valid = self.image_token_ids
        outside = (token_ids < valid.start) | (token_ids >= valid.stop)
        if outside.any():
            row, col = (int(i) for i in outside.nonzero()[0])
            raise ValueError(
                f"`token_ids` must all be image token ids in [{valid.start}, {valid.stop}); "
                f"token_ids[{row}, {col}] = {int(token_ids[row, col])} ({int(outside.sum())} ids out of range)."
            )
        return vq_model.decode(token_ids.to(vq_model.device) - self.image_token_offset)

    def token_mask(self, mask_image, image_size: tuple[int, int] | None = None, image=None) -> np.ndarray:
        """The image tokens a pixel mask covers, as booleans `(grid_size, grid_size)`: diffusers' convention, white
        (or `True`, or > 0.5) marks the pixels to redraw.

        The mask is resized and center-cropped as the image is (so it must have the image's size, `image_size` as
        `(width, height)`, when given), and moved with the image under `content_radius`; a token is redrawn when any
        pixel of its `downsampling x downsampling` cell is masked (at least half covered after the resize), so no
        masked pixel is kept.

        Args:
            mask_image: A PIL image (any mode; converted to grayscale), a 2-D array or tensor of booleans, uint8
                (0-255) or floats in [0, 1].
            image_size (`tuple[int, int]`, *optional*): The `(width, height)` of the image the mask belongs to.
            image (*optional*): The image itself (any input `preprocess` accepts); required with `content_radius`,
                which moves the mask as it moves the image. Or its image token ids (as a pipeline's
                `output_type="tokens"` returns them): that picture is already in the model's frame, so the mask is in
                the pixels they decode to (`size` x `size`) and is not moved.
        """
        mask = mask_to_pil(mask_image)
        if image is not None and is_image_token_ids(image):
            if mask.size != (self.size, self.size):
                raise ValueError(
                    f"`mask_image` is {mask.width}x{mask.height} pixels, but an image given as token ids is the "
                    f"{self.size}x{self.size} picture they decode to; the mask must cover it pixel for pixel."
                )
            return self._masked_cells(mask)
        if image is not None:
            ((image, name),) = self._flatten_images(image)
            image = whiten_transparency(to_pil_image(image, name))
            image_size = image.size
        if image_size is not None and mask.size != tuple(image_size):
            raise ValueError(
                f"`mask_image` is {mask.width}x{mask.height} pixels but the image is {image_size[0]}x{image_size[1]}; "
                "the mask must cover the image pixel for pixel."
            )
        mask = self._resize_and_crop(mask, "mask_image")
        if self.content_radius is not None:
            if image is None:
                raise ValueError(
                    f"`token_mask` needs the `image` with content_radius={self.content_radius}: the image's content "
                    "decides how the mask is moved."
                )
            _, affine = normalize_content(self._resize_and_crop(image), self.background_color, self.content_radius)
            mask = transform_mask(mask, affine)
        return self._masked_cells(mask)

    def _masked_cells(self, mask: PIL.Image.Image) -> np.ndarray:
        """`(grid_size, grid_size)` booleans: the cells of a `size` x `size` mask holding any masked pixel."""
        pixels = np.asarray(mask) >= 128
        grid, cell = self.grid_size, self.size // self.grid_size
        return pixels.reshape(grid, cell, grid, cell).any(axis=(1, 3))

    # -- serialisation ----------------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        # The VQ weights are saved separately (`save_image_tokenizer`), never deep-copied into the JSON dict.
        output = {key: copy.deepcopy(value) for key, value in self.__dict__.items() if key != "_vq_model"}
        output["image_processor_type"] = type(self).__name__
        return output

    def __repr__(self) -> str:
        vq = self._vq_model
        attached = (
            f"{type(vq).__name__}(resolution={vq.config.resolution}, grid_size={vq.config.grid_size}, "
            f"num_embeddings={vq.config.num_embeddings})"
            if vq is not None
            else "None"
        )
        return f"{type(self).__name__}(vq_model={attached}) {self.to_json_string()}"

    def save_image_tokenizer(self, save_directory: str | os.PathLike, max_shard_size: int | str = "50GB") -> list[str]:
        """Save the attached VQ model to `save_directory/image_tokenizer/` (config + safetensors).

        Call this beside any save that writes this image processor's JSON without calling its `save_pretrained`
        (`ProcessorMixin.save_pretrained` does exactly that). Returns the folder written, or `[]` when no VQ model is
        attached.
        """
        folder = os.path.join(save_directory, IMAGE_TOKENIZER_SUBFOLDER)
        if self._vq_model is None:
            if os.path.isdir(folder):
                logger.warning(
                    f"No VQ model is attached, but {folder} already exists: it will be loaded with this image "
                    "processor. Delete it if it does not belong there."
                )
            return []
        self._vq_model.save_pretrained(folder, max_shard_size=max_shard_size)
        return [folder]

    def load_image_tokenizer(
        self, pretrained_model_name_or_path: str | os.PathLike, **kwargs
    ) -> CM3LeonVQModel | None:
        """Load the VQ model from `pretrained_model_name_or_path/[subfolder/]image_tokenizer/` (a local folder or a
        Hub repo), attach it and return it; return `None` (attaching nothing) when there is no such folder.

        Keyword arguments: `subfolder`, the download options of `from_pretrained` (`cache_dir`, `force_download`,
        `local_files_only`, `token`, `revision`, `proxies`), and `dtype` / `device_map` for the VQ model.
        """
        allowed = (*_HUB_KWARGS, "subfolder", "dtype", "device_map")
        unknown = sorted(set(kwargs) - set(allowed))
        if unknown:
            raise TypeError(f"`load_image_tokenizer` got unexpected arguments {unknown}; allowed: {list(allowed)}.")
        path = str(pretrained_model_name_or_path)
        if os.path.isfile(path):  # a path to the JSON file itself: look beside it
            path = os.path.dirname(path)
        subfolder = kwargs.pop("subfolder", "") or ""
        vq_subfolder = f"{subfolder}/{IMAGE_TOKENIZER_SUBFOLDER}" if subfolder else IMAGE_TOKENIZER_SUBFOLDER
        hub_kwargs = {key: kwargs[key] for key in _HUB_KWARGS if kwargs.get(key) is not None}
        config_file = cached_file(
            path,
            "config.json",
            subfolder=vq_subfolder,
            _raise_exceptions_for_missing_entries=False,
            **hub_kwargs,
        )
        if config_file is None:
            return None
        model_kwargs = {key: kwargs[key] for key in ("dtype", "device_map") if kwargs.get(key) is not None}
        vq_model = CM3LeonVQModel.from_pretrained(path, subfolder=vq_subfolder, **hub_kwargs, **model_kwargs)
        self.vq_model = vq_model.eval()
        return vq_model

    def save_pretrained(
        self,
        save_directory: str | os.PathLike,
        push_to_hub: bool = False,
        max_shard_size: int | str = "50GB",
        **kwargs,
    ) -> list[str]:
        """Write `preprocessor_config.json` and, when a VQ model is attached, `image_tokenizer/` into
        `save_directory`. With `push_to_hub=True`, also upload both (keyword arguments go to `push_to_hub`)."""
        unknown = sorted(set(kwargs) - set(_PUSH_TO_HUB_KWARGS))
        if unknown or (kwargs and not push_to_hub):
            raise TypeError(
                f"`save_pretrained` got unexpected arguments {unknown or sorted(kwargs)}; besides `push_to_hub` and "
                f"`max_shard_size` it only takes the `push_to_hub` options {list(_PUSH_TO_HUB_KWARGS)} when "
                "`push_to_hub=True`."
            )
        files = super().save_pretrained(save_directory)
        files += self.save_image_tokenizer(save_directory, max_shard_size=max_shard_size)
        if push_to_hub:
            repo_id = kwargs.pop("repo_id", os.path.basename(os.path.normpath(str(save_directory))))
            self.push_to_hub(repo_id, max_shard_size=max_shard_size, **kwargs)
        return files

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | os.PathLike,
        *args,
        vq_model: CM3LeonVQModel | None = None,
        dtype: torch.dtype | str | None = None,
        device_map=None,
        **kwargs,
    ):
        """Load the image processor's JSON and, when `image_tokenizer/` exists beside it, its VQ model.

        Accepts the usual `ImageProcessingMixin.from_pretrained` arguments; `dtype` and `device_map` go to the VQ
        model. Passing `vq_model=` attaches that model instead of loading one.
        """
        locate = {key: kwargs[key] for key in (*_HUB_KWARGS, "subfolder") if key in kwargs}
        check_has_image_tokenizer(pretrained_model_name_or_path)
        loaded = super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        image_processor = loaded[0] if isinstance(loaded, tuple) else loaded
        if vq_model is not None:
            image_processor.vq_model = vq_model
        else:
            image_processor.load_image_tokenizer(
                pretrained_model_name_or_path, dtype=dtype, device_map=device_map, **locate
            )
        return loaded


def is_image_token_ids(segment) -> bool:
    """Whether a segment is a pre-tokenised image: a 1-D sequence of integer token ids."""
    if isinstance(segment, torch.Tensor):
        return segment.ndim == 1 and not segment.is_floating_point()
    if isinstance(segment, np.ndarray):
        return segment.ndim == 1 and np.issubdtype(segment.dtype, np.integer)
    if isinstance(segment, (list, tuple)):
        return bool(segment) and all(isinstance(t, (int, np.integer)) and not isinstance(t, bool) for t in segment)
    return False


def check_has_image_tokenizer(folder: str | os.PathLike) -> None:
    """A clear error for a local model folder saved without an image processor (a text-only conversion)."""
    folder = Path(folder)
    if (
        folder.is_dir()
        and (folder / "config.json").is_file()
        and not any((folder / name).is_file() for name in ("processor_config.json", "preprocessor_config.json"))
    ):
        raise OSError(
            f"{str(folder)!r} holds a CM3Leon language model without an image tokenizer (a text-only conversion: no "
            "`image_tokenizer/` and no processor), so it cannot turn images into tokens or tokens into images. Use it "
            "for text (`AutoTokenizer` + `AutoModelForCausalLM`), or convert the checkpoint again with its VQGAN "
            "(`--vqgan-ckpt tokenizer/vqgan.ckpt`) for the image tasks."
        )


__all__ = ["CM3LeonImageProcessor", "IMAGE_TOKENIZER_SUBFOLDER", "check_has_image_tokenizer", "is_image_token_ids"]
