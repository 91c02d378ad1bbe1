# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Measure CM3Leon-Mini: what it draws, captions, answers and edits, judged by judges that are not the model.

    python recipes/cm3leon_mini/evaluate.py [--model FOLDER] [--output-dir outputs/cm3leon-mini-eval]

- Digits, text-to-image: the requested digit vs. what an independent classifier ([`DigitClassifier`], an SVM trained
  on the real training digits) reads in the generated image.
- Digits, captioning and VQA: on the HELD-OUT real digits (never seen in training); the caption / answer must name
  the right digit.
- Shapes: the generator's oracle ([`shapes.read_scene`]) reads colour, shape and position from the pixels of every
  generated or edited image. Text-to-image prompt fidelity, VQA, captioning, text-guided editing, spatially grounded
  generation and segmentation-to-image are measured on the 40 training scenes and, separately, on the 8 held-out
  scenes (combinations never drawn in training).
- Ablations (digits and shapes text-to-image): classifier-free guidance scale, CD-K, best-of-N re-ranking and
  retrieval-augmented prompts. Best-of-N re-ranks by the model's own score of the prompt given the image (the
  captioning likelihood), since no CLIP weights are available offline; the judges above never take part in it.

Writes `results.json`, `results.md` (the tables of benchmarks/RESULTS.md) and `samples.png` (the README grid).
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
from PIL import Image, ImageDraw

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # recipes/

from cm3leon_mini import digits as digits_world  # noqa: E402
from cm3leon_mini import shapes as shapes_world  # noqa: E402
from cm3leon_mini.mini_model import RECOMMENDED_GENERATION  # noqa: E402

DEFAULT_GUIDANCE_SCALE = 3.0


def _pil(array) -> Image.Image:
    return Image.fromarray(np.asarray(array, dtype=np.uint8), mode="RGB")


class MiniEvaluator:
    """Generation helpers and the measurements, for one model and processor."""

    def __init__(self, model, processor, seed: int = 0, batch_size: int = 256):
        self.model = model.eval()
        self.processor = processor
        self.seed = seed
        self.batch_size = batch_size
        self.tokenizer = processor.tokenizer
        self._bank = None

    # -- prompts ------------------------------------------------------------------------------------------------------
    def _text_ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False, split_special_tokens=True)["input_ids"]

    def _image_ids(self, images) -> list[list[int]]:
        return self.processor.image_processor.images_to_token_ids(list(images)).tolist()

    def grounded_prompt(self, scene: shapes_world.Scene) -> list[int]:
        """The spatially grounded generation prompt (SFT template `spatially_grounded_generation`, image left out)."""
        from transformers_cm3leon.data import format_grounding_objects

        objects = format_grounding_objects(shapes_world.grounding_objects(scene))
        text = f"Generate high quality image of a {scene.colour} {scene.shape} with segmentations {objects}"
        return [self.processor.eos_token_id, *self._text_ids(text), self.processor.break_token_id]

    def segmentation_prompt(self, scene: shapes_world.Scene) -> list[int]:
        """The segmentation-to-image prompt (SFT template `segmentation_to_image`, output image left out)."""
        (segmentation_ids,) = self._image_ids([_pil(shapes_world.render_segmentation(scene))])
        brk = self.processor.break_token_id
        return [
            self.processor.eos_token_id,
            *self._text_ids("Make high quality image from a segmentation map"),
            brk,
            *segmentation_ids,
            brk,
            *self._text_ids(f"a {scene.colour} {scene.shape}"),
            brk,
        ]

    def retrieval_bank(self):
        """The retrieval bank over the training documents (built once)."""
        if self._bank is None:
            from cm3leon_mini.bank import CaptionBankRetriever
            from cm3leon_mini.train import MiniRecipe, caption_documents

            documents = caption_documents(MiniRecipe(seed=self.seed), np.random.default_rng(self.seed))
            texts = [text for text, _ in documents]
            images = [_pil(image) for _, image in documents]
            self._bank = CaptionBankRetriever(texts, images, self._image_ids(images))
        return self._bank

    def text_to_image_prompts(self, prompts: list[str], retrieval: bool = False) -> list[list[int]]:
        if not retrieval:
            return [self.processor.text_to_image_prompt(prompt) for prompt in prompts]
        results = self.retrieval_bank().retrieve(prompts, k=2, seed=self.seed)
        return [
            self.processor.text_to_image_prompt(prompt, retrieved_documents=[[d["text"], d["image"]] for d in docs])
            for prompt, docs in zip(prompts, results)
        ]

    # -- generation ---------------------------------------------------------------------------------------------------
    @torch.no_grad()
    def generate_images(
        self,
        prompt_ids: list[list[int]],
        num_images_per_prompt: int = 1,
        image_prompt_ids: list[list[int]] | None = None,
        seed_offset: int = 0,
        draft_ids: list[list[int]] | None = None,
        **kwargs,
    ) -> list[Image.Image]:
        """Images for token-id prompts, `num_images_per_prompt` each (prompt-major), in batches. `draft_ids`: one
        picture's token ids per prompt, the speculative decoder's drafts."""
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
            generator = torch.Generator().manual_seed(self.seed + seed_offset + start)
            output = self.model.generate_images(
                batch["input_ids"],
                batch["attention_mask"],
                num_images_per_prompt=num_images_per_prompt,
                generator=generator,
                progress_bar=False,
                **extra,
                **{"cache_implementation": "dynamic", **kwargs},  # speculative decoding asks for "static"
            )
            images += self.processor.token_ids_to_images(output.image_token_ids)
        return images

    @torch.no_grad()
    def generate_texts(self, prompt_ids: list[list[int]], max_new_tokens: int = 12) -> list[str]:
        """Greedy text (captions, answers) after each prompt, up to `<eoss>`."""
        texts = []
        for start in range(0, len(prompt_ids), self.batch_size):
            batch = self.processor.pad(
                prompt_ids[start : start + self.batch_size], padding_side="left", return_tensors="pt"
            )
            output = self.model.generate_text(
                batch["input_ids"], batch["attention_mask"], max_new_tokens=max_new_tokens, do_sample=False
            )
            new_tokens = output[:, batch["input_ids"].shape[1] :]
            texts += self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        return [text.strip() for text in texts]

    @torch.no_grad()
    def caption_scores(self, images: list[Image.Image], captions: list[str]) -> np.ndarray:
        """log p(caption | image) under the model, in the captioning infill layout (best-of-N re-ranking score)."""
        rows, spans = [], []
        for image_ids, caption in zip(self._image_ids(images), captions):
            prompt = [
                self.processor.eos_token_id,
                self.processor.sentinel_token_id(0),
                self.processor.break_token_id,
                *image_ids,
                self.processor.sentinel_token_id(0),
            ]
            target = self._text_ids(caption) + [self.processor.eoss_token_id]
            rows.append(prompt + target)
            spans.append((len(prompt), len(prompt) + len(target)))
        scores = []
        for start in range(0, len(rows), self.batch_size):
            batch = self.processor.pad(
                rows[start : start + self.batch_size], padding_side="right", return_tensors="pt"
            )
            logits = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            log_probs = torch.log_softmax(logits.float(), dim=-1)
            for row, (begin, end) in enumerate(spans[start : start + self.batch_size]):
                targets = batch["input_ids"][row, begin:end]
                scores.append(float(log_probs[row, begin - 1 : end - 1].gather(-1, targets[:, None]).sum()))
        return np.array(scores)

    def best_of_n(self, prompts: list[str], candidates: list[Image.Image], n: int) -> list[Image.Image]:
        """Keep, per prompt, the candidate the model itself scores best (`n` candidates per prompt, prompt-major)."""
        scores = self.caption_scores(candidates, [p for p in prompts for _ in range(n)]).reshape(len(prompts), n)
        return [candidates[i * n + int(np.argmax(row))] for i, row in enumerate(scores)]

    # -- measurements -------------------------------------------------------------------------------------------------
    def digits_text_to_image(
        self,
        classifier,
        samples_per_prompt: int = 4,
        best_of: int = 1,
        retrieval: bool = False,
        retrieval_drafts: bool = False,
        **kwargs,
    ) -> dict:
        """Share of generated digits the independent classifier reads as the requested digit (all caption templates).
        `retrieval_drafts`: the top retrieved picture is the speculative decoder's drafts (`parallel_decoding`)."""
        prompts, labels = [], []
        for digit in range(10):
            for template in range(len(digits_world.CAPTION_TEMPLATES)):
                prompts.append(digits_world.digit_caption(digit, template))
                labels.append(digit)
        ids = self.text_to_image_prompts(prompts, retrieval)
        repeated = [p for p in prompts for _ in range(samples_per_prompt)]
        drafts = None
        if retrieval_drafts:
            found = self.retrieval_bank().retrieve(prompts, k=1, seed=self.seed)
            drafts = [docs[0]["image_token_ids"] for docs in found for _ in range(samples_per_prompt)]
        images = self.generate_images(
            [i for i in ids for _ in range(samples_per_prompt)],
            num_images_per_prompt=best_of,
            draft_ids=drafts,
            **kwargs,
        )
        if best_of > 1:
            images = self.best_of_n(repeated, images, best_of)
        predictions = classifier.predict(images)
        overlap = self.training_overlap(images)
        expected = np.repeat(labels, samples_per_prompt)
        per_digit = {str(d): float(np.mean(predictions[expected == d] == d)) for d in range(10)}
        return {
            "accuracy": float(np.mean(predictions == expected)),
            "per_digit": per_digit,
            "copies_of_training_images": float(np.mean(overlap == self.processor.image_seq_length)),
            "tokens_shared_with_nearest_training_digit": float(overlap.mean()),
            "count": len(images),
        }

    def training_overlap(self, images: list[Image.Image]) -> np.ndarray:
        """For each image, the most image tokens (of `image_seq_length`) it shares, position by position, with one
        training digit: a memorisation measure (16 = an exact copy)."""
        if not hasattr(self, "_training_digit_codes"):
            train, _ = digits_world.load_digit_splits(self.processor.image_processor.size, seed=self.seed)
            self._training_digit_codes = np.array(self._image_ids([_pil(x) for x in train.images]))
        codes = np.array(self._image_ids(images))
        return np.array([(self._training_digit_codes == row).sum(axis=1).max() for row in codes])

    def digits_captioning(self, held_out: digits_world.DigitsSplit) -> dict:
        images = [_pil(x) for x in held_out.images]
        captions = self.generate_texts([self.processor.captioning_prompt(image) for image in images])
        answers = self.generate_texts([self.processor.vqa_prompt(image, "what digit is this?") for image in images])
        caption_digits = [digits_world.parse_digit(c) for c in captions]
        answer_digits = [digits_world.parse_digit(a) for a in answers]
        return {
            "captioning_accuracy": float(np.mean([p == y for p, y in zip(caption_digits, held_out.labels)])),
            "vqa_accuracy": float(np.mean([p == y for p, y in zip(answer_digits, held_out.labels)])),
            "count": len(images),
            "examples": [
                {"label": int(y), "caption": c, "answer": a}
                for y, c, a in list(zip(held_out.labels, captions, answers))[:5]
            ],
        }

    def shapes_text_to_image(
        self, scenes, samples_per_prompt: int = 4, best_of: int = 1, retrieval: bool = False, **kwargs
    ) -> dict:
        """Prompt fidelity by the oracle: colour, shape, position and all three right."""
        prompts = [scene.caption(0) for scene in scenes]
        ids = self.text_to_image_prompts(prompts, retrieval)
        images = self.generate_images(
            [i for i in ids for _ in range(samples_per_prompt)], num_images_per_prompt=best_of, **kwargs
        )
        if best_of > 1:
            images = self.best_of_n([p for p in prompts for _ in range(samples_per_prompt)], images, best_of)
        expected = [scene for scene in scenes for _ in range(samples_per_prompt)]
        return _fidelity([shapes_world.read_scene(image) for image in images], expected)

    def shapes_conditioned(self, scenes, kind: str, samples_per_prompt: int = 2, **kwargs) -> dict:
        """Spatially grounded generation (`kind="grounding"`) or segmentation-to-image (`kind="segmentation"`)."""
        build = self.grounded_prompt if kind == "grounding" else self.segmentation_prompt
        ids = [build(scene) for scene in scenes]
        images = self.generate_images([i for i in ids for _ in range(samples_per_prompt)], **kwargs)
        expected = [scene for scene in scenes for _ in range(samples_per_prompt)]
        return _fidelity([shapes_world.read_scene(image) for image in images], expected)

    def shapes_understanding(self, scenes) -> dict:
        """Captioning (all three attributes named) and VQA exact-match accuracy, by question type."""
        images = [_pil(shapes_world.render_scene(scene)) for scene in scenes]
        captions = self.generate_texts([self.processor.captioning_prompt(image) for image in images])
        caption_ok = [_caption_names(caption, scene) for caption, scene in zip(captions, scenes)]
        rng = np.random.default_rng(self.seed)
        questions, answers, kinds, prompt_ids = [], [], [], []
        for image, scene in zip(images, scenes):
            for kind, (question, answer) in zip(
                ("colour", "shape", "position", "yes/no"), shapes_world.vqa_pairs(scene, rng)
            ):
                questions.append(question)
                answers.append(answer)
                kinds.append(kind)
                prompt_ids.append(self.processor.vqa_prompt(image, question))
        predicted = self.generate_texts(prompt_ids)
        correct = defaultdict(list)
        for kind, answer, prediction in zip(kinds, answers, predicted):
            correct[kind].append(prediction.rstrip(".").strip() == answer)
        return {
            "captioning_accuracy": float(np.mean(caption_ok)),
            "vqa_accuracy": float(np.mean([ok for oks in correct.values() for ok in oks])),
            "vqa_by_question": {kind: float(np.mean(oks)) for kind, oks in correct.items()},
            "count": len(scenes),
        }

    def shapes_editing(self, scenes, edits_per_scene: int = 3, targets=None, **kwargs) -> dict:
        """Edit success: the oracle reads exactly the edited scene (the changed attribute AND the two kept ones)."""
        rng = np.random.default_rng(self.seed + 7)
        full, image_only, expected, kinds = [], [], [], []
        for scene in scenes:
            image = _pil(shapes_world.render_scene(scene))
            for _ in range(edits_per_scene):
                instruction, target = shapes_world.edit_of(scene, rng, targets or shapes_world.ALL_SCENES)
                prompts = self.processor.editing_prompts(image, instruction)
                full.append(prompts[0])
                image_only.append(prompts[1])
                expected.append(target)
                kinds.append(instruction.split()[0])
        images = self.generate_images(full, image_prompt_ids=image_only, **kwargs)
        read = [shapes_world.read_scene(image) for image in images]
        success = [r == t for r, t in zip(read, expected)]
        by_kind = defaultdict(list)
        for kind, ok in zip(kinds, success):
            by_kind[{"make": "colour", "move": "position", "turn": "shape"}[kind]].append(ok)
        return {
            "success_rate": float(np.mean(success)),
            "by_edit": {kind: float(np.mean(oks)) for kind, oks in by_kind.items()},
            "count": len(success),
        }


def _fidelity(read, expected) -> dict:
    def share(attribute):
        return float(
            np.mean([r is not None and getattr(r, attribute) == getattr(e, attribute) for r, e in zip(read, expected)])
        )

    return {
        "all_correct": float(np.mean([r == e for r, e in zip(read, expected)])),
        "colour": share("colour"),
        "shape": share("shape"),
        "position": share("position"),
        "count": len(expected),
    }


def _caption_names(caption: str, scene: shapes_world.Scene) -> bool:
    caption = caption.lower()
    words = caption.split()
    return (
        scene.colour in words
        and scene.shape in words
        and scene.position in caption
        and all(other not in words for other in shapes_world.COLOURS if other != scene.colour)
    )


# ----------------------------------------------------------------------------------------------------------------------
# The sample grid
# ----------------------------------------------------------------------------------------------------------------------
def sample_grid(
    evaluator: MiniEvaluator, scale: int = 4, columns: int = 8, generation_kwargs: dict | None = None
) -> Image.Image:
    """Digits 0-9 (one row each, "a handwritten digit {word}") and 8 shapes prompts, `columns` samples each."""
    from PIL import ImageFont

    digit_prompts = [digits_world.digit_caption(d, 0) for d in range(10)]
    shape_prompts = [s.caption(0) for s in shapes_world.TRAIN_SCENES[::5]]
    prompts = digit_prompts + shape_prompts
    images = evaluator.generate_images(
        evaluator.text_to_image_prompts(prompts),
        num_images_per_prompt=columns,
        seed_offset=99,
        **(RECOMMENDED_GENERATION if generation_kwargs is None else generation_kwargs),
    )
    cell = evaluator.processor.image_processor.size * scale
    label_width = 200
    grid = Image.new("RGB", (label_width + columns * (cell + 2), len(prompts) * (cell + 2)), "white")
    draw = ImageDraw.Draw(grid)
    font = ImageFont.load_default()
    for row, prompt in enumerate(prompts):
        draw.text((4, row * (cell + 2) + cell // 2 - 6), prompt, fill="black", font=font)
        for column in range(columns):
            image = images[row * columns + column].resize((cell, cell), Image.Resampling.NEAREST)
            grid.paste(image, (label_width + column * (cell + 2), row * (cell + 2)))
    return grid


# ----------------------------------------------------------------------------------------------------------------------
# The whole evaluation
# ----------------------------------------------------------------------------------------------------------------------
def evaluate(model, processor, seed: int = 0, quick: bool = False) -> dict:
    """Every measurement and the ablation table; `quick` uses fewer samples (for tests)."""
    from cm3leon_mini.classifier import DigitClassifier

    started = time.time()
    evaluator = MiniEvaluator(model, processor, seed=seed)
    train, held_out = digits_world.load_digit_splits(processor.image_processor.size, seed=seed)
    classifier = DigitClassifier(train, resolution=processor.image_processor.size)
    samples = 1 if quick else 4
    results: dict = {
        "judges": {
            "classifier_held_out_accuracy": classifier.accuracy(held_out.images, held_out.labels),
            "classifier_on_vq_reconstructions": classifier.accuracy(
                processor.token_ids_to_images(evaluator._image_ids([_pil(x) for x in held_out.images])),
                held_out.labels,
            ),
            "held_out_digits_tokens_shared_with_nearest_training_digit": float(
                evaluator.training_overlap([_pil(x) for x in held_out.images]).mean()
            ),
            "oracle_on_clean_scenes": float(
                np.mean([shapes_world.read_scene(shapes_world.render_scene(s)) == s for s in shapes_world.ALL_SCENES])
            ),
            "oracle_on_vq_reconstructions": float(
                np.mean(
                    [
                        shapes_world.read_scene(image) == scene
                        for image, scene in zip(
                            processor.token_ids_to_images(
                                evaluator._image_ids(
                                    [_pil(shapes_world.render_scene(s)) for s in shapes_world.ALL_SCENES]
                                )
                            ),
                            shapes_world.ALL_SCENES,
                        )
                    ]
                )
            ),
        }
    }
    held = held_out if not quick else digits_world.DigitsSplit(held_out.images[:20], held_out.labels[:20])
    results["digits_understanding"] = evaluator.digits_captioning(held)
    seen, unseen = shapes_world.TRAIN_SCENES, shapes_world.HELD_OUT_SCENES
    results["shapes_understanding"] = {
        "seen_scenes": evaluator.shapes_understanding(seen),
        "held_out_scenes": evaluator.shapes_understanding(unseen),
    }
    recommended = dict(RECOMMENDED_GENERATION)
    results["recommended_generation"] = recommended
    results["shapes_editing"] = {
        "paper_scales (text 7.5, image 1.5), T=1": evaluator.shapes_editing(
            seen, edits_per_scene=1 if quick else 3, targets=seen
        ),
        "recommended": evaluator.shapes_editing(
            seen, edits_per_scene=1 if quick else 3, targets=seen, image_guidance_scale=1.0, **recommended
        ),
    }
    for kind in ("grounding", "segmentation"):
        results[f"shapes_{kind}"] = {
            name: evaluator.shapes_conditioned(scenes, kind, samples_per_prompt=samples, **recommended)
            for name, scenes in (("seen_scenes", seen), ("held_out_scenes", unseen))
        }

    settings = [
        ("CFG 1 (no guidance), T=1: plain sampling", {"guidance_scale": 1.0}),
        ("CFG 1, T=0.5", {"guidance_scale": 1.0, "temperature": 0.5}),
        ("CFG 1, greedy (one image per prompt)", {"guidance_scale": 1.0, "do_sample": False}),
        ("CFG 2, T=1", {"guidance_scale": 2.0}),
        ("CFG 3, T=1 (the paper's decoding, the pipeline's default)", {"guidance_scale": 3.0}),
        ("CFG 3, T=0.5", {"guidance_scale": 3.0, "temperature": 0.5}),
        ("CFG 5, T=1", {"guidance_scale": 5.0}),
        ("CD-K (K=50, alpha=0.5), T=1", {"guidance_scale": 1.0, "decoding_strategy": "cd-k"}),
        ("recommended + best-of-4 (self-rerank)", {**recommended, "best_of": 4}),
        ("recommended + retrieval (2 documents)", {**recommended, "retrieval": True}),
        ("CFG 3, T=1 + retrieval (2 documents)", {"guidance_scale": 3.0, "retrieval": True}),
    ]
    names = [name for name, kwargs in settings if kwargs == recommended]
    if names:
        names_to_mark = names[0]
        settings = [((f"{n} = recommended" if n == names_to_mark else n), k) for n, k in settings]
    else:
        settings.insert(0, ("recommended", recommended))
    if quick:
        settings = [(n, k) for n, k in settings if k == recommended]
    ablation = []
    for name, kwargs in settings:
        row = {"setting": name}
        row["digits"] = evaluator.digits_text_to_image(classifier, samples_per_prompt=samples, **kwargs)
        row["shapes_seen"] = evaluator.shapes_text_to_image(seen, samples_per_prompt=samples, **kwargs)
        row["shapes_held_out"] = evaluator.shapes_text_to_image(unseen, samples_per_prompt=samples * 2, **kwargs)
        ablation.append(row)
    results["text_to_image_ablation"] = ablation
    results["evaluation_seconds"] = round(time.time() - started)
    return results, evaluator


def results_markdown(results: dict) -> str:
    """The tables of benchmarks/RESULTS.md and the model card."""
    pct = lambda value: f"{100 * value:.1f}%"  # noqa: E731
    judges = results["judges"]
    du = results["digits_understanding"]
    su = results["shapes_understanding"]
    lines = [
        "| Judge | Accuracy |",
        "|---|---|",
        f"| Digit classifier (SVM on real training digits) on held-out real digits | {pct(judges['classifier_held_out_accuracy'])} |",
        f"| Digit classifier on VQ reconstructions of held-out digits (ceiling of text-to-image) | {pct(judges['classifier_on_vq_reconstructions'])} |",
        f"| Shapes oracle on clean scenes | {pct(judges['oracle_on_clean_scenes'])} |",
        f"| Shapes oracle on VQ reconstructions | {pct(judges['oracle_on_vq_reconstructions'])} |",
        "",
        "| Task | Metric | Result |",
        "|---|---|---|",
    ]
    default = next(row for row in results["text_to_image_ablation"] if row["setting"].endswith("recommended"))
    decoding = ", ".join(f"{k}={v}" for k, v in results["recommended_generation"].items())
    lines += [
        f"| Digits text-to-image ({decoding}), {default['digits']['count']} images | classifier reads the requested digit (target >= 90%) | {pct(default['digits']['accuracy'])} |",
        f"| Digits text-to-image ({decoding}) | exact token copies of a training digit; image tokens (of 16) shared with the nearest training digit (held-out REAL digits: {judges['held_out_digits_tokens_shared_with_nearest_training_digit']:.1f}) | {pct(default['digits']['copies_of_training_images'])}; {default['digits']['tokens_shared_with_nearest_training_digit']:.1f} |",
        f"| Digits captioning, {du['count']} held-out real digits | caption names the right digit (target >= 90%) | {pct(du['captioning_accuracy'])} |",
        f'| Digits VQA "what digit is this?", held-out | right digit | {pct(du["vqa_accuracy"])} |',
        f"| Shapes text-to-image ({decoding}), seen scenes | oracle: colour / shape / position / all | {_attrs(default['shapes_seen'])} |",
        f"| Shapes text-to-image ({decoding}), held-out scenes | oracle: colour / shape / position / all | {_attrs(default['shapes_held_out'])} |",
        f"| Shapes VQA, seen / held-out scenes | exact answer | {pct(su['seen_scenes']['vqa_accuracy'])} / {pct(su['held_out_scenes']['vqa_accuracy'])} |",
        f"| Shapes captioning, seen / held-out scenes | colour, shape and position named | {pct(su['seen_scenes']['captioning_accuracy'])} / {pct(su['held_out_scenes']['captioning_accuracy'])} |",
        *[
            f"| Shapes text-guided editing, {name} ({edit['count']} edits) | oracle reads exactly the edited scene | "
            f"{pct(edit['success_rate'])} ({', '.join(f'{k} {pct(v)}' for k, v in edit['by_edit'].items())}) |"
            for name, edit in results["shapes_editing"].items()
        ],
        f"| Spatially grounded generation, seen / held-out | oracle: all correct | {pct(results['shapes_grounding']['seen_scenes']['all_correct'])} / {pct(results['shapes_grounding']['held_out_scenes']['all_correct'])} |",
        f"| Segmentation-to-image, seen / held-out | oracle: all correct | {pct(results['shapes_segmentation']['seen_scenes']['all_correct'])} / {pct(results['shapes_segmentation']['held_out_scenes']['all_correct'])} |",
        "",
        "| Decoding (text-to-image) | Digits: classifier agrees | Digits: tokens shared with nearest training digit | "
        "Shapes seen: all correct | Shapes held-out: all correct |",
        "|---|---|---|---|---|",
    ]
    for row in results["text_to_image_ablation"]:
        lines.append(
            f"| {row['setting']} | {pct(row['digits']['accuracy'])} | {row['digits']['tokens_shared_with_nearest_training_digit']:.1f} / 16 "
            f"| {pct(row['shapes_seen']['all_correct'])} | {pct(row['shapes_held_out']['all_correct'])} |"
        )
    return "\n".join(lines) + "\n"


def _attrs(fidelity: dict) -> str:
    return " / ".join(f"{100 * fidelity[k]:.0f}%" for k in ("colour", "shape", "position", "all_correct"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="A CM3Leon-Mini folder (default: the shipped weights).")
    parser.add_argument("--output-dir", default="outputs/cm3leon-mini-eval")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-threads", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="Fewer samples, one decoding setting.")
    args = parser.parse_args(argv)
    if args.num_threads is not None:
        torch.set_num_threads(args.num_threads)
    from cm3leon_mini.mini_model import default_model_path
    from transformers_cm3leon import CM3LeonForCausalLM, CM3LeonProcessor

    path = args.model or default_model_path()
    model = CM3LeonForCausalLM.from_pretrained(path).eval()
    processor = CM3LeonProcessor.from_pretrained(path)
    results, evaluator = evaluate(model, processor, seed=args.seed, quick=args.quick)
    os.makedirs(args.output_dir, exist_ok=True)
    with open(os.path.join(args.output_dir, "results.json"), "w") as handle:
        json.dump(results, handle, indent=2)
    table = results_markdown(results)
    with open(os.path.join(args.output_dir, "results.md"), "w") as handle:
        handle.write(table)
    sample_grid(evaluator).save(os.path.join(args.output_dir, "samples.png"))
    print(table)
    print(f"wrote {args.output_dir}/results.json, results.md and samples.png ({results['evaluation_seconds']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
