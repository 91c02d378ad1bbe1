"""Image infilling judged on the trained test model (CM3Leon-Mini, 16x16 digits, 4x4 image tokens): a band of rows
(a third to a half of the image: 2 of 4 token rows) or a random rectangle of a held-out real digit is masked and
redrawn with `model.generate_infilling`, with its caption as the prompt or without one; an independent classifier (an
RBF-SVM on real training digits, never the model) reads the repaired digit.

    python benchmarks/judge_infilling_mini.py --json infilling.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import torch
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "recipes"))

from cm3leon_mini import digits as digits_world  # noqa: E402
from cm3leon_mini.classifier import DigitClassifier  # noqa: E402

from transformers_cm3leon import CM3LeonForCausalLM, CM3LeonProcessor  # noqa: E402


def token_mask(rng: np.random.Generator, grid: int, region: str) -> np.ndarray:
    mask = np.zeros((grid, grid), dtype=bool)
    if region == "band":
        height = int(rng.integers(-(-grid // 3), grid // 2 + 1))
        top = int(rng.integers(0, grid - height + 1))
        mask[top : top + height] = True
    else:
        height, width = (int(rng.integers(1, grid // 2 + 1)) for _ in range(2))
        top, left = int(rng.integers(0, grid - height + 1)), int(rng.integers(0, grid - width + 1))
        mask[top : top + height, left : left + width] = True
    return mask


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=os.path.join(ROOT, "tests", "fixtures", "cm3leon-mini"))
    parser.add_argument("--count", type=int, default=200, help="Held-out digits per setting.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = CM3LeonForCausalLM.from_pretrained(args.model).eval()
    processor = CM3LeonProcessor.from_pretrained(args.model)
    size, grid = processor.image_processor.size, processor.image_processor.grid_size
    train, held_out = digits_world.load_digit_splits(size, seed=0)
    classifier = DigitClassifier(train, resolution=size)
    settings = dict(model.generation_config.image_generation_defaults.get("text-to-image", {}))
    results = {"untouched": classifier.accuracy(held_out.images[: args.count], held_out.labels[: args.count])}
    for name, region, with_prompt in [
        ("band, caption as prompt", "band", True),
        ("band, no prompt", "band", False),
        ("rectangle, caption as prompt", "rectangle", True),
    ]:
        rng = np.random.default_rng(args.seed)
        repaired = []
        for index in range(args.count):
            picture = Image.fromarray(held_out.images[index])
            mask = token_mask(rng, grid, region)
            prompt = digits_world.digit_caption(int(held_out.labels[index]), 0) if with_prompt else None
            conditional, runs = processor.inpainting_prompt(picture, mask, prompt)
            negative = torch.tensor([processor.inpainting_prompt(picture, mask)[0]]) if with_prompt else None
            output = model.generate_infilling(
                torch.tensor([conditional]),
                run_lengths=[stop - start for start, stop in runs],
                negative_input_ids=negative,
                generator=torch.Generator().manual_seed(args.seed * 100_000 + index),
                progress_bar=False,
                **settings,
            )
            filled = processor.fill_masked_runs(picture, runs, output.image_token_ids[0])
            repaired += processor.token_ids_to_images([filled])
        results[name] = classifier.accuracy(repaired, held_out.labels[: args.count])
        print(f"{name}: {results[name]:.1%} of {args.count} held-out digits", flush=True)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
