# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""`pipeline("image-editing")`: CM3Leon's text-guided image editing (InstructPix2Pix-style guidance).

transformers blocks the task name "image-to-image" (it points users to diffusers), hence "image-editing".
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from transformers.image_utils import is_valid_image

from .image_generation import CM3LeonImageGenerationPipeline, _as_text_list, _describe
from .pipeline_output import CM3LeonImagePipelineOutput


class CM3LeonImageEditingPipeline(CM3LeonImageGenerationPipeline):
    r"""
    Text-guided image editing with an instruction-tuned CM3Leon (the paper's §4, SFT template
    `Edit first image following the instruction <break> {image} <break> {instruction} <break> {edited image}`).

    Three prompts are decoded together in one batch (see `CM3LeonProcessor.editing_prompts`): the full prompt, the
    image-only prompt (without the instruction) and the unconditional one, mixed as

        logits = u + image_guidance_scale * (i - u) + guidance_scale * (f - i)

    Load it with `pipeline("image-editing", model=...)` after `import transformers_cm3leon`.

    Example:

    ```python
    >>> import transformers_cm3leon
    >>> from PIL import Image
    >>> from transformers import pipeline

    >>> pipe = pipeline("image-editing", model="path/to/cm3leon-sft")
    >>> edited = pipe("make the circle blue", image=Image.open("circle.png")).images[0]
    ```
    """

    defaults_key = "image-editing"

    _generate_arguments = CM3LeonImageGenerationPipeline._generate_arguments + ("image_guidance_scale",)

    def __call__(
        self,
        prompt: str | list[str],
        image,
        guidance_scale: float | None = None,
        image_guidance_scale: float | None = None,
        num_images_per_prompt: int | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
        output_type: str | None = None,
        return_dict: bool | None = None,
        callback_on_step_end: Callable | None = None,
        **kwargs,
    ) -> CM3LeonImagePipelineOutput | tuple:
        r"""
        Edit images following instructions: one batched sampling run, one output.

        Args:
            prompt (`str` or `list[str]`): The edit instruction(s), e.g. `"make the sky pink"`.
            image (`PIL.Image.Image`, array, tensor, or a list of them): The image(s) to edit: one for all
                instructions, or one per instruction. Resized and center-cropped to the image tokenizer's resolution.
            guidance_scale (`float`, *optional*, defaults to 7.5): Weight of the instruction (the paper's text scale).
            image_guidance_scale (`float`, *optional*, defaults to 1.5): Weight of the input image (the paper's).
            num_images_per_prompt (`int`, *optional*, defaults to 1): Edited images per instruction.
            generator (`torch.Generator` or `list[torch.Generator]`, *optional*): As in the text-to-image pipeline.
            output_type (`str`, *optional*, defaults to `"pil"`): `"pil"`, `"np"`, `"pt"` or `"tokens"`.
            return_dict (`bool`, *optional*, defaults to `True`): `False` returns the tuple `(images,)`.
            callback_on_step_end (`Callable`, *optional*): As in the text-to-image pipeline.
            do_sample, temperature, top_k, top_p: Sampling parameters of `model.generate_images` (editing samples
                the guided logits; contrastive decoding needs two streams and is not available here).
            upscaler (`Swin2SRForImageSuperResolution` or `str`, *optional*): Super-resolution after VQ decoding.
            progress_bar, cache_implementation, compile: As in the text-to-image pipeline.

        Returns:
            [`CM3LeonImagePipelineOutput`] with `len(prompts) * num_images_per_prompt` images, instruction-major.
        """
        prompts = _as_text_list(prompt, "prompt")
        images = _as_image_list(image, len(prompts))
        arguments = {
            "guidance_scale": guidance_scale,
            "image_guidance_scale": image_guidance_scale,
            "num_images_per_prompt": num_images_per_prompt,
            "generator": generator,
            "output_type": output_type,
            "return_dict": return_dict,
            "callback_on_step_end": callback_on_step_end,
        }
        return self._call({"prompts": prompts, "images": images}, arguments, kwargs)

    def preprocess(self, inputs: dict) -> dict:
        processor = self.processor
        streams = zip(
            *(processor.editing_prompts(image, text) for image, text in zip(inputs["images"], inputs["prompts"]))
        )
        full, image_only, unconditional = (
            processor.pad(list(prompts), padding_side="left", return_tensors="pt") for prompts in streams
        )
        return {
            "input_ids": full["input_ids"],
            "attention_mask": full["attention_mask"],
            "image_input_ids": image_only["input_ids"],
            "image_attention_mask": image_only["attention_mask"],
            "negative_input_ids": unconditional["input_ids"],
            "negative_attention_mask": unconditional["attention_mask"],
            "prompts": inputs["prompts"],
        }


def _as_image_list(image, num_prompts: int) -> list:
    """One image per prompt: a single image is used for every prompt."""
    if is_valid_image(image):
        return [image] * num_prompts
    if isinstance(image, (list, tuple)) and image and all(is_valid_image(item) for item in image):
        if len(image) != num_prompts:
            raise ValueError(
                f"`image` holds {len(image)} images for {num_prompts} prompts; pass one image for all prompts or one "
                "per prompt."
            )
        return list(image)
    raise TypeError(
        f"`image` must be an image (PIL.Image, numpy array or torch tensor) or a non-empty list of them, got "
        f"{_describe(image)}."
    )


__all__ = ["CM3LeonImageEditingPipeline"]
