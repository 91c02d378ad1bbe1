# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The embedded default index: FAISS, any `index_factory` string, inner-product metric."""

from __future__ import annotations

import os

import numpy as np
from transformers.utils import is_faiss_available

from .backend import IndexBackend

INDEX_FILE = "index.faiss"
_FACTORY_EXAMPLES = "'Flat' (exact), 'HNSW32', 'IVF4096,Flat', 'IVF4096,PQ64'"


def _faiss():
    if not is_faiss_available():
        raise ImportError(
            "The FAISS index backend needs the `faiss` package: `pip install faiss-cpu` (or faiss-gpu), or "
            "`pip install transformers-cm3leon[retrieval]`."
        )
    import faiss

    return faiss


class FaissBackend(IndexBackend):
    """
    A FAISS index in this process ([P] §2.1: the paper's code searches its memory bank with FAISS).

    Args:
        embedding_dim (`int`): Width of the vectors.
        index_factory (`str`, *optional*, defaults to `"Flat"`): A FAISS `index_factory` string. `"Flat"` is exact
            and right for banks up to ~100k documents; `"HNSW32"` or `"IVF{n},Flat"` / `"IVF{n},PQ{m}"` trade a
            little recall for speed and memory on large banks (see benchmarks/RESULTS.md).
        search_params (`dict`, *optional*): Search-time parameters set through `faiss.ParameterSpace`, e.g.
            `{"nprobe": 32}` (IVF) or `{"efSearch": 128}` (HNSW).
        train_size (`int`, *optional*): Vectors sampled from the bank to train IVF/PQ indexes; all when unset.
    """

    name = "faiss"

    def __init__(
        self,
        embedding_dim: int,
        index_factory: str = "Flat",
        search_params: dict | None = None,
        train_size: int | None = None,
    ):
        super().__init__(embedding_dim)
        self.index_factory = index_factory
        self.search_params = dict(search_params or {})
        self.train_size = train_size
        self.index = self._new_index()
        self._apply_search_params()

    def set_search_params(self, **params) -> None:
        """Change search-time parameters, e.g. `set_search_params(nprobe=64)` or `set_search_params(efSearch=256)`."""
        self.search_params.update(params)
        self._apply_search_params()

    def _new_index(self):
        faiss = _faiss()
        try:
            return faiss.index_factory(self.embedding_dim, self.index_factory, faiss.METRIC_INNER_PRODUCT)
        except RuntimeError as error:
            message = str(error).strip().splitlines()[-1]
            raise ValueError(
                f"`index_factory`={self.index_factory!r} is not a FAISS index_factory string for "
                f"{self.embedding_dim}-d vectors ({message}). Examples: {_FACTORY_EXAMPLES}."
            ) from None

    def _apply_search_params(self) -> None:
        faiss = _faiss()
        space = faiss.ParameterSpace()
        for name, value in self.search_params.items():
            try:
                space.set_index_parameter(self.index, name, value)
            except RuntimeError:
                raise ValueError(
                    f"`search_params` {name}={value!r} does not apply to the FAISS index {self.index_factory!r} "
                    "(nprobe is for IVF indexes, efSearch for HNSW)."
                ) from None

    @property
    def num_vectors(self) -> int:
        return self.index.ntotal

    @property
    def is_trained(self) -> bool:
        return self.index.is_trained

    def train(self, vectors: np.ndarray) -> None:
        vectors = self._check_vectors(vectors, "vectors")
        try:
            self.index.train(vectors)
        except RuntimeError as error:
            message = str(error).strip().splitlines()[-1]
            raise ValueError(
                f"Could not train the FAISS index {self.index_factory!r} on {len(vectors)} vectors: {message}. "
                "Add more documents or choose an index with fewer lists/centroids."
            ) from None

    def add(self, vectors: np.ndarray) -> None:
        self.index.add(self._check_vectors(vectors, "vectors"))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        scores, ids = self.index.search(self._check_vectors(queries, "queries"), k)
        scores[ids < 0] = -np.inf
        return scores, ids.astype(np.int64)

    def stored_vectors(self, ids: list[int]) -> np.ndarray | None:
        """The vectors an exact (flat) index holds at rows `ids`; `None` for lossy or tree indexes."""
        faiss = _faiss()
        index = faiss.downcast_index(self.index)
        if not isinstance(index, faiss.IndexFlat):
            return None
        return np.stack([index.reconstruct(int(i)) for i in ids])

    def truncate(self, num_vectors: int) -> None:
        faiss = _faiss()
        try:
            self.index.remove_ids(faiss.IDSelectorRange(num_vectors, self.index.ntotal))
        except RuntimeError:  # e.g. HNSW cannot remove: start over; the bank re-adds its rows
            self.reset()

    def reset(self) -> None:
        self.index = self._new_index()
        self._apply_search_params()

    def save(self, directory: str | os.PathLike) -> dict:
        _faiss().write_index(self.index, os.path.join(directory, INDEX_FILE))
        return {
            "index_factory": self.index_factory,
            "search_params": self.search_params,
            "train_size": self.train_size,
        }

    @classmethod
    def load(cls, directory: str | os.PathLike, embedding_dim: int, settings: dict, **kwargs) -> FaissBackend:
        settings = {**settings, **kwargs}
        backend = cls(embedding_dim, **settings)
        index = _faiss().read_index(os.path.join(directory, INDEX_FILE))
        if index.d != embedding_dim:
            raise ValueError(f"The saved FAISS index holds {index.d}-d vectors, the bank {embedding_dim}-d ones.")
        backend.index = index
        backend._apply_search_params()
        return backend


__all__ = ["FaissBackend"]
