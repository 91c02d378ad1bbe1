# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Image infilling, CM3's own trick: the masked runs of an image are written after the document, as CM3 training
writes masked spans.

The document (`processor.inpainting_prompt`) holds the image with each run of masked tokens replaced by
`<sentinel:i>`. After it the model writes, for each run in order, `<sentinel:i>`, exactly as many image tokens as the
run holds, and `<eoss>`:

    document <sentinel:0> run_0 <eoss> <sentinel:1> run_1 <eoss> ...

The sentinels and `<eoss>` are written by the loop, not sampled: only image tokens are drawn, with the image-token
constraint and classifier-free guidance against the same document without its prompt (the unconditional stream).
"""

from __future__ import annotations

import torch

from ..validation import check_int, describe
from .prompts import GuidanceStreams, build_streams, check_context_length, check_memory


def infill_runs(
    model,
    prompts: list,
    run_lengths: list[int],
    settings,
    num_images_per_prompt: int,
    generator,
    progress_bar: bool,
    callback,
) -> tuple[torch.LongTensor, int, int, bool]:
    """Draw every run after the documents of `prompts` (`[(name, ids, mask)]` per stream). Returns the runs' tokens
    concatenated `(images, sum(run_lengths))`, the number drawn, the forward passes and whether all were drawn."""
    config = model.config
    streams = build_streams(config, prompts, num_images_per_prompt, model.device)
    total = sum(run_lengths)
    check_context_length(config, prompts, streams, total + 2 * len(run_lengths))
    check_memory(model, streams, total + 2 * len(run_lengths))
    drawn, num_forwards = [], 0
    for index, length in enumerate(run_lengths):
        opening = (
            [config.sentinel_token_ids[index]]
            if index == 0
            else [config.eoss_token_id, config.sentinel_token_ids[index]]
        )
        streams = _append(streams, torch.tensor(opening, device=model.device).expand(streams.input_ids.shape[0], -1))
        run_callback = None
        if callback is not None:
            offset = sum(run_lengths[:index])
            run_callback = lambda step, ids, scores, offset=offset: callback(offset + step, ids, scores)  # noqa: E731
        token_ids, num_drawn, forwards = model._draw_image_tokens(
            streams, length, settings, num_images_per_prompt, generator, progress_bar, run_callback, ends_image=False
        )
        drawn.append(token_ids[:, :num_drawn])
        num_forwards += forwards
        if num_drawn < length:
            tokens = torch.cat(drawn, dim=1)
            return tokens, tokens.shape[1], num_forwards, False
        streams = _append(streams, token_ids.repeat(streams.num_streams, 1))
    return torch.cat(drawn, dim=1), total, num_forwards, True


def check_run_lengths(config, run_lengths) -> list[int]:
    if not isinstance(run_lengths, (list, tuple)) or not run_lengths:
        raise TypeError(f"`run_lengths` must be a non-empty list of positive integers, got {describe(run_lengths)}.")
    lengths = [check_int(f"run_lengths[{i}]", length, 1) for i, length in enumerate(run_lengths)]
    if len(lengths) > config.num_sentinel_tokens:
        raise ValueError(
            f"`run_lengths` has {len(lengths)} runs, but the vocabulary has {config.num_sentinel_tokens} sentinel "
            "tokens, one per run."
        )
    if sum(lengths) >= config.image_seq_length:
        raise ValueError(
            f"`run_lengths` add up to {sum(lengths)} tokens: an infilled image keeps at least one of its "
            f"{config.image_seq_length} tokens (to redraw all of them, draw a new image)."
        )
    return lengths


def _append(streams: GuidanceStreams, token_ids: torch.LongTensor) -> GuidanceStreams:
    """The streams with `token_ids` `(rows, n)` appended to every row (after the left padding, so it stays left)."""
    return GuidanceStreams(
        input_ids=torch.cat([streams.input_ids, token_ids], dim=1),
        attention_mask=torch.cat([streams.attention_mask, torch.ones_like(token_ids)], dim=1),
        num_streams=streams.num_streams,
        num_images=streams.num_images,
    )


__all__ = ["check_run_lengths", "infill_runs"]
