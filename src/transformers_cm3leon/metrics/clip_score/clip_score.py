# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""CLIPScore of images against texts with any transformers CLIP model, computed by torchmetrics.

This file is a self-contained `evaluate` module: `evaluate.load("<path>/metrics/clip_score")` copies it alone.
"""

import itertools

import datasets
import evaluate
import numpy as np
import PIL.Image
import torch
from torchmetrics.multimodal.clip_score import CLIPScore as TorchMetricsCLIPScore
from transformers import AutoModel, AutoProcessor

DEFAULT_MODEL = "openai/clip-vit-large-patch14"  # torchmetrics' default

_CITATION = """\
@inproceedings{hessel2021clipscore,
  title={CLIPScore: A Reference-free Evaluation Metric for Image Captioning},
  author={Hessel, Jack and Holtzman, Ari and Forbes, Maxwell and Le Bras, Ronan and Choi, Yejin},
  booktitle={EMNLP},
  year={2021}
}
"""

_DESCRIPTION = """\
CLIPScore: how well images match texts, from the cosine similarity of their CLIP embeddings. Two scales are reported
from the same forward passes:

- `clip_score`: torchmetrics' CLIPScore, max(100 * mean(cos), 0), the mean taken over all examples before clipping.
- `clip_s`: CLIP-S of Hessel et al. (2021), mean(2.5 * max(cos, 0)), clipped per example. The texts are used as
  given (Hessel et al. prefix captions with "A photo depicts"; add it yourself to reproduce their numbers).

The two differ only when some cosines are negative. GigaGAN and LlamaGen report the plain mean cosine of CLIP ViT-B/32
(`mean_cosine`). Always state the CLIP model: scores of different models are not comparable.

Any transformers model with `get_image_features` and `get_text_features` works (CLIPModel, and others with the
same interface); transformers 5 returns output objects from these methods, which torchmetrics 1.9 cannot read, so
the model is wrapped to return the embedding tensors. Images are processed as they arrive (nothing is written to
evaluate's cache). Inputs: PIL images, uint8 or [0, 1] float numpy arrays (H, W, 3) or tensors (3, H, W), or one
(N, H, W, 3) array or (N, 3, H, W) tensor; floats become uint8 by rounding x * 255.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: the images (see the description for the accepted types).
    references (`list[str]`): one text per image (the prompt of a generated image, or a caption).
    return_per_example (`bool`, defaults to `False`): also return the cosine of every pair.
Returns:
    `clip_score` (`float`): torchmetrics' scale, max(100 * mean(cos), 0).
    `clip_s` (`float`): Hessel et al.'s scale, mean(2.5 * max(cos, 0)).
    `mean_cosine` (`float`): mean(cos).
    `num_examples` (`int`): the number of image-text pairs.
    `cosine_per_example` (`list[float]`): with `return_per_example=True`.
Examples:
    >>> clip_score = evaluate.load("metrics/clip_score", model_name_or_path="openai/clip-vit-base-patch32")
    >>> clip_score.compute(predictions=images, references=prompts)["clip_score"]
"""


def _as_uint8(image: torch.Tensor, name: str) -> torch.Tensor:
    if image.dtype == torch.uint8:
        return image
    if not image.is_floating_point():
        raise TypeError(f"`{name}` must hold uint8 or floating-point values, got dtype {image.dtype}.")
    low, high = image.min().item(), image.max().item()
    if low < 0 or high > 1:
        raise ValueError(f"`{name}` is a float image, so its values must lie in [0, 1]; they lie in [{low}, {high}].")
    return (image * 255).round().to(torch.uint8)


# The two converters below are the same as in fid.py: each evaluate module must be a single file.
def _to_uint8_image(image, name: str) -> torch.Tensor:
    """One image as a (3, H, W) uint8 tensor."""
    if isinstance(image, PIL.Image.Image):
        return torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1)
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[-1] != 3:
            raise ValueError(f"`{name}` is a numpy image, so it must have shape (H, W, 3); got {image.shape}.")
        return _as_uint8(torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1), name)
    if isinstance(image, torch.Tensor):
        if image.ndim != 3 or image.shape[0] != 3:
            raise ValueError(f"`{name}` is a tensor image, so it must have shape (3, H, W); got {tuple(image.shape)}.")
        return _as_uint8(image, name)
    raise TypeError(f"`{name}` must be a PIL image, a numpy array or a torch tensor, got {type(image).__name__}.")


def _to_uint8_images(images, name: str) -> list:
    """A batch of images as a list of (3, H, W) uint8 tensors."""
    if isinstance(images, (np.ndarray, torch.Tensor)):
        if images.ndim != 4:
            raise ValueError(
                f"`{name}` must be a batch: a list of images, an (N, H, W, 3) array or an (N, 3, H, W) tensor; "
                f"got an array of shape {tuple(images.shape)}."
            )
        images = list(images)
    elif not isinstance(images, (list, tuple)):
        raise TypeError(f"`{name}` must be a list of images, an array or a tensor, got {type(images).__name__}.")
    return [_to_uint8_image(image, f"{name}[{index}]") for index, image in enumerate(images)]


def _to_texts(texts, name: str) -> list:
    if isinstance(texts, str) or not isinstance(texts, (list, tuple)):
        raise TypeError(f"`{name}` must be a list of strings, got {type(texts).__name__}.")
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"`{name}[{index}]` must be a string, got {type(text).__name__}.")
    return list(texts)


def _embeddings(output) -> torch.Tensor:
    return output if isinstance(output, torch.Tensor) else output.pooler_output


class CLIPFeatureAdapter(torch.nn.Module):
    """Presents a transformers CLIP model the way torchmetrics' CLIPScore calls it.

    `get_image_features` / `get_text_features` return embedding tensors (transformers 5 returns output objects whose
    `pooler_output` holds them), and the adapter keeps the last embeddings, from which the per-example cosines
    (needed for CLIP-S, which clips each example) are computed without a second forward pass.
    """

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model
        self.config = model.config
        self.last_image_embeddings = None
        self.last_text_embeddings = None

    def get_image_features(self, pixel_values):
        self.last_image_embeddings = _embeddings(self.model.get_image_features(pixel_values=pixel_values))
        return self.last_image_embeddings

    def get_text_features(self, input_ids, attention_mask=None):
        output = self.model.get_text_features(input_ids=input_ids, attention_mask=attention_mask)
        self.last_text_embeddings = _embeddings(output)
        return self.last_text_embeddings


def _module_device(module: torch.nn.Module) -> torch.device:
    tensor = next(itertools.chain(module.parameters(), module.buffers()), None)
    return tensor.device if tensor is not None else torch.device("cpu")


class CLIPScore(evaluate.Metric):
    """CLIPScore of images against texts. See `_DESCRIPTION`.

    Args:
        model_name_or_path (`str`, *optional*): a Hub id or local directory holding a CLIP model and its processor.
            Defaults to torchmetrics' default, "openai/clip-vit-large-patch14", when `model` is not given.
        model (`transformers.PreTrainedModel`, *optional*): a loaded CLIP model (e.g. `CLIPModel`).
        processor (`transformers.ProcessorMixin`, *optional*): its processor; required with `model`.
        batch_size (`int`, defaults to 64): pairs per forward pass.
        device (`str` or `torch.device`, *optional*): where embeddings are computed; defaults to the model's device.
        **kwargs: passed to `evaluate.Metric` (e.g. `experiment_id`).
    """

    def __init__(
        self,
        model_name_or_path=None,
        model=None,
        processor=None,
        batch_size=64,
        device=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if self.num_process != 1:
            raise ValueError(
                f"`num_process` must be 1 for CLIPScore, got {self.num_process}: scores are accumulated in a "
                "torchmetrics state, which synchronises across torch.distributed processes by itself."
            )
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"`batch_size` must be a positive integer, got {batch_size!r}.")
        self.batch_size = batch_size
        if model is None:
            if processor is not None:
                raise ValueError("`processor` was given without `model`; pass both, or `model_name_or_path` alone.")
            model_name_or_path = model_name_or_path or DEFAULT_MODEL
            try:
                model = AutoModel.from_pretrained(model_name_or_path)
                processor = AutoProcessor.from_pretrained(model_name_or_path)
            except (OSError, ValueError) as error:  # missing files; a folder without a known model type
                raise OSError(
                    f"Could not load a CLIP model and processor from `model_name_or_path`={model_name_or_path!r}. "
                    "Offline, pass a local directory (saved with save_pretrained) or objects as `model=` and "
                    "`processor=`."
                ) from error
        elif processor is None:
            raise ValueError("`model` was given without `processor`; CLIPScore needs both.")
        elif model_name_or_path is not None:
            raise ValueError("Pass either `model_name_or_path` or `model` and `processor`, not both.")
        for method in ("get_image_features", "get_text_features"):
            if not callable(getattr(model, method, None)):
                raise TypeError(
                    f"`model` must have a `{method}` method like CLIPModel; {type(model).__name__} has not."
                )
        self.model_name = getattr(model.config, "_name_or_path", "") or type(model).__name__
        self.device = torch.device(device) if device is not None else _module_device(model)
        self._adapter = CLIPFeatureAdapter(model.eval())
        self._clip_score = TorchMetricsCLIPScore(model_name_or_path=lambda: (self._adapter, processor))
        self._clip_score.to(self.device)
        self._cosines = []

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Image(), "references": datasets.Value("string")}),
            codebase_urls=["https://github.com/Lightning-AI/torchmetrics", "https://github.com/jmhessel/clipscore"],
            reference_urls=["https://arxiv.org/abs/2104.08718"],
        )

    def _update(self, images: list, texts: list) -> None:
        for start in range(0, len(images), self.batch_size):
            batch = [image.to(self.device) for image in images[start : start + self.batch_size]]
            self._clip_score.update(batch, texts[start : start + self.batch_size])
            cosines = torch.nn.functional.cosine_similarity(
                self._adapter.last_image_embeddings.double(), self._adapter.last_text_embeddings.double(), dim=-1
            )
            self._cosines.extend(cosines.tolist())

    def add_batch(self, *, predictions=None, references=None):
        """Add a batch of images (`predictions`) with one text each (`references`)."""
        images = _to_uint8_images(predictions, "predictions")
        texts = _to_texts(references, "references")
        if len(images) != len(texts):
            raise ValueError(f"Got {len(images)} images (`predictions`) but {len(texts)} texts (`references`).")
        self._update(images, texts)

    def add(self, *, prediction=None, reference=None):
        """Add one image (`prediction`) with its text (`reference`)."""
        self.add_batch(predictions=[prediction], references=[reference])

    def compute(self, *, predictions=None, references=None, return_per_example=False):
        """Add the given pairs, return the scores of everything added, and clear the added pairs."""
        if predictions is not None or references is not None:
            self.add_batch(predictions=predictions, references=references)
        if not self._cosines:
            raise ValueError("CLIPScore has no image-text pairs: pass `predictions` and `references`.")
        cosines = self._cosines
        result = {
            "clip_score": float(self._clip_score.compute()),
            "clip_s": sum(2.5 * max(cosine, 0.0) for cosine in cosines) / len(cosines),
            "mean_cosine": sum(cosines) / len(cosines),
            "num_examples": len(cosines),
        }
        if return_per_example:
            result["cosine_per_example"] = list(cosines)
        self._clip_score.reset()
        self._cosines = []
        return result

    def _compute(self, predictions=None, references=None):
        raise NotImplementedError("CLIPScore overrides `compute`; images never reach evaluate's cache.")
