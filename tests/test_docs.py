# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Every snippet of README.md and docs/*.md runs.

The `python` and `bash` blocks of a page run in order, in one namespace (and one scratch folder) per page, like a
reader going down the page. The scratch folder links the repository's `examples/`, `recipes/`, `benchmarks/`,
`conversion/`, `model_cards/` and `tests/` folders, so commands written from the repository root work, and whatever a
snippet writes stays out of the repository.

A snippet is skipped only when the line above its fence says why, in the text a reader sees:

- `*Needs a download: ...*` (the Hub, PyPI, a dataset), `*Needs a GPU.*` or `*Takes hours: ...*` (training a shipped
  model; its determinism is tested in short form): skipped, with that reason;
- `*Takes minutes: ...*`: run under the slow mark only (`pytest -m slow tests/test_docs.py`).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OUTSIDE = os.pardir + "/" + "shared"  # the maintainers' notes folder next to the repository, which users lack
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINKED = ("examples", "recipes", "benchmarks", "conversion", "model_cards", "tests", "docs")
FENCE = re.compile(r"^(\s*)```(\w+)?\s*$")
MARK = re.compile(r"^\*(Needs a download|Needs a GPU|Takes hours|Takes minutes)\b[^*]*\*\s*$")
RUN = {"python", "bash"}


def snippets(page: Path) -> list[dict]:
    """The fenced blocks of a page: language, code, line number and the mark on the line above (if any)."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks, index = [], 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        start = index
        index += 1
        while index < len(lines) and lines[index].strip() != "```":
            index += 1
        above = next((line for line in reversed(lines[:start]) if line.strip()), "")
        mark = MARK.match(above.strip())
        indent = len(opening.group(1))
        blocks.append(
            {
                "language": opening.group(2) or "",
                "code": "\n".join(line[indent:] for line in lines[start + 1 : index]),
                "line": start + 1,
                "mark": mark.group(1) if mark else None,
            }
        )
        index += 1
    return blocks


def scratch_folder(tmp_path: Path) -> Path:
    for name in LINKED:
        if (ROOT / name).exists():
            (tmp_path / name).symlink_to(ROOT / name)
    return tmp_path


def run_page(page: Path, tmp_path: Path, slow: bool) -> None:
    blocks = [block for block in snippets(page) if block["language"] in RUN]
    if slow and not any(block["mark"] == "Takes minutes" for block in blocks):
        pytest.skip(f"{page.name} has no slow snippet")
    folder = scratch_folder(tmp_path)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "recipes"), env.get("PYTHONPATH", "")])
    namespace = {"__name__": "__doc__"}
    previous = os.getcwd()
    os.chdir(folder)
    try:
        for block in blocks:
            if block["mark"] in ("Needs a download", "Needs a GPU", "Takes hours"):
                continue
            if block["mark"] == "Takes minutes" and not slow:
                continue
            where = f"{page.relative_to(ROOT)}:{block['line']}"
            if block["language"] == "python":
                try:
                    exec(compile(block["code"], where, "exec"), namespace)
                except Exception as error:
                    raise AssertionError(f"the snippet at {where} failed: {type(error).__name__}: {error}") from error
            else:
                result = subprocess.run(
                    ["bash", "-euo", "pipefail", "-c", block["code"]],
                    cwd=folder,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=1800 if slow else 300,
                )
                assert result.returncode == 0, (
                    f"the snippet at {where} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
                )
    finally:
        os.chdir(previous)


@pytest.mark.parametrize("page", PAGES, ids=[str(page.relative_to(ROOT)) for page in PAGES])
def test_every_offline_snippet_runs(page, tmp_path):
    run_page(page, tmp_path, slow=False)


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=[str(page.relative_to(ROOT)) for page in PAGES])
def test_every_snippet_that_takes_minutes_runs(page, tmp_path):
    run_page(page, tmp_path, slow=True)


def test_skipped_snippets_say_why_in_the_text():
    """A snippet that is not run is marked in the text a reader sees, and nothing points outside the repository."""
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        assert OUTSIDE not in text, f"{page.name} refers to a path outside the repository"
        for block in snippets(page):
            commands = [line for line in block["code"].splitlines() if not line.lstrip().startswith("#")]
            if block["language"] in RUN and any("pip install" in line for line in commands) and block["mark"] is None:
                raise AssertionError(f"{page.name}:{block['line']} installs packages but is not marked as a download")
