# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Pretraining CM3Leon from scratch on `transformers.Trainer` (the paper's §2-3).

    documents (caption + image per row)
      -> image pre-tokenisation (datasets.map, once)         data.ImagePretokenizer
      -> documents `</s> caption <break> image </s>`          PretrainingDocumentBuilder
         or retrieval-augmented examples                      data.RetrievalAugmentedExampleBuilder
      -> packing into blocks of `block_size` tokens           data.DocumentPacker
      -> CM3 causal masking per batch, loss on every token    ResumableCM3Collator (a data.DataCollatorForCM3)
      -> Trainer

Command line: `cm3leon train pretrain --config pretrain.yaml [--max_steps 100 ...]`. Python: [`run_pretraining`],
or [`build_pretraining_trainer`] to get the `Trainer` (in-memory datasets, a model or processor already loaded).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from transformers import Trainer, TrainingArguments, set_seed
from transformers.utils import logging

from ..configuration_cm3leon import CM3LEON_PRESETS, CM3LeonConfig
from ..data import DocumentEncoder, DocumentPacker, RetrievalAugmentedExampleBuilder, SkipCounter
from ..data.document import Document, is_token_ids
from ..data.skipping import check_on_error
from ..modeling_cm3leon import CM3LeonForCausalLM
from .arguments import CM3Arguments, DataArguments, ModelArguments, RetrievalArguments, parse_recipe_arguments
from .data_report import DataReport
from .dataset_loading import check_dataset, load_local_dataset, take_first
from .recipe_utils import (
    build_cm3_trainer,
    check_processor_matches_config,
    limit_block_lengths,
    load_processor,
    map_kwargs,
    pretokenize_images,
    resolve_block_size,
    token_layout_of,
    train_and_save,
)

logger = logging.get_logger(__name__)

ARGUMENT_TYPES = (ModelArguments, DataArguments, CM3Arguments, RetrievalArguments, TrainingArguments)


class PretrainingDocumentBuilder:
    r"""
    A batched `datasets.map` step: each row's caption and image token ids become `input_ids` in the paper's layout
    `</s> caption <racm3:break> image </s>` (`</s> caption </s>` for text-only rows when `image_column` is `None`).

    Args:
        tokenizer: The text tokenizer.
        config ([`CM3LeonConfig`]): Source of the `</s>` and `<racm3:break>` ids.
        text_column (`str`): The caption column.
        image_column (`str`, *optional*): The column of image token ids; `None` for text-only documents.
        on_error (`str`): A row without text (or without image ids) raises a `ValueError` (`"raise"`) or is skipped,
            counted in `skipped` and logged (`"skip"`).
    """

    def __init__(self, tokenizer, config, *, text_column="text", image_column=None, on_error="raise"):
        self.encoder = DocumentEncoder(tokenizer, config)
        self.text_column = text_column
        self.image_column = image_column
        self.on_error = check_on_error(on_error)
        self.skipped = SkipCounter(type(self).__name__)

    def __call__(self, batch: dict, indices: Sequence[int] | None = None) -> dict:
        columns = [self.text_column] + ([self.image_column] if self.image_column else [])
        missing = [column for column in columns if column not in batch]
        if missing:
            raise ValueError(f"The dataset has no column {missing} (columns: {sorted(batch)}).")
        documents = []
        for i, text in enumerate(batch[self.text_column]):
            problem = None
            if not isinstance(text, str) or not text.strip():
                problem = f"{self.text_column!r} is {text!r}, not a non-empty text"
            segments = [text]
            if problem is None and self.image_column:
                image_ids = batch[self.image_column][i]
                if image_ids is None or not is_token_ids(image_ids) or len(image_ids) == 0:
                    problem = f"{self.image_column!r} is not a non-empty list of image token ids"
                segments.append(image_ids)
            if problem is not None:
                message = f"row {i if indices is None else indices[i]}: {problem}"
                if self.on_error == "raise":
                    raise ValueError(f"{message}. Use on_error='skip' to skip such rows.")
                self.skipped("bad document", message)
                continue
            documents.append(Document(segments))
        return {"input_ids": [example["input_ids"] for example in self.encoder.encode(documents)]}

    def map(self, dataset, **map_kwargs):
        map_kwargs.setdefault("remove_columns", dataset.column_names)
        return dataset.map(self, batched=True, with_indices=True, **map_kwargs)


def prepare_pretraining_dataset(
    dataset,
    processor,
    config: CM3LeonConfig,
    data_args: DataArguments,
    cm3_args: CM3Arguments,
    retrieval_args: RetrievalArguments | None = None,
    retriever=None,
    report: DataReport | None = None,
    seed: int = 0,
):
    """Documents -> blocks of token ids ready for the CM3 collator (see the module docstring).

    A dataset that already has `input_ids` (pre-tokenized documents) goes straight to packing.

    Returns:
        A `datasets.Dataset` with `input_ids` only.
    """
    report = report if report is not None else DataReport()
    block_size = resolve_block_size(cm3_args, config)
    if "input_ids" not in dataset.column_names:
        image_column = data_args.image_column
        if data_args.text_column not in dataset.column_names:
            raise ValueError(
                f"The dataset has no text column {data_args.text_column!r} (columns: {dataset.column_names}). Set "
                "`text_column` to the column holding the captions."
            )
        if image_column is not None and image_column not in dataset.column_names:
            raise ValueError(
                f"The dataset has no image column {image_column!r} (columns: {dataset.column_names}). Set "
                "`image_column` to the column holding the images (or their token ids), or to null to pretrain on "
                "text-only documents."
            )
        if image_column is not None:
            dataset, image_column = pretokenize_images(dataset, processor, image_column, cm3_args, report)
        rows_in = len(dataset)
        if retriever is not None:
            if image_column is None:
                raise ValueError("Retrieval-augmented pretraining needs an image column (the paper's documents).")
            retrieval_args = retrieval_args or RetrievalArguments()
            builder = RetrievalAugmentedExampleBuilder(
                retriever,
                processor.tokenizer,
                config,
                **retrieval_args.example_builder_kwargs(),
                seed=seed,
                text_column=data_args.text_column,
                image_column=image_column,
                on_error=cm3_args.on_error,
            )
            dataset = builder.map(dataset, **map_kwargs(cm3_args, "Retrieving documents"))
            for name, count in builder.stats.items():
                report.add(f"retrieval_{name}", count)
        else:
            builder = PretrainingDocumentBuilder(
                processor.tokenizer,
                config,
                text_column=data_args.text_column,
                image_column=image_column,
                on_error=cm3_args.on_error,
            )
            dataset = builder.map(dataset, **map_kwargs(cm3_args, "Building documents"))
        report.add_skipped_rows("document_building", rows_in, len(dataset), builder.skipped)
    dataset = dataset.select_columns(["input_ids"])
    report.add("documents", len(dataset))
    if cm3_args.packing:
        packer = DocumentPacker(block_size, mode="concatenate", remainder="drop")
        dataset = packer.map(dataset, **map_kwargs(cm3_args, f"Packing into blocks of {block_size}"))
        report.add("dropped_tokens", packer.dropped_tokens)
        if len(dataset) == 0:
            raise ValueError(
                f"Packing produced no block of {block_size} tokens: the documents are too few or too short. Lower "
                "`block_size` or add documents."
            )
    else:
        dataset = limit_block_lengths(dataset, block_size, cm3_args.on_error, report)
    report.add("blocks", len(dataset))
    return dataset


def build_pretraining_config(model_args: ModelArguments, processor) -> CM3LeonConfig:
    """A config from a preset or a config file, with the processor's token layout and `config_overrides`."""
    layout = token_layout_of(processor)
    layout["image_seq_length"] = processor.image_processor.image_seq_length
    overrides = model_args.config_overrides or {}
    name = model_args.config_name
    if name is None:
        raise ValueError("Pretraining from scratch needs `config_name` (a preset or a config path).")
    if name in CM3LEON_PRESETS:
        return CM3LeonConfig.from_preset(name, **{**layout, **overrides})
    if os.path.exists(name):
        base = CM3LeonConfig.from_pretrained(name).to_dict()
        for key in ("model_type", "transformers_version", "architectures"):
            base.pop(key, None)
        return CM3LeonConfig(**{**base, **layout, **overrides})
    raise ValueError(f"`config_name` must be a preset {sorted(CM3LEON_PRESETS)} or a path to a config, got {name!r}.")


def load_pretraining_model(model_args: ModelArguments, processor) -> CM3LeonForCausalLM:
    """A new random model (`config_name`) or trained weights to continue from (`model_name_or_path`)."""
    kwargs = {"attn_implementation": model_args.attn_implementation} if model_args.attn_implementation else {}
    if model_args.model_name_or_path is not None:
        model = CM3LeonForCausalLM.from_pretrained(model_args.model_name_or_path, **kwargs)
        if model_args.config_overrides:
            raise ValueError("`config_overrides` only applies to a new model (`config_name`), not to trained weights.")
        return model
    config = build_pretraining_config(model_args, processor)
    if model_args.attn_implementation:
        config._attn_implementation = model_args.attn_implementation
    return CM3LeonForCausalLM(config)


def build_pretraining_trainer(
    model_args: ModelArguments,
    data_args: DataArguments,
    cm3_args: CM3Arguments,
    retrieval_args: RetrievalArguments,
    training_args: TrainingArguments,
    *,
    model: CM3LeonForCausalLM | None = None,
    processor=None,
    train_dataset=None,
    eval_dataset=None,
    retriever=None,
    callbacks: list | None = None,
) -> tuple[Trainer, DataReport]:
    """The pretraining `Trainer`, with its data prepared.

    Objects given in Python (`model`, `processor`, in-memory `train_dataset`/`eval_dataset` of documents or of
    `input_ids`, a `retriever`) take the place of the corresponding paths in the arguments.

    Returns:
        The `Trainer` and the [`DataReport`] of what data preparation skipped.
    """
    set_seed(training_args.seed)  # before the random init, so the same seed gives the same model
    if processor is None:
        processor = load_processor(model_args.processor_name_or_path or model_args.model_name_or_path)
    if model is None:
        model = load_pretraining_model(model_args, processor)
    check_processor_matches_config(processor, model.config)
    if retriever is None and retrieval_args.retriever_name_or_path is not None:
        from ..retrieval import CM3LeonRetriever

        retriever = CM3LeonRetriever.from_pretrained(retrieval_args.retriever_name_or_path)

    if train_dataset is None:
        if data_args.train_file is None:
            raise ValueError("No training data: set `train_file` (or pass `train_dataset` in Python).")
        train_dataset = load_local_dataset(data_args.train_file, data_args.dataset_format)
    if eval_dataset is None and data_args.validation_file is not None:
        eval_dataset = load_local_dataset(data_args.validation_file, data_args.dataset_format)
    train_dataset = take_first(check_dataset(train_dataset, "train_dataset"), data_args.max_train_samples)
    if eval_dataset is not None:
        eval_dataset = take_first(check_dataset(eval_dataset, "eval_dataset"), data_args.max_eval_samples)

    report = DataReport()
    prepare = dict(processor=processor, config=model.config, data_args=data_args, cm3_args=cm3_args)
    prepare.update(retrieval_args=retrieval_args, retriever=retriever, seed=training_args.seed)
    with training_args.main_process_first(desc="preparing the training data"):
        train_dataset = prepare_pretraining_dataset(
            check_dataset(train_dataset, "train_dataset"), report=report, **prepare
        )
        if eval_dataset is not None:
            eval_dataset = prepare_pretraining_dataset(check_dataset(eval_dataset, "eval_dataset"), **prepare)

    trainer = build_cm3_trainer(
        model, processor, training_args, cm3_args, train_dataset, eval_dataset=eval_dataset, callbacks=callbacks
    )
    return trainer, report


def run_pretraining(
    model_args: ModelArguments,
    data_args: DataArguments,
    cm3_args: CM3Arguments,
    retrieval_args: RetrievalArguments,
    training_args: TrainingArguments,
    **objects,
) -> dict:
    """Pretrain, save the model and processor to `output_dir`, and return the train (and eval) metrics.

    `objects` are the Python objects [`build_pretraining_trainer`] accepts (`model`, `processor`, datasets, ...).
    """
    trainer, report = build_pretraining_trainer(
        model_args, data_args, cm3_args, retrieval_args, training_args, **objects
    )
    return train_and_save(trainer, training_args, report, num_train_examples=len(trainer.train_dataset))


def main(config_file: str | None = None, overrides: Sequence[str] = ()) -> dict:
    """`cm3leon train pretrain --config file.yaml [--name value ...]`."""
    *arguments, _ = parse_recipe_arguments(ARGUMENT_TYPES, config_file, overrides)
    return run_pretraining(*arguments)


__all__ = [
    "PretrainingDocumentBuilder",
    "build_pretraining_config",
    "build_pretraining_trainer",
    "load_pretraining_model",
    "prepare_pretraining_dataset",
    "run_pretraining",
]
