# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""What the CM3Leon image pipelines share: argument routing and checks, one `generate_images` call for the whole
batch, best-of-N CLIP re-ranking, VQ decoding, the optional upscaler, and diffusers-style outputs.

A transformers `Pipeline` returns one output per input and a list for a list of inputs; diffusers returns ONE output
whose `.images` holds every image of the call. These pipelines follow diffusers: `__call__` packs all prompts into a
single input, so the prompts are sampled in one batched `generate_images` call (every guidance stream of every image
in one forward per step) and one [`CM3LeonImagePipelineOutput`] comes back.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from transformers import Pipeline, Swin2SRForImageSuperResolution
from transformers.utils import logging

from ..generation_cm3leon import load_clip_reranker, rerank_images
from .pipeline_output import CM3LeonImagePipelineOutput
from .super_resolution import load_upscaler, upscale_images

logger = logging.get_logger(__name__)

OUTPUT_TYPES = ("pil", "np", "pt", "tokens")

# diffusers arguments that have no meaning for an autoregressive token model; each gets its own explanation.
_DIFFUSION_ONLY_ARGUMENTS = {
    "num_inference_steps": "CM3Leon draws an image token by token: the number of steps is the number of image tokens "
    "(image_seq_length={image_seq_length}), fixed by the image tokenizer. Remove `num_inference_steps`.",
    "timesteps": "CM3Leon has no noise schedule: it draws image tokens one by one. Remove `timesteps`.",
    "sigmas": "CM3Leon has no noise schedule: it draws image tokens one by one. Remove `sigmas`.",
    "eta": "CM3Leon has no DDIM scheduler: randomness comes from token sampling (`temperature`, `top_p`, ...). "
    "Remove `eta`.",
    "latents": "CM3Leon has no latent noise to start from. Use `generator` for reproducible images.",
}


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _as_text_list(value, name: str) -> list[str]:
    """A string or a non-empty list of strings, as a list."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and value and all(isinstance(item, str) for item in value):
        return list(value)
    raise TypeError(f"`{name}` must be a string or a non-empty list of strings, got {_describe(value)}.")


def _describe(value) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:80] + '...' if len(text) > 80 else text}"


class CM3LeonImageGenerationPipeline(Pipeline):
    """Base of [`CM3LeonTextToImagePipeline`] and [`CM3LeonImageEditingPipeline`] (not registered itself).

    Subclasses implement `__call__` (the user-facing signature), `preprocess` (prompts -> the token-id streams that
    `generate_images` takes) and `check_inputs` (checks across arguments), and list the arguments each stage takes.
    """

    # The key of this task in a model's `generation_config.image_generation_defaults`.
    defaults_key: str = ""
    _load_processor = True
    _load_image_processor = False
    _load_feature_extractor = False
    _load_tokenizer = False

    # Arguments by the stage that takes them; subclasses extend them. Every other argument is an error.
    _preprocess_arguments: tuple[str, ...] = ()
    # Passed through to `model.generate_images`, which checks them.
    _generate_arguments: tuple[str, ...] = (
        "guidance_scale",
        "num_images_per_prompt",
        "generator",
        "do_sample",
        "temperature",
        "top_k",
        "top_p",
        "progress_bar",
        "cache_implementation",
        "compile",
    )
    _forward_arguments: tuple[str, ...] = ("callback_on_step_end", "upscaler")
    _postprocess_arguments: tuple[str, ...] = ("output_type", "return_dict")

    def __init__(self, *args, local_files_only: bool = False, **kwargs):
        # `pipeline()` forwards `local_files_only`; it also applies to the models loaded on demand (CLIP, upscaler).
        self._hub_kwargs = {"local_files_only": local_files_only} if local_files_only else {}
        self._models_loaded_on_demand: dict[tuple[str, str], object] = {}
        self._interrupt = False
        super().__init__(*args, **kwargs)
        if not callable(getattr(self.model, "generate_images", None)):
            raise TypeError(
                f"{type(self).__name__} needs a CM3Leon language model with `generate_images` (CM3LeonForCausalLM), "
                f"got {type(self.model).__name__}."
            )
        image_processor = getattr(self.processor, "image_processor", None)
        if getattr(image_processor, "vq_model", None) is None:
            raise ValueError(
                f"{type(self).__name__} needs a CM3LeonProcessor whose image processor holds the VQ image tokenizer "
                "(saved in the model folder's `image_tokenizer/` subfolder), to turn image tokens into pixels."
            )
        if self.model.config.image_seq_length != image_processor.image_seq_length:
            raise ValueError(
                f"The model draws image_seq_length={self.model.config.image_seq_length} tokens per image but the "
                f"processor's image tokenizer has {image_processor.image_seq_length} codes per image; they must match."
            )
        image_processor.vq_model.to(self.device)
        self._apply_model_defaults()

    def _apply_model_defaults(self) -> None:
        """A model can declare the decoding it was measured best with, per task, as
        `generation_config.image_generation_defaults` (e.g. `{"text-to-image": {"guidance_scale": 1.0,
        "temperature": 0.5}}`): those become this pipeline's defaults, under the arguments given to `pipeline(...)`
        and to each call."""
        per_task = getattr(self.model.generation_config, "image_generation_defaults", None) or {}
        defaults = per_task.get(self.defaults_key, {}) if isinstance(per_task, dict) else None
        if not isinstance(defaults, dict):
            raise TypeError(
                "`generation_config.image_generation_defaults` must map task names to dicts of pipeline arguments, "
                f"got {per_task!r}."
            )
        preprocess_params, forward_params, postprocess_params = self._sanitize_parameters(**defaults)
        self._preprocess_params = {**preprocess_params, **self._preprocess_params}
        self._forward_params = {**forward_params, **self._forward_params}
        self._postprocess_params = {**postprocess_params, **self._postprocess_params}

    def save_pretrained(self, save_directory, **kwargs) -> None:
        """Save the model and the processor (tokenizer, image processor and VQ image tokenizer) into one folder that
        `pipeline(task, model=save_directory)` loads back after `import transformers_cm3leon`.

        `Pipeline.save_pretrained` would also copy this pipeline's code for `trust_remote_code` loading, which fails
        for a module with relative imports; the package registers its tasks on import instead. Keyword arguments go
        to both `save_pretrained` calls (e.g. `push_to_hub=True`).
        """
        self.model.save_pretrained(save_directory, **kwargs)
        self.processor.save_pretrained(save_directory, **kwargs)

    # -- diffusers-style conveniences -------------------------------------------------------------------------------
    def set_progress_bar_config(self, **kwargs) -> None:
        """Options of the tqdm bar over image tokens, e.g. `pipe.set_progress_bar_config(disable=True)`."""
        self.model.set_progress_bar_config(**kwargs)

    @property
    def interrupt(self) -> bool:
        """Set `pipe._interrupt = True` inside `callback_on_step_end` to stop generation (as in diffusers)."""
        return self._interrupt

    # -- argument routing and checks --------------------------------------------------------------------------------
    def _sanitize_parameters(self, **kwargs):
        forward_arguments = self._generate_arguments + self._forward_arguments
        allowed = self._preprocess_arguments + forward_arguments + self._postprocess_arguments
        for name in kwargs:
            if name in _DIFFUSION_ONLY_ARGUMENTS:
                reason = _DIFFUSION_ONLY_ARGUMENTS[name].format(image_seq_length=self.model.config.image_seq_length)
                raise TypeError(
                    f"{type(self).__name__} got `{name}`={kwargs[name]!r}, which it does not take: {reason}"
                )
            if name not in allowed:
                raise TypeError(
                    f"{type(self).__name__} got an unexpected argument `{name}`; it accepts {sorted(allowed)}."
                )
        for name, value in kwargs.items():
            self._check_argument(name, value)

        preprocess_params = {name: kwargs[name] for name in self._preprocess_arguments if name in kwargs}
        forward_params = {name: kwargs[name] for name in forward_arguments if name in kwargs}
        postprocess_params = {name: kwargs[name] for name in self._postprocess_arguments if name in kwargs}
        if "output_type" in kwargs:
            forward_params["decode_images"] = kwargs["output_type"] != "tokens"
        return preprocess_params, forward_params, postprocess_params

    def _check_argument(self, name: str, value) -> None:
        """Checks of one argument on its own (at construction and at each call); `check_inputs` checks them together.
        The decoding arguments are checked by `generate_images`, before it samples anything."""
        if name in ("guidance_scale", "image_guidance_scale") and (not _is_number(value) or value < 0):
            raise ValueError(f"`{name}` must be a finite number >= 0 (1 = no guidance), got {value!r}.")
        if name in ("num_images_per_prompt", "rerank", "num_retrieved_docs") and not _is_positive_int(value):
            raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
        if name == "output_type" and value not in OUTPUT_TYPES:
            raise ValueError(f"`output_type` must be one of {list(OUTPUT_TYPES)}, got {value!r}.")
        if name == "return_dict" and not isinstance(value, bool):
            raise TypeError(f"`return_dict` must be a bool, got {value!r}.")
        if name == "callback_on_step_end" and not callable(value):
            raise TypeError(f"`callback_on_step_end` must be callable, got {_describe(value)}.")
        if name == "upscaler" and not isinstance(value, (str, Swin2SRForImageSuperResolution)):
            raise TypeError(
                "`upscaler` must be a Swin2SRForImageSuperResolution or the id/path of one (loaded at first use), "
                f"got {_describe(value)}."
            )

    def check_inputs(self, inputs: dict, params: dict) -> None:
        """Checks across arguments, on the arguments of this call merged with those given at construction."""
        if params.get("output_type") == "tokens" and params.get("upscaler") is not None:
            raise ValueError(
                "`upscaler` works on pixels, but output_type='tokens' returns image tokens; use another output_type "
                "or drop the upscaler."
            )
        generator = params.get("generator")
        if isinstance(generator, (list, tuple)) and params.get("rerank", 1) > 1:
            num_prompts = len(inputs["prompts"])
            if len(generator) != num_prompts:
                raise ValueError(
                    f"With `rerank`, pass one generator or one per prompt ({num_prompts}); got {len(generator)}, and "
                    "the re-ranked candidates of an image cannot share a per-image generator."
                )

    def run_single(self, inputs, preprocess_params, forward_params, postprocess_params):
        # The one place where the arguments of the call, merged with those of the constructor, are all known.
        self.check_inputs(inputs, {**preprocess_params, **forward_params, **postprocess_params})
        self._interrupt = False
        return super().run_single(inputs, preprocess_params, forward_params, postprocess_params)

    def _call(self, inputs: dict, arguments: dict, kwargs: dict):
        """Run the pipeline on `inputs` with the arguments the user set: `None` means "not set", so that the value
        given at construction (or the default) applies."""
        arguments = {name: value for name, value in arguments.items() if value is not None}
        return super().__call__(inputs, **arguments, **kwargs)

    # -- generation -------------------------------------------------------------------------------------------------
    def _step_callback(self, callback_on_step_end: Callable | None) -> Callable | None:
        """Adapt a diffusers-style `callback_on_step_end(pipeline, step, timestep, callback_kwargs)` to the sampling
        loop's `(step, image_token_ids, scores) -> stop`; `timestep` is `None` (there is none), and setting
        `pipeline._interrupt = True` stops generation."""
        if callback_on_step_end is None:
            return None

        def step_callback(step: int, image_token_ids: torch.LongTensor, scores: torch.FloatTensor) -> bool:
            callback_on_step_end(self, step, None, {"image_token_ids": image_token_ids, "scores": scores})
            return self._interrupt

        return step_callback

    def _load_on_demand(self, kind: str, name: str, load: Callable):
        key = (kind, name)
        if key not in self._models_loaded_on_demand:
            logger.info(f"Loading the {kind} {name!r}.")
            self._models_loaded_on_demand[key] = load(name)
        return self._models_loaded_on_demand[key]

    def _forward(
        self,
        model_inputs: dict,
        callback_on_step_end: Callable | None = None,
        rerank: int = 1,
        clip_model=None,
        clip_processor=None,
        upscaler=None,
        decode_images: bool = True,
        num_images_per_prompt: int = 1,
        **generate_kwargs,
    ) -> dict:
        prompts = model_inputs.pop("prompts")
        generation = self.model.generate_images(
            **model_inputs,
            num_images_per_prompt=num_images_per_prompt * rerank,
            callback_on_step_end=self._step_callback(callback_on_step_end),
            **generate_kwargs,
        )
        token_ids = generation.image_token_ids
        if not generation.is_complete:
            return {"image_token_ids": token_ids, "pixel_values": None, "is_complete": False}

        pixel_values = None
        if rerank > 1:
            token_ids, pixel_values = self._rerank(
                token_ids, prompts, num_images_per_prompt, rerank, clip_model, clip_processor
            )
        if decode_images:
            if pixel_values is None:
                pixel_values = self._decode(token_ids)
            if upscaler is not None:
                if isinstance(upscaler, str):
                    upscaler = self._load_on_demand("upscaler", upscaler, self._load_upscaler)
                pixel_values = upscale_images(upscaler, pixel_values)
        return {"image_token_ids": token_ids, "pixel_values": pixel_values, "is_complete": True}

    def _decode(self, token_ids: torch.LongTensor) -> torch.FloatTensor:
        """Image token ids -> pixel values `(N, 3, H, W)` in [0, 1]."""
        image_processor = self.processor.image_processor
        return image_processor.token_ids_to_images(token_ids, output_type="pt")

    def _load_upscaler(self, name: str):
        return load_upscaler(name, **self._hub_kwargs).to(self.device)

    def _rerank(self, token_ids, prompts, num_images_per_prompt, rerank, clip_model, clip_processor):
        """Keep the best of `rerank` candidates for each output image, by CLIP score against its prompt."""
        if isinstance(clip_model, str):
            loaded_model, loaded_processor = self._load_on_demand(
                "CLIP model", clip_model, lambda name: load_clip_reranker(name, **self._hub_kwargs)
            )
            clip_model, clip_processor = loaded_model.to(self.device), clip_processor or loaded_processor
        # generate_images returns the candidates of prompt b at rows b*M ... (b+1)*M - 1 (M = images x rerank).
        # Output image j of a prompt gets candidates j, j + N, j + 2N, ... (a stride of N = num_images_per_prompt),
        # so that with decoding_strategy="mixture" (first half top-p, second half CD-K) every image's candidates mix
        # both strategies, as in the paper's best-of-N.
        num_prompts, length = len(prompts), token_ids.shape[-1]
        candidates = token_ids.view(num_prompts, rerank, num_images_per_prompt, length).transpose(1, 2)
        candidates = candidates.reshape(-1, length)
        pixel_values = self._decode(candidates)
        images = self.processor.image_processor.postprocess(pixel_values * 2 - 1, output_type="pil")
        image_prompts = [prompt for prompt in prompts for _ in range(num_images_per_prompt)]
        ranked = rerank_images(images, image_prompts, clip_model, clip_processor, num_images_per_prompt=rerank)
        best = ranked.indices.to(candidates.device)
        return candidates[best], pixel_values[best.to(pixel_values.device)]

    # -- output -----------------------------------------------------------------------------------------------------
    def postprocess(self, model_outputs: dict, output_type: str = "pil", return_dict: bool = True):
        if not model_outputs["is_complete"]:
            # An interrupted image has fewer tokens than a full grid: its tokens can be returned, but no pixels.
            images = model_outputs["image_token_ids"] if output_type == "tokens" else None
            if images is None:
                logger.warning(
                    f"Generation was interrupted, so there are no images to return as output_type={output_type!r}; "
                    "output_type='tokens' returns the partial image tokens."
                )
        elif output_type == "tokens":
            images = model_outputs["image_token_ids"]
        else:
            images = self._format_images(model_outputs["pixel_values"], output_type)
        if not return_dict:
            return (images,)
        return CM3LeonImagePipelineOutput(images=images)

    def _format_images(self, pixel_values: torch.FloatTensor, output_type: str):
        """Pixel values `(N, 3, H, W)` in [0, 1] -> diffusers' formats: PIL images, float32 `(N, H, W, 3)` arrays in
        [0, 1] (`"np"`), or float32 `(N, 3, H, W)` tensors in [0, 1] (`"pt"`)."""
        pixel_values = pixel_values.float().cpu()
        if output_type == "pt":
            return pixel_values
        if output_type == "np":
            return pixel_values.permute(0, 2, 3, 1).numpy()
        return self.processor.image_processor.postprocess(pixel_values * 2 - 1, output_type="pil")


__all__ = ["CM3LeonImageGenerationPipeline", "OUTPUT_TYPES"]
