# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Images for a prompt file over several processes: `cm3leon generate --prompt-file` and `cm3leon eval
text-to-image` under `torchrun` with 2 CPU processes write the same bytes as one process, and resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from transformers_cm3leon.evaluation.batch_generation import batches_of_process

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MINI = os.path.join(ROOT, "tests", "fixtures", "cm3leon-mini")
PROMPTS = ["a red circle", "a blue square", "a green star", "a yellow heart", "a red heart"]


def run_cli(arguments: list[str], processes: int = 1) -> subprocess.CompletedProcess:
    launcher = [sys.executable]
    if processes > 1:
        launcher += ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    result = subprocess.run(
        [*launcher, "-m", "cm3leon_cli", *arguments], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def image_bytes(folder) -> dict[str, bytes]:
    images = os.path.join(folder, "images")
    return {name: open(os.path.join(images, name), "rb").read() for name in sorted(os.listdir(images))}


@pytest.mark.parametrize("num_prompts, batch_size", [(5, 2), (7, 3), (1, 4), (8, 1)])
def test_each_batch_belongs_to_one_process_and_the_batches_do_not_depend_on_the_process_count(num_prompts, batch_size):
    one = batches_of_process(num_prompts, batch_size, 0, 1)
    for processes in (2, 3):
        shares = [batches_of_process(num_prompts, batch_size, rank, processes) for rank in range(processes)]
        assert sorted(batch for share in shares for batch in share) == one
    assert [index for batch in one for index in batch] == list(range(num_prompts))


def test_a_prompt_file_over_two_processes_writes_the_images_of_one_process_and_resumes(tmp_path):
    prompt_file = tmp_path / "prompts.txt"
    common = ["generate", "--prompt-file", str(prompt_file), "--model", MINI, "--batch-size", "2", "--seed", "3"]
    prompt_file.write_text("\n".join(PROMPTS) + "\n")
    run_cli([*common, "--output-dir", str(tmp_path / "one")])
    assert len(image_bytes(tmp_path / "one")) == len(PROMPTS)

    # A two-process run stopped after the first four prompts, then resumed over the whole file.
    prompt_file.write_text("\n".join(PROMPTS[:4]) + "\n")
    run_cli([*common, "--output-dir", str(tmp_path / "two")], processes=2)
    prompt_file.write_text("\n".join(PROMPTS) + "\n")
    resumed = run_cli([*common, "--output-dir", str(tmp_path / "two")], processes=2)
    assert "process 0: " in resumed.stdout and "process 1: " not in resumed.stdout  # only image 4 was left
    assert image_bytes(tmp_path / "two") == image_bytes(tmp_path / "one")
    # Each process logged its own batches: batches 0 and 2 (images 0, 1, 4) by process 0, batch 1 by process 1.
    logged = {
        name: [json.loads(line)["index"] for line in open(tmp_path / "two" / name)]
        for name in ("index.jsonl", "index.p1.jsonl")
    }
    assert logged == {"index.jsonl": [0, 1, 4], "index.p1.jsonl": [2, 3]}


def test_a_resumed_prompt_file_must_keep_its_prompts_and_settings(tmp_path, capsys):
    from cm3leon_cli import main

    prompt_file = tmp_path / "prompts.txt"
    prompt_file.write_text("a red circle\na blue square\n")
    arguments = ["generate", "--prompt-file", str(prompt_file), "--model", MINI, "--output-dir", str(tmp_path / "run")]
    assert main(arguments) == 0
    prompt_file.write_text("a red circle\na green square\n")
    assert main(arguments) == 2
    assert "prompt 1 of --prompt-file" in capsys.readouterr().err
    prompt_file.write_text("a red circle\na blue square\n")
    assert main([*arguments, "--seed", "1"]) == 2
    assert "seed: 0 there, 1 now" in capsys.readouterr().err


@pytest.mark.slow
def test_the_text_to_image_evaluation_over_two_processes_draws_the_images_of_one(tmp_path):
    prompts = tmp_path / "prompts.csv"
    prompts.write_text("Prompt\n" + "\n".join(PROMPTS) + "\n")
    common = ["eval", "text-to-image", "--model", MINI, "--prompts", str(prompts), "--batch-size", "2"]
    run_cli([*common, "--output-dir", str(tmp_path / "one")])
    run_cli([*common, "--output-dir", str(tmp_path / "two")], processes=2)
    assert image_bytes(tmp_path / "two") == image_bytes(tmp_path / "one")
    results = json.loads((tmp_path / "two" / "results.json").read_text())
    assert results["counts"]["images"] == len(PROMPTS) and results["counts"]["generated_this_run"] == len(PROMPTS)
