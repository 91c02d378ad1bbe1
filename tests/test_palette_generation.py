# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""A language model over an image tokenizer with a palette code (`num_palette_tokens`): every drawn image ends with
exactly one palette code, under every decoding strategy; the processor, infilling, scoring and the pipeline follow
the layout (grid codes, then the palette code)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import pipeline

from transformers_cm3leon import CM3LeonConfig
from transformers_cm3leon.generation.sampling import EXCLUDED_LOGIT, image_logit_bias
from transformers_cm3leon.testing_utils import get_tiny_cm3leon

NUM_PALETTE = 3
GRID_CODES = 32  # TINY_VQ_CONFIG's codebook


@pytest.fixture(scope="module")
def tiny():
    return get_tiny_cm3leon(seed=0, num_palette_embeddings=NUM_PALETTE)


def codes_of(model, output) -> torch.Tensor:
    return output.image_token_ids - model.config.image_token_offset


def test_the_layout_grid_codes_then_the_palette_code(tiny):
    model, processor = tiny
    assert (processor.image_seq_length, model.config.image_seq_length) == (17, 17)
    assert model.config.image_vocab_size == GRID_CODES + NUM_PALETTE and model.config.num_palette_tokens == NUM_PALETTE
    bias = image_logit_bias(model.config, 17, ends_image=True)
    assert bias.shape == (17, GRID_CODES + NUM_PALETTE)
    assert (bias[:16, :GRID_CODES] == 0).all() and (bias[:16, GRID_CODES:] == EXCLUDED_LOGIT).all()
    assert (bias[16, :GRID_CODES] == EXCLUDED_LOGIT).all() and (bias[16, GRID_CODES:] == 0).all()
    assert (image_logit_bias(model.config, 5, ends_image=False)[:, GRID_CODES:] == EXCLUDED_LOGIT).all()
    plain, _ = get_tiny_cm3leon(seed=0)
    assert image_logit_bias(plain.config, 16, ends_image=True) is None  # unchanged decoding without a palette


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"do_sample": False},
        {"guidance_scale": 3.0},
        {"decoding_strategy": "cd-k"},
        {"decoding_strategy": "mixture"},
        {"parallel_decoding": "jacobi"},
        {"parallel_decoding": "jacobi", "decoding_strategy": "cd-k"},
        {"top_k": 20},  # more than the palette has: the excluded codes still never come out
    ],
)
def test_every_image_ends_with_one_palette_code(tiny, settings):
    model, processor = tiny
    prompt = torch.tensor([processor.text_to_image_prompt("a red square")])
    output = model.generate_images(
        prompt, num_images_per_prompt=6, generator=torch.Generator().manual_seed(0), progress_bar=False, **settings
    )
    codes = codes_of(model, output)
    assert codes.shape == (6, 17)
    assert (codes[:, :16] < GRID_CODES).all() and (codes[:, 16] >= GRID_CODES).all()
    pictures = processor.token_ids_to_images(output.image_token_ids)
    assert len(pictures) == 6 and pictures[0].size == (16, 16)


def test_jacobi_draws_what_the_sequential_loop_draws_greedily(tiny):
    model, processor = tiny
    prompt = torch.tensor([processor.text_to_image_prompt("a red square")])
    sequential = model.generate_images(prompt, do_sample=False, progress_bar=False)
    jacobi = model.generate_images(prompt, do_sample=False, parallel_decoding="jacobi", progress_bar=False)
    assert torch.equal(sequential.image_token_ids, jacobi.image_token_ids)


def test_scores_are_over_the_codes_a_position_may_take(tiny):
    model, processor = tiny
    prompt = torch.tensor([processor.text_to_image_prompt("a red square")])
    drawn = model.generate_images(prompt, generator=torch.Generator().manual_seed(0), progress_bar=False)
    score = model.image_log_likelihood(prompt, drawn.image_token_ids)
    sequence = torch.cat([prompt, drawn.image_token_ids], dim=1)
    with torch.no_grad():
        logits = model(input_ids=sequence).logits[0, prompt.shape[1] - 1 : -1]
    offset = model.config.image_token_offset
    image_logits = logits[:, offset : offset + GRID_CODES + NUM_PALETTE]
    grid = image_logits[:16, :GRID_CODES].log_softmax(-1).gather(-1, codes_of(model, drawn)[0, :16, None])
    palette = image_logits[16, GRID_CODES:].log_softmax(-1)[codes_of(model, drawn)[0, 16] - GRID_CODES]
    torch.testing.assert_close(score, (grid.sum() + palette)[None], rtol=1e-4, atol=1e-4)


def test_infilling_redraws_grid_tokens_and_keeps_the_palette(tiny):
    model, processor = tiny
    image = np.zeros((16, 16, 3), dtype=np.uint8)
    image[4:12, 4:12] = (255, 0, 0)
    mask = np.zeros((4, 4), dtype=bool)
    mask[1:3] = True
    ids, runs = processor.inpainting_prompt(image, mask, "a red square")
    assert runs == [(4, 12)]
    output = model.generate_infilling(
        torch.tensor([ids]),
        run_lengths=[8],
        guidance_scale=1.0,
        generator=torch.Generator().manual_seed(0),
        progress_bar=False,
    )
    assert (codes_of(model, output) < GRID_CODES).all()
    filled = processor.fill_masked_runs(image, runs, output.image_token_ids[0])
    original = processor.encode_images([image])[0]
    assert filled[16] == original[16] and filled[:4] == original[:4] and filled[12:] == original[12:]
    full = np.zeros(17, dtype=bool)
    full[16] = True
    with pytest.raises(ValueError, match=r"masks the palette code \(position 16\)"):
        processor.masked_runs(full)


def test_a_model_and_processor_must_agree_on_the_palette(tiny, tmp_path):
    model, processor = tiny
    config = CM3LeonConfig(**{**model.config.to_dict(), "num_palette_tokens": 0})
    mismatched = type(model)(config).eval()
    mismatched.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="num_palette_tokens=0 but the processor's image tokenizer has 3 palette"):
        pipeline("text-to-image", model=str(tmp_path), device="cpu")
    with pytest.raises(ValueError, match="num_palette_tokens"):
        CM3LeonConfig(**{**model.config.to_dict(), "num_palette_tokens": 1})


def test_the_pipeline_draws_and_saves_palette_images(tiny, tmp_path):
    model, processor = tiny
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    pipe = pipeline("text-to-image", model=str(tmp_path), device="cpu")
    pipe.set_progress_bar_config(disable=True)
    tokens = pipe("a red square", output_type="tokens", generator=torch.Generator().manual_seed(0)).images
    pictures = pipe("a red square", generator=torch.Generator().manual_seed(0)).images
    assert tokens.shape == (1, 17) and int(tokens[0, 16]) - model.config.image_token_offset >= GRID_CODES
    np.testing.assert_array_equal(np.asarray(pictures[0]), np.asarray(processor.token_ids_to_images(tokens)[0]))
