# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Image generation for CM3Leon.

- `configuration.py`  CM3LeonImageGenerationConfig: every setting, its default and allowed values
- `logits_process.py` classifier-free guidance over in-batch streams, contrastive decoding top-K
- `sampling.py`       the sampler: guidance mix, temperature / top-k / top-p or CD-K, draws at pre-drawn uniforms
- `prompts.py`        the guidance streams of a generation (checked, repeated per image, left-padded)
- `decoding.py`       the sequential loop: prefill, decode_one_token, decode_n_tokens
- `speculative.py`    speculative Jacobi decoding: several image tokens per forward
- `scoring.py`        the model's own score of a picture, log p(image | prompt) (best-of-N without CLIP)
- `mixin.py`          the public API: generate_images, generate_text
"""

from .configuration import CM3LeonImageGenerationConfig, set_image_generation_defaults
from .logits_process import (
    ContrastiveTopKLogitsProcessor,
    InBatchCFGLogitsProcessor,
    InBatchInstructCFGLogitsProcessor,
)
from .mixin import CM3LeonImageGenerationMixin, CM3LeonImageGenerationOutput, text_generation_config
from .sampling import ImageTokenSampler, draw_uniforms, sample_from_logits

__all__ = [
    "CM3LeonImageGenerationConfig",
    "CM3LeonImageGenerationMixin",
    "CM3LeonImageGenerationOutput",
    "ContrastiveTopKLogitsProcessor",
    "ImageTokenSampler",
    "InBatchCFGLogitsProcessor",
    "InBatchInstructCFGLogitsProcessor",
    "draw_uniforms",
    "sample_from_logits",
    "set_image_generation_defaults",
    "text_generation_config",
]
