# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""What a recipe's data preparation skipped or dropped, surfaced in the log and in the trainer's metrics.

The `data/` steps skip bad rows only with `on_error="skip"`, and count them in their own `SkipCounter`. Those counters
miss rows skipped in `map(num_proc=N)` workers or answered from the `datasets` cache, so for the one-row-in,
one-row-out steps the report counts the rows that went missing (rows in - rows out), and breaks the number down by
reason where the step's counter saw them all.
"""

from __future__ import annotations

import re

from transformers.utils import logging

logger = logging.get_logger(__name__)


def _slug(text: str) -> str:
    return re.sub(r"[^0-9a-zA-Z]+", "_", text).strip("_").lower()


class DataReport:
    """Counts of skipped rows and dropped tokens, by step and reason, as flat `data_*` metrics."""

    def __init__(self):
        self.metrics: dict[str, int] = {}

    def add(self, name: str, value: int) -> None:
        key = f"data_{_slug(name)}"
        self.metrics[key] = self.metrics.get(key, 0) + int(value)

    def add_skipped_rows(self, step: str, rows_in: int, rows_out: int, counter=None) -> None:
        """Record the rows a one-row-in, one-row-out step skipped, with the reasons its `SkipCounter` saw."""
        skipped = rows_in - rows_out
        self.add("skipped_rows", skipped)
        if skipped <= 0:
            return
        counts = dict(counter.counts) if counter is not None else {}
        if sum(counts.values()) != skipped:
            counts = {"other (counted in a worker process or a cached map)": skipped - sum(counts.values()), **counts}
        for reason, count in counts.items():
            self.add(f"skipped_{step}_{reason}", count)
        logger.warning(
            f"{step}: skipped {skipped} of {rows_in} rows ("
            + ", ".join(f"{reason}: {count}" for reason, count in counts.items())
            + "). Set on_error='raise' to stop at the first bad row instead."
        )

    def add_counter(self, step: str, counter) -> None:
        """Record the skips of a step that is not one-row-in, one-row-out (e.g. packing), from its counter."""
        for reason, count in counter.counts.items():
            self.add("skipped_rows", count)
            self.add(f"skipped_{step}_{reason}", count)
        if counter.total:
            logger.warning(f"{step}: skipped {counter.total} rows ({dict(counter.counts)}).")

    def __repr__(self) -> str:
        return f"DataReport({self.metrics})"


__all__ = ["DataReport"]
