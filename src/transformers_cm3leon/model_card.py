# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Model cards for CM3Leon folders and Hub repositories.

`create_model_card` fills `model_card_template.md` (package data) with the Hub metadata (library, pipeline tag,
tags, license, base model, evaluation results), a usage snippet that runs against the repository, and an
architecture summary read from the configurations. `write_model_card` does the same for a saved folder and writes
its `README.md`; the conversion scripts call it.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData
from transformers import GenerationConfig

from .configuration_cm3leon import CM3LeonConfig, CM3LeonVQConfig
from .image_processing_cm3leon import IMAGE_TOKENIZER_SUBFOLDER

TEMPLATE_NAME = "model_card_template.md"
LIBRARY_NAME = "transformers"
PIPELINE_TAG = "text-to-image"
BASE_TAGS = ("transformers-cm3leon", "cm3leon", "text-to-image", "image-to-text", "multimodal", "vqgan")
TEXT_ONLY_TAGS = ("transformers-cm3leon", "cm3leon", "text-generation")

CM3LEON_CITATION = """@article{yu2023scaling,
  title={Scaling Autoregressive Multi-Modal Models: Pretraining and Instruction Tuning},
  author={Yu, Lili and Shi, Bowen and Pasunuru, Ramakanth and Muller, Benjamin and Golovneva, Olga and Wang, Tianlu and Babu, Arun and Tang, Binh and Karrer, Brian and Sheynin, Shelly and others},
  journal={arXiv preprint arXiv:2309.02591},
  year={2023}
}"""
CHAMELEON_CITATION = """@article{chameleonteam2024chameleon,
  title={Chameleon: Mixed-Modal Early-Fusion Foundation Models},
  author={Chameleon Team},
  journal={arXiv preprint arXiv:2405.09818},
  year={2024}
}"""
# Meta's Chameleon weights (and their fine-tunes) are released under this license, not Apache-2.0.
CHAMELEON_LICENSE = {
    "license": "other",
    "license_name": "chameleon-research-license",
    "license_link": "https://ai.meta.com/resources/models-and-libraries/chameleon-license/",
}


def _eval_result(result: EvalResult | Mapping, index: int) -> EvalResult:
    if isinstance(result, EvalResult):
        return result
    if not isinstance(result, Mapping):
        raise TypeError(f"`eval_results[{index}]` must be an EvalResult or a dict, got {type(result).__name__}.")
    required = ("task_type", "dataset_type", "dataset_name", "metric_type", "metric_value")
    missing = [key for key in required if key not in result]
    if missing:
        raise ValueError(f"`eval_results[{index}]` lacks {missing}; each result needs {list(required)}.")
    return EvalResult(**result)


def _count(value: int) -> str:
    for unit, size in (("B", 10**9), ("M", 10**6), ("K", 10**3)):
        if value >= size:
            return f"{value / size:.2f}{unit}"
    return str(value)


def count_parameters(config: CM3LeonConfig) -> int:
    """Parameters of `CM3LeonForCausalLM(config)`, counted on the meta device (nothing is allocated)."""
    import torch

    from .modeling_cm3leon import CM3LeonForCausalLM

    with torch.device("meta"):
        model = CM3LeonForCausalLM(config)
    return sum(p.numel() for p in model.parameters())


def architecture_summary(config: CM3LeonConfig) -> list[tuple[str, str]]:
    """Rows (name, value) describing the language model."""
    chameleon = config.block_type == "chameleon"
    if chameleon:
        block = "Chameleon (RMSNorm, SwiGLU, rotary positions" + (", QK-norm" if config.qk_norm else "")
        block += (", Swin-style norm order" if config.swin_norm else "") + ")"
        positions = f"rotary, theta = {config.rope_parameters.get('rope_theta')}"
    else:
        block = "CM3Leon (OPT-style pre-LayerNorm without parameters, no biases)"
        positions = "learned absolute (OPT offset 2)"
    heads = str(config.num_attention_heads)
    if config.num_key_value_heads != config.num_attention_heads:
        heads += f" query / {config.num_key_value_heads} key-value (grouped-query)"
    image_ids = config.image_token_ids
    rows = [
        ("Parameters", _count(count_parameters(config))),
        ("Block", block),
        ("Layers", str(config.num_hidden_layers)),
        ("Hidden size", str(config.hidden_size)),
        ("MLP size", f"{config.intermediate_size} ({config.hidden_act})"),
        ("Attention heads", f"{heads}, head size {config.head_dim}"),
        ("Positions", positions),
        ("Context", f"{config.max_position_embeddings} tokens"),
        ("Vocabulary", f"{config.vocab_size} tokens, image tokens at ids {image_ids.start}..{image_ids.stop - 1}"),
        ("Tokens per image", str(config.image_seq_length)),
        ("Modality tokens", f"`<racm3:break>` = {config.break_token_id}, `<eoss>` = {config.eoss_token_id}"),
        (
            "Sentinels",
            f"{config.num_sentinel_tokens} from id {config.sentinel_token_offset}"
            if config.num_sentinel_tokens
            else "none",
        ),
        ("Output head", "tied to the input embeddings" if config.tie_word_embeddings else "untied"),
    ]
    return rows


def image_tokenizer_summary(config: CM3LeonVQConfig) -> list[tuple[str, str]]:
    """Rows (name, value) describing the VQ image tokenizer."""
    grid = f"{config.grid_size} x {config.grid_size}"
    rows = [
        ("Type", "taming-transformers VQGAN (encoder, nearest-neighbour quantizer, decoder)"),
        ("Resolution", f"{config.resolution} x {config.resolution} pixels"),
        ("Codes per image", f"{grid} = {config.grid_size**2}"),
        ("Codebook", f"{config.num_embeddings} codes of dimension {config.embed_dim}"),
        ("Downsampling", f"factor {config.downsample_factor}"),
    ]
    if config.num_palette_embeddings:
        rows[2] = ("Codes per image", f"{grid} + 1 palette code = {config.image_seq_length}")
        rows.append(("Palette", f"{config.num_palette_embeddings} codes, read from the colours, added to the decoder"))
    return rows


def _text_to_image_defaults(generation_config: GenerationConfig | None) -> dict:
    """The checkpoint's own text-to-image pipeline defaults (`generation_config.image_generation_defaults`)."""
    per_task = getattr(generation_config, "image_generation_defaults", None) or {}
    defaults = per_task.get("text-to-image") if isinstance(per_task, dict) else None
    return defaults if isinstance(defaults, dict) else {}


def _generation_defaults(generation_config: GenerationConfig | None) -> str:
    if generation_config is None:
        return ""
    parts = []
    if generation_config.do_sample:
        parts.append("sampling")
    for name in ("temperature", "top_p", "top_k"):
        value = getattr(generation_config, name, None)
        if value is not None and (name != "top_k" or generation_config.do_sample):
            parts.append(f"`{name}={value}`")
    image = _text_to_image_defaults(generation_config)
    if image:
        parts.append("text-to-image " + ", ".join(f"`{name}={value}`" for name, value in image.items()))
    return ", ".join(parts)


def _image_arguments(generation_config: GenerationConfig | None) -> str:
    """Keyword arguments of the text-to-image snippet: the checkpoint's own decoding defaults, when it has them."""
    return "".join(f"{name}={value}, " for name, value in _text_to_image_defaults(generation_config).items())


def create_model_card(
    config: CM3LeonConfig,
    repo_id: str,
    *,
    model_name: str | None = None,
    description: str | None = None,
    source: str | None = None,
    base_model: str | list[str] | None = None,
    license: str = "apache-2.0",
    license_name: str | None = None,
    license_link: str | None = None,
    tags: Iterable[str] = (),
    datasets: str | list[str] | None = None,
    eval_results: Iterable[EvalResult | Mapping] | None = None,
    vq_config: CM3LeonVQConfig | None = None,
    generation_config: GenerationConfig | None = None,
    remote_code: bool = False,
    language: str | list[str] | None = "en",
) -> ModelCard:
    """A model card for a CM3Leon model.

    Args:
        config ([`CM3LeonConfig`]): The language model's configuration (architecture summary, prompt style).
        repo_id (`str`): Hub id (`"org/name"`) or local path the usage snippet loads from.
        model_name (`str`, *optional*): Title of the card; defaults to the last part of `repo_id`.
        description (`str`, *optional*): Paragraph under the title.
        source (`str`, *optional*): What the weights were converted from (a phrase, e.g. "Meta's Chameleon-7B").
        base_model (`str` or `list[str]`, *optional*): Hub id(s) of the model(s) this one derives from.
        license (`str`): SPDX-like Hub license id; `"other"` requires `license_name` and `license_link`.
        license_name (`str`, *optional*), license_link (`str`, *optional*): For `license="other"`.
        tags (`Iterable[str]`): Extra tags, added to the CM3Leon ones.
        datasets (`str` or `list[str]`, *optional*): Training datasets (Hub ids).
        eval_results (*optional*): `huggingface_hub.EvalResult`s or dicts with `task_type`, `dataset_type`,
            `dataset_name`, `metric_type`, `metric_value` (and optionally `metric_name`, `dataset_split`, ...).
        vq_config ([`CM3LeonVQConfig`], *optional*): The image tokenizer's configuration; `None` means the
            repository has no image tokenizer, which the card states.
        generation_config ([`~transformers.GenerationConfig`], *optional*): Decoding defaults to list.
        remote_code (`bool`): Whether the repository carries its code (`trust_remote_code=True` snippet).
        language (`str` or `list[str]`, *optional*): Language(s) of the text.

    Returns:
        `huggingface_hub.ModelCard`; `card.save(path)` writes it, `card.push_to_hub(repo_id)` uploads it.
    """
    if not isinstance(config, CM3LeonConfig):
        raise TypeError(f"`config` must be a CM3LeonConfig, got {type(config).__name__}.")
    if vq_config is not None and not isinstance(vq_config, CM3LeonVQConfig):
        raise TypeError(f"`vq_config` must be a CM3LeonVQConfig or None, got {type(vq_config).__name__}.")
    if not isinstance(repo_id, str) or not repo_id:
        raise ValueError(f"`repo_id` must be a non-empty string (a Hub id or a local path), got {repo_id!r}.")
    if license == "other" and not (license_name and license_link):
        raise ValueError("`license='other'` needs `license_name` and `license_link` (the Hub requires both).")
    if isinstance(tags, str):
        raise TypeError("`tags` must be an iterable of strings, not a single string.")
    results = [_eval_result(result, i) for i, result in enumerate(eval_results or [])]
    model_name = model_name or Path(repo_id.rstrip("/")).name
    chameleon = config.block_type == "chameleon"

    # Without an image tokenizer the weights read and write text only: no image tags, the text pipeline's tag.
    base_tags = BASE_TAGS if vq_config is not None else TEXT_ONLY_TAGS
    card_data = ModelCardData(
        library_name=LIBRARY_NAME,
        pipeline_tag=PIPELINE_TAG if vq_config is not None else "text-generation",
        tags=list(dict.fromkeys([*base_tags, *(["chameleon"] if chameleon else []), *tags])),
        license=license,
        license_name=license_name,
        license_link=license_link,
        base_model=base_model,
        datasets=datasets,
        language=language,
        model_name=model_name,
        eval_results=results or None,
    )
    if license == "other":
        license_text = f"[{license_name}]({license_link})"
    else:
        license_text = f"`{license}`"
    if base_model:
        license_text += " (the license of the base model applies to these weights)."
    template = resources.files(__package__).joinpath(TEMPLATE_NAME).read_text(encoding="utf-8")
    card = ModelCard.from_template(
        card_data,
        template_str=template,
        model_name=model_name,
        description=description
        or "A decoder-only, token-based multimodal model in the CM3Leon family: text and VQ image tokens in one "
        "sequence, for text-to-image generation, captioning and visual question answering.",
        source=source,
        repo_id=repo_id,
        has_image_tokenizer=vq_config is not None,
        remote_code=remote_code,
        # Chameleon documents begin with <s>; CM3Leon's with </s> (metaseq's document separator).
        text_prompt="<s>A photo of" if config.num_sentinel_tokens == 0 else "</s>A photo of",
        generation_defaults=_generation_defaults(generation_config),
        image_prompt="a red circle on a white background",
        image_arguments=_image_arguments(generation_config),
        architecture=architecture_summary(config),
        image_tokenizer=image_tokenizer_summary(vq_config) if vq_config is not None else None,
        eval_results=results,
        license_text=license_text,
        citation=CM3LEON_CITATION + ("\n\n" + CHAMELEON_CITATION if chameleon else ""),
    )
    # The template's optional sections leave runs of blank lines behind; one blank line separates blocks.
    card.content = re.sub(r"\n{3,}", "\n\n", card.content)
    return card


def write_model_card(save_directory: str | os.PathLike, repo_id: str | None = None, **kwargs) -> ModelCard:
    """Write `README.md` into a saved CM3Leon folder, reading its `config.json`, `generation_config.json` and
    `image_tokenizer/config.json`; whether it carries remote code is read from `config.json`'s `auto_map`.

    `repo_id` defaults to the folder's path, so the card's snippet runs against the folder itself. Other keyword
    arguments go to [`create_model_card`].
    """
    folder = Path(save_directory)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{str(folder)!r} has no config.json; save the model there first.")
    config = CM3LeonConfig.from_pretrained(folder)
    vq_folder = folder / IMAGE_TOKENIZER_SUBFOLDER
    vq_config = CM3LeonVQConfig.from_pretrained(vq_folder) if (vq_folder / "config.json").is_file() else None
    generation_config = (
        GenerationConfig.from_pretrained(folder) if (folder / "generation_config.json").is_file() else None
    )
    remote_code = "auto_map" in json.loads((folder / "config.json").read_text(encoding="utf-8"))
    kwargs.setdefault("vq_config", vq_config)
    kwargs.setdefault("generation_config", generation_config)
    kwargs.setdefault("remote_code", remote_code)
    card = create_model_card(config, repo_id or str(folder), **kwargs)
    card.save(folder / "README.md")
    return card


__all__ = ["CHAMELEON_LICENSE", "create_model_card", "write_model_card"]
