# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""One rank of the 2-process training tests (tests/test_training_distributed.py), run by `torchrun`.

    python -m torch.distributed.run --standalone --nproc_per_node 2 training_worker.py OUTPUT_DIR \
        [--recipe pretraining|sft-lora] [--parallelism ddp|fsdp] [--allow-fsdp-on-cpu] [--max-steps N] \
        [--save-steps N] [--resume-from-checkpoint DIR]

It builds the recipe's Trainer exactly as the recipe does (pretraining a tiny model, or LoRA SFT of one on a VQA
task), trains on CPU (gloo) under DDP or, with `fsdp`, under FSDP2 requested through `TrainingArguments`, and saves
with the recipes' `train_and_save` (`OUTPUT_DIR/model.safetensors`, or the adapter with LoRA, and the usual
`checkpoint-N` folders). It writes what the tests compare to `<output_dir>/rank<r>.json`: the logged losses by step,
a digest of the final full weights, whether the parameters were sharded, and a digest of the first batch this rank
trained on.

`--allow-fsdp-on-cpu` lifts accelerate's device gate (see `allow_fsdp_on_cpu`); without it an FSDP request on CPU
stops with the recipe's error.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os

import datasets
import torch
from torch.distributed.tensor import DTensor
from transformers import TrainingArguments

from transformers_cm3leon import CM3LeonConfig, CM3LeonForCausalLM
from transformers_cm3leon.testing_utils import TINY_CORPUS, TINY_LM_CONFIG, get_tiny_cm3leon_processor
from transformers_cm3leon.tokenization_cm3leon import special_token_ids
from transformers_cm3leon.training import (
    CM3Arguments,
    DataArguments,
    LoraArguments,
    ModelArguments,
    RetrievalArguments,
    SFTArguments,
    SFTTaskArguments,
    build_pretraining_trainer,
    build_sft_trainer,
)
from transformers_cm3leon.training.recipe_utils import train_and_save

TINY_OVERRIDES = dict(TINY_LM_CONFIG, max_position_embeddings=128)

# What each parallelism adds to `TrainingArguments`. FSDP2 (`torch.distributed.fsdp.fully_shard`) with one shard unit
# per decoder layer plus the root, as README (training section) documents it.
PARALLELISM_ARGUMENTS = {
    "ddp": {},
    "fsdp": {"fsdp": True, "fsdp_config": {"version": 2, "transformer_layer_cls_to_wrap": ["CM3LeonDecoderLayer"]}},
}


def allow_fsdp_on_cpu() -> None:
    """Lets accelerate set FSDP up on CPU processes, for testing only.

    accelerate 1.15 attaches the FSDP plugin only when its state is MULTI_GPU (or another accelerator); on CPU the
    state is MULTI_CPU and the plugin is dropped, although torch's `fully_shard` works on CPU with gloo. This keeps
    everything else accelerate does (FSDP2 wrapping, sharded optimizer, FULL_STATE_DICT saving, checkpoint loading)
    and changes only that decision, so the recipe's FSDP path can be checked without accelerators.
    """
    import accelerate.state
    from accelerate.utils import DistributedType

    state_init = accelerate.state.AcceleratorState.__init__

    def init_with_fsdp_on_cpu(self, *args, fsdp_plugin=None, **kwargs):
        state_init(self, *args, fsdp_plugin=fsdp_plugin, **kwargs)
        if fsdp_plugin is not None and self.distributed_type == DistributedType.MULTI_CPU:
            # What the accelerator branch of `AcceleratorState.__init__` does, shared state included.
            self.distributed_type = DistributedType.FSDP
            self.fsdp_plugin = fsdp_plugin
            accelerate.state.PartialState._shared_state["distributed_type"] = DistributedType.FSDP

    accelerate.state.AcceleratorState.__init__ = init_with_fsdp_on_cpu


def weights_digest(model: torch.nn.Module) -> str:
    """sha256 of the full state dict; FSDP2 shards (DTensors) are gathered first, so every rank digests the same."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        if isinstance(tensor, DTensor):
            tensor = tensor.full_tensor()
        digest.update(name.encode() + tensor.detach().contiguous().numpy().tobytes())
    return digest.hexdigest()


def build_tiny_pretraining_trainer(processor, args: TrainingArguments):
    """Pretraining a new tiny model on 32 captioned images (pre-tokenized)."""
    offset, length = processor.image_processor.image_token_offset, processor.image_processor.image_seq_length
    documents = datasets.Dataset.from_list(
        [{"text": TINY_CORPUS[i % 8], "image": [offset + (i + j) % 32 for j in range(length)]} for i in range(32)]
    )
    return build_pretraining_trainer(
        ModelArguments(config_name="cm3leon-350m", config_overrides=TINY_OVERRIDES),
        DataArguments(),
        CM3Arguments(block_size=32),
        RetrievalArguments(),
        args,
        processor=processor,
        train_dataset=documents,
    )


def build_sft_lora_trainer(processor, args: TrainingArguments):
    """LoRA (rank 4) SFT of a tiny model on 32 VQA rows, loss on the whole sequence."""
    offset, length = processor.image_processor.image_token_offset, processor.image_processor.image_seq_length
    rows = {
        "question": [f"what colour is {i}?" for i in range(32)],
        "answer": [("red", "blue")[i % 2] for i in range(32)],
        "image_token_ids": [[offset + (i + j) % 32 for j in range(length)] for i in range(32)],
    }
    config = CM3LeonConfig.from_preset(
        "cm3leon-350m", **TINY_OVERRIDES, **special_token_ids(processor.tokenizer), image_seq_length=length
    )
    torch.manual_seed(0)
    return build_sft_trainer(
        ModelArguments(),
        SFTArguments(),
        CM3Arguments(block_size=64, objective="causal"),
        LoraArguments(use_lora=True, lora_r=4),
        args,
        [SFTTaskArguments(name="vqa", template="vqa_answer", dataset=datasets.Dataset.from_dict(rows))],
        model=CM3LeonForCausalLM(config),
        processor=processor,
    )


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output_dir")
    parser.add_argument("--recipe", choices=["pretraining", "sft-lora"], default="pretraining")
    parser.add_argument("--parallelism", choices=sorted(PARALLELISM_ARGUMENTS), default="ddp")
    parser.add_argument("--allow-fsdp-on-cpu", action="store_true")
    parser.add_argument("--max-steps", type=int, default=4)
    parser.add_argument("--save-steps", type=int, default=None, help="checkpoint every N steps (default: none)")
    parser.add_argument("--resume-from-checkpoint", default=None)
    return parser.parse_args()


def main() -> None:
    arguments = parse_arguments()
    if arguments.allow_fsdp_on_cpu:
        allow_fsdp_on_cpu()
    torch.set_num_threads(1)
    processor = get_tiny_cm3leon_processor()
    saving = {"save_strategy": "no"}
    if arguments.save_steps is not None:
        saving = {"save_strategy": "steps", "save_steps": arguments.save_steps}
    args = TrainingArguments(
        output_dir=arguments.output_dir,
        max_steps=arguments.max_steps,
        per_device_train_batch_size=2,
        learning_rate=3e-3,
        logging_steps=1,
        report_to="none",
        use_cpu=True,
        ddp_backend="gloo",
        disable_tqdm=True,
        seed=0,
        resume_from_checkpoint=arguments.resume_from_checkpoint,
        **saving,
        **PARALLELISM_ARGUMENTS[arguments.parallelism],
    )
    # The recipes refuse an FSDP request that accelerate did not honour (on CPU): an FSDP run never measures DDP.
    build_trainer = build_sft_lora_trainer if arguments.recipe == "sft-lora" else build_tiny_pretraining_trainer
    trainer, report = build_trainer(processor, args)
    batches = []
    collate = trainer.data_collator.torch_call

    def recording_collate(features):
        batch = collate(features)
        batches.append(hashlib.sha256(batch["input_ids"].numpy().tobytes()).hexdigest())
        return batch

    trainer.data_collator.torch_call = recording_collate
    train_and_save(trainer, args, report)
    record = {
        "world_size": args.world_size,
        "losses": {entry["step"]: entry["loss"] for entry in trainer.state.log_history if "loss" in entry},
        "weights": weights_digest(trainer.model),
        "sharded": any(isinstance(parameter, DTensor) for parameter in trainer.model.parameters()),
        "first_batch": batches[0],
    }
    with open(os.path.join(arguments.output_dir, f"rank{args.process_index}.json"), "w") as handle:
        json.dump(record, handle)
    torch.distributed.barrier()  # no rank tears the process group down while another still talks to it
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
