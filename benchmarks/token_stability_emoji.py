"""How many of a picture's image tokens survive a small move, with and without moment normalisation
(`CM3LeonImageProcessor(content_radius=...)`), on an emoji image tokenizer (the default model's, or `--image-processor`
for a folder of the recipe, e.g. a run's `vq/`) and the emoji it was trained on.

For each of N seen emoji (seeded): its render and a view moved by up to 1.5 px and scaled by 0.9-1.1 (the views that
the model's captioning is measured on); the share of the view's tokens equal to the render's, and of a picture's
tokens that survive normalising it twice (what happens to a picture the model drew when it is read back). With
`--image-processor`, also how many reconstructions of the renders and of the views the pixel judge identifies (in the
processor's frame, `judge.in_model_frame`).

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
from cm3leon_emoji.judge import ImageJudge, in_model_frame  # noqa: E402

from transformers_cm3leon import CM3LeonImageProcessor  # noqa: E402
from transformers_cm3leon.default_model import load_default  # noqa: E402


def agreement(image_processor, first, second) -> float:
    return float((image_processor.encode(first) == image_processor.encode(second)).float().mean())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--radii", type=float, nargs="+", default=[0.2, 0.25, 0.3])
    parser.add_argument(
        "--image-processor", default=None, help="A recipe folder's image processor (e.g. a run's vq/)."
    )
    parser.add_argument("--json", default=None, help="Also write the results here.")
    args = parser.parse_args()
    torch.set_num_threads(2)
    if args.image_processor is None:
        shipped = load_default()[1].image_processor
    else:
        saved = CM3LeonImageProcessor.from_pretrained(args.image_processor)
        # The recipe's first stage is saved without the background rule, which the language model's processor adds.
        shipped = CM3LeonImageProcessor(
            vq_model=saved.vq_model, background_color=(255, 255, 255), content_radius=saved.content_radius
        )
    everything = emoji_data.select_emoji(2.0)
    seen, _ = emoji_data.split(everything, seed=0)
    rng = np.random.default_rng(args.seed)
    chosen = [seen[i] for i in rng.choice(len(seen), min(args.count, len(seen)), replace=False)]
    renders = [emoji_data.render(e.char) for e in chosen]
    views = [emoji_data.random_view(e.char, rng) for e in chosen]
    results = {
        "count": len(chosen),
        "seed": args.seed,
        "as_saved": {"view_vs_render": agreement(shipped, views, renders)},
    }
    if args.image_processor is not None:
        names = [e.name for e in chosen]
        references = in_model_frame(shipped, [emoji_data.render(e.char) for e in everything])
        judge = ImageJudge([e.name for e in everything], references)
        with torch.no_grad():
            for name, pictures in (("renders", renders), ("views", views)):
                rebuilt = shipped.postprocess(shipped.decode(shipped.encode(pictures)))
                results["as_saved"][f"judge_on_reconstructed_{name}"] = judge.accuracy(rebuilt, names)
    for radius in args.radii if shipped.content_radius is None else []:
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
