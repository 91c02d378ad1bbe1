# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The commands behind `cm3leon` (whose parser is the top-level `cm3leon_cli` module, light enough for an instant
`--help`): `generate` runs `pipeline("text-to-image")`; `train` and `eval` run the recipes."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

logger = logging.getLogger("transformers_cm3leon")

TINY_RANDOM_WARNING = (
    "No --model given and this installation has no default model weights: using a TINY RANDOM model. "
    "The image is noise; pass --model <folder or Hub id> for a real one."
)
MAX_SEED = 2**63 - 1
MAX_SIZE = 4096


def _output_paths(output: str, count: int) -> list[Path]:
    path = Path(output)
    if path.suffix.lower() != ".png":
        raise ValueError(f"`--output` must be a .png path, got {output!r}.")
    if count == 1:
        return [path]
    return [path.with_name(f"{path.stem}-{index}{path.suffix}") for index in range(count)]


def _check_writable(path: Path) -> None:
    """Fail before generating, not after: the folder of `path` must exist (or be creatable) and be writable."""
    folder = path.parent if str(path.parent) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(f"`--output` {str(path)!r}: cannot create its folder ({error.strerror}).") from None
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ValueError(f"`--output` {str(path)!r} is not writable.")


def _check_generate_arguments(args: argparse.Namespace) -> None:
    if (args.prompt is None) == (args.prompt_file is None):
        raise ValueError('Pass one prompt (`cm3leon generate "red apple"`) or `--prompt-file`, not both or neither.')
    if args.prompt is not None:
        if not args.prompt.strip():
            raise ValueError('The prompt is empty; write what to draw, e.g. `cm3leon generate "red apple"`.')
        if args.output_dir is not None:
            raise ValueError(
                "`--output-dir` holds the images of `--prompt-file`; name the file of one prompt with -o."
            )
    else:
        if args.output_dir is None:
            raise ValueError("`--prompt-file` writes its images into a folder: pass `--output-dir`.")
        if args.output is not None:
            raise ValueError("`--output` names the file of one prompt; with `--prompt-file`, use `--output-dir`.")
    if args.num_images_per_prompt < 1:
        raise ValueError(f"`--num-images-per-prompt` must be at least 1, got {args.num_images_per_prompt}.")
    if args.prompt_file is not None and args.num_images_per_prompt != 1:
        raise ValueError("`--prompt-file` draws one image per prompt; repeat a prompt in the file for more.")
    if args.batch_size < 1:
        raise ValueError(f"`--batch-size` must be at least 1, got {args.batch_size}.")
    if not 0 <= args.seed <= MAX_SEED:
        raise ValueError(f"`--seed` must be in [0, 2**63 - 1], got {args.seed}.")
    if args.size is not None and not 1 <= args.size <= MAX_SIZE:
        raise ValueError(f"`--size` must be in [1, {MAX_SIZE}] pixels, got {args.size}.")
    if args.model is not None and _looks_local(args.model) and not Path(args.model).is_dir():
        raise ValueError(f"`--model` {args.model!r} is not a folder; pass a CM3Leon model folder or a Hub id.")


def _looks_local(name: str) -> bool:
    """A path rather than a Hub id (`org/name`)."""
    return name.startswith((".", "/", "~")) or name.count("/") > 1


def _device(name: str):
    import torch

    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"`--device` {name!r} is not a torch device (e.g. cpu, cuda, cuda:1): {error}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"`--device` {name!r}: CUDA is not available on this machine.")
    if device.type not in ("cpu", "cuda", "mps", "xpu"):
        raise ValueError(f"`--device` {name!r}: use cpu, cuda (cuda:N), mps or xpu.")
    return device


def run_generate(args: argparse.Namespace) -> int:
    """`cm3leon generate`: images for a prompt (or each prompt of a file) with `pipeline("text-to-image")`, written
    as PNG files."""
    _check_generate_arguments(args)
    if args.prompt is not None:
        paths = _output_paths(args.output or "cm3leon.png", args.num_images_per_prompt)
        for path in paths:
            _check_writable(path)
    else:
        _check_writable(Path(args.output_dir) / "index.jsonl")
    device = _device(args.device)

    import torch
    from PIL import Image

    resample = Image.Resampling.NEAREST if args.resample == "nearest" else Image.Resampling.LANCZOS

    def upscale(image):
        return image if args.size is None else image.resize((args.size, args.size), resample)

    options = {
        "negative_prompt": args.negative_prompt,
        "guidance_scale": args.guidance_scale,
        "decoding_strategy": args.decoding_strategy,
        "temperature": args.temperature,
        "top_p": args.top_p,
        "top_k": args.top_k,
        "parallel_decoding": args.parallel_decoding,
    }
    options = {name: value for name, value in options.items() if value is not None}
    if args.prompt_file is not None:
        return _generate_from_file(args, device, options, upscale)
    pipe = _load_pipeline(args.model, device, args.quantization)
    started = time.perf_counter()
    output = pipe(
        args.prompt,
        num_images_per_prompt=args.num_images_per_prompt,
        generator=torch.Generator(device=device).manual_seed(args.seed),
        **options,
    )
    seconds = (time.perf_counter() - started) / len(output.images)
    for image, path in zip(output.images, paths):
        image = upscale(image)
        image.save(path)
        print(f"wrote {path} ({image.width}x{image.height})")
    print(f"{seconds:.2f} s per image")
    return 0


def _load_pipeline(model: str | None, device, quantization: str | None = None):
    from transformers import pipeline

    from .default_model import default_model_path, has_default_model
    from .quantization import weight_only_quantization_config
    from .testing_utils import get_tiny_cm3leon

    model_kwargs = {}
    if quantization is not None:
        model_kwargs["quantization_config"] = weight_only_quantization_config(quantization, "--quantization")
    if model is None and not has_default_model():
        if quantization is not None:
            raise ValueError("`--quantization` applies to a model loaded from a folder; pass `--model`.")
        logger.warning(TINY_RANDOM_WARNING)
        tiny, processor = get_tiny_cm3leon()
        pipe = pipeline("text-to-image", model=tiny, processor=processor, device=device)
    else:
        try:
            pipe = pipeline(
                "text-to-image", model=model or default_model_path(), device=device, model_kwargs=model_kwargs
            )
        except OSError as error:
            raise ValueError(f"`--model` {model!r} could not be loaded: {error}") from None
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _generate_from_file(args: argparse.Namespace, device, options: dict, upscale) -> int:
    """`--prompt-file`: one image per prompt into `--output-dir`, resumable, shared among the processes of an
    `accelerate launch` (the same images as one process)."""
    from .evaluation.batch_generation import check_stored_prompts, generate_into_store, open_store, process_state
    from .evaluation.text_to_image import read_prompts

    prompts = read_prompts(args.prompt_file, args.prompt_column, name="--prompt-file")
    state = process_state(device)
    if state.num_processes > 1 and device.type != "cpu":
        device = state.device  # one accelerator per process
    pipe = _load_pipeline(args.model, device, args.quantization)
    settings = {
        "model": os.path.abspath(args.model) if args.model and os.path.isdir(args.model) else args.model,
        "seed": args.seed,
        "batch_size": args.batch_size,
        "size": args.size,
        "resample": args.resample,
        "quantization": args.quantization,
        **options,
    }
    store = open_store(args.output_dir, settings, state)
    check_stored_prompts(store, prompts, f"--prompt-file {args.prompt_file!r}")
    started = time.perf_counter()
    drawn = generate_into_store(
        pipe,
        prompts,
        store,
        seed=args.seed,
        batch_size=args.batch_size,
        pipeline_kwargs=options,
        progress_bar=state.is_main_process,
        state=state,
        transform=upscale,
    )
    seconds = time.perf_counter() - started
    if drawn:
        print(f"process {state.process_index}: {seconds / drawn:.2f} s per image ({drawn} images)")
    if state.is_main_process:
        print(f"wrote {len(prompts)} images to {os.path.join(args.output_dir, 'images')} (index: index.jsonl)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The parser of `cm3leon train` and `cm3leon eval` (the recipes' options come from their dataclasses)."""
    from .evaluation import add_eval_parser
    from .training import add_train_parser

    parser = argparse.ArgumentParser(prog="cm3leon", description="CM3Leon: training and evaluation recipes.")
    subparsers = parser.add_subparsers(dest="command", required=True)
    add_train_parser(subparsers)
    add_eval_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """`cm3leon ...`: `generate` through the command's front door (`cm3leon_cli`), `train` / `eval` here."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["generate"] or not argv or argv[0] in ("-h", "--help"):
        import cm3leon_cli

        return cm3leon_cli.main(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as error:
        command = " ".join(argv[:2]) if argv[0] in ("train", "eval") else argv[0]
        print(f"cm3leon {command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
