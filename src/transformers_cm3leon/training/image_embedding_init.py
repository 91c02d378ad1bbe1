# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Initialise the language model's image-token embeddings from the image tokenizer's codebook.

A language model trained from scratch starts with unrelated random vectors for the image tokens, so two codes that
draw almost the same patch look as different to it as any two codes, and it must learn their likeness from data.
Starting instead from the codebook, mapped into the model's width by a random orthogonal map (which keeps every inner
product, up to one scale), gives the model that likeness for free: with little data, reading an image then
generalises to images whose codes it has not seen in that combination.
"""

from __future__ import annotations

import torch


@torch.no_grad()
def init_image_embeddings_from_codebook(model, vq_model, seed: int = 0) -> torch.Tensor:
    """Overwrite the image-token rows of `model`'s input embeddings with `vq_model`'s codebook, centred, mapped into
    `hidden_size` by a random orthogonal map and scaled to `config.initializer_range`.

    With tied word embeddings the output head's image rows follow. Returns the new rows `(num_embeddings, hidden)`.
    Palette codes (`config.num_palette_tokens`, after the grid codes) keep their random rows: they live in the
    decoder's space, not the codebook's.

    Args:
        model ([`CM3LeonForCausalLM`]): The language model; `config.image_token_offset` / `image_vocab_size` say where
            the image rows are.
        vq_model ([`CM3LeonVQModel`]): The image tokenizer whose codes are the model's image tokens.
        seed (`int`): Seed of the orthogonal map.
    """
    config = model.config
    codebook = vq_model.quantize.embedding.weight
    num_palette = getattr(config, "num_palette_tokens", 0)
    if codebook.shape[0] + vq_model.config.num_palette_embeddings != config.image_vocab_size or (
        num_palette != vq_model.config.num_palette_embeddings
    ):
        raise ValueError(
            f"`vq_model` has {codebook.shape[0]} codes and {vq_model.config.num_palette_embeddings} palette codes but "
            f"`model.config` has image_vocab_size={config.image_vocab_size} with num_palette_tokens={num_palette}; "
            "they must match."
        )
    embeddings = model.get_input_embeddings().weight
    hidden_size = embeddings.shape[1]
    if codebook.shape[1] > hidden_size:
        raise ValueError(
            f"The codebook's vectors ({codebook.shape[1]} dims) are wider than the model ({hidden_size}); an "
            "orthogonal map needs `embed_dim <= hidden_size`."
        )
    generator = torch.Generator().manual_seed(seed)
    gaussian = torch.randn(hidden_size, codebook.shape[1], generator=generator, dtype=torch.float64)
    orthonormal_columns, _ = torch.linalg.qr(gaussian)  # (hidden, embed_dim), Q^T Q = I
    centred = codebook.double() - codebook.double().mean(dim=0)
    rows = centred @ orthonormal_columns.T
    rows = rows * (config.initializer_range / rows.std())
    start = config.image_token_offset
    embeddings[start : start + codebook.shape[0]] = rows.to(embeddings.dtype)
    return embeddings[start : start + codebook.shape[0]]


__all__ = ["init_image_embeddings_from_codebook"]
