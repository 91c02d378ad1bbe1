# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""One rank of the 2-process image-tokenizer training test (tests/test_training_distributed.py), run by `torchrun`.

    python -m torch.distributed.run --standalone --nproc_per_node 2 vq_training_worker.py OUTPUT_DIR

It builds the VQ recipe's Trainer (EMA codebook, dead-code restarts and the patch discriminator all on), trains a tiny
tokenizer for 6 steps on CPU (gloo) under DDP and writes `<output_dir>/rank<r>.json`: the logged losses and codebook
usage by step, the number of codes restarted, a digest of the final weights (tokenizer, discriminator and EMA
statistics) and a digest of this rank's first batch.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys

import datasets
import numpy as np
import torch
from PIL import Image
from training_worker import weights_digest
from transformers import TrainingArguments

from transformers_cm3leon import CM3LeonVQConfig, CM3LeonVQModel
from transformers_cm3leon.testing_utils import TINY_VQ_CONFIG
from transformers_cm3leon.training import VQDataArguments, VQLossArguments, VQModelArguments, build_vq_trainer

# 16 px -> 4 x 4 codes from a codebook of 32 (testing_utils' tiny tokenizer, without attention).
TINY_VQ = dict(TINY_VQ_CONFIG, attn_resolutions=[])


def random_images(count: int) -> list[Image.Image]:
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)) for _ in range(count)]


def main(output_dir: str) -> None:
    torch.set_num_threads(1)
    args = TrainingArguments(
        output_dir=output_dir,
        max_steps=6,
        per_device_train_batch_size=4,
        learning_rate=1e-3,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        ddp_backend="gloo",
        disable_tqdm=True,
        seed=0,
    )
    torch.manual_seed(0)
    trainer = build_vq_trainer(
        VQModelArguments(),
        VQDataArguments(),
        VQLossArguments(
            dead_code_threshold=2, use_discriminator=True, discriminator_start_step=2, discriminator_layers=1
        ),
        args,
        vq_model=CM3LeonVQModel(CM3LeonVQConfig(**TINY_VQ)),
        train_dataset=datasets.Dataset.from_dict({"image": random_images(48)}),
    )
    batches = []
    collate = trainer.data_collator

    def recording_collate(features):
        batch = collate(features)
        batches.append(hashlib.sha256(batch["pixel_values"].numpy().tobytes()).hexdigest())
        return batch

    trainer.data_collator = recording_collate
    trainer.train()
    logs = [entry for entry in trainer.state.log_history if "loss" in entry]
    record = {
        "world_size": args.world_size,
        "losses": {entry["step"]: entry["loss"] for entry in logs},
        "codebook_usage": {entry["step"]: entry["codebook_usage"] for entry in logs},
        "restarted_codes": sum(entry["restarted_codes"] for entry in logs),
        "weights": weights_digest(trainer.training_model),
        "first_batch": batches[0],
    }
    with open(os.path.join(output_dir, f"rank{args.process_index}.json"), "w") as handle:
        json.dump(record, handle)


if __name__ == "__main__":
    main(*sys.argv[1:])
