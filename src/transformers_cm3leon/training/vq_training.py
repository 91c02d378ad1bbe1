# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Training the image tokenizer ([`CM3LeonVQModel`], a taming VQGAN) on `transformers.Trainer`.

Loss per batch of images x (VQ-VAE + VQGAN, taming-transformers' `VQLPIPSWithDiscriminator` without LPIPS):

    L = w_rec * |x - x_hat|_1 (or squared, or both)                       reconstruction
      + w_cb * |sg(z) - e|^2 + beta * |z - sg(e)|^2                        codebook (gradient mode) + commitment
      + f(step) * (w_adv * -D(x_hat) + (relu(1 - D(x)) + relu(1 + D(sg(x_hat)))) / 2)   patch GAN, hinge loss

with `f(step) = 0` before `discriminator_start_step` (taming's `disc_start`), 1 after. A tokenizer with a palette code
(`num_palette_embeddings`) can learn it from labels (`palette_column`: `+ w_pal * CE(palette logits, label)`, the
decoder given the label's palette), and learn grid codes that leave the colouring to it (`base_image_column`: an image
with the same shapes in its base colours, whose code vectors this image's latents are pulled onto,
`+ w_cons * |z - sg(e_base)|^2`). The codebook is kept in use by
EMA updates and/or dead-code restarts ([`CodebookMaintenance`]). Training logs report reconstruction PSNR and codebook
usage (the fraction of codes used since the last log); `evaluate()` reports them on the evaluation images.

Why `Trainer` and not a hand-written accelerate loop: the one thing a GAN needs that `Trainer` lacks is a second
optimizer. Here the generator and the discriminator are updated by one optimizer from one backward pass: the
generator's adversarial term runs the discriminator with *detached* parameters (`torch.func.functional_call`), so it
reaches only the VQ model, and the discriminator's hinge loss sees a detached reconstruction, so it reaches only the
discriminator. That is simultaneous gradient descent on both players, the usual GAN update, and it keeps everything
`Trainer` gives for free: checkpoints and exact resume, DDP, logging integrations, gradient accumulation.
(taming alternates two optimizers over the same batch; the difference is which generator weights the discriminator
step sees, one step apart.) Not implemented: LPIPS (its VGG weights cannot be downloaded here) and taming's adaptive
adversarial weight (a fixed `discriminator_weight` instead).

Command line: `cm3leon train vq --config vq.yaml`. The output folder holds the trained image processor
(`preprocessor_config.json` + `image_tokenizer/`), loadable with `CM3LeonImageProcessor.from_pretrained`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from transformers import Trainer, TrainerCallback, TrainingArguments, set_seed
from transformers.utils import logging

from ..configuration_cm3leon import CM3LEON_VQ_PRESETS, CM3LeonVQConfig
from ..data.skipping import check_on_error
from ..image_processing_cm3leon import CM3LeonImageProcessor
from ..modeling_cm3leon_vq import CM3LeonVQModel
from .arguments import DATASET_FORMATS, _check_choice, _parse_json_dict, parse_recipe_arguments
from .data_report import DataReport
from .dataset_loading import check_dataset, load_local_dataset, take_first
from .recipe_utils import resolve_resume_checkpoint, set_ddp_defaults
from .vq_codebook import CodebookMaintenance
from .vq_data import VQImageCollator, prepare_image_columns
from .vq_discriminator import PatchDiscriminator, hinge_discriminator_loss, hinge_generator_loss

logger = logging.get_logger(__name__)

RECONSTRUCTION_LOSSES = ("l1", "l2", "l1+l2")
CODEBOOK_UPDATES = ("gradient", "ema", "frozen")


@dataclass
class VQModelArguments:
    """Which image tokenizer to train."""

    vq_config_name: str | None = field(
        default=None,
        metadata={"help": f"A new tokenizer: a preset {sorted(CM3LEON_VQ_PRESETS)} or a path to a config.json."},
    )
    vq_config_overrides: dict | str | None = field(
        default=None, metadata={"help": "Config fields to override, e.g. '{\"num_embeddings\": 1024}'."}
    )
    vq_model_name_or_path: str | None = field(
        default=None,
        metadata={"help": "Continue from trained weights: a CM3LeonVQModel folder or an image processor folder."},
    )

    def __post_init__(self):
        self.vq_config_overrides = _parse_json_dict("vq_config_overrides", self.vq_config_overrides)
        if self.vq_config_name is not None and self.vq_model_name_or_path is not None:
            raise ValueError(
                "Give either `vq_config_name` (a new tokenizer) or `vq_model_name_or_path` (trained weights), not both; "
                f"got {self.vq_config_name!r} and {self.vq_model_name_or_path!r}."
            )


@dataclass
class VQDataArguments:
    """The training images."""

    train_file: str | None = field(
        default=None,
        metadata={"help": "Images: a folder (imagefolder), a .json/.jsonl/.parquet file, or save_to_disk."},
    )
    validation_file: str | None = field(default=None, metadata={"help": "Evaluation images, same formats."})
    dataset_format: str | None = field(default=None, metadata={"help": f"Force the format, one of {DATASET_FORMATS}."})
    image_column: str = field(default="image", metadata={"help": "The image column (images, paths or bytes)."})
    palette_column: str | None = field(
        default=None,
        metadata={"help": "Each image's palette label (an int), for a tokenizer with num_palette_embeddings."},
    )
    base_image_column: str | None = field(
        default=None,
        metadata={
            "help": "Each image's base: the same shapes in base colours (or the image itself), whose grid codes "
            "it should share, for a tokenizer with num_palette_embeddings."
        },
    )
    max_train_samples: int | None = field(default=None, metadata={"help": "Keep only the first N training images."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Keep only the first N evaluation images."})
    on_error: str = field(
        default="raise",
        metadata={"help": "Images that fail to decode: raise, or skip (counted in data_skipped_* metrics)."},
    )

    def __post_init__(self):
        if self.dataset_format is not None:
            _check_choice("dataset_format", self.dataset_format, DATASET_FORMATS)
        check_on_error(self.on_error)


@dataclass
class VQLossArguments:
    """The VQGAN objective."""

    reconstruction_loss: str = field(default="l1", metadata={"help": f"One of {list(RECONSTRUCTION_LOSSES)}."})
    reconstruction_weight: float = field(default=1.0, metadata={"help": "Weight of the reconstruction loss."})
    codebook_weight: float = field(
        default=1.0, metadata={"help": "Weight of the codebook loss (gradient mode; EMA moves the codes itself)."}
    )
    commitment_weight: float | None = field(
        default=None, metadata={"help": "Weight of the commitment loss (default: the config's beta, 0.25)."}
    )
    codebook_update: str = field(
        default="ema",
        metadata={"help": "ema (moving averages of the assigned encoder outputs), gradient, or frozen (fine-tuning)."},
    )
    ema_decay: float = field(default=0.99, metadata={"help": "EMA decay of the codebook statistics."})
    dead_code_threshold: int = field(
        default=100,
        metadata={"help": "Restart a code unused for this many optimizer steps at a batch encoder output; 0: never."},
    )
    use_discriminator: bool = field(default=False, metadata={"help": "Add the patch-GAN hinge loss."})
    discriminator_start_step: int = field(
        default=5000, metadata={"help": "Optimizer step from which the GAN loss counts (taming's disc_start)."}
    )
    discriminator_weight: float = field(default=0.1, metadata={"help": "Weight of the generator's GAN term."})
    discriminator_channels: int = field(default=64, metadata={"help": "Channels of the discriminator's first layer."})
    discriminator_layers: int = field(default=3, metadata={"help": "Stride-2 layers of the discriminator."})
    palette_weight: float = field(default=0.1, metadata={"help": "Weight of the palette head's cross-entropy."})
    palette_learning_rate: float | None = field(
        default=None,
        metadata={
            "help": "The palette head's learning rate (its own AdamW group, on the same schedule); default: the "
            "training learning rate. The head learns slowly at a VQ fine-tune's rate."
        },
    )
    consistency_weight: float = field(
        default=0.3, metadata={"help": "Weight of the pull of an image's latents onto its base image's code vectors."}
    )

    def __post_init__(self):
        _check_choice("reconstruction_loss", self.reconstruction_loss, RECONSTRUCTION_LOSSES)
        _check_choice("codebook_update", self.codebook_update, CODEBOOK_UPDATES)
        if self.palette_learning_rate is not None and not self.palette_learning_rate > 0:
            raise ValueError(
                f"`palette_learning_rate` must be a positive number or None, got {self.palette_learning_rate!r}."
            )
        if self.codebook_update == "frozen" and self.dead_code_threshold:
            raise ValueError(
                f"`codebook_update='frozen'` keeps every code where it is; set `dead_code_threshold=0` (got "
                f"{self.dead_code_threshold})."
            )
        if self.dead_code_threshold < 0 or self.discriminator_start_step < 0:
            raise ValueError("`dead_code_threshold` and `discriminator_start_step` must be >= 0.")


ARGUMENT_TYPES = (VQModelArguments, VQDataArguments, VQLossArguments, TrainingArguments)


def reconstruction_psnr(pixel_values: torch.Tensor, reconstruction: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB of images in [-1, 1] (peak-to-peak 2), the reconstruction clamped to that range."""
    mse = (reconstruction.detach().float().clamp(-1, 1) - pixel_values.float()).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(4.0 / mse.clamp_min(1e-10))


class CM3LeonVQTrainingModel(nn.Module):
    r"""
    The image tokenizer together with what training it needs: the loss terms, the codebook maintenance and the
    optional patch discriminator. `forward(pixel_values)` returns the loss and its parts.

    Args:
        vq_model ([`CM3LeonVQModel`]): The tokenizer to train (changed in place).
        loss_args ([`VQLossArguments`]): The objective.
    """

    def __init__(self, vq_model: CM3LeonVQModel, loss_args: VQLossArguments | None = None):
        super().__init__()
        loss_args = loss_args or VQLossArguments()
        self.vq_model = vq_model
        self.loss_args = loss_args
        config = vq_model.config
        self.commitment_weight = config.beta if loss_args.commitment_weight is None else loss_args.commitment_weight
        ema = loss_args.codebook_update == "ema"
        self.codebook = CodebookMaintenance(
            config.num_embeddings,
            config.embed_dim,
            ema_decay=loss_args.ema_decay if ema else None,
            dead_code_threshold=loss_args.dead_code_threshold,
        )
        # EMA moves the codes, not the optimizer; a frozen codebook does not move.
        vq_model.quantize.embedding.weight.requires_grad_(loss_args.codebook_update == "gradient")
        self.discriminator = None
        if loss_args.use_discriminator:
            self.discriminator = PatchDiscriminator(
                config.out_channels,
                loss_args.discriminator_channels,
                loss_args.discriminator_layers,
                resolution=config.resolution,
            )
        self.global_step = 0  # set by the trainer before each step; switches the discriminator on

    @property
    def discriminator_active(self) -> bool:
        return self.discriminator is not None and self.global_step >= self.loss_args.discriminator_start_step

    def _reconstruction_loss(self, pixel_values, reconstruction):
        kind = self.loss_args.reconstruction_loss
        loss = 0.0
        if "l1" in kind:
            loss = loss + F.l1_loss(reconstruction, pixel_values)
        if "l2" in kind:
            loss = loss + F.mse_loss(reconstruction, pixel_values)
        return loss

    def forward(
        self,
        pixel_values: torch.Tensor,
        palette_codes: torch.LongTensor | None = None,
        base_pixel_values: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        vq = self.vq_model
        pixel_values = vq._check_pixel_values(pixel_values)
        latents = vq.quant_conv(vq.encoder(pixel_values))
        quantized, codes, codebook_loss, commitment_loss = vq.quantize(latents)
        palette_logits = palette = None
        if vq.config.num_palette_embeddings:
            palette_codes = vq._check_palette_codes(palette_codes, len(pixel_values))
            palette_logits, palette = vq._palette(pixel_values, palette_codes)
        elif palette_codes is not None or base_pixel_values is not None:
            raise ValueError(
                "Palette labels or base images were given, but the image tokenizer has no palette code; build it "
                "with `num_palette_embeddings`."
            )
        reconstruction = vq._decode_latents(quantized, palette)
        if self.training:
            self.codebook.observe(latents.permute(0, 2, 3, 1), codes)

        reconstruction_loss = self._reconstruction_loss(pixel_values, reconstruction)
        loss = self.loss_args.reconstruction_weight * reconstruction_loss + self.commitment_weight * commitment_loss
        if vq.quantize.embedding.weight.requires_grad:
            loss = loss + self.loss_args.codebook_weight * codebook_loss
        outputs = {
            "reconstruction_loss": reconstruction_loss.detach(),
            "codebook_loss": codebook_loss.detach(),
            "commitment_loss": commitment_loss.detach(),
            "psnr": reconstruction_psnr(pixel_values, reconstruction).mean(),
        }
        if palette_codes is not None:
            palette_loss = F.cross_entropy(palette_logits, palette_codes)
            loss = loss + self.loss_args.palette_weight * palette_loss
            outputs["palette_loss"] = palette_loss.detach()
            outputs["palette_accuracy"] = (palette_logits.argmax(-1) == palette_codes).float().mean()
        if base_pixel_values is not None:
            with torch.no_grad():  # the base image's code vectors are the target, not a second input to train on
                base_quantized, _, _, _ = vq.quantize(
                    vq.quant_conv(vq.encoder(vq._check_pixel_values(base_pixel_values)))
                )
            consistency_loss = F.mse_loss(latents, base_quantized)
            loss = loss + self.loss_args.consistency_weight * consistency_loss
            outputs["consistency_loss"] = consistency_loss.detach()
        if self.discriminator is not None:
            # The generator's term through a frozen copy of D (gradient to the VQ model only) and D's hinge loss on a
            # detached reconstruction (gradient to D only): one backward updates both players. Before the start
            # step both are computed with weight 0, so DDP sees every parameter used at every step.
            frozen = {name: p.detach() for name, p in self.discriminator.named_parameters()}
            generator_loss = hinge_generator_loss(
                torch.func.functional_call(self.discriminator, frozen, (reconstruction,))
            )
            discriminator_loss = hinge_discriminator_loss(
                self.discriminator(pixel_values), self.discriminator(reconstruction.detach())
            )
            factor = 1.0 if self.discriminator_active else 0.0
            loss = loss + factor * (self.loss_args.discriminator_weight * generator_loss + discriminator_loss)
            outputs["generator_loss"] = generator_loss.detach()
            outputs["discriminator_loss"] = discriminator_loss.detach()
        outputs["loss"] = loss
        outputs["reconstruction"] = reconstruction
        outputs["codes"] = codes
        return outputs


@torch.no_grad()
def reconstruction_totals(vq_model: CM3LeonVQModel, batches) -> tuple[torch.Tensor, torch.Tensor]:
    """Sums over `batches` of `{"pixel_values": ...}`: `[images, L1, L2, PSNR]` (float64) and the code counts."""
    was_training = vq_model.training
    vq_model.eval()
    totals = torch.zeros(4, dtype=torch.float64)
    counts = torch.zeros(vq_model.config.num_embeddings, dtype=torch.long)
    for batch in batches:
        pixel_values = batch["pixel_values"].to(vq_model.device)
        output = vq_model(pixel_values)
        reconstruction = output.reconstruction.clamp(-1, 1)
        per_image = [
            F.l1_loss(reconstruction, pixel_values, reduction="none").flatten(1).mean(1),
            F.mse_loss(reconstruction, pixel_values, reduction="none").flatten(1).mean(1),
            reconstruction_psnr(pixel_values, reconstruction),
        ]
        totals += torch.tensor([pixel_values.shape[0], *(values.sum().item() for values in per_image)])
        grid_codes = output.codes[:, : vq_model.config.grid_size**2]  # without the palette code
        counts += torch.bincount(grid_codes.flatten().cpu(), minlength=counts.numel())
    vq_model.train(was_training)
    return totals, counts


def reconstruction_metrics(totals: torch.Tensor, counts: torch.Tensor) -> dict[str, float]:
    """Mean L1 / L2 error and PSNR per image, codebook usage (fraction of codes used at least once) and code
    perplexity (exp of the entropy of the code frequencies), from [`reconstruction_totals`]."""
    images, l1, l2, psnr = totals.tolist()
    if images == 0:
        raise ValueError("No evaluation images.")
    probabilities = counts.double() / counts.sum().clamp_min(1)
    used = probabilities[probabilities > 0]
    return {
        "codebook_usage": (counts > 0).double().mean().item(),
        "codebook_perplexity": math.exp(-(used * used.log()).sum().item()),
        "l1": l1 / images,
        "l2": l2 / images,
        "psnr": psnr / images,
    }


def evaluate_reconstruction(vq_model: CM3LeonVQModel, batches) -> dict[str, float]:
    """Reconstruction quality of `vq_model` over `batches` of `{"pixel_values": ...}` (see [`reconstruction_metrics`])."""
    return reconstruction_metrics(*reconstruction_totals(vq_model, batches))


class _VQStepCallback(TrainerCallback):
    """Tells the training model the step (for the discriminator start) and runs the codebook update after each
    optimizer step."""

    def __init__(self, trainer: VQGANTrainer):
        self.trainer = trainer

    def on_step_begin(self, args, state, control, **kwargs):
        self.trainer.training_model.global_step = state.global_step

    def on_step_end(self, args, state, control, **kwargs):
        self.trainer._after_optimizer_step()


class VQGANTrainer(Trainer):
    r"""
    `Trainer` for [`CM3LeonVQTrainingModel`]: logs the loss parts, PSNR and codebook usage, updates the codebook after
    each optimizer step, and evaluates reconstruction PSNR / codebook usage.

    Takes `Trainer`'s arguments; `model` must be a [`CM3LeonVQTrainingModel`].
    """

    def __init__(self, model: CM3LeonVQTrainingModel, *args, **kwargs):
        if not isinstance(model, CM3LeonVQTrainingModel):
            raise TypeError(f"`model` must be a CM3LeonVQTrainingModel, got {type(model).__name__}.")
        super().__init__(model, *args, **kwargs)
        self.training_model = model
        self.add_callback(_VQStepCallback(self))
        self._reset_window()

    def _reset_window(self):
        self._sums: dict[str, float] = {}
        self._num_batches = 0
        self._window_used = torch.zeros(self.training_model.codebook.num_embeddings, dtype=torch.bool)
        self._window_restarted = 0

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        outputs = model(**inputs)
        if model.training:
            for name, value in outputs.items():
                if name not in ("loss", "reconstruction", "codes"):
                    self._sums[name] = self._sums.get(name, 0.0) + value.item()
            self._num_batches += 1
        return (outputs["loss"], outputs) if return_outputs else outputs["loss"]

    def _after_optimizer_step(self):
        codebook = self.training_model.vq_model.quantize.embedding.weight
        stats = self.training_model.codebook.step(codebook.data)
        self._window_used |= stats["used"].cpu()
        self._window_restarted += stats["restarted"]

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs and self._num_batches:
            names = sorted(self._sums)
            values = torch.tensor([self._sums[name] / self._num_batches for name in names], device=self.args.device)
            if self.args.world_size > 1:
                values = self.accelerator.reduce(values, reduction="mean")
            logs.update({name: round(value, 4) for name, value in zip(names, values.tolist())})
            logs["codebook_usage"] = round(self._window_used.float().mean().item(), 4)
            logs["restarted_codes"] = self._window_restarted
            self._reset_window()
        super().log(logs, start_time)

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval") -> dict[str, float]:
        """PSNR, L1/L2 error and codebook usage of the reconstructions of the evaluation images."""
        totals, counts = reconstruction_totals(self.training_model.vq_model, self.get_eval_dataloader(eval_dataset))
        if self.args.world_size > 1:  # each rank saw a shard: sum the totals and the code counts
            totals = self.accelerator.reduce(totals.to(self.args.device), reduction="sum").cpu()
            counts = self.accelerator.reduce(counts.to(self.args.device), reduction="sum").cpu()
        results = reconstruction_metrics(totals, counts)
        metrics = {f"{metric_key_prefix}_{name}": value for name, value in results.items()}
        metrics[f"{metric_key_prefix}_loss"] = metrics[f"{metric_key_prefix}_l1"]
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics


def load_vq_model(model_args: VQModelArguments) -> CM3LeonVQModel:
    """A new tokenizer from a preset/config, or trained weights (a VQ model folder or an image processor folder)."""
    if model_args.vq_model_name_or_path is not None:
        path = model_args.vq_model_name_or_path
        if model_args.vq_config_overrides:
            raise ValueError("`vq_config_overrides` only applies to a new tokenizer (`vq_config_name`).")
        if os.path.isfile(os.path.join(path, "preprocessor_config.json")):
            return CM3LeonImageProcessor.from_pretrained(path).vq_model
        return CM3LeonVQModel.from_pretrained(path)
    name, overrides = model_args.vq_config_name, model_args.vq_config_overrides or {}
    if name is None:
        raise ValueError("Set `vq_config_name` (a new tokenizer) or `vq_model_name_or_path` (trained weights).")
    if name in CM3LEON_VQ_PRESETS:
        config = CM3LeonVQConfig.from_preset(name, **overrides)
    elif os.path.exists(name):
        base = CM3LeonVQConfig.from_pretrained(name).to_dict()
        for key in ("model_type", "transformers_version", "architectures"):
            base.pop(key, None)
        config = CM3LeonVQConfig(**{**base, **overrides})
    else:
        raise ValueError(
            f"`vq_config_name` must be a preset {sorted(CM3LEON_VQ_PRESETS)} or a path to a config, got {name!r}."
        )
    return CM3LeonVQModel(config)


def build_vq_trainer(
    model_args: VQModelArguments,
    data_args: VQDataArguments,
    loss_args: VQLossArguments,
    training_args: TrainingArguments,
    *,
    vq_model: CM3LeonVQModel | None = None,
    image_processor: CM3LeonImageProcessor | None = None,
    train_dataset=None,
    eval_dataset=None,
    callbacks: list | None = None,
) -> VQGANTrainer:
    """The image-tokenizer `Trainer`. `vq_model` and in-memory datasets replace the paths in the arguments;
    `image_processor` (by default a plain `CM3LeonImageProcessor`) is the preprocessing the images go through, e.g.
    with `content_radius`, so that the tokenizer learns the pictures it will encode. The model being trained is
    attached to it, and it is what the trainer saves."""
    if training_args.fsdp:
        raise ValueError(
            f"`fsdp`={training_args.fsdp!r}: the image-tokenizer recipe trains data-parallel (DDP) only. Its EMA "
            "codebook updates, dead-code restarts and saved image processor work on whole parameters, and a VQGAN "
            "fits on one device (Chameleon's has ~70M parameters). Remove `fsdp`."
        )
    set_seed(training_args.seed)  # before the random init, so the same seed gives the same model
    vq_model = vq_model if vq_model is not None else load_vq_model(model_args)
    if train_dataset is None:
        if data_args.train_file is None:
            raise ValueError("No training images: set `train_file` (or pass `train_dataset` in Python).")
        train_dataset = load_local_dataset(data_args.train_file, data_args.dataset_format)
    if eval_dataset is None and data_args.validation_file is not None:
        eval_dataset = load_local_dataset(data_args.validation_file, data_args.dataset_format)
    train_dataset = take_first(check_dataset(train_dataset, "train_dataset"), data_args.max_train_samples)
    if eval_dataset is not None:
        eval_dataset = take_first(check_dataset(eval_dataset, "eval_dataset"), data_args.max_eval_samples)
    train_dataset = prepare_image_columns(train_dataset, data_args)
    if eval_dataset is not None:
        eval_dataset = prepare_image_columns(eval_dataset, data_args)
    palette_columns = data_args.palette_column or data_args.base_image_column
    if palette_columns and not vq_model.config.num_palette_embeddings:
        raise ValueError(
            f"`palette_column`={data_args.palette_column!r} / `base_image_column`={data_args.base_image_column!r} "
            "train a palette code, but the image tokenizer has none: set `num_palette_embeddings` in its config."
        )
    if training_args.remove_unused_columns:
        # The collator reads the image column, which is not an argument of the model's forward.
        training_args.remove_unused_columns = False
    set_ddp_defaults(training_args)  # the discriminator is run (with weight 0) before its start step too
    if image_processor is None:
        image_processor = CM3LeonImageProcessor(vq_model=vq_model)
    elif not isinstance(image_processor, CM3LeonImageProcessor):
        raise TypeError(f"`image_processor` must be a CM3LeonImageProcessor, got {type(image_processor).__name__}.")
    else:
        image_processor.vq_model = vq_model  # checks that its size is the model's resolution
    training_model = CM3LeonVQTrainingModel(vq_model, loss_args)
    trainer = VQGANTrainer(
        training_model,
        args=training_args,
        optimizers=(_palette_optimizer(training_model, loss_args, training_args), None),
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        data_collator=VQImageCollator(
            image_processor,
            data_args.image_column,
            data_args.on_error,
            palette_column=data_args.palette_column,
            base_image_column=data_args.base_image_column,
        ),
        processing_class=image_processor,  # each checkpoint then holds a loadable image processor + tokenizer
        callbacks=callbacks,
    )
    return trainer


def _palette_optimizer(model: CM3LeonVQTrainingModel, loss_args: VQLossArguments, training_args: TrainingArguments):
    """With `palette_learning_rate`: AdamW (the Trainer's settings) with the palette head in a group of its own; else
    None (the Trainer builds its optimizer)."""
    vq_model = model.vq_model
    if loss_args.palette_learning_rate is None or not vq_model.config.num_palette_embeddings:
        return None
    head = {id(p) for p in vq_model.palette_head.parameters()}
    others = [p for p in model.parameters() if p.requires_grad and id(p) not in head]
    groups = [
        {"params": others, "weight_decay": training_args.weight_decay},
        {"params": list(vq_model.palette_head.parameters()), "lr": loss_args.palette_learning_rate, "weight_decay": 0},
    ]
    return torch.optim.AdamW(
        groups,
        lr=training_args.learning_rate,
        betas=(training_args.adam_beta1, training_args.adam_beta2),
        eps=training_args.adam_epsilon,
    )


def run_vq_training(
    model_args: VQModelArguments,
    data_args: VQDataArguments,
    loss_args: VQLossArguments,
    training_args: TrainingArguments,
    **objects,
) -> dict:
    """Train the image tokenizer, save the image processor with it to `output_dir`, return the metrics."""
    trainer = build_vq_trainer(model_args, data_args, loss_args, training_args, **objects)
    result = trainer.train(resume_from_checkpoint=resolve_resume_checkpoint(training_args))
    if training_args.should_save:
        trainer.processing_class.save_pretrained(training_args.output_dir)
    report = DataReport()
    report.add_counter("image_decoding", trainer.data_collator.skipped)
    metrics = {**result.metrics, **report.metrics}
    trainer.log(report.metrics)
    if trainer.eval_dataset is not None:
        metrics.update(trainer.evaluate())
    trainer.log_metrics("train", metrics)
    trainer.save_metrics("train", metrics)
    trainer.save_state()
    return metrics


def main(config_file: str | None = None, overrides: Sequence[str] = ()) -> dict:
    """`cm3leon train vq --config file.yaml [--name value ...]`."""
    *arguments, _ = parse_recipe_arguments(ARGUMENT_TYPES, config_file, overrides)
    return run_vq_training(*arguments)


__all__ = [
    "CM3LeonVQTrainingModel",
    "VQDataArguments",
    "VQGANTrainer",
    "VQLossArguments",
    "VQModelArguments",
    "build_vq_trainer",
    "evaluate_reconstruction",
    "reconstruction_psnr",
    "run_vq_training",
]
