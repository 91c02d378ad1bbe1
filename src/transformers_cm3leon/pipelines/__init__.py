# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""CM3Leon pipelines for `transformers.pipeline`.

- `text_to_image.py`    CM3LeonTextToImagePipeline, task "text-to-image"
- `image_editing.py`    CM3LeonImageEditingPipeline, task "image-editing" ("image-to-image" is blocked by transformers)
- `image_inpainting.py` CM3LeonImageInpaintingPipeline, task "image-inpainting" (CM3's infilling)
- `interleaved_generation.py` CM3LeonInterleavedGenerationPipeline, task "image-text-to-image-text"
- `image_generation.py` what the image pipelines share: settings, batched sampling, decoding, outputs
- `reranking.py`        best-of-N by CLIP score (the text-to-image pipeline's `rerank`)
- `pipeline_output.py`  CM3LeonImagePipelineOutput, the diffusers-style output with `.images`
- `super_resolution.py` the optional Swin2SR stage after VQ decoding

Captioning and VQA need no pipeline of their own: transformers' "image-text-to-text" pipeline runs CM3Leon once
`register_pipelines` has registered the model with `AutoModelForImageTextToText` (the processor turns `<image>`
placeholders into image tokens, `generate` writes the text).
"""

from transformers import AutoModelForCausalLM, AutoModelForImageTextToText

from ..configuration_cm3leon import CM3LeonConfig
from ..modeling_cm3leon import CM3LeonForCausalLM
from .image_editing import CM3LeonImageEditingPipeline
from .image_generation import CM3LeonImageGenerationPipeline
from .image_inpainting import CM3LeonImageInpaintingPipeline
from .interleaved_generation import CM3LeonInterleavedGenerationPipeline, CM3LeonInterleavedPipelineOutput
from .pipeline_output import CM3LeonImagePipelineOutput
from .super_resolution import load_upscaler, upscale_images
from .text_to_image import CM3LeonTextToImagePipeline

PIPELINE_TASKS = {
    "text-to-image": CM3LeonTextToImagePipeline,
    "image-editing": CM3LeonImageEditingPipeline,
    "image-inpainting": CM3LeonImageInpaintingPipeline,
    "image-text-to-image-text": CM3LeonInterleavedGenerationPipeline,
}


class _TaskWithoutDefaultModel(dict):
    """A task entry of transformers' pipeline registry with no default model: `pipeline(task)` without `model=`
    raises a clear error instead of transformers' bare `KeyError: 'default'`. No public CM3Leon checkpoint exists to
    be a default."""

    def __missing__(self, key):
        if key == "default":
            raise ValueError(
                f"The {self['impl'].__name__} task has no default model: pass one, e.g. "
                "`pipeline(task, model='path/or/id/of/a/cm3leon/model')`."
            )
        raise KeyError(key)


def register_pipelines() -> None:
    """Register the CM3Leon pipeline tasks with `transformers.pipeline`; the package calls this on import.

    - "text-to-image" -> [`CM3LeonTextToImagePipeline`], "image-editing" -> [`CM3LeonImageEditingPipeline`], both
      loading the model with `AutoModelForCausalLM`.
    - `AutoModelForImageTextToText` -> `CM3LeonForCausalLM`, so that transformers' own "image-text-to-text"
      pipeline (captioning, VQA) loads a CM3Leon folder.

    Calling it again changes nothing.
    """
    from transformers.pipelines import PIPELINE_REGISTRY

    from ..default_model import default_model_path, has_default_model

    # The model shipped in the package (`default_model`) is the default, when this installation has its weights.
    default = {"model": (default_model_path(), "main")} if has_default_model() else None
    for task, pipeline_class in PIPELINE_TASKS.items():
        registered = PIPELINE_REGISTRY.supported_tasks.get(task)
        if registered is not None and registered["impl"] is pipeline_class:
            continue
        PIPELINE_REGISTRY.register_pipeline(
            task, pipeline_class=pipeline_class, pt_model=AutoModelForCausalLM, default=default, type="multimodal"
        )
        if default is not None:
            continue
        entry = _TaskWithoutDefaultModel(PIPELINE_REGISTRY.supported_tasks[task])
        PIPELINE_REGISTRY.supported_tasks[task] = entry
        pipeline_class._registered_impl = {task: entry}
    AutoModelForImageTextToText.register(CM3LeonConfig, CM3LeonForCausalLM, exist_ok=True)


__all__ = [
    "CM3LeonImageEditingPipeline",
    "CM3LeonImageGenerationPipeline",
    "CM3LeonImageInpaintingPipeline",
    "CM3LeonInterleavedGenerationPipeline",
    "CM3LeonInterleavedPipelineOutput",
    "CM3LeonImagePipelineOutput",
    "CM3LeonTextToImagePipeline",
    "PIPELINE_TASKS",
    "load_upscaler",
    "register_pipelines",
    "upscale_images",
]
