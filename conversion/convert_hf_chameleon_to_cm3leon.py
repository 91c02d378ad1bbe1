# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Convert a checkpoint in transformers' Chameleon format (`facebook/chameleon-7b`, Anole ports, ...) into a
CM3Leon folder.

transformers' `ChameleonForConditionalGeneration` already uses half-split rotary q/k and per-head QK-norm of shape
`[num_heads, head_dim]`, with the same module names as `CM3LeonForCausalLM`: the language model's tensors are copied
as they are (streamed shard by shard). Its VQ model has **no decoder** (transformers' Chameleon does not generate
images), so:

- with `--vqgan-ckpt` (Meta's `tokenizer/vqgan.ckpt`, and optionally `--vqgan-yaml`), the full VQ model is taken from
  that checkpoint, after checking that its encoder equals the one in the transformers checkpoint; the folder then
  generates images, and its processor is saved with `sequence_format="chameleon"` (Chameleon's prompts: `<s>` first, images
  wrapped as `<racm3:break> image <eoss>`);
- without it, the folder holds the language model and the tokenizer only (no `image_tokenizer/`, no processor): it
  handles text, and the script and the model card say that it cannot turn images into tokens or tokens into images.

Usage:

    python conversion/convert_hf_chameleon_to_cm3leon.py --input facebook/chameleon-7b --output-dir chameleon-7b-cm3leon \
        --vqgan-ckpt chameleon-data/tokenizer/vqgan.ckpt --vqgan-yaml chameleon-data/tokenizer/vqgan.yaml
"""

from __future__ import annotations

import argparse
import json
import logging
from contextlib import ExitStack
from pathlib import Path

import torch
from safetensors import safe_open
from transformers import ChameleonConfig
from transformers.utils import SAFE_WEIGHTS_INDEX_NAME, SAFE_WEIGHTS_NAME

from transformers_cm3leon.configuration_cm3leon import CM3LeonConfig, CM3LeonVQConfig
from transformers_cm3leon.conversion_utils import (
    PlannedTensor,
    add_output_arguments,
    build_processor,
    check_keys,
    embedding_special_token_ids,
    expected_state_dict_shapes,
    load_chameleon_tokenizer,
    output_options,
    resolve_dtype,
    warn_if_qk_norm_eps_differs,
    write_converted_model,
)
from transformers_cm3leon.model_card import CHAMELEON_LICENSE
from transformers_cm3leon.modeling_cm3leon import CM3LeonForCausalLM
from transformers_cm3leon.taming_vqgan import load_taming_vqgan, vq_config_from_taming
from transformers_cm3leon.tokenization_cm3leon import IMAGE_TOKEN_PREFIX, image_token_code, special_token_ids

logger = logging.getLogger("convert_hf_chameleon_to_cm3leon")

VQ_PREFIX = "model.vqmodel."
NO_IMAGE_TOKENIZER_WARNING = (
    "No --vqgan-ckpt given: transformers' Chameleon checkpoints carry no VQ decoder, so the converted folder has NO "
    "image tokenizer. It reads and writes text only; it cannot encode input images nor decode generated image tokens. "
    "Convert again with --vqgan-ckpt tokenizer/vqgan.ckpt (from Meta's Chameleon download) to generate images."
)


def resolve_input(input_path: str) -> Path:
    """A local folder, or a Hub id downloaded (configs, tokenizer and safetensors only) to the Hugging Face cache."""
    path = Path(input_path)
    if path.is_dir():
        return path
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(input_path, allow_patterns=["*.json", "*.safetensors"]))


def open_safetensors(folder: Path, stack: ExitStack) -> dict[str, object]:
    """Map every tensor name of the checkpoint in `folder` to the open safetensors file that holds it."""
    index_path, single_path = folder / SAFE_WEIGHTS_INDEX_NAME, folder / SAFE_WEIGHTS_NAME
    if index_path.is_file():
        weight_map = json.loads(index_path.read_text(encoding="utf-8"))["weight_map"]
        filenames = sorted(set(weight_map.values()))
    elif single_path.is_file():
        filenames = [SAFE_WEIGHTS_NAME]
    else:
        raise FileNotFoundError(f"{folder} has no {SAFE_WEIGHTS_NAME} or {SAFE_WEIGHTS_INDEX_NAME}.")
    handles = {}
    for filename in filenames:
        handle = stack.enter_context(safe_open(str(folder / filename), framework="pt"))
        for name in handle.keys():
            handles[name] = handle
    return handles


def build_config(hf_config: ChameleonConfig, tokenizer, image_seq_length: int) -> CM3LeonConfig:
    head_dim = hf_config.hidden_size // hf_config.num_attention_heads
    warn_if_qk_norm_eps_differs(hf_config.rms_norm_eps)
    return CM3LeonConfig(
        **embedding_special_token_ids(tokenizer, hf_config.vocab_size),
        block_type="chameleon",
        hidden_act=hf_config.hidden_act,
        hidden_size=hf_config.hidden_size,
        intermediate_size=hf_config.intermediate_size,
        num_hidden_layers=hf_config.num_hidden_layers,
        num_attention_heads=hf_config.num_attention_heads,
        num_key_value_heads=hf_config.num_key_value_heads,
        head_dim=head_dim,
        max_position_embeddings=hf_config.max_position_embeddings,
        norm_eps=hf_config.rms_norm_eps,
        rope_parameters=dict(hf_config.rope_parameters or {"rope_type": "default", "rope_theta": 10000.0}),
        qk_norm=True,  # transformers' Chameleon always has QK-norm
        swin_norm=bool(hf_config.swin_norm),
        tie_word_embeddings=bool(hf_config.tie_word_embeddings),
        initializer_range=hf_config.initializer_range,
        image_seq_length=image_seq_length,
    )


def check_vocabulary_map(hf_config: ChameleonConfig, tokenizer) -> None:
    """The config's `vocabulary_map` (what transformers' Chameleon uses) must give the same image-token ids."""
    if not hf_config.vocabulary_map:
        return
    layout = special_token_ids(tokenizer)
    for name, token_id in hf_config.vocabulary_map.items():
        if name.startswith(IMAGE_TOKEN_PREFIX):
            expected = layout["image_token_offset"] + image_token_code(name)
            if token_id != expected:
                raise ValueError(
                    f"config.json's vocabulary_map gives {name!r} the id {token_id}, but tokenizer.json gives "
                    f"{expected}; the tokenizer does not belong to this checkpoint."
                )


def vq_config_from_hf(hf_config: ChameleonConfig) -> CM3LeonVQConfig:
    vq = hf_config.vq_config
    if getattr(vq, "attn_type", "vanilla") != "vanilla":
        raise ValueError(f"vq_config.attn_type={vq.attn_type!r} is not supported; CM3LeonVQModel needs 'vanilla'.")
    return CM3LeonVQConfig(
        embed_dim=vq.embed_dim,
        num_embeddings=vq.num_embeddings,
        latent_channels=vq.latent_channels,
        resolution=vq.resolution,
        in_channels=vq.in_channels,
        base_channels=vq.base_channels,
        channel_multiplier=list(vq.channel_multiplier),
        num_res_blocks=vq.num_res_blocks,
        attn_resolutions=list(vq.attn_resolutions or []),
        dropout=vq.dropout,
        double_latent=vq.double_latent,
    )


def check_vq_encoder(vq_model, handles: dict, checkpoint: str) -> None:
    """The VQ checkpoint must hold the encoder the language model was trained with: every `model.vqmodel.*` tensor
    of the transformers checkpoint must equal the VQ checkpoint's (after casting to the transformers dtype)."""
    ours = vq_model.state_dict()
    missing, different = [], []
    for name, handle in handles.items():
        if not name.startswith(VQ_PREFIX):
            continue
        key = name[len(VQ_PREFIX) :]
        if key not in ours:
            missing.append(key)
            continue
        theirs = handle.get_tensor(name)
        if theirs.shape != ours[key].shape or not torch.equal(ours[key].to(theirs.dtype), theirs):
            different.append(key)
    if missing or different:
        raise ValueError(
            f"The VQ checkpoint {checkpoint} does not match the image encoder of the transformers checkpoint: "
            f"{len(different)} tensor(s) differ ({different[:10]}) and {len(missing)} are absent ({missing[:10]}). "
            "Use the vqgan.ckpt of the same release."
        )


def plan_language_model(handles: dict, config: CM3LeonConfig, dtype: torch.dtype | None, source: str) -> dict:
    """Copy every language-model tensor under the same name; expand a QK-norm of shape `[head_dim]` (older
    exports) to `[num_heads, head_dim]`."""
    expected = expected_state_dict_shapes(CM3LeonForCausalLM, config)
    if config.tie_word_embeddings:
        expected.pop("lm_head.weight", None)
    names = [name for name in handles if not name.startswith(VQ_PREFIX)]
    check_keys(names, expected, source, hint="Is this a transformers ChameleonForConditionalGeneration checkpoint?")

    plan = {}
    for name in names:
        handle, shape = handles[name], tuple(expected[name])
        # Every shape is checked from the safetensors headers before the first byte is written.
        stored = tuple(handle.get_slice(name).get_shape())
        if stored != shape and not (len(stored) == 1 and len(shape) == 2 and stored[0] == shape[1]):
            raise ValueError(
                f"{source}: tensor {name!r} has shape {list(stored)}, but the converted config needs {list(shape)}."
            )

        def produce(handle=handle, name=name, shape=shape):
            tensor = handle.get_tensor(name)
            if tensor.dim() == 1 and len(shape) == 2 and tensor.shape[0] == shape[1]:
                tensor = tensor.expand(shape)
            return tensor

        tensor_dtype = dtype or handle.get_slice(name).get_dtype()
        plan[name] = PlannedTensor(shape=shape, dtype=_torch_dtype(tensor_dtype), produce=produce, source=source)
    return plan


def _torch_dtype(dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    names = {"BF16": torch.bfloat16, "F16": torch.float16, "F32": torch.float32, "F64": torch.float64}
    if dtype not in names:
        raise ValueError(f"Unsupported tensor dtype {dtype!r} in the checkpoint.")
    return names[dtype]


def convert_hf_chameleon(
    input_path: str | Path,
    output_dir: str | Path,
    vqgan_ckpt: str | Path | None = None,
    vqgan_yaml: str | Path | None = None,
    dtype: str | torch.dtype | None = None,
    max_shard_size: int | str = "2GB",
    overwrite: bool = False,
    repo_id: str | None = None,
    model_name: str | None = None,
    base_model: str | None = None,
) -> Path:
    """Convert a transformers Chameleon folder or Hub repo into a CM3Leon folder (see the module docstring)."""
    if vqgan_yaml is not None and vqgan_ckpt is None:
        raise ValueError("`vqgan_yaml` was given without `vqgan_ckpt`; the YAML alone holds no weights.")
    folder = resolve_input(str(input_path))
    hf_config = ChameleonConfig.from_pretrained(folder)
    if hf_config.model_type != "chameleon":
        raise ValueError(f"{folder} holds a {hf_config.model_type!r} model, not a transformers Chameleon checkpoint.")
    tokenizer = load_chameleon_tokenizer(folder / "tokenizer.json", model_max_length=hf_config.max_position_embeddings)
    check_vocabulary_map(hf_config, tokenizer)

    with ExitStack() as stack:
        handles = open_safetensors(folder, stack)
        processor = None
        if vqgan_ckpt is not None:
            vq_config = vq_config_from_taming(vqgan_yaml) if vqgan_yaml is not None else vq_config_from_hf(hf_config)
            vq_model = load_taming_vqgan(vqgan_ckpt, vq_config)
            check_vq_encoder(vq_model, handles, str(vqgan_ckpt))
            processor = build_processor(tokenizer, vq_model, sequence_format="chameleon")
            image_seq_length = vq_model.config.grid_size**2
        else:
            logger.warning(NO_IMAGE_TOKENIZER_WARNING)
            image_seq_length = vq_config_from_hf(hf_config).grid_size ** 2
        config = build_config(hf_config, tokenizer, image_seq_length)
        plan = plan_language_model(handles, config, resolve_dtype(dtype), source=str(folder))
        config.dtype = next(iter(plan.values())).dtype

        is_hub_id = not Path(str(input_path)).is_dir()
        output_dir = write_converted_model(
            output_dir,
            plan,
            config,
            tokenizer,
            processor,
            overwrite=overwrite,
            max_shard_size=max_shard_size,
            repo_id=repo_id,
            model_name=model_name or f"{Path(str(input_path)).name} (CM3Leon format)",
            source=f"the transformers Chameleon checkpoint `{input_path}`"
            + ("" if vqgan_ckpt is not None else ", without an image tokenizer"),
            base_model=base_model or (str(input_path) if is_hub_id else None),
            **CHAMELEON_LICENSE,
        )
    if processor is None:
        logger.warning(NO_IMAGE_TOKENIZER_WARNING)
    logger.info(f"Done: {output_dir}")
    return output_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", required=True, help="A transformers Chameleon folder or Hub id.")
    add_output_arguments(parser, "Folder to write the CM3Leon model into.")
    parser.add_argument(
        "--vqgan-ckpt", default=None, help="Meta's tokenizer/vqgan.ckpt: the VQ model with its decoder."
    )
    parser.add_argument(
        "--vqgan-yaml", default=None, help="Meta's tokenizer/vqgan.yaml (default: the config's vq_config)."
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    convert_hf_chameleon(
        args.input, args.output_dir, vqgan_ckpt=args.vqgan_ckpt, vqgan_yaml=args.vqgan_yaml, **output_options(args)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
