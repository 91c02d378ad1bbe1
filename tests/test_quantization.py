# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Weight-only int8 through transformers' `TorchAoConfig` (torchao on the CPU): the trained test model loads
quantized, keeps its logits, and `generate_images` (sequential and speculative), the pipelines and the CLI run on it."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import pipeline

from transformers_cm3leon import CM3LeonForCausalLM, CM3LeonProcessor
from transformers_cm3leon.quantization import weight_only_quantization_config

pytest.importorskip("torchao", reason="int8 weights need torchao (pip install torchao)")

MINI = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "cm3leon-mini")


@pytest.fixture(scope="module")
def models():
    full = CM3LeonForCausalLM.from_pretrained(MINI)
    int8 = CM3LeonForCausalLM.from_pretrained(MINI, quantization_config=weight_only_quantization_config())
    return full, int8, CM3LeonProcessor.from_pretrained(MINI)


def linear_weight_bytes(model) -> int:
    total = 0
    for module in model.model.layers.modules():  # the decoder's linears (the lm_head is tied to the embeddings)
        if isinstance(module, torch.nn.Linear):
            weight = module.weight
            data = getattr(weight, "qdata", None)
            total += data.numel() * data.element_size() if data is not None else weight.numel() * weight.element_size()
    return total


def test_int8_weights_take_a_quarter_of_the_memory_and_keep_the_logits(models):
    full, int8, processor = models
    assert type(int8.model.layers[0].self_attn.q_proj.weight).__name__ == "Int8Tensor"
    assert linear_weight_bytes(int8) * 4 == linear_weight_bytes(full)
    prompt = torch.tensor([processor.text_to_image_prompt("a red circle")])
    with torch.no_grad():
        reference, quantized = full(prompt).logits, int8(prompt).logits
    assert (quantized - reference).abs().max() < 0.05 * reference.abs().max()


def test_generate_images_runs_on_int8_weights_sequentially_and_speculatively(models):
    _, int8, processor = models
    prompt = torch.tensor([processor.text_to_image_prompt(text) for text in ("a red circle", "a blue square")])
    sequential = int8.generate_images(prompt, do_sample=False, guidance_scale=3.0)
    speculative = int8.generate_images(prompt, do_sample=False, guidance_scale=3.0, parallel_decoding="jacobi")
    assert torch.equal(sequential.image_token_ids, speculative.image_token_ids)
    assert speculative.num_forward_passes <= sequential.num_forward_passes


def test_pipelines_load_int8_weights_through_model_kwargs():
    kwargs = {"model_kwargs": {"quantization_config": weight_only_quantization_config()}}
    text_to_image = pipeline("text-to-image", model=MINI, **kwargs)
    first = text_to_image("a red circle", generator=torch.Generator().manual_seed(0)).images[0]
    again = text_to_image("a red circle", generator=torch.Generator().manual_seed(0)).images[0]
    assert np.array_equal(np.asarray(first), np.asarray(again)) and first.size == (16, 16)
    editing = pipeline("image-editing", model=MINI, **kwargs)
    edited = editing("make it blue", Image.new("RGB", (16, 16), (200, 20, 20)), generator=torch.Generator())
    assert edited.images[0].size == (16, 16)


def test_the_cli_quantizes_on_request_and_says_what_is_missing(tmp_path, monkeypatch, capsys):
    from cm3leon_cli import main

    output = tmp_path / "int8.png"
    assert main(["generate", "a red circle", "--model", MINI, "--quantization", "int8", "-o", str(output)]) == 0
    assert Image.open(output).size == (16, 16)
    monkeypatch.setitem(sys.modules, "torchao.quantization", None)  # as if torchao were not installed
    assert main(["generate", "a red circle", "--model", MINI, "--quantization", "int8", "-o", str(output)]) == 2
    assert "pip install torchao" in capsys.readouterr().err
    with pytest.raises(ValueError, match="`quantization` must be one of \\['int8'\\], got 'int4'"):
        weight_only_quantization_config("int4")
