# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The shapes world of CM3Leon-Mini: one coloured circle, square or triangle in a quadrant of a white image.

Everything a task needs comes from the generator, so it is exact: captions, VQA questions and answers, edit
instructions with their before/after scenes, bounding boxes (spatially grounded generation) and segmentation maps
(segmentation-to-image). `read_scene` is the ORACLE: it reads colour, shape and position back from the pixels of any
image (a generated one included), by the nearest palette colour and the best-overlapping shape mask.

The world has 4 colours x 3 shapes x 4 positions = 48 scenes. `HELD_OUT_SCENES` are never drawn for training: asking
the model for them measures composition (a known colour, shape and position in a new combination).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

COLOURS = {"red": (220, 40, 40), "green": (40, 160, 60), "blue": (40, 70, 220), "yellow": (235, 200, 30)}
SHAPES = ("circle", "square", "triangle")
POSITIONS = ("top left", "top right", "bottom left", "bottom right")
BACKGROUND = (255, 255, 255)
# Segmentation maps: one colour per shape class on a black background.
SEGMENTATION_COLOURS = {"circle": (200, 0, 200), "square": (0, 200, 200), "triangle": (200, 200, 0)}
RESOLUTION = 16
_CELL = RESOLUTION // 2
CAPTION_TEMPLATES = ("a {colour} {shape} in the {position}", "a {colour} {shape} at the {position}")


@dataclass(frozen=True)
class Scene:
    """One object: its `colour` (a key of `COLOURS`), `shape` (in `SHAPES`) and `position` (in `POSITIONS`)."""

    colour: str
    shape: str
    position: str

    def __post_init__(self):
        for name, value, allowed in (
            ("colour", self.colour, tuple(COLOURS)),
            ("shape", self.shape, SHAPES),
            ("position", self.position, POSITIONS),
        ):
            if value not in allowed:
                raise ValueError(f"`{name}` must be one of {list(allowed)}, got {value!r}.")

    def caption(self, template: int = 0) -> str:
        return CAPTION_TEMPLATES[template].format(colour=self.colour, shape=self.shape, position=self.position)

    @property
    def box(self) -> tuple[int, int, int, int]:
        """The object's bounding box `(x0, y0, x1, y1)` in pixels (x1, y1 exclusive)."""
        mask = shape_mask(self.shape, self.position)
        ys, xs = np.nonzero(mask)
        return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


ALL_SCENES = tuple(Scene(c, s, p) for c, s, p in itertools.product(COLOURS, SHAPES, POSITIONS))
# 8 fixed scenes: every colour, shape and position is held out at least twice, and each is seen in training too.
HELD_OUT_SCENES = (
    Scene("red", "triangle", "bottom right"),
    Scene("green", "circle", "top right"),
    Scene("blue", "square", "bottom left"),
    Scene("yellow", "triangle", "top left"),
    Scene("red", "square", "top right"),
    Scene("green", "triangle", "bottom left"),
    Scene("blue", "circle", "bottom right"),
    Scene("yellow", "circle", "top left"),
)
TRAIN_SCENES = tuple(scene for scene in ALL_SCENES if scene not in HELD_OUT_SCENES)


def _cell_mask(shape: str) -> np.ndarray:
    """The shape in an 8x8 cell, sampled at pixel centres."""
    y, x = np.mgrid[0:_CELL, 0:_CELL] + 0.5
    if shape == "square":
        return (x > 1) & (x < 7) & (y > 1) & (y < 7)
    if shape == "circle":
        return (x - 4) ** 2 + (y - 4) ** 2 <= 2.8**2
    if shape == "triangle":  # apex up, base at the bottom of the cell
        return (y > 0.8) & (y < 7.2) & (np.abs(x - 4) <= (y - 0.8) * 0.55)
    raise ValueError(f"`shape` must be one of {list(SHAPES)}, got {shape!r}.")


def shape_mask(shape: str, position: str) -> np.ndarray:
    """Boolean `(RESOLUTION, RESOLUTION)` mask of `shape` drawn at `position`."""
    if position not in POSITIONS:
        raise ValueError(f"`position` must be one of {list(POSITIONS)}, got {position!r}.")
    row, column = divmod(POSITIONS.index(position), 2)
    mask = np.zeros((RESOLUTION, RESOLUTION), dtype=bool)
    mask[row * _CELL : (row + 1) * _CELL, column * _CELL : (column + 1) * _CELL] = _cell_mask(shape)
    return mask


def render_scene(scene: Scene) -> np.ndarray:
    """The scene as an RGB image `(RESOLUTION, RESOLUTION, 3)` uint8."""
    image = np.empty((RESOLUTION, RESOLUTION, 3), dtype=np.uint8)
    image[:] = BACKGROUND
    image[shape_mask(scene.shape, scene.position)] = COLOURS[scene.colour]
    return image


def render_segmentation(scene: Scene) -> np.ndarray:
    """The scene's segmentation map: the object's mask in its class colour on black, `(RESOLUTION, RESOLUTION, 3)`."""
    image = np.zeros((RESOLUTION, RESOLUTION, 3), dtype=np.uint8)
    image[shape_mask(scene.shape, scene.position)] = SEGMENTATION_COLOURS[scene.shape]
    return image


def read_scene(image) -> Scene | None:
    """The ORACLE: colour, shape and position of the object in `image` (RGB array or PIL image), from pixels only.

    Foreground = pixels far from the white background. Position = the quadrant holding most foreground; colour = the
    palette colour nearest to the foreground's mean; shape = the shape whose mask at that position has the highest
    intersection-over-union with the foreground. Returns `None` when the image has (almost) no foreground.
    """
    array = np.asarray(image.convert("RGB") if hasattr(image, "convert") else image, dtype=np.float32)
    if array.shape != (RESOLUTION, RESOLUTION, 3):
        raise ValueError(f"`image` must be {RESOLUTION}x{RESOLUTION} RGB, got shape {array.shape}.")
    foreground = np.linalg.norm(array - np.array(BACKGROUND, dtype=np.float32), axis=-1) > 100
    if foreground.sum() < 4:
        return None
    counts = [
        foreground[r * _CELL : (r + 1) * _CELL, c * _CELL : (c + 1) * _CELL].sum()
        for r, c in ((0, 0), (0, 1), (1, 0), (1, 1))
    ]
    position = POSITIONS[int(np.argmax(counts))]
    row, column = divmod(POSITIONS.index(position), 2)
    cell = np.zeros_like(foreground)
    cell[row * _CELL : (row + 1) * _CELL, column * _CELL : (column + 1) * _CELL] = True
    mean = array[foreground & cell].mean(axis=0)
    colour = min(COLOURS, key=lambda name: float(np.sum((mean - np.array(COLOURS[name])) ** 2)))

    def iou(shape: str) -> float:
        mask = shape_mask(shape, position)
        return float((mask & foreground).sum() / (mask | (foreground & cell)).sum())

    shape = max(SHAPES, key=iou)
    return Scene(colour, shape, position)


# -- task rows ---------------------------------------------------------------------------------------------------------
def vqa_pairs(scene: Scene, rng: np.random.Generator) -> list[tuple[str, str]]:
    """Questions about `scene` with their answers: colour, shape, position, and a yes/no check (half of them true)."""
    other_colour = rng.choice([c for c in COLOURS if c != scene.colour])
    asked_colour = scene.colour if rng.random() < 0.5 else str(other_colour)
    return [
        ("what colour is the shape?", scene.colour),
        ("what shape is it?", scene.shape),
        (f"where is the {scene.shape}?", scene.position),
        (f"is the {scene.shape} {asked_colour}?", "yes" if asked_colour == scene.colour else "no"),
    ]


def edit_of(scene: Scene, rng: np.random.Generator, scenes=TRAIN_SCENES) -> tuple[str, Scene]:
    """A random edit of `scene` whose result is in `scenes`: `(instruction, edited scene)`.

    Edits change one attribute: "make the circle blue", "move the circle to the top right", "turn the circle into
    a square".
    """
    while True:
        kind = int(rng.integers(3))
        if kind == 0:
            value = str(rng.choice([c for c in COLOURS if c != scene.colour]))
            target, instruction = Scene(value, scene.shape, scene.position), f"make the {scene.shape} {value}"
        elif kind == 1:
            value = str(rng.choice([p for p in POSITIONS if p != scene.position]))
            target, instruction = Scene(scene.colour, scene.shape, value), f"move the {scene.shape} to the {value}"
        else:
            value = str(rng.choice([s for s in SHAPES if s != scene.shape]))
            target, instruction = Scene(scene.colour, value, scene.position), f"turn the {scene.shape} into a {value}"
        if target in scenes:
            return instruction, target


def grounding_objects(scene: Scene) -> list[dict]:
    """The spatially grounded generation field: the object's label and box."""
    return [{"label": f"{scene.colour} {scene.shape}", "box": list(scene.box)}]


__all__ = [
    "ALL_SCENES",
    "CAPTION_TEMPLATES",
    "COLOURS",
    "HELD_OUT_SCENES",
    "POSITIONS",
    "RESOLUTION",
    "SEGMENTATION_COLOURS",
    "SHAPES",
    "Scene",
    "TRAIN_SCENES",
    "edit_of",
    "grounding_objects",
    "read_scene",
    "render_scene",
    "render_segmentation",
    "shape_mask",
    "vqa_pairs",
]
