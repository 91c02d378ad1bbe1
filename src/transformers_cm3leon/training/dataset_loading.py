# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Loading a recipe's dataset from local files with `datasets`, or taking an in-memory one."""

from __future__ import annotations

import os

from .arguments import DATASET_FORMATS

_EXTENSION_TO_FORMAT = {".json": "json", ".jsonl": "json", ".parquet": "parquet", ".csv": "csv", ".arrow": "arrow"}


def guess_dataset_format(path: str | os.PathLike) -> str:
    """The `datasets` builder for a file (by extension) or a folder (`save_to_disk` output, else imagefolder)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        saved = any(os.path.isfile(os.path.join(path, name)) for name in ("state.json", "dataset_dict.json"))
        return "disk" if saved else "imagefolder"
    extension = os.path.splitext(path)[1].lower()
    if extension not in _EXTENSION_TO_FORMAT:
        raise ValueError(
            f"Cannot tell the format of {path!r} from its extension {extension!r}; use one of "
            f"{sorted(_EXTENSION_TO_FORMAT)} or set `dataset_format` to one of {list(DATASET_FORMATS)}."
        )
    return _EXTENSION_TO_FORMAT[extension]


def load_local_dataset(path: str | os.PathLike, dataset_format: str | None = None, max_samples: int | None = None):
    """A `datasets.Dataset` from a local file or folder.

    Args:
        path (`str`): A .json/.jsonl/.parquet/.csv/.arrow file, a folder of images (with an optional metadata.jsonl,
            `imagefolder`), or a folder written by `Dataset.save_to_disk`.
        dataset_format (`str`, *optional*): Force the `datasets` builder (`json`, `parquet`, `csv`, `imagefolder`,
            `arrow`); guessed from the path by default.
        max_samples (`int`, *optional*): Keep only the first rows.
    """
    import datasets

    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"The dataset path {path!r} does not exist.")
    dataset_format = dataset_format or guess_dataset_format(path)
    if dataset_format == "disk":
        dataset = datasets.load_from_disk(path)
        if isinstance(dataset, datasets.DatasetDict):
            if "train" not in dataset:
                raise ValueError(f"{path!r} holds splits {list(dataset)}; point to one split's folder instead.")
            dataset = dataset["train"]
    elif dataset_format == "imagefolder":
        dataset = datasets.load_dataset("imagefolder", data_dir=path, split="train")
    else:
        dataset = datasets.load_dataset(dataset_format, data_files=path, split="train")
    return take_first(dataset, max_samples)


def take_first(dataset, max_samples: int | None):
    """The first `max_samples` rows (all rows when `None`)."""
    if max_samples is None:
        return dataset
    if hasattr(dataset, "select"):
        return dataset.select(range(min(max_samples, len(dataset))))
    return dataset.take(max_samples)


def check_dataset(dataset, name: str):
    """Accept a `datasets.Dataset` (or `IterableDataset`), with a clear error for anything else."""
    import datasets

    if not isinstance(dataset, (datasets.Dataset, datasets.IterableDataset)):
        raise TypeError(f"`{name}` must be a datasets.Dataset, got {type(dataset).__name__}.")
    return dataset


__all__ = ["check_dataset", "guess_dataset_format", "load_local_dataset", "take_first"]
