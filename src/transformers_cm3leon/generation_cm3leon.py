# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Image-token sampling for CM3Leon: batched classifier-free guidance, contrastive decoding top-K, CLIP self-rerank.

An image is `config.image_seq_length` tokens from the image-token range, drawn one at a time after a prompt that ends
with `<racm3:break>`; `<eoss>` closes it. Every guidance stream of every image runs in ONE forward per step:

    rows = [cond_0 .. cond_{R-1} | (image_0 .. image_{R-1}) | uncond_0 .. uncond_{R-1}]      (R = images)

and the token sampled for image r is appended to all of its streams. The loop follows LlamaGen's `prefill` /
`decode_one_token` / `decode_n_tokens` split over a preallocated transformers `StaticCache`, computes logits only over
the image-token rows of `lm_head`, and draws all its randomness up front (one uniform per image per token), so a
batch of prompts with one generator each gives the same images as one prompt at a time.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm
from transformers import GenerationConfig
from transformers.cache_utils import Cache, DynamicCache, StaticCache
from transformers.generation.logits_process import LogitsProcessor, TopKLogitsWarper, TopPLogitsWarper
from transformers.utils import ModelOutput, logging

logger = logging.get_logger(__name__)

DECODING_STRATEGIES = ("sample", "cd-k", "mixture")
CACHE_IMPLEMENTATIONS = ("static", "dynamic")
# Text-to-image: Meta's demo default (the paper only plots its sweep). Editing: the paper's §4.1 values.
DEFAULT_GUIDANCE_SCALE = 3.0
DEFAULT_EDITING_GUIDANCE_SCALE = 7.5
DEFAULT_EDITING_IMAGE_GUIDANCE_SCALE = 1.5
# CD-K: the paper states neither K nor alpha; alpha=0.5 is the default of Meta's evaluation script, K is our choice.
DEFAULT_CD_TOP_K = 50
DEFAULT_CD_ALPHA = 0.5
# The CLIP used for self-rerank is not stated in the paper; this public one is loaded only by `load_clip_reranker`.
DEFAULT_CLIP_RERANK_MODEL = "openai/clip-vit-large-patch14"

# `callback_on_step_end(step, image_token_ids, scores) -> bool | None`; returning True stops generation.
StepCallback = Callable[[int, torch.LongTensor, torch.FloatTensor], "bool | None"]


# ----------------------------------------------------------------------------------------------------------------------
# Logits processors. Scores arrive stream-major: `scores[s * R + r]` is stream `s` of image `r`.
# ----------------------------------------------------------------------------------------------------------------------
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

    Call with `scores` of shape `(2 * R, vocab)`, conditional rows first; returns `(R, vocab)`.
    """

    def __init__(self, top_k: int = DEFAULT_CD_TOP_K, alpha: float = DEFAULT_CD_ALPHA):
        self.top_k = top_k
        self.log_alpha = math.log(alpha) if alpha > 0 else -math.inf

    def __call__(self, input_ids: torch.LongTensor | None, scores: torch.FloatTensor) -> torch.FloatTensor:
        cond, uncond = _split_streams(scores, 2)
        log_p_cond = cond.float().log_softmax(-1)
        log_p_uncond = uncond.float().log_softmax(-1)
        kth_largest = log_p_cond.topk(self.top_k, dim=-1).values[:, -1:]
        keep = log_p_cond >= kth_largest + self.log_alpha
        return torch.where(keep, log_p_cond - log_p_uncond, -math.inf)


def _split_streams(scores: torch.Tensor, num_streams: int) -> tuple[torch.Tensor, ...]:
    if scores.shape[0] % num_streams:
        raise ValueError(f"`scores` has {scores.shape[0]} rows, not a multiple of the {num_streams} guidance streams.")
    return scores.chunk(num_streams, dim=0)


# ----------------------------------------------------------------------------------------------------------------------
# Randomness: every random draw of a generation is made before the loop, one uniform per image per token.
# ----------------------------------------------------------------------------------------------------------------------
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
    every `u < 1` and excluded tokens (zero mass) are never chosen.

    Args:
        logits (`torch.Tensor` of shape `(rows, vocab)`): Unnormalised log-probabilities.
        uniforms (`torch.Tensor` of shape `(rows,)`): Numbers in [0, 1), one per row.
    """
    cdf = logits.float().softmax(-1).to(torch.float64).cumsum(-1)
    target = uniforms.to(torch.float64).unsqueeze(-1) * cdf[:, -1:]
    return torch.searchsorted(cdf, target, right=True).squeeze(-1).clamp_(max=logits.shape[-1] - 1)


class ImageTokenSampler:
    """Turns the image logits of all guidance streams into one image code per image.

    Each image follows `decoding_strategy`:

    - `"sample"`: the guidance mix (CFG, or the three-stream editing mix), then `temperature`, `top_k` and `top_p`
      (transformers' warpers, in that order), then a draw; with `do_sample=False` the argmax of the mix.
    - `"cd-k"`: CD-K scores from the conditional and unconditional streams (no CFG mix) divided by `temperature`,
      then a draw; with `do_sample=False` their argmax.
    - `"mixture"` (the paper's "1/2 TopP + 1/2 CD-K"): of the N = `num_images_per_prompt` images of each prompt, the
      first `ceil(N / 2)` use `"sample"` and the other `floor(N / 2)` use `"cd-k"`.

    Args:
        num_streams (`int`): 1 (no guidance), 2 (conditional, unconditional) or 3 (full, image-only, unconditional).
        num_images (`int`): R, the number of images (rows of each stream).
        Other arguments: as in [`~CM3LeonImageGenerationMixin.generate_images`].
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
        self.do_sample = do_sample
        self.temperature = temperature
        self.guidance = None
        if num_streams == 2:
            self.guidance = InBatchCFGLogitsProcessor(guidance_scale)
        elif num_streams == 3:
            self.guidance = InBatchInstructCFGLogitsProcessor(guidance_scale, image_guidance_scale)
        # Temperature, top-k and top-p keep the argmax, so greedy decoding skips them.
        self.warpers = []
        if do_sample and top_k is not None:
            self.warpers.append(TopKLogitsWarper(top_k))
        if do_sample and top_p is not None and top_p < 1.0:
            self.warpers.append(TopPLogitsWarper(top_p))
        self.use_guided_scores = decoding_strategy != "cd-k"
        self.contrastive = (
            ContrastiveTopKLogitsProcessor(cd_top_k, cd_alpha) if decoding_strategy != "sample" else None
        )
        # "mixture": a (R, 1) mask of the images that use CD-K.
        self.contrastive_rows = None
        if decoding_strategy == "mixture":
            index_in_prompt = torch.arange(num_images, device=device) % num_images_per_prompt
            self.contrastive_rows = (index_in_prompt >= math.ceil(num_images_per_prompt / 2)).unsqueeze(-1)

    def __call__(
        self, stream_logits: torch.FloatTensor, uniforms: torch.Tensor | None
    ) -> tuple[torch.LongTensor, torch.FloatTensor]:
        """`stream_logits` `(num_streams * R, image_vocab)` -> (codes `(R,)`, the scores they were drawn from)."""
        scores = None
        if self.use_guided_scores:
            scores = stream_logits if self.guidance is None else self.guidance(None, stream_logits)
            if self.do_sample:
                if self.temperature != 1.0:
                    scores = scores / self.temperature
                for warper in self.warpers:
                    scores = warper(None, scores)
        if self.contrastive is not None:
            contrastive = self.contrastive(None, stream_logits)
            if self.do_sample and self.temperature != 1.0:
                contrastive = contrastive / self.temperature
            scores = contrastive if scores is None else torch.where(self.contrastive_rows, contrastive, scores)
        if not self.do_sample:
            return scores.argmax(-1), scores
        return sample_from_logits(scores, uniforms), scores


# ----------------------------------------------------------------------------------------------------------------------
# The loop: prefill, decode_one_token, decode_n_tokens.
# ----------------------------------------------------------------------------------------------------------------------
def image_logits(model, hidden_states: torch.Tensor) -> torch.FloatTensor:
    """Logits over the image tokens only: `hidden @ lm_head.weight[image_ids].T`.

    The image ids are one contiguous range, so the weight slice is a view: this costs `image_vocab / vocab` of the
    full head and equals the full logits with every non-image token masked to -inf.
    """
    config = model.config
    rows = slice(config.image_token_offset, config.image_token_offset + config.image_vocab_size)
    head = model.lm_head
    if type(head) is not nn.Linear:  # a wrapped head (e.g. PEFT adapters): run it whole, then keep the image rows
        return head(hidden_states)[..., rows]
    bias = head.bias[rows] if head.bias is not None else None
    return F.linear(hidden_states, head.weight[rows], bias)


def _forward_and_sample(model, input_ids, attention_mask, position_ids, past_key_values, sampler, uniforms):
    hidden = model.model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids,
        past_key_values=past_key_values,
        use_cache=True,
    ).last_hidden_state
    return sampler(image_logits(model, hidden[:, -1]).float(), uniforms)


def prefill(
    model,
    input_ids: torch.LongTensor,
    attention_mask: torch.Tensor,
    position_ids: torch.LongTensor,
    past_key_values: Cache,
    sampler: ImageTokenSampler,
    uniforms: torch.Tensor | None,
) -> tuple[torch.LongTensor, torch.FloatTensor]:
    """Run the left-padded prompts of all streams (`(rows, prompt_length)`, 2D mask) through the model into the
    cache; draw the first image code of each image. Never compiled (its shape changes with every prompt)."""
    return _forward_and_sample(model, input_ids, attention_mask, position_ids, past_key_values, sampler, uniforms)


def decode_one_token(
    model,
    input_ids: torch.LongTensor,
    attention_mask: torch.Tensor,
    position_ids: torch.LongTensor,
    past_key_values: Cache,
    sampler: ImageTokenSampler,
    uniforms: torch.Tensor | None,
) -> tuple[torch.LongTensor, torch.FloatTensor]:
    """Feed one token per stream (`input_ids` `(rows, 1)`, the mask from `_StreamBatch.advance`); draw the next image
    code of each image.
    This is the step `compile=True` compiles: with a static cache its inputs keep their shapes and addresses."""
    return _forward_and_sample(model, input_ids, attention_mask, position_ids, past_key_values, sampler, uniforms)


class _StreamBatch:
    """The preallocated tensors of one generation: the token, position and attention-mask column each stream reads
    next, and the KV cache. Decoding writes into them in place, so a step allocates no cache or mask memory."""

    def __init__(self, model, prompt_ids, prompt_mask, num_streams, num_image_tokens, cache_implementation):
        self.num_streams = num_streams
        self.prompt_length = prompt_ids.shape[1]
        rows, device = prompt_ids.shape[0], prompt_ids.device
        # The cache holds the prompts and every image token but the last (which is sampled, never read).
        max_length = self.prompt_length + num_image_tokens - 1
        self.static = cache_implementation == "static"
        if self.static:
            self.cache = StaticCache(config=model.config, max_cache_len=max_length)
        else:
            self.cache = DynamicCache(config=model.config)

        self.prompt_ids = prompt_ids
        self.prompt_mask = prompt_mask
        self.prompt_position_ids = (prompt_mask.cumsum(-1) - 1).clamp(min=0)
        self.prompt_lengths = prompt_mask.sum(-1, keepdim=True)
        self.input_ids = torch.empty((rows, 1), dtype=torch.long, device=device)
        self.position_ids = torch.empty((rows, 1), dtype=torch.long, device=device)

        # Decoding passes a ready 4D mask (a view of a preallocated buffer) in the form the attention kernel takes, so
        # the model builds no mask per step: boolean for SDPA, additive for eager. Other kernels get the 2D mask.
        attn_implementation = model.config._attn_implementation
        if attn_implementation == "sdpa":
            self.mask = torch.zeros((rows, max_length), dtype=torch.bool, device=device)
            self.mask[:, : self.prompt_length] = prompt_mask.bool()
            self.attend = True
        elif attn_implementation == "eager":
            dtype = model.dtype
            self.mask = torch.full((rows, max_length), torch.finfo(dtype).min, dtype=dtype, device=device)
            self.mask[:, : self.prompt_length].masked_fill_(prompt_mask.bool(), 0.0)
            self.attend = 0.0
        else:
            self.mask = torch.zeros((rows, max_length), dtype=prompt_mask.dtype, device=device)
            self.mask[:, : self.prompt_length] = prompt_mask
            self.attend = 1
        self.mask_is_4d = attn_implementation in ("sdpa", "eager")

    def advance(self, step: int, token_ids: torch.LongTensor) -> torch.Tensor:
        """Make the streams read `token_ids` (`(R,)`, image token `step - 1`) at the next position; return the
        attention mask of that decoding step."""
        self.input_ids.view(self.num_streams, -1).copy_(token_ids)
        torch.add(self.prompt_lengths, step - 1, out=self.position_ids)
        slot = self.prompt_length + step - 1
        self.mask[:, slot] = self.attend
        if not self.mask_is_4d:
            return self.mask[:, : slot + 1]
        mask = self.mask[:, None, None, :]
        return mask if self.static else mask[..., : slot + 1]


def decode_n_tokens(
    model,
    batch: _StreamBatch,
    token_ids: torch.LongTensor,
    num_new_tokens: int,
    sampler: ImageTokenSampler,
    uniforms: torch.Tensor | None,
    decode_fn: Callable = decode_one_token,
    callback_on_step_end: StepCallback | None = None,
    progress: tqdm | None = None,
) -> int:
    """Draw image tokens `1 .. num_new_tokens` into `token_ids` (`(R, >num_new_tokens)`, column 0 already drawn).

    Returns the number of columns of `token_ids` filled: `num_new_tokens + 1`, or fewer when the callback stopped.
    """
    offset = model.config.image_token_offset
    step_uniforms = None if uniforms is None else torch.empty_like(uniforms[0])
    for step in range(1, num_new_tokens + 1):
        attention_mask = batch.advance(step, token_ids[:, step - 1])
        if uniforms is not None:
            step_uniforms.copy_(uniforms[step])  # one input buffer, so a compiled step sees the same tensor
        codes, scores = decode_fn(
            model, batch.input_ids, attention_mask, batch.position_ids, batch.cache, sampler, step_uniforms
        )
        torch.add(codes, offset, out=token_ids[:, step])
        if progress is not None:
            progress.update(1)
        if callback_on_step_end is not None and callback_on_step_end(step, token_ids[:, : step + 1], scores):
            return step + 1
    return num_new_tokens + 1


_compiled_decode_one_token = None


def _get_compiled_decode_one_token() -> Callable:
    global _compiled_decode_one_token
    if _compiled_decode_one_token is None:
        _compiled_decode_one_token = torch.compile(decode_one_token)
    return _compiled_decode_one_token


# ----------------------------------------------------------------------------------------------------------------------
# Output and the public API.
# ----------------------------------------------------------------------------------------------------------------------
@dataclass
class CM3LeonImageGenerationOutput(ModelOutput):
    r"""
    Output of [`~CM3LeonImageGenerationMixin.generate_images`].

    Args:
        image_token_ids (`torch.LongTensor` of shape `(batch_size * num_images_per_prompt, num_image_tokens)`):
            The drawn image tokens (vocabulary ids, all in `config.image_token_ids`), images of prompt `b` at rows
            `b * num_images_per_prompt ... (b + 1) * num_images_per_prompt - 1`. Decode them to pixels with
            `processor.token_ids_to_images(...)`.
        sequences (`torch.LongTensor` of shape `(batch_size * num_images_per_prompt, prompt_length + num_image_tokens (+ 1))`):
            The conditional prompt as given (with its left padding), the image tokens and, when `is_complete`, `<eoss>`.
        num_image_tokens (`int`): Image tokens drawn per image: `config.image_seq_length`, or fewer when
            `callback_on_step_end` stopped generation.
        is_complete (`bool`): Whether every image has all `config.image_seq_length` tokens. A stopped generation is
            never complete: its `image_token_ids` do not form decodable images.
    """

    image_token_ids: torch.LongTensor | None = None
    sequences: torch.LongTensor | None = None
    num_image_tokens: int | None = None
    is_complete: bool | None = None


def unconditional_input_ids(config) -> list[int]:
    """The unconditional prompt of classifier-free guidance: CM3Leon's `</s> <sentinel:0> <racm3:break>` (the CM3
    mask in place of the text), or Chameleon's `<s> <racm3:break>` for a vocabulary without sentinels."""
    if config.num_sentinel_tokens:
        return [config.eos_token_id, config.sentinel_token_ids[0], config.break_token_id]
    return [config.bos_token_id, config.break_token_id]


class CM3LeonImageGenerationMixin:
    """Adds image generation ([`generate_images`]) and a text-generation helper ([`generate_text`]) to
    [`CM3LeonForCausalLM`]."""

    def set_progress_bar_config(self, **kwargs) -> None:
        """Options for the tqdm bar of `generate_images` (e.g. `disable=True`, `leave=False`), as in diffusers."""
        self._progress_bar_config = kwargs

    @torch.no_grad()
    def generate_images(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.Tensor | None = None,
        *,
        negative_input_ids: torch.LongTensor | None = None,
        negative_attention_mask: torch.Tensor | None = None,
        image_input_ids: torch.LongTensor | None = None,
        image_attention_mask: torch.Tensor | None = None,
        guidance_scale: float | None = None,
        image_guidance_scale: float | None = None,
        num_images_per_prompt: int = 1,
        decoding_strategy: str = "sample",
        do_sample: bool = True,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        cd_top_k: int | None = None,
        cd_alpha: float | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
        progress_bar: bool = True,
        callback_on_step_end: StepCallback | None = None,
        cache_implementation: str = "static",
        compile: bool = False,
    ) -> CM3LeonImageGenerationOutput:
        r"""
        Draw `config.image_seq_length` image tokens after each prompt, with classifier-free guidance.

        All guidance streams of all images run in one forward per step over a preallocated KV cache; the token drawn
        for an image is appended to every one of its streams. Logits are computed only over the image tokens.

        Args:
            input_ids (`torch.LongTensor` of shape `(batch_size, prompt_length)`):
                The conditional prompts, each ending with `<racm3:break>` (e.g. from
                `processor.text_to_image_prompt(...)`), left-padded when their lengths differ.
            attention_mask (`torch.Tensor` of shape `(batch_size, prompt_length)`, *optional*):
                1 for prompt tokens, 0 for (left) padding. Defaults to all ones.
            negative_input_ids (`torch.LongTensor` of shape `(batch_size, negative_length)`, *optional*):
                Prompts of the unconditional stream (a negative prompt), each ending with `<racm3:break>`. Defaults to
                [`unconditional_input_ids`]: `</s> <sentinel:0> <racm3:break>`.
            negative_attention_mask (`torch.Tensor`, *optional*): Mask of `negative_input_ids`.
            image_input_ids (`torch.LongTensor` of shape `(batch_size, image_prompt_length)`, *optional*):
                Image editing: the image-only prompts (instruction template and input image, without the edit text;
                `processor.editing_prompts(...)[1]`). `input_ids` are then the full prompts, and three streams are
                decoded: full, image-only, unconditional.
            image_attention_mask (`torch.Tensor`, *optional*): Mask of `image_input_ids`.
            guidance_scale (`float`, *optional*):
                Text-to-image: `logits = u + guidance_scale * (c - u)`, default 3.0; 1 decodes the conditional stream
                alone (exactly plain sampling). Editing: the text scale of
                `u + image_guidance_scale * (i - u) + guidance_scale * (f - i)`, default 7.5 (the paper's).
            image_guidance_scale (`float`, *optional*): Editing only: the image scale, default 1.5 (the paper's).
            num_images_per_prompt (`int`): Images drawn per prompt.
            decoding_strategy (`str`):
                `"sample"`: temperature / top-k / top-p sampling of the guided logits. `"cd-k"`: contrastive
                decoding top-K (see [`ContrastiveTopKLogitsProcessor`]). `"mixture"`: of the images of each prompt,
                the first `ceil(num_images_per_prompt / 2)` use `"sample"`, the others `"cd-k"` (the paper's
                "1/2 TopP + 1/2 CD-K"). `"cd-k"` and `"mixture"` are for text-to-image (two streams).
            do_sample (`bool`): `False` takes the argmax (greedy decoding) instead of a draw.
            temperature (`float`): Divides the scores before sampling (`"sample"` and `"cd-k"`).
            top_k (`int`, *optional*): `"sample"`: keep the `top_k` most likely image tokens.
            top_p (`float`, *optional*): `"sample"`: nucleus sampling (the paper pairs top-p with CFG; Meta's demo
                used 0.8, Chameleon 0.9).
            cd_top_k (`int`, *optional*): CD-K's K (`"cd-k"` and `"mixture"`; default 50 (or the image vocabulary
                if smaller), our choice: the paper does not state it).
            cd_alpha (`float`, *optional*): CD-K's alpha in [0, 1] (default 0.5, Meta's evaluation script's).
            generator (`torch.Generator` or a list, *optional*):
                One generator for the whole batch, or one per prompt, or one per image (diffusers' convention). With a
                list, prompt `b` gets the same images batched or alone (with its generator). All random numbers are
                drawn before the loop.
            progress_bar (`bool`): Show a tqdm bar over image tokens (see also [`set_progress_bar_config`]).
            callback_on_step_end (`Callable`, *optional*):
                Called after each token as `callback_on_step_end(step, image_token_ids, scores)`: `step` is the index
                of the token just drawn, `image_token_ids` `(R, step + 1)` the tokens so far (a view of the output:
                read it, do not write it), `scores` `(R, image_vocab_size)` what the token was drawn from, after
                guidance and filtering (index `j` is token `config.image_token_offset + j`).
                Return `True` to stop: the output then has `is_complete=False` and `num_image_tokens=step + 1`.
            cache_implementation (`str`): `"static"` (a preallocated `StaticCache`) or `"dynamic"`.
            compile (`bool`): `torch.compile` the decoding step (needs `cache_implementation="static"`; the first
                call compiles, later calls with the same shapes reuse it).

        Returns:
            [`CM3LeonImageGenerationOutput`] with `image_token_ids` `(batch_size * num_images_per_prompt,
            image_seq_length)`, `sequences`, `num_image_tokens`, `is_complete`.
        """
        config = self.config
        editing = image_input_ids is not None
        if guidance_scale is None:
            guidance_scale = DEFAULT_EDITING_GUIDANCE_SCALE if editing else DEFAULT_GUIDANCE_SCALE
        if editing and image_guidance_scale is None:
            image_guidance_scale = DEFAULT_EDITING_IMAGE_GUIDANCE_SCALE
        _check_generate_images_args(
            config,
            input_ids=input_ids,
            attention_mask=attention_mask,
            negative_input_ids=negative_input_ids,
            negative_attention_mask=negative_attention_mask,
            image_input_ids=image_input_ids,
            image_attention_mask=image_attention_mask,
            guidance_scale=guidance_scale,
            image_guidance_scale=image_guidance_scale,
            num_images_per_prompt=num_images_per_prompt,
            decoding_strategy=decoding_strategy,
            do_sample=do_sample,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            cd_top_k=cd_top_k,
            cd_alpha=cd_alpha,
            generator=generator,
            progress_bar=progress_bar,
            callback_on_step_end=callback_on_step_end,
            cache_implementation=cache_implementation,
            compile=compile,
        )
        cd_top_k = min(DEFAULT_CD_TOP_K, config.image_vocab_size) if cd_top_k is None else cd_top_k
        cd_alpha = DEFAULT_CD_ALPHA if cd_alpha is None else cd_alpha
        device = self.device
        batch_size = input_ids.shape[0]
        num_images = batch_size * num_images_per_prompt
        num_image_tokens = config.image_seq_length

        # The prompts of each stream, stream-major: conditional (full), [image-only], unconditional. Without guidance
        # (scales of 1, no CD-K) the conditional stream runs alone: exactly plain sampling.
        if editing:
            guided = guidance_scale != 1 or image_guidance_scale != 1
        else:
            guided = guidance_scale != 1 or decoding_strategy != "sample"
        streams = [_prompt_with_mask(input_ids, attention_mask, device)]
        if not guided and negative_input_ids is not None:
            logger.warning(
                "`negative_input_ids` are not used: with these guidance scales and 'sample' decoding no unconditional "
                "stream is decoded."
            )
        if guided:
            if editing:
                streams.append(_prompt_with_mask(image_input_ids, image_attention_mask, device))
            if negative_input_ids is None:
                negative_input_ids = torch.tensor([unconditional_input_ids(config)]).expand(batch_size, -1)
            streams.append(_prompt_with_mask(negative_input_ids, negative_attention_mask, device))
        _check_context_length(config, streams, num_image_tokens)

        # One batch of (R * num_streams) rows, each image's prompt repeated per stream, all left-padded to one length.
        prompt_length = max(ids.shape[1] for ids, _ in streams)
        padded = [
            _left_pad(
                ids.repeat_interleave(num_images_per_prompt, 0),
                mask.repeat_interleave(num_images_per_prompt, 0),
                prompt_length,
                config.pad_token_id,
            )
            for ids, mask in streams
        ]
        prompt_ids = torch.cat([ids for ids, _ in padded])
        prompt_mask = torch.cat([mask for _, mask in padded])

        sampler = ImageTokenSampler(
            num_streams=len(streams),
            num_images=num_images,
            num_images_per_prompt=num_images_per_prompt,
            decoding_strategy=decoding_strategy,
            do_sample=do_sample,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            cd_top_k=cd_top_k,
            cd_alpha=cd_alpha,
            guidance_scale=guidance_scale,
            image_guidance_scale=image_guidance_scale,
            device=device,
        )
        uniforms = None
        if do_sample:
            uniforms = draw_uniforms(generator, batch_size, num_images_per_prompt, num_image_tokens, device)

        batch = _StreamBatch(self, prompt_ids, prompt_mask, len(streams), num_image_tokens, cache_implementation)
        token_ids = torch.empty((num_images, num_image_tokens), dtype=torch.long, device=device)
        progress_config = {
            "total": num_image_tokens,
            "desc": "image tokens",
            **getattr(self, "_progress_bar_config", {}),
        }
        if not progress_bar:
            progress_config["disable"] = True
        with tqdm(**progress_config) as progress:
            codes, scores = prefill(
                self,
                batch.prompt_ids,
                batch.prompt_mask,
                batch.prompt_position_ids,
                batch.cache,
                sampler,
                None if uniforms is None else uniforms[0],
            )
            torch.add(codes, config.image_token_offset, out=token_ids[:, 0])
            progress.update(1)
            stopped = callback_on_step_end is not None and callback_on_step_end(0, token_ids[:, :1], scores)
            num_drawn = 1
            if not stopped:
                num_drawn = decode_n_tokens(
                    self,
                    batch,
                    token_ids,
                    num_image_tokens - 1,
                    sampler,
                    uniforms,
                    decode_fn=_get_compiled_decode_one_token() if compile else decode_one_token,
                    callback_on_step_end=callback_on_step_end,
                    progress=progress,
                )

        is_complete = num_drawn == num_image_tokens
        token_ids = token_ids[:, :num_drawn]
        if not is_complete:
            logger.warning(
                f"`callback_on_step_end` stopped generation after {num_drawn} of {num_image_tokens} image tokens; "
                "the output has `is_complete=False`."
            )
        prompts = streams[0][0].repeat_interleave(num_images_per_prompt, 0)
        pieces = [prompts, token_ids]
        if is_complete:
            pieces.append(torch.full((num_images, 1), config.eoss_token_id, dtype=torch.long, device=device))
        return CM3LeonImageGenerationOutput(
            image_token_ids=token_ids,
            sequences=torch.cat(pieces, dim=-1),
            num_image_tokens=num_drawn,
            is_complete=is_complete,
        )

    def generate_text(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.Tensor | None = None,
        *,
        suppress_image_tokens: bool = True,
        **generate_kwargs,
    ):
        """Text generation (captions, answers) through the standard `generate()`, stopping at `<eoss>` or `</s>`.

        A thin wrapper: `generate(input_ids, attention_mask, generation_config=text_generation_config(...))`; any
        `generate()` argument may be passed (`max_new_tokens`, `do_sample`, ...).

        Args:
            suppress_image_tokens (`bool`): Forbid image tokens in the text (default).
        """
        generation_config = text_generation_config(
            self.config,
            generation_config=generate_kwargs.pop("generation_config", None) or self.generation_config,
            suppress_image_tokens=suppress_image_tokens,
        )
        return self.generate(
            input_ids=input_ids, attention_mask=attention_mask, generation_config=generation_config, **generate_kwargs
        )


def text_generation_config(
    config, generation_config: GenerationConfig | None = None, suppress_image_tokens: bool = True, **kwargs
) -> GenerationConfig:
    """A `GenerationConfig` for text answers: ends at `<eoss>` (the end of an infilled span: captions and VQA answers)
    or `</s>`, pads with `<pad>`, and by default forbids image tokens. `kwargs` override fields."""
    generation_config = copy.deepcopy(generation_config) if generation_config is not None else GenerationConfig()
    generation_config.eos_token_id = [config.eoss_token_id, config.eos_token_id]
    generation_config.pad_token_id = config.pad_token_id
    generation_config.bos_token_id = config.bos_token_id
    if suppress_image_tokens:
        generation_config.suppress_tokens = list(config.image_token_ids)
    generation_config.update(**kwargs)
    return generation_config


# ----------------------------------------------------------------------------------------------------------------------
# Self-rerank: best-of-N by CLIP score.
# ----------------------------------------------------------------------------------------------------------------------
@dataclass
class RerankOutput:
    """Output of [`rerank_images`], for `B` prompts with `N` candidate images each.

    Args:
        images (`list` or `torch.Tensor`): The best candidate of each prompt (`B` of them), in the input's type.
        indices (`torch.LongTensor` of shape `(B,)`): Index of each best candidate in the input images.
        scores (`torch.FloatTensor` of shape `(B, N)`): Cosine similarity of each candidate with its prompt (the
            CLIP score divided by 100).
        ranking (`torch.LongTensor` of shape `(B, N)`): Candidates of each prompt (0..N-1) by decreasing score.
    """

    images: list | torch.Tensor
    indices: torch.LongTensor
    scores: torch.FloatTensor
    ranking: torch.LongTensor


def load_clip_reranker(model_id: str = DEFAULT_CLIP_RERANK_MODEL, **from_pretrained_kwargs):
    """Load a CLIP model and its processor for [`rerank_images`] (downloads `model_id` unless it is cached)."""
    from transformers import AutoModel, AutoProcessor

    model = AutoModel.from_pretrained(model_id, **from_pretrained_kwargs).eval()
    return model, AutoProcessor.from_pretrained(model_id)


@torch.no_grad()
def rerank_images(images, prompts, clip_model, clip_processor, *, num_images_per_prompt: int | None = None):
    """CM3Leon's self-rerank: keep, for each prompt, the candidate image with the highest CLIP score.

    Works with any transformers model that has `get_text_features` / `get_image_features` (CLIPModel, SigLIP, ...).

    Args:
        images (`list` of PIL images / arrays, or `torch.Tensor`): `B * N` candidates, those of prompt `b` at
            `b * N ... (b + 1) * N - 1` (the order of `generate_images`). A tensor is taken as CLIP-ready
            `pixel_values` of shape `(B * N, 3, H, W)`; anything else goes through `clip_processor`.
        prompts (`str` or `list[str]`): The `B` prompts.
        clip_model: The scoring model, e.g. from [`load_clip_reranker`].
        clip_processor: Its processor (tokenizer + image processor).
        num_images_per_prompt (`int`, *optional*): N; checked against `len(images) / len(prompts)` when given.

    Returns:
        [`RerankOutput`].
    """
    if isinstance(prompts, str):
        prompts = [prompts]
    if not isinstance(prompts, (list, tuple)) or not prompts or not all(isinstance(p, str) for p in prompts):
        raise TypeError(f"`prompts` must be a string or a non-empty list of strings, got {prompts!r}.")
    if not isinstance(images, torch.Tensor) and not isinstance(images, (list, tuple)):
        raise TypeError(f"`images` must be a list of images or a tensor of pixel values, got {type(images).__name__}.")
    num_candidates = len(images)
    if num_candidates == 0 or num_candidates % len(prompts):
        raise ValueError(
            f"`images` has {num_candidates} candidates, not a positive multiple of the {len(prompts)} prompts."
        )
    group = num_candidates // len(prompts)
    if num_images_per_prompt is not None and num_images_per_prompt != group:
        raise ValueError(
            f"`num_images_per_prompt`={num_images_per_prompt}, but {num_candidates} images for {len(prompts)} prompts "
            f"make {group} per prompt."
        )

    device = clip_model.device
    text_inputs = clip_processor(text=list(prompts), padding=True, return_tensors="pt")
    max_length = getattr(getattr(clip_model.config, "text_config", None), "max_position_embeddings", None)
    if max_length is not None and text_inputs["input_ids"].shape[1] > max_length:
        logger.warning(f"A prompt is longer than the CLIP text encoder's {max_length} tokens; it is scored truncated.")
        text_inputs = clip_processor(
            text=list(prompts), padding=True, truncation=True, max_length=max_length, return_tensors="pt"
        )
    text_inputs = {
        key: value.to(device) for key, value in text_inputs.items() if key in ("input_ids", "attention_mask")
    }
    if isinstance(images, torch.Tensor):
        pixel_values = images
    else:
        pixel_values = clip_processor(images=list(images), return_tensors="pt")["pixel_values"]
    pixel_values = pixel_values.to(device=device, dtype=clip_model.dtype)

    text_embeds = F.normalize(_pooled(clip_model.get_text_features(**text_inputs)).float(), dim=-1)
    image_embeds = F.normalize(_pooled(clip_model.get_image_features(pixel_values=pixel_values)).float(), dim=-1)
    scores = (image_embeds.view(len(prompts), group, -1) * text_embeds[:, None]).sum(-1).cpu()
    ranking = scores.argsort(dim=-1, descending=True)
    indices = torch.arange(len(prompts)) * group + ranking[:, 0]
    best = images[indices] if isinstance(images, torch.Tensor) else [images[i] for i in indices.tolist()]
    return RerankOutput(images=best, indices=indices, scores=scores, ranking=ranking)


def _pooled(features) -> torch.Tensor:
    # transformers 5 returns an output object whose `pooler_output` is the projected embedding; 4.x a tensor.
    return features if isinstance(features, torch.Tensor) else features.pooler_output


# ----------------------------------------------------------------------------------------------------------------------
# Argument checks (all of them run before any work).
# ----------------------------------------------------------------------------------------------------------------------
def _prompt_with_mask(input_ids, attention_mask, device) -> tuple[torch.LongTensor, torch.LongTensor]:
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    return input_ids.to(device=device, dtype=torch.long), attention_mask.to(device=device, dtype=torch.long)


def _left_pad(input_ids, attention_mask, length: int, pad_token_id: int):
    num_pad = length - input_ids.shape[1]
    if num_pad == 0:
        return input_ids, attention_mask
    return F.pad(input_ids, (num_pad, 0), value=pad_token_id), F.pad(attention_mask, (num_pad, 0), value=0)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_prompt(config, name: str, input_ids, mask_name: str, attention_mask, batch_size: int | None) -> None:
    if not isinstance(input_ids, torch.Tensor):
        raise TypeError(
            f"`{name}` must be a torch.LongTensor of shape (batch_size, length), got {type(input_ids).__name__}."
        )
    if input_ids.ndim != 2 or input_ids.shape[0] == 0 or input_ids.shape[1] == 0:
        raise ValueError(f"`{name}` must have shape (batch_size, length) with both > 0, got {tuple(input_ids.shape)}.")
    if input_ids.is_floating_point() or input_ids.is_complex() or input_ids.dtype == torch.bool:
        raise TypeError(f"`{name}` must hold integer token ids, got dtype {input_ids.dtype}.")
    if batch_size is not None and input_ids.shape[0] != batch_size:
        raise ValueError(f"`{name}` has {input_ids.shape[0]} rows; it needs one per prompt ({batch_size}).")
    low, high = int(input_ids.min()), int(input_ids.max())
    if low < 0 or high >= config.vocab_size:
        raise ValueError(f"`{name}` must lie in [0, vocab_size={config.vocab_size}), got values in [{low}, {high}].")
    if attention_mask is not None:
        if not isinstance(attention_mask, torch.Tensor) or attention_mask.shape != input_ids.shape:
            shape = (
                tuple(attention_mask.shape)
                if isinstance(attention_mask, torch.Tensor)
                else type(attention_mask).__name__
            )
            raise ValueError(
                f"`{mask_name}` must be a tensor of the shape of `{name}` {tuple(input_ids.shape)}, got {shape}."
            )
        mask = attention_mask.long()
        if ((mask != 0) & (mask != 1)).any():
            raise ValueError(f"`{mask_name}` must hold only 0 and 1.")
        if not (mask[:, -1] == 1).all() or (mask[:, 1:] < mask[:, :-1]).any():
            raise ValueError(
                f"`{name}` must be left-padded: each row of `{mask_name}` must be zeros then ones, ending with a 1 "
                "(e.g. `processor.pad(..., padding_side='left')`)."
            )
    last = input_ids[:, -1]
    if not (last == config.break_token_id).all():
        raise ValueError(
            f"Every row of `{name}` must end with <racm3:break> (id {config.break_token_id}), after which the model "
            f"draws the image; got last tokens {last.tolist()}. Build prompts with `processor.text_to_image_prompt(...)`."
        )


def _check_context_length(config, streams, num_image_tokens: int) -> None:
    names = (
        ["input_ids", "image_input_ids", "negative_input_ids"]
        if len(streams) == 3
        else ["input_ids", "negative_input_ids"]
    )
    for name, (_, mask) in zip(names, streams):
        longest = int(mask.sum(-1).max())
        if longest + num_image_tokens + 1 > config.max_position_embeddings:
            raise ValueError(
                f"A prompt of `{name}` has {longest} tokens; with the {num_image_tokens} image tokens and <eoss> it "
                f"exceeds the context of max_position_embeddings={config.max_position_embeddings}. Prompts may have at "
                f"most {config.max_position_embeddings - num_image_tokens - 1} tokens."
            )


def _check_generate_images_args(
    config,
    *,
    input_ids,
    attention_mask,
    negative_input_ids,
    negative_attention_mask,
    image_input_ids,
    image_attention_mask,
    guidance_scale,
    image_guidance_scale,
    num_images_per_prompt,
    decoding_strategy,
    do_sample,
    temperature,
    top_k,
    top_p,
    cd_top_k,
    cd_alpha,
    generator,
    progress_bar,
    callback_on_step_end,
    cache_implementation,
    compile,
) -> None:
    _check_prompt(config, "input_ids", input_ids, "attention_mask", attention_mask, None)
    batch_size = input_ids.shape[0]
    for ids_name, ids, mask_name, mask in (
        ("negative_input_ids", negative_input_ids, "negative_attention_mask", negative_attention_mask),
        ("image_input_ids", image_input_ids, "image_attention_mask", image_attention_mask),
    ):
        if ids is not None:
            _check_prompt(config, ids_name, ids, mask_name, mask, batch_size)
        elif mask is not None:
            raise ValueError(f"`{mask_name}` was given without `{ids_name}`.")
    editing = image_input_ids is not None

    if not _is_number(guidance_scale) or guidance_scale < 0:
        raise ValueError(f"`guidance_scale` must be a finite number >= 0 (1 = no guidance), got {guidance_scale!r}.")
    if not editing and image_guidance_scale is not None:
        raise ValueError("`image_guidance_scale` is for image editing: it needs `image_input_ids`.")
    if editing and (not _is_number(image_guidance_scale) or image_guidance_scale < 0):
        raise ValueError(f"`image_guidance_scale` must be a finite number >= 0, got {image_guidance_scale!r}.")
    if not _is_int(num_images_per_prompt) or num_images_per_prompt < 1:
        raise ValueError(f"`num_images_per_prompt` must be a positive integer, got {num_images_per_prompt!r}.")

    if decoding_strategy not in DECODING_STRATEGIES:
        raise ValueError(f"`decoding_strategy` must be one of {list(DECODING_STRATEGIES)}, got {decoding_strategy!r}.")
    if editing and decoding_strategy != "sample":
        raise ValueError(
            f"`decoding_strategy`={decoding_strategy!r} contrasts a conditional and an unconditional stream; image "
            "editing (three streams) supports 'sample' only."
        )
    if not isinstance(do_sample, bool):
        raise TypeError(f"`do_sample` must be a bool, got {do_sample!r}.")
    if not _is_number(temperature) or temperature <= 0:
        raise ValueError(f"`temperature` must be a finite number > 0, got {temperature!r}.")
    if top_k is not None and (not _is_int(top_k) or not 1 <= top_k <= config.image_vocab_size):
        raise ValueError(
            f"`top_k` must be an integer in [1, image_vocab_size={config.image_vocab_size}], got {top_k!r}."
        )
    if top_p is not None and (not _is_number(top_p) or not 0 < top_p <= 1):
        raise ValueError(f"`top_p` must be a number in (0, 1], got {top_p!r}.")
    if cd_top_k is not None and (not _is_int(cd_top_k) or not 1 <= cd_top_k <= config.image_vocab_size):
        raise ValueError(
            f"`cd_top_k` must be an integer in [1, image_vocab_size={config.image_vocab_size}], got {cd_top_k!r}."
        )
    if cd_alpha is not None and (not _is_number(cd_alpha) or not 0 <= cd_alpha <= 1):
        raise ValueError(f"`cd_alpha` must be a number in [0, 1], got {cd_alpha!r}.")
    if decoding_strategy == "cd-k" and (top_k is not None or top_p is not None):
        raise ValueError(
            "`top_k` / `top_p` filter 'sample' draws; with decoding_strategy='cd-k' they would be unused."
        )
    if decoding_strategy == "sample" and (cd_top_k is not None or cd_alpha is not None):
        raise ValueError("`cd_top_k` / `cd_alpha` set CD-K; use decoding_strategy='cd-k' or 'mixture'.")
    if not do_sample and (top_k is not None or top_p is not None or temperature != 1.0):
        raise ValueError(
            "`temperature`, `top_k` and `top_p` shape a draw; with `do_sample=False` they would be unused."
        )

    if generator is not None and not isinstance(generator, torch.Generator):
        if not isinstance(generator, (list, tuple)) or not all(isinstance(g, torch.Generator) for g in generator):
            raise TypeError(f"`generator` must be a torch.Generator or a list of them, got {generator!r}.")
        allowed = {batch_size, batch_size * num_images_per_prompt}
        if len(generator) not in allowed:
            raise ValueError(
                f"`generator` has {len(generator)} generators; pass one per prompt ({batch_size}) or one per image "
                f"({batch_size * num_images_per_prompt})."
            )
    if not isinstance(progress_bar, bool):
        raise TypeError(f"`progress_bar` must be a bool, got {progress_bar!r}.")
    if callback_on_step_end is not None and not callable(callback_on_step_end):
        raise TypeError(f"`callback_on_step_end` must be callable, got {callback_on_step_end!r}.")
    if cache_implementation not in CACHE_IMPLEMENTATIONS:
        raise ValueError(
            f"`cache_implementation` must be one of {list(CACHE_IMPLEMENTATIONS)}, got {cache_implementation!r}."
        )
    if not isinstance(compile, bool):
        raise TypeError(f"`compile` must be a bool, got {compile!r}.")
    if compile and cache_implementation != "static":
        raise ValueError("`compile=True` needs `cache_implementation='static'` (fixed shapes across steps).")


__all__ = [
    "CM3LeonImageGenerationMixin",
    "CM3LeonImageGenerationOutput",
    "ContrastiveTopKLogitsProcessor",
    "ImageTokenSampler",
    "InBatchCFGLogitsProcessor",
    "InBatchInstructCFGLogitsProcessor",
    "RerankOutput",
    "draw_uniforms",
    "load_clip_reranker",
    "rerank_images",
    "sample_from_logits",
    "text_generation_config",
    "unconditional_input_ids",
]
