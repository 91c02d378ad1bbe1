# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Tests of the VQ image tokenizer (CM3LeonVQModel) on tiny random configs."""

import math

import pytest
import torch
import torch.nn.functional as F

from transformers_cm3leon.configuration_cm3leon import CM3LeonVQConfig
from transformers_cm3leon.modeling_cm3leon_vq import CM3LeonVQModel, CM3LeonVQModelOutput

GRID = 8  # 16 px, one downsampling


def tiny_config(**overrides) -> CM3LeonVQConfig:
    kwargs = dict(
        resolution=16,
        base_channels=16,
        num_groups=8,
        channel_multiplier=[1, 2],
        num_embeddings=32,
        embed_dim=8,
        latent_channels=8,
        num_res_blocks=1,
        attn_resolutions=[8],
    )
    kwargs.update(overrides)
    return CM3LeonVQConfig(**kwargs)


def tiny_model(seed: int = 0, **overrides) -> CM3LeonVQModel:
    torch.manual_seed(seed)
    return CM3LeonVQModel(tiny_config(**overrides)).eval()


@pytest.fixture(scope="module")
def model():
    return tiny_model()


@pytest.fixture(scope="module")
def pixels():
    generator = torch.Generator().manual_seed(1)
    return torch.rand(3, 3, 16, 16, generator=generator) * 2 - 1


def taming_state_dict_keys(config: CM3LeonVQConfig) -> set[str]:
    """The keys of a taming-transformers `VQModel` state dict, written from taming's Encoder/Decoder/VectorQuantizer2."""

    def conv(prefix):
        return {f"{prefix}.weight", f"{prefix}.bias"}

    def resnet(prefix, in_channels, out_channels):
        keys = conv(f"{prefix}.norm1") | conv(f"{prefix}.conv1") | conv(f"{prefix}.norm2") | conv(f"{prefix}.conv2")
        return keys | (conv(f"{prefix}.nin_shortcut") if in_channels != out_channels else set())

    def attn(prefix):
        return set().union(*(conv(f"{prefix}.{name}") for name in ("norm", "q", "k", "v", "proj_out")))

    ch, mult, n_blocks = config.base_channels, config.channel_multiplier, config.num_res_blocks
    keys = conv("encoder.conv_in") | conv("quant_conv") | conv("post_quant_conv") | {"quantize.embedding.weight"}
    in_ch_mult = (1, *mult)
    curr_res = config.resolution
    for i_level in range(len(mult)):
        block_in = ch * in_ch_mult[i_level]
        for i_block in range(n_blocks):
            keys |= resnet(f"encoder.down.{i_level}.block.{i_block}", block_in, ch * mult[i_level])
            block_in = ch * mult[i_level]
            if curr_res in config.attn_resolutions:
                keys |= attn(f"encoder.down.{i_level}.attn.{i_block}")
        if i_level != len(mult) - 1:
            keys |= conv(f"encoder.down.{i_level}.downsample.conv")
            curr_res //= 2
    for side in ("encoder", "decoder"):
        keys |= resnet(f"{side}.mid.block_1", 1, 1) | attn(f"{side}.mid.attn_1") | resnet(f"{side}.mid.block_2", 1, 1)
        keys |= conv(f"{side}.norm_out") | conv(f"{side}.conv_out")
    keys |= conv("decoder.conv_in")
    block_in = ch * mult[-1]
    curr_res = config.resolution // 2 ** (len(mult) - 1)
    for i_level in reversed(range(len(mult))):
        for i_block in range(n_blocks + 1):
            keys |= resnet(f"decoder.up.{i_level}.block.{i_block}", block_in, ch * mult[i_level])
            block_in = ch * mult[i_level]
            if curr_res in config.attn_resolutions:
                keys |= attn(f"decoder.up.{i_level}.attn.{i_block}")
        if i_level != 0:
            keys |= conv(f"decoder.up.{i_level}.upsample.conv")
            curr_res *= 2
    return keys


# -- layout of the weights ------------------------------------------------------------------------------------------
def test_state_dict_keys_are_taming_keys(model):
    expected = taming_state_dict_keys(model.config)
    assert set(model.state_dict()) == expected
    for key in (
        "encoder.down.0.block.0.norm1.weight",
        "encoder.down.0.downsample.conv.weight",
        "encoder.down.1.block.0.nin_shortcut.weight",
        "encoder.down.1.attn.0.q.weight",
        "encoder.mid.attn_1.q.weight",
        "encoder.mid.attn_1.proj_out.bias",
        "decoder.up.1.upsample.conv.weight",
        "decoder.up.1.attn.1.v.weight",
        "decoder.up.0.block.0.nin_shortcut.weight",
        "decoder.conv_out.bias",
        "quantize.embedding.weight",
        "quant_conv.weight",
        "post_quant_conv.weight",
    ):
        assert key in expected
    assert "decoder.up.0.upsample.conv.weight" not in expected  # up[0] is the full-resolution level


def test_taming_state_dict_loads_without_renaming(model):
    generator = torch.Generator().manual_seed(3)
    state_dict = {key: torch.randn(value.shape, generator=generator) for key, value in model.state_dict().items()}
    fresh = tiny_model(seed=5)
    result = fresh.load_state_dict(state_dict, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert torch.equal(fresh.decoder.up[1].upsample.conv.weight, state_dict["decoder.up.1.upsample.conv.weight"])


def test_weight_shapes_follow_taming(model):
    # ch=16, ch_mult=[1, 2]: the encoder widens at level 1, the decoder narrows at up[0]; taming's Decoder has
    # num_res_blocks + 1 blocks per level.
    assert model.encoder.down[1].block[0].nin_shortcut.weight.shape == (32, 16, 1, 1)
    assert model.decoder.conv_in.weight.shape == (32, 8, 3, 3)
    assert model.decoder.up[0].block[0].nin_shortcut.weight.shape == (16, 32, 1, 1)
    assert len(model.decoder.up[0].block) == 2 and len(model.encoder.down[0].block) == 1
    assert len(model.encoder.down[1].attn) == 1 and len(model.encoder.down[0].attn) == 0
    assert len(model.decoder.up[1].attn) == 2 and len(model.decoder.up[0].attn) == 0
    assert model.quantize.embedding.weight.shape == (32, 8)
    assert model.decoder.up[0].upsample is None and model.encoder.down[1].downsample is None


def test_decoder_runs_levels_from_lowest_resolution(model, pixels):
    seen = []
    hooks = [
        up.register_forward_hook(lambda module, args, out, i=i: seen.append((i, args[0].shape[-1], out.shape[-1])))
        for i, up in enumerate(model.decoder.up)
    ]
    try:
        model.decode(model.encode(pixels[:1]))
    finally:
        for hook in hooks:
            hook.remove()
    assert seen == [(1, 8, 16), (0, 16, 16)]  # up[1] at 8x8 then upsamples; up[0] last, at full resolution


# -- building blocks against taming's formulas ----------------------------------------------------------------------
def test_attention_block_matches_taming_formula(model):
    block = model.encoder.mid.attn_1
    x = torch.randn(2, 32, 4, 4, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        h = block.norm(x)
        q, k, v = block.q(h), block.k(h), block.v(h)
        b, c, hh, ww = q.shape
        weights = torch.bmm(q.reshape(b, c, hh * ww).permute(0, 2, 1), k.reshape(b, c, hh * ww)) * c**-0.5
        weights = F.softmax(weights, dim=2)
        out = torch.bmm(v.reshape(b, c, hh * ww), weights.permute(0, 2, 1)).reshape(b, c, hh, ww)
        expected = x + block.proj_out(out)
        torch.testing.assert_close(block(x), expected, atol=1e-5, rtol=1e-5)


def test_downsample_pads_right_and_bottom_only(model):
    down = model.encoder.down[0].downsample
    x = torch.randn(1, 16, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = down(x)
        # Output (0, 0) sees input rows/cols 0..2 (no top/left padding); output (7, 7) sees 14, 15 and the zero pad.
        first = (down.conv.weight * x[:, :, 0:3, 0:3]).sum(dim=(1, 2, 3)) + down.conv.bias
        last = (down.conv.weight[:, :, :2, :2] * x[:, :, 14:16, 14:16]).sum(dim=(1, 2, 3)) + down.conv.bias
    assert out.shape == (1, 16, 8, 8)
    torch.testing.assert_close(out[0, :, 0, 0], first, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out[0, :, 7, 7], last, atol=1e-5, rtol=1e-5)


def test_upsample_is_nearest_then_conv(model):
    up = model.decoder.up[1].upsample
    x = torch.randn(1, 32, 4, 4, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = up.conv(x.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3))
        torch.testing.assert_close(up(x), expected)


# -- quantizer ------------------------------------------------------------------------------------------------------
def test_quantizer_picks_exact_nearest_code():
    model = tiny_model()
    codebook = torch.tensor(
        [[0.0] * 8, [1.0] + [0.0] * 7, [0.0, 1.0] + [0.0] * 6, [1.0, 1.0] + [0.0] * 6, [-2.0] + [0.0] * 7]
        + [[10.0 + i] * 8 for i in range(27)]
    )
    with torch.no_grad():
        model.quantize.embedding.weight.copy_(codebook)
    # Squared distances worked by hand (only the first two dimensions are non-zero):
    #   (0.6, 0.1):   to (0, 0) 0.37,   to (1, 0) 0.17                               -> code 1
    #   (0.4, 0.45):  to (0, 0) 0.3625, to (0, 1) 0.4625, to (1, 0) 0.5625          -> code 0
    #   (0.55, 0.6):  to (1, 1) 0.3625, to (0, 1) 0.4625, to (1, 0) 0.5625          -> code 3
    #   (-0.9, 0):    to (0, 0) 0.81,   to (-2, 0) 1.21                              -> code 0
    #   (-1.1, 0):    to (0, 0) 1.21,   to (-2, 0) 0.81                              -> code 4
    points = torch.zeros(5, 8)
    points[0, :2] = torch.tensor([0.6, 0.1])
    points[1, :2] = torch.tensor([0.4, 0.45])
    points[2, :2] = torch.tensor([0.55, 0.6])
    points[3, :2] = torch.tensor([-0.9, 0.0])
    points[4, :2] = torch.tensor([-1.1, 0.0])
    latents = points.T.reshape(1, 8, 1, 5)
    _, codes, _, _ = model.quantize(latents)
    assert codes.tolist() == [[1, 0, 3, 0, 4]]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_quantizer_agrees_with_brute_force(seed):
    model = tiny_model(seed=seed)
    generator = torch.Generator().manual_seed(seed)
    latents = torch.randn(2, 8, 4, 4, generator=generator) * 0.05
    _, codes, _, _ = model.quantize(latents)
    flat = latents.permute(0, 2, 3, 1).reshape(-1, 8)
    expected = torch.cdist(flat.double(), model.quantize.embedding.weight.double()).argmin(dim=1)
    assert torch.equal(codes.flatten(), expected)


def test_codes_are_row_major_through_encode():
    # Replace the encoder's latents by a grid whose pixel (r, c) holds codebook vector r * 8 + c (mod 32): the codes
    # that `encode` returns must then read 0, 1, 2, ... row by row.
    model = tiny_model()
    with torch.no_grad():
        model.quantize.embedding.weight.copy_(torch.randn(32, 8, generator=torch.Generator().manual_seed(0)) * 3)
    expected = torch.arange(GRID * GRID) % 32
    grid = model.quantize.embedding.weight[expected].T.reshape(1, 8, GRID, GRID)
    hook = model.quant_conv.register_forward_hook(lambda module, args, out: grid.expand(out.shape[0], -1, -1, -1))
    try:
        codes = model.encode(torch.zeros(2, 3, 16, 16))
    finally:
        hook.remove()
    assert codes.tolist() == [expected.tolist()] * 2
    # ... and a transposed grid gives the transposed code matrix.
    hook = model.quant_conv.register_forward_hook(lambda module, args, out: grid.transpose(2, 3).contiguous())
    try:
        codes_t = model.encode(torch.zeros(1, 3, 16, 16))
    finally:
        hook.remove()
    assert torch.equal(codes_t.view(GRID, GRID), expected.view(GRID, GRID).T)


def test_decode_places_codes_row_major(model):
    codes = torch.randint(0, 32, (2, GRID * GRID), generator=torch.Generator().manual_seed(0))
    latents = model.quantize.get_codebook_entry(codes, (2, GRID, GRID, 8))
    assert latents.shape == (2, 8, GRID, GRID)
    assert torch.equal(latents[1, :, 2, 5], model.quantize.embedding.weight[codes[1, 2 * GRID + 5]])
    with torch.no_grad():
        torch.testing.assert_close(model.decode(codes.view(2, GRID, GRID)), model.decode(codes))


def test_straight_through_gradient_reaches_encoder():
    model = tiny_model().train()
    pixels = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    output = model(pixels)
    (F.mse_loss(output.reconstruction, pixels) + output.embedding_loss).backward()
    for param in (model.encoder.conv_in.weight, model.quant_conv.weight, model.decoder.conv_out.weight):
        assert param.grad is not None and torch.isfinite(param.grad).all() and param.grad.abs().sum() > 0
    assert model.quantize.embedding.weight.grad.abs().sum() > 0  # the codebook loss moves the used codes

    # The estimator is the identity towards the latents.
    latents = torch.randn(1, 8, 2, 2, requires_grad=True)
    quantized, _, _, _ = model.quantize(latents)
    weights = torch.randn(1, 8, 2, 2)
    (quantized * weights).sum().backward()
    torch.testing.assert_close(latents.grad, weights)


def test_embedding_loss_terms():
    model = tiny_model()
    latents = torch.randn(2, 8, 3, 3, generator=torch.Generator().manual_seed(0), requires_grad=True)
    quantized, codes, codebook_loss, commitment_loss = model.quantize(latents)
    nearest = model.quantize.embedding.weight[codes.flatten()].view(2, 3, 3, 8).permute(0, 3, 1, 2)
    expected = ((nearest - latents) ** 2).mean()
    torch.testing.assert_close(codebook_loss, expected)
    torch.testing.assert_close(commitment_loss, expected)
    # The codebook loss trains only the codebook, the commitment loss only the encoder side.
    codebook_loss.backward(retain_graph=True)
    assert latents.grad is None
    model.quantize.embedding.weight.grad = None
    commitment_loss.backward()
    assert model.quantize.embedding.weight.grad is None and latents.grad.abs().sum() > 0

    pixels = torch.rand(1, 3, 16, 16) * 2 - 1
    output = model(pixels)
    torch.testing.assert_close(output.embedding_loss, output.codebook_loss + 0.25 * output.commitment_loss)


# -- public API -----------------------------------------------------------------------------------------------------
def test_encode_shape_dtype_and_range(model, pixels):
    codes = model.encode(pixels)
    assert codes.shape == (3, GRID * GRID) and codes.dtype == torch.long
    assert 0 <= int(codes.min()) and int(codes.max()) < 32
    assert not codes.requires_grad


def test_same_seed_same_codes(pixels):
    assert torch.equal(tiny_model(seed=7).encode(pixels), tiny_model(seed=7).encode(pixels))


def test_decode_shape_and_range(model, pixels):
    images = model.decode(model.encode(pixels))
    assert images.shape == (3, 3, 16, 16) and images.dtype == torch.float32
    assert images.min() >= -1 and images.max() <= 1
    loud = tiny_model()
    with torch.no_grad():
        loud.decoder.conv_out.weight.zero_()
        loud.decoder.conv_out.bias.copy_(torch.tensor([1000.0, -1000.0, 0.0]))
        clamped = loud.decode(loud.encode(pixels))
    assert clamped[:, 0].eq(1).all() and clamped[:, 1].eq(-1).all()


def test_half_precision_model(pixels):
    model = tiny_model().to(torch.bfloat16)
    codes = model.encode(pixels)  # float32 pixels are cast to the model's dtype
    assert codes.shape == (3, GRID * GRID) and 0 <= int(codes.min()) and int(codes.max()) < 32
    images = model.decode(codes)
    assert images.dtype == torch.bfloat16 and images.shape == (3, 3, 16, 16)
    assert images.min() >= -1 and images.max() <= 1
    # The quantizer compares distances in float32: a latent equal to a bf16 code picks that code.
    codebook = model.quantize.embedding.weight
    latents = codebook[[5, 17, 30]].T.reshape(1, 8, 1, 3)
    assert model.quantize(latents)[1].tolist() == [[5, 17, 30]]


def test_forward_output(model, pixels):
    with torch.no_grad():
        output = model(pixels)
    assert isinstance(output, CM3LeonVQModelOutput)
    assert output.reconstruction.shape == (3, 3, 16, 16)
    assert output.quantized.shape == (3, 8, GRID, GRID)
    assert torch.equal(output.codes, model.encode(pixels))
    with torch.no_grad():
        torch.testing.assert_close(output.reconstruction.clamp(-1, 1), model.decode(output.codes))
        as_tuple = model(pixels, return_dict=False)
    assert isinstance(as_tuple, tuple) and torch.equal(as_tuple[1], output.codes)


def test_init_keeps_torch_conv_init_and_codebook_std():
    model = tiny_model(num_embeddings=1024)
    weight = model.encoder.conv_in.weight  # fan_in = 3 * 3 * 3
    bound = 1 / math.sqrt(27)
    assert weight.abs().max() <= bound and weight.std() > 0.5 * bound / math.sqrt(3)  # not normal(0, 0.02)
    codebook_std = model.quantize.embedding.weight.std().item()
    assert abs(codebook_std - model.config.initializer_range) < 0.1 * model.config.initializer_range
    assert torch.equal(model.encoder.norm_out.weight, torch.ones(32))
    assert torch.equal(model.encoder.norm_out.bias, torch.zeros(32))


def test_save_and_load_give_the_same_codes(model, pixels, tmp_path):
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    loaded = CM3LeonVQModel.from_pretrained(tmp_path)
    assert loaded.config.resolution == 16 and loaded.config.grid_size == GRID
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    assert torch.equal(loaded.encode(pixels), model.encode(pixels))


@pytest.mark.parametrize(
    "preset, resolution, downsample",
    [("cm3leon-vq-256", 256, 8), ("chameleon-vq-512", 512, 16)],
)
def test_presets_build_on_meta_device(preset, resolution, downsample):
    config = CM3LeonVQConfig.from_preset(preset)
    assert config.grid_size == 32 and config.num_embeddings == 8192 and config.downsample_factor == downsample
    with torch.device("meta"):
        model = CM3LeonVQModel(config)
        latents = model.quant_conv(model.encoder(torch.empty(1, 3, resolution, resolution)))
        images = model.decoder(model.post_quant_conv(latents))
    assert latents.shape == (1, config.embed_dim, config.grid_size, config.grid_size)
    assert images.shape == (1, 3, resolution, resolution)
    assert model.quantize.embedding.weight.shape == (8192, 256)
    assert set(model.state_dict()) == taming_state_dict_keys(config)


def test_preset_parameter_counts():
    counts = {}
    for preset in ("cm3leon-vq-256", "chameleon-vq-512"):
        with torch.device("meta"):
            counts[preset] = sum(p.numel() for p in CM3LeonVQModel(CM3LeonVQConfig.from_preset(preset)).parameters())
    assert counts == {"cm3leon-vq-256": 66_890_627, "chameleon-vq-512": 68_718_467}


# -- bad input ------------------------------------------------------------------------------------------------------
def test_pixel_values_errors(model):
    with pytest.raises(TypeError, match="pixel_values.*torch.Tensor"):
        model.encode([[0.0]])
    with pytest.raises(TypeError, match="pixel_values.*floating-point"):
        model.encode(torch.zeros(1, 3, 16, 16, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"pixel_values.*\(batch_size, 3, 16, 16\).*resolution=16.*\(1, 3, 32, 32\)"):
        model.encode(torch.zeros(1, 3, 32, 32))
    with pytest.raises(ValueError, match=r"pixel_values.*\(1, 4, 16, 16\)"):
        model(torch.zeros(1, 4, 16, 16))
    with pytest.raises(ValueError, match=r"pixel_values.*\(3, 16, 16\)"):
        model.encode(torch.zeros(3, 16, 16))


def test_codes_errors(model):
    with pytest.raises(TypeError, match="codes.*torch.Tensor"):
        model.decode([1, 2, 3])
    with pytest.raises(TypeError, match="codes.*integer.*float32"):
        model.decode(torch.zeros(1, 64))
    with pytest.raises(ValueError, match=r"codes.*\(batch_size, 64\).*\(1, 63\)"):
        model.decode(torch.zeros(1, 63, dtype=torch.long))
    with pytest.raises(ValueError, match=r"codes.*\(1, 4, 16\)"):
        model.decode(torch.zeros(1, 4, 16, dtype=torch.long))
    with pytest.raises(ValueError, match=r"codes.*\[0, 32\).*\[32, 32\]"):
        model.decode(torch.full((1, 64), 32))
    with pytest.raises(ValueError, match=r"codes.*\[-1, 0\]"):
        model.decode(torch.cat([torch.full((1, 1), -1), torch.zeros(1, 63, dtype=torch.long)], dim=1))


def test_double_latent_is_rejected():
    with pytest.raises(ValueError, match="double_latent"):
        CM3LeonVQModel(tiny_config(double_latent=True))
