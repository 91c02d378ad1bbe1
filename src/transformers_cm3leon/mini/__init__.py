# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""CM3Leon-Mini: a small CM3Leon trained in this repository, shipped inside the package as its default model.

It draws handwritten digits ("a handwritten digit seven") and a world of coloured shapes ("a red circle in the top
left"), captions them, answers questions about them and edits them ("make the circle blue"). It was trained from
scratch on 2 CPU cores with the package's own recipes (`python -m transformers_cm3leon.mini.train`); its measured
accuracies are in the model card (`model_cards/cm3leon-mini.md`) and in `benchmarks/RESULTS.md`.

    >>> from transformers_cm3leon.mini import load_default
    >>> model, processor = load_default()
"""

from __future__ import annotations

import os

WEIGHTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights")
# The decoding that measured best for the shipped model (see the ablation table of the model card): this small model
# draws better WITHOUT classifier-free guidance, at a lowered temperature.
RECOMMENDED_GENERATION = {"guidance_scale": 1.0, "temperature": 0.5}


def default_model_path() -> str:
    """The folder of the shipped CM3Leon-Mini (model, tokenizer, image processor and VQ image tokenizer).

    Raises:
        FileNotFoundError: if this installation has no weights (a source checkout where they were not trained yet).
    """
    if not os.path.isfile(os.path.join(WEIGHTS_DIR, "config.json")):
        raise FileNotFoundError(
            f"CM3Leon-Mini's weights are not in {WEIGHTS_DIR!r}. Train them with "
            "`python -m transformers_cm3leon.mini.train --ship`, or install a release of transformers-cm3leon."
        )
    return WEIGHTS_DIR


def has_default_model() -> bool:
    """Whether the shipped CM3Leon-Mini weights are present."""
    return os.path.isfile(os.path.join(WEIGHTS_DIR, "config.json"))


def load_default(device: str = "cpu"):
    """Load CM3Leon-Mini: returns `(model, processor)` (`CM3LeonForCausalLM` in eval mode, `CM3LeonProcessor`)."""
    from ..modeling_cm3leon import CM3LeonForCausalLM
    from ..processing_cm3leon import CM3LeonProcessor

    path = default_model_path()
    model = CM3LeonForCausalLM.from_pretrained(path).to(device).eval()
    processor = CM3LeonProcessor.from_pretrained(path)
    return model, processor


__all__ = ["RECOMMENDED_GENERATION", "WEIGHTS_DIR", "default_model_path", "has_default_model", "load_default"]
