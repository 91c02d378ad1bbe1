# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""A Milvus collection as the index: for memory banks beyond one machine (sharded query nodes)."""

from __future__ import annotations

import importlib.util
import os
import threading

import numpy as np
from transformers.utils import logging

from .backend import IndexBackend

logger = logging.get_logger(__name__)

_ID_FIELD = "id"
_VECTOR_FIELD = "embedding"
_IF_EXISTS = ("error", "overwrite", "attach")
_INSERT_BATCH_SIZE = 4096  # rows per insert request, well under Milvus' 64 MB message limit at d = 1024


def _milvus_client_class():
    if importlib.util.find_spec("pymilvus") is None:
        raise ImportError(
            "The Milvus index backend needs `pymilvus` (and `milvus-lite` for local files): "
            "`pip install pymilvus milvus-lite`, or `pip install transformers-cm3leon[milvus]`."
        )
    from pymilvus import MilvusClient

    return MilvusClient


def _is_local_file(uri: str) -> bool:
    return "://" not in uri


class MilvusBackend(IndexBackend):
    """
    The bank's vectors mirrored in a Milvus collection (primary key = row of the bank, inner-product metric).

    The same code serves an embedded milvus-lite file (`uri="./memory_bank.db"`, for tests and small banks) and a
    Milvus server or cluster (`uri="http://host:19530"`). Milvus persists the vectors itself; saving the memory bank
    records the URI and collection, and loading re-aligns the collection with the saved bank (rows added after the
    save are deleted, missing rows are re-inserted from the bank's stored embeddings).

    Args:
        embedding_dim (`int`): Width of the vectors.
        uri (`str`): Milvus address or local milvus-lite file.
        collection_name (`str`, *optional*, defaults to `"cm3leon_memory_bank"`): The collection; one per bank.
        index_params (`dict`, *optional*): `{"index_type": ..., "params": {...}}`; `FLAT` (exact) when unset.
        search_params (`dict`, *optional*): Index search parameters, e.g. `{"ef": 128}` (HNSW), `{"nprobe": 16}`.
        token (`str`, *optional*): Credentials (`"user:password"` or an API key); never saved.
        if_exists (`str`, *optional*, defaults to `"error"`): What to do when the collection already holds vectors:
            `"error"` (raise), `"overwrite"` (drop them) or `"attach"` (use them: how a saved bank is loaded).
    """

    name = "milvus"
    max_search_k = 16384  # Milvus' topk limit

    def __init__(
        self,
        embedding_dim: int,
        uri: str,
        collection_name: str = "cm3leon_memory_bank",
        index_params: dict | None = None,
        search_params: dict | None = None,
        token: str | None = None,
        if_exists: str = "error",
    ):
        super().__init__(embedding_dim)
        self._lock = threading.Lock()
        if if_exists not in _IF_EXISTS:
            raise ValueError(f"`if_exists` must be one of {list(_IF_EXISTS)}, got {if_exists!r}.")
        if not isinstance(uri, str) or not uri:
            raise ValueError(f"`uri` must be a Milvus URI or a local milvus-lite file path, got {uri!r}.")
        self.uri = uri
        self.collection_name = collection_name
        self.index_params = dict(index_params or {"index_type": "FLAT", "params": {}})
        self.search_params = dict(search_params or {})
        if _is_local_file(uri) and os.path.dirname(uri):
            os.makedirs(os.path.dirname(uri), exist_ok=True)
        self.client = _milvus_client_class()(uri=uri, token=token or "")
        if self.client.has_collection(collection_name):
            self._check_dimension()
            if if_exists == "overwrite":
                self.client.drop_collection(collection_name)
            elif if_exists == "error" and self.num_vectors:
                raise ValueError(
                    f"The Milvus collection {collection_name!r} at {uri!r} already holds {self.num_vectors} vectors. "
                    "Load the memory bank it belongs to, pass `if_exists='overwrite'`, or choose another collection "
                    "name."
                )
        elif if_exists == "attach":
            logger.warning(
                f"The Milvus collection {collection_name!r} at {uri!r} does not exist; it is created and filled from "
                "the memory bank's stored embeddings."
            )
        if not self.client.has_collection(collection_name):
            self._create_collection()

    def _create_collection(self) -> None:
        from pymilvus import DataType

        schema = self.client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field(_ID_FIELD, DataType.INT64, is_primary=True)
        schema.add_field(_VECTOR_FIELD, DataType.FLOAT_VECTOR, dim=self.embedding_dim)
        index_params = self.client.prepare_index_params()
        index_params.add_index(
            field_name=_VECTOR_FIELD,
            index_type=self.index_params.get("index_type", "FLAT"),
            metric_type="IP",
            params=self.index_params.get("params", {}),
        )
        # Strong consistency: a search sees every vector inserted before it, as FAISS does.
        self.client.create_collection(
            self.collection_name, schema=schema, index_params=index_params, consistency_level="Strong"
        )

    def _check_dimension(self) -> None:
        fields = self.client.describe_collection(self.collection_name)["fields"]
        vector_field = next((field for field in fields if field["name"] == _VECTOR_FIELD), None)
        dim = None if vector_field is None else int(vector_field.get("params", {}).get("dim", -1))
        if dim != self.embedding_dim:
            raise ValueError(
                f"The Milvus collection {self.collection_name!r} at {self.uri!r} is not a {self.embedding_dim}-d memory "
                f"bank collection (its `{_VECTOR_FIELD}` field has dim {dim})."
            )

    @property
    def num_vectors(self) -> int:
        rows = self.client.query(self.collection_name, filter="", output_fields=["count(*)"])
        return int(rows[0]["count(*)"])

    def add(self, vectors: np.ndarray) -> None:
        vectors = self._check_vectors(vectors, "vectors")
        with self._lock:  # the next ids are read and used at once: racing adds never reuse an id
            start = self.num_vectors
            for offset in range(0, len(vectors), _INSERT_BATCH_SIZE):
                chunk = vectors[offset : offset + _INSERT_BATCH_SIZE]
                rows = [
                    {_ID_FIELD: start + offset + i, _VECTOR_FIELD: vector} for i, vector in enumerate(chunk.tolist())
                ]
                self.client.insert(self.collection_name, rows)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = self._check_vectors(queries, "queries")
        if k > self.max_search_k:
            raise ValueError(f"Milvus returns at most {self.max_search_k} results per query, got k={k}.")
        hits = self.client.search(
            self.collection_name,
            data=queries.tolist(),
            limit=k,
            anns_field=_VECTOR_FIELD,
            search_params={"metric_type": "IP", "params": self.search_params},
        )
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        for row, query_hits in enumerate(hits):
            for column, hit in enumerate(query_hits):
                scores[row, column] = hit["distance"]
                ids[row, column] = hit["id"]
        return scores, ids

    def truncate(self, num_vectors: int) -> None:
        with self._lock:
            self.client.delete(self.collection_name, filter=f"{_ID_FIELD} >= {int(num_vectors)}")

    def reset(self) -> None:
        self.client.drop_collection(self.collection_name)
        self._create_collection()

    def save(self, directory: str | os.PathLike) -> dict:
        self.client.flush(self.collection_name)
        return {
            "uri": self.uri,
            "collection_name": self.collection_name,
            "index_params": self.index_params,
            "search_params": self.search_params,
        }

    @classmethod
    def load(cls, directory: str | os.PathLike, embedding_dim: int, settings: dict, **kwargs) -> MilvusBackend:
        return cls(embedding_dim, **{**settings, **kwargs, "if_exists": "attach"})

    def close(self) -> None:
        self.client.close()


__all__ = ["MilvusBackend"]
