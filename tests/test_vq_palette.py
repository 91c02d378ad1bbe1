# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The image tokenizer's palette code: one more code per image, read from its colours, that the decoder adds
everywhere; learned from labels, with grid codes pulled onto those of each image's base (same shapes, base colours)."""

from __future__ import annotations

import datasets
import numpy as np
import pytest
import torch
from PIL import Image
from transformers import TrainingArguments

from transformers_cm3leon import CM3LeonImageProcessor, CM3LeonVQConfig, CM3LeonVQModel
from transformers_cm3leon.testing_utils import TINY_VQ_CONFIG
from transformers_cm3leon.training import (
    VQDataArguments,
    VQImageCollator,
    VQLossArguments,
    VQModelArguments,
    build_vq_trainer,
)

PALETTES = [((255, 255, 255), (0, 0, 0)), ((255, 255, 255), (255, 0, 0)), ((0, 0, 255), (255, 255, 0))]


def palette_model(num_palette_embeddings: int = 3, seed: int = 0) -> CM3LeonVQModel:
    torch.manual_seed(seed)
    return CM3LeonVQModel(CM3LeonVQConfig(**TINY_VQ_CONFIG, num_palette_embeddings=num_palette_embeddings)).eval()


def square(quadrant: int, palette: int) -> Image.Image:
    """A square in one quadrant of a 16 px picture, in one of the `PALETTES` (background, square)."""
    background, colour = PALETTES[palette]
    pixels = np.zeros((16, 16, 3), dtype=np.uint8)
    pixels[:] = background
    row, column = divmod(quadrant, 2)
    pixels[8 * row : 8 * row + 8, 8 * column : 8 * column + 8] = colour
    return Image.fromarray(pixels)


def squares_dataset() -> datasets.Dataset:
    rows = [(q, p) for q in range(4) for p in range(len(PALETTES))] * 4
    return datasets.Dataset.from_dict(
        {
            "image": [square(q, p) for q, p in rows],
            "palette": [p for _, p in rows],
            "base": [square(q, 0) for q, _ in rows],
        }
    )


def test_codes_end_with_the_palette_code_and_decode_back():
    model = palette_model()
    config = model.config
    assert (config.image_seq_length, config.num_image_tokens) == (16 + 1, 32 + 3)
    pixels = torch.rand(2, 3, 16, 16) * 2 - 1
    codes = model.encode(pixels)
    assert codes.shape == (2, 17)
    assert ((codes[:, :16] >= 0) & (codes[:, :16] < 32)).all() and ((codes[:, 16] >= 32) & (codes[:, 16] < 35)).all()
    with torch.no_grad():
        output = model(pixels)
    assert torch.equal(output.codes, codes) and output.palette_logits.shape == (2, 3)
    torch.testing.assert_close(output.reconstruction.clamp(-1, 1), model.decode(codes))
    # The palette changes the picture everywhere; the grid codes stay where they are.
    other = codes.clone()
    other[:, 16] = 32 + (codes[:, 16] - 32 + 1) % 3
    assert not torch.allclose(model.decode(codes), model.decode(other))


def test_the_palette_head_reads_colours_not_where_they_are():
    model = palette_model()
    pixels = torch.rand(1, 3, 16, 16) * 2 - 1
    shuffled = pixels.flatten(2)[:, :, torch.randperm(256)].view(1, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(model.palette_head(pixels), model.palette_head(shuffled))


def test_codes_are_checked_position_by_position():
    model = palette_model()
    codes = model.encode(torch.zeros(1, 3, 16, 16))
    with pytest.raises(ValueError, match=r"shape \(batch_size, 17\) \(4x4 grid codes, then the palette code\)"):
        model.decode(codes[:, :16])
    wrong = codes.clone()
    wrong[0, 3] = 33  # a palette code in the grid
    with pytest.raises(ValueError, match=r"in \[0, 32\) at the 16 grid positions"):
        model.decode(wrong)
    wrong = codes.clone()
    wrong[0, 16] = 5  # a grid code where the palette goes
    with pytest.raises(ValueError, match=r"end with a palette code in \[32, 35\)"):
        model.decode(wrong)
    with pytest.raises(ValueError, match=r"`palette_codes` must lie in \[0, 3\)"):
        model(torch.zeros(1, 3, 16, 16), palette_codes=torch.tensor([3]))
    with pytest.raises(ValueError, match="one code per image"):
        model(torch.zeros(2, 3, 16, 16), palette_codes=torch.tensor([0]))
    plain = CM3LeonVQModel(CM3LeonVQConfig(**TINY_VQ_CONFIG))
    assert plain.config.image_seq_length == 16 and not hasattr(plain, "palette_head")
    with pytest.raises(ValueError, match="no palette"):
        plain(torch.zeros(1, 3, 16, 16), palette_codes=torch.tensor([0]))


@pytest.mark.parametrize("value", [1, -2, True, 2.0])
def test_num_palette_embeddings_is_checked(value):
    with pytest.raises((TypeError, ValueError), match="num_palette_embeddings"):
        CM3LeonVQConfig(**TINY_VQ_CONFIG, num_palette_embeddings=value)


def training_arguments(output_dir, max_steps: int = 100) -> TrainingArguments:
    return TrainingArguments(
        output_dir=str(output_dir), per_device_train_batch_size=12, learning_rate=3e-3, adam_beta1=0.5,
        adam_beta2=0.9, max_steps=max_steps, logging_steps=max_steps // 2, save_strategy="no", report_to="none",
        use_cpu=True, disable_tqdm=True, seed=0,
    )  # fmt: skip


@pytest.fixture(scope="module")
def trained_tokenizer(tmp_path_factory) -> str:
    """A tokenizer without a palette, trained on the squares: the start of a palette fine-tune."""
    folder = tmp_path_factory.mktemp("plain")
    torch.manual_seed(0)
    model = CM3LeonVQModel(CM3LeonVQConfig(**TINY_VQ_CONFIG))
    build_vq_trainer(
        VQModelArguments(),
        VQDataArguments(),
        VQLossArguments(dead_code_threshold=10),
        training_arguments(folder / "run"),
        vq_model=model,
        train_dataset=squares_dataset(),
    ).train()
    model.save_pretrained(folder / "model")
    return str(folder / "model")


def fine_tune_with_a_palette(trained_tokenizer, output_dir, consistency_weight: float):
    """The trained tokenizer with a new palette code (its head and embedding start at random), codebook frozen."""
    torch.manual_seed(0)
    model = CM3LeonVQModel.from_pretrained(trained_tokenizer, num_palette_embeddings=len(PALETTES))
    trainer = build_vq_trainer(
        VQModelArguments(),
        VQDataArguments(palette_column="palette", base_image_column="base"),
        VQLossArguments(
            codebook_update="frozen",
            dead_code_threshold=0,
            palette_weight=1.0,
            consistency_weight=consistency_weight,
            palette_learning_rate=3e-2,
        ),
        training_arguments(output_dir, max_steps=150),
        vq_model=model,
        train_dataset=squares_dataset(),
    )
    trainer.train()
    return model.eval(), trainer


def square_pixels(quadrant: int, palette: int) -> torch.Tensor:
    return torch.from_numpy(np.asarray(square(quadrant, palette), dtype=np.float32) / 127.5 - 1).permute(2, 0, 1)


def shared_codes(model) -> float:
    """The share of grid codes a coloured square shares with the same square in the base palette."""
    coloured = [(q, p) for q in range(4) for p in range(1, len(PALETTES))]
    codes = model.encode(torch.stack([square_pixels(q, p) for q, p in coloured]))[:, :16]
    base_codes = model.encode(torch.stack([square_pixels(q, 0) for q, _ in coloured]))[:, :16]
    return (codes == base_codes).float().mean().item()


def test_a_palette_learned_from_labels_and_base_images(trained_tokenizer, tmp_path):
    """150 steps of fine-tuning: the head reads every palette label, the logs report the palette and consistency
    losses, the codebook does not move, and the pull onto the base images' codes makes coloured squares share their
    grid codes with their base (0.40 of them, against 0.02 without the pull)."""
    codebook = CM3LeonVQModel.from_pretrained(trained_tokenizer).quantize.embedding.weight
    model, trainer = fine_tune_with_a_palette(trained_tokenizer, tmp_path / "pulled", consistency_weight=1.0)
    logs = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert {"palette_loss", "palette_accuracy", "consistency_loss", "psnr"} <= set(logs[-1])
    assert logs[-1]["palette_accuracy"] > logs[0]["palette_accuracy"]  # averages over each logging window
    palettes = model.encode(torch.stack([square_pixels(q, p) for q in range(4) for p in range(3)]))[:, 16] - 32
    assert palettes.tolist() == [p for _ in range(4) for p in range(3)]
    assert torch.equal(model.quantize.embedding.weight, codebook)
    groups = trainer.optimizer.param_groups  # the head in its own group, at its own rate on the same schedule
    assert [len(g["params"]) for g in groups][1] == len(list(model.palette_head.parameters()))
    assert groups[1]["initial_lr"] == 3e-2 and groups[0]["initial_lr"] == 3e-3
    free, _ = fine_tune_with_a_palette(trained_tokenizer, tmp_path / "free", consistency_weight=0.0)
    assert shared_codes(model) > shared_codes(free) + 0.2, (shared_codes(model), shared_codes(free))
    with pytest.raises(ValueError, match="dead_code_threshold=0"):
        VQLossArguments(codebook_update="frozen", dead_code_threshold=10)
    with pytest.raises(ValueError, match="`palette_learning_rate` must be a positive number or None, got -1.0"):
        VQLossArguments(palette_learning_rate=-1.0)


def test_palette_columns_need_a_palette_model(tmp_path):
    with pytest.raises(ValueError, match="set `num_palette_embeddings`"):
        build_vq_trainer(
            VQModelArguments(),
            VQDataArguments(palette_column="palette"),
            VQLossArguments(),
            TrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True),
            vq_model=CM3LeonVQModel(CM3LeonVQConfig(**TINY_VQ_CONFIG)),
            train_dataset=squares_dataset(),
        )
    processor = CM3LeonImageProcessor(size=16, vq_model=palette_model())
    collator = VQImageCollator(processor, palette_column="palette", base_image_column="base")
    with pytest.raises(ValueError, match="palette label in column 'palette' must be an int, got 'red'"):
        collator([{"image": square(0, 0), "palette": "red", "base": square(0, 0)}])
    batch = collator([{"image": square(0, 1), "palette": 1, "base": square(0, 0)}])
    assert batch["palette_codes"].tolist() == [1] and batch["base_pixel_values"].shape == (1, 3, 16, 16)


def test_the_model_card_counts_the_palette_code():
    from transformers_cm3leon.model_card import image_tokenizer_summary

    rows = dict(image_tokenizer_summary(palette_model().config))
    assert rows["Codes per image"] == "4 x 4 + 1 palette code = 17"
    assert rows["Palette"].startswith("3 codes")
    assert dict(image_tokenizer_summary(CM3LeonVQConfig(**TINY_VQ_CONFIG)))["Codes per image"] == "4 x 4 = 16"
