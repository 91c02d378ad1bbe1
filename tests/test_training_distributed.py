# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The pretraining recipe under `torchrun` with 2 CPU processes (gloo): the ranks must agree."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

WORKER = os.path.join(os.path.dirname(__file__), "ddp_training_worker.py")

# What the worker says when accelerate did not set FSDP up (see test_two_processes_agree_under_fsdp).
NO_FSDP_ERROR = "accelerate set up DistributedType.MULTI_CPU without FSDP"


def launch_two_ranks(output_dir, parallelism: str) -> subprocess.CompletedProcess:
    """Runs the worker on 2 CPU processes (gloo)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "CUDA_VISIBLE_DEVICES": ""}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", WORKER]
    return subprocess.run(
        [*command, str(output_dir), parallelism], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def read_ranks(output_dir, result: subprocess.CompletedProcess) -> tuple[dict, dict]:
    """What each rank recorded."""
    assert result.returncode == 0, result.stderr[-4000:]
    rank0, rank1 = (json.loads((output_dir / f"rank{r}.json").read_text()) for r in (0, 1))
    assert rank0["world_size"] == rank1["world_size"] == 2
    return rank0, rank1


def test_two_processes_agree(tmp_path):
    """Both ranks log the same (all-reduced) loss curve and end with bit-identical weights, after training on
    different shards with different CM3 masks. Takes ~10 s on 2 CPU cores."""
    rank0, rank1 = read_ranks(tmp_path, launch_two_ranks(tmp_path, "ddp"))
    assert not rank0["sharded"]
    assert len(rank0["losses"]) == 4
    assert rank0["losses"] == rank1["losses"]
    assert rank0["weights"] == rank1["weights"]
    assert rank0["first_batch"] != rank1["first_batch"]  # different data (and masks) on each rank


def test_two_processes_agree_under_fsdp(tmp_path):
    """The recipe unchanged with `fsdp=True, fsdp_config={"version": 2, ...}`: parameters are sharded, both ranks
    log the same falling loss curve and gather the same full weights.

    Expected to fail (in ~10 s, before training) with accelerate 1.15: `AcceleratorState.__init__`
    (accelerate/state.py) attaches the FSDP plugin only for MULTI_GPU/XPU/NPU/HPU/MLU/MUSA/SDAA/NEURON; on CPU the
    state is MULTI_CPU, the plugin is dropped without a warning and Trainer would train with DDP, so the recipe
    refuses (`check_fsdp_enabled`). torch's `fully_shard` itself works on CPU with gloo. Any other failure is a real one."""
    result = launch_two_ranks(tmp_path, "fsdp")
    if result.returncode != 0 and NO_FSDP_ERROR in result.stderr:
        pytest.xfail("accelerate sets FSDP up only on accelerators, not on CPU (MULTI_CPU)")
    rank0, rank1 = read_ranks(tmp_path, result)
    assert rank0["sharded"] and rank1["sharded"]
    assert len(rank0["losses"]) == 4
    assert rank0["losses"] == rank1["losses"]
    assert rank0["losses"][-1] < rank0["losses"][0]
    assert rank0["weights"] == rank1["weights"]
    assert rank0["first_batch"] != rank1["first_batch"]
