# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Convert a taming-transformers VQGAN (`VQModel` checkpoint + its `model.yaml`) into a `CM3LeonVQModel` folder.

CM3LeonVQModel keeps taming's module names, so the weights are copied as they are; the training loss's weights
(`loss.*`: LPIPS and the discriminator) are dropped, and any other mismatch is an error that lists the missing and
unexpected keys. With `--image-processor`, a `CM3LeonImageProcessor` folder (the image processor's JSON plus the VQ
model in `image_tokenizer/`) is written instead, ready to pair with a tokenizer in a `CM3LeonProcessor`.

Usage:

    python conversion/convert_taming_vqgan_to_cm3leon.py --checkpoint last.ckpt --config model.yaml --output-dir vqgan
    python conversion/convert_taming_vqgan_to_cm3leon.py --checkpoint chameleon-data/tokenizer/vqgan.ckpt \
        --config chameleon-data/tokenizer/vqgan.yaml --output-dir chameleon-image-processor --image-processor
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from transformers_cm3leon.conversion_utils import (
    add_output_arguments,
    output_options,
    prepare_output_directory,
    resolve_dtype,
)
from transformers_cm3leon.image_processing_cm3leon import CM3LeonImageProcessor
from transformers_cm3leon.taming_vqgan import load_taming_vqgan

logger = logging.getLogger("convert_taming_vqgan_to_cm3leon")


def convert_taming_vqgan(
    checkpoint: str | Path,
    config: str | Path,
    output_dir: str | Path,
    image_processor: bool = False,
    image_token_offset: int = 4,
    dtype: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the VQ model (`save_pretrained`) or, with `image_processor=True`, a `CM3LeonImageProcessor` holding it
    into `output_dir`, and return that folder."""
    vq_model = load_taming_vqgan(checkpoint, config, dtype=resolve_dtype(dtype))
    output_dir = prepare_output_directory(output_dir, overwrite=overwrite)
    if image_processor:
        CM3LeonImageProcessor(
            size=vq_model.config.resolution, image_token_offset=image_token_offset, vq_model=vq_model
        ).save_pretrained(output_dir)
    else:
        vq_model.save_pretrained(output_dir)
    grid = vq_model.config.grid_size
    logger.info(
        f"Wrote {output_dir}: {vq_model.config.resolution}px images <-> {grid}x{grid} codes from "
        f"{vq_model.config.num_embeddings}."
    )
    return output_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, help="The taming .ckpt (weights under `state_dict`).")
    parser.add_argument("--config", required=True, help="The taming model.yaml (model.params.ddconfig, n_embed, ...).")
    add_output_arguments(parser, "Folder to write into.", sharded=False, model_card=False)
    parser.add_argument(
        "--image-processor", action="store_true", help="Write a CM3LeonImageProcessor folder instead of the model."
    )
    parser.add_argument(
        "--image-token-offset", type=int, default=4, help="Token id of code 0, for --image-processor (default: 4)."
    )
    args = parser.parse_args(argv)
    if args.image_token_offset != 4 and not args.image_processor:
        parser.error("--image-token-offset only applies with --image-processor.")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    convert_taming_vqgan(
        args.checkpoint,
        args.config,
        args.output_dir,
        image_processor=args.image_processor,
        image_token_offset=args.image_token_offset,
        **output_options(args),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
