# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""`pipeline("text-to-image")`: CM3Leon's text-to-image generation with a diffusers-style call."""

from __future__ import annotations

from collections.abc import Callable

import torch
from transformers.utils import logging

from ..generation.configuration import CM3LeonImageGenerationConfig
from ..prompting import document_segments
from ..validation import check_text_list, describe
from .image_generation import CM3LeonImageGenerationPipeline
from .pipeline_output import CM3LeonImagePipelineOutput

logger = logging.get_logger(__name__)


class CM3LeonTextToImagePipeline(CM3LeonImageGenerationPipeline):
    r"""
    Text-to-image generation with CM3Leon: the prompt `</s> prompt <racm3:break>` (retrieved documents first, when a
    retriever is given), then `image_seq_length` image tokens sampled with classifier-free guidance against the
    unconditional prompt `</s> <sentinel:0> <racm3:break>` (or a negative prompt), then VQ decoding.

    Load it with `pipeline("text-to-image", model=...)` after `import transformers_cm3leon`; without `model=`, it loads
    the default model shipped in the package. Arguments of `__call__` can also be given to `pipeline(...)`, as
    defaults for every call.

    Example:

    ```python
    >>> import torch
    >>> import transformers_cm3leon  # registers the task
    >>> from transformers import pipeline

    >>> pipe = pipeline("text-to-image")
    >>> images = pipe("a handwritten digit seven", generator=torch.Generator().manual_seed(0)).images
    ```
    """

    task_name = "text-to-image"

    _preprocess_arguments = ("negative_prompt", "retriever", "num_retrieved_docs")
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
        decoding_strategy: str | None = None,
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
        Generate images from text prompts: one batched sampling run for all prompts, one output.

        Args:
            prompt (`str` or `list[str]`): The prompt or prompts (not empty).
            height (`int`, *optional*), width (`int`, *optional*):
                The image size. The image tokenizer fixes it (64 for the default model, 256 for CM3Leon, 512 for
                Chameleon's tokenizer): any other value is an error. Use `upscaler` for larger images.
            guidance_scale (`float`, *optional*, defaults to 3.0):
                Classifier-free guidance weight `s` in `logits = u + s * (c - u)`; 1 turns guidance off.
            negative_prompt (`str` or `list[str]`, *optional*):
                Text of the unconditional stream, `</s> negative_prompt <racm3:break>`, instead of CM3Leon's mask
                prompt `</s> <sentinel:0> <racm3:break>`. One for all prompts or one per prompt.
            num_images_per_prompt (`int`, *optional*, defaults to 1): Images per prompt.
            generator (`torch.Generator` or `list[torch.Generator]`, *optional*):
                Makes sampling reproducible: one generator, one per prompt (a prompt then gets the same images alone
                or batched), or one per image.
            decoding_strategy (`str`, *optional*, defaults to `"sample"`):
                `"sample"` (temperature / top-k / top-p on the guided logits), `"cd-k"` (contrastive decoding
                top-K) or `"mixture"` (half of each prompt's images by each, the paper's best setting with
                `rerank`).
            temperature (`float`, *optional*, defaults to 1.0), top_k (`int`, *optional*), top_p (`float`,
                *optional*): The sampling settings.
            parallel_decoding (`str`, *optional*): `"jacobi"`: several image tokens per forward (speculative Jacobi
                decoding; the same distribution as one token per forward). With a `retriever`, each prompt's first
                retrieved picture is its drafts (`draft_image_token_ids` of `generate_images`).
            output_type (`str`, *optional*, defaults to `"pil"`):
                `"pil"` (list of `PIL.Image.Image`), `"np"` (float32 `(N, H, W, 3)` in [0, 1]), `"pt"` (float32
                `(N, 3, H, W)` in [0, 1]) or `"tokens"` (the image token ids, `(N, image_seq_length)`).
            return_dict (`bool`, *optional*, defaults to `True`):
                Return a [`CM3LeonImagePipelineOutput`]; `False` returns the tuple `(images,)`.
            callback_on_step_end (`Callable`, *optional*):
                Called after each image token as `callback_on_step_end(pipeline, step, timestep, callback_kwargs)`
                (diffusers' signature): `timestep` is `None`, `callback_kwargs` holds `image_token_ids` `(N, step +
                1)` and `scores` `(N, image_vocab_size)`. Return `True` (or set `pipeline._interrupt = True`) to stop
                this call; the images are then incomplete and only `output_type="tokens"` returns something (the
                partial tokens).
            kwargs: The other settings of [`CM3LeonImageGenerationConfig`] (`do_sample`, `cd_top_k`, `cd_alpha`,
                `draft_length`, `cache_implementation`, `compile`) and:

                - `rerank` (`int`): best-of-N ("self-rerank"): draw `rerank` candidates per output image and keep the
                  one with the best CLIP score against the prompt when `clip_model` is given (a `CLIPModel` with
                  `clip_processor`, or an id loaded at first use; the paper's FID uses 8), otherwise the one the model
                  itself finds most likely after its prompt ([`~CM3LeonForCausalLM.image_log_likelihood`]).
                - `retriever`: a `CM3LeonRetriever` (or any object with `retrieve(texts=..., k=...)`): the documents it
                  returns for a prompt are laid out before it; `num_retrieved_docs` of them (the retriever's default).
                - `upscaler` (`Swin2SRForImageSuperResolution` or `str`): super-resolution after VQ decoding.
                - `progress_bar` (`bool`): a tqdm bar over the image tokens.

        Returns:
            [`CM3LeonImagePipelineOutput`] whose `images` hold `len(prompts) * num_images_per_prompt` images,
            prompt-major (diffusers' order), or the tuple `(images,)` when `return_dict=False`.
        """
        prompts = check_text_list("prompt", prompt, allow_empty=False)
        for name, value in (("height", height), ("width", width)):
            if value is not None:
                self._check_size(name, value)
        settings = {
            "guidance_scale": guidance_scale,
            "decoding_strategy": decoding_strategy,
            "temperature": temperature,
            "top_k": top_k,
            "top_p": top_p,
            "parallel_decoding": parallel_decoding,
            **{name: kwargs.pop(name) for name in CM3LeonImageGenerationConfig.field_names() if name in kwargs},
        }
        arguments = {
            "negative_prompt": negative_prompt,
            "num_images_per_prompt": num_images_per_prompt,
            "generator": generator,
            "output_type": output_type,
            "return_dict": return_dict,
            "callback_on_step_end": callback_on_step_end,
            **kwargs,
        }
        self._warn_out_of_domain(prompts)
        return self._run({"prompts": prompts}, settings, arguments)

    def _check_size(self, name: str, value) -> None:
        image_processor = self.processor.image_processor
        size, grid = image_processor.size, image_processor.grid_size
        if not isinstance(value, int) or isinstance(value, bool) or value != size:
            raise ValueError(
                f"`{name}`={value!r} is not supported: this model's image tokenizer draws {size}x{size} images "
                f"({grid}x{grid} image tokens), so `{name}` must be {size} or unset. For larger images, pass "
                "`upscaler=` (a Swin2SR super-resolution model) or resize the output."
            )

    def _warn_out_of_domain(self, prompts: list[str]) -> None:
        """A model folder that lists the words it was trained on (`training_data.json`) warns when most words of a
        prompt are unknown to it: it will draw something, but not what was asked."""
        from ..default_model import is_out_of_domain, training_data

        folder = getattr(self.model, "name_or_path", None)
        vocabulary = training_data(folder).get("vocabulary") if folder and isinstance(folder, str) else None
        if not vocabulary:
            return
        for prompt in prompts:
            if is_out_of_domain(prompt, vocabulary):
                logger.warning(
                    f"The prompt {prompt!r} is far from anything this model was trained on (most of its words never "
                    f"appear in its training prompts): the image will not show it. The model's `training_data.json` "
                    "lists what it knows (e.g. `transformers_cm3leon.default_model.training_data()['seen']`)."
                )

    def _check_argument(self, name: str, value) -> None:
        super()._check_argument(name, value)
        if name == "negative_prompt":
            check_text_list("negative_prompt", value, allow_empty=False)
        if name == "retriever" and not callable(getattr(value, "retrieve", None)):
            raise TypeError(
                f"`retriever` must have a `retrieve(texts=..., k=...)` method (a CM3LeonRetriever), got "
                f"{describe(value)}."
            )
        if name == "clip_model" and not isinstance(value, str):
            if not callable(getattr(value, "get_text_features", None)) or not callable(
                getattr(value, "get_image_features", None)
            ):
                raise TypeError(
                    "`clip_model` must be a CLIP-like model (with `get_text_features` and `get_image_features`) or "
                    f"the id of one, got {describe(value)}."
                )

    def check_inputs(self, inputs: dict, generation_config, params: dict) -> None:
        super().check_inputs(inputs, generation_config, params)
        num_prompts = len(inputs["prompts"])
        negative_prompt = params.get("negative_prompt")
        if isinstance(negative_prompt, (list, tuple)) and len(negative_prompt) != num_prompts:
            raise ValueError(
                f"`negative_prompt` has {len(negative_prompt)} entries for {num_prompts} prompts; pass one string "
                "for all prompts or one per prompt."
            )
        guided = generation_config.resolved(False, self.model.config.image_vocab_size).is_guided(editing=False)
        if negative_prompt is not None and not guided:
            raise ValueError(
                "`negative_prompt` feeds the unconditional stream of classifier-free guidance, which "
                "guidance_scale=1 (with decoding_strategy='sample') turns off; raise `guidance_scale` or drop it."
            )
        if params.get("num_retrieved_docs") is not None and params.get("retriever") is None:
            raise ValueError("`num_retrieved_docs` needs a `retriever`.")
        rerank = params.get("rerank", 1)
        clip_model, clip_processor = params.get("clip_model"), params.get("clip_processor")
        if rerank == 1 and (clip_model is not None or clip_processor is not None):
            raise ValueError("`clip_model` / `clip_processor` score candidates for `rerank`; pass `rerank` > 1.")
        if clip_model is not None and not isinstance(clip_model, str) and clip_processor is None:
            raise ValueError("`clip_processor` is required with a `clip_model` instance (its tokenizer and images).")

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
        pictures = [_first_picture(documents) for documents in retrieved]
        if retriever is not None and all(picture is not None for picture in pictures):
            # With `parallel_decoding`, the best retrieved picture is each prompt's draft (retrieval-based drafts).
            model_inputs["draft_pictures"] = pictures
        if negative_prompt is not None:
            negatives = [negative_prompt] * len(prompts) if isinstance(negative_prompt, str) else negative_prompt
            negative = processor.pad(
                [processor.text_to_image_prompt(text) for text in negatives], padding_side="left", return_tensors="pt"
            )
            model_inputs["negative_input_ids"] = negative["input_ids"]
            model_inputs["negative_attention_mask"] = negative["attention_mask"]
        return model_inputs


def _first_picture(documents):
    """The picture of the first retrieved document that has one (token ids or an image), or `None`."""
    for document in documents or []:
        for segment in document_segments(document):
            if not isinstance(segment, str):
                return segment
    return None


__all__ = ["CM3LeonTextToImagePipeline"]
