# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The VQ image tokenizer of CM3Leon: a taming-transformers VQGAN that turns an image into a grid of codes and back.

Module and parameter names follow taming-transformers (`taming/modules/diffusionmodules/model.py` Encoder/Decoder,
`taming/modules/vqvae/quantize.py` VectorQuantizer2), so the state dict of a taming `VQModel` checkpoint, such as
Chameleon's `vqgan.ckpt`, loads into [`CM3LeonVQModel`] without renaming a single key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from .configuration_cm3leon import CM3LeonVQConfig


@dataclass
class CM3LeonVQModelOutput(ModelOutput):
    r"""
    Output of [`CM3LeonVQModel.forward`]: an image encoded to codes and decoded back, with the VQ losses.

    Args:
        reconstruction (`torch.FloatTensor` of shape `(batch_size, out_channels, resolution, resolution)`):
            Decoder output, *not* clamped (clamping would cut the gradient of a reconstruction loss).
        codes (`torch.LongTensor` of shape `(batch_size, image_seq_length)`):
            Codebook indices in row-major order, then the palette code (`num_embeddings + palette`) when the model
            has one.
        quantized (`torch.FloatTensor` of shape `(batch_size, embed_dim, grid_size, grid_size)`):
            Quantized latents with the straight-through estimator: the codebook vectors in the forward pass, the
            identity towards the encoder in the backward pass.
        embedding_loss (`torch.FloatTensor` of shape `()`):
            `codebook_loss + beta * commitment_loss`, the VQ-VAE objective. (taming's default `legacy=True`, which
            Chameleon's tokenizer was trained with, puts `beta` on the codebook term instead; both terms have the
            same value and differ only in which side their gradient reaches, so recombine the two terms below to
            reproduce it.)
        codebook_loss (`torch.FloatTensor` of shape `()`):
            `mean((z_q - sg(z)) ** 2)`: moves the codebook towards the encoder outputs.
        commitment_loss (`torch.FloatTensor` of shape `()`):
            `mean((sg(z_q) - z) ** 2)`: keeps the encoder outputs close to their codes.
        palette_logits (`torch.FloatTensor` of shape `(batch_size, num_palette_embeddings)`, *optional*):
            The palette head's logits (models with `num_palette_embeddings`), e.g. for a supervised palette loss.
    """

    reconstruction: torch.FloatTensor | None = None
    codes: torch.LongTensor | None = None
    quantized: torch.FloatTensor | None = None
    embedding_loss: torch.FloatTensor | None = None
    codebook_loss: torch.FloatTensor | None = None
    commitment_loss: torch.FloatTensor | None = None
    palette_logits: torch.FloatTensor | None = None


class CM3LeonVQPaletteHead(nn.Module):
    """Reads an image's palette code from its colours alone: a soft histogram of its pixels over learned prototype
    colours (a pixel shares itself among the prototypes by a softmax of minus its squared distance to each, at a
    learned temperature), then a linear classifier of the histogram's logarithm. It tells which colours a picture
    has and how much of each, not where they are. The prototypes start on a grid of `COLOUR_LEVELS` values per channel.

    (A small per-pixel MLP averaged over the image learns this far more slowly: on CM3Leon-Emoji's skin tones it read
    14% of the toned emoji after 600 steps, where this head reads 93% after 200.)
    """

    COLOUR_LEVELS = 4
    INITIAL_TEMPERATURE = 0.05  # in squared distance of [-1, 1] pixel values

    def __init__(self, config: CM3LeonVQConfig):
        super().__init__()
        num_colours = self.COLOUR_LEVELS**config.in_channels
        self.prototypes = nn.Parameter(torch.empty(num_colours, config.in_channels))
        self.log_temperature = nn.Parameter(torch.empty(()))
        self.classifier = nn.Linear(num_colours, config.num_palette_embeddings)

    def initial_prototypes(self) -> torch.Tensor:
        levels = (torch.arange(self.COLOUR_LEVELS) + 0.5) / self.COLOUR_LEVELS * 2 - 1
        return torch.cartesian_prod(*[levels] * self.prototypes.shape[1]).reshape(self.prototypes.shape)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        pixels = pixel_values.flatten(2).transpose(1, 2)  # (batch, height * width, channels)
        prototypes = self.prototypes.to(pixels.dtype)
        distances = pixels.pow(2).sum(-1, keepdim=True) + prototypes.pow(2).sum(-1) - 2 * pixels @ prototypes.T
        shares = torch.softmax(-distances / self.log_temperature.exp(), dim=-1)
        return self.classifier(torch.log(shares.mean(dim=1) + 1e-4))


class CM3LeonVQVectorQuantizer(nn.Module):
    """Nearest-neighbour quantizer over a learned codebook (taming's `VectorQuantizer2`, without index remapping)."""

    def __init__(self, config: CM3LeonVQConfig):
        super().__init__()
        self.num_embeddings = config.num_embeddings
        self.embedding_dim = config.embed_dim
        self.embedding = nn.Embedding(self.num_embeddings, self.embedding_dim)

    def forward(self, hidden_states: torch.Tensor):
        """Quantize `(batch, embed_dim, height, width)` latents.

        Returns the straight-through quantized latents, the codes `(batch, height * width)` in row-major order,
        the codebook loss and the commitment loss.
        """
        batch_size, _, height, width = hidden_states.shape
        latents = hidden_states.permute(0, 2, 3, 1).contiguous()  # row-major: (b, h, w, c) flattens h before w
        # Distances in float32 even for a half-precision model: bf16 cannot tell close codes apart.
        flat = latents.view(-1, self.embedding_dim).float()
        codebook = self.embedding.weight.float()
        # ||z - e||^2 = ||z||^2 + ||e||^2 - 2 z.e, summed in taming's order so that near-ties pick the same code.
        distances = (
            flat.pow(2).sum(dim=1, keepdim=True)
            + codebook.pow(2).sum(dim=1)
            - 2 * torch.einsum("bd,nd->bn", flat, codebook)
        )
        codes = distances.argmin(dim=1)
        quantized = self.embedding(codes).view(latents.shape)

        codebook_loss = torch.mean((quantized - latents.detach()) ** 2)
        commitment_loss = torch.mean((quantized.detach() - latents) ** 2)

        quantized = latents + (quantized - latents).detach()  # straight-through estimator
        quantized = quantized.permute(0, 3, 1, 2).contiguous()
        return quantized, codes.view(batch_size, height * width), codebook_loss, commitment_loss

    def get_codebook_entry(self, codes: torch.LongTensor, shape: tuple[int, int, int, int]) -> torch.Tensor:
        """Look up `codes` and return latents of shape `(batch, embed_dim, height, width)`.

        `shape` is `(batch, height, width, embed_dim)`, as in taming.
        """
        latents = self.embedding(codes).view(shape)
        return latents.permute(0, 3, 1, 2).contiguous()


def _group_norm(config: CM3LeonVQConfig, channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(num_groups=config.num_groups, num_channels=channels, eps=1e-6, affine=True)


class CM3LeonVQResnetBlock(nn.Module):
    def __init__(self, config: CM3LeonVQConfig, in_channels: int, out_channels: int):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.norm1 = _group_norm(config, in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=1, padding=1)
        self.norm2 = _group_norm(config, out_channels)
        self.dropout = nn.Dropout(config.dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, stride=1, padding=1)
        if in_channels != out_channels:
            self.nin_shortcut = nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=1, padding=0)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        residual = hidden_states
        hidden_states = self.conv1(F.silu(self.norm1(hidden_states)))
        hidden_states = self.conv2(self.dropout(F.silu(self.norm2(hidden_states))))
        if self.in_channels != self.out_channels:
            residual = self.nin_shortcut(residual)
        return residual + hidden_states


class CM3LeonVQAttnBlock(nn.Module):
    """Single-head self-attention over the pixels of a feature map, with 1x1 convolutions as projections."""

    def __init__(self, config: CM3LeonVQConfig, channels: int):
        super().__init__()
        self.norm = _group_norm(config, channels)
        self.q = nn.Conv2d(channels, channels, kernel_size=1, stride=1, padding=0)
        self.k = nn.Conv2d(channels, channels, kernel_size=1, stride=1, padding=0)
        self.v = nn.Conv2d(channels, channels, kernel_size=1, stride=1, padding=0)
        self.proj_out = nn.Conv2d(channels, channels, kernel_size=1, stride=1, padding=0)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        batch_size, channels, height, width = hidden_states.shape
        normed = self.norm(hidden_states)
        # (b, c, h, w) -> (b, 1, h*w, c): one head whose sequence is the pixels.
        query, key, value = (
            proj(normed).view(batch_size, 1, channels, height * width).transpose(2, 3)
            for proj in (self.q, self.k, self.v)
        )
        attn_output = F.scaled_dot_product_attention(query, key, value)  # softmax(q k^T / sqrt(c)) v, as taming
        attn_output = attn_output.transpose(2, 3).reshape(batch_size, channels, height, width)
        return hidden_states + self.proj_out(attn_output)


class CM3LeonVQDownsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, kernel_size=3, stride=2, padding=0)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        # taming pads right and bottom only, which a symmetric `padding=` cannot express.
        return self.conv(F.pad(hidden_states, (0, 1, 0, 1), mode="constant", value=0))


class CM3LeonVQUpsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, kernel_size=3, stride=1, padding=1)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(hidden_states, scale_factor=2.0, mode="nearest"))


class CM3LeonVQDownBlock(nn.Module):
    """One encoder level: ResNet blocks `block[j]`, each followed by `attn[j]` when the level has attention, then
    a stride-2 `downsample` on every level but the last."""

    def __init__(
        self, config: CM3LeonVQConfig, in_channels: int, out_channels: int, attention: bool, downsample: bool
    ):
        super().__init__()
        self.block = nn.ModuleList(
            CM3LeonVQResnetBlock(config, in_channels if j == 0 else out_channels, out_channels)
            for j in range(config.num_res_blocks)
        )
        self.attn = nn.ModuleList(
            CM3LeonVQAttnBlock(config, out_channels) for _ in range(config.num_res_blocks if attention else 0)
        )
        self.downsample = CM3LeonVQDownsample(out_channels) if downsample else None

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        for j, block in enumerate(self.block):
            hidden_states = block(hidden_states)
            if len(self.attn) > 0:
                hidden_states = self.attn[j](hidden_states)
        if self.downsample is not None:
            hidden_states = self.downsample(hidden_states)
        return hidden_states


class CM3LeonVQUpBlock(nn.Module):
    """One decoder level: `num_res_blocks + 1` ResNet blocks `block[j]`, each followed by `attn[j]` when the level
    has attention, then a nearest-neighbour x2 `upsample` on every level but the highest-resolution one."""

    def __init__(self, config: CM3LeonVQConfig, in_channels: int, out_channels: int, attention: bool, upsample: bool):
        super().__init__()
        num_blocks = config.num_res_blocks + 1
        self.block = nn.ModuleList(
            CM3LeonVQResnetBlock(config, in_channels if j == 0 else out_channels, out_channels)
            for j in range(num_blocks)
        )
        self.attn = nn.ModuleList(
            CM3LeonVQAttnBlock(config, out_channels) for _ in range(num_blocks if attention else 0)
        )
        self.upsample = CM3LeonVQUpsample(out_channels) if upsample else None

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        for j, block in enumerate(self.block):
            hidden_states = block(hidden_states)
            if len(self.attn) > 0:
                hidden_states = self.attn[j](hidden_states)
        if self.upsample is not None:
            hidden_states = self.upsample(hidden_states)
        return hidden_states


class CM3LeonVQMidBlock(nn.Module):
    def __init__(self, config: CM3LeonVQConfig, channels: int):
        super().__init__()
        self.block_1 = CM3LeonVQResnetBlock(config, channels, channels)
        self.attn_1 = CM3LeonVQAttnBlock(config, channels)
        self.block_2 = CM3LeonVQResnetBlock(config, channels, channels)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.block_2(self.attn_1(self.block_1(hidden_states)))


class CM3LeonVQEncoder(nn.Module):
    """Pixels `(b, in_channels, R, R)` -> latents `(b, latent_channels, R / f, R / f)`; level `i` works at `R / 2**i`."""

    def __init__(self, config: CM3LeonVQConfig):
        super().__init__()
        multipliers = config.channel_multiplier
        base = config.base_channels
        self.conv_in = nn.Conv2d(config.in_channels, base, kernel_size=3, stride=1, padding=1)

        self.down = nn.ModuleList()
        in_channels = base
        for level, multiplier in enumerate(multipliers):
            out_channels = base * multiplier
            attention = config.resolution // 2**level in config.attn_resolutions
            last = level == len(multipliers) - 1
            self.down.append(CM3LeonVQDownBlock(config, in_channels, out_channels, attention, downsample=not last))
            in_channels = out_channels

        self.mid = CM3LeonVQMidBlock(config, in_channels)
        self.norm_out = _group_norm(config, in_channels)
        out_latents = 2 * config.latent_channels if config.double_latent else config.latent_channels
        self.conv_out = nn.Conv2d(in_channels, out_latents, kernel_size=3, stride=1, padding=1)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        hidden_states = self.conv_in(pixel_values)
        for down in self.down:
            hidden_states = down(hidden_states)
        hidden_states = self.mid(hidden_states)
        return self.conv_out(F.silu(self.norm_out(hidden_states)))


class CM3LeonVQDecoder(nn.Module):
    """Latents `(b, latent_channels, R / f, R / f)` -> pixels `(b, out_channels, R, R)`.

    As in taming, `up[i]` is the level at resolution `R / 2**i` (so `up[0]` is the last one run), and each level has
    `num_res_blocks + 1` ResNet blocks.
    """

    def __init__(self, config: CM3LeonVQConfig):
        super().__init__()
        multipliers = config.channel_multiplier
        base = config.base_channels
        in_channels = base * multipliers[-1]
        self.conv_in = nn.Conv2d(config.latent_channels, in_channels, kernel_size=3, stride=1, padding=1)
        self.mid = CM3LeonVQMidBlock(config, in_channels)

        levels = []
        for level in reversed(range(len(multipliers))):  # built from the lowest resolution up, as data flows
            out_channels = base * multipliers[level]
            attention = config.resolution // 2**level in config.attn_resolutions
            levels.insert(0, CM3LeonVQUpBlock(config, in_channels, out_channels, attention, upsample=level != 0))
            in_channels = out_channels
        self.up = nn.ModuleList(levels)

        self.norm_out = _group_norm(config, in_channels)
        self.conv_out = nn.Conv2d(in_channels, config.out_channels, kernel_size=3, stride=1, padding=1)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        hidden_states = self.mid(self.conv_in(latents))
        for up in reversed(self.up):
            hidden_states = up(hidden_states)
        return self.conv_out(F.silu(self.norm_out(hidden_states)))


class CM3LeonVQPreTrainedModel(PreTrainedModel):
    config_class = CM3LeonVQConfig
    config: CM3LeonVQConfig
    base_model_prefix = ""
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    _no_split_modules = ["CM3LeonVQResnetBlock", "CM3LeonVQAttnBlock", "CM3LeonVQVectorQuantizer"]

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        # PyTorch's default convolution init (what taming trained with), not transformers' generic normal(0.02);
        # the codebook draws from normal(0, initializer_range).
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            init.kaiming_uniform_(module.weight, a=math.sqrt(5))
            if module.bias is not None:
                fan_in, _ = nn.init._calculate_fan_in_and_fan_out(module.weight)
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(module.bias, -bound, bound)
        elif isinstance(module, nn.Embedding):
            init.normal_(module.weight, mean=0.0, std=self.config.initializer_range)
        elif isinstance(module, nn.GroupNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, CM3LeonVQPaletteHead):
            init.copy_(module.prototypes, module.initial_prototypes())
            init.constant_(module.log_temperature, math.log(module.INITIAL_TEMPERATURE))


class CM3LeonVQModel(CM3LeonVQPreTrainedModel):
    r"""
    The CM3Leon image tokenizer: a taming-transformers VQGAN (encoder, vector quantizer, decoder).

    An image of `resolution x resolution` pixels scaled to [-1, 1] becomes `grid_size * grid_size` codes in
    `[0, num_embeddings)`, read row by row (`codes[:, r * grid_size + c]` is row `r`, column `c`), and codes become
    an image again. Parameter names are taming's, so a taming `VQModel` state dict loads without renaming.

    With `num_palette_embeddings`, a last code per image (`num_embeddings + palette`) is read from the image's
    colours by `palette_head` and its `palette_embedding` is added to the decoder's input at every position.

    Example:

    ```python
    >>> import torch
    >>> from transformers_cm3leon import CM3LeonVQConfig, CM3LeonVQModel

    >>> config = CM3LeonVQConfig(resolution=16, base_channels=32, channel_multiplier=[1, 2], num_embeddings=32,
    ...                          embed_dim=8, latent_channels=8, num_res_blocks=1, attn_resolutions=[8])
    >>> model = CM3LeonVQModel(config).eval()
    >>> codes = model.encode(torch.rand(2, 3, 16, 16) * 2 - 1)  # (2, 64), values in [0, 32)
    >>> images = model.decode(codes)  # (2, 3, 16, 16), values in [-1, 1]
    ```
    """

    def __init__(self, config: CM3LeonVQConfig):
        super().__init__(config)
        if config.double_latent:
            raise ValueError(
                "`double_latent=True` doubles the encoder output for a KL autoencoder's mean and variance; a VQ model "
                "quantizes `latent_channels` channels, so CM3LeonVQModel needs `double_latent=False`."
            )
        self.encoder = CM3LeonVQEncoder(config)
        self.quant_conv = nn.Conv2d(config.latent_channels, config.embed_dim, 1)
        self.quantize = CM3LeonVQVectorQuantizer(config)
        self.post_quant_conv = nn.Conv2d(config.embed_dim, config.latent_channels, 1)
        self.decoder = CM3LeonVQDecoder(config)
        if config.num_palette_embeddings:
            self.palette_head = CM3LeonVQPaletteHead(config)
            self.palette_embedding = nn.Embedding(config.num_palette_embeddings, config.latent_channels)
        self.post_init()

    # -- input checks -----------------------------------------------------------------------------------------------
    def _check_pixel_values(self, pixel_values) -> torch.Tensor:
        if not isinstance(pixel_values, torch.Tensor):
            raise TypeError(f"`pixel_values` must be a torch.Tensor, got {type(pixel_values).__name__}.")
        if not pixel_values.is_floating_point():
            raise TypeError(
                f"`pixel_values` must be a floating-point tensor scaled to [-1, 1], got {pixel_values.dtype}."
            )
        expected = (self.config.in_channels, self.config.resolution, self.config.resolution)
        if pixel_values.dim() != 4 or tuple(pixel_values.shape[1:]) != expected:
            raise ValueError(
                f"`pixel_values` must have shape (batch_size, {', '.join(map(str, expected))}) for this image tokenizer "
                f"(resolution={self.config.resolution}), got {tuple(pixel_values.shape)}. Resize and crop images with "
                "CM3LeonImageProcessor first."
            )
        return pixel_values.to(self.dtype)

    def _check_codes(self, codes) -> torch.Tensor:
        if not isinstance(codes, torch.Tensor):
            raise TypeError(f"`codes` must be a torch.Tensor of integer codes, got {type(codes).__name__}.")
        if codes.is_floating_point() or codes.is_complex() or codes.dtype == torch.bool:
            raise TypeError(f"`codes` must be an integer tensor, got dtype {codes.dtype}.")
        config = self.config
        grid, length = config.grid_size, config.image_seq_length
        if codes.dim() == 3 and tuple(codes.shape[1:]) == (grid, grid) and length == grid * grid:
            codes = codes.reshape(codes.shape[0], grid * grid)
        if codes.dim() != 2 or codes.shape[1] != length:
            shapes = f"(batch_size, {length})" + (
                "" if config.num_palette_embeddings else f" or (batch_size, {grid}, {grid})"
            )
            palette = f" ({grid}x{grid} grid codes, then the palette code)" if config.num_palette_embeddings else ""
            raise ValueError(f"`codes` must have shape {shapes}{palette}, got {tuple(codes.shape)}.")
        grid_codes, palette_codes = codes[:, : grid * grid], codes[:, grid * grid :]
        if grid_codes.numel() and (grid_codes.min() < 0 or grid_codes.max() >= config.num_embeddings):
            raise ValueError(
                f"`codes` must lie in [0, {config.num_embeddings}) at the {grid * grid} grid positions, got values in "
                f"[{int(grid_codes.min())}, {int(grid_codes.max())}]."
            )
        low, high = config.num_embeddings, config.num_image_tokens
        if palette_codes.numel() and (palette_codes.min() < low or palette_codes.max() >= high):
            raise ValueError(
                f"`codes` must end with a palette code in [{low}, {high}), got values in "
                f"[{int(palette_codes.min())}, {int(palette_codes.max())}] there."
            )
        return codes.long().to(self.device)

    # -- API --------------------------------------------------------------------------------------------------------
    def _quantize(self, pixel_values: torch.Tensor):
        latents = self.quant_conv(self.encoder(pixel_values))
        return self.quantize(latents)

    def _decode_latents(self, quantized: torch.Tensor, palette: torch.Tensor | None = None) -> torch.Tensor:
        hidden_states = self.post_quant_conv(quantized)
        if palette is not None:  # (batch, latent_channels): the same colouring at every position
            hidden_states = hidden_states + palette[:, :, None, None]
        return self.decoder(hidden_states)

    def _palette(self, pixel_values: torch.Tensor, palette_codes: torch.Tensor | None):
        """The palette logits and the vectors the decoder gets: of `palette_codes` when given (teacher forcing), else
        of the head's argmax, with a straight-through gradient to the head."""
        logits = self.palette_head(pixel_values)
        if palette_codes is not None:
            return logits, self.palette_embedding(palette_codes)
        probabilities = logits.softmax(dim=-1)
        hard = F.one_hot(probabilities.argmax(dim=-1), probabilities.shape[-1]).to(probabilities.dtype)
        return logits, (hard + probabilities - probabilities.detach()) @ self.palette_embedding.weight

    @torch.no_grad()
    def encode(self, pixel_values: torch.Tensor) -> torch.LongTensor:
        """Encode images to codes.

        Args:
            pixel_values (`torch.FloatTensor` of shape `(batch_size, in_channels, resolution, resolution)`):
                Images scaled to [-1, 1].

        Returns:
            `torch.LongTensor` of shape `(batch_size, image_seq_length)`: codes in `[0, num_embeddings)`, in
            row-major order, then the palette code in `[num_embeddings, num_image_tokens)` when the model has one.
        """
        pixel_values = self._check_pixel_values(pixel_values)
        _, codes, _, _ = self._quantize(pixel_values)
        if self.config.num_palette_embeddings:
            palette = self.palette_head(pixel_values).argmax(dim=-1, keepdim=True) + self.config.num_embeddings
            codes = torch.cat([codes, palette], dim=1)
        return codes

    def decode(self, codes: torch.LongTensor) -> torch.FloatTensor:
        """Decode codes to images.

        Args:
            codes (`torch.LongTensor` of shape `(batch_size, image_seq_length)`, or `(batch_size, grid_size,
                grid_size)` without a palette): what `encode` returns.

        Returns:
            `torch.FloatTensor` of shape `(batch_size, out_channels, resolution, resolution)`, clamped to [-1, 1].
        """
        codes = self._check_codes(codes)
        config, grid = self.config, self.config.grid_size
        latents = self.quantize.get_codebook_entry(
            codes[:, : grid * grid], (codes.shape[0], grid, grid, config.embed_dim)
        )
        palette = None
        if config.num_palette_embeddings:
            palette = self.palette_embedding(codes[:, -1] - config.num_embeddings)
        return self._decode_latents(latents, palette).clamp(-1.0, 1.0)

    def forward(
        self,
        pixel_values: torch.Tensor,
        palette_codes: torch.LongTensor | None = None,
        return_dict: bool | None = None,
    ) -> CM3LeonVQModelOutput | tuple:
        r"""
        Encode, quantize and decode `pixel_values` (`(batch_size, in_channels, resolution, resolution)` in [-1, 1]),
        returning the reconstruction, the codes and the VQ losses. Gradients reach the encoder through the
        straight-through estimator.

        palette_codes (`torch.LongTensor` of shape `(batch_size,)`, *optional*):
            Models with a palette: decode with these palettes (in `[0, num_palette_embeddings)`) instead of the ones
            the head reads, for a palette learned from labels (add a cross-entropy on `palette_logits`).
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        pixel_values = self._check_pixel_values(pixel_values)
        quantized, codes, codebook_loss, commitment_loss = self._quantize(pixel_values)
        palette_logits = palette = None
        if self.config.num_palette_embeddings:
            palette_codes = self._check_palette_codes(palette_codes, len(pixel_values))
            palette_logits, palette = self._palette(pixel_values, palette_codes)
            codes = torch.cat([codes, palette_logits.argmax(dim=-1, keepdim=True) + self.config.num_embeddings], 1)
        elif palette_codes is not None:
            raise ValueError(
                "`palette_codes` was given, but this image tokenizer has no palette (num_palette_embeddings=0)."
            )
        output = CM3LeonVQModelOutput(
            reconstruction=self._decode_latents(quantized, palette),
            codes=codes,
            quantized=quantized,
            embedding_loss=codebook_loss + self.config.beta * commitment_loss,
            codebook_loss=codebook_loss,
            commitment_loss=commitment_loss,
            palette_logits=palette_logits,
        )
        return output if return_dict else output.to_tuple()

    def _check_palette_codes(self, palette_codes, batch_size: int) -> torch.Tensor | None:
        if palette_codes is None:
            return None
        size = self.config.num_palette_embeddings
        if (
            not isinstance(palette_codes, torch.Tensor)
            or palette_codes.is_floating_point()
            or palette_codes.dim() != 1
        ):
            raise TypeError(f"`palette_codes` must be a 1-d integer tensor (one per image), got {palette_codes!r}.")
        if len(palette_codes) != batch_size:
            raise ValueError(f"`palette_codes` must hold one code per image ({batch_size}), got {len(palette_codes)}.")
        if palette_codes.numel() and (palette_codes.min() < 0 or palette_codes.max() >= size):
            raise ValueError(f"`palette_codes` must lie in [0, {size}), got {palette_codes.tolist()}.")
        return palette_codes.to(self.device)


__all__ = ["CM3LeonVQModel", "CM3LeonVQModelOutput", "CM3LeonVQPaletteHead", "CM3LeonVQPreTrainedModel"]
