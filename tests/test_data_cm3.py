# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The CM3 causal-masking transform and its data collator (the paper's §2.3)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from data_fakes import BREAK, CONFIG, EOSS, PAD, SENTINELS
from hypothesis import given, settings
from hypothesis import strategies as st

from transformers_cm3leon import CM3LeonConfig
from transformers_cm3leon.data import CM3Masking, DataCollatorForCM3, apply_cm3_spans, sample_cm3_spans

TEXT = list(range(9000, 9012))
IMAGE = list(range(4, 12))


def masking(**kwargs) -> CM3Masking:
    return CM3Masking(CONFIG, **kwargs)


def check_cm3_invariants(row: np.ndarray, output: np.ndarray, num_sentinels: int) -> list[list[int]]:
    """Check every CM3 invariant by parsing `output` alone; return the appended spans."""
    row, output = list(row), list(output)
    length = len(row)
    assert len(output) == length, "the block length is kept"
    sentinel_counts = [output.count(s) for s in SENTINELS[:num_sentinels]]
    num_spans = sum(1 for c in sentinel_counts if c)
    # Sentinels are used in order 0, 1, ..., each exactly twice; <eoss> closes each span.
    assert sentinel_counts == [2] * num_spans + [0] * (num_sentinels - num_spans)
    assert output.count(EOSS) == num_spans
    if num_spans == 0:
        assert output == row, "an unmasked row is unchanged"
        return []
    # The appended part starts at the second occurrence of <sentinel:0>.
    target_start = output.index(SENTINELS[0], output.index(SENTINELS[0]) + 1)
    source, target = output[:target_start], output[target_start:]
    spans, position = [], 0
    for i in range(num_spans):
        assert target[position] == SENTINELS[i]
        end = target.index(EOSS, position)
        spans.append(target[position + 1 : end])
        position = end + 1
    assert position == len(target), "the block ends with the last appended span"
    for span in spans:
        assert len(span) > 0
        assert BREAK not in span, "no span crosses (or contains) a break"
    # Putting each span back in place of its sentinel gives the original row minus its truncated tail.
    restored = []
    for token in source:
        restored += spans[SENTINELS.index(token)] if token in SENTINELS[:num_spans] else [token]
    assert restored == row[: length - 3 * num_spans], "the appended spans are exactly the removed tokens"
    assert source[0] == row[0], "position 0 is never masked"
    return spans


@st.composite
def rows(draw):
    length = draw(st.integers(min_value=1, max_value=120))
    break_probability = draw(st.sampled_from([0.0, 0.05, 0.3]))
    tokens = draw(st.lists(st.sampled_from(TEXT + IMAGE), min_size=length, max_size=length))
    flags = draw(st.lists(st.floats(0, 1), min_size=length, max_size=length))
    return np.array([BREAK if f < break_probability else t for t, f in zip(tokens, flags)], dtype=np.int64)


@settings(max_examples=300, deadline=None)
@given(
    row=rows(),
    seed=st.integers(0, 2**32 - 1),
    poisson_lambda=st.sampled_from([0.5, 1.0, 3.0]),
    max_spans=st.integers(1, 8),
)
def test_masking_invariants(row, seed, poisson_lambda, max_spans):
    transform = CM3Masking(
        sentinel_token_ids=SENTINELS[:8],
        break_token_id=BREAK,
        eoss_token_id=EOSS,
        poisson_lambda=poisson_lambda,
        max_spans=max_spans,
    )
    result = transform(row, generator=torch.Generator().manual_seed(seed))
    spans = check_cm3_invariants(row, result.input_ids, num_sentinels=8)
    assert len(result.spans) == len(spans) <= max_spans
    # The reported spans are the positions of the removed tokens: sorted, disjoint, inside the kept source.
    kept_source = len(row) - 3 * len(spans)
    previous_end = 0
    for (start, end), tokens in zip(result.spans, spans):
        assert 1 <= start and previous_end <= start < end <= kept_source
        assert list(row[start:end]) == tokens
        previous_end = end


@settings(max_examples=50, deadline=None)
@given(row=rows(), seed=st.integers(0, 2**32 - 1))
def test_same_seed_same_output_and_causal_mode_is_identity(row, seed):
    transform = masking(poisson_lambda=2.0)
    first = transform(row, generator=torch.Generator().manual_seed(seed))
    second = transform(row, generator=torch.Generator().manual_seed(seed))
    np.testing.assert_array_equal(first.input_ids, second.input_ids)
    assert first.spans == second.spans
    causal = CM3Masking(mode="causal")(row, generator=torch.Generator().manual_seed(seed))
    np.testing.assert_array_equal(causal.input_ids, row)
    assert causal.spans == []


def test_apply_cm3_spans_exact_layout():
    a, b, c, d, e, f, g, h = TEXT[:8]
    row = np.array([2, a, b, c, BREAK, d, e, f, g, h, 4, 2])
    output, _ = apply_cm3_spans(row, [(1, 3), (5, 6)], sentinel_token_ids=np.array(SENTINELS), eoss_token_id=EOSS)
    s0, s1 = SENTINELS[:2]
    # Source row[:12 - 6] = [2, a, b, c, BREAK, d] with both spans replaced, then the two appended spans.
    assert output.tolist() == [2, s0, c, BREAK, s1, s0, a, b, EOSS, s1, d, EOSS]


def test_sample_cm3_spans_single_span_rule_and_break_clipping():
    row = np.array([2] + TEXT[:4] + [BREAK] + (TEXT * 2)[:14])  # 20 tokens, a break at 5
    # n = 1: window 17, start = max(1, floor(0.1 * 17)) = 1, end = floor(0.6 * 17 + 0.5) = 10 -> (1, 10);
    # segments [1, 5) and [6, 17) overlap it by 4 each: the first (largest, earliest) wins -> (1, 5).
    assert sample_cm3_spans(row, 1, np.array([0.6, 0.1]), break_token_id=BREAK) == [(1, 5)]
    # (3, 14) overlaps [6, 17) most (8 tokens vs 2).
    assert sample_cm3_spans(row, 1, np.array([3.1 / 17, 13.6 / 17]), break_token_id=BREAK) == [(6, 14)]
    # n = 2: window 14; candidates (1, 4), (2, 7) intersecting, (8, 11) -> keeps (1, 4) and (8, 11).
    uniforms = np.array([1 / 14, 3.6 / 14, 2 / 14, 6.6 / 14, 8.2 / 14, 10.6 / 14, 0.0, 0.0])
    assert sample_cm3_spans(row, 2, uniforms, break_token_id=BREAK) == [(1, 4), (8, 11)]
    # A span lying on the break only is dropped; an empty span is dropped.
    assert sample_cm3_spans(row, 1, np.array([5.2 / 17, 5.7 / 17]), break_token_id=BREAK) == []
    assert sample_cm3_spans(row, 1, np.array([8.2 / 17, 8.2 / 17]), break_token_id=BREAK) == []


def test_number_of_spans_follows_poisson():
    transform = masking()  # lambda = 1, rows without breaks: P(no span) = e^-1 plus the rare empty draw
    generator = torch.Generator().manual_seed(0)
    rows = [np.array(TEXT * 40)] * 4000
    results = transform.mask_rows(rows, generator=generator)
    unmasked = np.mean([len(r.spans) == 0 for r in results])
    assert abs(unmasked - math.exp(-1)) < 0.03
    # The drawn counts are Poisson(1); fewer spans are kept when candidates intersect (as in metaseq).
    drawn = transform.sample_num_spans(np.full(20000, 480), generator)
    assert abs(drawn.mean() - 1.0) < 0.03 and abs(drawn.var() - 1.0) < 0.05
    assert abs(np.mean(drawn == 1) - math.exp(-1)) < 0.015


def test_max_spans_and_lambda_are_respected():
    generator = torch.Generator().manual_seed(0)
    rows = [np.array(TEXT * 20)] * 300
    results = masking(poisson_lambda=6.0, max_spans=2).mask_rows(rows, generator=generator)
    assert max(len(r.spans) for r in results) == 2
    assert all(len(r.spans) == 0 for r in masking(poisson_lambda=0.0).mask_rows(rows, generator=generator))
    # A short row holds at most (L - 2) // 3 spans.
    short = masking(poisson_lambda=50.0).mask_rows([np.array(TEXT[:5])] * 50, generator=generator)
    assert max(len(r.spans) for r in short) <= 1


def test_labels_move_with_their_tokens():
    a, b, c, d, e, f = TEXT[:6]
    row = np.array([2, a, b, BREAK, c, d, e, f, 2, 2, 2, 2])
    labels = np.array([-100, -100, -100, -100, c, d, e, f, 2, 2, 2, 2])  # loss on the output only
    ids, new_labels = apply_cm3_spans(
        row, [(1, 2), (4, 6)], sentinel_token_ids=np.array(SENTINELS), eoss_token_id=EOSS, labels=labels
    )
    s0, s1 = SENTINELS[:2]
    # Source row[:6] = [2, a, b, BREAK, c, d] -> [2, s0, b, BREAK, s1]; targets [s0 a eoss] [s1 c d eoss].
    assert ids.tolist() == [2, s0, b, BREAK, s1, s0, a, EOSS, s1, c, d, EOSS]
    assert new_labels.tolist() == [-100, -100, -100, -100, s1, -100, -100, -100, s1, c, d, EOSS]


# -- the collator -----------------------------------------------------------------------------------------------------
def test_collator_pads_and_labels_every_token():
    collator = DataCollatorForCM3(CONFIG, mode="causal")
    batch = collator([{"input_ids": [2, 9000, 9001, 2]}, {"input_ids": [2, 9002]}])
    assert batch["input_ids"].dtype == torch.int64
    assert batch["input_ids"].tolist() == [[2, 9000, 9001, 2], [2, 9002, PAD, PAD]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1], [1, 1, 0, 0]]
    assert batch["labels"].tolist() == [[2, 9000, 9001, 2], [2, 9002, -100, -100]]
    padded = DataCollatorForCM3(CONFIG, mode="causal", pad_to_multiple_of=8, return_tensors="np")
    assert padded([{"input_ids": [2, 9000, 2]}])["input_ids"].shape == (1, 8)


def test_collator_masks_each_row_with_invariants_and_is_reproducible():
    features = [{"input_ids": [2] + TEXT * 8 + [BREAK] + IMAGE * 4 + [2]} for _ in range(64)]
    first = DataCollatorForCM3(CONFIG, seed=123)(features)
    second = DataCollatorForCM3(CONFIG, seed=123)(features)
    other = DataCollatorForCM3(CONFIG, seed=124)(features)
    assert torch.equal(first["input_ids"], second["input_ids"])
    assert not torch.equal(first["input_ids"], other["input_ids"])
    assert torch.equal(first["labels"], first["input_ids"])  # no padding: loss on every token
    masked_rows = 0
    for output in first["input_ids"]:
        masked_rows += bool(check_cm3_invariants(np.array(features[0]["input_ids"]), output.numpy(), num_sentinels=16))
    assert 20 < masked_rows < 64  # about 1 - e^-1 of the rows carry spans
    # Successive calls draw new masks.
    collator = DataCollatorForCM3(CONFIG, seed=5)
    assert not torch.equal(collator(features)["input_ids"], collator(features)["input_ids"])


def test_collator_global_generator_follows_torch_manual_seed():
    features = [{"input_ids": TEXT * 4} for _ in range(32)]
    collator = DataCollatorForCM3(CONFIG)
    torch.manual_seed(7)
    first = collator(features)["input_ids"]
    torch.manual_seed(7)
    assert torch.equal(first, collator(features)["input_ids"])


def test_collator_accepts_tensors_arrays_and_feature_labels():
    collator = DataCollatorForCM3(CONFIG, mode="causal")
    batch = collator(
        [
            {"input_ids": torch.tensor([2, 9000, 2]), "labels": [-100, 9000, 2]},
            {"input_ids": np.array([2, 9001, 2]), "attention_mask": [1, 1, 1]},
        ]
    )
    assert batch["labels"].tolist() == [[-100, 9000, 2], [2, 9001, 2]]


def test_collator_works_in_a_dataloader_over_a_dataset():
    from datasets import Dataset

    dataset = Dataset.from_dict({"input_ids": [[2] + TEXT * 3 + [2]] * 8})
    loader = torch.utils.data.DataLoader(dataset, batch_size=4, collate_fn=DataCollatorForCM3(CONFIG, seed=0))
    batches = list(loader)
    assert [b["input_ids"].shape for b in batches] == [torch.Size([4, 38])] * 2


def test_collator_and_masking_errors():
    with pytest.raises(ValueError, match="sentinel"):
        DataCollatorForCM3(CM3LeonConfig.from_preset("chameleon-7b"))
    assert DataCollatorForCM3(CM3LeonConfig.from_preset("chameleon-7b"), mode="causal").masking.mode == "causal"
    with pytest.raises(ValueError, match="mode"):
        CM3Masking(CONFIG, mode="fim")
    with pytest.raises(ValueError, match="max_spans"):
        CM3Masking(sentinel_token_ids=SENTINELS[:4], break_token_id=BREAK, eoss_token_id=EOSS, max_spans=5)
    with pytest.raises(ValueError, match="poisson_lambda"):
        CM3Masking(CONFIG, poisson_lambda=-1.0)
    with pytest.raises(ValueError, match="different"):
        CM3Masking(sentinel_token_ids=[BREAK], break_token_id=BREAK, eoss_token_id=EOSS)
    with pytest.raises(ValueError, match="break_token_id"):
        CM3Masking(sentinel_token_ids=SENTINELS, eoss_token_id=EOSS)
    with pytest.raises(ValueError, match="pad_token_id"):
        DataCollatorForCM3(sentinel_token_ids=SENTINELS, break_token_id=BREAK, eoss_token_id=EOSS)
    collator = DataCollatorForCM3(CONFIG, max_length=4)
    with pytest.raises(ValueError, match="max_length"):
        collator([{"input_ids": [2, 9000, 9001, 9002, 2]}])
    with pytest.raises(ValueError, match="no 'input_ids'"):
        collator([{"ids": [2]}])
    with pytest.raises(TypeError, match="integer token ids"):
        collator([{"input_ids": [0.5, 1.5]}])
    with pytest.raises(ValueError, match="padded"):
        collator([{"input_ids": [2, 9000, 1], "attention_mask": [1, 1, 0]}])
    with pytest.raises(ValueError, match="labels"):
        collator([{"input_ids": [2, 9000], "labels": [2]}])
    with pytest.raises(ValueError, match="empty"):
        collator([])
    with pytest.raises(ValueError, match="spans"):
        apply_cm3_spans(np.arange(10), [(3, 5), (4, 6)], sentinel_token_ids=np.array(SENTINELS), eoss_token_id=EOSS)
