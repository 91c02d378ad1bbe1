# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
import pytest
import torch

from transformers_cm3leon.testing_utils import get_tiny_cm3leon
from transformers_cm3leon.training import init_image_embeddings_from_codebook


def test_image_rows_keep_the_codebook_geometry_and_nothing_else_moves():
    model, processor = get_tiny_cm3leon()
    vq_model = processor.image_processor.vq_model
    config = model.config
    before = model.get_input_embeddings().weight.detach().clone()
    rows = init_image_embeddings_from_codebook(model, vq_model, seed=0)

    image_rows = slice(config.image_token_offset, config.image_token_offset + config.image_vocab_size)
    after = model.get_input_embeddings().weight.detach()
    torch.testing.assert_close(after[image_rows], rows)
    # Every other row (text, specials, sentinels) is untouched.
    keep = torch.ones(len(after), dtype=torch.bool)
    keep[image_rows] = False
    torch.testing.assert_close(after[keep], before[keep])
    # The orthogonal map keeps all inner products of the centred codebook, up to one scale.
    codebook = vq_model.quantize.embedding.weight.detach().double()
    centred = codebook - codebook.mean(dim=0)
    gram_codebook = centred @ centred.T
    gram_rows = rows.double() @ rows.double().T
    scale = gram_rows.trace() / gram_codebook.trace()
    torch.testing.assert_close(gram_rows, scale * gram_codebook, rtol=1e-4, atol=1e-6)
    assert rows.std().item() == pytest.approx(config.initializer_range, rel=1e-4)
    # Tied output head follows; the same seed gives the same rows.
    if config.tie_word_embeddings:
        torch.testing.assert_close(model.get_output_embeddings().weight[image_rows].detach(), rows)
    again, _ = get_tiny_cm3leon()
    torch.testing.assert_close(init_image_embeddings_from_codebook(again, vq_model, seed=0), rows)


def test_mismatched_codebook_is_refused():
    model, processor = get_tiny_cm3leon()
    other, _ = get_tiny_cm3leon(image_vocab_size=model.config.image_vocab_size - 1, vocab_size=model.config.vocab_size)
    with pytest.raises(ValueError, match="image_vocab_size"):
        init_image_embeddings_from_codebook(other, processor.image_processor.vq_model)


def test_codebook_wider_than_the_model_is_refused():
    from types import SimpleNamespace

    model, _ = get_tiny_cm3leon()
    wide = torch.nn.Embedding(model.config.image_vocab_size, model.config.hidden_size + 1)
    with pytest.raises(ValueError, match="embed_dim <= hidden_size"):
        init_image_embeddings_from_codebook(
            model,
            SimpleNamespace(
                config=SimpleNamespace(num_palette_embeddings=0), quantize=SimpleNamespace(embedding=wide)
            ),
        )
