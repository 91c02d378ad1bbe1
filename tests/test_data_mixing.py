# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Multi-task mixing with the paper's 3 / 0.3 up/down-sampling caps."""

from __future__ import annotations

from collections import Counter

import pytest
from datasets import Dataset
from hypothesis import given, settings
from hypothesis import strategies as st

from transformers_cm3leon.data import compute_mixing_probabilities, mix_datasets

sizes = st.dictionaries(st.sampled_from("abcdefgh"), st.integers(1, 3_000_000), min_size=1, max_size=8)


@settings(max_examples=200, deadline=None)
@given(num_examples=sizes, data=st.data())
def test_probabilities_respect_the_caps(num_examples, data):
    weights = data.draw(st.none() | st.fixed_dictionaries({k: st.floats(0.01, 100) for k in num_examples}))
    probabilities = compute_mixing_probabilities(num_examples, weights)
    assert set(probabilities) == set(num_examples)
    assert abs(sum(probabilities.values()) - 1) < 1e-12
    total = sum(num_examples.values())
    for name, probability in probabilities.items():
        ratio = probability / (num_examples[name] / total)
        assert 0.3 - 1e-9 <= ratio <= 3 + 1e-9


def test_probabilities_follow_the_targets_when_the_caps_allow():
    # Natural proportions 0.5 / 0.3 / 0.2; wanted 0.4 / 0.4 / 0.2 is within the caps, so it is met exactly.
    probabilities = compute_mixing_probabilities({"a": 500, "b": 300, "c": 200}, {"a": 2, "b": 2, "c": 1})
    assert probabilities == pytest.approx({"a": 0.4, "b": 0.4, "c": 0.2}, abs=1e-12)
    # Equal targets with the paper's sizes: small tasks are capped at 3x, large ones at 0.3x; the rest share the
    # remaining mass in proportion to their targets.
    num_examples = {"grounding": 3_000_000, "controlnet": 5_600_000, "vqa2": 1_300_000, "scienceqa": 6_000}
    probabilities = compute_mixing_probabilities(num_examples)
    total = sum(num_examples.values())
    ratios = {name: probabilities[name] * total / count for name, count in num_examples.items()}
    assert ratios["scienceqa"] == pytest.approx(3.0)
    assert ratios["controlnet"] > 0.3 and probabilities["grounding"] == pytest.approx(probabilities["vqa2"])
    # Without caps that bind, equal targets give equal probabilities.
    assert compute_mixing_probabilities({"a": 100, "b": 120}) == pytest.approx({"a": 0.5, "b": 0.5})
    # The 0.3 floor binds for a dominant task whose balanced share (1/6) is below 0.3x its natural one.
    tasks = {"big": 10_000_000, **{f"small{i}": 1_000 for i in range(5)}}
    dominant = compute_mixing_probabilities(tasks, max_upsampling=10_000)
    assert dominant["big"] == pytest.approx(0.3 * 10_000_000 / 10_005_000)
    assert dominant["small0"] == pytest.approx((1 - dominant["big"]) / 5)


def test_mix_datasets_samples_with_the_probabilities():
    datasets = {
        "big": Dataset.from_dict({"input_ids": [[1]] * 900}),
        "small": Dataset.from_dict({"input_ids": [[2]] * 100}),
    }
    mixed = mix_datasets(datasets, seed=0)
    assert len(mixed) == 1000  # the natural total by default
    counts = Counter(row[0] for row in mixed["input_ids"])
    probabilities = compute_mixing_probabilities({"big": 900, "small": 100})
    assert probabilities == pytest.approx({"big": 0.7, "small": 0.3})  # small is capped at 3x its 0.1
    assert abs(counts[2] / 1000 - 0.3) < 0.05
    assert mix_datasets(datasets, seed=0)["input_ids"] == mixed["input_ids"]
    assert len(mix_datasets(datasets, num_samples=10, seed=0)) == 10


def test_mixing_errors():
    with pytest.raises(ValueError, match="num_examples"):
        compute_mixing_probabilities({})
    with pytest.raises(ValueError, match=r"num_examples\['a'\]"):
        compute_mixing_probabilities({"a": 0})
    with pytest.raises(ValueError, match="same tasks"):
        compute_mixing_probabilities({"a": 1, "b": 2}, {"a": 1})
    with pytest.raises(ValueError, match=r"target_weights\['b'\]"):
        compute_mixing_probabilities({"a": 1, "b": 2}, {"a": 1, "b": 0})
    with pytest.raises(ValueError, match="caps"):
        compute_mixing_probabilities({"a": 1}, min_downsampling=2.0)
    iterable = Dataset.from_dict({"input_ids": [[1]]}).to_iterable_dataset()
    with pytest.raises(ValueError, match="pass `num_examples`"):
        mix_datasets({"a": iterable, "b": iterable})
    assert len(list(mix_datasets({"a": iterable, "b": iterable}, num_examples={"a": 1, "b": 1}, seed=0))) == 2
