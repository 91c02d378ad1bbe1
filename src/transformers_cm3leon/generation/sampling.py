# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""From the image logits of all guidance streams to one image code per image: the guidance mix, temperature, top-k /
top-p or CD-K, and a draw by inverting the CDF at uniforms drawn before the loop (so a prompt gets the same images
alone or batched)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .logits_process import (
    DEFAULT_CD_ALPHA,
    DEFAULT_CD_TOP_K,
    ContrastiveTopKLogitsProcessor,
    InBatchCFGLogitsProcessor,
    InBatchInstructCFGLogitsProcessor,
)

# Text-to-image: Meta's demo default (the paper only plots its sweep). Editing: the paper's §4.1 values.
DEFAULT_GUIDANCE_SCALE = 3.0
DEFAULT_EDITING_GUIDANCE_SCALE = 7.5
DEFAULT_EDITING_IMAGE_GUIDANCE_SCALE = 1.5


def draw_uniforms(
    generator: torch.Generator | Sequence[torch.Generator] | None,
    num_prompts: int,
    num_images_per_prompt: int,
    num_tokens: int,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """The uniforms in [0, 1) that drive sampling, shape `(num_tokens, num_prompts * num_images_per_prompt)`.

    - `None`: torch's global RNG draws all of them.
    - one `torch.Generator`: it draws all of them (`(images, tokens)` in one call).
    - a list of `num_prompts` generators: generator `b` draws the `(num_images_per_prompt, tokens)` block of prompt
      `b`; a list of `num_prompts * num_images_per_prompt` generators: one per image (diffusers' convention).

    Each generator draws its block in one call on its own device, so prompt `b` gets the same uniforms whether it is
    generated alone (with `generator=g` or `[g]`) or batched with others (with a list): batched and one-at-a-time
    generation sample the same tokens.
    """
    num_images = num_prompts * num_images_per_prompt
    if generator is None or isinstance(generator, torch.Generator):
        device_of_draw = generator.device if generator is not None else device
        uniforms = torch.rand((num_images, num_tokens), generator=generator, device=device_of_draw)
    else:
        rows_per_generator = num_images // len(generator)
        uniforms = torch.cat(
            [torch.rand((rows_per_generator, num_tokens), generator=g, device=g.device).to(device) for g in generator]
        )
    # Token-major and contiguous, so the loop reads one row per step.
    return uniforms.to(device).t().contiguous()


def sample_from_logits(logits: torch.Tensor, uniforms: torch.Tensor) -> torch.LongTensor:
    """Draw one index per row of `logits` (`-inf` = excluded) by inverting the CDF at the given uniforms.

    Exactly a categorical draw from `softmax(logits)`: the CDF is accumulated in float64, so `u * total < total` for
    every `u < 1` and excluded tokens (zero mass) are never chosen. Works on any leading shape: `logits` `(..., vocab)`
    and `uniforms` `(...)`.
    """
    cdf = logits.float().softmax(-1).to(torch.float64).cumsum(-1)
    target = uniforms.to(torch.float64).unsqueeze(-1) * cdf[..., -1:]
    return torch.searchsorted(cdf, target, right=True).squeeze(-1).clamp_(max=logits.shape[-1] - 1)


def filter_top_k_top_p(scores: torch.Tensor, top_k: int | None, top_p: float | None) -> torch.Tensor:
    """transformers' `TopKLogitsWarper` then `TopPLogitsWarper`, with one partial sort: top-p runs on the `top_k`
    values that `topk` returns already sorted (on the whole row, sorted once, without `top_k`). Excluded tokens get
    `-inf`; the most likely token is always kept."""
    k = scores.shape[-1] if top_k is None else min(top_k, scores.shape[-1])
    values, indices = scores.topk(k, dim=-1) if top_k is not None else scores.sort(dim=-1, descending=True)
    if top_p is not None and top_p < 1.0:
        probs = values.softmax(-1)
        # Keep a token while the mass of the tokens ranked above it is below top_p (TopPLogitsWarper's rule).
        drop = (probs.cumsum(-1) - probs) >= top_p
        drop[..., 0] = False
        values = values.masked_fill(drop, -math.inf)
    return torch.full_like(scores, -math.inf).scatter_(-1, indices, values)


# Added to the logits of the codes an image position cannot take: finite, so that the guidance mixes
# (`cond + s * (cond - uncond)`) and CD-K's ratios of the streams stay finite; exp() of it is 0 in float32.
EXCLUDED_LOGIT = -1e9


def image_logit_bias(config, num_tokens: int, ends_image: bool, device=None) -> torch.FloatTensor | None:
    """`(num_tokens, image_vocab_size)`: 0 for the codes each drawn position may take, `EXCLUDED_LOGIT` for the
    others, for a model with palette codes (`config.num_palette_tokens`): a palette code is the last token of an image
    and only that (`ends_image`: the last of the `num_tokens` is an image's last). `None` without palette codes."""
    num_palette = getattr(config, "num_palette_tokens", 0)
    if not num_palette:
        return None
    bias = torch.zeros(num_tokens, config.image_vocab_size, device=device)
    bias[:, config.image_vocab_size - num_palette :] = EXCLUDED_LOGIT
    if ends_image:
        bias[-1] = EXCLUDED_LOGIT
        bias[-1, config.image_vocab_size - num_palette :] = 0.0
    return bias


class ImageTokenSampler:
    """Turns the image logits of all guidance streams into one image code per image.

    Each image follows `decoding_strategy`:

    - `"sample"`: the guidance mix (CFG, or the three-stream editing mix), then `temperature`, `top_k` and `top_p`
      (in that order, as transformers' warpers), then a draw; with `do_sample=False` the argmax of the mix.
    - `"cd-k"`: CD-K scores from the conditional and unconditional streams (no CFG mix) divided by `temperature`,
      then a draw; with `do_sample=False` their argmax.
    - `"mixture"` (the paper's "1/2 TopP + 1/2 CD-K"): of the N = `num_images_per_prompt` images of each prompt, the
      first `ceil(N / 2)` use `"sample"` and the other `floor(N / 2)` use `"cd-k"`.

    Args:
        num_streams (`int`): 1 (no guidance), 2 (conditional, unconditional) or 3 (full, image-only, unconditional).
        num_images (`int`): R, the number of images (rows of each stream).
        Other arguments: as in [`CM3LeonImageGenerationConfig`].
    """

    def __init__(
        self,
        num_streams: int,
        num_images: int,
        num_images_per_prompt: int = 1,
        decoding_strategy: str = "sample",
        do_sample: bool = True,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        cd_top_k: int = DEFAULT_CD_TOP_K,
        cd_alpha: float = DEFAULT_CD_ALPHA,
        guidance_scale: float = DEFAULT_GUIDANCE_SCALE,
        image_guidance_scale: float | None = None,
        device: torch.device | str = "cpu",
    ):
        self.num_streams = num_streams
        self.do_sample = do_sample
        self.temperature = temperature
        self.guidance = None
        if num_streams == 2:
            self.guidance = InBatchCFGLogitsProcessor(guidance_scale)
        elif num_streams == 3:
            self.guidance = InBatchInstructCFGLogitsProcessor(guidance_scale, image_guidance_scale)
        # Temperature, top-k and top-p keep the argmax, so greedy decoding skips them.
        self.top_k = top_k if do_sample else None
        self.top_p = top_p if do_sample and top_p is not None and top_p < 1.0 else None
        self.use_guided_scores = decoding_strategy != "cd-k"
        self.contrastive = (
            ContrastiveTopKLogitsProcessor(cd_top_k, cd_alpha) if decoding_strategy != "sample" else None
        )
        # "mixture": a (R, 1) mask of the images that use CD-K.
        self.contrastive_rows = None
        if decoding_strategy == "mixture":
            index_in_prompt = torch.arange(num_images, device=device) % num_images_per_prompt
            self.contrastive_rows = (index_in_prompt >= math.ceil(num_images_per_prompt / 2)).unsqueeze(-1)

    def scores(
        self, stream_logits: torch.FloatTensor, logit_bias: torch.FloatTensor | None = None
    ) -> torch.FloatTensor:
        """The scores each image's code is drawn from: `(num_streams * R, ..., image_vocab)` -> `(R, ...,
        image_vocab)`, excluded codes at `-inf`. `softmax` over the last dimension is the distribution the sampler
        draws from. `logit_bias` (`image_logit_bias`, broadcast to `(R, ..., image_vocab)`) rules out the codes an
        image position cannot take: added to every stream's logits first (so guidance, top-k and CD-K rank only the
        codes allowed), and those codes' scores end at `-inf`."""
        if logit_bias is not None:
            stream_logits = (stream_logits.unflatten(0, (self.num_streams, -1)) + logit_bias).flatten(0, 1)
        scores = None
        if self.use_guided_scores:
            scores = stream_logits if self.guidance is None else self.guidance(None, stream_logits)
            if self.do_sample:
                if self.temperature != 1.0:
                    scores = scores / self.temperature
                if self.top_k is not None or self.top_p is not None:
                    scores = filter_top_k_top_p(scores, self.top_k, self.top_p)
        if self.contrastive is not None:
            contrastive = self.contrastive(None, stream_logits)
            if self.do_sample and self.temperature != 1.0:
                contrastive = contrastive / self.temperature
            if scores is None:
                scores = contrastive
            else:  # "mixture": CD-K rows, per image (and per window position, with parallel decoding)
                rows = self.contrastive_rows.view(-1, *([1] * (scores.dim() - 1)))
                scores = torch.where(rows, contrastive, scores)
        if logit_bias is not None:
            scores = scores.masked_fill(logit_bias < 0, -math.inf)
        return scores

    def __call__(
        self,
        stream_logits: torch.FloatTensor,
        uniforms: torch.Tensor | None,
        logit_bias: torch.FloatTensor | None = None,
    ) -> tuple[torch.LongTensor, torch.FloatTensor]:
        """`stream_logits` `(num_streams * R, image_vocab)` -> (codes `(R,)`, the scores they were drawn from)."""
        scores = self.scores(stream_logits, logit_bias)
        if not self.do_sample:
            return scores.argmax(-1), scores
        return sample_from_logits(scores, uniforms), scores


__all__ = [
    "DEFAULT_EDITING_GUIDANCE_SCALE",
    "DEFAULT_EDITING_IMAGE_GUIDANCE_SCALE",
    "DEFAULT_GUIDANCE_SCALE",
    "EXCLUDED_LOGIT",
    "ImageTokenSampler",
    "draw_uniforms",
    "image_logit_bias",
    "filter_top_k_top_p",
    "sample_from_logits",
]
