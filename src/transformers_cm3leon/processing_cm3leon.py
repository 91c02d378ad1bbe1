# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""CM3LeonProcessor: documents and prompts (text and images) <-> token ids, in CM3Leon's layout or Chameleon's.

The processor owns both tokenizers: the BPE text tokenizer and the VQ image tokenizer wrapped by
`CM3LeonImageProcessor`. An image becomes `image_seq_length` image-token ids; the language model only ever sees ids.

`layout="cm3leon"` (paper Fig. 8/9 and metaseq's tokenization; `<break>` is `<racm3:break>`):

    document                       caption <break> image
    training example               </s> seg_1 <break> seg_2 ... <break> seg_n </s>
    retrieval-augmented example    </s> [ret_text <break> ret_image <break>] x k  query_text <break> query_image </s>
    text-to-image prompt           </s> prompt <break>                         (then image_seq_length image tokens)
    unconditional prompt (CFG)     </s> <sentinel:0> <break>
    captioning by infilling        </s> <sentinel:0> <break> image <sentinel:0>   (then the caption and <eoss>)

`layout="chameleon"`, for converted Chameleon / Anole checkpoints (Meta's `chameleon/inference/chameleon.py`): a
sequence starts with `<s>`, an image is wrapped as `<break> image <eoss>` (begin / end of image) and text and images
follow each other with no separator. There are no sentinels, hence no infilling:

    training example               <s> seg_1 seg_2 ... seg_n </s>        (each image as <break> image <eoss>)
    text-to-image prompt           <s> prompt <break>                    (then image_seq_length image tokens, <eoss>)
    unconditional prompt (CFG)     <s> <break>
    editing, full stream           <s> instruction <break> image <eoss> <break>
    editing, image-only stream     the full stream filtered to image tokens, <s>, <break> and <eoss>

Text segments are tokenized on their own and joined with the special ids, so no space leaks into a BPE token next
to a special token, and the text of a document can never produce a control token: the builders tokenize content
with `split_special_tokens=True`. `__call__` is the exception: its text is markup in which `</s>`,
`<racm3:break>`, `<sentinel:i>`... are recognised, and `<image>` marks where an image goes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image
from transformers import BatchFeature
from transformers.image_utils import is_valid_image
from transformers.processing_utils import MultiModalData, ProcessorMixin
from transformers.utils.hub import hf_api

from .tokenization_cm3leon import BREAK_TOKEN, EOSS_TOKEN, sentinel_token_name, token_layout

# The instruction that opens a text-guided editing example (paper Table 5).
EDITING_INSTRUCTION = "Edit first image following the instruction"
# Images encoded by the VQ model per forward pass, to bound memory when a call holds many images.
IMAGE_ENCODE_BATCH_SIZE = 16
# Token layouts: CM3Leon's (the paper's) and Chameleon's (for converted Chameleon / Anole checkpoints).
LAYOUTS = ("cm3leon", "chameleon")
_PADDING_STRATEGIES = (True, False, "longest", "max_length", "do_not_pad")
_CALL_KWARGS = (
    "return_tensors",
    "padding",
    "padding_side",
    "return_labels",
    "max_length",
    "truncation",
    "pad_to_multiple_of",
)

# A document is an ordered list of segments: text (`str`), images (PIL, numpy or torch) and pre-tokenised images (a
# 1-D sequence of `image_seq_length` image-token ids, e.g. from a memory bank or `data.ImagePretokenizer`).
Segment = Any
Document = list[Segment]


class CM3LeonProcessor(ProcessorMixin):
    r"""
    Turns text and images into CM3Leon token ids and back.

    Wraps a [`CM3LeonImageProcessor`] (pixels <-> VQ codes <-> image-token ids) and a tokenizer whose vocabulary
    follows the CM3Leon layout (see [`build_cm3leon_tokenizer`] and [`token_layout`]).

    `layout` chooses how sequences are laid out (see the module docstring): `"cm3leon"`, the paper's (`</s>` first,
    segments joined by `<racm3:break>`, sentinels for infilling), or `"chameleon"`, the one converted Chameleon /
    Anole checkpoints were trained on (`<s>` first, each image wrapped as `<racm3:break> image <eoss>`, no
    infilling). It is saved in `processor_config.json`; the converters write `"chameleon"`.

    Ways in and out:

    - `processor(text=..., images=...)`: text markup with `<image>` placeholders (HF processor style).
    - `processor.encode_documents(documents)`: training examples in the processor's layout, optionally retrieval-augmented.
    - `processor.text_to_image_prompt(...)`, `unconditional_prompt()`, `captioning_prompt(...)`, `vqa_prompt(...)`,
      `editing_prompts(...)`: one prompt's token ids (`list[int]`) for generation; batch them with `processor.pad`.
    - `processor.decode_segments(ids)`: generated ids -> text segments and PIL images.

    Args:
        image_processor ([`CM3LeonImageProcessor`]): Pixels <-> image-token ids, holding the VQ model.
        tokenizer ([`~transformers.PreTrainedTokenizerFast`]): The text tokenizer with image and CM3 special tokens.
        layout (`str`, *optional*, defaults to `"cm3leon"`): `"cm3leon"` or `"chameleon"`.

    Raises:
        ValueError: if `layout` is not one of `LAYOUTS`, if the `"chameleon"` layout is asked of a tokenizer without
            `<s>`, or if the tokenizer's image tokens do not start at `image_processor.image_token_offset` or do not
            number `image_processor.num_image_tokens`.
    """

    image_token = "<image>"  # placeholder in `__call__` text; not in the vocabulary
    break_token = BREAK_TOKEN
    eoss_token = EOSS_TOKEN

    def __init__(self, image_processor, tokenizer, layout: str = "cm3leon", **kwargs):
        if not isinstance(layout, str) or layout not in LAYOUTS:
            raise ValueError(f"`layout` must be one of {list(LAYOUTS)}, got {layout!r}.")
        super().__init__(image_processor, tokenizer, **kwargs)
        for method in ("images_to_token_ids", "token_ids_to_images"):
            if not callable(getattr(image_processor, method, None)):
                raise TypeError(
                    f"`image_processor` must turn images into token ids and back (a CM3LeonImageProcessor); "
                    f"{type(image_processor).__name__} has no `{method}` method."
                )
        if layout == "chameleon" and tokenizer.bos_token_id is None:
            raise ValueError(
                "`layout='chameleon'` starts every sequence with <s>, but the tokenizer has no `bos_token`."
            )
        self.layout = layout
        vocabulary = token_layout(tokenizer)
        if vocabulary["image_token_offset"] != image_processor.image_token_offset:
            raise ValueError(
                f"The tokenizer's image tokens start at id {vocabulary['image_token_offset']}, but the image processor "
                f"writes image tokens from `image_token_offset`={image_processor.image_token_offset}."
            )
        # Without a VQ model attached yet, the codebook size is unknown; it is checked when one is present.
        if image_processor.vq_model is not None and vocabulary["image_vocab_size"] != image_processor.num_image_tokens:
            raise ValueError(
                f"The tokenizer has {vocabulary['image_vocab_size']} image tokens, but the image processor's VQ model has "
                f"`num_image_tokens`={image_processor.num_image_tokens} codes; they must be equal."
            )
        self.image_token_offset = vocabulary["image_token_offset"]
        self.image_vocab_size = vocabulary["image_vocab_size"]
        self.break_token_id = vocabulary["break_token_id"]
        self.eoss_token_id = vocabulary["eoss_token_id"]
        self.sentinel_token_offset = vocabulary["sentinel_token_offset"]
        self.num_sentinel_tokens = vocabulary["num_sentinel_tokens"]
        self.image_token_ids = list(range(self.image_token_offset, self.image_token_offset + self.image_vocab_size))
        sentinel_ids = [self.sentinel_token_id(i) for i in range(self.num_sentinel_tokens)]
        # Tokens that separate segments when decoding; they are never part of a text or an image.
        self._control_token_ids = frozenset(
            [*tokenizer.all_special_ids, self.break_token_id, self.eoss_token_id, *sentinel_ids]
        )

    # -- tokens ---------------------------------------------------------------------------------------------------
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

    def sentinel_token(self, index: int = 0) -> str:
        """The string of `<sentinel:{index}>`."""
        self.sentinel_token_id(index)  # validates
        return sentinel_token_name(index)

    def sentinel_token_id(self, index: int = 0) -> int:
        """The id of `<sentinel:{index}>`."""
        if not self.num_sentinel_tokens:
            raise ValueError(
                "This vocabulary has no <sentinel:i> tokens (a Chameleon-style vocabulary); infilling prompts and the "
                "CM3 objective need a tokenizer built with `num_sentinel_tokens` > 0."
            )
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < self.num_sentinel_tokens:
            raise ValueError(f"`index` must be an integer in [0, {self.num_sentinel_tokens}), got {index!r}.")
        return self.sentinel_token_offset + index

    def is_image_token(self, token_ids) -> torch.Tensor | np.ndarray | bool:
        """Whether each id is an image token (works on an int, a numpy array or a tensor)."""
        start, stop = self.image_token_offset, self.image_token_offset + self.image_vocab_size
        return (token_ids >= start) & (token_ids < stop)

    @property
    def model_input_names(self) -> list[str]:
        return ["input_ids", "attention_mask"]

    # -- encoding -------------------------------------------------------------------------------------------------
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
        **kwargs,
    ) -> BatchFeature:
        r"""
        Tokenize text markup in which each `<image>` placeholder is replaced by the next image, as the layout
        writes an image: its `image_seq_length` image-token ids (`"cm3leon"`), or those ids wrapped as
        `<racm3:break> ids <eoss>` (`"chameleon"`, as transformers' `ChameleonProcessor` does).

        The text is split on `<image>`, each piece is tokenized on its own (control tokens such as `</s>`,
        `<racm3:break>` or `<sentinel:0>` written in it are recognised) and the pieces and images are
        concatenated. Nothing else is added: write `</s>` / `<s>` and `<racm3:break>` where the layout needs them,
        e.g. `processor("</s>a red circle<racm3:break><image></s>", images=[image])` is a CM3Leon training document
        and `processor("<s>a red circle<image></s>", images=[image])` a Chameleon one.

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

        Returns:
            [`~transformers.BatchFeature`] with `input_ids`, `attention_mask` and optionally `labels`.
        """
        if kwargs:
            raise TypeError(
                f"CM3LeonProcessor got unexpected keyword arguments {sorted(kwargs)}; it accepts `text`, `images` and "
                f"{list(_CALL_KWARGS)}."
            )
        if text is None:
            raise ValueError(
                "`text` is required: write where each image goes with the '<image>' placeholder, e.g. "
                "text='</s>a cat<racm3:break><image></s>'."
            )
        texts = [text] if isinstance(text, str) else text
        if not isinstance(texts, (list, tuple)) or not texts or not all(isinstance(t, str) for t in texts):
            raise TypeError(f"`text` must be a string or a non-empty list of strings, got {_describe(text)}.")
        images_per_text = self._distribute_images(texts, images)

        rows = []
        for sample, sample_images in zip(texts, images_per_text):
            pieces = sample.split(self.image_token)
            row = [pieces[0]]
            for image, piece in zip(sample_images, pieces[1:]):
                row += [*self._image_segment(image), piece]
            rows.append(row)
        input_ids = self._encode_rows(rows, recognize_special_tokens=True)
        return self.pad(
            input_ids,
            padding=padding,
            padding_side=padding_side,
            max_length=max_length,
            truncation=truncation,
            pad_to_multiple_of=pad_to_multiple_of,
            return_labels=return_labels,
            return_tensors=return_tensors,
        )

    def _distribute_images(self, texts: list[str], images) -> list[list]:
        counts = [t.count(self.image_token) for t in texts]
        if images is None:
            if any(counts):
                raise ValueError(
                    f"The text has {sum(counts)} '{self.image_token}' placeholder(s) but no `images` were given."
                )
            return [[] for _ in texts]
        if is_valid_image(images):
            images = [images]
        if not isinstance(images, (list, tuple)):
            raise TypeError(f"`images` must be an image or a list of images, got {_describe(images)}.")
        if images and all(isinstance(item, (list, tuple)) for item in images):
            if len(images) != len(texts):
                raise ValueError(
                    f"`images` holds one list of images per text, but there are {len(images)} lists for "
                    f"{len(texts)} texts."
                )
            for index, (count, sample_images) in enumerate(zip(counts, images)):
                if count != len(sample_images):
                    raise ValueError(
                        f"text[{index}] has {count} '{self.image_token}' placeholder(s) but {len(sample_images)} "
                        f"image(s) were given for it."
                    )
                _check_images(sample_images, f"images[{index}]")
            return [list(sample_images) for sample_images in images]
        _check_images(images, "images")
        if sum(counts) != len(images):
            raise ValueError(
                f"The text has {sum(counts)} '{self.image_token}' placeholder(s) in total but {len(images)} image(s) "
                "were given; each placeholder takes one image."
            )
        per_text, start = [], 0
        for count in counts:
            per_text.append(list(images[start : start + count]))
            start += count
        return per_text

    def _encode_rows(self, rows: list[list], recognize_special_tokens: bool) -> list[list[int]]:
        """Concatenate the ids of each row's segments: `int` (a token id), `str` (text) or an image."""
        texts = [segment for row in rows for segment in row if isinstance(segment, str)]
        images = [segment for row in rows for segment in row if _is_image(segment)]
        text_ids = iter(self._tokenize(texts, recognize_special_tokens))
        image_ids = iter(self.encode_images(images))
        encoded = []
        for row in rows:
            ids = []
            for segment in row:
                if isinstance(segment, str):
                    ids += next(text_ids)
                elif isinstance(segment, int):
                    ids.append(segment)
                elif is_image_token_ids(segment):
                    ids += self._check_image_token_ids(segment)
                else:
                    ids += next(image_ids)
            encoded.append(ids)
        return encoded

    def _tokenize(self, texts: list[str], recognize_special_tokens: bool) -> list[list[int]]:
        if not texts:
            return []
        encoding = self.tokenizer(
            texts, add_special_tokens=False, split_special_tokens=not recognize_special_tokens, verbose=False
        )
        return encoding["input_ids"]

    def encode_images(self, images: Sequence) -> list[list[int]]:
        """The image-token ids (`image_seq_length` each) of `images`, encoded by the VQ model in small batches."""
        ids = []
        for start in range(0, len(images), IMAGE_ENCODE_BATCH_SIZE):
            batch = self.image_processor.images_to_token_ids(list(images[start : start + IMAGE_ENCODE_BATCH_SIZE]))
            ids += batch.tolist()
        return ids

    def pad(
        self,
        sequences: Sequence[Sequence[int]],
        padding: bool | str = True,
        padding_side: str | None = None,
        max_length: int | None = None,
        truncation: bool = False,
        pad_to_multiple_of: int | None = None,
        return_labels: bool = False,
        return_tensors: str | None = None,
    ) -> BatchFeature:
        """Batch token-id sequences (e.g. prompts from the builders) into `input_ids` and `attention_mask`.

        Example: the two streams of classifier-free guidance, left-padded for generation:

        ```python
        >>> batch = processor.pad(
        ...     [processor.text_to_image_prompt("a red circle"), processor.unconditional_prompt()],
        ...     padding_side="left", return_tensors="pt",
        ... )
        ```

        Args: as in `__call__`; `padding` defaults to `True` here.

        Returns:
            [`~transformers.BatchFeature`] with `input_ids`, `attention_mask` and, if `return_labels`, `labels` (the
            ids with padding set to -100).
        """
        sequences = [self._check_ids(seq, f"sequences[{i}]") for i, seq in enumerate(_as_list_of_sequences(sequences))]
        if padding not in _PADDING_STRATEGIES:
            raise ValueError(f"`padding` must be one of {list(_PADDING_STRATEGIES)}, got {padding!r}.")
        padding_side = self.tokenizer.padding_side if padding_side is None else padding_side
        if padding_side not in ("left", "right"):
            raise ValueError(f"`padding_side` must be 'left' or 'right', got {padding_side!r}.")
        if return_tensors not in (None, "pt", "np"):
            raise ValueError(f"`return_tensors` must be 'pt', 'np' or None, got {return_tensors!r}.")
        if max_length is not None and (
            isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1
        ):
            raise ValueError(f"`max_length` must be a positive integer, got {max_length!r}.")
        if pad_to_multiple_of is not None and (
            isinstance(pad_to_multiple_of, bool) or not isinstance(pad_to_multiple_of, int) or pad_to_multiple_of < 1
        ):
            raise ValueError(f"`pad_to_multiple_of` must be a positive integer, got {pad_to_multiple_of!r}.")
        if truncation and max_length is None:
            raise ValueError("`truncation=True` needs `max_length`.")
        if padding == "max_length" and max_length is None:
            raise ValueError("`padding='max_length'` needs `max_length`.")

        if max_length is not None:
            for index, seq in enumerate(sequences):
                if len(seq) <= max_length:
                    continue
                if not truncation:
                    raise ValueError(
                        f"Sequence {index} has {len(seq)} tokens, more than `max_length`={max_length}. Shorten it, raise "
                        "`max_length`, or pass `truncation=True` to keep its first `max_length` tokens."
                    )
                self._check_cut(seq, max_length, index)
                sequences[index] = seq[:max_length]

        lengths = [len(seq) for seq in sequences]
        if padding in (True, "longest", "max_length"):
            target = max_length if padding == "max_length" else max(lengths)
            if pad_to_multiple_of is not None:
                target = -(-target // pad_to_multiple_of) * pad_to_multiple_of
        else:
            target = None
            if return_tensors is not None and len(set(lengths)) > 1:
                raise ValueError(
                    f"The sequences have different lengths {lengths}; pass `padding=True` to batch them as tensors."
                )

        input_ids, attention_mask = [], []
        for seq in sequences:
            num_pad = 0 if target is None else target - len(seq)
            if num_pad and self.pad_token_id is None:
                raise ValueError("The tokenizer has no `pad_token`; set one to pad a batch.")
            pad, ones, zeros = [self.pad_token_id] * num_pad, [1] * len(seq), [0] * num_pad
            if padding_side == "left":
                input_ids.append(pad + seq)
                attention_mask.append(zeros + ones)
            else:
                input_ids.append(seq + pad)
                attention_mask.append(ones + zeros)
        data = {"input_ids": input_ids, "attention_mask": attention_mask}
        if return_labels:
            data["labels"] = [
                [token if keep else -100 for token, keep in zip(ids, mask)]
                for ids, mask in zip(input_ids, attention_mask)
            ]
        return BatchFeature(data, tensor_type=return_tensors)

    def _check_image_token_ids(self, ids, name: str = "image token ids") -> list[int]:
        ids = self._check_ids(ids, name)
        start, stop = self.image_token_offset, self.image_token_offset + self.image_vocab_size
        if len(ids) != self.image_seq_length or not all(start <= i < stop for i in ids):
            raise ValueError(
                f"A pre-tokenised image must be {self.image_seq_length} ids in the image-token range [{start}, {stop}); "
                f"got {len(ids)} ids from {min(ids, default=None)} to {max(ids, default=None)}."
            )
        return ids

    def _check_ids(self, ids, name: str) -> list[int]:
        if isinstance(ids, (torch.Tensor, np.ndarray)):
            if ids.ndim != 1:
                raise ValueError(f"`{name}` must be one sequence of token ids (1-D), got shape {tuple(ids.shape)}.")
            ids = ids.tolist()
        if not isinstance(ids, (list, tuple)) or not all(
            isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in ids
        ):
            raise TypeError(f"`{name}` must be a sequence of integer token ids, got {_describe(ids)}.")
        ids = [int(i) for i in ids]
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise ValueError(f"`{name}` holds token ids outside [0, {self.vocab_size}): {bad[:5]}.")
        return ids

    def _check_cut(self, ids: list[int], length: int, index: int) -> None:
        """Refuse a truncation at `length` that would keep only part of an image."""
        if not (self.is_image_token(ids[length - 1]) and self.is_image_token(ids[length])):
            return
        start = length - 1
        while start > 0 and self.is_image_token(ids[start - 1]):
            start -= 1
        if (length - start) % self.image_seq_length:
            raise ValueError(
                f"Truncating sequence {index} to `max_length`={length} would cut an image "
                f"({self.image_seq_length} tokens starting at position {start}); choose a `max_length` at an image "
                "boundary or shorten the input."
            )

    # -- layouts --------------------------------------------------------------------------------------------------
    @property
    def _start_token_id(self) -> int:
        """The token that opens a sequence: `</s>` (CM3Leon, as metaseq) or `<s>` (Chameleon)."""
        return self.bos_token_id if self.layout == "chameleon" else self.eos_token_id

    def _image_segment(self, image) -> list:
        """An image as the layout writes it: its ids (CM3Leon) or `<racm3:break> ids <eoss>` (Chameleon)."""
        if self.layout == "chameleon":
            return [self.break_token_id, image, self.eoss_token_id]
        return [image]

    def _check_infilling(self, name: str, instead: str) -> None:
        if self.layout == "chameleon":
            raise ValueError(
                f"{name} infills a masked span between <sentinel:i> tokens, which the 'chameleon' layout does not "
                f"have (Chameleon was not trained to infill); {instead}."
            )

    def document(self, text: str, image) -> Document:
        """A caption-image document, `[text, image]`: encoded as `text <break> image` (paper Fig. 8), or as
        `text <break> image <eoss>` in the Chameleon layout."""
        _check_text(text, "text")
        _check_image(image, "image")
        return [text, image]

    def _join_segments(self, document: Document) -> list:
        """The document as a row of segments and ids: `seg_1 <break> seg_2 <break> ... seg_n` (CM3Leon), or the
        segments back to back with each image wrapped as `<break> image <eoss>` (Chameleon)."""
        if self.layout == "chameleon":
            row = []
            for segment in document:
                row += [segment] if isinstance(segment, str) else self._image_segment(segment)
            return row
        row = []
        for position, segment in enumerate(document):
            if position:
                row.append(self.break_token_id)
            row.append(segment)
        return row

    def _retrieved_prefix(self, retrieved_documents, name: str) -> list:
        """`[ret_seg_1 <break> ... ret_seg_n <break>] x k`, the retrieved documents before a query. In the Chameleon
        layout (which was not trained with retrieval) they are plain interleaved context: `[ret_seg_1 ... ret_seg_n]
        x k`, images wrapped."""
        if retrieved_documents is None:
            return []
        if not isinstance(retrieved_documents, (list, tuple)):
            raise TypeError(f"`{name}` must be a list of documents, got {_describe(retrieved_documents)}.")
        row = []
        for index, document in enumerate(retrieved_documents):
            if hasattr(document, "text") and hasattr(document, "image_token_ids"):
                document = _retrieved_segments(document)
            row += self._join_segments(_check_document(document, f"{name}[{index}]"))
            if self.layout == "cm3leon":
                row.append(self.break_token_id)
        return row

    def encode_documents(
        self,
        documents: Sequence[Document],
        retrieved_documents: Sequence[Sequence[Document]] | None = None,
        return_tensors: str | None = None,
        padding: bool | str = False,
        padding_side: str | None = None,
        return_labels: bool = False,
        max_length: int | None = None,
        truncation: bool = False,
        pad_to_multiple_of: int | None = None,
    ) -> BatchFeature:
        """Encode training examples, one per document, in the processor's layout.

        A document is an ordered list of segments (text or image). In the CM3Leon layout its segments are joined by
        `<racm3:break>` and the example is wrapped in `</s>`:

            ids = [</s>] + seg_1 + [<racm3:break>] + seg_2 + ... + seg_n + [</s>]

        e.g. `[caption, image]` -> `</s> caption <break> image </s>` and the SFT layout `[instruction, image_1,
        edit, image_2]` -> `</s> instruction <break> image_1 <break> edit <break> image_2 </s>`. With
        `retrieved_documents[i]` (a list of documents), example `i` is retrieval-augmented (paper Fig. 9):

            ids = [</s>] + sum(ret_seg_1 + [<break>] + ... + ret_seg_n + [<break>] for each retrieved doc)
                  + query_seg_1 + [<break>] + ... + query_seg_n + [</s>]

        In the Chameleon layout the example is `[<s>] + seg_1 + ... + seg_n + [</s>]`, each image written as
        `[<break>] + image + [<eoss>]` and nothing between segments, e.g. `[caption, image]` ->
        `<s> caption <break> image <eoss> </s>`; retrieved documents, if any, go first, laid out the same way.

        Texts are tokenized as plain text: a literal "</s>" in a caption stays text. Packing consecutive examples
        into fixed-length blocks and the CM3 span masking are the data collator's job.

        Args:
            documents (`list[list[str | PIL.Image.Image]]`): The documents, one per example.
            retrieved_documents (`list[list[list[str | PIL.Image.Image]]]`, *optional*): For each example, the
                documents to prepend.
            return_tensors, padding, padding_side, return_labels, max_length, truncation, pad_to_multiple_of: as in
                `pad` (`padding=False` by default, so examples keep their own length).

        Returns:
            [`~transformers.BatchFeature`] with `input_ids` and `attention_mask` (and `labels` if asked).
        """
        if not isinstance(documents, (list, tuple)) or not all(isinstance(d, (list, tuple)) for d in documents):
            raise TypeError(
                f"`documents` must be a list of documents, each a list of segments (str or image), got "
                f"{_describe(documents)}; wrap a single document in a list: `encode_documents([document])`."
            )
        if retrieved_documents is not None and (
            not isinstance(retrieved_documents, (list, tuple)) or len(retrieved_documents) != len(documents)
        ):
            raise ValueError(
                "`retrieved_documents` must hold one list of retrieved documents per document: got "
                f"{_describe(retrieved_documents)} for {len(documents)} documents."
            )
        rows = []
        for index, document in enumerate(documents):
            document = _check_document(document, f"documents[{index}]")
            retrieved = None if retrieved_documents is None else retrieved_documents[index]
            prefix = self._retrieved_prefix(retrieved, f"retrieved_documents[{index}]")
            rows.append([self._start_token_id, *prefix, *self._join_segments(document), self.eos_token_id])
        return self.pad(
            self._encode_rows(rows, recognize_special_tokens=False),
            padding=padding,
            padding_side=padding_side,
            max_length=max_length,
            truncation=truncation,
            pad_to_multiple_of=pad_to_multiple_of,
            return_labels=return_labels,
            return_tensors=return_tensors,
        )

    def _encode_prompt(self, row: list) -> list[int]:
        return self._encode_rows([row], recognize_special_tokens=False)[0]

    def text_to_image_prompt(self, prompt: str, retrieved_documents: Sequence[Document] | None = None) -> list[int]:
        """The prompt after which the model draws an image (`image_seq_length` image tokens):

            [</s>] + prompt + [<racm3:break>]

        With retrieved documents (each a list of segments, e.g. `[text, image]`), they come first (the
        retrieval-augmented layout of metaseq's `form_prompts`):

            [</s>] + ret_text_1 + [<break>] + ret_image_1 + [<break>] + ... + prompt + [<racm3:break>]

        In the Chameleon layout: `[<s>] + prompt + [<racm3:break>]` (retrieved documents first, each image wrapped
        as `<break> image <eoss>`); the model closes the image with `<eoss>`.
        """
        _check_text(prompt, "prompt")
        prefix = self._retrieved_prefix(retrieved_documents, "retrieved_documents")
        return self._encode_prompt([self._start_token_id, *prefix, prompt, self.break_token_id])

    def unconditional_prompt(self) -> list[int]:
        """The prompt of the unconditional stream of classifier-free guidance: `[</s>, <sentinel:0>, <racm3:break>]`
        (the CM3 mask in place of the text). In the Chameleon layout, and for a vocabulary without sentinels, it is
        Chameleon's `[<s>, <racm3:break>]`."""
        if self.layout == "chameleon" or not self.num_sentinel_tokens:
            return [self.bos_token_id, self.break_token_id]
        return [self.eos_token_id, self.sentinel_token_id(0), self.break_token_id]

    def captioning_prompt(self, image, mode: str | None = None) -> list[int]:
        """The prompt after which the model writes a caption of `image`.

        - `mode="infill"` (the paper's "Image of <mask>: [image] <infill>"): the caption is a masked span before the
          image, which the model writes after the second sentinel and ends with `<eoss>`:
          `[</s>, <sentinel:0>, <racm3:break>] + image + [<sentinel:0>]`. Not in the Chameleon layout (no sentinels).
        - `mode="continuation"`: the caption follows the image: `[</s>] + image + [<racm3:break>]`, or in the
          Chameleon layout `[<s>, <racm3:break>] + image + [<eoss>]`.

        `mode` defaults to `"infill"` in the CM3Leon layout and `"continuation"` in the Chameleon layout.
        """
        _check_image(image, "image")
        if mode is None:
            mode = "continuation" if self.layout == "chameleon" else "infill"
        if mode == "infill":
            self._check_infilling("`captioning_prompt(mode='infill')`", "use `mode='continuation'`")
            sentinel = self.sentinel_token_id(0)
            return self._encode_prompt([self.eos_token_id, sentinel, self.break_token_id, image, sentinel])
        if mode == "continuation":
            if self.layout == "chameleon":
                return self._encode_prompt([self.bos_token_id, *self._image_segment(image)])
            return self._encode_prompt([self.eos_token_id, image, self.break_token_id])
        raise ValueError(f"`mode` must be 'infill' or 'continuation', got {mode!r}.")

    def vqa_prompt(self, image, question: str) -> list[int]:
        """Visual question answering by infilling the answer of the paper's SFT template
        `Question: {question} Answer: {answer}. <break> {image}`:

            [</s>] + "Question: {question} Answer:" + [<sentinel:0>, <racm3:break>] + image + [<sentinel:0>]

        The model writes the answer (e.g. " yes.") after the second sentinel and ends it with `<eoss>`. Infilling
        needs sentinels, so the Chameleon layout has no VQA prompt builder: the error says how to write one.
        """
        _check_image(image, "image")
        _check_text(question, "question")
        self._check_infilling(
            "`vqa_prompt`",
            "write a continuation prompt as markup instead, e.g. "
            "`processor(text='<s><image>Question: ... Answer:', images=[image])`",
        )
        sentinel = self.sentinel_token_id(0)
        text = f"Question: {question} Answer:"
        return self._encode_prompt([self.eos_token_id, text, sentinel, self.break_token_id, image, sentinel])

    def editing_prompts(self, image, instruction: str) -> list[list[int]]:
        """The three streams of text-guided image editing (InstructPix2Pix-style guidance), in this order:

            full:          [</s>] + "Edit first image following the instruction" + [<break>] + image + [<break>]
                           + instruction + [<break>]
            image-only:    [</s>] + "Edit first image following the instruction" + [<break>] + image + [<break>]
            unconditional: `unconditional_prompt()`

        In the Chameleon layout (Meta's `InBatchInstructCFGLogitsProcessor` streams):

            full:          [<s>] + instruction + [<break>] + image + [<eoss>, <break>]
            image-only:    the full prompt filtered to image tokens, `<s>`, `<break>` and `<eoss>`:
                           [<s>, <break>] + image + [<eoss>, <break>]
            unconditional: [<s>, <break>]

        The model draws the edited image after each. Batch them with `processor.pad(..., padding_side="left")`.
        """
        _check_image(image, "image")
        _check_text(instruction, "instruction")
        if self.layout == "chameleon":
            full = self._encode_prompt(
                [self.bos_token_id, instruction, *self._image_segment(image), self.break_token_id]
            )
            kept = {self.bos_token_id, self.break_token_id, self.eoss_token_id}
            image_only = [token for token in full if token in kept or self.is_image_token(token)]
            return [full, image_only, self.unconditional_prompt()]
        head = [self.eos_token_id, EDITING_INSTRUCTION, self.break_token_id, image, self.break_token_id]
        image_only = self._encode_prompt(head)
        full = image_only + self._encode_prompt([instruction, self.break_token_id])
        return [full, image_only, self.unconditional_prompt()]

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
        num_tokens = self.image_seq_length + (2 if self.layout == "chameleon" else 0)
        return MultiModalData(
            num_image_tokens=[num_tokens] * len(image_sizes), num_image_patches=[1] * len(image_sizes)
        )

    # -- serialization --------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
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


def _describe(value) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:80] + '...' if len(text) > 80 else text}"


def _check_text(text, name: str) -> None:
    if not isinstance(text, str):
        raise TypeError(f"`{name}` must be a string, got {_describe(text)}.")


def _check_image(image, name: str) -> None:
    if not is_valid_image(image):
        raise TypeError(f"`{name}` must be an image (PIL.Image, numpy array or torch tensor), got {_describe(image)}.")


def _check_images(images, name: str) -> None:
    for index, image in enumerate(images):
        _check_image(image, f"{name}[{index}]")


def is_image_token_ids(segment) -> bool:
    """Whether a segment is a pre-tokenised image: a 1-D sequence of integer token ids."""
    if isinstance(segment, torch.Tensor):
        return segment.ndim == 1 and not segment.is_floating_point()
    if isinstance(segment, np.ndarray):
        return segment.ndim == 1 and np.issubdtype(segment.dtype, np.integer)
    if isinstance(segment, (list, tuple)):
        return bool(segment) and all(isinstance(t, (int, np.integer)) and not isinstance(t, bool) for t in segment)
    return False


def _is_image(segment) -> bool:
    return is_valid_image(segment) and not is_image_token_ids(segment)


def _retrieved_segments(document) -> list:
    """The segments of a retriever's document (`text`, then its image token ids or its image)."""
    segments = [document.text] if document.text is not None else []
    image = document.image_token_ids if document.image_token_ids is not None else getattr(document, "image", None)
    return segments + ([image] if image is not None else [])


def _check_document(document, name: str) -> list:
    if not isinstance(document, (list, tuple)) or not document:
        raise TypeError(f"`{name}` must be a non-empty list of segments (str or image), got {_describe(document)}.")
    for index, segment in enumerate(document):
        if not isinstance(segment, str) and not is_valid_image(segment) and not is_image_token_ids(segment):
            raise TypeError(
                f"`{name}[{index}]` must be text (str), an image (PIL.Image, numpy array or torch tensor) or "
                f"pre-tokenised image ids (a 1-D sequence of ints), got {_describe(segment)}."
            )
    return list(document)


def _as_list_of_sequences(sequences) -> list:
    if isinstance(sequences, (torch.Tensor, np.ndarray)):
        if sequences.ndim != 2:
            raise ValueError(f"`sequences` must be a 2-D batch of token ids, got shape {tuple(sequences.shape)}.")
        return list(sequences)
    if not isinstance(sequences, (list, tuple)) or not sequences:
        raise TypeError(f"`sequences` must be a non-empty list of token-id sequences, got {_describe(sequences)}.")
    return list(sequences)


__all__ = ["CM3LeonProcessor"]
