"""How many of a picture's image tokens survive a small move, with and without moment normalisation
(`CM3LeonImageProcessor(content_radius=...)`), on the default model's image tokenizer and the emoji it was trained on.

For each of N seen emoji (seeded): its render and a view moved by up to 1.5 px and scaled by 0.9-1.1 (the views that
the model's captioning is measured on); the share of the view's tokens equal to the render's, and of a picture's
tokens that survive normalising it twice (what happens to a picture the model drew when it is read back).

    python benchmarks/token_stability_emoji.py --count 400 --seed 11
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "recipes"))

from cm3leon_emoji import emoji_data  # noqa: E402

from transformers_cm3leon import CM3LeonImageProcessor  # noqa: E402
from transformers_cm3leon.default_model import load_default  # noqa: E402


def agreement(image_processor, first, second) -> float:
    return float((image_processor.encode(first) == image_processor.encode(second)).float().mean())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--radii", type=float, nargs="+", default=[0.2, 0.25, 0.3])
    parser.add_argument("--json", default=None, help="Also write the results here.")
    args = parser.parse_args()
    torch.set_num_threads(2)
    _, processor = load_default()
    shipped = processor.image_processor
    seen, _ = emoji_data.split(emoji_data.select_emoji(2.0), seed=0)
    rng = np.random.default_rng(args.seed)
    chosen = [seen[i] for i in rng.choice(len(seen), min(args.count, len(seen)), replace=False)]
    renders = [emoji_data.render(e.char) for e in chosen]
    views = [emoji_data.random_view(e.char, rng) for e in chosen]
    results = {
        "count": len(chosen),
        "seed": args.seed,
        "shipped": {"view_vs_render": agreement(shipped, views, renders)},
    }
    for radius in args.radii:
        normalising = CM3LeonImageProcessor(
            vq_model=shipped.vq_model, background_color=shipped.background_color, content_radius=radius
        )
        once = normalising.postprocess(
            torch.from_numpy(normalising.preprocess(renders, return_tensors="np")["pixel_values"])
        )
        results[f"content_radius={radius}"] = {
            "view_vs_render": agreement(normalising, views, renders),
            "normalised_twice_vs_once": agreement(normalising, once, renders),
        }
    print(json.dumps(results, indent=2))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
