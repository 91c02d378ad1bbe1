# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Multi-task mixing with per-task up/down-sampling caps: the paper's "3 / 0.3" (the paper's §4).

The paper balances its SFT datasets (6k to 3M examples) with "an up/down sampling strategy with a threshold of
3/0.3" and says no more. The reading implemented here:

- n_i is task i's number of examples and p_i = n_i / sum(n) its natural proportion (what concatenation gives).
- q_i is the wanted proportion (`target_weights`, normalised; by default all tasks equal, i.e. balanced).
- The sampling probability is w_i = p_i * clip(c * q_i / p_i, 0.3, 3), with the single scale c that makes the w_i
  sum to 1. A task is therefore sampled at most 3x and at least 0.3x as often as its natural proportion, and among
  the mixtures that respect those caps, the ratios follow q as closely as the caps allow. The caps hold exactly
  after normalisation (a plain clip-then-normalise would not guarantee that). c exists because 0.3 <= 1 <= 3.

[`mix_datasets`] samples from the tasks with these probabilities through `datasets.interleave_datasets`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from transformers.utils import logging

logger = logging.get_logger(__name__)


def compute_mixing_probabilities(
    num_examples: Mapping[str, int],
    target_weights: Mapping[str, float] | None = None,
    *,
    max_upsampling: float = 3.0,
    min_downsampling: float = 0.3,
) -> dict[str, float]:
    """Per-task sampling probabilities whose ratio to the natural proportion lies in `[min_downsampling,
    max_upsampling]` (see the module docstring).

    Args:
        num_examples (`dict[str, int]`): Task name -> number of examples.
        target_weights (`dict[str, float]`, *optional*): Task name -> wanted (relative) weight, positive. Defaults to
            equal weights.
        max_upsampling (`float`, *optional*, defaults to 3.0): Largest allowed ratio w_i / p_i.
        min_downsampling (`float`, *optional*, defaults to 0.3): Smallest allowed ratio w_i / p_i.

    Example:

    ```python
    >>> probabilities = compute_mixing_probabilities({"vqa": 1_300_000, "scienceqa": 6_000, "ocr": 300_000})
    >>> {k: round(v, 4) for k, v in probabilities.items()}  # scienceqa: capped at 3x its natural 0.37%
    {'vqa': 0.4944, 'scienceqa': 0.0112, 'ocr': 0.4944}
    ```
    """
    if not isinstance(num_examples, Mapping) or not num_examples:
        raise ValueError(f"`num_examples` must be a non-empty dict task -> number of examples, got {num_examples!r}.")
    for name, count in num_examples.items():
        if isinstance(count, bool) or not isinstance(count, int) or count <= 0:
            raise ValueError(f"`num_examples[{name!r}]` must be a positive integer, got {count!r}.")
    if not (0 < min_downsampling <= 1 <= max_upsampling) or not math.isfinite(max_upsampling):
        raise ValueError(
            "The caps must satisfy 0 < min_downsampling <= 1 <= max_upsampling < inf, got "
            f"min_downsampling={min_downsampling!r}, max_upsampling={max_upsampling!r}."
        )
    if target_weights is None:
        target_weights = dict.fromkeys(num_examples, 1.0)
    if set(target_weights) != set(num_examples):
        raise ValueError(
            f"`target_weights` must name the same tasks as `num_examples`: {sorted(target_weights)} vs "
            f"{sorted(num_examples)}."
        )
    for name, weight in target_weights.items():
        if not (isinstance(weight, (int, float)) and math.isfinite(weight) and weight > 0):
            raise ValueError(f"`target_weights[{name!r}]` must be a positive number, got {weight!r}.")

    total = sum(num_examples.values())
    natural = {name: count / total for name, count in num_examples.items()}
    weight_total = sum(target_weights.values())
    ratios = {name: (target_weights[name] / weight_total) / natural[name] for name in num_examples}

    def mass(scale: float) -> float:
        return sum(natural[n] * min(max(scale * ratios[n], min_downsampling), max_upsampling) for n in natural)

    # mass() is continuous and non-decreasing in scale, from min_downsampling (<= 1) to max_upsampling (>= 1).
    low, high = 0.0, 1.0
    while mass(high) < 1.0:
        high *= 2.0
    for _ in range(200):
        middle = (low + high) / 2
        low, high = (middle, high) if mass(middle) < 1.0 else (low, middle)
    scale = high
    probabilities = {n: natural[n] * min(max(scale * ratios[n], min_downsampling), max_upsampling) for n in natural}
    norm = sum(probabilities.values())  # 1 up to rounding
    return {name: p / norm for name, p in probabilities.items()}


def mix_datasets(
    datasets: Mapping[str, object],
    target_weights: Mapping[str, float] | None = None,
    *,
    num_examples: Mapping[str, int] | None = None,
    max_upsampling: float = 3.0,
    min_downsampling: float = 0.3,
    num_samples: int | None = None,
    seed: int | None = None,
):
    """Mix task datasets with the capped probabilities of [`compute_mixing_probabilities`].

    Args:
        datasets (`dict[str, Dataset | IterableDataset]`): Task name -> dataset, all of one type and with the same
            columns (e.g. the `input_ids`/`labels` of [`SFTExampleBuilder`]).
        target_weights (`dict[str, float]`, *optional*): Wanted relative weights; equal by default.
        num_examples (`dict[str, int]`, *optional*): Task sizes; required for datasets without a length
            (`IterableDataset`), otherwise `len(dataset)`.
        max_upsampling, min_downsampling (`float`): The caps (3 and 0.3 in the paper).
        num_samples (`int`, *optional*): Examples in the result; defaults to the natural total `sum(num_examples)`,
            so one pass over the mix costs as many steps as one pass over the concatenated tasks.
        seed (`int`, *optional*): Seed of the source choice.

    Returns:
        A dataset of the same type: each example drawn from task i with probability w_i; tasks are repeated when they
        run out (`stopping_strategy="all_exhausted"`), then the stream is cut at `num_samples`.
    """
    from datasets import interleave_datasets

    if not isinstance(datasets, Mapping) or not datasets:
        raise ValueError(f"`datasets` must be a non-empty dict task -> dataset, got {datasets!r}.")
    if num_examples is None:
        num_examples = {}
        for name, dataset in datasets.items():
            try:
                num_examples[name] = len(dataset)
            except TypeError:
                raise ValueError(
                    f"Dataset {name!r} ({type(dataset).__name__}) has no length; pass `num_examples`."
                ) from None
    elif set(num_examples) != set(datasets):
        raise ValueError(f"`num_examples` must name the tasks {sorted(datasets)}, got {sorted(num_examples)}.")
    probabilities = compute_mixing_probabilities(
        num_examples, target_weights, max_upsampling=max_upsampling, min_downsampling=min_downsampling
    )
    logger.info("Task sampling probabilities: " + ", ".join(f"{n}={p:.4f}" for n, p in probabilities.items()))
    names = list(datasets)
    mixed = interleave_datasets(
        [datasets[n] for n in names],
        probabilities=[probabilities[n] for n in names],
        seed=seed,
        stopping_strategy="all_exhausted",
    )
    if num_samples is None:
        num_samples = sum(num_examples.values())
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples <= 0:
        raise ValueError(f"`num_samples` must be a positive integer, got {num_samples!r}.")
    if hasattr(mixed, "select"):
        if num_samples > len(mixed):
            raise ValueError(
                f"`num_samples`={num_samples} is more than the {len(mixed)} examples drawn until every task was "
                "used once; ask for fewer or repeat the mix."
            )
        return mixed.select(range(num_samples))
    return mixed.take(num_samples)
