# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""What every evaluation recipe's config shares: the model, the output directory, batching, device and precision.

A recipe's config is a keyword-only dataclass; each field's `metadata["help"]` documents it, and the `cm3leon eval`
command turns every field into an option (`output_dir` -> `--output-dir`), so the command line, the Python API and
the `settings` of the results JSON are the same thing.
"""

from __future__ import annotations

import dataclasses
import math
import os

import torch

DTYPES = ("float32", "bfloat16", "float16")


def setting(default=dataclasses.MISSING, help: str = "", required_on_command_line: bool = False, **metadata):
    """A config field with its help text (and `choices`, when given) for the command line."""
    return dataclasses.field(
        default=default, metadata={"help": help, "required_on_command_line": required_on_command_line, **metadata}
    )


def check_positive_int(name: str, value, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer{' or None' if allow_none else ''}, got {value!r}.")


def check_non_negative_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"`{name}` must be an integer >= 0, got {value!r}.")


def check_number(name: str, value, minimum: float, allow_none: bool = False, exclusive: bool = False) -> None:
    if value is None and allow_none:
        return
    valid = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not valid or value < minimum or (exclusive and value == minimum):
        bound = f"> {minimum}" if exclusive else f">= {minimum}"
        raise ValueError(f"`{name}` must be a finite number {bound}, got {value!r}.")


def check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {list(choices)}, got {value!r}.")


def check_optional_str(name: str, value) -> None:
    if value is not None and (not isinstance(value, str) or not value):
        raise TypeError(f"`{name}` must be a non-empty string or None, got {value!r}.")


@dataclasses.dataclass(kw_only=True)
class EvaluationConfig:
    """Settings shared by every recipe."""

    output_dir: str = setting(
        help="Folder of the run: its outputs (kept as they are finished, so that running the same command again "
        "resumes), settings.json and results.json.",
        required_on_command_line=True,
    )
    model: str | None = setting(
        None,
        help="A CM3Leon model folder or Hub id (model, processor and VQ image tokenizer).",
        required_on_command_line=True,
    )
    batch_size: int = setting(8, help="Examples per generation batch.")
    device: str | None = setting(None, help="torch device, e.g. cuda or cpu (default: cuda when available).")
    dtype: str = setting("float32", help="Precision of the model.", choices=DTYPES)
    results_file: str | None = setting(
        None, help="Where to write the results JSON (default: OUTPUT_DIR/results.json)."
    )
    progress_bar: bool = setting(True, help="Show a progress bar.")

    def __post_init__(self):
        if not isinstance(self.output_dir, (str, os.PathLike)) or not os.fspath(self.output_dir):
            raise TypeError(f"`output_dir` must be a path, got {self.output_dir!r}.")
        self.output_dir = os.fspath(self.output_dir)
        check_optional_str("model", self.model)
        check_positive_int("batch_size", self.batch_size)
        check_optional_str("device", self.device)
        check_choice("dtype", self.dtype, DTYPES)
        check_optional_str("results_file", self.results_file)
        if not isinstance(self.progress_bar, bool):
            raise TypeError(f"`progress_bar` must be a bool, got {self.progress_bar!r}.")

    def resolved_device(self) -> str:
        return self.device or ("cuda" if torch.cuda.is_available() else "cpu")

    def torch_dtype(self) -> torch.dtype:
        return getattr(torch, self.dtype)

    def results_path(self) -> str:
        return self.results_file or os.path.join(self.output_dir, "results.json")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def device_and_dtype(config: EvaluationConfig, model=None) -> tuple[str, str]:
    """The device and dtype of a run: those of the config, or those of a model loaded by the caller, which the
    config's `device` and (non-default) `dtype` must then not contradict."""
    if model is None:
        return config.resolved_device(), config.dtype
    device, dtype = model.device, str(model.dtype).removeprefix("torch.")
    if config.device is not None:
        wanted = torch.device(config.device)
        if wanted.type != device.type or (wanted.index is not None and wanted.index != device.index):
            raise ValueError(f"`device`={config.device!r}, but the model that was passed is on {device}.")
    default_dtype = next(field.default for field in dataclasses.fields(config) if field.name == "dtype")
    if config.dtype != default_dtype and config.dtype != dtype:
        raise ValueError(f"`dtype`={config.dtype!r}, but the model that was passed is in {dtype}.")
    return str(device), dtype


def model_name(model) -> str:
    """How a loaded model is named in results: the folder or id it was loaded from, else its class."""
    name = getattr(model, "name_or_path", None) or getattr(getattr(model, "config", None), "_name_or_path", None)
    return name or type(model).__name__


def local_path_or_id(name: str) -> str:
    """An existing local path as an absolute path (so that settings do not depend on the working directory);
    anything else (a Hub id) as given."""
    return os.path.abspath(name) if os.path.exists(name) else name


__all__ = ["DTYPES", "EvaluationConfig", "setting"]
