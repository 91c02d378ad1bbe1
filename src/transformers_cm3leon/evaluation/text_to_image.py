# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Zero-shot text-to-image evaluation as for MS-COCO FID-30K: one image per caption, drawn as the CLIP best of N
samples, optionally with retrieved documents in the prompt; FID against the reference images (both resized by the
same protocol) and, optionally, CLIPScore against the prompts.

Images are kept on disk as they are finished ([`ImageStore`]), and image `i` is drawn from its own seed (derived
from the base seed and `i`), so an interrupted run continues where it stopped and ends with what an uninterrupted
run would have given; a longer prompt list reuses the images of a shorter one.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import PIL.Image
import torch
from tqdm.auto import tqdm

from ..generation.configuration import DECODING_STRATEGIES
from ..generation.sampling import DEFAULT_GUIDANCE_SCALE
from .batch_generation import check_stored_prompts, generate_into_store, open_store, process_state
from .config import (
    EvaluationConfig,
    check_choice,
    check_non_negative_int,
    check_number,
    check_optional_str,
    check_positive_int,
    device_and_dtype,
    local_path_or_id,
    model_name,
    setting,
)
from .feature_extractors import INCEPTION, load_feature_extractor
from .resize import DEFAULT_EVAL_RESOLUTION, center_crop_lanczos, resize_protocol
from .results import build_results, write_results

FID_30K_NUM_PROMPTS = 30_000
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


@dataclasses.dataclass(kw_only=True)
class TextToImageEvalConfig(EvaluationConfig):
    """Settings of the text-to-image recipe ([`run_text_to_image_eval`]); each is also a `cm3leon eval text-to-image`
    option (`num_prompts` -> `--num-prompts`)."""

    prompts: str = setting(
        help="CSV file of prompts, e.g. benchmarks/data/coco_val2014_captions_30k.csv (30,000 MS-COCO val2014 "
        "captions, the FID-30K prompt list of GigaGAN and LlamaGen; built by benchmarks/data/build_coco_30k.py).",
        required_on_command_line=True,
    )
    prompt_column: str = setting("Prompt", help="Column of the CSV that holds the prompts.")
    num_prompts: int | None = setting(
        None, help="Evaluate the first N prompts of the file (default: all). The row index seeds the image."
    )
    reference_dir: str | None = setting(
        None, help="Folder of real images for FID, e.g. COCO val2014 (searched recursively). Without it: no FID."
    )
    num_reference_images: int | None = setting(
        None, help="Use the first N reference images in sorted path order (default: all)."
    )
    eval_resolution: int = setting(
        DEFAULT_EVAL_RESOLUTION, help="Both sides are center-cropped and Lanczos-resized to this size for the metrics."
    )
    num_samples: int = setting(
        1, help="Samples per prompt; with N > 1 the one with the best CLIP score is kept (the paper's FID: 8)."
    )
    rerank_model: str | None = setting(
        None,
        help="CLIP model (folder or Hub id) that picks the best of --num-samples, e.g. openai/clip-vit-large-patch14.",
    )
    retriever: str | None = setting(None, help="A CM3LeonRetriever folder (saved with save_pretrained).")
    num_retrieved_docs: int = setting(
        0, help="Retrieved documents in each prompt (the paper evaluates 0, 1 and 2); > 0 needs --retriever."
    )
    guidance_scale: float = setting(DEFAULT_GUIDANCE_SCALE, help="Classifier-free guidance scale (1 = none).")
    decoding_strategy: str = setting(
        "sample",
        help="Image-token decoding: top-p/top-k sampling, CD-K, or half of each.",
        choices=DECODING_STRATEGIES,
    )
    temperature: float = setting(1.0, help="Sampling temperature.")
    top_k: int | None = setting(None, help="Top-k sampling.")
    top_p: float | None = setting(None, help="Top-p (nucleus) sampling.")
    cd_top_k: int | None = setting(None, help="K of contrastive decoding (cd-k and mixture).")
    cd_alpha: float | None = setting(None, help="Alpha of contrastive decoding (cd-k and mixture).")
    seed: int = setting(0, help="Base seed: image i is drawn with a generator seeded from (seed, i).")
    fid_feature_extractor: str = setting(
        INCEPTION,
        help="FID features: 'inception' (standard; needs --inception-weights), 'random-conv' (tiny random net for "
        "smoke tests, NOT comparable with published FIDs) or 'package.module:name' (a torch.nn.Module).",
    )
    inception_weights: str | None = setting(
        None,
        help="torch-fidelity's weights-inception-2015-12-05-6726825d.pth (default: $CM3LEON_FID_INCEPTION_WEIGHTS, "
        "then torch.hub's cache).",
    )
    clip_score_model: str | None = setting(
        None, help="CLIP model (folder or Hub id) for CLIPScore of the images against their prompts (default: none)."
    )
    clip_score_prefix: str = setting(
        "", help="Text put before every prompt for CLIPScore (GigaGAN / LlamaGen use 'A photo depicts ')."
    )
    metric_batch_size: int = setting(50, help="Images per forward pass of the metrics' models.")
    num_workers: int = setting(4, help="Threads that read and resize reference images.")

    def __post_init__(self):
        super().__post_init__()
        if not isinstance(self.prompts, (str, os.PathLike)) or not os.fspath(self.prompts):
            raise TypeError(f"`prompts` must be the path of a CSV file, got {self.prompts!r}.")
        self.prompts = os.fspath(self.prompts)
        if not isinstance(self.prompt_column, str) or not self.prompt_column:
            raise TypeError(f"`prompt_column` must be a non-empty string, got {self.prompt_column!r}.")
        check_positive_int("num_prompts", self.num_prompts, allow_none=True)
        check_optional_str("reference_dir", self.reference_dir)
        check_positive_int("num_reference_images", self.num_reference_images, allow_none=True)
        check_positive_int("eval_resolution", self.eval_resolution)
        check_positive_int("num_samples", self.num_samples)
        check_optional_str("rerank_model", self.rerank_model)
        check_optional_str("retriever", self.retriever)
        check_non_negative_int("num_retrieved_docs", self.num_retrieved_docs)
        check_number("guidance_scale", self.guidance_scale, 0)
        check_choice("decoding_strategy", self.decoding_strategy, DECODING_STRATEGIES)
        check_number("temperature", self.temperature, 0, exclusive=True)
        check_positive_int("top_k", self.top_k, allow_none=True)
        check_number("top_p", self.top_p, 0, allow_none=True, exclusive=True)
        if self.top_p is not None and self.top_p > 1:
            raise ValueError(f"`top_p` must be a number in (0, 1], got {self.top_p!r}.")
        check_positive_int("cd_top_k", self.cd_top_k, allow_none=True)
        check_number("cd_alpha", self.cd_alpha, 0, allow_none=True)
        if self.cd_alpha is not None and self.cd_alpha > 1:
            raise ValueError(f"`cd_alpha` must be a number in [0, 1], got {self.cd_alpha!r}.")
        if self.decoding_strategy == "cd-k" and (self.top_k is not None or self.top_p is not None):
            raise ValueError("`top_k` / `top_p` filter 'sample' draws; with decoding_strategy='cd-k' they are unused.")
        if self.decoding_strategy == "sample" and (self.cd_top_k is not None or self.cd_alpha is not None):
            raise ValueError("`cd_top_k` / `cd_alpha` set CD-K; use decoding_strategy='cd-k' or 'mixture'.")
        check_non_negative_int("seed", self.seed)
        if not isinstance(self.fid_feature_extractor, str) or not self.fid_feature_extractor:
            raise TypeError(f"`fid_feature_extractor` must be a non-empty string, got {self.fid_feature_extractor!r}.")
        check_optional_str("inception_weights", self.inception_weights)
        check_optional_str("clip_score_model", self.clip_score_model)
        if not isinstance(self.clip_score_prefix, str):
            raise TypeError(f"`clip_score_prefix` must be a string, got {self.clip_score_prefix!r}.")
        check_positive_int("metric_batch_size", self.metric_batch_size)
        check_positive_int("num_workers", self.num_workers)
        # Settings that would be ignored are errors.
        if self.reference_dir is None:
            for name, default in (("num_reference_images", None), ("fid_feature_extractor", INCEPTION)):
                if getattr(self, name) != default:
                    raise ValueError(f"`{name}` sets up FID, which needs `reference_dir` (the real images).")
        if self.inception_weights is not None and self.fid_feature_extractor != INCEPTION:
            raise ValueError(
                f"`inception_weights` are the weights of the 'inception' feature extractor, but "
                f"`fid_feature_extractor` is {self.fid_feature_extractor!r}."
            )


def read_prompts(
    path: str, column: str = "Prompt", num_prompts: int | None = None, name: str = "prompts"
) -> list[str]:
    """The prompts of a CSV file (its `column`) or a `.txt` file (one per line): the first `num_prompts` (all by
    default). `name` is the argument that gave `path`, for error messages."""
    if not os.path.isfile(path):
        raise ValueError(f"`{name}`={path!r} is not a file; pass the CSV (or .txt) file of prompts.")
    with open(path, newline="", encoding="utf-8") as file:
        if path.lower().endswith(".txt"):
            rows, where = (line.rstrip("\r\n") for line in file), "line"
        else:
            reader = csv.DictReader(file)
            if reader.fieldnames is None or column not in reader.fieldnames:
                raise ValueError(
                    f"The prompt file {path!r} has no column {column!r} (`prompt_column`); its columns are "
                    f"{reader.fieldnames or []}."
                )
            rows, where = (row[column] for row in reader), "row"
        prompts = []
        for prompt in rows:
            if num_prompts is not None and len(prompts) == num_prompts:
                break
            if not prompt or not prompt.strip():
                raise ValueError(f"Prompt {len(prompts)} ({where} {len(prompts) + 1}) of {path!r} is empty.")
            prompts.append(prompt)
    if num_prompts is not None and len(prompts) < num_prompts:
        raise ValueError(f"`num_prompts`={num_prompts}, but {path!r} holds only {len(prompts)} prompts.")
    if not prompts:
        raise ValueError(f"The prompt file {path!r} holds no prompts.")
    return prompts


def list_reference_images(directory: str, num_images: int | None = None) -> list[str]:
    """The image files under `directory` (recursively), in sorted path order; the first `num_images` of them."""
    if not os.path.isdir(directory):
        raise ValueError(f"`reference_dir`={directory!r} is not a folder; pass the folder of real images.")
    paths = sorted(
        str(path) for path in Path(directory).rglob("*") if path.suffix.lower() in IMAGE_EXTENSIONS and path.is_file()
    )
    if num_images is not None:
        if len(paths) < num_images:
            raise ValueError(
                f"`num_reference_images`={num_images}, but `reference_dir`={directory!r} holds {len(paths)} images."
            )
        paths = paths[:num_images]
    if len(paths) < 2:
        raise ValueError(
            f"`reference_dir`={directory!r} holds {len(paths)} images ({', '.join(IMAGE_EXTENSIONS)}); FID needs at "
            "least 2."
        )
    return paths


def _load_resized(path: str, resolution: int) -> PIL.Image.Image:
    with PIL.Image.open(path) as image:
        return center_crop_lanczos(image, resolution)


def _batches(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _object_name(value) -> str:
    if hasattr(value, "config") or hasattr(value, "name_or_path"):
        return model_name(value)
    return type(value).__name__


class _TextToImageRun:
    """One run of the recipe: checks, then generation, then metrics."""

    def __init__(self, config, pipeline, retriever, rerank, clip_score, fid_feature_extractor):
        self.config = config
        self.device, self.dtype = device_and_dtype(config, pipeline.model if pipeline is not None else None)
        self.state = process_state(self.device)
        if pipeline is None and self.state.num_processes > 1 and torch.device(self.device).type != "cpu":
            self.device = str(self.state.device)  # one accelerator per process
        self.timings = {}
        started = time.perf_counter()
        self._check_sources(pipeline, retriever, rerank, clip_score, fid_feature_extractor)

        # Everything that can fail on bad input is checked before the first image is drawn.
        self.prompts = read_prompts(config.prompts, config.prompt_column, config.num_prompts)
        self.reference_paths = None
        self.fid = None
        if config.reference_dir is not None:
            self.reference_paths = list_reference_images(config.reference_dir, config.num_reference_images)
            self.fid = self._build_fid(fid_feature_extractor)
        self.clip_score = self._build_clip_score(clip_score)

        self.pipeline = pipeline if pipeline is not None else self._load_pipeline()
        self.retriever = retriever
        if retriever is None and config.retriever is not None:
            from ..retrieval import CM3LeonRetriever

            self.retriever = CM3LeonRetriever.from_pretrained(config.retriever).to(self.device).eval()
        self.rerank = rerank
        self.models = self._model_names()
        self.store = open_store(config.output_dir, self._generation_settings(), self.state)
        check_stored_prompts(self.store, self.prompts, repr(config.prompts))
        self.timings["setup_s"] = time.perf_counter() - started

    # -- checks -------------------------------------------------------------------------------------------------------
    def _check_sources(self, pipeline, retriever, rerank, clip_score, fid_feature_extractor) -> None:
        """Each model comes either from the config (a name) or as an object, never both, and none is left unused."""
        config = self.config
        pairs = (
            ("model", config.model, "pipeline", pipeline),
            ("retriever", config.retriever, "retriever", retriever),
            ("rerank_model", config.rerank_model, "rerank", rerank),
            ("clip_score_model", config.clip_score_model, "clip_score", clip_score),
        )
        for setting_name, name, argument, value in pairs:
            if name is not None and value is not None:
                raise ValueError(f"Pass either `{setting_name}` in the config or `{argument}=`, not both.")
        if config.model is None and pipeline is None:
            raise ValueError("No model: set `model` (a CM3Leon folder or Hub id) or pass `pipeline=`.")
        if fid_feature_extractor is not None:
            if config.reference_dir is None:
                raise ValueError("`fid_feature_extractor=` sets up FID, which needs `reference_dir`.")
            if config.fid_feature_extractor != INCEPTION or config.inception_weights is not None:
                raise ValueError(
                    "Pass either `fid_feature_extractor=` (a module) or the config's `fid_feature_extractor` / "
                    "`inception_weights`, not both."
                )
        for argument, value in (("rerank", rerank), ("clip_score", clip_score)):
            if value is not None and (not isinstance(value, (tuple, list)) or len(value) != 2):
                raise TypeError(f"`{argument}=` must be a (CLIP model, processor) pair, got {type(value).__name__}.")
        has_retriever = config.retriever is not None or retriever is not None
        if config.num_retrieved_docs > 0 and not has_retriever:
            raise ValueError(
                f"`num_retrieved_docs`={config.num_retrieved_docs} needs a retriever: set `retriever` (a "
                "CM3LeonRetriever folder) or pass `retriever=`."
            )
        if config.num_retrieved_docs == 0 and has_retriever:
            raise ValueError(
                "A retriever was given but `num_retrieved_docs` is 0: set it to 1 or 2, or drop the retriever."
            )
        has_reranker = config.rerank_model is not None or rerank is not None
        if config.num_samples > 1 and not has_reranker:
            raise ValueError(
                f"`num_samples`={config.num_samples} keeps the best sample by CLIP score: set `rerank_model` (e.g. "
                "'openai/clip-vit-large-patch14') or pass `rerank=(clip_model, clip_processor)`."
            )
        if config.num_samples == 1 and has_reranker:
            raise ValueError("A rerank CLIP model was given but `num_samples` is 1: set `num_samples` > 1 or drop it.")
        if config.clip_score_prefix and config.clip_score_model is None and clip_score is None:
            raise ValueError("`clip_score_prefix` applies to CLIPScore: set `clip_score_model` too.")

    # -- models -------------------------------------------------------------------------------------------------------
    def _load_pipeline(self):
        from transformers import pipeline

        return pipeline("text-to-image", model=self.config.model, device=self.device, dtype=self.config.torch_dtype())

    def _build_fid(self, feature_extractor):
        from ..metrics import FID

        config = self.config
        if feature_extractor is None:
            feature_extractor = load_feature_extractor(config.fid_feature_extractor)
        if feature_extractor is None:  # Inception; FID finds the weights or says how to get them
            return FID(
                inception_weights_path=config.inception_weights,
                batch_size=config.metric_batch_size,
                device=self.device,
            )
        return FID(
            feature_extractor=feature_extractor.to(self.device),
            batch_size=config.metric_batch_size,
            device=self.device,
        )

    def _build_clip_score(self, clip_score):
        from ..metrics import CLIPScore

        config = self.config
        if clip_score is not None:
            model, processor = clip_score
            return CLIPScore(model=model, processor=processor, batch_size=config.metric_batch_size, device=self.device)
        if config.clip_score_model is not None:
            return CLIPScore(
                model_name_or_path=config.clip_score_model, batch_size=config.metric_batch_size, device=self.device
            )
        return None

    def _model_names(self) -> dict:
        config = self.config
        names = {"model": local_path_or_id(config.model) if config.model else model_name(self.pipeline.model)}
        names["model_class"] = type(self.pipeline.model).__name__
        if self.retriever is not None:
            names["retriever"] = (
                local_path_or_id(config.retriever) if config.retriever else _object_name(self.retriever)
            )
        if config.num_samples > 1:
            names["rerank_model"] = (
                local_path_or_id(config.rerank_model) if config.rerank_model else _object_name(self.rerank[0])
            )
        if self.clip_score is not None:
            names["clip_score_model"] = self.clip_score.model_name
        if self.fid is not None:
            names["fid_feature_extractor"] = self.fid.feature_extractor_name
        return names

    def _generation_settings(self) -> dict:
        """The settings that determine the images: a resumed run must have the same."""
        config = self.config
        settings = {
            name: getattr(config, name)
            for name in (
                "seed",
                "guidance_scale",
                "decoding_strategy",
                "temperature",
                "top_k",
                "top_p",
                "cd_top_k",
                "cd_alpha",
                "num_samples",
                "num_retrieved_docs",
            )
        }
        settings["dtype"] = self.dtype
        for name in ("model", "rerank_model", "retriever"):
            settings[name] = self.models.get(name)
        return settings

    # -- generation ---------------------------------------------------------------------------------------------------
    def _pipeline_kwargs(self) -> dict:
        config = self.config
        kwargs = {
            "guidance_scale": config.guidance_scale,
            "decoding_strategy": config.decoding_strategy,
            "temperature": config.temperature,
            "output_type": "pil",
            "progress_bar": False,
        }
        for name in ("top_k", "top_p", "cd_top_k", "cd_alpha"):
            if getattr(config, name) is not None:
                kwargs[name] = getattr(config, name)
        if config.num_samples > 1:
            kwargs["rerank"] = config.num_samples
            if self.rerank is not None:
                kwargs["clip_model"], kwargs["clip_processor"] = self.rerank
            else:
                kwargs["clip_model"] = config.rerank_model
        if config.num_retrieved_docs > 0:
            kwargs["retriever"] = self.retriever
            kwargs["num_retrieved_docs"] = config.num_retrieved_docs
        return kwargs

    def generate(self) -> int:
        """Draw every image the store does not hold yet (over all processes); returns how many were drawn."""
        started = time.perf_counter()
        missing = sum(index not in self.store for index in range(len(self.prompts)))
        generate_into_store(
            self.pipeline,
            self.prompts,
            self.store,
            seed=self.config.seed,
            batch_size=self.config.batch_size,
            pipeline_kwargs=self._pipeline_kwargs(),
            progress_bar=self.config.progress_bar,
            state=self.state,
        )
        self.timings["generation_s"] = time.perf_counter() - started
        return missing

    # -- metrics ------------------------------------------------------------------------------------------------------
    def _generated_images(self, indices: list[int]) -> list[PIL.Image.Image]:
        resolution = self.config.eval_resolution
        return [center_crop_lanczos(self.store.load(index), resolution) for index in indices]

    def compute_fid(self) -> dict:
        config = self.config
        started = time.perf_counter()
        indices = list(range(len(self.prompts)))
        resolution = config.eval_resolution
        with (
            ThreadPoolExecutor(config.num_workers) as pool,
            tqdm(
                total=len(self.reference_paths) + len(indices),
                desc="FID features",
                unit="image",
                disable=not config.progress_bar,
            ) as progress,
        ):
            for paths in _batches(self.reference_paths, config.metric_batch_size):
                self.fid.add_batch(references=list(pool.map(lambda path: _load_resized(path, resolution), paths)))
                progress.update(len(paths))
            for chunk in _batches(indices, config.metric_batch_size):
                self.fid.add_batch(predictions=self._generated_images(chunk))
                progress.update(len(chunk))
        result = self.fid.compute()
        self.timings["fid_s"] = time.perf_counter() - started
        return {
            "fid": result["fid"],
            "fid_num_generated": result["num_generated"],
            "fid_num_real": result["num_real"],
            "fid_feature_extractor": result["feature_extractor"],
        }

    def compute_clip_score(self) -> dict:
        config = self.config
        started = time.perf_counter()
        indices = list(range(len(self.prompts)))
        for chunk in _batches(indices, config.metric_batch_size):
            texts = [config.clip_score_prefix + self.prompts[index] for index in chunk]
            self.clip_score.add_batch(predictions=self._generated_images(chunk), references=texts)
        result = self.clip_score.compute()
        self.timings["clip_score_s"] = time.perf_counter() - started
        return {
            "clip_score": result["clip_score"],
            "clip_s": result["clip_s"],
            "clip_mean_cosine": result["mean_cosine"],
        }

    # -- results ------------------------------------------------------------------------------------------------------
    def protocol(self) -> dict:
        config = self.config
        standard = self.fid is not None and self.fid.feature_extractor_name == "inception-v3-compat"
        notes = []
        if self.fid is not None and not standard:
            notes.append(
                f"FID features from {self.fid.feature_extractor_name}, not Inception-v3: NOT comparable with "
                "published FIDs."
            )
        if self.fid is not None and len(self.prompts) != FID_30K_NUM_PROMPTS:
            notes.append(
                f"FID of {len(self.prompts)} images; FID depends on the number of images (it falls as it grows), so "
                f"only FID-30K ({FID_30K_NUM_PROMPTS} prompts) compares with published zero-shot MS-COCO numbers."
            )
        return {
            "name": f"zero-shot text-to-image FID-{len(self.prompts)}",
            "fid_comparable_with_published": standard and len(self.prompts) == FID_30K_NUM_PROMPTS,
            "resize": resize_protocol(config.eval_resolution),
            "prompt_selection": "the first num_prompts rows of the prompt file; row i is image i",
            "sampling": (
                f"image i: {config.num_samples} sample(s) drawn with torch.Generator().manual_seed(s_i), s_i = "
                "numpy.random.SeedSequence([seed, i]).generate_state(1, uint64)[0]"
                + ("; the one with the best CLIP score against its prompt is kept" if config.num_samples > 1 else "")
            ),
            "clip_score": "torchmetrics CLIPScore = max(100 * mean cosine, 0); clip_s = mean(2.5 * max(cosine, 0))",
            "notes": notes,
        }

    def results(self, metrics: dict, num_generated: int) -> dict:
        config = self.config
        records = [self.store.records[index] for index in range(len(self.prompts))]
        generation_seconds = sum(record["seconds"] for record in records)
        counts = {
            "prompts": len(self.prompts),
            "images": len(records),
            "generated_this_run": num_generated,
            "reused_from_earlier_runs": len(records) - num_generated,
            "samples_per_image": config.num_samples,
            "reference_images": len(self.reference_paths) if self.reference_paths is not None else 0,
        }
        timings = {
            **self.timings,
            "generation_s_all_runs": generation_seconds,
            "seconds_per_image": generation_seconds / len(records),
        }
        settings = {**config.to_dict(), "device": self.device, "dtype": self.dtype}
        return build_results("text-to-image", metrics, settings, self.models, counts, timings, self.protocol())


def run_text_to_image_eval(
    config: TextToImageEvalConfig,
    *,
    pipeline=None,
    retriever=None,
    rerank=None,
    clip_score=None,
    fid_feature_extractor: torch.nn.Module | None = None,
) -> dict:
    """Run the text-to-image recipe: generate (or reuse) one image per prompt, then compute the metrics, write the
    results JSON and return it.

    Models are named in `config` and loaded here, or passed already loaded (one way or the other for each):

    Args:
        config ([`TextToImageEvalConfig`]): The settings.
        pipeline (*optional*): A loaded `pipeline("text-to-image", ...)`, instead of `config.model`.
        retriever (*optional*): A [`CM3LeonRetriever`] (or any object with `retrieve(texts=..., k=...)`), instead of
            `config.retriever`.
        rerank (`tuple`, *optional*): `(clip_model, clip_processor)` for best-of-N, instead of `config.rerank_model`.
        clip_score (`tuple`, *optional*): `(clip_model, clip_processor)` for CLIPScore, instead of
            `config.clip_score_model`.
        fid_feature_extractor (`torch.nn.Module`, *optional*): FID features (uint8 `(N, 3, H, W)` -> `(N, D)`),
            instead of `config.fid_feature_extractor`.

    Run over several processes (`accelerate launch -m cm3leon_cli eval text-to-image ...`), each draws its share of
    the images (the same images as one process would, byte for byte); the main process computes the metrics.

    Returns:
        `dict`: the results (also written to `config.results_file`, by default `output_dir/results.json`): `metrics`
        (`fid`, `clip_score`, ... as computed), `protocol`, `settings`, `models`, `counts`, `timings`, `versions`.
        `None` in the processes other than the main one.
    """
    if not isinstance(config, TextToImageEvalConfig):
        raise TypeError(f"`config` must be a TextToImageEvalConfig, got {type(config).__name__}.")
    started = time.perf_counter()
    run = _TextToImageRun(config, pipeline, retriever, rerank, clip_score, fid_feature_extractor)
    num_generated = run.generate()
    if not run.state.is_main_process:  # the images are shared; the metrics are computed once
        return None
    metrics = {}
    if run.fid is not None:
        metrics.update(run.compute_fid())
    if run.clip_score is not None:
        metrics.update(run.compute_clip_score())
    run.timings["total_s"] = time.perf_counter() - started
    results = run.results(metrics, num_generated)
    write_results(results, config.results_path())
    return results


__all__ = [
    "TextToImageEvalConfig",
    "list_reference_images",
    "read_prompts",
    "run_text_to_image_eval",
]
