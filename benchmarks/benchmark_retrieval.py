# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Speed and recall of the retriever's FAISS indexes on a large synthetic memory bank.

Measures, for an exact index (Flat) and two approximate ones (IVF, HNSW), all inner-product over L2-normalised
vectors through `FaissBackend` (the layer the memory bank searches with):

- build time (training + adding the vectors),
- batched query throughput (one call with all queries) and single-query latency (one call per query),
- recall@k of the approximate indexes against Flat, the baseline measured in the same run.

The vectors are clustered, not uniform: a Gaussian mixture around a few thousand random unit centres,
normalised, like CLIP embeddings of a web-scale bank (on uniform random vectors no index can do better than chance,
so recall would say nothing). Queries are fresh draws from the same mixture. No encoder is involved.

    nice python benchmarks/benchmark_retrieval.py                    # 1M x 512, HNSW on a 200k subset
    python benchmarks/benchmark_retrieval.py --num-vectors 20000 --num-centres 200 --ivf-lists 64 --hnsw-subset 0
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import faiss
import numpy as np

from transformers_cm3leon.retrieval import FaissBackend


def clustered_unit_vectors(
    num_vectors: int, centres: np.ndarray, spread: float, rng: np.random.Generator, chunk: int = 100_000
) -> np.ndarray:
    """`num_vectors` draws of `centre + spread * noise` (noise ~ N(0, I/d)), normalised: a cosine of about
    `1 / sqrt(1 + spread**2)` to their centre."""
    dim = centres.shape[1]
    out = np.empty((num_vectors, dim), dtype=np.float32)
    for start in range(0, num_vectors, chunk):
        stop = min(start + chunk, num_vectors)
        block = centres[rng.integers(0, len(centres), stop - start)]
        block += rng.standard_normal((stop - start, dim), dtype=np.float32) * (spread / np.sqrt(dim))
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start:stop] = block
    return out


class Timer:
    """Wall-clock and CPU time (all threads of this process) of a block. On a machine shared with other jobs the
    wall time grows with the load; the CPU time much less so."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def build(backend: FaissBackend, vectors: np.ndarray, train_size: int, rng: np.random.Generator) -> dict:
    timings = {"train_s": 0.0, "train_cpu_s": 0.0}
    if not backend.is_trained:
        sample = vectors[np.sort(rng.choice(len(vectors), size=min(train_size, len(vectors)), replace=False))]
        with Timer() as timer:
            backend.train(sample)
        timings.update(train_s=timer.wall, train_cpu_s=timer.cpu)
    with Timer() as timer:
        for offset in range(0, len(vectors), 100_000):
            backend.add(vectors[offset : offset + 100_000])
    timings.update(add_s=timer.wall, add_cpu_s=timer.cpu)
    timings.update(build_s=timings["train_s"] + timer.wall, build_cpu_s=timings["train_cpu_s"] + timer.cpu)
    return timings


def measure_search(backend: FaissBackend, queries: np.ndarray, k: int, num_single: int) -> tuple[dict, np.ndarray]:
    with Timer() as batched:
        _, ids = backend.search(queries, k)
    latencies, cpu = [], []
    for query in queries[:num_single]:
        with Timer() as single:
            backend.search(query[None], k)
        latencies.append(1000 * single.wall)
        cpu.append(1000 * single.cpu)
    latencies.sort()
    return {
        "batched_queries_per_s": len(queries) / batched.wall,
        "batched_ms_per_query": 1000 * batched.wall / len(queries),
        "batched_cpu_ms_per_query": 1000 * batched.cpu / len(queries),
        "single_ms_median": statistics.median(latencies),
        "single_ms_p90": latencies[int(0.9 * (len(latencies) - 1))],
        "single_cpu_ms_median": statistics.median(cpu),
    }, ids


def recall_at_k(approximate: np.ndarray, exact: np.ndarray) -> float:
    k = exact.shape[1]
    return float(np.mean([len(set(a) & set(e)) / k for a, e in zip(approximate.tolist(), exact.tolist())]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-vectors", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--num-centres", type=int, default=4096, help="Gaussian-mixture components")
    parser.add_argument("--spread", type=float, default=0.75, help="noise scale around a centre")
    parser.add_argument("--num-queries", type=int, default=1000, help="queries of the batched search")
    parser.add_argument("--num-single", type=int, default=50, help="queries timed one at a time")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--ivf-lists", type=int, default=4096)
    parser.add_argument("--ivf-train-size", type=int, default=200_000)
    parser.add_argument("--nprobe", type=int, nargs="+", default=[1, 8, 32, 128])
    parser.add_argument("--hnsw-m", type=int, default=32)
    parser.add_argument("--ef-search", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument(
        "--hnsw-subset", type=int, default=200_000, help="build HNSW on the first N vectors only (0: all of them)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    print(
        f"faiss {faiss.__version__}, {faiss.omp_get_max_threads()} threads, {platform.machine()}, "
        f"load average {os.getloadavg()[0]:.1f} at start"
    )
    start = time.perf_counter()
    centres = rng.standard_normal((args.num_centres, args.dim), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    vectors = clustered_unit_vectors(args.num_vectors, centres, args.spread, rng)
    queries = clustered_unit_vectors(args.num_queries, centres, args.spread, rng)
    print(
        f"data: {args.num_vectors:,} x {args.dim} clustered unit vectors ({args.num_centres} centres) "
        f"in {time.perf_counter() - start:.1f} s"
    )
    rows = []

    def report(name: str, num_vectors: int, build_timings: dict, search: dict, recall: float | None, baseline: dict):
        row = {"index": name, "num_vectors": num_vectors, **build_timings, **search, f"recall@{args.k}": recall}
        row["batched_speedup_vs_flat"] = search["batched_queries_per_s"] / baseline["batched_queries_per_s"]
        row["single_speedup_vs_flat"] = baseline["single_ms_median"] / search["single_ms_median"]
        rows.append(row)
        recall_text = "exact" if recall is None else f"{recall:.3f}"
        print(
            f"{name:<28} n={num_vectors:>9,}  build {build_timings['build_s']:7.1f} s "
            f"(cpu {build_timings['build_cpu_s']:7.1f} s)  "
            f"batched {search['batched_queries_per_s']:9.1f} q/s ({row['batched_speedup_vs_flat']:6.1f}x, "
            f"cpu {search['batched_cpu_ms_per_query']:7.3f} ms/q)  "
            f"single {search['single_ms_median']:8.2f} ms ({row['single_speedup_vs_flat']:6.1f}x, "
            f"cpu {search['single_cpu_ms_median']:7.2f} ms)  "
            f"recall@{args.k} {recall_text}  [load {os.getloadavg()[0]:.1f}]",
            flush=True,
        )

    # Flat: exact, the baseline and the ground truth.
    flat = FaissBackend(args.dim, "Flat")
    flat_build = build(flat, vectors, 0, rng)
    flat_search, exact = measure_search(flat, queries, args.k, args.num_single)
    report("Flat", args.num_vectors, flat_build, flat_search, None, flat_search)
    del flat

    ivf = FaissBackend(args.dim, f"IVF{args.ivf_lists},Flat")
    ivf_build = build(ivf, vectors, args.ivf_train_size, rng)
    for nprobe in args.nprobe:
        ivf.set_search_params(nprobe=nprobe)
        search, ids = measure_search(ivf, queries, args.k, args.num_single)
        report(
            f"IVF{args.ivf_lists},Flat nprobe={nprobe}",
            args.num_vectors,
            ivf_build,
            search,
            recall_at_k(ids, exact),
            flat_search,
        )
    del ivf

    subset = args.hnsw_subset or args.num_vectors
    if subset < args.num_vectors:  # a separate exact baseline over the subset
        flat = FaissBackend(args.dim, "Flat")
        subset_build = build(flat, vectors[:subset], 0, rng)
        subset_search, subset_exact = measure_search(flat, queries, args.k, args.num_single)
        report("Flat (HNSW subset)", subset, subset_build, subset_search, None, subset_search)
        del flat
    else:
        subset_search, subset_exact = flat_search, exact
    hnsw = FaissBackend(args.dim, f"HNSW{args.hnsw_m}")  # FAISS' default efConstruction: 40
    hnsw_build = build(hnsw, vectors[:subset], 0, rng)
    for ef_search in args.ef_search:
        hnsw.set_search_params(efSearch=ef_search)
        search, ids = measure_search(hnsw, queries, args.k, args.num_single)
        report(
            f"HNSW{args.hnsw_m} efSearch={ef_search}",
            subset,
            hnsw_build,
            search,
            recall_at_k(ids, subset_exact),
            subset_search,
        )

    if args.json:
        with open(args.json, "w") as file:
            json.dump({"args": vars(args), "faiss": faiss.__version__, "results": rows}, file, indent=2)


if __name__ == "__main__":
    main()
