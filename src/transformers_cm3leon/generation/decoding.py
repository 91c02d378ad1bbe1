# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The sequential image-token loop: `prefill`, `decode_one_token`, `decode_n_tokens` (LlamaGen's split) over a
preallocated transformers `StaticCache`.

Every guidance stream of every image runs in ONE forward per step:

    rows = [cond_0 .. cond_{R-1} | (image_0 .. image_{R-1}) | uncond_0 .. uncond_{R-1}]      (R = images)

and the token sampled for image r is appended to all of its streams. Logits are computed only over the image-token
rows of `lm_head`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm
from transformers.cache_utils import Cache, DynamicCache, StaticCache

from .sampling import ImageTokenSampler

# `callback_on_step_end(step, image_token_ids, scores) -> bool | None`; returning True stops generation.
StepCallback = Callable[[int, torch.LongTensor, torch.FloatTensor], "bool | None"]


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


def _forward_and_sample(
    model, input_ids, attention_mask, position_ids, past_key_values, sampler, uniforms, logit_bias=None
):
    hidden = model.model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids,
        past_key_values=past_key_values,
        use_cache=True,
    ).last_hidden_state
    return sampler(image_logits(model, hidden[:, -1]).float(), uniforms, logit_bias)


def prefill(
    model,
    input_ids: torch.LongTensor,
    attention_mask: torch.Tensor,
    position_ids: torch.LongTensor,
    past_key_values: Cache,
    sampler: ImageTokenSampler,
    uniforms: torch.Tensor | None,
    logit_bias: torch.Tensor | None = None,
) -> tuple[torch.LongTensor, torch.FloatTensor]:
    """Run the left-padded prompts of all streams (`(rows, prompt_length)`, 2D mask) through the model into the
    cache; draw the first image code of each image. Never compiled (its shape changes with every prompt)."""
    return _forward_and_sample(
        model, input_ids, attention_mask, position_ids, past_key_values, sampler, uniforms, logit_bias
    )


def decode_one_token(
    model,
    input_ids: torch.LongTensor,
    attention_mask: torch.Tensor,
    position_ids: torch.LongTensor,
    past_key_values: Cache,
    sampler: ImageTokenSampler,
    uniforms: torch.Tensor | None,
    logit_bias: torch.Tensor | None = None,
) -> tuple[torch.LongTensor, torch.FloatTensor]:
    """Feed one token per stream (`input_ids` `(rows, 1)`, the mask from `_DecodeBuffers.advance`); draw the next image
    code of each image.
    This is the step `compile=True` compiles: with a static cache its inputs keep their shapes and addresses."""
    return _forward_and_sample(
        model, input_ids, attention_mask, position_ids, past_key_values, sampler, uniforms, logit_bias
    )


class _DecodeBuffers:
    """The preallocated tensors of one sequential generation: the token, position and attention-mask column each
    stream reads next, and the KV cache. Decoding writes into them in place, so a step allocates no cache or mask
    memory."""

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
    buffers: _DecodeBuffers,
    token_ids: torch.LongTensor,
    num_new_tokens: int,
    sampler: ImageTokenSampler,
    uniforms: torch.Tensor | None,
    decode_fn: Callable = decode_one_token,
    callback_on_step_end: StepCallback | None = None,
    progress: tqdm | None = None,
    logit_bias: torch.Tensor | None = None,
) -> int:
    """Draw image tokens `1 .. num_new_tokens` into `token_ids` (`(R, >num_new_tokens)`, column 0 already drawn);
    `logit_bias` (`image_logit_bias`) holds a row per token, 0 included.

    Returns the number of columns of `token_ids` filled: `num_new_tokens + 1`, or fewer when the callback stopped.
    """
    offset = model.config.image_token_offset
    step_uniforms = None if uniforms is None else torch.empty_like(uniforms[0])
    step_bias = None if logit_bias is None else torch.empty_like(logit_bias[0])
    for step in range(1, num_new_tokens + 1):
        attention_mask = buffers.advance(step, token_ids[:, step - 1])
        if uniforms is not None:
            step_uniforms.copy_(uniforms[step])  # one input buffer, so a compiled step sees the same tensor
        if logit_bias is not None:
            step_bias.copy_(logit_bias[step])
        codes, scores = decode_fn(
            model,
            buffers.input_ids,
            attention_mask,
            buffers.position_ids,
            buffers.cache,
            sampler,
            step_uniforms,
            step_bias,
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


__all__ = ["decode_n_tokens", "decode_one_token", "image_logits", "prefill"]
