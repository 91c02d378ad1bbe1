# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The memory bank: documents and their embeddings in a memory-mapped `datasets.Dataset`, with a vector index."""

from __future__ import annotations

import hashlib
import json
import operator
import os
import re
import shutil
import tempfile
import threading
import uuid
import weakref
from collections.abc import Iterable, Sequence

import numpy as np
import torch
from datasets import Dataset, Features, List, Value, concatenate_datasets, load_from_disk
from datasets.arrow_writer import ArrowWriter
from transformers.utils import logging

from ..validation import check_text
from .backend import IndexBackend, index_backend_class
from .locking import ReadWriteLock

logger = logging.get_logger(__name__)

FORMAT_VERSION = 1
POINTER_FILE = "memory_bank.json"  # names the complete version; replacing it is the commit of a save
KEPT_VERSIONS = 3  # the current version and the two before it (a process may still be loading one of them)
_LOAD_ATTEMPTS = 5
_VERSION_NAME = re.compile(r"version-[0-9a-f]{32}")
METADATA_FILE = "bank.json"
DOCUMENTS_DIR = "documents"
_VERSION_PREFIX = "version-"
_INDEX_CHUNK = 65536  # vectors read from the bank per index insertion
DOCUMENT_COLUMNS = ("text", "image_token_ids", "image_path")


def memory_bank_features(embedding_dim: int) -> Features:
    """The columns of a memory bank: a document's text, its image (as token ids and/or a file path), its vector."""
    return Features(
        {
            "text": Value("string"),
            "image_token_ids": List(Value("int32")),
            "image_path": Value("string"),
            "embedding": List(Value("float32"), length=embedding_dim),
        }
    )


def unit_vectors(vectors, embedding_dim: int, name: str) -> np.ndarray:
    """`vectors` (array, tensor or nested list of shape `(n, embedding_dim)`) as float32 rows of norm 1; raises for
    another shape and for rows that are zero or not finite."""
    if isinstance(vectors, torch.Tensor):
        vectors = vectors.detach().float().cpu().numpy()
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[1] != embedding_dim:
        raise ValueError(
            f"Embedding dimension mismatch: `{name}` has shape {tuple(vectors.shape)}, the memory bank holds "
            f"{embedding_dim}-d vectors."
        )
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    if not np.all(np.isfinite(norms)) or np.any(norms == 0):
        raise ValueError(f"`{name}` must be finite and non-zero.")
    return vectors / norms


class CM3LeonMemoryBank:
    """
    The documents a [`CM3LeonRetriever`] retrieves from, with their embeddings and an index over them.

    Documents live in a `datasets.Dataset` (columns `text`, `image_token_ids`, `image_path`, `embedding`; a missing
    text or image is `None`) backed by Arrow files that are memory-mapped, so a bank may be larger than RAM.
    Embeddings are computed once, when documents are added, and stored; the index (any [`IndexBackend`]) mirrors
    them and can always be rebuilt from them. Document `i` is row `i`; documents are only appended.

    Saving is atomic: a save writes a complete new version next to the current one and then switches a one-line
    pointer file with `os.replace`, so a crash at any point leaves the previous bank and index loadable. The last
    `KEPT_VERSIONS` versions are kept (a process loading while another saves may still be opening the previous one;
    a load that loses that race retries on the new pointer) and older or half-written ones are removed by the next
    save. Each version records a checksum of its files, so a corrupted bank is refused on load. One process at a time
    may save into a directory.

    Sharing (see the retriever's documentation): one bank may be used by many threads. Searches run in parallel and
    never change the bank; adds and saves are serialised; a search sees the bank before an add or after it, never in
    between (`reading()` holds one consistent view across several calls).

    Args:
        embedding_dim (`int`): Width of the document vectors.
        index_backend ([`IndexBackend`], *optional*): The index; an exact FAISS inner-product index when unset.
        dataset (`datasets.Dataset`, *optional*): Documents to start from, with the columns above (cast to the bank's
            features if needed); the index is filled from their `embedding` column.
        cache_dir (`str`, *optional*): Where documents added since the last save are written (a temporary directory
            under it, removed with the bank); the system's temporary directory when unset.
    """

    def __init__(
        self,
        embedding_dim: int,
        index_backend: IndexBackend | None = None,
        dataset: Dataset | None = None,
        cache_dir: str | os.PathLike | None = None,
    ):
        if isinstance(embedding_dim, bool) or not isinstance(embedding_dim, int) or embedding_dim <= 0:
            raise ValueError(f"`embedding_dim` must be a positive integer, got {embedding_dim!r}.")
        if index_backend is None:
            index_backend = index_backend_class("faiss")(embedding_dim)
        if not isinstance(index_backend, IndexBackend):
            raise TypeError(f"`index_backend` must be an IndexBackend, got {type(index_backend).__name__}.")
        if index_backend.embedding_dim != embedding_dim:
            raise ValueError(
                f"Embedding dimension mismatch: the bank holds {embedding_dim}-d vectors, `index_backend` "
                f"{index_backend.embedding_dim}-d ones."
            )
        self.embedding_dim = embedding_dim
        self.index_backend = index_backend
        self.features = memory_bank_features(embedding_dim)
        self.cache_dir = cache_dir
        self._working_dir = None
        self._lock = ReadWriteLock()  # searches share it; changes of the documents and the index hold it alone
        self._writer = threading.Lock()  # adds and saves, one at a time
        self._set_dataset(self._empty_dataset() if dataset is None else self._conform(dataset))
        self._sync_index(train=False)

    # -- documents -----------------------------------------------------------------------------------------------
    def reading(self):
        """A context in which the bank does not change (adds and saves wait): several calls then see one version."""
        return self._lock.read()

    @property
    def dataset(self) -> Dataset:
        """The documents, as a memory-mapped `datasets.Dataset` (read it; add documents through the bank)."""
        return self._dataset

    def __len__(self) -> int:
        return self._dataset.num_rows

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(num_documents={len(self)}, embedding_dim={self.embedding_dim}, "
            f"index_backend={self.index_backend.name!r})"
        )

    def embeddings(self, ids: Sequence[int] | slice) -> np.ndarray:
        """The stored vectors of documents `ids` (a list of rows or a slice), float32 `(n, embedding_dim)`."""
        with self._lock.read():
            return self._embedding_view[ids]["embedding"]

    def documents(self, ids: Sequence[int]) -> dict[str, list]:
        """The columns `text`, `image_token_ids`, `image_path` of documents `ids`."""
        with self._lock.read():
            return self._dataset.select_columns(list(DOCUMENT_COLUMNS))[list(ids)]

    def add(
        self,
        embeddings: np.ndarray | torch.Tensor,
        texts: Sequence[str | None] | None = None,
        image_token_ids: Sequence[Sequence[int] | None] | None = None,
        image_paths: Sequence[str | None] | None = None,
    ) -> range:
        """Append one batch of documents with their precomputed vectors; returns their rows. See `add_batches`."""
        batch = {"embedding": embeddings, "text": texts, "image_token_ids": image_token_ids, "image_path": image_paths}
        return self.add_batches([batch])

    def add_batches(self, batches: Iterable[dict]) -> range:
        """
        Append documents batch by batch; returns the rows of the new documents.

        Each batch is a dict with `embedding` (`(n, embedding_dim)`; vectors are L2-normalised on the way in, so
        scores are cosine similarities) and optional lists `text`, `image_token_ids`, `image_path` (entries may be
        `None`; every document needs a text or an image). The batches are streamed into one memory-mapped Arrow file,
        so `batches` may be a generator over a corpus larger than RAM. If it raises, the batches already written
        are kept and indexed, and the error propagates.
        """
        # The batches are written into a shard of their own (searches go on meanwhile), then committed at once.
        path = os.path.join(self._working_directory(), f"shard-{uuid.uuid4().hex}.arrow")
        writer = ArrowWriter(features=self.features, path=path)
        try:
            for batch in batches:
                writer.write_batch(self._check_batch(batch))
        finally:
            num_written, _ = writer.finalize()
            with self._writer, self._lock.write():
                start = len(self)
                if num_written:
                    self._set_dataset(concatenate_datasets([self._dataset, Dataset.from_file(path)]))
                else:
                    os.remove(path)
                self._sync_index(train=False)
                added = range(start, len(self))
        return added

    # -- search --------------------------------------------------------------------------------------------------
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """
        The `k` documents with the largest inner product with each query vector.

        Returns:
            `(scores, ids)` of shape `(num_queries, k)`, best first (`-inf` / `-1` where an approximate index found
            fewer than `k`).
        """
        if len(self) == 0:
            raise ValueError("The memory bank is empty: add documents before retrieving.")
        if isinstance(k, bool) or not isinstance(k, int) or k <= 0:
            raise ValueError(f"`k` must be a positive integer, got {k!r}.")
        if k > len(self):
            raise ValueError(f"`k`={k} is larger than the memory bank, which holds {len(self)} documents.")
        queries = np.asarray(queries, dtype=np.float32)
        if queries.ndim != 2 or queries.shape[1] != self.embedding_dim:
            raise ValueError(
                f"Embedding dimension mismatch: the query vectors have shape {tuple(queries.shape)}, the memory bank "
                f"holds {self.embedding_dim}-d vectors."
            )
        self.prepare_search()
        with self._lock.read():
            return self.index_backend.search(queries, k)

    def prepare_search(self) -> None:
        """Train and fill an index that waits for the bank's first search (IVF, PQ); a no-op otherwise. Call it
        before `reading()` when searching inside one."""
        if self.index_backend.num_vectors != len(self):
            with self._writer, self._lock.write():
                self._sync_index(train=True)

    def rebuild_index(self) -> None:
        """Empty the index and fill it again from the stored embeddings, retraining it (IVF, PQ) on the whole bank."""
        with self._writer, self._lock.write():
            self.index_backend.reset()
            self._sync_index(train=True)

    def _sync_index(self, train: bool) -> None:
        """Bring the index to mirror rows `0 .. len(self) - 1`; train it first when `train` and it needs training."""
        backend, num_documents = self.index_backend, len(self)
        if backend.num_vectors > num_documents:
            logger.warning(
                f"The {backend.name} index holds {backend.num_vectors} vectors but the memory bank {num_documents} "
                "documents (a save was interrupted after the index was updated): dropping the extra vectors."
            )
            backend.truncate(num_documents)
        if backend.num_vectors == num_documents:
            return
        if not backend.is_trained:
            if not train:
                return  # trained on the stored embeddings when first searched
            backend.train(self._training_sample())
        for start in range(backend.num_vectors, num_documents, _INDEX_CHUNK):
            backend.add(self.embeddings(slice(start, min(start + _INDEX_CHUNK, num_documents))))

    def _training_sample(self) -> np.ndarray:
        size = self.index_backend.train_size
        if size is None or size >= len(self):
            return self.embeddings(slice(0, len(self)))
        rows = np.sort(np.random.default_rng(0).choice(len(self), size=size, replace=False))
        return self.embeddings(rows.tolist())

    # -- saving --------------------------------------------------------------------------------------------------
    def save(self, directory: str | os.PathLike) -> None:
        """
        Save the documents, embeddings and index into `directory`, atomically (see the class docstring). Searches go
        on while it writes; adds wait.

        Afterwards the bank reads its documents from the saved files.
        """
        directory = os.fspath(directory)
        os.makedirs(directory, exist_ok=True)
        with self._writer:
            with self._lock.write():
                self._sync_index(train=False)
            version = f"{_VERSION_PREFIX}{uuid.uuid4().hex}"
            version_dir = os.path.join(directory, version)
            os.makedirs(version_dir)
            try:
                with self._lock.read():
                    self._dataset.save_to_disk(os.path.join(version_dir, DOCUMENTS_DIR))
                    index_settings = self.index_backend.save(version_dir)
                    num_documents = len(self)
                metadata = {
                    "format_version": FORMAT_VERSION,
                    "embedding_dim": self.embedding_dim,
                    "num_documents": num_documents,
                    "index_backend": self.index_backend.name,
                    "index_settings": index_settings,
                    "checksums": _checksums(version_dir),
                }
                _write_json(os.path.join(version_dir, METADATA_FILE), metadata)
                _fsync_tree(version_dir)
            except BaseException:
                shutil.rmtree(version_dir, ignore_errors=True)
                raise
            kept = [version, *_previous_versions(directory)][:KEPT_VERSIONS]
            pointer = {"format_version": FORMAT_VERSION, "current": version, "previous": kept[1:]}
            _write_json(os.path.join(directory, POINTER_FILE), pointer)
            # Committed. Read from the saved copy from now on, then drop old, half-written and unsaved files.
            with self._lock.write():
                self._set_dataset(load_from_disk(os.path.join(version_dir, DOCUMENTS_DIR)))
            for entry in os.listdir(directory):
                if entry.startswith(_VERSION_PREFIX) and entry not in kept:
                    shutil.rmtree(os.path.join(directory, entry), ignore_errors=True)
            self._remove_working_directory()

    @classmethod
    def load(
        cls,
        directory: str | os.PathLike,
        cache_dir: str | os.PathLike | None = None,
        verify: bool = True,
        **index_backend_kwargs,
    ) -> CM3LeonMemoryBank:
        """
        Load a bank saved with `save`. `index_backend_kwargs` override saved index settings or add unsaved ones
        (e.g. `search_params={"nprobe": 64}`, or a Milvus `token`).

        Args:
            directory: The bank's folder.
            cache_dir: Where documents added after loading are written.
            verify (`bool`, defaults to `True`): Check the files against the checksums saved with them (a corrupted
                index or document file is refused rather than returning wrong documents).

        Raises:
            FileNotFoundError: no bank in `directory`.
            ValueError: the bank is corrupt (pointer, metadata, checksums, documents or index), naming the file.
        """
        directory = os.fspath(directory)
        for attempt in range(_LOAD_ATTEMPTS):
            version = _read_pointer(directory)["current"]
            try:
                return cls._load_version(directory, version, cache_dir, verify, index_backend_kwargs)
            except FileNotFoundError:
                # Another process saved meanwhile and removed this version: follow the new pointer.
                if attempt + 1 == _LOAD_ATTEMPTS or _read_pointer(directory)["current"] == version:
                    raise
        raise AssertionError("unreachable")

    @classmethod
    def _load_version(cls, directory: str, version: str, cache_dir, verify: bool, index_backend_kwargs: dict):
        version_dir = os.path.join(directory, version)
        metadata_path = os.path.join(version_dir, METADATA_FILE)
        if not os.path.isfile(metadata_path):
            raise FileNotFoundError(f"The memory bank version {version_dir!r} has no {METADATA_FILE}.")
        metadata = _read_json(metadata_path, what="memory bank metadata")
        try:
            embedding_dim = metadata["embedding_dim"]
            num_documents, backend_name = metadata["num_documents"], metadata["index_backend"]
            index_settings = metadata["index_settings"]
        except (KeyError, TypeError):
            raise ValueError(f"The memory bank metadata {metadata_path!r} is corrupt (missing fields).") from None
        if verify and "checksums" in metadata:
            _verify_checksums(version_dir, metadata["checksums"])
        try:
            dataset = load_from_disk(os.path.join(version_dir, DOCUMENTS_DIR))
        except FileNotFoundError:
            raise
        except Exception as error:  # noqa: BLE001 -- pyarrow / datasets errors of a damaged file: one clear error
            raise ValueError(
                f"The documents of the memory bank in {version_dir!r} are corrupt and cannot be read ({error})."
            ) from None
        if dataset.num_rows != num_documents:
            raise ValueError(
                f"The memory bank in {version_dir!r} lists {num_documents} documents but its dataset holds "
                f"{dataset.num_rows}: it is corrupt."
            )
        try:
            backend = index_backend_class(backend_name).load(
                version_dir, embedding_dim, index_settings, **index_backend_kwargs
            )
        except (FileNotFoundError, TypeError, ValueError):
            raise
        except Exception as error:  # noqa: BLE001 -- faiss / milvus errors of a damaged index
            raise ValueError(
                f"The {backend_name} index of the memory bank in {version_dir!r} is corrupt and cannot be read "
                f"({str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__})."
            ) from None
        bank = cls(embedding_dim, index_backend=backend, dataset=dataset, cache_dir=cache_dir)
        bank._check_index(version_dir)
        return bank

    def _check_index(self, where: str) -> None:
        """Compare a sample of the index's vectors with the stored embeddings (when the index can tell them)."""
        if len(self) == 0 or self.index_backend.num_vectors != len(self):
            return
        if len(self) <= _INDEX_CHUNK:
            rows = list(range(len(self)))
        else:
            rows = np.sort(np.random.default_rng(0).choice(len(self), _INDEX_CHUNK, replace=False)).tolist()
        stored = self.index_backend.stored_vectors(rows)
        if stored is not None and not np.allclose(stored, self.embeddings(rows), atol=1e-4):
            raise ValueError(
                f"The {self.index_backend.name} index of the memory bank in {where!r} does not match its stored "
                "embeddings: the index file is corrupt. Rebuild it (`bank.rebuild_index()`) or restore the bank."
            )

    # -- internals -----------------------------------------------------------------------------------------------
    def _set_dataset(self, dataset: Dataset) -> None:
        self._dataset = dataset
        self._embedding_view = dataset.with_format("numpy", columns=["embedding"], dtype=np.float32)

    def _empty_dataset(self) -> Dataset:
        return Dataset.from_dict({name: [] for name in self.features}, features=self.features)

    def _conform(self, dataset: Dataset) -> Dataset:
        if not isinstance(dataset, Dataset):
            raise TypeError(f"`dataset` must be a datasets.Dataset, got {type(dataset).__name__}.")
        if set(dataset.column_names) != set(self.features):
            raise ValueError(
                f"`dataset` must have exactly the columns {list(self.features)}, got {dataset.column_names}."
            )
        if dataset.features != self.features:
            try:
                dataset = dataset.cast(self.features)
            except (ValueError, TypeError) as error:
                raise ValueError(
                    f"`dataset` cannot be read as a memory bank of {self.embedding_dim}-d vectors ({error}); expected "
                    f"the features {self.features}."
                ) from None
        return dataset

    def _check_batch(self, batch: dict) -> dict:
        unknown = set(batch) - set(self.features)
        if unknown:
            raise ValueError(f"Unknown document fields {sorted(unknown)}; expected {list(self.features)}.")
        if batch.get("embedding") is None:
            raise ValueError("Every batch of documents needs its `embedding` vectors.")
        embeddings = unit_vectors(batch["embedding"], self.embedding_dim, "embeddings")
        num_documents = len(embeddings)
        columns = {"embedding": list(embeddings)}
        for name in DOCUMENT_COLUMNS:
            values = batch.get(name)
            if values is None:
                values = [None] * num_documents
            if isinstance(values, (str, bytes)) or len(values) != num_documents:
                raise ValueError(
                    f"`{name}` must be a list with one entry per document ({num_documents}), got "
                    f"{values if isinstance(values, (str, bytes)) else f'{len(values)} entries'}."
                )
            columns[name] = [None if value is None else _CHECKS[name](value) for value in values]
        empty = [i for i in range(num_documents) if all(columns[name][i] is None for name in DOCUMENT_COLUMNS)]
        if empty:
            raise ValueError(
                f"Documents {empty[:10]} of the batch have no text, `image_token_ids` or `image_path`: a retrieved "
                "document must have something to put in the prompt."
            )
        return columns

    def _working_directory(self) -> str:
        if self._working_dir is None:
            self._working_dir = tempfile.mkdtemp(prefix="cm3leon-memory-bank-", dir=self.cache_dir)
            self._cleanup = weakref.finalize(self, shutil.rmtree, self._working_dir, True)
        return self._working_dir

    def _remove_working_directory(self) -> None:
        if self._working_dir is not None:
            self._cleanup()
            self._working_dir = None


def _check_text(value) -> str:
    return check_text("texts", value)


def _check_image_path(value) -> str:
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"`image_paths` must hold a path or None per document, got {type(value).__name__} {value!r}.")
    return os.fspath(value)


def _check_image_token_ids(value) -> list[int]:
    if isinstance(value, (torch.Tensor, np.ndarray)):
        value = value.tolist()
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(f"`image_token_ids` must hold a sequence of token ids per document, got {value!r}.")
    try:
        ids = [operator.index(token) for token in value]
    except TypeError:
        raise TypeError(f"`image_token_ids` must hold integer token ids, got {value!r}.") from None
    if not ids or min(ids) < 0:
        raise ValueError(f"`image_token_ids` must hold non-negative token ids (at least one), got {value!r}.")
    return ids


_CHECKS = {"text": _check_text, "image_token_ids": _check_image_token_ids, "image_path": _check_image_path}


def _write_json(path: str, content: dict) -> None:
    """Write `path` atomically: a temporary file in the same directory, flushed to disk, then renamed over it."""
    temporary = f"{path}.tmp-{uuid.uuid4().hex}"
    with open(temporary, "w", encoding="utf-8") as file:
        json.dump(content, file, indent=2, sort_keys=True)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
    _fsync_directory(os.path.dirname(path))


def _read_json(path: str, what: str = "file") -> dict:
    try:
        with open(path, encoding="utf-8") as file:
            content = json.load(file)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"The {what} {path!r} is corrupt: it is not valid JSON ({error}).") from None
    if not isinstance(content, dict):
        raise ValueError(f"The {what} {path!r} is corrupt: expected a JSON object, got {type(content).__name__}.")
    return content


def _read_pointer(directory: str) -> dict:
    """The pointer file of a bank, checked: it names a version folder inside `directory`."""
    path = os.path.join(directory, POINTER_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No memory bank in {directory!r}: {POINTER_FILE} is missing.")
    pointer = _read_json(path, what="memory bank pointer")
    if pointer.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path} has format version {pointer.get('format_version')!r}; this version of transformers-cm3leon "
            f"reads version {FORMAT_VERSION}."
        )
    current = pointer.get("current")
    if not isinstance(current, str) or not _VERSION_NAME.fullmatch(current):
        raise ValueError(
            f"The memory bank pointer {path!r} is corrupt: `current` must name a version folder of the bank "
            f"(version-<32 hex digits>), got {current!r}."
        )
    return pointer


def _previous_versions(directory: str) -> list[str]:
    """The versions a bank's pointer names (current first), or none when there is no valid pointer yet."""
    try:
        pointer = _read_pointer(directory)
    except (FileNotFoundError, ValueError):
        return []
    previous = [v for v in pointer.get("previous", []) if isinstance(v, str) and _VERSION_NAME.fullmatch(v)]
    return [pointer["current"], *previous]


def _checksums(root: str) -> dict[str, str]:
    """SHA-256 of every file under `root`, by path relative to it."""
    checksums = {}
    for directory, _, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            checksums[os.path.relpath(path, root)] = _sha256(path)
    return checksums


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verify_checksums(root: str, checksums: dict) -> None:
    for name, expected in checksums.items():
        path = os.path.join(root, name)
        if os.path.isabs(name) or os.path.normpath(path).startswith("..") or not os.path.isfile(path):
            raise FileNotFoundError(f"The memory bank file {path!r} is missing.")
        if _sha256(path) != expected:
            raise ValueError(
                f"The memory bank file {path!r} is corrupt: its checksum does not match the one saved with it. "
                "Restore the bank from a copy, or rebuild it."
            )


def _fsync_tree(root: str) -> None:
    for directory, _, files in os.walk(root):
        for name in files:
            with open(os.path.join(directory, name), "rb") as file:
                os.fsync(file.fileno())
        _fsync_directory(directory)


def _fsync_directory(directory: str) -> None:
    if os.name != "posix":  # directories cannot be opened for fsync on Windows
        return
    descriptor = os.open(directory or ".", os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


__all__ = ["CM3LeonMemoryBank", "memory_bank_features"]
