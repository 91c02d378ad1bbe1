# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Pieces the pretraining and SFT recipes share: processor loading, the CM3 collator, seeding, train-and-save."""

from __future__ import annotations

import hashlib
import math
import os

import numpy as np
import torch
from transformers import Trainer, TrainerCallback
from transformers.trainer_utils import get_last_checkpoint
from transformers.utils import logging

from ..configuration_cm3leon import CM3LeonConfig
from ..data import DataCollatorForCM3, ImagePretokenizer
from .arguments import CM3Arguments
from .data_report import DataReport

logger = logging.get_logger(__name__)

# CM3LeonConfig fields that must agree with the processor's vocabulary (see `tokenization_cm3leon.special_token_ids`).
_LAYOUT_FIELDS = (
    "image_token_offset",
    "image_vocab_size",
    "eoss_token_id",
    "break_token_id",
    "sentinel_token_offset",
    "num_sentinel_tokens",
    "pad_token_id",
    "eos_token_id",
)


def load_processor(name_or_path: str | os.PathLike):
    """A [`CM3LeonProcessor`] (text tokenizer + image processor with its VQ model) from a folder or Hub id."""
    from ..processing_cm3leon import CM3LeonProcessor

    if name_or_path is None:
        raise ValueError("A processor is required: set `processor_name_or_path` (or `model_name_or_path`).")
    return CM3LeonProcessor.from_pretrained(name_or_path)


def token_layout_of(processor) -> dict:
    from ..tokenization_cm3leon import special_token_ids

    return special_token_ids(processor.tokenizer)


def check_processor_matches_config(processor, config: CM3LeonConfig) -> None:
    """Raise if the processor's vocabulary layout differs from the model's (ids would mean different tokens)."""
    layout = token_layout_of(processor)
    mismatches = [
        f"{name}: model {getattr(config, name)!r} vs processor {layout[name]!r}"
        for name in _LAYOUT_FIELDS
        if getattr(config, name) != layout[name]
    ]
    if layout["vocab_size"] > config.vocab_size:
        mismatches.append(f"vocab_size: model {config.vocab_size} < processor {layout['vocab_size']}")
    image_seq_length = processor.image_processor.image_seq_length
    if image_seq_length != config.image_seq_length:
        mismatches.append(f"image_seq_length: model {config.image_seq_length} vs processor {image_seq_length}")
    if mismatches:
        raise ValueError("The processor does not match the model's token layout: " + "; ".join(mismatches) + ".")


def resolve_block_size(cm3_args: CM3Arguments, config: CM3LeonConfig) -> int:
    """The block length: `cm3_args.block_size`, at most the model's context; the context by default."""
    block_size = cm3_args.block_size or config.max_position_embeddings
    if block_size > config.max_position_embeddings:
        raise ValueError(
            f"`block_size` ({block_size}) is longer than the model's context (max_position_embeddings="
            f"{config.max_position_embeddings})."
        )
    return block_size


class ResumableCM3Collator(DataCollatorForCM3):
    r"""
    [`DataCollatorForCM3`] whose masks are a function of `(seed, epoch, the batch's token ids)`: each batch draws
    from a fresh generator seeded by a hash of those.

    Why not torch's global generator (which the Trainer seeds and checkpoints)? The dataloader collates one batch
    ahead of the optimizer step, so a checkpoint's generator state is one batch "late" and a resumed run would draw
    the masks of batch k+2 for batch k+1. Seeding by content makes a resumed run draw exactly the masks of the
    uninterrupted one, whatever the prefetching or the number of dataloader workers; and under DDP every rank
    draws different masks, since its batches hold different tokens. The hash reads every 32nd token and the length of
    each row (cheap next to the masking itself). `epoch` is set by [`CollatorEpochCallback`], so a block seen again
    in a later epoch gets new masks.

    Args:
        config, kwargs: As [`DataCollatorForCM3`] (its own `seed` is replaced by this one).
        seed (`int`, *optional*, defaults to 0): The run's seed (`TrainingArguments.seed`).
    """

    def __init__(self, config=None, *, seed: int = 0, **kwargs):
        super().__init__(config, **kwargs)
        self.run_seed = seed
        self.epoch = 0
        self._batch_generator: torch.Generator | None = None

    @property
    def generator(self) -> torch.Generator | None:
        return self._batch_generator

    def batch_seed(self, features) -> int:
        digest = hashlib.blake2b(np.array([self.run_seed, self.epoch], dtype=np.int64).tobytes(), digest_size=8)
        for feature in features:
            ids = feature.get("input_ids") if isinstance(feature, dict) else None
            if ids is None:
                continue  # the collator reports the missing field
            if isinstance(ids, torch.Tensor):
                ids = ids.detach().cpu().numpy()
            digest.update(np.asarray(ids[::32], dtype=np.int64).tobytes() + len(ids).to_bytes(8, "little"))
        return int.from_bytes(digest.digest(), "little") >> 1  # manual_seed takes a non-negative int64

    def numpy_call(self, features):
        self._batch_generator = torch.Generator().manual_seed(self.batch_seed(features))
        return super().numpy_call(features)


class CollatorEpochCallback(TrainerCallback):
    """Tells a [`ResumableCM3Collator`] the epoch at the start of each epoch (before the epoch's first batch).

    With `dataloader_persistent_workers=True` the workers keep the epoch they started with, so repeated blocks get
    repeated masks; leave persistent workers off with the CM3 objective.
    """

    def __init__(self, collator: ResumableCM3Collator):
        self.collator = collator

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.collator.epoch = math.floor(state.epoch + 1e-6) if state.epoch is not None else 0


def build_cm3_collator(config: CM3LeonConfig, cm3_args: CM3Arguments, block_size: int, seed: int = 0):
    """The CM3 causal-masking collator (or plain causal LM with `objective="causal"`), resumable (see
    [`ResumableCM3Collator`]), and the callback that keeps its epoch."""
    collator = ResumableCM3Collator(
        config,
        seed=seed,
        poisson_lambda=cm3_args.cm3_poisson_lambda,
        max_spans=cm3_args.cm3_max_spans,
        mode=cm3_args.objective,
        max_length=block_size,
    )
    return collator, CollatorEpochCallback(collator)


def set_ddp_defaults(training_args) -> None:
    """Every parameter of the recipes' models takes part in every step: unless the user chose otherwise, tell DDP
    not to search for unused parameters (Trainer's default searches, an extra graph traversal per step)."""
    if training_args.ddp_find_unused_parameters is None:
        training_args.ddp_find_unused_parameters = False


def check_fsdp_enabled(trainer) -> None:
    """An FSDP request that accelerate cannot honour is an error, not a silent fall-back to DDP.

    accelerate 1.x sets FSDP up only on accelerators: on CPU (`MULTI_CPU`) it drops the FSDP plugin without a warning.
    """
    if trainer.args.fsdp and not trainer.is_fsdp_enabled:
        raise ValueError(
            f"`fsdp`={trainer.args.fsdp!r} was requested, but accelerate set up "
            f"{trainer.accelerator.distributed_type} without FSDP (accelerate supports FSDP on GPUs and other "
            "accelerators, not on CPU). Remove `fsdp` to train with DDP, or run on accelerators."
        )


def resolve_resume_checkpoint(training_args) -> str | None:
    """`resume_from_checkpoint`: a checkpoint folder, or `"last"`/`"true"` for the newest one in `output_dir`."""
    value = training_args.resume_from_checkpoint
    if value is None or value is False:
        return None
    if isinstance(value, str) and value.lower() not in ("last", "true"):
        if not os.path.isdir(value):
            raise ValueError(f"`resume_from_checkpoint` folder {value!r} does not exist.")
        return value
    last = get_last_checkpoint(training_args.output_dir) if os.path.isdir(training_args.output_dir) else None
    if last is None:
        logger.warning(f"No checkpoint found in {training_args.output_dir!r}; training from the start.")
    return last


def is_token_id_column(dataset, column: str) -> bool:
    """Whether `column` holds lists of integer ids (e.g. pre-tokenized images) rather than images."""
    import datasets

    feature = (dataset.features or {}).get(column)
    if isinstance(feature, (datasets.List, datasets.Sequence, datasets.LargeList)):
        inner = feature.feature
        return isinstance(inner, datasets.Value) and inner.dtype.startswith(("int", "uint"))
    return False


def map_kwargs(cm3_args: CM3Arguments, description: str) -> dict:
    return {
        "batch_size": cm3_args.preprocessing_batch_size,
        "num_proc": cm3_args.preprocessing_num_workers,
        "desc": description,
    }


def limit_block_lengths(dataset, block_size: int, on_error: str, report: DataReport):
    """Without packing, each document is one row: a row longer than `block_size` raises or is skipped (counted)."""
    kept = dataset.filter(lambda batch: [len(ids) <= block_size for ids in batch["input_ids"]], batched=True)
    too_long = len(dataset) - len(kept)
    if too_long and on_error == "raise":
        raise ValueError(
            f"{too_long} of {len(dataset)} documents are longer than block_size={block_size}. Enable `packing`, "
            "raise `block_size`, or set on_error='skip' to skip them."
        )
    report.add_skipped_rows("longer_than_block_size", len(dataset), len(kept))
    return kept


def pretokenize_images(dataset, processor, image_column: str, cm3_args: CM3Arguments, report: DataReport):
    """Image column -> `{image_column}_token_ids` once (a no-op when the column already holds token ids).

    Returns the dataset and the name of the column of image token ids.
    """
    if is_token_id_column(dataset, image_column):
        return dataset, image_column
    pretokenizer = ImagePretokenizer(processor, columns=image_column, on_error=cm3_args.on_error)
    tokenized = pretokenizer.map(dataset, **map_kwargs(cm3_args, "Tokenizing images"))
    report.add_skipped_rows("image_pretokenization", len(dataset), len(tokenized), pretokenizer.skipped)
    return tokenized, pretokenizer.output_column(image_column)


def build_cm3_trainer(
    model, processor, training_args, cm3_args, train_dataset, eval_dataset=None, callbacks=None
) -> Trainer:
    """A `Trainer` on CM3 blocks: DDP defaults, the resumable CM3 collator (and its epoch callback), the FSDP check."""
    set_ddp_defaults(training_args)
    block_size = resolve_block_size(cm3_args, model.config)
    collator, epoch_callback = build_cm3_collator(model.config, cm3_args, block_size, seed=training_args.seed)
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        data_collator=collator,
        processing_class=processor,
        callbacks=[epoch_callback, *(callbacks or [])],
    )
    check_fsdp_enabled(trainer)
    return trainer


def train_and_save(trainer, training_args, report: DataReport, num_train_examples: int | None = None) -> dict:
    """Train (resuming if asked), save the model and processor, evaluate if asked; return the metrics.

    The data report's counts (`data_skipped_rows`, ...) are logged and added to the saved train metrics.
    """
    result = trainer.train(resume_from_checkpoint=resolve_resume_checkpoint(training_args))
    trainer.save_model()
    metrics = dict(result.metrics)
    if num_train_examples is not None:
        metrics["train_blocks"] = num_train_examples
    metrics.update(report.metrics)
    trainer.log(report.metrics)  # to the reporting integrations (TensorBoard, W&B, ...) as well
    trainer.log_metrics("train", metrics)
    trainer.save_metrics("train", metrics)
    trainer.save_state()
    if training_args.do_eval and trainer.eval_dataset is not None:
        eval_metrics = trainer.evaluate()
        if "eval_loss" in eval_metrics:
            eval_metrics["eval_perplexity"] = float(torch.exp(torch.tensor(min(eval_metrics["eval_loss"], 50.0))))
        trainer.log_metrics("eval", eval_metrics)
        trainer.save_metrics("eval", eval_metrics)
        metrics.update(eval_metrics)
    return metrics


__all__ = [
    "CollatorEpochCallback",
    "build_cm3_trainer",
    "ResumableCM3Collator",
    "is_token_id_column",
    "limit_block_lengths",
    "map_kwargs",
    "pretokenize_images",
    "build_cm3_collator",
    "check_processor_matches_config",
    "load_processor",
    "resolve_block_size",
    "resolve_resume_checkpoint",
    "set_ddp_defaults",
    "train_and_save",
]
