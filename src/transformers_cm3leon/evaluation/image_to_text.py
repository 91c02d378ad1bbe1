# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""What the captioning and VQA recipes share: examples in, one prompt per image, deterministic text generation in
batches, predictions kept as they are finished, a metric at the end.

    output_dir/
      settings.json       the settings that determine the predictions (a resumed run must have the same)
      predictions.jsonl   one line per finished example: {"index", "prediction", "references", ...}
      results.json

Decoding is greedy or beam search, both deterministic, so a resumed run writes what an uninterrupted one would.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable

import torch
from tqdm.auto import tqdm

from .config import (
    EvaluationConfig,
    check_optional_str,
    check_positive_int,
    device_and_dtype,
    local_path_or_id,
    model_name,
    setting,
)
from .example_data import load_examples, load_image
from .record_log import RecordLog, check_run_settings
from .results import build_results, write_results

PREDICTIONS_FILE = "predictions.jsonl"


@dataclasses.dataclass(kw_only=True)
class ImageToTextEvalConfig(EvaluationConfig):
    """Settings shared by the captioning and VQA recipes."""

    data: str | None = setting(
        None,
        help="The examples: a .jsonl file (image paths relative to it), a folder saved with Dataset.save_to_disk, or "
        "an imagefolder with metadata.jsonl.",
        required_on_command_line=True,
    )
    split: str | None = setting(None, help="Split of a DatasetDict or an imagefolder (default: the only one / train).")
    image_column: str = setting("image", help="Column of the images (PIL images or paths).")
    num_examples: int | None = setting(None, help="Evaluate the first N examples (default: all).")
    max_new_tokens: int = setting(32, help="Most tokens generated per example.")
    num_beams: int = setting(1, help="Beam search width (1 = greedy decoding).")

    def __post_init__(self):
        super().__post_init__()
        if self.data is not None and not isinstance(self.data, (str, os.PathLike)):
            raise TypeError(
                f"`data` must be a path (pass a datasets.Dataset as `data=` to the run), got {self.data!r}."
            )
        self.data = os.fspath(self.data) if self.data is not None else None
        check_optional_str("split", self.split)
        if not isinstance(self.image_column, str) or not self.image_column:
            raise TypeError(f"`image_column` must be a non-empty string, got {self.image_column!r}.")
        check_positive_int("num_examples", self.num_examples, allow_none=True)
        check_positive_int("max_new_tokens", self.max_new_tokens)
        check_positive_int("num_beams", self.num_beams)


@dataclasses.dataclass
class ImageToTextTask:
    """How one recipe differs from the other.

    Args:
        name (`str`): "captioning" or "vqa".
        columns (`tuple[str, ...]`): The config fields naming the dataset's columns the recipe reads.
        build_prompt (`Callable`): `(processor, image, example) -> prompt token ids`.
        record (`Callable`): `(example, index) -> dict` of what is kept beside the prediction (its references), with
            clear errors for malformed examples.
        score (`Callable`): `(predictions, records) -> metrics dict`.
        settings (`tuple[str, ...]`): The config fields, beyond the shared ones, that determine the predictions.
        protocol (`dict`): How predictions are made and scored, for the results.
    """

    name: str
    columns: tuple[str, ...]
    build_prompt: Callable
    record: Callable
    score: Callable
    settings: tuple[str, ...]
    protocol: dict


def _check_sources(config, model, processor, data) -> None:
    if (model is None) != (processor is None):
        raise ValueError("Pass both `model=` and `processor=`, or neither (the config's `model` is then loaded).")
    if config.model is not None and model is not None:
        raise ValueError("Pass either `model` in the config or `model=` and `processor=`, not both.")
    if config.model is None and model is None:
        raise ValueError("No model: set `model` (a CM3Leon folder or Hub id) or pass `model=` and `processor=`.")
    if config.data is not None and data is not None:
        raise ValueError("Pass either `data` in the config or `data=`, not both.")
    if config.data is None and data is None:
        raise ValueError("No examples: set `data` (a .jsonl file or a folder) or pass `data=` (a datasets.Dataset).")


def _load_model(config, device: str):
    from transformers import AutoModelForCausalLM, AutoProcessor

    model = AutoModelForCausalLM.from_pretrained(config.model, dtype=config.torch_dtype())
    return model.to(device).eval(), AutoProcessor.from_pretrained(config.model)


def run_image_to_text_eval(config: ImageToTextEvalConfig, task: ImageToTextTask, model, processor, data) -> dict:
    """Run a captioning or VQA recipe (see [`run_captioning_eval`] and [`run_vqa_eval`])."""
    started = time.perf_counter()
    _check_sources(config, model, processor, data)
    device, dtype = device_and_dtype(config, model)

    # Bad input fails here, before the model is loaded.
    examples = load_examples(data if data is not None else config.data, config.image_column, config.split)
    for column in (config.image_column, *(getattr(config, name) for name in task.columns)):
        if column not in examples.column_names:
            raise ValueError(f"The examples have no column {column!r}; their columns are {examples.column_names}.")
    num_examples = len(examples) if config.num_examples is None else config.num_examples
    if num_examples > len(examples):
        raise ValueError(f"`num_examples`={num_examples}, but the data holds only {len(examples)} examples.")
    if num_examples == 0:
        raise ValueError("The data holds no examples.")
    # Texts and images are read apart: checking every example's texts up front decodes no image.
    text_columns = examples.select_columns([getattr(config, name) for name in task.columns])
    image_column = examples.select_columns([config.image_column])
    records = [task.record(text_columns[index], index) for index in range(num_examples)]

    if model is None:
        model, processor = _load_model(config, device)
    processor.image_processor.vq_model.to(model.device)  # the processor encodes the images with it
    names = {
        "model": local_path_or_id(config.model) if config.model else model_name(model),
        "model_class": type(model).__name__,
    }
    settings_that_matter = {"max_new_tokens": config.max_new_tokens, "num_beams": config.num_beams, "dtype": dtype}
    settings_that_matter.update({name: getattr(config, name) for name in task.settings})
    settings_that_matter.update(task=task.name, model=names["model"])
    os.makedirs(config.output_dir, exist_ok=True)
    log = RecordLog(os.path.join(config.output_dir, PREDICTIONS_FILE))
    done = log.read()
    check_run_settings(config.output_dir, settings_that_matter, has_outputs=bool(done))
    for index, saved in done.items():
        expected = records[index] if index < num_examples else None
        if expected is not None and any(saved.get(key) != value for key, value in expected.items()):
            raise ValueError(
                f"Example {index} in {config.output_dir!r} was predicted for {_summary(saved, expected)}, but the data "
                f"now holds {_summary(expected, expected)}: the data changed. Use another output directory."
            )
    timings = {"setup_s": time.perf_counter() - started}

    pending = [index for index in range(num_examples) if index not in done]
    generation_started = time.perf_counter()
    with tqdm(
        total=num_examples,
        initial=num_examples - len(pending),
        desc=task.name,
        unit="example",
        disable=not config.progress_bar,
    ) as progress:
        for start in range(0, len(pending), config.batch_size):
            indices = pending[start : start + config.batch_size]
            batch_started = time.perf_counter()
            prompts = []
            for index in indices:
                image = load_image(image_column[index][config.image_column], f"The image of example {index}")
                prompts.append(task.build_prompt(processor, image, text_columns[index]))
            batch = processor.pad(prompts, padding_side="left", return_tensors="pt").to(model.device)
            with torch.no_grad():
                output = model.generate_text(
                    batch["input_ids"],
                    batch["attention_mask"],
                    max_new_tokens=config.max_new_tokens,
                    num_beams=config.num_beams,
                    do_sample=False,
                )
            generated = processor.tokenizer.batch_decode(
                output[:, batch["input_ids"].shape[1] :], skip_special_tokens=True
            )
            seconds = (time.perf_counter() - batch_started) / len(indices)
            new = [
                {"index": index, "prediction": text.strip(), **records[index], "seconds": round(seconds, 6)}
                for index, text in zip(indices, generated)
            ]
            log.append(new)
            done.update((record["index"], record) for record in new)
            progress.update(len(indices))
    timings["generation_s"] = time.perf_counter() - generation_started

    predictions = [done[index]["prediction"] for index in range(num_examples)]
    scoring_started = time.perf_counter()
    metrics = task.score(predictions, records)
    timings["metric_s"] = time.perf_counter() - scoring_started
    generation_seconds = sum(done[index]["seconds"] for index in range(num_examples))
    timings.update(
        generation_s_all_runs=generation_seconds,
        seconds_per_example=generation_seconds / num_examples,
        total_s=time.perf_counter() - started,
    )
    counts = {
        "examples": num_examples,
        "generated_this_run": len(pending),
        "reused_from_earlier_runs": num_examples - len(pending),
    }
    settings = {**config.to_dict(), "device": device, "dtype": dtype}
    if data is not None:
        settings["data"] = f"a {type(data).__name__} of {len(examples)} examples"
    protocol = {
        **task.protocol,
        "example_selection": "the first num_examples examples of the data",
        "decoding": "greedy" if config.num_beams == 1 else f"beam search with {config.num_beams} beams",
    }
    results = build_results(task.name, metrics, settings, names, counts, timings, protocol)
    write_results(results, config.results_path())
    return results


def _summary(record: dict, keys: dict) -> str:
    return ", ".join(f"{key}={record.get(key)!r}" for key in keys)


__all__ = ["ImageToTextEvalConfig", "ImageToTextTask", "PREDICTIONS_FILE", "run_image_to_text_eval"]
