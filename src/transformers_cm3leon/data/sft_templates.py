# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The SFT task templates of the CM3Leon paper (Table 5) and the `datasets.map` step using them.

A template turns a dataset row (a dict) into a [`Document`]: text segments are `str.format` strings over the row's
fields, image slots take the row's image (token ids or an image). Segments are joined by `<racm3:break>`, so the
paper's `A <break> {image}` is the template `("A", ImageSlot("image"))`. Each template marks the field where the
output starts (the generated image, the caption, the answer) for `loss_on="output"`; the paper trains on the whole
sequence (`loss_on="all"`, the default).

The wording is the paper's Table 5, reconstructed from the PDF's table; `[newline]` is "\\n".
Choices the paper leaves open, made here: object boxes are written `label at location (x0, y0) -> (x1, y1)` joined
by ", " (Fig. 15), in pixel coordinates of the model's image (0-255 at 256 px); ScienceQA options are written
`(A) first (B) second ...`, and an integer answer is replaced by the text of that option.

Field names are the paper's placeholders (`image1`, `edit_instruction`, `ocr_content`, ...). Map other column
names with `field_map={"edit_instruction": "edit_prompt"}`. An image field `x` is read from the column `x`, or from
`x_token_ids` (what `ImagePretokenizer` writes) when `x` is absent.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .document import Document, DocumentEncoder, is_token_ids
from .skipping import SkipCounter, check_on_error


class TemplateFieldError(ValueError):
    """A row lacks a field a template needs, or the field's value is unusable."""

    def __init__(self, template: str, field_name: str, problem: str):
        self.template = template
        self.field = field_name
        self.problem = problem
        super().__init__(f"SFT template {template!r}: field {field_name!r} {problem}")


@dataclass(frozen=True)
class ImageSlot:
    """An image segment of a template, filled from the row's field `field`."""

    field: str


@dataclass(frozen=True)
class SFTTemplate:
    r"""
    A named SFT template.

    Args:
        name (`str`): Registry name.
        segments (`tuple`): Text segments (`str.format` strings over row fields) and [`ImageSlot`]s, in order.
        output_field (`str`): The field where the output starts; the output runs to the end of its segment.
        formatters (`dict`, *optional*): Field name -> `fn(value, get) -> str` for fields that are not plain text;
            `get(name)` reads another field of the row.
    """

    name: str
    segments: tuple
    output_field: str
    formatters: Mapping[str, Callable] = field(default_factory=dict)

    @property
    def fields(self) -> tuple[str, ...]:
        """The row fields the template reads, in order of appearance."""
        names = []
        for part in self.segments:
            found = [part.field] if isinstance(part, ImageSlot) else [f for _, f, _, _ in _parse(part) if f]
            names += [f for f in found if f not in names]
        return tuple(names)

    @property
    def pattern(self) -> str:
        """The template as the paper's Table 5 writes it, e.g. `Question: {question} Answer: {answer}. <break> {image}`
        (`[newline]` stands for the "\\n" the template writes)."""
        return " <break> ".join(
            f"{{{part.field}}}" if isinstance(part, ImageSlot) else part.replace("\n", " [newline] ")
            for part in self.segments
        )

    def render(self, row: Mapping, field_map: Mapping[str, str] | None = None) -> Document:
        """Fill the template from `row`; raises [`TemplateFieldError`] naming the template and the field."""
        field_map = field_map or {}

        def get(name: str, image: bool = False):
            column = field_map.get(name, name)
            if image and column not in row and f"{column}_token_ids" in row:
                column = f"{column}_token_ids"
            if column not in row or row[column] is None:
                problem = "is missing" if column not in row else "is None"
                raise TemplateFieldError(
                    self.name, name, f"{problem} (column {column!r}; the row has columns {sorted(row)})."
                )
            return row[column]

        segments: list = []
        output_start = None
        for s, part in enumerate(self.segments):
            if isinstance(part, ImageSlot):
                value = get(part.field, image=True)
                if isinstance(value, (str, bytes)) or (is_token_ids(value) and len(value) == 0):
                    raise TemplateFieldError(
                        self.name, part.field, f"must be image token ids or an image, got {_describe(value)}."
                    )
                if part.field == self.output_field:
                    output_start = (s, 0)
                segments.append(value)
                continue
            text = ""
            for literal, name, _, _ in _parse(part):
                text += literal
                if name is None:
                    continue
                if name == self.output_field:
                    # The output keeps the whitespace before it: the prompt ends where an inference prompt would.
                    output_start = (s, len(text.rstrip()))
                text += self._format(name, get)
            segments.append(text)
        return Document(segments, output_start)

    def _format(self, name: str, get: Callable) -> str:
        value = get(name)
        formatter = self.formatters.get(name)
        if formatter is not None:
            try:
                return formatter(value, get)
            except TemplateFieldError:
                raise
            except (ValueError, TypeError, KeyError, IndexError) as error:
                raise TemplateFieldError(self.name, name, f"is unusable: {error}") from error
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
            return str(value)
        raise TemplateFieldError(self.name, name, f"must be text, got {_describe(value)}.")


def _parse(format_string: str):
    return string.Formatter().parse(format_string)


def _describe(value) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:60] + '...' if len(text) > 60 else text}"


# -- field formatters -------------------------------------------------------------------------------------------------
def format_grounding_objects(objects, get=None) -> str:
    """`label at location (x0, y0) -> (x1, y1), ...` from objects with a `label` and a `box` (x0, y0, x1, y1).

    Accepts a list of `{"label": ..., "box": ...}` dicts, a list of `(label, box)` pairs, or a dict of two lists
    `{"label": [...], "box": [...]}` (the shape of a `datasets` Sequence-of-dict column). Boxes are pixel
    coordinates of the model's image; they are rounded to integers.
    """
    if isinstance(objects, Mapping):
        if "label" not in objects or "box" not in objects:
            raise ValueError(f"a dict of objects needs 'label' and 'box' lists, got keys {sorted(objects)}")
        objects = list(zip(objects["label"], objects["box"]))
    if isinstance(objects, str) or not isinstance(objects, Sequence) or len(objects) == 0:
        raise ValueError(f"expected a non-empty list of objects, got {_describe(objects)}")
    described = []
    for obj in objects:
        label, box = (obj.get("label"), obj.get("box")) if isinstance(obj, Mapping) else obj
        if not isinstance(label, str) or not label:
            raise ValueError(f"an object's label must be a non-empty string, got {label!r}")
        if len(box) != 4:
            raise ValueError(f"a box must be (x0, y0, x1, y1), got {box!r}")
        x0, y0, x1, y1 = (int(round(float(v))) for v in box)
        if min(x0, y0) < 0 or x1 < x0 or y1 < y0:
            raise ValueError(f"a box needs 0 <= x0 <= x1 and 0 <= y0 <= y1, got {tuple(box)!r}")
        described.append(f"{label} at location ({x0}, {y0}) -> ({x1}, {y1})")
    return ", ".join(described)


def format_choices(choices, get=None) -> str:
    """`(A) first (B) second ...` from a list of options; a string is used as it is."""
    if isinstance(choices, str):
        return choices
    if not isinstance(choices, Sequence) or len(choices) == 0 or len(choices) > 26:
        raise ValueError(f"expected a string or a list of 1 to 26 options, got {_describe(choices)}")
    return " ".join(f"({chr(ord('A') + i)}) {option}" for i, option in enumerate(choices))


def format_answer(answer, get) -> str:
    """An answer as text; an integer indexes the row's `choices`."""
    if isinstance(answer, str):
        return answer
    if isinstance(answer, (int, np.integer)) and not isinstance(answer, bool):
        choices = get("choices")
        if isinstance(choices, str) or not 0 <= answer < len(choices):
            raise ValueError(f"an integer answer {answer} needs a list of choices holding it, got {choices!r}")
        return str(choices[answer])
    raise ValueError(f"expected text or an option index, got {_describe(answer)}")


# -- the registry -----------------------------------------------------------------------------------------------------
# Condition -> wording of "Make high quality image from ..." (Table 5; M-LSD is from Fig. 15 and the metaseq demo).
_CONDITION_TO_IMAGE = {
    "edge_to_image": "canny edge features",
    "segmentation_to_image": "a segmentation map",
    "hed_to_image": "hed features",
    "pose_to_image": "openpose features",
    "depth_to_image": "depth features",
    "normal_to_image": "3D norm features",
    "scribble_to_image": "children's scribbles",
    "mlsd_to_image": "mlsd lines",
}
_LONG_CAPTIONS = {
    "long_caption_detail": "Describe the given picture in very detail.",
    "long_caption_objects": "Describe all the objects in the given image in very detail.",
    "long_caption": "Generate a long caption for the given image.",
    "long_narration": "Generate a long narration of what is happening in the given image.",
}
_SCIENCEQA_PROMPT = "Question: {question}\nContext: {context}\nOptions: {choices}\nAnswer:"
_SCIENCEQA_FORMATTERS = {"choices": format_choices, "answer": format_answer}


def _build_registry() -> dict[str, SFTTemplate]:
    image = ImageSlot("image")
    templates = [
        # Image output.
        SFTTemplate(
            "text_guided_editing",
            (
                "Edit first image following the instruction",
                ImageSlot("image1"),
                "{edit_instruction}",
                ImageSlot("image2"),
            ),
            output_field="image2",
        ),
        SFTTemplate("ocr_draw", ('draw "{ocr_content}"', image), output_field="image"),
        SFTTemplate(
            "spatially_grounded_generation",
            ("Generate high quality image of {caption} with segmentations {objects}", image),
            output_field="image",
            formatters={"objects": format_grounding_objects},
        ),
        *(
            SFTTemplate(
                name,
                (f"Make high quality image from {condition}", ImageSlot("condition_image"), "{caption}", image),
                output_field="image",
            )
            for name, condition in _CONDITION_TO_IMAGE.items()
        ),
        # Text output.
        SFTTemplate("captioning", ("{caption}", image), output_field="caption"),
        SFTTemplate("captioning_describe", ("Describe the given picture. {caption}", image), output_field="caption"),
        *(
            SFTTemplate(name, (f"{instruction} {{caption}}", image), output_field="caption")
            for name, instruction in _LONG_CAPTIONS.items()
        ),
        SFTTemplate("vqa_answer", ("Question: {question} Answer: {answer}.", image), output_field="answer"),
        SFTTemplate("vqa_newline", ("Question: {question}\n{answer}", image), output_field="answer"),
        SFTTemplate(
            "vqa_the_answer_is", ("Question: {question} The answer is {answer}.", image), output_field="answer"
        ),
        SFTTemplate(
            "scienceqa",
            (_SCIENCEQA_PROMPT + " {answer}.", image),
            output_field="answer",
            formatters=_SCIENCEQA_FORMATTERS,
        ),
        SFTTemplate(
            "scienceqa_reasoning",
            (_SCIENCEQA_PROMPT + " Let's think step-by-step: {explanation} So the answer is {answer}.", image),
            output_field="explanation",
            formatters=_SCIENCEQA_FORMATTERS,
        ),
    ]
    return {template.name: template for template in templates}


SFT_TEMPLATES: dict[str, SFTTemplate] = _build_registry()
"""Every Table 5 template by name."""

SFT_TEMPLATE_VARIANTS: dict[str, tuple[str, ...]] = {
    "captioning": ("captioning", "captioning_describe"),  # MS-COCO, Flickr30k
    "image_paragraph": ("long_caption_detail", "long_caption_objects", "long_caption"),
    "localized_narratives": ("long_caption_detail", "long_narration", "long_caption"),
    "vqa": ("vqa_answer", "vqa_newline", "vqa_the_answer_is"),  # VQA2, VizWiz, OKVQA
    "scienceqa": ("scienceqa", "scienceqa_reasoning"),
}
"""Datasets the paper trains with several templates: one is drawn per row, uniformly."""


def get_sft_template(name: str) -> SFTTemplate:
    """The registered template `name`."""
    if name not in SFT_TEMPLATES:
        raise ValueError(f"Unknown SFT template {name!r}; registered templates: {sorted(SFT_TEMPLATES)}.")
    return SFT_TEMPLATES[name]


def resolve_templates(templates) -> list[SFTTemplate]:
    """Templates from a template, a registered template name, a variant-group name, or a list of these."""
    if isinstance(templates, SFTTemplate):
        return [templates]
    if isinstance(templates, str):
        if templates in SFT_TEMPLATES:
            return [SFT_TEMPLATES[templates]]
        if templates in SFT_TEMPLATE_VARIANTS:
            return [SFT_TEMPLATES[name] for name in SFT_TEMPLATE_VARIANTS[templates]]
        raise ValueError(
            f"Unknown SFT template {templates!r}; registered templates: {sorted(SFT_TEMPLATES)}; variant groups: "
            f"{sorted(SFT_TEMPLATE_VARIANTS)}."
        )
    if isinstance(templates, Sequence) and len(templates) > 0:
        return [t for item in templates for t in resolve_templates(item)]
    raise TypeError(f"`templates` must be an SFTTemplate, a name, or a non-empty list of these, got {templates!r}.")


class SFTExampleBuilder:
    r"""
    A batched `datasets.map` step that renders rows through SFT templates and encodes them into `input_ids` (and
    `labels` with `loss_on="output"`).

    Args:
        templates: A template, a registered name (`"vqa_answer"`), a variant group (`"vqa"`: one of its templates is
            drawn per row, uniformly, from `seed` and the row index), or a list of these.
        tokenizer: The text tokenizer (see [`DocumentEncoder`]).
        config ([`CM3LeonConfig`], *optional*): Source of `eos_token_id` and `break_token_id`.
        eos_token_id, break_token_id (`int`, *optional*): Explicit ids; win over `config`.
        image_processor (*optional*): Tokenizes image fields that are images rather than token ids.
        loss_on (`str`, *optional*, defaults to `"all"`): `"all"` (the paper) or `"output"`.
        max_length (`int`, *optional*): Longest allowed example; longer ones follow `on_error`.
        on_error (`str`, *optional*, defaults to `"raise"`): For a row missing a field or too long: `"raise"` a
            `ValueError` naming the template and field, or `"skip"` it, counted in `skipped` and logged.
        field_map (`dict`, *optional*): Template field -> dataset column.
        seed (`int`, *optional*, defaults to 0): Seed of the per-row template choice.
        template_column (`str`, *optional*): Also write the chosen template's name to this column.

    Example:

    ```python
    >>> builder = SFTExampleBuilder("vqa", tokenizer, config, loss_on="output")
    >>> sft_dataset = builder.map(dataset)  # columns: input_ids, labels
    ```
    """

    def __init__(
        self,
        templates,
        tokenizer,
        config=None,
        *,
        eos_token_id: int | None = None,
        break_token_id: int | None = None,
        image_processor=None,
        loss_on: str = "all",
        max_length: int | None = None,
        on_error: str = "raise",
        field_map: Mapping[str, str] | None = None,
        seed: int = 0,
        template_column: str | None = None,
    ):
        self.templates = resolve_templates(templates)
        self.encoder = DocumentEncoder(
            tokenizer,
            config,
            eos_token_id=eos_token_id,
            break_token_id=break_token_id,
            image_processor=image_processor,
            loss_on=loss_on,
        )
        if max_length is not None and (
            isinstance(max_length, bool) or not isinstance(max_length, int) or max_length <= 0
        ):
            raise ValueError(f"`max_length` must be a positive integer or None, got {max_length!r}.")
        self.max_length = max_length
        self.on_error = check_on_error(on_error)
        self.field_map = dict(field_map or {})
        self.seed = seed
        self.template_column = template_column
        self.skipped = SkipCounter(type(self).__name__)
        self._rng = np.random.default_rng(seed)

    def choose_template(self, index: int | None) -> SFTTemplate:
        if len(self.templates) == 1:
            return self.templates[0]
        rng = self._rng if index is None else np.random.default_rng((self.seed, index))
        return self.templates[int(rng.integers(len(self.templates)))]

    def __call__(self, batch: dict, indices: Sequence[int] | None = None) -> dict:
        num_rows = len(next(iter(batch.values()))) if batch else 0
        documents, chosen, kept = [], [], []
        for i in range(num_rows):
            row = {name: column[i] for name, column in batch.items()}
            template = self.choose_template(None if indices is None else indices[i])
            try:
                documents.append(template.render(row, self.field_map))
            except TemplateFieldError as error:
                if self.on_error == "raise":
                    raise
                self.skipped(f"{error.template}: field {error.field!r}", str(error))
                continue
            chosen.append(template.name)
            kept.append(i)
        encoded = self.encoder.encode(documents)

        output = {"input_ids": []}
        if self.encoder.loss_on == "output":
            output["labels"] = []
        if self.template_column:
            output[self.template_column] = []
        for example, name, i in zip(encoded, chosen, kept):
            length = len(example["input_ids"])
            if self.max_length is not None and length > self.max_length:
                message = f"row {i if indices is None else indices[i]} ({name}) has {length} tokens > max_length={self.max_length}"
                if self.on_error == "raise":
                    raise ValueError(f"SFT template {name!r}: {message}; use on_error='skip' to skip such rows.")
                self.skipped("longer than max_length", message)
                continue
            for key, value in example.items():
                output[key].append(value)
            if self.template_column:
                output[self.template_column].append(name)
        return output

    def map(self, dataset, **map_kwargs):
        """`dataset.map(self, batched=True, with_indices=True)`, replacing the dataset's columns with the encoding."""
        map_kwargs.setdefault("remove_columns", dataset.column_names)
        return dataset.map(self, batched=True, with_indices=True, **map_kwargs)


__all__ = [
    "SFT_TEMPLATES",
    "SFT_TEMPLATE_VARIANTS",
    "ImageSlot",
    "SFTExampleBuilder",
    "SFTTemplate",
    "TemplateFieldError",
    "format_answer",
    "format_choices",
    "format_grounding_objects",
    "get_sft_template",
    "resolve_templates",
]
