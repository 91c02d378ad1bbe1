# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Building blocks to bring foreign checkpoints into CM3Leon: safe reading, key checks, streaming sharded writing,
taming-transformers VQGANs, the Chameleon tokenizer and generation defaults, and the command-line options the
scripts share.

The scripts in `conversion/` are thin layers over these functions. Everything here reads foreign weights with
`torch.load(..., weights_only=True)` only (no arbitrary unpickling) and writes safetensors only.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import re
import shutil
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from huggingface_hub.serialization import split_state_dict_into_shards_factory
from safetensors.torch import save_file
from transformers import GenerationConfig, PreTrainedTokenizerFast
from transformers.utils import SAFE_WEIGHTS_INDEX_NAME, logging

from .configuration_cm3leon import CM3LeonConfig
from .modeling_cm3leon_vq import CM3LeonVQModel
from .tokenization_cm3leon import (
    BOS_TOKEN,
    BREAK_TOKEN,
    EOS_TOKEN,
    EOSS_TOKEN,
    PAD_TOKEN,
    UNK_TOKEN,
    special_token_ids,
    wrap_cm3leon_backend,
)

logger = logging.get_logger(__name__)

# How many keys of each kind an error message lists before it says "... and N more".
_MAX_LISTED_KEYS = 20


# -- reading and checking -------------------------------------------------------------------------------------------
class CheckpointKeysError(ValueError):
    """A checkpoint's keys do not match what the target expects; `missing_keys` and `unexpected_keys` say how."""

    def __init__(self, source: str, missing_keys: list[str], unexpected_keys: list[str], hint: str = ""):
        self.source = source
        self.missing_keys = missing_keys
        self.unexpected_keys = unexpected_keys
        lines = [f"{source} does not match the expected layout."]
        for what, keys in (("Missing keys", missing_keys), ("Unexpected keys", unexpected_keys)):
            if keys:
                shown = ", ".join(keys[:_MAX_LISTED_KEYS])
                more = f" ... and {len(keys) - _MAX_LISTED_KEYS} more" if len(keys) > _MAX_LISTED_KEYS else ""
                lines.append(f"{what} ({len(keys)}): {shown}{more}")
        if hint:
            lines.append(hint)
        super().__init__("\n".join(lines))


def check_keys(
    found: Iterable[str], expected: Iterable[str], source: str, ignore: Iterable[str] = (), hint: str = ""
) -> None:
    """Raise [`CheckpointKeysError`] listing the missing and unexpected keys when `found` differs from `expected`.

    `ignore` holds regular expressions of keys that may be present without being expected (e.g. `rope\\.freqs`).
    """
    found, expected = set(found), set(expected)
    patterns = [re.compile(pattern) for pattern in ignore]
    missing = sorted(expected - found, key=_natural_key)
    unexpected = sorted(
        (key for key in found - expected if not any(p.fullmatch(key) for p in patterns)), key=_natural_key
    )
    if missing or unexpected:
        raise CheckpointKeysError(source, missing, unexpected, hint)


def check_shape(name: str, tensor: torch.Tensor, expected: tuple[int, ...], source: str) -> None:
    if tuple(tensor.shape) != tuple(expected):
        raise ValueError(
            f"{source}: `{name}` has shape {tuple(tensor.shape)}, expected {tuple(expected)}. The checkpoint and its "
            "configuration (params.json / config.json / model.yaml) do not describe the same model."
        )


def _natural_key(key: str):
    """Sort `layers.10` after `layers.9`."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", key)]


def _looks_like_a_torch_file(path: Path) -> bool:
    """A zip archive (torch.save's format) or a pickle of protocol 2+ (the legacy format) by its first bytes."""
    with path.open("rb") as handle:
        head = handle.read(4)
    return head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"


def load_torch_checkpoint(path: str | os.PathLike, mmap: bool = True) -> dict:
    """Read a `.pth` / `.ckpt` file with `torch.load(weights_only=True)` on the CPU.

    With `mmap=True` the tensors stay on disk until they are read, so a converter that handles one tensor at a time
    never holds the whole checkpoint in memory (files in the legacy, pre-zip format are read fully instead).

    Raises:
        FileNotFoundError: if `path` does not exist.
        ValueError: if the file is not a readable PyTorch checkpoint, or holds Python objects that `weights_only=True`
            refuses to unpickle (they are never unpickled here).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Checkpoint file {str(path)!r} does not exist.")
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as error:
        if not _looks_like_a_torch_file(path):
            raise ValueError(
                f"{path} is not a PyTorch checkpoint (neither a zip archive nor a pickle): truncated, corrupted or "
                "another format?"
            ) from None
        raise ValueError(
            f"{path} holds Python objects besides tensors, which `torch.load(weights_only=True)` refuses to load (and "
            f"this converter never unpickles arbitrary objects): {str(error).splitlines()[0]}. If you trust the file, "
            "re-save only its tensors, e.g. `torch.save({'state_dict': ckpt['state_dict']}, 'clean.ckpt')`, and "
            "convert that."
        ) from None
    except RuntimeError as error:
        if mmap and "mmap" in str(error):  # legacy (non-zip) serialization cannot be memory-mapped
            logger.warning(f"{path} uses PyTorch's legacy format, which cannot be memory-mapped; reading it whole.")
            return load_torch_checkpoint(path, mmap=False)
        raise ValueError(
            f"{path} could not be read as a PyTorch checkpoint (truncated or corrupted?): {error}"
        ) from None


def resolve_dtype(dtype: str | torch.dtype | None) -> torch.dtype | None:
    """`"bfloat16"`, `"float16"`, `"float32"`, a `torch.dtype`, or `None`/`"auto"` (keep the checkpoint's)."""
    if dtype is None or dtype == "auto":
        return None
    if isinstance(dtype, torch.dtype):
        return dtype
    allowed = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
    if dtype not in allowed:
        raise ValueError(f"`dtype` must be one of {['auto', *allowed]}, got {dtype!r}.")
    return allowed[dtype]


# -- streaming sharded safetensors ----------------------------------------------------------------------------------
@dataclass
class PlannedTensor:
    """One output tensor of a conversion: its shape and a function that builds it from the source on demand."""

    shape: tuple[int, ...]
    dtype: torch.dtype
    produce: Callable[[], torch.Tensor]
    source: str = ""

    @property
    def nbytes(self) -> int:
        numel = 1
        for size in self.shape:
            numel *= size
        return numel * self.dtype.itemsize


def save_planned_safetensors(
    plan: Mapping[str, PlannedTensor], save_directory: str | os.PathLike, max_shard_size: int | str = "5GB"
) -> list[str]:
    """Write `plan` as (sharded) safetensors in transformers' layout, building each tensor only when its shard is
    written and freeing the shard before the next one: besides the source, peak memory is about two shards (the
    tensors and the buffer safetensors serialises them into).

    Writes `model.safetensors`, or `model-0000i-of-0000n.safetensors` plus `model.safetensors.index.json` when the
    tensors exceed `max_shard_size`. Each produced tensor is checked against its planned shape and cast to its
    planned dtype. Returns the paths written.
    """
    save_directory = Path(save_directory)
    save_directory.mkdir(parents=True, exist_ok=True)
    split = split_state_dict_into_shards_factory(
        dict(plan),
        get_storage_size=lambda planned: planned.nbytes,
        filename_pattern="model{suffix}.safetensors",
        max_shard_size=max_shard_size,
    )
    written = []
    for filename, names in split.filename_to_tensors.items():
        shard = {}
        for name in names:
            planned = plan[name]
            tensor = planned.produce()
            check_shape(name, tensor, planned.shape, planned.source or name)
            shard[name] = tensor.to(planned.dtype).contiguous()
        save_file(shard, save_directory / filename, metadata={"format": "pt"})
        written.append(str(save_directory / filename))
        del shard
    if split.is_sharded:
        index = {
            "metadata": {"total_size": sum(p.nbytes for p in plan.values())},
            "weight_map": split.tensor_to_filename,
        }
        index_path = save_directory / SAFE_WEIGHTS_INDEX_NAME
        index_path.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
        written.append(str(index_path))
    return written


def expected_state_dict_shapes(model_class, config) -> dict[str, tuple[int, ...]]:
    """The persistent state-dict keys and shapes of `model_class(config)`, computed on the meta device (no memory)."""
    with torch.device("meta"):
        model = model_class(config)
    return {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}


def prepare_output_directory(output_dir: str | os.PathLike, overwrite: bool = False, create: bool = True) -> Path:
    """Create `output_dir` (with `create`); refuse a non-empty one unless `overwrite`, then remove stale weight files
    from it."""
    output_dir = Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise ValueError(f"`output_dir` {str(output_dir)!r} exists and is not a folder.")
    if output_dir.is_dir() and any(output_dir.iterdir()):
        if not overwrite:
            raise ValueError(
                f"`output_dir` {str(output_dir)!r} is not empty; choose an empty folder or pass --overwrite."
            )
        if create:
            for stale in output_dir.glob("model*.safetensors*"):
                stale.unlink()
    if create:
        output_dir.mkdir(parents=True, exist_ok=True)
    return output_dir


# -- Chameleon vocabulary and decoding defaults ---------------------------------------------------------------------
# Chameleon's reference inference (chameleon/inference/chameleon.py): temperature 0.7
# and top-p 0.9 for text and images; images use three-stream guidance u + 1.2 (i - u) + 3.0 (f - i).
CHAMELEON_TEMPERATURE = 0.7
CHAMELEON_TOP_P = 0.9
CHAMELEON_TEXT_GUIDANCE_SCALE = 3.0
CHAMELEON_IMAGE_GUIDANCE_SCALE = 1.2
CHAMELEON_TEXT_REPETITION_PENALTY = 1.2  # Meta's `RepetitionPenaltyLogitsProcessor` in text mode


# Chameleon's QK-norm is `nn.LayerNorm(head_dim)` with PyTorch's default eps, whatever the RMSNorm's `norm_eps` is.
CHAMELEON_QK_NORM_EPS = 1e-5


def warn_if_qk_norm_eps_differs(norm_eps: float) -> None:
    """CM3LeonConfig uses `norm_eps` for the QK-norm too; Chameleon used 1e-5 there. Equal in every released
    checkpoint; a fine-tune with another RMSNorm eps would see slightly different attention logits."""
    if norm_eps != CHAMELEON_QK_NORM_EPS:
        logger.warning(
            f"norm_eps={norm_eps}, but Chameleon's QK-norm used eps={CHAMELEON_QK_NORM_EPS}; the converted model applies "
            f"{norm_eps} to both, so its outputs differ slightly from the original's."
        )


def load_chameleon_tokenizer(
    tokenizer_file: str | os.PathLike, model_max_length: int = 4096
) -> PreTrainedTokenizerFast:
    """A tokenizer from Chameleon's `text_tokenizer.json` (a Hugging Face `tokenizers` file), with the CM3Leon special
    token names set (`<s>`, `</s>`, `<pad>`, `<unk>`, and `<racm3:break>` / `<eoss>` as `break_token` / `eoss_token`).

    No token is added: every special token must already be in the file. The `IMGIMG...Z` tokens define the image
    tokens (see `special_token_ids`). Nothing is inserted automatically around the text (no BOS), as with
    `build_cm3leon_tokenizer`: prompts write their control tokens explicitly.
    """
    tokenizer_file = Path(tokenizer_file)
    if not tokenizer_file.is_file():
        raise FileNotFoundError(f"Tokenizer file {str(tokenizer_file)!r} does not exist.")
    from tokenizers import Tokenizer

    backend = Tokenizer.from_file(str(tokenizer_file))
    vocab = backend.get_vocab(with_added_tokens=True)
    required = (BOS_TOKEN, PAD_TOKEN, EOS_TOKEN, UNK_TOKEN, BREAK_TOKEN, EOSS_TOKEN)
    missing = [token for token in required if token not in vocab]
    if missing:
        raise ValueError(f"{tokenizer_file} lacks the special tokens {missing}, which CM3Leon's vocabulary needs.")
    size = backend.get_vocab_size(with_added_tokens=True)
    tokenizer = wrap_cm3leon_backend(backend, model_max_length=model_max_length)
    if len(tokenizer) != size:
        raise RuntimeError(f"Wrapping {tokenizer_file} changed its size from {size} to {len(tokenizer)} tokens.")
    return tokenizer


def embedding_special_token_ids(tokenizer: PreTrainedTokenizerFast, num_embeddings: int) -> dict[str, int | None]:
    """`special_token_ids(tokenizer)` with `vocab_size` set to the checkpoint's number of embedding rows, which may exceed
    the tokenizer's size (Chameleon pads its embedding) but never fall short of it."""
    ids = special_token_ids(tokenizer)
    if ids["vocab_size"] > num_embeddings:
        raise ValueError(
            f"The tokenizer has {ids['vocab_size']} tokens but the checkpoint's embedding only {num_embeddings} rows."
        )
    ids["vocab_size"] = num_embeddings
    return ids


def chameleon_generation_config(config: CM3LeonConfig) -> GenerationConfig:
    """Decoding defaults of Chameleon's reference inference for a converted checkpoint.

    Sampling with temperature 0.7 and top-p 0.9; text never holds an image token (Meta's text decoder allows only text
    tokens) and has Meta's repetition penalty of 1.2; it stops at `</s>` or at `<racm3:break>` (the start of an image,
    Chameleon's extra stop token in text mode). The image guidance scales (text 3.0, image 1.2) go into
    `image_generation_defaults`, the per-task defaults the image pipelines read, rather than `guidance_scale`, which
    would make stock `generate()` run classifier-free guidance on text.
    """
    sampling = {"temperature": CHAMELEON_TEMPERATURE, "top_p": CHAMELEON_TOP_P}
    return GenerationConfig(
        bos_token_id=config.bos_token_id,
        eos_token_id=[config.eos_token_id, config.break_token_id],
        pad_token_id=config.pad_token_id,
        do_sample=True,
        temperature=CHAMELEON_TEMPERATURE,
        top_p=CHAMELEON_TOP_P,
        # Meta's text decoding: no image token in text, and its repetition penalty.
        suppress_tokens=list(config.image_token_ids),
        repetition_penalty=CHAMELEON_TEXT_REPETITION_PENALTY,
        max_length=config.max_position_embeddings,
        image_generation_defaults={
            "text-to-image": {"guidance_scale": CHAMELEON_TEXT_GUIDANCE_SCALE, **sampling},
            "image-editing": {
                "guidance_scale": CHAMELEON_TEXT_GUIDANCE_SCALE,
                "image_guidance_scale": CHAMELEON_IMAGE_GUIDANCE_SCALE,
                **sampling,
            },
        },
    )


def build_processor(tokenizer: PreTrainedTokenizerFast, vq_model: CM3LeonVQModel, sequence_format: str = "chameleon"):
    """A [`CM3LeonProcessor`] over `tokenizer` and `vq_model`; checks that the tokenizer's image tokens match the
    VQ codebook (same count, code order). Converted Chameleon / Anole checkpoints were trained on Chameleon's
    sequence format (`<s>` first, images wrapped as `<racm3:break> image <eoss>`), the default `sequence_format`
    saved with the folder."""
    from .image_processing_cm3leon import CM3LeonImageProcessor
    from .processing_cm3leon import CM3LeonProcessor

    image_token_offset = special_token_ids(tokenizer)["image_token_offset"]
    image_processor = CM3LeonImageProcessor(
        size=vq_model.config.resolution, image_token_offset=image_token_offset, vq_model=vq_model
    )
    return CM3LeonProcessor(image_processor=image_processor, tokenizer=tokenizer, sequence_format=sequence_format)


def save_converted_extras(
    output_dir: str | os.PathLike,
    config: CM3LeonConfig,
    tokenizer: PreTrainedTokenizerFast,
    processor=None,
    generation_config: GenerationConfig | None = None,
    **card_kwargs,
) -> None:
    """Write everything of a converted folder but the weights: `config.json`, `generation_config.json`, the processor
    (tokenizer + image processor + `image_tokenizer/`) or, without an image tokenizer, the tokenizer alone, and the
    model card (`README.md`, see [`write_model_card`])."""
    from .model_card import write_model_card

    config.save_pretrained(output_dir)
    (generation_config or chameleon_generation_config(config)).save_pretrained(output_dir)
    if processor is not None:
        processor.save_pretrained(output_dir)
    else:
        tokenizer.save_pretrained(output_dir)
    write_model_card(output_dir, **card_kwargs)


def write_converted_model(
    output_dir: str | os.PathLike,
    plan: Mapping[str, PlannedTensor],
    config: CM3LeonConfig,
    tokenizer: PreTrainedTokenizerFast,
    processor=None,
    *,
    overwrite: bool = False,
    max_shard_size: int | str = "2GB",
    **card_kwargs,
) -> Path:
    """Write a converted language model folder: check `output_dir` (see [`prepare_output_directory`]), stream the
    planned weights as (sharded) safetensors and write everything else with [`save_converted_extras`] into a staging
    folder beside it, then move that into place: a conversion that fails never leaves a partial folder. Returns the
    folder."""
    output_dir = Path(output_dir)
    prepare_output_directory(output_dir, overwrite=overwrite, create=False)
    staging = output_dir.parent / f".{output_dir.name}.partial-{uuid.uuid4().hex[:8]}"
    try:
        logger.info(f"Writing the language model ({next(iter(plan.values())).dtype}) to {output_dir}.")
        save_planned_safetensors(plan, staging, max_shard_size=max_shard_size)
        save_converted_extras(staging, config, tokenizer, processor=processor, **card_kwargs)
        if output_dir.exists():  # `overwrite`: the old folder goes only once the new one is complete
            shutil.rmtree(output_dir)
        staging.rename(output_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return output_dir


# -- command line ---------------------------------------------------------------------------------------------------
# The options of `add_output_arguments`, named as the `convert_*` functions' keyword arguments.
_OUTPUT_OPTIONS = ("dtype", "max_shard_size", "overwrite", "repo_id", "model_name", "base_model")


def add_output_arguments(
    parser: argparse.ArgumentParser, output_help: str, sharded: bool = True, model_card: bool = True
) -> None:
    """Add the options every conversion script shares: `--output-dir`, `--dtype`, `--overwrite`, with `sharded` also
    `--max-shard-size`, and with `model_card` the card's `--repo-id`, `--model-name` and `--base-model`."""
    parser.add_argument("--output-dir", required=True, help=output_help)
    parser.add_argument(
        "--dtype",
        default="auto",
        choices=["auto", "bfloat16", "float16", "float32"],
        help="Weights dtype (auto: keep).",
    )
    if sharded:
        parser.add_argument("--max-shard-size", default="2GB", help="Largest safetensors file (default: %(default)s).")
    parser.add_argument("--overwrite", action="store_true", help="Write into a non-empty output folder.")
    if model_card:
        parser.add_argument(
            "--repo-id", default=None, help="Hub id used in the model card's snippet (default: the folder)."
        )
        parser.add_argument("--model-name", default=None, help="Title of the model card.")
        parser.add_argument("--base-model", default=None, help="Hub id of the original model, for the model card.")


def output_options(args: argparse.Namespace) -> dict:
    """The keyword arguments of a `convert_*` function from the parsed options of [`add_output_arguments`]
    (`--output-dir` excepted: it is passed by position)."""
    return {name: getattr(args, name) for name in _OUTPUT_OPTIONS if hasattr(args, name)}


__all__ = [
    "add_output_arguments",
    "build_processor",
    "chameleon_generation_config",
    "check_keys",
    "check_shape",
    "CheckpointKeysError",
    "embedding_special_token_ids",
    "expected_state_dict_shapes",
    "load_chameleon_tokenizer",
    "load_torch_checkpoint",
    "output_options",
    "PlannedTensor",
    "prepare_output_directory",
    "resolve_dtype",
    "save_converted_extras",
    "save_planned_safetensors",
    "warn_if_qk_norm_eps_differs",
    "write_converted_model",
]
