"""Speculative Jacobi decoding against the sequential loop on a trained model: forwards and seconds per image.

Both paths draw the same images in distribution (the speculative-sampling rule); acceptance, and so the speed-up,
only means something on trained weights. Run on the shipped default model and on the trained test model:

    python benchmarks/benchmark_speculative.py --threads 2 --json speculative.json
    python benchmarks/benchmark_speculative.py --retrieval-drafts emoji   # + drafts from the top retrieved picture
    python benchmarks/benchmark_speculative.py --model tests/fixtures/cm3leon-mini --prompts "a red circle" "a blue square"

Each (path, batch size) is timed round-robin with the other path, `--repeats` rounds after a warm-up, on the same
prompts and seeds; medians are reported.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from transformers_cm3leon import CM3LeonForCausalLM, CM3LeonProcessor

DEFAULT_PROMPTS = ["red apple", "thumbs up: dark skin tone", "grinning face", "blue heart", "rocket", "cat face"]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="A model folder (default: the shipped default model).")
    parser.add_argument("--prompts", nargs="+", default=DEFAULT_PROMPTS)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4])
    parser.add_argument(
        "--draft-length", type=int, default=None, help="Draft tokens per forward (default: the config's)."
    )
    parser.add_argument(
        "--retrieval-drafts",
        choices=["emoji", "mini"],
        default=None,
        help="Also time speculative decoding drafting from the top retrieved picture, from the bank of the emoji "
        "recipe (the default model) or of the mini recipe (the trained test model); retrieval time included.",
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", default=None)
    return parser.parse_args()


def main():
    args = parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    model_dir = args.model
    if model_dir is None:
        from transformers_cm3leon.default_model import default_model_path

        model_dir = default_model_path()
    model = CM3LeonForCausalLM.from_pretrained(model_dir).eval()
    processor = CM3LeonProcessor.from_pretrained(model_dir)
    defaults = dict(
        (getattr(model.generation_config, "image_generation_defaults", None) or {}).get("text-to-image", {})
    )
    speculative = {"parallel_decoding": "jacobi"}
    if args.draft_length is not None:
        speculative["draft_length"] = args.draft_length
    prompts = [processor.text_to_image_prompt(text) for text in args.prompts]
    bank = None
    if args.retrieval_drafts:
        bank = _recipe_bank(args.retrieval_drafts, model, processor)
    results = {
        "model": model_dir,
        "threads": torch.get_num_threads(),
        "image_seq_length": model.config.image_seq_length,
        "decoding": defaults,
        "prompts": args.prompts,
    }

    def run(batch_size: int, start: int, extra: dict) -> tuple[float, int, int]:
        """One call on `batch_size` prompts from `start`: (seconds, forwards, images)."""
        rows = [prompts[(start + i) % len(prompts)] for i in range(batch_size)]
        batch = processor.pad(rows, padding_side="left", return_tensors="pt")
        generator = torch.Generator().manual_seed(start)
        started = time.perf_counter()
        if extra.get("draft_image_token_ids") == "retrieved":
            texts = [args.prompts[(start + i) % len(prompts)] for i in range(batch_size)]
            documents = bank.retrieve(texts, k=1, seed=0)
            extra = {
                **extra,
                "draft_image_token_ids": torch.tensor([docs[0]["image_token_ids"] for docs in documents]),
            }
        output = model.generate_images(
            batch["input_ids"], batch["attention_mask"], generator=generator, progress_bar=False, **defaults, **extra
        )
        return time.perf_counter() - started, output.num_forward_passes, batch_size

    with torch.no_grad():
        for batch_size in args.batch_sizes:
            paths = {"sequential": {}, "jacobi": speculative}
            if bank is not None:
                paths["jacobi + retrieved drafts"] = {**speculative, "draft_image_token_ids": "retrieved"}
            for extra in paths.values():
                run(batch_size, 0, extra)  # warm-up
            measured = {name: [] for name in paths}
            for round_index in range(args.repeats):
                for start in range(0, len(prompts), batch_size):
                    for name, extra in paths.items():
                        measured[name].append(run(batch_size, start + round_index, extra))
            rows = {}
            for name, calls in measured.items():
                per_image = [seconds / images for seconds, _, images in calls]
                rows[name] = {
                    "s_per_image": statistics.median(per_image),
                    "forwards_per_image_call": statistics.mean(forwards for _, forwards, _ in calls),
                    "calls": len(calls),
                }
            for name in list(paths)[1:]:
                rows[name]["forward_ratio"] = (
                    rows["sequential"]["forwards_per_image_call"] / rows[name]["forwards_per_image_call"]
                )
                rows[name]["speedup"] = rows["sequential"]["s_per_image"] / rows[name]["s_per_image"]
            results[f"batch {batch_size}"] = rows
            print(f"batch {batch_size}: {json.dumps(rows)}", flush=True)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=1)


def _recipe_bank(recipe: str, model, processor):
    """A recipe's retrieval bank over its model's training documents (text, picture, token ids)."""
    import os
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "recipes"))
    if recipe == "mini":
        from cm3leon_mini.evaluate import MiniEvaluator

        return MiniEvaluator(model, processor, seed=0).retrieval_bank()
    from cm3leon_emoji import emoji_data, tasks
    from cm3leon_emoji.evaluate import emoji_data_min_distance

    seen, _ = emoji_data.split(emoji_data.select_emoji(emoji_data_min_distance(model)), seed=0)
    return tasks.build_bank(seen, processor)


if __name__ == "__main__":
    main()
