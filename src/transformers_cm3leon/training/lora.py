# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""PEFT for CM3Leon: LoRA on the package's default target modules, and image-token-only output-head tuning.

PEFT has no default LoRA targets for `model_type="cm3leon"`, so the package ships its own
([`CM3LEON_LORA_TARGET_MODULES`]: every attention and MLP projection of both blocks) and [`get_lora_config`].

**Image-token rows of the head** (Anole's recipe: train only the output-head rows of the image tokens, so a
text-only checkpoint learns to draw) go through PEFT's `trainable_token_indices`. The CM3Leon block ties the head
to the input embeddings by default, and PEFT then behaves as follows (checked with peft 0.21):

- `{"lm_head": ids}` alone on a tied model trains separate head rows while the adapter is active, but
  `merge_and_unload()` writes them into the *shared* matrix, so the input embeddings of the image tokens change as
  well and the merged model computes different logits from the adapter model. [`get_lora_config`] refuses it.
- `{"embed_tokens": ids}` on a tied model makes PEFT wrap both the embedding and the head with *one* set of
  trainable rows: the image-token rows of the shared matrix are trained, in both places, and merging is exact. This
  is what [`image_token_indices`] returns for a tied model.
- For head-only rows on a tied model (exactly Anole's recipe), untie first with [`untie_output_embeddings`]; then
  `{"lm_head": ids}` trains only the head and merging is exact. Save the untied base model: the adapter belongs to it.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

CM3LEON_LORA_TARGET_MODULES: tuple[str, ...] = (
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
)
"""Module-name suffixes LoRA adapts by default: the attention projections and the MLP (`gate_proj` exists only in the
Chameleon block's SwiGLU MLP; PEFT matches whichever are present)."""


def image_token_indices(config) -> dict[str, list[int]]:
    """`trainable_token_indices` that train the image-token rows of the output head (see the module docstring).

    A tied model gets `{"embed_tokens": ids}` (PEFT ties the head to it: the shared rows are trained), an untied
    model `{"lm_head": ids}` (the head rows only).
    """
    ids = list(config.image_token_ids)
    return {"embed_tokens": ids} if config.tie_word_embeddings else {"lm_head": ids}


def _check_trainable_token_indices(indices, config) -> None:
    if config is None or not getattr(config, "tie_word_embeddings", False) or not isinstance(indices, dict):
        return
    if "lm_head" in indices and "embed_tokens" not in indices:
        raise ValueError(
            "`trainable_token_indices={'lm_head': ...}` on a model whose head is tied to its input embeddings trains "
            "head rows that `merge_and_unload()` then writes into the shared matrix (the merged model would differ "
            "from the adapter model). Use `image_token_indices(config)` (trains the shared rows) or call "
            "`untie_output_embeddings(model)` first (trains the head rows only)."
        )


def get_lora_config(
    config=None,
    *,
    r: int = 16,
    lora_alpha: float = 32,
    lora_dropout: float = 0.0,
    target_modules: Sequence[str] | str | None = None,
    train_image_token_rows: bool = False,
    **kwargs,
):
    r"""
    A `peft.LoraConfig` for [`CM3LeonForCausalLM`].

    Args:
        config ([`CM3LeonConfig`], *optional*): The model's config; needed for `train_image_token_rows` and to check
            `trainable_token_indices` against a tied head.
        r (`int`, *optional*, defaults to 16): LoRA rank.
        lora_alpha (`float`, *optional*, defaults to 32): LoRA scale numerator (the update is scaled by alpha / r).
        lora_dropout (`float`, *optional*, defaults to 0.0): Dropout on the LoRA input.
        target_modules (`list[str]` or `str`, *optional*): Module-name suffixes or a regex; defaults to
            [`CM3LEON_LORA_TARGET_MODULES`].
        train_image_token_rows (`bool`, *optional*, defaults to `False`): Also train the image-token rows of the head
            ([`image_token_indices`]).
        kwargs: Any other `LoraConfig` field (`modules_to_save`, `exclude_modules`, `use_rslora`, ...).

    Example:

    ```python
    >>> from peft import get_peft_model
    >>> peft_model = get_peft_model(model, get_lora_config(model.config, r=8))
    >>> peft_model.print_trainable_parameters()
    ```
    """
    from peft import LoraConfig, TaskType

    if target_modules is None:
        target_modules = list(CM3LEON_LORA_TARGET_MODULES)
    elif not isinstance(target_modules, str):
        target_modules = list(target_modules)
    if train_image_token_rows:
        if config is None:
            raise ValueError("`train_image_token_rows=True` needs the model's `config` (for the image-token ids).")
        if "trainable_token_indices" in kwargs:
            raise ValueError("Give either `train_image_token_rows=True` or `trainable_token_indices`, not both.")
        kwargs["trainable_token_indices"] = image_token_indices(config)
    _check_trainable_token_indices(kwargs.get("trainable_token_indices"), config)
    kwargs.setdefault("task_type", TaskType.CAUSAL_LM)
    return LoraConfig(r=r, lora_alpha=lora_alpha, lora_dropout=lora_dropout, target_modules=target_modules, **kwargs)


def get_image_head_tuning_config(config):
    """A `peft.TrainableTokensConfig` that trains only the image-token rows of the output head (no LoRA).

    With a tied head (the CM3Leon block's default) the rows of the shared embedding/head matrix are trained; call
    [`untie_output_embeddings`] first to train the head's rows alone.
    """
    from peft import TrainableTokensConfig

    ((target, ids),) = image_token_indices(config).items()
    return TrainableTokensConfig(target_modules=[target], token_indices=ids)


def untie_output_embeddings(model) -> nn.Module:
    """Give the output head its own copy of the tied weights and record `tie_word_embeddings=False` in the config.

    The model keeps computing the same logits; the head can now be trained (or adapted) apart from the input
    embeddings. The saved checkpoint then holds both matrices.
    """
    head, embeddings = model.get_output_embeddings(), model.get_input_embeddings()
    if head is None:
        raise ValueError(f"{type(model).__name__} has no output head to untie.")
    if head.weight is embeddings.weight:
        head.weight = nn.Parameter(embeddings.weight.detach().clone(), requires_grad=embeddings.weight.requires_grad)
    model.config.tie_word_embeddings = False
    if hasattr(model.config, "get_text_config"):
        model.config.get_text_config().tie_word_embeddings = False
    return model


__all__ = [
    "CM3LEON_LORA_TARGET_MODULES",
    "get_image_head_tuning_config",
    "get_lora_config",
    "image_token_indices",
    "untie_output_embeddings",
]
