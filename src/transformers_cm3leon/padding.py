# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Batching token-id sequences for [`CM3LeonProcessor`]: padding (left for generation), labels, and truncation that
never cuts an image in two."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from transformers import BatchFeature

from .validation import describe

_PADDING_STRATEGIES = (True, False, "longest", "max_length", "do_not_pad")


class CM3LeonPaddingMixin:
    """`pad` and the checks of token ids of [`CM3LeonProcessor`]."""

    def pad(
        self,
        sequences: Sequence[Sequence[int]],
        padding: bool | str = True,
        padding_side: str | None = None,
        max_length: int | None = None,
        truncation: bool = False,
        pad_to_multiple_of: int | None = None,
        return_labels: bool = False,
        return_tensors: str | None = None,
    ) -> BatchFeature:
        """Batch token-id sequences (e.g. prompts from the builders) into `input_ids` and `attention_mask`.

        Example: the two streams of classifier-free guidance, left-padded for generation:

        ```python
        >>> batch = processor.pad(
        ...     [processor.text_to_image_prompt("a red circle"), processor.unconditional_prompt()],
        ...     padding_side="left", return_tensors="pt",
        ... )
        ```

        Args: as in `__call__`; `padding` defaults to `True` here.

        Returns:
            [`~transformers.BatchFeature`] with `input_ids`, `attention_mask` and, if `return_labels`, `labels` (the
            ids with padding set to -100).
        """
        sequences = [self._check_ids(seq, f"sequences[{i}]") for i, seq in enumerate(_as_list_of_sequences(sequences))]
        if padding not in _PADDING_STRATEGIES:
            raise ValueError(f"`padding` must be one of {list(_PADDING_STRATEGIES)}, got {padding!r}.")
        padding_side = self.tokenizer.padding_side if padding_side is None else padding_side
        if padding_side not in ("left", "right"):
            raise ValueError(f"`padding_side` must be 'left' or 'right', got {padding_side!r}.")
        if return_tensors not in (None, "pt", "np"):
            raise ValueError(f"`return_tensors` must be 'pt', 'np' or None, got {return_tensors!r}.")
        if max_length is not None and (
            isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1
        ):
            raise ValueError(f"`max_length` must be a positive integer, got {max_length!r}.")
        if pad_to_multiple_of is not None and (
            isinstance(pad_to_multiple_of, bool) or not isinstance(pad_to_multiple_of, int) or pad_to_multiple_of < 1
        ):
            raise ValueError(f"`pad_to_multiple_of` must be a positive integer, got {pad_to_multiple_of!r}.")
        if truncation and max_length is None:
            raise ValueError("`truncation=True` needs `max_length`.")
        if padding == "max_length" and max_length is None:
            raise ValueError("`padding='max_length'` needs `max_length`.")

        if max_length is not None:
            for index, seq in enumerate(sequences):
                if len(seq) <= max_length:
                    continue
                if not truncation:
                    raise ValueError(
                        f"Sequence {index} has {len(seq)} tokens, more than `max_length`={max_length}. Shorten it, raise "
                        "`max_length`, or pass `truncation=True` to keep its first `max_length` tokens."
                    )
                self._check_cut(seq, max_length, index)
                sequences[index] = seq[:max_length]

        lengths = [len(seq) for seq in sequences]
        if padding in (True, "longest", "max_length"):
            target = max_length if padding == "max_length" else max(lengths)
            if pad_to_multiple_of is not None:
                target = -(-target // pad_to_multiple_of) * pad_to_multiple_of
        else:
            target = None
            if return_tensors is not None and len(set(lengths)) > 1:
                raise ValueError(
                    f"The sequences have different lengths {lengths}; pass `padding=True` to batch them as tensors."
                )

        input_ids, attention_mask = [], []
        for seq in sequences:
            num_pad = 0 if target is None else target - len(seq)
            if num_pad and self.pad_token_id is None:
                raise ValueError("The tokenizer has no `pad_token`; set one to pad a batch.")
            pad, ones, zeros = [self.pad_token_id] * num_pad, [1] * len(seq), [0] * num_pad
            if padding_side == "left":
                input_ids.append(pad + seq)
                attention_mask.append(zeros + ones)
            else:
                input_ids.append(seq + pad)
                attention_mask.append(ones + zeros)
        data = {"input_ids": input_ids, "attention_mask": attention_mask}
        if return_labels:
            data["labels"] = [
                [token if keep else -100 for token, keep in zip(ids, mask)]
                for ids, mask in zip(input_ids, attention_mask)
            ]
        return BatchFeature(data, tensor_type=return_tensors)

    def _check_image_token_ids(self, ids, name: str = "image token ids") -> list[int]:
        ids = self._check_ids(ids, name)
        start, stop = self.image_token_offset, self.image_token_offset + self.image_vocab_size
        if len(ids) != self.image_seq_length or not all(start <= i < stop for i in ids):
            raise ValueError(
                f"`{name}`: a pre-tokenised image must be {self.image_seq_length} ids in the image-token range "
                f"[{start}, {stop}); got {len(ids)} ids from {min(ids, default=None)} to {max(ids, default=None)}."
            )
        return ids

    def _check_ids(self, ids, name: str) -> list[int]:
        if isinstance(ids, (torch.Tensor, np.ndarray)):
            if ids.ndim != 1:
                raise ValueError(f"`{name}` must be one sequence of token ids (1-D), got shape {tuple(ids.shape)}.")
            ids = ids.tolist()
        if not isinstance(ids, (list, tuple)) or not all(
            isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in ids
        ):
            raise TypeError(f"`{name}` must be a sequence of integer token ids, got {describe(ids)}.")
        ids = [int(i) for i in ids]
        vocab_size = self.vocab_size  # len(tokenizer): ~80 us a call, so once per sequence, not per id
        bad = [i for i in ids if not 0 <= i < vocab_size]
        if bad:
            raise ValueError(f"`{name}` holds token ids outside [0, {vocab_size}): {bad[:5]}.")
        return ids

    def _check_cut(self, ids: list[int], length: int, index: int) -> None:
        """Refuse a truncation at `length` that would keep only part of an image."""
        if not (self.is_image_token(ids[length - 1]) and self.is_image_token(ids[length])):
            return
        start = length - 1
        while start > 0 and self.is_image_token(ids[start - 1]):
            start -= 1
        if (length - start) % self.image_seq_length:
            raise ValueError(
                f"Truncating sequence {index} to `max_length`={length} would cut an image "
                f"({self.image_seq_length} tokens starting at position {start}); choose a `max_length` at an image "
                "boundary or shorten the input."
            )


def _as_list_of_sequences(sequences) -> list:
    if isinstance(sequences, (torch.Tensor, np.ndarray)):
        if sequences.ndim != 2:
            raise ValueError(f"`sequences` must be a 2-D batch of token ids, got shape {tuple(sequences.shape)}.")
        return list(sequences)
    if not isinstance(sequences, (list, tuple)) or not sequences:
        raise TypeError(f"`sequences` must be a non-empty list of token-id sequences, got {describe(sequences)}.")
    return list(sequences)


__all__ = ["CM3LeonPaddingMixin"]
