# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The recipes under `torchrun` with 2 CPU processes (gloo). Pretraining and LoRA SFT with DDP and with FSDP2: the
ranks must agree, FSDP must train like DDP, and an FSDP run must resume from its checkpoint. The image-tokenizer
recipe with DDP: the ranks must agree, EMA codebook and dead-code restarts included. Each launch takes ~6 s on 2 CPU
cores."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from transformers_cm3leon import CM3LeonForCausalLM

WORKER = os.path.join(os.path.dirname(__file__), "training_worker.py")
VQ_WORKER = os.path.join(os.path.dirname(__file__), "vq_training_worker.py")
# FSDP2 with accelerate's CPU gate lifted, checkpointing every 2 of the 4 steps.
FSDP_ON_CPU = ("--parallelism", "fsdp", "--allow-fsdp-on-cpu", "--save-steps", "2")


def launch_two_ranks(output_dir, *worker_arguments: str, worker: str = WORKER) -> subprocess.CompletedProcess:
    """Runs `worker` on 2 CPU processes (gloo)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "CUDA_VISIBLE_DEVICES": ""}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", worker]
    command += [str(output_dir), *worker_arguments]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=180, check=False)


def run_two_ranks(output_dir, *worker_arguments: str, worker: str = WORKER) -> tuple[dict, dict]:
    """What each rank recorded."""
    result = launch_two_ranks(output_dir, *worker_arguments, worker=worker)
    assert result.returncode == 0, result.stderr[-4000:]
    rank0, rank1 = (json.loads((output_dir / f"rank{r}.json").read_text()) for r in (0, 1))
    assert rank0["world_size"] == rank1["world_size"] == 2
    return rank0, rank1


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("ddp")
    return output_dir, run_two_ranks(output_dir, "--parallelism", "ddp")


@pytest.fixture(scope="module")
def fsdp_run(tmp_path_factory):
    """FSDP2 through `TrainingArguments` (`fsdp=True, fsdp_config={"version": 2, ...}`), with accelerate's CPU gate
    lifted (`training_worker.allow_fsdp_on_cpu`), checkpointing every 2 of the 4 steps."""
    output_dir = tmp_path_factory.mktemp("fsdp")
    return output_dir, run_two_ranks(output_dir, *FSDP_ON_CPU)


@pytest.fixture(scope="module")
def sft_lora_runs(tmp_path_factory):
    """LoRA SFT under DDP and under FSDP2 (accelerate's CPU gate lifted): {parallelism: (output_dir, ranks)}."""
    runs = {}
    for parallelism in ("ddp", "fsdp"):
        output_dir = tmp_path_factory.mktemp(f"sft_lora_{parallelism}")
        arguments = ["--recipe", "sft-lora", "--parallelism", parallelism, "--allow-fsdp-on-cpu"]
        runs[parallelism] = output_dir, run_two_ranks(output_dir, *arguments)
    return runs


def test_two_processes_agree(ddp_run):
    """Both ranks log the same (all-reduced) loss curve and end with bit-identical weights, after training on
    different shards with different CM3 masks."""
    _, (rank0, rank1) = ddp_run
    assert not rank0["sharded"]
    assert list(rank0["losses"]) == ["1", "2", "3", "4"]
    assert rank0["losses"] == rank1["losses"]
    assert rank0["weights"] == rank1["weights"]
    assert rank0["first_batch"] != rank1["first_batch"]  # different data (and masks) on each rank


def test_two_processes_agree_under_fsdp(fsdp_run, ddp_run):
    """The recipe unchanged under FSDP2: parameters are sharded, both ranks log the same falling loss curve and gather
    the same full weights. Sharding changes where the numbers live, not what they are: the losses and the saved
    model are those of the DDP run on the same data."""
    fsdp_dir, (rank0, rank1) = fsdp_run
    ddp_dir, (ddp_rank0, _) = ddp_run
    assert rank0["sharded"] and rank1["sharded"]
    assert list(rank0["losses"]) == ["1", "2", "3", "4"]
    assert rank0["losses"] == rank1["losses"]
    assert rank0["losses"]["4"] < rank0["losses"]["1"]
    assert rank0["weights"] == rank1["weights"]
    assert rank0["first_batch"] != rank1["first_batch"]
    assert rank0["first_batch"] == ddp_rank0["first_batch"]
    for step, loss in ddp_rank0["losses"].items():
        assert rank0["losses"][step] == pytest.approx(loss, abs=1e-5), step

    # `train_and_save` wrote the gathered (FULL_STATE_DICT) model: ordinary tensors that load with `from_pretrained`.
    fsdp_model = CM3LeonForCausalLM.from_pretrained(fsdp_dir)
    ddp_model = CM3LeonForCausalLM.from_pretrained(ddp_dir)
    ddp_weights = ddp_model.state_dict()
    assert fsdp_model.state_dict().keys() == ddp_weights.keys()
    for name, weight in fsdp_model.state_dict().items():
        torch.testing.assert_close(weight, ddp_weights[name], atol=1e-6, rtol=1e-5, msg=name)


def test_fsdp_run_resumes_from_its_checkpoint(fsdp_run, tmp_path):
    """An FSDP run killed after its step-2 checkpoint and resumed (`resume_from_checkpoint: last`) continues the same
    loss curve and ends with bit-identical weights."""
    fsdp_dir, (uninterrupted, _) = fsdp_run
    shutil.copytree(fsdp_dir / "checkpoint-2", tmp_path / "checkpoint-2")  # all the killed run left behind
    rank0, rank1 = run_two_ranks(tmp_path, *FSDP_ON_CPU, "--resume-from-checkpoint", "last")
    assert rank0["sharded"]
    assert rank0["losses"] == rank1["losses"] == uninterrupted["losses"]
    assert rank0["weights"] == rank1["weights"] == uninterrupted["weights"]


def test_lora_sft_under_fsdp_trains_like_ddp(sft_lora_runs):
    """LoRA SFT with the base model sharded: both ranks agree, the losses are those of DDP, and the saved adapter
    (gathered LoRA weights only) equals DDP's."""
    ddp_dir, (ddp_rank0, ddp_rank1) = sft_lora_runs["ddp"]
    fsdp_dir, (rank0, rank1) = sft_lora_runs["fsdp"]
    assert not ddp_rank0["sharded"] and rank0["sharded"] and rank1["sharded"]
    assert ddp_rank0["losses"] == ddp_rank1["losses"] and rank0["losses"] == rank1["losses"]
    assert ddp_rank0["weights"] == ddp_rank1["weights"] and rank0["weights"] == rank1["weights"]
    assert rank0["losses"]["4"] < rank0["losses"]["1"]
    for step, loss in ddp_rank0["losses"].items():
        assert rank0["losses"][step] == pytest.approx(loss, abs=1e-5), step

    ddp_adapter = load_file(ddp_dir / "adapter_model.safetensors")
    fsdp_adapter = load_file(fsdp_dir / "adapter_model.safetensors")
    assert fsdp_adapter.keys() == ddp_adapter.keys()
    assert ddp_adapter and all("lora_" in name for name in ddp_adapter)
    for name, weight in fsdp_adapter.items():
        torch.testing.assert_close(weight, ddp_adapter[name], atol=1e-6, rtol=1e-5, msg=name)


def test_fsdp_request_accelerate_cannot_honour_is_refused(tmp_path):
    """accelerate 1.15 sets FSDP up only on accelerators: on CPU (MULTI_CPU) it drops the FSDP plugin without a
    warning and Trainer would train with DDP. The recipe refuses instead, naming the request and the way out."""
    result = launch_two_ranks(tmp_path, "--parallelism", "fsdp")
    assert result.returncode != 0
    assert "accelerate set up DistributedType.MULTI_CPU without FSDP" in result.stderr
    assert "Remove `fsdp` to train with DDP" in result.stderr
    assert not (tmp_path / "rank0.json").exists()


def test_two_processes_agree_training_the_image_tokenizer(tmp_path):
    """The VQ recipe under DDP with the EMA codebook, dead-code restarts and the patch discriminator: the codebook is
    not a gradient-trained parameter, so its statistics are summed over the ranks and rank 0 picks the restart
    vectors. Both ranks log the same losses and codebook usage and end with bit-identical weights."""
    rank0, rank1 = run_two_ranks(tmp_path, worker=VQ_WORKER)
    assert list(rank0["losses"]) == ["1", "2", "3", "4", "5", "6"]
    assert rank0["losses"] == rank1["losses"]
    assert rank0["codebook_usage"] == rank1["codebook_usage"]
    assert rank0["restarted_codes"] == rank1["restarted_codes"] > 0
    assert rank0["weights"] == rank1["weights"]
    assert rank0["first_batch"] != rank1["first_batch"]
