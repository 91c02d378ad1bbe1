# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Bad input, across the public surface: pipelines, generation, processor, tokenizer, retriever, data, training
arguments, the command line and the converters.

Every case is refused with a `ValueError` / `TypeError` / `FileNotFoundError` whose message names the argument, the
value and what is allowed (each case lists the strings its message must hold). Cases that have a defined meaning
instead (an empty mask, typed control-token text) are tested for that meaning at the end. No case may crash inside
torch, PIL, pyarrow or faiss, hang, or be silently ignored.
"""

from __future__ import annotations

import math
import os
import types

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import pipeline

from transformers_cm3leon import CM3LeonConfig, CM3LeonProcessor
from transformers_cm3leon.data import DataCollatorForCM3, DocumentEncoder, DocumentPacker, SFTExampleBuilder
from transformers_cm3leon.data.cm3_masking import CM3Masking
from transformers_cm3leon.generation import CM3LeonImageGenerationConfig, set_image_generation_defaults
from transformers_cm3leon.testing_utils import get_tiny_cm3leon
from transformers_cm3leon.training.arguments import load_yaml_config

torch.set_num_threads(1)
REFUSED = (ValueError, TypeError, OSError)  # OSError: a missing or unreadable file


@pytest.fixture(scope="module")
def ctx(model_folder, tmp_path_factory):
    """The objects every case works on: tiny pipelines, model, processor, tokenizer and a writable folder."""
    model, processor = get_tiny_cm3leon(seed=0)
    tasks = {
        "t2i": "text-to-image",
        "edit": "image-editing",
        "inpaint": "image-inpainting",
        "i2t": "image-text-to-text",
        "interleaved": "image-text-to-image-text",
    }
    pipes = {name: pipeline(task, model=model_folder, device="cpu") for name, task in tasks.items()}
    for pipe in pipes.values():
        if hasattr(pipe, "set_progress_bar_config"):
            pipe.set_progress_bar_config(disable=True)
    size = processor.image_processor.size["height"] if isinstance(processor.image_processor.size, dict) else 16
    return types.SimpleNamespace(
        **pipes,
        model=model,
        processor=processor,
        tokenizer=processor.tokenizer,
        config=model.config,
        image=Image.new("RGB", (size, size), (200, 30, 30)),
        mask=Image.new("L", (size, size), 255),
        folder=str(tmp_path_factory.mktemp("bad-inputs")),
        model_folder=model_folder,
    )


def refused(call, *needles, exc=REFUSED):
    """`call()` raises `exc` and its message holds every one of `needles`."""
    with pytest.raises(exc) as info:
        call()
    message = str(info.value)
    missing = [needle for needle in needles if needle not in message]
    assert not missing, f"the message {message!r} does not name {missing}"
    return message


class Lazy:
    """A case value built from the context (it needs the tiny model's ids)."""

    def __init__(self, build):
        self.build = build


def cases(prefix: str, call, values: dict) -> list:
    """`pytest.param`s calling `call(ctx, value)` for each `{id: (value, needles)}`."""
    return [
        pytest.param(
            lambda c, v=value: call(c, v.build(c) if isinstance(v, Lazy) else v), needles, id=f"{prefix}-{case_id}"
        )
        for case_id, (value, needles) in values.items()
    ]


def nan_image():
    return torch.full((3, 16, 16), float("nan"))


# -- values shared by the sampling knobs -------------------------------------------------------------------------
NOT_NUMBERS = {"text": ("3", ["'3'"]), "list": ([3.0], ["[3.0]"]), "bool": (True, ["True"]), "complex": (1j, ["1j"])}
NOT_FINITE = {"nan": (float("nan"), ["nan"]), "inf": (math.inf, ["inf"]), "-inf": (-math.inf, ["-inf"])}
GUIDANCE = {
    **NOT_NUMBERS,
    **NOT_FINITE,
    "negative": (-1.0, ["-1.0"]),
    "huge": (1e308, ["1e+308"]),
    "tensor2": (torch.tensor([1.0, 2.0]), ["guidance_scale"]),
}
TEMPERATURE = {**NOT_NUMBERS, **NOT_FINITE, "zero": (0.0, ["0.0"]), "negative": (-0.5, ["-0.5"])}
TOP_K = {
    "float": (2.5, ["2.5"]),
    "text": ("8", ["'8'"]),
    "zero": (0, ["0"]),
    "negative": (-3, ["-3"]),
    "bool": (True, ["True"]),
}
TOP_P = {**NOT_NUMBERS, "nan": (float("nan"), ["nan"]), "zero": (0.0, ["0.0"]), "above1": (1.5, ["1.5"])}
COUNTS = {
    "zero": (0, ["0"]),
    "negative": (-2, ["-2"]),
    "float": (1.5, ["1.5"]),
    "text": ("2", ["'2'"]),
    "bool": (True, ["True"]),
    "million": (10**6, ["1000000"]),
}
PROMPTS = {
    "empty": ("", ["prompt"]),
    "blank": ("   ", ["prompt"]),
    "none": (None, ["None"]),
    "int": (3, ["3"]),
    "bytes": (b"a cat", ["b'a cat'"]),
    "empty-list": ([], ["[]"]),
    "empty-in-list": (["a cat", ""], ["prompt"]),
    "int-in-list": (["a cat", 7], ["7"]),
    "nested": ([["a cat"]], ["prompt"]),
    "surrogate": ("a \ud800 cat", ["prompt"]),
}
OUTPUT_TYPES = {"jpg": ("jpg", ["'jpg'", "pil"]), "int": (3, ["3"]), "none-text": ("None", ["'None'"])}


def _named(name, values):
    """Add the argument's name to every case's needles."""
    return {key: (value, [name, *needles]) for key, (value, needles) in values.items()}


def t2i(c, **kwargs):
    kwargs.setdefault("generator", torch.Generator().manual_seed(0))
    return c.t2i(kwargs.pop("prompt", "a red square"), **kwargs)


PIPELINE_CASES = [
    *cases("t2i-prompt", lambda c, v: t2i(c, prompt=v), _named("prompt", PROMPTS)),
    *cases(
        "t2i-negative",
        lambda c, v: t2i(c, negative_prompt=v),
        _named(
            "negative_prompt",
            {
                "int": (3, ["3"]),
                "count": (["a", "b"], ["2"]),
                "bytes": (b"x", ["b'x'"]),
            },
        ),
    ),
    *cases("t2i-guidance", lambda c, v: t2i(c, guidance_scale=v), _named("guidance_scale", GUIDANCE)),
    *cases("t2i-temperature", lambda c, v: t2i(c, temperature=v), _named("temperature", TEMPERATURE)),
    *cases("t2i-top_k", lambda c, v: t2i(c, top_k=v), _named("top_k", TOP_K)),
    *cases("t2i-top_p", lambda c, v: t2i(c, top_p=v), _named("top_p", TOP_P)),
    *cases("t2i-num_images", lambda c, v: t2i(c, num_images_per_prompt=v), _named("num_images_per_prompt", COUNTS)),
    *cases("t2i-output_type", lambda c, v: t2i(c, output_type=v), _named("output_type", OUTPUT_TYPES)),
    *cases(
        "t2i-decoding",
        lambda c, v: t2i(c, decoding_strategy=v),
        _named(
            "decoding_strategy",
            {
                "beam": ("beam", ["'beam'", "cd-k"]),
                "int": (1, ["1"]),
            },
        ),
    ),
    *cases(
        "t2i-parallel",
        lambda c, v: t2i(c, parallel_decoding=v),
        _named(
            "parallel_decoding",
            {
                "bogus": ("medusa", ["'medusa'", "jacobi"]),
                "bool": (True, ["True"]),
            },
        ),
    ),
    *cases(
        "t2i-size",
        lambda c, v: t2i(c, height=v),
        _named(
            "height",
            {
                "other": (32, ["32", "16"]),
                "negative": (-16, ["-16"]),
                "text": ("16", ["'16'"]),
            },
        ),
    ),
    *cases("t2i-width", lambda c, v: t2i(c, width=v), _named("width", {"other": (64, ["64", "16"])})),
    *cases(
        "t2i-generator",
        lambda c, v: t2i(c, generator=v),
        _named(
            "generator",
            {
                "int": (3, ["3"]),
                "count": ([torch.Generator(), torch.Generator()], ["2"]),
                "text": ("seed", ["'seed'"]),
            },
        ),
    ),
    *cases(
        "t2i-callback",
        lambda c, v: t2i(c, callback_on_step_end=v),
        _named(
            "callback_on_step_end",
            {
                "int": (3, ["3"]),
                "text": ("print", ["'print'"]),
            },
        ),
    ),
    *cases("t2i-return_dict", lambda c, v: t2i(c, return_dict=v), _named("return_dict", {"text": ("yes", ["'yes'"])})),
    *cases(
        "t2i-unknown",
        lambda c, v: t2i(c, **{v: 1}),
        {
            "num_inference_steps": ("num_inference_steps", ["num_inference_steps"]),
            "guidance": ("guidance", ["guidance"]),
            "eta": ("eta", ["eta"]),
        },
    ),
    *cases(
        "t2i-draft",
        lambda c, v: t2i(c, parallel_decoding="jacobi", draft_length=v),
        _named(
            "draft_length",
            {
                "zero": (0, ["0"]),
                "negative": (-4, ["-4"]),
                "float": (2.5, ["2.5"]),
            },
        ),
    ),
    # editing
    *cases(
        "edit-prompt",
        lambda c, v: c.edit(v, c.image),
        _named("prompt", {k: PROMPTS[k] for k in ("empty", "blank", "none", "int", "empty-list", "int-in-list")}),
    ),
    *cases(
        "edit-image",
        lambda c, v: c.edit("make it blue", v),
        _named(
            "image",
            {
                "none": (None, ["None"]),
                "nan": (nan_image(), ["NaN"]),
                "zero-size": (Image.new("RGB", (0, 5)), ["0x5"]),
                "missing-path": ("/nonexistent/cat.png", ["/nonexistent/cat.png"]),
                "int": (3, ["3"]),
                "range": (torch.full((3, 16, 16), 300.0), ["300"]),
                "rank": (torch.zeros(16), ["shape"]),
                "count": ([Image.new("RGB", (16, 16))] * 3, ["3"]),
            },
        ),
    ),
    *cases(
        "edit-guidance",
        lambda c, v: c.edit("make it blue", c.image, guidance_scale=v),
        _named("guidance_scale", {k: GUIDANCE[k] for k in ("nan", "inf", "text", "negative")}),
    ),
    *cases(
        "edit-image-guidance",
        lambda c, v: c.edit("blue", c.image, image_guidance_scale=v),
        _named("image_guidance_scale", {k: GUIDANCE[k] for k in ("nan", "inf", "text", "negative", "bool")}),
    ),
    *cases(
        "edit-num_images",
        lambda c, v: c.edit("blue", c.image, num_images_per_prompt=v),
        _named("num_images_per_prompt", {k: COUNTS[k] for k in ("zero", "float", "million")}),
    ),
    *cases("edit-unknown", lambda c, v: c.edit("blue", c.image, **{v: 1}), {"strength": ("strength", ["strength"])}),
    # inpainting
    *cases(
        "inpaint-mask",
        lambda c, v: c.inpaint("a red square", image=c.image, mask_image=v),
        _named(
            "mask_image",
            {
                "none": (None, ["required"]),
                "size": (Image.new("L", (8, 8), 255), ["8x8", "16x16"]),
                "nan": (torch.full((16, 16), float("nan")), ["NaN"]),
                "int": (7, ["7"]),
                "count": ([Image.new("L", (16, 16))] * 3, ["3"]),
            },
        ),
    ),
    *cases(
        "inpaint-image",
        lambda c, v: c.inpaint("a red square", image=v, mask_image=c.mask),
        _named(
            "image",
            {
                "none": (None, ["required"]),
                "nan": (nan_image(), ["NaN"]),
                "zero-size": (Image.new("RGB", (5, 0)), ["5x0"]),
                "missing-path": ("/nonexistent/dog.png", ["/nonexistent/dog.png"]),
            },
        ),
    ),
    *cases(
        "inpaint-prompt",
        lambda c, v: c.inpaint(v, image=c.image, mask_image=c.mask),
        _named("prompt", {k: PROMPTS[k] for k in ("empty", "int", "empty-list")}),
    ),
    # captioning / VQA through image-text-to-text
    *cases(
        "i2t-images",
        lambda c, v: c.i2t(images=v, text="<image>A photo of"),
        {
            # transformers' own image-text-to-text pipeline loads the images: its message (it lists what is allowed)
            "nan": (nan_image(), ["image", "PIL image"]),
            "zero-size": (Image.new("RGB", (0, 0)), ["images", "0x0"]),
            "int": (5, ["image", "PIL image"]),
        },
    ),
    # interleaved
    *cases(
        "interleaved-input",
        lambda c, v: c.interleaved(v),
        {
            "int": (3, ["3"]),
            "empty": ([], ["[]"]),
            "none-segment": (["a cat", None], ["None"]),
        },
    ),
    pytest.param(lambda c: c.interleaved("<image> a cat", images=[nan_image()]), ["NaN"], id="interleaved-nan-image"),
    *cases(
        "interleaved-max_new_tokens",
        lambda c, v: c.interleaved("a cat", max_new_tokens=v),
        _named(
            "max_new_tokens",
            {
                "negative": (-1, ["-1"]),
                "float": (1.5, ["1.5"]),
            },
        ),
    ),
]


# -- generation API (the model's own methods) ------------------------------------------------------------------------
def generate_images(c, **kwargs):
    prompt = torch.tensor([c.processor.text_to_image_prompt("a red square")])
    return c.model.generate_images(prompt, **kwargs)


GENERATION_CASES = [
    *cases(
        "generate_images-guidance",
        lambda c, v: generate_images(c, guidance_scale=v),
        _named("guidance_scale", {k: GUIDANCE[k] for k in ("nan", "inf", "huge", "text")}),
    ),
    *cases(
        "generate_images-input_ids",
        lambda c, v: c.model.generate_images(input_ids=v),
        _named(
            "input_ids",
            {
                "negative": (torch.tensor([[-1, 5]]), ["-1"]),
                "oov": (torch.tensor([[5, 10**6]]), ["1000000"]),
                "float": (torch.tensor([[1.5, 2.0]]), ["float"]),
                "rank": (torch.tensor([5, 6]), ["shape", "(2,)"]),
                "empty": (torch.zeros((1, 0), dtype=torch.long), ["shape", "(1, 0)"]),
            },
        ),
    ),
    *cases(
        "generate_images-config",
        lambda c, v: CM3LeonImageGenerationConfig(**v).validate(),
        {
            "guidance": ({"guidance_scale": float("nan")}, ["guidance_scale", "nan"]),
            "temperature": ({"temperature": -1.0}, ["temperature", "-1.0"]),
            "top_p": ({"top_p": 2.0}, ["top_p", "2.0"]),
            "top_k": ({"top_k": -1}, ["top_k", "-1"]),
            "strategy": ({"decoding_strategy": "greedy-beam"}, ["decoding_strategy", "'greedy-beam'"]),
            "parallel": ({"parallel_decoding": "x"}, ["parallel_decoding", "'x'"]),
            "draft": ({"draft_length": 0}, ["draft_length", "0"]),
            "cdk": ({"decoding_strategy": "cd-k", "cd_top_k": 0}, ["cd_top_k", "0"]),
        },
    ),
    *cases(
        "generate_text-max_new_tokens",
        lambda c, v: c.model.generate_text(**c.processor(text="a cat", return_tensors="pt"), max_new_tokens=v),
        _named("max_new_tokens", {"negative": (-1, ["-1"]), "float": (2.5, ["2.5"])}),
    ),
]


# -- config ----------------------------------------------------------------------------------------------------------
CONFIG_CASES = cases(
    "config",
    lambda c, v: CM3LeonConfig(**v),
    {
        "hidden_size": ({"hidden_size": -8}, ["hidden_size", "-8"]),
        "heads": ({"hidden_size": 30, "num_attention_heads": 4}, ["num_attention_heads", "30"]),
        "kv-heads": ({"num_attention_heads": 4, "num_key_value_heads": 3}, ["num_key_value_heads", "3"]),
        "block_type": ({"block_type": "mamba"}, ["block_type", "'mamba'"]),
        "vocab": ({"vocab_size": 0}, ["vocab_size", "0"]),
        "image-range": ({"vocab_size": 9000, "image_vocab_size": 9000}, ["image tokens", "9000"]),
        "eos": ({"vocab_size": 100, "image_vocab_size": 50, "eos_token_id": 500}, ["eos_token_id", "500"]),
        "layers": ({"num_hidden_layers": 0}, ["num_hidden_layers", "0"]),
        "norm_eps": ({"norm_eps": -1e-5}, ["norm_eps", "-1e-05"]),
        "initializer_range": ({"initializer_range": float("nan")}, ["initializer_range", "nan"]),
        "image_seq_length": ({"image_seq_length": 0}, ["image_seq_length", "0"]),
    },
)


# -- processor and tokenizer -----------------------------------------------------------------------------------------
PROCESSOR_CASES = [
    *cases(
        "processor-text",
        lambda c, v: c.processor(text=v),
        _named(
            "text",
            {
                "int": (3, ["3"]),
                "none-in-list": (["a", None], ["None"]),
                "bytes": (b"abc", ["b'abc'"]),
            },
        ),
    ),
    *cases(
        "processor-images",
        lambda c, v: c.processor(text="<image> a cat", images=v),
        _named(
            "images",
            {
                "nan": (nan_image(), ["NaN"]),
                "zero-size": (Image.new("RGB", (0, 3)), ["0x3"]),
                "int": (3, ["3"]),
                "count": ([Image.new("RGB", (16, 16))] * 2, ["2", "<image>"]),
                "range": (torch.full((3, 16, 16), -5.0), ["-5"]),
                "rank5": (torch.zeros((1, 1, 3, 16, 16)), ["shape"]),
                "missing-path": ("/nonexistent/x.png", ["/nonexistent/x.png"]),
            },
        ),
    ),
    *cases(
        "processor-placeholders",
        lambda c, v: c.processor(text=v, images=[c.image]),
        {
            "none": ("a cat", ["<image>", "1"]),
            "two": ("<image><image> a cat", ["<image>", "2"]),
        },
    ),
    *cases(
        "processor-return_tensors",
        lambda c, v: c.processor(text="a", return_tensors=v),
        _named("return_tensors", {"tf": ("tf", ["'tf'"]), "jax": ("jax", ["'jax'"])}),
    ),
    *cases(
        "processor-sequence_format",
        lambda c, v: CM3LeonProcessor(c.processor.image_processor, c.tokenizer, sequence_format=v),
        _named("sequence_format", {"bogus": ("emu3", ["'emu3'", "cm3leon"]), "int": (1, ["1"])}),
    ),
    *cases(
        "processor-allow_control_tokens",
        lambda c, v: c.processor(text="a", allow_control_tokens=v),
        _named("allow_control_tokens", {"text": ("yes", ["'yes'"]), "int": (2, ["2"])}),
    ),
    *cases(
        "processor-decode_segments",
        lambda c, v: c.processor.decode_segments(v),
        {
            "negative": ([5, -1], ["-1"]),
            "oov": ([5, 10**7], ["10000000"]),
            "partial-image": (Lazy(lambda c: [c.config.image_token_offset] * 3), ["image_seq_length", "3"]),
            "float": ([1.5], ["1.5"]),
            "text": ("abc", ["'abc'"]),
            "2d": ([[4, 5], [6, 7]], ["sequence of integer", "[[4, 5], [6, 7]]"]),
        },
    ),
    *cases(
        "processor-text_to_image_prompt",
        lambda c, v: c.processor.text_to_image_prompt(v),
        _named("prompt", {k: PROMPTS[k] for k in ("empty", "none", "int", "blank")}),
    ),
    *cases(
        "processor-captioning_prompt",
        lambda c, v: c.processor.captioning_prompt(v),
        _named(
            "image",
            {
                "nan": (nan_image(), ["NaN"]),
                "none": (None, ["None"]),
            },
        ),
    ),
    *cases(
        "processor-vqa_prompt",
        lambda c, v: c.processor.vqa_prompt(c.image, v),
        _named(
            "question",
            {
                "none": (None, ["None"]),
                "empty": ("", ["question"]),
                "int": (5, ["5"]),
            },
        ),
    ),
    *cases(
        "processor-pad",
        lambda c, v: c.processor.pad([[5, 6], [7]], **v),
        {
            "side": ({"padding_side": "middle"}, ["padding_side", "'middle'"]),
            "padding": ({"padding": "sometimes"}, ["padding", "'sometimes'"]),
            "max_length": ({"padding": "max_length", "max_length": -3}, ["max_length", "-3"]),
            "truncation": ({"padding": "max_length", "max_length": 1}, ["max_length", "1", "2"]),
        },
    ),
    *cases(
        "processor-encode_documents",
        lambda c, v: c.processor.encode_documents(v),
        {
            "int-doc": ([3], ["3"]),
            "int-segment": ([["a cat", 3.5]], ["3.5"]),
            "image-ids-length": (Lazy(lambda c: [["a cat", [c.config.image_token_offset] * 5]]), ["5", "image"]),
            "image-ids-range": (
                Lazy(lambda c: [["a cat", [1] * c.processor.image_seq_length]]),
                ["1", "image-token range"],
            ),
            "none": (None, ["None"]),
        },
    ),
    *cases(
        "processor-apply_chat_template",
        lambda c, v: c.processor.apply_chat_template(v),
        {
            "role": ([{"role": "wizard", "content": "hi"}], ["role", "'wizard'"]),
            "not-list": ("hello", ["'hello'"]),
            "no-content": ([{"role": "user"}], ["content"]),
        },
    ),
    *cases(
        "tokenizer-decode",
        lambda c, v: c.tokenizer.decode(v),
        {
            "negative": ([-1], ["-1"]),
            "oov": ([10**9], ["1000000000"]),
            "float": ([1.5], ["1.5"]),
            "text": (["a"], ["'a'"]),
            "nested": ([[1, [2]]], ["[2]"]),
        },
    ),
    *cases(
        "tokenizer-convert_ids_to_tokens",
        lambda c, v: c.tokenizer.convert_ids_to_tokens(v),
        {
            "negative": (-5, ["-5"]),
            "oov": (10**8, ["100000000"]),
            "list": ([3, -2], ["-2"]),
        },
    ),
]


# -- data ----------------------------------------------------------------------------------------------------------
def collate(c, features, **kwargs):
    return DataCollatorForCM3(c.config, seed=0, **kwargs)(features)


DATA_CASES = [
    *cases(
        "collator-rows",
        lambda c, v: collate(c, v),
        {
            "oov": ([{"input_ids": [2, 5, 10**6]}], ["1000000", "[0, 300)"]),
            "negative": ([{"input_ids": [2, -7, 5]}], ["-7", "[0, 300)"]),
            "empty": ([{"input_ids": []}], ["empty", "Feature 0"]),
            "float": ([{"input_ids": [1.5, 2.5]}], ["input_ids", "float"]),
            "text": ([{"input_ids": "abc"}], ["input_ids"]),
            "2d": ([{"input_ids": [[1, 2], [3, 4]]}], ["1-D"]),
            "no-input_ids": ([{"ids": [1, 2]}], ["input_ids", "ids"]),
            "no-rows": ([], ["empty"]),
            "padded": ([{"input_ids": [2, 5], "attention_mask": [1, 0]}], ["attention_mask", "padded"]),
            "labels-length": ([{"input_ids": [2, 5, 6], "labels": [1]}], ["labels", "1", "3"]),
            "second-row": ([{"input_ids": [2, 5]}, {"input_ids": [2, -1]}], ["feature 1", "-1"]),
        },
    ),
    *cases(
        "collator-args",
        lambda c, v: DataCollatorForCM3(c.config, **v),
        {
            "pad": ({"pad_token_id": -1}, ["pad_token_id", "-1"]),
            "pad-oov": ({"pad_token_id": 10**6}, ["pad_token_id", "1000000"]),
            "max_length": ({"max_length": 0}, ["max_length", "0"]),
            "multiple": ({"pad_to_multiple_of": 2.5}, ["pad_to_multiple_of", "2.5"]),
            "seed": ({"seed": "abc"}, ["seed", "'abc'"]),
            "return_tensors": ({"return_tensors": "tf"}, ["return_tensors", "'tf'"]),
            "mode": ({"mode": "bert"}, ["mode", "'bert'"]),
            "poisson": ({"poisson_lambda": -1.0}, ["poisson_lambda", "-1.0"]),
            "poisson-nan": ({"poisson_lambda": float("nan")}, ["poisson_lambda", "nan"]),
            "vocab_size": ({"vocab_size": 0}, ["vocab_size", "0"]),
        },
    ),
    pytest.param(
        lambda c: collate(c, [{"input_ids": [2] * 40}], max_length=8), ["40", "max_length"], id="collator-long"
    ),
    *cases(
        "masking",
        lambda c, v: CM3Masking(c.config, **v),
        {
            "max_spans": ({"max_spans": 99}, ["max_spans", "99"]),
            "break": ({"break_token_id": -2}, ["break_token_id", "-2"]),
        },
    ),
    *cases(
        "packer",
        lambda c, v: DocumentPacker(**v),
        {
            "block_size": ({"block_size": 0}, ["block_size", "0"]),
            "mode": ({"block_size": 8, "mode": "shuffle"}, ["mode", "'shuffle'"]),
            "remainder": ({"block_size": 8, "remainder": "keep-some"}, ["remainder", "'keep-some'"]),
        },
    ),
    *cases(
        "encoder",
        lambda c, v: DocumentEncoder(**v),
        {
            "tokenizer": ({"tokenizer": None, "eos_token_id": 2, "break_token_id": 3}, ["tokenizer", "None"]),
            "loss_on": ({"tokenizer": len, "eos_token_id": 2, "break_token_id": 3, "loss_on": "input"}, ["loss_on"]),
            "eos": ({"tokenizer": len, "eos_token_id": -1, "break_token_id": 3}, ["eos_token_id", "-1"]),
            "image_seq_length": (
                {"tokenizer": len, "eos_token_id": 2, "break_token_id": 3, "image_seq_length": 0},
                ["image_seq_length", "0"],
            ),
        },
    ),
    *cases(
        "sft-image-ids",
        lambda c, v: SFTExampleBuilder("captioning", c.tokenizer, c.config)(v),
        {
            "length": (
                Lazy(lambda c: {"image": [[c.config.image_token_offset] * 3], "caption": ["a cat"]}),
                ["3", "exactly"],
            ),
            "range": (
                Lazy(lambda c: {"image": [[2] * c.config.image_seq_length], "caption": ["a cat"]}),
                ["2", "image token"],
            ),
            "above": (
                Lazy(lambda c: {"image": [[c.config.vocab_size] * c.config.image_seq_length], "caption": ["a cat"]}),
                ["image token"],
            ),
            "missing": ({"caption": ["a cat"]}, ["image"]),
        },
    ),
    *cases(
        "sft-args",
        lambda c, v: SFTExampleBuilder(**{"tokenizer": c.tokenizer, "config": c.config, **v}),
        {
            "template": ({"templates": "no_such_template"}, ["'no_such_template'"]),
            "loss_on": ({"templates": "captioning", "loss_on": "both"}, ["loss_on", "'both'"]),
            "max_length": ({"templates": "captioning", "max_length": -1}, ["max_length", "-1"]),
            "on_error": ({"templates": "captioning", "on_error": "ignore"}, ["on_error", "'ignore'"]),
        },
    ),
]


# -- training arguments and the training command -----------------------------------------------------------------
def write(c, name: str, content: str | bytes) -> str:
    path = os.path.join(c.folder, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(content if isinstance(content, bytes) else content.encode())
    return path


def pretrain_config(c, content):
    return load_yaml_config(write(c, "recipe.yaml", content))


def parse_recipe(c, content):
    from transformers import TrainingArguments

    from transformers_cm3leon.training.arguments import CM3Arguments, DataArguments, parse_recipe_arguments

    types_ = (DataArguments, CM3Arguments, TrainingArguments)
    return parse_recipe_arguments(types_, write(c, "recipe.yaml", content))


def pretraining_dataset(c, columns):
    from datasets import Dataset

    from transformers_cm3leon.training.arguments import CM3Arguments, DataArguments
    from transformers_cm3leon.training.pretrain import prepare_pretraining_dataset

    dataset = Dataset.from_dict(columns)
    return prepare_pretraining_dataset(dataset, c.processor, c.config, DataArguments(), CM3Arguments(block_size=16))


TRAINING_CASES = [
    *cases(
        "yaml",
        pretrain_config,
        {
            "syntax": ("max_steps: [1, 2\nfoo: : :\n", ["recipe.yaml", "not valid YAML", "line 2"]),
            "binary": (bytes(range(128, 256)), ["recipe.yaml", "UTF-8"]),
            "list": ("- a\n- b\n", ["recipe.yaml", "mapping", "list"]),
            "scalar": ("42\n", ["recipe.yaml", "mapping", "int"]),
            "keys": ("1: a\n", ["recipe.yaml", "[1]"]),
        },
    ),
    pytest.param(
        lambda c: load_yaml_config("/nonexistent/recipe.yaml"), ["/nonexistent/recipe.yaml"], id="yaml-missing"
    ),
    *cases(
        "recipe-values",
        parse_recipe,
        {
            "unknown": ("max_stepz: 3\n", ["max_stepz"]),
            "type": ("max_steps: abc\n", ["max_steps", "'abc'"]),
            "block": ("block_size: -4\n", ["block_size", "-4"]),
        },
    ),
    *cases(
        "pretraining-dataset",
        pretraining_dataset,
        {
            "no-image-column": ({"text": ["a cat", "a dog"]}, ["image_column", "'image'", "['text']"]),
            "no-text-column": ({"caption": ["a cat"], "image": [[4] * 16]}, ["text_column", "'text'"]),
        },
    ),
]


# -- retriever -------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def retriever():
    pytest.importorskip("faiss")
    from transformers_cm3leon.retrieval import CM3LeonRetriever, CM3LeonRetrieverConfig

    vectors = np.eye(4, dtype=np.float32)
    config = CM3LeonRetrieverConfig(encoder_name_or_path=None, embedding_dim=4)
    retriever = CM3LeonRetriever(config)
    retriever.add_documents(texts=[f"doc {i}" for i in range(4)], embeddings=vectors, show_progress=False)
    return retriever


QUERY = np.eye(4, dtype=np.float32)[:1]
RETRIEVER_CASES = [
    *cases(
        "retrieve-k",
        lambda r, v: r.retrieve(query_embeddings=QUERY, k=v),
        _named(
            "k",
            {
                "zero": (0, ["0"]),
                "negative": (-1, ["-1"]),
                "float": (1.5, ["1.5"]),
                "text": ("2", ["'2'"]),
                "bool": (True, ["True"]),
            },
        ),
    ),
    *cases(
        "retrieve-max_relevance",
        lambda r, v: r.retrieve(query_embeddings=QUERY, k=1, max_relevance=v),
        _named(
            "max_relevance", {"nan": (float("nan"), ["nan"]), "above": (2.0, ["2.0"]), "text": ("high", ["'high'"])}
        ),
    ),
    *cases(
        "retrieve-rule",
        lambda r, v: r.retrieve(query_embeddings=QUERY, k=1, **v),
        {
            "unknown": ({"temperature_of_doom": 1}, ["temperature_of_doom"]),
        },
    ),
    *cases(
        "retrieve-embeddings",
        lambda r, v: r.retrieve(query_embeddings=v, k=1),
        _named(
            "query_embeddings",
            {
                "dim": (np.ones((1, 7), dtype=np.float32), ["7", "4"]),
                "nan": (np.full((1, 4), np.nan, dtype=np.float32), ["finite"]),
                "rank": (np.ones((2, 2, 4), dtype=np.float32), ["(2, 2, 4)"]),
            },
        ),
    ),
    *cases(
        "retrieve-queries",
        lambda r, v: r.retrieve(**v, k=1),
        {
            "nothing": ({}, ["texts", "images", "query_embeddings"]),
            "no-encoder": ({"texts": ["a cat"]}, ["encoder"]),
        },
    ),
    *cases(
        "add_documents",
        lambda r, v: r.add_documents(show_progress=False, **v),
        {
            "lengths": ({"texts": ["a", "b"], "embeddings": np.eye(4, dtype=np.float32)[:3]}, ["2", "3"]),
            "dim": ({"texts": ["a"], "embeddings": np.ones((1, 5), dtype=np.float32)}, ["5", "4"]),
            "nan": (
                {"texts": ["a"], "embeddings": np.full((1, 4), np.nan, dtype=np.float32)},
                ["embeddings", "finite"],
            ),
            "text-type": ({"texts": [3], "embeddings": np.ones((1, 4), dtype=np.float32)}, ["texts", "3"]),
            "image-ids": (
                {"texts": ["a"], "embeddings": np.ones((1, 4), dtype=np.float32), "image_token_ids": [[-1, 2]]},
                ["image_token_ids", "-1"],
            ),
            "batch_size": (
                {"texts": ["a"], "embeddings": np.ones((1, 4), np.float32), "batch_size": 0},
                ["batch_size"],
            ),
            "nothing": ({}, ["texts"]),
        },
    ),
]


def _load_retriever(c, path):
    from transformers_cm3leon.retrieval import CM3LeonRetriever

    return CM3LeonRetriever.from_pretrained(path, load_encoder=False)


RETRIEVER_LOAD_CASES = cases(
    "retriever-load",
    _load_retriever,
    {
        "missing": (Lazy(lambda c: "/nonexistent/bank"), ["/nonexistent/bank"]),
        "empty-folder": (Lazy(lambda c: os.path.dirname(write(c, "empty/.keep", ""))), ["memory_bank.json", "empty"]),
        "bad-config": (Lazy(lambda c: os.path.dirname(write(c, "bad/config.json", "{not json"))), ["config.json"]),
    },
)


# -- command line ----------------------------------------------------------------------------------------------------
def cli(c, argv):
    """Run `cm3leon ...` in-process: return (exit code, stderr) from errors argparse or the command reports."""
    import contextlib
    import io

    from cm3leon_cli import main

    stderr = io.StringIO()
    argv = [a.replace("{folder}", c.folder).replace("{model}", c.model_folder) for a in argv]
    with contextlib.redirect_stderr(stderr):
        try:
            code = main(argv)
        except SystemExit as exit_:
            code = exit_.code
    return code, stderr.getvalue()


CLI_CASES = {
    "empty-prompt": (["generate", ""], ["prompt"]),
    "blank-prompt": (["generate", "  "], ["prompt"]),
    "num-images-zero": (["generate", "a cat", "--num-images", "0"], ["--num-images-per-prompt", "0"]),
    "num-images-text": (["generate", "a cat", "--num-images", "two"], ["--num-images", "'two'"]),
    "num-images-huge": (["generate", "a cat", "--model", "{model}", "--num-images", "1000000"], ["1000000"]),
    "guidance-nan": (
        ["generate", "a cat", "--guidance-scale", "nan", "--model", "{model}"],
        ["guidance_scale", "nan"],
    ),
    "guidance-inf": (
        ["generate", "a cat", "--guidance-scale", "inf", "--model", "{model}"],
        ["guidance_scale", "inf"],
    ),
    "seed-huge": (["generate", "a cat", "--seed", str(2**70)], ["--seed", str(2**70)]),
    "seed-negative": (["generate", "a cat", "--seed", "-3"], ["--seed", "-3"]),
    "device": (["generate", "a cat", "--device", "bogus"], ["--device", "'bogus'"]),
    "device-index": (["generate", "a cat", "--device", "cuda:x"], ["--device", "'cuda:x'"]),
    "model": (["generate", "a cat", "--model", "/nonexistent/model"], ["--model", "/nonexistent/model"]),
    "output-dir": (["generate", "a cat", "-o", "{folder}/garbage.yaml/x.png"], ["--output", "garbage.yaml/x.png"]),
    "output-ext": (["generate", "a cat", "-o", "{folder}/x.txt"], ["x.txt", ".png"]),
    "size-zero": (["generate", "a cat", "--size", "0"], ["--size", "0"]),
    "size-huge": (["generate", "a cat", "--size", "100000"], ["--size", "100000"]),
    "top-p": (["generate", "a cat", "--top-p", "2", "--model", "{model}"], ["top_p", "2.0"]),
    "temperature": (["generate", "a cat", "--temperature", "0", "--model", "{model}"], ["temperature", "0.0"]),
    "top-k": (["generate", "a cat", "--top-k", "-1", "--model", "{model}"], ["top_k", "-1"]),
    "strategy": (["generate", "a cat", "--decoding-strategy", "beam"], ["--decoding-strategy", "'beam'"]),
    "resample": (["generate", "a cat", "--resample", "cubic"], ["--resample", "'cubic'"]),
    "command": (["paint", "a cat"], ["'paint'"]),
    "train-recipe": (["train", "dpo"], ["'dpo'"]),
    "train-garbage": (["train", "pretrain", "--config", "{folder}/garbage.yaml"], ["garbage.yaml", "YAML"]),
    "train-missing": (["train", "sft", "--config", "/nonexistent.yaml"], ["/nonexistent.yaml"]),
    "train-unknown": (["train", "vq", "--config", "{folder}/unknown.yaml"], ["unknown.yaml", "learning_rat"]),
    "eval-recipe": (["eval", "fid-only"], ["'fid-only'"]),
    "eval-missing": (["eval", "text-to-image", "--output-dir", "{folder}/e"], ["--prompts"]),
}


def _cli_case(c, argv):
    write(c, "garbage.yaml", "max_steps: [1, 2\nfoo: : :\n")
    write(c, "unknown.yaml", "learning_rat: 0.1\n")
    code, stderr = cli(c, argv)
    assert code == 2, f"exit code {code}, stderr {stderr!r}"
    raise ValueError(stderr)


# -- converters ------------------------------------------------------------------------------------------------------
def convert(c, script: str, argv: list[str]):
    import importlib.util

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    spec = importlib.util.spec_from_file_location(script, os.path.join(root, "conversion", f"{script}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    argv = [a.replace("{folder}", c.folder) for a in argv]
    try:
        return module.main(argv)
    except SystemExit as exit_:
        raise ValueError(f"exit {exit_.code}") from None


def _garbage_files(c):
    write(c, "garbage.ckpt", b"\x00not a checkpoint" * 10)
    torch.save({"state_dict": {}}, os.path.join(c.folder, "empty.ckpt"))
    write(c, "garbage.yaml", "max_steps: [1, 2\nfoo: : :\n")
    write(c, "list.yaml", "- 1\n")
    os.makedirs(os.path.join(c.folder, "hf-empty"), exist_ok=True)
    write(c, "hf-bad/config.json", "{}")
    write(c, "hf-bad/model.safetensors", b"\x10\x00\x00\x00\x00\x00\x00\x00not json")
    write(c, "meta/models/7b/params.json", "{not json")


CONVERTER_CASES = {
    "taming-missing-ckpt": (
        "convert_taming_vqgan_to_cm3leon",
        ["--checkpoint", "/nonexistent.ckpt", "--config", "{folder}/list.yaml", "--output-dir", "{folder}/o1"],
        ["/nonexistent.ckpt"],
    ),
    "taming-garbage-ckpt": (
        "convert_taming_vqgan_to_cm3leon",
        ["--checkpoint", "{folder}/garbage.ckpt", "--config", "{folder}/list.yaml", "--output-dir", "{folder}/o2"],
        ["garbage.ckpt", "not a PyTorch checkpoint"],
    ),
    "taming-garbage-yaml": (
        "convert_taming_vqgan_to_cm3leon",
        ["--checkpoint", "{folder}/empty.ckpt", "--config", "{folder}/garbage.yaml", "--output-dir", "{folder}/o3"],
        ["garbage.yaml", "not valid YAML"],
    ),
    "hf-missing": (
        "convert_hf_chameleon_to_cm3leon",
        ["--input", "{folder}/hf-none", "--output-dir", "{folder}/o4"],
        ["hf-none"],
    ),
    "hf-empty": (
        "convert_hf_chameleon_to_cm3leon",
        ["--input", "{folder}/hf-empty", "--output-dir", "{folder}/o5"],
        ["hf-empty"],
    ),
    "hf-corrupt": (
        "convert_hf_chameleon_to_cm3leon",
        ["--input", "{folder}/hf-bad", "--output-dir", "{folder}/o6"],
        ["hf-bad"],
    ),
    "meta-missing": (
        "convert_chameleon_to_cm3leon",
        ["--input-dir", "{folder}/meta-none", "--model-size", "7b", "--output-dir", "{folder}/o7"],
        ["meta-none"],
    ),
    "meta-params": (
        "convert_chameleon_to_cm3leon",
        ["--input-dir", "{folder}/meta", "--model-size", "7b", "--output-dir", "{folder}/o8"],
        ["params.json"],
    ),
    "meta-size": (
        "convert_chameleon_to_cm3leon",
        ["--input-dir", "{folder}/meta", "--model-size", "13b", "--output-dir", "{folder}/o9"],
        ["13b"],
    ),
}


# -- the tests -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("call, needles", PIPELINE_CASES + GENERATION_CASES + PROCESSOR_CASES + DATA_CASES)
def test_bad_input_is_refused_with_a_clear_error(ctx, call, needles):
    refused(lambda: call(ctx), *needles)


@pytest.mark.parametrize("call, needles", CONFIG_CASES + TRAINING_CASES + RETRIEVER_LOAD_CASES)
def test_bad_configuration_is_refused_with_a_clear_error(ctx, call, needles):
    refused(lambda: call(ctx), *needles)


@pytest.mark.parametrize("call, needles", RETRIEVER_CASES)
def test_bad_retriever_input_is_refused_with_a_clear_error(retriever, call, needles):
    refused(lambda: call(retriever), *needles)


@pytest.mark.parametrize("argv, needles", list(CLI_CASES.values()), ids=list(CLI_CASES))
def test_bad_command_lines_exit_2_with_a_clear_error(ctx, argv, needles):
    refused(lambda: _cli_case(ctx, argv), *needles, exc=ValueError)


@pytest.mark.parametrize("script, argv, needles", list(CONVERTER_CASES.values()), ids=list(CONVERTER_CASES))
def test_bad_converter_input_is_refused_before_writing(ctx, script, argv, needles):
    _garbage_files(ctx)
    output = argv[argv.index("--output-dir") + 1].replace("{folder}", ctx.folder)
    refused(lambda: convert(ctx, script, argv), *needles, exc=(*REFUSED, OSError))
    assert not os.path.exists(output), "a refused conversion must not leave an output folder"


def test_the_suite_has_at_least_300_cases():
    total = (
        len(PIPELINE_CASES)
        + len(GENERATION_CASES)
        + len(PROCESSOR_CASES)
        + len(DATA_CASES)
        + len(CONFIG_CASES)
        + len(TRAINING_CASES)
        + len(RETRIEVER_LOAD_CASES)
        + len(RETRIEVER_CASES)
        + len(CLI_CASES)
        + len(CONVERTER_CASES)
    )
    assert total >= 300, total


# -- inputs that are not errors: what they mean ----------------------------------------------------------------------
def _images(output) -> np.ndarray:
    return np.stack([np.asarray(image) for image in output.images])


def test_numpy_and_tensor_scalars_are_numbers(ctx):
    expected = _images(t2i(ctx, guidance_scale=3.0, temperature=0.5))
    for scale, temperature in ((np.float32(3.0), np.float64(0.5)), (np.int64(3), np.float16(0.5))):
        np.testing.assert_array_equal(_images(t2i(ctx, guidance_scale=scale, temperature=temperature)), expected)


def test_the_editing_pipeline_takes_an_image_path_and_warns_about_nothing_the_user_did_not_pass(ctx, recwarn, caplog):
    path = os.path.join(ctx.folder, "red.png")
    ctx.image.save(path)
    from_path = ctx.edit("make it blue", path, generator=torch.Generator().manual_seed(0))
    from_image = ctx.edit("make it blue", ctx.image, generator=torch.Generator().manual_seed(0))
    np.testing.assert_array_equal(_images(from_path), _images(from_image))
    messages = [str(w.message) for w in recwarn] + [record.getMessage() for record in caplog.records]
    assert not [m for m in messages if "negative" in m], messages


def test_do_sample_false_drops_the_sampling_defaults_of_the_model(ctx, tmp_path):
    """Greedy decoding with a model that declares temperature / top-k defaults: the user asked for no sampling, so
    the sampling-only defaults are dropped (not an error blaming `temperature`), and the seed no longer matters."""
    model, processor = get_tiny_cm3leon(seed=0)
    set_image_generation_defaults(
        model.generation_config, "text-to-image", guidance_scale=2.0, temperature=0.7, top_k=8
    )
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    pipe = pipeline("text-to-image", model=str(tmp_path), device="cpu")
    pipe.set_progress_bar_config(disable=True)
    config = pipe.generation_config(do_sample=False)
    assert (config.do_sample, config.temperature, config.top_k, config.guidance_scale) == (False, 1.0, None, 2.0)
    first = pipe("a red square", do_sample=False, generator=torch.Generator().manual_seed(0))
    second = pipe("a red square", do_sample=False, generator=torch.Generator().manual_seed(1))
    np.testing.assert_array_equal(_images(first), _images(second))
    with pytest.raises(ValueError, match="temperature"):  # what the user passes themself still counts
        pipe("a red square", do_sample=False, temperature=0.5)


def test_an_all_black_mask_keeps_nothing_to_redraw_and_says_so(ctx):
    message = refused(lambda: ctx.inpaint("a red square", image=ctx.image, mask_image=Image.new("L", (16, 16), 0)))
    assert "mask_image" in message
