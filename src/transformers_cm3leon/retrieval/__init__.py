# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Retrieval for CM3Leon ([P] §2.1): a frozen CLIP bi-encoder, a memory bank of documents, and a vector index.

- `configuration.py`   CM3LeonRetrieverConfig: encoder, index and the paper's sampling rules
- `encoder.py`         CM3LeonRetrievalEncoder: texts and images to unit vectors (and query dropout)
- `memory_bank.py`     CM3LeonMemoryBank: documents + embeddings in a memory-mapped dataset, atomic saves
- `backend.py`         IndexBackend: the interface of the vector index
- `faiss_backend.py`   FaissBackend: embedded FAISS (default)
- `milvus_backend.py`  MilvusBackend: Milvus server/cluster or embedded milvus-lite
- `document.py`        RetrievedDocument: what `retrieve` returns, what the processor prepends
- `retriever.py`       CM3LeonRetriever: ties them together; retrieve / save_pretrained / from_pretrained
"""

from .backend import IndexBackend
from .configuration import CM3LeonRetrieverConfig
from .document import RetrievedDocument
from .encoder import CM3LeonRetrievalEncoder
from .faiss_backend import FaissBackend
from .memory_bank import CM3LeonMemoryBank
from .milvus_backend import MilvusBackend
from .retriever import CM3LeonRetriever

__all__ = [
    "CM3LeonMemoryBank",
    "CM3LeonRetrievalEncoder",
    "CM3LeonRetriever",
    "CM3LeonRetrieverConfig",
    "FaissBackend",
    "IndexBackend",
    "MilvusBackend",
    "RetrievedDocument",
]
