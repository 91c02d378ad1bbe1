"""Weight-only int8 (transformers' `TorchAoConfig`) against float32 on a trained model: weight bytes, seconds per image,
and how often the two draw the same image tokens.

    python benchmarks/benchmark_int8.py --threads 2 --json int8.json                      # the default model
    python benchmarks/benchmark_int8.py --model tests/fixtures/cm3leon-mini --prompts "a red circle in the top left"

Both models draw the same prompts with the same seeds; the paths are timed round-robin, `--repeats` rounds after a
warm-up; medians. Agreement is measured greedily (`do_sample=False`), where the same weights give the same tokens.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from transformers_cm3leon import CM3LeonForCausalLM, CM3LeonProcessor
from transformers_cm3leon.quantization import weight_only_quantization_config

DEFAULT_PROMPTS = ["red apple", "thumbs up: dark skin tone", "grinning face", "blue heart"]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="A model folder (default: the shipped default model).")
    parser.add_argument("--prompts", nargs="+", default=DEFAULT_PROMPTS)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", default=None)
    return parser.parse_args()


def weight_bytes(model) -> dict:
    """Bytes of the decoder's linear weights (int8 data + scales when quantized) and of every parameter."""
    linear = 0
    for module in model.model.layers.modules():
        if isinstance(module, torch.nn.Linear):
            weight = module.weight
            data = getattr(weight, "qdata", None)
            if data is None:
                linear += weight.numel() * weight.element_size()
            else:
                scale = getattr(weight, "scale", None)
                linear += data.numel() * data.element_size() + (
                    scale.numel() * scale.element_size() if scale is not None else 0
                )
    others = sum(
        p.numel() * p.element_size()
        for n, p in model.named_parameters()
        if not (n.startswith("model.layers.") and n.endswith("proj.weight"))
    )
    return {"linear_weights_mb": linear / 2**20, "all_weights_mb": (linear + others) / 2**20}


def main() -> int:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    folder = args.model
    if folder is None:
        from transformers_cm3leon.default_model import default_model_path

        folder = default_model_path()
    processor = CM3LeonProcessor.from_pretrained(folder)
    models = {
        "float32": CM3LeonForCausalLM.from_pretrained(folder).eval(),
        "int8": CM3LeonForCausalLM.from_pretrained(
            folder, quantization_config=weight_only_quantization_config()
        ).eval(),
    }
    results = {
        "model": folder,
        "threads": torch.get_num_threads(),
        "sizes": {k: weight_bytes(m) for k, m in models.items()},
    }
    defaults = models["float32"].generation_config.image_generation_defaults.get("text-to-image", {})

    def draw(model, prompts, seed, **settings):
        batch = processor.pad(
            [processor.text_to_image_prompt(p) for p in prompts], padding_side="left", return_tensors="pt"
        )
        generator = torch.Generator().manual_seed(seed)
        return model.generate_images(
            batch["input_ids"], batch["attention_mask"], generator=generator, progress_bar=False, **settings
        )

    with torch.no_grad():
        greedy = {k: draw(m, args.prompts, 0, do_sample=False).image_token_ids for k, m in models.items()}
        results["greedy_token_agreement"] = (greedy["float32"] == greedy["int8"]).float().mean().item()
        results["greedy_identical_images"] = (greedy["float32"] == greedy["int8"]).all(-1).float().mean().item()
        timings = {}
        for batch_size in args.batch_sizes:
            prompts = (args.prompts * batch_size)[:batch_size]
            times = {k: [] for k in models}
            for model in models.values():
                draw(model, prompts, 0, **defaults)  # warm-up
            for round_ in range(args.repeats):
                for name, model in models.items():
                    started = time.perf_counter()
                    draw(model, prompts, round_, **defaults)
                    times[name].append((time.perf_counter() - started) / batch_size)
            timings[f"batch {batch_size}"] = {k: statistics.median(v) for k, v in times.items()}
        results["seconds_per_image"] = timings
    print(json.dumps(results, indent=2))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
