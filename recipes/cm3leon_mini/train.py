# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Train CM3Leon-Mini from scratch with the package's own recipes, in one command:

    python recipes/cm3leon_mini/train.py --output-dir outputs/cm3leon-mini [--seed 0]

Stages (each saved under `--output-dir`, and skipped when its folder already exists, so a stopped run resumes):

1. `vq/`: the image tokenizer, a 16 px VQGAN with a 4x4 grid of codes from a codebook of 256 (16 image tokens per
   image), trained with the package's VQ recipe (`training.vq_training`: L1 + commitment loss, EMA codebook with
   dead-code restarts) on the training digits, the training shapes scenes and their segmentation maps.
2. `pretrain/`: the tokenizer (`build_cm3leon_tokenizer`, BPE over the captions) and the language model, its
   image-token embeddings started from the VQ codebook (`training.init_image_embeddings_from_codebook`), pretrained
   with the CM3 objective (`training.pretrain`: packing + `DataCollatorForCM3`) on `caption <break> image` documents,
   half of them retrieval-augmented (`RetrievalAugmentedExampleBuilder` over [`CaptionBankRetriever`], 2 documents,
   relevance above 0.9 dropped, 20% query-word dropout).
3. `sft/`: supervised fine-tuning on the task templates of the paper's Table 5 (`data.SFTExampleBuilder`:
   text-to-image, text-guided editing, spatially grounded generation, segmentation-to-image) and on captioning and VQA
   in the infilling layout of the package's prompts (`CM3LeonProcessor.captioning_prompt` / `vqa_prompt`: the CM3
   span placed on the answer, cut with `data.apply_cm3_spans`), loss on all tokens; the captioning and VQA rows also
   read 8 randomly rotated, scaled and shifted copies of each training digit (`digits.augment_digit`), with loss on
   the answer only.

`--ship` then copies the final model and processor into `tests/fixtures/cm3leon-mini/`, the trained model of the
test suite. Nothing is downloaded: the digits ship inside scikit-learn and the shapes are drawn by `shapes.py`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # recipes/

from cm3leon_mini import digits as digits_world  # noqa: E402
from cm3leon_mini import shapes as shapes_world  # noqa: E402

logger = logging.getLogger("cm3leon_mini")


@dataclass
class MiniRecipe:
    """Every setting of a CM3Leon-Mini training run (the defaults are the shipped model's)."""

    seed: int = 0
    resolution: int = 16
    # Image tokenizer: 16 px -> 4x4 codes from 256.
    vq_num_embeddings: int = 256
    vq_embed_dim: int = 16
    vq_base_channels: int = 32
    vq_steps: int = 800
    vq_batch_size: int = 32
    vq_learning_rate: float = 2e-3
    # Tokenizer and language model.
    text_vocab_size: int = 320  # BPE text tokens on top of the specials, image tokens and sentinels
    num_sentinel_tokens: int = 8
    hidden_size: int = 192
    intermediate_size: int = 768
    num_hidden_layers: int = 4
    num_attention_heads: int = 6
    block_size: int = 128
    batch_size: int = 32
    learning_rate: float = 2e-3
    pretrain_steps: int = 800
    sft_steps: int = 1500
    # Retrieval-augmented pretraining (the paper's 2 documents, 0.9 relevance cap, 20% query dropout).
    retrieval: bool = True
    retrieval_fraction: float = 0.5
    num_retrieved: int = 2
    # The bank holds many near-copies of each query (0.9 cap); 256 candidates leave 2 for ~95% of the queries.
    num_retrieval_candidates: int = 256
    # Data.
    captions_per_digit: int = 2
    # Text-to-image rows per training digit in SFT (each with another caption template): drawing keeps its share of
    # the mix next to the many reading rows of the augmented copies.
    sft_captions_per_digit: int = 3
    # Captioning / VQA rows also read this many randomly rotated, scaled and shifted copies of each training digit
    # (`digits.augment_digit`; one row each, captioning and VQA in turn), with loss on the answer only: reading overfits the 1,437 training scans without them,
    # and drawing should still learn from the real scans alone.
    digit_augmentations: int = 8
    # Start the image-token embeddings from the VQ codebook (`training.init_image_embeddings_from_codebook`).
    image_embeddings_from_codebook: bool = True
    shapes_repeats: int = 12
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        templates = len(digits_world.CAPTION_TEMPLATES)
        for name, low, high in (("digit_augmentations", 0, None), ("sft_captions_per_digit", 1, templates)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low or (high and value > high):
                allowed = f"an integer >= {low}" if high is None else f"an integer in [{low}, {high}]"
                raise ValueError(f"`{name}` must be {allowed}, got {value!r}.")


# ----------------------------------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------------------------------
def _pil(array: np.ndarray) -> Image.Image:
    return Image.fromarray(np.asarray(array, dtype=np.uint8), mode="RGB")


def caption_documents(recipe: MiniRecipe, rng: np.random.Generator) -> list[tuple[str, np.ndarray]]:
    """`(caption, image)` pairs of the training digits (several templates each) and the training shapes scenes."""
    train, _ = digits_world.load_digit_splits(recipe.resolution, seed=recipe.seed)
    documents = []
    for image, label in zip(train.images, train.labels):
        templates = rng.choice(len(digits_world.CAPTION_TEMPLATES), recipe.captions_per_digit, replace=False)
        documents += [(digits_world.digit_caption(int(label), int(t)), image) for t in templates]
    for scene in shapes_world.TRAIN_SCENES:
        image = shapes_world.render_scene(scene)
        for template in range(len(shapes_world.CAPTION_TEMPLATES)):
            documents += [(scene.caption(template), image)] * (recipe.shapes_repeats // 2)
    order = rng.permutation(len(documents))
    return [documents[i] for i in order]


def vq_training_images(recipe: MiniRecipe) -> list[Image.Image]:
    """The image tokenizer's training images: digits, shapes scenes and segmentation maps (scenes repeated so that
    each world is about as frequent as the digits)."""
    train, _ = digits_world.load_digit_splits(recipe.resolution, seed=recipe.seed)
    images = [_pil(image) for image in train.images]
    scenes = [_pil(shapes_world.render_scene(s)) for s in shapes_world.TRAIN_SCENES]
    maps = [_pil(shapes_world.render_segmentation(s)) for s in shapes_world.ALL_SCENES]
    repeats = max(1, len(images) // (2 * len(scenes)))
    return images + scenes * repeats + maps * max(1, repeats // 2)


def sft_task_rows(recipe: MiniRecipe, rng: np.random.Generator) -> dict[str, dict[str, list]]:
    """Rows of every SFT task, by task name, as columns for `datasets.Dataset.from_dict`."""
    train, _ = digits_world.load_digit_splits(recipe.resolution, seed=recipe.seed)
    scenes = shapes_world.TRAIN_SCENES
    repeats = recipe.shapes_repeats
    tasks: dict[str, dict[str, list]] = {}

    captions = [
        (digits_world.digit_caption(int(label), int(template)), _pil(image))
        for image, label in zip(train.images, train.labels)
        for template in rng.choice(len(digits_world.CAPTION_TEMPLATES), recipe.sft_captions_per_digit, replace=False)
    ]
    tasks["digits_text_to_image"] = {"caption": [c for c, _ in captions], "image": [i for _, i in captions]}
    tasks["shapes_text_to_image"] = {
        "caption": [s.caption(t) for s in scenes for t in range(2) for _ in range(repeats // 2)],
        "image": [_pil(shapes_world.render_scene(s)) for s in scenes for _ in range(2) for _ in range(repeats // 2)],
    }
    edits = [(s, *shapes_world.edit_of(s, rng)) for s in scenes for _ in range(repeats)]
    tasks["shapes_editing"] = {
        "image1": [_pil(shapes_world.render_scene(s)) for s, _, _ in edits],
        "edit_instruction": [instruction for _, instruction, _ in edits],
        "image2": [_pil(shapes_world.render_scene(t)) for _, _, t in edits],
    }
    tasks["shapes_grounding"] = {
        "caption": [f"a {s.colour} {s.shape}" for s in scenes for _ in range(repeats // 2)],
        "objects": [shapes_world.grounding_objects(s) for s in scenes for _ in range(repeats // 2)],
        "image": [_pil(shapes_world.render_scene(s)) for s in scenes for _ in range(repeats // 2)],
    }
    tasks["shapes_segmentation"] = {
        "condition_image": [_pil(shapes_world.render_segmentation(s)) for s in scenes for _ in range(repeats // 2)],
        "caption": [f"a {s.colour} {s.shape}" for s in scenes for _ in range(repeats // 2)],
        "image": [_pil(shapes_world.render_scene(s)) for s in scenes for _ in range(repeats // 2)],
    }
    return tasks


def infill_rows(processor, recipe: MiniRecipe, rng: np.random.Generator) -> dict[str, list[list[int]]]:
    """Captioning and VQA examples in the infilling layout of the processor's prompts, answer included:

        captioning: </s> <sentinel:0> <break> image <sentinel:0> caption <eoss>
        VQA:        </s> Question: q Answer: <sentinel:0> <break> image <sentinel:0> answer <eoss>

    i.e. the CM3 transform of `</s> caption <break> image` (resp. `</s> Question: q Answer: answer. <break> image`)
    with its one span on the caption (resp. the answer). The captioning rows are also what the unconditional stream
    of classifier-free guidance (`</s> <sentinel:0> <break>`) is trained on.

    Returns the columns `input_ids` and `labels`: loss on every token of a real image's row, and only on
    `<sentinel:0> answer <eoss>` in the rows of augmented digits (`recipe.digit_augmentations` per training digit,
    right after that digit's own rows).
    """
    from transformers_cm3leon.data import apply_cm3_spans

    IGNORE_INDEX = -100  # no loss (PyTorch's cross-entropy default)

    tokenizer = processor.tokenizer
    sentinel = np.array([processor.sentinel_token_id(0)])

    def text_ids(text: str) -> list[int]:
        return tokenizer(text, add_special_tokens=False, split_special_tokens=True)["input_ids"]

    def infill(prefix: str, answer: str, image_ids: list[int], loss_on_answer_only: bool = False):
        head = [processor.eos_token_id] + (text_ids(prefix) if prefix else [])
        answer_ids = text_ids(answer)
        document = np.array(head + answer_ids + [processor.break_token_id] + image_ids + [0, 0, 0])
        span = (len(head), len(head) + len(answer_ids))
        labels = document.copy()
        if loss_on_answer_only:
            labels[: span[0]] = IGNORE_INDEX
            labels[span[1] :] = IGNORE_INDEX
        # The three placeholder tokens keep the span inside the part apply_cm3_spans keeps; they are cut away.
        ids, labels = apply_cm3_spans(
            document, [span], sentinel_token_ids=sentinel, eoss_token_id=processor.eoss_token_id, labels=labels
        )
        return ids.tolist(), labels.tolist()

    train, _ = digits_world.load_digit_splits(recipe.resolution, seed=recipe.seed)
    to_token_ids = processor.image_processor.images_to_token_ids
    digit_ids = to_token_ids([_pil(x) for x in train.images]).tolist()
    scene_ids = dict(
        zip(
            shapes_world.TRAIN_SCENES,
            to_token_ids([_pil(shapes_world.render_scene(s)) for s in shapes_world.TRAIN_SCENES]).tolist(),
        )
    )
    augmented_ids = [[] for _ in train.labels]
    if recipe.digit_augmentations:
        augmented = [
            _pil(digits_world.augment_digit(image, rng))
            for image in train.images
            for _ in range(recipe.digit_augmentations)
        ]
        ids = to_token_ids(augmented).tolist()
        augmented_ids = [
            ids[i : i + recipe.digit_augmentations] for i in range(0, len(ids), recipe.digit_augmentations)
        ]

    def caption_row(label: int, image_ids: list[int], is_copy: bool = False):
        template = int(rng.integers(len(digits_world.CAPTION_TEMPLATES)))
        return infill("", digits_world.digit_caption(int(label), template), image_ids, is_copy)

    def question_row(label: int, image_ids: list[int], is_copy: bool = False):
        answer = f" {digits_world.DIGIT_WORDS[label]}."
        return infill("Question: what digit is this? Answer:", answer, image_ids, is_copy)

    rows = []
    for label, image_ids, copies in zip(train.labels, digit_ids, augmented_ids):
        rows += [caption_row(label, image_ids), question_row(label, image_ids)]
        # One reading row per augmented copy, captioning and VQA in turn.
        rows += [(caption_row, question_row)[i % 2](label, ids, is_copy=True) for i, ids in enumerate(copies)]
    for scene, image_ids in scene_ids.items():
        for _ in range(recipe.shapes_repeats // 2):
            rows.append(infill("", scene.caption(int(rng.integers(2))), image_ids))
            for question, answer in shapes_world.vqa_pairs(scene, rng):
                rows.append(infill(f"Question: {question} Answer:", f" {answer}.", image_ids))
    return {"input_ids": [ids for ids, _ in rows], "labels": [labels for _, labels in rows]}


# ----------------------------------------------------------------------------------------------------------------------
# Stages
# ----------------------------------------------------------------------------------------------------------------------
def _training_arguments(output_dir: str, recipe: MiniRecipe, max_steps: int, learning_rate: float, batch_size: int):
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=output_dir,
        max_steps=max_steps,
        per_device_train_batch_size=batch_size,
        learning_rate=learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=max(1, max_steps // 20),
        weight_decay=0.01,
        logging_steps=max(1, max_steps // 20),
        save_strategy="no",
        report_to=[],
        seed=recipe.seed,
        data_seed=recipe.seed,
        use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0,
        disable_tqdm=True,
    )


def train_image_tokenizer(recipe: MiniRecipe, output_dir: str):
    """Stage 1: the VQ image tokenizer, with `training.vq_training.build_vq_trainer`."""
    import datasets

    from transformers_cm3leon import CM3LeonImageProcessor, CM3LeonVQConfig, CM3LeonVQModel
    from transformers_cm3leon.training import VQDataArguments, VQLossArguments, VQModelArguments, build_vq_trainer

    if os.path.isdir(output_dir):
        return CM3LeonImageProcessor.from_pretrained(output_dir)
    torch.manual_seed(recipe.seed)
    config = CM3LeonVQConfig(
        resolution=recipe.resolution,
        embed_dim=recipe.vq_embed_dim,
        num_embeddings=recipe.vq_num_embeddings,
        latent_channels=recipe.vq_embed_dim,
        base_channels=recipe.vq_base_channels,
        channel_multiplier=[1, 2, 2],
        num_res_blocks=1,
        attn_resolutions=[],
        num_groups=8,
    )
    vq_model = CM3LeonVQModel(config)
    dataset = datasets.Dataset.from_dict({"image": vq_training_images(recipe)})
    trainer = build_vq_trainer(
        VQModelArguments(vq_config_name="cm3leon-vq-256"),  # unused: the model is given
        VQDataArguments(),
        VQLossArguments(reconstruction_loss="l1+l2", codebook_update="ema", dead_code_threshold=50),
        _training_arguments(
            output_dir + ".tmp", recipe, recipe.vq_steps, recipe.vq_learning_rate, recipe.vq_batch_size
        ),
        vq_model=vq_model,
        train_dataset=dataset,
    )
    trainer.train()
    vq_model.eval()
    image_processor = CM3LeonImageProcessor(vq_model=vq_model)
    image_processor.save_pretrained(output_dir)
    shutil.rmtree(output_dir + ".tmp", ignore_errors=True)
    return image_processor


def build_processor(recipe: MiniRecipe, image_processor):
    """The tokenizer (BPE over every caption, question and instruction) and the processor."""
    from transformers_cm3leon import EDITING_INSTRUCTION, CM3LeonProcessor, build_cm3leon_tokenizer

    corpus = [digits_world.digit_caption(d, t) for d in range(10) for t in range(len(digits_world.CAPTION_TEMPLATES))]
    corpus += [s.caption(t) for s in shapes_world.ALL_SCENES for t in range(2)]
    rng = np.random.default_rng(recipe.seed)
    for scene in shapes_world.ALL_SCENES:
        corpus += [f"Question: {q} Answer: {a}." for q, a in shapes_world.vqa_pairs(scene, rng)]
        corpus += [shapes_world.edit_of(scene, rng, shapes_world.ALL_SCENES)[0] for _ in range(3)]
        corpus.append(f"Generate high quality image of a {scene.colour} {scene.shape} with segmentations")
    corpus += [
        "Question: what digit is this? Answer:",
        EDITING_INSTRUCTION,
        "Make high quality image from a segmentation map",
    ]
    num_special = 4 + recipe.vq_num_embeddings + 2 + recipe.num_sentinel_tokens
    tokenizer = build_cm3leon_tokenizer(
        corpus * 4,
        vocab_size=num_special + 256 + recipe.text_vocab_size,
        image_vocab_size=recipe.vq_num_embeddings,
        num_sentinel_tokens=recipe.num_sentinel_tokens,
        min_frequency=2,
        model_max_length=recipe.block_size * 2,
    )
    return CM3LeonProcessor(image_processor=image_processor, tokenizer=tokenizer)


def pretrain(recipe: MiniRecipe, processor, output_dir: str):
    """Stage 2: CM3-objective pretraining, half of the documents retrieval-augmented (`training.pretrain`)."""
    import datasets

    from cm3leon_mini.bank import CaptionBankRetriever
    from transformers_cm3leon import CM3LeonConfig, CM3LeonForCausalLM, special_token_ids
    from transformers_cm3leon.training import (
        CM3Arguments,
        DataArguments,
        ModelArguments,
        RetrievalArguments,
        build_pretraining_trainer,
        init_image_embeddings_from_codebook,
        prepare_pretraining_dataset,
    )

    if os.path.isdir(output_dir):
        return CM3LeonForCausalLM.from_pretrained(output_dir)
    rng = np.random.default_rng(recipe.seed)
    documents = caption_documents(recipe, rng)
    texts = [text for text, _ in documents]
    images = [_pil(image) for _, image in documents]
    image_ids = processor.image_processor.images_to_token_ids(images).tolist()
    config = CM3LeonConfig(
        **special_token_ids(processor.tokenizer),
        hidden_size=recipe.hidden_size,
        intermediate_size=recipe.intermediate_size,
        num_hidden_layers=recipe.num_hidden_layers,
        num_attention_heads=recipe.num_attention_heads,
        max_position_embeddings=2 * recipe.block_size,
        image_seq_length=processor.image_processor.image_seq_length,
        initializer_range=0.02,
        position_initializer_range=0.02,
    )
    torch.manual_seed(recipe.seed)
    model = CM3LeonForCausalLM(config)
    if recipe.image_embeddings_from_codebook:
        init_image_embeddings_from_codebook(model, processor.image_processor.vq_model, seed=recipe.seed)
    cm3_args = CM3Arguments(block_size=recipe.block_size, packing=True, objective="cm3")
    data_args = DataArguments(text_column="text", image_column="image_token_ids")

    split = int(len(documents) * (recipe.retrieval_fraction if recipe.retrieval else 0.0))
    plain = datasets.Dataset.from_dict({"text": texts[split:], "image_token_ids": image_ids[split:]})
    parts = [prepare_pretraining_dataset(plain, processor, config, data_args, cm3_args, seed=recipe.seed)]
    if split:
        retriever = CaptionBankRetriever(texts, images, image_ids)
        augmented = datasets.Dataset.from_dict(
            {"text": texts[:split], "image_token_ids": image_ids[:split], "image": images[:split]}
        )
        retrieval_args = RetrievalArguments(
            num_retrieved=recipe.num_retrieved, num_retrieval_candidates=recipe.num_retrieval_candidates
        )
        # Query = caption + image (the paper's multimodal query; the bank's vectors mix both), so a training
        # document finds itself at relevance 1.0, which the 0.9 cap drops.
        parts.append(
            _retrieval_augmented(augmented, retriever, processor, config, retrieval_args, cm3_args, recipe.seed)
        )
    train_dataset = datasets.concatenate_datasets(parts).shuffle(seed=recipe.seed)
    trainer, _ = build_pretraining_trainer(
        ModelArguments(),
        data_args,
        cm3_args,
        RetrievalArguments(),
        _training_arguments(
            output_dir + ".tmp", recipe, recipe.pretrain_steps, recipe.learning_rate, recipe.batch_size
        ),
        model=model,
        processor=processor,
        train_dataset=train_dataset,
    )
    trainer.train()
    model.save_pretrained(output_dir)
    shutil.rmtree(output_dir + ".tmp", ignore_errors=True)
    return model


def _retrieval_augmented(dataset, retriever, processor, config, retrieval_args, cm3_args, seed):
    """`prepare_pretraining_dataset`'s retrieval path, with the query image passed to the retriever."""
    from transformers_cm3leon.data import DocumentPacker, RetrievalAugmentedExampleBuilder

    builder = RetrievalAugmentedExampleBuilder(
        retriever,
        processor.tokenizer,
        config,
        **retrieval_args.example_builder_kwargs(),
        seed=seed,
        text_column="text",
        image_column="image_token_ids",
        retrieval_image_column="image",
    )
    dataset = builder.map(dataset)
    logger.info(f"retrieval-augmented examples: {len(dataset)}, filter statistics {dict(builder.stats)}")
    packer = DocumentPacker(cm3_args.block_size, mode="concatenate", remainder="drop")
    return packer.map(dataset.select_columns(["input_ids"]))


def supervised_fine_tune(recipe: MiniRecipe, processor, model, output_dir: str):
    """Stage 3: SFT on the task templates and the infilling rows, packed whole, loss on all tokens."""
    import datasets
    from transformers import Trainer

    from transformers_cm3leon import CM3LeonForCausalLM
    from transformers_cm3leon.data import DocumentPacker
    from transformers_cm3leon.training import (
        CM3Arguments,
        SFTArguments,
        SFTTaskArguments,
        build_cm3_collator,
        prepare_sft_dataset,
    )

    if os.path.isdir(output_dir):
        return CM3LeonForCausalLM.from_pretrained(output_dir)
    rng = np.random.default_rng(recipe.seed + 1)
    templates = {
        "digits_text_to_image": "captioning",  # `caption <break> image`: the text-to-image document
        "shapes_text_to_image": "captioning",
        "shapes_editing": "text_guided_editing",
        "shapes_grounding": "spatially_grounded_generation",
        "shapes_segmentation": "segmentation_to_image",
    }
    # Mixing weights (before the mixer's caps): digits drawing is the headline task; editing is the hardest.
    weights = {
        "digits_text_to_image": 6.0,
        "shapes_text_to_image": 1.0,
        "shapes_editing": 2.0,
        "shapes_grounding": 0.5,
        "shapes_segmentation": 0.5,
    }
    tasks = [
        SFTTaskArguments(
            name=name, template=templates[name], dataset=datasets.Dataset.from_dict(rows), weight=weights[name]
        )
        for name, rows in sft_task_rows(recipe, rng).items()
    ]
    cm3_args = CM3Arguments(block_size=recipe.block_size, packing=False, objective="causal")
    templated = prepare_sft_dataset(tasks, processor, model.config, SFTArguments(), cm3_args, seed=recipe.seed)
    templated = templated.select_columns(["input_ids"])
    templated = templated.map(lambda row: {"labels": row["input_ids"]})  # loss on the whole sequence (the paper)
    infilled = datasets.Dataset.from_dict(infill_rows(processor, recipe, rng))
    dataset = datasets.concatenate_datasets([templated, infilled.cast(templated.features)]).shuffle(seed=recipe.seed)
    dataset = DocumentPacker(recipe.block_size, mode="whole_documents").map(dataset)
    logger.info(
        f"SFT: {len(templated)} template examples + {len(infilled)} infilling examples -> {len(dataset)} blocks"
    )
    collator, epoch_callback = build_cm3_collator(model.config, cm3_args, recipe.block_size, seed=recipe.seed)
    trainer = Trainer(
        model=model,
        args=_training_arguments(
            output_dir + ".tmp", recipe, recipe.sft_steps, recipe.learning_rate / 2, recipe.batch_size
        ),
        train_dataset=dataset,
        data_collator=collator,
        callbacks=[epoch_callback],
    )
    trainer.train()
    model.save_pretrained(output_dir)
    shutil.rmtree(output_dir + ".tmp", ignore_errors=True)
    return model


def set_recommended_decoding(generation_config) -> None:
    """Store the decoding CM3Leon-Mini measures best with (`mini.RECOMMENDED_GENERATION`: no guidance, temperature
    0.5) as the model's per-task pipeline defaults, `generation_config.image_generation_defaults`."""
    from cm3leon_mini.mini_model import RECOMMENDED_GENERATION
    from transformers_cm3leon.generation import set_image_generation_defaults

    set_image_generation_defaults(generation_config, "text-to-image", **RECOMMENDED_GENERATION)
    set_image_generation_defaults(
        generation_config, "image-editing", **RECOMMENDED_GENERATION, image_guidance_scale=1.0
    )


def train(recipe: MiniRecipe, output_dir: str) -> str:
    """Run the three stages; returns the folder of the final model (`model/`: model + processor)."""
    started = time.time()
    os.makedirs(output_dir, exist_ok=True)
    with open(os.path.join(output_dir, "recipe.json"), "w") as handle:
        json.dump(asdict(recipe), handle, indent=2)
    image_processor = train_image_tokenizer(recipe, os.path.join(output_dir, "vq"))
    logger.info(f"image tokenizer ready ({time.time() - started:.0f} s)")
    processor = build_processor(recipe, image_processor)
    model = pretrain(recipe, processor, os.path.join(output_dir, "pretrain"))
    logger.info(f"pretraining done ({time.time() - started:.0f} s)")
    model = supervised_fine_tune(recipe, processor, model, os.path.join(output_dir, "sft"))
    logger.info(f"SFT done ({time.time() - started:.0f} s)")
    final = os.path.join(output_dir, "model")
    model.generation_config.pad_token_id = model.config.pad_token_id
    set_recommended_decoding(model.generation_config)
    model.save_pretrained(final)
    processor.save_pretrained(final)
    with open(os.path.join(final, "training_recipe.json"), "w") as handle:
        json.dump({**asdict(recipe), "train_seconds": round(time.time() - started)}, handle, indent=2)
    return final


def ship(model_dir: str) -> str:
    """Copy a trained model folder into the repository as the test suite's trained model, its weights stored in
    float16."""
    from cm3leon_mini.mini_model import WEIGHTS_DIR
    from transformers_cm3leon.hub import store_weights_in_half_precision

    if os.path.isdir(WEIGHTS_DIR):
        shutil.rmtree(WEIGHTS_DIR)
    shutil.copytree(model_dir, WEIGHTS_DIR)
    store_weights_in_half_precision(WEIGHTS_DIR)
    return WEIGHTS_DIR


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output-dir", default="outputs/cm3leon-mini", help="Where the stages are written.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--vq-steps", type=int, default=None)
    parser.add_argument("--pretrain-steps", type=int, default=None)
    parser.add_argument("--sft-steps", type=int, default=None)
    parser.add_argument("--no-retrieval", action="store_true", help="Pretrain without retrieval-augmented examples.")
    parser.add_argument(
        "--digit-augmentations", type=int, default=None, help="Augmented copies per digit in captioning/VQA rows."
    )
    parser.add_argument(
        "--image-embeddings-from-codebook",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="Start the image-token embeddings from the VQ codebook.",
    )
    parser.add_argument(
        "--ship", action="store_true", help="Copy the trained model into tests/fixtures/cm3leon-mini/."
    )
    parser.add_argument(
        "--num-threads", type=int, default=None, help="torch CPU threads (1 is fastest on a machine shared by others)."
    )
    args = parser.parse_args(argv)
    if args.num_threads is not None:
        torch.set_num_threads(args.num_threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    recipe = MiniRecipe(seed=args.seed, retrieval=not args.no_retrieval)
    for name in ("vq_steps", "pretrain_steps", "sft_steps", "digit_augmentations", "image_embeddings_from_codebook"):
        if getattr(args, name) is not None:
            setattr(recipe, name, getattr(args, name))
    final = train(recipe, args.output_dir)
    print(f"trained model: {final}")
    if args.ship:
        print(f"shipped to {ship(final)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
