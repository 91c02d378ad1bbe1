# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Visual question answering evaluation: an answer per (image, question), written by the model with the paper's
SFT template, scored by the official VQAv2 accuracy against the human answers."""

from __future__ import annotations

import dataclasses
from functools import partial

from .config import check_choice, setting
from .example_data import check_texts
from .image_to_text import ImageToTextEvalConfig, ImageToTextTask, run_image_to_text_eval

NORMALIZATIONS = ("always", "vqaeval")


@dataclasses.dataclass(kw_only=True)
class VQAEvalConfig(ImageToTextEvalConfig):
    """Settings of the VQA recipe ([`run_vqa_eval`]); each is also a `cm3leon eval vqa` option."""

    question_column: str = setting("question", help="Column of the questions.")
    answers_column: str = setting(
        "answers", help="Column of the human answers: strings, or VQAv2's dicts with an 'answer' (10 per question)."
    )
    max_new_tokens: int = setting(10, help="Most tokens generated per answer.")
    normalization: str = setting(
        "always",
        help="Answer normalisation of the accuracy: 'always', or 'vqaeval' (only where the human answers disagree, "
        "as vqaEval.py alone does).",
        choices=NORMALIZATIONS,
    )

    def __post_init__(self):
        super().__post_init__()
        for name in ("question_column", "answers_column"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise TypeError(f"`{name}` must be a non-empty string, got {value!r}.")
        check_choice("normalization", self.normalization, NORMALIZATIONS)


def _record(config: VQAEvalConfig, example: dict, index: int) -> dict:
    question = example[config.question_column]
    if not isinstance(question, str) or not question.strip():
        raise ValueError(f"The question of example {index} (column {config.question_column!r}) is {question!r}.")
    name = f"The answers of example {index} (column {config.answers_column!r})"
    answers = check_texts(example[config.answers_column], name, key="answer")
    if len(answers) < 2:
        raise ValueError(f"{name} hold {len(answers)} answer; VQA accuracy needs at least 2 (VQAv2 has 10).")
    return {"question": question, "references": answers}


def _score(config: VQAEvalConfig, predictions: list[str], records: list[dict]) -> dict:
    from ..metrics import VQAAccuracy

    references = [record["references"] for record in records]
    result = VQAAccuracy().compute(predictions=predictions, references=references, normalization=config.normalization)
    return {"vqa_accuracy": result["accuracy"]}


def run_vqa_eval(config: VQAEvalConfig, *, model=None, processor=None, data=None) -> dict:
    """Answer every question (or reuse the answers of an interrupted run), score them with the VQAv2 accuracy, write
    the results JSON and return it.

    Args:
        config ([`VQAEvalConfig`]): The settings.
        model, processor (*optional*): A loaded `CM3LeonForCausalLM` and its `CM3LeonProcessor`, instead of
            `config.model`.
        data (`datasets.Dataset`, *optional*): The examples, instead of `config.data`.

    Returns:
        `dict`: the results (also written to `config.results_file`, by default `output_dir/results.json`), with
        `metrics["vqa_accuracy"]` in [0, 1] (the official tool prints it x100).
    """
    if not isinstance(config, VQAEvalConfig):
        raise TypeError(f"`config` must be a VQAEvalConfig, got {type(config).__name__}.")
    task = ImageToTextTask(
        name="vqa",
        columns=("question_column", "answers_column"),
        build_prompt=lambda processor, image, example: processor.vqa_prompt(image, example[config.question_column]),
        record=partial(_record, config),
        score=partial(_score, config),
        settings=(),
        protocol={
            "prompt": (
                "</s> Question: {question} Answer: <sentinel:0> <racm3:break> image <sentinel:0>, the answer ends at "
                "<eoss> (the paper's SFT template, answer infilled)"
            ),
            "vqa_accuracy": (
                "official VQAv2 accuracy: mean over the 10 leave-one-out subsets of min(1, matches / 3), after the "
                f"official answer normalisation ({config.normalization!r})"
            ),
        },
    )
    return run_image_to_text_eval(config, task, model, processor, data)


__all__ = ["NORMALIZATIONS", "VQAEvalConfig", "run_vqa_eval"]
