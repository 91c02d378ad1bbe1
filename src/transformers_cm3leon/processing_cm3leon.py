# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""CM3LeonProcessor: text and images <-> CM3Leon token ids.

The processor owns both tokenizers: the BPE text tokenizer and the VQ image tokenizer wrapped by
`CM3LeonImageProcessor`. An image becomes `image_seq_length` image-token ids; the language model only ever sees ids.
How a sequence is laid out is its [`SequenceFormat`] (`sequence_format.py`: `"cm3leon"`, the paper's, or
`"chameleon"`, for converted Chameleon / Anole checkpoints); the prompt builders and the chat templates are in
`prompting.py`, the encoding of training documents in `data/document.py`.

User text is text: `processor(text=...)` turns only the `<image>` placeholder into structure, unless the caller opts
in to control tokens written in the text (`allow_control_tokens=True`). A chat template's own control tokens are
structure and those a user typed in a message are text (`apply_chat_template` marks them, as transformers'
`sanitize_control_tokens` does).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image
from transformers import BatchFeature
from transformers.image_utils import is_valid_image
from transformers.processing_utils import MultiModalData, ProcessorMixin
from transformers.utils.hub import hf_api

from .image_processing_cm3leon import check_has_image_tokenizer, is_image_token_ids
from .padding import CM3LeonPaddingMixin
from .prompting import (
    CHAT_TEMPLATES,
    IMAGE_PLACEHOLDER,
    MARKED_USER_TEXT,
    CM3LeonPromptsMixin,
    PlainText,
    check_conversation,
    escape_typed_placeholders,
    typed_placeholders_as_text,
)
from .sequence_format import SEQUENCE_FORMATS, SpecialTokenIds, Tokens, build_sequence_format
from .tokenization_cm3leon import BREAK_TOKEN, EOSS_TOKEN, sentinel_token_name, special_token_ids
from .validation import check_bool, check_text_list, describe

# Images encoded by the VQ model per forward pass, to bound memory when a call holds many images.
IMAGE_ENCODE_BATCH_SIZE = 16
_IMAGE_SLOT = object()  # where `processor(text=...)` puts the next image


class CM3LeonProcessor(CM3LeonPromptsMixin, CM3LeonPaddingMixin, ProcessorMixin):
    r"""
    Turns text and images into CM3Leon token ids and back.

    Wraps a [`CM3LeonImageProcessor`] (pixels <-> VQ codes <-> image-token ids) and a tokenizer whose vocabulary
    follows the CM3Leon layout (see [`build_cm3leon_tokenizer`] and [`special_token_ids`]).

    Ways in and out:

    - `processor(text=..., images=...)`: text with `<image>` placeholders (HF processor style).
    - `processor.apply_chat_template(messages)`: chat messages, laid out by the sequence format's chat templates
      (`"default"`: captioning / VQA / text; `"image_editing"` and `"text_to_image"` in the CM3Leon format).
    - `processor.text_to_image_prompt(...)`, `unconditional_prompt()`, `captioning_prompt(...)`, `vqa_prompt(...)`,
      `editing_prompts(...)`, `inpainting_prompt(...)`: one prompt's token ids for generation (`prompting.py`).
    - `processor.encode_documents(documents)`: training examples in the sequence format (`data.DocumentEncoder`).
    - `processor.decode_segments(ids)`: generated ids -> text segments and PIL images.

    Args:
        image_processor ([`CM3LeonImageProcessor`]): Pixels <-> image-token ids, holding the VQ model.
        tokenizer ([`~transformers.PreTrainedTokenizerFast`]): The text tokenizer with image and CM3 special tokens.
        sequence_format (`str`, *optional*, defaults to `"cm3leon"`): `"cm3leon"` or `"chameleon"` (see
            `sequence_format.py`); saved in `processor_config.json`. The converters write `"chameleon"`.
        chat_template (`str` or `dict`, *optional*): The chat templates; those of the sequence format by default.
    """

    image_token = IMAGE_PLACEHOLDER  # placeholder in `__call__` text; not in the vocabulary
    break_token = BREAK_TOKEN
    eoss_token = EOSS_TOKEN

    def __init__(
        self, image_processor, tokenizer, sequence_format: str = "cm3leon", chat_template=None, layout=None, **kwargs
    ):
        if layout is not None and sequence_format == "cm3leon":  # `layout`: its name in folders saved by version 0.1
            sequence_format = layout
        if not isinstance(sequence_format, str) or sequence_format not in SEQUENCE_FORMATS:
            raise ValueError(
                f"`sequence_format` must be one of {list(SEQUENCE_FORMATS)}, got {describe(sequence_format)}."
            )
        for method in ("images_to_token_ids", "token_ids_to_images"):
            if not callable(getattr(image_processor, method, None)):
                raise TypeError(
                    f"`image_processor` must turn images into token ids and back (a CM3LeonImageProcessor); "
                    f"{type(image_processor).__name__} has no `{method}` method."
                )
        if chat_template is None:
            chat_template = dict(CHAT_TEMPLATES[sequence_format])
        super().__init__(image_processor, tokenizer, chat_template=chat_template, **kwargs)
        vocabulary = special_token_ids(tokenizer)
        if vocabulary["image_token_offset"] != image_processor.image_token_offset:
            raise ValueError(
                f"The tokenizer's image tokens start at id {vocabulary['image_token_offset']}, but the image processor "
                f"writes image tokens from `image_token_offset`={image_processor.image_token_offset}."
            )
        # Without a VQ model attached yet, the codebook size is unknown; it is checked when one is present.
        if image_processor.vq_model is not None and vocabulary["image_vocab_size"] != image_processor.num_image_tokens:
            raise ValueError(
                f"The tokenizer has {vocabulary['image_vocab_size']} image tokens, but the image processor's VQ model "
                f"has `num_image_tokens`={image_processor.num_image_tokens} codes; they must be equal."
            )
        self.sequence_format = sequence_format
        self.special_token_ids = SpecialTokenIds(**{k: vocabulary[k] for k in SpecialTokenIds.__dataclass_fields__})
        self._format = build_sequence_format(sequence_format, self.special_token_ids)
        ids = self.special_token_ids
        self.image_token_offset, self.image_vocab_size = ids.image_token_offset, ids.image_vocab_size
        self.break_token_id, self.eoss_token_id = ids.break_token_id, ids.eoss_token_id
        self.sentinel_token_offset, self.num_sentinel_tokens = ids.sentinel_token_offset, ids.num_sentinel_tokens
        self.image_token_ids = list(ids.image_token_ids)
        sentinels = [ids.sentinel_token_id(i) for i in range(ids.num_sentinel_tokens)]
        # Tokens that separate segments when decoding; they are never part of a text or an image.
        self._control_token_ids = frozenset(
            [*tokenizer.all_special_ids, *sentinels, ids.break_token_id, ids.eoss_token_id]
        )

    # -- tokens -----------------------------------------------------------------------------------------------------
    @property
    def bos_token(self) -> str | None:
        return self.tokenizer.bos_token

    @property
    def eos_token(self) -> str | None:
        return self.tokenizer.eos_token

    @property
    def pad_token(self) -> str | None:
        return self.tokenizer.pad_token

    @property
    def bos_token_id(self) -> int | None:
        return self.tokenizer.bos_token_id

    @property
    def eos_token_id(self) -> int | None:
        return self.tokenizer.eos_token_id

    @property
    def pad_token_id(self) -> int | None:
        return self.tokenizer.pad_token_id

    @property
    def vocab_size(self) -> int:
        """Number of token ids, image and special tokens included."""
        return len(self.tokenizer)

    @property
    def image_seq_length(self) -> int:
        """Image tokens per image (1024 for CM3Leon and Chameleon)."""
        return self.image_processor.image_seq_length

    @property
    def model_input_names(self) -> list[str]:
        return ["input_ids", "attention_mask"]

    def sentinel_token(self, index: int = 0) -> str:
        """The string of `<sentinel:{index}>`."""
        self.sentinel_token_id(index)  # validates
        return sentinel_token_name(index)

    def sentinel_token_id(self, index: int = 0) -> int:
        """The id of `<sentinel:{index}>`."""
        return self.special_token_ids.sentinel_token_id(index)

    def is_image_token(self, token_ids) -> torch.Tensor | np.ndarray | bool:
        """Whether each id is an image token (works on an int, a numpy array or a tensor)."""
        start, stop = self.image_token_offset, self.image_token_offset + self.image_vocab_size
        return (token_ids >= start) & (token_ids < stop)

    def _check_image(self, image, name: str) -> None:
        if is_image_token_ids(image):
            self._check_image_token_ids(image, name)
        elif not is_valid_image(image):
            raise TypeError(
                f"`{name}` must be an image (PIL.Image, numpy array or torch tensor) or its image token ids (a 1-D "
                f"sequence of ints), got {describe(image)}."
            )

    def _check_document(self, document, name: str) -> list:
        """A document's segments: text, images, or pre-tokenised images (checked to be image token ids)."""
        if not isinstance(document, (list, tuple)) or not document:
            raise TypeError(f"`{name}` must be a non-empty list of segments (str or image), got {describe(document)}.")
        for index, segment in enumerate(document):
            if is_image_token_ids(segment):
                self._check_image_token_ids(segment, f"{name}[{index}]")
            elif not isinstance(segment, str) and not is_valid_image(segment):
                raise TypeError(
                    f"`{name}[{index}]` must be text (str), an image (PIL.Image, numpy array or torch tensor) or "
                    f"pre-tokenised image ids (a 1-D sequence of ints), got {describe(segment)}."
                )
        return list(document)

    # -- encoding -----------------------------------------------------------------------------------------------------
    def __call__(
        self,
        text: str | list[str] | None = None,
        images=None,
        return_tensors: str | None = None,
        padding: bool | str = False,
        padding_side: str | None = None,
        return_labels: bool = False,
        max_length: int | None = None,
        truncation: bool = False,
        pad_to_multiple_of: int | None = None,
        allow_control_tokens: bool = False,
        sanitize_control_tokens: bool = False,
        **kwargs,
    ) -> BatchFeature:
        r"""
        Tokenize text in which each `<image>` placeholder is replaced by the next image, as the sequence format writes
        an image: its `image_seq_length` image-token ids (`"cm3leon"`), or those ids wrapped as
        `<racm3:break> ids <eoss>` (`"chameleon"`, as transformers' `ChameleonProcessor` does).

        Text is text: a `</s>`, `<racm3:break>`, `<sentinel:0>` or an image token's name written in it is tokenized as
        plain text, and nothing is added. To write a sequence's structure as markup, opt in with
        `allow_control_tokens=True`: `processor("</s>a red circle<racm3:break><image></s>", images=[image],
        allow_control_tokens=True)` is a CM3Leon training document. The prompt builders (`text_to_image_prompt`, ...)
        and `apply_chat_template` write the structure for you.

        Args:
            text (`str` or `list[str]`): One text or a batch of texts.
            images (*optional*): An image, a flat list of images consumed by the placeholders in order across the
                batch, or one list of images per text.
            return_tensors (`str`, *optional*): `"pt"`, `"np"` or `None` (lists).
            padding (`bool` or `str`): `True`/`"longest"`, `"max_length"` or `False`/`"do_not_pad"`.
            padding_side (`str`, *optional*): `"left"` (generation) or `"right"`; defaults to the tokenizer's.
            return_labels (`bool`): Also return `labels`: the ids with padding set to -100.
            max_length (`int`, *optional*): Longest allowed sequence. A longer one raises unless `truncation=True`.
            truncation (`bool`): Cut sequences longer than `max_length` (keeping the start); never inside an image.
            pad_to_multiple_of (`int`, *optional*): Pad the length up to a multiple of this.
            allow_control_tokens (`bool`): Read control tokens written in `text` as structure (see above).
            sanitize_control_tokens (`bool`): Set by `apply_chat_template`: the template's control tokens are
                structure, what the user typed in the messages is text.

        Returns:
            [`~transformers.BatchFeature`] with `input_ids`, `attention_mask` and optionally `labels`.
        """
        if kwargs.pop("add_special_tokens", False):
            raise ValueError(
                "`add_special_tokens=True`: a CM3Leon processor adds no special tokens; the prompt builders and chat "
                "templates write them."
            )
        for modality in ("videos", "audio"):
            if kwargs.pop(modality, None) is not None:
                raise ValueError(f"`{modality}`: CM3Leon reads text and images only.")
        if kwargs:
            raise TypeError(f"CM3LeonProcessor got unexpected keyword arguments {sorted(kwargs)}.")
        check_bool("allow_control_tokens", allow_control_tokens)
        check_bool("sanitize_control_tokens", sanitize_control_tokens)
        if text is None:
            raise ValueError("`text` is required: write where each image goes with the '<image>' placeholder.")
        texts = check_text_list("text", text)
        rows = [self._markup_row(sample, sanitize_control_tokens) for sample in texts]
        images_per_row = self._distribute_images([row.count(_IMAGE_SLOT) for row in rows], images)
        for row, row_images in zip(rows, images_per_row):
            row_images = iter(row_images)
            row[:] = [
                part
                for item in row
                for part in (self._format.image(next(row_images)) if item is _IMAGE_SLOT else [item])
            ]
        return self.pad(
            self._encode_rows(rows, recognise_control_tokens=allow_control_tokens or sanitize_control_tokens),
            padding=padding,
            padding_side=padding_side,
            max_length=max_length,
            truncation=truncation,
            pad_to_multiple_of=pad_to_multiple_of,
            return_labels=return_labels,
            return_tensors=return_tensors,
        )

    def _markup_row(self, text: str, sanitized: bool) -> list:
        """Split text into pieces and image slots; with `sanitized`, the marked pieces (a user's) are plain text."""
        pieces = MARKED_USER_TEXT.split(text) if sanitized else [text]
        row = []
        for index, piece in enumerate(pieces):
            if piece is None or piece == "":
                continue
            if index % 2:  # between markers: typed by the user
                row.append(PlainText(piece))
                continue
            parts = piece.split(IMAGE_PLACEHOLDER)
            row += typed_placeholders_as_text(parts[0], sanitized)
            for part in parts[1:]:
                row += [_IMAGE_SLOT, *typed_placeholders_as_text(part, sanitized)]
        return [item for item in row if item != ""]

    def apply_chat_template(self, conversation, chat_template=None, **kwargs):
        """transformers' `apply_chat_template`, with the control tokens and `<image>` placeholders a user typed in the
        messages kept as text (`sanitize_control_tokens=True`, the default here when tokenizing)."""
        check_conversation(conversation)
        if kwargs.get("tokenize") and kwargs.get("sanitize_control_tokens") is None:
            kwargs["sanitize_control_tokens"] = True
        if kwargs.get("sanitize_control_tokens"):
            conversation = escape_typed_placeholders(conversation)
        return super().apply_chat_template(conversation, chat_template=chat_template, **kwargs)

    def _distribute_images(self, counts: list[int], images) -> list[list]:
        if images is None:
            if any(counts):
                raise ValueError(f"The text has {sum(counts)} '{IMAGE_PLACEHOLDER}' placeholder(s) but no `images`.")
            return [[] for _ in counts]
        if is_valid_image(images):
            images = [images]
        if not isinstance(images, (list, tuple)):
            raise TypeError(f"`images` must be an image or a list of images, got {describe(images)}.")
        if images and all(isinstance(item, (list, tuple)) for item in images):
            if len(images) != len(counts):
                raise ValueError(
                    f"`images` holds one list of images per text, but there are {len(images)} lists for "
                    f"{len(counts)} texts."
                )
            for index, (count, sample_images) in enumerate(zip(counts, images)):
                if count != len(sample_images):
                    raise ValueError(
                        f"text[{index}] has {count} '{IMAGE_PLACEHOLDER}' placeholder(s) but {len(sample_images)} "
                        "image(s) were given for it."
                    )
                _check_images(sample_images, f"images[{index}]")
            return [list(sample_images) for sample_images in images]
        _check_images(images, "images")
        if sum(counts) != len(images):
            raise ValueError(
                f"`images` holds {len(images)} image(s) but the text has {sum(counts)} '{IMAGE_PLACEHOLDER}' "
                "placeholder(s) in total; each placeholder takes one image."
            )
        per_text, start = [], 0
        for count in counts:
            per_text.append(list(images[start : start + count]))
            start += count
        return per_text

    def _encode_rows(self, rows: list[list], recognise_control_tokens: bool = False) -> list[list[int]]:
        """Concatenate the ids of each row's items: a token id (`int`), text (`str`; control tokens in it recognised
        only with `recognise_control_tokens`, never in [`PlainText`]), [`Tokens`], image token ids or an image."""
        texts = [item for row in rows for item in row if isinstance(item, str)]
        images = [item for row in rows for item in row if _is_image(item)]
        structural = [isinstance(t, str) and not isinstance(t, PlainText) and recognise_control_tokens for t in texts]
        text_ids = iter(self._tokenize(texts, structural))
        image_ids = iter(self.encode_images(images))
        encoded = []
        for row in rows:
            ids = []
            for item in row:
                if isinstance(item, str):
                    ids += next(text_ids)
                elif isinstance(item, Tokens):
                    ids += item
                elif isinstance(item, (int, np.integer)) and not isinstance(item, bool):
                    ids.append(int(item))
                elif is_image_token_ids(item):
                    ids += self._check_image_token_ids(item)
                else:
                    ids += next(image_ids)
            encoded.append(ids)
        return encoded

    def _tokenize(self, texts: list[str], structural: list[bool]) -> list[list[int]]:
        ids = [None] * len(texts)
        for recognise in (False, True):
            indices = [i for i, s in enumerate(structural) if s == recognise]
            if indices:
                encoding = self.tokenizer(
                    [texts[i] for i in indices],
                    add_special_tokens=False,
                    split_special_tokens=not recognise,
                    verbose=False,
                )
                for i, row in zip(indices, encoding["input_ids"]):
                    ids[i] = row
        return ids

    def encode_images(self, images: Sequence) -> list[list[int]]:
        """The image-token ids (`image_seq_length` each) of `images`, encoded by the VQ model in small batches."""
        ids = []
        for start in range(0, len(images), IMAGE_ENCODE_BATCH_SIZE):
            batch = self.image_processor.images_to_token_ids(list(images[start : start + IMAGE_ENCODE_BATCH_SIZE]))
            ids += batch.tolist()
        return ids

    def encode_documents(self, documents, retrieved_documents=None, **pad_kwargs) -> BatchFeature:
        """Encode training examples in the sequence format, one per document (see `data.DocumentEncoder`):
        `</s> seg_1 <break> ... seg_n </s>` in the CM3Leon format (retrieved documents first, each followed by
        `<break>`), `<s> seg_1 ... seg_n </s>` with each image wrapped as `<break> image <eoss>` in Chameleon's.

        A document is a list of segments: text, images or image token ids. Texts are plain text. Keyword arguments
        are those of `pad` (`padding=False` by default, so examples keep their own length).
        """
        from .data.document import DocumentEncoder

        if not isinstance(documents, (list, tuple)) or not all(isinstance(d, (list, tuple)) for d in documents):
            raise TypeError(
                f"`documents` must be a list of documents, each a list of segments (str or image), got "
                f"{describe(documents)}; wrap a single document in a list: `encode_documents([document])`."
            )
        if retrieved_documents is not None and (
            not isinstance(retrieved_documents, (list, tuple)) or len(retrieved_documents) != len(documents)
        ):
            raise ValueError(
                "`retrieved_documents` must hold one list of retrieved documents per document: got "
                f"{describe(retrieved_documents)} for {len(documents)} documents."
            )
        checked = []
        for index, document in enumerate(documents):
            document = self._check_document(document, f"documents[{index}]")
            retrieved = None if retrieved_documents is None else retrieved_documents[index]
            retrieved = self._check_documents(retrieved, f"retrieved_documents[{index}]") or []
            # Retrieved documents first: in both formats, the example of the flat list of all their segments.
            checked.append([segment for doc in retrieved for segment in doc] + document)
        encoder = DocumentEncoder(
            self.tokenizer, sequence_format=self._format, image_processor=self, image_seq_length=self.image_seq_length
        )
        rows = [example["input_ids"] for example in encoder.encode(checked)]
        pad_kwargs.setdefault("padding", False)
        return self.pad(rows, **pad_kwargs)

    # -- decoding -------------------------------------------------------------------------------------------------
    def decode_segments(self, token_ids) -> list[str | Image.Image]:
        """Split one sequence of ids into text segments and PIL images, in order.

        Control tokens (`<s>`, `</s>`, `<pad>`, `<racm3:break>`, `<eoss>`, `<sentinel:i>`) end a segment and are
        dropped; each run of image tokens must be a whole number of images (`image_seq_length` tokens each) and is
        decoded by the VQ model; empty text segments are dropped. This reads both layouts: CM3Leon's
        `text <break> image <break> text` and Chameleon's `text <break> image <eoss> text` give the same segments.

        Raises:
            ValueError: if a run of image tokens is not a multiple of `image_seq_length` long, or an id is outside
                the vocabulary.
        """
        ids = self._check_ids(token_ids, "token_ids")
        spans: list[tuple[str, int, int]] = []  # (kind, start, stop)
        for position, token in enumerate(ids):
            kind = "image" if self.is_image_token(token) else "control" if token in self._control_token_ids else "text"
            if spans and spans[-1][0] == kind and spans[-1][2] == position:
                spans[-1] = (kind, spans[-1][1], position + 1)
            else:
                spans.append((kind, position, position + 1))

        image_runs = []
        for kind, start, stop in spans:
            if kind == "image":
                if (stop - start) % self.image_seq_length:
                    raise ValueError(
                        f"The image tokens at positions {start}..{stop - 1} form a run of {stop - start} tokens, which "
                        f"is not a whole number of images of `image_seq_length`={self.image_seq_length} tokens."
                    )
                image_runs += [ids[i : i + self.image_seq_length] for i in range(start, stop, self.image_seq_length)]
        images = iter(self.token_ids_to_images(image_runs)) if image_runs else iter(())

        segments = []
        for kind, start, stop in spans:
            if kind == "text":
                text = self.tokenizer.decode(ids[start:stop])
                if text:
                    segments.append(text)
            elif kind == "image":
                segments += [next(images) for _ in range((stop - start) // self.image_seq_length)]
        return segments

    def token_ids_to_images(self, image_token_ids) -> list[Image.Image]:
        """PIL images from image-token ids of shape `(num_images, image_seq_length)`."""
        ids = torch.as_tensor(image_token_ids, dtype=torch.long)
        return self.image_processor.token_ids_to_images(ids, output_type="pil")

    def post_process_multimodal_output(
        self, generated_outputs, skip_special_tokens: bool = True, generation_mode: str | None = None, **kwargs
    ):
        """The `any-to-any` pipeline's hook: generated ids -> texts, or -> one PIL image per sequence.

        Args:
            generated_outputs (`torch.Tensor` of shape `(batch_size, sequence_length)`): Generated ids. With
                `generation_mode="image"` each row's last complete image is decoded; pixel values
                (`(batch_size, 3, height, width)` floats in [-1, 1]) are also accepted.
            skip_special_tokens (`bool`): For text, drop control and image tokens.
            generation_mode (`str`, *optional*): `"text"` (default) or `"image"`.

        Returns:
            `list[str]` or `list[PIL.Image.Image]`.
        """
        if generation_mode in (None, "text"):
            return self.post_process_image_text_to_text(
                generated_outputs, skip_special_tokens=skip_special_tokens, **kwargs
            )
        if generation_mode != "image":
            raise ValueError(f"`generation_mode` must be 'text' or 'image', got {generation_mode!r}.")
        if kwargs:
            raise TypeError(f"Unexpected keyword arguments {sorted(kwargs)} for generation_mode='image'.")
        outputs = torch.as_tensor(generated_outputs)
        if outputs.is_floating_point():
            if outputs.dim() == 4 and outputs.shape[1] not in (1, 3) and outputs.shape[-1] in (1, 3):
                outputs = outputs.permute(0, 3, 1, 2)  # channels-last, as Janus' `decode_image_tokens` returns
            return self.image_processor.postprocess(outputs, output_type="pil")
        if outputs.dim() == 1:
            outputs = outputs[None]
        images = []
        for index, row in enumerate(outputs):
            row_images = [segment for segment in self.decode_segments(row) if isinstance(segment, Image.Image)]
            if not row_images:
                raise ValueError(
                    f"Generated sequence {index} holds no complete image ({self.image_seq_length} image tokens)."
                )
            images.append(row_images[-1])
        return images

    def _get_num_multimodal_tokens(self, image_sizes=None, **kwargs) -> MultiModalData:
        """Tokens taken by each image placeholder, whatever the image's size (images are resized and cropped):
        `image_seq_length`, plus `<racm3:break>` and `<eoss>` in the Chameleon layout."""
        if image_sizes is None:
            return MultiModalData()
        num_tokens = len(self._format.image([0] * self.image_seq_length)) - 1 + self.image_seq_length
        return MultiModalData(
            num_image_tokens=[num_tokens] * len(image_sizes), num_image_patches=[1] * len(image_sizes)
        )

    # -- serialization --------------------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        check_has_image_tokenizer(pretrained_model_name_or_path)
        return super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)

    def to_dict(self) -> dict:
        # ProcessorMixin.to_dict deep-copies every attribute before serialising it; detach the VQ model meanwhile so
        # that saving (or printing) the processor does not copy its weights. They are saved by `save_pretrained`.
        vq_model = self.image_processor.vq_model
        self.image_processor.vq_model = None
        try:
            return super().to_dict()
        finally:
            self.image_processor.vq_model = vq_model

    def save_pretrained(self, save_directory: str | os.PathLike, push_to_hub: bool = False, **kwargs) -> list[str]:
        """Save the tokenizer, the image processor's settings (in `processor_config.json`) and the VQ model (in
        `image_tokenizer/`, as safetensors) into one folder. `from_pretrained` (and `AutoProcessor.from_pretrained`)
        reload all three: the image processor restores its VQ model from `image_tokenizer/` when it is loaded."""
        os.makedirs(save_directory, exist_ok=True)
        if push_to_hub:
            commit_message = kwargs.pop("commit_message", None)
            repo_id = kwargs.pop("repo_id", str(save_directory).split(os.path.sep)[-1])
            token = kwargs.get("token")
            repo_id = hf_api().create_repo(repo_id, exist_ok=True, **kwargs).repo_id
            files_timestamps = self._get_files_timestamps(save_directory)
        files = super().save_pretrained(save_directory)
        files += self.image_processor.save_image_tokenizer(save_directory)
        if push_to_hub:
            self._upload_modified_files(
                save_directory, repo_id, files_timestamps, commit_message=commit_message, token=token
            )
        return files


def _check_images(images, name: str) -> None:
    for index, image in enumerate(images):
        if not is_valid_image(image):
            raise TypeError(
                f"`{name}[{index}]` must be an image (PIL.Image, numpy array or torch tensor), got {describe(image)}."
            )


def _is_image(item) -> bool:
    return is_valid_image(item) and not is_image_token_ids(item) and not isinstance(item, Tokens)


__all__ = ["CM3LeonProcessor", "is_image_token_ids"]
