"""Seconds per image of CM3Leon's image-token sampling loop against transformers' stock `generate()`.

The baseline, measured in the same run, is how text-to-image runs through transformers today (Emu3's recipe): a
`LlamaForCausalLM` of the same width, depth and vocabulary, driven by `generate()` with `guidance_scale` +
`negative_prompt_ids` (UnbatchedClassifierFreeGuidanceLogitsProcessor: a second forward per token) and a
`prefix_allowed_tokens_fn` that allows the image tokens only. Both sides sample the same way (CFG, temperature 1,
top-p), one image at a time, with `torch.set_flush_denormal(True)` (random weights otherwise hit slow denormal paths).

Also printed: image tokens/s and the ratio to the memory-bandwidth bound: the bytes of the weights a decoding step
reads divided by the bandwidth of a large tensor copy measured in the same run.

    # CPU, the ~28M-parameter config of benchmarks/RESULTS.md
    python benchmarks/benchmark_generation.py
    # GPU, a 7B-shaped model with random bf16 weights, 1024 image tokens, and images/s at batch 16
    python benchmarks/benchmark_generation.py --device cuda --preset cm3leon-7b --dtype bfloat16 \
        --image-seq-length 1024 --batch-sizes 1 16
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from contextlib import contextmanager

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from transformers_cm3leon import CM3LeonConfig, CM3LeonForCausalLM
from transformers_cm3leon.generation import decoding
from transformers_cm3leon.sequence_format import unconditional_input_ids

# The CPU config: 16384 tokens of which 8192 image tokens, width 512, 6 layers, 8 heads, MLP 4x, tied head.
SMALL_CONFIG = dict(
    vocab_size=16384,
    hidden_size=512,
    intermediate_size=2048,
    num_hidden_layers=6,
    num_attention_heads=8,
    max_position_embeddings=1024,
    image_token_offset=4,
    image_vocab_size=8192,
    eoss_token_id=8196,
    break_token_id=8197,
    sentinel_token_offset=8198,
    num_sentinel_tokens=16,
    tie_word_embeddings=True,
)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--preset", default=None, help="A CM3LeonConfig preset (e.g. cm3leon-7b); default: small.")
    parser.add_argument(
        "--block", default="cm3leon", choices=["cm3leon", "chameleon"], help="Block of the small config."
    )
    parser.add_argument("--image-seq-length", type=int, default=256)
    parser.add_argument("--prompt-length", type=int, default=16, help="Conditional prompt tokens, <break> included.")
    parser.add_argument("--guidance-scale", type=float, default=3.0)
    parser.add_argument("--top-p", type=float, default=0.9)
    parser.add_argument("--repeats", type=int, default=3, help="Timed runs per measurement (median reported).")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1], help="Images per call for our loop.")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (CPU).")
    parser.add_argument(
        "--compile", default="both", choices=["no", "yes", "both"], help="Time our loop without / with torch.compile."
    )
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--ablations", action="store_true", help="Also time a dynamic cache and the full-vocab head.")
    parser.add_argument("--json", default=None, help="Write the figures to this file.")
    parser.add_argument(
        "--speculative",
        action="store_true",
        help="Also time parallel_decoding='jacobi' at every batch size (on random weights acceptance is near zero: "
        "this measures the cost of a verification forward, not the speed-up of a trained model).",
    )
    parser.add_argument(
        "--profile-steps",
        action="store_true",
        help="Also profile one call of ours (eager): aten ops and milliseconds per decoding step.",
    )
    return parser.parse_args()


def synchronize(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device, repeats):
    """Median and all wall times of `repeats` calls of `fn`, after one warm-up call."""
    return interleaved({"fn": fn}, device, repeats)["fn"]


def interleaved(fns: dict, device, repeats):
    """Time several functions round-robin (A B C A B C ...), so that load from other processes on a shared machine
    falls on all of them alike. Returns {name: (median, times, first_call_time)}; the first call warms up (and
    compiles)."""
    first = {}
    for name, fn in fns.items():
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        first[name] = time.perf_counter() - start
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            synchronize(device)
            start = time.perf_counter()
            fn()
            synchronize(device)
            times[name].append(time.perf_counter() - start)
    return {name: (statistics.median(t), t, first[name]) for name, t in times.items()}


def copy_bandwidth(device, dtype, num_bytes=512 * 2**20, repeats=10):
    """Bytes moved per second (read + write) by the fastest of `repeats` copies of a 512 MiB tensor: the machine's
    bandwidth, as little disturbed by other processes as this run can see it."""
    source = torch.ones(num_bytes // torch.finfo(dtype).bits * 8, dtype=dtype, device=device)
    target = torch.empty_like(source)
    _, times, _ = timed(lambda: target.copy_(source), device, repeats)
    return 2 * num_bytes / min(times)


def build_models(args, dtype):
    if args.preset is not None:
        config = CM3LeonConfig.from_preset(args.preset, image_seq_length=args.image_seq_length)
    else:
        block = {} if args.block == "cm3leon" else dict(block_type="chameleon", hidden_act="silu")
        config = CM3LeonConfig(**SMALL_CONFIG, **block, image_seq_length=args.image_seq_length)
    # The baseline: a LLaMA of the same width, depth and vocabulary. Against the CM3Leon block (2-matrix MLP), its
    # SwiGLU width is 2/3 of ours so both have the same parameters per layer; against the Chameleon block, equal.
    llama_intermediate = config.intermediate_size
    if config.block_type == "cm3leon":
        llama_intermediate = 2 * config.intermediate_size // 3
    llama_config = LlamaConfig(
        vocab_size=config.vocab_size,
        hidden_size=config.hidden_size,
        intermediate_size=llama_intermediate,
        num_hidden_layers=config.num_hidden_layers,
        num_attention_heads=config.num_attention_heads,
        num_key_value_heads=config.num_key_value_heads,
        max_position_embeddings=config.max_position_embeddings,
        tie_word_embeddings=config.tie_word_embeddings,
        pad_token_id=config.pad_token_id,
        bos_token_id=config.bos_token_id,
        eos_token_id=config.eos_token_id,
    )
    with torch.device(args.device):
        torch.manual_seed(0)
        model = CM3LeonForCausalLM._from_config(config, dtype=dtype).eval()
        baseline = None
        if not args.skip_baseline:
            baseline = LlamaForCausalLM._from_config(llama_config, dtype=dtype).eval()
    return model, baseline


def step_weight_bytes(model, full_head: bool) -> int:
    """Bytes of the weights one decoding step reads: every layer, and the head rows it multiplies (the embedding
    table is only gathered from, one row per stream; it is counted only when it is also the head)."""
    config = model.config
    head = model.get_output_embeddings().weight
    embeddings = model.get_input_embeddings().weight
    element = head.element_size()
    skip = {embeddings.data_ptr(), head.data_ptr()}
    if hasattr(model.model, "embed_positions"):
        skip.add(model.model.embed_positions.weight.data_ptr())
    total = sum(p.numel() * p.element_size() for p in model.parameters() if p.data_ptr() not in skip)
    head_rows = config.vocab_size if full_head else config.image_vocab_size
    return total + head_rows * head.shape[1] * element


@contextmanager
def full_vocabulary_head():
    """Ablation: compute the logits of the whole vocabulary, then keep the image tokens."""
    restricted = decoding.image_logits

    def full_then_slice(model, hidden_states):
        config = model.config
        return model.lm_head(hidden_states)[
            ..., config.image_token_offset : config.image_token_offset + config.image_vocab_size
        ]

    decoding.image_logits = full_then_slice
    try:
        yield
    finally:
        decoding.image_logits = restricted


def profile_steps(run, num_tokens: int, bound_s_per_image: float) -> dict:
    """One call under torch.profiler: aten ops per decoding step (every aten event, nested ones included, as the
    count the generation issue quotes) and the eager step time, from an unprofiled call timed the same way."""
    from torch.profiler import ProfilerActivity, profile

    run()  # warm-up
    started = time.perf_counter()
    run()
    step_s = (time.perf_counter() - started) / num_tokens
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        run()
    events = profiler.events()
    aten = sum(1 for event in events if event.name.startswith("aten::"))
    return {
        "aten_ops_per_step": round(aten / num_tokens),
        "step_ms": round(1000 * step_s, 2),
        "bound_step_ms": round(1000 * bound_s_per_image / num_tokens, 2),
        "x_bandwidth_bound": round(step_s * num_tokens / bound_s_per_image, 2),
    }


def main():
    args = parse_args()
    torch.set_flush_denormal(True)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    model, baseline = build_models(args, dtype)
    config = model.config
    num_tokens = config.image_seq_length
    params = sum(p.numel() for p in model.parameters())

    generator = torch.Generator().manual_seed(0)
    text = torch.randint(
        config.sentinel_token_ids.stop, config.vocab_size, (1, args.prompt_length - 2), generator=generator
    )
    prompt = torch.cat(
        [torch.tensor([[config.eos_token_id]]), text, torch.tensor([[config.break_token_id]])], dim=1
    ).to(args.device)
    negative = torch.tensor([unconditional_input_ids(config)], device=args.device)

    results = {
        "device": args.device if args.device == "cpu" else torch.cuda.get_device_name(),
        "dtype": args.dtype,
        "threads": torch.get_num_threads(),
        "config": {
            k: getattr(config, k)
            for k in (
                "block_type",
                "vocab_size",
                "image_vocab_size",
                "hidden_size",
                "intermediate_size",
                "num_hidden_layers",
                "num_attention_heads",
                "image_seq_length",
            )
        },  # fmt: skip
        "parameters": params,
        "guidance_scale": args.guidance_scale,
        "top_p": args.top_p,
    }
    bandwidth = copy_bandwidth(args.device, dtype)
    results["copy_bandwidth_GBps"] = bandwidth / 1e9
    bound = step_weight_bytes(model, full_head=False) * num_tokens / bandwidth
    results["bandwidth_bound_s_per_image"] = bound
    print(json.dumps(results, indent=1))

    def report(name, median, times, first, images=1):
        per_image = median / images
        row = {
            "s_per_image": per_image,
            "image_tokens_per_s": num_tokens * images / median,
            "times_s": [round(t, 4) for t in times],
            "first_call_s": round(first, 3),
            "x_bandwidth_bound": per_image / bound,
        }
        if "baseline" in results and name != "baseline":
            row["speedup_vs_baseline"] = results["baseline"]["s_per_image"] / per_image
        results[name] = row
        print(f"{name:>28}: {per_image:8.3f} s/image  {row['image_tokens_per_s']:8.1f} image tokens/s  "
              f"{row['x_bandwidth_bound']:6.2f}x bound" + (f"  {row['speedup_vs_baseline']:5.2f}x faster than baseline"
              if "speedup_vs_baseline" in row else "") + f"  (first call {first:.2f} s)", flush=True)  # fmt: skip

    image_ids = list(config.image_token_ids)

    def run_baseline():
        torch.manual_seed(0)
        out = baseline.generate(
            prompt,
            attention_mask=torch.ones_like(prompt),
            guidance_scale=args.guidance_scale,
            negative_prompt_ids=negative,
            prefix_allowed_tokens_fn=lambda batch_id, input_ids: image_ids,
            do_sample=True,
            top_p=args.top_p,
            top_k=None,
            temperature=1.0,
            max_new_tokens=num_tokens,
            min_new_tokens=num_tokens,
            pad_token_id=config.pad_token_id,
        )
        assert out.shape[1] == prompt.shape[1] + num_tokens

    def ours(batch_size=1, **kwargs):
        def run():
            out = model.generate_images(
                prompt.expand(batch_size, -1),
                guidance_scale=args.guidance_scale,
                top_p=args.top_p,
                generator=torch.Generator(device=args.device).manual_seed(0),
                progress_bar=False,
                **kwargs,
            )
            assert out.is_complete and out.image_token_ids.shape == (batch_size, num_tokens)

        return run

    # Batch 1: the baseline and our variants, timed round-robin.
    variants = {} if baseline is None else {"baseline": run_baseline}
    variants["ours"] = ours()
    if args.ablations:
        variants["ablation: dynamic cache"] = ours(cache_implementation="dynamic")
    with torch.no_grad():
        for name, (median, times, first) in interleaved(variants, args.device, args.repeats).items():
            report(name, median, times, first)
        if args.ablations:
            with full_vocabulary_head():
                report("ablation: full-vocab head", *timed(ours(), args.device, args.repeats))
        if args.compile in ("yes", "both"):
            try:
                report("ours+compile", *timed(ours(compile=True), args.device, args.repeats))
            except Exception as error:  # noqa: BLE001 -- a compile failure is reported, not fatal
                results["ours+compile"] = {"error": f"{type(error).__name__}: {error}"}
                print(f"{'ours+compile':>28}: torch.compile FAILED: {type(error).__name__}: {str(error)[:1000]}")
        for batch_size in args.batch_sizes:
            if batch_size > 1:
                compile = args.compile == "yes"
                name = f"ours{'+compile' if compile else ''} batch {batch_size}"
                report(name, *timed(ours(batch_size, compile=compile), args.device, args.repeats), images=batch_size)
            if args.speculative:
                for compile in (False, True) if args.compile in ("yes", "both") else (False,):
                    name = f"ours+jacobi{'+compile' if compile else ''} batch {batch_size}"
                    run = ours(batch_size, parallel_decoding="jacobi", compile=compile)
                    report(name, *timed(run, args.device, args.repeats), images=batch_size)

        if args.profile_steps:
            results["eager_step"] = profile_steps(ours(), num_tokens, bound)
            print(json.dumps(results["eager_step"], indent=1))

    if args.json:
        with open(args.json, "w") as file:
            json.dump(results, file, indent=1)


if __name__ == "__main__":
    main()
