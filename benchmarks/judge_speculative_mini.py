"""Judge accuracy of speculative Jacobi decoding against the sequential loop on the trained test model (CM3Leon-Mini):
the share of generated digits that an independent classifier (an RBF-SVM on real digits, never the model) reads as
the requested digit, for both paths, two seeds, the model's recommended decoding (CFG 1, T 0.5).

    python benchmarks/judge_speculative_mini.py --json judge.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "recipes"))

from cm3leon_mini import digits as digits_world  # noqa: E402
from cm3leon_mini.classifier import DigitClassifier  # noqa: E402
from cm3leon_mini.evaluate import MiniEvaluator  # noqa: E402

from transformers_cm3leon import CM3LeonForCausalLM, CM3LeonProcessor  # noqa: E402

PATHS = {
    "sequential": {},
    "jacobi": {"parallel_decoding": "jacobi", "cache_implementation": "static"},
    "jacobi + retrieved drafts": {
        "parallel_decoding": "jacobi",
        "cache_implementation": "static",
        "retrieval_drafts": True,
    },
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=os.path.join(ROOT, "tests", "fixtures", "cm3leon-mini"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = CM3LeonForCausalLM.from_pretrained(args.model).eval()
    processor = CM3LeonProcessor.from_pretrained(args.model)
    train, _ = digits_world.load_digit_splits(processor.image_processor.size, seed=0)
    classifier = DigitClassifier(train, resolution=processor.image_processor.size)
    results = {}
    for seed in args.seeds:
        evaluator = MiniEvaluator(model, processor, seed=seed)
        for name, settings in PATHS.items():
            found = evaluator.digits_text_to_image(
                classifier, samples_per_prompt=4, guidance_scale=1.0, temperature=0.5, **settings
            )
            results[f"seed {seed}, {name}"] = found["accuracy"]
            print(f"seed {seed}, {name}: {found['accuracy']:.1%} of 200 digits", flush=True)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
