# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""`pipeline("image-editing")`: CM3Leon's text-guided image editing (InstructPix2Pix-style guidance).

transformers blocks the task name "image-to-image" (it points users to diffusers), hence "image-editing".
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from transformers.image_utils import is_valid_image, load_image

from ..generation.configuration import CM3LeonImageGenerationConfig
from ..image_processing_cm3leon import is_image_token_ids
from ..validation import check_text_list, describe
from .image_generation import CM3LeonImageGenerationPipeline
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
    >>> import transformers_cm3leon  # registers the task
    >>> from transformers import pipeline

    >>> pipe = pipeline("image-editing")  # the default model
    >>> edited = pipe("make the circle blue", image="red_circle.png").images[0]
    ```
    """

    task_name = "image-editing"
    editing = True

    def __call__(
        self,
        prompt: str | list[str],
        image,
        guidance_scale: float | None = None,
        image_guidance_scale: float | None = None,
        num_images_per_prompt: int | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
        temperature: float | None = None,
        top_k: int | None = None,
        top_p: float | None = None,
        parallel_decoding: str | None = None,
        output_type: str | None = None,
        return_dict: bool | None = None,
        callback_on_step_end: Callable | None = None,
        **kwargs,
    ) -> CM3LeonImagePipelineOutput | tuple:
        r"""
        Edit images following instructions: one batched sampling run, one output.

        Args:
            prompt (`str` or `list[str]`): The edit instruction(s), e.g. `"make the sky pink"` (not empty).
            image (`PIL.Image.Image`, path or URL, array, tensor, or a list of them): The image(s) to edit: one for
                all instructions, or one per instruction. Resized and center-cropped to the image tokenizer's
                resolution. Or their image token ids (a 1-D tensor, as `output_type="tokens"` returns them): a drawn
                picture is then edited from exactly its tokens, not re-encoded.
            guidance_scale (`float`, *optional*, defaults to 7.5): Weight of the instruction (the paper's text scale).
            image_guidance_scale (`float`, *optional*, defaults to 1.5): Weight of the input image (the paper's).
            num_images_per_prompt (`int`, *optional*, defaults to 1): Edited images per instruction.
            generator (`torch.Generator` or `list[torch.Generator]`, *optional*): As in the text-to-image pipeline.
            temperature, top_k, top_p (*optional*): Sampling settings (editing samples the guided logits; contrastive
                decoding needs two streams and is not available here).
            parallel_decoding (`str`, *optional*): `"jacobi"`: several image tokens per forward.
            output_type (`str`, *optional*, defaults to `"pil"`): `"pil"`, `"np"`, `"pt"` or `"tokens"`.
            return_dict (`bool`, *optional*, defaults to `True`): `False` returns the tuple `(images,)`.
            callback_on_step_end (`Callable`, *optional*): As in the text-to-image pipeline.
            kwargs: The other settings of [`CM3LeonImageGenerationConfig`] (`do_sample`, `draft_length`,
                `cache_implementation`, `compile`), `upscaler` and `progress_bar`, as in the text-to-image pipeline.

        Returns:
            [`CM3LeonImagePipelineOutput`] with `len(prompts) * num_images_per_prompt` images, instruction-major.
        """
        prompts = check_text_list("prompt", prompt, allow_empty=False)
        images = as_image_list(image, len(prompts), "image")
        settings = {
            "guidance_scale": guidance_scale,
            "image_guidance_scale": image_guidance_scale,
            "temperature": temperature,
            "top_k": top_k,
            "top_p": top_p,
            "parallel_decoding": parallel_decoding,
            **{name: kwargs.pop(name) for name in CM3LeonImageGenerationConfig.field_names() if name in kwargs},
        }
        arguments = {
            "num_images_per_prompt": num_images_per_prompt,
            "generator": generator,
            "output_type": output_type,
            "return_dict": return_dict,
            "callback_on_step_end": callback_on_step_end,
            **kwargs,
        }
        return self._run({"prompts": prompts, "images": images}, settings, arguments)

    def preprocess(self, inputs: dict) -> dict:
        processor = self.processor
        full, image_only = [], []
        for image, text in zip(inputs["images"], inputs["prompts"]):
            streams = processor.editing_prompts(image, text)
            full.append(streams[0])
            image_only.append(streams[1])
        full = processor.pad(full, padding_side="left", return_tensors="pt")
        image_only = processor.pad(image_only, padding_side="left", return_tensors="pt")
        # The unconditional stream is the model's own (`unconditional_input_ids`), as the processor writes it.
        return {
            "input_ids": full["input_ids"],
            "attention_mask": full["attention_mask"],
            "image_input_ids": image_only["input_ids"],
            "image_attention_mask": image_only["attention_mask"],
            "prompts": inputs["prompts"],
        }


def as_image_list(image, num_prompts: int, name: str) -> list:
    """One image per prompt (a single image, or one image's token ids, is used for every prompt); paths and URLs are
    loaded."""
    if isinstance(image, str) or is_valid_image(image) or is_image_token_ids(image):
        image = [image] * num_prompts
    if not isinstance(image, (list, tuple)) or not image:
        raise TypeError(
            f"`{name}` must be an image (PIL.Image, a path or URL, numpy array or torch tensor) or a non-empty list of "
            f"them, got {describe(image)}."
        )
    if len(image) != num_prompts:
        raise ValueError(
            f"`{name}` holds {len(image)} images for {num_prompts} prompts; pass one image for all prompts or one per "
            "prompt."
        )
    loaded = []
    for index, item in enumerate(image):
        if isinstance(item, str):
            try:
                item = load_image(item)
            except Exception as error:  # noqa: BLE001 -- any failure to open the file is reported the same way
                raise ValueError(f"`{name}[{index}]`={item!r} could not be loaded as an image: {error}") from error
        elif not is_valid_image(item) and not is_image_token_ids(item):
            raise TypeError(
                f"`{name}[{index}]` must be an image (PIL.Image, a path or URL, numpy array or torch tensor) or its "
                f"image token ids (a 1-D sequence of ints), got {describe(item)}."
            )
        loaded.append(item)
    return loaded


__all__ = ["CM3LeonImageEditingPipeline", "as_image_list"]
