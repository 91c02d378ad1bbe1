# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""`cm3leon eval text-to-image|captioning|vqa --option value ...`: the evaluation recipes from the command line.

Every field of a recipe's config is an option (`num_prompts` -> `--num-prompts`, booleans as `--name` /
`--no-name`); `cm3leon eval <recipe> --help` lists them. Running the same command again resumes an interrupted run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import types
import typing

from .captioning import CaptioningEvalConfig, run_captioning_eval
from .text_to_image import TextToImageEvalConfig, run_text_to_image_eval
from .vqa import VQAEvalConfig, run_vqa_eval

# name -> (description, config class, run function)
RECIPES = {
    "text-to-image": (
        "Zero-shot text-to-image: images for a CSV of prompts (best of N by CLIP, optionally retrieval-augmented), "
        "FID against a folder of real images, optionally CLIPScore (the MS-COCO FID-30K protocol).",
        TextToImageEvalConfig,
        run_text_to_image_eval,
    ),
    "captioning": (
        "Image captioning: a caption per image, CIDEr-D against the reference captions.",
        CaptioningEvalConfig,
        run_captioning_eval,
    ),
    "vqa": (
        "Visual question answering: an answer per question, VQAv2 accuracy against the human answers.",
        VQAEvalConfig,
        run_vqa_eval,
    ),
}


def _base_type(annotation):
    """`int | None` -> `int`."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        (base,) = [argument for argument in typing.get_args(annotation) if argument is not type(None)]
        return base
    return annotation


def _add_config_options(parser: argparse.ArgumentParser, config_class) -> None:
    hints = typing.get_type_hints(config_class)
    required = parser.add_argument_group("required arguments")
    for field in dataclasses.fields(config_class):
        option = "--" + field.name.replace("_", "-")
        help_text = field.metadata.get("help", "")
        kind = _base_type(hints[field.name])
        if kind is bool:
            parser.add_argument(
                option, dest=field.name, action=argparse.BooleanOptionalAction, default=field.default, help=help_text
            )
            continue
        if field.metadata.get("required_on_command_line"):
            required.add_argument(option, dest=field.name, type=kind, required=True, help=help_text)
            continue
        parser.add_argument(
            option,
            dest=field.name,
            type=kind,
            default=field.default,
            choices=field.metadata.get("choices"),
            help=help_text if "default" in help_text else f"{help_text} (default: %(default)s)",
        )


def _run_eval(args: argparse.Namespace) -> int:
    _, config_class, run = RECIPES[args.recipe]
    names = {field.name for field in dataclasses.fields(config_class)}
    config = config_class(**{name: value for name, value in vars(args).items() if name in names})
    results = run(config)
    if results is not None:  # None in the processes other than the main one of a multi-process run
        print(json.dumps(results["metrics"], indent=2))
        print(f"wrote {config.results_path()}")
    return 0


def add_eval_parser(subparsers) -> None:
    """Add `eval text-to-image|captioning|vqa` to the `cm3leon` command's subparsers."""
    parser = subparsers.add_parser(
        "eval",
        help="Evaluate CM3Leon: text-to-image FID / CLIPScore, captioning CIDEr, VQA accuracy.",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    recipes = parser.add_subparsers(dest="recipe", required=True, metavar="{" + ",".join(RECIPES) + "}")
    for name, (description, config_class, _) in RECIPES.items():
        recipe = recipes.add_parser(name, help=description, description=description)
        _add_config_options(recipe, config_class)
        recipe.set_defaults(func=_run_eval)


__all__ = ["RECIPES", "add_eval_parser"]
