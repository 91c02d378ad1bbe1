# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Configuration of the CM3Leon retriever: which encoder, which index, and the paper's sampling rules."""

from __future__ import annotations

import re

from transformers import PretrainedConfig

from ..validation import check_int, is_number

DEFAULT_ENCODER = "openai/clip-vit-base-patch32"  # the paper's frozen CLIP ViT-B/32 ([P] §2.1)
INDEX_BACKENDS = ("faiss", "milvus")
DOCUMENT_MODALITIES = ("any", "text", "image", "multimodal")
_MILVUS_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")


class CM3LeonRetrieverConfig(PretrainedConfig):
    r"""
    Configuration of [`CM3LeonRetriever`]: a frozen CLIP-like bi-encoder, a memory bank of documents with their
    embeddings, a maximum-inner-product index over the bank, and the paper's rules for picking documents ([P] §2.1).

    Args:
        encoder_name_or_path (`str`, *optional*, defaults to `"openai/clip-vit-base-patch32"`):
            Model id or path of the encoder (any model with `get_text_features` / `get_image_features`). It is only
            loaded when asked for ([`CM3LeonRetriever.from_pretrained`] or [`CM3LeonRetriever.load_encoder`]).
        embedding_dim (`int`, *optional*):
            Width of the document vectors; filled in from the encoder or the memory bank when left out.
        index_backend (`str`, *optional*, defaults to `"faiss"`):
            `"faiss"` (embedded, the default) or `"milvus"` (a Milvus server, or an embedded milvus-lite file).
        index_factory (`str`, *optional*, defaults to `"Flat"`):
            FAISS `index_factory` string, always with the inner-product metric: `"Flat"` (exact), `"HNSW32"`,
            `"IVF4096,Flat"`, `"IVF4096,PQ64"`, ... Indexes that need training are trained on the bank's stored
            embeddings the first time they are searched.
        index_search_params (`dict`, *optional*):
            FAISS search-time parameters, e.g. `{"nprobe": 32}` for IVF or `{"efSearch": 128}` for HNSW.
        index_train_size (`int`, *optional*):
            Number of stored embeddings (a seeded random sample) used to train a FAISS index; all of them when unset.
        milvus_uri (`str`, *optional*):
            Milvus address: a server URI (`"http://host:19530"`) or a local milvus-lite file (`"./bank.db"`).
            Required when `index_backend="milvus"`.
        milvus_collection_name (`str`, *optional*, defaults to `"cm3leon_memory_bank"`):
            Collection that mirrors the memory bank's vectors.
        milvus_index_params (`dict`, *optional*):
            Milvus index, e.g. `{"index_type": "HNSW", "params": {"M": 16, "efConstruction": 200}}`; `FLAT` when unset.
            The metric is always inner product.
        milvus_search_params (`dict`, *optional*):
            Milvus search parameters, e.g. `{"ef": 128}` or `{"nprobe": 16}`.
        num_retrieved_docs (`int`, *optional*, defaults to 2):
            Documents returned per query when `retrieve` gets no `k` (2 at inference in the paper).
        max_relevance (`float`, *optional*, defaults to 0.9):
            Candidates scoring above this are near-copies of the query and are skipped; `None` keeps them.
        deduplicate (`bool`, *optional*, defaults to `True`):
            Skip a candidate that duplicates a document already picked for the same query.
        duplicate_threshold (`float`, *optional*, defaults to 0.9):
            Cosine similarity between two documents at or above which they are duplicates.
        document_modality (`str`, *optional*, defaults to `"any"`):
            Which documents may be returned: `"any"`, `"text"` (has a text), `"image"` (has an image) or
            `"multimodal"` (has both; the paper's choice for its bank).
        query_dropout (`float`, *optional*, defaults to 0.2):
            Fraction of a text query's tokens dropped before encoding, in training mode only.
        candidate_multiplier (`int`, *optional*, defaults to 4):
            The index is asked for `candidate_multiplier * k` candidates, then for twice as many for the queries whose
            candidates the rules above thinned out below `k`, up to the whole bank.
        encode_batch_size (`int`, *optional*, defaults to 64):
            Documents or queries per encoder forward.
    """

    model_type = "cm3leon_retriever"

    def __init__(
        self,
        encoder_name_or_path: str | None = DEFAULT_ENCODER,
        embedding_dim: int | None = None,
        index_backend: str = "faiss",
        index_factory: str = "Flat",
        index_search_params: dict | None = None,
        index_train_size: int | None = None,
        milvus_uri: str | None = None,
        milvus_collection_name: str = "cm3leon_memory_bank",
        milvus_index_params: dict | None = None,
        milvus_search_params: dict | None = None,
        num_retrieved_docs: int = 2,
        max_relevance: float | None = 0.9,
        deduplicate: bool = True,
        duplicate_threshold: float = 0.9,
        document_modality: str = "any",
        query_dropout: float = 0.2,
        candidate_multiplier: int = 4,
        encode_batch_size: int = 64,
        **kwargs,
    ):
        if index_backend not in INDEX_BACKENDS:
            raise ValueError(f"`index_backend` must be one of {list(INDEX_BACKENDS)}, got {index_backend!r}.")
        if index_backend == "milvus" and not milvus_uri:
            raise ValueError(
                "`milvus_uri` is required when `index_backend='milvus'`: a server URI such as 'http://localhost:19530' "
                "or a local milvus-lite file such as './memory_bank.db'."
            )
        if not isinstance(index_factory, str) or not index_factory.strip():
            raise ValueError(
                f"`index_factory` must be a FAISS index_factory string such as 'Flat', got {index_factory!r}."
            )
        if not isinstance(milvus_collection_name, str) or not _MILVUS_NAME.fullmatch(milvus_collection_name):
            raise ValueError(
                "`milvus_collection_name` must start with a letter or '_' and hold only letters, digits and '_', got "
                f"{milvus_collection_name!r}."
            )
        for name, value in (
            ("embedding_dim", embedding_dim),
            ("index_train_size", index_train_size),
        ):
            if value is not None:
                _check_positive_int(name, value)
        for name, value in (
            ("num_retrieved_docs", num_retrieved_docs),
            ("candidate_multiplier", candidate_multiplier),
            ("encode_batch_size", encode_batch_size),
        ):
            _check_positive_int(name, value)
        check_sampling_rules(
            max_relevance=max_relevance,
            deduplicate=deduplicate,
            duplicate_threshold=duplicate_threshold,
            document_modality=document_modality,
            query_dropout=query_dropout,
        )
        self.encoder_name_or_path = encoder_name_or_path
        self.embedding_dim = embedding_dim
        self.index_backend = index_backend
        self.index_factory = index_factory
        self.index_search_params = dict(index_search_params or {})
        self.index_train_size = index_train_size
        self.milvus_uri = milvus_uri
        self.milvus_collection_name = milvus_collection_name
        self.milvus_index_params = dict(milvus_index_params or {})
        self.milvus_search_params = dict(milvus_search_params or {})
        self.num_retrieved_docs = num_retrieved_docs
        self.max_relevance = max_relevance
        self.deduplicate = deduplicate
        self.duplicate_threshold = duplicate_threshold
        self.document_modality = document_modality
        self.query_dropout = query_dropout
        self.candidate_multiplier = candidate_multiplier
        self.encode_batch_size = encode_batch_size
        super().__init__(**kwargs)


# The rules `retrieve` may override per call, with their checks.
SAMPLING_RULES = ("max_relevance", "deduplicate", "duplicate_threshold", "document_modality", "query_dropout")


def check_sampling_rules(
    max_relevance: float | None,
    deduplicate: bool,
    duplicate_threshold: float,
    document_modality: str,
    query_dropout: float,
) -> None:
    if max_relevance is not None and (not is_number(max_relevance) or not -1 <= max_relevance <= 1):
        raise ValueError(
            f"`max_relevance` must be a cosine similarity in [-1, 1] or None (no cap), got {max_relevance!r}."
        )
    if not isinstance(deduplicate, bool):
        raise ValueError(f"`deduplicate` must be True or False, got {deduplicate!r}.")
    if not is_number(duplicate_threshold) or not -1 <= duplicate_threshold <= 1:
        raise ValueError(f"`duplicate_threshold` must be a cosine similarity in [-1, 1], got {duplicate_threshold!r}.")
    if document_modality not in DOCUMENT_MODALITIES:
        raise ValueError(f"`document_modality` must be one of {list(DOCUMENT_MODALITIES)}, got {document_modality!r}.")
    if not is_number(query_dropout) or not 0 <= query_dropout < 1:
        raise ValueError(f"`query_dropout` must be a fraction in [0, 1), got {query_dropout!r}.")


def _check_positive_int(name: str, value) -> None:
    check_int(name, value, 1)


__all__ = ["CM3LeonRetrieverConfig"]
