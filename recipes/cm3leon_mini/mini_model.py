# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""CM3Leon-Mini: a 2M-parameter CM3Leon trained in this repository, the small, fast trained model of the test suite.

It draws handwritten digits ("a handwritten digit seven") and a world of coloured shapes ("a red circle in the top
left"), captions them, answers questions about them and edits them ("make the circle blue"). It was trained from
scratch on 2 CPU cores with the package's recipes (`python recipes/cm3leon_mini/train.py`); its weights live in the
repository's `tests/fixtures/cm3leon-mini/` (not in the wheel: the default model is CM3Leon-Emoji) and its measured
accuracies in `model_cards/cm3leon-mini.md`.
"""

from __future__ import annotations

import os

WEIGHTS_DIR = os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fixtures", "cm3leon-mini")
)
# The decoding that measured best for this model (see the ablation table of the model card): it draws better WITHOUT
# classifier-free guidance, at a lowered temperature.
RECOMMENDED_GENERATION = {"guidance_scale": 1.0, "temperature": 0.5}


def has_default_model() -> bool:
    """Whether the trained CM3Leon-Mini weights are present."""
    return os.path.isfile(os.path.join(WEIGHTS_DIR, "config.json"))


def default_model_path() -> str:
    """The folder of the trained CM3Leon-Mini (model, tokenizer, image processor and VQ image tokenizer).

    Raises:
        FileNotFoundError: if the weights are missing (train them with `train.py --ship`).
    """
    if not has_default_model():
        raise FileNotFoundError(
            f"CM3Leon-Mini's weights are not in {WEIGHTS_DIR!r}. Train them with "
            "`python recipes/cm3leon_mini/train.py --ship`."
        )
    return WEIGHTS_DIR


def load_default(device: str = "cpu"):
    """Load CM3Leon-Mini: returns `(model, processor)` (`CM3LeonForCausalLM` in eval mode, `CM3LeonProcessor`)."""
    from transformers_cm3leon import CM3LeonForCausalLM, CM3LeonProcessor

    path = default_model_path()
    model = CM3LeonForCausalLM.from_pretrained(path).to(device).eval()
    return model, CM3LeonProcessor.from_pretrained(path)
