# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The guidance streams of one generation: checked prompts, repeated per image, left-padded into one batch."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from ..sequence_format import unconditional_input_ids
from ..validation import describe

# Refuse a generation whose KV cache alone would take more than this share of the available memory.
MEMORY_SHARE = 0.8


@dataclass
class GuidanceStreams:
    """The prompts of every stream of every image, stream-major (`rows = num_streams * num_images`), left-padded."""

    input_ids: torch.LongTensor
    attention_mask: torch.LongTensor
    num_streams: int
    num_images: int

    @property
    def prompt_length(self) -> int:
        return self.input_ids.shape[1]


def check_prompt(
    config, name: str, input_ids, mask_name: str, attention_mask, batch_size: int | None, last_token_id: int | None
) -> None:
    """A left-padded batch of prompts, with ids in the vocabulary, each ending with `last_token_id` (when given)."""
    if not isinstance(input_ids, torch.Tensor):
        raise TypeError(
            f"`{name}` must be a torch.LongTensor of shape (batch_size, length), got {describe(input_ids)}."
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
                tuple(attention_mask.shape) if isinstance(attention_mask, torch.Tensor) else describe(attention_mask)
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
    if last_token_id is not None and not (input_ids[:, -1] == last_token_id).all():
        raise ValueError(
            f"Every row of `{name}` must end with <racm3:break> (id {last_token_id}), after which the model draws the "
            f"image; got last tokens {input_ids[:, -1].tolist()}. Build prompts with "
            "`processor.text_to_image_prompt(...)`."
        )


def check_image_tokens(config, name: str, image_token_ids, batch_size: int) -> None:
    """One picture per prompt row: `(batch_size, image_seq_length)` image-token ids."""
    if not isinstance(image_token_ids, torch.Tensor) or image_token_ids.is_floating_point():
        raise TypeError(
            f"`{name}` must be a torch.LongTensor of shape (batch_size, image_seq_length), got "
            f"{describe(image_token_ids)}."
        )
    expected = (batch_size, config.image_seq_length)
    if tuple(image_token_ids.shape) != expected:
        raise ValueError(
            f"`{name}` must have shape {expected} (one image per prompt row, "
            f"image_seq_length={config.image_seq_length}), got {tuple(image_token_ids.shape)}."
        )
    first, last = config.image_token_offset, config.image_token_offset + config.image_vocab_size
    low, high = int(image_token_ids.min()), int(image_token_ids.max())
    if low < first or high >= last:
        raise ValueError(
            f"`{name}` must be image tokens, ids in [{first}, {last}) (`config.image_token_ids`), got values "
            f"in [{low}, {high}]."
        )


def build_streams(
    config,
    prompts: list[tuple[str, torch.Tensor | None, torch.Tensor | None]],
    num_images_per_prompt: int,
    device: torch.device,
) -> GuidanceStreams:
    """`prompts` is `[(name, input_ids, attention_mask)]` per stream, stream-major; a missing unconditional stream
    (`input_ids=None`) is the model's unconditional prompt. Each prompt row is repeated per image."""
    batch_size = prompts[0][1].shape[0]
    streams = []
    for _, input_ids, attention_mask in prompts:
        if input_ids is None:
            input_ids = torch.tensor([unconditional_input_ids(config)]).expand(batch_size, -1)
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        streams.append(
            (input_ids.to(device=device, dtype=torch.long), attention_mask.to(device=device, dtype=torch.long))
        )
    length = max(ids.shape[1] for ids, _ in streams)
    padded = [
        _left_pad(
            ids.repeat_interleave(num_images_per_prompt, 0),
            mask.repeat_interleave(num_images_per_prompt, 0),
            length,
            config.pad_token_id,
        )
        for ids, mask in streams
    ]
    return GuidanceStreams(
        input_ids=torch.cat([ids for ids, _ in padded]),
        attention_mask=torch.cat([mask for _, mask in padded]),
        num_streams=len(streams),
        num_images=batch_size * num_images_per_prompt,
    )


def check_context_length(config, prompts, streams: GuidanceStreams, num_new_tokens: int) -> None:
    """Each stream's longest prompt plus the tokens to draw (and a closing token) must fit in the context."""
    rows = streams.num_images
    for index, (name, _, _) in enumerate(prompts):
        longest = int(streams.attention_mask[index * rows : (index + 1) * rows].sum(-1).max())
        if longest + num_new_tokens + 1 > config.max_position_embeddings:
            raise ValueError(
                f"A prompt of `{name}` has {longest} tokens; with the {num_new_tokens} image tokens to draw and a "
                f"closing token it exceeds the context of max_position_embeddings={config.max_position_embeddings}. "
                f"Prompts may have at most {config.max_position_embeddings - num_new_tokens - 1} tokens."
            )


def check_memory(model, streams: GuidanceStreams, num_new_tokens: int, name: str = "num_images_per_prompt") -> None:
    """Refuse, before any work, a generation whose KV cache would not fit in the memory available."""
    config = model.config
    rows = streams.input_ids.shape[0]
    length = streams.prompt_length + num_new_tokens
    bytes_per_value = torch.finfo(model.dtype).bits // 8
    cache_bytes = 2 * config.num_hidden_layers * rows * length * config.num_key_value_heads * config.head_dim
    cache_bytes *= bytes_per_value
    available = _available_memory(model.device)
    if available is not None and cache_bytes > MEMORY_SHARE * available:
        raise ValueError(
            f"This generation decodes {rows} rows ({streams.num_images} images x {streams.num_streams} guidance "
            f"streams) of up to {length} tokens: its KV cache alone needs {cache_bytes / 2**30:.1f} GiB, more than "
            f"{MEMORY_SHARE:.0%} of the {available / 2**30:.1f} GiB available on {model.device}. Lower `{name}` or "
            "the number of prompts per call."
        )


def _available_memory(device: torch.device) -> int | None:
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free
    if device.type == "cpu" and hasattr(os, "sysconf"):
        try:
            return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError):
            return None
    return None


def _left_pad(input_ids, attention_mask, length: int, pad_token_id: int):
    num_pad = length - input_ids.shape[1]
    if num_pad == 0:
        return input_ids, attention_mask
    return F.pad(input_ids, (num_pad, 0), value=pad_token_id), F.pad(attention_mask, (num_pad, 0), value=0)


__all__ = [
    "GuidanceStreams",
    "build_streams",
    "check_context_length",
    "check_image_tokens",
    "check_memory",
    "check_prompt",
]
