# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Shipping CM3Leon-Emoji: the digest that tells bit-identical weights apart, and the copy into the package (weights
in float16, with their licence)."""

from __future__ import annotations

import hashlib
import os
import shutil


def weights_digest(folder: str) -> str:
    """SHA-256 over every `.safetensors` file of `folder` (in path order): equal digests, bit-identical weights."""
    digest = hashlib.sha256()
    for directory, _, files in sorted(os.walk(folder)):
        for name in sorted(f for f in files if f.endswith(".safetensors")):
            with open(os.path.join(directory, name), "rb") as handle:
                digest.update(handle.read())
    return digest.hexdigest()


WEIGHTS_LICENSE = """# CM3Leon-Emoji weights: CC BY-SA 4.0

These weights were trained on the art of OpenMoji (https://openmoji.org), the open-source emoji and icon project of
HfG Schwaebisch Gmuend, licensed under CC BY-SA 4.0 (https://creativecommons.org/licenses/by-sa/4.0/). They are
derived from that art and are licensed CC BY-SA 4.0 as well; images they draw are likewise derivatives of OpenMoji's
art. Emoji names: Unicode CLDR short names (Unicode License v3), from the `emoji` package. The code of
transformers-cm3leon is Apache-2.0. Model card: model_cards/cm3leon-emoji.md of the repository.
"""


def ship(model_dir: str) -> str:
    """Copy the trained model folder into the package as its default model, the weights stored in float16, with the
    weights' licence (`LICENSE.md`)."""
    from transformers_cm3leon.default_model import WEIGHTS_DIR
    from transformers_cm3leon.hub import store_weights_in_half_precision

    staging = f"{WEIGHTS_DIR}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(model_dir, staging)
    store_weights_in_half_precision(staging)
    with open(os.path.join(staging, "LICENSE.md"), "w") as handle:
        handle.write(WEIGHTS_LICENSE)
    shutil.rmtree(WEIGHTS_DIR, ignore_errors=True)
    os.replace(staging, WEIGHTS_DIR)
    return WEIGHTS_DIR
