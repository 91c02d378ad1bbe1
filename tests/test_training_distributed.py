# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The pretraining recipe under `torchrun` with 2 CPU processes (DDP, gloo): the ranks must agree."""

from __future__ import annotations

import json
import os
import subprocess
import sys

WORKER = os.path.join(os.path.dirname(__file__), "ddp_training_worker.py")


def test_two_processes_agree(tmp_path):
    """Both ranks log the same (all-reduced) loss curve and end with bit-identical weights, after training on
    different shards with different CM3 masks. Takes ~20 s on 2 CPU cores."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "CUDA_VISIBLE_DEVICES": ""}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", WORKER]
    result = subprocess.run(
        [*command, str(tmp_path)], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-4000:]
    rank0, rank1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert rank0["world_size"] == rank1["world_size"] == 2
    assert len(rank0["losses"]) == 4
    assert rank0["losses"] == rank1["losses"]
    assert rank0["weights"] == rank1["weights"]
    assert rank0["first_batch"] != rank1["first_batch"]  # different data (and masks) on each rank
