# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""How a CM3Leon sequence is laid out: the one implementation of both sequence formats.

`"cm3leon"` (the paper's Fig. 8/9 and metaseq's tokenization; `<break>` is `<racm3:break>`):

    document                       caption <break> image
    training example               </s> seg_1 <break> seg_2 ... <break> seg_n </s>
    retrieval-augmented example    </s> [ret_text <break> ret_image <break>] x k  query_text <break> query_image </s>
    text-to-image prompt           </s> prompt <break>                          (then image_seq_length image tokens)
    unconditional prompt (CFG)     </s> <sentinel:0> <break>
    captioning by infilling        </s> <sentinel:0> <break> image <sentinel:0>   (then the caption and <eoss>)
    image infilling                </s> prompt <break> image with each masked run as <sentinel:i>
                                   (then <sentinel:i> run_i <eoss> for each run, as CM3 training writes them)

`"chameleon"`, for converted Chameleon / Anole checkpoints (Meta's `chameleon/inference/chameleon.py`): a sequence
starts with `<s>`, an image is wrapped as `<break> image <eoss>` (begin / end of image) and text and images follow
each other with no separator. There are no sentinels, hence no infilling:

    training example               <s> seg_1 seg_2 ... seg_n </s>        (each image as <break> image <eoss>)
    text-to-image prompt           <s> prompt <break>                    (then image_seq_length image tokens, <eoss>)
    unconditional prompt (CFG)     <s> <break>
    editing, full stream           <s> instruction <break> image <eoss> <break>
    editing, image-only stream     the full stream filtered to image tokens, <s>, <break> and <eoss>

A format builds *rows*: lists whose items are token ids (`int`), text (`str`), images (PIL, arrays, tensors), image
token ids (a 1-D sequence of ints) or [`Tokens`] (ids inserted as they are). The processor and the data pipeline
encode a row into ids (texts through the tokenizer as plain text, images through the VQ model); the generation
code reads the prompts that need no encoding (the unconditional one) straight from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .validation import describe

SEQUENCE_FORMATS = ("cm3leon", "chameleon")
# The instruction that opens a text-guided editing example (the paper's Table 5).
EDITING_INSTRUCTION = "Edit first image following the instruction"


class Tokens(list):
    """Text as token ids, which a row inserts verbatim (a plain list of ints is an image's token ids)."""


def is_text(segment) -> bool:
    """Whether a segment is text (a string, or [`Tokens`]) rather than an image."""
    return isinstance(segment, (str, Tokens))


@dataclass(frozen=True)
class SpecialTokenIds:
    """Where the special and image tokens sit in the vocabulary (see `tokenization_cm3leon`)."""

    eos_token_id: int
    break_token_id: int
    eoss_token_id: int | None = None
    image_token_offset: int | None = None
    image_vocab_size: int | None = None
    bos_token_id: int | None = None
    pad_token_id: int | None = None
    sentinel_token_offset: int | None = None
    num_sentinel_tokens: int = 0

    @classmethod
    def from_config(cls, config) -> SpecialTokenIds:
        """From a [`CM3LeonConfig`] (or any object with the same fields)."""
        return cls(**{name: getattr(config, name) for name in cls.__dataclass_fields__})

    @property
    def image_token_ids(self) -> range:
        return range(self.image_token_offset, self.image_token_offset + self.image_vocab_size)

    def sentinel_token_id(self, index: int = 0) -> int:
        """The id of `<sentinel:{index}>`."""
        if not self.num_sentinel_tokens:
            raise ValueError(
                "This vocabulary has no <sentinel:i> tokens (a Chameleon-style vocabulary); infilling and the CM3 "
                "objective need a tokenizer built with `num_sentinel_tokens` > 0."
            )
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < self.num_sentinel_tokens:
            raise ValueError(f"`index` must be an integer in [0, {self.num_sentinel_tokens}), got {describe(index)}.")
        return self.sentinel_token_offset + index


class SequenceFormat:
    """The layout of documents and prompts (see the module docstring); [`sequence_format`] builds one by name."""

    name: str = ""
    # Whether the format has infilling (sentinels): captioning and VQA by infilling, image infilling.
    supports_infilling: bool = False

    def __init__(self, ids: SpecialTokenIds):
        self.ids = ids

    @property
    def start_token_id(self) -> int:
        """The token that opens every sequence."""
        raise NotImplementedError

    def image(self, image) -> list:
        """An image as a row writes it."""
        raise NotImplementedError

    def document(self, segments: Sequence) -> list:
        """A document's segments (text and images) as a row."""
        raise NotImplementedError

    def retrieved(self, documents: Sequence[Sequence]) -> list:
        """Retrieved documents, laid out before a query."""
        raise NotImplementedError

    def example(self, document: Sequence, retrieved: Sequence[Sequence] | None = None) -> list:
        """A training example: `[start] + retrieved documents + document + [</s>]`."""
        return [self.start_token_id, *self.retrieved(retrieved or []), *self.document(document), self.ids.eos_token_id]

    def text_to_image_prompt(self, prompt: str, retrieved: Sequence[Sequence] | None = None) -> list:
        """The prompt after which the model draws an image: `[start] + retrieved + prompt + [<break>]`."""
        return [self.start_token_id, *self.retrieved(retrieved or []), prompt, self.ids.break_token_id]

    def unconditional_prompt(self) -> list[int]:
        """The prompt of the unconditional stream of classifier-free guidance."""
        raise NotImplementedError

    def captioning_prompt(self, image, mode: str | None = None) -> list:
        raise NotImplementedError

    def vqa_prompt(self, image, question: str) -> list:
        raise NotImplementedError

    def editing_prompts(self, image, instruction: str) -> tuple[list, list, list[int]]:
        """The three streams of text-guided editing: full, image-only, unconditional."""
        raise NotImplementedError

    def inpainting_prompt(self, masked_image: Sequence[int], prompt: str | None = None) -> list:
        raise NotImplementedError

    def require_infilling(self, what: str, instead: str) -> None:
        if not self.supports_infilling:
            raise ValueError(
                f"{what} infills a masked span between <sentinel:i> tokens, which the {self.name!r} sequence format "
                f"does not have (Chameleon was not trained to infill); {instead}."
            )


class CM3LeonSequenceFormat(SequenceFormat):
    """The paper's format: `</s>` first, segments joined by `<racm3:break>`, sentinels for infilling."""

    name = "cm3leon"

    @property
    def supports_infilling(self) -> bool:
        return self.ids.num_sentinel_tokens > 0

    @property
    def start_token_id(self) -> int:
        return self.ids.eos_token_id  # metaseq starts every document with </s>

    def image(self, image) -> list:
        return [image]

    def document(self, segments: Sequence) -> list:
        row = []
        for position, segment in enumerate(segments):
            if position:
                row.append(self.ids.break_token_id)
            row.append(segment)
        return row

    def retrieved(self, documents: Sequence[Sequence]) -> list:
        row = []
        for document in documents:
            row += [*self.document(document), self.ids.break_token_id]
        return row

    def require_infilling(self, what: str, instead: str) -> None:
        if not self.supports_infilling:
            raise ValueError(
                f"{what} infills a masked span between <sentinel:i> tokens, and this vocabulary has no <sentinel:i> "
                f"tokens (a Chameleon-style vocabulary); {instead}."
            )

    def unconditional_prompt(self) -> list[int]:
        # The CM3 mask in place of the text; a vocabulary without sentinels falls back to Chameleon's.
        if not self.ids.num_sentinel_tokens:
            return [self.ids.bos_token_id, self.ids.break_token_id]
        return [self.ids.eos_token_id, self.ids.sentinel_token_id(0), self.ids.break_token_id]

    def captioning_prompt(self, image, mode: str | None = None) -> list:
        if mode in (None, "infill"):
            self.require_infilling("`captioning_prompt(mode='infill')`", "use `mode='continuation'`")
            sentinel = self.ids.sentinel_token_id(0)
            return [self.ids.eos_token_id, sentinel, self.ids.break_token_id, image, sentinel]
        if mode == "continuation":
            return [self.ids.eos_token_id, image, self.ids.break_token_id]
        raise ValueError(f"`mode` must be 'infill' or 'continuation', got {describe(mode)}.")

    def vqa_prompt(self, image, question: str) -> list:
        self.require_infilling("`vqa_prompt`", "use a vocabulary with sentinel tokens")
        sentinel = self.ids.sentinel_token_id(0)
        text = f"Question: {question} Answer:"
        return [self.ids.eos_token_id, text, sentinel, self.ids.break_token_id, image, sentinel]

    def editing_prompts(self, image, instruction: str) -> tuple[list, list, list[int]]:
        image_only = [
            self.ids.eos_token_id,
            EDITING_INSTRUCTION,
            self.ids.break_token_id,
            image,
            self.ids.break_token_id,
        ]
        full = [*image_only, instruction, self.ids.break_token_id]
        return full, image_only, self.unconditional_prompt()

    def inpainting_prompt(self, masked_image: Sequence[int], prompt: str | None = None) -> list:
        self.require_infilling("Image infilling", "use a CM3Leon-format model")
        head = [self.ids.eos_token_id] + ([prompt, self.ids.break_token_id] if prompt is not None else [])
        return [*head, Tokens(masked_image)]


class ChameleonSequenceFormat(SequenceFormat):
    """Chameleon's format: `<s>` first, each image wrapped as `<racm3:break> image <eoss>`, no separators."""

    name = "chameleon"

    @property
    def start_token_id(self) -> int:
        return self.ids.bos_token_id

    def image(self, image) -> list:
        return [self.ids.break_token_id, image, self.ids.eoss_token_id]

    def document(self, segments: Sequence) -> list:
        row = []
        for segment in segments:
            row += [segment] if is_text(segment) else self.image(segment)
        return row

    def retrieved(self, documents: Sequence[Sequence]) -> list:
        # Chameleon was not trained with retrieval: the documents are plain interleaved context.
        return [item for document in documents for item in self.document(document)]

    def unconditional_prompt(self) -> list[int]:
        return [self.ids.bos_token_id, self.ids.break_token_id]

    def captioning_prompt(self, image, mode: str | None = None) -> list:
        if mode in (None, "continuation"):
            return [self.ids.bos_token_id, *self.image(image)]
        if mode == "infill":
            self.require_infilling("`captioning_prompt(mode='infill')`", "use `mode='continuation'`")
        raise ValueError(f"`mode` must be 'infill' or 'continuation', got {describe(mode)}.")

    def vqa_prompt(self, image, question: str) -> list:
        self.require_infilling(
            "`vqa_prompt`",
            "write a continuation prompt instead, e.g. a chat message with the image and the question "
            "(`processor.apply_chat_template(messages)`)",
        )

    def editing_prompts(self, image, instruction: str) -> tuple[list, list, list[int]]:
        # Meta's InBatchInstructCFGLogitsProcessor streams: the image-only stream is the full one without its text.
        full = [self.ids.bos_token_id, instruction, *self.image(image), self.ids.break_token_id]
        image_only = [item for item in full if not is_text(item)]
        return full, image_only, self.unconditional_prompt()

    def inpainting_prompt(self, masked_image: Sequence[int], prompt: str | None = None) -> list:
        self.require_infilling("Image infilling", "use a CM3Leon-format model")


_FORMATS = {f.name: f for f in (CM3LeonSequenceFormat, ChameleonSequenceFormat)}


def build_sequence_format(name: str, ids: SpecialTokenIds) -> SequenceFormat:
    """The [`SequenceFormat`] called `name` (`"cm3leon"` or `"chameleon"`) over the vocabulary's `ids`."""
    if not isinstance(name, str) or name not in _FORMATS:
        raise ValueError(f"`sequence_format` must be one of {list(SEQUENCE_FORMATS)}, got {describe(name)}.")
    if name == "chameleon" and ids.bos_token_id is None:
        raise ValueError(
            "The 'chameleon' sequence format starts every sequence with <s>, but the vocabulary has none."
        )
    return _FORMATS[name](ids)


def unconditional_input_ids(config) -> list[int]:
    """The unconditional prompt of classifier-free guidance for a model config: CM3Leon's `</s> <sentinel:0>
    <racm3:break>` (the CM3 mask in place of the text), or Chameleon's `<s> <racm3:break>` for a vocabulary without
    sentinels."""
    return CM3LeonSequenceFormat(SpecialTokenIds.from_config(config)).unconditional_prompt()


__all__ = [
    "EDITING_INSTRUCTION",
    "SEQUENCE_FORMATS",
    "ChameleonSequenceFormat",
    "CM3LeonSequenceFormat",
    "SequenceFormat",
    "SpecialTokenIds",
    "Tokens",
    "build_sequence_format",
    "is_text",
    "unconditional_input_ids",
]
