# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Measure CM3Leon-Emoji with judges that are not the model:

    python recipes/cm3leon_emoji/evaluate.py [--model FOLDER] [--seed 0] [--output-dir outputs/cm3leon-emoji-eval]

- Text-to-image: each generated picture is identified by the nearest reference render among ALL emoji of the world
  (seen and held out; `judge.ImageJudge`); success when it is the requested one. Seen emoji (a seeded sample) from
  the bare name and from a template; held-out (base, skin tone) pairs, which the model never saw.
- Captioning: exact CLDR name, on seen emoji and held-out pairs, each under a small random shift and scale (and on
  the seen renders themselves); beside each, how many of the same pictures the pixel judge identifies.
- VQA: "which skin tone is it?" and "what colour is the heart?"-style questions, exact answer.
- Editing: skin tone changes and removals, colour changes; success when the judge identifies the target emoji.
- Infilling through `pipeline("image-inpainting")` with the model's defaults (the best of 16 repairs by the model's
  own likelihood): a band of rows (a third to a half of the image) of seen emoji redrawn with the name as prompt
  (and as one repair at temperature 0.3), without a prompt, and a random rectangle; success when the judge identifies
  the emoji. And a band of the model's own drawings of the same emoji, handed back as token ids or as pictures.
- Held-out pairs read off the image tokenizer alone: the judge on its round trips, and how many of a pair's tokens
  training shows on its emoji or its tone (what composing it asks of the model).
- Ablation of text-to-image: guidance scale, CD-K, best-of-N (re-ranked by the model's own captioning score of the
  prompt; the judge never takes part), retrieval-augmented prompts (2 documents from the emoji bank).
- Speed: seconds per image at batch 1 (`pipeline("text-to-image")`, the shipped decoding).

Writes `results.json` and `samples.png` (the model card's grid) to `--output-dir`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # recipes/

from cm3leon_emoji import (
    emoji_data,  # noqa: E402
    tasks,  # noqa: E402
)
from cm3leon_emoji.judge import ImageJudge, in_model_frame  # noqa: E402
from transformers_cm3leon.image_transforms import content_affine, transform_mask  # noqa: E402


def _merged_settings(defaults: dict, **kwargs) -> dict:
    from transformers_cm3leon import CM3LeonImageGenerationConfig

    return CM3LeonImageGenerationConfig.from_defaults(defaults, **kwargs).to_dict()


class EmojiEvaluator:
    """Generation helpers and the measurements, for one model folder."""

    def __init__(self, model, processor, seed: int = 0, batch_size: int = 64):
        self.model = model.eval()
        self.processor = processor
        self.seed = seed
        self.batch_size = batch_size
        everything = emoji_data.select_emoji(emoji_data_min_distance(model))
        self.seen, self.held_out = emoji_data.split(everything, seed=0)
        self.by_name = {e.name: e for e in everything}
        references = in_model_frame(processor.image_processor, [emoji_data.render(e.char) for e in everything])
        self.judge = ImageJudge([e.name for e in everything], references)
        self._bank = None
        self.cost = {"seconds": 0.0, "forwards": 0, "calls": 0, "images": 0}
        defaults = getattr(model.generation_config, "image_generation_defaults", None) or {}
        self.t2i_defaults = dict(defaults.get("text-to-image", {}))
        self.edit_defaults = dict(defaults.get("image-editing", {}))

    # -- generation ---------------------------------------------------------------------------------------------------
    def t2i_settings(self, **kwargs) -> dict:
        """`kwargs` over the model's text-to-image defaults, as the pipelines merge them: a default the choice makes
        unused (top-k under CD-K or greedy decoding) is dropped."""
        return _merged_settings(self.t2i_defaults, **kwargs)

    def edit_settings(self, **kwargs) -> dict:
        """`kwargs` over the model's image-editing defaults, merged as `t2i_settings`."""
        return _merged_settings(self.edit_defaults, **kwargs)

    def bank(self):
        if self._bank is None:
            self._bank = tasks.build_bank(self.seen, self.processor)
        return self._bank

    def prompts(self, texts: list[str], retrieval: bool = False) -> list[list[int]]:
        if not retrieval:
            return [self.processor.text_to_image_prompt(t) for t in texts]
        found = self.bank().retrieve(texts, k=2, seed=self.seed)
        return [
            self.processor.text_to_image_prompt(t, [[d["text"], d["image_token_ids"]] for d in docs])
            for t, docs in zip(texts, found)
        ]

    @torch.no_grad()
    def generate_images(
        self,
        prompt_ids,
        num_images_per_prompt=1,
        image_prompt_ids=None,
        draft_ids=None,
        seed_offset=0,
        return_tokens=False,
        **kwargs,
    ):
        """Images for the prompts (their token ids with `return_tokens`), in batches; `self.cost` adds up the calls'
        forwards, images and seconds. `draft_ids`: one picture's token ids per prompt, the speculative decoder's
        drafts."""
        images = []
        step = max(1, self.batch_size // num_images_per_prompt)
        for start in range(0, len(prompt_ids), step):
            batch = self.processor.pad(prompt_ids[start : start + step], padding_side="left", return_tensors="pt")
            extra = {}
            if image_prompt_ids is not None:
                image_batch = self.processor.pad(
                    image_prompt_ids[start : start + step], padding_side="left", return_tensors="pt"
                )
                extra = {
                    "image_input_ids": image_batch["input_ids"],
                    "image_attention_mask": image_batch["attention_mask"],
                }
            if draft_ids is not None:
                extra["draft_image_token_ids"] = torch.tensor(draft_ids[start : start + step])
            generator = torch.Generator().manual_seed(self.seed * 100_003 + seed_offset + start)
            started = time.perf_counter()
            output = self.model.generate_images(
                batch["input_ids"],
                batch["attention_mask"],
                num_images_per_prompt=num_images_per_prompt,
                generator=generator,
                progress_bar=False,
                **extra,
                **kwargs,
            )
            self.cost["seconds"] += time.perf_counter() - started
            self.cost["forwards"] += output.num_forward_passes
            self.cost["calls"] += 1
            self.cost["images"] += len(output.image_token_ids)
            tokens = output.image_token_ids
            images += [tokens] if return_tokens else self.processor.token_ids_to_images(tokens)
        return torch.cat(images) if return_tokens else images

    @torch.no_grad()
    def generate_texts(self, prompt_ids, max_new_tokens: int = 24) -> list[str]:
        texts = []
        for start in range(0, len(prompt_ids), self.batch_size):
            batch = self.processor.pad(
                prompt_ids[start : start + self.batch_size], padding_side="left", return_tensors="pt"
            )
            output = self.model.generate_text(
                batch["input_ids"], batch["attention_mask"], max_new_tokens=max_new_tokens, do_sample=False
            )
            texts += self.processor.tokenizer.batch_decode(
                output[:, batch["input_ids"].shape[1] :], skip_special_tokens=True
            )
        return [t.strip() for t in texts]

    @torch.no_grad()
    def caption_scores(self, images, names) -> np.ndarray:
        """log p(name | picture) in the captioning layout: the best-of-N re-ranking score (the model's own)."""
        tokenizer = self.processor.tokenizer
        rows, spans = [], []
        for image_ids, name in zip(self.processor.encode_images(images), names):
            prompt = self.processor.captioning_prompt(image_ids)
            target = tokenizer(name, add_special_tokens=False)["input_ids"] + [self.processor.eoss_token_id]
            rows.append(prompt + target)
            spans.append((len(prompt), len(prompt) + len(target)))
        scores = []
        for start in range(0, len(rows), self.batch_size):
            batch = self.processor.pad(
                rows[start : start + self.batch_size], padding_side="right", return_tensors="pt"
            )
            log_probs = torch.log_softmax(self.model(**batch).logits.float(), dim=-1)
            for row, (begin, end) in enumerate(spans[start : start + self.batch_size]):
                targets = batch["input_ids"][row, begin:end]
                scores.append(float(log_probs[row, begin - 1 : end - 1].gather(-1, targets[:, None]).sum()))
        return np.array(scores)

    # -- measurements -------------------------------------------------------------------------------------------------
    def sample_seen(self, count: int) -> list[emoji_data.Emoji]:
        rng = np.random.default_rng(self.seed)
        return [self.seen[i] for i in sorted(rng.choice(len(self.seen), min(count, len(self.seen)), replace=False))]

    def text_to_image(
        self, emoji, template=0, samples=1, best_of=1, retrieval=False, retrieval_drafts=False, **kwargs
    ) -> dict:
        """`retrieval`: 2 retrieved documents before the prompt; `retrieval_drafts`: the top retrieved picture as the
        speculative decoder's drafts (with `parallel_decoding="jacobi"`)."""
        self.cost = {"seconds": 0.0, "forwards": 0, "calls": 0, "images": 0}
        names = [e.name for e in emoji]
        texts = [emoji_data.text_to_image_prompt(n, template) for n in names]
        ids = [p for p in self.prompts(texts, retrieval) for _ in range(samples)]
        drafts = None
        if retrieval_drafts:
            found = self.bank().retrieve(texts, k=1, seed=self.seed)
            drafts = [docs[0]["image_token_ids"] for docs in found for _ in range(samples)]
        images = self.generate_images(
            ids, num_images_per_prompt=best_of, draft_ids=drafts, **self.t2i_settings(**kwargs)
        )
        expected = [n for n in names for _ in range(samples)]
        if best_of > 1:
            scores = self.caption_scores(images, [n for n in expected for _ in range(best_of)]).reshape(-1, best_of)
            images = [images[i * best_of + int(np.argmax(row))] for i, row in enumerate(scores)]
        cost = {
            "seconds_per_image": self.cost["seconds"] / max(1, self.cost["images"]),
            "forwards_per_call": self.cost["forwards"] / max(1, self.cost["calls"]),
        }
        return {"accuracy": self.judge.accuracy(images, expected), "count": len(images), **cost}, images

    def captioning(self, emoji, views: int = 1, shifted: bool = True) -> dict:
        """Exact names of `views` shifted and scaled views of each emoji (of the renders, with `shifted=False`).
        `judge_accuracy`: how many of the same pictures the pixel judge itself identifies (a reference for the
        shifted views, which move the picture by up to 1.5 of its 32 pixels)."""
        rng = np.random.default_rng(self.seed + 11)
        draw = emoji_data.random_view if shifted else lambda char, _: emoji_data.render(char)
        pictures = [draw(e.char, rng) for e in emoji for _ in range(views)]
        expected = [e.name for e in emoji for _ in range(views)]
        captions = self.generate_texts([self.processor.captioning_prompt(p) for p in pictures])
        wrong = [(e, c) for e, c in zip(expected, captions) if e != c]
        return {
            "accuracy": float(np.mean([e == c for e, c in zip(expected, captions)])),
            "count": len(expected),
            "judge_accuracy": self.judge.accuracy(in_model_frame(self.processor.image_processor, pictures), expected),
            "errors": wrong[:10],
        }

    def vqa(self, emoji) -> dict:
        rng = np.random.default_rng(self.seed + 13)
        families = emoji_data.colour_families(self.seen)
        tone_bases = {e.base for e in self.seen if e.tone is not None}
        prompts, answers, kinds = [], [], []
        for e in emoji:
            for question, answer in tasks.vqa_pairs(e, families, tone_bases):
                picture = emoji_data.random_view(e.char, rng)
                prompts.append(self.processor.vqa_prompt(picture, question))
                answers.append(answer)
                kinds.append("skin tone" if question == tasks.SKIN_TONE_QUESTION else "colour")
        predicted = [p.rstrip(".").strip() for p in self.generate_texts(prompts)]
        by_kind = defaultdict(list)
        for kind, a, p in zip(kinds, answers, predicted):
            by_kind[kind].append(a == p)
        return {kind: {"accuracy": float(np.mean(v)), "count": len(v)} for kind, v in by_kind.items()}

    def editing(self, max_edits: int = 300, **kwargs) -> dict:
        all_edits = tasks.edits(self.seen)
        rng = np.random.default_rng(self.seed + 17)
        chosen = [
            all_edits[i] for i in sorted(rng.choice(len(all_edits), min(max_edits, len(all_edits)), replace=False))
        ]
        full, image_only, expected, kinds = [], [], [], []
        for source, instruction, target in chosen:
            prompts = self.processor.editing_prompts(emoji_data.render(source.char), instruction)
            full.append(prompts[0])
            image_only.append(prompts[1])
            expected.append(target.name)
            kinds.append("remove tone" if instruction == tasks.REMOVE_TONE_INSTRUCTION else instruction.split()[0])
        images = self.generate_images(full, image_prompt_ids=image_only, **self.edit_settings(**kwargs))
        found = self.judge.identify(images)
        by_kind = defaultdict(list)
        for kind, f, e in zip(kinds, found, expected):
            by_kind[{"give": "skin tone", "make": "colour"}.get(kind, kind)].append(f == e)
        return {
            "accuracy": float(np.mean([f == e for f, e in zip(found, expected)])),
            "by_edit": {k: float(np.mean(v)) for k, v in by_kind.items()},
            "count": len(images),
        }

    def infilling(
        self, emoji, region: str = "band", with_prompt: bool = True, source: str = "render", **kwargs
    ) -> dict:
        """Redraw a band of rows (a third to a half of the image) or a random rectangle of seen emoji through
        `pipeline("image-inpainting")`, with the model's inpainting defaults (`kwargs` over them); success when the
        judge identifies the emoji. `source`: what is repaired: the emoji's `"render"`, or the model's own drawing of
        it (text-to-image defaults), handed over as its `"picture"` or as its `"tokens"`."""
        from transformers import pipeline

        if source not in ("render", "picture", "tokens"):
            raise ValueError(f"`source` must be 'render', 'picture' or 'tokens', got {source!r}.")
        pipe = pipeline("image-inpainting", model=self.model, processor=self.processor)
        drawings = None
        if source != "render":
            texts = [emoji_data.text_to_image_prompt(e.name) for e in emoji]
            drawings = self.generate_images(self.prompts(texts), return_tokens=True, **self.t2i_settings())
        rng = np.random.default_rng(self.seed + 19)
        grid = self.processor.image_processor.grid_size
        images, expected = [], []
        for index, e in enumerate(emoji):
            if region == "band":
                mask = tasks.band_mask(rng, grid, min_rows=-(-grid // 3))  # a third to a half
            else:
                mask = tasks.rectangle_mask(rng, grid, max_side=grid // 2)
            picture = (
                emoji_data.render(e.char)
                if drawings is None
                else self.processor.token_ids_to_images(drawings[index : index + 1])[0]
            )
            cell = picture.width // grid
            mask_image = Image.fromarray(np.kron(mask, np.ones((cell, cell), dtype=bool)).astype(np.uint8) * 255)
            if source == "render":
                # The band is chosen in the model's frame, as training masked it: under moment normalisation the
                # mask handed over is its preimage on the render, which the pipeline moves back onto the band.
                mask_image = mask_in_picture_frame(self.processor.image_processor, picture, mask_image)
            elif source == "tokens":
                picture = drawings[index]
            output = pipe(
                e.name if with_prompt else None,
                image=picture,
                mask_image=mask_image,
                generator=torch.Generator().manual_seed(self.seed * 1000 + len(images)),
                output_type="tokens",
                progress_bar=False,
                **kwargs,
            )
            images += self.processor.token_ids_to_images(output.images)
            expected.append(e.name)
        return {"accuracy": self.judge.accuracy(images, expected), "count": len(images)}

    @torch.no_grad()
    def held_out_tokens(self) -> dict:
        """What composing a held-out (emoji, skin tone) pair asks of the model, read off the image tokenizer alone
        (no language model), on the renders: whether the tokenizer keeps the pair's picture (the judge on its round
        trip); how many of the pair's tokens training shows at the same position on the same emoji (other tones or
        none) or on the same tone (other emoji); and how many tokens differ between two seen tones of one emoji.
        With a palette code (the recipe's `--palette-steps`), also how many of the pair's grid codes are its yellow
        base's and how often its palette code is its tone."""
        image_processor = self.processor.image_processor
        bases, tones = {e.base for e in self.held_out}, {e.tone for e in self.held_out}
        related = [e for e in self.seen if e.base in bases or e.tone in tones]
        codes = image_processor.encode([emoji_data.render(e.char) for e in self.held_out + related]).flatten(1)
        held_codes, related_codes = codes[: len(self.held_out)], codes[len(self.held_out) :]
        round_trip = image_processor.postprocess(image_processor.decode(held_codes))
        on_emoji, on_emoji_or_tone = [], []
        for e, row in zip(self.held_out, held_codes):
            same_base = (related_codes[[s.base == e.base for s in related]] == row).any(0)
            same_tone = (related_codes[[s.tone == e.tone for s in related]] == row).any(0)
            on_emoji.append(float(same_base.float().mean()))
            on_emoji_or_tone.append(float((same_base | same_tone).float().mean()))
        toned = [(e, row) for e, row in zip(related, related_codes) if e.tone is not None]
        changed = [
            float((a != b).float().mean())
            for i, (e, a) in enumerate(toned)
            for f, b in toned[i + 1 :]
            if e.base == f.base
        ]
        found = {
            "round_trip_judged": self.judge.accuracy(round_trip, [e.name for e in self.held_out]),
            "tokens_seen_on_the_emoji": float(np.mean(on_emoji)),
            "tokens_seen_on_the_emoji_or_the_tone": float(np.mean(on_emoji_or_tone)),
            "tokens_changed_between_two_seen_tones": float(np.mean(changed)),
            "count": len(self.held_out),
        }
        vq_config = image_processor.vq_model.config
        if vq_config.num_palette_embeddings:
            from cm3leon_emoji.image_tokenizer import palette_label

            cells = vq_config.grid_size**2
            base_codes = image_processor.encode([emoji_data.render(e.base) for e in self.held_out])
            tones = torch.tensor([vq_config.num_embeddings + palette_label(e) for e in self.held_out])
            found["grid_codes_of_the_base"] = float((held_codes[:, :cells] == base_codes[:, :cells]).float().mean())
            found["palette_is_the_tone"] = float((held_codes[:, cells] == tones).float().mean())
        return found

    def speed(self, repeats: int = 5) -> dict:
        from transformers import pipeline

        pipe = pipeline("text-to-image", model=self.model, processor=self.processor)
        generator = torch.Generator().manual_seed(self.seed)
        pipe("red apple", generator=generator)  # warm-up
        started = time.perf_counter()
        for _ in range(repeats):
            pipe("red apple", generator=generator)
        return {"seconds_per_image_batch_1": (time.perf_counter() - started) / repeats}

    def sample_grid(self, path: str, names: list[str], held_out: set[str]) -> None:
        """One row per prompt: the prompt, 3 samples; held-out prompts marked."""
        images = self.generate_images(self.prompts(names), num_images_per_prompt=3, **self.t2i_settings())
        cell, label = 96, 260
        grid = Image.new("RGB", (label + 3 * cell, cell * len(names)), "white")
        draw = ImageDraw.Draw(grid)
        font = ImageFont.load_default(size=15)
        for row, name in enumerate(names):
            text = f"{name}\n(held out)" if name in held_out else name
            draw.multiline_text((8, row * cell + cell // 2 - 16), text, fill="black", font=font)
            for column in range(3):
                picture = images[row * 3 + column].resize((cell - 8, cell - 8), Image.Resampling.LANCZOS)
                grid.paste(picture, (label + column * cell + 4, row * cell + 4))
        grid.save(path)


# The sample grid's seen prompts (the model card's and the README's picture): everyday emoji, fixed in advance, drawn
# or not; then the first four held-out pairs.
GRID_PROMPTS = (
    "red apple",
    "rocket",
    "grinning face",
    "blue heart",
    "thumbs up: dark skin tone",
    "pizza",
    "cat face",
    "rainbow",
)


def mask_in_picture_frame(image_processor, picture, frame_mask):
    """`frame_mask` (in the model's frame) moved onto `picture`, undoing the processor's moment normalisation
    (`content_radius`); as it is without one. `picture` has the processor's size."""
    if getattr(image_processor, "content_radius", None) is None:
        return frame_mask
    affine = content_affine(picture.convert("RGB"), image_processor.background_color, image_processor.content_radius)
    if affine is None:
        return frame_mask
    # picture = scale * frame + offset, so frame = (picture - offset) / scale.
    scale, _, x_offset, _, _, y_offset = affine
    return transform_mask(frame_mask, (1 / scale, 0.0, -x_offset / scale, 0.0, 1 / scale, -y_offset / scale))


def emoji_data_min_distance(model) -> float:
    recipe = os.path.join(model.name_or_path, "training_recipe.json")
    if os.path.isfile(recipe):
        with open(recipe) as handle:
            return json.load(handle)["min_distance"]
    return 2.0


def run(model_dir: str, output_dir: str, seed: int, quick: bool = False) -> dict:
    from transformers_cm3leon import CM3LeonForCausalLM, CM3LeonProcessor

    model = CM3LeonForCausalLM.from_pretrained(model_dir)
    processor = CM3LeonProcessor.from_pretrained(model_dir)
    evaluator = EmojiEvaluator(model, processor, seed=seed)
    os.makedirs(output_dir, exist_ok=True)
    count = 100 if quick else 400
    sample = evaluator.sample_seen(count)
    results: dict = {"seed": seed, "model": model_dir, "decoding": evaluator.t2i_defaults}

    def timed(name, function, *args, **kwargs):
        started = time.time()
        value = function(*args, **kwargs)
        print(f"{name}: {json.dumps(value[0] if isinstance(value, tuple) else value)} ({time.time() - started:.0f} s)")
        return value[0] if isinstance(value, tuple) else value

    results["text_to_image"] = {
        "seen_bare_name": timed("t2i seen", evaluator.text_to_image, sample),
        "seen_template": timed("t2i seen template", evaluator.text_to_image, sample, template=1),
        "held_out": timed("t2i held out", evaluator.text_to_image, evaluator.held_out, samples=4),
        "held_out_retrieval": timed(
            "t2i held out + retrieval", evaluator.text_to_image, evaluator.held_out, samples=4, retrieval=True
        ),
    }
    results["captioning"] = {
        "seen": timed("captioning seen", evaluator.captioning, sample),
        "seen_unshifted": timed("captioning seen renders", evaluator.captioning, sample, shifted=False),
        "held_out": timed("captioning held out", evaluator.captioning, evaluator.held_out, views=4),
    }
    results["vqa"] = {
        "seen": timed(
            "vqa seen",
            evaluator.vqa,
            [e for e in evaluator.seen if e.tone is not None or emoji_data.colour_of(e.name)],
        ),
        "held_out": timed("vqa held out", evaluator.vqa, evaluator.held_out),
    }
    results["held_out_tokens"] = timed("held-out pairs, read off the image tokenizer", evaluator.held_out_tokens)
    results["editing"] = timed("editing", evaluator.editing, max_edits=100 if quick else 300)
    infill_sample = sample[: 60 if quick else 200]
    results["infilling"] = {
        "band_with_name": timed("infilling band + name", evaluator.infilling, infill_sample),
        "band_with_name_one_repair": timed(
            "infilling band + name, one repair at T 0.3", evaluator.infilling, infill_sample, rerank=1, temperature=0.3
        ),
        "band_without_prompt": timed("infilling band", evaluator.infilling, infill_sample, with_prompt=False),
        "rectangle_with_name": timed("infilling rectangle", evaluator.infilling, infill_sample, region="rectangle"),
        "own_drawing_band_with_name_picture": timed(
            "infilling band + name of its own drawings, as pictures",
            evaluator.infilling,
            infill_sample,
            source="picture",
        ),
        "own_drawing_band_with_name_tokens": timed(
            "infilling band + name of its own drawings, as tokens", evaluator.infilling, infill_sample, source="tokens"
        ),
    }
    if not quick:
        ablation = {}
        small = sample[:200]
        for name, kwargs in {
            "guidance 1 (none)": {"guidance_scale": 1.0},
            "guidance 3": {"guidance_scale": 3.0},
            "guidance 5": {"guidance_scale": 5.0},
            "CD-K": {"decoding_strategy": "cd-k"},
            "best-of-4": {"best_of": 4},
            "retrieval": {"retrieval": True},
            "speculative (jacobi)": {"parallel_decoding": "jacobi"},
            "speculative, retrieved drafts": {"parallel_decoding": "jacobi", "retrieval_drafts": True},
        }.items():
            ablation[name] = timed(f"ablation {name}", evaluator.text_to_image, small, **kwargs)
        results["ablation_seen_200"] = ablation
        results["editing_guidance_3"] = timed(
            "editing, guidance 3 / image guidance 1.5",
            evaluator.editing,
            max_edits=150,
            guidance_scale=3.0,
            image_guidance_scale=1.5,
        )
        results["speed"] = timed("speed", evaluator.speed)
    with open(os.path.join(output_dir, "results.json"), "w") as handle:
        json.dump(results, handle, indent=2, default=str)
    grid_names = list(GRID_PROMPTS) + [e.name for e in evaluator.held_out[:4]]
    evaluator.sample_grid(os.path.join(output_dir, "samples.png"), grid_names, {e.name for e in evaluator.held_out})
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="A model folder (default: the shipped default model).")
    parser.add_argument("--output-dir", default="outputs/cm3leon-emoji-eval")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="Smaller samples, no ablation (a check during training).")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    model_dir = args.model
    if model_dir is None:
        from transformers_cm3leon.default_model import default_model_path

        model_dir = default_model_path()
    run(model_dir, args.output_dir, args.seed, quick=args.quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
