"""Shared use: a memory bank searched by threads while another adds and saves (FAISS and Milvus), a process loading
while another saves, corrupted banks refused, and pipelines whose interruption belongs to one call."""

import importlib.util
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch
from transformers import pipeline

from transformers_cm3leon import CM3LeonMemoryBank
from transformers_cm3leon.retrieval.memory_bank import POINTER_FILE
from transformers_cm3leon.testing_utils import get_tiny_cm3leon

DIM = 16
SECONDS = float(os.environ.get("CM3LEON_SOAK_SECONDS", "3"))  # the slow soak test raises it


def unit(rows: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(rows, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def make_backend(kind: str, tmp_path):
    from transformers_cm3leon.retrieval.backend import index_backend_class

    if kind == "faiss":
        return index_backend_class("faiss")(DIM)
    return index_backend_class("milvus")(DIM, uri=str(tmp_path / "milvus.db"))


backends = ["faiss"]
if importlib.util.find_spec("pymilvus") is not None and importlib.util.find_spec("milvus_lite") is not None:
    backends.append("milvus")


def hammer(bank: CM3LeonMemoryBank, directory, seconds: float, searchers: int = 3) -> dict:
    """`searchers` threads search for documents already in the bank while one thread adds and saves."""
    errors, checked, misses = [], [0], []
    added = [len(bank)]  # documents committed so far (read by searchers before each search)
    stop = threading.Event()

    def search(worker: int):
        rng = np.random.default_rng(worker)
        try:
            while not stop.is_set():
                known = added[0]
                rows = rng.integers(0, known, size=4)
                with bank.reading():
                    vectors = bank.embeddings(rows.tolist())
                    _, ids = bank.search(vectors, 1)
                missing = [int(r) for r, found in zip(rows, ids[:, 0]) if int(found) != int(r)]
                misses.extend(missing)
                checked[0] += len(rows)
        except Exception as error:  # noqa: BLE001 -- any error of a searcher fails the test below
            errors.append(repr(error))

    def write():
        seed = 100
        try:
            while not stop.is_set():
                rows = bank.add(unit(8, seed), texts=[f"document {seed} {i}" for i in range(8)])
                added[0] = rows.stop
                seed += 1
                if seed % 5 == 0:
                    bank.save(directory)
        except Exception as error:  # noqa: BLE001
            errors.append(repr(error))

    threads = [threading.Thread(target=search, args=(i,)) for i in range(searchers)] + [threading.Thread(target=write)]
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    return {"errors": errors, "checked": checked[0], "misses": misses}


@pytest.mark.parametrize("kind", backends)
def test_threads_search_while_one_adds_and_saves(kind, tmp_path):
    bank = CM3LeonMemoryBank(DIM, index_backend=make_backend(kind, tmp_path))
    bank.add(unit(64, 0), texts=[f"start {i}" for i in range(64)])
    result = hammer(bank, tmp_path / "bank", SECONDS if kind == "faiss" else SECONDS / 2)
    bank.save(tmp_path / "bank")
    assert result["errors"] == []
    assert result["checked"] > 0 and result["misses"] == []  # every committed document is found
    # The index mirrors the stored embeddings row for row, with no vector added twice.
    assert bank.index_backend.num_vectors == len(bank)
    _, ids = bank.search(bank.embeddings(slice(0, len(bank))), 1)
    assert ids[:, 0].tolist() == list(range(len(bank)))
    assert len(CM3LeonMemoryBank.load(tmp_path / "bank")) == len(bank)


def test_a_process_loads_while_another_saves(tmp_path):
    directory = tmp_path / "bank"
    bank = CM3LeonMemoryBank(DIM)
    bank.add(unit(32, 0), texts=[f"doc {i}" for i in range(32)])
    bank.save(directory)
    saver = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time, numpy as np\n"
            "from transformers_cm3leon import CM3LeonMemoryBank\n"
            f"bank = CM3LeonMemoryBank.load({str(directory)!r})\n"
            f"end = time.time() + {SECONDS}\n"
            "seed = 1\n"
            "while time.time() < end:\n"
            f"    v = np.random.default_rng(seed).normal(size=(4, {DIM})).astype('float32')\n"
            "    bank.add(v / np.linalg.norm(v, axis=1, keepdims=True), texts=['x'] * 4)\n"
            f"    bank.save({str(directory)!r})\n"
            "    seed += 1\n"
            "print(seed)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    loads, failures = 0, []
    while saver.poll() is None:
        try:
            loaded = CM3LeonMemoryBank.load(directory)
            assert len(loaded) >= 32 and loaded.index_backend.num_vectors == len(loaded)
            loads += 1
        except Exception as error:  # noqa: BLE001 -- every failed load fails the test
            failures.append(repr(error))
    saves = int(saver.communicate()[0].strip()) - 1
    assert saver.returncode == 0 and saves > 0 and loads > 0
    assert failures == []


def _corrupt(path, at: int = 200):
    data = bytearray(path.read_bytes())
    for i in range(at, min(at + 8, len(data))):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def _saved_bank(tmp_path):
    bank = CM3LeonMemoryBank(DIM)
    bank.add(unit(40, 0), texts=[f"doc {i}" for i in range(40)])
    directory = tmp_path / "bank"
    bank.save(directory)
    version = next(p for p in directory.iterdir() if p.name.startswith("version-"))
    return directory, version


def test_a_corrupted_index_or_document_file_is_refused(tmp_path):
    directory, version = _saved_bank(tmp_path)
    _corrupt(version / "index.faiss")
    with pytest.raises(ValueError, match="index.faiss' is corrupt: its checksum does not match"):
        CM3LeonMemoryBank.load(directory)
    with pytest.raises(ValueError, match="index of the memory bank .* does not match its stored embeddings"):
        CM3LeonMemoryBank.load(directory, verify=False)  # without the checksums, the index is checked against the bank
    directory, version = _saved_bank(tmp_path / "again")
    arrow = next((version / "documents").glob("*.arrow"))
    _corrupt(arrow, at=len(arrow.read_bytes()) // 2)
    with pytest.raises(ValueError, match="is corrupt: its checksum does not match"):
        CM3LeonMemoryBank.load(directory)


@pytest.mark.parametrize(
    "pointer, message",
    [
        ('{"format_version": 1, "current": "/etc"}', "`current` must name a version folder of the bank"),
        ('{"format_version": 1, "current": "../../elsewhere"}', "`current` must name a version folder"),
        ("not json at all", "is corrupt: it is not valid JSON"),
        ("[1, 2]", "expected a JSON object, got list"),
        ('{"format_version": 1, "current": 3}', "`current` must name a version folder"),
    ],
)
def test_a_bad_pointer_file_is_refused(tmp_path, pointer, message):
    directory, _ = _saved_bank(tmp_path)
    (directory / POINTER_FILE).write_text(pointer)
    with pytest.raises(ValueError, match=message):
        CM3LeonMemoryBank.load(directory)


def test_interruption_belongs_to_the_call_that_asked_for_it():
    model, processor = get_tiny_cm3leon(initializer_range=0.3)
    pipe = pipeline("text-to-image", model=model, processor=processor)
    pipe.set_progress_bar_config(disable=True)
    reference = pipe("a red circle", generator=torch.Generator().manual_seed(0), output_type="tokens").images
    results, errors = {}, []

    def run(name: str, interrupt: bool):
        def callback(pipeline, step, timestep, callback_kwargs):
            if interrupt and step == 2:
                pipeline._interrupt = True  # diffusers' way; it stops this call only
            time.sleep(0.001)
            return callback_kwargs

        try:
            for _ in range(6):
                output = pipe(
                    "a red circle",
                    generator=torch.Generator().manual_seed(0),
                    output_type="tokens",
                    callback_on_step_end=callback,
                )
                results.setdefault(name, []).append(output.images)
        except Exception as error:  # noqa: BLE001
            errors.append(repr(error))

    threads = [threading.Thread(target=run, args=(f"t{i}", i == 0)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert all(images.shape[1] == 3 for images in results["t0"])  # stopped after step 2
    for name in ("t1", "t2", "t3"):
        assert all(torch.equal(images, reference) for images in results[name])  # never cut short


@pytest.mark.slow
@pytest.mark.parametrize("kind", backends)
def test_soak_threads_search_while_one_adds_and_saves(kind, tmp_path):
    bank = CM3LeonMemoryBank(DIM, index_backend=make_backend(kind, tmp_path))
    bank.add(unit(64, 0), texts=[f"start {i}" for i in range(64)])
    result = hammer(bank, tmp_path / "bank", 40.0, searchers=4)
    assert result["errors"] == [] and result["misses"] == []
    _, ids = bank.search(bank.embeddings(slice(0, len(bank))), 1)
    assert ids[:, 0].tolist() == list(range(len(bank)))
