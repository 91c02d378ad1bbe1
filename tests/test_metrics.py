# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Tests of the evaluate modules in transformers_cm3leon.metrics, against values computed by hand or by the reference
implementations (pycocoevalcap, GT-Vision-Lab/VQA vqaEval.py, Stanford PTBTokenizer)."""

import importlib.util
import json
import math
import os
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import numpy as np
import PIL.Image
import pytest
import torch

from transformers_cm3leon import metrics
from transformers_cm3leon.metrics import (
    FID,
    INCEPTION_WEIGHTS_ENV,
    CIDEr,
    CLIPScore,
    VQAAccuracy,
    normalize_answer,
    ptb_tokenize,
    resolve_inception_weights,
)
from transformers_cm3leon.metrics.cider.cider import cider_d
from transformers_cm3leon.metrics.fid.fid import INCEPTION_WEIGHTS_FILENAME
from transformers_cm3leon.testing_utils import get_tiny_clip

# ---------------------------------------------------------------------------------------------------------------
# CIDEr-D
# ---------------------------------------------------------------------------------------------------------------

# Outputs of Stanford CoreNLP 3.4.1's PTBTokenizer (the jar in pycocoevalcap 1.2, run with Java 17 as COCOEvalCap
# runs it: -preserveLines -lowerCase) followed by pycocoevalcap's punctuation filter.
PTB_CASES = [
    ("A man's hat, (red) and \"blue\" -- isn't it?", "a man 's hat -lrb- red -rrb- and blue is n't it"),
    ("Don't go... we're here; they've gone: I'm done!", "do n't go we 're here they 've gone i 'm done"),
    (
        "A street sign for Davis St. and Third Ave. with a skyscraper behind.",
        "a street sign for davis st. and third ave. with a skyscraper behind",
    ),
    (
        "A cooler with several bottles of S. Pellegrino sparkling water.",
        "a cooler with several bottles of s. pellegrino sparkling water",
    ),
    (
        "a living room with a t.v. and  a bunch of chairs in it.",
        "a living room with a t.v. and a bunch of chairs in it",
    ),
    (
        "Mr. and Mrs. Santa Clause standing on the side of a road.",
        "mr. and mrs. santa clause standing on the side of a road",
    ),
    ("A black-and-white photo of a close-up t-shirt.", "a black-and-white photo of a close-up t-shirt"),
    (
        "Two persons are practicing surfing on sand.One man is standing nearby.",
        "two persons are practicing surfing on sand.one man is standing nearby",
    ),
    (
        "A cat sleeping in a person's lap; the cat's also on this person's laptop.",
        "a cat sleeping in a person 's lap the cat 's also on this person 's laptop",
    ),
    (
        "It's 5 o'clock and the clock says 4:38, not 1,000 or 3.5.",
        "it 's 5 o'clock and the clock says 4:38 not 1,000 or 3.5",
    ),
    ("A vintage STOP sign in black & white and AT&T", "a vintage stop sign in black & white and at&t"),
    ("The room/dining area of the 1920's house", "the room/dining area of the 1920 's house"),
    (
        "Outside view of a cafe' with \u201cquotes\u201d and dog\u2019s bowl\u2026",
        "outside view of a cafe with quotes and dog 's bowl",
    ),
    ("A sign: No. 5 and a dog cannot go", "a sign no. 5 and a dog can not go"),
    ("Wow!! Really?!", "wow !! really ?!"),
    (
        "The giraffe (left) eats [leaves] {fast}",
        "the giraffe -lrb- left -rrb- eats -lsb- leaves -rsb- -lcb- fast -rcb-",
    ),
    ("View of a public men's' room, the boys' school", "view of a public men 's room the boys school"),
    ("Students in the U.S. e.g. at Penn. and pa.", "students in the u.s. e.g. at penn. and pa"),
    (
        "A man is leaning over a fence offering food to an elephant/",
        "a man is leaning over a fence offering food to an elephant /",
    ),
    ("CAN'T STOP WON'T STOP", "ca n't stop wo n't stop"),
    ("A sign that reads K. A dog", "a sign that reads k a dog"),
    # At the end of a caption, the jar looks into the next caption; one starting with "A" splits the period off.
    ("A sign that reads K.", "a sign that reads k"),
]


@pytest.mark.parametrize("caption, expected", PTB_CASES)
def test_ptb_tokenize_matches_stanford_ptbtokenizer(caption, expected):
    assert " ".join(ptb_tokenize(caption)) == expected


# Candidates: the first six captions of pycocoevalcap's example/captions_val2014_fakecap_results.json; references
# written for this test. Expected values computed once with pycocoevalcap 1.2 (`pip download pycocoevalcap`):
# PTBTokenizer().tokenize on gts and res (the Java jar, Java 17), then Cider().compute_score(gts, res).
CIDER_CANDIDATES = [
    "black and white photo of a man standing in front of a building",
    "group of people are on the side of a snowy field",
    "train traveling down a train station",
    "red fire hydrant sitting on a park bench in front of a road",
    "black and white cat is sitting on top of a wooden bench",
    "baseball player swinging a bat at a game",
]
CIDER_REFERENCES = [
    [
        "A black-and-white photo of a man in front of an old building.",
        "An old photograph shows a man standing outside a brick building.",
        "A man stands in front of a building, in black and white.",
        "Black & white image of a man posing near a building's door",
        "A vintage picture of a gentleman by the entrance of a house.",
    ],
    [
        "A group of people standing on a snowy field.",
        "Skiers gather at the side of a snow-covered slope.",
        "Several people in winter clothes on the snow!",
        "People are standing around in the snow near some trees.",
        "A crowd of skiers and snowboarders at the bottom of a hill",
    ],
    [
        "A train pulling into a train station.",
        "A passenger train is stopped at the station platform.",
        "The train travels down the tracks past a station.",
        "A red and white train at a station (next to a platform).",
        "Commuters wait as a train arrives at the station",
    ],
    [
        "A red fire hydrant next to a park bench by the road.",
        "A fire hydrant sitting on the sidewalk in front of a road.",
        "A red hydrant near a bench in a park.",
        "There's a fire hydrant on the side of the street.",
        "A bench and a fire hydrant on a city sidewalk.",
    ],
    [
        "A black and white cat sitting on a wooden bench.",
        "A cat is sitting on top of a bench outside.",
        "The black-and-white cat rests on the park bench.",
        "A cat sits on a wooden bench in the sun",
        "A kitty perched on a bench, looking at the camera.",
    ],
    [
        "A baseball player swinging a bat at a ball.",
        "A batter swings at the pitch during a baseball game.",
        "The man is swinging his bat at home plate.",
        "A baseball player at bat during a game.",
        "A batter hitting the ball in front of the catcher and umpire.",
    ],
]
PYCOCOEVALCAP_CIDER = 2.1013243852577452
PYCOCOEVALCAP_CIDER_PER_IMAGE = [
    2.0555313153814403,
    1.3827667020984213,
    1.318571014242429,
    2.656411701814073,
    2.6862820341447073,
    2.5083835438654,
]


def test_cider_matches_pycocoevalcap_on_coco_example():
    result = CIDEr().compute(predictions=CIDER_CANDIDATES, references=CIDER_REFERENCES, return_per_example=True)
    assert result["cider"] == pytest.approx(PYCOCOEVALCAP_CIDER, rel=1e-12)
    assert result["cider_per_example"] == pytest.approx(PYCOCOEVALCAP_CIDER_PER_IMAGE, rel=1e-12)


def test_cider_matches_pycocoevalcap_scorer_on_random_sentences():
    # Runs where pycocoevalcap is installed (it is not a dependency): its scorer is pure Python.
    scorer_module = pytest.importorskip("pycocoevalcap.cider.cider_scorer")
    rng = np.random.default_rng(0)
    words = list("abcdef")
    for _ in range(50):
        num_images = int(rng.integers(2, 6))
        candidates = [" ".join(rng.choice(words, int(rng.integers(0, 9)))) for _ in range(num_images)]
        references = [
            [" ".join(rng.choice(words, int(rng.integers(1, 9)))) for _ in range(int(rng.integers(1, 4)))]
            for _ in range(num_images)
        ]
        scorer = scorer_module.CiderScorer(n=4, sigma=6.0)
        for candidate, refs in zip(candidates, references):
            scorer += (candidate, refs)
        _, expected = scorer.compute_score()
        ours = cider_d([c.split() for c in candidates], [[r.split() for r in refs] for refs in references])
        np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-15)


def test_cider_identical_candidate_and_reference():
    # Images share no n-gram, so every idf is log(2); identical sentences have cosine 1 at each order that has
    # n-grams: 10 for 4+ words, 10 * 3/4 for 3 words (no 4-gram).
    cider = CIDEr()
    four_words = cider.compute(predictions=["a b c d", "e f g h"], references=[["a b c d"], ["e f g h"]])
    assert four_words["cider"] == pytest.approx(10.0, rel=1e-12)
    three_words = cider.compute(predictions=["a b c", "e f g"], references=[["a b c"], ["e f g"]])
    assert three_words["cider"] == pytest.approx(7.5, rel=1e-12)


def test_cider_clipped_counts_by_hand():
    # n = 1, all idf log(2) =: L. Image 1: candidate {a: 2L}, reference {a: L, b: L}; the clipped dot product is
    # min(2L, L) * L = L^2, over norms 2L and sqrt(2) L: 1 / (2 sqrt(2)) (unclipped it would be 1 / sqrt(2)).
    result = CIDEr().compute(
        predictions=["a a", "c"], references=[["a b"], ["c"]], n=1, tokenize=False, return_per_example=True
    )
    assert result["cider_per_example"] == pytest.approx([10 / (2 * math.sqrt(2)), 10.0], rel=1e-12)


def test_cider_length_penalty_by_hand():
    # n = 2, all idf log(2). Candidate "x y" vs reference "x y z": unigram cosine 2 / sqrt(6), bigram cosine
    # 1 / sqrt(2); one bigram against two, so the penalty is exp(-1 / (2 * 6^2)).
    result = CIDEr().compute(predictions=["x y", "p q"], references=[["x y z"], ["p q"]], n=2, return_per_example=True)
    expected = 10 * (2 / math.sqrt(6) + 1 / math.sqrt(2)) / 2 * math.exp(-1 / 72)
    assert result["cider_per_example"] == pytest.approx([expected, 10.0], rel=1e-12)


def test_cider_single_image_scores_zero():
    # idf = log(1) - log(df) = 0 for every n-gram when only one image is evaluated, as in pycocoevalcap.
    assert CIDEr().compute(predictions=["a cat"], references=[["a cat"]])["cider"] == 0.0


def test_cider_tokenize_false_splits_on_spaces_only():
    # "a" occurs in both images' references, so its idf is 0; "cat", "a cat", "dog", "a dog" match: 10 * 2/4 each.
    # Without tokenization "A" and "cat." match nothing and the first image scores 0.
    default = CIDEr().compute(predictions=["A cat.", "a dog"], references=[["a cat"], ["a dog"]])
    tokenized = CIDEr().compute(predictions=["A cat.", "a dog"], references=[["a cat"], ["a dog"]], tokenize=False)
    assert default["cider"] == pytest.approx(5.0, rel=1e-12)
    assert tokenized["cider"] == pytest.approx(2.5, rel=1e-12)


def test_cider_rejects_bad_input():
    with pytest.raises(ValueError, match=r"references\[1\]"):
        CIDEr().compute(predictions=["a", "b"], references=[["a"], []])
    with pytest.raises(ValueError, match="`n`"):
        CIDEr().compute(predictions=["a", "b"], references=[["a"], ["b"]], n=0)


# ---------------------------------------------------------------------------------------------------------------
# VQA accuracy
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("matches, expected", [(0, 0.0), (1, 0.3), (2, 0.6), (3, 0.9), (4, 1.0), (10, 1.0)])
def test_vqa_accuracy_leave_one_out(matches, expected):
    # m of 10 answers match: m subsets hold m - 1 matches, 10 - m hold m; e.g. m = 3: (3 * 2/3 + 7 * 1) / 10.
    answers = ["cat"] * matches + ["dog"] * (10 - matches)
    result = VQAAccuracy().compute(predictions=["cat"], references=[answers])
    assert result["accuracy"] == pytest.approx(expected, abs=1e-12)


# Outputs of vqaEval.py's processPunctuation then processDigitArticle.
@pytest.mark.parametrize(
    "answer, normalized",
    [
        ("Two", "2"),
        ("yes.", "yes"),
        ("Yes", "yes"),
        ("dont", "don't"),
        ("isnt", "isn't"),
        ("the red car!", "red car"),
        ("a man's hat", "man's hat"),
        ("black/white", "black white"),
        ("black / white", "black white"),
        ("(red)", "red"),
        ("1,000 dogs.", "1000 dogs"),
        ("3.5", "3.5"),
        ("ten", "10"),
        ("none", "0"),
        ("  an apple\n", "apple"),
        ("u.s.", "us"),
    ],
)
def test_vqa_normalization(answer, normalized):
    assert normalize_answer(answer) == normalized


def test_vqa_accuracy_matches_official_evaluation():
    # Accuracies computed with GT-Vision-Lab/VQA vqaEval.py (commit a013f00, ported to Python 3 by fixing its print
    # statements); in each question the human answers disagree, so vqaEval.py normalises.
    cases = [
        ("Two", ["2", "2", "two", "3", "3", "3", "3", "3", "3", "3"], 0.9),
        ("yes.", ["yes", "Yes", "no", "no", "no", "no", "no", "no", "no", "no"], 0.6),
        ("dont know", ["don't know", "dont know", "no", "no", "no", "no", "no", "no", "no", "no"], 0.6),
        (
            "black/white",
            ["black and white", "black white", "black", "black", "black", "white", "a", "b", "c", "d"],
            0.3,
        ),
        ("1,000", ["1000", "1000", "1000", "1000", "100", "100", "100", "100", "100", "100"], 1.0),
        ("The Dog!", ["dog", "dog", "the dog", "a dog", "cat", "cat", "cat", "cat", "cat", "cat"], 1.0),
    ]
    predictions, references, expected = zip(*cases)
    for normalization in ("always", "vqaeval"):
        result = VQAAccuracy().compute(
            predictions=list(predictions),
            references=list(references),
            normalization=normalization,
            return_per_example=True,
        )
        assert result["accuracy_per_example"] == pytest.approx(list(expected), abs=1e-12)
        assert result["accuracy"] == pytest.approx(sum(expected) / len(expected), abs=1e-12)


def test_vqa_normalization_modes():
    # vqaEval.py normalises only when the human answers disagree; "always" normalises every question.
    vqa = VQAAccuracy()
    answers = [["yes"] * 10]
    assert vqa.compute(predictions=["Yes."], references=answers)["accuracy"] == 1.0
    assert vqa.compute(predictions=["Yes."], references=answers, normalization="vqaeval")["accuracy"] == 0.0
    disagreeing = [["yes"] * 9 + ["no"]]
    assert vqa.compute(predictions=["Yes."], references=disagreeing, normalization="vqaeval")["accuracy"] == 1.0


def test_vqa_rejects_bad_input():
    with pytest.raises(ValueError, match=r"references\[0\]"):
        VQAAccuracy().compute(predictions=["yes"], references=[["yes"]])
    with pytest.raises(ValueError, match="normalization"):
        VQAAccuracy().compute(predictions=["yes"], references=[["yes", "no"]], normalization="lenient")


# ---------------------------------------------------------------------------------------------------------------
# FID
# ---------------------------------------------------------------------------------------------------------------

PROJECTION = np.random.default_rng(0).standard_normal((12, 4))


class PooledProjection(torch.nn.Module):
    """Features: the 2x2 average-pooled pixels in [0, 1], times a fixed 12 x 4 matrix."""

    num_features = 4

    def __init__(self):
        super().__init__()
        self.register_buffer("projection", torch.tensor(PROJECTION, dtype=torch.float32))

    def forward(self, images):
        pooled = torch.nn.functional.adaptive_avg_pool2d(images.float() / 255, 2)
        return pooled.flatten(1) @ self.projection


def _features_by_hand(images):
    features = []
    for image in images:  # (H, W, 3) uint8, H and W even
        height, width, _ = image.shape
        pooled = image.astype(np.float64).reshape(2, height // 2, 2, width // 2, 3).mean(axis=(1, 3)) / 255
        features.append(pooled.transpose(2, 0, 1).reshape(12) @ PROJECTION)
    return np.stack(features)


def _frechet_distance_by_hand(features_1, features_2):
    mu_1, mu_2 = features_1.mean(0), features_2.mean(0)
    sigma_1, sigma_2 = np.cov(features_1, rowvar=False), np.cov(features_2, rowvar=False)
    # Tr sqrtm(S1 S2) = Tr sqrtm(S1^1/2 S2 S1^1/2), a symmetric PSD matrix: the sum of the roots of its eigenvalues.
    eigenvalues, eigenvectors = np.linalg.eigh(sigma_1)
    root_1 = eigenvectors @ np.diag(np.sqrt(np.clip(eigenvalues, 0, None))) @ eigenvectors.T
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh(root_1 @ sigma_2 @ root_1), 0, None)).sum()
    return float(((mu_1 - mu_2) ** 2).sum() + np.trace(sigma_1) + np.trace(sigma_2) - 2 * trace_sqrt)


def _image_sets():
    rng = np.random.default_rng(1)
    real = rng.integers(0, 256, (10, 16, 16, 3), dtype=np.uint8)
    generated = np.clip(rng.normal(150, 40, (12, 16, 16, 3)), 0, 255).astype(np.uint8)
    return real, generated


def test_fid_matches_hand_computed_frechet_distance():
    real, generated = _image_sets()
    expected = _frechet_distance_by_hand(_features_by_hand(generated), _features_by_hand(real))
    result = FID(feature_extractor=PooledProjection()).compute(predictions=generated, references=real)
    assert result["fid"] == pytest.approx(expected, rel=1e-4)
    assert expected > 0.1
    assert result["num_generated"] == 12 and result["num_real"] == 10
    assert result["feature_extractor"] == "PooledProjection"


def test_fid_accepts_every_image_format_and_streams():
    real, generated = _image_sets()
    fid = FID(feature_extractor=PooledProjection(), batch_size=4)
    reference = fid.compute(predictions=generated, references=real)["fid"]
    formats = {
        "pil": ([PIL.Image.fromarray(image) for image in generated], [PIL.Image.fromarray(image) for image in real]),
        "uint8 tensor": (torch.from_numpy(generated).permute(0, 3, 1, 2), torch.from_numpy(real).permute(0, 3, 1, 2)),
        "float tensor": (
            torch.from_numpy(generated).permute(0, 3, 1, 2) / 255,
            [torch.from_numpy(image).permute(2, 0, 1) / 255 for image in real],
        ),
        "float array": (generated / 255.0, list(real)),
    }
    for name, (predictions, references) in formats.items():
        assert fid.compute(predictions=predictions, references=references)["fid"] == pytest.approx(
            reference, rel=1e-6
        ), name
    for start in range(0, 12, 5):
        fid.add_batch(predictions=generated[start : start + 5])
    for image in real:
        fid.add(reference=image)
    assert fid.compute()["fid"] == pytest.approx(reference, rel=1e-6)


def test_fid_mixes_image_sizes():
    real, generated = _image_sets()
    large = np.random.default_rng(2).integers(0, 256, (3, 24, 20, 3), dtype=np.uint8)
    mixed = [generated[0], large[0], generated[1], large[1], large[2], *generated[2:]]
    expected = _frechet_distance_by_hand(_features_by_hand(mixed), _features_by_hand(real))
    result = FID(feature_extractor=PooledProjection(), batch_size=4).compute(predictions=mixed, references=real)
    assert result["fid"] == pytest.approx(expected, rel=1e-4)


def test_fid_keeps_real_statistics_when_asked():
    real, generated = _image_sets()
    fid = FID(feature_extractor=PooledProjection(), reset_real_features=False)
    first = fid.compute(predictions=generated, references=real)
    second = fid.compute(predictions=generated[::-1])
    assert second["fid"] == pytest.approx(first["fid"], rel=1e-6) and second["num_real"] == 10


def test_fid_rejects_bad_input():
    fid = FID(feature_extractor=PooledProjection())
    real, generated = _image_sets()
    with pytest.raises(ValueError, match=r"predictions\[0\].*\(H, W, 3\)"):
        fid.add_batch(predictions=[generated[0].transpose(2, 0, 1)])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fid.add_batch(predictions=torch.full((2, 3, 8, 8), 2.0))
    with pytest.raises(ValueError, match="must be a batch"):
        fid.add_batch(predictions=generated[0])
    with pytest.raises(TypeError, match="predictions"):
        fid.add_batch(predictions="image.png")
    with pytest.raises(ValueError, match="at least 2 generated and 2 real"):
        FID(feature_extractor=PooledProjection()).compute(predictions=generated, references=real[:1])
    with pytest.raises(ValueError, match="not both"):
        FID(feature_extractor=PooledProjection(), inception_weights_path="weights.pth")
    with pytest.raises(ValueError, match="antialias"):
        FID(feature_extractor=PooledProjection(), antialias=True)


def test_fid_inception_weights_resolution(tmp_path, monkeypatch):
    monkeypatch.delenv(INCEPTION_WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    assert resolve_inception_weights() is None
    cached = tmp_path / "hub" / "checkpoints" / INCEPTION_WEIGHTS_FILENAME
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"")
    assert resolve_inception_weights() == str(cached)
    from_env = tmp_path / "env.pth"
    from_env.write_bytes(b"")
    monkeypatch.setenv(INCEPTION_WEIGHTS_ENV, str(from_env))
    assert resolve_inception_weights() == str(from_env)
    from_argument = tmp_path / "argument.pth"
    from_argument.write_bytes(b"")
    assert resolve_inception_weights(str(from_argument)) == str(from_argument)
    with pytest.raises(FileNotFoundError, match="inception_weights_path"):
        resolve_inception_weights(str(tmp_path / "missing.pth"))
    monkeypatch.setenv(INCEPTION_WEIGHTS_ENV, str(tmp_path / "missing.pth"))
    with pytest.raises(FileNotFoundError, match=INCEPTION_WEIGHTS_ENV):
        resolve_inception_weights()


def test_fid_without_features_explains_how_to_get_the_weights(tmp_path, monkeypatch):
    monkeypatch.delenv(INCEPTION_WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(ValueError) as error:
        FID()
    message = str(error.value)
    assert "feature_extractor=" in message and INCEPTION_WEIGHTS_ENV in message
    assert "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/" + INCEPTION_WEIGHTS_FILENAME in message


@pytest.mark.skipif(importlib.util.find_spec("torch_fidelity") is not None, reason="torch-fidelity is installed")
def test_fid_standard_features_need_torch_fidelity(tmp_path, monkeypatch):
    weights = tmp_path / INCEPTION_WEIGHTS_FILENAME
    torch.save({"conv.weight": torch.zeros(1)}, weights)
    monkeypatch.setenv(INCEPTION_WEIGHTS_ENV, str(weights))
    with pytest.raises(ImportError, match="pip install torch-fidelity"):
        FID()


def test_fid_refuses_weights_that_are_not_a_state_dict(tmp_path):
    # torch-fidelity unpickles the file with weights_only=False; anything but tensors is refused before that.
    weights = tmp_path / "pickled_object.pth"
    torch.save({"conv.weight": torch.zeros(1), "extra": SimpleNamespace(a=1)}, weights)
    with pytest.raises(ValueError, match="weights_only=True"):
        FID(inception_weights_path=str(weights))
    weights.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="weights_only=True"):
        FID(inception_weights_path=str(weights))


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("torch_fidelity") is None or resolve_inception_weights() is None,
    reason="needs torch-fidelity and the Inception weights (CM3LEON_FID_INCEPTION_WEIGHTS)",
)
def test_fid_standard_inception_features():
    real, generated = _image_sets()
    fid = FID()
    same = fid.compute(predictions=real, references=real)
    different = fid.compute(predictions=generated, references=real)
    assert same["feature_extractor"] == "inception-v3-compat"
    assert abs(same["fid"]) < 1e-2 < different["fid"]


# ---------------------------------------------------------------------------------------------------------------
# CLIPScore
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_clip():
    return get_tiny_clip(seed=0)


CLIP_TEXTS = ["a cat", "dog on a mat", "zebra", "red bus", "a b c", "the sky"]


def _clip_images():
    return np.random.default_rng(0).integers(0, 256, (6, 40, 48, 3), dtype=np.uint8)


def _cosines_by_hand(model, processor, images, texts):
    with torch.no_grad():
        pixels = processor(images=[torch.from_numpy(image).permute(2, 0, 1) for image in images], return_tensors="pt")
        tokens = processor(text=texts, return_tensors="pt", padding=True)
        image_embeddings = model.get_image_features(pixel_values=pixels["pixel_values"]).pooler_output
        text_embeddings = model.get_text_features(
            input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"]
        ).pooler_output
    image_embeddings = image_embeddings / image_embeddings.norm(dim=-1, keepdim=True)
    text_embeddings = text_embeddings / text_embeddings.norm(dim=-1, keepdim=True)
    return (image_embeddings * text_embeddings).sum(-1).double().numpy()


def test_clip_score_matches_hand_computed_cosines(tiny_clip):
    model, processor = tiny_clip
    images = _clip_images()
    cosines = _cosines_by_hand(model, processor, images, CLIP_TEXTS)
    result = CLIPScore(model=model, processor=processor, batch_size=4).compute(
        predictions=images, references=CLIP_TEXTS, return_per_example=True
    )
    np.testing.assert_allclose(result["cosine_per_example"], cosines, atol=1e-5)
    assert result["clip_score"] == pytest.approx(max(100 * cosines.mean(), 0), abs=1e-3)
    assert result["clip_s"] == pytest.approx(np.mean(2.5 * np.clip(cosines, 0, None)), abs=1e-5)
    assert result["mean_cosine"] == pytest.approx(cosines.mean(), abs=1e-5)
    assert result["num_examples"] == 6


class _FixedEmbeddingsCLIP(torch.nn.Module):
    """Image embedding (1, 0); text embedding (0.6, 0.8) for texts starting with "+", else (-0.8, 0.6)."""

    config = SimpleNamespace()

    def get_image_features(self, pixel_values):
        return torch.tensor([[1.0, 0.0]]).expand(len(pixel_values), 2)

    def get_text_features(self, input_ids, attention_mask=None):
        positive = input_ids[:, :1].float()
        return positive * torch.tensor([0.6, 0.8]) + (1 - positive) * torch.tensor([-0.8, 0.6])


def _fixed_processor(images=None, text=None, return_tensors=None, padding=None):
    if images is not None:
        return {"pixel_values": torch.stack([image.float() for image in images])}
    input_ids = torch.tensor([[int(t.startswith("+"))] for t in text])
    return {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}


def test_clip_score_scales_by_hand():
    # Cosines 0.6 and -0.8: torchmetrics clips the mean, max(100 * -0.1, 0) = 0; CLIP-S clips each example,
    # (2.5 * 0.6 + 0) / 2 = 0.75.
    clip_score = CLIPScore(model=_FixedEmbeddingsCLIP(), processor=_fixed_processor)
    images = np.zeros((2, 4, 4, 3), dtype=np.uint8)
    result = clip_score.compute(predictions=images, references=["+ good", "- bad"], return_per_example=True)
    assert result["cosine_per_example"] == pytest.approx([0.6, -0.8])
    assert result["clip_score"] == 0.0
    assert result["clip_s"] == pytest.approx(0.75)
    assert result["mean_cosine"] == pytest.approx(-0.1)
    only_positive = clip_score.compute(predictions=images[:1], references=["+ good"])
    assert only_positive["clip_score"] == pytest.approx(60.0) and only_positive["clip_s"] == pytest.approx(1.5)


def test_clip_score_rejects_bad_input(tiny_clip, tmp_path):
    model, processor = tiny_clip
    clip_score = CLIPScore(model=model, processor=processor)
    with pytest.raises(ValueError, match="6 images.*2 texts"):
        clip_score.compute(predictions=_clip_images(), references=CLIP_TEXTS[:2])
    with pytest.raises(TypeError, match="references"):
        clip_score.compute(predictions=_clip_images()[:1], references="a cat")
    with pytest.raises(ValueError, match="without `processor`"):
        CLIPScore(model=model)
    with pytest.raises(ValueError, match="not both"):
        CLIPScore(model_name_or_path="openai/clip-vit-base-patch32", model=model, processor=processor)
    with pytest.raises(OSError, match="model_name_or_path"):
        CLIPScore(model_name_or_path=str(tmp_path))


# ---------------------------------------------------------------------------------------------------------------
# Loading through evaluate
# ---------------------------------------------------------------------------------------------------------------


def test_metrics_load_through_evaluate(tiny_clip):
    model, processor = tiny_clip
    cider = metrics.load("cider")
    assert cider.compute(predictions=CIDER_CANDIDATES, references=CIDER_REFERENCES)["cider"] == pytest.approx(
        PYCOCOEVALCAP_CIDER, rel=1e-12
    )
    vqa = metrics.load("vqa_accuracy")
    assert vqa.compute(predictions=["Two"], references=[["2", "2", "2", "3", "3"]])["accuracy"] == pytest.approx(0.8)
    real, generated = _image_sets()
    fid = metrics.load("fid", feature_extractor=PooledProjection())
    assert fid.compute(predictions=generated, references=real)["fid"] == pytest.approx(
        FID(feature_extractor=PooledProjection()).compute(predictions=generated, references=real)["fid"]
    )
    clip_score = metrics.load("clip_score", model=model, processor=processor)
    cosines = _cosines_by_hand(model, processor, _clip_images(), CLIP_TEXTS)
    assert clip_score.compute(predictions=_clip_images(), references=CLIP_TEXTS)["mean_cosine"] == pytest.approx(
        cosines.mean(), abs=1e-5
    )
    # The modules evaluate loads are copies of the package's files, not the package's classes.
    assert type(cider).__name__ == "CIDEr" and type(cider) is not CIDEr
    with pytest.raises(ValueError, match="Unknown metric"):
        metrics.load("bleu")


def test_metrics_load_offline_in_a_fresh_process(tiny_clip, tmp_path):
    # A fresh interpreter with HF_HUB_OFFLINE=1 (read by huggingface_hub at import) and the CLIP model loaded from a
    # local directory: nothing may touch the network.
    model, processor = tiny_clip
    model.save_pretrained(tmp_path / "clip")
    processor.save_pretrained(tmp_path / "clip")
    script = textwrap.dedent(
        f"""
        import json
        import numpy as np
        import torch
        from transformers_cm3leon import metrics

        class Mean(torch.nn.Module):
            num_features = 3
            def forward(self, images):
                return images.float().mean(dim=(2, 3))

        rng = np.random.default_rng(0)
        images = rng.integers(0, 256, (4, 16, 16, 3), dtype=np.uint8)
        out = {{
            "cider": metrics.load("cider").compute(predictions=["a b c d", "e f g h"], references=[["a b c d"], ["e f g h"]])["cider"],
            "vqa": metrics.load("vqa_accuracy").compute(predictions=["two"], references=[["2"] * 10])["accuracy"],
            "fid": metrics.load("fid", feature_extractor=Mean()).compute(predictions=images, references=images)["fid"],
            "clip": metrics.load("clip_score", model_name_or_path={str(tmp_path / "clip")!r}).compute(
                predictions=images, references=["a", "b", "c", "d"])["num_examples"],
        }}
        print(json.dumps(out))
        """
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    completed = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    out = json.loads(completed.stdout.strip().splitlines()[-1])
    assert out["cider"] == pytest.approx(10.0) and out["vqa"] == 1.0 and out["clip"] == 4
    assert abs(out["fid"]) < 1e-3
