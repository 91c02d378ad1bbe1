# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The patch discriminator of VQGAN training and its hinge losses.

The layout is pix2pix's `NLayerDiscriminator` (as taming-transformers uses it): stride-2 4x4 convolutions with
LeakyReLU(0.2), then a stride-1 layer and a 1-channel 4x4 convolution, so each output logit judges one patch of the
image. One change: GroupNorm instead of BatchNorm. Batch statistics would make the generator's pass through the
discriminator (and DDP without SyncBatchNorm) change the discriminator's state; GroupNorm has none.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


class PatchDiscriminator(nn.Module):
    r"""
    A PatchGAN discriminator: images `(batch, channels, H, W)` in [-1, 1] -> real/fake logits per patch.

    Args:
        in_channels (`int`, *optional*, defaults to 3): Image channels.
        channels (`int`, *optional*, defaults to 64): Channels of the first layer; doubled per layer, up to 8x.
        num_layers (`int`, *optional*, defaults to 3): Stride-2 layers (3 in taming: 70x70 patches at 256 px).
        resolution (`int`, *optional*): Image side; when given, checked to leave at least one patch logit.
    """

    def __init__(self, in_channels: int = 3, channels: int = 64, num_layers: int = 3, resolution: int | None = None):
        super().__init__()
        for name, value in (("in_channels", in_channels), ("channels", channels), ("num_layers", num_layers)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
        layers: list[nn.Module] = [nn.Conv2d(in_channels, channels, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        multiplier = 1
        for n in range(1, num_layers + 1):
            previous, multiplier = multiplier, min(2**n, 8)
            stride = 2 if n < num_layers else 1
            layers += [
                nn.Conv2d(channels * previous, channels * multiplier, 4, stride=stride, padding=1, bias=False),
                nn.GroupNorm(math.gcd(32, channels * multiplier), channels * multiplier),
                nn.LeakyReLU(0.2),
            ]
        layers.append(nn.Conv2d(channels * multiplier, 1, 4, stride=1, padding=1))
        self.layers = nn.Sequential(*layers)
        self.num_layers = num_layers
        if resolution is not None and self.output_size(resolution) < 1:
            raise ValueError(
                f"A {num_layers}-layer patch discriminator leaves no patch of a {resolution} px image; use fewer "
                "`discriminator_layers`."
            )
        self.reset_parameters()

    def output_size(self, resolution: int) -> int:
        """Side of the logit map for a `resolution` x `resolution` image."""
        size = resolution
        for module in self.layers:
            if isinstance(module, nn.Conv2d):
                size = _conv_output_size(size, module.kernel_size[0], module.stride[0], module.padding[0])
        return size

    @torch.no_grad()
    def reset_parameters(self) -> None:
        # pix2pix's init: convolutions N(0, 0.02), norm scales N(1, 0.02), biases 0.
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.normal_(module.weight, 0.0, 0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.GroupNorm):
                nn.init.normal_(module.weight, 1.0, 0.02)
                nn.init.zeros_(module.bias)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.layers(pixel_values)


def hinge_discriminator_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """`(mean(relu(1 - D(x))) + mean(relu(1 + D(x_hat)))) / 2`, taming's `hinge_d_loss`."""
    return 0.5 * (F.relu(1.0 - logits_real).mean() + F.relu(1.0 + logits_fake).mean())


def hinge_generator_loss(logits_fake: torch.Tensor) -> torch.Tensor:
    """`-mean(D(x_hat))`: the generator (the VQ decoder) makes its reconstructions look real."""
    return -logits_fake.mean()


__all__ = ["PatchDiscriminator", "hinge_discriminator_loss", "hinge_generator_loss"]
