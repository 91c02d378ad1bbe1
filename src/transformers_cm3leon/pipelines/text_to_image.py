# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""`pipeline("text-to-image")`: CM3Leon's text-to-image generation with a diffusers-style call."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..generation_cm3leon import DEFAULT_GUIDANCE_SCALE
from .image_generation import CM3LeonImageGenerationPipeline, _as_text_list, _describe
from .pipeline_output import CM3LeonImagePipelineOutput


class CM3LeonTextToImagePipeline(CM3LeonImageGenerationPipeline):
    r"""
    Text-to-image generation with CM3Leon: the prompt `</s> prompt <racm3:break>` (retrieved documents first, when a
    retriever is given), then `image_seq_length` image tokens sampled with classifier-free guidance against the
    unconditional prompt `</s> <sentinel:0> <racm3:break>` (or a negative prompt), then VQ decoding.

    Load it with `pipeline("text-to-image", model=...)` after `import transformers_cm3leon`. Arguments of `__call__`
    can also be given to `pipeline(...)`, as defaults for every call.

    Example:

    ```python
    >>> import torch
    >>> import transformers_cm3leon
    >>> from transformers import pipeline

    >>> pipe = pipeline("text-to-image", model="path/to/cm3leon")
    >>> images = pipe("a red circle", guidance_scale=3.0, top_p=0.9, generator=torch.Generator().manual_seed(0)).images
    ```
    """

    defaults_key = "text-to-image"

    _preprocess_arguments = ("negative_prompt", "retriever", "num_retrieved_docs")
    _generate_arguments = CM3LeonImageGenerationPipeline._generate_arguments + (
        "decoding_strategy",
        "cd_top_k",
        "cd_alpha",
    )
    _forward_arguments = CM3LeonImageGenerationPipeline._forward_arguments + ("rerank", "clip_model", "clip_processor")

    def __call__(
        self,
        prompt: str | list[str],
        height: int | None = None,
        width: int | None = None,
        guidance_scale: float | None = None,
        negative_prompt: str | list[str] | None = None,
        num_images_per_prompt: int | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
        output_type: str | None = None,
        return_dict: bool | None = None,
        callback_on_step_end: Callable | None = None,
        **kwargs,
    ) -> CM3LeonImagePipelineOutput | tuple:
        r"""
        Generate images from text prompts: one batched sampling run for all prompts, one output.

        Args:
            prompt (`str` or `list[str]`): The prompt or prompts.
            height (`int`, *optional*), width (`int`, *optional*):
                The image size. The image tokenizer fixes it (256 for CM3Leon, 512 for Chameleon's tokenizer): any
                other value is an error. Use `upscaler` for larger images.
            guidance_scale (`float`, *optional*, defaults to 3.0):
                Classifier-free guidance weight `s` in `logits = u + s * (c - u)`; 1 turns guidance off.
            negative_prompt (`str` or `list[str]`, *optional*):
                Text of the unconditional stream, `</s> negative_prompt <racm3:break>`, instead of CM3Leon's mask
                prompt `</s> <sentinel:0> <racm3:break>`. One for all prompts or one per prompt.
            num_images_per_prompt (`int`, *optional*, defaults to 1): Images per prompt.
            generator (`torch.Generator` or `list[torch.Generator]`, *optional*):
                Makes sampling reproducible: one generator, one per prompt (a prompt then gets the same images alone
                or batched), or one per image.
            output_type (`str`, *optional*, defaults to `"pil"`):
                `"pil"` (list of `PIL.Image.Image`), `"np"` (float32 `(N, H, W, 3)` in [0, 1]), `"pt"` (float32
                `(N, 3, H, W)` in [0, 1]) or `"tokens"` (the image token ids, `(N, image_seq_length)`).
            return_dict (`bool`, *optional*, defaults to `True`):
                Return a [`CM3LeonImagePipelineOutput`]; `False` returns the tuple `(images,)`.
            callback_on_step_end (`Callable`, *optional*):
                Called after each image token as `callback_on_step_end(pipeline, step, timestep, callback_kwargs)`
                (diffusers' signature): `timestep` is `None`, `callback_kwargs` holds `image_token_ids` `(N, step +
                1)` and `scores` `(N, image_vocab_size)`. Set `pipeline._interrupt = True` to stop; the images are
                then incomplete and only `output_type="tokens"` returns something (the partial tokens).
            decoding_strategy (`str`, *optional*, defaults to `"sample"`):
                `"sample"` (temperature / top-k / top-p on the guided logits), `"cd-k"` (contrastive decoding
                top-K) or `"mixture"` (half of each prompt's images by each, the paper's best setting with
                `rerank`).
            do_sample, temperature, top_k, top_p, cd_top_k, cd_alpha: The decoding parameters of
                `model.generate_images`.
            rerank (`int`, *optional*, defaults to 1):
                Best-of-N ("self-rerank"): draw `rerank` candidates per output image and keep the one with the best
                CLIP score against the prompt (the paper's FID uses 8). Needs `clip_model`.
            clip_model (`CLIPModel` or `str`, *optional*):
                The scoring model for `rerank`, or its id, loaded at first use (with its processor), e.g.
                `"openai/clip-vit-large-patch14"`.
            clip_processor (*optional*): The processor of `clip_model`; required when `clip_model` is a model.
            retriever (*optional*):
                A `CM3LeonRetriever` (or any object with `retrieve(texts=..., k=...)`): the documents it returns for a
                prompt are laid out before it, `</s> [text <break> image <break>] x k prompt <break>`.
            num_retrieved_docs (`int`, *optional*): Documents per prompt (the retriever's default, 2, when unset).
            upscaler (`Swin2SRForImageSuperResolution` or `str`, *optional*):
                Super-resolution after VQ decoding, or its id (loaded at first use); multiplies the size by the
                upscaler's factor.
            progress_bar (`bool`, *optional*, defaults to `True`): A tqdm bar over the image tokens (see also
                `set_progress_bar_config`).
            cache_implementation (`str`, *optional*), compile (`bool`, *optional*): Speed options of
                `model.generate_images`.

        Returns:
            [`CM3LeonImagePipelineOutput`] whose `images` hold `len(prompts) * num_images_per_prompt` images,
            prompt-major (diffusers' order), or the tuple `(images,)` when `return_dict=False`.
        """
        prompts = _as_text_list(prompt, "prompt")
        arguments = {
            "height": height,
            "width": width,
            "guidance_scale": guidance_scale,
            "negative_prompt": negative_prompt,
            "num_images_per_prompt": num_images_per_prompt,
            "generator": generator,
            "output_type": output_type,
            "return_dict": return_dict,
            "callback_on_step_end": callback_on_step_end,
        }
        return self._call({"prompts": prompts}, arguments, kwargs)

    # -- arguments --------------------------------------------------------------------------------------------------
    def _sanitize_parameters(self, height=None, width=None, **kwargs):
        # The size is fixed by the image tokenizer: it is checked, then has nothing left to do.
        for name, value in (("height", height), ("width", width)):
            if value is not None:
                self._check_size(name, value)
        return super()._sanitize_parameters(**kwargs)

    def _check_size(self, name: str, value) -> None:
        image_processor = self.processor.image_processor
        size, grid = image_processor.size, image_processor.grid_size
        if not isinstance(value, int) or isinstance(value, bool) or value != size:
            raise ValueError(
                f"`{name}`={value!r} is not supported: this model's image tokenizer draws {size}x{size} images "
                f"({grid}x{grid} image tokens), so `{name}` must be {size} or unset. For larger images, pass "
                "`upscaler=` (a Swin2SR super-resolution model)."
            )

    def _check_argument(self, name: str, value) -> None:
        super()._check_argument(name, value)
        if name == "negative_prompt":
            _as_text_list(value, "negative_prompt")
        if name == "retriever" and not callable(getattr(value, "retrieve", None)):
            raise TypeError(
                f"`retriever` must have a `retrieve(texts=..., k=...)` method (a CM3LeonRetriever), got "
                f"{_describe(value)}."
            )
        if name == "clip_model" and not isinstance(value, str):
            if not callable(getattr(value, "get_text_features", None)) or not callable(
                getattr(value, "get_image_features", None)
            ):
                raise TypeError(
                    "`clip_model` must be a CLIP-like model (with `get_text_features` and `get_image_features`) or "
                    f"the id of one, got {_describe(value)}."
                )

    def check_inputs(self, inputs: dict, params: dict) -> None:
        super().check_inputs(inputs, params)
        num_prompts = len(inputs["prompts"])
        negative_prompt = params.get("negative_prompt")
        if isinstance(negative_prompt, (list, tuple)) and len(negative_prompt) != num_prompts:
            raise ValueError(
                f"`negative_prompt` has {len(negative_prompt)} entries for {num_prompts} prompts; pass one string "
                "for all prompts or one per prompt."
            )
        guided = (
            params.get("guidance_scale", DEFAULT_GUIDANCE_SCALE) != 1
            or params.get("decoding_strategy", "sample") != "sample"
        )
        if negative_prompt is not None and not guided:
            raise ValueError(
                "`negative_prompt` feeds the unconditional stream of classifier-free guidance, which "
                "guidance_scale=1 (with decoding_strategy='sample') turns off; raise `guidance_scale` or drop it."
            )
        if params.get("num_retrieved_docs") is not None and params.get("retriever") is None:
            raise ValueError("`num_retrieved_docs` needs a `retriever`.")
        rerank = params.get("rerank", 1)
        clip_model, clip_processor = params.get("clip_model"), params.get("clip_processor")
        if rerank > 1 and clip_model is None:
            raise ValueError(
                f"`rerank`={rerank} scores candidates with CLIP: pass `clip_model=` (a CLIPModel with "
                "`clip_processor=`, or an id such as 'openai/clip-vit-large-patch14', loaded on demand)."
            )
        if rerank == 1 and (clip_model is not None or clip_processor is not None):
            raise ValueError("`clip_model` / `clip_processor` score candidates for `rerank`; pass `rerank` > 1.")
        if clip_model is not None and not isinstance(clip_model, str) and clip_processor is None:
            raise ValueError("`clip_processor` is required with a `clip_model` instance (its tokenizer and images).")

    # -- stages -----------------------------------------------------------------------------------------------------
    def preprocess(self, inputs: dict, negative_prompt=None, retriever=None, num_retrieved_docs=None) -> dict:
        prompts = inputs["prompts"]
        processor = self.processor
        retrieved = [None] * len(prompts)
        if retriever is not None:
            retrieved = retriever.retrieve(texts=prompts, k=num_retrieved_docs)
        prompt_ids = [
            processor.text_to_image_prompt(prompt, retrieved_documents=documents)
            for prompt, documents in zip(prompts, retrieved)
        ]
        batch = processor.pad(prompt_ids, padding_side="left", return_tensors="pt")
        model_inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"], "prompts": prompts}
        if negative_prompt is not None:
            negatives = [negative_prompt] * len(prompts) if isinstance(negative_prompt, str) else negative_prompt
            negative = processor.pad(
                [processor.text_to_image_prompt(text) for text in negatives], padding_side="left", return_tensors="pt"
            )
            model_inputs["negative_input_ids"] = negative["input_ids"]
            model_inputs["negative_attention_mask"] = negative["attention_mask"]
        return model_inputs


__all__ = ["CM3LeonTextToImagePipeline"]
