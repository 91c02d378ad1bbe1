# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""`pipeline("image-inpainting")`: CM3's image infilling with diffusers' inpainting arguments.

The mask is mapped to the image tokens it covers (`CM3LeonImageProcessor.token_mask`: a token is redrawn when any
pixel of its cell is masked); each run of masked tokens in raster order becomes a `<sentinel:i>` span that the model
writes after the document, exactly as many image tokens as the run holds; the runs are merged back into the image.
Tokens outside the mask never change. With a prompt, guidance contrasts the document with and without it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..generation.configuration import CM3LeonImageGenerationConfig
from ..image_processing_cm3leon import is_image_token_ids
from ..image_transforms import to_pil_image
from ..validation import check_text_list
from .image_editing import as_image_list
from .image_generation import CM3LeonImageGenerationPipeline
from .pipeline_output import CM3LeonImagePipelineOutput


class CM3LeonImageInpaintingPipeline(CM3LeonImageGenerationPipeline):
    r"""
    Image infilling with CM3Leon: redraw the masked part of an image, optionally following a prompt.

    Example:

    ```python
    >>> import transformers_cm3leon  # registers the task
    >>> from transformers import pipeline

    >>> pipe = pipeline("image-inpainting")  # the default model
    >>> image = pipeline("text-to-image")("a handwritten digit seven").images[0]
    >>> mask = image.point(lambda _: 0)  # black: keep ...
    >>> mask.paste(255, (0, 24, 64, 48))  # ... white: redraw a band of rows
    >>> repaired = pipe("a handwritten digit seven", image=image, mask_image=mask).images[0]
    ```
    """

    task_name = "image-inpainting"
    _forward_arguments = CM3LeonImageGenerationPipeline._forward_arguments + ("rerank",)

    def __call__(
        self,
        prompt: str | list[str] | None = None,
        image=None,
        mask_image=None,
        guidance_scale: float | None = None,
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
        Redraw the masked tokens of images: one output with `len(images) * num_images_per_prompt` images.

        Args:
            prompt (`str` or `list[str]`, *optional*): What the image shows (one for all images or one per image).
                Without it, the masked part is redrawn from the rest of the image alone (no guidance).
            image (`PIL.Image.Image`, path, array, tensor, or a list of them): The image(s) to repair, or their image
                token ids (a 1-D tensor, as `output_type="tokens"` returns them): a drawn picture is then repaired
                from exactly its tokens, not re-encoded.
            mask_image (same types, or a list): White (or `True`, or > 0.5) where to redraw, black where to keep;
                the size of its image (of the picture token ids decode to). One for all images or one per image.
            guidance_scale (`float`, *optional*, defaults to 3.0): Weight of the prompt.
            num_images_per_prompt (`int`, *optional*, defaults to 1): Repairs per image.
            generator, temperature, top_k, top_p, parallel_decoding, output_type, return_dict,
            callback_on_step_end: As in the text-to-image pipeline.
            kwargs: The other settings of [`CM3LeonImageGenerationConfig`], `upscaler`, `progress_bar` and
                `rerank` (`int`): best-of-N: draw `rerank` repairs per output image and keep the one whose whole
                picture the model finds most likely after the prompt in the text-to-image layout
                ([`~CM3LeonForCausalLM.image_log_likelihood`] after `processor.text_to_image_prompt(prompt)`, or after
                `processor.unconditional_prompt()` without a prompt). The sampler sees the rows below a masked band
                only through the sentinel layout; this score reads them after the band, so a band that does not fit
                them scores low. A model may declare its own default (the default model: 16).

        Returns:
            [`CM3LeonImagePipelineOutput`] with the repaired images, image-major.
        """
        if image is None:
            raise ValueError("`image` is required: the image whose masked part is redrawn.")
        if mask_image is None:
            raise ValueError("`mask_image` is required: white where to redraw, black where to keep.")
        num_images = len(image) if isinstance(image, (list, tuple)) and not is_image_token_ids(image) else 1
        images = as_image_list(image, num_images, "image")
        # Pixels are checked (NaN, range, shape) before the masks are read against them; token ids are used as they
        # are, so a picture the model drew is repaired without being normalised and re-encoded.
        images = [
            self._check_image(item, "image" if num_images == 1 else f"image[{index}]")
            for index, item in enumerate(images)
        ]
        masks = as_image_list(mask_image, num_images, "mask_image")
        prompts = [None] * num_images if prompt is None else check_text_list("prompt", prompt, allow_empty=False)
        if len(prompts) == 1 and num_images > 1:
            prompts = prompts * num_images
        if len(prompts) != num_images:
            raise ValueError(
                f"`prompt` has {len(prompts)} entries for {num_images} images; pass one or one per image."
            )
        settings = {
            "guidance_scale": guidance_scale,
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
        token_masks = [
            self.processor.image_processor.token_mask(mask, image=image) for mask, image in zip(masks, images)
        ]
        for index, mask in enumerate(token_masks):
            name = "mask_image" if num_images == 1 else f"mask_image[{index}]"
            self.processor.masked_runs(mask, name)  # empty, full or too fragmented masks: clear errors now
        inputs = {"prompts": prompts, "images": images, "token_masks": token_masks}
        return self._run(inputs, settings, arguments)

    def _check_image(self, image, name: str):
        if is_image_token_ids(image):
            return self.processor._check_image_token_ids(image, name)
        return to_pil_image(image, name)

    def check_inputs(self, inputs: dict, generation_config, params: dict) -> None:
        super().check_inputs(inputs, generation_config, params)
        if generation_config.decoding_strategy != "sample" and None in inputs["prompts"]:
            raise ValueError(
                f"`decoding_strategy`={generation_config.decoding_strategy!r} contrasts the prompt with its absence; "
                "pass a `prompt` for every image, or use 'sample'."
            )

    def preprocess(self, inputs: dict) -> dict:
        return inputs

    def _forward(
        self,
        inputs: dict,
        generation_config,
        num_images_per_prompt: int = 1,
        callback_on_step_end=None,
        upscaler=None,
        decode_images: bool = True,
        rerank: int = 1,
        **generate_kwargs,
    ) -> dict:
        processor = self.processor
        filled = []
        for prompt, image, token_mask in zip(inputs["prompts"], inputs["images"], inputs["token_masks"]):
            conditional, runs = processor.inpainting_prompt(image, token_mask, prompt)
            config = generation_config
            negative = None
            if prompt is None:
                config = generation_config.update(guidance_scale=1.0)  # nothing to guide toward
            else:
                negative = torch.tensor([processor.inpainting_prompt(image, token_mask)[0]])
            output = self.model.generate_infilling(
                torch.tensor([conditional]),
                run_lengths=[stop - start for start, stop in runs],
                negative_input_ids=negative,
                num_images_per_prompt=num_images_per_prompt * rerank,
                callback_on_step_end=self._step_callback(callback_on_step_end),
                generation_config=config,
                **generate_kwargs,
            )
            if not output.is_complete:
                return {"image_token_ids": output.image_token_ids, "pixel_values": None, "is_complete": False}
            filled += [processor.fill_masked_runs(image, runs, row) for row in output.image_token_ids]
        token_ids = torch.tensor(filled, device=self.model.device)
        scoring_prompts = None
        if rerank > 1:
            scoring_prompts = processor.pad(
                [
                    processor.unconditional_prompt() if prompt is None else processor.text_to_image_prompt(prompt)
                    for prompt in inputs["prompts"]
                ],
                padding_side="left",
                return_tensors="pt",
            )
            scoring_prompts = (scoring_prompts["input_ids"], scoring_prompts["attention_mask"])
        return self._images_from_tokens(
            token_ids,
            True,
            inputs["prompts"],
            num_images_per_prompt,
            rerank,
            None,
            None,
            upscaler,
            decode_images,
            scoring_prompts=scoring_prompts,
        )


__all__ = ["CM3LeonImageInpaintingPipeline"]
