# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""`cm3leon train pretrain|sft|vq --config file.yaml [--name value ...]`.

Each recipe reads its `HfArgumentParser` dataclasses (the recipe's own and `transformers.TrainingArguments`) from the
YAML file; `--name value` pairs after it override single arguments. `cm3leon train <recipe> --help` lists them all.
Multi-process: `torchrun --nproc_per_node 8 -m transformers_cm3leon.training pretrain --config ...` or
`accelerate launch -m transformers_cm3leon.training pretrain --config ...` (the recipes need no change).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

RECIPES = {
    "pretrain": "Pretrain a CM3Leon language model from scratch with the CM3 objective (optionally retrieval-augmented).",
    "sft": "Supervised fine-tuning on task datasets bound to the paper's templates, mixed with 3 / 0.3 caps (+ LoRA).",
    "vq": "Train the VQ image tokenizer (reconstruction, codebook and commitment losses, EMA / restarts, patch GAN).",
}


def _recipe_module(name: str):
    """The recipe's module: it has `main(config_file, overrides)` and `ARGUMENT_TYPES`."""
    if name == "pretrain":
        from . import pretrain as module
    elif name == "sft":
        from . import sft as module
    else:
        from . import vq_training as module
    return module


def run_recipe(name: str, arguments: Sequence[str]) -> dict:
    """Run recipe `name` with command-line `arguments` (`--config file.yaml` and `--name value` overrides)."""
    if name not in RECIPES:
        raise ValueError(f"Unknown recipe {name!r}; choose one of {sorted(RECIPES)}.")
    parser = argparse.ArgumentParser(prog=f"cm3leon train {name}", description=RECIPES[name], add_help=False)
    parser.add_argument("--config", default=None, help="A YAML file of the recipe's arguments.")
    parser.add_argument("-h", "--help", action="store_true")
    known, overrides = parser.parse_known_args(list(arguments))
    if known.help:
        from transformers import HfArgumentParser

        module = _recipe_module(name)
        help_parser = HfArgumentParser(module.ARGUMENT_TYPES, prog=f"cm3leon train {name} --config FILE.yaml")
        help_parser.description = RECIPES[name] + " Every argument below can be set in the YAML file or here."
        help_parser.print_help()
        return {}
    return _recipe_module(name).main(known.config, overrides)


def _run_train(args: argparse.Namespace) -> int:
    run_recipe(args.recipe, args.recipe_arguments)
    return 0


def add_train_parser(subparsers) -> None:
    """Add `train pretrain|sft|vq` to the `cm3leon` command's subparsers."""
    parser = subparsers.add_parser(
        "train",
        help="Train CM3Leon: pretraining, SFT, or the image tokenizer.",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    recipes = parser.add_subparsers(dest="recipe", required=True, metavar="{pretrain,sft,vq}")
    for name, description in RECIPES.items():
        # `prefix_chars="+"`: the recipe's `--name value` pairs are not options of this parser; they reach
        # `run_recipe` unparsed and are parsed there with the recipe's own HfArgumentParser.
        recipe = recipes.add_parser(name, help=description, description=description, prefix_chars="+", add_help=False)
        recipe.add_argument("recipe_arguments", nargs="*", metavar="--config FILE.yaml [--name value ...]")
        recipe.set_defaults(func=_run_train)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m transformers_cm3leon.training pretrain --config ...` (for torchrun / accelerate launch)."""
    import logging

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in RECIPES:
        print(f"usage: python -m transformers_cm3leon.training {{{','.join(RECIPES)}}} --config FILE.yaml [...]")
        return 2
    run_recipe(argv[0], argv[1:])
    return 0
