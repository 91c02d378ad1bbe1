# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""One rank of the 2-process training tests (tests/test_training_distributed.py), run by `torchrun`.

    python -m torch.distributed.run --standalone --nproc_per_node 2 ddp_training_worker.py OUTPUT_DIR [ddp|fsdp]

It builds the pretraining Trainer exactly as the recipe does, trains a tiny model for a few steps on CPU (gloo) under
DDP or, with `fsdp`, under FSDP2 requested through `TrainingArguments`, and writes what the test compares to
`<output_dir>/rank<r>.json`: the logged losses, a digest of the final (full, unsharded) weights, and a digest of the
first batch this rank trained on. With `fsdp` it stops with an error if accelerate did not set FSDP up.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys

import datasets
import torch
from torch.distributed.tensor import DTensor
from transformers import TrainingArguments

from transformers_cm3leon.testing_utils import TINY_CORPUS, get_tiny_cm3leon_processor
from transformers_cm3leon.training import (
    CM3Arguments,
    DataArguments,
    ModelArguments,
    RetrievalArguments,
    build_pretraining_trainer,
)

TINY_OVERRIDES = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "max_position_embeddings": 128,
    "initializer_range": 0.02,
}

# What each parallelism adds to `TrainingArguments`. FSDP2 (`torch.distributed.fsdp.fully_shard`) with one shard unit
# per decoder layer plus the root, as README (training section) documents it.
PARALLELISM_ARGUMENTS = {
    "ddp": {},
    "fsdp": {"fsdp": True, "fsdp_config": {"version": 2, "transformer_layer_cls_to_wrap": ["CM3LeonDecoderLayer"]}},
}


def weights_digest(model: torch.nn.Module) -> str:
    """sha256 of the full state dict; FSDP2 shards (DTensors) are gathered first, so every rank digests the same."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        if isinstance(tensor, DTensor):
            tensor = tensor.full_tensor()
        digest.update(name.encode() + tensor.detach().contiguous().numpy().tobytes())
    return digest.hexdigest()


def main(output_dir: str, parallelism: str = "ddp") -> None:
    if parallelism not in PARALLELISM_ARGUMENTS:
        raise ValueError(f"`parallelism` must be one of {sorted(PARALLELISM_ARGUMENTS)}, got {parallelism!r}.")
    torch.set_num_threads(1)
    processor = get_tiny_cm3leon_processor()
    offset, length = processor.image_processor.image_token_offset, processor.image_processor.image_seq_length
    documents = datasets.Dataset.from_list(
        [{"text": TINY_CORPUS[i % 8], "image": [offset + (i + j) % 32 for j in range(length)]} for i in range(32)]
    )
    args = TrainingArguments(
        output_dir=output_dir,
        max_steps=4,
        per_device_train_batch_size=2,
        learning_rate=3e-3,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        ddp_backend="gloo",
        disable_tqdm=True,
        seed=0,
        **PARALLELISM_ARGUMENTS[parallelism],
    )
    trainer, _ = build_pretraining_trainer(
        ModelArguments(config_name="cm3leon-350m", config_overrides=TINY_OVERRIDES),
        DataArguments(),
        CM3Arguments(block_size=32),
        RetrievalArguments(),
        args,
        processor=processor,
        train_dataset=documents,
    )
    # The recipe refuses an FSDP request that accelerate did not honour (on CPU), so an FSDP run never measures DDP.
    batches = []
    collate = trainer.data_collator.torch_call

    def recording_collate(features):
        batch = collate(features)
        batches.append(hashlib.sha256(batch["input_ids"].numpy().tobytes()).hexdigest())
        return batch

    trainer.data_collator.torch_call = recording_collate
    trainer.train()
    record = {
        "world_size": args.world_size,
        "losses": [entry["loss"] for entry in trainer.state.log_history if "loss" in entry],
        "weights": weights_digest(trainer.model),
        "sharded": any(isinstance(parameter, DTensor) for parameter in trainer.model.parameters()),
        "first_batch": batches[0],
    }
    with open(os.path.join(output_dir, f"rank{args.process_index}.json"), "w") as handle:
        json.dump(record, handle)


if __name__ == "__main__":
    main(*sys.argv[1:])
