# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""CM3LeonRetriever: dense multimodal retrieval of documents to prepend to a prompt ([P] §2.1)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import torch
from PIL import Image
from transformers.utils import logging

from .backend import IndexBackend, index_backend_class
from .configuration import SAMPLING_RULES, CM3LeonRetrieverConfig, check_sampling_rules
from .document import RetrievedDocument
from .encoder import CM3LeonRetrievalEncoder
from .memory_bank import CM3LeonMemoryBank, unit_vectors

logger = logging.get_logger(__name__)

CONFIG_NAME = "config.json"
ENCODER_DIR = "encoder"
MEMORY_BANK_DIR = "memory_bank"
# Two documents whose cosine similarity is within this of `duplicate_threshold` count as duplicates (float error).
_SIMILARITY_TOLERANCE = 1e-6


class CM3LeonRetriever:
    r"""
    The CM3Leon retriever ([P] §2.1): a frozen CLIP bi-encoder embeds documents (text, image or both) into a memory
    bank; a query (text, image or both) is embedded the same way and the documents with the largest inner product
    are returned, after the paper's sampling rules:

    - relevance: candidates scoring above `max_relevance` (0.9) are near-copies of the query and are skipped;
    - diversity: a candidate within `duplicate_threshold` of a document already picked is skipped;
    - modality: `document_modality` restricts the documents to those with a text, an image, or both;
    - query dropout: in training mode (`retriever.train()`), `query_dropout` (20%) of a text query's tokens are
      dropped before encoding; in eval mode (the default) queries are encoded whole.

    Documents come back as [`RetrievedDocument`]s, best first, ready for
    `CM3LeonProcessor.text_to_image_prompt(prompt, retrieved_documents=...)`, which lays them out as
    `</s> text <break> image <break> ... prompt <break>`.

    Args:
        config ([`CM3LeonRetrieverConfig`], *optional*): Settings; the defaults when unset.
        encoder ([`CM3LeonRetrievalEncoder`], *optional*): The bi-encoder. Not loaded implicitly: without it,
            documents and queries must come as vectors, or call [`~CM3LeonRetriever.load_encoder`].
        memory_bank ([`CM3LeonMemoryBank`], *optional*): The documents; an empty bank with the configured index
            when unset.
        index_backend_kwargs (`dict`, *optional*): Extra arguments of the index backend that are never saved, such
            as a Milvus `token`.

    Example:

    ```python
    >>> from transformers_cm3leon import CM3LeonRetriever

    >>> retriever = CM3LeonRetriever.from_pretrained_encoder("openai/clip-vit-base-patch32")
    >>> retriever.add_documents(texts=["a red bus", "a tabby cat"], image_paths=["bus.jpg", "cat.jpg"])
    >>> retriever.retrieve(texts=["a cat on a sofa"], k=1)[0][0].text
    'a tabby cat'
    ```
    """

    config_class = CM3LeonRetrieverConfig

    def __init__(
        self,
        config: CM3LeonRetrieverConfig | None = None,
        encoder: CM3LeonRetrievalEncoder | None = None,
        memory_bank: CM3LeonMemoryBank | None = None,
        index_backend_kwargs: dict | None = None,
    ):
        config = CM3LeonRetrieverConfig() if config is None else config
        if not isinstance(config, CM3LeonRetrieverConfig):
            raise TypeError(f"`config` must be a CM3LeonRetrieverConfig, got {type(config).__name__}.")
        if encoder is not None and not isinstance(encoder, CM3LeonRetrievalEncoder):
            raise TypeError(
                f"`encoder` must be a CM3LeonRetrievalEncoder (wrap a CLIP model with it), got {type(encoder).__name__}."
            )
        if memory_bank is not None and not isinstance(memory_bank, CM3LeonMemoryBank):
            raise TypeError(f"`memory_bank` must be a CM3LeonMemoryBank, got {type(memory_bank).__name__}.")
        self.config = config
        self.encoder = None
        self.training = False
        dims = {"config.embedding_dim": config.embedding_dim}
        if memory_bank is not None:
            dims["memory_bank"] = memory_bank.embedding_dim
        if encoder is not None:
            dims["encoder"] = encoder.embedding_dim
        known = {source: dim for source, dim in dims.items() if dim is not None}
        if len(set(known.values())) > 1:
            raise ValueError(
                "Embedding dimension mismatch: "
                + ", ".join(f"{source} is {dim}" for source, dim in known.items())
                + "."
            )
        if not known:
            raise ValueError(
                "The embedding dimension is unknown: pass an `encoder`, a `memory_bank` or `config.embedding_dim`, "
                "or build the retriever with `CM3LeonRetriever.from_pretrained_encoder(...)`."
            )
        config.embedding_dim = next(iter(known.values()))
        if encoder is not None:
            self._set_encoder(encoder)
        if memory_bank is None:
            memory_bank = CM3LeonMemoryBank(config.embedding_dim, self._new_index_backend(index_backend_kwargs or {}))
        self.memory_bank = memory_bank
        config.index_backend = memory_bank.index_backend.name

    @classmethod
    def from_pretrained_encoder(
        cls,
        encoder_name_or_path: str | None = None,
        config: CM3LeonRetrieverConfig | None = None,
        index_backend_kwargs: dict | None = None,
        **encoder_kwargs,
    ) -> CM3LeonRetriever:
        """
        A retriever with an empty memory bank around the encoder `encoder_name_or_path` (default:
        `config.encoder_name_or_path`, i.e. openai/clip-vit-base-patch32), loaded with `from_pretrained`.
        `encoder_kwargs` go to [`CM3LeonRetrievalEncoder.from_pretrained`].
        """
        config = CM3LeonRetrieverConfig() if config is None else config
        encoder_name_or_path = encoder_name_or_path or config.encoder_name_or_path
        if not encoder_name_or_path:
            raise ValueError("No encoder to load: pass `encoder_name_or_path` or set `config.encoder_name_or_path`.")
        encoder = CM3LeonRetrievalEncoder.from_pretrained(encoder_name_or_path, **encoder_kwargs)
        return cls(config, encoder=encoder, index_backend_kwargs=index_backend_kwargs)

    def _new_index_backend(self, extra_kwargs: dict) -> IndexBackend:
        config = self.config
        if config.index_backend == "faiss":
            kwargs = {
                "index_factory": config.index_factory,
                "search_params": config.index_search_params,
                "train_size": config.index_train_size,
            }
        else:
            kwargs = {
                "uri": config.milvus_uri,
                "collection_name": config.milvus_collection_name,
                "index_params": config.milvus_index_params,
                "search_params": config.milvus_search_params,
            }
        return index_backend_class(config.index_backend)(config.embedding_dim, **kwargs, **extra_kwargs)

    def _set_encoder(self, encoder: CM3LeonRetrievalEncoder) -> None:
        if encoder.embedding_dim != self.config.embedding_dim:
            raise ValueError(
                f"Embedding dimension mismatch: the encoder produces {encoder.embedding_dim}-d vectors, the retriever "
                f"holds {self.config.embedding_dim}-d ones."
            )
        self.encoder = encoder
        self.config.encoder_name_or_path = encoder.name_or_path

    # -- state ---------------------------------------------------------------------------------------------------
    def train(self, mode: bool = True) -> CM3LeonRetriever:
        """Training mode: query dropout is applied (as `nn.Module.train`; the encoder itself stays frozen)."""
        if not isinstance(mode, bool):
            raise ValueError(f"`mode` must be True or False, got {mode!r}.")
        self.training = mode
        return self

    def eval(self) -> CM3LeonRetriever:
        """Inference mode (the default): queries are encoded whole."""
        return self.train(False)

    def to(self, device: str | torch.device) -> CM3LeonRetriever:
        """Move the encoder to `device` (the index stays where its backend keeps it)."""
        if self.encoder is not None:
            self.encoder.to(device)
        return self

    def load_encoder(self, name_or_path: str | None = None, **kwargs) -> CM3LeonRetrievalEncoder:
        """Load the encoder `name_or_path` (default: `config.encoder_name_or_path`) with `from_pretrained`."""
        name_or_path = name_or_path or self.config.encoder_name_or_path
        if not name_or_path:
            raise ValueError("No encoder to load: pass `name_or_path` or set `config.encoder_name_or_path`.")
        self._set_encoder(CM3LeonRetrievalEncoder.from_pretrained(name_or_path, **kwargs))
        return self.encoder

    def __len__(self) -> int:
        return len(self.memory_bank)

    def __repr__(self) -> str:
        encoder = None if self.encoder is None else type(self.encoder.model).__name__
        return f"{type(self).__name__}(encoder={encoder}, memory_bank={self.memory_bank!r}, training={self.training})"

    # -- building the memory bank --------------------------------------------------------------------------------
    def add_documents(
        self,
        texts: Sequence[str | None] | None = None,
        images: Sequence | None = None,
        image_paths: Sequence[str | None] | None = None,
        image_token_ids: Sequence[Sequence[int] | None] | None = None,
        embeddings: np.ndarray | torch.Tensor | None = None,
        batch_size: int | None = None,
        show_progress: bool = True,
    ) -> range:
        """
        Embed documents and append them to the memory bank, `batch_size` at a time, with a progress bar.

        Every argument holds one entry per document (`None` where a document lacks it). A document's vector is
        computed from its text and its image (`images`, else the file at `image_paths`), unless `embeddings` gives
        it. What is stored for the prompt is the text and the image as `image_token_ids` and/or `image_paths`:
        pixels passed only through `images` are embedded but not kept.

        Returns:
            `range`: the rows of the new documents in the memory bank.
        """
        columns = {
            "text": texts,
            "image": images,
            "image_path": image_paths,
            "image_token_ids": image_token_ids,
            "embedding": embeddings,
        }
        given = {name: values for name, values in columns.items() if values is not None}
        if not given:
            raise ValueError("No documents: pass `texts`, `images`, `image_paths`, `image_token_ids` or `embeddings`.")
        for name, values in given.items():
            if isinstance(values, (str, bytes, Image.Image)):
                raise TypeError(f"`{name}` must hold one entry per document, got a single {type(values).__name__}.")
        lengths = {name: len(values) for name, values in given.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"Every argument must hold one entry per document, got lengths {lengths}.")
        num_documents = next(iter(lengths.values()))
        batch_size = self._batch_size(batch_size)
        batches = (
            {name: values[start : start + batch_size] for name, values in given.items()}
            for start in range(0, num_documents, batch_size)
        )
        return self._add(batches, num_documents, show_progress)

    def add_dataset(
        self,
        dataset,
        text_column: str | None = "text",
        image_column: str | None = None,
        image_path_column: str | None = None,
        image_token_ids_column: str | None = None,
        embedding_column: str | None = None,
        batch_size: int | None = None,
        show_progress: bool = True,
    ) -> range:
        """
        Embed the documents of a `datasets.Dataset` (or `IterableDataset`, for a streamed corpus) and append them,
        reading `batch_size` rows at a time. Each `*_column` names the column holding that part (`None`: absent);
        see `add_documents`.
        """
        mapping = {
            "text": text_column,
            "image": image_column,
            "image_path": image_path_column,
            "image_token_ids": image_token_ids_column,
            "embedding": embedding_column,
        }
        mapping = {name: column for name, column in mapping.items() if column is not None}
        if not mapping:
            raise ValueError("Name at least one column: `text_column`, `image_column`, `image_path_column`, ...")
        column_names = getattr(dataset, "column_names", None)
        if column_names is not None:
            missing = [column for column in mapping.values() if column not in column_names]
            if missing:
                raise ValueError(f"Columns {missing} are not in the dataset, whose columns are {column_names}.")
        batch_size = self._batch_size(batch_size)
        batches = (
            {name: rows[column] for name, column in mapping.items()} for rows in dataset.iter(batch_size=batch_size)
        )
        total = len(dataset) if hasattr(dataset, "__len__") else None
        return self._add(batches, total, show_progress)

    def _add(self, batches: Iterable[dict], total: int | None, show_progress: bool) -> range:
        def embedded() -> Iterator[dict]:
            with logging.tqdm(total=total, unit="docs", desc="Adding documents", disable=not show_progress) as bar:
                for batch in batches:
                    yield self._embed_documents(batch)
                    bar.update(len(next(iter(batch.values()))))

        return self.memory_bank.add_batches(embedded())

    def _embed_documents(self, batch: dict) -> dict:
        num_documents = len(next(iter(batch.values())))
        texts, images, paths = (batch.get(name) for name in ("text", "image", "image_path"))
        token_ids = batch.get("image_token_ids")

        def stores_image(i: int) -> bool:
            return (paths is not None and paths[i] is not None) or (token_ids is not None and token_ids[i] is not None)

        if images is not None and any(images[i] is not None and not stores_image(i) for i in range(num_documents)):
            logger.warning_once(
                "Documents were added with `images` but without `image_paths` or `image_token_ids`: their images are "
                "embedded but not stored, so the retrieved documents carry no image for the prompt."
            )
        embeddings = batch.get("embedding")
        if embeddings is None:
            pixels = [
                images[i]
                if images is not None and images[i] is not None
                else (paths[i] if paths is not None else None)
                for i in range(num_documents)
            ]
            embeddings = self._require_encoder().embed(
                texts=texts,
                images=pixels if any(image is not None for image in pixels) else None,
                batch_size=num_documents,
            )
        return {"embedding": embeddings, "text": texts, "image_path": paths, "image_token_ids": token_ids}

    # -- retrieval -----------------------------------------------------------------------------------------------
    def embed_queries(
        self,
        texts: str | Sequence[str | None] | None = None,
        images: Sequence | None = None,
        generator: torch.Generator | None = None,
        query_dropout: float | None = None,
    ) -> np.ndarray:
        """
        Embed queries as documents are embedded; in training mode `query_dropout` (default: the config's) of each
        text's tokens are dropped first, drawn with `generator`.
        """
        texts, images = _as_batch(texts, str), _as_batch(images, Image.Image)
        query_dropout = self.config.query_dropout if query_dropout is None else query_dropout
        return self._require_encoder().embed(
            texts=texts,
            images=images,
            token_dropout=query_dropout if self.training else 0.0,
            generator=generator,
            batch_size=self.config.encode_batch_size,
        )

    def retrieve(
        self,
        texts: str | Sequence[str | None] | None = None,
        images: Sequence | None = None,
        query_embeddings: np.ndarray | torch.Tensor | None = None,
        k: int | None = None,
        generator: torch.Generator | None = None,
        **sampling_rules,
    ) -> list[list[RetrievedDocument]]:
        """
        Retrieve up to `k` documents for each query of a batch.

        Args:
            texts (`str` or `list[str]`, *optional*): Text queries (a string is one query).
            images (`list`, *optional*): Image queries (PIL images, arrays or paths); with `texts`, one per text, and
                each query is then the pair (embedded like a multimodal document).
            query_embeddings (`np.ndarray` of shape `(num_queries, embedding_dim)`, *optional*): Query vectors
                instead of texts/images (they are L2-normalised).
            k (`int`, *optional*): Documents per query; `config.num_retrieved_docs` (2) when unset.
            generator (`torch.Generator`, *optional*): Draws the query dropout in training mode.
            sampling_rules: Per-call overrides of the config's `max_relevance`, `deduplicate`,
                `duplicate_threshold`, `document_modality` and `query_dropout` (e.g. `max_relevance=None` keeps
                near-copies of the query).

        Returns:
            `list[list[RetrievedDocument]]`: per query, its documents, best first. A query gets fewer than `k` only
            when the rules leave fewer than `k` documents in the whole bank.
        """
        unknown = set(sampling_rules) - set(SAMPLING_RULES)
        if unknown:
            raise TypeError(f"Unknown arguments {sorted(unknown)}; the sampling rules are {list(SAMPLING_RULES)}.")
        rules = {name: sampling_rules.get(name, getattr(self.config, name)) for name in SAMPLING_RULES}
        check_sampling_rules(**rules)
        k = self.config.num_retrieved_docs if k is None else k
        if isinstance(k, bool) or not isinstance(k, int) or k <= 0:
            raise ValueError(f"`k` must be a positive integer, got {k!r}.")
        if len(self.memory_bank) == 0:
            raise ValueError("The memory bank is empty: add documents with `add_documents` before retrieving.")
        if k > len(self.memory_bank):
            raise ValueError(f"`k`={k} is larger than the memory bank, which holds {len(self.memory_bank)} documents.")
        queries = self._query_vectors(texts, images, query_embeddings, generator, rules["query_dropout"])
        if len(queries) == 0:
            return []
        bank = self.memory_bank
        bank.prepare_search()
        with bank.reading():  # one version of the bank for the whole retrieval, even while others add or save
            picked = self._search(queries, k, rules)
            rows = sorted({row for query_picks in picked for row, _ in query_picks})
            contents = bank.documents(rows) if rows else {}
        short = [index for index, query_picks in enumerate(picked) if len(query_picks) < k]
        if short:
            logger.warning(
                f"{len(short)} of {len(picked)} queries (the first: #{short[0]}) got fewer than k={k} documents: the "
                "sampling rules (`max_relevance`, `deduplicate`, `document_modality`) leave fewer in the whole bank."
            )
        position = {row: i for i, row in enumerate(rows)}
        return [
            [
                RetrievedDocument(
                    text=contents["text"][position[row]],
                    image_token_ids=contents["image_token_ids"][position[row]],
                    image_path=contents["image_path"][position[row]],
                    score=score,
                    index=row,
                )
                for row, score in query_picks
            ]
            for query_picks in picked
        ]

    def _search(self, queries: np.ndarray, k: int, rules: dict) -> list[list[tuple[int, float]]]:
        """Up to `k` `(row, score)` per query: the nearest candidates, widened until the rules leave `k`."""
        bank = self.memory_bank
        picked: list[list[tuple[int, float]]] = [[] for _ in queries]
        pending = list(range(len(queries)))
        limit = min(len(bank), bank.index_backend.max_search_k or len(bank))
        num_candidates = min(limit, k * self.config.candidate_multiplier)
        while pending:
            _, ids = bank.search(queries[pending], num_candidates)
            candidates = self._candidates(ids, rules)
            for row, query in enumerate(pending):
                picked[query] = self._pick(queries[query], ids[row], k, candidates, rules)
            if num_candidates == limit:
                break
            pending = [query for query in pending if len(picked[query]) < k]
            num_candidates = min(limit, 2 * num_candidates)
        return picked

    def _query_vectors(self, texts, images, query_embeddings, generator, query_dropout) -> np.ndarray:
        if query_embeddings is None:
            if texts is None and images is None:
                raise ValueError("No queries: pass `texts`, `images` or `query_embeddings`.")
            return self.embed_queries(texts, images, generator=generator, query_dropout=query_dropout)
        if texts is not None or images is not None:
            raise ValueError("Pass either `query_embeddings` or `texts`/`images`, not both.")
        return unit_vectors(query_embeddings, self.config.embedding_dim, "query_embeddings")

    def _candidates(self, ids: np.ndarray, rules: dict) -> dict:
        """What the rules need to know about the candidates: their stored vectors and which modalities are allowed."""
        rows = sorted({int(row) for row in ids.ravel() if row >= 0})
        candidates = {"embedding": dict(zip(rows, self.memory_bank.embeddings(rows)))}
        if rules["document_modality"] != "any":
            contents = self.memory_bank.documents(rows)
            has_text = [text is not None for text in contents["text"]]
            has_image = [
                token_ids is not None or path is not None
                for token_ids, path in zip(contents["image_token_ids"], contents["image_path"])
            ]
            allowed = {
                "text": has_text,
                "image": has_image,
                "multimodal": [text and image for text, image in zip(has_text, has_image)],
            }[rules["document_modality"]]
            candidates["allowed"] = dict(zip(rows, allowed))
        return candidates

    @staticmethod
    def _pick(query: np.ndarray, ids: np.ndarray, k: int, candidates: dict, rules: dict) -> list[tuple[int, float]]:
        rows = [row for row in ids.tolist() if row >= 0]  # -1: an approximate index found no more
        vectors = np.stack([candidates["embedding"][row] for row in rows])
        # Score with the stored vectors: exact even behind a lossy (PQ) index, and identical for every backend.
        # Rank by score, ties by row, so that every backend returns the same documents in the same order.
        scores = vectors @ query
        picked, picked_vectors = [], []
        for i in np.lexsort((rows, -scores)).tolist():
            row, score, vector = rows[i], float(scores[i]), vectors[i]
            if rules["max_relevance"] is not None and score > rules["max_relevance"]:
                continue  # a near-copy of the query
            if "allowed" in candidates and not candidates["allowed"][row]:
                continue
            if rules["deduplicate"]:
                threshold = rules["duplicate_threshold"] - _SIMILARITY_TOLERANCE
                if any(float(vector @ other) >= threshold for other in picked_vectors):
                    continue
                picked_vectors.append(vector)
            picked.append((row, score))
            if len(picked) == k:
                break
        return picked

    # -- saving --------------------------------------------------------------------------------------------------
    def save_pretrained(self, save_directory: str | os.PathLike, save_encoder: bool | None = None) -> None:
        """
        Save the config, the memory bank with its index (atomically, see [`CM3LeonMemoryBank.save`]) and the encoder.

        Args:
            save_directory (`str`): Directory to write `config.json`, `memory_bank/` and `encoder/` into.
            save_encoder (`bool`, *optional*): Save the encoder's weights in `encoder/`. By default they are saved
                unless the encoder was loaded from a hub id, which `config.json` then references.
        """
        save_directory = os.fspath(save_directory)
        os.makedirs(save_directory, exist_ok=True)
        self.memory_bank.save(os.path.join(save_directory, MEMORY_BANK_DIR))
        if save_encoder is None:
            name = self.config.encoder_name_or_path
            save_encoder = self.encoder is not None and (name is None or os.path.isdir(name))
        if save_encoder:
            if self.encoder is None:
                raise ValueError("`save_encoder=True` but this retriever has no encoder.")
            staging = os.path.join(save_directory, f".{ENCODER_DIR}.tmp-{uuid.uuid4().hex}")
            self.encoder.save_pretrained(staging)
            _replace_directory(staging, os.path.join(save_directory, ENCODER_DIR))
        staging = os.path.join(save_directory, f".{CONFIG_NAME}.tmp-{uuid.uuid4().hex}")
        self.config.to_json_file(staging)
        os.replace(staging, os.path.join(save_directory, CONFIG_NAME))

    @classmethod
    def from_pretrained(
        cls,
        pretrained_path: str | os.PathLike,
        encoder: CM3LeonRetrievalEncoder | None = None,
        load_encoder: bool = True,
        cache_dir: str | os.PathLike | None = None,
        index_backend_kwargs: dict | None = None,
        revision: str | None = None,
        token: str | bool | None = None,
        **config_kwargs,
    ) -> CM3LeonRetriever:
        """
        Load a retriever saved with `save_pretrained` (a local directory or a hub repo id).

        Args:
            pretrained_path (`str`): The directory (or hub repo) holding `config.json` and `memory_bank/`.
            encoder ([`CM3LeonRetrievalEncoder`], *optional*): Use this encoder instead of loading one.
            load_encoder (`bool`, *optional*, defaults to `True`): Load the encoder (from `encoder/`, else from
                `config.encoder_name_or_path`); `False` for a retriever queried with vectors only.
            cache_dir (`str`, *optional*): Where the bank writes documents added after loading.
            index_backend_kwargs (`dict`, *optional*): Index settings to override or add (a Milvus `token`, FAISS
                `search_params`); never saved.
            revision, token: Hub revision and credentials, when `pretrained_path` is a repo id.
            config_kwargs: Config fields to override, e.g. `num_retrieved_docs=3`.
        """
        path = os.fspath(pretrained_path)
        if not os.path.isdir(path):
            from huggingface_hub import snapshot_download

            path = snapshot_download(path, revision=revision, token=token)
        config = cls.config_class.from_pretrained(path, **config_kwargs)
        memory_bank = CM3LeonMemoryBank.load(
            os.path.join(path, MEMORY_BANK_DIR), cache_dir=cache_dir, **(index_backend_kwargs or {})
        )
        saved_encoder_name, from_saved_copy = config.encoder_name_or_path, False
        if encoder is None and load_encoder:
            encoder_path = os.path.join(path, ENCODER_DIR)
            from_saved_copy = os.path.isdir(encoder_path)
            if not from_saved_copy:
                encoder_path = saved_encoder_name
            if encoder_path is None:
                raise ValueError(
                    f"{path!r} holds no `{ENCODER_DIR}/` and its config names no `encoder_name_or_path`: pass "
                    "`encoder=` or `load_encoder=False`."
                )
            encoder = CM3LeonRetrievalEncoder.from_pretrained(encoder_path)
        retriever = cls(config, encoder=encoder, memory_bank=memory_bank)
        if from_saved_copy:  # keep naming what the config named (a hub id, or nothing) rather than the copy's path
            retriever.config.encoder_name_or_path = saved_encoder_name
        return retriever

    def _require_encoder(self) -> CM3LeonRetrievalEncoder:
        if self.encoder is None:
            raise ValueError(
                "This retriever has no encoder: call `retriever.load_encoder()` (loads "
                f"{self.config.encoder_name_or_path!r}), pass `encoder=` when building it, or pass `embeddings=` / "
                "`query_embeddings=`."
            )
        return self.encoder

    def _batch_size(self, batch_size: int | None) -> int:
        batch_size = self.config.encode_batch_size if batch_size is None else batch_size
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"`batch_size` must be a positive integer, got {batch_size!r}.")
        return batch_size


def _as_batch(values, single_type):
    """A single string / image is a batch of one query."""
    return [values] if isinstance(values, single_type) else values


def _replace_directory(new: str, target: str) -> None:
    """Put directory `new` at `target`, replacing what is there with two renames."""
    if os.path.exists(target):
        old = f"{target}.old-{uuid.uuid4().hex}"
        os.replace(target, old)
        os.replace(new, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(new, target)


__all__ = ["CM3LeonRetriever"]
