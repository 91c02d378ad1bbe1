# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Tiny random CM3Leon models for tests, documentation snippets and smoke runs.

A tiny model has the real structure (tokenizer with the CM3Leon layout, VQ image tokenizer, language model) at a
size that runs in milliseconds on a CPU. Its weights are random: the images it draws are noise. A tiny random CLIP
stands in for the retriever's encoder, the re-ranker and CLIPScore in the same way.
"""

from __future__ import annotations

import string

import torch
from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel, CLIPProcessor, CLIPTokenizer

from .configuration_cm3leon import CM3LeonConfig, CM3LeonVQConfig
from .image_processing_cm3leon import CM3LeonImageProcessor
from .modeling_cm3leon import CM3LeonForCausalLM
from .modeling_cm3leon_vq import CM3LeonVQModel
from .processing_cm3leon import CM3LeonProcessor
from .tokenization_cm3leon import build_cm3leon_tokenizer, special_token_ids

TINY_CORPUS = [
    "a photo of a red circle on a white background",
    "a drawing of a blue square in the top left corner",
    "a handwritten digit seven",
    "the number three written by hand",
    "Question: what colour is the triangle? Answer: green.",
    "Edit first image following the instruction make the circle blue",
    "Describe the given picture. a small green triangle",
    "Make high quality image from a segmentation map",
]

# 16 px images, downsampling factor 4 -> a 4x4 grid: 16 image tokens per image, from a codebook of 32.
TINY_VQ_CONFIG = dict(
    resolution=16,
    embed_dim=8,
    num_embeddings=32,
    latent_channels=8,
    base_channels=16,
    channel_multiplier=[1, 2, 2],
    num_res_blocks=1,
    attn_resolutions=[4],
    num_groups=8,
)
TINY_LM_CONFIG = dict(
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    max_position_embeddings=512,
    initializer_range=0.02,
)
TINY_CHAMELEON_LM_CONFIG = dict(
    TINY_LM_CONFIG, block_type="chameleon", hidden_act="silu", qk_norm=True, num_key_value_heads=2
)


def get_tiny_cm3leon_processor(
    seed: int = 0, num_sentinel_tokens: int = 4, vocab_size: int = 300, **vq_overrides
) -> CM3LeonProcessor:
    """A tiny random processor: a BPE tokenizer trained on `TINY_CORPUS` and a random 16 px VQ tokenizer."""
    vq_config = CM3LeonVQConfig(**{**TINY_VQ_CONFIG, **vq_overrides})
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        vq_model = CM3LeonVQModel(vq_config).eval()
    tokenizer = build_cm3leon_tokenizer(
        TINY_CORPUS * 4,
        vocab_size=vocab_size,
        image_vocab_size=vq_config.num_image_tokens,
        num_sentinel_tokens=num_sentinel_tokens,
        min_frequency=1,
        model_max_length=TINY_LM_CONFIG["max_position_embeddings"],
    )
    image_processor = CM3LeonImageProcessor(size=vq_config.resolution, vq_model=vq_model)
    return CM3LeonProcessor(image_processor=image_processor, tokenizer=tokenizer)


def get_tiny_cm3leon(
    seed: int = 0,
    block_type: str = "cm3leon",
    num_sentinel_tokens: int = 4,
    num_palette_embeddings: int = 0,
    **config_overrides,
) -> tuple[CM3LeonForCausalLM, CM3LeonProcessor]:
    """A tiny random (model, processor) pair with the full CM3Leon structure.

    Args:
        seed (`int`): Seed of the random weights; the global RNG is left untouched.
        block_type (`str`): `"cm3leon"` or `"chameleon"`.
        num_sentinel_tokens (`int`): Sentinels in the vocabulary (0 gives a Chameleon-like vocabulary).
        num_palette_embeddings (`int`): Palette codes of the image tokenizer (each image then ends with one).
        config_overrides: Fields of [`CM3LeonConfig`] to override.
    """
    processor = get_tiny_cm3leon_processor(
        seed=seed,
        num_sentinel_tokens=num_sentinel_tokens,
        vocab_size=300 + num_palette_embeddings,
        num_palette_embeddings=num_palette_embeddings,
    )
    lm_config = TINY_LM_CONFIG if block_type == "cm3leon" else TINY_CHAMELEON_LM_CONFIG
    config = CM3LeonConfig(
        **{
            **special_token_ids(processor.tokenizer),
            **lm_config,
            "block_type": block_type,
            "image_seq_length": processor.image_processor.image_seq_length,
            "num_palette_tokens": num_palette_embeddings,
            **config_overrides,
        }
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CM3LeonForCausalLM(config).eval()
    return model, processor


# 30 px images in a 3x3 grid of patches, 16-d embeddings, and a 48-token text context (start and end tokens included).
TINY_CLIP_IMAGE_SIZE = 30
TINY_CLIP_TEXT_CONFIG = dict(
    hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=48
)
TINY_CLIP_VISION_CONFIG = dict(
    image_size=TINY_CLIP_IMAGE_SIZE,
    patch_size=10,
    hidden_size=32,
    intermediate_size=37,
    num_hidden_layers=2,
    num_attention_heads=4,
)


def get_tiny_clip(seed: int = 0) -> tuple[CLIPModel, CLIPProcessor]:
    """A tiny random (CLIP model, processor) pair, built offline: a character-level tokenizer (one token per letter,
    `</w>` marking a word's last letter; no merges), 30 px images and 16-d embeddings.

    Args:
        seed (`int`): Seed of the random weights; the global RNG is left untouched.
    """
    letters = list(string.ascii_lowercase)
    tokens = letters + [letter + "</w>" for letter in letters] + ["<|startoftext|>", "<|endoftext|>"]
    tokenizer = CLIPTokenizer(vocab={token: i for i, token in enumerate(tokens)}, merges=[])
    size = TINY_CLIP_IMAGE_SIZE
    image_processor = CLIPImageProcessorPil(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
    config = CLIPConfig(
        text_config=dict(
            TINY_CLIP_TEXT_CONFIG,
            vocab_size=len(tokens),
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        ),
        vision_config=TINY_CLIP_VISION_CONFIG,
        projection_dim=16,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CLIPModel(config).eval()
    return model, CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer)


__all__ = ["get_tiny_clip", "get_tiny_cm3leon", "get_tiny_cm3leon_processor", "TINY_CORPUS"]
