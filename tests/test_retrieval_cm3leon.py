# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Tests of the CM3Leon retriever: encoder, memory bank, FAISS / Milvus indexes, sampling rules, saving."""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import string

import numpy as np
import pytest
import torch
from datasets import Dataset, Features, Image, Value
from PIL import Image as PILImage
from transformers import CLIPModel

from transformers_cm3leon.retrieval import (
    CM3LeonMemoryBank,
    CM3LeonRetrievalEncoder,
    CM3LeonRetriever,
    CM3LeonRetrieverConfig,
    FaissBackend,
    RetrievedDocument,
)
from transformers_cm3leon.retrieval.encoder import drop_tokens
from transformers_cm3leon.retrieval.memory_bank import POINTER_FILE
from transformers_cm3leon.testing_utils import get_tiny_clip

pytest.importorskip("faiss", reason="the retriever's default index needs faiss (pip install faiss-cpu)")
requires_milvus = pytest.mark.skipif(
    importlib.util.find_spec("pymilvus") is None or importlib.util.find_spec("milvus_lite") is None,
    reason="the Milvus backend tests need pymilvus and milvus-lite (pip install pymilvus milvus-lite)",
)

CAPTIONS = [
    "a red bus on a street",
    "a tabby cat on a sofa",
    "a bowl of green apples",
    "two dogs running on a beach",
    "a lighthouse at night",
    "a bicycle leaning on a wall",
]


# -- fixtures --------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def encoder() -> CM3LeonRetrievalEncoder:
    """The tiny random CLIP of `testing_utils` (16-d embeddings, 30 px images, a 48-token context) as an encoder."""
    model, processor = get_tiny_clip()
    return CM3LeonRetrievalEncoder(model, tokenizer=processor.tokenizer, image_processor=processor.image_processor)


def make_images(directory, count: int) -> list[str]:
    """`count` distinct random RGB images written as PNG files; returns their paths."""
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        path = os.path.join(directory, f"image_{i}.png")
        PILImage.fromarray(rng.integers(0, 256, (36, 40, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def unit(vectors) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


def vector_retriever(vectors, **config_kwargs) -> CM3LeonRetriever:
    """A retriever without an encoder over a bank of hand-made vectors; document `i` has text `doc i`."""
    vectors = np.asarray(vectors, dtype=np.float32)
    config = CM3LeonRetrieverConfig(encoder_name_or_path=None, embedding_dim=vectors.shape[1], **config_kwargs)
    retriever = CM3LeonRetriever(config)
    retriever.add_documents(texts=[f"doc {i}" for i in range(len(vectors))], embeddings=vectors, show_progress=False)
    return retriever


def indices(documents: list[list[RetrievedDocument]]) -> list[list[int]]:
    return [[document.index for document in query] for query in documents]


def assert_same_documents(actual: list[list[RetrievedDocument]], expected: list[list[RetrievedDocument]]) -> None:
    """Equal documents; scores within float error (a reloaded encoder may pick another attention kernel)."""
    assert [[dataclasses.replace(d, score=0.0) for d in docs] for docs in actual] == [
        [dataclasses.replace(d, score=0.0) for d in docs] for docs in expected
    ]
    np.testing.assert_allclose(
        [d.score for docs in actual for d in docs], [d.score for docs in expected for d in docs], atol=1e-5
    )


# -- exact neighbours and the sampling rules ---------------------------------------------------------------------------
def test_exact_neighbours_match_brute_force_inner_product():
    rng = np.random.default_rng(0)
    bank = unit(rng.normal(size=(50, 8)))
    queries = unit(rng.normal(size=(5, 8)))
    retriever = vector_retriever(bank, max_relevance=None, deduplicate=False)

    documents = retriever.retrieve(query_embeddings=queries, k=4)

    expected = np.argsort(-(queries @ bank.T), axis=1)[:, :4]
    assert indices(documents) == expected.tolist()
    for query, docs in zip(queries, documents):
        np.testing.assert_allclose([d.score for d in docs], [bank[d.index] @ query for d in docs], atol=1e-6)
        assert [d.text for d in docs] == [f"doc {d.index}" for d in docs]
        assert all(d.image_token_ids is None and d.image_path is None for d in docs)


def _graded_bank() -> tuple[np.ndarray, np.ndarray]:
    """Query e0; documents at cosine 1.0, 0.95, 0.85, 0.5 from it, pairwise far apart."""
    cosines = [1.0, 0.95, 0.85, 0.5]
    bank = np.zeros((4, 5), dtype=np.float32)
    for i, cosine in enumerate(cosines):
        bank[i, 0] = cosine
        bank[i, i + 1] = np.sqrt(1 - cosine**2)
    query = np.eye(5, dtype=np.float32)[:1]
    return bank, query


def test_relevance_threshold_drops_near_copies_of_the_query():
    bank, query = _graded_bank()
    retriever = vector_retriever(bank)

    default = retriever.retrieve(query_embeddings=query)  # k = 2, max_relevance = 0.9
    assert indices(default) == [[2, 3]]
    np.testing.assert_allclose([d.score for d in default[0]], [0.85, 0.5], atol=1e-6)
    assert indices(retriever.retrieve(query_embeddings=query, max_relevance=0.96)) == [[1, 2]]
    assert indices(retriever.retrieve(query_embeddings=query, max_relevance=None, deduplicate=False)) == [[0, 1]]
    # Documents 0 and 1 are duplicates of each other (cosine 0.95): with de-duplication, 1 gives way to 2.
    assert indices(retriever.retrieve(query_embeddings=query, max_relevance=None)) == [[0, 2]]
    assert retriever.config.max_relevance == 0.9  # a per-call override leaves the config alone


def test_duplicates_among_retrieved_documents_are_dropped():
    base = unit([[1.0, 0.3, 0.0, 0.0]])[0]
    near = unit([[1.0, 0.3, 0.15, 0.0]])[0]  # cosine 0.99 with `base`
    other = unit([[0.6, 0.0, 0.0, 0.8]])[0]
    bank = np.stack([base, base, near, other])  # documents 0 and 1 are copies
    query = unit([[1.0, 0.0, 0.0, 0.0]])
    retriever = vector_retriever(bank, max_relevance=None)

    assert float(near @ base) > 0.9
    assert indices(retriever.retrieve(query_embeddings=query, k=2)) == [[0, 3]]
    assert indices(retriever.retrieve(query_embeddings=query, k=2, deduplicate=False))[0][1] == 1
    # A stricter notion of duplicate keeps the near copy but still drops the exact one.
    assert indices(retriever.retrieve(query_embeddings=query, k=3, duplicate_threshold=0.999)) == [[0, 2, 3]]


def test_more_candidates_are_fetched_when_the_rules_thin_them_out():
    rng = np.random.default_rng(1)
    query = unit([[1.0] + [0.0] * 7])
    near_copies = unit(query + 0.05 * rng.normal(size=(12, 8)))  # cosine > 0.99: all skipped
    others = unit(query + 1.0 * rng.normal(size=(6, 8)))
    bank = np.concatenate([near_copies, others])
    retriever = vector_retriever(bank, candidate_multiplier=1, deduplicate=False)

    documents = retriever.retrieve(query_embeddings=query, k=2)

    scores = (bank @ query[0]).tolist()
    expected = sorted((i for i in range(len(bank)) if scores[i] <= 0.9), key=lambda i: -scores[i])[:2]
    assert indices(documents) == [expected]
    assert all(i >= 12 for i in expected)


def test_fewer_documents_when_the_rules_leave_fewer_than_k_in_the_whole_bank():
    bank, query = _graded_bank()
    retriever = vector_retriever(bank)
    assert indices(retriever.retrieve(query_embeddings=query, k=4)) == [[2, 3]]


def test_document_modality_filter():
    vectors = unit([[1, 0, 0, 0], [3, 1, 0, 0], [2, 0, 1, 0], [1, 0, 0, 1]])  # ranked 0, 1, 2, 3 for the query e0
    config = CM3LeonRetrieverConfig(encoder_name_or_path=None, embedding_dim=4, max_relevance=None, deduplicate=False)
    retriever = CM3LeonRetriever(config)
    retriever.add_documents(
        texts=["text only", None, "both", "both too"],
        image_token_ids=[None, [5, 6], [7, 8], None],
        image_paths=[None, None, None, "cat.png"],
        embeddings=vectors,
        show_progress=False,
    )
    query = np.eye(4, dtype=np.float32)[:1]
    assert indices(retriever.retrieve(query_embeddings=query, k=4)) == [[0, 1, 2, 3]]
    assert indices(retriever.retrieve(query_embeddings=query, k=4, document_modality="text")) == [[0, 2, 3]]
    assert indices(retriever.retrieve(query_embeddings=query, k=4, document_modality="image")) == [[1, 2, 3]]
    multimodal = retriever.retrieve(query_embeddings=query, k=4, document_modality="multimodal")
    assert indices(multimodal) == [[2, 3]]
    assert [(d.text, d.image_token_ids, d.image_path) for d in multimodal[0]] == [
        ("both", [7, 8], None),
        ("both too", None, "cat.png"),
    ]


# -- encoder: document vectors, feature outputs, query dropout -------------------------------------------------------
def _clip_unit_features(encoder, texts=None, pixel_images=None) -> torch.Tensor:
    model = encoder.model
    with torch.no_grad():
        if texts is not None:
            batch = encoder.tokenizer(texts, padding=True, return_tensors="pt")
            features = model.get_text_features(**batch).pooler_output
        else:
            pixels = encoder.image_processor(images=pixel_images, return_tensors="pt")["pixel_values"]
            features = model.get_image_features(pixel_values=pixels).pooler_output
    return torch.nn.functional.normalize(features, dim=-1)


def test_document_vector_is_the_normalised_mean_of_its_text_and_image(encoder, tmp_path):
    paths = make_images(tmp_path, 2)
    images = [PILImage.open(path).convert("RGB") for path in paths]
    vectors = encoder.embed(texts=[CAPTIONS[0], None, CAPTIONS[2]], images=[images[0], images[1], None])

    text = _clip_unit_features(encoder, texts=[CAPTIONS[0], CAPTIONS[2]])
    image = _clip_unit_features(encoder, pixel_images=images)
    mean = (text[0] + image[0]) / 2
    np.testing.assert_allclose(vectors[0], (mean / mean.norm()).numpy(), atol=1e-5)
    np.testing.assert_allclose(vectors[1], image[1].numpy(), atol=1e-5)  # image-only document
    np.testing.assert_allclose(vectors[2], text[1].numpy(), atol=1e-5)  # text-only document
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    # A file path is read as the image it holds.
    np.testing.assert_allclose(encoder.embed(images=paths[:1]), encoder.embed(images=images[:1]), atol=1e-6)


def test_a_caption_image_query_finds_its_own_document_at_score_one_and_the_threshold_skips_it(encoder, tmp_path):
    paths = make_images(tmp_path, 4)
    retriever = CM3LeonRetriever(CM3LeonRetrieverConfig(encoder_name_or_path=None), encoder=encoder)
    retriever.add_documents(texts=CAPTIONS[:4], image_paths=paths, show_progress=False)
    query = {"texts": [CAPTIONS[2]], "images": [PILImage.open(paths[2])]}

    kept = retriever.retrieve(**query, k=1, max_relevance=None)
    assert kept[0][0].index == 2 and kept[0][0].score == pytest.approx(1.0, abs=1e-5)
    skipped = retriever.retrieve(**query, k=3)  # max_relevance = 0.9
    assert 2 not in indices(skipped)[0] and len(skipped[0]) == 3
    scores = retriever.memory_bank.embeddings(slice(0, 4)) @ retriever.embed_queries(**query)[0]
    assert indices(skipped) == [[i for i in np.argsort(-scores).tolist() if i != 2]]
    # An image alone is a query too (embedded like an image-only document).
    by_image = retriever.retrieve(images=[paths[1]], k=1, max_relevance=None)
    image_scores = retriever.memory_bank.embeddings(slice(0, 4)) @ encoder.embed(images=[paths[1]])[0]
    assert by_image[0][0].index == int(np.argmax(image_scores))
    assert by_image[0][0].score == pytest.approx(float(image_scores.max()), abs=1e-6)


class _TensorFeaturesCLIP(CLIPModel):
    """A CLIP whose feature methods return tensors, as transformers 4 and many other models do."""

    def get_text_features(self, **kwargs):
        return super().get_text_features(**kwargs).pooler_output

    def get_image_features(self, **kwargs):
        return super().get_image_features(**kwargs).pooler_output


def test_encoder_accepts_tensor_or_output_object_features(encoder):
    tensor_model = _TensorFeaturesCLIP(encoder.model.config)
    tensor_model.load_state_dict(encoder.model.state_dict())
    tensor_encoder = CM3LeonRetrievalEncoder(tensor_model, encoder.tokenizer, encoder.image_processor)
    image = PILImage.new("RGB", (32, 32), (200, 30, 30))
    np.testing.assert_allclose(
        tensor_encoder.embed(texts=CAPTIONS[:2], images=[image, None]),
        encoder.embed(texts=CAPTIONS[:2], images=[image, None]),
        atol=1e-6,
    )


def test_texts_longer_than_the_encoder_context_keep_their_head_and_end_token(encoder):
    words = [string.ascii_lowercase[i % 26] for i in range(60)]  # one token per word; the context is 48 tokens
    np.testing.assert_allclose(
        encoder.embed(texts=[" ".join(words)]), encoder.embed(texts=[" ".join(words[:46])]), atol=1e-6
    )


def test_drop_tokens_removes_a_fifth_of_the_content_tokens_and_keeps_special_tokens():
    input_ids = [100] + list(range(10)) + [101]
    special = [1] + [0] * 10 + [1]
    kept = drop_tokens(input_ids, special, 0.2, torch.Generator().manual_seed(0))

    assert len(kept) == 10 and kept[0] == 100 and kept[-1] == 101
    assert kept[1:-1] == sorted(kept[1:-1])  # order preserved
    assert kept == drop_tokens(input_ids, special, 0.2, torch.Generator().manual_seed(0))
    draws = {tuple(drop_tokens(input_ids, special, 0.2, torch.Generator().manual_seed(s))) for s in range(10)}
    assert len(draws) > 1
    assert drop_tokens([100, 7, 101], [1, 0, 1], 0.9) == [100, 7, 101]  # the last content token is never dropped


def test_query_dropout_applies_only_in_training_mode(encoder):
    config = CM3LeonRetrieverConfig(encoder_name_or_path=None)
    retriever = CM3LeonRetriever(config, encoder=encoder)
    query = "a b c d e f g h i j"  # ten one-token words
    whole = encoder.embed(texts=[query])

    assert not retriever.training
    np.testing.assert_allclose(
        retriever.embed_queries(query, generator=torch.Generator().manual_seed(0)), whole, atol=1e-6
    )

    retriever.train()
    dropped = retriever.embed_queries(query, generator=torch.Generator().manual_seed(0))
    ids = encoder.tokenizer(query)["input_ids"]
    special = encoder.tokenizer.get_special_tokens_mask(ids, already_has_special_tokens=True)
    expected_ids = drop_tokens(ids, special, 0.2, torch.Generator().manual_seed(0))
    assert len(expected_ids) == len(ids) - 2
    with torch.no_grad():
        expected = encoder.model.get_text_features(input_ids=torch.tensor([expected_ids])).pooler_output
    np.testing.assert_allclose(dropped, torch.nn.functional.normalize(expected, dim=-1).numpy(), atol=1e-5)
    assert not np.allclose(dropped, whole, atol=1e-4)
    np.testing.assert_allclose(
        retriever.embed_queries(query, generator=torch.Generator().manual_seed(0)), dropped, atol=1e-6
    )
    np.testing.assert_allclose(  # query_dropout=0 turns it off in training mode
        retriever.embed_queries(query, query_dropout=0.0), whole, atol=1e-6
    )
    assert retriever.eval() is retriever and not retriever.training


# -- building the bank ------------------------------------------------------------------------------------------------
def test_add_documents_in_batches_embeds_once_and_matches_one_batch(encoder, tmp_path):
    paths = make_images(tmp_path, len(CAPTIONS))
    config = CM3LeonRetrieverConfig(encoder_name_or_path=None)
    small_batches = CM3LeonRetriever(config, encoder=encoder)
    rows = small_batches.add_documents(texts=CAPTIONS, image_paths=paths, batch_size=4, show_progress=False)
    one_batch = CM3LeonRetriever(CM3LeonRetrieverConfig(encoder_name_or_path=None), encoder=encoder)
    one_batch.add_documents(texts=CAPTIONS, image_paths=paths, batch_size=64, show_progress=False)

    assert rows == range(0, 6) and len(small_batches) == 6
    bank = small_batches.memory_bank
    np.testing.assert_allclose(bank.embeddings(slice(0, 6)), one_batch.memory_bank.embeddings(slice(0, 6)), atol=1e-5)
    np.testing.assert_allclose(bank.embeddings(slice(0, 6)), encoder.embed(CAPTIONS, paths), atol=1e-5)
    assert bank.dataset["text"] == CAPTIONS and bank.dataset["image_path"] == paths
    assert bank.index_backend.num_vectors == 6
    # Documents are memory-mapped Arrow files, not held in memory.
    assert bank.dataset.cache_files and all(os.path.exists(f["filename"]) for f in bank.dataset.cache_files)

    more = small_batches.add_documents(texts=["a yellow kite in the sky"], show_progress=False)
    assert more == range(6, 7) and bank.index_backend.num_vectors == 7
    top = small_batches.retrieve(texts=["a yellow kite in the sky"], k=1, max_relevance=None)
    assert top[0][0].index == 6 and top[0][0].score == pytest.approx(1.0, abs=1e-5)


def test_add_dataset_reads_columns_batch_by_batch(encoder, tmp_path):
    paths = make_images(tmp_path, 4)
    features = Features({"caption": Value("string"), "picture": Image(), "file": Value("string")})
    dataset = Dataset.from_dict({"caption": CAPTIONS[:4], "picture": paths, "file": paths}, features=features)
    retriever = CM3LeonRetriever(CM3LeonRetrieverConfig(encoder_name_or_path=None), encoder=encoder)

    rows = retriever.add_dataset(
        dataset,
        text_column="caption",
        image_column="picture",
        image_path_column="file",
        batch_size=3,
        show_progress=False,
    )

    assert rows == range(4)
    np.testing.assert_allclose(
        retriever.memory_bank.embeddings(slice(0, 4)), encoder.embed(CAPTIONS[:4], paths), atol=1e-5
    )
    with pytest.raises(ValueError, match=r"Columns \['nope'\] are not in the dataset"):
        retriever.add_dataset(dataset, text_column="nope")


def test_a_failing_batch_keeps_the_batches_written_before_it():
    bank = CM3LeonMemoryBank(4)

    def batches():
        yield {"embedding": np.eye(4)[:2], "text": ["a", "b"]}
        raise RuntimeError("encoder crashed")

    with pytest.raises(RuntimeError, match="encoder crashed"):
        bank.add_batches(batches())
    assert len(bank) == 2 and bank.index_backend.num_vectors == 2 and bank.dataset["text"] == ["a", "b"]


def test_bank_from_an_existing_dataset_builds_its_index():
    vectors = unit(np.random.default_rng(0).normal(size=(5, 4)))
    dataset = Dataset.from_dict(
        {
            "text": [f"doc {i}" for i in range(5)],
            "image_token_ids": [[i, i + 1] for i in range(5)],
            "image_path": [None] * 5,
            "embedding": vectors.astype(np.float64).tolist(),  # cast to the bank's float32 vectors
        }
    )
    retriever = CM3LeonRetriever(
        CM3LeonRetrieverConfig(encoder_name_or_path=None), memory_bank=CM3LeonMemoryBank(4, dataset=dataset)
    )
    documents = retriever.retrieve(query_embeddings=vectors[3:4], k=1, max_relevance=None)
    assert documents[0][0].index == 3 and documents[0][0].image_token_ids == [3, 4]


@pytest.mark.parametrize("index_factory", ["IVF4,Flat", "HNSW8", "IVF2,PQ4x4"])
def test_approximate_indexes_are_trained_on_first_search(index_factory):
    rng = np.random.default_rng(0)
    bank = unit(rng.normal(size=(300, 8)))
    queries = unit(rng.normal(size=(4, 8)))
    search_params = {"nprobe": 4} if index_factory.startswith("IVF") else None  # probe every list
    retriever = vector_retriever(
        bank,
        index_factory=index_factory,
        index_search_params=search_params,
        candidate_multiplier=20,  # 60 candidates, re-scored exactly: enough to undo PQ's coarse ranking here
        max_relevance=None,
        deduplicate=False,
    )
    backend = retriever.memory_bank.index_backend
    assert isinstance(backend, FaissBackend) and backend.index_factory == index_factory

    documents = retriever.retrieve(query_embeddings=queries, k=3)

    assert backend.is_trained and backend.num_vectors == 300
    exact = np.argsort(-(queries @ bank.T), axis=1)[:, :3].tolist()
    # All lists probed (IVF), a small graph (HNSW), or lossy codes whose candidates are re-scored exactly (PQ).
    assert indices(documents) == exact
    for query, docs in zip(queries, documents):  # scores are exact inner products, even behind PQ codes
        np.testing.assert_allclose([d.score for d in docs], bank[[d.index for d in docs]] @ query, atol=1e-6)


# -- saving ---------------------------------------------------------------------------------------------------------
def _retriever_with_documents(encoder, tmp_path) -> CM3LeonRetriever:
    paths = make_images(tmp_path, 4)
    retriever = CM3LeonRetriever(
        CM3LeonRetrieverConfig(encoder_name_or_path=None, max_relevance=0.95), encoder=encoder
    )
    retriever.add_documents(
        texts=CAPTIONS[:4],
        image_paths=paths,
        image_token_ids=[[4 + i] * 16 for i in range(4)],
        show_progress=False,
    )
    return retriever


def test_save_and_load_give_the_same_retriever(encoder, tmp_path):
    retriever = _retriever_with_documents(encoder, tmp_path)
    queries = ["a cat", "a bus at night"]
    before = retriever.retrieve(texts=queries, k=2)

    retriever.save_pretrained(tmp_path / "retriever")
    loaded = CM3LeonRetriever.from_pretrained(tmp_path / "retriever")

    assert sorted(os.listdir(tmp_path / "retriever")) == ["config.json", "encoder", "memory_bank"]
    assert loaded.config.to_dict() == retriever.config.to_dict()
    assert loaded.config.encoder_name_or_path is None and loaded.config.max_relevance == 0.95
    assert loaded.memory_bank.dataset.to_dict() == retriever.memory_bank.dataset.to_dict()
    np.testing.assert_allclose(loaded.encoder.embed(texts=queries), encoder.embed(texts=queries), atol=1e-6)
    assert_same_documents(loaded.retrieve(texts=queries, k=2), before)
    assert before[0][0].image_token_ids == [4 + before[0][0].index] * 16
    assert before[0][0].image.size == (40, 36)  # read back from its path

    # Loading only what vector queries need, and overriding a config field.
    vectors_only = CM3LeonRetriever.from_pretrained(tmp_path / "retriever", load_encoder=False, num_retrieved_docs=1)
    assert vectors_only.encoder is None and vectors_only.config.num_retrieved_docs == 1
    query = encoder.embed(texts=queries)
    assert_same_documents(vectors_only.retrieve(query_embeddings=query), [docs[:1] for docs in before])
    with pytest.raises(ValueError, match="has no encoder"):
        vectors_only.retrieve(texts=queries)


def test_saving_again_keeps_the_last_versions_and_removes_older_and_half_written_ones(encoder, tmp_path):
    from transformers_cm3leon.retrieval.memory_bank import KEPT_VERSIONS

    retriever = _retriever_with_documents(encoder, tmp_path)
    directory = tmp_path / "retriever"
    retriever.save_pretrained(directory)
    crashed = directory / "memory_bank" / ("version-" + "0" * 32)  # what a SIGKILL during a save leaves
    (crashed / "documents").mkdir(parents=True)
    (crashed / "documents" / "data-00000-of-00001.arrow").write_bytes(b"\0" * 1000)
    loaded = CM3LeonRetriever.from_pretrained(directory)
    for text in ["a yellow kite in the sky", "a green boat", "a blue kite", "a red boat"]:
        loaded.add_documents(texts=[text], show_progress=False)
        loaded.save_pretrained(directory)

    versions = [entry for entry in os.listdir(directory / "memory_bank") if entry.startswith("version-")]
    assert len(versions) == KEPT_VERSIONS and not crashed.exists()
    assert len(CM3LeonRetriever.from_pretrained(directory)) == 8


def test_the_encoder_is_loaded_only_when_asked(encoder, tmp_path):
    encoder.save_pretrained(tmp_path / "clip")
    retriever = CM3LeonRetriever(CM3LeonRetrieverConfig(embedding_dim=16))
    assert retriever.encoder is None  # the config names openai/clip-vit-base-patch32; nothing is downloaded
    with pytest.raises(ValueError, match=r"no encoder: call `retriever.load_encoder\(\)` \(loads 'openai/clip"):
        retriever.embed_queries("a cat")

    retriever.load_encoder(str(tmp_path / "clip"))
    np.testing.assert_allclose(retriever.embed_queries("a cat"), encoder.embed(["a cat"]), atol=1e-5)
    built = CM3LeonRetriever.from_pretrained_encoder(str(tmp_path / "clip"))
    assert built.config.embedding_dim == 16 and built.config.encoder_name_or_path == str(tmp_path / "clip")

    # An encoder named by a hub id is referenced, not copied; a local or in-memory one is saved.
    built.add_documents(texts=CAPTIONS[:2], show_progress=False)
    built.config.encoder_name_or_path = "openai/clip-vit-base-patch32"
    built.save_pretrained(tmp_path / "by_reference")
    assert not (tmp_path / "by_reference" / "encoder").exists()
    loaded = CM3LeonRetriever.from_pretrained(tmp_path / "by_reference", encoder=encoder)
    assert loaded.config.encoder_name_or_path is None  # named after the encoder it was given
    built.config.encoder_name_or_path = str(tmp_path / "clip")
    built.save_pretrained(tmp_path / "with_copy")
    assert (tmp_path / "with_copy" / "encoder" / "model.safetensors").exists()


@pytest.mark.parametrize("failing_write", ["documents", "index"])
def test_an_interrupted_save_leaves_the_previous_version_loadable(encoder, tmp_path, monkeypatch, failing_write):
    retriever = _retriever_with_documents(encoder, tmp_path)
    directory = tmp_path / "retriever"
    retriever.save_pretrained(directory)
    saved = retriever.retrieve(texts=["a cat"], k=2)
    pointer = (directory / "memory_bank" / POINTER_FILE).read_text()

    retriever.add_documents(texts=["a cat on a mat", "a kitten"], show_progress=False)

    def crash(*args, **kwargs):
        raise OSError("No space left on device")

    if failing_write == "documents":
        monkeypatch.setattr(Dataset, "save_to_disk", crash)
    else:
        import faiss

        monkeypatch.setattr(faiss, "write_index", crash)
    with pytest.raises(OSError, match="No space left"):
        retriever.save_pretrained(directory)
    monkeypatch.undo()

    assert (directory / "memory_bank" / POINTER_FILE).read_text() == pointer
    assert len([e for e in os.listdir(directory / "memory_bank") if e.startswith("version-")]) == 1
    loaded = CM3LeonRetriever.from_pretrained(directory)
    assert len(loaded) == 4 and loaded.memory_bank.index_backend.num_vectors == 4
    assert_same_documents(loaded.retrieve(texts=["a cat"], k=2), saved)
    # The retriever that failed to save still holds its six documents and can save them.
    assert len(retriever) == 6
    retriever.save_pretrained(directory)
    assert len(CM3LeonRetriever.from_pretrained(directory)) == 6


# -- Milvus ---------------------------------------------------------------------------------------------------------
@requires_milvus
def test_faiss_and_milvus_return_the_same_documents(tmp_path):
    rng = np.random.default_rng(0)
    bank = unit(rng.normal(size=(200, 16)))
    queries = unit(np.concatenate([bank[:3] + 0.01 * rng.normal(size=(3, 16)), rng.normal(size=(7, 16))]))
    bank[50] = bank[51]  # a duplicate pair, for de-duplication
    faiss_retriever = vector_retriever(bank)
    milvus_retriever = vector_retriever(bank, index_backend="milvus", milvus_uri=str(tmp_path / "milvus.db"))
    assert milvus_retriever.memory_bank.index_backend.name == "milvus"

    for rules in ({}, {"max_relevance": None, "deduplicate": False}):
        from_faiss = faiss_retriever.retrieve(query_embeddings=queries, k=5, **rules)
        from_milvus = milvus_retriever.retrieve(query_embeddings=queries, k=5, **rules)
        assert indices(from_milvus) == indices(from_faiss)
        np.testing.assert_allclose(
            [d.score for docs in from_milvus for d in docs], [d.score for docs in from_faiss for d in docs], atol=1e-5
        )


@requires_milvus
def test_milvus_bank_is_realigned_with_the_saved_bank_after_an_interrupted_save(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    vectors = unit(rng.normal(size=(30, 8)))
    uri = str(tmp_path / "milvus.db")
    retriever = vector_retriever(vectors[:20], index_backend="milvus", milvus_uri=uri, max_relevance=None)
    retriever.save_pretrained(tmp_path / "retriever")
    # Ten more documents reach Milvus, then the save of the bank fails: Milvus is ahead of the saved bank.
    retriever.add_documents(texts=["late"] * 10, embeddings=vectors[20:], show_progress=False)
    monkeypatch.setattr(Dataset, "save_to_disk", lambda *args, **kwargs: (_ for _ in ()).throw(OSError("crash")))
    with pytest.raises(OSError):
        retriever.save_pretrained(tmp_path / "retriever")
    monkeypatch.undo()
    retriever.memory_bank.index_backend.close()

    loaded = CM3LeonRetriever.from_pretrained(tmp_path / "retriever", load_encoder=False)

    backend = loaded.memory_bank.index_backend
    assert len(loaded) == 20 and backend.num_vectors == 20 and backend.uri == uri
    expected = np.argsort(-(vectors[20:] @ vectors[:20].T), axis=1)[:, :3].tolist()
    assert indices(loaded.retrieve(query_embeddings=vectors[20:], k=3, deduplicate=False)) == expected


@requires_milvus
def test_milvus_refuses_to_overwrite_another_banks_collection(tmp_path):
    uri = str(tmp_path / "milvus.db")
    first = vector_retriever(np.eye(4), index_backend="milvus", milvus_uri=uri)
    first.memory_bank.index_backend.close()
    with pytest.raises(ValueError, match="already holds 4 vectors"):
        vector_retriever(np.eye(4), index_backend="milvus", milvus_uri=uri)


# -- errors ---------------------------------------------------------------------------------------------------------
def test_bad_input_gets_clear_errors(encoder):
    retriever = vector_retriever(np.eye(4))
    empty = CM3LeonRetriever(CM3LeonRetrieverConfig(encoder_name_or_path=None, embedding_dim=4))
    query = np.eye(4, dtype=np.float32)[:1]

    with pytest.raises(ValueError, match=r"dimension mismatch.*shape \(2, 3\)"):
        retriever.add_documents(texts=["x", "y"], embeddings=np.ones((2, 3)), show_progress=False)
    with pytest.raises(ValueError, match=r"dimension mismatch.*shape \(1, 5\)"):
        retriever.retrieve(query_embeddings=np.ones((1, 5)))
    with pytest.raises(ValueError, match="encoder is 16, memory_bank is 4|memory_bank is 4, encoder is 16"):
        CM3LeonRetriever(
            CM3LeonRetrieverConfig(encoder_name_or_path=None), encoder=encoder, memory_bank=CM3LeonMemoryBank(4)
        )
    with pytest.raises(ValueError, match="memory bank is empty"):
        empty.retrieve(query_embeddings=query, k=1)
    with pytest.raises(ValueError, match=r"`k`=5 is larger than the memory bank, which holds 4 documents"):
        retriever.retrieve(query_embeddings=query, k=5)
    with pytest.raises(ValueError, match="`k` must be a positive integer, got 0"):
        retriever.retrieve(query_embeddings=query, k=0)
    with pytest.raises(TypeError, match=r"Unknown arguments \['max_score'\]"):
        retriever.retrieve(query_embeddings=query, max_score=0.5)
    with pytest.raises(ValueError, match="`document_modality` must be one of"):
        retriever.retrieve(query_embeddings=query, document_modality="video")
    with pytest.raises(ValueError, match="No queries"):
        retriever.retrieve()
    with pytest.raises(ValueError, match="has no encoder.*load_encoder"):
        retriever.retrieve(texts=["a cat"])
    with pytest.raises(ValueError, match="Every argument must hold one entry per document"):
        retriever.add_documents(texts=["a", "b"], embeddings=np.eye(4)[:3], show_progress=False)
    with pytest.raises(ValueError, match=r"Documents \[1\] of the batch have no text"):
        retriever.add_documents(texts=["a", None], embeddings=np.eye(4)[:2], show_progress=False)
    with pytest.raises(ValueError, match="finite and non-zero"):
        retriever.add_documents(texts=["a"], embeddings=np.zeros((1, 4)), show_progress=False)
    with pytest.raises(TypeError, match="integer token ids"):
        retriever.add_documents(image_token_ids=[["a"]], embeddings=np.eye(4)[:1], show_progress=False)
    assert len(retriever) == 4  # nothing was added by the failed calls
    with pytest.raises(ValueError, match="is not a FAISS index_factory string.*Examples: 'Flat'"):
        vector_retriever(np.eye(4), index_factory="IVF_FLAT_PLEASE")
    with pytest.raises(ValueError, match=r"nprobe=8.*does not apply to the FAISS index 'HNSW32'"):
        vector_retriever(np.eye(4), index_factory="HNSW32", index_search_params={"nprobe": 8})
    with pytest.raises(ValueError, match="Could not train the FAISS index 'IVF16,Flat' on 4 vectors"):
        vector_retriever(np.eye(4), index_factory="IVF16,Flat").retrieve(query_embeddings=query, k=1)
    with pytest.raises(ValueError, match="`index_backend` must be one of"):
        CM3LeonRetrieverConfig(index_backend="qdrant")
    with pytest.raises(ValueError, match="`milvus_uri` is required"):
        CM3LeonRetrieverConfig(index_backend="milvus")
    with pytest.raises(ValueError, match=r"`query_dropout` must be a fraction in \[0, 1\)"):
        CM3LeonRetrieverConfig(query_dropout=1.5)
    with pytest.raises(ValueError, match="embedding dimension is unknown"):
        CM3LeonRetriever(CM3LeonRetrieverConfig(encoder_name_or_path=None))
    with pytest.raises(FileNotFoundError, match="No memory bank"):
        CM3LeonMemoryBank.load("/nonexistent/bank")
