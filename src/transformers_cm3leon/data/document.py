# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""A multimodal document (text and image segments) and its encoding into token ids.

Every CM3Leon training example is a document laid out by a sequence format (`sequence_format.py`), the paper's:

    </s> segment_1 <racm3:break> segment_2 <racm3:break> ... segment_n </s>

A text segment is tokenized by the text tokenizer; an image segment is either its image token ids already (the
output of `ImagePretokenizer`) or an image that the image processor turns into ids. A retrieval-augmented example is
a document too: the retrieved documents' segments followed by the query's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase

from ..processing_cm3leon import is_image_token_ids
from ..sequence_format import CM3LeonSequenceFormat, SequenceFormat, SpecialTokenIds, Tokens, build_sequence_format
from .cm3_masking import IGNORE_INDEX, _check_token_id, _resolve_id

LOSS_ON_CHOICES = ("all", "output")


@dataclass
class Document:
    """An ordered list of segments joined by `<racm3:break>`.

    Args:
        segments (`list`): Each a `str` (text), a sequence of image token ids (`list[int]`, array or 1-D tensor),
            or an image (anything the image processor's `images_to_token_ids` accepts, e.g. a PIL image).
        output_start (`tuple[int, int]`, *optional*): Where the output starts, as `(segment index, character offset)`
            (the offset is 0 for an image segment). The output runs to the end of that segment. Used by
            `loss_on="output"`; `None` means the document has no marked output.
    """

    segments: list
    output_start: tuple[int, int] | None = None

    def __post_init__(self):
        if not isinstance(self.segments, (list, tuple)) or len(self.segments) == 0:
            raise ValueError(f"`segments` must be a non-empty list, got {self.segments!r}.")
        if self.output_start is not None:
            index, offset = self.output_start
            if not 0 <= index < len(self.segments):
                raise ValueError(f"`output_start` segment index {index} is outside [0, {len(self.segments)}).")
            segment = self.segments[index]
            limit = len(segment) if isinstance(segment, str) else 0
            if not 0 <= offset <= limit:
                raise ValueError(f"`output_start` offset {offset} is outside [0, {limit}] for segment {index}.")

    def to_text(self, break_token: str = "<racm3:break>", image_placeholder: str = "<image>") -> str:
        """A readable rendering: text segments as they are, images as `image_placeholder`."""
        return f" {break_token} ".join(s if isinstance(s, str) else image_placeholder for s in self.segments)


def is_token_ids(segment: Any) -> bool:
    """Whether an image segment is already token ids (rather than an image to tokenize): the processor's
    `is_image_token_ids`, or an empty list or tuple (an empty segment)."""
    return (isinstance(segment, (list, tuple)) and len(segment) == 0) or is_image_token_ids(segment)


def _token_ids_list(segment) -> list[int]:
    if isinstance(segment, torch.Tensor):
        return segment.tolist()
    if isinstance(segment, np.ndarray):
        return segment.astype(np.int64).tolist()
    return [int(t) for t in segment]


def join_segments(segment_ids: Sequence[Sequence[int]], *, eos_token_id: int, break_token_id: int) -> list[int]:
    """`</s> s_1 <racm3:break> s_2 ... s_n </s>` from the segments' token ids (the CM3Leon format's example)."""
    layout = CM3LeonSequenceFormat(SpecialTokenIds(eos_token_id=eos_token_id, break_token_id=break_token_id))
    return _flatten(layout.example([Tokens(_token_ids_list(ids)) for ids in segment_ids]))


def _flatten(row: list) -> list[int]:
    return [token for item in row for token in (item if isinstance(item, list) else [item])]


class DocumentEncoder:
    r"""
    Turns [`Document`]s into `input_ids` (and `labels` when `loss_on="output"`) in a sequence format (`"cm3leon"`,
    the paper's, by default; the same layout as `CM3LeonProcessor.encode_documents`), for use in `datasets.map`
    steps: image segments may already be token ids, and the output of a document can be marked for output-only
    loss. Text is tokenized as plain text (with a transformers tokenizer, `split_special_tokens=True`: a literal
    `</s>` in a caption stays text).

    Args:
        tokenizer: A text tokenizer called as `tokenizer(list_of_texts, add_special_tokens=False)["input_ids"]`.
        config ([`CM3LeonConfig`], *optional*): Source of the special token ids.
        eos_token_id (`int`, *optional*): Id of `</s>`; explicit values win over `config`.
        break_token_id (`int`, *optional*): Id of `<racm3:break>`.
        image_processor (*optional*): Object with `images_to_token_ids(images)`, needed only for documents whose image
            segments are images rather than token ids (a processor holding one as `.image_processor` works too).
        loss_on (`str`, *optional*, defaults to `"all"`): `"all"` trains on the whole sequence (the paper; no
            `labels` are returned, the collator derives them); `"output"` returns `labels` that are `-100` except on
            the output (from `Document.output_start` to the end of that segment) and the token that closes it (the
            next `<racm3:break>` or the final `</s>`; Chameleon's `<eoss>` after an image), so the model also learns
            where the output ends.
        sequence_format (`str` or [`SequenceFormat`], *optional*, defaults to `"cm3leon"`): The layout; a processor
            passes its own.
        image_seq_length (`int`, *optional*): Image tokens per image; an image segment given as token ids of another
            length is refused. Defaults to `config.image_seq_length`. Ids outside the image range (known from
            `config` or the sequence format) are refused too.

    A text segment with an output start inside it is tokenized in two pieces, the prompt part and the output part
    (which keeps its leading whitespace), exactly as a prompt ending before the output is tokenized at inference.
    """

    def __init__(
        self,
        tokenizer,
        config=None,
        *,
        eos_token_id: int | None = None,
        break_token_id: int | None = None,
        image_processor=None,
        loss_on: str = "all",
        sequence_format: str | SequenceFormat = "cm3leon",
        image_seq_length: int | None = None,
    ):
        if loss_on not in LOSS_ON_CHOICES:
            raise ValueError(f"`loss_on` must be one of {list(LOSS_ON_CHOICES)}, got {loss_on!r}.")
        if tokenizer is None or not callable(tokenizer):
            raise TypeError(f"`tokenizer` must be a callable text tokenizer, got {tokenizer!r}.")
        self.tokenizer = tokenizer
        if isinstance(sequence_format, SequenceFormat):
            self.format = sequence_format
        else:
            ids = {"eos_token_id": eos_token_id, "break_token_id": break_token_id}
            ids = {name: _check_token_id(name, _resolve_id(name, value, config)) for name, value in ids.items()}
            if config is not None:
                ids = {**{name: getattr(config, name, None) for name in SpecialTokenIds.__dataclass_fields__}, **ids}
            self.format = build_sequence_format(sequence_format, SpecialTokenIds(**ids))
        self.eos_token_id = self.format.ids.eos_token_id
        self.break_token_id = self.format.ids.break_token_id
        if image_processor is not None and not hasattr(image_processor, "images_to_token_ids"):
            image_processor = getattr(image_processor, "image_processor", image_processor)
        if image_processor is not None and not hasattr(image_processor, "images_to_token_ids"):
            raise TypeError(
                f"`image_processor` must have an `images_to_token_ids(images)` method, got {type(image_processor)}."
            )
        self.image_processor = image_processor
        self.loss_on = loss_on
        image_seq_length = _resolve_id("image_seq_length", image_seq_length, config)
        if image_seq_length is not None and (
            isinstance(image_seq_length, bool) or not isinstance(image_seq_length, int) or image_seq_length <= 0
        ):
            raise ValueError(f"`image_seq_length` must be a positive integer or None, got {image_seq_length!r}.")
        self.image_seq_length = image_seq_length
        ids = self.format.ids
        self.image_token_ids = ids.image_token_ids if ids.image_token_offset is not None else None

    def _check_image_ids(self, ids: list[int], document: int, segment: int) -> list[int]:
        """Refuse image token ids of the wrong length or outside the image range (an empty segment is allowed)."""
        if not ids:
            return ids
        where = f"Image segment {segment} of document {document}"
        if self.image_seq_length is not None and len(ids) != self.image_seq_length:
            raise ValueError(
                f"{where} has {len(ids)} image token ids; an image is exactly {self.image_seq_length} tokens."
            )
        allowed = self.image_token_ids
        if allowed is not None:
            low, high = min(ids), max(ids)
            if low < allowed.start or high >= allowed.stop:
                bad = low if low < allowed.start else high
                raise ValueError(
                    f"{where} holds the id {bad}, which is not an image token; image token ids are in "
                    f"[{allowed.start}, {allowed.stop})."
                )
        return ids

    def encode(self, documents: Sequence[Document | list]) -> list[dict[str, list[int]]]:
        """Encode a batch of documents (one tokenizer call and one image-processor call for the whole batch).

        A document is a [`Document`] or a plain list of segments (then it has no marked output).
        """
        texts: list[str] = []
        images: list = []
        # Per document, per segment: whether it is text, and its (kind, index into texts/images or the ids,
        # is_output) pieces.
        plans = []
        for d, document in enumerate(documents):
            if isinstance(document, (list, tuple)):  # a plain list of segments, as `CM3LeonProcessor` takes
                document = Document(list(document))
            if not isinstance(document, Document):
                raise TypeError(f"Expected a `Document` or a list of segments, got {type(document).__name__}.")
            plan = []
            for s, segment in enumerate(document.segments):
                output_offset = None
                if document.output_start is not None and document.output_start[0] == s:
                    output_offset = document.output_start[1]
                if isinstance(segment, str):
                    pieces = []
                    if output_offset is None:
                        pieces.append(("text", len(texts), False))
                        texts.append(segment)
                    else:
                        if output_offset > 0:
                            pieces.append(("text", len(texts), False))
                            texts.append(segment[:output_offset])
                        pieces.append(("text", len(texts), True))
                        texts.append(segment[output_offset:])
                    plan.append((True, pieces))
                elif is_token_ids(segment):
                    ids = self._check_image_ids(_token_ids_list(segment), d, s)
                    plan.append((False, [("ids", ids, output_offset is not None)]))
                else:
                    plan.append((False, [("image", len(images), output_offset is not None)]))
                    images.append(segment)
            plans.append(plan)

        text_ids = self._tokenize(texts) if texts else []
        image_ids = self._images_to_token_ids(images) if images else []

        encoded = []
        for plan in plans:
            segments, output_flags = [], {}
            for is_text_segment, pieces in plan:
                ids, flags = [], []
                for kind, ref, is_output in pieces:
                    piece = text_ids[ref] if kind == "text" else image_ids[ref] if kind == "image" else ref
                    ids.extend(piece)
                    flags.extend([is_output] * len(piece))
                segment = Tokens(ids) if is_text_segment else list(ids)
                segments.append(segment)
                output_flags[id(segment)] = flags
            input_ids, has_loss, previous = [], [], None
            for item in self.format.example(segments):
                if isinstance(item, list):
                    input_ids += item
                    previous = output_flags[id(item)]
                    has_loss += previous
                else:  # a special token: it closes the output when it follows one
                    input_ids.append(item)
                    has_loss.append(bool(previous) and previous[-1])
                    previous = None
            example = {"input_ids": input_ids}
            if self.loss_on == "output":
                example["labels"] = [t if keep else IGNORE_INDEX for t, keep in zip(input_ids, has_loss)]
            encoded.append(example)
        return encoded

    def _tokenize(self, texts: list[str]) -> list[list[int]]:
        kwargs = {}
        if isinstance(self.tokenizer, PreTrainedTokenizerBase):
            # Content is plain text: a literal "</s>" or "<sentinel:0>" in a caption must not become a control token.
            kwargs["split_special_tokens"] = True
        ids = self.tokenizer(texts, add_special_tokens=False, **kwargs)["input_ids"]
        if len(ids) != len(texts):
            raise ValueError(f"The tokenizer returned {len(ids)} sequences for {len(texts)} texts.")
        return [list(x) for x in ids]

    def _images_to_token_ids(self, images: list) -> list[list[int]]:
        if self.image_processor is None:
            raise TypeError(
                f"A document has an image segment of type {type(images[0]).__name__} rather than image token ids; "
                "pass `image_processor` to tokenize images, or pre-tokenize them with `ImagePretokenizer`."
            )
        return images_to_token_id_lists(self.image_processor, images)


def images_to_token_id_lists(image_processor, images: list) -> list[list[int]]:
    """Call `image_processor.images_to_token_ids(images)` and return one list of ids per image."""
    ids = image_processor.images_to_token_ids(images)
    if isinstance(ids, (torch.Tensor, np.ndarray)):
        ids = ids.tolist()
    ids = [_token_ids_list(x) for x in ids]
    if len(ids) != len(images):
        raise ValueError(f"`images_to_token_ids` returned {len(ids)} sequences for {len(images)} images.")
    return ids
