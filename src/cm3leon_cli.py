# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The `cm3leon` command's front door: parses the command line with nothing but the standard library, so that
`cm3leon --help` answers at once, and imports `transformers_cm3leon` (torch, transformers) only to run a command.

    cm3leon generate "red apple" -o apple.png --size 256
    cm3leon train pretrain|sft|vq --config recipe.yaml
    cm3leon eval text-to-image|captioning|vqa --option value ...
"""

from __future__ import annotations

import argparse
import logging
import sys

GENERATE_EPILOG = """examples:
  cm3leon generate "red apple" -o apple.png --size 256
  cm3leon generate "thumbs up: dark skin tone" --num-images-per-prompt 4 --seed 3
  cm3leon generate "a cat" --model path/to/cm3leon --guidance-scale 3 --top-p 0.9 --device cuda
  cm3leon generate --prompt-file prompts.txt --output-dir images/ --batch-size 4
  accelerate launch --num_processes 2 -m cm3leon_cli generate --prompt-file prompts.txt --output-dir images/

Decoding options left unset keep the model's own defaults (generation_config.image_generation_defaults)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cm3leon", description="CM3Leon with Hugging Face transformers: text-to-image, training, evaluation."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="{generate,train,eval}")
    generate = commands.add_parser(
        "generate",
        help="Generate images from a text prompt (the default model unless --model).",
        description="Generate images from a text prompt, as pipeline('text-to-image') does.",
        epilog=GENERATE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    generate.add_argument("prompt", nargs="?", help="The text prompt (not empty); or use --prompt-file.")
    generate.add_argument("-o", "--output", default=None, help="Output PNG path (default: cm3leon.png).")
    generate.add_argument(
        "--prompt-file",
        default=None,
        help="Many prompts: a .txt file (one per line) or a .csv file (--prompt-column). Images go to --output-dir "
        "as images/000000.png, ... with index.jsonl; an interrupted run resumes. Several processes share the work "
        "when launched with `accelerate launch -m cm3leon_cli generate ...` (the same images as one process).",
    )
    generate.add_argument("--prompt-column", default="Prompt", help="Column of a CSV --prompt-file (default: Prompt).")
    generate.add_argument("--output-dir", default=None, help="Folder of the images of --prompt-file.")
    generate.add_argument("--batch-size", type=int, default=1, help="Prompts per call of --prompt-file (default: 1).")
    generate.add_argument("--model", default=None, help="A CM3Leon folder or Hub id (default: the default model).")
    generate.add_argument("--negative-prompt", default=None, help="Text of the unconditional guidance stream.")
    generate.add_argument("--guidance-scale", type=float, default=None, help="Classifier-free guidance scale.")
    generate.add_argument(
        "--num-images-per-prompt",
        "--num-images",
        dest="num_images_per_prompt",
        type=int,
        default=1,
        help="Images to generate; the files get an index suffix (default: %(default)s).",
    )
    generate.add_argument("--seed", type=int, default=0, help="Random seed: same seed, same image (default: 0).")
    generate.add_argument("--decoding-strategy", choices=("sample", "cd-k", "mixture"), default=None)
    generate.add_argument("--temperature", type=float, default=None)
    generate.add_argument("--top-k", type=int, default=None)
    generate.add_argument("--top-p", type=float, default=None)
    generate.add_argument(
        "--parallel-decoding",
        choices=("jacobi",),
        default=None,
        help="Several image tokens per forward (speculative Jacobi decoding, same distribution).",
    )
    generate.add_argument("--size", type=int, default=None, help="Upscale the image to SIZE x SIZE pixels.")
    generate.add_argument(
        "--resample",
        choices=("nearest", "lanczos"),
        default="nearest",
        help="Upscaling filter: nearest keeps the pixels sharp, lanczos smooths (default: %(default)s).",
    )
    generate.add_argument("--device", default="cpu", help="torch device, e.g. cpu, cuda, cuda:1 (default: cpu).")
    generate.add_argument(
        "--quantization",
        choices=("int8",),
        default=None,
        help="Weight-only int8 (torchao, through transformers' TorchAoConfig): a quarter of the linear weights' memory.",
    )
    for name, help_text in (
        ("train", "Train CM3Leon: pretraining, SFT, or the image tokenizer (`cm3leon train <recipe> --help`)."),
        ("eval", "Evaluate CM3Leon: FID / CLIPScore, captioning CIDEr, VQA (`cm3leon eval <recipe> --help`)."),
    ):
        command = commands.add_parser(name, help=help_text, add_help=False)
        command.add_argument("arguments", nargs=argparse.REMAINDER)
    return parser


def _quiet_import_noise() -> None:
    """transformers imports torchao whenever it is installed; on a CPU-only torch, torchao then warns that its CUDA
    kernels do not load and torch that torchao registers enums the old way. A command's output is ours to keep
    readable, so those import-time lines are dropped here (the library itself leaves the user's logging alone)."""
    logging.getLogger("torchao").setLevel(logging.ERROR)
    logging.getLogger("torch.utils._pytree").setLevel(logging.ERROR)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("train", "eval"):  # their own parsers (argparse's REMAINDER would swallow no `--help`)
        _quiet_import_noise()
        from transformers_cm3leon.cli import main as package_main

        return package_main(argv)
    args = parser.parse_args(argv)
    _quiet_import_noise()
    if args.command == "generate":
        from transformers_cm3leon.cli import run_generate

        try:
            return run_generate(args)
        except (ValueError, TypeError, OSError, ImportError) as error:
            print(f"cm3leon generate: error: {error}", file=sys.stderr)
            return 2
    from transformers_cm3leon.cli import main as package_main

    return package_main(argv)


if __name__ == "__main__":
    sys.exit(main())
