# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The CM3Leon text tokenizer: one byte-level BPE vocabulary holding text, VQ image tokens and CM3 special tokens.

Vocabulary layout (the contract of `CM3LeonConfig`):

    0 <s>, 1 <pad>, 2 </s>, 3 <unk>,
    4 .. 4+N-1          image tokens of VQ codes 0 .. N-1 (N = image_vocab_size), in code order,
    4+N                 <eoss>          (end of a sentinel span; Chameleon's end-of-image),
    4+N+1               <racm3:break>   (the paper's <break>; Chameleon's begin-of-image),
    4+N+2 ..            <sentinel:0> .. <sentinel:S-1>   (the paper's <mask>/<infill>),
    then the BPE text tokens.

The image token of code `c` is named `IMGIMG` + the decimal digits of `c` written as letters (0 -> A ... 9 -> J) + `Z`,
as in metaseq and in Chameleon's release: code 1234 -> `IMGIMGBCDEZ`.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Iterable, Iterator

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerBase, PreTrainedTokenizerFast

BOS_TOKEN = "<s>"
PAD_TOKEN = "<pad>"
EOS_TOKEN = "</s>"
UNK_TOKEN = "<unk>"
EOSS_TOKEN = "<eoss>"
BREAK_TOKEN = "<racm3:break>"
IMAGE_TOKEN_PREFIX = "IMGIMG"
IMAGE_TOKEN_SUFFIX = "Z"

# Canonical names only: no leading "A" (zero) unless the code is 0 itself, so that name <-> code is a bijection.
_IMAGE_TOKEN_PATTERN = re.compile(rf"{IMAGE_TOKEN_PREFIX}(A|[B-J][A-J]*){IMAGE_TOKEN_SUFFIX}")
# Anything that looks like an image token, canonical or not (used to find malformed names in a vocabulary).
_IMAGE_TOKEN_LIKE_PATTERN = re.compile(rf"{IMAGE_TOKEN_PREFIX}[A-J]+{IMAGE_TOKEN_SUFFIX}")
_SENTINEL_PATTERN = re.compile(r"<sentinel:(0|[1-9][0-9]*)>")
# Byte-level BPE starts from the 256 byte symbols; the trainer needs room for them besides the special tokens.
_BYTE_ALPHABET_SIZE = len(pre_tokenizers.ByteLevel.alphabet())


def image_token_name(code: int) -> str:
    """The vocabulary name of the image token of VQ code `code` (`1234` -> `"IMGIMGBCDEZ"`, `0` -> `"IMGIMGAZ"`)."""
    if isinstance(code, bool):
        raise TypeError(f"`code` must be a non-negative integer, got the bool {code!r}.")
    try:
        code = operator.index(code)
    except TypeError:
        raise TypeError(f"`code` must be a non-negative integer, got {type(code).__name__} {code!r}.") from None
    if code < 0:
        raise ValueError(f"`code` must be a non-negative integer, got {code}.")
    return IMAGE_TOKEN_PREFIX + "".join(chr(ord("A") + int(digit)) for digit in str(code)) + IMAGE_TOKEN_SUFFIX


def image_token_code(name: str) -> int:
    """The VQ code of the image token named `name` (`"IMGIMGBCDEZ"` -> `1234`); inverse of `image_token_name`."""
    if not isinstance(name, str):
        raise TypeError(f"`name` must be a string, got {type(name).__name__} {name!r}.")
    match = _IMAGE_TOKEN_PATTERN.fullmatch(name)
    if match is None:
        raise ValueError(
            f"`name`={name!r} is not an image token name; expected {IMAGE_TOKEN_PREFIX!r} + the code's decimal digits "
            f"written as letters A-J (no leading zeros) + {IMAGE_TOKEN_SUFFIX!r}, e.g. 'IMGIMGBCDEZ' for code 1234."
        )
    return int("".join(str(ord(letter) - ord("A")) for letter in match.group(1)))


def sentinel_token_name(index: int) -> str:
    """The name of the `index`-th sentinel token, `<sentinel:{index}>`."""
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise ValueError(f"`index` must be a non-negative integer, got {index!r}.")
    return f"<sentinel:{index}>"


def _check_int(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}, got {value!r}.")


def _checked_corpus(corpus: Iterable[str]) -> Iterator[str]:
    for index, text in enumerate(corpus):
        if not isinstance(text, str):
            raise TypeError(f"`corpus` must yield strings; item {index} is {type(text).__name__} {text!r}.")
        yield text


def build_cm3leon_tokenizer(
    corpus: Iterable[str],
    vocab_size: int,
    image_vocab_size: int = 8192,
    num_sentinel_tokens: int = 512,
    min_frequency: int = 2,
    model_max_length: int | None = 4096,
    show_progress: bool = False,
) -> CM3LeonTokenizer:
    """Train a byte-level BPE tokenizer on `corpus` with the CM3Leon vocabulary layout (see the module docstring).

    The special and image tokens are given to the BPE trainer first, so they get ids 0 .. 4+N+2+S-1 in the layout
    order, and they are registered as special added tokens: `<sentinel:12>` or `IMGIMGBZ` in a text is one token,
    never split by BPE, and `decode(..., skip_special_tokens=True)` drops all of them. No BOS/EOS is inserted
    automatically: CM3Leon examples start with an explicit `</s>` (see `CM3LeonProcessor`).

    Args:
        corpus (`Iterable[str]`): Texts to learn the merges from (a list, a generator, a `datasets` column...).
        vocab_size (`int`): Upper bound on the *total* vocabulary size (special + image + text tokens). The trainer
            stops earlier when no pair of symbols occurs `min_frequency` times any more.
        image_vocab_size (`int`): Number of VQ codes (8192 for CM3Leon and Chameleon).
        num_sentinel_tokens (`int`): Number of `<sentinel:i>` tokens (512 in metaseq; 0 for none).
        min_frequency (`int`): Minimum count of a pair to be merged.
        model_max_length (`int`, *optional*): Context length stored in the tokenizer (4096 for CM3Leon).
        show_progress (`bool`): Show the trainer's progress bar.

    Returns:
        [`~transformers.PreTrainedTokenizerFast`] (transformers v5's `TokenizersBackend`), with `bos_token="<s>"`,
        `eos_token="</s>"`, `pad_token="<pad>"`, `unk_token="<unk>"`, the named extra special tokens
        `break_token="<racm3:break>"` and `eoss_token="<eoss>"`, and the sentinels as `extra_special_tokens`; all of
        them survive `save_pretrained` / `AutoTokenizer.from_pretrained`. Batches are left-padded by default
        (`padding_side="left"`), as generation needs.

    Example:

    ```python
    >>> tokenizer = build_cm3leon_tokenizer(["a photo of a cat", "a photo of a dog"] * 10, vocab_size=8990)
    >>> tokenizer.convert_tokens_to_ids(["</s>", "IMGIMGAZ", "<eoss>", "<racm3:break>", "<sentinel:0>"])
    [2, 4, 8196, 8197, 8198]
    ```
    """
    if isinstance(corpus, (str, bytes)):
        raise TypeError("`corpus` must be an iterable of strings (e.g. a list of texts), not a single string.")
    _check_int("image_vocab_size", image_vocab_size, 1)
    _check_int("num_sentinel_tokens", num_sentinel_tokens, 0)
    _check_int("min_frequency", min_frequency, 1)
    _check_int("vocab_size", vocab_size, 1)
    if model_max_length is not None:
        _check_int("model_max_length", model_max_length, 1)

    sentinel_tokens = [sentinel_token_name(i) for i in range(num_sentinel_tokens)]
    special_tokens = (
        [BOS_TOKEN, PAD_TOKEN, EOS_TOKEN, UNK_TOKEN]
        + [image_token_name(code) for code in range(image_vocab_size)]
        + [EOSS_TOKEN, BREAK_TOKEN]
        + sentinel_tokens
    )
    minimum = len(special_tokens) + _BYTE_ALPHABET_SIZE
    if vocab_size < minimum:
        raise ValueError(
            f"`vocab_size`={vocab_size} is too small: it must hold the {len(special_tokens)} special and image tokens "
            f"(4 + image_vocab_size={image_vocab_size} + 2 + num_sentinel_tokens={num_sentinel_tokens}) and the "
            f"{_BYTE_ALPHABET_SIZE} byte-level base symbols, so at least {minimum}."
        )

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=show_progress,
    )
    backend.train_from_iterator(_checked_corpus(corpus), trainer=trainer)

    tokenizer = wrap_cm3leon_backend(
        backend,
        extra_special_tokens=sentinel_tokens,
        model_max_length=model_max_length,
        # A decoder-only model generates after the last token of each row, so batched prompts are left-padded.
        padding_side="left",
    )
    # The trainer assigns special tokens in the order given; check rather than trust it, the layout is a contract.
    layout = special_token_ids(tokenizer)
    expected = {
        "image_token_offset": 4,
        "eoss_token_id": 4 + image_vocab_size,
        "break_token_id": 5 + image_vocab_size,
        "sentinel_token_offset": 6 + image_vocab_size if num_sentinel_tokens else None,
        "bos_token_id": 0,
        "pad_token_id": 1,
        "eos_token_id": 2,
    }
    wrong = {key: layout[key] for key, value in expected.items() if layout[key] != value}
    if wrong:
        raise RuntimeError(
            f"The trained vocabulary does not follow the CM3Leon layout: got {wrong}, expected {expected}."
        )
    return tokenizer


class CM3LeonTokenizer(PreTrainedTokenizerFast):
    """The CM3Leon text tokenizer: transformers' fast tokenizer, whose `decode` refuses ids outside the vocabulary
    with a clear error (the `tokenizers` backend overflows on a negative id and skips ids past its end)."""

    def _decode(self, token_ids, skip_special_tokens: bool = False, **kwargs) -> str:
        ids = [token_ids] if isinstance(token_ids, int) else list(token_ids)
        size = len(self)
        bad = [i for i in ids if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < size]
        if bad:
            raise ValueError(f"`token_ids` must be integer ids in [0, {size}), got {bad[:5]}.")
        return super()._decode(token_ids, skip_special_tokens=skip_special_tokens, **kwargs)

    def convert_ids_to_tokens(self, ids, skip_special_tokens: bool = False):
        checked = [ids] if isinstance(ids, int) else list(ids)
        size = len(self)
        bad = [i for i in checked if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < size]
        if bad:
            raise ValueError(f"`ids` must be integer ids in [0, {size}), got {bad[:5]}.")
        return super().convert_ids_to_tokens(ids, skip_special_tokens=skip_special_tokens)


def wrap_cm3leon_backend(backend: Tokenizer, **kwargs) -> CM3LeonTokenizer:
    """A transformers tokenizer over a `tokenizers` backend whose vocabulary follows the CM3Leon layout, with the
    special tokens named as `special_token_ids` and `CM3LeonProcessor` read them: `<s>`, `</s>`, `<unk>`, `<pad>`, and
    `<racm3:break>` / `<eoss>` as `break_token` / `eoss_token`. Keyword arguments go to `PreTrainedTokenizerFast`."""
    return CM3LeonTokenizer(
        tokenizer_object=backend,
        bos_token=BOS_TOKEN,
        eos_token=EOS_TOKEN,
        unk_token=UNK_TOKEN,
        pad_token=PAD_TOKEN,
        model_specific_special_tokens={"break_token": BREAK_TOKEN, "eoss_token": EOSS_TOKEN},
        **kwargs,
    )


def _find_image_tokens(vocab: dict[str, int]) -> dict[int, int]:
    """Map VQ code -> token id for every image token of `vocab`, rejecting non-canonical names."""
    code_to_id = {}
    for name, token_id in vocab.items():
        if _IMAGE_TOKEN_LIKE_PATTERN.fullmatch(name) is None:
            continue
        if _IMAGE_TOKEN_PATTERN.fullmatch(name) is None:
            raise ValueError(
                f"The tokenizer has a malformed image token {name!r} (id {token_id}): a code's digits must be written "
                "without leading zeros ('A'), e.g. 'IMGIMGBAZ' for code 10."
            )
        code_to_id[image_token_code(name)] = token_id
    return code_to_id


def _check_contiguous(what: str, index_to_id: dict[int, int], name_of) -> tuple[int, int]:
    """Check that indices 0..n-1 are all present at consecutive ids; return (id of index 0, n)."""
    count = len(index_to_id)
    missing = sorted(set(range(count)) - index_to_id.keys())
    if missing:
        raise ValueError(
            f"The tokenizer's {what} do not cover indices 0..{count - 1} without gaps: "
            f"{name_of(missing[0])!r} is missing (found {count} {what}, largest index {max(index_to_id)})."
        )
    offset = index_to_id[0]
    for index in range(count):
        if index_to_id[index] != offset + index:
            raise ValueError(
                f"The tokenizer's {what} must occupy consecutive ids in index order starting at "
                f"{name_of(0)!r}={offset}, but {name_of(index)!r} has id {index_to_id[index]} (expected {offset + index})."
            )
    return offset, count


def special_token_ids(tokenizer: PreTrainedTokenizerBase) -> dict:
    """The `CM3LeonConfig` fields that describe `tokenizer`'s vocabulary, found by token name.

    Works for vocabularies built by [`build_cm3leon_tokenizer`] and for Chameleon's (image tokens at 4..8195,
    `<eoss>`=8196, `<racm3:break>`=8197, no sentinels: then `sentinel_token_offset=None`, `num_sentinel_tokens=0`).

    Returns:
        `dict` with `vocab_size`, `image_token_offset`, `image_vocab_size`, `eoss_token_id`, `break_token_id`,
        `sentinel_token_offset`, `num_sentinel_tokens`, `pad_token_id`, `bos_token_id`, `eos_token_id`, so that
        `CM3LeonConfig(**special_token_ids(tokenizer), hidden_size=...)` matches the tokenizer.

    Raises:
        ValueError: if the image tokens are missing, not contiguous or not in code order, if the sentinels are not
            contiguous, or if `<racm3:break>` / `<eoss>` are missing.
    """
    if not isinstance(tokenizer, PreTrainedTokenizerBase):
        raise TypeError(f"`tokenizer` must be a transformers tokenizer, got {type(tokenizer).__name__}.")
    vocab = tokenizer.get_vocab()

    image_codes = _find_image_tokens(vocab)
    if not image_codes:
        raise ValueError(
            f"The tokenizer has no image tokens (names like {image_token_name(0)!r}, {image_token_name(1234)!r}); "
            "build one with `build_cm3leon_tokenizer`."
        )
    image_token_offset, image_vocab_size = _check_contiguous("image tokens", image_codes, image_token_name)

    sentinels = {
        int(m.group(1)): token_id for name, token_id in vocab.items() if (m := _SENTINEL_PATTERN.fullmatch(name))
    }
    if sentinels:
        sentinel_token_offset, num_sentinel_tokens = _check_contiguous(
            "sentinel tokens", sentinels, sentinel_token_name
        )
    else:
        sentinel_token_offset, num_sentinel_tokens = None, 0

    named = {}
    for key, name in (("eoss_token_id", EOSS_TOKEN), ("break_token_id", BREAK_TOKEN)):
        if name not in vocab:
            raise ValueError(f"The tokenizer has no {name!r} token, which CM3Leon needs (`{key}`).")
        named[key] = vocab[name]

    return {
        "vocab_size": len(tokenizer),
        "image_token_offset": image_token_offset,
        "image_vocab_size": image_vocab_size,
        **named,
        "sentinel_token_offset": sentinel_token_offset,
        "num_sentinel_tokens": num_sentinel_tokens,
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
    }


# The name of `special_token_ids` in version 0.1.
token_layout = special_token_ids

__all__ = [
    "CM3LeonTokenizer",
    "build_cm3leon_tokenizer",
    "image_token_code",
    "image_token_name",
    "sentinel_token_name",
    "special_token_ids",
    "token_layout",
    "wrap_cm3leon_backend",
]
