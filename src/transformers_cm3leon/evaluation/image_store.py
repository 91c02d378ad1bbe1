# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The on-disk store of generated images that makes a text-to-image evaluation resumable.

    output_dir/
      settings.json   the settings that determine the images (a resumed run must have the same)
      index.jsonl     one line per finished image: {"index", "file", "prompt", "seed", "seconds"}
      index.p1.jsonl  ... the same for process 1 of a multi-process run (each process logs to its own file)
      images/         000000.png, 000001.png, ... (lossless: the metrics see exactly what was generated)

An image is written (through a temporary file and `os.replace`) before its line is logged, and the lines of a batch
are logged at once, so everything in `index.jsonl` exists in full; an image without a line is redone on resume.
"""

from __future__ import annotations

import glob
import os

import PIL.Image

from .record_log import RecordLog, check_run_settings

INDEX_FILE = "index.jsonl"
IMAGES_DIR = "images"


class ImageStore:
    """Generated images by example index, with their records.

    Args:
        directory (`str`): The output directory (created if needed).
        settings (`dict`): The settings the images depend on; see [`check_run_settings`].
        process_index (`int`, *optional*, defaults to 0): This process's index in a multi-process run: where it logs.
    """

    def __init__(self, directory: str | os.PathLike, settings: dict, process_index: int = 0):
        self.directory = os.fspath(directory)
        os.makedirs(os.path.join(self.directory, IMAGES_DIR), exist_ok=True)
        name = INDEX_FILE if process_index == 0 else INDEX_FILE.replace(".jsonl", f".p{process_index}.jsonl")
        self._log = RecordLog(os.path.join(self.directory, name))
        self.reload()
        check_run_settings(self.directory, settings, has_outputs=bool(self.records))

    def reload(self) -> None:
        """Re-read the records of every process's log."""
        self.records = {}
        pattern = os.path.join(glob.escape(self.directory), INDEX_FILE.replace(".jsonl", "*.jsonl"))
        for path in sorted(glob.glob(pattern)):
            self.records.update(RecordLog(path).read())

    def __contains__(self, index: int) -> bool:
        return index in self.records

    def __len__(self) -> int:
        return len(self.records)

    def image_path(self, index: int) -> str:
        return os.path.join(self.directory, self.records[index]["file"])

    def load(self, index: int) -> PIL.Image.Image:
        """The stored image of example `index`, as RGB."""
        with PIL.Image.open(self.image_path(index)) as image:
            return image.convert("RGB")

    def add_batch(self, images: list[PIL.Image.Image], records: list[dict]) -> None:
        """Store the images of one batch and log their records (each with its `index`) in one append."""
        if len(images) != len(records):
            raise ValueError(f"Got {len(images)} images for {len(records)} records.")
        logged = []
        for image, record in zip(images, records):
            file = os.path.join(IMAGES_DIR, f"{record['index']:06d}.png")
            path = os.path.join(self.directory, file)
            temporary = f"{path}.tmp-{os.getpid()}.png"
            image.save(temporary, format="PNG")
            os.replace(temporary, path)
            logged.append({**record, "file": file})
        self._log.append(logged)
        self.records.update((record["index"], record) for record in logged)


__all__ = ["INDEX_FILE", "IMAGES_DIR", "ImageStore"]
