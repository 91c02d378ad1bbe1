# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The logits processors of image generation: classifier-free guidance over in-batch streams (two for text-to-image,
three for editing) and CM3Leon's contrastive decoding top-K (CD-K).

Scores arrive stream-major: `scores[s * R + r]` is stream `s` of image `r` (R images).
"""

from __future__ import annotations

import math

import torch
from transformers.generation.logits_process import LogitsProcessor

# CD-K: the paper states neither K nor alpha; alpha=0.5 is the default of Meta's evaluation script, K is our choice.
DEFAULT_CD_TOP_K = 50
DEFAULT_CD_ALPHA = 0.5


class InBatchCFGLogitsProcessor(LogitsProcessor):
    r"""Classifier-free guidance over two in-batch streams: `logits = u + guidance_scale * (c - u)`.

    Mixing raw logits or log-probabilities gives the same distribution (they differ by a constant per row), so this
    equals transformers' `UnbatchedClassifierFreeGuidanceLogitsProcessor` while needing no second forward.

    Args:
        guidance_scale (`float`): 1 gives the conditional logits, 0 the unconditional ones.

    Call with `scores` of shape `(2 * R, vocab)`, conditional rows first; returns `(R, vocab)`.
    """

    def __init__(self, guidance_scale: float):
        self.guidance_scale = guidance_scale

    def __call__(self, input_ids: torch.LongTensor | None, scores: torch.FloatTensor) -> torch.FloatTensor:
        cond, uncond = _split_streams(scores, 2)
        return uncond + self.guidance_scale * (cond - uncond)


class InBatchInstructCFGLogitsProcessor(LogitsProcessor):
    r"""InstructPix2Pix-style guidance over three in-batch streams (full, image-only, unconditional):

        logits = u + image_guidance_scale * (i - u) + guidance_scale * (f - i)

    Args:
        guidance_scale (`float`): Weight of the instruction text (the paper: 7.5).
        image_guidance_scale (`float`): Weight of the input image (the paper: 1.5).

    Call with `scores` of shape `(3 * R, vocab)` ordered full, image-only, unconditional; returns `(R, vocab)`.
    """

    def __init__(self, guidance_scale: float, image_guidance_scale: float):
        self.guidance_scale = guidance_scale
        self.image_guidance_scale = image_guidance_scale

    def __call__(self, input_ids: torch.LongTensor | None, scores: torch.FloatTensor) -> torch.FloatTensor:
        full, image, uncond = _split_streams(scores, 3)
        return uncond + self.image_guidance_scale * (image - uncond) + self.guidance_scale * (full - image)


class ContrastiveTopKLogitsProcessor(LogitsProcessor):
    r"""CM3Leon's contrastive decoding top-K (CD-K), with the unconditional stream as the "amateur":

        V = {t : p_cond(t) >= alpha * (K-th largest p_cond)}
        score(t) = log p_cond(t) - log p_uncond(t)   for t in V,   -inf elsewhere

    V always holds the K most likely conditional tokens (alpha <= 1), so the score is never all -inf. Sample from
    `softmax(score / temperature)` or take its argmax.

    Args:
        top_k (`int`): K.
        alpha (`float`): In [0, 1]; 0 keeps every token.

    Call with `scores` of shape `(2 * R, ..., vocab)`, conditional rows first; returns `(R, ..., vocab)`.
    """

    def __init__(self, top_k: int = DEFAULT_CD_TOP_K, alpha: float = DEFAULT_CD_ALPHA):
        self.top_k = top_k
        self.log_alpha = math.log(alpha) if alpha > 0 else -math.inf

    def __call__(self, input_ids: torch.LongTensor | None, scores: torch.FloatTensor) -> torch.FloatTensor:
        cond, uncond = _split_streams(scores, 2)
        log_p_cond = cond.float().log_softmax(-1)
        log_p_uncond = uncond.float().log_softmax(-1)
        kth_largest = log_p_cond.topk(self.top_k, dim=-1).values[..., -1:]
        keep = log_p_cond >= kth_largest + self.log_alpha
        return torch.where(keep, log_p_cond - log_p_uncond, -math.inf)


def _split_streams(scores: torch.Tensor, num_streams: int) -> tuple[torch.Tensor, ...]:
    if scores.shape[0] % num_streams:
        raise ValueError(f"`scores` has {scores.shape[0]} rows, not a multiple of the {num_streams} guidance streams.")
    return scores.chunk(num_streams, dim=0)


__all__ = ["ContrastiveTopKLogitsProcessor", "InBatchCFGLogitsProcessor", "InBatchInstructCFGLogitsProcessor"]
