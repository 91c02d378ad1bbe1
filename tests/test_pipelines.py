# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Tests of the pipelines: "text-to-image", "image-editing", and captioning / VQA through transformers' own
"image-text-to-text", all on a tiny random CM3Leon saved to a folder and loaded with `pipeline(task, model=folder)`.

The tiny model draws 16x16 images of 16 image tokens (a 4x4 grid) from a codebook of 32.
"""

import subprocess
import sys

import numpy as np
import PIL.Image
import pytest
import torch
from transformers import Swin2SRConfig, Swin2SRForImageSuperResolution, pipeline
from transformers.pipelines import PIPELINE_REGISTRY

from transformers_cm3leon import unconditional_input_ids
from transformers_cm3leon.pipelines import (
    PIPELINE_TASKS,
    CM3LeonImageEditingPipeline,
    CM3LeonImagePipelineOutput,
    CM3LeonTextToImagePipeline,
    register_pipelines,
)
from transformers_cm3leon.testing_utils import get_tiny_clip, get_tiny_cm3leon

SIZE, NUM_IMAGE_TOKENS, IMAGE_VOCAB = 16, 16, 32
PROMPTS = ["a red circle", "a handwritten digit seven"]


@pytest.fixture(scope="module", autouse=True)
def registered():
    # The package registers the tasks on import (test_tasks_are_registered_on_import checks it in a fresh
    # interpreter); registering again changes nothing and keeps these tests independent of what other tests did.
    register_pipelines()


@pytest.fixture(scope="module")
def image_editing(model_folder):
    pipe = pipeline("image-editing", model=model_folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture
def generate_calls(text_to_image, monkeypatch):
    """The keyword arguments of every `generate_images` call of the text-to-image pipeline."""
    return _spy_on_generate_images(text_to_image, monkeypatch)


def _spy_on_generate_images(pipe, monkeypatch):
    calls, original = [], pipe.model.generate_images

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(pipe.model, "generate_images", spy)
    return calls


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def left_padded(processor, prompts: list[list[int]]) -> dict:
    return processor.pad(prompts, padding_side="left", return_tensors="pt")


@pytest.fixture(scope="module")
def input_image():
    pixels = np.random.default_rng(0).integers(0, 256, size=(20, 24, 3), dtype=np.uint8)
    return PIL.Image.fromarray(pixels)


# -- registration ------------------------------------------------------------------------------------------------------


def test_tasks_are_registered_on_import():
    # A fresh interpreter: importing the package alone must make `pipeline(task, model=folder)` work, which needs the
    # two tasks, the model for "image-text-to-text" and the processor for all three.
    code = (
        "import transformers_cm3leon\n"
        "from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING\n"
        "from transformers.models.auto.processing_auto import PROCESSOR_MAPPING\n"
        "from transformers.pipelines import PIPELINE_REGISTRY\n"
        "config = transformers_cm3leon.CM3LeonConfig\n"
        "tasks = PIPELINE_REGISTRY.supported_tasks\n"
        "names = [tasks[task]['impl'].__name__ for task in ('text-to-image', 'image-editing')]\n"
        "names += [MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING[config].__name__, PROCESSOR_MAPPING[config].__name__]\n"
        "print(*names)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == [
        "CM3LeonTextToImagePipeline",
        "CM3LeonImageEditingPipeline",
        "CM3LeonForCausalLM",
        "CM3LeonProcessor",
    ]


def test_register_pipelines_is_idempotent(monkeypatch):
    entries = {task: PIPELINE_REGISTRY.supported_tasks[task] for task in ("text-to-image", "image-editing")}
    calls = []
    monkeypatch.setattr(PIPELINE_REGISTRY, "register_pipeline", lambda *args, **kwargs: calls.append(args))
    register_pipelines()
    assert calls == []  # already registered: transformers would warn "Overwriting pipeline"
    assert {task: PIPELINE_REGISTRY.supported_tasks[task] for task in entries} == entries
    assert entries["text-to-image"]["impl"] is CM3LeonTextToImagePipeline
    assert entries["image-editing"]["impl"] is CM3LeonImageEditingPipeline
    assert entries["text-to-image"]["type"] == entries["image-editing"]["type"] == "multimodal"


@pytest.mark.parametrize("task", ["text-to-image", "image-editing"])
def test_pipeline_without_a_model_uses_the_shipped_model_or_is_a_clear_error(task, monkeypatch):
    from transformers_cm3leon import default_model

    if default_model.has_default_model():
        pipe = pipeline(task)
        assert pipe.model.name_or_path == default_model.default_model_path()
        declared = pipe.model.generation_config.image_generation_defaults[task]
        assert pipe.generation_config().to_dict() == declared  # the decoding measured best for the default model
    # An installation without the default model's weights: a clear error, not transformers' bare KeyError.
    entries = {name: PIPELINE_REGISTRY.supported_tasks.pop(name) for name in PIPELINE_TASKS}
    monkeypatch.setattr(default_model, "has_default_model", lambda: False)
    try:
        register_pipelines()
        with pytest.raises(ValueError, match="has no default model: pass one"):
            pipeline(task)
    finally:
        PIPELINE_REGISTRY.supported_tasks.update(entries)
        for name, entry in entries.items():
            entry["impl"]._registered_impl = {name: entry}


# -- text-to-image -----------------------------------------------------------------------------------------------------


def test_text_to_image_returns_pil_images_of_the_vq_resolution(text_to_image):
    assert isinstance(text_to_image, CM3LeonTextToImagePipeline)
    output = text_to_image(PROMPTS, num_images_per_prompt=2, generator=seeded())
    assert isinstance(output, CM3LeonImagePipelineOutput)
    assert output.images is output["images"] is output[0]
    assert len(output.images) == len(PROMPTS) * 2
    assert all(isinstance(image, PIL.Image.Image) for image in output.images)
    assert {(image.size, image.mode) for image in output.images} == {((SIZE, SIZE), "RGB")}


def test_output_types_have_diffusers_shapes_and_dtypes(text_to_image):
    outputs = {
        output_type: text_to_image(PROMPTS[0], num_images_per_prompt=3, generator=seeded(), output_type=output_type)
        for output_type in ("pil", "np", "pt", "tokens")
    }
    tokens = outputs["tokens"].images
    assert tokens.dtype == torch.long and tokens.shape == (3, NUM_IMAGE_TOKENS)
    assert ((tokens >= 4) & (tokens < 4 + IMAGE_VOCAB)).all()  # image tokens only

    array = outputs["np"].images
    assert isinstance(array, np.ndarray) and array.dtype == np.float32 and array.shape == (3, SIZE, SIZE, 3)
    assert array.min() >= 0 and array.max() <= 1
    tensor = outputs["pt"].images
    assert tensor.dtype == torch.float32 and tensor.shape == (3, 3, SIZE, SIZE)
    torch.testing.assert_close(tensor.permute(0, 2, 3, 1).numpy(), array)

    # All four are the same images: the PIL pixels are the [0, 1] values scaled and truncated (Meta's decoding), and
    # the tokens decode to them.
    pil = np.stack([np.asarray(image) for image in outputs["pil"].images])
    np.testing.assert_array_equal(pil, (torch.from_numpy(array) * 255).to(torch.uint8).numpy())
    decoded = text_to_image.processor.image_processor.token_ids_to_images(tokens, output_type="pt")
    torch.testing.assert_close(decoded, tensor)


def test_return_dict_false_returns_a_tuple(text_to_image):
    images = text_to_image(PROMPTS[0], generator=seeded(), output_type="tokens").images
    output = text_to_image(PROMPTS[0], generator=seeded(), output_type="tokens", return_dict=False)
    assert isinstance(output, tuple) and len(output) == 1
    assert torch.equal(output[0], images)


def test_same_seed_same_images(text_to_image):
    first = text_to_image(PROMPTS, num_images_per_prompt=2, generator=seeded(7), output_type="np").images
    second = text_to_image(PROMPTS, num_images_per_prompt=2, generator=seeded(7), output_type="np").images
    other = text_to_image(PROMPTS, num_images_per_prompt=2, generator=seeded(8), output_type="np").images
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, other)


def test_the_pipeline_samples_what_generate_images_samples(text_to_image):
    # The pipeline is a thin layer: `</s> prompt <racm3:break>` left-padded, CFG 3, one call, same tokens.
    processor, model = text_to_image.processor, text_to_image.model
    batch = left_padded(processor, [processor.text_to_image_prompt(prompt) for prompt in PROMPTS])
    expected = model.generate_images(
        batch["input_ids"], batch["attention_mask"], num_images_per_prompt=2, generator=seeded(3), progress_bar=False
    ).image_token_ids
    tokens = text_to_image(PROMPTS, num_images_per_prompt=2, generator=seeded(3), output_type="tokens").images
    assert torch.equal(tokens, expected)


def test_a_list_of_prompts_is_one_batched_call_with_one_output_in_diffusers_order(text_to_image, generate_calls):
    # One generator per prompt: each prompt gets the same images alone or batched, so the order can be checked.
    batched = text_to_image(
        PROMPTS, num_images_per_prompt=2, generator=[seeded(1), seeded(2)], output_type="tokens", guidance_scale=2.0
    )
    assert len(generate_calls) == 1
    assert generate_calls[0]["input_ids"].shape[0] == len(PROMPTS)
    assert generate_calls[0]["num_images_per_prompt"] == 2
    alone = [
        text_to_image(
            prompt, num_images_per_prompt=2, generator=seeded(seed), output_type="tokens", guidance_scale=2.0
        )
        for prompt, seed in zip(PROMPTS, (1, 2))
    ]
    assert torch.equal(batched.images, torch.cat([output.images for output in alone]))  # prompt-major
    assert not torch.equal(alone[0].images, alone[1].images)


def test_negative_prompt_replaces_the_unconditional_stream(text_to_image, generate_calls):
    processor = text_to_image.processor
    plain = text_to_image(PROMPTS, generator=seeded(), output_type="tokens").images
    negative = text_to_image(PROMPTS, negative_prompt="a blue square", generator=seeded(), output_type="tokens")
    per_prompt = text_to_image(
        PROMPTS, negative_prompt=["a blue square", "the number three"], generator=seeded(), output_type="tokens"
    )

    assert "negative_input_ids" not in generate_calls[0]  # the default: CM3Leon's `</s> <sentinel:0> <break>`
    expected = left_padded(processor, [processor.text_to_image_prompt("a blue square")] * 2)
    assert torch.equal(generate_calls[1]["negative_input_ids"], expected["input_ids"])
    assert torch.equal(generate_calls[1]["negative_attention_mask"], expected["attention_mask"])
    expected = left_padded(
        processor, [processor.text_to_image_prompt(text) for text in ("a blue square", "the number three")]
    )
    assert torch.equal(generate_calls[2]["negative_input_ids"], expected["input_ids"])
    # Same seed, another unconditional stream: other images; the same one (prompt 0): the same image.
    assert not torch.equal(negative.images, plain)
    assert torch.equal(per_prompt.images[0], negative.images[0])
    assert not torch.equal(per_prompt.images[1], negative.images[1])


def test_arguments_given_at_construction_are_defaults_for_every_call(model_folder):
    pipe = pipeline("text-to-image", model=model_folder, device="cpu", output_type="tokens", guidance_scale=2.0)
    pipe.set_progress_bar_config(disable=True)
    tokens = pipe(PROMPTS[0], generator=seeded()).images
    assert isinstance(tokens, torch.Tensor) and tokens.shape == (1, NUM_IMAGE_TOKENS)
    direct = pipe(PROMPTS[0], generator=seeded(), guidance_scale=2.0, output_type="tokens").images
    assert torch.equal(tokens, direct)
    assert isinstance(pipe(PROMPTS[0], output_type="pil").images[0], PIL.Image.Image)  # a call overrides them
    with pytest.raises(TypeError, match="num_inference_steps"):
        pipeline("text-to-image", model=model_folder, device="cpu", num_inference_steps=50)


def test_callback_on_step_end_sees_each_token_and_can_interrupt(text_to_image):
    seen = []

    def callback(pipe, step, timestep, callback_kwargs):
        seen.append((step, timestep, tuple(callback_kwargs["image_token_ids"].shape)))
        assert callback_kwargs["scores"].shape == (2, IMAGE_VOCAB)
        return callback_kwargs

    output = text_to_image(PROMPTS, callback_on_step_end=callback, generator=seeded(), output_type="tokens")
    assert seen == [(step, None, (2, step + 1)) for step in range(NUM_IMAGE_TOKENS)]
    full = output.images

    def interrupt_after_step_3(pipe, step, timestep, callback_kwargs):
        if step == 3:
            pipe._interrupt = True
        return callback_kwargs

    partial = text_to_image(
        PROMPTS, callback_on_step_end=interrupt_after_step_3, generator=seeded(), output_type="tokens"
    )
    assert torch.equal(partial.images, full[:, :4])
    assert text_to_image.interrupt
    again = text_to_image(PROMPTS, generator=seeded(), output_type="tokens")  # the flag is reset at each call
    assert torch.equal(again.images, full)
    # An interrupted image cannot be decoded: there are no pixels to return.
    assert text_to_image(PROMPTS, callback_on_step_end=interrupt_after_step_3).images is None


def test_save_pretrained_writes_a_folder_the_pipeline_loads_back(text_to_image, tmp_path):
    text_to_image.save_pretrained(tmp_path)
    reloaded = pipeline("text-to-image", model=str(tmp_path), device="cpu", progress_bar=False)
    expected = text_to_image(PROMPTS, generator=seeded(), output_type="tokens").images
    assert torch.equal(reloaded(PROMPTS, generator=seeded(), output_type="tokens").images, expected)


# -- re-ranking --------------------------------------------------------------------------------------------------------


def test_to_moves_the_model_and_image_tokenizer_like_diffusers(model_folder):
    pipe = pipeline("text-to-image", model=model_folder)
    assert pipe.to("cpu") is pipe and pipe.device == torch.device("cpu")
    moved = pipe.to(torch.device("meta"))
    assert pipe.device == torch.device("meta") and moved.model.device == torch.device("meta")
    assert next(pipe.processor.image_processor.vq_model.parameters()).device == torch.device("meta")
    with pytest.raises(ValueError, match=r"`device` must name a torch device .* got 'gpu0'"):
        pipe.to("gpu0")


@pytest.fixture(scope="module")
def tiny_clip():
    return get_tiny_clip(seed=0)


@torch.no_grad()
def clip_scores(clip, images, text) -> torch.Tensor:
    model, processor = clip
    text_features = model.get_text_features(**processor(text=[text], return_tensors="pt")).pooler_output
    pixel_values = processor(images=images, return_tensors="pt")["pixel_values"]
    image_features = model.get_image_features(pixel_values=pixel_values).pooler_output
    return torch.nn.functional.cosine_similarity(image_features, text_features)


def _candidates(pipe, count: int) -> torch.LongTensor:
    """The candidates a `rerank` call on PROMPTS[0] with `seeded(5)` draws, by hand."""
    batch = left_padded(pipe.processor, [pipe.processor.text_to_image_prompt(PROMPTS[0])])
    return pipe.model.generate_images(
        batch["input_ids"],
        batch["attention_mask"],
        num_images_per_prompt=count,
        generator=seeded(5),
        progress_bar=False,
    ).image_token_ids


def test_rerank_keeps_the_best_clip_scored_candidate_of_each_image(text_to_image, tiny_clip, tmp_path):
    num_images, rerank = 2, 3
    clip = {"clip_model": tiny_clip[0], "clip_processor": tiny_clip[1]}

    def reranked(output_type: str, **clip_arguments):
        return text_to_image(
            PROMPTS[0],
            num_images_per_prompt=num_images,
            rerank=rerank,
            generator=seeded(5),
            output_type=output_type,
            **clip_arguments,
        ).images

    tokens = reranked("tokens", **clip)
    assert tokens.shape == (num_images, NUM_IMAGE_TOKENS)

    # By hand: the same 6 candidates, image j of the prompt choosing among candidates j, j + 2, j + 4.
    processor = text_to_image.processor
    candidates = _candidates(text_to_image, num_images * rerank)
    images = processor.image_processor.token_ids_to_images(candidates)
    scores = clip_scores(tiny_clip, images, PROMPTS[0])
    assert len(set(scores.tolist())) == len(scores)  # distinct scores: the choice is not a tie-break
    for j in range(num_images):
        group = list(range(j, num_images * rerank, num_images))
        best = group[int(scores[group].argmax())]
        assert torch.equal(tokens[j], candidates[best])

    # Same images decoded: the re-ranked pixels are those of the chosen tokens.
    pixels = reranked("pt", **clip)
    torch.testing.assert_close(pixels, processor.image_processor.token_ids_to_images(tokens, output_type="pt"))

    # A CLIP id or path is loaded at first use (model and processor), once.
    tiny_clip[0].save_pretrained(tmp_path / "clip")
    tiny_clip[1].save_pretrained(tmp_path / "clip")
    path = str(tmp_path / "clip")
    for _ in range(2):
        assert torch.equal(reranked("tokens", clip_model=path), tokens)
    assert ("CLIP model", path) in text_to_image._models_loaded_on_demand


def test_rerank_without_clip_keeps_the_candidate_the_model_finds_most_likely(text_to_image):
    num_images, rerank = 2, 3
    tokens = text_to_image(
        PROMPTS[0], num_images_per_prompt=num_images, rerank=rerank, generator=seeded(5), output_type="tokens"
    ).images
    processor, model = text_to_image.processor, text_to_image.model
    candidates = _candidates(text_to_image, num_images * rerank)
    prompt = torch.tensor([processor.text_to_image_prompt(PROMPTS[0])])
    scores = model.image_log_likelihood(prompt.expand(len(candidates), -1), candidates)
    assert len(set(scores.tolist())) == len(scores)
    for j in range(num_images):
        group = list(range(j, num_images * rerank, num_images))
        assert torch.equal(tokens[j], candidates[group[int(scores[group].argmax())]])


# -- retrieval ---------------------------------------------------------------------------------------------------------


class FakeRetriever:
    """Returns the same documents for every query, best first, and records its calls."""

    def __init__(self, documents):
        self.documents = documents
        self.calls = []

    def retrieve(self, texts=None, k=None):
        self.calls.append((list(texts), k))
        return [self.documents[: k or 2] for _ in texts]


def test_retrieved_documents_come_first_in_the_papers_layout(text_to_image, generate_calls, input_image):
    processor = text_to_image.processor
    documents = [["a blue square", input_image], ["the number three", input_image.rotate(90)]]
    retriever = FakeRetriever(documents)
    output = text_to_image(
        PROMPTS, retriever=retriever, num_retrieved_docs=2, generator=seeded(), output_type="tokens"
    )
    assert output.images.shape == (2, NUM_IMAGE_TOKENS)
    assert retriever.calls == [(PROMPTS, 2)]

    # </s> ret_text_1 <break> ret_image_1 <break> ret_text_2 <break> ret_image_2 <break> prompt <break>
    def text(string):
        return processor.tokenizer(string, add_special_tokens=False)["input_ids"]

    image_ids = processor.image_processor.images_to_token_ids([input_image, input_image.rotate(90)]).tolist()
    eos, brk = processor.eos_token_id, processor.break_token_id
    prefix = [eos, *text("a blue square"), brk, *image_ids[0], brk, *text("the number three"), brk, *image_ids[1], brk]
    expected = left_padded(processor, [prefix + text(prompt) + [brk] for prompt in PROMPTS])
    assert torch.equal(generate_calls[0]["input_ids"], expected["input_ids"])
    assert torch.equal(generate_calls[0]["attention_mask"], expected["attention_mask"])


def test_documents_of_a_cm3leon_retriever_are_laid_out_from_their_image_token_ids(text_to_image, generate_calls):
    from transformers_cm3leon.retrieval import RetrievedDocument

    processor = text_to_image.processor
    image_ids = list(range(4, 4 + NUM_IMAGE_TOKENS))
    document = RetrievedDocument(text="a blue square", image_token_ids=image_ids, image_path=None, score=0.8, index=0)
    text_to_image(PROMPTS[0], retriever=FakeRetriever([document]), num_retrieved_docs=1, output_type="tokens")
    text = processor.tokenizer("a blue square", add_special_tokens=False)["input_ids"]
    prompt = processor.tokenizer(PROMPTS[0], add_special_tokens=False)["input_ids"]
    eos, brk = processor.eos_token_id, processor.break_token_id
    expected = [eos, *text, brk, *image_ids, brk, *prompt, brk]
    assert generate_calls[0]["input_ids"][0].tolist() == expected


def test_speculative_decoding_drafts_from_the_first_retrieved_picture(text_to_image, generate_calls, input_image):
    from transformers_cm3leon.retrieval import RetrievedDocument

    image_ids = list(range(4, 4 + NUM_IMAGE_TOKENS))
    documents = [
        RetrievedDocument(text="a blue square", image_token_ids=image_ids, image_path=None, score=0.8, index=0),
        ["the number three", input_image],
    ]
    retriever = FakeRetriever(documents)
    kwargs = dict(retriever=retriever, num_retrieved_docs=2, generator=seeded(), output_type="tokens")
    drafted = text_to_image(PROMPTS, parallel_decoding="jacobi", **kwargs).images
    assert generate_calls[0]["draft_image_token_ids"].tolist() == [image_ids, image_ids]
    # Only with speculative decoding, and the images are those of the sequential loop's distribution: greedy, equal.
    sequential = text_to_image(PROMPTS, **kwargs).images
    assert "draft_image_token_ids" not in generate_calls[1] and drafted.shape == sequential.shape
    greedy = dict(kwargs, do_sample=False)
    assert torch.equal(
        text_to_image(PROMPTS, parallel_decoding="jacobi", **greedy).images, text_to_image(PROMPTS, **greedy).images
    )
    # A picture given as an image is encoded into its tokens.
    retriever.documents = documents[::-1]
    text_to_image(PROMPTS[:1], parallel_decoding="jacobi", **kwargs)
    expected = text_to_image.processor.image_processor.images_to_token_ids([input_image]).tolist()
    assert generate_calls[-1]["draft_image_token_ids"].tolist() == expected


# -- image editing -----------------------------------------------------------------------------------------------------


def test_image_editing_decodes_three_streams_and_returns_images(image_editing, input_image, monkeypatch):
    assert isinstance(image_editing, CM3LeonImageEditingPipeline)
    calls = _spy_on_generate_images(image_editing, monkeypatch)
    instructions = ["make it blue", "turn the circle into a square"]
    output = image_editing(instructions, image=input_image, num_images_per_prompt=2, generator=seeded())
    assert len(output.images) == 4
    assert {(image.size, image.mode) for image in output.images} == {((SIZE, SIZE), "RGB")}

    processor = image_editing.processor
    streams = list(zip(*(processor.editing_prompts(input_image, text) for text in instructions)))
    (call,) = calls
    for (ids_name, mask_name), prompts in zip(
        [("input_ids", "attention_mask"), ("image_input_ids", "image_attention_mask")], streams
    ):
        expected = left_padded(processor, list(prompts))
        assert torch.equal(call[ids_name], expected["input_ids"])
        assert torch.equal(call[mask_name], expected["attention_mask"])
    # The unconditional stream is the model's own, the one the processor writes.
    assert "negative_input_ids" not in call and streams[2][0] == unconditional_input_ids(image_editing.model.config)
    # The paper's defaults (7.5 / 1.5) are generate_images'.
    assert call["generation_config"].image_guidance_scale is None

    # The image scale weighs the image-only stream: another scale, other images (same seed).
    default = image_editing(instructions[0], image=input_image, generator=seeded(), output_type="tokens").images
    stronger = image_editing(
        instructions[0], image=input_image, image_guidance_scale=3.0, generator=seeded(), output_type="tokens"
    ).images
    assert not torch.equal(default, stronger)
    explicit = image_editing(
        instructions[0],
        image=input_image,
        guidance_scale=7.5,
        image_guidance_scale=1.5,
        generator=seeded(),
        output_type="tokens",
    ).images
    assert torch.equal(default, explicit)


def test_image_editing_takes_one_image_per_instruction(image_editing, input_image):
    images = [input_image, input_image.rotate(90)]
    output = image_editing(["make it blue", "make it red"], image=images, generator=seeded(), output_type="tokens")
    assert output.images.shape == (2, NUM_IMAGE_TOKENS)
    with pytest.raises(ValueError, match="`image` holds 2 images for 3 prompts"):
        image_editing(["a", "b", "c"], image=images)
    with pytest.raises(ValueError, match="`image\\[0\\]`='not an image' could not be loaded as an image"):
        image_editing("make it blue", image="not an image")
    with pytest.raises(TypeError, match="`image` must be an image"):
        image_editing("make it blue", image=3)
    with pytest.raises(TypeError, match="unexpected argument `negative_prompt`"):
        image_editing("make it blue", image=input_image, negative_prompt="blurry")
    with pytest.raises(ValueError, match="image editing \\(three streams\\) supports 'sample' only"):
        image_editing("make it blue", image=input_image, decoding_strategy="cd-k")


# -- super-resolution --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_upscaler():
    config = Swin2SRConfig(
        image_size=SIZE, embed_dim=8, depths=[1], num_heads=[1], window_size=4, upscale=2, mlp_ratio=1.0
    )
    torch.manual_seed(0)
    return Swin2SRForImageSuperResolution(config).eval()


def test_upscaler_multiplies_the_size_by_its_factor(
    text_to_image, image_editing, tiny_upscaler, input_image, tmp_path
):
    output = text_to_image(PROMPTS, upscaler=tiny_upscaler, generator=seeded())
    assert [image.size for image in output.images] == [(2 * SIZE, 2 * SIZE)] * 2

    # The upscaler runs on the decoded [0, 1] pixels.
    pixels = text_to_image(PROMPTS, generator=seeded(), output_type="pt").images
    with torch.no_grad():
        expected = tiny_upscaler(pixel_values=pixels).reconstruction.clamp(0, 1)
    upscaled = text_to_image(PROMPTS, upscaler=tiny_upscaler, generator=seeded(), output_type="pt").images
    torch.testing.assert_close(upscaled, expected)

    # An id or a path is loaded at first use, once.
    tiny_upscaler.save_pretrained(tmp_path / "upscaler")
    path = str(tmp_path / "upscaler")
    array = text_to_image(PROMPTS, upscaler=path, generator=seeded(), output_type="np").images
    assert array.shape == (2, 2 * SIZE, 2 * SIZE, 3)
    np.testing.assert_allclose(array, expected.permute(0, 2, 3, 1).numpy(), atol=1e-6, rtol=0)
    text_to_image(PROMPTS[0], upscaler=path)
    assert [key for key in text_to_image._models_loaded_on_demand if key[0] == "upscaler"] == [("upscaler", path)]

    edited = image_editing("make it blue", image=input_image, upscaler=tiny_upscaler)
    assert edited.images[0].size == (2 * SIZE, 2 * SIZE)


# -- captioning and VQA through transformers' image-text-to-text ---------------------------------------------------------


@pytest.fixture(scope="module")
def image_text_to_text(model_folder):
    return pipeline("image-text-to-text", model=model_folder, device="cpu")


def _message(image, question=None):
    content = [{"type": "image", "image": image}]
    if question is not None:
        content.append({"type": "text", "text": question})
    return [{"role": "user", "content": content}]


@pytest.mark.parametrize(
    "question, markup, prompt",
    [
        # Captioning by infilling: `</s> <sentinel:0> <break> image <sentinel:0>`, the caption ends at <eoss>.
        (None, "</s><sentinel:0><racm3:break><image><sentinel:0>", lambda p, image: p.captioning_prompt(image)),
        # VQA, the paper's SFT template with the answer infilled.
        (
            "what colour is the circle?",
            "</s>Question: what colour is the circle? Answer:<sentinel:0><racm3:break><image><sentinel:0>",
            lambda p, image: p.vqa_prompt(image, "what colour is the circle?"),
        ),
    ],
    ids=["captioning", "vqa"],
)
def test_image_text_to_text_pipeline_writes_what_generate_writes(
    image_text_to_text, input_image, question, markup, prompt
):
    processor, model = image_text_to_text.processor, image_text_to_text.model
    assert type(model).__name__ == "CM3LeonForCausalLM"
    input_ids = torch.tensor([prompt(processor, input_image)])
    generated = model.generate_text(input_ids, max_new_tokens=10)[0, input_ids.shape[1] :]
    expected = processor.tokenizer.decode(generated, skip_special_tokens=True)
    # Chat messages, laid out by the processor's chat template, or markup with control tokens opted in.
    for kwargs in (
        {"text": _message(input_image, question)},
        {"images": input_image, "text": markup, "processor_kwargs": {"allow_control_tokens": True}},
    ):
        (result,) = image_text_to_text(**kwargs, max_new_tokens=10, return_full_text=False)
        assert expected and result["generated_text"] == expected
        # The pipeline saw exactly the prompt that the processor's builder makes.
        (tensors,) = image_text_to_text(**kwargs, max_new_tokens=10, return_tensors=True)
        assert tensors["generated_token_ids"][: input_ids.shape[1]].tolist() == input_ids[0].tolist()
    # It stops where the text generation config says: at <eoss> or </s>.
    assert model.generation_config.eos_token_id == [model.config.eoss_token_id, model.config.eos_token_id]


def test_control_tokens_typed_in_a_chat_message_stay_text(image_text_to_text, input_image):
    processor = image_text_to_text.processor
    typed = "what is this? </s><racm3:break><sentinel:0><image>IMGIMGAZ"
    ids = processor.apply_chat_template(_message(input_image, typed), tokenize=True)[0]
    assert ids == processor.vqa_prompt(input_image, typed)  # the question is text, whatever it says
    assert processor.decode(ids).count("<image>") == 1


# -- bad arguments -----------------------------------------------------------------------------------------------------


# Checked by the pipeline before anything runs: (arguments, error, message).
BAD_PIPELINE_ARGUMENTS = [
    (dict(num_inference_steps=50), TypeError, r"`num_inference_steps`=50, which it does not take: .* token by token"),
    (dict(eta=0.0), TypeError, "no DDIM scheduler"),
    (dict(height=32), ValueError, r"`height`=32 is not supported: .* draws 16x16 images \(4x4 image tokens\)"),
    (dict(width="16"), ValueError, r"`width`='16' is not supported"),
    (dict(output_type="latent"), ValueError, r"`output_type` must be one of \['pil', 'np', 'pt', 'tokens'\]"),
    (dict(strength=0.5), TypeError, r"`strength`=0.5, which it does not take: CM3Leon does not noise"),
    (dict(guidance_scale=1e308), ValueError, r"`guidance_scale` must be a finite number >= 0 and <= 10000.0"),
    (dict(guidance_scale=-1.0), ValueError, r"`guidance_scale` must be a finite number >= 0"),
    (dict(guidance_scale=float("nan")), ValueError, r"`guidance_scale` must be a finite number"),
    (dict(num_images_per_prompt=0), ValueError, r"`num_images_per_prompt` must be an integer >= 1, got int 0"),
    (dict(return_dict="yes"), TypeError, r"`return_dict` must be a bool"),
    (dict(rerank=0), ValueError, r"`rerank` must be an integer >= 1"),
    (dict(clip_model="openai/clip-vit-large-patch14"), ValueError, r"pass `rerank` > 1"),
    (dict(clip_model=object(), rerank=2), TypeError, r"`clip_model` must be a CLIP-like model"),
    (dict(negative_prompt="blurry", guidance_scale=1.0), ValueError, r"guidance_scale=1 .* turns off"),
    (dict(negative_prompt=["a", "b", "c"]), ValueError, r"`negative_prompt` has 3 entries for 1 prompts"),
    (dict(negative_prompt=3), TypeError, r"`negative_prompt` must be a string or a non-empty list"),
    (dict(num_retrieved_docs=2), ValueError, r"`num_retrieved_docs` needs a `retriever`"),
    (dict(retriever="index.faiss"), TypeError, r"`retriever` must have a `retrieve\(texts=..., k=...\)` method"),
    (dict(upscaler=3), TypeError, r"`upscaler` must be a Swin2SRForImageSuperResolution"),
    (dict(upscaler="some/upscaler", output_type="tokens"), ValueError, r"`upscaler` works on pixels"),
    (dict(callback_on_step_end="print"), TypeError, r"`callback_on_step_end` must be callable"),
]
# The decoding arguments go to `generate_images`, which checks them all before sampling anything.
BAD_DECODING_ARGUMENTS = [
    (dict(top_p=1.5), ValueError, r"`top_p` must be a finite number > 0 and <= 1, got float 1.5"),
    (dict(decoding_strategy="beam"), ValueError, r"`decoding_strategy` must be one of"),
    (dict(temperature=0), ValueError, r"`temperature` must be a finite number > 0"),
    (dict(cd_alpha=0.5), ValueError, r"`cd_top_k` / `cd_alpha` set CD-K"),
    (
        dict(generator=[seeded(), seeded()]),
        ValueError,
        r"`generator` has 2 generators; pass one, one per prompt \(1\)",
    ),
]


def _ids(cases):
    return ["-".join(kwargs) for kwargs, _, _ in cases]


@pytest.mark.parametrize("kwargs, error, message", BAD_PIPELINE_ARGUMENTS, ids=_ids(BAD_PIPELINE_ARGUMENTS))
def test_bad_arguments_raise_clear_errors_before_generation(text_to_image, generate_calls, kwargs, error, message):
    with pytest.raises(error, match=message):
        text_to_image(PROMPTS[0], **kwargs)
    assert generate_calls == []


@pytest.mark.parametrize("kwargs, error, message", BAD_DECODING_ARGUMENTS, ids=_ids(BAD_DECODING_ARGUMENTS))
def test_bad_decoding_arguments_raise_clear_errors(text_to_image, kwargs, error, message):
    with pytest.raises(error, match=message):
        text_to_image(PROMPTS[0], **kwargs)


def test_bad_prompts_and_rerank_generators_raise_clear_errors(text_to_image, tiny_clip):
    with pytest.raises(TypeError, match=r"`prompt` must be a string or a non-empty list of strings, got list \[\]"):
        text_to_image([])
    with pytest.raises(TypeError, match=r"`prompt` must be a string"):
        text_to_image(["a cat", 3])
    with pytest.raises(
        ValueError, match=r"`generator` has 4 generators; pass one, one per prompt \(2\) \(with `rerank`"
    ):
        text_to_image(
            PROMPTS,
            num_images_per_prompt=2,
            rerank=2,
            clip_model=tiny_clip[0],
            clip_processor=tiny_clip[1],
            generator=[seeded(i) for i in range(4)],
        )
    with pytest.raises(ValueError, match="`clip_processor` is required with a `clip_model` instance"):
        text_to_image(PROMPTS[0], rerank=2, clip_model=tiny_clip[0])


def test_a_models_declared_decoding_defaults_apply_under_the_users_arguments(monkeypatch):
    model, processor = get_tiny_cm3leon(seed=0)
    model.generation_config.image_generation_defaults = {
        "text-to-image": {"guidance_scale": 1.0, "temperature": 0.5},
        "image-editing": {"guidance_scale": 2.0},
    }
    pipe = pipeline("text-to-image", model=model, processor=processor, temperature=0.8, progress_bar=False)
    calls = _spy_on_generate_images(pipe, monkeypatch)
    pipe("a cat", generator=seeded(), output_type="tokens")
    pipe("a cat", generator=seeded(), output_type="tokens", guidance_scale=3.0)
    settings = [call["generation_config"] for call in calls]
    assert (settings[0].guidance_scale, settings[0].temperature) == (1.0, 0.8)  # pipeline(...) argument wins
    assert (settings[1].guidance_scale, settings[1].temperature) == (3.0, 0.8)  # call argument wins

    model.generation_config.image_generation_defaults = {"text-to-image": {"num_inference_steps": 50}}
    with pytest.raises(TypeError, match="num_inference_steps"):
        pipeline("text-to-image", model=model, processor=processor)
