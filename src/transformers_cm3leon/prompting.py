# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Prompts: the prompt builders of [`CM3LeonProcessor`] (one prompt's token ids for generation) and its chat
templates (transformers 5's way to prompt a multimodal model: `processor.apply_chat_template(messages)` and
`pipeline("image-text-to-text")(text=messages)`).

The builders lay the prompt out with the processor's [`SequenceFormat`] and encode it: text as plain text (a "</s>"
typed in a prompt stays text), images through the VQ image tokenizer (or given as their image token ids).
"""

from __future__ import annotations

import re

import numpy as np
from transformers.utils.chat_template_utils import _CONTROL_TOKEN_END, _CONTROL_TOKEN_START

from .sequence_format import Tokens
from .validation import check_choice, check_text, describe

# Chat templates, by sequence format. The CM3Leon ones write the paper's SFT layouts (Table 5): an image with a
# question is VQA by infilling, an image alone is captioning by infilling, text alone a continuation; "image_editing"
# and "text_to_image" write the instruction layouts after which the model draws an image.
CM3LEON_CHAT_TEMPLATES = {
    "default": (
        "{%- set message = messages | selectattr('role', 'equalto', 'user') | list | last -%}"
        "{%- set parts = [{'type': 'text', 'text': message['content']}] if message['content'] is string "
        "else message['content'] -%}"
        "{%- set texts = parts | selectattr('type', 'equalto', 'text') | map(attribute='text') | list -%}"
        "{%- set question = texts | join(' ') | trim -%}"
        "{%- set images = parts | selectattr('type', 'equalto', 'image') | list -%}"
        "</s>"
        "{%- if images and question -%}Question: {{ question }} Answer:<sentinel:0><racm3:break><image><sentinel:0>"
        "{%- elif images -%}<sentinel:0><racm3:break><image><sentinel:0>"
        "{%- else -%}{{ question }}{%- endif -%}"
    ),
    "image_editing": (
        "{%- set message = messages | selectattr('role', 'equalto', 'user') | list | last -%}"
        "{%- set texts = message['content'] | selectattr('type', 'equalto', 'text') | map(attribute='text') | list -%}"
        "</s>Edit first image following the instruction<racm3:break><image><racm3:break>"
        "{{ texts | join(' ') | trim }}<racm3:break>"
    ),
    "text_to_image": (
        "{%- set message = messages | selectattr('role', 'equalto', 'user') | list | last -%}"
        "{%- set text = message['content'] if message['content'] is string else (message['content'] "
        "| selectattr('type', 'equalto', 'text') | map(attribute='text') | join(' ')) -%}"
        "</s>{{ text | trim }}<racm3:break>"
    ),
}
# Converted Chameleon / Anole folders: Meta's chat layout (transformers' Chameleon template), `<s>` first.
CHAMELEON_CHAT_TEMPLATES = {
    "default": (
        "<s>{%- for message in messages -%}"
        "{%- if message['role'] != 'system' -%}{{ message['role'].upper() + ': ' }}{%- endif -%}"
        "{%- if message['content'] is string -%}{{ message['content'] + ' ' }}{%- else -%}"
        "{%- for content in message['content'] | selectattr('type', 'equalto', 'image') -%}<image>{%- endfor -%}"
        "{%- for content in message['content'] | selectattr('type', 'equalto', 'text') -%}"
        "{{ content['text'] + ' ' }}{%- endfor -%}{%- endif -%}"
        "{%- endfor -%}{%- if add_generation_prompt -%}ASSISTANT:{%- endif -%}"
    ),
}
CHAT_TEMPLATES = {"cm3leon": CM3LEON_CHAT_TEMPLATES, "chameleon": CHAMELEON_CHAT_TEMPLATES}
IMAGE_PLACEHOLDER = "<image>"
# Text between the markers is what a user typed in a chat message where a control token (or `<image>`) appeared.
MARKED_USER_TEXT = re.compile(
    f"{_CONTROL_TOKEN_START}(.*?){_CONTROL_TOKEN_END}|[{_CONTROL_TOKEN_START}{_CONTROL_TOKEN_END}]"
)
# An `<image>` a user typed in a chat message (not a vocabulary token, so transformers does not mark it).
_TYPED_PLACEHOLDER = "\U000f0002"


class PlainText(str):
    """Text that is never read as control tokens (what a user typed in a chat message)."""


CHAT_ROLES = ("system", "user", "assistant")
CONTENT_TYPES = ("text", "image")


def check_conversation(conversation) -> None:
    """A chat (a list of `{"role", "content"}` messages) or a batch of chats, as the chat templates read them."""
    if isinstance(conversation, (list, tuple)) and conversation and isinstance(conversation[0], (list, tuple)):
        for chat in conversation:
            check_conversation(chat)
        return
    if not isinstance(conversation, (list, tuple)) or not conversation:
        raise TypeError(
            "`conversation` must be a non-empty list of messages ({'role': ..., 'content': ...}) or a batch of "
            f"them, got {describe(conversation)}."
        )
    for index, message in enumerate(conversation):
        where = f"`conversation[{index}]`"
        if not isinstance(message, dict) or "role" not in message or "content" not in message:
            raise TypeError(f"{where} must be a dict with 'role' and 'content', got {describe(message)}.")
        check_choice(f"conversation[{index}]['role']", message["role"], CHAT_ROLES)
        content = message["content"]
        if isinstance(content, str):
            continue
        if not isinstance(content, (list, tuple)):
            raise TypeError(f"{where}['content'] must be a string or a list of parts, got {describe(content)}.")
        for part_index, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") not in CONTENT_TYPES:
                raise TypeError(
                    f"{where}['content'][{part_index}] must be a dict whose 'type' is one of {list(CONTENT_TYPES)}, "
                    f"got {describe(part)}."
                )
            if part["type"] == "text" and not isinstance(part.get("text"), str):
                raise TypeError(
                    f"{where}['content'][{part_index}]['text'] must be a string, got {part.get('text')!r}."
                )


CAPTIONING_MODES = ("infill", "continuation")


class CM3LeonPromptsMixin:
    """The prompt builders of [`CM3LeonProcessor`]: each returns one prompt's token ids (`list[int]`); batch them
    with `processor.pad(..., padding_side="left")`. An image may be given as pixels or as its image token ids."""

    def document(self, text: str, image) -> list:
        """A caption-image document, `[text, image]`: encoded as `text <break> image` (the paper's Fig. 8), or as
        `text <break> image <eoss>` in the Chameleon format (`encode_documents`, `text_to_image_prompt`)."""
        check_text("text", text)
        self._check_image(image, "image")
        return [text, image]

    def text_to_image_prompt(self, prompt: str, retrieved_documents=None) -> list[int]:
        """The prompt after which the model draws an image (`image_seq_length` image tokens):

            [</s>] + prompt + [<racm3:break>]

        With retrieved documents (each a list of segments, e.g. `[text, image]`, or a retriever's
        `RetrievedDocument`), they come first (the retrieval-augmented layout of metaseq's `form_prompts`):

            [</s>] + ret_text_1 + [<break>] + ret_image_1 + [<break>] + ... + prompt + [<racm3:break>]

        In the Chameleon format: `[<s>] + prompt + [<racm3:break>]`, retrieved documents first, each image wrapped
        as `<break> image <eoss>`; the model closes the image with `<eoss>`.
        """
        check_text("prompt", prompt, allow_empty=False)
        documents = self._check_documents(retrieved_documents, "retrieved_documents")
        return self._encode_row(self._format.text_to_image_prompt(prompt, documents))

    def unconditional_prompt(self) -> list[int]:
        """The prompt of the unconditional stream of classifier-free guidance: `[</s>, <sentinel:0>, <racm3:break>]`
        (the CM3 mask in place of the text). In the Chameleon format, and for a vocabulary without sentinels, it is
        Chameleon's `[<s>, <racm3:break>]`."""
        return self._format.unconditional_prompt()

    def captioning_prompt(self, image, mode: str | None = None) -> list[int]:
        """The prompt after which the model writes a caption of `image`.

        - `mode="infill"` (the paper's "Image of <mask>: [image] <infill>"): the caption is a masked span before the
          image, which the model writes after the second sentinel and ends with `<eoss>`:
          `[</s>, <sentinel:0>, <racm3:break>] + image + [<sentinel:0>]`. Not in the Chameleon format (no sentinels).
        - `mode="continuation"`: the caption follows the image: `[</s>] + image + [<racm3:break>]`, or in the
          Chameleon format `[<s>, <racm3:break>] + image + [<eoss>]`.

        `mode` defaults to `"infill"` in the CM3Leon format and `"continuation"` in the Chameleon format.
        """
        self._check_image(image, "image")
        if mode is not None:
            check_choice("mode", mode, CAPTIONING_MODES)
        return self._encode_row(self._format.captioning_prompt(image, mode))

    def vqa_prompt(self, image, question: str) -> list[int]:
        """Visual question answering by infilling the answer of the paper's SFT template
        `Question: {question} Answer: {answer}. <break> {image}`:

            [</s>] + "Question: {question} Answer:" + [<sentinel:0>, <racm3:break>] + image + [<sentinel:0>]

        The model writes the answer (e.g. " yes.") after the second sentinel and ends it with `<eoss>`. Infilling
        needs sentinels, so the Chameleon format has no VQA prompt builder: use a chat message instead.
        """
        self._check_image(image, "image")
        check_text("question", question, allow_empty=False)
        return self._encode_row(self._format.vqa_prompt(image, question))

    def editing_prompts(self, image, instruction: str) -> list[list[int]]:
        """The three streams of text-guided image editing (InstructPix2Pix-style guidance), in this order:

            full:          [</s>] + "Edit first image following the instruction" + [<break>] + image + [<break>]
                           + instruction + [<break>]
            image-only:    [</s>] + "Edit first image following the instruction" + [<break>] + image + [<break>]
            unconditional: `unconditional_prompt()`

        In the Chameleon format (Meta's `InBatchInstructCFGLogitsProcessor` streams):

            full:          [<s>] + instruction + [<break>] + image + [<eoss>, <break>]
            image-only:    the full prompt without its text: [<s>, <break>] + image + [<eoss>, <break>]
            unconditional: [<s>, <break>]

        The model draws the edited image after each. Batch them with `processor.pad(..., padding_side="left")`.
        """
        self._check_image(image, "image")
        check_text("instruction", instruction, allow_empty=False)
        full, image_only, unconditional = self._format.editing_prompts(image, instruction)
        return [*self._encode_rows([full, image_only]), unconditional]

    def inpainting_prompt(
        self, image, token_mask, prompt: str | None = None
    ) -> tuple[list[int], list[tuple[int, int]]]:
        """The CM3 infilling layout of an image whose masked tokens are redrawn (the paper's causal masking).

        Each contiguous run of masked image tokens, in raster order, is replaced by `<sentinel:i>`:

            [</s>] + prompt + [<racm3:break>] + image with runs replaced     (with a prompt)
            [</s>] + image with runs replaced                                (without: the unconditional stream)

        and the model writes each run after the document, as CM3 training writes masked spans:
        `<sentinel:i> run_i <eoss>`, exactly as many image tokens as the run holds.

        Args:
            image: The image (PIL, array, tensor) or its image token ids.
            token_mask: Which image tokens to redraw: booleans of shape `(grid_size, grid_size)` or
                `(image_seq_length,)` (`CM3LeonImageProcessor.token_mask` turns a pixel mask into one).
            prompt (`str`, *optional*): What the image shows.

        Returns:
            `(input_ids, runs)`: the document's ids and the `(start, stop)` image-token positions of each run.
        """
        self._check_image(image, "image")
        if prompt is not None:
            check_text("prompt", prompt, allow_empty=False)
        self._format.require_infilling("Image infilling", "use a CM3Leon-format model")
        runs = self.masked_runs(token_mask)
        (image_ids,) = self._encode_rows([[image]])
        masked, previous = [], 0
        for index, (start, stop) in enumerate(runs):
            masked += image_ids[previous:start] + [self.sentinel_token_id(index)]
            previous = stop
        masked += image_ids[previous:]
        return self._encode_row(self._format.inpainting_prompt(masked, prompt)), runs

    def masked_runs(self, token_mask, name: str = "token_mask") -> list[tuple[int, int]]:
        """The `(start, stop)` raster positions of each contiguous run of `True` in a token mask (see
        `inpainting_prompt`); at least one run and at most one per sentinel token."""
        mask = token_mask.numpy() if hasattr(token_mask, "numpy") else np.asarray(token_mask)
        grid = self.image_processor.grid_size
        if mask.dtype != bool or mask.shape not in ((grid, grid), (self.image_seq_length,)):
            raise ValueError(
                f"`{name}` must be booleans of shape ({grid}, {grid}) or ({self.image_seq_length},), got "
                f"{mask.dtype} of shape {mask.shape}."
            )
        mask = mask.reshape(-1)
        if mask.shape[0] > grid * grid and mask[grid * grid :].any():
            raise ValueError(
                f"`{name}` masks the palette code (position {grid * grid}): infilling redraws grid tokens and keeps the "
                "palette; mask grid positions only."
            )
        if not mask.any():
            raise ValueError(f"`{name}` masks no image token: there is nothing to redraw.")
        if mask.all():
            raise ValueError(
                f"`{name}` masks every image token: nothing of the image is kept, so this is text-to-image, not "
                "infilling; use the text-to-image pipeline (or `model.generate_images`)."
            )
        edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
        runs = [(int(start), int(stop)) for start, stop in zip(edges[::2], edges[1::2])]
        if len(runs) > self.num_sentinel_tokens:
            raise ValueError(
                f"`{name}` has {len(runs)} separate runs of masked tokens in raster order, but the vocabulary has "
                f"{self.num_sentinel_tokens} sentinel tokens, one per run. Mask fewer, larger regions (whole rows "
                "join into one run)."
            )
        return runs

    def fill_masked_runs(self, image, runs: list[tuple[int, int]], run_token_ids) -> list[int]:
        """The image's token ids with each masked run replaced by its infilled tokens (`run_token_ids`, the runs one
        after the other, as `model.generate_infilling` returns them); the tokens outside the runs are the image's."""
        self._check_image(image, "image")
        (image_ids,) = self._encode_rows([[image]])
        drawn = [int(t) for t in (run_token_ids.tolist() if hasattr(run_token_ids, "tolist") else run_token_ids)]
        if len(drawn) != sum(stop - start for start, stop in runs):
            raise ValueError(
                f"`run_token_ids` has {len(drawn)} tokens, but the runs hold {sum(b - a for a, b in runs)}."
            )
        filled, used = list(image_ids), 0
        for start, stop in runs:
            filled[start:stop] = drawn[used : used + stop - start]
            used += stop - start
        return self._check_image_token_ids(filled, "the infilled image")

    # -- helpers ----------------------------------------------------------------------------------------------------
    def _encode_row(self, row: list) -> list[int]:
        return self._encode_rows([row])[0]

    def _check_documents(self, documents, name: str) -> list | None:
        """Retrieved documents as lists of segments (a retriever's documents give their text and image ids)."""
        if documents is None:
            return None
        if not isinstance(documents, (list, tuple)):
            raise TypeError(f"`{name}` must be a list of documents, got {describe(documents)}.")
        checked = []
        for index, document in enumerate(documents):
            checked.append(self._check_document(document_segments(document), f"{name}[{index}]"))
        return checked


def document_segments(document):
    """A retrieved document as its list of segments: a retriever's `RetrievedDocument` gives its text and its image
    (token ids when it has them); a list of segments is returned as it is."""
    if hasattr(document, "text") and hasattr(document, "image_token_ids"):
        image = document.image_token_ids if document.image_token_ids is not None else document.image
        return [segment for segment in (document.text, image) if segment is not None]
    return document


def escape_typed_placeholders(value):
    """Replace `<image>` in the strings of chat messages (what a user typed) by a private character."""
    if isinstance(value, str):
        return value.replace(_TYPED_PLACEHOLDER, "").replace(IMAGE_PLACEHOLDER, _TYPED_PLACEHOLDER)
    if isinstance(value, dict):
        return {key: escape_typed_placeholders(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [escape_typed_placeholders(item) for item in value]
    return value


def typed_placeholders_as_text(text: str, sanitized: bool) -> list:
    """Split `text` at the `<image>`s a user typed (escaped by `escape_typed_placeholders`), kept as plain text."""
    if not sanitized or _TYPED_PLACEHOLDER not in text:
        return [text]
    row = []
    for index, part in enumerate(text.split(_TYPED_PLACEHOLDER)):
        if index:
            row.append(PlainText(IMAGE_PLACEHOLDER))
        row.append(part)
    return row


__all__ = [
    "CHAT_TEMPLATES",
    "IMAGE_PLACEHOLDER",
    "CM3LeonPromptsMixin",
    "PlainText",
    "Tokens",
    "check_conversation",
    "escape_typed_placeholders",
    "typed_placeholders_as_text",
]
