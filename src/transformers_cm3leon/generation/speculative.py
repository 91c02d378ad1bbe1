# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Speculative Jacobi decoding: several image tokens per forward, with exactly the distribution of sequential
sampling (Teng et al. 2024, "Accelerating Auto-regressive Text-to-Image Generation with Training-free Speculative
Jacobi Decoding", arXiv 2410.01699).

Each image keeps a window of `L` draft tokens after its last accepted token `w_0`. One forward of all guidance
streams over `[w_0, d_1 .. d_L]` gives the sampler's distribution `P_i` of every window position (`P_0` exact, the
others conditioned on the drafts before them). Drafts are accepted left to right by the speculative-sampling rule:
`d_j`, drawn from a known distribution `q_j`, is kept with probability `min(1, P_{j-1}(d_j) / q_j(d_j))`; at the
first rejection the token is drawn from `norm(max(0, P_{j-1} - q_j))`, and after `L` acceptances a bonus token from
`P_L`. Every accepted token is then distributed as sequential sampling would draw it; greedy decoding (`q` one-hot
on the argmax) accepts exactly the sequential argmax tokens.

The Jacobi part: the drafts after a rejection are not thrown away but redrawn from the distributions this forward
gave them (conditioned on drafts that turned out wrong, but a known `q` all the same). The window is refilled at its
end with the token one image row above each new position when that token is already accepted (a deterministic
draft: `q` is one-hot, so it is accepted with probability `P(d)`), else with a uniform draft. A good model's stale
distributions are usually right, and images repeat along their columns (backgrounds, outlines), so most drafts are
accepted at the next forward. Given a reference image (`draft_image_token_ids`: a retrieved document's picture, the
picture being edited), its token at each new position is the draft instead, also one-hot: retrieval-based
speculative decoding (He et al. 2023, "REST"). A reference changes how many forwards an image takes, never its
distribution.

Every image advances by its own number of tokens, so the KV cache is written per row (`RowwiseStaticCache`): each
forward writes the window's keys and values at each row's own slots, overwriting the rejected drafts of the
previous forward (the rollback), and a boolean 4-D mask shows each query its row's prompt and accepted tokens. All
shapes are fixed, so the step compiles.
"""

from __future__ import annotations

import math

import torch
from transformers.cache_utils import Cache, StaticLayer

from .configuration import CM3LeonImageGenerationConfig
from .decoding import StepCallback, image_logits
from .prompts import GuidanceStreams
from .sampling import ImageTokenSampler, sample_from_logits


class _RowwiseStaticLayer(StaticLayer):
    """A static cache layer written at per-row slots (`cache.write_slots`, `(rows, length)`) instead of one shared
    position, so that rows can advance by different numbers of tokens."""

    def __init__(self, max_cache_len: int, cache: RowwiseStaticCache):
        super().__init__(max_cache_len)
        self._cache = cache

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        slots = self._cache.write_slots[:, None, :, None]
        self.keys.scatter_(2, slots.expand(-1, key_states.shape[1], -1, key_states.shape[-1]), key_states)
        self.values.scatter_(2, slots.expand(-1, value_states.shape[1], -1, value_states.shape[-1]), value_states)
        return self.keys, self.values


class RowwiseStaticCache(Cache):
    """A preallocated KV cache whose rows are written at their own slots: set `write_slots` `(rows, length)` before
    each forward of `length` tokens per row."""

    def __init__(self, config, max_cache_len: int):
        self.write_slots: torch.LongTensor | None = None
        layers = [_RowwiseStaticLayer(max_cache_len, self) for _ in range(config.num_hidden_layers)]
        super().__init__(layers=layers)


def _window_step(model, input_ids, attention_mask, position_ids, cache, sampler, logit_bias=None):
    """One forward of every stream's window; the sampler's scores of every window position `(R, W, V)`."""
    hidden = model.model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids,
        past_key_values=cache,
        use_cache=True,
    ).last_hidden_state
    return sampler.scores(image_logits(model, hidden).float(), logit_bias)


_compiled_window_step = None


def _get_compiled_window_step():
    global _compiled_window_step
    if _compiled_window_step is None:
        _compiled_window_step = torch.compile(_window_step)
    return _compiled_window_step


def _uniforms(generator, num_images: int, count: int, device) -> torch.Tensor:
    """`(num_images, count)` uniforms: from one generator (or the global one), or one row per image's generator
    (a list of per-prompt generators gives each prompt's images consecutive rows)."""
    if generator is None or isinstance(generator, torch.Generator):
        draw_device = generator.device if generator is not None else device
        return torch.rand((num_images, count), generator=generator, device=draw_device).to(device)
    per_generator = num_images // len(generator)
    return torch.cat([torch.rand((per_generator, count), generator=g, device=g.device).to(device) for g in generator])


def _fresh_drafts(token_ids, num_accepted, offsets, grid: int, uniforms, vocab: int, reference=None):
    """Drafts for the window positions no forward has seen, and their `q`: the reference image's token at that
    position when there is a reference (one-hot); else the accepted token one image row above (`grid` tokens back)
    where there is one (one-hot), else uniform draws."""
    if reference is not None:
        drafts = reference.gather(1, (num_accepted[:, None] + offsets).clamp(max=reference.shape[1] - 1))
        return drafts, torch.nn.functional.one_hot(drafts, vocab).float()
    above_index = num_accepted[:, None] + offsets - grid
    known = (above_index >= 0) & (offsets < grid)[None, :]
    above = token_ids.gather(1, above_index.clamp(0, token_ids.shape[1] - 1))  # unknown positions: any valid index
    uniform = (uniforms * vocab).long().clamp_(max=vocab - 1)
    drafts = torch.where(known, above, uniform)
    probs = torch.where(known[..., None], torch.nn.functional.one_hot(above, vocab).float(), 1.0 / vocab)
    return drafts, probs


def decode_speculative(
    model,
    streams: GuidanceStreams,
    num_tokens: int,
    sampler: ImageTokenSampler,
    settings: CM3LeonImageGenerationConfig,
    generator,
    num_prompts: int,
    callback: StepCallback | None,
    progress,
    reference: torch.LongTensor | None = None,
    logit_bias: torch.FloatTensor | None = None,
) -> tuple[torch.LongTensor, int, int]:
    """Draw `num_tokens` image tokens per image by speculative Jacobi decoding; returns `(token_ids, number drawn,
    forward passes)`, as the sequential loop. `reference` `(num_images, num_tokens)`: codes to draft from (e.g. a
    retrieved picture's), instead of the row above. `logit_bias` `(num_tokens, V)`: `image_logit_bias`."""
    device = model.device
    config = model.config
    draft_length = settings.draft_length
    width = draft_length + 1
    num_images, num_streams = streams.num_images, streams.num_streams
    rows = num_images * num_streams
    vocab = config.image_vocab_size
    prompt_length = streams.prompt_length
    max_cache_len = prompt_length + num_tokens + draft_length
    cache = RowwiseStaticCache(config, max_cache_len)
    greedy = not settings.do_sample

    # Prefill: every row's prompt at slots 0 .. P-1; the first token is drawn from the exact distribution.
    prompt_mask = streams.attention_mask
    cache.write_slots = torch.arange(prompt_length, device=device).expand(rows, -1)
    prompt_positions = (prompt_mask.cumsum(-1) - 1).clamp(min=0)
    hidden = model.model(
        input_ids=streams.input_ids,
        attention_mask=prompt_mask,
        position_ids=prompt_positions,
        past_key_values=cache,
        use_cache=True,
    ).last_hidden_state
    first_scores = sampler.scores(
        image_logits(model, hidden[:, -1]).float(), None if logit_bias is None else logit_bias[0]
    )
    if torch.isnan(first_scores).any() or not torch.isfinite(first_scores).any(-1).all():
        raise FloatingPointError(
            "The model's image logits after the prompt are not finite (NaN or inf) for some image: check the weights "
            "(e.g. an overflow in float16) and the prompt."
        )
    if greedy:
        first = first_scores.argmax(-1)
    else:
        first = sample_from_logits(first_scores, _uniforms(generator, num_images, 1, device)[:, 0])

    token_ids = torch.zeros((num_images, num_tokens + width), dtype=torch.long, device=device)  # codes, then ids
    token_ids[:, 0] = first
    num_accepted = torch.ones(num_images, dtype=torch.long, device=device)  # tokens accepted per image
    offsets = torch.arange(width, device=device)
    # Images are square grids of codes (then a palette code): the token one row above a position is `grid` back.
    num_grid_tokens = num_tokens - 1 if getattr(config, "num_palette_tokens", 0) else num_tokens
    grid = math.isqrt(num_grid_tokens) if math.isqrt(num_grid_tokens) ** 2 == num_grid_tokens else 0
    initial_uniforms = (
        torch.zeros((num_images, draft_length), device=device)
        if greedy
        else _uniforms(generator, num_images, draft_length, device)
    )
    drafts, draft_probs = _fresh_drafts(
        token_ids, num_accepted, offsets[:draft_length], grid, initial_uniforms, vocab, reference
    )

    # Fixed buffers of the window step (same shapes and addresses every forward, so the step compiles).
    window_ids = torch.empty((rows, width), dtype=torch.long, device=device)
    window_positions = torch.empty((rows, width), dtype=torch.long, device=device)
    write_slots = torch.empty((rows, width), dtype=torch.long, device=device)
    window_mask = torch.empty((rows, 1, width, max_cache_len), dtype=torch.bool, device=device)
    window_bias = None if logit_bias is None else torch.empty((num_images, width, vocab), device=device)
    cache.write_slots = write_slots
    key_slots = torch.arange(max_cache_len, device=device)
    prompt_visible = torch.zeros((rows, max_cache_len), dtype=torch.bool, device=device)
    prompt_visible[:, :prompt_length] = prompt_mask.bool()
    prompt_lengths = prompt_mask.sum(-1, keepdim=True)
    max_position = config.max_position_embeddings - 1
    step_fn = _get_compiled_window_step() if settings.compile else _window_step

    num_forwards, reported = 1, 1
    progress.update(1)
    if callback is not None and callback(0, token_ids[:, :1] + config.image_token_offset, first_scores):
        return token_ids[:, :1] + config.image_token_offset, 1, num_forwards
    while True:
        active = num_accepted < num_tokens
        if not bool(active.any()):
            break
        # The window of every image: its last accepted token, then its drafts, for every stream.
        last = token_ids.gather(1, (num_accepted - 1)[:, None])
        window = torch.cat([last, drafts], dim=1) + config.image_token_offset
        window_ids.copy_(window.repeat(num_streams, 1))
        start_slot = (prompt_length + num_accepted - 1).repeat(num_streams)[:, None]
        # Finished images keep running (fixed shapes); their slots are clamped into the cache, their output unread.
        torch.clamp(start_slot + offsets, max=max_cache_len - 1, out=write_slots)
        positions = prompt_lengths + (num_accepted - 1).repeat(num_streams)[:, None] + offsets
        window_positions.copy_(positions.clamp(max=max_position))  # finished rows run past the end, unread
        generated_visible = (key_slots >= prompt_length) & (key_slots[None, None, :] <= write_slots[:, :, None])
        window_mask.copy_((prompt_visible[:, None, :] | generated_visible)[:, None])
        if logit_bias is not None:  # window position j draws image position num_accepted + j
            window_bias.copy_(logit_bias[(num_accepted[:, None] + offsets).clamp(max=num_tokens - 1)])

        scores = step_fn(model, window_ids, window_mask, window_positions, cache, sampler, window_bias)  # (R, W, V)
        num_forwards += 1
        probs = scores.softmax(-1)
        uniforms = None if greedy else _uniforms(generator, num_images, 2 * draft_length + 1, device)

        # Verify the drafts left to right: d_j against P_{j-1}.
        if greedy:
            accept = drafts == scores[:, :draft_length].argmax(-1)
        else:
            p_draft = probs[:, :draft_length].gather(-1, drafts[..., None]).squeeze(-1)
            q_draft = draft_probs.gather(-1, drafts[..., None]).squeeze(-1)
            accept = uniforms[:, :draft_length] * q_draft < p_draft
        num_kept = accept.long().cumprod(-1).sum(-1)  # leading accepted drafts, (R,)

        # The token after them: the residual of a rejected draft's position, or P_L after a full window.
        index = num_kept[:, None, None].expand(-1, 1, vocab)
        p_next = probs.gather(1, index).squeeze(1)
        if greedy:
            new_token = scores.gather(1, index).squeeze(1).argmax(-1)
        else:
            q_next = draft_probs.gather(1, index.clamp(max=draft_length - 1)).squeeze(1)
            residual = (p_next - q_next).clamp_(min=0)
            mass = residual.sum(-1, keepdim=True)
            full_window = (num_kept == draft_length)[:, None]
            target = torch.where(full_window | (mass <= 0), p_next, residual / mass.clamp(min=1e-30))
            new_token = sample_from_logits(target.log(), uniforms[:, draft_length])

        # Write the accepted drafts and the new token after each image's accepted tokens.
        written = torch.where(offsets[None, :draft_length] < num_kept[:, None], drafts, new_token[:, None])
        written = torch.cat([written, new_token[:, None]], dim=1)
        keep = offsets[None, :] <= num_kept[:, None]
        columns = (num_accepted[:, None] + offsets).clamp(max=token_ids.shape[1] - 1)
        token_ids.scatter_(1, columns, torch.where(keep, written, token_ids.gather(1, columns)))
        num_accepted = torch.where(active, num_accepted + num_kept + 1, num_accepted)

        # Next drafts: redrawn from this forward's distributions of the positions after the new token, then fresh.
        source = (num_kept[:, None] + 1 + offsets[:draft_length]).clamp(max=draft_length)
        valid = (num_kept[:, None] + 1 + offsets[:draft_length]) <= draft_length
        gathered = source[..., None].expand(-1, -1, vocab)
        stale_scores = scores.gather(1, gathered)
        stale_probs = probs.gather(1, gathered)
        fresh_uniforms = torch.zeros_like(drafts, dtype=probs.dtype) if greedy else uniforms[:, draft_length + 1 :]
        fresh, fresh_probs = _fresh_drafts(
            token_ids, num_accepted, offsets[:draft_length], grid, fresh_uniforms, vocab, reference
        )
        if greedy:
            drafts = torch.where(valid, stale_scores.argmax(-1), fresh)
        else:
            redrawn = sample_from_logits(stale_scores, uniforms[:, draft_length + 1 :])
            drafts = torch.where(valid, redrawn, fresh)
            draft_probs = torch.where(valid[..., None], stale_probs, fresh_probs)

        done = int(num_accepted.clamp(max=num_tokens).min())
        if done > reported:
            progress.update(done - reported)
            reported = done
        if callback is not None and callback(done - 1, token_ids[:, :done] + config.image_token_offset, p_next.log()):
            return token_ids[:, :done] + config.image_token_offset, done, num_forwards
    return token_ids[:, :num_tokens] + config.image_token_offset, num_tokens, num_forwards


__all__ = ["RowwiseStaticCache", "decode_speculative"]
