# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Weight-only int8 through transformers' own quantization config for torchao (`TorchAoConfig`), which runs on the
CPU with the pinned torch: the linear layers' weights are stored as int8 with one scale per output channel, and
`generate_images` and the pipelines run on the quantized model unchanged.

    from transformers import TorchAoConfig, pipeline
    from torchao.quantization import Int8WeightOnlyConfig

    pipe = pipeline("text-to-image", model=folder, model_kwargs={"quantization_config": TorchAoConfig(Int8WeightOnlyConfig())})

`cm3leon generate --quantization int8` does the same.
"""

from __future__ import annotations

QUANTIZATION_CHOICES = ("int8",)


def weight_only_quantization_config(kind: str = "int8", argument: str = "quantization"):
    """transformers' `TorchAoConfig` for weight-only `kind` quantization ("int8").

    Raises:
        ValueError: for another `kind`, naming `argument` (the option that asked for it).
        ImportError: if torchao is not installed, saying how to install it.
    """
    if kind not in QUANTIZATION_CHOICES:
        raise ValueError(f"`{argument}` must be one of {list(QUANTIZATION_CHOICES)}, got {kind!r}.")
    try:
        from torchao.quantization import Int8WeightOnlyConfig
    except ImportError:
        raise ImportError(
            f"`{argument}`={kind!r} quantizes the weights with torchao, which is not installed: "
            "`pip install torchao` (or `pip install transformers-cm3leon[quantization]`)."
        ) from None
    from transformers import TorchAoConfig

    return TorchAoConfig(Int8WeightOnlyConfig())


__all__ = ["QUANTIZATION_CHOICES", "weight_only_quantization_config"]
