"""Image infilling (CM3's masked spans at inference) and interleaved text-and-image output: token layouts, the
tokens outside the mask, the pipelines and their errors."""

import copy

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import pipeline

from transformers_cm3leon import CM3LeonProcessor
from transformers_cm3leon.testing_utils import get_tiny_cm3leon


@pytest.fixture(scope="module")
def tiny():
    return get_tiny_cm3leon(initializer_range=0.3)


@pytest.fixture(scope="module")
def folder(tiny, tmp_path_factory):
    model, processor = tiny
    path = tmp_path_factory.mktemp("tiny-infilling")
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def image():
    return Image.fromarray((np.random.default_rng(0).random((16, 16, 3)) * 255).astype("uint8"))


def band_mask(rows):
    mask = np.zeros((16, 16), dtype=bool)
    mask[rows] = True
    return mask


# -- the layout ----------------------------------------------------------------------------------------------------------
def test_token_mask_counts_a_token_when_any_pixel_of_its_cell_is_masked(tiny):
    _, processor = tiny
    image_processor = processor.image_processor  # 16 px, 4x4 tokens: 4x4 pixel cells
    mask = np.zeros((16, 16), dtype=bool)
    mask[5, 9] = True  # one pixel in the cell of token (1, 2)
    expected = np.zeros((4, 4), dtype=bool)
    expected[1, 2] = True
    assert np.array_equal(image_processor.token_mask(mask), expected)
    assert np.array_equal(image_processor.token_mask(Image.fromarray(mask.astype(np.uint8) * 255)), expected)
    assert np.array_equal(image_processor.token_mask(mask.astype(np.float32)), expected)
    with pytest.raises(ValueError, match="`mask_image` is 8x8 pixels but the image is 16x16"):
        image_processor.token_mask(np.zeros((8, 8), dtype=bool), (16, 16))
    with pytest.raises(ValueError, match="NaN or infinite"):
        image_processor.token_mask(np.full((16, 16), np.nan, dtype=np.float32))
    with pytest.raises(TypeError, match="`mask_image` must be a PIL image, a 2-D numpy array"):
        image_processor.token_mask("mask.png")


def test_inpainting_prompt_replaces_each_run_by_a_sentinel(tiny, image):
    _, processor = tiny
    ids = processor.encode_images([image])[0]
    mask = np.zeros(16, dtype=bool)
    mask[[2, 3, 4, 9, 15]] = True  # runs [2, 5), [9, 10), [15, 16)
    prompt, runs = processor.inpainting_prompt(image, mask, "a red circle")
    s0, s1, s2 = (processor.sentinel_token_id(i) for i in range(3))
    text = processor.tokenizer("a red circle", add_special_tokens=False)["input_ids"]
    masked = ids[:2] + [s0] + ids[5:9] + [s1] + ids[10:15] + [s2]
    assert runs == [(2, 5), (9, 10), (15, 16)]
    assert prompt == [processor.eos_token_id, *text, processor.break_token_id, *masked]
    unconditional, _ = processor.inpainting_prompt(image, mask)
    assert unconditional == [processor.eos_token_id, *masked]
    assert processor.fill_masked_runs(image, runs, [ids[2], ids[3], ids[4], ids[9], ids[15]]) == ids


@pytest.mark.parametrize(
    "mask, message",
    [
        (np.zeros((4, 4), dtype=bool), "masks no image token"),
        (np.ones((4, 4), dtype=bool), "masks every image token"),
        (np.zeros((3, 3), dtype=bool), "must be booleans of shape \\(4, 4\\) or \\(16,\\)"),
        (np.zeros((4, 4), dtype=np.int64), "must be booleans"),
        (np.tile([True, False], 8), "has 8 separate runs.*4 sentinel tokens"),
    ],
)
def test_bad_masks_are_refused(tiny, image, mask, message):
    _, processor = tiny
    with pytest.raises(ValueError, match=message):
        processor.inpainting_prompt(image, mask)


def test_chameleon_format_has_no_infilling(tiny, image):
    _, processor = tiny
    chameleon = CM3LeonProcessor(processor.image_processor, processor.tokenizer, sequence_format="chameleon")
    with pytest.raises(ValueError, match="Image infilling infills a masked span.*'chameleon' sequence format"):
        chameleon.inpainting_prompt(image, band_mask(slice(4, 8))[::4, ::4])


# -- generation ----------------------------------------------------------------------------------------------------------
def test_infilling_draws_each_run_after_its_sentinel_and_keeps_the_rest(tiny, image):
    model, processor = tiny
    mask = processor.image_processor.token_mask(band_mask(slice(4, 8)))  # token row 1
    conditional, runs = processor.inpainting_prompt(image, mask, "a red circle")
    unconditional, _ = processor.inpainting_prompt(image, mask)
    output = model.generate_infilling(
        torch.tensor([conditional]),
        run_lengths=[stop - start for start, stop in runs],
        negative_input_ids=torch.tensor([unconditional]),
        num_images_per_prompt=3,
        generator=torch.Generator().manual_seed(0),
        progress_bar=False,
    )
    assert output.image_token_ids.shape == (3, 4) and output.is_complete
    assert bool(processor.is_image_token(output.image_token_ids).all())
    original = processor.encode_images([image])[0]
    for row in output.image_token_ids:
        filled = processor.fill_masked_runs(image, runs, row)
        kept = ~mask.reshape(-1)
        assert np.array_equal(np.array(filled)[kept], np.array(original)[kept])  # bit for bit outside the mask
    # The layout the model continued: the document, then <sentinel:0> and the run.
    assert output.sequences[0, : len(conditional)].tolist() == conditional


def test_infilling_several_runs_forces_the_sentinels_between_them(tiny, image):
    model, processor = tiny
    mask = np.zeros(16, dtype=bool)
    mask[[1, 2, 8, 9, 10]] = True
    conditional, runs = processor.inpainting_prompt(image, mask)
    calls = []
    original = model._draw_image_tokens

    def spy(streams, num_tokens, *args, **kwargs):
        calls.append((streams.input_ids[0].tolist(), num_tokens))
        return original(streams, num_tokens, *args, **kwargs)

    model._draw_image_tokens = spy
    try:
        output = model.generate_infilling(
            torch.tensor([conditional]), run_lengths=[2, 3], guidance_scale=1.0, do_sample=False, progress_bar=False
        )
    finally:
        del model._draw_image_tokens
    (first, n0), (second, n1) = calls
    s0, s1 = processor.sentinel_token_id(0), processor.sentinel_token_id(1)
    assert (n0, n1) == (2, 3)
    assert first == conditional + [s0]
    assert second == first + output.image_token_ids[0, :2].tolist() + [processor.eoss_token_id, s1]


def test_guided_infilling_needs_the_document_without_its_prompt(tiny, image):
    model, processor = tiny
    conditional, runs = processor.inpainting_prompt(image, band_mask(slice(0, 4))[::4, ::4], "x")
    with pytest.raises(ValueError, match="Guided infilling contrasts each document.*`negative_input_ids`"):
        model.generate_infilling(torch.tensor([conditional]), run_lengths=[4], progress_bar=False)
    with pytest.raises(ValueError, match="`run_lengths` add up to 16 tokens"):
        model.generate_infilling(torch.tensor([conditional]), run_lengths=[16], guidance_scale=1.0)
    with pytest.raises(ValueError, match="`run_lengths` has 5 runs, but the vocabulary has 4 sentinel tokens"):
        model.generate_infilling(torch.tensor([conditional]), run_lengths=[1] * 5, guidance_scale=1.0)


def test_inpainting_pipeline_repairs_images_and_keeps_the_unmasked_tokens(folder, image):
    pipe = pipeline("image-inpainting", model=folder)
    pipe.set_progress_bar_config(disable=True)
    mask = band_mask(slice(4, 12))
    kwargs = dict(image=image, mask_image=mask, num_images_per_prompt=2, output_type="tokens")
    tokens = pipe("a red circle", generator=torch.Generator().manual_seed(0), **kwargs).images
    again = pipe("a red circle", generator=torch.Generator().manual_seed(0), **kwargs).images
    assert torch.equal(tokens, again) and tokens.shape == (2, 16)
    original = torch.tensor(pipe.processor.encode_images([image])[0])
    kept = ~torch.from_numpy(pipe.processor.image_processor.token_mask(mask).reshape(-1))
    assert torch.equal(tokens[:, kept], original[kept].expand(2, -1))
    pictures = pipe(image=image, mask_image=Image.fromarray(mask.astype(np.uint8) * 255)).images  # no prompt
    assert pictures[0].size == (16, 16)
    with pytest.raises(ValueError, match="`mask_image` masks no image token"):
        pipe("x", image=image, mask_image=np.zeros((16, 16), dtype=bool))
    with pytest.raises(ValueError, match="`mask_image` is required"):
        pipe("x", image=image)
    with pytest.raises(ValueError, match="`image` is required"):
        pipe("x", mask_image=mask)


def test_inpainting_moves_the_mask_with_a_normalised_picture(tiny):
    """Under `content_radius` the picture is centred before it is encoded; the pipeline moves the mask with it, so
    what is kept is the centred picture's tokens outside the moved mask."""
    from transformers_cm3leon import CM3LeonImageProcessor

    model, processor = tiny
    processor = copy.copy(processor)
    processor.image_processor = CM3LeonImageProcessor(
        vq_model=processor.image_processor.vq_model, background_color=(255, 255, 255), content_radius=0.2
    )
    pixels = np.full((16, 16, 3), 255, dtype=np.uint8)
    pixels[9:15, 8:14] = (200, 30, 30)  # a square in the lower right corner
    image = Image.fromarray(pixels)
    mask = np.zeros((16, 16), dtype=bool)
    mask[9:12, 8:14] = True  # the square's upper half
    pipe = pipeline("image-inpainting", model=model, processor=processor)
    tokens = pipe("x", image=image, mask_image=mask, output_type="tokens", progress_bar=False).images
    moved = processor.image_processor.token_mask(mask, image=image)
    unmoved = processor.image_processor.__class__(vq_model=processor.image_processor.vq_model).token_mask(mask)
    # The square's upper half sat in row 2, columns 2-3 of the 4x4 grid; centred, it is in row 1, columns 1-2.
    assert np.argwhere(moved).tolist() == [[1, 1], [1, 2]] and np.argwhere(unmoved).tolist() == [[2, 2], [2, 3]]
    kept = ~torch.from_numpy(moved.reshape(-1))
    centred = torch.tensor(processor.encode_images([image])[0])
    assert torch.equal(tokens[0, kept], centred[kept])


def test_a_drawn_picture_is_repaired_and_edited_from_exactly_its_tokens(tiny):
    """Token ids (a pipeline's `output_type="tokens"`) are a picture already in the model's frame: the pipelines use
    them as they are, and the mask is read in the pixels they decode to, never moved by `content_radius`."""
    from transformers_cm3leon import CM3LeonImageProcessor

    model, processor = tiny
    processor = copy.copy(processor)
    processor.image_processor = CM3LeonImageProcessor(
        vq_model=processor.image_processor.vq_model, background_color=(255, 255, 255), content_radius=0.2
    )
    drawn = torch.tensor(processor.image_processor.image_token_ids[7:23])  # 16 image tokens, none of them encoded
    mask = np.zeros((16, 16), dtype=bool)
    mask[9:12, 8:14] = True  # rows 2, columns 2-3 of the 4x4 grid: where they are, as no picture moves them
    assert np.argwhere(processor.image_processor.token_mask(mask, image=drawn)).tolist() == [[2, 2], [2, 3]]
    pipe = pipeline("image-inpainting", model=model, processor=processor)
    kwargs = dict(
        mask_image=mask, output_type="tokens", progress_bar=False, generator=torch.Generator().manual_seed(0)
    )
    tokens = pipe("x", image=drawn, **kwargs).images
    kept = np.ones(16, dtype=bool)
    kept[[10, 11]] = False
    assert torch.equal(tokens[0, torch.from_numpy(kept)], drawn[kept])
    as_list = pipe("x", image=drawn.tolist(), **{**kwargs, "generator": torch.Generator().manual_seed(0)}).images
    assert torch.equal(as_list, tokens)
    with pytest.raises(ValueError, match="an image given as token ids is the 16x16 picture they decode to"):
        pipe("x", image=drawn, mask_image=np.ones((32, 32), dtype=bool))
    with pytest.raises(ValueError, match="`image`: a pre-tokenised image must be 16 ids"):
        pipe("x", image=drawn[:15], mask_image=mask)
    with pytest.raises(TypeError, match="image token ids go in as one 1-D tensor per image"):
        pipe("x", image=tokens, mask_image=mask)  # the (1, 16) batch itself

    editor = pipeline("image-editing", model=model, processor=processor)
    edited = editor("make it blue", image=drawn, output_type="tokens", progress_bar=False).images
    assert edited.shape == (1, 16)
    full, image_only, _ = processor.editing_prompts(drawn, "make it blue")
    for stream in (full, image_only):  # the drawn tokens themselves, not a re-encoding of their picture
        assert any(stream[i : i + 16] == drawn.tolist() for i in range(len(stream) - 15))
    with pytest.raises(ValueError, match="`image`: a pre-tokenised image must be 16 ids in the image-token range"):
        editor("make it blue", image=torch.arange(16))


def _likelihood_by_hand(model, prompt_ids, image_ids):
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([prompt_ids + image_ids])).logits[0].float()
    first, size = model.config.image_token_offset, model.config.image_vocab_size
    log_probs = torch.log_softmax(logits[len(prompt_ids) - 1 : -1, first : first + size], dim=-1)
    return float(log_probs.gather(-1, (torch.tensor(image_ids) - first)[:, None]).sum())


def test_image_log_likelihood_is_the_image_tokens_log_probability_after_the_prompt(tiny, image):
    model, processor = tiny
    prompts = [processor.text_to_image_prompt("a red circle"), processor.text_to_image_prompt("a much longer prompt")]
    pictures = [processor.encode_images([image])[0], list(reversed(processor.encode_images([image])[0]))]
    batch = processor.pad(prompts, padding_side="left", return_tensors="pt")
    scores = model.image_log_likelihood(batch["input_ids"], torch.tensor(pictures), batch["attention_mask"])
    assert scores.shape == (2,) and scores.dtype == torch.float32
    for score, prompt, picture in zip(scores, prompts, pictures):  # left padding changes nothing
        assert float(score) == pytest.approx(_likelihood_by_hand(model, prompt, picture), abs=1e-4)
    alone = torch.tensor(prompts[:1])
    with pytest.raises(ValueError, match=r"`image_token_ids` must have shape \(1, 16\)"):
        model.image_log_likelihood(alone, torch.tensor(pictures))
    with pytest.raises(ValueError, match=r"`image_token_ids` must be image tokens, ids in \[4, 36\)"):
        model.image_log_likelihood(alone, torch.zeros(1, 16, dtype=torch.long))
    with pytest.raises(TypeError, match="`image_token_ids` must be a torch.LongTensor"):
        model.image_log_likelihood(alone, [pictures[0]])
    with pytest.raises(ValueError, match="must end with <racm3:break>"):
        model.image_log_likelihood(alone[:, :-1], torch.tensor(pictures[:1]))


def test_inpainting_rerank_keeps_the_repair_the_model_finds_most_likely(folder, image):
    pipe = pipeline("image-inpainting", model=folder)
    pipe.set_progress_bar_config(disable=True)
    processor, model = pipe.processor, pipe.model
    mask = band_mask(slice(4, 12))
    kwargs = dict(image=image, mask_image=mask, output_type="tokens", temperature=1.0)
    candidates = pipe(
        "a red circle", num_images_per_prompt=4, generator=torch.Generator().manual_seed(0), **kwargs
    ).images
    best = pipe("a red circle", rerank=4, generator=torch.Generator().manual_seed(0), **kwargs).images
    prompt = torch.tensor([processor.text_to_image_prompt("a red circle")]).expand(4, -1)
    scores = model.image_log_likelihood(prompt, candidates)
    assert len(set(scores.tolist())) == 4  # distinct repairs
    assert torch.equal(best, candidates[int(scores.argmax())][None])
    # Without a prompt, the score reads the picture after the unconditional prompt.
    candidates = pipe(num_images_per_prompt=4, generator=torch.Generator().manual_seed(1), **kwargs).images
    best = pipe(rerank=4, generator=torch.Generator().manual_seed(1), **kwargs).images
    prompt = torch.tensor([processor.unconditional_prompt()]).expand(4, -1)
    assert torch.equal(best, candidates[int(model.image_log_likelihood(prompt, candidates).argmax())][None])
    # Two output images of two candidates each: image j keeps the best of candidates j and j + 2.
    candidates = pipe(
        "a red circle", num_images_per_prompt=4, generator=torch.Generator().manual_seed(2), **kwargs
    ).images
    best = pipe(
        "a red circle", num_images_per_prompt=2, rerank=2, generator=torch.Generator().manual_seed(2), **kwargs
    ).images
    prompt = torch.tensor([processor.text_to_image_prompt("a red circle")]).expand(4, -1)
    scores = model.image_log_likelihood(prompt, candidates)
    for j in range(2):
        group = [j, j + 2]
        assert torch.equal(best[j], candidates[group[int(scores[group].argmax())]])


def test_a_model_declares_its_inpainting_rerank(tiny, image, tmp_path):
    from transformers_cm3leon.generation import set_image_generation_defaults

    model, processor = tiny
    declared = copy.deepcopy(model)
    set_image_generation_defaults(declared.generation_config, "image-inpainting", temperature=1.0, rerank=3)
    declared.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    pipe = pipeline("image-inpainting", model=str(tmp_path))
    pipe.set_progress_bar_config(disable=True)
    kwargs = dict(image=image, mask_image=band_mask(slice(4, 12)), output_type="tokens")

    def repair(**arguments):
        return pipe("a red circle", generator=torch.Generator().manual_seed(0), **kwargs, **arguments).images

    assert torch.equal(repair(), repair(rerank=3))
    assert torch.equal(repair(rerank=1), repair(num_images_per_prompt=1, rerank=1))
    assert not torch.equal(repair(), repair(rerank=1))
    with pytest.raises(ValueError, match=r"`rerank` is a default of the \['text-to-image', 'image-inpainting'\]"):
        set_image_generation_defaults(declared.generation_config, "image-editing", rerank=2)
    with pytest.raises(ValueError, match="`rerank` must be an integer >= 1, got int 0"):
        set_image_generation_defaults(declared.generation_config, "image-inpainting", rerank=0)
    declared.generation_config.image_generation_defaults["image-editing"] = {"rerank": 2}  # a hand-edited folder
    declared.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=r"declares `rerank`, but the image-editing pipeline has no best-of-N"):
        pipeline("image-editing", model=str(tmp_path))
    del declared.generation_config.image_generation_defaults["image-editing"]
    declared.generation_config.image_generation_defaults["image-inpainting"]["rerank"] = 0
    declared.save_pretrained(tmp_path)
    with pytest.raises(
        ValueError, match=r"`generation_config.image_generation_defaults\['image-inpainting'\]\['rerank'\]`"
    ):
        pipeline("image-inpainting", model=str(tmp_path))


# -- interleaved output ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sequence_format", ["cm3leon", "chameleon"])
def test_interleaved_output_token_invariants(tiny, sequence_format):
    model, processor = tiny
    config = model.config
    image_ids = set(config.image_token_ids)
    prompt = torch.tensor([[config.eos_token_id if sequence_format == "cm3leon" else config.bos_token_id]])
    # Bias the model toward opening images, so that several appear.
    original = model.lm_head.weight.data.clone()
    model.lm_head.weight.data[config.break_token_id] *= 4
    try:
        output = model.generate_interleaved(
            prompt, max_new_tokens=80, sequence_format=sequence_format, generator=torch.Generator().manual_seed(1)
        )
    finally:
        model.lm_head.weight.data.copy_(original)
    sequence = output.sequences[0].tolist()[1:]
    assert len(sequence) <= 80
    # Every image is exactly image_seq_length image tokens right after the token that opened it; no image token
    # anywhere else; Chameleon's images are closed by <eoss>.
    position, images = 0, 0
    after_image = False
    while position < len(sequence):
        token = sequence[position]
        opens = token == config.break_token_id and (sequence_format == "chameleon" or not after_image)
        after_image = False
        if opens and position + 1 < len(sequence) and sequence[position + 1] in image_ids:
            run = sequence[position + 1 : position + 1 + config.image_seq_length]
            assert len(run) == config.image_seq_length and set(run) <= image_ids
            position += 1 + config.image_seq_length
            if sequence_format == "chameleon":
                assert sequence[position] == config.eoss_token_id
                position += 1
            images += 1
            after_image = True
            continue
        assert token not in image_ids
        position += 1
    assert images == output.num_images[0] >= 1
    assert output.finish_reasons[0] in ("eos", "length")


def test_interleaved_pipeline_returns_ordered_segments(folder):
    pipe = pipeline("image-text-to-image-text", model=folder)
    output = pipe("a red circle", max_new_tokens=40, generator=torch.Generator().manual_seed(0))
    again = pipe("a red circle", max_new_tokens=40, generator=torch.Generator().manual_seed(0))
    assert all(isinstance(s, (str, Image.Image)) for s in output.segments[0])
    assert [str(s) if isinstance(s, str) else s.tobytes() for s in output.segments[0]] == [
        str(s) if isinstance(s, str) else s.tobytes() for s in again.segments[0]
    ]
    with pytest.raises(TypeError, match="unexpected arguments \\['num_inference_steps'\\]"):
        pipe("a red circle", num_inference_steps=3)
    with pytest.raises(ValueError, match="`max_new_tokens` must be an integer >= 1"):
        pipe("a red circle", max_new_tokens=0)
