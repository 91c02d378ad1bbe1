# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""What a data step does with a bad row: raise (the default) or skip it, counted and logged.

Every `datasets.map` step of this package takes `on_error="raise" | "skip"`. A skipped row is never a silent drop:
it is logged (the first `log_first` per reason as warnings, then a running total at every power of two) and counted
in the step's `skipped` counter, keyed by reason.

The counter lives on the step object in the process that ran it: with `map(num_proc=N)` the workers' counts stay in
the workers (their log lines still appear), and a map answered from the `datasets` cache runs nothing and counts
nothing.
"""

from __future__ import annotations

from collections import Counter

from transformers.utils import logging

logger = logging.get_logger(__name__)

ON_ERROR_CHOICES = ("raise", "skip")


def check_on_error(value: str) -> str:
    if value not in ON_ERROR_CHOICES:
        raise ValueError(f"`on_error` must be one of {list(ON_ERROR_CHOICES)}, got {value!r}.")
    return value


class SkipCounter:
    """Counts the rows a step skipped, by reason, and logs them.

    Args:
        step (`str`): Name of the step, used in the log lines.
        log_first (`int`): How many skips per reason are logged one by one before only totals are logged.
    """

    def __init__(self, step: str, log_first: int = 10):
        self.step = step
        self.log_first = log_first
        self.counts: Counter[str] = Counter()

    def __call__(self, reason: str, detail: str) -> None:
        self.counts[reason] += 1
        count = self.counts[reason]
        if count <= self.log_first:
            logger.warning(f"{self.step}: skipped a row ({reason}): {detail}")
        elif count & (count - 1) == 0 or count % 10_000 == 0:
            logger.warning(f"{self.step}: {count} rows skipped so far for {reason!r}.")

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def __repr__(self) -> str:
        return f"SkipCounter(step={self.step!r}, counts={dict(self.counts)})"


def filter_batch(batch: dict, keep: list[int]) -> dict:
    """The rows `keep` of a `datasets` batch (a dict of equal-length columns)."""
    return {name: [column[i] for i in keep] for name, column in batch.items()}
