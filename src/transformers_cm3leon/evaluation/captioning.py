# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Image captioning evaluation: a caption per image, written by the model, scored by CIDEr-D against the references
(as the COCO caption evaluation does, with a pure-Python PTB tokenizer)."""

from __future__ import annotations

import dataclasses
from functools import partial

from .config import check_choice, setting
from .example_data import check_texts
from .image_to_text import ImageToTextEvalConfig, ImageToTextTask, run_image_to_text_eval

PROMPT_MODES = ("infill", "continuation")


@dataclasses.dataclass(kw_only=True)
class CaptioningEvalConfig(ImageToTextEvalConfig):
    """Settings of the captioning recipe ([`run_captioning_eval`]); each is also a `cm3leon eval captioning` option."""

    references_column: str = setting("references", help="Column of the reference captions (a list of strings).")
    prompt_mode: str = setting(
        "infill",
        help="'infill': the paper's 'Image of <mask>' prompt, the caption is infilled before the image; "
        "'continuation': the caption follows the image.",
        choices=PROMPT_MODES,
    )

    def __post_init__(self):
        super().__post_init__()
        if not isinstance(self.references_column, str) or not self.references_column:
            raise TypeError(f"`references_column` must be a non-empty string, got {self.references_column!r}.")
        check_choice("prompt_mode", self.prompt_mode, PROMPT_MODES)


def _record(config: CaptioningEvalConfig, example: dict, index: int) -> dict:
    name = f"The references of example {index} (column {config.references_column!r})"
    return {"references": check_texts(example[config.references_column], name)}


def _score(predictions: list[str], records: list[dict]) -> dict:
    from ..metrics import CIDEr

    references = [record["references"] for record in records]
    return {"cider": CIDEr().compute(predictions=predictions, references=references)["cider"]}


def run_captioning_eval(config: CaptioningEvalConfig, *, model=None, processor=None, data=None) -> dict:
    """Caption every image (or reuse the captions of an interrupted run), score them with CIDEr-D, write the results
    JSON and return it.

    Args:
        config ([`CaptioningEvalConfig`]): The settings.
        model, processor (*optional*): A loaded `CM3LeonForCausalLM` and its `CM3LeonProcessor`, instead of
            `config.model`.
        data (`datasets.Dataset`, *optional*): The examples, instead of `config.data`.

    Returns:
        `dict`: the results (also written to `config.results_file`, by default `output_dir/results.json`), with
        `metrics["cider"]` on pycocoevalcap's scale (papers print it x100).
    """
    if not isinstance(config, CaptioningEvalConfig):
        raise TypeError(f"`config` must be a CaptioningEvalConfig, got {type(config).__name__}.")
    task = ImageToTextTask(
        name="captioning",
        columns=("references_column",),
        build_prompt=lambda processor, image, example: processor.captioning_prompt(image, mode=config.prompt_mode),
        record=partial(_record, config),
        score=_score,
        settings=("prompt_mode",),
        protocol={
            "prompt": (
                "</s> <sentinel:0> <racm3:break> image <sentinel:0>, the caption ends at <eoss> (the paper's infilling)"
                if config.prompt_mode == "infill"
                else "</s> image <racm3:break>, the caption follows the image"
            ),
            "cider": (
                "CIDEr-D as pycocoevalcap's scorer computes it, after PTB tokenization (pure Python). Its idf comes "
                "from the evaluated references: compare scores on the same set of images only."
            ),
        },
    )
    return run_image_to_text_eval(config, task, model, processor, data)


__all__ = ["CaptioningEvalConfig", "PROMPT_MODES", "run_captioning_eval"]
