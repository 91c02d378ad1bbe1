# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Frechet Inception Distance between generated and real images, computed by torchmetrics.

This file is a self-contained `evaluate` module: `evaluate.load("<path>/metrics/fid")` copies it alone.
"""

import importlib.util
import itertools
import os

import datasets
import evaluate
import numpy as np
import PIL.Image
import torch
from torchmetrics.image.fid import FrechetInceptionDistance

INCEPTION_WEIGHTS_ENV = "CM3LEON_FID_INCEPTION_WEIGHTS"
INCEPTION_WEIGHTS_FILENAME = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_WEIGHTS_URL = (
    f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{INCEPTION_WEIGHTS_FILENAME}"
)

_CITATION = """\
@inproceedings{heusel2017gans,
  title={GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium},
  author={Heusel, Martin and Ramsauer, Hubert and Unterthiner, Thomas and Nessler, Bernhard and Hochreiter, Sepp},
  booktitle={NeurIPS},
  year={2017}
}
"""

_DESCRIPTION = f"""\
FID: the Frechet distance between Gaussians fitted to features of generated and real images,
||mu_g - mu_r||^2 + Tr(S_g + S_r - 2 (S_g S_r)^(1/2)), computed by torchmetrics' FrechetInceptionDistance.

The two sets need not be paired nor of equal size, and each needs at least 2 images. Images are reduced to features
as they arrive (nothing is written to evaluate's cache), so `add_batch` can stream 30,000 images.

Features:
- Standard FID: the 2048-d pool3 features of the TF 2015-12-05 Inception-v3 graph, as converted by torch-fidelity
  ({INCEPTION_WEIGHTS_FILENAME}), with torch-fidelity's TF1-compatible bilinear resize to 299x299 (set
  `antialias=True` for torchmetrics' default antialiased resize instead). Needs `pip install torch-fidelity` and the
  weights file, found in this order: `inception_weights_path=`, the environment variable {INCEPTION_WEIGHTS_ENV},
  torch.hub's cache ($TORCH_HOME/hub/checkpoints/). Nothing is downloaded. Get the file on a machine with internet
  access from {INCEPTION_WEIGHTS_URL}
- Any feature extractor: `feature_extractor=` a torch.nn.Module mapping uint8 images (N, 3, H, W) to (N, D)
  features (set a `num_features` attribute to skip the trial forward pass torchmetrics otherwise runs). It is put
  in eval mode. FIDs from different extractors are not comparable.

Inputs: PIL images (converted to RGB), uint8 or [0, 1] float numpy arrays (H, W, 3), uint8 or [0, 1] float tensors
(3, H, W), or a batch as one (N, H, W, 3) array or (N, 3, H, W) tensor. Floats become uint8 by rounding x * 255.
Images of different sizes may be mixed; they are batched by size.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: the generated images (see the description for the accepted types).
    references: the real images. With `reset_real_features=False` they are kept after `compute`, so later calls can
        pass only new predictions.
Returns:
    `fid` (`float`): the Frechet distance (lower is better).
    `num_generated`, `num_real` (`int`): the sizes of the two sets.
    `feature_extractor` (`str`): "inception-v3-compat" for standard FID, else the class name of the extractor.
Examples:
    >>> fid = evaluate.load("metrics/fid", inception_weights_path="weights-inception-2015-12-05-6726825d.pth")
    >>> fid.add_batch(references=real_images)
    >>> fid.compute(predictions=generated_images)["fid"]
"""


def resolve_inception_weights(path=None):
    """Path of the standard Inception weights: `path`, else the environment variable, else torch.hub's cache.

    Returns `None` when none is set and the cache has no copy; raises `FileNotFoundError` for a set path that does not
    exist.
    """
    for source, candidate in (
        ("inception_weights_path", path),
        (INCEPTION_WEIGHTS_ENV, os.environ.get(INCEPTION_WEIGHTS_ENV)),
    ):
        if candidate:
            if not os.path.isfile(candidate):
                raise FileNotFoundError(
                    f"`{source}` is {str(candidate)!r}, which is not a file. Download {INCEPTION_WEIGHTS_URL} there."
                )
            return str(candidate)
    cached = os.path.join(torch.hub.get_dir(), "checkpoints", INCEPTION_WEIGHTS_FILENAME)
    return cached if os.path.isfile(cached) else None


def _check_is_state_dict(path: str) -> None:
    # torch-fidelity reads the file with torch.load(weights_only=False), which runs any pickled code: refuse a file
    # that is not a plain dict of tensors before it gets there.
    try:
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ValueError(
            f"The Inception weights file {path!r} could not be read with torch.load(weights_only=True): {error}. "
            f"Use torch-fidelity's {INCEPTION_WEIGHTS_FILENAME} from {INCEPTION_WEIGHTS_URL}"
        ) from error
    if not isinstance(state_dict, dict) or not all(isinstance(value, torch.Tensor) for value in state_dict.values()):
        raise ValueError(f"The Inception weights file {path!r} must hold a state dict of tensors.")


def _as_uint8(image: torch.Tensor, name: str) -> torch.Tensor:
    if image.dtype == torch.uint8:
        return image
    if not image.is_floating_point():
        raise TypeError(f"`{name}` must hold uint8 or floating-point values, got dtype {image.dtype}.")
    low, high = image.min().item(), image.max().item()
    if low < 0 or high > 1:
        raise ValueError(f"`{name}` is a float image, so its values must lie in [0, 1]; they lie in [{low}, {high}].")
    return (image * 255).round().to(torch.uint8)


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


def _module_device(module: torch.nn.Module) -> torch.device:
    tensor = next(itertools.chain(module.parameters(), module.buffers()), None)
    return tensor.device if tensor is not None else torch.device("cpu")


class FID(evaluate.Metric):
    """Frechet Inception Distance of generated images against real images. See `_DESCRIPTION`.

    Args:
        feature_extractor (`torch.nn.Module`, *optional*): maps uint8 images (N, 3, H, W) to features (N, D). When
            omitted, the standard Inception-v3 features are used.
        inception_weights_path (`str`, *optional*): torch-fidelity's weights-inception-2015-12-05-6726825d.pth.
            Defaults to the environment variable CM3LEON_FID_INCEPTION_WEIGHTS, then torch.hub's cache.
        batch_size (`int`, defaults to 50): images per forward pass of the extractor.
        device (`str` or `torch.device`, *optional*): where features are computed. Defaults to the extractor's
            device, or the CPU for Inception.
        reset_real_features (`bool`, defaults to `True`): when `False`, the real images' statistics survive
            `compute`, so one reference set can score several generated sets.
        antialias (`bool`, *optional*): Inception only. `False` (default) is torch-fidelity's TF1-compatible resize
            of standard FID, `True` torchmetrics' antialiased resize.
        **kwargs: passed to `evaluate.Metric` (e.g. `experiment_id`).
    """

    def __init__(
        self,
        feature_extractor=None,
        inception_weights_path=None,
        batch_size=50,
        device=None,
        reset_real_features=True,
        antialias=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if self.num_process != 1:
            raise ValueError(
                f"`num_process` must be 1 for FID, got {self.num_process}: features are accumulated in a torchmetrics "
                "state, which synchronises across torch.distributed processes by itself."
            )
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"`batch_size` must be a positive integer, got {batch_size!r}.")
        self.batch_size = batch_size

        if feature_extractor is not None:
            if inception_weights_path is not None:
                raise ValueError(
                    "Pass either `feature_extractor` or `inception_weights_path`, not both: the first replaces "
                    "Inception, the second loads it."
                )
            if antialias is not None:
                raise ValueError("`antialias` sets Inception's resize; it does not apply to a `feature_extractor`.")
            if not isinstance(feature_extractor, torch.nn.Module):
                raise TypeError(
                    f"`feature_extractor` must be a torch.nn.Module, got {type(feature_extractor).__name__}."
                )
            feature_extractor.eval()
            self.feature_extractor_name = type(feature_extractor).__name__
            device = device if device is not None else _module_device(feature_extractor)
            self._fid = FrechetInceptionDistance(feature=feature_extractor, reset_real_features=reset_real_features)
        else:
            weights_path = resolve_inception_weights(inception_weights_path)
            if weights_path is None:
                raise ValueError(
                    "FID needs image features and none are available offline. Either pass `feature_extractor=` (any "
                    "torch.nn.Module mapping uint8 images (N, 3, H, W) to features (N, D)), or give the standard "
                    f"Inception-v3 weights, the file {INCEPTION_WEIGHTS_FILENAME}, with `inception_weights_path=` "
                    f"or the environment variable {INCEPTION_WEIGHTS_ENV}. Download them on a machine with internet "
                    f"access: wget {INCEPTION_WEIGHTS_URL}"
                )
            _check_is_state_dict(weights_path)
            if importlib.util.find_spec("torch_fidelity") is None:
                raise ImportError(
                    "The standard Inception features need torch-fidelity (`pip install torch-fidelity`; it also "
                    "installs torchvision, whose version must match torch's). Alternatively pass `feature_extractor=`."
                )
            self.feature_extractor_name = "inception-v3-compat"
            self._fid = FrechetInceptionDistance(
                feature=2048,
                reset_real_features=reset_real_features,
                feature_extractor_weights_path=weights_path,
                antialias=bool(antialias),
            )
        self.device = torch.device(device if device is not None else "cpu")
        self._fid.to(self.device)

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Image(), "references": datasets.Image()}),
            codebase_urls=["https://github.com/Lightning-AI/torchmetrics", "https://github.com/toshas/torch-fidelity"],
            reference_urls=["https://arxiv.org/abs/1706.08500"],
        )

    def _update(self, images: list, real: bool) -> None:
        for start in range(0, len(images), self.batch_size):
            chunk = images[start : start + self.batch_size]
            for _, same_size in itertools.groupby(chunk, key=lambda image: image.shape):
                self._fid.update(torch.stack(list(same_size)).to(self.device), real=real)

    def add_batch(self, *, predictions=None, references=None):
        """Add a batch of generated images (`predictions`) and/or real images (`references`); any sizes."""
        if predictions is not None:
            self._update(_to_uint8_images(predictions, "predictions"), real=False)
        if references is not None:
            self._update(_to_uint8_images(references, "references"), real=True)

    def add(self, *, prediction=None, reference=None):
        """Add one generated image (`prediction`) and/or one real image (`reference`)."""
        if prediction is not None:
            self._update([_to_uint8_image(prediction, "prediction")], real=False)
        if reference is not None:
            self._update([_to_uint8_image(reference, "reference")], real=True)

    def compute(self, *, predictions=None, references=None):
        """Add the given images, return the FID of everything added, and clear the added images."""
        self.add_batch(predictions=predictions, references=references)
        num_generated = int(self._fid.fake_features_num_samples)
        num_real = int(self._fid.real_features_num_samples)
        if num_generated < 2 or num_real < 2:
            raise ValueError(
                f"FID needs at least 2 generated and 2 real images; got {num_generated} generated (`predictions`) "
                f"and {num_real} real (`references`)."
            )
        fid = float(self._fid.compute())
        self._fid.reset()
        return {
            "fid": fid,
            "num_generated": num_generated,
            "num_real": num_real,
            "feature_extractor": self.feature_extractor_name,
        }

    def _compute(self, predictions=None, references=None):
        raise NotImplementedError("FID overrides `compute`; images never reach evaluate's cache.")
