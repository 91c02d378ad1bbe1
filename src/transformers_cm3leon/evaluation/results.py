# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The results JSON of an evaluation run: metrics together with everything needed to reproduce and compare them."""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform

from .record_log import write_json_atomically

RESULTS_FILE = "results.json"
RESULTS_FORMAT_VERSION = 1

# Packages whose versions can change a metric's value or the samples it is computed on.
_VERSIONED_PACKAGES = (
    "transformers-cm3leon",
    "torch",
    "transformers",
    "torchmetrics",
    "torch-fidelity",
    "evaluate",
    "datasets",
    "pillow",
    "numpy",
)


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages results depend on (`None` for one that is not installed)."""
    versions = {}
    for name in _VERSIONED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    versions["python"] = platform.python_version()
    return versions


def build_results(
    task: str, metrics: dict, settings: dict, models: dict, counts: dict, timings: dict, protocol: dict
) -> dict:
    """The results of one run as one JSON-ready dict.

    Args:
        task (`str`): "text-to-image", "captioning" or "vqa".
        metrics (`dict`): The metric values (and their own descriptions, e.g. the FID feature extractor).
        settings (`dict`): Every setting of the run (the recipe's config).
        models (`dict`): What each model setting resolved to (names, classes).
        counts (`dict`): Examples, generated / reused outputs, reference images.
        timings (`dict`): Seconds per stage.
        protocol (`dict`): How the numbers were obtained and whether they compare with published ones.
    """
    return {
        "task": task,
        "metrics": metrics,
        "protocol": protocol,
        "settings": settings,
        "models": models,
        "counts": counts,
        "timings": timings,
        "versions": package_versions(),
        "format_version": RESULTS_FORMAT_VERSION,
        "finished_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def write_results(results: dict, path: str | os.PathLike) -> str:
    """Write `results` as JSON to `path` atomically; returns the path."""
    write_json_atomically(path, results)
    return os.fspath(path)


__all__ = ["RESULTS_FILE", "build_results", "package_versions", "write_results"]
