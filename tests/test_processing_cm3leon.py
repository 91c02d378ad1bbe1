# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Tests of CM3LeonProcessor: exact token layouts, placeholders, padding, decoding and serialisation."""

import copy
import json

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import AutoConfig, AutoImageProcessor, AutoProcessor

from transformers_cm3leon.configuration_cm3leon import CM3LeonConfig, CM3LeonVQConfig
from transformers_cm3leon.image_processing_cm3leon import CM3LeonImageProcessor
from transformers_cm3leon.modeling_cm3leon_vq import CM3LeonVQModel
from transformers_cm3leon.processing_cm3leon import CM3LeonProcessor
from transformers_cm3leon.testing_utils import get_tiny_cm3leon_processor
from transformers_cm3leon.tokenization_cm3leon import build_cm3leon_tokenizer

CORPUS = [
    "a photo of a cat sitting on a mat",
    "a dog runs in the park",
    "Question: what is the cat doing? Answer: sleeping.",
    "Edit first image following the instruction make it blue",
] * 5
# Vocabulary: <s>=0 <pad>=1 </s>=2 <unk>=3, image tokens 4..19 (16 codes), <eoss>=20, <racm3:break>=21,
# <sentinel:0..3>=22..25, then BPE.
BOS, PAD, EOS, EOSS, BREAK, S0 = 0, 1, 2, 20, 21, 22
# 16 px images, factor 2 -> an 8x8 grid: 64 image tokens per image.
VQ_CONFIG = dict(
    resolution=16,
    base_channels=32,
    channel_multiplier=[1, 2],
    num_embeddings=16,
    embed_dim=8,
    latent_channels=8,
    num_res_blocks=1,
    attn_resolutions=[],
)
L = 64


def make_tokenizer(num_sentinel_tokens=4, image_vocab_size=16):
    return build_cm3leon_tokenizer(
        CORPUS,
        vocab_size=8 + image_vocab_size + num_sentinel_tokens + 256 + 60,
        image_vocab_size=image_vocab_size,
        num_sentinel_tokens=num_sentinel_tokens,
    )


def make_vq(seed=0, **overrides):
    torch.manual_seed(seed)
    return CM3LeonVQModel(CM3LeonVQConfig(**{**VQ_CONFIG, **overrides})).eval()


@pytest.fixture(scope="module")
def processor():
    return CM3LeonProcessor(CM3LeonImageProcessor(vq_model=make_vq()), make_tokenizer())


@pytest.fixture(scope="module")
def chameleon_style_processor():
    """No sentinels in the vocabulary, as in Chameleon's."""
    return CM3LeonProcessor(CM3LeonImageProcessor(vq_model=make_vq()), make_tokenizer(num_sentinel_tokens=0))


def random_image(seed, size=(20, 24)):
    return Image.fromarray(np.random.RandomState(seed).randint(0, 256, (*size, 3), dtype=np.uint8))


@pytest.fixture(scope="module")
def images():
    return [random_image(seed) for seed in range(3)]


def text_ids(processor, text):
    return processor.tokenizer(text, add_special_tokens=False).input_ids


def image_ids(processor, image):
    return processor.image_processor.images_to_token_ids([image])[0].tolist()


# -- construction and tokens ---------------------------------------------------------------------------------------


def test_tokens_and_ids(processor):
    assert (processor.bos_token, processor.eos_token, processor.pad_token) == ("<s>", "</s>", "<pad>")
    assert (processor.bos_token_id, processor.eos_token_id, processor.pad_token_id) == (BOS, EOS, PAD)
    assert (processor.break_token, processor.break_token_id) == ("<racm3:break>", BREAK)
    assert (processor.eoss_token, processor.eoss_token_id) == ("<eoss>", EOSS)
    assert [processor.sentinel_token(i) for i in range(4)] == [f"<sentinel:{i}>" for i in range(4)]
    assert [processor.sentinel_token_id(i) for i in range(4)] == [22, 23, 24, 25]
    assert processor.image_token == "<image>"
    assert "<image>" not in processor.tokenizer.get_vocab()
    assert (processor.image_token_offset, processor.image_vocab_size, processor.image_seq_length) == (4, 16, L)
    assert processor.image_token_ids == list(range(4, 20))
    assert processor.is_image_token(torch.tensor([3, 4, 19, 20])).tolist() == [False, True, True, False]
    assert processor.model_input_names == ["input_ids", "attention_mask"]
    for bad in (4, -1, "0", True):
        with pytest.raises(ValueError, match="`index` must be an integer in \\[0, 4\\)"):
            processor.sentinel_token_id(bad)


def test_init_checks_image_token_offset():
    with pytest.raises(ValueError, match="start at id 4.*`image_token_offset`=5"):
        CM3LeonProcessor(CM3LeonImageProcessor(image_token_offset=5, vq_model=make_vq()), make_tokenizer())


def test_init_checks_codebook_size():
    image_processor = CM3LeonImageProcessor(vq_model=make_vq(num_embeddings=32))
    with pytest.raises(ValueError, match="16 image tokens.*`num_image_tokens`=32"):
        CM3LeonProcessor(image_processor, make_tokenizer())


def test_init_checks_argument_types(processor):
    with pytest.raises(TypeError):
        CM3LeonProcessor(processor.tokenizer, processor.image_processor)
    with pytest.raises(TypeError, match="Unexpected keyword argument image_seq_length"):
        CM3LeonProcessor(processor.image_processor, processor.tokenizer, image_seq_length=3)


def test_processor_without_vq_model_handles_text(processor):
    text_only = CM3LeonProcessor(CM3LeonImageProcessor(size=16), processor.tokenizer)
    assert text_only("</s>a cat<racm3:break>", allow_control_tokens=True).input_ids == [
        [EOS, *text_ids(processor, "a cat"), BREAK]
    ]
    assert text_only.text_to_image_prompt("a cat") == processor.text_to_image_prompt("a cat")
    with pytest.raises(ValueError, match="no VQ image tokenizer attached"):
        text_only("<image>", images=[random_image(0)])


# -- __call__ --------------------------------------------------------------------------------------------------------


def test_call_replaces_each_placeholder_by_image_ids(processor, images):
    batch = processor(text="</s>a cat<racm3:break><image></s>", images=images[0], allow_control_tokens=True)
    cat, image = text_ids(processor, "a cat"), image_ids(processor, images[0])
    assert len(image) == L and all(4 <= i < 20 for i in image)
    assert batch["input_ids"] == [[EOS, *cat, BREAK, *image, EOS]]
    assert batch["attention_mask"] == [[1] * (len(cat) + L + 3)]
    assert set(batch) == {"input_ids", "attention_mask"}


def test_call_distributes_flat_and_nested_images(processor, images):
    texts = ["<image>a cat<image>", "a dog<racm3:break><image>"]  # markup: structure by opt-in
    a, b, c = (image_ids(processor, image) for image in images)
    expected = [[*a, *text_ids(processor, "a cat"), *b], [*text_ids(processor, "a dog"), BREAK, *c]]
    assert processor(text=texts, images=images, allow_control_tokens=True).input_ids == expected
    assert processor(text=texts, images=[images[:2], images[2:]], allow_control_tokens=True).input_ids == expected
    # Placeholders with nothing between them: two images back to back.
    assert processor(text="<image><image>", images=images[:2]).input_ids == [[*a, *b]]


@pytest.mark.parametrize(
    "text, which, match",
    [
        ("<image><image>", slice(0, 1), "`images` holds 1 image\\(s\\) but the text has 2 '<image>' placeholder"),
        ("<image>", slice(0, 2), "`images` holds 2 image\\(s\\) but the text has 1 '<image>' placeholder"),
        ("a cat", slice(0, 1), "`images` holds 1 image\\(s\\) but the text has 0 '<image>' placeholder"),
        (["<image>", "a cat"], "nested", "text\\[1\\] has 0 '<image>' placeholder\\(s\\) but 1 image"),
        (["<image>", "<image>"], "one list", "one list of images per text, but there are 1 lists for 2 texts"),
        ("<image>", None, "1 '<image>' placeholder\\(s\\) but no `images`"),
    ],
)
def test_call_placeholder_count_errors(processor, images, text, which, match):
    if which == "nested":
        given = [[images[0]], [images[1]]]
    elif which == "one list":
        given = [[images[0], images[1]]]
    else:
        given = None if which is None else images[which]
    with pytest.raises(ValueError, match=match):
        processor(text=text, images=given)


def test_call_input_errors(processor, images):
    with pytest.raises(ValueError, match="`text` is required"):
        processor(images=images[0])
    with pytest.raises(TypeError, match="`text` must be a string or a non-empty list of strings"):
        processor(text=[1, 2])
    with pytest.raises(TypeError, match="`images\\[0\\]` must be an image"):
        processor(text="<image>", images=["not an image"])
    with pytest.raises(ValueError, match="`add_special_tokens=True`: a CM3Leon processor adds no special tokens"):
        processor(text="a cat", add_special_tokens=True)
    with pytest.raises(TypeError, match="unexpected keyword arguments \\['tokenize'\\]"):
        processor(text="a cat", tokenize=True)


def test_control_tokens_only_by_opt_in(processor):
    # User text is text: control tokens and image-token names typed in it stay text ...
    typed = processor(text="</s><sentinel:1>IMGIMGAZ<racm3:break>").input_ids[0]
    assert not set(typed) & {EOS, BREAK, 23, *range(4, 20)}
    assert processor.decode(typed) == "</s><sentinel:1>IMGIMGAZ<racm3:break>"
    # ... unless the caller opts in to markup ...
    assert processor(text="</s><sentinel:1>", allow_control_tokens=True).input_ids == [[EOS, 23]]
    # ... while the builders treat text as content: a literal "</s>" in a prompt stays text.
    ids = processor.text_to_image_prompt("a </s> cat <racm3:break>")
    assert ids[0] == EOS and ids[-1] == BREAK
    assert EOS not in ids[1:-1] and BREAK not in ids[1:-1]
    assert processor.decode(ids[1:-1]) == "a </s> cat <racm3:break>"
    # the builder left the tokenizer as it was
    assert processor(text="</s><sentinel:1>", allow_control_tokens=True).input_ids == [[EOS, 23]]


# -- padding, labels, lengths ------------------------------------------------------------------------------------------


def test_right_and_left_padding_with_labels(processor):
    cat, dog = text_ids(processor, "a cat sitting on a mat"), text_ids(processor, "a dog")
    n = len(cat) - len(dog)
    right = processor(text=["a cat sitting on a mat", "a dog"], padding=True, padding_side="right", return_labels=True)
    assert right["input_ids"] == [cat, dog + [PAD] * n]
    assert right["attention_mask"] == [[1] * len(cat), [1] * len(dog) + [0] * n]
    assert right["labels"] == [cat, dog + [-100] * n]
    left = processor(
        text=["a cat sitting on a mat", "a dog"], padding="longest", padding_side="left", return_labels=True
    )
    assert left["input_ids"] == [cat, [PAD] * n + dog]
    assert left["attention_mask"] == [[1] * len(cat), [0] * n + [1] * len(dog)]
    assert left["labels"] == [cat, [-100] * n + dog]
    # The tokenizer's default is left padding, as generation needs.
    assert processor(text=["a cat sitting on a mat", "a dog"], padding=True).input_ids == left["input_ids"]
    tensors = processor(text=["a cat sitting on a mat", "a dog"], padding=True, return_tensors="pt")
    assert tensors["input_ids"].dtype == torch.long and tuple(tensors["input_ids"].shape) == (2, len(cat))
    assert isinstance(processor(text="a dog", return_tensors="np")["input_ids"], np.ndarray)


def test_pad_to_max_length_and_multiple(processor):
    dog = text_ids(processor, "a dog")
    batch = processor(text="a dog", padding="max_length", max_length=len(dog) + 3, padding_side="right")
    assert batch["input_ids"] == [dog + [PAD] * 3]
    batch = processor(text="a dog", padding=True, pad_to_multiple_of=8)
    assert len(batch["input_ids"][0]) == 8 and batch["attention_mask"][0].count(1) == len(dog)


def test_unequal_lengths_need_padding_for_tensors(processor):
    with pytest.raises(ValueError, match="different lengths.*`padding=True`"):
        processor(text=["a cat sitting on a mat", "a dog"], return_tensors="pt")


def test_too_long_prompt_is_an_error_unless_truncation(processor, images):
    ids = processor(text="</s>a cat<racm3:break><image></s>", images=images[0], allow_control_tokens=True).input_ids[0]
    n = len(ids)
    with pytest.raises(ValueError, match=f"Sequence 0 has {n} tokens, more than `max_length`={n - 1}"):
        processor(
            text="</s>a cat<racm3:break><image></s>", images=images[0], max_length=n - 1, allow_control_tokens=True
        )
    # Cutting through the image is refused even with truncation ...
    with pytest.raises(ValueError, match="would cut an image"):
        processor(
            text="</s>a cat<racm3:break><image></s>",
            images=images[0],
            max_length=n - 2,
            truncation=True,
            allow_control_tokens=True,
        )
    # ... but cutting at its end (dropping the final </s>) is allowed.
    cut = processor(
        text="</s>a cat<racm3:break><image></s>",
        images=images[0],
        max_length=n - 1,
        truncation=True,
        allow_control_tokens=True,
    )
    assert cut.input_ids == [ids[:-1]]
    # Cutting inside the text is allowed too.
    assert (
        processor(text="a cat sitting on a mat", max_length=2, truncation=True).input_ids[0]
        == text_ids(processor, "a cat sitting on a mat")[:2]
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(padding="sideways"), "`padding` must be one of"),
        (dict(padding_side="middle"), "`padding_side` must be 'left' or 'right'"),
        (dict(return_tensors="tf"), "`return_tensors` must be 'pt', 'np' or None"),
        (dict(max_length=0), "`max_length` must be a positive integer"),
        (dict(truncation=True), "`truncation=True` needs `max_length`"),
        (dict(padding="max_length"), "`padding='max_length'` needs `max_length`"),
        (dict(pad_to_multiple_of=0), "`pad_to_multiple_of` must be a positive integer"),
    ],
)
def test_padding_argument_errors(processor, kwargs, match):
    with pytest.raises(ValueError, match=match):
        processor(text="a dog", **kwargs)


def test_pad_checks_ids(processor):
    with pytest.raises(ValueError, match="outside \\[0, "):
        processor.pad([[2, 10_000]])
    with pytest.raises(TypeError, match="sequence of integer token ids"):
        processor.pad([["a"]])
    with pytest.raises(TypeError, match="non-empty list of token-id sequences"):
        processor.pad([])
    batch = processor.pad(torch.tensor([[2, 5], [2, 6]]), return_tensors="pt")
    assert batch["input_ids"].tolist() == [[2, 5], [2, 6]]


# -- layouts -----------------------------------------------------------------------------------------------------------


def test_document_layout(processor, images):
    document = processor.document("a cat", images[0])
    assert document == ["a cat", images[0]]
    batch = processor.encode_documents([document, ["a dog"]])
    cat, dog, a = text_ids(processor, "a cat"), text_ids(processor, "a dog"), image_ids(processor, images[0])
    assert batch["input_ids"] == [[EOS, *cat, BREAK, *a, EOS], [EOS, *dog, EOS]]
    assert batch["attention_mask"] == [[1] * (len(cat) + L + 3), [1] * (len(dog) + 2)]


def test_sft_layout_with_two_images(processor, images):
    instruction, edit = "Edit first image following the instruction", "make it blue"
    batch = processor.encode_documents([[instruction, images[0], edit, images[1]]], return_labels=True)
    a, b = image_ids(processor, images[0]), image_ids(processor, images[1])
    expected = [EOS, *text_ids(processor, instruction), BREAK, *a, BREAK, *text_ids(processor, edit), BREAK, *b, EOS]
    assert batch["input_ids"] == [expected]
    assert batch["labels"] == [expected]


def test_retrieval_augmented_layout(processor, images):
    query = processor.document("a cat", images[0])
    retrieved = [processor.document("a dog", images[1]), processor.document("a mat", images[2])]
    batch = processor.encode_documents([query, query], retrieved_documents=[retrieved, []], padding=True)
    a, b, c = (image_ids(processor, image) for image in images)
    cat, dog, mat = (text_ids(processor, t) for t in ("a cat", "a dog", "a mat"))
    first = [EOS, *dog, BREAK, *b, BREAK, *mat, BREAK, *c, BREAK, *cat, BREAK, *a, EOS]
    second = [EOS, *cat, BREAK, *a, EOS]
    assert batch["input_ids"] == [first, [PAD] * (len(first) - len(second)) + second]


def test_encode_documents_errors(processor, images):
    with pytest.raises(TypeError, match="wrap a single document in a list"):
        processor.encode_documents(["a cat", images[0]])
    with pytest.raises(ValueError, match="one list of retrieved documents per document"):
        processor.encode_documents([["a cat"]], retrieved_documents=[[], []])
    with pytest.raises(TypeError, match="`documents\\[0\\]\\[1\\]` must be text \\(str\\), an image"):
        processor.encode_documents([["a cat", 3]])
    with pytest.raises(TypeError, match="`documents\\[0\\]` must be a non-empty list"):
        processor.encode_documents([[]])
    with pytest.raises(TypeError, match="`retrieved_documents\\[0\\]\\[0\\]` must be a non-empty list"):
        processor.encode_documents([["a cat"]], retrieved_documents=[["a dog"]])
    with pytest.raises(TypeError, match="`image` must be an image"):
        processor.document("a cat", "not an image")
    with pytest.raises(TypeError, match="`text` must be a string"):
        processor.document(images[0], images[0])


def test_text_to_image_prompt(processor, images):
    cat = text_ids(processor, "a cat")
    assert processor.text_to_image_prompt("a cat") == [EOS, *cat, BREAK]
    retrieved = [processor.document("a dog", images[1]), ["a mat", images[2]]]
    b, c = image_ids(processor, images[1]), image_ids(processor, images[2])
    dog, mat = text_ids(processor, "a dog"), text_ids(processor, "a mat")
    expected = [EOS, *dog, BREAK, *b, BREAK, *mat, BREAK, *c, BREAK, *cat, BREAK]
    assert processor.text_to_image_prompt("a cat", retrieved_documents=retrieved) == expected
    with pytest.raises(TypeError, match="`prompt` must be a string"):
        processor.text_to_image_prompt(["a cat"])
    with pytest.raises(TypeError, match="`retrieved_documents` must be a list of documents"):
        processor.text_to_image_prompt("a cat", retrieved_documents="a dog")


def test_unconditional_prompt(processor, chameleon_style_processor):
    assert processor.unconditional_prompt() == [EOS, S0, BREAK]
    assert chameleon_style_processor.unconditional_prompt() == [BOS, BREAK]


def test_captioning_prompts(processor, chameleon_style_processor, images):
    a = image_ids(processor, images[0])
    assert processor.captioning_prompt(images[0]) == [EOS, S0, BREAK, *a, S0]
    assert processor.captioning_prompt(images[0], mode="infill") == [EOS, S0, BREAK, *a, S0]
    assert processor.captioning_prompt(images[0], mode="continuation") == [EOS, *a, BREAK]
    with pytest.raises(ValueError, match="`mode` must be one of \\['infill', 'continuation'\\]"):
        processor.captioning_prompt(images[0], mode="prefix")
    with pytest.raises(TypeError, match="`image` must be an image"):
        processor.captioning_prompt("a cat")
    with pytest.raises(ValueError, match="no <sentinel:i> tokens"):
        chameleon_style_processor.captioning_prompt(images[0])
    assert chameleon_style_processor.captioning_prompt(images[0], mode="continuation") == [EOS, *a, BREAK]


def test_vqa_prompt(processor, images):
    question = text_ids(processor, "Question: what is the cat doing? Answer:")
    a = image_ids(processor, images[0])
    assert processor.vqa_prompt(images[0], "what is the cat doing?") == [EOS, *question, S0, BREAK, *a, S0]
    with pytest.raises(TypeError, match="`question` must be a string"):
        processor.vqa_prompt(images[0], None)


def test_editing_prompts(processor, images):
    full, image_only, unconditional = processor.editing_prompts(images[0], "make it blue")
    head = [EOS, *text_ids(processor, "Edit first image following the instruction"), BREAK]
    a = image_ids(processor, images[0])
    assert image_only == [*head, *a, BREAK]
    assert full == [*head, *a, BREAK, *text_ids(processor, "make it blue"), BREAK]
    assert unconditional == [EOS, S0, BREAK]
    batch = processor.pad([full, image_only, unconditional], padding_side="left", return_tensors="pt")
    assert tuple(batch["input_ids"].shape) == (3, len(full))
    assert batch["input_ids"][2, -3:].tolist() == [EOS, S0, BREAK]
    assert batch["attention_mask"].sum(-1).tolist() == [len(full), len(image_only), 3]
    with pytest.raises(TypeError, match="`instruction` must be a string"):
        processor.editing_prompts(images[0], 3)


def test_classifier_free_guidance_batch(processor):
    conditional = processor.text_to_image_prompt("a cat sitting on a mat")
    batch = processor.pad([conditional, processor.unconditional_prompt()], padding_side="left", return_tensors="pt")
    n = len(conditional) - 3
    assert batch["input_ids"].tolist() == [conditional, [PAD] * n + [EOS, S0, BREAK]]
    assert batch["attention_mask"].tolist() == [[1] * len(conditional), [0] * n + [1, 1, 1]]


# -- decoding ----------------------------------------------------------------------------------------------------------


def assert_same_image(actual, expected):
    assert isinstance(actual, Image.Image) and actual.size == expected.size
    assert np.array_equal(np.asarray(actual), np.asarray(expected))


def test_decode_segments_round_trip(processor, images):
    a, b = image_ids(processor, images[0]), image_ids(processor, images[1])
    ids = [EOS, *text_ids(processor, "a cat"), BREAK, *a, BREAK, *text_ids(processor, "a dog"), BREAK, *b, EOS]
    segments = processor.decode_segments(torch.tensor(ids))
    assert [type(s) for s in segments] == [str, Image.Image, str, Image.Image]
    assert segments[0] == "a cat" and segments[2] == "a dog"
    expected_a, expected_b = processor.image_processor.token_ids_to_images(torch.tensor([a, b]))
    assert_same_image(segments[1], expected_a)
    assert_same_image(segments[3], expected_b)
    assert not np.array_equal(np.asarray(segments[1]), np.asarray(segments[3]))


def test_decode_segments_splits_at_control_tokens(processor, images):
    a, b = image_ids(processor, images[0]), image_ids(processor, images[1])
    # Infilled caption: </s> <sentinel:0> <break> image <sentinel:0> caption <eoss>, then padding.
    ids = [EOS, S0, BREAK, *a, S0, *text_ids(processor, " a cat"), EOSS, PAD, PAD]
    segments = processor.decode_segments(ids)
    assert len(segments) == 2 and segments[1] == " a cat"
    # Two images back to back decode to two images.
    assert [type(s) for s in processor.decode_segments([*a, *b])] == [Image.Image, Image.Image]
    assert processor.decode_segments([EOS, BREAK, PAD]) == []


def test_decode_segments_errors(processor, images):
    a = image_ids(processor, images[0])
    with pytest.raises(ValueError, match=f"run of {L - 1} tokens.*`image_seq_length`={L}"):
        processor.decode_segments([EOS, BREAK, *a[:-1]])
    with pytest.raises(ValueError, match="outside \\[0, "):
        processor.decode_segments([EOS, -1])
    with pytest.raises(ValueError, match="one sequence of token ids \\(1-D\\)"):
        processor.decode_segments(torch.tensor([[EOS]]))


def test_text_decoding(processor, images):
    a = image_ids(processor, images[0])
    ids = torch.tensor([[EOS, S0, BREAK, *a, S0, *text_ids(processor, " a cat"), EOSS]])
    assert processor.post_process_image_text_to_text(ids) == [" a cat"]
    assert processor.post_process_multimodal_output(ids) == [" a cat"]
    assert processor.post_process_multimodal_output(ids, generation_mode="text") == [" a cat"]
    assert processor.batch_decode(ids, skip_special_tokens=True) == [" a cat"]
    assert processor.decode(ids[0], skip_special_tokens=True) == " a cat"


def test_image_post_processing(processor, images):
    a, b = image_ids(processor, images[0]), image_ids(processor, images[1])
    prompt = processor.text_to_image_prompt("a cat")
    generated = torch.tensor([prompt + a, prompt + b])
    results = processor.post_process_multimodal_output(generated, generation_mode="image")
    expected = processor.image_processor.token_ids_to_images(torch.tensor([a, b]))
    assert len(results) == 2
    assert_same_image(results[0], expected[0])
    assert_same_image(results[1], expected[1])
    # An editing stream holds the input image and the generated one: the last image is the output.
    edited = processor.post_process_multimodal_output(torch.tensor([a + [BREAK] + b]), generation_mode="image")
    assert_same_image(edited[0], expected[1])
    # Pixel values (e.g. from a model that decodes its own tokens) are turned into images too.
    pixels = processor.image_processor.decode(torch.tensor([a]) - 4)
    assert_same_image(processor.post_process_multimodal_output(pixels, generation_mode="image")[0], expected[0])
    with pytest.raises(ValueError, match="holds no complete image"):
        processor.post_process_multimodal_output(torch.tensor([prompt]), generation_mode="image")
    with pytest.raises(ValueError, match="`generation_mode` must be 'text' or 'image'"):
        processor.post_process_multimodal_output(generated, generation_mode="audio")


# -- serialisation -----------------------------------------------------------------------------------------------------


def test_save_and_reload(processor, images, tmp_path):
    AutoConfig.register("cm3leon", CM3LeonConfig, exist_ok=True)
    AutoImageProcessor.register(CM3LeonConfig, slow_image_processor_class=CM3LeonImageProcessor, exist_ok=True)
    AutoProcessor.register(CM3LeonConfig, CM3LeonProcessor, exist_ok=True)

    processor.save_pretrained(tmp_path)
    assert (tmp_path / "processor_config.json").is_file()
    assert (tmp_path / "tokenizer.json").is_file()
    assert (tmp_path / "image_tokenizer" / "model.safetensors").is_file()
    assert processor.image_processor.vq_model is not None  # saving does not detach the VQ model
    saved = json.loads((tmp_path / "processor_config.json").read_text())
    assert saved["processor_class"] == "CM3LeonProcessor"
    assert saved["image_processor"]["image_token_offset"] == 4 and "_vq_model" not in saved["image_processor"]

    text = ["</s>a cat<racm3:break><image></s>", "<image>a dog"]
    expected_ids = processor(text=text, images=images[:2], padding=True)
    expected_codes = processor.image_processor.encode(images)
    for reloaded in (CM3LeonProcessor.from_pretrained(tmp_path), AutoProcessor.from_pretrained(tmp_path)):
        assert type(reloaded) is CM3LeonProcessor
        assert reloaded(text=text, images=images[:2], padding=True) == expected_ids
        assert torch.equal(reloaded.image_processor.encode(images), expected_codes)
        assert reloaded.editing_prompts(images[0], "make it blue") == processor.editing_prompts(
            images[0], "make it blue"
        )
        assert reloaded.tokenizer.get_vocab() == processor.tokenizer.get_vocab()
        state = reloaded.image_processor.vq_model.state_dict()
        expected_state = processor.image_processor.vq_model.state_dict()
        assert state.keys() == expected_state.keys()
        assert all(torch.equal(state[k], expected_state[k]) for k in state)


def test_pre_tokenised_images_are_used_as_they_are(processor, images):
    a = image_ids(processor, images[0])
    from_image = processor.encode_documents([processor.document("a cat", images[0])])["input_ids"]
    for segment in (a, torch.tensor(a), np.array(a)):
        assert processor.encode_documents([["a cat", segment]])["input_ids"] == from_image
    with pytest.raises(ValueError, match="pre-tokenised image must be"):
        processor.encode_documents([["a cat", a[:-1]]])
    with pytest.raises(ValueError, match="pre-tokenised image must be"):
        processor.encode_documents([["a cat", [processor.eos_token_id] * len(a)]])


def test_retriever_documents_are_laid_out_from_their_fields(processor, images):
    from transformers_cm3leon.retrieval import RetrievedDocument

    b = image_ids(processor, images[1])
    document = RetrievedDocument(text="a dog", image_token_ids=b, image_path=None, score=0.5, index=3)
    prompt = processor.text_to_image_prompt("a cat", retrieved_documents=[document])
    cat, dog = text_ids(processor, "a cat"), text_ids(processor, "a dog")
    assert prompt == [EOS, *dog, BREAK, *b, BREAK, *cat, BREAK]


# -- the Chameleon layout ----------------------------------------------------------------------------------------------
# The tiny sentinel-free vocabulary (as Chameleon's): <s>=0 <pad>=1 </s>=2 <unk>=3, image tokens 4..35 (32 codes),
# <eoss>=36, <racm3:break>=37, then BPE; 16 px images -> 16 image tokens each.
C_EOSS, C_BREAK, C_L = 36, 37, 16


@pytest.fixture(scope="module")
def sentinel_free():
    """The tiny sentinel-free processor in the default (CM3Leon) layout."""
    return get_tiny_cm3leon_processor(num_sentinel_tokens=0)


@pytest.fixture(scope="module")
def chameleon(sentinel_free):
    return CM3LeonProcessor(sentinel_free.image_processor, sentinel_free.tokenizer, sequence_format="chameleon")


def test_layout_argument(processor, chameleon, sentinel_free):
    assert (
        processor.sequence_format == "cm3leon"
        and sentinel_free.sequence_format == "cm3leon"
        and chameleon.sequence_format == "chameleon"
    )
    assert (chameleon.bos_token_id, chameleon.pad_token_id, chameleon.eos_token_id) == (BOS, PAD, EOS)
    assert (chameleon.eoss_token_id, chameleon.break_token_id, chameleon.image_seq_length) == (C_EOSS, C_BREAK, C_L)
    assert (chameleon.image_token_offset, chameleon.image_vocab_size, chameleon.num_sentinel_tokens) == (4, 32, 0)
    for bad in ("llama", "Chameleon", None, 1):
        with pytest.raises(ValueError, match="`sequence_format` must be one of \\['cm3leon', 'chameleon'\\], got"):
            CM3LeonProcessor(chameleon.image_processor, chameleon.tokenizer, sequence_format=bad)
    tokenizer = copy.deepcopy(chameleon.tokenizer)
    tokenizer.bos_token = None
    with pytest.raises(ValueError, match="'chameleon' sequence format starts every sequence with <s>.*has none"):
        CM3LeonProcessor(chameleon.image_processor, tokenizer, sequence_format="chameleon")


def test_chameleon_documents(chameleon, images):
    cat, edit = text_ids(chameleon, "a red circle"), text_ids(chameleon, "make the circle blue")
    a, b = image_ids(chameleon, images[0]), image_ids(chameleon, images[1])
    assert len(a) == C_L and all(4 <= i < 36 for i in a + b)
    batch = chameleon.encode_documents(
        [chameleon.document("a red circle", images[0]), ["a red circle", images[0], "make the circle blue", b], [b]],
        return_labels=True,
    )
    first = [BOS, *cat, C_BREAK, *a, C_EOSS, EOS]
    second = [BOS, *cat, C_BREAK, *a, C_EOSS, *edit, C_BREAK, *b, C_EOSS, EOS]
    third = [BOS, C_BREAK, *b, C_EOSS, EOS]
    assert batch["input_ids"] == [first, second, third]
    assert batch["labels"] == [first, second, third]
    # Retrieved documents are interleaved context before the query, laid out the same way.
    retrieved = chameleon.encode_documents([["a red circle", images[0]]], retrieved_documents=[[["a blue", b]]])
    blue = text_ids(chameleon, "a blue")
    assert retrieved["input_ids"] == [[BOS, *blue, C_BREAK, *b, C_EOSS, *cat, C_BREAK, *a, C_EOSS, EOS]]


def test_chameleon_markup_wraps_each_image(chameleon, images):
    a, b = image_ids(chameleon, images[0]), image_ids(chameleon, images[1])
    cat = text_ids(chameleon, "a red circle")
    batch = chameleon(text="<s>a red circle<image></s>", images=images[0], allow_control_tokens=True)
    assert batch["input_ids"] == [[BOS, *cat, C_BREAK, *a, C_EOSS, EOS]]
    assert batch["input_ids"] == chameleon.encode_documents([["a red circle", images[0]]])["input_ids"]
    assert chameleon(text="<image><image>", images=images[:2]).input_ids == [
        [C_BREAK, *a, C_EOSS, C_BREAK, *b, C_EOSS]
    ]
    assert chameleon._get_num_multimodal_tokens(image_sizes=[(20, 24)]).num_image_tokens == [C_L + 2]


def test_chameleon_text_to_image_and_unconditional_prompts(chameleon, images):
    cat = text_ids(chameleon, "a red circle")
    assert chameleon.text_to_image_prompt("a red circle") == [BOS, *cat, C_BREAK]
    assert chameleon.unconditional_prompt() == [BOS, C_BREAK]
    b = image_ids(chameleon, images[1])
    blue = text_ids(chameleon, "a blue")
    with_retrieval = chameleon.text_to_image_prompt("a red circle", retrieved_documents=[["a blue", images[1]]])
    assert with_retrieval == [BOS, *blue, C_BREAK, *b, C_EOSS, *cat, C_BREAK]
    batch = chameleon.pad(
        [chameleon.text_to_image_prompt("a red circle"), chameleon.unconditional_prompt()],
        padding_side="left",
        return_tensors="pt",
    )
    n = len(cat)
    assert batch["input_ids"].tolist() == [[BOS, *cat, C_BREAK], [PAD] * n + [BOS, C_BREAK]]


def test_chameleon_editing_prompts(chameleon, images):
    full, image_only, unconditional = chameleon.editing_prompts(images[0], "make the circle blue")
    a, edit = image_ids(chameleon, images[0]), text_ids(chameleon, "make the circle blue")
    assert full == [BOS, *edit, C_BREAK, *a, C_EOSS, C_BREAK]
    # Meta's image-conditioned stream: the full prompt filtered to image tokens, <s>, <racm3:break> and <eoss>.
    assert image_only == [BOS, C_BREAK, *a, C_EOSS, C_BREAK]
    assert image_only == [t for t in full if t in (BOS, C_BREAK, C_EOSS) or 4 <= t < 36]
    assert unconditional == [BOS, C_BREAK]
    batch = chameleon.pad([full, image_only, unconditional], padding_side="left", return_tensors="pt")
    assert batch["attention_mask"].sum(-1).tolist() == [len(full), C_L + 4, 2]
    assert (batch["input_ids"][:, -1] == C_BREAK).all()


def test_chameleon_captioning_and_no_infilling(chameleon, images):
    a = image_ids(chameleon, images[0])
    assert chameleon.captioning_prompt(images[0]) == [BOS, C_BREAK, *a, C_EOSS]
    assert chameleon.captioning_prompt(images[0], mode="continuation") == [BOS, C_BREAK, *a, C_EOSS]
    with pytest.raises(
        ValueError, match="captioning_prompt\\(mode='infill'\\)`.*'chameleon' sequence format.*'continuation'"
    ):
        chameleon.captioning_prompt(images[0], mode="infill")
    with pytest.raises(ValueError, match="`vqa_prompt`.*'chameleon' sequence format.*chat message"):
        chameleon.vqa_prompt(images[0], "what colour is the circle?")
    with pytest.raises(ValueError, match="`mode` must be one of \\['infill', 'continuation'\\]"):
        chameleon.captioning_prompt(images[0], mode="prefix")


def test_cm3leon_layout_on_a_sentinel_free_vocabulary(sentinel_free, images):
    # The CM3Leon layout still works for prompts that need no sentinel ...
    cat, a = text_ids(sentinel_free, "a red circle"), image_ids(sentinel_free, images[0])
    assert sentinel_free.text_to_image_prompt("a red circle") == [EOS, *cat, C_BREAK]
    assert sentinel_free.captioning_prompt(images[0], mode="continuation") == [EOS, *a, C_BREAK]
    assert sentinel_free.unconditional_prompt() == [BOS, C_BREAK]
    # ... and infilling prompts say what is missing.
    with pytest.raises(ValueError, match="no <sentinel:i> tokens"):
        sentinel_free.captioning_prompt(images[0])
    with pytest.raises(ValueError, match="no <sentinel:i> tokens"):
        sentinel_free.vqa_prompt(images[0], "what colour?")


def test_chameleon_decode_segments(chameleon, sentinel_free, images):
    a, b = image_ids(chameleon, images[0]), image_ids(chameleon, images[1])
    document = ["a red circle", images[0], "make the circle blue", images[1]]
    ids = chameleon.encode_documents([document])["input_ids"][0]
    segments = chameleon.decode_segments(ids)
    assert [type(s) for s in segments] == [str, Image.Image, str, Image.Image]
    assert segments[0] == "a red circle" and segments[2] == "make the circle blue"
    expected_a, expected_b = chameleon.image_processor.token_ids_to_images(torch.tensor([a, b]))
    assert_same_image(segments[1], expected_a)
    assert_same_image(segments[3], expected_b)
    # The same document in the CM3Leon layout decodes to the same segments.
    cm3leon_ids = sentinel_free.encode_documents([document])["input_ids"][0]
    assert cm3leon_ids != ids
    again = sentinel_free.decode_segments(cm3leon_ids)
    assert again[0::2] == segments[0::2]
    assert all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(again[1::2], segments[1::2]))
    # A generated image: prompt, image tokens, then the <eoss> that closes it.
    generated = torch.tensor([chameleon.text_to_image_prompt("a red circle") + b + [C_EOSS]])
    assert_same_image(chameleon.post_process_multimodal_output(generated, generation_mode="image")[0], expected_b)
    # An image cut short is an error, as in the CM3Leon layout.
    with pytest.raises(ValueError, match=f"run of {C_L - 1} tokens"):
        chameleon.decode_segments([BOS, C_BREAK, *a[:-1]])


def test_chameleon_layout_is_saved_and_reloaded(chameleon, images, tmp_path):
    AutoConfig.register("cm3leon", CM3LeonConfig, exist_ok=True)
    AutoImageProcessor.register(CM3LeonConfig, slow_image_processor_class=CM3LeonImageProcessor, exist_ok=True)
    AutoProcessor.register(CM3LeonConfig, CM3LeonProcessor, exist_ok=True)

    chameleon.save_pretrained(tmp_path)
    config_path = tmp_path / "processor_config.json"
    saved = json.loads(config_path.read_text())
    assert saved["sequence_format"] == "chameleon"
    for reloaded in (CM3LeonProcessor.from_pretrained(tmp_path), AutoProcessor.from_pretrained(tmp_path)):
        assert reloaded.sequence_format == "chameleon"
        assert reloaded.text_to_image_prompt("a red circle") == chameleon.text_to_image_prompt("a red circle")
        assert reloaded.editing_prompts(images[0], "make it blue") == chameleon.editing_prompts(
            images[0], "make it blue"
        )
    # An explicit argument wins over the saved setting.
    assert CM3LeonProcessor.from_pretrained(tmp_path, sequence_format="cm3leon").sequence_format == "cm3leon"
    # Folders saved before the setting existed load in the CM3Leon format; version 0.1 called it `layout`.
    without = {k: v for k, v in saved.items() if k != "sequence_format"}
    config_path.write_text(json.dumps(without))
    assert CM3LeonProcessor.from_pretrained(tmp_path).sequence_format == "cm3leon"
    config_path.write_text(json.dumps({**without, "layout": "chameleon"}))
    assert CM3LeonProcessor.from_pretrained(tmp_path).sequence_format == "chameleon"
    # A bad saved value fails with the allowed values.
    config_path.write_text(json.dumps({**saved, "sequence_format": "llama"}))
    with pytest.raises(
        ValueError, match="`sequence_format` must be one of \\['cm3leon', 'chameleon'\\], got str 'llama'"
    ):
        CM3LeonProcessor.from_pretrained(tmp_path)
