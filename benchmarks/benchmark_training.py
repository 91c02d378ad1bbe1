# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Training throughput of CM3LeonForCausalLM against transformers' LlamaForCausalLM of the same size, in one run,
and of the recipes' CM3 collator against the model.

    python benchmarks/benchmark_training.py                        # CPU, ~27M parameters (hidden 512, 6 layers)
    python benchmarks/benchmark_training.py --device cuda --size 1b --dtype bfloat16 --batch-size 8 --seq-len 4096

One training step = forward, next-token loss, backward and an AdamW step on a batch of `batch_size x seq_len` random
tokens (the loss does not depend on the token values). Each model is timed in alternating rounds (ours, Llama,
ours, ...) and the median round is reported, so background load hits both alike. Models:

- `cm3leon`: the paper's block (pre-LN without parameters, ReLU MLP of width 4d, learned positions, tied head)
  against Llama with a SwiGLU MLP of width 8d/3 (the same parameter count), head tied as well;
- `chameleon`: our Chameleon block (RMSNorm, SwiGLU 8d/3, RoPE, QK-norm off) against the same Llama.

Both use SDPA attention. The collator part times `DataCollatorForCM3` and the recipes' `ResumableCM3Collator` on
4096-token blocks (the data helper's `benchmarks/benchmark_collator.py` functions), and prints their tokens/s as a
multiple of the model's. On CUDA it also prints MFU = (6 N + 12 L d T) tokens/s / peak FLOP/s (`--peak-tflops`,
989 for H100 bf16 dense).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from transformers_cm3leon import CM3LeonConfig, CM3LeonForCausalLM
from transformers_cm3leon.data import DataCollatorForCM3
from transformers_cm3leon.training.recipe_utils import ResumableCM3Collator

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchmark_collator import make_blocks, tokens_per_second  # noqa: E402  (the data helper's benchmark)

SIZES = {
    # ~27M parameters: 8.4M in the (tied) embedding, 18.9M in the blocks.
    "25m": dict(vocab_size=16384, hidden_size=512, num_hidden_layers=6, num_attention_heads=8),
    # ~1.3B parameters (a 1B-class config for MFU on a GPU).
    "1b": dict(vocab_size=65536, hidden_size=2048, num_hidden_layers=24, num_attention_heads=16),
}


def build_models(size: str, block_type: str, max_positions: int):
    shape = SIZES[size]
    hidden = shape["hidden_size"]
    swiglu_width = int(8 * hidden / 3 / 64 + 0.5) * 64  # Llama's MLP width for 4d-equivalent parameters
    if block_type == "cm3leon":
        ours = CM3LeonConfig(
            **shape, intermediate_size=4 * hidden, max_position_embeddings=max_positions, image_vocab_size=8192,
            tie_word_embeddings=True, initializer_range=0.02,
        )  # fmt: skip
    else:
        ours = CM3LeonConfig(
            **shape, block_type="chameleon", hidden_act="silu", intermediate_size=swiglu_width,
            max_position_embeddings=max_positions, tie_word_embeddings=True, initializer_range=0.02,
        )  # fmt: skip
    llama = LlamaConfig(
        **shape, intermediate_size=swiglu_width, max_position_embeddings=max_positions, tie_word_embeddings=True,
        attention_bias=False, mlp_bias=False,
    )  # fmt: skip
    torch.manual_seed(0)
    return CM3LeonForCausalLM(ours), LlamaForCausalLM(llama)


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())  # shared (tied) tensors are counted once


def time_rounds(models: dict, batch: torch.Tensor, steps_per_round: int, rounds: int, device: str) -> dict:
    """Median seconds per training step of each model, timed in alternating rounds."""
    optimizers = {name: torch.optim.AdamW(model.parameters(), lr=1e-4) for name, model in models.items()}

    def step(name):
        model = models[name]
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        optimizers[name].step()
        optimizers[name].zero_grad(set_to_none=True)

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    for name in models:  # warm-up: allocator, kernels, optimizer state
        step(name)
        step(name)
    sync()
    times = {name: [] for name in models}
    for _ in range(rounds):
        for name in models:
            sync()
            start = time.perf_counter()
            for _ in range(steps_per_round):
                step(name)
            sync()
            times[name].append((time.perf_counter() - start) / steps_per_round)
    return {name: statistics.median(values) for name, values in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="25m")
    parser.add_argument("--blocks", nargs="+", choices=["cm3leon", "chameleon"], default=["cm3leon", "chameleon"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--steps-per-round", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="for MFU on CUDA (H100 bf16 dense: 989)")
    parser.add_argument("--collator-seconds", type=float, default=2.0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)  # both sides alike: denormals distort CPU timings
    dtype = getattr(torch, args.dtype)
    tokens_per_step = args.batch_size * args.seq_len
    print(
        f"device {args.device}, {args.dtype}, batch {args.batch_size} x {args.seq_len} = {tokens_per_step} tokens/step, "
        f"torch {torch.__version__}, threads {torch.get_num_threads()}"
    )

    model_tokens_per_second = None
    for block_type in args.blocks:
        ours, llama = build_models(args.size, block_type, max_positions=max(args.seq_len, 128))
        models = {"ours": ours.to(args.device, dtype).train(), "llama": llama.to(args.device, dtype).train()}
        generator = torch.Generator().manual_seed(0)
        batch = torch.randint(
            9000, SIZES[args.size]["vocab_size"], (args.batch_size, args.seq_len), generator=generator
        )
        seconds = time_rounds(models, batch.to(args.device), args.steps_per_round, args.rounds, args.device)
        rate = {name: tokens_per_step / value for name, value in seconds.items()}
        params = {name: count_parameters(model) / 1e6 for name, model in models.items()}
        print(
            f"{block_type:>9} block: CM3LeonForCausalLM {rate['ours']:9.0f} tokens/s ({params['ours']:.1f}M params) | "
            f"LlamaForCausalLM {rate['llama']:9.0f} tokens/s ({params['llama']:.1f}M params) | "
            f"ratio {rate['ours'] / rate['llama']:.2f}x"
        )
        if args.device == "cuda":
            shape = SIZES[args.size]
            flops_per_token = (
                6 * count_parameters(ours) + 12 * shape["num_hidden_layers"] * shape["hidden_size"] * args.seq_len
            )
            print(f"           MFU {flops_per_token * rate['ours'] / (args.peak_tflops * 1e12):.1%} "
                  f"(peak {args.peak_tflops:.0f} TFLOP/s)")  # fmt: skip
        model_tokens_per_second = max(model_tokens_per_second or 0.0, rate["ours"])
        del models, ours, llama

    # The collator must never be the bottleneck: at least 50x the model's tokens/s.
    config = CM3LeonConfig()
    blocks = make_blocks(8, 4096, config)
    features = [{"input_ids": block} for block in blocks]
    torch.set_num_threads(1)
    for name, collator in (
        ("DataCollatorForCM3", DataCollatorForCM3(config, seed=0)),
        ("ResumableCM3Collator (recipes)", ResumableCM3Collator(config, seed=0)),
    ):
        rate = tokens_per_second(collator, features, 4096, args.collator_seconds)
        print(
            f"collator {name}: {rate / 1e6:.2f} M tokens/s on 8 x 4096-token blocks (1 thread) = "
            f"{rate / model_tokens_per_second:.0f}x the fastest model above"
        )


if __name__ == "__main__":
    main()
