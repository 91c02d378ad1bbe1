# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The CM3 causal-masking objective and the data collator that applies it to each training block.

CM3 (Aghajanyan et al., 2022) as CM3Leon trained it (the paper's §2.3; metaseq `CausalMaskedDocumentToSequenceDataset`
on the `scaling_racm3` branch), per block of length L:

1. n ~ Poisson(lambda), clamped to [0, max_spans]. n = 0 leaves the block a plain causal-LM block.
2. Span placement over the first W = L - 3n positions (see below). n = 1: two sorted Uniform(0, 1) draws u1 <= u2
   give the span [max(1, floor(u1 W)), floor(u2 W + 0.5)). n > 1: n^2 such candidates, kept greedily while they do
   not intersect the ones already kept, until n are kept. Empty spans are dropped.
3. Segments are the maximal runs of tokens between `<racm3:break>` tokens (the break tokens and position 0 belong
   to no segment). Each span is clipped to the segment it overlaps most, so no span crosses a break and no break
   is ever masked; a span that overlaps no segment is dropped.
4. Spans are sorted by start; span i is replaced by `<sentinel:i>` in the source, and `<sentinel:i> span <eoss>` is
   appended at the end, in order.
5. Each kept span adds 3 tokens (its two sentinels and `<eoss>`) and the block keeps its length L: the source is
   cut to its first L - 3k tokens for k kept spans (k <= n, so all spans lie in the part that is kept).
6. The loss is plain next-token cross-entropy on every token (sentinels and `<eoss>` included).

One deliberate difference from metaseq: spans are drawn over the first W = L - 3n positions (a part of the source
that always survives step 5) instead of all L. metaseq draws over L and then cuts the source tail, which can cut away a
span's sentinel (it then appears once) or, on the `main` branch, the end of the appended spans. Here every kept span
is complete: each used sentinel appears exactly twice, and the appended spans are exactly the removed tokens.

Randomness comes from a `torch.Generator` (or torch's global generator), so the same seed gives the same masks.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
from transformers.data.data_collator import DataCollatorMixin

IGNORE_INDEX = -100
CM3_MODES = ("cm3", "causal")


class CM3MaskedRow(NamedTuple):
    """One masked row: its tokens, its labels (when labels were given) and the masked spans of the input row."""

    input_ids: np.ndarray
    labels: np.ndarray | None
    spans: list[tuple[int, int]]


def _resolve_id(name: str, explicit, config):
    """An explicit argument wins over the config's attribute of the same name."""
    if explicit is not None:
        return explicit
    return None if config is None else getattr(config, name, None)


def _check_token_id(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"`{name}` must be a non-negative integer token id, got {value!r}.")
    return int(value)


def sample_cm3_spans(
    input_ids: np.ndarray, num_spans: int, uniforms: np.ndarray, *, break_token_id: int
) -> list[tuple[int, int]]:
    """Place `num_spans` CM3 spans in a row, given the uniform draws (steps 2 and 3 of the module docstring).

    Deterministic given `uniforms`, which must hold `2` values for `num_spans == 1` and `2 * num_spans**2` values
    otherwise. Spans are drawn over the first `len(input_ids) - 3 * num_spans` positions, clipped to the
    break-delimited segment they overlap most, and returned sorted by start as half-open `(start, end)` pairs.
    Fewer than `num_spans` spans come back when candidates intersect, are empty, or lie on breaks only.
    """
    if num_spans <= 0:
        return []
    input_ids = np.asarray(input_ids)
    window = len(input_ids) - 3 * num_spans
    if window < 2:
        raise ValueError(
            f"A row of {len(input_ids)} tokens cannot hold {num_spans} spans: each span adds 3 tokens and at least "
            "2 source tokens must remain."
        )
    expected = 2 if num_spans == 1 else 2 * num_spans * num_spans
    uniforms = np.asarray(uniforms, dtype=np.float64)
    if uniforms.size != expected:
        raise ValueError(f"`uniforms` must hold {expected} values for num_spans={num_spans}, got {uniforms.size}.")
    # Small per-row work in Python scalars: faster than numpy calls on arrays of a few elements.
    values = uniforms.tolist()
    kept: list[tuple[int, int]] = []
    for j in range(0, len(values), 2):
        low, high = sorted(values[j : j + 2])
        start, end = max(1, int(low * window)), int(high * window + 0.5)  # floor, and round half up
        # Greedy selection of non-intersecting candidates, in draw order (empty candidates are not spans).
        if end > start and all(max(start, s) >= min(end, e) for s, e in kept):
            kept.append((start, end))
            if len(kept) == num_spans:
                break

    # Segments: runs between breaks inside [1, window). Clip each span to the segment it overlaps most (the first
    # such segment on ties, as metaseq's `adjust_spans`); drop a span that overlaps no segment.
    breaks = np.flatnonzero(input_ids[:window] == break_token_id).tolist()
    segment_starts = [1] + [b + 1 for b in breaks]
    segment_ends = breaks + [window]
    spans = []
    for start, end in kept:
        best, best_overlap = -1, 0
        for k in range(bisect_right(segment_ends, start), bisect_left(segment_starts, end)):
            overlap = min(end, segment_ends[k]) - max(start, segment_starts[k])
            if overlap > best_overlap:
                best, best_overlap = k, overlap
        if best >= 0:
            spans.append((max(start, segment_starts[best]), min(end, segment_ends[best])))
    return sorted(spans)


def apply_cm3_spans(
    input_ids: np.ndarray,
    spans: Sequence[tuple[int, int]],
    *,
    sentinel_token_ids: np.ndarray,
    eoss_token_id: int,
    labels: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Move `spans` of a row to its end (steps 4 and 5 of the module docstring); the length is kept.

    `spans` are sorted, non-overlapping half-open `(start, end)` pairs inside the first `len(input_ids) - 3 *
    len(spans)` positions. When `labels` are given (`-100` = no loss) they move with their tokens; an inserted
    sentinel or `<eoss>` gets a loss when any token of its span has one.
    """
    input_ids = np.asarray(input_ids)
    labels = None if labels is None else np.asarray(labels)
    length = len(input_ids)
    source_length = length - 3 * len(spans)
    if len(spans) > len(sentinel_token_ids):
        raise ValueError(f"{len(spans)} spans need as many sentinels, only {len(sentinel_token_ids)} are available.")
    previous_end = 0
    for start, end in spans:
        if not previous_end <= start < end <= source_length:
            raise ValueError(
                f"`spans` must be sorted, non-empty, non-overlapping and end by position {source_length} "
                f"(row length {length} minus 3 per span); got {list(spans)}."
            )
        previous_end = end

    eoss = np.array([eoss_token_id], dtype=input_ids.dtype)
    sentinels = np.asarray(sentinel_token_ids, dtype=input_ids.dtype)
    source, target = [], []
    label_source, label_target = [], []
    previous_end = 0
    for i, (start, end) in enumerate(spans):
        sentinel = sentinels[i : i + 1]
        source += [input_ids[previous_end:start], sentinel]
        target += [sentinel, input_ids[start:end], eoss]
        if labels is not None:
            has_loss = bool((labels[start:end] != IGNORE_INDEX).any())
            inserted = sentinel if has_loss else np.full(1, IGNORE_INDEX, dtype=labels.dtype)
            closing = eoss if has_loss else np.full(1, IGNORE_INDEX, dtype=labels.dtype)
            label_source += [labels[previous_end:start], inserted]
            label_target += [inserted, labels[start:end], closing]
        previous_end = end
    source.append(input_ids[previous_end:source_length])
    output = np.concatenate(source + target)
    output_labels = None
    if labels is not None:
        label_source.append(labels[previous_end:source_length])
        output_labels = np.concatenate(label_source + label_target)
    return output, output_labels


class CM3Masking:
    r"""
    The CM3 causal-masking transform on token ids (see the module docstring for the exact algorithm).

    Token ids come from `config` (a [`CM3LeonConfig`]) unless given explicitly.

    Args:
        config ([`CM3LeonConfig`], *optional*): Source of `sentinel_token_ids`, `break_token_id`, `eoss_token_id`.
        sentinel_token_ids (`Sequence[int]`, *optional*): Ids of `<sentinel:0>`, `<sentinel:1>`, ... in order.
        break_token_id (`int`, *optional*): Id of `<racm3:break>`; no span crosses it.
        eoss_token_id (`int`, *optional*): Id of `<eoss>`, which closes each appended span.
        poisson_lambda (`float`, *optional*, defaults to 1.0): Mean number of spans per row (the paper's 1).
        max_spans (`int`, *optional*): Upper clamp of the number of spans; at most the number of sentinels.
            Defaults to the number of sentinels minus one (metaseq's clamp, 511 for 512 sentinels).
        mode (`str`, *optional*, defaults to `"cm3"`): `"cm3"` masks; `"causal"` returns rows unchanged (plain
            next-token prediction) and needs no CM3 token ids.
    """

    def __init__(
        self,
        config=None,
        *,
        sentinel_token_ids: Sequence[int] | None = None,
        break_token_id: int | None = None,
        eoss_token_id: int | None = None,
        poisson_lambda: float = 1.0,
        max_spans: int | None = None,
        mode: str = "cm3",
    ):
        if mode not in CM3_MODES:
            raise ValueError(f"`mode` must be one of {list(CM3_MODES)}, got {mode!r}.")
        self.mode = mode
        if isinstance(poisson_lambda, bool) or not isinstance(poisson_lambda, (int, float)):
            raise TypeError(f"`poisson_lambda` must be a number, got {poisson_lambda!r}.")
        if not (math.isfinite(poisson_lambda) and poisson_lambda >= 0):
            raise ValueError(f"`poisson_lambda` must be a finite number >= 0, got {poisson_lambda!r}.")
        self.poisson_lambda = float(poisson_lambda)
        if mode == "causal":
            self.sentinel_token_ids = np.zeros(0, dtype=np.int64)
            self.break_token_id = self.eoss_token_id = None
            self.max_spans = 0
            return

        sentinels = _resolve_id("sentinel_token_ids", sentinel_token_ids, config)
        if sentinels is None or len(sentinels) == 0:
            raise ValueError(
                "CM3 masking needs sentinel tokens: pass `sentinel_token_ids` or a config with `num_sentinel_tokens` "
                f"> 0 (got {sentinels!r}), or use mode='causal'."
            )
        self.sentinel_token_ids = np.array(
            [_check_token_id("sentinel_token_ids", t) for t in sentinels], dtype=np.int64
        )
        self.break_token_id = _check_token_id("break_token_id", _resolve_id("break_token_id", break_token_id, config))
        self.eoss_token_id = _check_token_id("eoss_token_id", _resolve_id("eoss_token_id", eoss_token_id, config))
        specials = [self.break_token_id, self.eoss_token_id, *self.sentinel_token_ids.tolist()]
        if len(set(specials)) != len(specials):
            raise ValueError(
                f"`break_token_id` ({self.break_token_id}), `eoss_token_id` ({self.eoss_token_id}) and the sentinel "
                "ids must all be different."
            )
        num_sentinels = len(self.sentinel_token_ids)
        if max_spans is None:
            max_spans = max(1, num_sentinels - 1)
        if isinstance(max_spans, bool) or not isinstance(max_spans, int) or not 0 <= max_spans <= num_sentinels:
            raise ValueError(
                f"`max_spans` must be an integer in [0, {num_sentinels}] (one sentinel per span), got {max_spans!r}."
            )
        self.max_spans = max_spans

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(mode={self.mode!r}, poisson_lambda={self.poisson_lambda}, "
            f"max_spans={self.max_spans}, num_sentinels={len(self.sentinel_token_ids)})"
        )

    def sample_num_spans(self, lengths: np.ndarray, generator: torch.Generator | None = None) -> np.ndarray:
        """n ~ Poisson(lambda) per row, clamped to [0, max_spans] and to what a row of its length can hold."""
        lengths = np.asarray(lengths, dtype=np.int64)
        if self.mode == "causal" or self.max_spans == 0 or self.poisson_lambda == 0:
            return np.zeros(len(lengths), dtype=np.int64)
        rates = torch.full((len(lengths),), self.poisson_lambda, dtype=torch.float64)
        num_spans = torch.poisson(rates, generator=generator).numpy().astype(np.int64)
        return np.minimum(num_spans, np.minimum(self.max_spans, np.maximum(0, (lengths - 2) // 3)))

    def mask_rows(
        self,
        rows: Sequence[np.ndarray],
        labels: Sequence[np.ndarray | None] | None = None,
        generator: torch.Generator | None = None,
    ) -> list[CM3MaskedRow]:
        """Mask a list of 1-D int64 rows (of any lengths); each keeps its length.

        All random numbers of the batch are drawn in two calls (the span counts, then every row's uniforms).
        """
        if labels is None:
            labels = [None] * len(rows)
        lengths = np.array([len(row) for row in rows], dtype=np.int64)
        num_spans = self.sample_num_spans(lengths, generator)
        draws_per_row = np.where(num_spans == 1, 2, 2 * num_spans * num_spans)
        uniforms = torch.rand(int(draws_per_row.sum()), dtype=torch.float64, generator=generator).numpy()
        offsets = np.concatenate(([0], np.cumsum(draws_per_row)))
        masked = []
        for i, (row, row_labels) in enumerate(zip(rows, labels)):
            if num_spans[i] == 0:
                masked.append(CM3MaskedRow(row, row_labels, []))
                continue
            spans = sample_cm3_spans(
                row, int(num_spans[i]), uniforms[offsets[i] : offsets[i + 1]], break_token_id=self.break_token_id
            )
            if not spans:
                masked.append(CM3MaskedRow(row, row_labels, []))
                continue
            ids, new_labels = apply_cm3_spans(
                row,
                spans,
                sentinel_token_ids=self.sentinel_token_ids,
                eoss_token_id=self.eoss_token_id,
                labels=row_labels,
            )
            masked.append(CM3MaskedRow(ids, new_labels, spans))
        return masked

    def __call__(self, input_ids, labels=None, generator: torch.Generator | None = None) -> CM3MaskedRow:
        """Mask one row (a list, array or 1-D tensor of ids)."""
        row = _as_row(input_ids, "input_ids")
        row_labels = None if labels is None else _as_row(labels, "labels", length=len(row))
        return self.mask_rows([row], [row_labels], generator)[0]


def _as_row(value, name: str, length: int | None = None, index: int | None = None) -> np.ndarray:
    where = f"`{name}`" if index is None else f"`{name}` of feature {index}"
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, list) and value and isinstance(value[0], int) and not isinstance(value[0], bool):
        # Python lists (the default `datasets` format): fromiter is ~2x faster than asarray. The element type is
        # checked on the first element only (an Arrow integer column never mixes types).
        row = np.fromiter(value, dtype=np.int64, count=len(value))
        if length is not None and len(row) != length:
            raise ValueError(f"{where} has {len(row)} entries but `input_ids` has {length}.")
        return row
    row = np.asarray(value)
    if row.ndim != 1 or not (np.issubdtype(row.dtype, np.integer) or row.size == 0):
        raise TypeError(
            f"{where} must be a 1-D sequence of integer token ids, got {type(value).__name__} {row.dtype}."
        )
    if length is not None and len(row) != length:
        raise ValueError(f"{where} has {len(row)} entries but `input_ids` has {length}.")
    return row.astype(np.int64, copy=False)


class DataCollatorForCM3(DataCollatorMixin):
    r"""
    Data collator for CM3Leon training: applies [`CM3Masking`] to each row, pads the batch, and returns `input_ids`,
    `attention_mask` and `labels` (equal to `input_ids` except `-100` on padding: plain next-token loss on every
    token). Masks are drawn anew at every call, so each epoch sees different masks.

    Rows must be unpadded (the collator pads on the right). A feature may carry `labels` (`-100` on tokens without
    loss, e.g. from an SFT template with `loss_on="output"`); they move with their tokens.

    Args:
        config ([`CM3LeonConfig`], *optional*): Source of the token ids (`pad_token_id` and the CM3 ids).
        sentinel_token_ids, break_token_id, eoss_token_id: See [`CM3Masking`]; explicit values win over `config`.
        pad_token_id (`int`, *optional*): Id used for padding. Defaults to `config.pad_token_id`.
        vocab_size (`int`, *optional*): Number of token ids; rows with an id outside `[0, vocab_size)` are refused.
            Defaults to `config.vocab_size` (no upper check without either).
        poisson_lambda (`float`, *optional*, defaults to 1.0): Mean number of spans per row.
        max_spans (`int`, *optional*): Upper clamp of the number of spans (see [`CM3Masking`]).
        mode (`str`, *optional*, defaults to `"cm3"`): `"cm3"` or `"causal"` (no masking).
        max_length (`int`, *optional*): Longest allowed row; a longer row raises (pack or filter the dataset first).
        pad_to_multiple_of (`int`, *optional*): Pad the batch length up to a multiple of this.
        seed (`int`, *optional*): Seed of the collator's own `torch.Generator`. In a `DataLoader` worker or a
            distributed rank other than the first, the seed is combined with the worker id and rank so that workers
            draw different masks. `None` (default) uses torch's global generator, which `transformers.set_seed` and
            the `Trainer`'s worker seeding control.
        return_tensors (`str`, *optional*, defaults to `"pt"`): `"pt"` or `"np"`.

    Example:

    ```python
    >>> from transformers_cm3leon import CM3LeonConfig
    >>> from transformers_cm3leon.data import DataCollatorForCM3

    >>> collator = DataCollatorForCM3(CM3LeonConfig(), seed=0)
    >>> batch = collator([{"input_ids": [2, 9000, 9001, 8197, 4, 5, 6, 2]}])
    >>> sorted(batch)
    ['attention_mask', 'input_ids', 'labels']
    ```
    """

    def __init__(
        self,
        config=None,
        *,
        sentinel_token_ids: Sequence[int] | None = None,
        break_token_id: int | None = None,
        eoss_token_id: int | None = None,
        pad_token_id: int | None = None,
        vocab_size: int | None = None,
        poisson_lambda: float = 1.0,
        max_spans: int | None = None,
        mode: str = "cm3",
        max_length: int | None = None,
        pad_to_multiple_of: int | None = None,
        seed: int | None = None,
        return_tensors: str = "pt",
    ):
        self.masking = CM3Masking(
            config,
            sentinel_token_ids=sentinel_token_ids,
            break_token_id=break_token_id,
            eoss_token_id=eoss_token_id,
            poisson_lambda=poisson_lambda,
            max_spans=max_spans,
            mode=mode,
        )
        pad_token_id = _resolve_id("pad_token_id", pad_token_id, config)
        if pad_token_id is None:
            raise ValueError("`pad_token_id` is required: pass it or a config whose `pad_token_id` is set.")
        self.pad_token_id = _check_token_id("pad_token_id", pad_token_id)
        vocab_size = _resolve_id("vocab_size", vocab_size, config)
        for name, value in (
            ("vocab_size", vocab_size),
            ("max_length", max_length),
            ("pad_to_multiple_of", pad_to_multiple_of),
        ):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
                raise ValueError(f"`{name}` must be a positive integer or None, got {value!r}.")
        if vocab_size is not None and self.pad_token_id >= vocab_size:
            raise ValueError(f"`pad_token_id`={self.pad_token_id} is outside the vocabulary of {vocab_size} ids.")
        self.vocab_size = vocab_size
        self.max_length = max_length
        self.pad_to_multiple_of = pad_to_multiple_of
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise TypeError(f"`seed` must be an integer or None, got {seed!r}.")
        self.seed = seed
        if return_tensors not in ("pt", "np"):
            raise ValueError(f"`return_tensors` must be 'pt' or 'np', got {return_tensors!r}.")
        self.return_tensors = return_tensors
        self._generator: torch.Generator | None = None
        self._generator_owner: tuple[int, int] | None = None

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(masking={self.masking!r}, pad_token_id={self.pad_token_id}, "
            f"max_length={self.max_length}, pad_to_multiple_of={self.pad_to_multiple_of}, seed={self.seed})"
        )

    @property
    def generator(self) -> torch.Generator | None:
        """The collator's generator (`None` when `seed` is `None`), seeded per DataLoader worker and rank."""
        if self.seed is None:
            return None
        worker = torch.utils.data.get_worker_info()
        worker_id = -1 if worker is None else worker.id
        rank = (
            torch.distributed.get_rank()
            if torch.distributed.is_available() and torch.distributed.is_initialized()
            else 0
        )
        owner = (worker_id, rank)
        if self._generator is None or self._generator_owner != owner:
            seed = self.seed
            if owner != (-1, 0):
                seed = int(np.random.SeedSequence([self.seed, rank, worker_id + 1]).generate_state(1)[0])
            self._generator = torch.Generator().manual_seed(seed)
            self._generator_owner = owner
        return self._generator

    def _check_ids(self, row: np.ndarray, index: int) -> None:
        if len(row) == 0:
            raise ValueError(
                f"Feature {index} has no tokens (`input_ids` is empty); drop empty rows from the dataset."
            )
        low, high = int(row.min()), int(row.max())
        if low < 0 or (self.vocab_size is not None and high >= self.vocab_size):
            bad = low if low < 0 else high
            allowed = "non-negative" if self.vocab_size is None else f"in [0, {self.vocab_size})"
            raise ValueError(f"`input_ids` of feature {index} holds the id {bad}; token ids must be {allowed}.")

    def numpy_call(self, features: Sequence[dict]) -> dict[str, np.ndarray]:
        if len(features) == 0:
            raise ValueError("`features` is empty; a batch needs at least one row.")
        rows, labels = [], []
        for index, feature in enumerate(features):
            if "input_ids" not in feature:
                raise ValueError(f"Feature {index} has no 'input_ids' (keys: {sorted(feature)}).")
            row = _as_row(feature["input_ids"], "input_ids", index=index)
            self._check_ids(row, index)
            if self.max_length is not None and len(row) > self.max_length:
                raise ValueError(
                    f"Feature {index} has {len(row)} tokens, more than `max_length`={self.max_length}. Pack the "
                    "documents into blocks (`DocumentPacker`) or skip long rows when building the dataset."
                )
            mask = feature.get("attention_mask")
            if mask is not None and not np.all(_as_row(mask, "attention_mask", length=len(row), index=index)):
                raise ValueError(
                    f"Feature {index} is padded (its `attention_mask` has zeros); give unpadded rows, the collator pads."
                )
            rows.append(row)
            row_labels = feature.get("labels")
            labels.append(None if row_labels is None else _as_row(row_labels, "labels", length=len(row), index=index))

        masked = self.masking.mask_rows(rows, labels, self.generator)

        width = max(len(row) for row in rows)
        if self.pad_to_multiple_of is not None:
            width = -(-width // self.pad_to_multiple_of) * self.pad_to_multiple_of
        input_ids = np.full((len(rows), width), self.pad_token_id, dtype=np.int64)
        batch_labels = np.full((len(rows), width), IGNORE_INDEX, dtype=np.int64)
        attention_mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, row in enumerate(masked):
            length = len(row.input_ids)
            input_ids[i, :length] = row.input_ids
            batch_labels[i, :length] = row.input_ids if row.labels is None else row.labels
            attention_mask[i, :length] = 1
        return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": batch_labels}

    def torch_call(self, features: Sequence[dict]) -> dict[str, torch.Tensor]:
        return {name: torch.from_numpy(array) for name, array in self.numpy_call(features).items()}
