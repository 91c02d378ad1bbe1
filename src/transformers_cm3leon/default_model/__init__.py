# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The default model: the weights `cm3leon generate` and every pipeline use when no model is given.

They ship inside the package, so the default works offline right after installing. They are **CM3Leon-Emoji**
(10M parameters and a 3M-parameter image tokenizer: 1,634 emoji of OpenMoji at 32x32 pixels, by their CLDR names;
`model_cards/cm3leon-emoji.md`), trained from scratch on 2 CPU cores by `recipes/cm3leon_emoji/` of the repository.
The folder's `training_data.json` lists the CLDR names it was trained on (`training_data()`). Derived from OpenMoji's
art, the weights are licensed CC BY-SA 4.0 (the folder's `LICENSE.md`); the code is Apache-2.0.

    >>> from transformers_cm3leon.default_model import load_default
    >>> model, processor = load_default()
    >>> processor.image_processor.size
    32
"""

from __future__ import annotations

import functools
import json
import os
import re

WEIGHTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights")
TRAINING_DATA_FILE = "training_data.json"
_WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def has_default_model() -> bool:
    """Whether this installation holds the default model's weights."""
    return os.path.isfile(os.path.join(WEIGHTS_DIR, "config.json"))


def default_model_path() -> str:
    """The folder of the default model (model, tokenizer, image processor, VQ image tokenizer, `training_data.json`).

    Raises:
        FileNotFoundError: if this installation has no weights (a source checkout where they were not trained yet).
    """
    if not has_default_model():
        raise FileNotFoundError(
            f"The default model's weights are not in {WEIGHTS_DIR!r}. Train them from a clone of the repository "
            "(`python recipes/cm3leon_emoji/train.py --ship`), copy a trained model folder there, or install a "
            "release of transformers-cm3leon."
        )
    return WEIGHTS_DIR


def load_default(device: str = "cpu"):
    """Load the default model: returns `(model, processor)` (`CM3LeonForCausalLM` in eval mode, `CM3LeonProcessor`)."""
    from ..modeling_cm3leon import CM3LeonForCausalLM
    from ..processing_cm3leon import CM3LeonProcessor

    path = default_model_path()
    model = CM3LeonForCausalLM.from_pretrained(path).to(device).eval()
    return model, CM3LeonProcessor.from_pretrained(path)


def training_data(model_path: str | None = None) -> dict:
    """What a model folder's `training_data.json` says it was trained on: `seen` and `held_out` (CLDR names) and the
    `vocabulary` of its prompts. `model_path` defaults to the default model; `{}` for a folder without the file."""
    path = os.path.join(model_path or default_model_path(), TRAINING_DATA_FILE)
    return _read_training_data(path) if os.path.isfile(path) else {}


@functools.lru_cache(maxsize=8)
def _read_training_data(path: str) -> dict:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def prompt_words(text: str) -> list[str]:
    """The words of a prompt, lowercased (hyphenated words kept whole: "medium-dark")."""
    return _WORD.findall(text.lower())


def unknown_words(prompt: str, vocabulary) -> list[str]:
    """The words of `prompt` that no training prompt used (case-insensitive)."""
    known = set(vocabulary)
    return [word for word in prompt_words(prompt) if word not in known]


def is_out_of_domain(prompt: str, vocabulary) -> bool:
    """Whether most words of `prompt` were never seen in training (the prompt is far from anything the model knows).
    A prompt without words (e.g. an emoji character) is not judged."""
    words = prompt_words(prompt)
    return bool(words) and len(unknown_words(prompt, vocabulary)) * 2 > len(words)


__all__ = [
    "TRAINING_DATA_FILE",
    "WEIGHTS_DIR",
    "default_model_path",
    "has_default_model",
    "is_out_of_domain",
    "load_default",
    "prompt_words",
    "training_data",
    "unknown_words",
]
