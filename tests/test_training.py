# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The pretraining and SFT recipes: YAML/CLI arguments, end-to-end runs, loss, resume, bad input."""

from __future__ import annotations

import io
import json
import os
import shutil

import datasets
import pytest
import torch
import yaml
from PIL import Image
from transformers import TrainerCallback, TrainingArguments

from transformers_cm3leon import CM3LeonConfig, CM3LeonForCausalLM
from transformers_cm3leon.testing_utils import TINY_CORPUS, TINY_LM_CONFIG, get_tiny_cm3leon_processor
from transformers_cm3leon.tokenization_cm3leon import special_token_ids
from transformers_cm3leon.training import (
    CM3Arguments,
    DataArguments,
    ModelArguments,
    RetrievalArguments,
    build_pretraining_trainer,
    parse_recipe_arguments,
    run_pretraining,
    run_recipe,
)
from transformers_cm3leon.training.pretrain import ARGUMENT_TYPES as PRETRAINING_ARGUMENT_TYPES

TINY_OVERRIDES = dict(TINY_LM_CONFIG, max_position_embeddings=128)


@pytest.fixture(scope="module")
def processor():
    return get_tiny_cm3leon_processor()


def make_documents(processor, num_documents: int = 48) -> datasets.Dataset:
    """Captions with pre-tokenized images whose tokens follow from the caption, so there is something to learn."""
    offset, size = processor.image_processor.image_token_offset, processor.image_processor.num_image_tokens
    length = processor.image_processor.image_seq_length
    rows = []
    for i in range(num_documents):
        k = i % len(TINY_CORPUS)
        rows.append({"text": TINY_CORPUS[k], "image": [offset + (3 * k + j) % size for j in range(length)]})
    return datasets.Dataset.from_list(rows)


def training_arguments(output_dir, **overrides) -> TrainingArguments:
    values = dict(
        output_dir=str(output_dir),
        per_device_train_batch_size=4,
        learning_rate=3e-3,
        max_steps=4,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        seed=0,
    )
    values.update(overrides)
    return TrainingArguments(**values)


def losses(trainer) -> dict[int, float]:
    return {entry["step"]: entry["loss"] for entry in trainer.state.log_history if "loss" in entry}


# -- arguments ---------------------------------------------------------------------------------------------------------
def test_yaml_arguments_with_overrides(tmp_path):
    config_file = tmp_path / "pretrain.yaml"
    config_file.write_text(
        yaml.safe_dump(
            {
                "config_name": "cm3leon-350m",
                "config_overrides": {"num_hidden_layers": 2},
                "train_file": "docs.jsonl",
                "block_size": 64,
                "objective": "causal",
                "output_dir": str(tmp_path / "run"),
                "learning_rate": "1e-4",  # PyYAML reads 1e-4 as a string; the parser makes it a float
                "max_steps": 10,
            }
        )
    )
    model_args, data_args, cm3_args, retrieval_args, training_args, nested = parse_recipe_arguments(
        PRETRAINING_ARGUMENT_TYPES, config_file, ["--max_steps", "3", "--block_size", "32", "--packing", "false"]
    )
    assert model_args.config_name == "cm3leon-350m" and model_args.config_overrides == {"num_hidden_layers": 2}
    assert data_args.train_file == "docs.jsonl" and data_args.text_column == "text"
    assert (cm3_args.block_size, cm3_args.packing, cm3_args.objective) == (32, False, "causal")
    assert retrieval_args.retriever_name_or_path is None
    assert training_args.learning_rate == 1e-4 and isinstance(training_args.learning_rate, float)
    assert training_args.max_steps == 3  # the override wins over the file
    assert nested == {}

    # A JSON string on the command line for a dict field.
    model_args, *_ = parse_recipe_arguments(
        PRETRAINING_ARGUMENT_TYPES, config_file, ["--config_overrides", '{"hidden_size": 64}']
    )
    assert model_args.config_overrides == {"hidden_size": 64}


def test_arguments_reject_bad_values(tmp_path):
    config_file = tmp_path / "bad.yaml"
    config_file.write_text("config_name: cm3leon-350m\nlearning_rat: 0.1\nblock_sise: 3\n")
    with pytest.raises(ValueError, match=r"\['block_sise', 'learning_rat'\]"):
        parse_recipe_arguments(PRETRAINING_ARGUMENT_TYPES, config_file)
    with pytest.raises(ValueError, match="`objective` must be one of"):
        CM3Arguments(objective="mlm")
    with pytest.raises(ValueError, match="`on_error` must be one of"):
        CM3Arguments(on_error="ignore")
    with pytest.raises(ValueError, match="not both"):
        ModelArguments(model_name_or_path="a", config_name="cm3leon-350m")
    with pytest.raises(FileNotFoundError, match="missing.yaml"):
        parse_recipe_arguments(PRETRAINING_ARGUMENT_TYPES, tmp_path / "missing.yaml")


# -- pretraining -------------------------------------------------------------------------------------------------------
def test_pretraining_recipe_from_yaml(tmp_path, processor):
    """The recipe end to end from a YAML file, on an in-memory dataset: data report, saved model and processor."""
    config_file = tmp_path / "pretrain.yaml"
    config_file.write_text(
        yaml.safe_dump(
            {
                "config_name": "cm3leon-350m",
                "config_overrides": TINY_OVERRIDES,
                "block_size": 64,
                "output_dir": str(tmp_path / "run"),
                "per_device_train_batch_size": 4,
                "max_steps": 3,
                "learning_rate": 1.0e-3,
                "logging_steps": 1,
                "save_strategy": "no",
                "report_to": "none",
                "use_cpu": True,
                "disable_tqdm": True,
            }
        )
    )
    arguments = parse_recipe_arguments(PRETRAINING_ARGUMENT_TYPES, config_file)[:-1]
    documents = make_documents(processor)
    metrics = run_pretraining(*arguments, processor=processor, train_dataset=documents)

    # 48 documents of 1 + 16 image tokens + 1 break + caption + 1, packed into 64-token blocks.
    lengths = [
        len(processor.tokenizer(text, add_special_tokens=False)["input_ids"]) + 19 for text in documents["text"]
    ]
    assert metrics["data_documents"] == 48
    assert metrics["data_blocks"] == sum(lengths) // 64  # one map batch: only the last partial block is dropped
    assert metrics["data_dropped_tokens"] == sum(lengths) % 64
    assert metrics["data_skipped_rows"] == 0
    run = tmp_path / "run"
    assert json.loads((run / "train_results.json").read_text())["data_blocks"] == metrics["data_blocks"]
    model = CM3LeonForCausalLM.from_pretrained(run)
    assert model.config.hidden_size == 32 and model.config.num_hidden_layers == 2
    assert model.config.vocab_size == len(processor.tokenizer)
    assert model.config.break_token_id == processor.tokenizer.convert_tokens_to_ids("<racm3:break>")
    assert (run / "processor_config.json").is_file() and (run / "image_tokenizer").is_dir()


def test_pretraining_documents_layout(processor):
    """Each document is `</s> caption <break> image </s>`, and blocks are the documents' concatenation."""
    model_args = ModelArguments(config_name="cm3leon-350m", config_overrides=TINY_OVERRIDES)
    documents = make_documents(processor, 2)
    trainer, _ = build_pretraining_trainer(
        model_args,
        DataArguments(),
        CM3Arguments(block_size=128, packing=False),
        RetrievalArguments(),
        training_arguments("unused"),
        processor=processor,
        train_dataset=documents,
    )
    config = trainer.model.config
    caption = processor.tokenizer(documents[0]["text"], add_special_tokens=False)["input_ids"]
    expected = [config.eos_token_id, *caption, config.break_token_id, *documents[0]["image"], config.eos_token_id]
    assert trainer.train_dataset[0]["input_ids"] == expected
    assert trainer.train_dataset.column_names == ["input_ids"]


def test_pretraining_tokenizes_images_once(processor):
    """An image column of PIL images is turned into image token ids by the processor's VQ model."""
    images = [Image.new("RGB", (16, 16), color) for color in ("red", "blue")]
    dataset = datasets.Dataset.from_dict({"text": ["a red square", "a blue square"], "image": images})
    trainer, _ = build_pretraining_trainer(
        ModelArguments(config_name="cm3leon-350m", config_overrides=TINY_OVERRIDES),
        DataArguments(),
        CM3Arguments(block_size=64, packing=False),
        RetrievalArguments(),
        training_arguments("unused"),
        processor=processor,
        train_dataset=dataset,
    )
    image_ids = processor.image_processor.images_to_token_ids(images).tolist()
    for row, ids in zip(trainer.train_dataset["input_ids"], image_ids):
        assert row[-len(ids) - 1 : -1] == ids


def test_loss_falls(processor, tmp_path):
    model_args = ModelArguments(config_name="cm3leon-350m", config_overrides=TINY_OVERRIDES)
    trainer, _ = build_pretraining_trainer(
        model_args,
        DataArguments(),
        CM3Arguments(block_size=64),
        RetrievalArguments(),
        training_arguments(tmp_path, max_steps=80, learning_rate=5e-3, warmup_steps=2),
        processor=processor,
        train_dataset=make_documents(processor),
    )
    trainer.train()
    curve = list(losses(trainer).values())
    first, last = sum(curve[:3]) / 3, sum(curve[-3:]) / 3
    assert first > 5.0  # ~ln(300) at random init
    assert last < 0.6 * first, curve


class StopAtStep(TrainerCallback):
    """Simulates a run killed right after its checkpoint at `step`."""

    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            control.should_save = True
            control.should_training_stop = True


def test_resume_continues_the_same_loss_curve(processor, tmp_path):
    """N steps uninterrupted vs. killed at k then resumed from checkpoint-k: the same losses after k (CM3 masks,
    data order and weights all restored)."""
    documents = make_documents(processor)
    model_args = ModelArguments(config_name="cm3leon-350m", config_overrides=TINY_OVERRIDES)

    def trainer_for(output_dir, callbacks=()):
        args = training_arguments(output_dir, max_steps=6, save_strategy="steps", save_steps=3, learning_rate=5e-3)
        trainer, _ = build_pretraining_trainer(
            model_args,
            DataArguments(),
            CM3Arguments(block_size=32),
            RetrievalArguments(),
            args,
            processor=processor,
            train_dataset=documents,
            callbacks=list(callbacks),
        )
        return trainer

    uninterrupted = trainer_for(tmp_path / "full")
    uninterrupted.train()
    killed = trainer_for(tmp_path / "killed", [StopAtStep(3)])
    killed.train()
    assert sorted(losses(killed)) == [1, 2, 3]
    resumed = trainer_for(tmp_path / "killed")
    resumed.train(resume_from_checkpoint=str(tmp_path / "killed" / "checkpoint-3"))

    full, after = losses(uninterrupted), losses(resumed)
    assert sorted(after) == [1, 2, 3, 4, 5, 6]  # steps 1-3 come from the checkpoint's trainer state
    for step in (1, 2, 3, 4, 5, 6):
        assert after[step] == pytest.approx(full[step], abs=1e-5), (step, after, full)
    for name, weight in uninterrupted.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[name], weight, atol=1e-5, rtol=0)


# -- bad input ---------------------------------------------------------------------------------------------------------
def test_bad_rows_raise_or_are_counted(processor, tmp_path):
    good = Image.new("RGB", (16, 16), "red")
    buffer = io.BytesIO()
    good.save(buffer, format="PNG")
    rows = {
        "text": ["a red square", None, "a corrupt image", "a red square again"],
        "image": [
            {"bytes": buffer.getvalue(), "path": None},
            {"bytes": buffer.getvalue(), "path": None},
            {"bytes": b"not a png", "path": None},
            {"bytes": buffer.getvalue(), "path": None},
        ],
    }
    dataset = datasets.Dataset.from_dict(
        rows, features=datasets.Features(text=datasets.Value("string"), image=datasets.Image())
    )
    model_args = ModelArguments(config_name="cm3leon-350m", config_overrides=TINY_OVERRIDES)
    with pytest.raises(ValueError, match=r"row 2, column 'image': the image failed to decode"):
        build_pretraining_trainer(
            model_args, DataArguments(), CM3Arguments(block_size=64), RetrievalArguments(),
            training_arguments(tmp_path), processor=processor, train_dataset=dataset,
        )  # fmt: skip
    trainer, report = build_pretraining_trainer(
        model_args, DataArguments(), CM3Arguments(block_size=64, packing=False, on_error="skip"), RetrievalArguments(),
        training_arguments(tmp_path), processor=processor, train_dataset=dataset,
    )  # fmt: skip
    assert len(trainer.train_dataset) == 2
    assert report.metrics["data_skipped_rows"] == 2
    assert report.metrics["data_skipped_image_pretokenization_bad_image"] == 1
    assert report.metrics["data_skipped_document_building_bad_document"] == 1

    # Without packing, a document longer than the block raises or is skipped.
    long_documents = make_documents(processor, 3)
    with pytest.raises(ValueError, match="longer than block_size=20"):
        build_pretraining_trainer(
            model_args, DataArguments(), CM3Arguments(block_size=20, packing=False), RetrievalArguments(),
            training_arguments(tmp_path), processor=processor, train_dataset=long_documents,
        )  # fmt: skip


# -- SFT through the command line ---------------------------------------------------------------------------------------
def test_sft_recipe_from_the_command_line(processor, tmp_path):
    """`cm3leon train sft --config sft.yaml`: two tasks from jsonl files, mixed, LoRA, loss on the output only."""
    layout = special_token_ids(processor.tokenizer)
    config = CM3LeonConfig.from_preset(
        "cm3leon-350m", **TINY_OVERRIDES, **layout, image_seq_length=processor.image_processor.image_seq_length
    )
    model = CM3LeonForCausalLM(config)
    model.save_pretrained(tmp_path / "base")
    processor.save_pretrained(tmp_path / "base")
    image = list(range(4, 20))
    with open(tmp_path / "vqa.jsonl", "w") as handle:
        for colour in ("red", "green", "blue", "white") * 3:
            handle.write(json.dumps({"question": "what colour?", "answer": colour, "image_token_ids": image}) + "\n")
    with open(tmp_path / "captions.jsonl", "w") as handle:
        for colour in ("red", "green"):
            handle.write(json.dumps({"text": f"a {colour} square", "image_token_ids": image}) + "\n")
        handle.write(json.dumps({"text": None, "image_token_ids": image}) + "\n")  # missing field: skipped, counted
    recipe = {
        "model_name_or_path": str(tmp_path / "base"),
        "tasks": [
            {"name": "vqa", "template": "vqa", "train_file": str(tmp_path / "vqa.jsonl")},
            {"name": "captions", "template": "captioning", "train_file": str(tmp_path / "captions.jsonl"),
             "field_map": {"caption": "text"}, "weight": 2.0},
        ],
        "loss_on": "output",
        "block_size": 96,
        "on_error": "skip",
        "use_lora": True,
        "lora_r": 4,
        "output_dir": str(tmp_path / "sft"),
        "per_device_train_batch_size": 2,
        "max_steps": 2,
        "save_strategy": "no",
        "report_to": "none",
        "use_cpu": True,
        "disable_tqdm": True,
    }  # fmt: skip
    (tmp_path / "sft.yaml").write_text(yaml.safe_dump(recipe))
    metrics = run_recipe("sft", ["--config", str(tmp_path / "sft.yaml"), "--learning_rate", "1e-3"])

    assert metrics["data_examples_vqa"] == 12 and metrics["data_examples_captions"] == 2
    assert metrics["data_skipped_rows"] == 1
    assert metrics["data_skipped_task_captions_captioning_field_caption"] == 1
    assert metrics["data_examples"] == 14  # the mix has as many examples as the tasks together
    assert (tmp_path / "sft" / "adapter_config.json").is_file()  # LoRA: the adapter is saved
    assert json.loads((tmp_path / "sft" / "adapter_config.json").read_text())["r"] == 4


def test_recipe_help_lists_the_arguments(capsys):
    assert run_recipe("pretrain", ["--help"]) == {}
    text = capsys.readouterr().out
    for name in ("--config_name", "--block_size", "--cm3_poisson_lambda", "--retriever_name_or_path", "--max_steps"):
        assert name in text
    with pytest.raises(ValueError, match="Unknown recipe"):
        run_recipe("finetune", [])


def test_add_train_parser_passes_recipe_arguments_through():
    import argparse

    from transformers_cm3leon.training import add_train_parser

    parser = argparse.ArgumentParser(prog="cm3leon")
    add_train_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["train", "vq", "--config", "vq.yaml", "--max_steps", "3"])
    assert args.recipe == "vq" and args.recipe_arguments == ["--config", "vq.yaml", "--max_steps", "3"]
    assert callable(args.func)


def test_pretraining_from_files_with_the_command_line(processor, tmp_path):
    """`cm3leon train pretrain --config ...` on a jsonl file of captions and image files (the README's example)."""
    processor.save_pretrained(tmp_path / "processor")
    os.makedirs(tmp_path / "images")
    with open(tmp_path / "documents.jsonl", "w") as handle:
        for i, colour in enumerate(["red", "green", "blue", "white"] * 2):
            path = tmp_path / "images" / f"{i}.png"
            Image.new("RGB", (16, 16), colour).save(path)
            handle.write(json.dumps({"text": f"a {colour} square", "image": str(path)}) + "\n")
    config = {
        "config_name": "cm3leon-350m",
        "config_overrides": TINY_OVERRIDES,
        "processor_name_or_path": str(tmp_path / "processor"),
        "train_file": str(tmp_path / "documents.jsonl"),
        "block_size": 32,
        "output_dir": str(tmp_path / "run"),
        "max_steps": 2,
        "per_device_train_batch_size": 2,
        "report_to": "none",
        "use_cpu": True,
        "save_strategy": "no",
        "disable_tqdm": True,
    }
    (tmp_path / "pretrain.yaml").write_text(yaml.safe_dump(config))
    metrics = run_recipe("pretrain", ["--config", str(tmp_path / "pretrain.yaml")])
    assert metrics["data_documents"] == 8 and metrics["train_blocks"] == metrics["data_blocks"] > 0
    assert (tmp_path / "run" / "model.safetensors").is_file()
    shutil.rmtree(tmp_path / "run")


class FakeRetriever:
    """Returns the same scored candidates for every query (attributes as `CM3LeonRetriever.retrieve` returns)."""

    def __init__(self, candidates):
        self.candidates = candidates

    def retrieve(self, texts, images=None, k=2):
        return [self.candidates[:k] for _ in texts]


def test_retrieval_augmented_pretraining(processor):
    """With a retriever, each example is `</s> ret_text <break> ret_image <break> query_text <break> query_image </s>`,
    after dropping candidates above the relevance cap."""
    from types import SimpleNamespace

    offset = processor.image_processor.image_token_offset
    near_copy = SimpleNamespace(text="a near copy", image_token_ids=[offset] * 16, score=0.95)
    neighbour = SimpleNamespace(text="a neighbour", image_token_ids=[offset + 1] * 16, score=0.5)
    documents = make_documents(processor, 2)
    trainer, report = build_pretraining_trainer(
        ModelArguments(config_name="cm3leon-350m", config_overrides=TINY_OVERRIDES),
        DataArguments(),
        CM3Arguments(block_size=128, packing=False),
        RetrievalArguments(num_retrieved=1, num_retrieval_candidates=2, query_dropout=0.0),
        training_arguments("unused"),
        processor=processor,
        train_dataset=documents,
        retriever=FakeRetriever([near_copy, neighbour]),
    )
    config, tokenize = trainer.model.config, processor.tokenizer
    eos, brk = config.eos_token_id, config.break_token_id
    for row, document in zip(trainer.train_dataset["input_ids"], documents):
        ret_text = tokenize("a neighbour", add_special_tokens=False)["input_ids"]
        query_text = tokenize(document["text"], add_special_tokens=False)["input_ids"]
        expected = [eos, *ret_text, brk, *neighbour.image_token_ids, brk, *query_text, brk, *document["image"], eos]
        assert row == expected
    assert report.metrics["data_retrieval_dropped_above_max_relevance"] == 2


def test_resumable_collator_masks_depend_on_seed_epoch_and_tokens(processor):
    from transformers_cm3leon.training.recipe_utils import ResumableCM3Collator

    config = CM3LeonConfig(**special_token_ids(processor.tokenizer), **TINY_OVERRIDES)
    rows = [{"input_ids": list(range(100, 164))}, {"input_ids": list(range(200, 264))}]
    collator = ResumableCM3Collator(config, seed=0, poisson_lambda=4.0)
    first = collator(rows)["input_ids"]
    assert torch.equal(collator(rows)["input_ids"], first)  # same batch, same masks (no hidden generator state)
    assert torch.equal(ResumableCM3Collator(config, seed=0, poisson_lambda=4.0)(rows)["input_ids"], first)
    assert not torch.equal(ResumableCM3Collator(config, seed=1, poisson_lambda=4.0)(rows)["input_ids"], first)
    collator.epoch = 1
    assert not torch.equal(collator(rows)["input_ids"], first)  # a new epoch draws new masks


def test_sft_loss_on_output_only(processor):
    """`loss_on="output"`: labels are -100 on the instruction and the image, the answer (and its closing `</s>`) keep
    their ids; `loss_on="all"` (the paper) leaves the labels to the collator: loss on every token."""
    from transformers_cm3leon.training import LoraArguments, SFTArguments, SFTTaskArguments, build_sft_trainer

    layout = special_token_ids(processor.tokenizer)
    config = CM3LeonConfig.from_preset(
        "cm3leon-350m", **TINY_OVERRIDES, **layout, image_seq_length=processor.image_processor.image_seq_length
    )
    image = list(range(4, 20))
    rows = datasets.Dataset.from_list([{"question": "what colour?", "answer": "red", "image_token_ids": image}])
    task = SFTTaskArguments(name="vqa", template="vqa_answer", dataset=rows)
    for loss_on in ("output", "all"):
        trainer, _ = build_sft_trainer(
            ModelArguments(), SFTArguments(loss_on=loss_on), CM3Arguments(block_size=128, objective="causal"),
            LoraArguments(), training_arguments("unused"), [task], model=CM3LeonForCausalLM(config),
            processor=processor,
        )  # fmt: skip
        example = trainer.train_dataset[0]
        tokenize = processor.tokenizer
        prompt = tokenize("Question: what colour? Answer:", add_special_tokens=False)["input_ids"]
        answer = tokenize(" red.", add_special_tokens=False)["input_ids"]
        expected = [2, *prompt, *answer, config.break_token_id, *image, 2]
        assert example["input_ids"] == expected
        batch = trainer.data_collator([example])
        if loss_on == "all":
            assert "labels" not in example and batch["labels"][0].tolist() == expected
        else:
            # The answer's segment ends at the break after it, which closes the output.
            keep = [1 + len(prompt) + i for i in range(len(answer) + 1)]
            assert example["labels"] == [t if i in keep else -100 for i, t in enumerate(expected)]
            assert batch["labels"][0].tolist() == example["labels"]


def test_merging_lora_under_fsdp_is_refused(processor):
    """Merging needs the whole model in one process; under FSDP the recipe says so before training."""
    from transformers_cm3leon.training import LoraArguments, SFTArguments, build_sft_trainer

    args = training_arguments("unused", fsdp=True)
    with pytest.raises(ValueError, match=r"`merge_lora`=True with `fsdp`=True: merging needs the whole model"):
        build_sft_trainer(
            ModelArguments(), SFTArguments(), CM3Arguments(), LoraArguments(use_lora=True, merge_lora=True), args, [],
            processor=processor,
        )  # fmt: skip


def test_an_fsdp_request_that_accelerate_drops_is_an_error():
    from types import SimpleNamespace

    from transformers_cm3leon.training.recipe_utils import check_fsdp_enabled

    trainer = SimpleNamespace(
        args=SimpleNamespace(fsdp=[True]),
        is_fsdp_enabled=False,
        accelerator=SimpleNamespace(distributed_type="DistributedType.MULTI_CPU"),
    )
    with pytest.raises(ValueError, match="`fsdp`=.*MULTI_CPU without FSDP"):
        check_fsdp_enabled(trainer)
    check_fsdp_enabled(SimpleNamespace(args=SimpleNamespace(fsdp=[]), is_fsdp_enabled=False))  # DDP: no error
