# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The recipes' arguments: `HfArgumentParser` dataclasses, read from a YAML file and/or command-line overrides.

A recipe's YAML file is flat, as for transformers' example scripts (`parser.parse_yaml_file`): every key is a field of
one of the recipe's dataclasses, `transformers.TrainingArguments` included. The SFT recipe adds one nested key,
`tasks:`, a list of [`SFTTaskArguments`]. Command-line overrides (`--learning_rate 3e-4`) win over the file.

```yaml
config_name: cm3leon-350m
config_overrides: {hidden_size: 64, num_hidden_layers: 2}
processor_name_or_path: my-processor
train_file: documents.jsonl
block_size: 256
output_dir: runs/tiny
max_steps: 100
learning_rate: 3.0e-4
```
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..validation import read_mapping_file

ON_ERROR_CHOICES = ("raise", "skip")
OBJECTIVES = ("cm3", "causal")
DATASET_FORMATS = ("json", "parquet", "csv", "imagefolder", "arrow")


def _check_choice(name: str, value, allowed) -> None:
    if value not in allowed:
        raise ValueError(f"`{name}` must be one of {list(allowed)}, got {value!r}.")


def _check_positive(name: str, value, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f"`{name}` must be a positive number{' or None' if allow_none else ''}, got {value!r}.")


def _parse_json_dict(name: str, value) -> dict | None:
    """`dict | str` fields take a dict (YAML) or a JSON string (command line)."""
    if value is None or isinstance(value, dict):
        return value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as error:
            raise ValueError(f"`{name}` must be a dict or a JSON object string, got {value!r} ({error}).") from None
        if isinstance(parsed, dict):
            return parsed
    raise ValueError(f"`{name}` must be a dict or a JSON object string, got {value!r}.")


@dataclass
class ModelArguments:
    """Which model to train and with which processor."""

    model_name_or_path: str | None = field(
        default=None,
        metadata={"help": "A CM3Leon model folder or Hub id to start from (SFT: required; pretraining: continue)."},
    )
    config_name: str | None = field(
        default=None,
        metadata={
            "help": "Pretraining from scratch: a preset name (cm3leon-350m, cm3leon-760m, cm3leon-7b, chameleon-7b) "
            "or a path to a config.json (or a folder holding one). The token layout always comes from the processor."
        },
    )
    config_overrides: dict | str | None = field(
        default=None,
        metadata={"help": "Config fields to override, a dict or a JSON string, e.g. '{\"num_hidden_layers\": 6}'."},
    )
    processor_name_or_path: str | None = field(
        default=None, metadata={"help": "A CM3LeonProcessor folder; defaults to model_name_or_path."}
    )
    attn_implementation: str | None = field(
        default=None, metadata={"help": "Attention kernel: sdpa (default), eager, flash_attention_2, flex_attention."}
    )

    def __post_init__(self):
        self.config_overrides = _parse_json_dict("config_overrides", self.config_overrides)
        if self.model_name_or_path is not None and self.config_name is not None:
            raise ValueError(
                "Give either `model_name_or_path` (start from trained weights) or `config_name` (random init), not "
                f"both; got {self.model_name_or_path!r} and {self.config_name!r}."
            )


@dataclass
class DataArguments:
    """The pretraining documents: one row per document, a caption and (optionally) an image."""

    train_file: str | None = field(
        default=None,
        metadata={
            "help": "Training documents: a .json/.jsonl/.parquet/.csv file, a folder of images (imagefolder) or a "
            "folder written by Dataset.save_to_disk."
        },
    )
    validation_file: str | None = field(default=None, metadata={"help": "Evaluation documents, same formats."})
    dataset_format: str | None = field(
        default=None, metadata={"help": f"Force the format, one of {list(DATASET_FORMATS)} (default: guessed)."}
    )
    text_column: str = field(default="text", metadata={"help": "The caption / text column."})
    image_column: str | None = field(
        default="image",
        metadata={
            "help": "The image column (images, paths or bytes: tokenized once by a datasets.map step; or image token "
            "ids); null for text-only documents. A dataset without this column is refused."
        },
    )
    max_train_samples: int | None = field(default=None, metadata={"help": "Keep only the first N training rows."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Keep only the first N evaluation rows."})

    def __post_init__(self):
        if self.dataset_format is not None:
            _check_choice("dataset_format", self.dataset_format, DATASET_FORMATS)
        _check_positive("max_train_samples", self.max_train_samples)
        _check_positive("max_eval_samples", self.max_eval_samples)


@dataclass
class CM3Arguments:
    """Blocks and objective: packing, the CM3 causal-masking collator, what happens to bad rows."""

    block_size: int | None = field(
        default=None, metadata={"help": "Tokens per training block (the paper: 4096). Default: the model's context."}
    )
    packing: bool = field(
        default=True,
        metadata={
            "help": "Pack documents into blocks (pretraining: concatenate and cut; SFT: whole documents per block). "
            "Without packing each document is a row and longer ones follow on_error."
        },
    )
    objective: str = field(default="cm3", metadata={"help": "cm3 (causal masking, the paper) or causal (plain LM)."})
    cm3_poisson_lambda: float = field(default=1.0, metadata={"help": "Mean number of CM3 spans per block."})
    cm3_max_spans: int | None = field(default=None, metadata={"help": "Upper clamp of the spans per block."})
    on_error: str = field(
        default="raise",
        metadata={
            "help": "Rows missing a field, images that fail to decode, documents longer than a block: raise (default) "
            "or skip them, counted and logged (the counts are in the trainer's metrics as data_skipped_*)."
        },
    )
    preprocessing_batch_size: int = field(default=256, metadata={"help": "Rows per datasets.map batch."})
    preprocessing_num_workers: int | None = field(default=None, metadata={"help": "Processes for datasets.map."})

    def __post_init__(self):
        _check_positive("block_size", self.block_size)
        _check_choice("objective", self.objective, OBJECTIVES)
        _check_choice("on_error", self.on_error, ON_ERROR_CHOICES)
        _check_positive("preprocessing_batch_size", self.preprocessing_batch_size, allow_none=False)
        if self.cm3_poisson_lambda < 0:
            raise ValueError(f"`cm3_poisson_lambda` must be >= 0, got {self.cm3_poisson_lambda!r}.")


@dataclass
class RetrievalArguments:
    """Retrieval-augmented pretraining (the paper's §2.1): documents retrieved once, prepended to each example."""

    retriever_name_or_path: str | None = field(
        default=None, metadata={"help": "A CM3LeonRetriever folder; without it, examples are not retrieval-augmented."}
    )
    num_retrieved: int = field(default=2, metadata={"help": "Documents prepended per example."})
    num_retrieval_candidates: int = field(default=4, metadata={"help": "Candidates asked per query (drawn from)."})
    max_relevance: float | None = field(default=0.9, metadata={"help": "Drop candidates scoring above this."})
    query_dropout: float = field(default=0.2, metadata={"help": "Fraction of query words dropped (the paper: 0.2)."})

    def example_builder_kwargs(self) -> dict:
        """These settings as `RetrievalAugmentedExampleBuilder` keyword arguments."""
        return {
            "num_retrieved": self.num_retrieved,
            "num_candidates": self.num_retrieval_candidates,
            "max_relevance": self.max_relevance,
            "query_dropout": self.query_dropout,
        }


@dataclass
class SFTArguments:
    """How the SFT tasks are turned into training examples and mixed."""

    loss_on: str = field(
        default="all",
        metadata={"help": "all: loss on the whole sequence (the paper); output: loss on the output only."},
    )
    max_upsampling: float = field(default=3.0, metadata={"help": "A task is sampled at most this x its share."})
    min_downsampling: float = field(default=0.3, metadata={"help": "A task is sampled at least this x its share."})
    num_samples: int | None = field(
        default=None, metadata={"help": "Examples in the mix (default: the tasks' total number of rows)."}
    )

    def __post_init__(self):
        _check_choice("loss_on", self.loss_on, ("all", "output"))
        _check_positive("num_samples", self.num_samples)


@dataclass
class SFTTaskArguments:
    r"""
    One SFT task: a dataset bound to a named template (`data.SFT_TEMPLATES`, e.g. `vqa_answer`) or a variant group
    (`vqa`: one template drawn per row). Given in the YAML file's `tasks:` list, or built in Python with an in-memory
    `dataset`.

    Args:
        name (`str`): The task's name (in logs and the mixing probabilities).
        template (`str` or `list[str]`): Template name(s) or variant group(s).
        train_file (`str`, *optional*): The task's rows (formats as `DataArguments.train_file`).
        dataset (`datasets.Dataset`, *optional*): In-memory rows instead of `train_file`.
        dataset_format (`str`, *optional*): Force the file format.
        field_map (`dict`, *optional*): Template field -> column, e.g. `{"edit_instruction": "edit_prompt"}`.
        weight (`float`, *optional*, defaults to 1.0): Wanted relative weight in the mix (before the caps).
        max_samples (`int`, *optional*): Keep only the first N rows.
    """

    name: str
    template: str | list[str]
    train_file: str | None = None
    dataset: Any = None
    dataset_format: str | None = None
    field_map: dict[str, str] | None = None
    weight: float = 1.0
    max_samples: int | None = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"A task's `name` must be a non-empty string, got {self.name!r}.")
        if (self.train_file is None) == (self.dataset is None):
            raise ValueError(
                f"Task {self.name!r}: give exactly one of `train_file` and `dataset`, got train_file="
                f"{self.train_file!r} and dataset={type(self.dataset).__name__ if self.dataset is not None else None}."
            )
        if self.dataset_format is not None:
            if self.dataset is not None:
                raise ValueError(f"Task {self.name!r}: `dataset_format` applies to `train_file`, not to `dataset`.")
            _check_choice(f"tasks[{self.name}].dataset_format", self.dataset_format, DATASET_FORMATS)
        _check_positive(f"tasks[{self.name}].weight", self.weight, allow_none=False)
        _check_positive(f"tasks[{self.name}].max_samples", self.max_samples)
        if self.field_map is not None and not isinstance(self.field_map, dict):
            raise ValueError(
                f"Task {self.name!r}: `field_map` must be a dict field -> column, got {self.field_map!r}."
            )


@dataclass
class LoraArguments:
    """Parameter-efficient fine-tuning with PEFT (see `training/lora.py`)."""

    use_lora: bool = field(default=False, metadata={"help": "Train LoRA adapters instead of all weights."})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank."})
    lora_alpha: float = field(default=32, metadata={"help": "LoRA scaling numerator (scale = alpha / r)."})
    lora_dropout: float = field(default=0.0, metadata={"help": "Dropout on the LoRA input."})
    lora_target_modules: list[str] | None = field(
        default=None, metadata={"help": "Module name suffixes (default: CM3LEON_LORA_TARGET_MODULES)."}
    )
    train_image_token_rows: bool = field(
        default=False,
        metadata={
            "help": "Also train the image-token rows of the output head (PEFT trainable_token_indices; with a tied "
            "head, the rows of the shared embedding/head matrix)."
        },
    )
    merge_lora: bool = field(
        default=False, metadata={"help": "Save the merged model (merge_and_unload) instead of the adapter."}
    )


def _is_optional_of(annotation, kind) -> bool:
    if annotation is kind:
        return True
    if isinstance(annotation, str):
        return False
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return kind in typing.get_args(annotation)
    return False


def _coerce_yaml_values(dataclass_types: Sequence[type], values: dict) -> dict:
    """PyYAML reads `1e-4` as a string (YAML 1.1 wants `1.0e-4`); turn such strings into the field's number type."""
    hints = {}
    for dtype in dataclass_types:
        hints.update(typing.get_type_hints(dtype))
    coerced = dict(values)
    for key, value in values.items():
        if not isinstance(value, str) or key not in hints:
            continue
        for kind in (float, int):
            if _is_optional_of(hints[key], kind):
                try:
                    coerced[key] = kind(value)
                except ValueError:
                    raise ValueError(f"`{key}` must be of type {kind.__name__}, got {value!r}.") from None
                break
    return coerced


def load_yaml_config(path: str | os.PathLike) -> dict:
    """Read a recipe's YAML file: a mapping of argument names to values."""
    return read_mapping_file(path, "--config")


def _explicit_overrides(parser, overrides: Sequence[str]) -> dict:
    """Parse `--name value` overrides with the parser's types, keeping only the arguments actually given."""
    for action in parser._actions:
        if action.dest != "help":
            action.default = argparse.SUPPRESS
            action.required = False
    return vars(parser.parse_args(list(overrides)))


def parse_recipe_arguments(
    dataclass_types: Sequence[type],
    config_file: str | os.PathLike | None = None,
    overrides: Sequence[str] = (),
    nested_keys: Sequence[str] = (),
    values: dict | None = None,
) -> tuple:
    """Build the recipe's dataclasses from a YAML file, a dict and `--name value` overrides (in increasing priority).

    Args:
        dataclass_types: The dataclasses to fill (e.g. `ModelArguments, DataArguments, TrainingArguments`).
        config_file (`str`, *optional*): A YAML file with a flat mapping of argument names to values.
        overrides (`list[str]`): Command-line style overrides, e.g. `["--max_steps", "10"]`.
        nested_keys (`list[str]`): Keys of the file that are not dataclass fields (e.g. SFT's `tasks`); returned
            as a dict after the dataclasses.
        values (`dict`, *optional*): More values, applied over the file and under the overrides.

    Returns:
        One instance per dataclass, then the dict of `nested_keys` found.

    Raises:
        ValueError: for keys that no dataclass has, naming them.
    """
    from transformers import HfArgumentParser

    merged = load_yaml_config(config_file) if config_file is not None else {}
    merged.update(values or {})
    nested = {key: merged.pop(key) for key in nested_keys if key in merged}
    parser = HfArgumentParser(list(dataclass_types))
    merged.update(_explicit_overrides(parser, overrides))
    known = {f.name for dtype in dataclass_types for f in dataclasses.fields(dtype) if f.init}
    unknown = sorted(set(merged) - known)
    if unknown:
        source = f" in {os.fspath(config_file)!r}" if config_file is not None else ""
        raise ValueError(f"Unknown argument(s){source}: {unknown}. See `cm3leon train <recipe> --help`.")
    parsed = parser.parse_dict(_coerce_yaml_values(dataclass_types, merged))
    return (*parsed, nested)


__all__ = [
    "CM3Arguments",
    "DataArguments",
    "LoraArguments",
    "ModelArguments",
    "RetrievalArguments",
    "SFTArguments",
    "SFTTaskArguments",
    "load_yaml_config",
    "parse_recipe_arguments",
]
