# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Train CM3Leon-Emoji from scratch with the package's public recipes, in one command:

    python recipes/cm3leon_emoji/train.py --output-dir outputs/cm3leon-emoji [--ship]

Stages (each saved under `--output-dir` and skipped when its folder exists, so a stopped run resumes):

1. `vq/`: the image tokenizer, a 32 px VQGAN with a 4x4 grid of codes from a codebook of 4,096 (16 image tokens
   per emoji), trained with the package's VQ recipe (`build_vq_trainer`: L1 + L2 + commitment loss, EMA codebook
   with dead-code restarts) on the seen emoji, a randomly shifted and scaled view of each, and a hue-rotated copy of
   each (so that every colour is common). The processor gives every all-white cell the code of a blank image
   (`background_color`), so a background is one code per position.
2. `decoder/`: the VQ decoder alone, fine-tuned on the codes of those images (encoder and codebook frozen, so every
   image keeps its tokens): the judge reads 92% of its reconstructions of seen emoji, against 86% before.
   Before it, `palette/` (`--palette-steps`, 1,200; 0 skips it): the tokenizer gets a palette code for the skin tone
   (17 tokens per emoji), fine-tuned with its codebook frozen so that a toned emoji's grid codes are mostly its yellow
   base's and the tone is the palette token (`image_tokenizer.fine_tune_palette`): a held-out pair is then mostly a
   seen shape and a seen tone. With a palette, the decoder also learns to draw each seen toned emoji from its yellow
   base's grid codes (and another variant's) with its own palette code (`image_tokenizer.tone_swapped_rows`).
3. `pretrain/`: the tokenizer (`build_cm3leon_tokenizer`, BPE over names, questions and instructions) and the
   language model, its image-token embeddings started from the VQ codebook, pretrained with the CM3 objective
   (`prepare_pretraining_dataset` + `build_pretraining_trainer`: packing + `DataCollatorForCM3`) on
   `name <break> picture` documents, half of them retrieval-augmented (`RetrievalAugmentedExampleBuilder` over
   [`EmojiBank`]: 2 documents, relevance above 0.9 dropped, 20% query-word dropout).
4. `sft/`: supervised fine-tuning on the tasks (`tasks.sft_rows`): text-to-image from the bare name and templates
   (some with retrieved documents), captioning and VQA on shifted / scaled views, instruction editing (skin tone,
   colour), and image infilling, in the processor's layouts. The rows are drawn afresh about once an epoch (new
   views, templates, retrieved documents and masks), so the reading tasks see each view about once. With a palette,
   the pictures the model writes give a toned emoji its yellow base's grid codes (`tasks.drawing_token_ids`).
5. `drawing/`: more SFT steps, weighted to drawing: every text-to-image row (with and without retrieved documents,
   and unconditional) and editing row, a third of the captioning, VQA and infilling rows (so the model does not
   forget those tasks).

Held-out (base, skin tone) pairs take part in no stage. `--ship` copies the final folder into the package
(`transformers_cm3leon/default_model/weights/`, weights stored in float16) with `training_data.json`.
The run is deterministic: the same command on the same machine gives bit-identical weights.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # recipes/

from cm3leon_emoji import (
    emoji_data,  # noqa: E402
    tasks,  # noqa: E402
)
from cm3leon_emoji.image_tokenizer import (  # noqa: E402
    fine_tune_image_decoder,
    fine_tune_palette,
    normalisation,
    train_image_tokenizer,
)
from cm3leon_emoji.shipping import ship, weights_digest  # noqa: E402
from cm3leon_emoji.trainer_arguments import training_arguments  # noqa: E402

logger = logging.getLogger("cm3leon_emoji")


@dataclass
class EmojiRecipe:
    """Every setting of a CM3Leon-Emoji training run (the defaults are the shipped model's)."""

    seed: int = 0
    # Which emoji (emoji_data.select_emoji): candidates nearer than this to a kept one are dropped.
    min_distance: float = 2.0
    # Image tokenizer: 32 px -> 4x4 codes from 4,096.
    vq_num_embeddings: int = 4096
    vq_embed_dim: int = 32
    vq_base_channels: int = 32
    vq_steps: int = 1600
    vq_batch_size: int = 32
    vq_learning_rate: float = 2e-3
    vq_views: int = 1  # shifted / scaled views of each seen emoji next to its render
    vq_hue_shifts: int = 1  # copies of each seen emoji with its hues rotated at random
    # Moment normalisation of every picture before it is encoded (`CM3LeonImageProcessor(content_radius=...)`):
    # 0.25 puts the content's radius of gyration at a quarter of the image, and a view moved by up to 1.5 px and
    # scaled by up to 10% then keeps 83% of its render's tokens instead of 18% (measured with the sixth run's
    # tokenizer). None (the sixth run): pictures are encoded where they are.
    content_radius: float | None = 0.25
    # Then the decoder alone, on the codes the language model writes (white cells as one code): sharper pictures
    # from the same tokens.
    decoder_steps: int = 1500
    decoder_learning_rate: float = 1e-3
    # With a palette (since the ninth run): rows per seen toned emoji in which another variant of its base gives the
    # grid codes and it gives the palette code and the picture (`image_tokenizer.tone_swapped_rows`).
    decoder_tone_swaps: int = 2
    # Before that decoder stage (since the eighth run), a palette code for the skin tone: the tokenizer is fine-tuned
    # (codebook frozen) to read the tone from the colours into one more token, its decoder to draw it, and a toned
    # emoji's grid codes are pulled onto its yellow base's, so that the language model sees a held-out (emoji, tone)
    # pair as a seen shape and a seen tone (benchmarks/compositional_tokens_emoji.py). 0: no palette (the seventh run).
    palette_steps: int = 1200
    # 1,200 steps at 6e-4 with a pull of 1.0: a seen toned emoji keeps its yellow base's grid codes at 66% of
    # positions (held-out pairs 58%), its palette code is its tone for 98% (95%); at 3e-4 and 0.3: 41% (39%).
    palette_learning_rate: float = 6e-4
    palette_head_learning_rate: float = 3e-3  # the colour-histogram head learns slowly at the fine-tune's rate
    palette_consistency_weight: float = 1.0
    # Tokenizer and language model (the paper's block).
    text_vocab_size: int = 1500
    num_sentinel_tokens: int = 8
    hidden_size: int = 256
    intermediate_size: int = 1024
    num_hidden_layers: int = 8
    num_attention_heads: int = 4
    block_size: int = 256
    batch_size: int = 32
    learning_rate: float = 1.5e-3
    # The ninth run's step counts (the eighth run's: 450, 2,900 and 1,600 steps, 8 SFT row draws) fit the 2-hour budget.
    pretrain_steps: int = 300
    # SFT in smaller batches (as many tokens a second on this CPU, four times the optimizer steps) at a higher
    # learning rate (a 720-step probe: text-to-image loss 1.08 at 3e-3, 1.30 at 1e-3).
    sft_batch_size: int = 8
    sft_learning_rate: float = 2e-3
    sft_steps: int = 2400
    drawing_steps: int = 1400  # then drawing-weighted rows (DRAWING_TASK_FRACTIONS)
    drawing_learning_rate: float = 1e-3
    # Retrieval-augmented pretraining (the paper's 2 documents, 0.9 relevance cap, 20% query dropout).
    retrieval_fraction: float = 0.5
    num_retrieved: int = 2
    num_retrieval_candidates: int = 16
    # SFT data per seen emoji.
    # Captioning / VQA rows on shifted and scaled views (plus the render itself). With 2, the fourth run captioned
    # 80% of renders but 12% of new views: a view shares 18% of its tokens with the render, so the model must see many.
    # Fixed views do not do it (8 of them, seen 6 times each in the fifth run: 13%); fresh ones do (a probe of 400
    # steps with 16 new views per emoji: 27-37%). So the rows are drawn again about once an epoch (`*_row_draws`),
    # each draw with its own views, templates, retrieved documents and infilling masks.
    reading_views: int = 4
    # With a palette (since the ninth run): the model writes a toned emoji as its yellow base's grid codes and its own
    # palette code (`tasks.drawing_token_ids`), so the shape comes from the base and the tone from the palette.
    draw_base_shapes: bool = True
    sft_row_draws: int = 7  # about one epoch of SFT
    drawing_row_draws: int = 4
    num_threads: int = 2


# ----------------------------------------------------------------------------------------------------------------------
# Stages
# ----------------------------------------------------------------------------------------------------------------------
def build_processor(recipe: EmojiRecipe, seen: list[emoji_data.Emoji], image_processor):
    """The tokenizer (byte-level BPE over every name, prompt, question and instruction) and the processor."""
    from transformers_cm3leon import CM3LeonProcessor, build_cm3leon_tokenizer

    num_special = 4 + image_processor.num_image_tokens + 2 + recipe.num_sentinel_tokens
    tokenizer = build_cm3leon_tokenizer(
        tasks.tokenizer_corpus(seen) * 2,
        vocab_size=num_special + 256 + recipe.text_vocab_size,
        image_vocab_size=image_processor.num_image_tokens,
        num_sentinel_tokens=recipe.num_sentinel_tokens,
        min_frequency=2,
        model_max_length=2 * recipe.block_size,
    )
    return CM3LeonProcessor(image_processor=image_processor, tokenizer=tokenizer)


def pretrain(recipe: EmojiRecipe, seen: list[emoji_data.Emoji], processor, output_dir: str):
    """Stage 2: CM3-objective pretraining, part of the documents retrieval-augmented."""
    import datasets

    from transformers_cm3leon import CM3LeonConfig, CM3LeonForCausalLM, special_token_ids
    from transformers_cm3leon.data import DocumentPacker, RetrievalAugmentedExampleBuilder
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
    texts, images = tasks.caption_documents(seen, rng)
    image_ids = processor.image_processor.images_to_token_ids(images).tolist()
    config = CM3LeonConfig(
        **special_token_ids(processor.tokenizer),
        hidden_size=recipe.hidden_size,
        intermediate_size=recipe.intermediate_size,
        num_hidden_layers=recipe.num_hidden_layers,
        num_attention_heads=recipe.num_attention_heads,
        max_position_embeddings=2 * recipe.block_size,
        image_seq_length=processor.image_processor.image_seq_length,
        num_palette_tokens=processor.image_processor.vq_model.config.num_palette_embeddings,
        initializer_range=0.02,
        position_initializer_range=0.02,
    )
    torch.manual_seed(recipe.seed)
    model = CM3LeonForCausalLM(config)
    init_image_embeddings_from_codebook(model, processor.image_processor.vq_model, seed=recipe.seed)
    cm3_args = CM3Arguments(block_size=recipe.block_size, packing=True, objective="cm3")
    data_args = DataArguments(text_column="text", image_column="image_token_ids")

    split = int(len(texts) * recipe.retrieval_fraction)
    plain = datasets.Dataset.from_dict({"text": texts[split:], "image_token_ids": image_ids[split:]})
    parts = [prepare_pretraining_dataset(plain, processor, config, data_args, cm3_args, seed=recipe.seed)]
    if split:
        bank = tasks.build_bank(seen, processor)
        retrieval_args = RetrievalArguments(
            num_retrieved=recipe.num_retrieved, num_retrieval_candidates=recipe.num_retrieval_candidates
        )
        # Query = name + picture (the paper's multimodal query): a document finds itself at relevance 1.0, which the
        # 0.9 cap drops, so the model learns from related emoji, not from a copy of the answer.
        builder = RetrievalAugmentedExampleBuilder(
            bank,
            processor.tokenizer,
            config,
            **retrieval_args.example_builder_kwargs(),
            seed=recipe.seed,
            text_column="text",
            image_column="image_token_ids",
            retrieval_image_column="image",
        )
        augmented = builder.map(
            datasets.Dataset.from_dict(
                {"text": texts[:split], "image_token_ids": image_ids[:split], "image": images[:split]}
            )
        )
        logger.info(f"retrieval-augmented examples: {len(augmented)}, filter statistics {dict(builder.stats)}")
        packer = DocumentPacker(cm3_args.block_size, mode="concatenate", remainder="drop")
        parts.append(packer.map(augmented.select_columns(["input_ids"])))
    train_dataset = datasets.concatenate_datasets(parts).shuffle(seed=recipe.seed)
    trainer, _ = build_pretraining_trainer(
        ModelArguments(),
        data_args,
        cm3_args,
        RetrievalArguments(),
        training_arguments(
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


# The rows of the last stage, by task: every drawing and editing row (text-to-image with and without retrieved
# documents, and unconditional), and a third of the others. (With none of them, the third run forgot VQA and editing in
# this stage; with a third of the editing rows, the fifth run edited 75% against the fourth run's 85%: the model card.)
DRAWING_TASK_FRACTIONS = {"captioning": 1 / 3, "vqa": 1 / 3, "infilling": 1 / 3}


def task_mixture(rows: dict[str, dict], task_fractions: dict[str, float], seed: int):
    """One dataset of the task rows (`tasks.sft_rows`), keeping a seeded `task_fractions[task]` of a task's rows
    (all of those of a task it does not name)."""
    import datasets

    parts = []
    for task, columns in rows.items():
        part = datasets.Dataset.from_dict(columns)
        fraction = task_fractions.get(task, 1.0)
        if not 0.0 < fraction <= 1.0:
            raise ValueError(f"task_fractions[{task!r}] must be in (0, 1], got {fraction}")
        if fraction < 1.0:
            part = part.shuffle(seed=seed).select(range(round(fraction * len(part))))
        parts.append(part)
    logger.info("SFT rows per task: " + ", ".join(f"{task}: {len(part)}" for task, part in zip(rows, parts)))
    return datasets.concatenate_datasets(parts)


def sft_dataset(
    recipe: EmojiRecipe,
    seen: list[emoji_data.Emoji],
    processor,
    rows_seed: int,
    row_draws: int,
    task_fractions: dict[str, float] | None = None,
):
    """`row_draws` draws of the task rows (`tasks.sft_rows`, each with its own views, templates, retrieved documents
    and masks), each a `task_mixture`, one after the other."""
    import datasets

    bank, draws = tasks.build_bank(seen, processor), []
    for draw in range(row_draws):
        rng = np.random.default_rng([rows_seed, draw])
        rows = tasks.sft_rows(
            seen,
            processor,
            rng,
            reading_views=recipe.reading_views,
            bank=bank,
            draw_base_shapes=recipe.draw_base_shapes,
        )
        draws.append(task_mixture(rows, task_fractions or {}, seed=rows_seed + draw))
    return datasets.concatenate_datasets(draws)


def supervised_fine_tune(
    recipe: EmojiRecipe,
    seen: list[emoji_data.Emoji],
    processor,
    model,
    output_dir: str,
    steps: int,
    learning_rate: float,
    rows_seed: int,
    row_draws: int,
    task_fractions: dict[str, float] | None = None,
):
    """Stages 4 and 5: SFT on `row_draws` draws of the task rows (`sft_dataset`), packed whole, loss as each row
    says."""
    from transformers import Trainer

    from transformers_cm3leon import CM3LeonForCausalLM
    from transformers_cm3leon.data import DataCollatorForCM3, DocumentPacker

    if os.path.isdir(output_dir):
        return CM3LeonForCausalLM.from_pretrained(output_dir)
    dataset = sft_dataset(recipe, seen, processor, rows_seed, row_draws, task_fractions)
    dataset = DocumentPacker(recipe.block_size, mode="whole_documents").map(dataset.shuffle(seed=recipe.seed))
    collator = DataCollatorForCM3(model.config, mode="causal", max_length=recipe.block_size, seed=recipe.seed)
    trainer = Trainer(
        model=model,
        args=training_arguments(output_dir + ".tmp", recipe, steps, learning_rate, recipe.sft_batch_size),
        train_dataset=dataset,
        data_collator=collator,
    )
    trainer.train()
    model.save_pretrained(output_dir)
    shutil.rmtree(output_dir + ".tmp", ignore_errors=True)
    return model


# The pipelines' per-task decoding defaults the model folder declares. Text-to-image: the best of the evaluation's
# sweep (greedy is as good but gives one picture per prompt; classifier-free guidance at 3 draws 58% of seen emoji,
# 93% without, in the sixth run).
RECOMMENDED_GENERATION = {
    "text-to-image": {"guidance_scale": 1.0, "temperature": 0.3, "top_k": 16},
    # Editing: guidance hurts too (sixth run: 90% of 300 edits without, 62% of 150 at guidance 3 / image guidance 1.5).
    "image-editing": {"guidance_scale": 1.0, "image_guidance_scale": 1.0, "temperature": 0.3, "top_k": 16},
    # Inpainting: best of 16 repairs drawn at temperature 1, kept by the model's own likelihood of the whole picture
    # (sixth run, a band with the name: 82.5-84% of 200, against 67.5% for one repair at temperature 0.3).
    "image-inpainting": {"guidance_scale": 1.0, "temperature": 1.0, "top_k": 16, "rerank": 16},
}


def _run_stage(name: str, folder: str, run):
    """Run a stage (or load it from `folder`, where it saved itself) and keep its training time in the folder, so a
    resumed or re-run recipe still reports what each stage took."""
    cached = os.path.isdir(folder)
    started = time.time()
    result = run()
    timing = os.path.join(folder, "stage_seconds.json")
    if not cached:
        with open(timing, "w") as handle:
            json.dump({"stage": name, "seconds": round(time.time() - started)}, handle)
    seconds = json.load(open(timing))["seconds"] if os.path.isfile(timing) else None
    logger.info(f"{name}: {'loaded' if cached else 'trained'} ({seconds} s of training)")
    return result, seconds


def train(recipe: EmojiRecipe, output_dir: str) -> str:
    """Run the five stages; returns the folder of the final model (`model/`: model + processor)."""
    from transformers_cm3leon import CM3LeonImageProcessor
    from transformers_cm3leon.generation import set_image_generation_defaults, text_generation_config

    torch.set_num_threads(recipe.num_threads)
    os.makedirs(output_dir, exist_ok=True)
    with open(os.path.join(output_dir, "recipe.json"), "w") as handle:
        json.dump(asdict(recipe), handle, indent=2)
    seen, held_out = emoji_data.split(emoji_data.select_emoji(recipe.min_distance), seed=recipe.seed)
    logger.info(f"{len(seen)} seen emoji, {len(held_out)} held-out (base, skin tone) pairs")
    stages = ("vq", *(("palette",) if recipe.palette_steps else ()), "decoder", "pretrain", "sft", "drawing")
    folders = {stage: os.path.join(output_dir, stage) for stage in stages}
    image_processor, vq_seconds = _run_stage(
        "vq", folders["vq"], lambda: train_image_tokenizer(recipe, seen, folders["vq"])
    )
    # Emoji sit on white: every white cell gets the code it has in a blank image, one code per position. (The VQ
    # encoder's group norms otherwise give the white cells of the seen emoji 2,332 different codes, which the
    # language model cannot predict from a name: the first 64 px run drew 1% of its text-to-image prompts.)
    image_processor = CM3LeonImageProcessor(
        vq_model=image_processor.vq_model, **{"background_color": (255, 255, 255), **normalisation(recipe)}
    )
    palette_seconds = None
    if recipe.palette_steps:
        image_processor, palette_seconds = _run_stage(
            "palette",
            folders["palette"],
            lambda: fine_tune_palette(recipe, seen, image_processor, folders["vq"], folders["palette"]),
        )
    # The palette stage trains the decoder on the VQ model's own codes; this one on the processor's (white cells as
    # one code), which the language model writes.
    image_processor, decoder_seconds = _run_stage(
        "decoder",
        folders["decoder"],
        lambda: fine_tune_image_decoder(recipe, seen, image_processor, folders["decoder"]),
    )
    processor = build_processor(recipe, seen, image_processor)
    model, pretrain_seconds = _run_stage(
        "pretrain", folders["pretrain"], lambda: pretrain(recipe, seen, processor, folders["pretrain"])
    )
    model, sft_seconds = _run_stage(
        "sft",
        folders["sft"],
        lambda: supervised_fine_tune(
            recipe,
            seen,
            processor,
            model,
            folders["sft"],
            recipe.sft_steps,
            recipe.sft_learning_rate,
            recipe.seed + 1,
            recipe.sft_row_draws,
        ),
    )
    # More steps weighted to drawing and naming (in the third run, on those tasks alone, they moved greedy drawing of
    # seen emoji from 23% to 50-60%: the model card).
    model, drawing_seconds = _run_stage(
        "drawing",
        folders["drawing"],
        lambda: supervised_fine_tune(
            recipe,
            seen,
            processor,
            model,
            folders["drawing"],
            recipe.drawing_steps,
            recipe.drawing_learning_rate,
            recipe.seed + 2,
            recipe.drawing_row_draws,
            task_fractions=DRAWING_TASK_FRACTIONS,
        ),
    )
    final = os.path.join(output_dir, "model")
    # Text (captions, answers) ends at <eoss> or </s> without image tokens; images use the measured defaults.
    model.generation_config = text_generation_config(model.config, model.generation_config)
    for task, settings in RECOMMENDED_GENERATION.items():
        set_image_generation_defaults(model.generation_config, task, **settings)
    model.save_pretrained(final)
    processor.save_pretrained(final)
    tasks.write_training_data(final, seen, held_out)
    stage_seconds = {
        "vq": vq_seconds,
        **({"palette": palette_seconds} if recipe.palette_steps else {}),
        "decoder": decoder_seconds,
        "pretrain": pretrain_seconds,
        "sft": sft_seconds,
        "drawing": drawing_seconds,
    }
    train_seconds = sum(stage_seconds.values()) if None not in stage_seconds.values() else None
    with open(os.path.join(final, "training_recipe.json"), "w") as handle:
        json.dump({**asdict(recipe), "stage_seconds": stage_seconds, "train_seconds": train_seconds}, handle, indent=2)
    return final


# The recipe's step and row-draw counts that the command line can override (`--vq-steps` and so on).
COUNT_OPTIONS = (
    "vq_steps",
    "decoder_steps",
    "palette_steps",
    "pretrain_steps",
    "sft_steps",
    "drawing_steps",
    "sft_row_draws",
    "drawing_row_draws",
)


def _content_radius(value: str) -> float | None:
    if value.lower() == "none":
        return None
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 0.5] or 'none', got {value!r}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output-dir", default="outputs/cm3leon-emoji", help="Where the stages are written.")
    parser.add_argument("--seed", type=int, default=0)
    for name in COUNT_OPTIONS:
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=None)
    parser.add_argument(
        "--content-radius",
        type=_content_radius,
        default=EmojiRecipe.content_radius,
        help=f"Moment normalisation of the pictures (default {EmojiRecipe.content_radius}; 'none': off, the sixth run).",
    )
    parser.add_argument("--ship", action="store_true", help="Copy the trained model into the package.")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    recipe = EmojiRecipe(seed=args.seed, content_radius=args.content_radius)
    for name in COUNT_OPTIONS:
        if getattr(args, name) is not None:
            setattr(recipe, name, getattr(args, name))
    final = train(recipe, args.output_dir)
    print(f"trained model: {final}\nweights sha256: {weights_digest(final)}")
    if args.ship:
        print(f"shipped to {ship(final)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
