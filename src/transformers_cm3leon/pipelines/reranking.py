# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""CM3Leon's self-rerank: best-of-N by CLIP score (the paper's headline FID is best-of-8), used by the text-to-image
pipeline's `rerank` argument."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F
from transformers.utils import logging

logger = logging.get_logger(__name__)

# The CLIP used for self-rerank is not stated in the paper; this public one is loaded only by `load_clip_reranker`.
DEFAULT_CLIP_RERANK_MODEL = "openai/clip-vit-large-patch14"


@dataclass
class RerankOutput:
    """Output of [`rerank_images`], for `B` prompts with `N` candidate images each.

    Args:
        images (`list` or `torch.Tensor`): The best candidate of each prompt (`B` of them), in the input's type.
        indices (`torch.LongTensor` of shape `(B,)`): Index of each best candidate in the input images.
        scores (`torch.FloatTensor` of shape `(B, N)`): Cosine similarity of each candidate with its prompt (the
            CLIP score divided by 100).
        ranking (`torch.LongTensor` of shape `(B, N)`): Candidates of each prompt (0..N-1) by decreasing score.
    """

    images: list | torch.Tensor
    indices: torch.LongTensor
    scores: torch.FloatTensor
    ranking: torch.LongTensor


def load_clip_reranker(model_id: str = DEFAULT_CLIP_RERANK_MODEL, **from_pretrained_kwargs):
    """Load a CLIP model and its processor for [`rerank_images`] (downloads `model_id` unless it is cached)."""
    from transformers import AutoModel, AutoProcessor

    model = AutoModel.from_pretrained(model_id, **from_pretrained_kwargs).eval()
    return model, AutoProcessor.from_pretrained(model_id)


@torch.no_grad()
def rerank_images(images, prompts, clip_model, clip_processor, *, num_images_per_prompt: int | None = None):
    """CM3Leon's self-rerank: keep, for each prompt, the candidate image with the highest CLIP score.

    Works with any transformers model that has `get_text_features` / `get_image_features` (CLIPModel, SigLIP, ...).

    Args:
        images (`list` of PIL images / arrays, or `torch.Tensor`): `B * N` candidates, those of prompt `b` at
            `b * N ... (b + 1) * N - 1` (the order of `generate_images`). A tensor is taken as CLIP-ready
            `pixel_values` of shape `(B * N, 3, H, W)`; anything else goes through `clip_processor`.
        prompts (`str` or `list[str]`): The `B` prompts.
        clip_model: The scoring model, e.g. from [`load_clip_reranker`].
        clip_processor: Its processor (tokenizer + image processor).
        num_images_per_prompt (`int`, *optional*): N; checked against `len(images) / len(prompts)` when given.

    Returns:
        [`RerankOutput`].
    """
    if isinstance(prompts, str):
        prompts = [prompts]
    if not isinstance(prompts, (list, tuple)) or not prompts or not all(isinstance(p, str) for p in prompts):
        raise TypeError(f"`prompts` must be a string or a non-empty list of strings, got {prompts!r}.")
    if not isinstance(images, torch.Tensor) and not isinstance(images, (list, tuple)):
        raise TypeError(f"`images` must be a list of images or a tensor of pixel values, got {type(images).__name__}.")
    num_candidates = len(images)
    if num_candidates == 0 or num_candidates % len(prompts):
        raise ValueError(
            f"`images` has {num_candidates} candidates, not a positive multiple of the {len(prompts)} prompts."
        )
    group = num_candidates // len(prompts)
    if num_images_per_prompt is not None and num_images_per_prompt != group:
        raise ValueError(
            f"`num_images_per_prompt`={num_images_per_prompt}, but {num_candidates} images for {len(prompts)} prompts "
            f"make {group} per prompt."
        )

    device = clip_model.device
    text_inputs = clip_processor(text=list(prompts), padding=True, return_tensors="pt")
    max_length = getattr(getattr(clip_model.config, "text_config", None), "max_position_embeddings", None)
    if max_length is not None and text_inputs["input_ids"].shape[1] > max_length:
        logger.warning(f"A prompt is longer than the CLIP text encoder's {max_length} tokens; it is scored truncated.")
        text_inputs = clip_processor(
            text=list(prompts), padding=True, truncation=True, max_length=max_length, return_tensors="pt"
        )
    text_inputs = {
        key: value.to(device) for key, value in text_inputs.items() if key in ("input_ids", "attention_mask")
    }
    if isinstance(images, torch.Tensor):
        pixel_values = images
    else:
        pixel_values = clip_processor(images=list(images), return_tensors="pt")["pixel_values"]
    pixel_values = pixel_values.to(device=device, dtype=clip_model.dtype)

    text_embeds = F.normalize(_pooled(clip_model.get_text_features(**text_inputs)).float(), dim=-1)
    image_embeds = F.normalize(_pooled(clip_model.get_image_features(pixel_values=pixel_values)).float(), dim=-1)
    scores = (image_embeds.view(len(prompts), group, -1) * text_embeds[:, None]).sum(-1).cpu()
    ranking = scores.argsort(dim=-1, descending=True)
    indices = torch.arange(len(prompts)) * group + ranking[:, 0]
    best = images[indices] if isinstance(images, torch.Tensor) else [images[i] for i in indices.tolist()]
    return RerankOutput(images=best, indices=indices, scores=scores, ranking=ranking)


def _pooled(features) -> torch.Tensor:
    # transformers 5 returns an output object whose `pooler_output` is the projected embedding; 4.x a tensor.
    return features if isinstance(features, torch.Tensor) else features.pooler_output


__all__ = ["DEFAULT_CLIP_RERANK_MODEL", "RerankOutput", "load_clip_reranker", "rerank_images"]
