# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Write the toy data the example configs of this folder train on, in the current directory:

tiny-processor/        a tiny random CM3LeonProcessor (BPE tokenizer + a 16 px VQ image tokenizer)
toy_images/            64 PNGs of coloured squares
toy_documents.jsonl    {"text": caption, "image": path}: pretraining documents
toy_vqa.jsonl          {"question", "answer", "image": path}: an SFT task

python examples/training/make_toy_data.py && cm3leon train pretrain --config examples/training/pretrain_tiny.yaml
"""

from __future__ import annotations

import json
import os

from PIL import Image

from transformers_cm3leon.testing_utils import get_tiny_cm3leon_processor

COLOURS = {"red": (255, 0, 0), "green": (0, 160, 0), "blue": (0, 0, 255), "yellow": (255, 220, 0)}
PLACES = {"top left": (0, 0), "top right": (0, 8), "bottom left": (8, 0), "bottom right": (8, 8)}


def main() -> None:
    get_tiny_cm3leon_processor().save_pretrained("tiny-processor")
    os.makedirs("toy_images", exist_ok=True)
    with open("toy_documents.jsonl", "w") as documents, open("toy_vqa.jsonl", "w") as vqa:
        for colour, rgb in COLOURS.items():
            for place, (top, left) in PLACES.items():
                for background in ("white", "black"):
                    image = Image.new("RGB", (16, 16), background)
                    image.paste(Image.new("RGB", (8, 8), rgb), (left, top))
                    path = os.path.join("toy_images", f"{colour}-{place.replace(' ', '-')}-{background}.png")
                    image.save(path)
                    caption = f"a {colour} square in the {place} corner"
                    documents.write(json.dumps({"text": caption, "image": path}) + "\n")
                    question = "what colour is the square?"
                    vqa.write(json.dumps({"question": question, "answer": colour, "image": path}) + "\n")
    print("wrote tiny-processor/, toy_images/, toy_documents.jsonl and toy_vqa.jsonl")


if __name__ == "__main__":
    main()
