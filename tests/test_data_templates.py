# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The SFT task templates of the paper's Table 5, document encoding, and the SFT `datasets.map` step."""

from __future__ import annotations

import logging

import pytest
from data_fakes import BREAK, CONFIG, EOS, FakeImageProcessor, WordTokenizer
from datasets import Dataset
from PIL import Image
from transformers.utils import logging as hf_logging

from transformers_cm3leon.data import (
    SFT_TEMPLATE_VARIANTS,
    SFT_TEMPLATES,
    Document,
    DocumentEncoder,
    SFTExampleBuilder,
    TemplateFieldError,
    get_sft_template,
)

ROW = {
    "image1": [10, 11, 12],
    "edit_instruction": "make it snowy",
    "image2": [13, 14, 15],
    "ocr_content": "OPEN 24 HOURS",
    "image": [4, 5, 6],
    "caption": "a red bus",
    "objects": [{"label": "bus", "box": (10, 20, 200, 220)}, {"label": "person", "box": [0.4, 30, 40.6, 90]}],
    "condition_image": [7, 8, 9],
    "question": "What color is the bus?",
    "answer": "red",
    "context": "A city street.",
    "choices": ["red", "blue"],
    "explanation": "The bus is painted red.",
}

# The paper's Table 5 , as each template's `pattern`.
PAPER_PATTERNS = {
    "text_guided_editing": "Edit first image following the instruction <break> {image1} <break> {edit_instruction} <break> {image2}",
    "ocr_draw": 'draw "{ocr_content}" <break> {image}',
    "spatially_grounded_generation": "Generate high quality image of {caption} with segmentations {objects} <break> {image}",
    "edge_to_image": "Make high quality image from canny edge features <break> {condition_image} <break> {caption} <break> {image}",
    "segmentation_to_image": "Make high quality image from a segmentation map <break> {condition_image} <break> {caption} <break> {image}",
    "hed_to_image": "Make high quality image from hed features <break> {condition_image} <break> {caption} <break> {image}",
    "pose_to_image": "Make high quality image from openpose features <break> {condition_image} <break> {caption} <break> {image}",
    "depth_to_image": "Make high quality image from depth features <break> {condition_image} <break> {caption} <break> {image}",
    "normal_to_image": "Make high quality image from 3D norm features <break> {condition_image} <break> {caption} <break> {image}",
    "scribble_to_image": "Make high quality image from children's scribbles <break> {condition_image} <break> {caption} <break> {image}",
    "mlsd_to_image": "Make high quality image from mlsd lines <break> {condition_image} <break> {caption} <break> {image}",
    "captioning": "{caption} <break> {image}",
    "captioning_describe": "Describe the given picture. {caption} <break> {image}",
    "long_caption_detail": "Describe the given picture in very detail. {caption} <break> {image}",
    "long_caption_objects": "Describe all the objects in the given image in very detail. {caption} <break> {image}",
    "long_caption": "Generate a long caption for the given image. {caption} <break> {image}",
    "long_narration": "Generate a long narration of what is happening in the given image. {caption} <break> {image}",
    "vqa_answer": "Question: {question} Answer: {answer}. <break> {image}",
    "vqa_newline": "Question: {question} [newline] {answer} <break> {image}",
    "vqa_the_answer_is": "Question: {question} The answer is {answer}. <break> {image}",
    "scienceqa": "Question: {question} [newline] Context: {context} [newline] Options: {choices} [newline] Answer: {answer}. <break> {image}",
    "scienceqa_reasoning": "Question: {question} [newline] Context: {context} [newline] Options: {choices} [newline] Answer: Let's think step-by-step: {explanation} So the answer is {answer}. <break> {image}",
}

B, IMG = "<racm3:break>", "<image>"
SCIENCEQA_PROMPT = "Question: What color is the bus?\nContext: A city street.\nOptions: (A) red (B) blue\nAnswer:"
# What each template renders for ROW (`Document.to_text`), and the text of its output.
RENDERED = {
    "text_guided_editing": (
        f"Edit first image following the instruction {B} {IMG} {B} make it snowy {B} {IMG}",
        [13, 14, 15],
    ),
    "ocr_draw": (f'draw "OPEN 24 HOURS" {B} {IMG}', [4, 5, 6]),
    "spatially_grounded_generation": (
        "Generate high quality image of a red bus with segmentations bus at location (10, 20) -> (200, 220), "
        f"person at location (0, 30) -> (41, 90) {B} {IMG}",
        [4, 5, 6],
    ),
    **{
        name: (f"Make high quality image from {condition} {B} {IMG} {B} a red bus {B} {IMG}", [4, 5, 6])
        for name, condition in {
            "edge_to_image": "canny edge features",
            "segmentation_to_image": "a segmentation map",
            "hed_to_image": "hed features",
            "pose_to_image": "openpose features",
            "depth_to_image": "depth features",
            "normal_to_image": "3D norm features",
            "scribble_to_image": "children's scribbles",
            "mlsd_to_image": "mlsd lines",
        }.items()
    },
    "captioning": (f"a red bus {B} {IMG}", "a red bus"),
    "captioning_describe": (f"Describe the given picture. a red bus {B} {IMG}", " a red bus"),
    "long_caption_detail": (f"Describe the given picture in very detail. a red bus {B} {IMG}", " a red bus"),
    "long_caption_objects": (
        f"Describe all the objects in the given image in very detail. a red bus {B} {IMG}",
        " a red bus",
    ),
    "long_caption": (f"Generate a long caption for the given image. a red bus {B} {IMG}", " a red bus"),
    "long_narration": (
        f"Generate a long narration of what is happening in the given image. a red bus {B} {IMG}",
        " a red bus",
    ),
    "vqa_answer": (f"Question: What color is the bus? Answer: red. {B} {IMG}", " red."),
    "vqa_newline": (f"Question: What color is the bus?\nred {B} {IMG}", "\nred"),
    "vqa_the_answer_is": (f"Question: What color is the bus? The answer is red. {B} {IMG}", " red."),
    "scienceqa": (f"{SCIENCEQA_PROMPT} red. {B} {IMG}", " red."),
    "scienceqa_reasoning": (
        f"{SCIENCEQA_PROMPT} Let's think step-by-step: The bus is painted red. So the answer is red. {B} {IMG}",
        " The bus is painted red. So the answer is red.",
    ),
}


def test_every_table5_template_is_registered_with_the_paper_wording():
    assert set(SFT_TEMPLATES) == set(PAPER_PATTERNS)
    for name, pattern in PAPER_PATTERNS.items():
        assert SFT_TEMPLATES[name].pattern == pattern, name
    for names in SFT_TEMPLATE_VARIANTS.values():
        assert all(name in SFT_TEMPLATES for name in names)


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_template_renders_the_documented_document(name):
    document = SFT_TEMPLATES[name].render(ROW)
    text, output = RENDERED[name]
    assert document.to_text() == text
    segment, offset = document.output_start
    if isinstance(output, str):
        assert document.segments[segment][offset:] == output
    else:
        assert document.segments[segment] == output and offset == 0
    # Image segments are the row's ids, in order.
    images = [s for s in document.segments if not isinstance(s, str)]
    expected = {"text_guided_editing": [[10, 11, 12], [13, 14, 15]]}.get(name)
    if expected is None:
        expected = [[7, 8, 9], [4, 5, 6]] if name.endswith("_to_image") else [[4, 5, 6]]
    assert images == expected


def test_missing_and_bad_fields_name_the_template_and_field():
    row = dict(ROW)
    del row["answer"]
    with pytest.raises(TemplateFieldError, match=r"'vqa_answer': field 'answer' is missing") as info:
        SFT_TEMPLATES["vqa_answer"].render(row)
    assert isinstance(info.value, ValueError) and info.value.field == "answer"
    with pytest.raises(TemplateFieldError, match=r"field 'image' is None"):
        SFT_TEMPLATES["captioning"].render({**ROW, "image": None})
    with pytest.raises(TemplateFieldError, match=r"field 'image' must be image token ids or an image"):
        SFT_TEMPLATES["captioning"].render({**ROW, "image": "a path?"})
    with pytest.raises(TemplateFieldError, match=r"field 'caption' must be text"):
        SFT_TEMPLATES["captioning"].render({**ROW, "caption": ["a", "list"]})
    with pytest.raises(
        TemplateFieldError, match=r"'spatially_grounded_generation': field 'objects' is unusable: a box"
    ):
        SFT_TEMPLATES["spatially_grounded_generation"].render(
            {**ROW, "objects": [{"label": "bus", "box": (5, 5, 1, 1)}]}
        )
    with pytest.raises(ValueError, match="registered templates"):
        get_sft_template("vqa3")


def test_field_formats_and_column_mapping():
    grounded = SFT_TEMPLATES["spatially_grounded_generation"]
    columnar = {"label": ["bus", "cat"], "box": [[1, 2, 3, 4], [5, 6, 7, 8]]}
    assert (
        grounded.render({**ROW, "objects": columnar})
        .segments[0]
        .endswith("bus at location (1, 2) -> (3, 4), cat at location (5, 6) -> (7, 8)")
    )
    # An integer ScienceQA answer is the text of that option.
    assert SFT_TEMPLATES["scienceqa"].render({**ROW, "answer": 1}).segments[0].endswith("Answer: blue.")
    # field_map renames columns; an image field falls back to "<name>_token_ids".
    row = {"edit_prompt": "add a hat", "image1_token_ids": [1, 2], "image2": [3]}
    document = SFT_TEMPLATES["text_guided_editing"].render(row, field_map={"edit_instruction": "edit_prompt"})
    assert document.segments[1:] == [[1, 2], "add a hat", [3]]


def test_encoder_layout_and_output_only_labels():
    tokenizer = WordTokenizer()
    document = SFT_TEMPLATES["vqa_answer"].render(ROW)
    full = DocumentEncoder(tokenizer, CONFIG).encode([document])[0]
    assert set(full) == {"input_ids"}
    prompt = tokenizer.encode("Question: What color is the bus? Answer:")
    answer = tokenizer.encode("red.")
    assert full["input_ids"] == [EOS, *prompt, *answer, BREAK, 4, 5, 6, EOS]

    output_only = DocumentEncoder(tokenizer, CONFIG, loss_on="output").encode([document])[0]
    assert output_only["input_ids"] == full["input_ids"]
    # Loss on the answer and on the break that ends it; none on the question and the image.
    assert output_only["labels"] == [-100] * (1 + len(prompt)) + [*answer, BREAK] + [-100] * 4

    image_task = SFT_TEMPLATES["ocr_draw"].render(ROW)
    encoded = DocumentEncoder(tokenizer, CONFIG, loss_on="output").encode([image_task])[0]
    text = tokenizer.encode('draw "OPEN 24 HOURS"')
    assert encoded["input_ids"] == [EOS, *text, BREAK, 4, 5, 6, EOS]
    assert encoded["labels"] == [-100] * (2 + len(text)) + [4, 5, 6, EOS]


def test_encoder_tokenizes_images_through_the_image_processor():
    processor = FakeImageProcessor()
    image = Image.new("RGB", (4, 4), (40, 0, 0))
    encoder = DocumentEncoder(WordTokenizer(), CONFIG, image_processor=processor)
    ids = encoder.encode([Document(["a", image]), Document(["b", image])])
    assert [x["input_ids"][-5:] for x in ids] == [[44, 44, 44, 44, EOS]] * 2
    assert processor.calls == 1  # one call for the whole batch
    with pytest.raises(TypeError, match="image_processor"):
        DocumentEncoder(WordTokenizer(), CONFIG).encode([Document(["a", image])])


def sft_dataset(num_rows: int) -> Dataset:
    return Dataset.from_dict(
        {
            "question": [f"question {i}?" for i in range(num_rows)],
            "answer": [None if i == 3 else f"answer{i}" for i in range(num_rows)],
            "image_token_ids": [[4 + i, 5 + i, 6 + i] for i in range(num_rows)],
        }
    )


def test_builder_maps_a_dataset_and_chooses_variants_reproducibly():
    dataset = sft_dataset(40)
    builder = SFTExampleBuilder("vqa", WordTokenizer(), CONFIG, on_error="skip", template_column="template", seed=1)
    first = builder.map(dataset, batch_size=7)
    assert first.column_names == ["input_ids", "template"]
    assert len(first) == 39 and builder.skipped.total == 1  # row 3 has no answer
    assert set(first["template"]) == set(SFT_TEMPLATE_VARIANTS["vqa"])
    # The choice depends on the seed and the row index only, not on the batching.
    again = SFTExampleBuilder("vqa", WordTokenizer(), CONFIG, on_error="skip", template_column="template", seed=1)
    assert again.map(dataset, batch_size=40)["template"] == first["template"]
    row = first[0]
    assert row["input_ids"][0] == EOS and row["input_ids"][-5:] == [BREAK, 4, 5, 6, EOS]


def test_builder_skips_are_logged(caplog):
    hf_logging.enable_propagation()
    try:
        with caplog.at_level(logging.WARNING):
            builder = SFTExampleBuilder("vqa_answer", WordTokenizer(), CONFIG, on_error="skip")
            builder(sft_dataset(5)[:], indices=list(range(5)))
    finally:
        hf_logging.disable_propagation()
    assert "skipped a row" in caplog.text and "'answer' is None" in caplog.text


def test_builder_errors_and_length_limit():
    dataset = sft_dataset(5)
    with pytest.raises(TemplateFieldError, match="'vqa_answer': field 'answer' is None"):
        SFTExampleBuilder("vqa_answer", WordTokenizer(), CONFIG).map(dataset)
    long_rows = sft_dataset(3).filter(lambda row: row["answer"] is not None)
    with pytest.raises(ValueError, match="max_length=5"):
        SFTExampleBuilder("vqa_answer", WordTokenizer(), CONFIG, max_length=5).map(long_rows)
    builder = SFTExampleBuilder("vqa_answer", WordTokenizer(), CONFIG, max_length=5, on_error="skip")
    assert len(builder.map(long_rows)) == 0 and builder.skipped.counts == {"longer than max_length": 3}
    with pytest.raises(ValueError, match="on_error"):
        SFTExampleBuilder("vqa_answer", WordTokenizer(), CONFIG, on_error="ignore")
    with pytest.raises(ValueError, match="loss_on"):
        SFTExampleBuilder("vqa_answer", WordTokenizer(), CONFIG, loss_on="prompt")
    with pytest.raises(ValueError, match="variant groups"):
        SFTExampleBuilder("no_such_task", WordTokenizer(), CONFIG)
