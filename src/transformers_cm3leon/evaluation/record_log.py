# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""What makes an evaluation run resumable: an append-only JSON-lines log of finished work, and the settings file
that keeps a resumed run from mixing its outputs with those of different settings.

A batch is logged with a single `write` of all its lines followed by `fsync`, after the files it refers to are on disk.
A run killed mid-write leaves at most one incomplete last line; reading ignores it and the next append cuts it off,
so every logged record refers to finished work and an interrupted batch is simply redone.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable

SETTINGS_FILE = "settings.json"


def write_json_atomically(path: str | os.PathLike, data: dict) -> None:
    """Write `data` as indented JSON to `path` through a temporary file and `os.replace`: readers see the old file or
    the new one, never half of one."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    temporary = f"{path}.tmp-{os.getpid()}"
    with open(temporary, "w", encoding="utf-8") as file:
        json.dump(data, file, indent=2, ensure_ascii=False)
        file.write("\n")
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)


class RecordLog:
    """Append-only log of JSON records, one per line, each holding an `"index"` (the example it is about).

    Args:
        path (`str`): The `.jsonl` file; created on the first append.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)

    def read(self) -> dict[int, dict]:
        """The logged records by index (a later record of an index replaces an earlier one)."""
        records = {}
        for line in self._complete_lines():
            record = json.loads(line)
            records[record["index"]] = record
        return records

    def append(self, records: Iterable[dict]) -> None:
        """Log `records` all at once (one write, then fsync)."""
        lines = []
        for record in records:
            if not isinstance(record.get("index"), int):
                raise ValueError(f"Every record needs an integer `index`, got {record!r}.")
            lines.append(json.dumps(record, ensure_ascii=False) + "\n")
        if not lines:
            return
        self._cut_incomplete_line()
        with open(self.path, "a", encoding="utf-8") as file:
            file.write("".join(lines))
            file.flush()
            os.fsync(file.fileno())

    def _complete_lines(self) -> list[str]:
        if not os.path.exists(self.path):
            return []
        with open(self.path, encoding="utf-8") as file:
            text = file.read()
        # Everything after the last newline is a write that did not finish.
        return [line for line in text[: text.rfind("\n") + 1].splitlines() if line.strip()]

    def _cut_incomplete_line(self) -> None:
        if not os.path.exists(self.path):
            return
        with open(self.path, "rb+") as file:
            data = file.read()
            complete = data.rfind(b"\n") + 1
            if complete != len(data):
                file.truncate(complete)


def check_run_settings(directory: str | os.PathLike, settings: dict, has_outputs: bool = True) -> None:
    """Bind `directory` to the settings that determine its outputs: they are written to `settings.json` while the
    directory holds no finished output, and a run that finds outputs must have the same settings, so that resuming
    never mixes outputs of different settings.

    Args:
        directory (`str`): The run's output directory.
        settings (`dict`): JSON-serialisable settings.
        has_outputs (`bool`): Whether `directory` holds finished outputs. When it does not (a first run, or one that
            stopped before finishing anything, e.g. on a bad decoding argument), the settings are (re)written.

    Raises:
        ValueError: if `directory` holds outputs made with other settings (the differing ones are named).
    """
    directory = os.fspath(directory)
    path = os.path.join(directory, SETTINGS_FILE)
    settings = json.loads(json.dumps(settings))  # as JSON would give them back: tuples become lists, and so on
    if not has_outputs or not os.path.exists(path):
        write_json_atomically(path, settings)
        return
    with open(path, encoding="utf-8") as file:
        saved = json.load(file)
    differing = {name for name in saved.keys() | settings.keys() if saved.get(name) != settings.get(name)}
    if differing:
        changes = "; ".join(
            f"{name}: {saved.get(name, '<unset>')!r} there, {settings.get(name, '<unset>')!r} now"
            for name in sorted(differing)
        )
        raise ValueError(
            f"The output directory {directory!r} holds outputs made with other settings ({changes}). Resuming would "
            "mix them: pass another output directory, or the settings of that run."
        )


__all__ = ["RecordLog", "SETTINGS_FILE", "check_run_settings", "write_json_atomically"]
