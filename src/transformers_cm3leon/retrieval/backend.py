# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The interface of a vector index behind the memory bank, and the lookup of its implementations by name."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod

import numpy as np


class IndexBackend(ABC):
    """
    Maximum-inner-product search over the memory bank's document vectors.

    A backend mirrors the first `num_vectors` rows of the memory bank: vector `i` is the embedding of document `i`,
    and `add` appends. The bank owns the documents and their embeddings (its source of truth); a backend only needs
    to return row ids, so it can always be rebuilt from the bank.

    Subclasses set `name` (the value of `CM3LeonRetrieverConfig.index_backend`) and implement the abstract methods.
    """

    name: str
    # Largest `k` one search may ask for (Milvus caps it); `None` for no limit.
    max_search_k: int | None = None
    # How many of the bank's vectors `train` wants (a seeded random sample); `None` for all of them.
    train_size: int | None = None

    def __init__(self, embedding_dim: int):
        if isinstance(embedding_dim, bool) or not isinstance(embedding_dim, int) or embedding_dim <= 0:
            raise ValueError(f"`embedding_dim` must be a positive integer, got {embedding_dim!r}.")
        self.embedding_dim = embedding_dim

    @property
    @abstractmethod
    def num_vectors(self) -> int:
        """Number of vectors searched (rows `0 .. num_vectors - 1` of the bank)."""

    @property
    def is_trained(self) -> bool:
        """Whether vectors can be added; indexes that learn a quantizer (IVF, PQ) must be trained first."""
        return True

    def train(self, vectors: np.ndarray) -> None:  # noqa: B027 -- optional step, nothing to do by default
        """Learn the index's quantizer from a sample of the bank's vectors."""

    @abstractmethod
    def add(self, vectors: np.ndarray) -> None:
        """Append `vectors` (float32, `(n, embedding_dim)`) as rows `num_vectors .. num_vectors + n - 1`."""

    @abstractmethod
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """
        The `k` largest inner products of each query.

        Returns:
            `(scores, ids)`, both of shape `(num_queries, k)`, best first; where fewer than `k` vectors were found
            the row is padded with score `-inf` and id `-1`.
        """

    def stored_vectors(self, ids: list[int]) -> np.ndarray | None:
        """The vectors the index holds at rows `ids`, when it can tell them exactly (to check a loaded index against
        the bank); `None` otherwise."""
        return None

    @abstractmethod
    def truncate(self, num_vectors: int) -> None:
        """Keep only rows `0 .. num_vectors - 1` (used to re-align with a bank restored from an earlier save)."""

    @abstractmethod
    def reset(self) -> None:
        """Remove every vector and any training, keeping the settings."""

    @abstractmethod
    def save(self, directory: str | os.PathLike) -> dict:
        """Write what `load` needs into the existing `directory`; return the JSON-serialisable settings."""

    @classmethod
    @abstractmethod
    def load(cls, directory: str | os.PathLike, embedding_dim: int, settings: dict, **kwargs) -> IndexBackend:
        """Restore a backend written by `save` (`kwargs` add settings that are never saved, such as credentials)."""

    def _check_vectors(self, vectors: np.ndarray, name: str) -> np.ndarray:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.embedding_dim:
            raise ValueError(
                f"`{name}` must have shape (n, {self.embedding_dim}) to match the index, got {tuple(vectors.shape)}."
            )
        return vectors


def index_backend_class(name: str) -> type[IndexBackend]:
    """The backend registered under `name` (`"faiss"` or `"milvus"`)."""
    from .faiss_backend import FaissBackend
    from .milvus_backend import MilvusBackend

    backends = {backend.name: backend for backend in (FaissBackend, MilvusBackend)}
    if name not in backends:
        raise ValueError(f"Unknown index backend {name!r}; available backends: {sorted(backends)}.")
    return backends[name]


__all__ = ["IndexBackend", "index_backend_class"]
