# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Tests of CM3LeonImageProcessor: pixels, codes, token ids and saving with the VQ image tokenizer."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from tokenizers import Tokenizer, models
from transformers import AutoImageProcessor, PreTrainedTokenizerFast, ProcessorMixin
from transformers.image_processing_base import BatchFeature

from transformers_cm3leon.configuration_cm3leon import CM3LeonConfig, CM3LeonVQConfig
from transformers_cm3leon.image_processing_cm3leon import IMAGE_TOKENIZER_SUBFOLDER, CM3LeonImageProcessor
from transformers_cm3leon.modeling_cm3leon_vq import CM3LeonVQModel

SIZE, GRID, CODES, OFFSET = 16, 8, 32, 4


def tiny_vq(seed: int = 0, **overrides) -> CM3LeonVQModel:
    kwargs = dict(
        resolution=SIZE,
        base_channels=16,
        num_groups=8,
        channel_multiplier=[1, 2],
        num_embeddings=CODES,
        embed_dim=8,
        latent_channels=8,
        num_res_blocks=1,
        attn_resolutions=[8],
    )
    kwargs.update(overrides)
    torch.manual_seed(seed)
    return CM3LeonVQModel(CM3LeonVQConfig(**kwargs)).eval()


@pytest.fixture(scope="module")
def vq():
    return tiny_vq()


@pytest.fixture
def processor(vq):
    return CM3LeonImageProcessor(vq_model=vq)


def random_uint8(shape, seed=0):
    return np.random.RandomState(seed).randint(0, 256, shape, dtype=np.uint8)


def as_uint8(pixel_values) -> np.ndarray:
    """(3, H, W) in [-1, 1] -> (H, W, 3) uint8, exactly inverting x / 127.5 - 1."""
    return np.round((np.asarray(pixel_values) + 1) * 127.5).astype(np.uint8).transpose(1, 2, 0)


# -- pixels ---------------------------------------------------------------------------------------------------------
def test_transparency_is_blended_over_white():
    processor = CM3LeonImageProcessor(size=2)
    rgba = np.array(
        [[[10, 20, 30, 0], [10, 20, 30, 255]], [[200, 100, 0, 128], [0, 0, 0, 64]]],
        dtype=np.uint8,
    )
    pixels = as_uint8(processor(Image.fromarray(rgba, "RGBA"))["pixel_values"][0])
    # Chameleon's blend: floor((1 - a) * 255 + a * c), a = alpha / 255.
    a = 128 / 255
    b = 64 / 255
    expected = np.array(
        [
            [[255, 255, 255], [10, 20, 30]],
            [
                [int((1 - a) * 255 + a * 200), int((1 - a) * 255 + a * 100), int((1 - a) * 255)],
                [int((1 - b) * 255)] * 3,
            ],
        ],
        dtype=np.uint8,
    )
    assert np.array_equal(pixels, expected)
    assert expected[1, 0].tolist() == [227, 177, 127] and expected[1, 1].tolist() == [191] * 3


def test_palette_transparency_and_grayscale_alpha():
    processor = CM3LeonImageProcessor(size=2)
    palette = Image.new("P", (2, 2), 0)
    palette.putpalette([10, 20, 30] + [40, 50, 60] * 255)
    palette.putpixel((1, 1), 1)
    palette.info["transparency"] = 0
    pixels = as_uint8(processor(palette)["pixel_values"][0])
    assert pixels[0, 0].tolist() == [255, 255, 255] and pixels[1, 1].tolist() == [40, 50, 60]

    la = Image.fromarray(np.array([[[90, 0], [90, 255]], [[90, 255], [90, 255]]], dtype=np.uint8), "LA")
    pixels = as_uint8(processor(la)["pixel_values"][0])
    assert pixels[0, 0].tolist() == [255] * 3 and pixels[0, 1].tolist() == [90] * 3


def test_grayscale_becomes_rgb():
    processor = CM3LeonImageProcessor(size=4)
    gray = random_uint8((4, 4))
    pixel_values = processor(Image.fromarray(gray, "L"), return_tensors="np")["pixel_values"]
    assert pixel_values.shape == (1, 3, 4, 4)
    for channel in range(3):
        assert np.array_equal(as_uint8(pixel_values[0])[:, :, channel], gray)


@pytest.mark.parametrize(
    "width, height, resized, box", [(40, 24, (27, 16), (5, 0, 21, 16)), (17, 50, (16, 47), (0, 15, 16, 31))]
)
def test_shorter_side_lanczos_resize_and_center_crop_match_pil(width, height, resized, box):
    image = Image.fromarray(random_uint8((height, width, 3)))
    # shorter side -> 16, the other side rounded (40 * 16 / 24 = 26.67 -> 27; 50 * 16 / 17 = 47.06 -> 47), then the
    # centre 16 x 16: left = (27 - 16) // 2 = 5, top = (47 - 16) // 2 = 15.
    expected = np.asarray(image.resize(resized, Image.Resampling.LANCZOS).crop(box))
    pixel_values = CM3LeonImageProcessor(size=SIZE)(image, return_tensors="np")["pixel_values"]
    assert pixel_values.shape == (1, 3, SIZE, SIZE)
    assert np.array_equal(as_uint8(pixel_values[0]), expected)
    bilinear = CM3LeonImageProcessor(size=SIZE, resample=Image.Resampling.BILINEAR)(image)["pixel_values"][0]
    assert np.array_equal(as_uint8(bilinear), np.asarray(image.resize(resized, Image.Resampling.BILINEAR).crop(box)))


def test_scaling_to_minus_one_one():
    values = np.array([[[0, 255, 127], [128, 1, 254]]], dtype=np.uint8)  # (1, 2, 3)
    processor = CM3LeonImageProcessor(size=1)
    pixel_values = processor(Image.fromarray(values[:, :1]), return_tensors="pt")["pixel_values"]
    assert pixel_values.dtype == torch.float32
    torch.testing.assert_close(pixel_values.flatten(), torch.tensor([-1.0, 1.0, 127 / 127.5 - 1]))
    pixel_values = processor(Image.fromarray(values[:, 1:]), return_tensors="pt")["pixel_values"]
    torch.testing.assert_close(pixel_values.flatten(), torch.tensor([128 / 127.5 - 1, 1 / 127.5 - 1, 254 / 127.5 - 1]))


def test_numpy_and_torch_inputs_match_pil():
    processor = CM3LeonImageProcessor(size=SIZE)
    array = random_uint8((20, 24, 3))
    reference = processor(Image.fromarray(array), return_tensors="np")["pixel_values"]
    chw_float = torch.from_numpy(array).permute(2, 0, 1).float() / 255
    for image in (array, chw_float, chw_float.double(), torch.from_numpy(array).permute(2, 0, 1)):
        assert np.array_equal(processor(image, return_tensors="np")["pixel_values"], reference)
    rgba = random_uint8((20, 24, 4), seed=1)
    assert np.array_equal(
        processor(rgba, return_tensors="np")["pixel_values"],
        processor(Image.fromarray(rgba, "RGBA"), return_tensors="np")["pixel_values"],
    )
    gray = random_uint8((20, 24), seed=2)
    for image in (gray, gray[:, :, None], torch.from_numpy(gray)):
        assert np.array_equal(
            processor(image, return_tensors="np")["pixel_values"],
            processor(Image.fromarray(gray, "L"), return_tensors="np")["pixel_values"],
        )


def test_batches_and_return_tensors():
    processor = CM3LeonImageProcessor(size=SIZE)
    arrays = [random_uint8((16, 16, 3), seed=i) for i in range(3)]
    stacked = processor(arrays, return_tensors="pt")["pixel_values"]
    assert isinstance(stacked, torch.Tensor) and stacked.shape == (3, 3, SIZE, SIZE)
    assert torch.equal(processor(np.stack(arrays), return_tensors="pt")["pixel_values"], stacked)
    nchw = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255
    assert torch.equal(processor(nchw, return_tensors="pt")["pixel_values"], stacked)
    as_list = processor(arrays)
    assert isinstance(as_list, BatchFeature) and isinstance(as_list["pixel_values"], list)
    assert len(as_list["pixel_values"]) == 3 and np.array_equal(as_list["pixel_values"][1], stacked[1].numpy())
    as_np = processor(tuple(arrays), return_tensors="np")["pixel_values"]
    assert isinstance(as_np, np.ndarray) and np.array_equal(as_np, stacked.numpy())


def test_postprocess_round_trip_and_output_types():
    processor = CM3LeonImageProcessor(size=SIZE)
    arrays = np.stack([random_uint8((SIZE, SIZE, 3), seed=i) for i in range(2)])
    pixel_values = processor(arrays, return_tensors="pt")["pixel_values"]
    as_np = processor.postprocess(pixel_values, output_type="np")
    # Meta truncates rather than rounds, so a value that lands a hair under an integer (it depends on the CPU's float
    # arithmetic) comes back one lower: the round trip is exact to within one level.
    assert as_np.dtype == np.uint8 and as_np.shape == (2, SIZE, SIZE, 3)
    assert np.abs(as_np.astype(int) - arrays).max() <= 1
    as_pil = processor.postprocess(pixel_values)
    assert [image.mode for image in as_pil] == ["RGB", "RGB"]
    assert np.array_equal(np.asarray(as_pil[1]), as_np[1])
    as_pt = processor.postprocess(pixel_values, output_type="pt")
    assert as_pt.shape == (2, 3, SIZE, SIZE)
    torch.testing.assert_close(as_pt, torch.from_numpy(arrays).permute(0, 3, 1, 2).float() / 255)
    single = processor.postprocess(pixel_values[0], output_type="np")
    assert np.array_equal(single, as_np[:1])
    out_of_range = torch.tensor([-3.0, 3.0, 0.0]).view(1, 3, 1, 1)
    assert processor.postprocess(out_of_range, output_type="np").flatten().tolist() == [
        0,
        255,
        127,
    ]  # 127.5, truncated
    assert processor.postprocess(out_of_range, output_type="pt").flatten().tolist() == [0.0, 1.0, 0.5]


# -- codes and token ids --------------------------------------------------------------------------------------------
def test_properties(processor):
    assert processor.size == SIZE  # taken from the VQ model
    assert processor.grid_size == GRID and processor.image_seq_length == GRID * GRID
    assert processor.num_image_tokens == CODES and processor.image_token_ids == range(OFFSET, OFFSET + CODES)
    assert CM3LeonImageProcessor().size == 256


def test_encode_and_token_ids(processor, vq):
    images = [Image.fromarray(random_uint8((20, 30, 3), seed=i)) for i in range(3)]
    codes = processor.encode(images)
    assert codes.shape == (3, GRID * GRID) and codes.dtype == torch.long
    assert 0 <= int(codes.min()) and int(codes.max()) < CODES
    assert torch.equal(codes, vq.encode(processor(images, return_tensors="pt")["pixel_values"]))
    token_ids = processor.images_to_token_ids(images)
    assert torch.equal(token_ids, codes + OFFSET)
    assert torch.equal(
        CM3LeonImageProcessor(vq_model=vq, image_token_offset=100).images_to_token_ids(images), codes + 100
    )


def test_token_ids_to_images(processor, vq):
    token_ids = torch.randint(OFFSET, OFFSET + CODES, (2, GRID * GRID), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        pixel_values = vq.decode(token_ids - OFFSET)
        assert torch.equal(processor.decode(token_ids - OFFSET), pixel_values)
        images = processor.token_ids_to_images(token_ids)
        as_np = processor.token_ids_to_images(token_ids.tolist(), output_type="np")
        as_pt = processor.token_ids_to_images(token_ids[0], output_type="pt")
    assert len(images) == 2 and images[0].size == (SIZE, SIZE)
    assert np.array_equal(np.asarray(images[1]), processor.postprocess(pixel_values, output_type="np")[1])
    assert np.array_equal(as_np, processor.postprocess(pixel_values, output_type="np"))
    torch.testing.assert_close(as_pt, (pixel_values[:1] + 1) / 2)


def test_token_id_errors(processor):
    ids = torch.full((1, GRID * GRID), OFFSET)
    below, above = ids.clone(), ids.clone()
    below[0, 5] = OFFSET - 1
    above[0, 9] = OFFSET + CODES
    with pytest.raises(ValueError, match=r"token_ids.*\[4, 36\).*token_ids\[0, 5\] = 3"):
        processor.token_ids_to_images(below)
    with pytest.raises(ValueError, match=r"token_ids.*\[4, 36\).*token_ids\[0, 9\] = 36"):
        processor.token_ids_to_images(above)
    with pytest.raises(ValueError, match=r"token_ids.*\(batch_size, 64\).*\(1, 63\)"):
        processor.token_ids_to_images(ids[:, :63])
    with pytest.raises(ValueError, match=r"token_ids.*\(1, 2, 64\)"):
        processor.token_ids_to_images(ids.view(1, 1, 64).expand(1, 2, 64))
    with pytest.raises(TypeError, match="token_ids.*integers.*float32"):
        processor.token_ids_to_images(ids.float())
    with pytest.raises(TypeError, match="token_ids.*torch.Tensor, a numpy array or a \\(nested\\) list.*got str"):
        processor.token_ids_to_images("IMGIMGAZ")
    with pytest.raises(ValueError, match="token_ids.*rectangular"):
        processor.token_ids_to_images([[4, 5], [4]])
    with pytest.raises(ValueError, match="output_type.*'pil', 'np', 'pt'.*'jpg'"):
        processor.token_ids_to_images(ids, output_type="jpg")


def test_everything_needing_the_vq_model_says_how_to_attach_one():
    processor = CM3LeonImageProcessor(size=SIZE)
    image = Image.new("RGB", (SIZE, SIZE))
    calls = [
        lambda: processor.encode(image),
        lambda: processor.decode(torch.zeros(1, 64, dtype=torch.long)),
        lambda: processor.images_to_token_ids(image),
        lambda: processor.token_ids_to_images(torch.full((1, 64), OFFSET)),
        lambda: processor.grid_size,
        lambda: processor.image_seq_length,
        lambda: processor.num_image_tokens,
    ]
    for call in calls:
        with pytest.raises(ValueError, match=r"no VQ image tokenizer attached.*vq_model=.*image_tokenizer/"):
            call()
    processor.vq_model = tiny_vq()  # attaching later works
    assert processor.encode(image).shape == (1, 64)


# -- bad input ------------------------------------------------------------------------------------------------------
def test_background_cells_get_the_codes_of_a_blank_image(vq, tmp_path):
    # Two images on white, drawn differently: with `background_color`, each all-white cell gets the code that cell
    # has in an all-white image, whatever the rest of the picture; every other cell keeps the encoder's code.
    cell = SIZE // GRID
    images = []
    for seed in range(2):
        pixels = np.full((SIZE, SIZE, 3), 255, dtype=np.uint8)
        pixels[: 2 * cell, : 3 * cell] = random_uint8((2 * cell, 3 * cell, 3), seed=seed)
        pixels[-1, -1] = 250 + seed * 3  # bottom-right cell: 250 is 5 levels off white, 253 only 2
        images.append(Image.fromarray(pixels))
    plain = CM3LeonImageProcessor(vq_model=vq)
    canonical = CM3LeonImageProcessor(vq_model=vq, background_color=(255, 255, 255))
    raw, codes = plain.encode(images), canonical.encode(images)
    blank = plain.encode(Image.new("RGB", (SIZE, SIZE), "white"))[0]
    drawn = torch.zeros(GRID, GRID, dtype=torch.bool)
    drawn[:2, :3] = True
    drawn = drawn.flatten()
    assert not torch.equal(raw[0][~drawn], blank[~drawn])  # the encoder alone does not: the setting matters here
    for index, image_codes in enumerate(codes):
        off_white_corner = index == 0  # the first image's corner cell is not background
        background = ~drawn
        background[-1] = not off_white_corner
        assert torch.equal(image_codes[background], blank[background])
        assert torch.equal(image_codes[~background], raw[index][~background])
    assert torch.equal(canonical.images_to_token_ids(images), codes + OFFSET)
    # A blank image is unchanged, and the setting survives save / load.
    assert torch.equal(canonical.encode(Image.new("RGB", (SIZE, SIZE), "white"))[0], blank)
    canonical.save_pretrained(tmp_path)
    loaded = CM3LeonImageProcessor.from_pretrained(tmp_path)
    assert loaded.background_color == [255, 255, 255]
    assert torch.equal(loaded.encode(images), codes)
    assert CM3LeonImageProcessor(vq_model=vq).background_color is None


@pytest.mark.parametrize("value", [(255, 255), (0, 0, 256), "white", (1.0, 0, 0), (True, 0, 0)])
def test_background_color_errors(value):
    with pytest.raises(ValueError, match=r"`background_color` must be None or three integers in \[0, 255\]"):
        CM3LeonImageProcessor(background_color=value)


def shape_on_white(size: int = 32, shift=(0.0, 0.0), scale: float = 1.0) -> Image.Image:
    """A red disc and a blue bar on white, drawn at 8x and downsampled; `shift` (output pixels) and `scale` (about
    the centre) move them."""
    big = 8 * size
    canvas = Image.new("RGB", (big, big), "white")
    from PIL import ImageDraw

    draw = ImageDraw.Draw(canvas)
    centre = big / 2

    def point(x, y):  # a point of the unmoved drawing (in units of the output pixel) -> canvas pixels
        return (centre + scale * (8 * x - centre) + 8 * shift[0], centre + scale * (8 * y - centre) + 8 * shift[1])

    draw.ellipse([*point(7, 8), *point(19, 20)], fill=(220, 30, 30))
    draw.rectangle([*point(15, 18), *point(25, 23)], fill=(30, 30, 220))
    return canvas.resize((size, size), Image.Resampling.LANCZOS)


def ink_moments(pixel_values) -> tuple[float, float, float]:
    """Centre of mass (x, y, in pixels) and radius of gyration (a fraction of the size) of what is not white."""
    pixels = (np.asarray(pixel_values) + 1) / 2  # (3, H, W) in [0, 1]
    weights = (1 - pixels).max(axis=0)
    ys, xs = np.mgrid[0 : weights.shape[0], 0 : weights.shape[1]] + 0.5
    cx, cy = (weights * xs).sum() / weights.sum(), (weights * ys).sum() / weights.sum()
    gyration = np.sqrt((weights * ((xs - cx) ** 2 + (ys - cy) ** 2)).sum() / weights.sum())
    return cx, cy, gyration / weights.shape[0]


def test_content_radius_centres_and_scales_the_content():
    """Moment normalisation: the content's centre of mass lands at the centre and its radius of gyration at
    `content_radius`, so moved and resized copies of a picture become nearly the same pixels."""
    plain = CM3LeonImageProcessor(size=32)
    normalising = CM3LeonImageProcessor(size=32, background_color=(255, 255, 255), content_radius=0.25)
    copies = [shape_on_white(), shape_on_white(shift=(1.5, -1.0), scale=1.1), shape_on_white(shift=(-2, 1), scale=0.9)]
    before = plain.preprocess(copies, return_tensors="np")["pixel_values"]
    after = normalising.preprocess(copies, return_tensors="np")["pixel_values"]
    for pixels in after:
        cx, cy, radius = ink_moments(pixels)
        assert abs(cx - 16) < 0.05 and abs(cy - 16) < 0.05 and radius == pytest.approx(0.25, rel=0.01)
    assert abs(ink_moments(before[1])[0] - ink_moments(before[0])[0]) > 1  # the copies were moved
    for moved in (1, 2):
        assert np.abs(after[moved] - after[0]).mean() < 0.25 * np.abs(before[moved] - before[0]).mean()
    # A speck is centred but zoomed in at most 4x (its radius of gyration is far below 0.25), not blown into a blur.
    speck = Image.new("RGB", (32, 32), "white")
    speck.putpixel((5, 7), (0, 0, 0))
    cx, cy, radius = ink_moments(normalising.preprocess(speck)["pixel_values"][0])
    assert abs(cx - 16) < 0.5 and abs(cy - 16) < 0.5 and radius < 0.1
    # A blank picture has no content to move: it passes unchanged.
    blank = Image.new("RGB", (32, 32), "white")
    np.testing.assert_array_equal(
        normalising.preprocess(blank)["pixel_values"][0], plain.preprocess(blank)["pixel_values"][0]
    )


def test_content_radius_moves_masks_with_their_image(tmp_path):
    """`token_mask` moves a mask as the image's content moves, and needs the image to do so."""
    vq = tiny_vq(resolution=32, channel_multiplier=[1, 2, 2], attn_resolutions=[])
    normalising = CM3LeonImageProcessor(vq_model=vq, background_color=(255, 255, 255), content_radius=0.25)
    image = shape_on_white(shift=(4, 3), scale=0.9)  # off-centre
    ink = np.asarray(image).min(axis=2) < 200  # the shape's pixels, where the picture is
    token_mask = normalising.token_mask(ink, image=image)
    plain_mask = CM3LeonImageProcessor(vq_model=vq).token_mask(ink)
    # After the move, the masked tokens are where the normalised picture's content is, not where it was.
    content = as_uint8(normalising.preprocess(image)["pixel_values"][0]).min(axis=2) < 200
    content_cells = content.reshape(8, 4, 8, 4).any(axis=(1, 3))
    assert np.array_equal(token_mask, content_cells) and not np.array_equal(token_mask, plain_mask)
    with pytest.raises(ValueError, match=r"`token_mask` needs the `image` with content_radius=0.25"):
        normalising.token_mask(ink)
    normalising.save_pretrained(tmp_path)
    assert CM3LeonImageProcessor.from_pretrained(tmp_path).content_radius == 0.25


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"content_radius": 0.25}, ValueError, r"`content_radius`=0.25 needs `background_color`"),
        ({"content_radius": 0.0, "background_color": (255, 255, 255)}, ValueError, r"must be in \(0, 0.5\]"),
        ({"content_radius": 0.7, "background_color": (255, 255, 255)}, ValueError, r"must be in \(0, 0.5\]"),
        ({"content_radius": "0.25", "background_color": (255, 255, 255)}, TypeError, r"must be a float in \(0, 0.5\]"),
    ],
)
def test_content_radius_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        CM3LeonImageProcessor(**kwargs)


def test_constructor_errors(vq):
    with pytest.raises(TypeError, match=r"unexpected arguments \['do_resize'\]"):
        CM3LeonImageProcessor(do_resize=False)
    with pytest.raises(ValueError, match="`size` must be an integer >= 1, got 0"):
        CM3LeonImageProcessor(size=0)
    with pytest.raises(ValueError, match="`resample` must be a PIL resampling filter.*'lanczos'"):
        CM3LeonImageProcessor(resample="lanczos")
    with pytest.raises(ValueError, match="`image_token_offset` must be an integer >= 0, got -1"):
        CM3LeonImageProcessor(image_token_offset=-1)
    with pytest.raises(TypeError, match="`vq_model` must be a CM3LeonVQModel or None, got str"):
        CM3LeonImageProcessor(vq_model="vqgan.ckpt")
    with pytest.raises(ValueError, match="`vq_model` works at resolution 16.*size=32.*size=16"):
        CM3LeonImageProcessor(size=32, vq_model=vq)
    processor = CM3LeonImageProcessor(size=32)
    with pytest.raises(ValueError, match="resolution 16.*size=32"):
        processor.vq_model = vq


def test_image_input_errors():
    processor = CM3LeonImageProcessor(size=SIZE)
    with pytest.raises(TypeError, match="`images` must be a PIL.Image.Image.*got str"):
        processor("cat.png")
    with pytest.raises(TypeError, match=r"`images\[1\]` must be a PIL.Image.Image.*got int"):
        processor([Image.new("RGB", (4, 4)), 3])
    with pytest.raises(TypeError, match="`images` must be a uint8 array.*float64"):
        processor(np.zeros((8, 8, 3)))
    with pytest.raises(
        ValueError, match=r"`images` must have shape \(height, width\) or \(height, width, 1\|2\|3\|4\).*\(8, 8, 5\)"
    ):
        processor(np.zeros((8, 8, 5), dtype=np.uint8))
    with pytest.raises(
        ValueError, match=r"`images` must be a tensor of shape \(channels, height, width\).*\(8, 8, 3\)"
    ):
        processor(torch.zeros(8, 8, 3))
    with pytest.raises(ValueError, match=r"`images` is a float tensor.*\[0, 1\].*\[-1, 1\]"):
        processor(torch.linspace(-1, 1, 3 * 8 * 8).view(3, 8, 8))
    with pytest.raises(
        TypeError, match="`images` must be a float tensor in \\[0, 1\\] or a uint8 tensor, got torch.int64"
    ):
        processor(torch.zeros(3, 8, 8, dtype=torch.long))
    with pytest.raises(ValueError, match="`images` has PIL mode 'F'"):
        processor(Image.new("F", (8, 8)))
    with pytest.raises(ValueError, match="`images` is empty"):
        processor([])
    with pytest.raises(ValueError, match="`return_tensors` must be one of \\[None, 'np', 'pt'\\], got 'tf'"):
        processor(Image.new("RGB", (8, 8)), return_tensors="tf")


def test_postprocess_errors():
    processor = CM3LeonImageProcessor(size=SIZE)
    with pytest.raises(ValueError, match="output_type.*'png'"):
        processor.postprocess(torch.zeros(1, 3, 4, 4), output_type="png")
    with pytest.raises(TypeError, match="pixel_values.*floating-point"):
        processor.postprocess(np.zeros((1, 3, 4, 4)))
    with pytest.raises(TypeError, match="pixel_values.*torch.int64"):
        processor.postprocess(torch.zeros(1, 3, 4, 4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"pixel_values.*\(batch_size, 3, height, width\).*\(1, 4, 4, 4\)"):
        processor.postprocess(torch.zeros(1, 4, 4, 4))


# -- saving and loading ---------------------------------------------------------------------------------------------
def test_save_and_load_keep_the_vq_model(processor, tmp_path):
    images = [Image.fromarray(random_uint8((20, 30, 3), seed=i)) for i in range(2)]
    written = processor.save_pretrained(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["image_tokenizer", "preprocessor_config.json"]
    assert str(tmp_path / IMAGE_TOKENIZER_SUBFOLDER) in written
    assert (tmp_path / "image_tokenizer" / "model.safetensors").is_file()
    config = json.loads((tmp_path / "preprocessor_config.json").read_text())
    assert config == {
        "background_color": None,
        "content_radius": None,
        "image_processor_type": "CM3LeonImageProcessor",
        "image_token_offset": OFFSET,
        "resample": int(Image.Resampling.LANCZOS),
        "size": SIZE,
    }
    loaded = CM3LeonImageProcessor.from_pretrained(tmp_path)
    assert loaded.vq_model is not None and not loaded.vq_model.training
    assert torch.equal(loaded.images_to_token_ids(images), processor.images_to_token_ids(images))
    token_ids = processor.images_to_token_ids(images)
    with torch.no_grad():
        assert np.array_equal(
            loaded.token_ids_to_images(token_ids, output_type="np"),
            processor.token_ids_to_images(token_ids, output_type="np"),
        )
    # The JSON file itself also works, and `vq_model=` replaces the saved one.
    from_json = CM3LeonImageProcessor.from_pretrained(tmp_path / "preprocessor_config.json")
    assert torch.equal(from_json.encode(images), processor.encode(images))
    other = tiny_vq(seed=9)
    assert CM3LeonImageProcessor.from_pretrained(tmp_path, vq_model=other).vq_model is other


def test_save_and_load_without_vq_model_and_in_a_subfolder(processor, tmp_path):
    CM3LeonImageProcessor(size=SIZE).save_pretrained(tmp_path / "plain")
    assert [p.name for p in (tmp_path / "plain").iterdir()] == ["preprocessor_config.json"]
    assert CM3LeonImageProcessor.from_pretrained(tmp_path / "plain").vq_model is None

    processor.save_pretrained(tmp_path / "repo" / "sub")
    loaded = CM3LeonImageProcessor.from_pretrained(tmp_path / "repo", subfolder="sub")
    image = Image.fromarray(random_uint8((16, 16, 3)))
    assert torch.equal(loaded.encode(image), processor.encode(image))

    with pytest.raises(TypeError, match=r"unexpected arguments \['commit_message'\]"):
        processor.save_pretrained(tmp_path / "x", commit_message="hi")
    with pytest.raises(TypeError, match=r"unexpected arguments \['foo'\]"):
        processor.load_image_tokenizer(tmp_path / "repo", foo=1)


def test_load_image_tokenizer_hook(processor, tmp_path):
    assert processor.save_image_tokenizer(tmp_path) == [str(tmp_path / "image_tokenizer")]
    plain = CM3LeonImageProcessor(size=SIZE)
    vq_model = plain.load_image_tokenizer(tmp_path, dtype=torch.float32)
    assert plain.vq_model is vq_model and isinstance(vq_model, CM3LeonVQModel)
    (tmp_path / "empty").mkdir()
    assert CM3LeonImageProcessor(size=SIZE).load_image_tokenizer(tmp_path / "empty") is None
    assert CM3LeonImageProcessor(size=SIZE).save_image_tokenizer(tmp_path / "none") == []


class _ToyProcessor(ProcessorMixin):
    """What processing_cm3leon.py does: ProcessorMixin writes only processor_config.json for the image processor."""

    def __init__(self, image_processor=None, tokenizer=None, **kwargs):
        super().__init__(image_processor, tokenizer, **kwargs)

    def save_pretrained(self, save_directory, **kwargs):
        files = super().save_pretrained(save_directory, **kwargs)
        return files + self.image_processor.save_image_tokenizer(save_directory)


def _toy_tokenizer():
    return PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(models.WordLevel({"<unk>": 0, "a": 1}, unk_token="<unk>"))
    )


def test_registered_auto_image_processor_and_processor_mixin_round_trip(processor, tmp_path):
    # The registration the package does on import; keyed on the language model's config class.
    AutoImageProcessor.register(CM3LeonConfig, slow_image_processor_class=CM3LeonImageProcessor, exist_ok=True)
    image = Image.fromarray(random_uint8((24, 20, 3)))

    processor.save_pretrained(tmp_path / "alone")
    auto = AutoImageProcessor.from_pretrained(tmp_path / "alone")
    assert type(auto) is CM3LeonImageProcessor and torch.equal(auto.encode(image), processor.encode(image))

    _ToyProcessor(processor, _toy_tokenizer()).save_pretrained(tmp_path / "proc")
    names = sorted(p.name for p in (tmp_path / "proc").iterdir())
    assert "image_tokenizer" in names and "processor_config.json" in names and "preprocessor_config.json" not in names
    nested = json.loads((tmp_path / "proc" / "processor_config.json").read_text())["image_processor"]
    assert nested["image_processor_type"] == "CM3LeonImageProcessor" and "vq_model" not in json.dumps(nested)
    reloaded = _ToyProcessor.from_pretrained(tmp_path / "proc")
    assert torch.equal(reloaded.image_processor.encode(image), processor.encode(image))

    # Without the hook, ProcessorMixin alone drops the VQ weights.
    ProcessorMixin.save_pretrained(_ToyProcessor(processor, _toy_tokenizer()), tmp_path / "no_hook")
    assert not (tmp_path / "no_hook" / "image_tokenizer").exists()
    assert _ToyProcessor.from_pretrained(tmp_path / "no_hook").image_processor.vq_model is None
