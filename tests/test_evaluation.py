# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Tests of the evaluation recipes (transformers_cm3leon.evaluation): text-to-image FID / CLIPScore, captioning CIDEr,
VQA accuracy, end to end on a few examples with tiny random models; resuming; the results JSON; bad input."""

import argparse
import dataclasses
import json
import os
import string

import numpy as np
import PIL.Image
import pytest
import torch
from transformers import CLIPConfig, CLIPModel, CLIPProcessor, CLIPTokenizer
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

from transformers_cm3leon.evaluation import (
    CaptioningEvalConfig,
    ImageStore,
    RandomConvFeatureExtractor,
    RecordLog,
    TextToImageEvalConfig,
    VQAEvalConfig,
    add_eval_parser,
    center_crop_lanczos,
    check_run_settings,
    prompt_seed,
    run_captioning_eval,
    run_text_to_image_eval,
    run_vqa_eval,
)
from transformers_cm3leon.evaluation.image_store import INDEX_FILE
from transformers_cm3leon.evaluation.image_to_text import PREDICTIONS_FILE
from transformers_cm3leon.metrics import FID, INCEPTION_WEIGHTS_ENV, CIDEr, CLIPScore, VQAAccuracy
from transformers_cm3leon.pipelines import register_pipelines

SIZE = 16  # the tiny model draws 16x16 images of 16 image tokens
PROMPTS = ["a red circle", "a blue square", "a handwritten digit seven", "the number three"]
CAPTIONS = [
    ["a red circle on a white background", "a red disc"],
    ["a blue square in the corner", "a small blue square"],
    ["a green triangle", "a triangle drawn in green"],
]
QUESTIONS = ["what colour is the circle?", "what shape is it?", "is it green?"]
ANSWERS = [["red"] * 6 + ["orange"] * 4, ["square"] * 3 + ["box"] * 7, ["yes"] * 10]


@pytest.fixture(scope="module", autouse=True)
def registered():
    register_pipelines()


@pytest.fixture(scope="module")
def tiny_clip():
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for letter in string.ascii_lowercase:
        vocab[letter] = len(vocab)
        vocab[letter + "</w>"] = len(vocab)
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[])
    image_processor = CLIPImageProcessorPil(size={"shortest_edge": SIZE}, crop_size={"height": SIZE, "width": SIZE})
    processor = CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer)
    text_config = dict(vocab_size=len(vocab), hidden_size=16, intermediate_size=32, num_hidden_layers=1)
    text_config.update(
        num_attention_heads=2, max_position_embeddings=64, bos_token_id=0, eos_token_id=1, pad_token_id=1
    )
    vision_config = dict(image_size=SIZE, patch_size=4, hidden_size=16, intermediate_size=32, num_hidden_layers=1)
    vision_config.update(num_attention_heads=2)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = CLIPModel(CLIPConfig(text_config=text_config, vision_config=vision_config, projection_dim=8)).eval()
    return model, processor


@pytest.fixture(scope="module")
def clip_folder(tiny_clip, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-clip")
    tiny_clip[0].save_pretrained(folder)
    tiny_clip[1].save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def prompts_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("prompts") / "captions.csv"
    # Quoting as in the COCO caption file: a caption may hold commas.
    path.write_text("Prompt\n" + "\n".join(f'"{prompt}"' for prompt in PROMPTS) + "\n", encoding="utf-8")
    return str(path)


def random_images(count: int, seed: int = 0) -> list[PIL.Image.Image]:
    """Random RGB images of different, non-square sizes."""
    rng = np.random.default_rng(seed)
    return [PIL.Image.fromarray(rng.integers(0, 256, (20 + 3 * i, 24, 3), dtype=np.uint8)) for i in range(count)]


@pytest.fixture(scope="module")
def reference_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reference")
    (folder / "nested").mkdir()
    for index, image in enumerate(random_images(5, seed=1)):
        image.save(folder / ("nested" if index == 4 else "") / f"COCO_val2014_{index:012d}.jpg", quality=95)
    (folder / "annotations.txt").write_text("not an image")
    return str(folder)


def image_config(tmp_path, prompts_csv, **kwargs) -> TextToImageEvalConfig:
    settings = dict(
        prompts=prompts_csv,
        output_dir=str(tmp_path / "run"),
        batch_size=2,
        eval_resolution=SIZE,
        progress_bar=False,
        device="cpu",
        num_workers=1,
    )
    return TextToImageEvalConfig(**{**settings, **kwargs})


def count_calls(monkeypatch, owner, name: str, fail_on_call: int | None = None) -> list:
    """Record the calls of `owner.name`; with `fail_on_call=k`, the k-th call (from 1) raises, as a crash would."""
    calls, original = [], getattr(owner, name)

    def spy(*args, **kwargs):
        calls.append(kwargs)
        if len(calls) == fail_on_call:
            raise KeyboardInterrupt("simulated interruption")
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, spy)
    return calls


def stored_images(directory: str) -> list[np.ndarray]:
    records = RecordLog(os.path.join(directory, INDEX_FILE)).read()
    return [np.array(PIL.Image.open(os.path.join(directory, records[i]["file"]))) for i in sorted(records)]


def fid_by_hand(generated, reference_dir, resolution=SIZE) -> float:
    references = []
    for root, _, files in sorted(os.walk(reference_dir)):
        references += [os.path.join(root, name) for name in files if name.endswith(".jpg")]
    real = [center_crop_lanczos(PIL.Image.open(path), resolution) for path in sorted(references)]
    fake = [center_crop_lanczos(PIL.Image.fromarray(image), resolution) for image in generated]
    return FID(feature_extractor=RandomConvFeatureExtractor()).compute(predictions=fake, references=real)["fid"]


# -- text-to-image -----------------------------------------------------------------------------------------------------


def test_text_to_image_end_to_end(text_to_image, model_folder, prompts_csv, reference_dir, tmp_path):
    config = image_config(
        tmp_path, prompts_csv, model=model_folder, reference_dir=reference_dir, fid_feature_extractor="random-conv"
    )
    results = run_text_to_image_eval(config)

    # Image i is what the pipeline draws for prompt i with a generator seeded from (seed, i), whatever the batching.
    images = stored_images(config.output_dir)
    for index, prompt in enumerate(PROMPTS):
        generator = torch.Generator().manual_seed(prompt_seed(0, index))
        (expected,) = text_to_image(prompt, generator=generator).images
        np.testing.assert_array_equal(images[index], np.array(expected))
    assert len({image.tobytes() for image in images}) == len(PROMPTS)

    # FID: the reference images (found recursively, other files skipped) and the generated ones, both resized.
    assert results["metrics"]["fid"] == pytest.approx(fid_by_hand(images, reference_dir), rel=1e-6)
    assert results["metrics"]["fid_num_generated"] == 4 and results["metrics"]["fid_num_real"] == 5
    assert results["metrics"]["fid_feature_extractor"] == "RandomConvFeatureExtractor"
    assert results["counts"] == {
        "prompts": 4,
        "images": 4,
        "generated_this_run": 4,
        "reused_from_earlier_runs": 0,
        "samples_per_image": 1,
        "reference_images": 5,
    }
    # The results JSON on disk is what the run returned, and holds every setting.
    with open(os.path.join(config.output_dir, "results.json")) as file:
        assert json.load(file) == results
    assert results["settings"] == {**dataclasses.asdict(config), "device": "cpu"}
    assert results["models"]["model"] == model_folder
    assert results["protocol"]["resize"]["name"] == "center-crop-lanczos"
    assert results["protocol"]["resize"]["resolution"] == SIZE
    assert results["protocol"]["fid_comparable_with_published"] is False
    assert any("NOT comparable" in note for note in results["protocol"]["notes"])
    assert results["versions"]["torchmetrics"] and results["versions"]["transformers-cm3leon"]
    assert {"setup_s", "generation_s", "fid_s", "total_s", "seconds_per_image"} <= set(results["timings"])


def test_interrupted_run_resumes_without_redrawing_and_ends_as_an_uninterrupted_run(
    text_to_image, prompts_csv, reference_dir, tmp_path, monkeypatch
):
    settings = dict(reference_dir=reference_dir, fid_feature_extractor="random-conv")
    uninterrupted = run_text_to_image_eval(
        image_config(tmp_path / "a", prompts_csv, **settings), pipeline=text_to_image
    )

    config = image_config(tmp_path / "b", prompts_csv, **settings)
    calls = count_calls(monkeypatch, text_to_image.model, "generate_images", fail_on_call=2)
    with pytest.raises(KeyboardInterrupt):
        run_text_to_image_eval(config, pipeline=text_to_image)
    # The first batch (2 images) was kept; the interrupted one left nothing behind in the index.
    assert sorted(RecordLog(os.path.join(config.output_dir, INDEX_FILE)).read()) == [0, 1]
    kept = [os.path.join(config.output_dir, "images", f"{i:06d}.png") for i in (0, 1)]
    mtimes = [os.stat(path).st_mtime_ns for path in kept]

    calls.clear()
    resumed = run_text_to_image_eval(config, pipeline=text_to_image)
    assert len(calls) == 1  # only the second batch was drawn
    assert [os.stat(path).st_mtime_ns for path in kept] == mtimes
    assert resumed["counts"]["generated_this_run"] == 2 and resumed["counts"]["reused_from_earlier_runs"] == 2
    assert resumed["metrics"] == uninterrupted["metrics"]
    for image, expected in zip(stored_images(config.output_dir), stored_images(str(tmp_path / "a" / "run"))):
        np.testing.assert_array_equal(image, expected)

    # Once complete, running again draws nothing and gives the same results.
    calls.clear()
    again = run_text_to_image_eval(config, pipeline=text_to_image)
    assert calls == [] and again["metrics"] == uninterrupted["metrics"]


def test_a_torn_index_line_is_ignored_and_its_image_redrawn(text_to_image, prompts_csv, tmp_path, monkeypatch):
    config = image_config(tmp_path, prompts_csv, num_prompts=2, batch_size=1)
    run_text_to_image_eval(config, pipeline=text_to_image)
    expected = stored_images(config.output_dir)
    index_path = os.path.join(config.output_dir, INDEX_FILE)
    with open(index_path) as file:
        first, second = file.readlines()
    with open(index_path, "w") as file:  # a kill in the middle of writing the second line
        file.write(first + second[:20])

    calls = count_calls(monkeypatch, text_to_image.model, "generate_images")
    results = run_text_to_image_eval(config, pipeline=text_to_image)
    assert len(calls) == 1 and results["counts"]["generated_this_run"] == 1
    with open(index_path) as file:  # the torn line was cut off before appending
        lines = [json.loads(line) for line in file]
    assert [{**record, "seconds": 0} for record in lines] == [
        {**json.loads(line), "seconds": 0} for line in (first, second)
    ]
    for image, before in zip(stored_images(config.output_dir), expected):
        np.testing.assert_array_equal(image, before)


def test_more_prompts_reuse_the_images_of_fewer(text_to_image, prompts_csv, tmp_path, monkeypatch):
    run_text_to_image_eval(image_config(tmp_path, prompts_csv, num_prompts=2), pipeline=text_to_image)
    calls = count_calls(monkeypatch, text_to_image.model, "generate_images")
    results = run_text_to_image_eval(image_config(tmp_path, prompts_csv, num_prompts=4), pipeline=text_to_image)
    assert len(calls) == 1 and results["counts"]["reused_from_earlier_runs"] == 2
    assert results["metrics"] == {}  # no reference_dir, no clip_score_model: images only


def test_resuming_with_other_settings_or_prompts_is_refused(text_to_image, prompts_csv, tmp_path, monkeypatch):
    run_text_to_image_eval(image_config(tmp_path, prompts_csv, num_prompts=2), pipeline=text_to_image)
    calls = count_calls(monkeypatch, text_to_image.model, "generate_images")
    with pytest.raises(
        ValueError, match=r"other settings \(guidance_scale: 3.0 there, 2.0 now; seed: 0 there, 1 now\)"
    ):
        run_text_to_image_eval(
            image_config(tmp_path, prompts_csv, num_prompts=2, guidance_scale=2.0, seed=1), pipeline=text_to_image
        )
    changed = tmp_path / "changed.csv"
    changed.write_text("Prompt\na red circle\na green square\n")
    with pytest.raises(ValueError, match=r"prompt 1 of .* is 'a green square': the prompts changed"):
        run_text_to_image_eval(image_config(tmp_path, str(changed)), pipeline=text_to_image)
    assert calls == []


def test_a_run_that_finished_nothing_does_not_bind_its_directory(text_to_image, prompts_csv, tmp_path):
    # top_k=33 is only checked by generate_images (the tiny image vocabulary has 32 codes), at the first batch.
    with pytest.raises(ValueError, match=r"`top_k` must be an integer in \[1, 32\], got int 33"):
        run_text_to_image_eval(image_config(tmp_path, prompts_csv, num_prompts=2, top_k=33), pipeline=text_to_image)
    results = run_text_to_image_eval(
        image_config(tmp_path, prompts_csv, num_prompts=2, top_k=8), pipeline=text_to_image
    )
    assert results["counts"]["generated_this_run"] == 2


def test_best_of_n_retrieval_and_clip_score(
    text_to_image, model_folder, clip_folder, tiny_clip, prompts_csv, tmp_path, monkeypatch
):
    pytest.importorskip("faiss", reason="the retriever's default index needs faiss")
    from transformers_cm3leon.retrieval import CM3LeonRetrievalEncoder, CM3LeonRetriever, CM3LeonRetrieverConfig

    # A retriever over 3 documents (caption + image tokens), with the tiny CLIP as its encoder, saved to a folder.
    processor = text_to_image.processor
    document_images = random_images(3, seed=2)
    retriever = CM3LeonRetriever(
        CM3LeonRetrieverConfig(encoder_name_or_path=None, embedding_dim=8),
        encoder=CM3LeonRetrievalEncoder(
            tiny_clip[0], tokenizer=tiny_clip[1].tokenizer, image_processor=tiny_clip[1].image_processor
        ),
    )
    retriever.add_documents(
        texts=["a red disc", "a green triangle", "a blue box"],
        images=document_images,
        image_token_ids=processor.encode_images(document_images),
        show_progress=False,
    )
    retriever.save_pretrained(tmp_path / "retriever")

    config = image_config(
        tmp_path,
        prompts_csv,
        model=model_folder,
        num_samples=2,
        rerank_model=clip_folder,
        retriever=str(tmp_path / "retriever"),
        num_retrieved_docs=1,
        clip_score_model=clip_folder,
        clip_score_prefix="a photo depicts ",
        top_k=8,
    )
    retrieved = count_calls(monkeypatch, CM3LeonRetriever, "retrieve")
    results = run_text_to_image_eval(config)
    assert [call["k"] for call in retrieved] == [1, 1]  # one call per batch of 2 prompts

    # The same images as the pipeline's best-of-2 with 1 retrieved document, prompt by prompt.
    loaded = CM3LeonRetriever.from_pretrained(tmp_path / "retriever")
    images = stored_images(config.output_dir)
    for index, prompt in enumerate(PROMPTS):
        (expected,) = text_to_image(
            prompt,
            generator=[torch.Generator().manual_seed(prompt_seed(0, index))],
            rerank=2,
            clip_model=tiny_clip[0],
            clip_processor=tiny_clip[1],
            retriever=loaded,
            num_retrieved_docs=1,
            top_k=8,
        ).images
        np.testing.assert_array_equal(images[index], np.array(expected))

    clip_score = CLIPScore(model=tiny_clip[0], processor=tiny_clip[1]).compute(
        predictions=[PIL.Image.fromarray(image) for image in images],
        references=["a photo depicts " + prompt for prompt in PROMPTS],
    )
    assert results["metrics"]["clip_score"] == pytest.approx(clip_score["clip_score"], abs=1e-4)
    assert results["metrics"]["clip_mean_cosine"] == pytest.approx(clip_score["mean_cosine"], abs=1e-6)
    assert results["models"]["rerank_model"] == clip_folder
    assert results["models"]["retriever"] == str(tmp_path / "retriever")
    with open(os.path.join(config.output_dir, "settings.json")) as file:
        saved = json.load(file)
    assert saved["num_samples"] == 2 and saved["num_retrieved_docs"] == 1 and saved["rerank_model"] == clip_folder


# -- captioning and VQA ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_model(model_folder):
    from transformers import AutoModelForCausalLM, AutoProcessor

    return AutoModelForCausalLM.from_pretrained(model_folder).eval(), AutoProcessor.from_pretrained(model_folder)


@pytest.fixture(scope="module")
def examples_jsonl(tmp_path_factory):
    """A .jsonl file of 3 examples with images beside it, for both recipes (VQAv2-style answer dicts)."""
    folder = tmp_path_factory.mktemp("examples")
    (folder / "images").mkdir()
    lines = []
    for index, image in enumerate(random_images(3, seed=3)):
        image.save(folder / "images" / f"{index}.png")
        answers = [{"answer": answer, "answer_id": i} for i, answer in enumerate(ANSWERS[index])]
        example = {"image": f"images/{index}.png", "references": CAPTIONS[index], "question": QUESTIONS[index]}
        lines.append(json.dumps({**example, "answers": answers}))
    (folder / "examples.jsonl").write_text("\n".join(lines) + "\n")
    return str(folder / "examples.jsonl")


def expected_texts(model, processor, prompts: list[list[int]], max_new_tokens: int) -> list[str]:
    """Texts generated one example at a time (no padding)."""
    texts = []
    for prompt in prompts:
        input_ids = torch.tensor([prompt])
        output = model.generate_text(input_ids, max_new_tokens=max_new_tokens, do_sample=False)
        texts.append(processor.tokenizer.decode(output[0, input_ids.shape[1] :], skip_special_tokens=True).strip())
    return texts


def test_captioning_end_to_end(tiny_model, model_folder, examples_jsonl, tmp_path):
    model, processor = tiny_model
    config = CaptioningEvalConfig(
        model=model_folder,
        data=examples_jsonl,
        output_dir=str(tmp_path),
        batch_size=2,
        device="cpu",
        max_new_tokens=8,
        progress_bar=False,
    )
    results = run_captioning_eval(config)

    images = [PIL.Image.open(os.path.join(os.path.dirname(examples_jsonl), f"images/{i}.png")) for i in range(3)]
    captions = expected_texts(model, processor, [processor.captioning_prompt(image) for image in images], 8)
    predictions = RecordLog(tmp_path / PREDICTIONS_FILE).read()
    assert [predictions[i]["prediction"] for i in range(3)] == captions  # batched (left-padded) = one by one
    assert any(captions)
    assert [predictions[i]["references"] for i in range(3)] == CAPTIONS
    assert results["metrics"] == {
        "cider": pytest.approx(CIDEr().compute(predictions=captions, references=CAPTIONS)["cider"])
    }
    assert results["task"] == "captioning" and results["counts"]["examples"] == 3
    assert results["settings"] == {**dataclasses.asdict(config), "device": "cpu"}
    assert "infilling" in results["protocol"]["prompt"] and results["protocol"]["decoding"] == "greedy"
    with open(tmp_path / "results.json") as file:
        assert json.load(file) == results


def test_vqa_end_to_end(tiny_model, examples_jsonl, tmp_path):
    model, processor = tiny_model
    config = VQAEvalConfig(data=examples_jsonl, output_dir=str(tmp_path), batch_size=3, progress_bar=False)
    results = run_vqa_eval(config, model=model, processor=processor)

    images = [PIL.Image.open(os.path.join(os.path.dirname(examples_jsonl), f"images/{i}.png")) for i in range(3)]
    prompts = [processor.vqa_prompt(image, question) for image, question in zip(images, QUESTIONS)]
    answers = expected_texts(model, processor, prompts, config.max_new_tokens)
    predictions = RecordLog(tmp_path / PREDICTIONS_FILE).read()
    assert [predictions[i]["prediction"] for i in range(3)] == answers
    assert [predictions[i]["question"] for i in range(3)] == QUESTIONS
    assert [predictions[i]["references"] for i in range(3)] == ANSWERS  # VQAv2's {"answer": ...} dicts read
    expected = VQAAccuracy().compute(predictions=answers, references=ANSWERS)["accuracy"]
    assert results["metrics"] == {"vqa_accuracy": pytest.approx(expected)}
    assert results["models"]["model_class"] == "CM3LeonForCausalLM"


def test_vqa_scores_known_answers(tiny_model, examples_jsonl, tmp_path, monkeypatch):
    # With the model's answers fixed, the recipe's accuracy is the official one: (0.9*... by hand below).
    model, processor = tiny_model
    fixed = iter(["Red.", "box", "no"])

    def generate_text(input_ids, attention_mask, **kwargs):
        answer = processor.tokenizer(next(fixed), add_special_tokens=False)["input_ids"]
        return torch.cat([input_ids, torch.tensor([answer])], dim=1)

    monkeypatch.setattr(model, "generate_text", generate_text)
    config = VQAEvalConfig(data=examples_jsonl, output_dir=str(tmp_path), batch_size=1, progress_bar=False)
    results = run_vqa_eval(config, model=model, processor=processor)
    # "Red." -> "red": 6 of 10 humans -> 1.0; "box": 7 of 10 -> 1.0; "no": 0 of 10 -> 0.
    assert results["metrics"]["vqa_accuracy"] == pytest.approx(2 / 3)


def test_interrupted_captioning_resumes_without_regenerating(tiny_model, examples_jsonl, tmp_path, monkeypatch):
    model, processor = tiny_model
    settings = dict(data=examples_jsonl, batch_size=1, max_new_tokens=6, progress_bar=False)
    uninterrupted = run_captioning_eval(
        CaptioningEvalConfig(output_dir=str(tmp_path / "a"), **settings), model=model, processor=processor
    )
    config = CaptioningEvalConfig(output_dir=str(tmp_path / "b"), **settings)
    calls = count_calls(monkeypatch, model, "generate_text", fail_on_call=3)
    with pytest.raises(KeyboardInterrupt):
        run_captioning_eval(config, model=model, processor=processor)
    assert sorted(RecordLog(tmp_path / "b" / PREDICTIONS_FILE).read()) == [0, 1]
    calls.clear()
    resumed = run_captioning_eval(config, model=model, processor=processor)
    assert len(calls) == 1
    assert resumed["metrics"] == uninterrupted["metrics"]
    assert resumed["counts"]["reused_from_earlier_runs"] == 2
    with pytest.raises(ValueError, match=r"other settings \(max_new_tokens: 6 there, 7 now\)"):
        run_captioning_eval(dataclasses.replace(config, max_new_tokens=7), model=model, processor=processor)


def test_captioning_from_a_dataset_and_a_saved_dataset_folder(tiny_model, tmp_path):
    from datasets import Dataset, DatasetDict

    model, processor = tiny_model
    dataset = Dataset.from_dict({"picture": random_images(3, seed=3), "captions": CAPTIONS})
    config = CaptioningEvalConfig(
        output_dir=str(tmp_path / "a"),
        image_column="picture",
        references_column="captions",
        max_new_tokens=4,
        progress_bar=False,
        prompt_mode="continuation",
    )
    from_object = run_captioning_eval(config, model=model, processor=processor, data=dataset)
    assert from_object["settings"]["data"] == "a Dataset of 3 examples"
    assert "follows the image" in from_object["protocol"]["prompt"]

    DatasetDict({"test": dataset}).save_to_disk(tmp_path / "saved")
    from_folder = run_captioning_eval(
        dataclasses.replace(config, output_dir=str(tmp_path / "b"), data=str(tmp_path / "saved"), split="test"),
        model=model,
        processor=processor,
    )
    assert from_folder["metrics"] == from_object["metrics"]


# -- the command line --------------------------------------------------------------------------------------------------


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="cm3leon")
    add_eval_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_command_line_runs_each_recipe(model_folder, prompts_csv, reference_dir, examples_jsonl, tmp_path, capsys):
    options = "--num-prompts 3 --fid-feature-extractor random-conv --eval-resolution 32 --batch-size 3 --device cpu"
    paths = ["--model", model_folder, "--prompts", prompts_csv, "--reference-dir", reference_dir]
    args = parse(
        ["eval", "text-to-image", *options.split(), "--no-progress-bar", *paths, "--output-dir", f"{tmp_path}/t2i"]
    )
    assert args.func(args) == 0
    with open(tmp_path / "t2i" / "results.json") as file:
        results = json.load(file)
    assert results["counts"]["prompts"] == 3 and results["settings"]["eval_resolution"] == 32
    assert results["settings"]["progress_bar"] is False and np.isfinite(results["metrics"]["fid"])
    assert '"fid":' in capsys.readouterr().out

    for recipe in ("captioning", "vqa"):
        paths = ["--model", model_folder, "--data", examples_jsonl, "--output-dir", f"{tmp_path}/{recipe}"]
        paths += ["--results-file", f"{tmp_path}/{recipe}.json"]
        args = parse(["eval", recipe, *paths, *"--max-new-tokens 4 --num-examples 2".split()])
        assert args.func(args) == 0
        with open(tmp_path / f"{recipe}.json") as file:
            assert json.load(file)["counts"]["examples"] == 2


def test_command_line_checks_its_options(capsys):
    with pytest.raises(SystemExit):
        parse(["eval", "text-to-image", "--output-dir", "x", "--model", "m"])  # --prompts is required
    assert "--prompts" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse(["eval", "text-to-image", "--output-dir", "x", "--model", "m", "--prompts", "p", "--dtype", "int8"])


# -- the pieces --------------------------------------------------------------------------------------------------------


def test_center_crop_lanczos_is_the_gigagan_protocol():
    image = PIL.Image.fromarray(np.random.default_rng(0).integers(0, 256, (20, 25, 3), dtype=np.uint8))
    # Centered square on the short side: torchvision's offsets int(round((25 - 20) / 2)) = 2 (round half to even).
    expected = image.crop((2, 0, 22, 20)).resize((8, 8), PIL.Image.Resampling.LANCZOS)
    np.testing.assert_array_equal(np.array(center_crop_lanczos(image, 8)), np.array(expected))
    square = image.crop((0, 0, 20, 20))
    np.testing.assert_array_equal(np.array(center_crop_lanczos(square, 20)), np.array(square))  # already there
    assert center_crop_lanczos(image.convert("L"), 8).mode == "RGB"


def test_prompt_seeds_depend_on_the_seed_and_index_only():
    seeds = [prompt_seed(0, index) for index in range(1000)]
    assert len(set(seeds)) == 1000 and seeds == [prompt_seed(0, index) for index in range(1000)]
    assert prompt_seed(1, 0) != prompt_seed(0, 0) and prompt_seed(0, 1) != prompt_seed(1, 0)
    assert prompt_seed(0, 0) == 15793235383387715774  # fixed forever: runs resume across versions


def test_record_log_and_settings(tmp_path):
    log = RecordLog(tmp_path / "log.jsonl")
    assert log.read() == {}
    log.append([{"index": 0, "x": "a"}, {"index": 1, "x": "b"}])
    with open(log.path, "a") as file:
        file.write('{"index": 2, "x"')  # torn
    assert log.read() == {0: {"index": 0, "x": "a"}, 1: {"index": 1, "x": "b"}}
    log.append([{"index": 2, "x": "c"}])
    assert sorted(log.read()) == [0, 1, 2]
    with pytest.raises(ValueError, match="integer `index`"):
        log.append([{"x": 1}])

    check_run_settings(tmp_path, {"a": 1, "b": (1, 2)})
    check_run_settings(tmp_path, {"a": 1, "b": [1, 2]})  # as JSON reads it back
    with pytest.raises(ValueError, match=r"\(a: 1 there, 2 now; c: '<unset>' there, 3 now\)"):
        check_run_settings(tmp_path, {"a": 2, "b": [1, 2], "c": 3})
    check_run_settings(tmp_path, {"a": 2}, has_outputs=False)  # nothing finished yet: the settings are replaced
    check_run_settings(tmp_path, {"a": 2})


def test_image_store_writes_png_then_index(tmp_path):
    store = ImageStore(tmp_path, settings={"seed": 0})
    images = random_images(2)
    store.add_batch(images, [{"index": 7, "prompt": "a"}, {"index": 3, "prompt": "b"}])
    assert 7 in store and 3 in store and len(store) == 2
    assert sorted(os.listdir(tmp_path / "images")) == ["000003.png", "000007.png"]  # no temporary file left
    reopened = ImageStore(tmp_path, settings={"seed": 0})
    np.testing.assert_array_equal(np.array(reopened.load(7)), np.array(images[0]))
    assert reopened.records[3] == {"index": 3, "prompt": "b", "file": os.path.join("images", "000003.png")}


# -- bad input ---------------------------------------------------------------------------------------------------------

# (config overrides, error, message): checked when the config is built.
BAD_CONFIGS = [
    (dict(num_samples=0), ValueError, r"`num_samples` must be a positive integer, got 0"),
    (dict(num_prompts=0), ValueError, r"`num_prompts` must be a positive integer or None, got 0"),
    (dict(num_retrieved_docs=-1), ValueError, r"`num_retrieved_docs` must be an integer >= 0, got -1"),
    (dict(batch_size=1.5), ValueError, r"`batch_size` must be a positive integer"),
    (dict(guidance_scale=float("nan")), ValueError, r"`guidance_scale` must be a finite number >= 0"),
    (dict(temperature=0), ValueError, r"`temperature` must be a finite number > 0"),
    (
        dict(decoding_strategy="beam"),
        ValueError,
        r"`decoding_strategy` must be one of \['sample', 'cd-k', 'mixture'\]",
    ),
    (dict(dtype="int8"), ValueError, r"`dtype` must be one of \['float32', 'bfloat16', 'float16'\]"),
    (dict(seed=-1), ValueError, r"`seed` must be an integer >= 0"),
    (dict(top_p=1.5), ValueError, r"`top_p` must be a number in \(0, 1\], got 1.5"),
    (dict(cd_alpha=0.5), ValueError, r"`cd_top_k` / `cd_alpha` set CD-K; use decoding_strategy='cd-k' or 'mixture'"),
    (dict(decoding_strategy="cd-k", top_p=0.9), ValueError, r"with decoding_strategy='cd-k' they are unused"),
    (dict(fid_feature_extractor="random-conv"), ValueError, r"`fid_feature_extractor` sets up FID, which needs"),
    (dict(num_reference_images=3), ValueError, r"`num_reference_images` sets up FID, which needs `reference_dir`"),
    (
        dict(reference_dir="ref", fid_feature_extractor="random-conv", inception_weights="w.pth"),
        ValueError,
        r"`inception_weights` are the weights of the 'inception' feature extractor",
    ),
    (dict(prompts=3), TypeError, r"`prompts` must be the path of a CSV file, got 3"),
]


@pytest.mark.parametrize("overrides, error, message", BAD_CONFIGS, ids=[str(case[0]) for case in BAD_CONFIGS])
def test_bad_settings_raise_clear_errors(overrides, error, message, tmp_path):
    with pytest.raises(error, match=message):
        TextToImageEvalConfig(**{"prompts": "p.csv", "output_dir": str(tmp_path), "model": "m", **overrides})


def test_bad_inputs_raise_before_anything_is_generated(
    text_to_image, model_folder, prompts_csv, reference_dir, tmp_path, monkeypatch
):
    calls = count_calls(monkeypatch, text_to_image.model, "generate_images")
    bad_column = tmp_path / "bad.csv"
    bad_column.write_text("caption\na cat\n")
    cases = [
        (dict(prompts=str(bad_column)), r"has no column 'Prompt' \(`prompt_column`\); its columns are \['caption'\]"),
        (dict(prompts=str(tmp_path / "missing.csv")), r"`prompts`=.*missing.csv' is not a file"),
        (dict(num_prompts=5), r"`num_prompts`=5, but .* holds only 4 prompts"),
        (dict(reference_dir=str(tmp_path / "no-such-dir")), r"`reference_dir`=.*no-such-dir' is not a folder"),
        (dict(reference_dir=str(tmp_path)), r"holds 0 images .* FID needs at least 2"),
        (dict(reference_dir=reference_dir, num_reference_images=9), r"`num_reference_images`=9, but"),
        (dict(num_samples=2), r"`num_samples`=2 keeps the best sample by CLIP score: set `rerank_model`"),
        (dict(rerank_model="clip"), r"`num_samples` is 1"),
        (dict(num_retrieved_docs=2), r"`num_retrieved_docs`=2 needs a retriever"),
        (dict(retriever="ret"), r"A retriever was given but `num_retrieved_docs` is 0"),
        (dict(clip_score_prefix="a photo of "), r"`clip_score_prefix` applies to CLIPScore"),
        (dict(reference_dir=reference_dir, fid_feature_extractor="nowhere"), r"an import path 'package.module:name'"),
        (dict(reference_dir=reference_dir, fid_feature_extractor="no_such_module:x"), r"could not be imported"),
        (dict(device="cuda"), r"`device`='cuda', but the model that was passed is on cpu"),
        (dict(dtype="bfloat16"), r"`dtype`='bfloat16', but the model that was passed is in float32"),
    ]
    for overrides, message in cases:
        with pytest.raises(ValueError, match=message):
            run_text_to_image_eval(image_config(tmp_path, prompts_csv, **overrides), pipeline=text_to_image)
    with pytest.raises(ValueError, match=r"Pass either `model` in the config or `pipeline=`, not both"):
        run_text_to_image_eval(image_config(tmp_path, prompts_csv, model=model_folder), pipeline=text_to_image)
    with pytest.raises(ValueError, match=r"No model: set `model`"):
        run_text_to_image_eval(image_config(tmp_path, prompts_csv))
    with pytest.raises(TypeError, match=r"`config` must be a TextToImageEvalConfig"):
        run_text_to_image_eval({"prompts": prompts_csv})
    # Standard FID without the Inception weights says how to get them, before the first image.
    monkeypatch.delenv(INCEPTION_WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(ValueError, match=r"weights-inception-2015-12-05-6726825d.pth"):
        run_text_to_image_eval(
            image_config(tmp_path, prompts_csv, reference_dir=reference_dir), pipeline=text_to_image
        )
    assert calls == [] and not os.path.exists(tmp_path / "run" / INDEX_FILE)


def test_bad_captioning_and_vqa_inputs(tiny_model, examples_jsonl, tmp_path):
    model, processor = tiny_model
    objects = dict(model=model, processor=processor)
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "few.jsonl").write_text(json.dumps({"image": "x.png", "question": "q?", "answers": ["yes"]}) + "\n")
    (folder / "broken.jsonl").write_text('{"image": "x.png"\n')
    (folder / "data.csv").write_text("image\n")

    def captioning(**kwargs):
        return run_captioning_eval(
            CaptioningEvalConfig(output_dir=str(tmp_path / "out"), progress_bar=False, **kwargs), **objects
        )

    with pytest.raises(ValueError, match=r"no column 'captions'; their columns are \['image', 'references'"):
        captioning(data=examples_jsonl, references_column="captions")
    with pytest.raises(ValueError, match=r"`num_examples`=4, but the data holds only 3 examples"):
        captioning(data=examples_jsonl, num_examples=4)
    with pytest.raises(ValueError, match=r"`data`=.*missing.jsonl' does not exist"):
        captioning(data=str(folder / "missing.jsonl"))
    with pytest.raises(ValueError, match=r"is a file but not a .jsonl file"):
        captioning(data=str(folder / "data.csv"))
    with pytest.raises(ValueError, match=r"Line 1 of .*broken.jsonl' is not valid JSON"):
        captioning(data=str(folder / "broken.jsonl"))
    with pytest.raises(ValueError, match=r"`prompt_mode` must be one of \['infill', 'continuation'\]"):
        captioning(data=examples_jsonl, prompt_mode="prefix")
    with pytest.raises(ValueError, match=r"Pass both `model=` and `processor=`, or neither"):
        run_captioning_eval(CaptioningEvalConfig(output_dir=str(tmp_path), data=examples_jsonl), model=model)
    with pytest.raises(
        ValueError, match=r"The answers of example 0 \(column 'answers'\) hold 1 answer; .* at least 2"
    ):
        run_vqa_eval(VQAEvalConfig(output_dir=str(tmp_path / "vqa"), data=str(folder / "few.jsonl")), **objects)
    with pytest.raises(ValueError, match=r"`normalization` must be one of \['always', 'vqaeval'\]"):
        VQAEvalConfig(output_dir=str(tmp_path), normalization="never")
    assert not os.path.exists(tmp_path / "out" / PREDICTIONS_FILE)
