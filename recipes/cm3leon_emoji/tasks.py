# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The training data of CM3Leon-Emoji, every row laid out by the package's processor:

- text-to-image: `processor.text_to_image_prompt(prompt[, retrieved_documents])` + picture + `</s>`;
- captioning: `processor.captioning_prompt(picture)` + name + `<eoss>` (the CM3 infilling layout);
- VQA: `processor.vqa_prompt(picture, question)` + " answer." + `<eoss>` ("which skin tone is it?",
  "what colour is the heart?");
- editing: `processor.editing_prompts(picture, instruction)[0]` + edited picture + `</s>` ("give it a dark skin
  tone", "remove the skin tone", "make the heart blue");
- infilling: `processor.inpainting_prompt(picture, mask[, prompt])` + the masked spans (`<sentinel:i> span
  <eoss>` each), the CM3 objective on bands of rows and rectangles of the picture.

Reading rows (captioning, VQA) see the render and shifted / scaled views of it, with the loss on the answer only;
the drawing rows have the loss on what is drawn.
"""

from __future__ import annotations

import json
import os

import numpy as np

from cm3leon_emoji import emoji_data  # noqa: E402
from cm3leon_emoji.bank import EmojiBank
from cm3leon_emoji.emoji_data import Emoji

IGNORE_INDEX = -100
SKIN_TONE_QUESTION = "which skin tone is it?"
REMOVE_TONE_INSTRUCTION = "remove the skin tone"


def colour_question(family: str) -> str:
    return f"what colour is the {emoji_data.family_noun(family)}?"


def tone_instruction(tone: str) -> str:
    return f"give it {emoji_data.article(tone)} {tone}"


def colour_instruction(family: str, colour: str) -> str:
    return f"make the {emoji_data.family_noun(family)} {colour}"


def tokenizer_corpus(seen: list[Emoji]) -> list[str]:
    """Every text the model reads or writes, for the BPE tokenizer."""
    corpus = [emoji_data.text_to_image_prompt(e.name, t) for e in seen for t in range(2)]
    corpus += [f"Question: {SKIN_TONE_QUESTION} Answer: {a}." for a in [*emoji_data.TONE_ANSWERS.values(), "none"]]
    families = emoji_data.colour_families(seen)
    for family, members in families.items():
        corpus += [f"Question: {colour_question(family)} Answer: {colour}." for colour in members]
        corpus += [colour_instruction(family, colour) for colour in members]
    corpus += [tone_instruction(tone) for tone in emoji_data.TONE_NAMES] + [REMOVE_TONE_INSTRUCTION]
    return corpus


def caption_documents(seen: list[Emoji], rng: np.random.Generator) -> tuple[list[str], list]:
    """Pretraining documents `(texts, pictures)`: each seen emoji under its bare name and one random template."""
    texts, images = [], []
    for e in seen:
        picture = emoji_data.render(e.char)
        template = int(rng.integers(1, len(emoji_data.TEXT_TO_IMAGE_TEMPLATES)))
        texts += [e.name, emoji_data.text_to_image_prompt(e.name, template)]
        images += [picture, picture]
    order = rng.permutation(len(texts))
    return [texts[i] for i in order], [images[i] for i in order]


def build_bank(seen: list[Emoji], processor) -> EmojiBank:
    """The retrieval bank: one document (bare name, render) per seen emoji."""
    images = [emoji_data.render(e.char) for e in seen]
    return EmojiBank([e.name for e in seen], images, processor.encode_images(images))


def band_mask(rng: np.random.Generator, grid: int, min_rows: int) -> np.ndarray:
    """A boolean `grid x grid` mask of image tokens: a band of `min_rows` to half of the rows, at a random height."""
    mask = np.zeros((grid, grid), dtype=bool)
    height = int(rng.integers(min_rows, grid // 2 + 1))
    top = int(rng.integers(0, grid - height + 1))
    mask[top : top + height] = True
    return mask


def rectangle_mask(rng: np.random.Generator, grid: int, max_side: int) -> np.ndarray:
    """A boolean `grid x grid` mask of image tokens: a rectangle of 2 to `max_side` tokens a side, anywhere."""
    mask = np.zeros((grid, grid), dtype=bool)
    height, width = (int(rng.integers(2, max_side + 1)) for _ in range(2))
    top, left = int(rng.integers(0, grid - height + 1)), int(rng.integers(0, grid - width + 1))
    mask[top : top + height, left : left + width] = True
    return mask


def random_mask(rng: np.random.Generator, grid: int) -> np.ndarray:
    """The infilling rows' mask: a band of a quarter to a half of the rows, or a rectangle, with equal chance."""
    if rng.random() < 0.5:
        return band_mask(rng, grid, max(1, grid // 4))
    return rectangle_mask(rng, grid, grid // 2 + 1)


def edits(seen: list[Emoji]) -> list[tuple[Emoji, str, Emoji]]:
    """Every `(source, instruction, target)` between seen emoji: skin tone changes and removals within a tone family,
    colour changes within a colour family."""
    result = []
    families: dict[str, list[Emoji]] = {}
    for e in seen:
        if e.tone is not None or any(o.base == e.char and o.tone for o in seen):
            families.setdefault(e.base, []).append(e)
    for members in families.values():
        for source in members:
            for target in members:
                if target is source:
                    continue
                instruction = REMOVE_TONE_INSTRUCTION if target.tone is None else tone_instruction(target.tone)
                result.append((source, instruction, target))
    for family, by_colour in emoji_data.colour_families(seen).items():
        for source in by_colour.values():
            for colour, target in by_colour.items():
                if target is not source:
                    result.append((source, colour_instruction(family, colour), target))
    return result


def vqa_pairs(e: Emoji, seen_families: dict[str, dict[str, Emoji]], tone_bases: set[str]) -> list[tuple[str, str]]:
    """The questions about `e` and their answers."""
    pairs = []
    if e.base in tone_bases:
        pairs.append((SKIN_TONE_QUESTION, "none" if e.tone is None else emoji_data.TONE_ANSWERS[e.tone]))
    found = emoji_data.colour_of(e.name)
    if e.tone is None and found is not None and found[1] in seen_families:
        pairs.append((colour_question(found[1]), found[0]))
    return pairs


def drawing_token_ids(seen: list[Emoji], render_ids: dict[str, list[int]], num_palette_tokens: int) -> dict:
    """The image tokens the model learns to write for each seen emoji: its render's, except that a toned emoji (with
    a palette code, `num_palette_tokens`) takes the grid codes of its yellow base before its own palette code. The
    shape then depends on the base alone and the tone on the palette alone, so a held-out (base, tone) pair is drawn
    from parts the model has written (`image_tokenizer.tone_swapped_rows` teaches the decoder to draw them)."""
    if not num_palette_tokens:
        return dict(render_ids)
    return {
        e.char: render_ids[e.base][:-1] + render_ids[e.char][-1:]
        if e.tone is not None and e.base in render_ids
        else render_ids[e.char]
        for e in seen
    }


def sft_rows(
    seen: list[Emoji],
    processor,
    rng: np.random.Generator,
    reading_views: int,
    bank: EmojiBank | None = None,
    draw_base_shapes: bool = False,
) -> dict[str, dict]:
    """SFT rows by task: `{"input_ids": [...], "labels": [...]}` columns. `bank` is `build_bank(seen, processor)`
    (built here if not given; several draws of the rows share one): the renders, their tokens and the retrieval.
    With `draw_base_shapes`, the pictures the model writes (drawing, editing) are `drawing_token_ids`; those it
    reads (captioning, VQA, edit sources, retrieved documents, infilling) stay the renders'."""
    tokenizer = processor.tokenizer
    eos, eoss = processor.eos_token_id, processor.eoss_token_id

    def text_ids(text: str) -> list[int]:
        return tokenizer(text, add_special_tokens=False, split_special_tokens=True)["input_ids"]

    if bank is None:
        bank = build_bank(seen, processor)
    renders = dict(zip((e.char for e in seen), bank.images))
    ids = dict(zip(renders, bank.image_token_ids))
    palette_size = processor.image_processor.vq_model.config.num_palette_embeddings
    drawn = drawing_token_ids(seen, ids, palette_size) if draw_base_shapes else ids
    views = [emoji_data.random_view(e.char, rng) for e in seen for _ in range(reading_views)]
    view_ids = processor.encode_images(views)
    reading_ids = {
        e.char: [ids[e.char]] + view_ids[i * reading_views : (i + 1) * reading_views] for i, e in enumerate(seen)
    }
    rows: dict[str, dict] = {}

    def add(task: str, prompt: list[int], answer: list[int], loss_on_prompt: bool = False):
        columns = rows.setdefault(task, {"input_ids": [], "labels": []})
        columns["input_ids"].append(prompt + answer)
        columns["labels"].append((prompt if loss_on_prompt else [IGNORE_INDEX] * len(prompt)) + answer)

    # Text-to-image: bare name, a template, and the bare name after two retrieved documents (query = name + picture,
    # so the 0.9 relevance cap drops the emoji itself).
    retrieved = bank.retrieve(
        [e.name for e in seen], images=[renders[e.char] for e in seen], k=8, seed=int(rng.integers(1 << 30))
    )
    for e, candidates in zip(seen, retrieved):
        template = int(rng.integers(1, len(emoji_data.TEXT_TO_IMAGE_TEMPLATES)))
        for prompt in (e.name, emoji_data.text_to_image_prompt(e.name, template)):
            add("text_to_image", processor.text_to_image_prompt(prompt), drawn[e.char] + [eos], loss_on_prompt=True)
        documents = [[d["text"], d["image_token_ids"]] for d in candidates if d["score"] <= 0.9][:2]
        add("text_to_image_retrieval", processor.text_to_image_prompt(e.name, documents), drawn[e.char] + [eos])
        # The unconditional stream of classifier-free guidance: the picture after the prompt-free prefix.
        add("unconditional", processor.unconditional_prompt(), drawn[e.char] + [eos])

    # Reading: captioning and VQA on the render and its views.
    families = emoji_data.colour_families(seen)
    tone_bases = {e.base for e in seen if e.tone is not None}
    for e in seen:
        questions = vqa_pairs(e, families, tone_bases)
        for index, picture_ids in enumerate(reading_ids[e.char]):
            # The render's row also trains the unconditional stream of guidance (`</s> <sentinel:0> <break>` + image).
            add("captioning", processor.captioning_prompt(picture_ids), text_ids(e.name) + [eoss], index == 0)
            if questions:
                question, answer = questions[index % len(questions)]
                add("vqa", processor.vqa_prompt(picture_ids, question), text_ids(f" {answer}.") + [eoss])

    # Editing.
    for source, instruction, target in edits(seen):
        add("editing", processor.editing_prompts(ids[source.char], instruction)[0], drawn[target.char] + [eos])

    # Infilling: with the name as prompt, and without (the unconditional stream of guided infilling).
    grid = processor.image_processor.grid_size
    for e in seen:
        for with_prompt in (True, bool(rng.random() < 0.5)):
            mask = random_mask(rng, grid)
            prompt, runs = processor.inpainting_prompt(ids[e.char], mask, e.name if with_prompt else None)
            spans = []
            for index, (start, stop) in enumerate(runs):
                spans += [processor.sentinel_token_id(index), *ids[e.char][start:stop], eoss]
            add("infilling", prompt, spans)
    return rows


def write_training_data(folder: str, seen: list[Emoji], held_out: list[Emoji]) -> str:
    """`training_data.json`: the CLDR names the model was trained on (`seen`) and those held out (`held_out`), with
    the words of its training prompts (`vocabulary`, what the out-of-domain prompt warning compares against)."""
    from transformers_cm3leon.default_model import prompt_words

    words = sorted({word for text in tokenizer_corpus(seen) for word in prompt_words(text)})
    path = os.path.join(folder, "training_data.json")
    with open(path, "w") as handle:
        json.dump(
            {
                "source": f"OpenMoji 17.0 (CC BY-SA 4.0) rendered at {emoji_data.RESOLUTION}x{emoji_data.RESOLUTION}; CLDR short names from the `emoji` package",
                "seen": [e.name for e in seen],
                "held_out": [e.name for e in held_out],
                "vocabulary": words,
            },
            handle,
            indent=1,
            ensure_ascii=False,
        )
    return path
