# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The image-tokenizer recipe: PSNR and codebook usage, EMA updates, dead-code restarts, the patch GAN, bad images."""

from __future__ import annotations

import io

import datasets
import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from transformers import TrainingArguments

from transformers_cm3leon import CM3LeonVQConfig, CM3LeonVQModel
from transformers_cm3leon.image_processing_cm3leon import CM3LeonImageProcessor
from transformers_cm3leon.testing_utils import TINY_VQ_CONFIG
from transformers_cm3leon.training import (
    CM3LeonVQTrainingModel,
    CodebookMaintenance,
    PatchDiscriminator,
    VQDataArguments,
    VQImageCollator,
    VQLossArguments,
    VQModelArguments,
    build_vq_trainer,
    evaluate_reconstruction,
    run_recipe,
)
from transformers_cm3leon.training.vq_discriminator import hinge_discriminator_loss

# 16 px -> 4 x 4 codes from a codebook of 32 (testing_utils' tiny tokenizer, without attention).
TINY_VQ = dict(TINY_VQ_CONFIG, attn_resolutions=[])
COLOURS = [(r, g, b) for r in (0, 255) for g in (0, 255) for b in (0, 255)]


def coloured_squares(count: int = 32) -> list[Image.Image]:
    """A background colour with a square of another colour in one quadrant."""
    rng = np.random.default_rng(0)
    images = []
    for i in range(count):
        pixels = np.zeros((16, 16, 3), dtype=np.uint8)
        pixels[:] = COLOURS[i % 8]
        row, column = divmod(int(rng.integers(4)), 2)
        pixels[8 * row : 8 * row + 8, 8 * column : 8 * column + 8] = COLOURS[(3 * i + 1) % 8]
        images.append(Image.fromarray(pixels))
    return images


def training_arguments(output_dir, **overrides) -> TrainingArguments:
    values = dict(
        output_dir=str(output_dir), per_device_train_batch_size=8, learning_rate=1e-3, adam_beta1=0.5, adam_beta2=0.9,
        max_steps=40, logging_steps=10, save_strategy="no", report_to="none", use_cpu=True, disable_tqdm=True, seed=0,
    )  # fmt: skip
    values.update(overrides)
    return TrainingArguments(**values)


def test_training_improves_psnr_and_reports_usage(tmp_path):
    """40 steps on coloured squares: PSNR rises by > 1 dB; logs and evaluation report PSNR and codebook usage."""
    images = datasets.Dataset.from_dict({"image": coloured_squares()})
    torch.manual_seed(0)
    vq_model = CM3LeonVQModel(CM3LeonVQConfig(**TINY_VQ))
    trainer = build_vq_trainer(
        VQModelArguments(),
        VQDataArguments(),
        VQLossArguments(dead_code_threshold=10),
        training_arguments(tmp_path),
        vq_model=vq_model,
        train_dataset=images,
        eval_dataset=images,
    )
    before = trainer.evaluate()
    trainer.train()
    after = trainer.evaluate()
    assert after["eval_psnr"] > before["eval_psnr"] + 1.0, (before, after)
    assert after["eval_codebook_usage"] > before["eval_codebook_usage"]
    assert 0 < after["eval_codebook_usage"] <= 1 and 1 <= after["eval_codebook_perplexity"] <= 32
    train_logs = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert len(train_logs) == 4
    for entry in train_logs:
        assert {"psnr", "codebook_usage", "reconstruction_loss", "commitment_loss", "restarted_codes"} <= set(entry)
        assert 0 < entry["codebook_usage"] <= 1
    # The evaluation agrees with a direct computation on the same images.
    pixel_values = CM3LeonImageProcessor(size=16).preprocess(coloured_squares(), return_tensors="pt")["pixel_values"]
    direct = evaluate_reconstruction(vq_model, [{"pixel_values": pixel_values}])
    assert direct["psnr"] == pytest.approx(after["eval_psnr"], abs=1e-4)


def test_dead_codes_are_restarted_at_encoder_outputs():
    """Codes unused for `dead_code_threshold` steps get a vector from the current batch; used codes keep theirs."""
    maintenance = CodebookMaintenance(8, 2, dead_code_threshold=3)
    codebook = torch.arange(16, dtype=torch.float32).view(8, 2)
    original = codebook.clone()
    latents = torch.tensor([[100.0, 101.0], [102.0, 103.0], [104.0, 105.0]])
    for step in range(1, 4):
        maintenance.observe(latents, torch.tensor([0, 1, 1]))  # only codes 0 and 1 are used
        stats = maintenance.step(codebook)
        assert stats["used"].tolist() == [True, True] + [False] * 6
        if step < 3:
            assert stats["restarted"] == 0 and torch.equal(codebook, original)
    assert stats["restarted"] == 6
    torch.testing.assert_close(codebook[:2], original[:2])
    for row in codebook[2:]:
        assert any(torch.equal(row, latent) for latent in latents), row
    assert maintenance.steps_since_used.tolist() == [0] * 8


def test_ema_update_moves_codes_to_their_latents():
    """With decay d, a used code becomes the smoothed EMA of its assigned encoder outputs; unused ones stay put."""
    maintenance = CodebookMaintenance(4, 2, ema_decay=0.5, epsilon=0.0)
    codebook = torch.zeros(4, 2)
    codebook[3] = torch.tensor([7.0, 7.0])
    latents = torch.tensor([[2.0, 4.0], [4.0, 8.0], [1.0, 1.0]])
    maintenance.observe(latents, torch.tensor([0, 0, 1]))
    maintenance.step(codebook)
    # N = 0.5 * 1 + 0.5 * counts = [1.5, 1, 0.5, 0.5]; m = 0.5 * e0 + 0.5 * sums; e = m / N (epsilon 0: no smoothing).
    torch.testing.assert_close(codebook[0], torch.tensor([3.0, 6.0]) / 1.5)
    torch.testing.assert_close(codebook[1], torch.tensor([0.5, 0.5]) / 1.0)
    torch.testing.assert_close(codebook[2], torch.zeros(2))
    torch.testing.assert_close(codebook[3], torch.tensor([7.0, 7.0]))  # unused: decays in m and N alike


def test_restarts_keep_more_of_the_codebook_in_use(tmp_path):
    images = datasets.Dataset.from_dict({"image": coloured_squares()})
    usage = {}
    for threshold in (0, 5):
        torch.manual_seed(0)
        trainer = build_vq_trainer(
            VQModelArguments(), VQDataArguments(),
            VQLossArguments(dead_code_threshold=threshold), training_arguments(tmp_path, max_steps=20),
            vq_model=CM3LeonVQModel(CM3LeonVQConfig(**TINY_VQ)), train_dataset=images, eval_dataset=images,
        )  # fmt: skip
        trainer.train()
        usage[threshold] = trainer.evaluate()["eval_codebook_usage"]
    assert usage[5] > usage[0] + 0.2, usage


def test_discriminator_gradients_reach_only_their_player():
    """One backward: D's parameters get exactly the hinge loss's gradient; the VQ model gets none from it."""
    torch.manual_seed(0)
    vq_model = CM3LeonVQModel(CM3LeonVQConfig(**TINY_VQ))
    args = VQLossArguments(use_discriminator=True, discriminator_start_step=0, discriminator_layers=1)
    model = CM3LeonVQTrainingModel(vq_model, args)
    pixel_values = torch.rand(4, 3, 16, 16) * 2 - 1
    outputs = model(pixel_values)
    outputs["loss"].backward()
    discriminator_grads = {n: p.grad.clone() for n, p in model.discriminator.named_parameters()}

    model.zero_grad()
    d_loss = hinge_discriminator_loss(
        model.discriminator(pixel_values), model.discriminator(outputs["reconstruction"].detach())
    )
    d_loss.backward()
    for name, parameter in model.discriminator.named_parameters():
        torch.testing.assert_close(discriminator_grads[name], parameter.grad, atol=1e-6, rtol=1e-5)
    assert all(p.grad is None for p in vq_model.parameters())  # D's loss never reaches the tokenizer

    # Before the start step the GAN terms weigh nothing.
    model.zero_grad()
    model.loss_args.discriminator_start_step, model.global_step = 10, 5
    late = model(pixel_values)
    expected = late["reconstruction_loss"] + model.commitment_weight * late["commitment_loss"]
    torch.testing.assert_close(late["loss"].detach(), expected)


def test_patch_discriminator_shapes():
    assert PatchDiscriminator(num_layers=3).output_size(256) == 30  # pix2pix's 70x70 PatchGAN at 256 px
    assert PatchDiscriminator(num_layers=3)(torch.zeros(1, 3, 256, 256)).shape == (1, 1, 30, 30)
    with pytest.raises(ValueError, match="leaves no patch of a 16 px image"):
        PatchDiscriminator(num_layers=3, resolution=16)


def test_fsdp_is_refused(tmp_path):
    """The recipe is data-parallel only: an FSDP request is an error naming it, not a run that breaks at the first
    codebook update or save."""
    with pytest.raises(ValueError, match=r"`fsdp`=True: the image-tokenizer recipe trains data-parallel \(DDP\) only"):
        build_vq_trainer(
            VQModelArguments(), VQDataArguments(), VQLossArguments(), training_arguments(tmp_path, fsdp=True),
            vq_model=CM3LeonVQModel(CM3LeonVQConfig(**TINY_VQ)),
            train_dataset=datasets.Dataset.from_dict({"image": coloured_squares(2)}),
        )  # fmt: skip


def test_collator_skips_or_raises_on_bad_images():
    buffer = io.BytesIO()
    Image.new("RGB", (20, 16), "red").save(buffer, format="PNG")
    good, bad = (
        {"image": {"bytes": buffer.getvalue(), "path": None}},
        {"image": {"bytes": b"not an image", "path": None}},
    )
    processor = CM3LeonImageProcessor(size=16)
    with pytest.raises(ValueError, match="Batch row 1: the image failed to decode"):
        VQImageCollator(processor)([good, bad])
    collator = VQImageCollator(processor, on_error="skip")
    batch = collator([good, bad, good, {"image": None}])
    assert batch["pixel_values"].shape == (2, 3, 16, 16)
    assert collator.skipped.counts == {"bad image": 2}
    torch.testing.assert_close(batch["pixel_values"][0, 0], torch.ones(16, 16))  # red, resized and cropped


def test_vq_recipe_from_the_command_line(tmp_path):
    """`cm3leon train vq --config vq.yaml` on an image folder: saves a loadable image processor with the tokenizer."""
    (tmp_path / "images").mkdir()
    for i, image in enumerate(coloured_squares(8)):
        image.save(tmp_path / "images" / f"{i}.png")
    (tmp_path / "images" / "broken.png").write_bytes(b"not a png")
    config = {
        "vq_config_name": "cm3leon-vq-256",
        "vq_config_overrides": TINY_VQ,
        "train_file": str(tmp_path / "images"),
        "on_error": "skip",
        "use_discriminator": True,
        "discriminator_layers": 1,
        "discriminator_start_step": 1,
        "output_dir": str(tmp_path / "run"),
        "per_device_train_batch_size": 4,
        "max_steps": 2,
        "report_to": "none",
        "use_cpu": True,
        "save_strategy": "no",
        "disable_tqdm": True,
    }
    (tmp_path / "vq.yaml").write_text(yaml.safe_dump(config))
    metrics = run_recipe("vq", ["--config", str(tmp_path / "vq.yaml"), "--learning_rate", "1e-3"])
    assert metrics["data_skipped_rows"] == 1 and metrics["data_skipped_image_decoding_bad_image"] == 1
    image_processor = CM3LeonImageProcessor.from_pretrained(tmp_path / "run")
    assert image_processor.vq_model.config.num_embeddings == 32 and image_processor.image_seq_length == 16
    assert image_processor.images_to_token_ids(coloured_squares(2)).shape == (2, 16)


def test_the_training_images_go_through_the_given_image_processor(tmp_path):
    """`image_processor=`: the batches are its preprocessing (here moment normalisation, `content_radius`), the model
    being trained is attached to it, and it is what the trainer saves."""
    vq_model = CM3LeonVQModel(CM3LeonVQConfig(**TINY_VQ))
    normalising = CM3LeonImageProcessor(size=16, background_color=(255, 255, 255), content_radius=0.2)
    squares = [Image.new("RGB", (16, 16), "white") for _ in range(2)]
    squares[0].paste((255, 0, 0), (1, 1, 6, 6))
    squares[1].paste((255, 0, 0), (9, 8, 14, 13))  # the same square elsewhere: the same pixels once normalised
    trainer = build_vq_trainer(
        VQModelArguments(), VQDataArguments(), VQLossArguments(), training_arguments(tmp_path, max_steps=1),
        vq_model=vq_model, image_processor=normalising,
        train_dataset=datasets.Dataset.from_dict({"image": squares}),
    )  # fmt: skip
    assert trainer.processing_class is normalising and normalising.vq_model is vq_model
    batch = trainer.data_collator([{"image": square} for square in squares])
    torch.testing.assert_close(
        batch["pixel_values"], normalising.preprocess(squares, return_tensors="pt")["pixel_values"]
    )
    torch.testing.assert_close(
        batch["pixel_values"][0], batch["pixel_values"][1], atol=3.01 / 127.5, rtol=0
    )  # 3 levels
    with pytest.raises(
        ValueError, match="`vq_model` works at resolution 16 but this image processor resizes to size=32"
    ):
        build_vq_trainer(
            VQModelArguments(), VQDataArguments(), VQLossArguments(), training_arguments(tmp_path),
            vq_model=vq_model, image_processor=CM3LeonImageProcessor(size=32),
            train_dataset=datasets.Dataset.from_dict({"image": squares}),
        )  # fmt: skip
