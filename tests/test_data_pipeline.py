# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The data steps chained with the package's real (tiny, random) tokenizer, image processor and model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from data_fakes import FakeRetriever, RetrievedDocument
from datasets import Dataset
from PIL import Image

from transformers_cm3leon.data import (
    SFT_TEMPLATES,
    DataCollatorForCM3,
    DocumentEncoder,
    DocumentPacker,
    ImagePretokenizer,
    RetrievalAugmentedExampleBuilder,
    SFTExampleBuilder,
)
from transformers_cm3leon.testing_utils import get_tiny_cm3leon


@pytest.fixture(scope="module")
def tiny():
    return get_tiny_cm3leon(seed=0)


def random_images(count: int, seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)) for _ in range(count)]


def test_encoder_matches_the_processor_layout(tiny):
    model, processor = tiny
    image = random_images(1)[0]
    image_ids = processor.encode_images([image])[0]
    document = SFT_TEMPLATES["text_guided_editing"].render(
        {"image1": image_ids, "edit_instruction": "make the circle blue", "image2": image_ids}
    )
    ours = DocumentEncoder(processor.tokenizer, model.config).encode([document])[0]["input_ids"]
    theirs = processor.encode_documents(
        [["Edit first image following the instruction", image, "make the circle blue", image]]
    )["input_ids"][0]
    assert ours == list(theirs)
    # Content is plain text: a literal "</s>" in a caption is not the end-of-document token.
    caption_ids = DocumentEncoder(processor.tokenizer, model.config).encode([["a </s> b", image_ids]])[0]["input_ids"]
    assert caption_ids.count(model.config.eos_token_id) == 2


def test_output_split_tokenizes_like_an_inference_prompt(tiny):
    model, processor = tiny
    tokenizer = processor.tokenizer
    encoded = DocumentEncoder(tokenizer, model.config, loss_on="output").encode(
        [
            SFT_TEMPLATES["vqa_answer"].render(
                {
                    "question": "what colour is the triangle?",
                    "answer": "green",
                    "image": [4] * model.config.image_seq_length,
                }
            )
        ]
    )[0]
    whole = tokenizer("Question: what colour is the triangle? Answer: green.", add_special_tokens=False)["input_ids"]
    assert encoded["input_ids"][1 : 1 + len(whole)] == whole  # the split at the answer changes no token here
    answer = [t for t, label in zip(encoded["input_ids"], encoded["labels"]) if label != -100]
    assert tokenizer.decode(answer[:-1]) == " green." and answer[-1] == model.config.break_token_id


def test_retrieval_augmented_example_matches_the_processor_layout(tiny):
    model, processor = tiny
    query_image, retrieved_image = random_images(2, seed=1)
    query_ids, retrieved_ids = processor.encode_images([query_image, retrieved_image])
    retriever = FakeRetriever([RetrievedDocument("a drawing of a blue square", retrieved_ids, 0.5)])
    builder = RetrievalAugmentedExampleBuilder(retriever, processor.tokenizer, model.config, num_retrieved=1)
    dataset = Dataset.from_dict({"text": ["a red circle"], "image_token_ids": [query_ids]})
    ours = builder.map(dataset)[0]["input_ids"]
    theirs = processor.encode_documents(
        [["a red circle", query_image]], retrieved_documents=[[["a drawing of a blue square", retrieved_image]]]
    )["input_ids"][0]
    assert ours == list(theirs)


def test_images_to_cm3_batches_to_a_loss(tiny):
    model, processor = tiny
    dataset = Dataset.from_dict(
        {"image": random_images(6), "question": ["what colour is the circle?"] * 6, "answer": ["red", "blue"] * 3}
    )
    dataset = ImagePretokenizer(processor).map(dataset)
    assert len(dataset[0]["image_token_ids"]) == processor.image_seq_length
    examples = SFTExampleBuilder("vqa", processor.tokenizer, model.config).map(dataset)
    blocks = DocumentPacker(64).map(examples)
    assert all(len(block) == 64 for block in blocks["input_ids"])
    batch = DataCollatorForCM3(model.config, seed=0)(list(blocks))
    with torch.no_grad():
        loss = model(**batch).loss
    assert torch.isfinite(loss) and loss > 0


def test_trainer_uses_the_collator_directly(tmp_path):
    from transformers import Trainer, TrainingArguments

    model, processor = get_tiny_cm3leon(seed=1)
    dataset = Dataset.from_dict({"text": ["a red circle", "a blue square"] * 4, "image": random_images(8)})
    dataset = ImagePretokenizer(processor).map(dataset)
    examples = SFTExampleBuilder("captioning_describe", processor.tokenizer, model.config).map(
        dataset.rename_column("text", "caption")
    )
    blocks = DocumentPacker(48).map(examples)
    args = TrainingArguments(
        output_dir=str(tmp_path),
        max_steps=4,
        per_device_train_batch_size=2,
        learning_rate=1e-3,
        report_to=[],
        use_cpu=True,
        logging_steps=1,
        save_strategy="no",
        disable_tqdm=True,
    )
    trainer = Trainer(
        model=model.train(), args=args, train_dataset=blocks, data_collator=DataCollatorForCM3(model.config)
    )
    trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == 4 and all(np.isfinite(losses)) and losses[-1] < losses[0]
