# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The image-tokenizer stages of CM3Leon-Emoji: the VQ model (stage 1), then its decoder alone, or a palette code
for the skin tone (stage 2). See `train.py`."""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING

import numpy as np
import torch

from cm3leon_emoji import emoji_data
from cm3leon_emoji.trainer_arguments import training_arguments

if TYPE_CHECKING:
    from cm3leon_emoji.train import EmojiRecipe


def train_image_tokenizer(recipe: EmojiRecipe, seen: list[emoji_data.Emoji], output_dir: str):
    """Stage 1: the VQ image tokenizer (`build_vq_trainer`)."""
    import datasets

    from transformers_cm3leon import CM3LeonImageProcessor, CM3LeonVQConfig, CM3LeonVQModel
    from transformers_cm3leon.training import VQDataArguments, VQLossArguments, VQModelArguments, build_vq_trainer

    if os.path.isdir(output_dir):
        return CM3LeonImageProcessor.from_pretrained(output_dir)
    images = vq_training_images(recipe, seen)
    # The tokenizer trains on the pictures as the processor will hand them to it (normalised, with content_radius).
    image_processor = CM3LeonImageProcessor(size=emoji_data.RESOLUTION, **normalisation(recipe))
    torch.manual_seed(recipe.seed)
    config = CM3LeonVQConfig(
        resolution=emoji_data.RESOLUTION,
        embed_dim=recipe.vq_embed_dim,
        num_embeddings=recipe.vq_num_embeddings,
        latent_channels=recipe.vq_embed_dim,
        base_channels=recipe.vq_base_channels,
        channel_multiplier=[1, 2, 2, 4],
        num_res_blocks=1,
        attn_resolutions=[],
        num_groups=8,
    )
    vq_model = CM3LeonVQModel(config)
    trainer = build_vq_trainer(
        VQModelArguments(),
        VQDataArguments(),
        VQLossArguments(reconstruction_loss="l1+l2", codebook_update="ema", dead_code_threshold=50),
        training_arguments(
            output_dir + ".tmp", recipe, recipe.vq_steps, recipe.vq_learning_rate, recipe.vq_batch_size
        ),
        vq_model=vq_model,
        image_processor=image_processor,
        train_dataset=datasets.Dataset.from_dict({"image": images}),
    )
    trainer.train()
    vq_model.eval()
    image_processor.save_pretrained(output_dir)
    shutil.rmtree(output_dir + ".tmp", ignore_errors=True)
    return image_processor


def normalisation(recipe: EmojiRecipe) -> dict:
    """The image processor's moment normalisation settings (none unless `recipe.content_radius` is set)."""
    if recipe.content_radius is None:
        return {}
    return {"background_color": (255, 255, 255), "content_radius": recipe.content_radius}


class _DecoderFineTuning(torch.nn.Module):
    """The VQ decoder (its input convolution, and the palette embeddings when there are) trained to turn fixed codes
    into the images they came from; the encoder, codebook and palette head stay frozen, so every image keeps its
    tokens (as Stable Diffusion's VAE decoder fine-tune)."""

    def __init__(self, vq_model):
        super().__init__()
        self.vq_model = vq_model.requires_grad_(False)
        for module in (vq_model.decoder, vq_model.post_quant_conv, getattr(vq_model, "palette_embedding", None)):
            if module is not None:
                module.requires_grad_(True)

    def forward(self, codes, pixel_values):
        error = self.vq_model.decode(codes) - pixel_values
        return {"loss": error.abs().mean() + error.pow(2).mean()}


def vq_training_images(recipe: EmojiRecipe, seen: list[emoji_data.Emoji]) -> list:
    """The seen emoji, a randomly shifted and scaled view of each, and hue-rotated copies."""
    rng = np.random.default_rng(recipe.seed)
    images = [emoji_data.render(e.char) for e in seen]
    images += [emoji_data.random_view(e.char, rng) for e in seen for _ in range(recipe.vq_views)]
    shifts = rng.integers(16, 240, size=len(seen) * recipe.vq_hue_shifts)
    images += [emoji_data.hue_shifted(images[i % len(seen)], int(h)) for i, h in enumerate(shifts)]
    return images


def fine_tune_image_decoder(recipe: EmojiRecipe, seen: list[emoji_data.Emoji], image_processor, output_dir: str):
    """Stage 2: the decoder alone, on the codes of the processor the language model is trained with."""
    import datasets
    from transformers import Trainer

    from transformers_cm3leon import CM3LeonImageProcessor

    if os.path.isdir(output_dir):
        return CM3LeonImageProcessor.from_pretrained(output_dir)
    images = vq_training_images(recipe, seen)
    with torch.no_grad():
        codes = torch.cat([image_processor.encode(images[i : i + 256]) for i in range(0, len(images), 256)])
    pixel_values = image_processor.preprocess(images, return_tensors="pt")["pixel_values"]
    if image_processor.vq_model.config.num_palette_embeddings and recipe.decoder_tone_swaps:
        # `vq_training_images` starts with the renders of `seen`, in order.
        swapped_codes, targets = tone_swapped_rows(recipe, seen, codes[: len(seen)])
        codes, pixel_values = torch.cat([codes, swapped_codes]), torch.cat([pixel_values, pixel_values[targets]])
    dataset = datasets.Dataset.from_dict({"codes": codes.tolist(), "pixel_values": pixel_values.numpy()})
    torch.manual_seed(recipe.seed)
    args = training_arguments(
        output_dir + ".tmp", recipe, recipe.decoder_steps, recipe.decoder_learning_rate, recipe.vq_batch_size
    )
    args.remove_unused_columns = False
    Trainer(
        model=_DecoderFineTuning(image_processor.vq_model), args=args, train_dataset=dataset.with_format("torch")
    ).train()
    image_processor.vq_model.eval()
    image_processor.save_pretrained(output_dir)
    shutil.rmtree(output_dir + ".tmp", ignore_errors=True)
    return image_processor


def tone_swapped_rows(recipe: EmojiRecipe, seen: list[emoji_data.Emoji], render_codes: torch.Tensor):
    """`decoder_tone_swaps` rows for each seen toned emoji: the grid codes of another seen variant of its base, then
    its own palette code, to be decoded into its own render. The first row's variant is the yellow base itself (what
    the language model draws, `tasks.drawing_token_ids`), the others are drawn at random (the base or another tone).
    The decoder learns to take the tone from the palette code alone, which a held-out pair's drawing asks of it.
    Returns the codes and, for each row, the index in `seen` of the render it decodes to."""
    if recipe.decoder_tone_swaps < 1:
        raise ValueError(
            f"`EmojiRecipe.decoder_tone_swaps` must be a positive count of rows (0 turns them off in the decoder "
            f"stage), got {recipe.decoder_tone_swaps}"
        )
    rng = np.random.default_rng(recipe.seed)
    cells = render_codes.shape[1] - 1
    index_of = {e.char: index for index, e in enumerate(seen)}
    variants = {}
    for index, e in enumerate(seen):
        variants.setdefault(e.base, []).append(index)
    rows, targets = [], []
    for index, e in enumerate(seen):
        donors = [other for other in variants[e.base] if other != index]
        if e.tone is None or not donors:
            continue
        chosen = [index_of[e.base]] if e.base in index_of else []
        chosen += rng.choice(donors, size=recipe.decoder_tone_swaps - len(chosen)).tolist()
        for donor in chosen:
            rows.append(torch.cat([render_codes[donor, :cells], render_codes[index, cells:]]))
            targets.append(index)
    if not rows:
        return render_codes[:0], torch.zeros(0, dtype=torch.long)
    return torch.stack(rows), torch.tensor(targets)


def palette_label(e: emoji_data.Emoji) -> int:
    """An emoji's palette code: 0 without a skin tone, else 1 + the tone's index in `TONE_NAMES`."""
    return 0 if e.tone is None else 1 + emoji_data.TONE_NAMES.index(e.tone)


def fine_tune_palette(recipe: EmojiRecipe, seen: list[emoji_data.Emoji], image_processor, vq_folder: str, output_dir):
    """Stage 2 with `palette_steps`: the stage-1 tokenizer with a palette code (`num_palette_embeddings`), its
    codebook frozen, fine-tuned on the seen emoji with their tone as the palette label and their yellow base as the
    base image (`build_vq_trainer`'s `palette_column` / `base_image_column`); toned emoji count three times."""
    import datasets

    from transformers_cm3leon import CM3LeonImageProcessor, CM3LeonVQModel
    from transformers_cm3leon.training import VQDataArguments, VQLossArguments, VQModelArguments, build_vq_trainer

    if os.path.isdir(output_dir):
        return CM3LeonImageProcessor.from_pretrained(output_dir)
    rows = [e for e in seen for _ in range(3 if e.tone else 1)]
    torch.manual_seed(recipe.seed)  # the new palette head and embedding
    vq_model = CM3LeonVQModel.from_pretrained(
        os.path.join(vq_folder, "image_tokenizer"), num_palette_embeddings=1 + len(emoji_data.TONE_NAMES)
    )
    trainer = build_vq_trainer(
        VQModelArguments(),
        VQDataArguments(palette_column="palette", base_image_column="base"),
        VQLossArguments(
            reconstruction_loss="l1+l2",
            codebook_update="frozen",
            dead_code_threshold=0,
            consistency_weight=recipe.palette_consistency_weight,
            palette_learning_rate=recipe.palette_head_learning_rate,
        ),
        training_arguments(
            output_dir + ".tmp", recipe, recipe.palette_steps, recipe.palette_learning_rate, recipe.vq_batch_size
        ),
        vq_model=vq_model,
        image_processor=image_processor,
        train_dataset=datasets.Dataset.from_dict(
            {
                "image": [emoji_data.render(e.char) for e in rows],
                "palette": [palette_label(e) for e in rows],
                "base": [emoji_data.render(e.base if e.tone else e.char) for e in rows],
            }
        ),
    )
    trainer.train()
    vq_model.eval()
    image_processor.save_pretrained(output_dir)
    shutil.rmtree(output_dir + ".tmp", ignore_errors=True)
    return image_processor
