# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Supervised fine-tuning (the paper's §4) on `transformers.Trainer`.

    per task: rows -> image pre-tokenisation -> named template -> `input_ids` (+ `labels`)   data.SFTExampleBuilder
    tasks -> mix with the paper's 3 / 0.3 up/down-sampling caps                            data.mix_datasets
    -> whole documents packed into blocks -> CM3 causal masking, CE on every token          ResumableCM3Collator
    -> Trainer (optionally LoRA / image-token head rows through PEFT)

The paper trains SFT with the same CM3 objective over the whole sequence (`loss_on: all`); `loss_on: output` puts
the loss on the output only (Chameleon's choice). A YAML file lists the tasks:

```yaml
model_name_or_path: runs/pretrained
tasks:
  - {name: vqa, template: vqa, train_file: vqa.jsonl}
  - {name: editing, template: text_guided_editing, train_file: edits.parquet,
     field_map: {edit_instruction: edit_prompt}, weight: 2.0}
loss_on: all
block_size: 4096
output_dir: runs/sft
learning_rate: 5.0e-5   # the paper's SFT LR, 150 warmup steps
warmup_steps: 150
```
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from transformers import Trainer, TrainingArguments
from transformers.utils import ADAPTER_CONFIG_NAME, ADAPTER_SAFE_WEIGHTS_NAME, logging

from ..data import DocumentPacker, SFTExampleBuilder, mix_datasets
from ..data.sft_templates import ImageSlot, resolve_templates
from ..modeling_cm3leon import CM3LeonForCausalLM
from .arguments import (
    CM3Arguments,
    LoraArguments,
    ModelArguments,
    SFTArguments,
    SFTTaskArguments,
    parse_recipe_arguments,
)
from .data_report import DataReport
from .dataset_loading import check_dataset, load_local_dataset, take_first
from .lora import get_lora_config
from .recipe_utils import (
    build_cm3_trainer,
    check_processor_matches_config,
    is_token_id_column,
    limit_block_lengths,
    load_processor,
    map_kwargs,
    pretokenize_images,
    resolve_block_size,
    train_and_save,
)

logger = logging.get_logger(__name__)

ARGUMENT_TYPES = (ModelArguments, SFTArguments, CM3Arguments, LoraArguments, TrainingArguments)


def parse_tasks(tasks) -> list[SFTTaskArguments]:
    """`SFTTaskArguments` from the YAML `tasks:` list (dicts) or from `SFTTaskArguments` objects."""
    if not isinstance(tasks, (list, tuple)) or not tasks:
        raise ValueError(f"`tasks` must be a non-empty list of tasks, got {tasks!r}.")
    parsed = []
    for index, task in enumerate(tasks):
        if isinstance(task, dict):
            try:
                task = SFTTaskArguments(**task)
            except TypeError as error:
                raise ValueError(
                    f"tasks[{index}] is not a valid task ({error}); fields: name, template, "
                    "train_file | dataset, dataset_format, field_map, weight, max_samples."
                ) from None
        if not isinstance(task, SFTTaskArguments):
            raise TypeError(f"tasks[{index}] must be a dict or SFTTaskArguments, got {type(task).__name__}.")
        parsed.append(task)
    names = [task.name for task in parsed]
    if len(set(names)) != len(names):
        raise ValueError(f"Task names must be unique, got {names}.")
    return parsed


def _image_columns(task: SFTTaskArguments) -> list[str]:
    """The columns the task's templates read images from."""
    field_map = task.field_map or {}
    columns = []
    for template in resolve_templates(task.template):
        for part in template.segments:
            if isinstance(part, ImageSlot):
                column = field_map.get(part.field, part.field)
                if column not in columns:
                    columns.append(column)
    return columns


def prepare_sft_task(task, processor, config, sft_args, cm3_args, block_size, report, seed=0):
    """One task's rows -> `input_ids` (+ `labels` with `loss_on="output"`)."""
    if task.dataset is None:
        dataset = load_local_dataset(task.train_file, task.dataset_format)
    else:
        dataset = check_dataset(task.dataset, f"tasks[{task.name}].dataset")
    dataset = take_first(dataset, task.max_samples)
    for column in _image_columns(task):
        # An absent column is the template's problem (it also reads `{column}_token_ids`), reported per row.
        if column in dataset.column_names and not is_token_id_column(dataset, column):
            dataset, _ = pretokenize_images(dataset, processor, column, cm3_args, report)
    builder = SFTExampleBuilder(
        task.template,
        processor.tokenizer,
        config,
        loss_on=sft_args.loss_on,
        max_length=block_size,
        on_error=cm3_args.on_error,
        field_map=task.field_map,
        seed=seed,
    )
    rows_in = len(dataset)
    dataset = builder.map(dataset, **map_kwargs(cm3_args, f"Rendering task {task.name!r}"))
    report.add_skipped_rows(f"task_{task.name}", rows_in, len(dataset), builder.skipped)
    if len(dataset) == 0:
        raise ValueError(f"Task {task.name!r} has no usable row left (of {rows_in}).")
    return dataset


def prepare_sft_dataset(
    tasks: Sequence[SFTTaskArguments],
    processor,
    config,
    sft_args: SFTArguments,
    cm3_args: CM3Arguments,
    report: DataReport | None = None,
    seed: int = 0,
):
    """All tasks -> one mixed, packed dataset of `input_ids` (+ `labels`) ready for the CM3 collator."""
    report = report if report is not None else DataReport()
    block_size = resolve_block_size(cm3_args, config)
    tasks = parse_tasks(tasks)
    per_task = {
        task.name: prepare_sft_task(task, processor, config, sft_args, cm3_args, block_size, report, seed)
        for task in tasks
    }
    for name, dataset in per_task.items():
        report.add(f"examples_{name}", len(dataset))
    if len(per_task) == 1:
        (dataset,) = per_task.values()
    else:
        dataset = mix_datasets(
            per_task,
            {task.name: task.weight for task in tasks},
            max_upsampling=sft_args.max_upsampling,
            min_downsampling=sft_args.min_downsampling,
            num_samples=sft_args.num_samples,
            seed=seed,
        )
    report.add("examples", len(dataset))
    if cm3_args.packing:
        # Whole examples per block: an instruction is never cut from its output.
        packer = DocumentPacker(block_size, mode="whole_documents", on_error=cm3_args.on_error)
        dataset = packer.map(dataset, **map_kwargs(cm3_args, f"Packing into blocks of {block_size}"))
        report.add_counter("packing", packer.skipped)
    else:
        dataset = limit_block_lengths(dataset, block_size, cm3_args.on_error, report)
    report.add("blocks", len(dataset))
    return dataset


def apply_lora(model, lora_args: LoraArguments):
    """Wrap the model with LoRA adapters (and image-token head rows) when `use_lora` is set."""
    if not lora_args.use_lora:
        if lora_args.train_image_token_rows:
            raise ValueError("`train_image_token_rows` is a PEFT option: set `use_lora: true` as well.")
        return model
    from peft import get_peft_model

    config = get_lora_config(
        model.config,
        r=lora_args.lora_r,
        lora_alpha=lora_args.lora_alpha,
        lora_dropout=lora_args.lora_dropout,
        target_modules=lora_args.lora_target_modules,
        train_image_token_rows=lora_args.train_image_token_rows,
    )
    model = get_peft_model(model, config)
    model.print_trainable_parameters()
    return model


def build_sft_trainer(
    model_args: ModelArguments,
    sft_args: SFTArguments,
    cm3_args: CM3Arguments,
    lora_args: LoraArguments,
    training_args: TrainingArguments,
    tasks: Sequence[SFTTaskArguments | dict],
    *,
    model=None,
    processor=None,
    callbacks: list | None = None,
) -> tuple[Trainer, DataReport]:
    """The SFT `Trainer`, with its data prepared; `model`/`processor` objects replace the paths in `model_args`."""
    if lora_args.use_lora and lora_args.merge_lora and training_args.fsdp:
        raise ValueError(
            f"`merge_lora`=True with `fsdp`={training_args.fsdp!r}: merging needs the whole model in one process. "
            "Train without `merge_lora` (the adapter is saved to `output_dir`), then merge in one process: "
            "`PeftModel.from_pretrained(CM3LeonForCausalLM.from_pretrained(base), output_dir).merge_and_unload()`."
        )
    if processor is None:
        processor = load_processor(model_args.processor_name_or_path or model_args.model_name_or_path)
    if model is None:
        if model_args.model_name_or_path is None:
            raise ValueError("SFT needs a model to fine-tune: set `model_name_or_path`.")
        kwargs = {"attn_implementation": model_args.attn_implementation} if model_args.attn_implementation else {}
        model = CM3LeonForCausalLM.from_pretrained(model_args.model_name_or_path, **kwargs)
    check_processor_matches_config(processor, model.config)

    report = DataReport()
    with training_args.main_process_first(desc="preparing the SFT data"):
        train_dataset = prepare_sft_dataset(
            tasks, processor, model.config, sft_args, cm3_args, report=report, seed=training_args.seed
        )
    model = apply_lora(model, lora_args)
    trainer = build_cm3_trainer(model, processor, training_args, cm3_args, train_dataset, callbacks=callbacks)
    return trainer, report


def run_sft(
    model_args: ModelArguments,
    sft_args: SFTArguments,
    cm3_args: CM3Arguments,
    lora_args: LoraArguments,
    training_args: TrainingArguments,
    tasks: Sequence[SFTTaskArguments | dict],
    **objects,
) -> dict:
    """Fine-tune and save to `output_dir` (the adapter with LoRA, or the merged model with `merge_lora`)."""
    trainer, report = build_sft_trainer(model_args, sft_args, cm3_args, lora_args, training_args, tasks, **objects)
    metrics = train_and_save(trainer, training_args, report, num_train_examples=len(trainer.train_dataset))
    if lora_args.use_lora and lora_args.merge_lora and training_args.should_save:
        # The merged model takes the output folder (so `from_pretrained(output_dir)` loads it, not the adapter);
        # the adapter moves to `adapter/`.
        output_dir = training_args.output_dir
        trainer.model.save_pretrained(os.path.join(output_dir, "adapter"))
        for name in (ADAPTER_CONFIG_NAME, ADAPTER_SAFE_WEIGHTS_NAME):
            if os.path.isfile(os.path.join(output_dir, name)):
                os.remove(os.path.join(output_dir, name))
        trainer.model.merge_and_unload().save_pretrained(output_dir)
    return metrics


def main(config_file: str | None = None, overrides: Sequence[str] = ()) -> dict:
    """`cm3leon train sft --config file.yaml [--name value ...]` (the file lists the `tasks`)."""
    *arguments, nested = parse_recipe_arguments(ARGUMENT_TYPES, config_file, overrides, nested_keys=("tasks",))
    if "tasks" not in nested:
        raise ValueError("The SFT config needs a `tasks:` list (name, template, train_file for each task).")
    return run_sft(*arguments, nested["tasks"])


__all__ = ["build_sft_trainer", "parse_tasks", "prepare_sft_dataset", "run_sft"]
