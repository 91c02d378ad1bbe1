# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Reading a taming-transformers VQGAN (`VQModel` checkpoint + `model.yaml`, e.g. Chameleon's `tokenizer/vqgan.*`)
into a [`CM3LeonVQModel`]: the config renaming, the key check and the weights."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

import torch

from .configuration_cm3leon import CM3LeonVQConfig
from .conversion_utils import _MAX_LISTED_KEYS, check_keys, check_shape, load_torch_checkpoint
from .modeling_cm3leon_vq import CM3LeonVQModel
from .validation import read_mapping_file

# taming's `ddconfig` names -> CM3LeonVQConfig names (the same renaming transformers' Chameleon converter does).
TAMING_DDCONFIG_NAMES = {
    "ch": "base_channels",
    "out_ch": "out_channels",
    "ch_mult": "channel_multiplier",
    "z_channels": "latent_channels",
    "double_z": "double_latent",
    "in_channels": "in_channels",
    "resolution": "resolution",
    "num_res_blocks": "num_res_blocks",
    "attn_resolutions": "attn_resolutions",
    "dropout": "dropout",
}
TAMING_PARAMS_NAMES = {"embed_dim": "embed_dim", "n_embed": "num_embeddings"}
# `VQModel` arguments that only matter for training or file handling.
_TAMING_TRAINING_PARAMS = {
    "lossconfig",
    "ckpt_path",
    "ignore_keys",
    "image_key",
    "colorize_nlabels",
    "monitor",
    "scheduler_config",
    "lr_g_factor",
    "sane_index_shape",
    "legacy",
}
# ddconfig options taming accepts that CM3LeonVQModel implements only at their default value.
_TAMING_DDCONFIG_DEFAULTS = {
    "attn_type": "vanilla",
    "use_linear_attn": False,
    "resamp_with_conv": True,
    "give_pre_end": False,
    "tanh_out": False,
}
# Keys of a taming checkpoint that belong to the training loss (LPIPS network and discriminator).
TAMING_LOSS_KEY_PATTERN = r"loss\..*"


def read_yaml(path: str | os.PathLike, name: str = "config") -> dict:
    return read_mapping_file(path, name)


def vq_config_from_taming(config: Mapping | str | os.PathLike) -> CM3LeonVQConfig:
    """Build a [`CM3LeonVQConfig`] from a taming-transformers `VQModel` configuration.

    Args:
        config: A `model.yaml` path, its parsed content (`{"model": {"target": ..., "params": {...}}}`), or the
            `params` mapping itself (`embed_dim`, `n_embed`, `ddconfig`, ...).

    Raises:
        ValueError: for a model other than a plain `VQModel` (e.g. `GumbelVQ`), index remapping, options of the
            encoder/decoder that CM3LeonVQModel does not implement, or unknown keys.
    """
    source = "the taming configuration"
    if not isinstance(config, Mapping):
        source = str(config)
        config = read_yaml(config)
    model = config.get("model", config)
    target = model.get("target")
    if target is not None and not str(target).endswith(".VQModel"):
        raise ValueError(
            f"{source}: only taming's plain `VQModel` (nearest-neighbour quantizer) can be converted, got target "
            f"{target!r}."
        )
    params = dict(model.get("params", model))
    for key in ("ddconfig", "embed_dim", "n_embed"):
        if key not in params:
            raise ValueError(f"{source}: `model.params.{key}` is missing; found keys {sorted(params)}.")
    if params.get("remap") is not None:
        raise ValueError(
            f"{source}: `remap` (a reduced codebook index file) is not supported; the codes must be the codebook rows."
        )
    unknown = sorted(set(params) - {"ddconfig", "remap", *TAMING_PARAMS_NAMES, *_TAMING_TRAINING_PARAMS})
    if unknown:
        raise ValueError(
            f"{source}: unknown `model.params` keys {unknown}; cannot tell whether they change the model."
        )

    ddconfig = dict(params["ddconfig"])
    for key, default in _TAMING_DDCONFIG_DEFAULTS.items():
        value = ddconfig.pop(key, default)
        if value != default:
            raise ValueError(
                f"{source}: `ddconfig.{key}={value!r}` is not supported; CM3LeonVQModel needs {default!r}."
            )
    unknown = sorted(set(ddconfig) - set(TAMING_DDCONFIG_NAMES))
    if unknown:
        raise ValueError(
            f"{source}: unknown `ddconfig` keys {unknown}; known keys are {sorted(TAMING_DDCONFIG_NAMES)}."
        )
    kwargs = {TAMING_DDCONFIG_NAMES[key]: value for key, value in ddconfig.items()}
    kwargs.update({TAMING_PARAMS_NAMES[key]: params[key] for key in TAMING_PARAMS_NAMES})
    if "attn_resolutions" in kwargs:
        kwargs["attn_resolutions"] = list(kwargs["attn_resolutions"] or [])
    return CM3LeonVQConfig(**kwargs)


def taming_state_dict(checkpoint: Mapping, source: str = "the checkpoint") -> dict[str, torch.Tensor]:
    """The VQ model's weights from a taming / Lightning checkpoint: `checkpoint["state_dict"]` (or the mapping itself
    when it holds tensors only), without the training loss's `loss.*` weights."""
    state_dict = checkpoint.get("state_dict", checkpoint)
    if not isinstance(state_dict, Mapping):
        raise ValueError(f"{source}: `state_dict` must be a mapping of tensors, got {type(state_dict).__name__}.")
    not_tensors = sorted(k for k, v in state_dict.items() if not isinstance(v, torch.Tensor))
    if not_tensors:
        raise ValueError(
            f"{source} has no `state_dict` entry and is not a plain mapping of tensors (non-tensor entries: "
            f"{not_tensors[:_MAX_LISTED_KEYS]})."
        )
    loss = re.compile(TAMING_LOSS_KEY_PATTERN)
    return {key: value for key, value in state_dict.items() if not loss.fullmatch(key)}


def load_vq_state_dict(model: CM3LeonVQModel, state_dict: Mapping[str, torch.Tensor], source: str) -> CM3LeonVQModel:
    """Load taming-named weights into `model`, raising a clear error on missing / unexpected keys or shapes."""
    expected = model.state_dict()
    check_keys(
        state_dict,
        expected,
        source,
        hint="Is this a taming-transformers VQModel checkpoint, and does the YAML describe it (ch, ch_mult, "
        "num_res_blocks, attn_resolutions)?",
    )
    for name, tensor in state_dict.items():
        check_shape(name, tensor, tuple(expected[name].shape), source)
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state_dict.items()}, strict=True)
    return model


def load_taming_vqgan(
    checkpoint_path: str | os.PathLike,
    config: CM3LeonVQConfig | Mapping | str | os.PathLike,
    dtype: torch.dtype | None = None,
) -> CM3LeonVQModel:
    """Build a [`CM3LeonVQModel`] (encoder, quantizer and decoder) from a taming-transformers `VQModel` checkpoint
    (`.ckpt`, weights under `state_dict`) and its `model.yaml` (or a ready [`CM3LeonVQConfig`]), e.g. Chameleon's
    `tokenizer/vqgan.ckpt` + `tokenizer/vqgan.yaml`. The training loss's `loss.*` weights are dropped; any other key
    mismatch is an error that lists the missing and unexpected keys.
    """
    checkpoint = load_torch_checkpoint(checkpoint_path)  # memory-mapped: cheap, and a bad path is reported first
    vq_config = config if isinstance(config, CM3LeonVQConfig) else vq_config_from_taming(config)
    state_dict = taming_state_dict(checkpoint, source=str(checkpoint_path))
    model = CM3LeonVQModel(vq_config)
    load_vq_state_dict(model, state_dict, source=str(checkpoint_path))
    if dtype is not None:
        model = model.to(dtype)
    return model.eval()


__all__ = ["load_taming_vqgan", "load_vq_state_dict", "taming_state_dict", "vq_config_from_taming"]
