# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The output of the CM3Leon image pipelines, shaped like diffusers' `ImagePipelineOutput`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import PIL.Image
import torch
from transformers.utils import ModelOutput


@dataclass
class CM3LeonImagePipelineOutput(ModelOutput):
    """
    Images drawn by [`CM3LeonTextToImagePipeline`] or [`CM3LeonImageEditingPipeline`] in one call, for all prompts:
    prompt-major, then `num_images_per_prompt` images per prompt (diffusers' order). Readable as `output.images`,
    `output["images"]` or `output[0]`.

    Args:
        images (`list[PIL.Image.Image]`, `np.ndarray` or `torch.Tensor`):
            Depending on `output_type`: `"pil"`, a list of RGB images; `"np"`, a float32 array
            `(num_images, height, width, 3)` in [0, 1]; `"pt"`, a float32 tensor `(num_images, 3, height, width)` in
            [0, 1]; `"tokens"`, the image token ids, a `torch.LongTensor` `(num_images, image_seq_length)`.
    """

    images: list[PIL.Image.Image] | np.ndarray | torch.Tensor | None = None


__all__ = ["CM3LeonImagePipelineOutput"]
