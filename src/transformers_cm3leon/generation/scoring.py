# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The model's own score of a picture: log p(image tokens | prompt), teacher-forced in one forward.

It is what the pipelines' best-of-N (`rerank`) keeps when no CLIP model is given. Infilling is where it earns its
place: the sampler draws a masked band after the document, seeing the rows below it only through the sentinel
layout, while this score reads the repaired picture the way the model draws pictures, left to right after the prompt,
so a band that does not fit the rows below it scores low.
"""

from __future__ import annotations

import torch

from .prompts import check_image_tokens, check_prompt
from .sampling import image_logit_bias


@torch.no_grad()
def image_log_likelihood(
    model, input_ids: torch.LongTensor, image_token_ids: torch.LongTensor, attention_mask: torch.Tensor | None = None
) -> torch.FloatTensor:
    """Sum over the image tokens of their log-probabilities after `input_ids`, under the distribution the sampler
    draws from at guidance 1 and temperature 1 (softmax over the image vocabulary). Shapes: `(B, L)`,
    `(B, image_seq_length)` -> `(B,)` in float32."""
    config = model.config
    check_prompt(config, "input_ids", input_ids, "attention_mask", attention_mask, None, config.break_token_id)
    check_image_tokens(config, "image_token_ids", image_token_ids, input_ids.shape[0])
    device = model.device
    input_ids, image_token_ids = input_ids.to(device), image_token_ids.to(device)
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    sequence = torch.cat([input_ids, image_token_ids], dim=1)
    mask = torch.cat([attention_mask.to(device), torch.ones_like(image_token_ids)], dim=1)
    # The logits that predict the image tokens: at the prompt's last position and every image token but the last.
    output = model(
        input_ids=sequence, attention_mask=mask, use_cache=False, logits_to_keep=image_token_ids.shape[1] + 1
    )
    logits = output.logits[:, :-1].float()
    first = config.image_token_offset
    image_logits = logits[..., first : first + config.image_vocab_size]
    logit_bias = image_logit_bias(config, image_token_ids.shape[1], ends_image=True, device=device)
    if logit_bias is not None:  # over the codes each position may take, as they were drawn
        image_logits = image_logits + logit_bias
    log_probs = torch.log_softmax(image_logits, dim=-1)
    return log_probs.gather(-1, (image_token_ids - first)[..., None]).squeeze(-1).sum(-1)


__all__ = ["image_log_likelihood"]
