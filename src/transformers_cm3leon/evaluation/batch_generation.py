# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Images for a list of prompts, written to an [`ImageStore`], by one process or several (launched with `accelerate
launch` or `torchrun`; accelerate's `PartialState` tells each process its share).

Image `i` is drawn with a generator seeded from `(seed, i)` alone ([`prompt_seed`]), in the batch
`[i - i % batch_size, ...)` of the whole prompt list, and batch `b` belongs to process `b % num_processes`. The
batches, and so the images, are the same whatever the number of processes: a run over 2 processes writes the same
bytes as a run over 1. Each process logs to its own index file; a resumed run (any number of processes) reads them all
and draws only the images none of them holds.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from tqdm.auto import tqdm

from .image_store import ImageStore


def prompt_seed(seed: int, index: int) -> int:
    """The seed of image `index`: a function of the base seed and the index alone (numpy's `SeedSequence`, whose
    outputs are well mixed for neighbouring inputs), so an image does not depend on the batch it was drawn in."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1, dtype=np.uint64)[0])


def process_state(device=None):
    """accelerate's `PartialState` (one process unless launched with `accelerate launch` / `torchrun`). Processes
    that generate on the CPU (`device`, default: the CPU when no GPU is present) form a CPU group (gloo)."""
    from accelerate import PartialState

    on_cpu = torch.device(device).type == "cpu" if device is not None else not torch.cuda.is_available()
    return PartialState(cpu=on_cpu)


def batches_of_process(num_prompts: int, batch_size: int, process_index: int, num_processes: int) -> list[list[int]]:
    """The batches of prompt indices that process `process_index` draws: every `num_processes`-th batch of the whole
    list, so the batches do not depend on the number of processes."""
    starts = range(process_index * batch_size, num_prompts, batch_size * num_processes)
    return [list(range(start, min(start + batch_size, num_prompts))) for start in starts]


def open_store(directory: str, settings: dict, state=None) -> ImageStore:
    """The store of `directory` for this process: the main process checks (or writes) the settings first."""
    state = state if state is not None else process_state()
    with state.main_process_first():
        return ImageStore(directory, settings=settings, process_index=state.process_index)


def generate_into_store(
    pipeline,
    prompts: list[str],
    store: ImageStore,
    *,
    seed: int,
    batch_size: int,
    pipeline_kwargs: dict,
    progress_bar: bool = True,
    state=None,
    transform=None,
) -> int:
    """Draw this process's share of the images `store` does not hold; return how many this process drew. All the
    processes' images are in `store` when it returns (it waits for the others and re-reads their logs).
    `transform` (*optional*) maps each PIL image before it is stored (e.g. an upscale)."""
    state = state if state is not None else process_state()
    own = batches_of_process(len(prompts), batch_size, state.process_index, state.num_processes)
    pending = [[index for index in batch if index not in store] for batch in own]
    pending = [batch for batch in pending if batch]
    drawn = 0
    with tqdm(
        total=sum(len(batch) for batch in pending),
        desc=f"text-to-image (process {state.process_index})" if state.num_processes > 1 else "text-to-image",
        unit="image",
        disable=not progress_bar,
    ) as progress:
        for indices in pending:
            started = time.perf_counter()
            seeds = [prompt_seed(seed, index) for index in indices]
            # CPU generators: the random numbers are the same on every device.
            generators = [torch.Generator().manual_seed(value) for value in seeds]
            batch_prompts = [prompts[index] for index in indices]
            images = pipeline(batch_prompts, generator=generators, **pipeline_kwargs).images
            if transform is not None:
                images = [transform(image) for image in images]
            seconds = (time.perf_counter() - started) / len(indices)
            records = [
                {"index": index, "prompt": prompt, "seed": value, "seconds": round(seconds, 6)}
                for index, prompt, value in zip(indices, batch_prompts, seeds)
            ]
            store.add_batch(images, records)
            drawn += len(indices)
            progress.update(len(indices))
    state.wait_for_everyone()
    store.reload()
    return drawn


def check_stored_prompts(store: ImageStore, prompts: list[str], source: str) -> None:
    """A resumed run must have the same prompt at every index it reuses."""
    for index, prompt in enumerate(prompts):
        if index in store and store.records[index]["prompt"] != prompt:
            raise ValueError(
                f"Image {index} in {store.directory!r} was drawn for the prompt {store.records[index]['prompt']!r}, "
                f"but prompt {index} of {source} is {prompt!r}: the prompts changed. Use another output directory."
            )


__all__ = [
    "batches_of_process",
    "check_stored_prompts",
    "generate_into_store",
    "open_store",
    "process_state",
    "prompt_seed",
]
