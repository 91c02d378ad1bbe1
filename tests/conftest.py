import os
import sys

import pytest
import torch
from transformers import pipeline

from transformers_cm3leon.generation import text_generation_config
from transformers_cm3leon.testing_utils import get_tiny_cm3leon

# The recipes of the shipped models (recipes/cm3leon_emoji, recipes/cm3leon_mini) are importable as packages.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "recipes"))

# Tiny test models are dominated by per-op overhead: one thread is faster than two and keeps timings stable on a
# shared 2-core CI machine.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def model_folder(tmp_path_factory):
    """A saved tiny random CM3Leon (model, tokenizer, image processor, VQ) for the pipeline and evaluation tests.

    Untied embeddings and a wider init than the default 0.02: the random model then writes varied text (rather than
    repeating its last input token) and has sharp enough logits for prompts and guidance to change its samples.
    Captions and answers end at <eoss> (or </s>), without image tokens: CM3Leon's text generation config.
    """
    model, processor = get_tiny_cm3leon(seed=0, tie_word_embeddings=False, initializer_range=0.3)
    model.generation_config = text_generation_config(model.config, model.generation_config)
    folder = tmp_path_factory.mktemp("tiny-cm3leon")
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def text_to_image(model_folder):
    pipe = pipeline("text-to-image", model=model_folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    return pipe
