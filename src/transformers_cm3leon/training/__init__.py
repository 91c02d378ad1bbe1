# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Training recipes for CM3Leon on `transformers.Trainer`, runnable as `cm3leon train pretrain|sft|vq`.

- `arguments.py`        HfArgumentParser dataclasses of the recipes, YAML loading and command-line overrides
- `pretrain.py`         pretraining from scratch: documents -> image tokens -> (retrieval) -> packing -> CM3 -> Trainer
- `sft.py`              SFT: task datasets bound to named templates, mixed with the 3 / 0.3 caps -> Trainer
- `lora.py`             PEFT: default LoRA targets, `get_lora_config`, image-token rows of the output head
- `vq_training.py`      the image tokenizer (VQGAN) recipe: losses, PSNR / codebook usage, `VQGANTrainer`
- `vq_codebook.py`      EMA codebook updates and dead-code restarts
- `vq_discriminator.py` the patch discriminator and its hinge losses
- `image_embedding_init.py` image-token embeddings started from the VQ codebook
- `recipe_utils.py`, `dataset_loading.py`, `data_report.py`: what the recipes share
- `cli.py`              `cm3leon train ...`; `__main__.py`: `python -m transformers_cm3leon.training ...` (torchrun -m)
"""

from .arguments import (
    CM3Arguments,
    DataArguments,
    LoraArguments,
    ModelArguments,
    RetrievalArguments,
    SFTArguments,
    SFTTaskArguments,
    load_yaml_config,
    parse_recipe_arguments,
)
from .cli import add_train_parser, run_recipe
from .data_report import DataReport
from .dataset_loading import load_local_dataset
from .image_embedding_init import init_image_embeddings_from_codebook
from .lora import (
    CM3LEON_LORA_TARGET_MODULES,
    get_image_head_tuning_config,
    get_lora_config,
    image_token_indices,
    untie_output_embeddings,
)
from .pretrain import build_pretraining_trainer, prepare_pretraining_dataset, run_pretraining
from .recipe_utils import build_cm3_collator
from .sft import build_sft_trainer, prepare_sft_dataset, run_sft
from .vq_codebook import CodebookMaintenance
from .vq_data import VQImageCollator
from .vq_discriminator import PatchDiscriminator
from .vq_training import (
    CM3LeonVQTrainingModel,
    VQDataArguments,
    VQGANTrainer,
    VQLossArguments,
    VQModelArguments,
    build_vq_trainer,
    evaluate_reconstruction,
    run_vq_training,
)

__all__ = [
    "CM3Arguments",
    "CM3LEON_LORA_TARGET_MODULES",
    "CM3LeonVQTrainingModel",
    "CodebookMaintenance",
    "DataArguments",
    "DataReport",
    "LoraArguments",
    "ModelArguments",
    "PatchDiscriminator",
    "RetrievalArguments",
    "SFTArguments",
    "SFTTaskArguments",
    "VQDataArguments",
    "VQGANTrainer",
    "VQImageCollator",
    "VQLossArguments",
    "VQModelArguments",
    "add_train_parser",
    "build_cm3_collator",
    "build_pretraining_trainer",
    "build_sft_trainer",
    "build_vq_trainer",
    "evaluate_reconstruction",
    "get_image_head_tuning_config",
    "get_lora_config",
    "image_token_indices",
    "init_image_embeddings_from_codebook",
    "load_local_dataset",
    "load_yaml_config",
    "parse_recipe_arguments",
    "prepare_pretraining_dataset",
    "prepare_sft_dataset",
    "run_pretraining",
    "run_recipe",
    "run_sft",
    "run_vq_training",
    "untie_output_embeddings",
]
