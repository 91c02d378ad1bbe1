# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""`CM3LeonImageGenerationConfig`: every setting of image generation in one place, with its default and the values
it allows. `generate_images` and the pipelines both build one.

Where a setting comes from, from weakest to strongest: the library defaults below, a model's declared defaults
(`generation_config.image_generation_defaults[task]`, the decoding it measured best with), the arguments given to
`pipeline(...)`, and the arguments of the call. A default that contradicts what the caller chose is dropped, not an
error: a model's default `temperature` does not apply when the caller asks for greedy decoding (`do_sample=False`);
the same `temperature` given by the caller is an error (it would be unused).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, fields

from ..validation import check_bool, check_choice, check_int, check_number, describe
from .logits_process import DEFAULT_CD_ALPHA, DEFAULT_CD_TOP_K
from .sampling import DEFAULT_EDITING_GUIDANCE_SCALE, DEFAULT_EDITING_IMAGE_GUIDANCE_SCALE, DEFAULT_GUIDANCE_SCALE

DECODING_STRATEGIES = ("sample", "cd-k", "mixture")
CACHE_IMPLEMENTATIONS = ("static", "dynamic")
PARALLEL_DECODING = ("jacobi",)
# Scales beyond this only amplify float noise: the guided logits grow as the scale while their order no longer moves.
MAX_GUIDANCE_SCALE = 1e4
# The tasks whose defaults a model may declare in `generation_config.image_generation_defaults`.
TASKS = ("text-to-image", "image-editing", "image-inpainting")
# The tasks whose pipelines take `rerank` (best-of-N), which a model may declare beside its settings.
RERANK_TASKS = ("text-to-image", "image-inpainting")

# Settings that only shape a random draw: unused by greedy decoding.
_SAMPLING_ONLY = ("temperature", "top_k", "top_p")
# Settings of one decoding strategy each.
_SAMPLE_ONLY = ("top_k", "top_p")
_CONTRASTIVE_ONLY = ("cd_top_k", "cd_alpha")


@dataclass
class CM3LeonImageGenerationConfig:
    r"""
    The settings of one image generation (text-to-image, editing or infilling).

    Args:
        guidance_scale (`float`, *optional*):
            Text-to-image and infilling: `logits = u + guidance_scale * (c - u)`, default 3.0; 1 decodes the
            conditional stream alone (exactly plain sampling). Editing: the text scale of
            `u + image_guidance_scale * (i - u) + guidance_scale * (f - i)`, default 7.5 (the paper's). At most 1e4.
        image_guidance_scale (`float`, *optional*): Editing only: the image scale, default 1.5 (the paper's).
        decoding_strategy (`str`, defaults to `"sample"`):
            `"sample"`: temperature / top-k / top-p sampling of the guided logits. `"cd-k"`: contrastive decoding
            top-K ([`ContrastiveTopKLogitsProcessor`]). `"mixture"`: of the images of each prompt, the first
            `ceil(num_images_per_prompt / 2)` use `"sample"`, the others `"cd-k"` (the paper's "1/2 TopP + 1/2
            CD-K"). `"cd-k"` and `"mixture"` need two streams (text-to-image).
        do_sample (`bool`, defaults to `True`): `False` takes the argmax (greedy decoding) instead of a draw.
        temperature (`float`, defaults to 1.0): Divides the scores before sampling (`"sample"` and `"cd-k"`).
        top_k (`int`, *optional*): `"sample"`: keep the `top_k` most likely image tokens.
        top_p (`float`, *optional*): `"sample"`: nucleus sampling (Meta's demo used 0.8, Chameleon 0.9).
        cd_top_k (`int`, *optional*): CD-K's K (`"cd-k"` and `"mixture"`; default 50, or the image vocabulary if
            smaller).
        cd_alpha (`float`, *optional*): CD-K's alpha in [0, 1] (default 0.5, Meta's evaluation script's).
        parallel_decoding (`str`, *optional*): `"jacobi"`: speculative Jacobi decoding, several image tokens per
            forward, verified by the speculative-sampling rule (the same distribution as one token per forward; the
            same tokens when greedy). `None`: one token per forward.
        draft_length (`int`, defaults to 16): `parallel_decoding="jacobi"`: draft tokens verified per forward.
        cache_implementation (`str`, defaults to `"static"`): `"static"` (a preallocated cache) or `"dynamic"`.
        compile (`bool`, defaults to `False`): `torch.compile` the decoding step (needs the static cache).
    """

    guidance_scale: float | None = None
    image_guidance_scale: float | None = None
    decoding_strategy: str = "sample"
    do_sample: bool = True
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    cd_top_k: int | None = None
    cd_alpha: float | None = None
    parallel_decoding: str | None = None
    draft_length: int = 16
    cache_implementation: str = "static"
    compile: bool = False

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(field.name for field in fields(cls))

    @classmethod
    def from_defaults(cls, defaults: Mapping | None = None, **arguments) -> CM3LeonImageGenerationConfig:
        """The settings of one generation: the caller's `arguments` (`None` = not given) over `defaults` (e.g. a
        model's `image_generation_defaults[task]`); a default that contradicts the caller's choice is dropped (see
        the module docstring). Not validated: call `validate`."""
        given = {name: value for name, value in arguments.items() if value is not None}
        defaults = dict(defaults or {})
        for source, values in (("defaults", defaults), ("arguments", given)):
            unknown = sorted(set(values) - set(cls.field_names()))
            if unknown:
                raise TypeError(
                    f"Unknown image generation setting(s) {unknown} in the {source}; the settings are "
                    f"{list(cls.field_names())}."
                )
        settings = {**defaults, **given}
        dropped = []
        if settings.get("do_sample", True) is False:
            dropped += _SAMPLING_ONLY
        if settings.get("decoding_strategy", "sample") == "cd-k":
            dropped += _SAMPLE_ONLY
        if settings.get("decoding_strategy", "sample") == "sample":
            dropped += _CONTRASTIVE_ONLY
        for name in dropped:
            if name not in given:
                settings.pop(name, None)
        return cls(**settings)

    def update(self, **arguments) -> CM3LeonImageGenerationConfig:
        """A copy with the given `arguments` (`None` = not given) over these settings, as `from_defaults`."""
        return self.from_defaults(self.to_dict(), **arguments)

    def to_dict(self) -> dict:
        """The settings that differ from the library defaults."""
        return {
            field.name: getattr(self, field.name)
            for field in fields(self)
            if getattr(self, field.name) != field.default
        }

    def resolved(self, editing: bool, image_vocab_size: int) -> CM3LeonImageGenerationConfig:
        """A copy with the task's defaults filled in (guidance scales, CD-K's K and alpha)."""
        guidance_scale = self.guidance_scale
        if guidance_scale is None:
            guidance_scale = DEFAULT_EDITING_GUIDANCE_SCALE if editing else DEFAULT_GUIDANCE_SCALE
        image_guidance_scale = self.image_guidance_scale
        if editing and image_guidance_scale is None:
            image_guidance_scale = DEFAULT_EDITING_IMAGE_GUIDANCE_SCALE
        return dataclasses.replace(
            self,
            guidance_scale=guidance_scale,
            image_guidance_scale=image_guidance_scale,
            cd_top_k=min(DEFAULT_CD_TOP_K, image_vocab_size) if self.cd_top_k is None else self.cd_top_k,
            cd_alpha=DEFAULT_CD_ALPHA if self.cd_alpha is None else self.cd_alpha,
        )

    def is_guided(self, editing: bool) -> bool:
        """Whether the unconditional stream (and, editing, the image-only one) is decoded: without guidance (scales
        of 1, 'sample') the conditional stream runs alone, which is exactly plain sampling."""
        scales = [self.guidance_scale, self.image_guidance_scale] if editing else [self.guidance_scale]
        return any(scale != 1 for scale in scales) or self.decoding_strategy != "sample"

    def validate(self, image_vocab_size: int | None = None, editing: bool = False) -> None:
        """Raise a `ValueError` / `TypeError` naming the first setting that is not allowed, its value and what is.

        Args:
            image_vocab_size (`int`, *optional*): Bounds `top_k` and `cd_top_k` (the model's image vocabulary).
            editing (`bool`): Whether the settings are for image editing (three streams).
        """
        if self.guidance_scale is not None:
            check_number("guidance_scale", self.guidance_scale, 0, MAX_GUIDANCE_SCALE)
        if self.image_guidance_scale is not None:
            if not editing:
                raise ValueError(
                    f"`image_guidance_scale`={self.image_guidance_scale!r} is the image scale of image editing; this "
                    "generation has no input image to guide with."
                )
            check_number("image_guidance_scale", self.image_guidance_scale, 0, MAX_GUIDANCE_SCALE)
        check_choice("decoding_strategy", self.decoding_strategy, DECODING_STRATEGIES)
        if editing and self.decoding_strategy != "sample":
            raise ValueError(
                f"`decoding_strategy`={self.decoding_strategy!r} contrasts a conditional and an unconditional stream; "
                "image editing (three streams) supports 'sample' only."
            )
        check_bool("do_sample", self.do_sample)
        check_number("temperature", self.temperature, 0, exclusive_minimum=True)
        high = image_vocab_size
        if self.top_k is not None:
            check_int("top_k", self.top_k, 1, high)
        if self.top_p is not None:
            check_number("top_p", self.top_p, 0, 1, exclusive_minimum=True)
        if self.cd_top_k is not None:
            check_int("cd_top_k", self.cd_top_k, 1, high)
        if self.cd_alpha is not None:
            check_number("cd_alpha", self.cd_alpha, 0, 1)
        if self.decoding_strategy == "cd-k" and (self.top_k is not None or self.top_p is not None):
            raise ValueError(
                "`top_k` / `top_p` filter 'sample' draws; with decoding_strategy='cd-k' they would be unused."
            )
        if self.decoding_strategy == "sample" and (self.cd_top_k is not None or self.cd_alpha is not None):
            raise ValueError("`cd_top_k` / `cd_alpha` set CD-K; use decoding_strategy='cd-k' or 'mixture'.")
        if not self.do_sample and (self.top_k is not None or self.top_p is not None or self.temperature != 1.0):
            raise ValueError(
                "`temperature`, `top_k` and `top_p` shape a draw; with `do_sample=False` they would be unused."
            )
        if self.parallel_decoding is not None:
            check_choice("parallel_decoding", self.parallel_decoding, PARALLEL_DECODING)
        check_int("draft_length", self.draft_length, 1, 256)
        check_choice("cache_implementation", self.cache_implementation, CACHE_IMPLEMENTATIONS)
        check_bool("compile", self.compile)
        if self.compile and self.cache_implementation != "static":
            raise ValueError("`compile=True` needs `cache_implementation='static'` (fixed shapes across steps).")
        if self.parallel_decoding is not None and self.cache_implementation != "static":
            raise ValueError(
                f"`parallel_decoding`={self.parallel_decoding!r} rolls rejected drafts back in a preallocated cache: it "
                "needs `cache_implementation='static'`."
            )


def model_defaults(generation_config, task: str) -> dict:
    """A model's declared generation settings for `task` (`generation_config.image_generation_defaults`), checked;
    without `rerank` (see `model_rerank`)."""
    defaults = _declared(generation_config, task)
    defaults.pop("rerank", None)
    return defaults


def model_rerank(generation_config, task: str) -> int:
    """The best-of-N a model declares for `task`'s pipeline (`image_generation_defaults[task]["rerank"]`), or 1."""
    rerank = _declared(generation_config, task).get("rerank", 1)
    return check_int(f"generation_config.image_generation_defaults[{task!r}]['rerank']", rerank, 1)


def _declared(generation_config, task: str) -> dict:
    per_task = getattr(generation_config, "image_generation_defaults", None) or {}
    if not isinstance(per_task, Mapping):
        raise TypeError(
            "`generation_config.image_generation_defaults` must map task names to dicts of generation settings, got "
            f"{describe(per_task)}."
        )
    defaults = per_task.get(task, {})
    if not isinstance(defaults, Mapping):
        raise TypeError(
            f"`generation_config.image_generation_defaults[{task!r}]` must be a dict of generation settings, got "
            f"{describe(defaults)}."
        )
    return dict(defaults)


def set_image_generation_defaults(generation_config, task: str, rerank: int | None = None, **settings) -> None:
    """Declare `settings` as the model's defaults for `task` (what its pipelines use when the caller leaves a setting
    unset), checked, in `generation_config.image_generation_defaults[task]`. `rerank` (text-to-image and inpainting)
    is the pipeline's best-of-N: candidates drawn per image, the best kept by CLIP when the caller gives one, otherwise
    by the model's own likelihood.

    The generation config is then marked as a config of its own: transformers re-derives one flagged as built from
    the model config (`_from_model_config`) when loading it, which would drop the defaults silently.

    Example:

    ```python
    >>> from transformers import GenerationConfig
    >>> from transformers_cm3leon.generation import set_image_generation_defaults

    >>> generation_config = GenerationConfig()
    >>> set_image_generation_defaults(generation_config, "text-to-image", guidance_scale=3.0, top_k=64)
    >>> generation_config.image_generation_defaults
    {'text-to-image': {'guidance_scale': 3.0, 'top_k': 64}}
    ```
    """
    check_choice("task", task, TASKS)
    CM3LeonImageGenerationConfig.from_defaults(settings).validate(editing=task == "image-editing")
    declared = dict(settings)
    if rerank is not None:
        if task not in RERANK_TASKS:
            raise ValueError(f"`rerank` is a default of the {list(RERANK_TASKS)} pipelines, not of {task!r}.")
        declared["rerank"] = check_int("rerank", rerank, 1)
    per_task = dict(getattr(generation_config, "image_generation_defaults", None) or {})
    per_task[task] = declared
    generation_config.image_generation_defaults = per_task
    generation_config._from_model_config = False


__all__ = [
    "CM3LeonImageGenerationConfig",
    "DECODING_STRATEGIES",
    "TASKS",
    "model_defaults",
    "model_rerank",
    "set_image_generation_defaults",
]
