# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Evaluation metrics as `evaluate` modules: FID, CLIPScore, CIDEr-D and VQA accuracy.

Each metric lives in its own folder as a single-file `evaluate` module, so that it works both ways:

    >>> from transformers_cm3leon.metrics import CIDEr
    >>> CIDEr().compute(predictions=[...], references=[[...]])

    >>> from transformers_cm3leon import metrics
    >>> metrics.load("cider")  # evaluate.load() of the local module: offline, no Hub lookup
"""

import os

import evaluate

from .cider.cider import CIDEr, ptb_tokenize
from .clip_score.clip_score import CLIPScore
from .fid.fid import FID, INCEPTION_WEIGHTS_ENV, INCEPTION_WEIGHTS_URL, resolve_inception_weights
from .vqa_accuracy.vqa_accuracy import VQAAccuracy, normalize_answer

METRICS_DIR = os.path.dirname(os.path.abspath(__file__))
METRIC_NAMES = ("fid", "clip_score", "cider", "vqa_accuracy")


def metric_path(name: str) -> str:
    """Folder of the `evaluate` module `name`, for `evaluate.load(metric_path(name))`."""
    if name not in METRIC_NAMES:
        raise ValueError(f"Unknown metric {name!r}; the metrics are {list(METRIC_NAMES)}.")
    return os.path.join(METRICS_DIR, name)


def load(name: str, **kwargs) -> evaluate.EvaluationModule:
    """`evaluate.load` of one of this package's metrics by name; `kwargs` go to `evaluate.load` and the metric."""
    return evaluate.load(metric_path(name), **kwargs)


__all__ = [
    "CIDEr",
    "CLIPScore",
    "FID",
    "INCEPTION_WEIGHTS_ENV",
    "INCEPTION_WEIGHTS_URL",
    "METRIC_NAMES",
    "VQAAccuracy",
    "load",
    "metric_path",
    "normalize_answer",
    "ptb_tokenize",
    "resolve_inception_weights",
]
