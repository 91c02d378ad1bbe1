# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The paper's evaluation protocols as resumable recipes, also run by `cm3leon eval text-to-image|captioning|vqa`.

- `text_to_image.py`       zero-shot text-to-image (MS-COCO FID-30K): best-of-N, retrieval, FID, CLIPScore
- `captioning.py`          captioning, CIDEr-D
- `vqa.py`                 visual question answering, VQAv2 accuracy
- `image_to_text.py`       what captioning and VQA share: batched deterministic text generation, predictions log
- `image_store.py`         ImageStore: generated images on disk with their index, what makes text-to-image resumable
- `record_log.py`          the append-only JSON-lines log and the settings check behind every resumable run
- `resize.py`              the resize protocol of FID (center crop + Lanczos), applied to both sides
- `feature_extractors.py`  FID features: Inception, a tiny random net for tests, or any module
- `example_data.py`        captioning / VQA examples from a .jsonl file, a folder or a datasets.Dataset
- `results.py`             the results JSON: metrics, protocol, every setting, models, counts, timings, versions
- `config.py`              the settings every recipe shares
- `cli.py`                 `add_eval_parser`, the `cm3leon eval` command

Example:

```python
>>> from transformers_cm3leon.evaluation import TextToImageEvalConfig, run_text_to_image_eval

>>> config = TextToImageEvalConfig(
...     model="path/to/cm3leon", prompts="coco_val2014_captions_30k.csv", output_dir="runs/coco-fid",
...     reference_dir="coco/val2014", inception_weights="weights-inception-2015-12-05-6726825d.pth",
... )
>>> run_text_to_image_eval(config)["metrics"]["fid"]
```
"""

from .batch_generation import generate_into_store, prompt_seed
from .captioning import CaptioningEvalConfig, run_captioning_eval
from .cli import add_eval_parser
from .config import EvaluationConfig
from .feature_extractors import RandomConvFeatureExtractor, load_feature_extractor
from .image_store import ImageStore
from .image_to_text import ImageToTextEvalConfig
from .record_log import RecordLog, check_run_settings
from .resize import center_crop_lanczos, resize_protocol
from .results import build_results, package_versions, write_results
from .text_to_image import TextToImageEvalConfig, read_prompts, run_text_to_image_eval
from .vqa import VQAEvalConfig, run_vqa_eval

__all__ = [
    "CaptioningEvalConfig",
    "EvaluationConfig",
    "ImageStore",
    "ImageToTextEvalConfig",
    "RandomConvFeatureExtractor",
    "RecordLog",
    "TextToImageEvalConfig",
    "VQAEvalConfig",
    "add_eval_parser",
    "build_results",
    "center_crop_lanczos",
    "check_run_settings",
    "load_feature_extractor",
    "package_versions",
    "generate_into_store",
    "prompt_seed",
    "read_prompts",
    "resize_protocol",
    "run_captioning_eval",
    "run_text_to_image_eval",
    "run_vqa_eval",
    "write_results",
]
