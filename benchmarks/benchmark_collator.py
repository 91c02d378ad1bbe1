# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Throughput of the CM3 collator on 4096-token blocks, against transformers' causal-LM collator in the same run.

    python benchmarks/benchmark_collator.py [--batch-size 8] [--block-size 4096] [--seconds 3]

Prints tokens/s of `DataCollatorForCM3` (CM3 masking, lambda = 1) and of
`transformers.DataCollatorForLanguageModeling(mlm=False)` (padding + labels only, no masking), for rows given as
Python lists (what a `datasets.Dataset` yields by default) and as tensors (`dataset.with_format("torch")`), and the
ratio to the baseline. The collator must deliver >= 50x the model's training tokens/s (issue 5); compare with the
training benchmark's tokens/s.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from tokenizers import Tokenizer, models
from transformers import DataCollatorForLanguageModeling, PreTrainedTokenizerFast

from transformers_cm3leon import CM3LeonConfig
from transformers_cm3leon.data import DataCollatorForCM3


def make_blocks(num_blocks: int, block_size: int, config: CM3LeonConfig, seed: int = 0) -> list[list[int]]:
    """Blocks in the retrieval-augmented layout: (caption, 1024 image tokens) documents separated by breaks."""
    rng = np.random.default_rng(seed)
    blocks = []
    for _ in range(num_blocks):
        tokens: list[int] = [config.eos_token_id]
        while len(tokens) < block_size:
            tokens += rng.integers(9000, 56000, size=int(rng.integers(8, 40))).tolist()  # caption
            tokens.append(config.break_token_id)
            tokens += rng.integers(4, 4 + 8192, size=config.image_seq_length).tolist()  # image
            tokens.append(config.break_token_id)
        blocks.append(tokens[:block_size])
    return blocks


def tokens_per_second(collate, features, block_size: int, seconds: float) -> float:
    collate(features)  # warm-up
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        collate(features)
        calls += 1
    return calls * len(features) * block_size / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--block-size", type=int, default=4096)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    torch.set_num_threads(1)

    config = CM3LeonConfig()
    blocks = make_blocks(args.batch_size, args.block_size, config)
    as_lists = [{"input_ids": block} for block in blocks]
    as_tensors = [{"input_ids": torch.tensor(block)} for block in blocks]

    cm3 = DataCollatorForCM3(config, seed=0)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(models.WordLevel({"<pad>": 1, "<unk>": 3}, unk_token="<unk>"))
    )
    tokenizer.pad_token = "<pad>"
    baseline = DataCollatorForLanguageModeling(tokenizer, mlm=False)

    print(f"batch {args.batch_size} x {args.block_size} tokens, torch threads = 1")
    for name, features in (("python lists", as_lists), ("tensors", as_tensors)):
        ours = tokens_per_second(cm3, features, args.block_size, args.seconds)
        base = tokens_per_second(baseline, features, args.block_size, args.seconds)
        print(
            f"{name:>12}: DataCollatorForCM3 {ours / 1e6:7.2f} M tokens/s | "
            f"DataCollatorForLanguageModeling(mlm=False) {base / 1e6:7.2f} M tokens/s | ratio {ours / base:.2f}x"
        )


if __name__ == "__main__":
    main()
