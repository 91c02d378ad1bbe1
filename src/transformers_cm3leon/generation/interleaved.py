# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Interleaved output: documents that mix text and images, written by one model.

Text is sampled as text (image tokens forbidden). When the model opens an image (`<racm3:break>` after text in the
CM3Leon format; Chameleon's begin-image, the same token, in its format) the image sampler takes over for exactly
`image_seq_length` tokens, with the image-token constraint and the image decoding settings (guidance against the
unconditional prompt included); in the Chameleon format the loop then closes the image with `<eoss>`. Text resumes
after it. Generation stops at `</s>` or when the token budget is spent; an image that would not fit in what is left
of the budget (or of the context) is not started.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers.cache_utils import DynamicCache
from transformers.utils import ModelOutput

from .prompts import GuidanceStreams
from .sampling import filter_top_k_top_p, sample_from_logits


@dataclass
class CM3LeonInterleavedOutput(ModelOutput):
    r"""
    Output of [`~CM3LeonImageGenerationMixin.generate_interleaved`].

    Args:
        sequences (`list[torch.LongTensor]`): For each prompt, the prompt and everything written after it (text
            tokens, `<racm3:break>`, image tokens, `<eoss>`, ...), without padding. Split it into text and images
            with `processor.decode_segments(sequence[prompt_length:])`.
        num_images (`list[int]`): Images written after each prompt.
        finish_reasons (`list[str]`): `"eos"` (the model wrote `</s>`), `"length"` (the token budget or the context
            ran out).
    """

    sequences: list | None = None
    num_images: list | None = None
    finish_reasons: list | None = None


@dataclass
class TextSettings:
    """How text is sampled between images."""

    do_sample: bool = True
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None


def write_interleaved(
    model,
    prompt: torch.LongTensor,
    max_new_tokens: int,
    text: TextSettings,
    image_settings,
    sequence_format: str,
    generator: torch.Generator | None,
    progress_bar: bool,
) -> tuple[torch.LongTensor, int, str]:
    """Continue one prompt `(length,)`; returns the sequence, the number of images and the finish reason."""
    config = model.config
    device = model.device
    image_ids = torch.tensor(list(config.image_token_ids), device=device)
    sequence = prompt.to(device)
    budget = max_new_tokens
    cache = DynamicCache(config=config)
    pending = sequence  # tokens not yet in the text cache
    num_images, after_image = 0, False
    while budget > 0:
        logits = model(input_ids=pending[None], past_key_values=cache, use_cache=True).logits[0, -1].float()
        logits[image_ids] = -torch.inf  # text is text: image tokens only inside an image
        token = _sample_text_token(logits, text, generator)
        sequence = torch.cat([sequence, token[None]])
        budget -= 1
        pending = token[None]
        if int(token) == config.eos_token_id:
            return sequence, num_images, "eos"
        opens_image = int(token) == config.break_token_id and (sequence_format == "chameleon" or not after_image)
        after_image = False
        if not opens_image:
            continue
        closing = 1 if sequence_format == "chameleon" else 0
        if budget < config.image_seq_length + closing or len(sequence) + config.image_seq_length + closing > (
            config.max_position_embeddings
        ):
            return sequence[:-1], num_images, "length"  # no room for the image it opened
        image = _draw_image(model, sequence, image_settings, generator, progress_bar)
        close = [config.eoss_token_id] * closing
        pending = torch.cat([image, torch.tensor(close, dtype=torch.long, device=device)])
        sequence = torch.cat([sequence, pending])
        budget -= len(pending)
        num_images += 1
        after_image = True
    return sequence, num_images, "length"


def _sample_text_token(logits: torch.Tensor, text: TextSettings, generator) -> torch.LongTensor:
    if not text.do_sample:
        return logits.argmax(-1)
    scores = logits / text.temperature
    if text.top_k is not None or text.top_p is not None:
        scores = filter_top_k_top_p(scores, text.top_k, text.top_p)
    uniform = torch.rand((), generator=generator, device=generator.device if generator is not None else logits.device)
    return sample_from_logits(scores, uniform.to(logits.device))


def _draw_image(model, sequence: torch.LongTensor, settings, generator, progress_bar: bool) -> torch.LongTensor:
    """The image tokens after `sequence` (which ends with the image's opening token), guided against the
    unconditional prompt."""
    from ..sequence_format import unconditional_input_ids

    prompts = [sequence[None]]
    if settings.is_guided(editing=False):
        prompts.append(torch.tensor([unconditional_input_ids(model.config)], device=model.device))
    length = max(p.shape[1] for p in prompts)
    ids = torch.cat(
        [torch.nn.functional.pad(p, (length - p.shape[1], 0), value=model.config.pad_token_id) for p in prompts]
    )
    mask = torch.cat([torch.nn.functional.pad(torch.ones_like(p), (length - p.shape[1], 0)) for p in prompts])
    streams = GuidanceStreams(input_ids=ids, attention_mask=mask, num_streams=len(prompts), num_images=1)
    generators = None if generator is None else [generator]
    token_ids, _, _ = model._draw_image_tokens(
        streams, model.config.image_seq_length, settings, 1, generators, progress_bar, None
    )
    return token_ids[0]


__all__ = ["CM3LeonInterleavedOutput", "TextSettings", "write_interleaved"]
