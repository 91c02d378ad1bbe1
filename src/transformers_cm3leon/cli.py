# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The `cm3leon` command: `cm3leon generate "a prompt" -o out.png`, and the training / evaluation recipes."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .evaluation import add_eval_parser
from .training import add_train_parser

logger = logging.getLogger("transformers_cm3leon")

TINY_RANDOM_WARNING = (
    "No --model given and this installation has no CM3Leon-Mini weights: using a TINY RANDOM model. "
    "The image is noise; pass --model <folder or Hub id> for a real one."
)


def _add_generate_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "generate", help="Generate images from a text prompt.", description="Generate images from a text prompt."
    )
    parser.add_argument("prompt", help="The text prompt.")
    parser.add_argument("-o", "--output", default="cm3leon.png", help="Output PNG path (default: %(default)s).")
    parser.add_argument(
        "--model", default=None, help="A CM3Leon folder or Hub id (default: the shipped CM3Leon-Mini)."
    )
    parser.add_argument("--negative-prompt", default=None, help="Text for the unconditional guidance stream.")
    parser.add_argument(
        "--guidance-scale", type=float, default=None, help="Classifier-free guidance scale (default: the model's)."
    )
    parser.add_argument("--num-images", type=int, default=1, help="Images to generate; files get an index suffix.")
    parser.add_argument("--seed", type=int, default=0, help="Random seed (same seed, same image).")
    parser.add_argument("--temperature", type=float, default=None, help="Sampling temperature (default: the model's).")
    parser.add_argument("--top-p", type=float, default=None)
    parser.add_argument("--top-k", type=int, default=None)
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda.")
    parser.set_defaults(func=_run_generate)


def _output_paths(output: str, count: int) -> list[Path]:
    path = Path(output)
    if path.suffix.lower() != ".png":
        raise ValueError(f"`--output` must be a .png path, got {output!r}.")
    if count == 1:
        return [path]
    return [path.with_name(f"{path.stem}-{index}{path.suffix}") for index in range(count)]


def _run_generate(args: argparse.Namespace) -> int:
    import torch
    from transformers import pipeline

    from .mini import default_model_path, has_default_model
    from .testing_utils import get_tiny_cm3leon

    if args.num_images < 1:
        raise ValueError(f"`--num-images` must be at least 1, got {args.num_images}.")
    paths = _output_paths(args.output, args.num_images)
    if args.model is None and not has_default_model():
        logger.warning(TINY_RANDOM_WARNING)
        model, processor = get_tiny_cm3leon()
        pipe = pipeline("text-to-image", model=model, processor=processor, device=args.device)
    else:
        pipe = pipeline("text-to-image", model=args.model or default_model_path(), device=args.device)
    # Options left unset keep the model's own decoding defaults (generation_config.image_generation_defaults).
    options = {
        "negative_prompt": args.negative_prompt,
        "guidance_scale": args.guidance_scale,
        "temperature": args.temperature,
        "top_p": args.top_p,
        "top_k": args.top_k,
    }
    output = pipe(
        args.prompt,
        num_images_per_prompt=args.num_images,
        generator=torch.Generator(device=args.device).manual_seed(args.seed),
        **{name: value for name, value in options.items() if value is not None},
    )
    for image, path in zip(output.images, paths):
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path)
        print(f"wrote {path} ({image.width}x{image.height})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cm3leon", description="CM3Leon: text-to-image and more with transformers.")
    subparsers = parser.add_subparsers(dest="command", required=True)
    _add_generate_parser(subparsers)
    add_train_parser(subparsers)
    add_eval_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ValueError as error:
        parser.error(str(error))


if __name__ == "__main__":
    sys.exit(main())
