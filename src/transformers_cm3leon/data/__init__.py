# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Training data for CM3Leon: from dataset rows to CM3-masked token blocks.

A typical pipeline, each step a batched `datasets.map` except the last:

1. `ImagePretokenizer`: image columns -> image token ids, once.
2. `SFTExampleBuilder` (SFT task templates of the paper's Table 5) or `RetrievalAugmentedExampleBuilder`
   (retrieval-augmented pretraining examples): rows -> `input_ids` in the paper's `</s> ... <break> ... </s>` layout.
3. `mix_datasets`: several tasks with the paper's 3 / 0.3 up/down-sampling caps.
4. `DocumentPacker`: documents -> blocks of `block_size` tokens.
5. `DataCollatorForCM3`: the CM3 causal-masking objective, applied afresh to each block of each batch.
"""

from .cm3_masking import (
    CM3MaskedRow,
    CM3Masking,
    DataCollatorForCM3,
    apply_cm3_spans,
    sample_cm3_spans,
)
from .document import Document, DocumentEncoder, join_segments
from .image_tokenization import ImagePretokenizer, decode_image
from .mixing import compute_mixing_probabilities, mix_datasets
from .packing import DocumentPacker
from .retrieval_augmentation import (
    RetrievalAugmentedExampleBuilder,
    build_retrieval_augmented_document,
    build_retrieval_augmented_input_ids,
)
from .sft_templates import (
    SFT_TEMPLATE_VARIANTS,
    SFT_TEMPLATES,
    ImageSlot,
    SFTExampleBuilder,
    SFTTemplate,
    TemplateFieldError,
    format_grounding_objects,
    get_sft_template,
)
from .skipping import SkipCounter

__all__ = [
    "CM3MaskedRow",
    "CM3Masking",
    "DataCollatorForCM3",
    "Document",
    "DocumentEncoder",
    "DocumentPacker",
    "ImagePretokenizer",
    "ImageSlot",
    "decode_image",
    "RetrievalAugmentedExampleBuilder",
    "SFTExampleBuilder",
    "SFTTemplate",
    "SFT_TEMPLATES",
    "SFT_TEMPLATE_VARIANTS",
    "SkipCounter",
    "TemplateFieldError",
    "apply_cm3_spans",
    "build_retrieval_augmented_document",
    "build_retrieval_augmented_input_ids",
    "compute_mixing_probabilities",
    "format_grounding_objects",
    "get_sft_template",
    "join_segments",
    "mix_datasets",
    "sample_cm3_spans",
]
