# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""What the CM3Leon image pipelines share: the settings of a call, one `generate_images` call for the whole batch,
best-of-N re-ranking (CLIP, or the model's own likelihood), VQ decoding, the optional upscaler, and diffusers-style outputs.

A transformers `Pipeline` returns one output per input and a list for a list of inputs; diffusers returns ONE output
whose `.images` holds every image of the call. These pipelines follow diffusers: `__call__` packs all prompts into a
single input, so the prompts are sampled in one batched `generate_images` call (every guidance stream of every image
in one forward per step) and one [`CM3LeonImagePipelineOutput`] comes back.

A call: `__call__` (the user-facing signature) -> `_run` (the generation settings: the model's declared defaults,
then those given to `pipeline(...)`, then the call's, checked with every other argument before any work) ->
transformers' `Pipeline.__call__` -> `preprocess` / `_forward` / `postprocess`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import torch
from transformers import Pipeline, Swin2SRForImageSuperResolution
from transformers.utils import logging

from ..generation.configuration import CM3LeonImageGenerationConfig, model_defaults, model_rerank
from ..validation import check_bool, check_choice, check_int, describe
from .pipeline_output import CM3LeonImagePipelineOutput
from .reranking import load_clip_reranker, rerank_images
from .super_resolution import load_upscaler, upscale_images

logger = logging.get_logger(__name__)

OUTPUT_TYPES = ("pil", "np", "pt", "tokens")
GENERATION_SETTINGS = CM3LeonImageGenerationConfig.field_names()

# diffusers arguments that have no meaning for an autoregressive token model; each gets its own explanation.
_DIFFUSION_ONLY_ARGUMENTS = {
    "num_inference_steps": "CM3Leon draws an image token by token: the number of steps is the number of image tokens "
    "(image_seq_length={image_seq_length}), fixed by the image tokenizer. Remove `num_inference_steps`.",
    "timesteps": "CM3Leon has no noise schedule: it draws image tokens one by one. Remove `timesteps`.",
    "sigmas": "CM3Leon has no noise schedule: it draws image tokens one by one. Remove `sigmas`.",
    "eta": "CM3Leon has no DDIM scheduler: randomness comes from token sampling (`temperature`, `top_p`, ...). "
    "Remove `eta`.",
    "latents": "CM3Leon has no latent noise to start from. Use `generator` for reproducible images.",
    "strength": "CM3Leon does not noise the input image: editing redraws every token under the instruction, "
    "infilling redraws the masked tokens. Remove `strength`.",
}


def move_pipeline(pipe: Pipeline, device: str | int | torch.device) -> Pipeline:
    """Move a CM3Leon pipeline's model and VQ image tokenizer to `device` and run its later calls there."""
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(
            f"`device` must name a torch device ('cpu', 'cuda', 'cuda:1', 'mps', ...), got {device!r}: {error}"
        ) from None
    pipe.model.to(device)
    vq_model = getattr(getattr(pipe.processor, "image_processor", None), "vq_model", None)
    if vq_model is not None:
        vq_model.to(device)
    pipe.device = device
    return pipe


class CM3LeonImageGenerationPipeline(Pipeline):
    """Base of the CM3Leon image pipelines (not registered itself).

    Subclasses implement `__call__` (the user-facing signature, which calls `_run`), `preprocess` (inputs -> the
    token-id prompts `generate_images` takes) and may extend `check_inputs` and `_check_argument`.
    """

    # The task, and the key of its decoding defaults in a model's `generation_config.image_generation_defaults`.
    task_name: str = ""
    # Whether the task decodes three streams (full, image-only, unconditional).
    editing: bool = False
    _load_processor = True
    _load_image_processor = False
    _load_feature_extractor = False
    _load_tokenizer = False

    # Arguments by the stage that takes them (besides the generation settings); any other argument is an error.
    _preprocess_arguments: tuple[str, ...] = ()
    _forward_arguments: tuple[str, ...] = (
        "num_images_per_prompt",
        "generator",
        "progress_bar",
        "callback_on_step_end",
        "upscaler",
    )
    _postprocess_arguments: tuple[str, ...] = ("output_type", "return_dict")

    def __init__(self, *args, local_files_only: bool = False, **kwargs):
        # Generation settings given to `pipeline(...)` are defaults for every call, over the model's own.
        self._pipeline_settings = {name: kwargs.pop(name) for name in GENERATION_SETTINGS if name in kwargs}
        # `pipeline()` forwards `local_files_only`; it also applies to the models loaded on demand (CLIP, upscaler).
        self._hub_kwargs = {"local_files_only": local_files_only} if local_files_only else {}
        self._models_loaded_on_demand: dict[tuple[str, str], object] = {}
        self._call_state = threading.local()
        super().__init__(*args, **kwargs)
        if not callable(getattr(self.model, "generate_images", None)):
            raise TypeError(
                f"{type(self).__name__} needs a CM3Leon language model with `generate_images` (CM3LeonForCausalLM), "
                f"got {type(self.model).__name__}."
            )
        image_processor = getattr(self.processor, "image_processor", None)
        if getattr(image_processor, "vq_model", None) is None:
            raise ValueError(
                f"{type(self).__name__} needs the model's VQ image tokenizer, to turn image tokens into pixels, and "
                "this folder has none (its `image_tokenizer/` subfolder is missing: a text-only conversion?). Convert "
                "the checkpoint with its VQ weights (e.g. `--vqgan` for Chameleon), or attach one with "
                "`processor.image_processor.vq_model = CM3LeonVQModel.from_pretrained(...)`."
            )
        if self.model.config.image_seq_length != image_processor.image_seq_length:
            raise ValueError(
                f"The model draws image_seq_length={self.model.config.image_seq_length} tokens per image but the "
                f"processor's image tokenizer has {image_processor.image_seq_length} codes per image; they must match."
            )
        num_palette = image_processor.vq_model.config.num_palette_embeddings
        if getattr(self.model.config, "num_palette_tokens", 0) != num_palette:
            raise ValueError(
                f"The model's config has num_palette_tokens={getattr(self.model.config, 'num_palette_tokens', 0)} but "
                f"the processor's image tokenizer has {num_palette} palette codes (num_palette_embeddings); they must "
                "match, so that each image ends with one."
            )
        image_processor.vq_model.to(self.device)
        self.generation_config()  # the model's and the pipeline's settings, checked now
        if model_rerank(self.model.generation_config, self.task_name) > 1 and "rerank" not in self._forward_arguments:
            raise ValueError(
                f"The model's `generation_config.image_generation_defaults[{self.task_name!r}]` declares `rerank`, "
                f"but the {self.task_name} pipeline has no best-of-N; remove it from that task's defaults."
            )

    def generation_config(self, **arguments) -> CM3LeonImageGenerationConfig:
        """The generation settings of a call: the model's declared defaults for this task, under those given to
        `pipeline(...)`, under `arguments` (`None` = not given); checked. (A declared `rerank` is a pipeline
        argument, applied by `_run`.)"""
        defaults = {**model_defaults(self.model.generation_config, self.task_name), **self._pipeline_settings}
        config = CM3LeonImageGenerationConfig.from_defaults(defaults, **arguments)
        config.validate(self.model.config.image_vocab_size, editing=self.editing)
        return config

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
    def to(self, device: str | int | torch.device) -> CM3LeonImageGenerationPipeline:
        """diffusers' `pipe.to(device)`: move the model and the VQ image tokenizer; later calls run there."""
        self._models_loaded_on_demand.clear()  # CLIP / upscaler: loaded again, on the new device, when asked for
        return move_pipeline(self, device)

    def set_progress_bar_config(self, **kwargs) -> None:
        """Options of the tqdm bar over image tokens, e.g. `pipe.set_progress_bar_config(disable=True)`."""
        self.model.set_progress_bar_config(**kwargs)

    @property
    def _interrupt(self) -> bool:
        """diffusers' flag: `callback_on_step_end` sets `pipeline._interrupt = True` to stop the call it runs in. It
        belongs to the call (the calling thread), never to other calls sharing this pipeline."""
        return getattr(self._call_state, "interrupt", False)

    @_interrupt.setter
    def _interrupt(self, value: bool) -> None:
        self._call_state.interrupt = bool(value)

    @property
    def interrupt(self) -> bool:
        return self._interrupt

    # -- a call -----------------------------------------------------------------------------------------------------
    def _run(self, inputs: dict, settings: dict, arguments: dict):
        """Run the pipeline: the generation settings of this call, all checks, then the pipeline's stages.
        `None` means "not given" (the value given to `pipeline(...)`, or the default, applies)."""
        generation_config = self.generation_config(**settings)
        arguments = {name: value for name, value in arguments.items() if value is not None}
        for name in arguments:
            if name in GENERATION_SETTINGS:
                raise TypeError(f"`{name}` was given twice.")
        if "rerank" in self._forward_arguments and "rerank" not in arguments and "rerank" not in self._forward_params:
            declared = model_rerank(self.model.generation_config, self.task_name)  # the model's best-of-N
            if declared > 1:
                arguments["rerank"] = declared
        params = {**self._preprocess_params, **self._forward_params, **self._postprocess_params, **arguments}
        for name, value in arguments.items():
            self._check_argument(name, value)
        self.check_inputs(inputs, generation_config, params)
        self._interrupt = False
        return super().__call__(inputs, generation_config=generation_config, **arguments)

    def _sanitize_parameters(self, generation_config=None, **kwargs):
        allowed = self._preprocess_arguments + self._forward_arguments + self._postprocess_arguments
        for name in kwargs:
            if name in _DIFFUSION_ONLY_ARGUMENTS:
                reason = _DIFFUSION_ONLY_ARGUMENTS[name].format(image_seq_length=self.model.config.image_seq_length)
                raise TypeError(
                    f"{type(self).__name__} got `{name}`={kwargs[name]!r}, which it does not take: {reason}"
                )
            if name not in allowed:
                raise TypeError(
                    f"{type(self).__name__} got an unexpected argument `{name}`; it accepts "
                    f"{sorted(allowed + GENERATION_SETTINGS)}."
                )
            self._check_argument(name, kwargs[name])
        preprocess_params = {name: kwargs[name] for name in self._preprocess_arguments if name in kwargs}
        forward_params = {name: kwargs[name] for name in self._forward_arguments if name in kwargs}
        postprocess_params = {name: kwargs[name] for name in self._postprocess_arguments if name in kwargs}
        if generation_config is not None:
            forward_params["generation_config"] = generation_config
        if "output_type" in kwargs:
            forward_params["decode_images"] = kwargs["output_type"] != "tokens"
        return preprocess_params, forward_params, postprocess_params

    def _check_argument(self, name: str, value) -> None:
        """Checks of one argument on its own; `check_inputs` checks them together."""
        if name in ("num_images_per_prompt", "rerank", "num_retrieved_docs"):
            check_int(name, value, 1)
        elif name == "output_type":
            check_choice("output_type", value, OUTPUT_TYPES)
        elif name in ("return_dict", "progress_bar"):
            check_bool(name, value)
        elif name == "callback_on_step_end" and not callable(value):
            raise TypeError(f"`callback_on_step_end` must be callable, got {describe(value)}.")
        elif name == "upscaler" and not isinstance(value, (str, Swin2SRForImageSuperResolution)):
            raise TypeError(
                "`upscaler` must be a Swin2SRForImageSuperResolution or the id/path of one (loaded at first use), "
                f"got {describe(value)}."
            )
        elif name == "generator" and value is not None and not isinstance(value, torch.Generator):
            if not isinstance(value, (list, tuple)) or not all(isinstance(g, torch.Generator) for g in value):
                raise TypeError(f"`generator` must be a torch.Generator or a list of them, got {describe(value)}.")

    def check_inputs(self, inputs: dict, generation_config: CM3LeonImageGenerationConfig, params: dict) -> None:
        """Checks across arguments, on the arguments of this call merged with those given at construction."""
        if params.get("output_type") == "tokens" and params.get("upscaler") is not None:
            raise ValueError(
                "`upscaler` works on pixels, but output_type='tokens' returns image tokens; use another output_type "
                "or drop the upscaler."
            )
        num_prompts = len(inputs["prompts"])
        generator = params.get("generator")
        num_images = num_prompts * params.get("num_images_per_prompt", 1)
        if isinstance(generator, (list, tuple)):
            allowed = {num_prompts} if params.get("rerank", 1) > 1 else {num_prompts, num_images}
            if len(generator) not in allowed:
                raise ValueError(
                    f"`generator` has {len(generator)} generators; pass one, one per prompt ({num_prompts})"
                    + (
                        f" or one per image ({num_images})."
                        if len(allowed) > 1
                        else " (with `rerank`, the candidates of an image cannot share a per-image generator)."
                    )
                )

    # -- generation -------------------------------------------------------------------------------------------------
    def _step_callback(self, callback_on_step_end: Callable | None) -> Callable | None:
        """Adapt a diffusers-style `callback_on_step_end(pipeline, step, timestep, callback_kwargs)` to the sampling
        loop's `(step, image_token_ids, scores) -> stop`; `timestep` is `None` (there is none). The callback stops
        its own call by returning `True` (or a dict with `"interrupt": True`), or by setting
        `pipeline._interrupt = True`."""
        if callback_on_step_end is None:
            return None

        def step_callback(step: int, image_token_ids: torch.LongTensor, scores: torch.FloatTensor) -> bool:
            result = callback_on_step_end(self, step, None, {"image_token_ids": image_token_ids, "scores": scores})
            stop = result is True or (isinstance(result, dict) and result.get("interrupt") is True)
            return stop or self._interrupt

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
        generation_config: CM3LeonImageGenerationConfig,
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
        # Speculative decoding drafts from a picture per prompt (text-to-image: the first retrieved one), if any.
        pictures = model_inputs.pop("draft_pictures", None)
        if generation_config.parallel_decoding is not None and pictures is not None:
            generate_kwargs["draft_image_token_ids"] = torch.tensor(
                [
                    picture if _is_token_ids(picture) else self.processor.encode_images([picture])[0]
                    for picture in pictures
                ]
            )
        generation = self.model.generate_images(
            **model_inputs,
            num_images_per_prompt=num_images_per_prompt * rerank,
            callback_on_step_end=self._step_callback(callback_on_step_end),
            generation_config=generation_config,
            **generate_kwargs,
        )
        return self._images_from_tokens(
            generation.image_token_ids,
            generation.is_complete,
            prompts,
            num_images_per_prompt,
            rerank,
            clip_model,
            clip_processor,
            upscaler,
            decode_images,
            scoring_prompts=(model_inputs["input_ids"], model_inputs["attention_mask"]),
        )

    def _images_from_tokens(
        self,
        token_ids,
        is_complete,
        prompts,
        num_images_per_prompt,
        rerank,
        clip_model,
        clip_processor,
        upscaler,
        decode_images,
        scoring_prompts=None,
    ) -> dict:
        """Pixels (and the upscaler) for complete images, after best-of-`rerank`; `scoring_prompts` are the
        left-padded prompt ids and mask, one row per prompt, that the model's own score reads (`rerank` without
        CLIP)."""
        if not is_complete:
            return {"image_token_ids": token_ids, "pixel_values": None, "is_complete": False}
        pixel_values = None
        if rerank > 1:
            token_ids, pixel_values = self._rerank(
                token_ids, prompts, num_images_per_prompt, rerank, clip_model, clip_processor, scoring_prompts
            )
        if decode_images:
            if pixel_values is None:
                pixel_values = self._decode(token_ids)
            if upscaler is not None:
                if isinstance(upscaler, str):
                    upscaler = self._load_on_demand("upscaler", upscaler, self._load_upscaler)
                pixel_values = upscale_images(upscaler, (pixel_values.clamp(-1, 1) + 1) / 2) * 2 - 1
        return {"image_token_ids": token_ids, "pixel_values": pixel_values, "is_complete": True}

    def _decode(self, token_ids: torch.LongTensor) -> torch.FloatTensor:
        """Image token ids -> the VQ model's pixel values `(N, 3, H, W)` in [-1, 1]."""
        return self.processor.image_processor.token_ids_to_pixel_values(token_ids)

    def _load_upscaler(self, name: str):
        return load_upscaler(name, **self._hub_kwargs).to(self.device)

    def _rerank(self, token_ids, prompts, num_images_per_prompt, rerank, clip_model, clip_processor, scoring_prompts):
        """Keep the best of `rerank` candidates for each output image: by CLIP score against its prompt when a
        `clip_model` is given, otherwise by the model's own `image_log_likelihood` after `scoring_prompts`."""
        # The candidates of prompt b are at rows b*M ... (b+1)*M - 1 (M = images x rerank). Output image j of a
        # prompt gets candidates j, j + N, j + 2N, ... (a stride of N = num_images_per_prompt), so that with
        # decoding_strategy="mixture" (first half top-p, second half CD-K) every image's candidates mix both
        # strategies, as in the paper's best-of-N.
        num_prompts, length = len(prompts), token_ids.shape[-1]
        candidates = token_ids.view(num_prompts, rerank, num_images_per_prompt, length).transpose(1, 2)
        candidates = candidates.reshape(-1, length)
        if clip_model is None:
            prompt_ids, prompt_mask = (
                tensor.to(candidates.device).repeat_interleave(num_images_per_prompt * rerank, dim=0)
                for tensor in scoring_prompts
            )
            scores = self.model.image_log_likelihood(prompt_ids, candidates, prompt_mask).view(-1, rerank)
            best = scores.argmax(dim=-1) + torch.arange(0, len(candidates), rerank, device=scores.device)
            return candidates[best], None
        if isinstance(clip_model, str):
            loaded_model, loaded_processor = self._load_on_demand(
                "CLIP model", clip_model, lambda name: load_clip_reranker(name, **self._hub_kwargs)
            )
            clip_model, clip_processor = loaded_model.to(self.device), clip_processor or loaded_processor
        pixel_values = self._decode(candidates)
        images = self.processor.image_processor.postprocess(pixel_values, output_type="pil")
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
        """Pixel values `(N, 3, H, W)` in [-1, 1] -> diffusers' formats: PIL images, float32 `(N, H, W, 3)` arrays in
        [0, 1] (`"np"`), or float32 `(N, 3, H, W)` tensors in [0, 1] (`"pt"`)."""
        if output_type == "pil":
            return self.processor.image_processor.postprocess(pixel_values, output_type="pil")
        pixel_values = self.processor.image_processor.postprocess(pixel_values, output_type="pt")
        return pixel_values if output_type == "pt" else pixel_values.permute(0, 2, 3, 1).numpy()


def _is_token_ids(picture) -> bool:
    """Whether a picture is given as image-token ids (a list, or an integer tensor) rather than as an image."""
    return isinstance(picture, (list, tuple)) or (
        isinstance(picture, torch.Tensor) and not picture.is_floating_point()
    )


__all__ = ["CM3LeonImageGenerationPipeline", "GENERATION_SETTINGS", "OUTPUT_TYPES"]
