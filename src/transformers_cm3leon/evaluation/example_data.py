# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The examples of the captioning and VQA recipes: a `datasets.Dataset` from a JSON-lines file, a folder, or given.

- a `.jsonl` file: one JSON object per line; image paths are relative to the file's folder, e.g.
  `{"image": "images/0001.jpg", "references": ["A cat on a mat.", ...]}`;
- a folder written by `Dataset.save_to_disk` / `DatasetDict.save_to_disk`;
- any other folder: `datasets`' "imagefolder" (images with a `metadata.jsonl` holding `file_name` and the columns);
- a `datasets.Dataset` (or a `DatasetDict` with `split`), e.g. from `datasets.load_dataset(...)`.
"""

from __future__ import annotations

import io
import json
import os

import datasets
import PIL.Image


def load_examples(data, image_column: str, split: str | None = None) -> datasets.Dataset:
    """The examples in `data` (see the module docstring) as a `datasets.Dataset`, with image paths of a `.jsonl`
    file made absolute."""
    if isinstance(data, datasets.DatasetDict):
        return _pick_split(data, split, "`data`")
    if isinstance(data, datasets.Dataset):
        if split is not None:
            raise ValueError(f"`split`={split!r} picks a split of a DatasetDict or a folder; `data` is one Dataset.")
        return data
    if not isinstance(data, (str, os.PathLike)):
        raise TypeError(
            f"`data` must be a path (.jsonl file or folder) or a datasets.Dataset, got {type(data).__name__}."
        )
    path = os.fspath(data)
    if os.path.isfile(path):
        if not path.endswith(".jsonl"):
            raise ValueError(f"`data`={path!r} is a file but not a .jsonl file; pass a .jsonl file or a folder.")
        if split is not None:
            raise ValueError(f"`split`={split!r} picks a split of a folder; `data`={path!r} is one .jsonl file.")
        return _read_jsonl(path, image_column)
    if not os.path.isdir(path):
        raise ValueError(f"`data`={path!r} does not exist; pass a .jsonl file, a folder, or a datasets.Dataset.")
    if any(os.path.exists(os.path.join(path, name)) for name in ("dataset_dict.json", "state.json")):
        loaded = datasets.load_from_disk(path)
        if isinstance(loaded, datasets.DatasetDict):
            return _pick_split(loaded, split, f"`data`={path!r}")
        if split is not None:
            raise ValueError(f"`split`={split!r} was given, but {path!r} holds a single Dataset.")
        return loaded
    return datasets.load_dataset("imagefolder", data_dir=path, split=split or "train")


def _pick_split(dataset_dict: datasets.DatasetDict, split: str | None, name: str) -> datasets.Dataset:
    if split is None and len(dataset_dict) == 1:
        return next(iter(dataset_dict.values()))
    if split not in dataset_dict:
        raise ValueError(f"{name} has the splits {list(dataset_dict)}; pick one with `split` (got {split!r}).")
    return dataset_dict[split]


def _read_jsonl(path: str, image_column: str) -> datasets.Dataset:
    folder = os.path.dirname(os.path.abspath(path))
    rows = []
    with open(path, encoding="utf-8") as file:
        for number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"Line {number} of {path!r} is not valid JSON: {error}.") from error
            if not isinstance(row, dict):
                raise ValueError(f"Line {number} of {path!r} must be a JSON object, got {type(row).__name__}.")
            if isinstance(row.get(image_column), str):
                row[image_column] = os.path.join(folder, row[image_column])
            rows.append(row)
    if not rows:
        raise ValueError(f"{path!r} holds no examples.")
    return datasets.Dataset.from_list(rows)


def load_image(value, name: str) -> PIL.Image.Image:
    """An example's image as RGB: a PIL image, a file path, or `datasets.Image`'s undecoded `{"bytes", "path"}`."""
    if isinstance(value, dict):
        value = io.BytesIO(value["bytes"]) if value.get("bytes") is not None else value.get("path")
    if isinstance(value, PIL.Image.Image):
        return value.convert("RGB")
    if isinstance(value, (str, io.BytesIO)):
        if isinstance(value, str) and not os.path.isfile(value):
            raise ValueError(f"{name} is the path {value!r}, which is not a file.")
        with PIL.Image.open(value) as image:
            return image.convert("RGB")
    raise TypeError(f"{name} must be an image, a path or an encoded image, got {type(value).__name__}.")


def check_texts(value, name: str, key: str | None = None) -> list[str]:
    """A non-empty list of strings; with `key`, items may also be dicts holding the string under `key` (VQAv2's
    `{"answer": ...}`)."""
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not value:
        raise ValueError(f"{name} must be a non-empty list of strings, got {value!r}.")
    texts = []
    for item in value:
        if key is not None and isinstance(item, dict) and isinstance(item.get(key), str):
            item = item[key]
        if not isinstance(item, str):
            raise ValueError(f"{name} must hold strings{f' (or dicts with {key!r})' if key else ''}, got {item!r}.")
        texts.append(item)
    return texts


__all__ = ["check_texts", "load_examples", "load_image"]
