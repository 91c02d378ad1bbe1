# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Packing documents into fixed-length training blocks, a batched `datasets.map` step.

The paper packs pretraining documents into blocks of 4,096 tokens and applies CM3 masking per block
(the paper's §2.3; metaseq `--sample-break-mode none`): documents are concatenated and cut, a document may
continue in the next block. SFT examples are also "packed into sequences of 4,096" (§8.1); for them the
`"whole_documents"` mode keeps every document in one block.

Each document should already carry its `</s>` framing (as [`DocumentEncoder`] writes it); packing only
concatenates. A `labels` column, when present, is packed alongside `input_ids`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from transformers.utils import logging

from .skipping import SkipCounter, check_on_error

logger = logging.get_logger(__name__)

PACKING_MODES = ("concatenate", "whole_documents")
REMAINDER_CHOICES = ("drop", "keep")


class DocumentPacker:
    r"""
    Packs the documents of each `datasets` batch into blocks of `block_size` tokens.

    Args:
        block_size (`int`): Tokens per block (4096 in the paper).
        mode (`str`, *optional*, defaults to `"concatenate"`):
            - `"concatenate"`: the batch's documents are concatenated and cut into blocks of exactly `block_size`
              (documents may be split across blocks; the paper's pretraining packing).
            - `"whole_documents"`: documents are placed in order into the current block while they fit, and a new
              block starts when the next one does not (no document is split). Blocks are at most `block_size` long,
              the collator pads them. A document longer than `block_size` follows `on_error`.
        remainder (`str`, *optional*, defaults to `"drop"`): `"concatenate"` mode only: what happens to the last
            tokens of a batch that do not fill a block: `"drop"` (the usual causal-LM packing; the number is counted
            in `dropped_tokens` and logged) or `"keep"` (emitted as a shorter last block).
        on_error (`str`, *optional*, defaults to `"raise"`): `"whole_documents"` mode: a document longer than
            `block_size` raises a `ValueError` (`"raise"`) or is skipped, counted in `skipped` and logged (`"skip"`).
        column (`str`, *optional*, defaults to `"input_ids"`): The column of token ids.

    Example:

    ```python
    >>> packer = DocumentPacker(block_size=4, remainder="keep")  # the default, "drop", drops the partial [8, 9, 2]
    >>> packer({"input_ids": [[2, 5, 6, 2], [2, 7, 2], [2, 8, 9, 2]]})
    {'input_ids': [[2, 5, 6, 2], [2, 7, 2, 2], [8, 9, 2]]}
    ```
    """

    def __init__(
        self,
        block_size: int,
        *,
        mode: str = "concatenate",
        remainder: str = "drop",
        on_error: str = "raise",
        column: str = "input_ids",
    ):
        if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size <= 0:
            raise ValueError(f"`block_size` must be a positive integer, got {block_size!r}.")
        if mode not in PACKING_MODES:
            raise ValueError(f"`mode` must be one of {list(PACKING_MODES)}, got {mode!r}.")
        if remainder not in REMAINDER_CHOICES:
            raise ValueError(f"`remainder` must be one of {list(REMAINDER_CHOICES)}, got {remainder!r}.")
        self.block_size = block_size
        self.mode = mode
        self.remainder = remainder
        self.on_error = check_on_error(on_error)
        self.column = column
        self.skipped = SkipCounter(type(self).__name__)
        self.dropped_tokens = 0

    def __call__(self, batch: dict, indices: Sequence[int] | None = None) -> dict:
        if self.column not in batch:
            raise ValueError(f"The dataset has no column {self.column!r} (columns: {sorted(batch)}).")
        columns = [self.column] + (["labels"] if "labels" in batch and self.column != "labels" else [])
        documents = {name: [np.asarray(doc, dtype=np.int64) for doc in batch[name]] for name in columns}
        for name in columns[1:]:
            for i, (doc, ids) in enumerate(zip(documents[name], documents[self.column])):
                if len(doc) != len(ids):
                    raise ValueError(f"Row {i}: `{name}` has {len(doc)} entries but `{self.column}` has {len(ids)}.")
        if self.mode == "concatenate":
            return {
                name: self._concatenate(docs, count_dropped=name == self.column) for name, docs in documents.items()
            }
        return self._whole_documents(documents, indices)

    def _concatenate(self, documents: list[np.ndarray], count_dropped: bool) -> list[list[int]]:
        if not documents:
            return []
        tokens = np.concatenate(documents)
        num_full = len(tokens) // self.block_size
        blocks = tokens[: num_full * self.block_size].reshape(num_full, self.block_size).tolist()
        rest = len(tokens) - num_full * self.block_size
        if rest and self.remainder == "keep":
            blocks.append(tokens[num_full * self.block_size :].tolist())
        elif rest and count_dropped:
            self._count_dropped(rest)
        return blocks

    def _count_dropped(self, count: int) -> None:
        if self.dropped_tokens == 0:
            logger.info(
                f"DocumentPacker drops the tokens at the end of each map batch that do not fill a block of "
                f"{self.block_size} (remainder='drop'); the total is in `dropped_tokens`."
            )
        self.dropped_tokens += count

    def _whole_documents(self, documents: dict[str, list[np.ndarray]], indices) -> dict:
        blocks: dict[str, list[list[int]]] = {name: [] for name in documents}
        current: list[int] = []  # document indices in the open block
        current_length = 0

        def close():
            if current:
                for name, docs in documents.items():
                    blocks[name].append(np.concatenate([docs[i] for i in current]).tolist())

        for i, document in enumerate(documents[self.column]):
            if len(document) > self.block_size:
                row = i if indices is None else indices[i]
                message = f"row {row} has {len(document)} tokens, more than block_size={self.block_size}"
                if self.on_error == "raise":
                    raise ValueError(f"{message}. Use on_error='skip' to skip such rows.")
                self.skipped("longer than block_size", message)
                continue
            if current_length + len(document) > self.block_size:
                close()
                current, current_length = [], 0
            current.append(i)
            current_length += len(document)
        close()
        return blocks

    def map(self, dataset, **map_kwargs):
        """`dataset.map(self, batched=True, with_indices=True)`; the result has only the packed columns."""
        map_kwargs.setdefault("remove_columns", dataset.column_names)
        return dataset.map(self, batched=True, with_indices=True, **map_kwargs)
