# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The `TrainingArguments` every stage of the CM3Leon-Emoji recipe trains with (a cosine schedule on the CPU,
seeded, no checkpoints)."""

from __future__ import annotations


def training_arguments(output_dir: str, recipe, max_steps: int, learning_rate: float, batch_size: int):
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=output_dir,
        max_steps=max_steps,
        per_device_train_batch_size=batch_size,
        learning_rate=learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=max(1, max_steps // 20),
        weight_decay=0.01,
        logging_steps=max(1, max_steps // 20),
        save_strategy="no",
        report_to=[],
        seed=recipe.seed,
        data_seed=recipe.seed,
        use_cpu=True,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
