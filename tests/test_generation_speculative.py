"""Speculative Jacobi decoding (`parallel_decoding="jacobi"`): greedy gives the sequential tokens, sampling the
sequential distribution, for every decoding strategy and both blocks; the per-row cache rolls rejected drafts back."""

import pytest
import torch

from transformers_cm3leon.testing_utils import get_tiny_cm3leon

PROMPTS = ["a red circle", "a drawing of a blue square in the top left corner"]


@pytest.fixture(scope="module", params=["cm3leon", "chameleon"])
def tiny(request):
    return get_tiny_cm3leon(block_type=request.param, initializer_range=0.2)


def batch(processor, prompts):
    encoded = processor.pad(
        [processor.text_to_image_prompt(p) for p in prompts], padding_side="left", return_tensors="pt"
    )
    return encoded["input_ids"], encoded["attention_mask"]


def generate(model, input_ids, attention_mask=None, **kwargs):
    return model.generate_images(input_ids, attention_mask, progress_bar=False, **kwargs)


@pytest.mark.parametrize("decoding_strategy", ["sample", "cd-k"])
@pytest.mark.parametrize("draft_length", [1, 3, 16])
def test_greedy_jacobi_gives_the_sequential_tokens(tiny, decoding_strategy, draft_length):
    model, processor = tiny
    ids, mask = batch(processor, PROMPTS)
    kwargs = dict(do_sample=False, num_images_per_prompt=2, decoding_strategy=decoding_strategy)
    sequential = generate(model, ids, mask, **kwargs)
    parallel = generate(model, ids, mask, parallel_decoding="jacobi", draft_length=draft_length, **kwargs)
    assert torch.equal(parallel.image_token_ids, sequential.image_token_ids)
    assert parallel.is_complete and sequential.num_forward_passes == model.config.image_seq_length
    assert 1 < parallel.num_forward_passes <= model.config.image_seq_length


def test_greedy_jacobi_editing_three_streams(tiny):
    model, processor = tiny
    image = processor.token_ids_to_images(generate(model, *batch(processor, PROMPTS[:1])).image_token_ids)[0]
    full, image_only, _ = processor.editing_prompts(image, "make it blue")
    kwargs = dict(image_input_ids=torch.tensor([image_only]), do_sample=False, image_guidance_scale=1.5)
    sequential = generate(model, torch.tensor([full]), **kwargs)
    parallel = generate(model, torch.tensor([full]), parallel_decoding="jacobi", draft_length=4, **kwargs)
    assert torch.equal(parallel.image_token_ids, sequential.image_token_ids)


def _histograms(tokens, offset, vocab):
    return torch.stack(
        [torch.bincount(tokens[:, i] - offset, minlength=vocab).float() for i in range(tokens.shape[1])]
    )


@pytest.mark.parametrize("settings", [{}, {"top_k": 6, "temperature": 0.8}, {"decoding_strategy": "mixture"}])
def test_sampling_with_jacobi_has_the_sequential_distribution(settings):
    # Per-position token histograms of many images: speculative sampling against sequential sampling, compared with
    # the distance between two sequential runs (the sampling noise).
    model, processor = get_tiny_cm3leon(initializer_range=0.5)
    ids = torch.tensor([processor.text_to_image_prompt("a red circle")])
    n, offset, vocab = 1200, model.config.image_token_offset, model.config.image_vocab_size

    def draw(seed, **extra):
        tokens = generate(
            model, ids, num_images_per_prompt=n, generator=torch.Generator().manual_seed(seed), **settings, **extra
        )
        return _histograms(tokens.image_token_ids, offset, vocab) / n

    reference, other = draw(0), draw(1)
    parallel = draw(2, parallel_decoding="jacobi", draft_length=4)
    noise = 0.5 * (reference - other).abs().sum(-1)  # total variation per position
    distance = 0.5 * (reference - parallel).abs().sum(-1)
    assert distance.max() < 3 * noise.max() + 0.02
    assert distance.mean() < 2 * noise.mean() + 0.01


def test_jacobi_is_seeded_and_stops_on_request(tiny):
    model, processor = tiny
    ids, mask = batch(processor, PROMPTS)

    def run(**kw):
        return generate(model, ids, mask, parallel_decoding="jacobi", generator=torch.Generator().manual_seed(5), **kw)

    assert torch.equal(run().image_token_ids, run().image_token_ids)
    seen = []
    stopped = run(callback_on_step_end=lambda step, tokens, scores: seen.append(step) or step >= 3)
    assert not stopped.is_complete and stopped.num_image_tokens == seen[-1] + 1 >= 4


def test_jacobi_needs_the_static_cache(tiny):
    model, processor = tiny
    with pytest.raises(ValueError, match="`parallel_decoding`='jacobi' rolls rejected drafts back.*static"):
        generate(model, *batch(processor, PROMPTS[:1]), parallel_decoding="jacobi", cache_implementation="dynamic")
    with pytest.raises(ValueError, match="`parallel_decoding` must be one of \\['jacobi'\\]"):
        generate(model, *batch(processor, PROMPTS[:1]), parallel_decoding="zipar")
    with pytest.raises(ValueError, match="`draft_length` must be an integer in \\[1, 256\\]"):
        generate(model, *batch(processor, PROMPTS[:1]), parallel_decoding="jacobi", draft_length=0)


# -- drafts from a reference picture (retrieval-based drafts) ------------------------------------------------------------
def test_greedy_drafts_from_a_reference_give_the_sequential_tokens_in_fewer_forwards(tiny):
    model, processor = tiny
    ids, mask = batch(processor, PROMPTS)
    sequential = generate(model, ids, mask, do_sample=False)
    kwargs = dict(do_sample=False, parallel_decoding="jacobi")
    # The right picture as the reference: every draft is accepted, one window after the prefill.
    exact = generate(model, ids, mask, draft_image_token_ids=sequential.image_token_ids, **kwargs)
    assert torch.equal(exact.image_token_ids, sequential.image_token_ids)
    assert exact.num_forward_passes == 2
    # A wrong reference (another picture) changes how many forwards, never the tokens.
    wrong = sequential.image_token_ids.flip(0).roll(3, dims=1)
    shuffled = generate(model, ids, mask, draft_image_token_ids=wrong, draft_length=4, **kwargs)
    assert torch.equal(shuffled.image_token_ids, sequential.image_token_ids)
    # Two images per prompt: each prompt's reference serves both.
    two = generate(
        model, ids, mask, num_images_per_prompt=2, draft_image_token_ids=sequential.image_token_ids, **kwargs
    )
    assert torch.equal(two.image_token_ids, sequential.image_token_ids.repeat_interleave(2, 0))


def test_sampling_with_reference_drafts_has_the_sequential_distribution():
    model, processor = get_tiny_cm3leon(initializer_range=0.5)
    ids = torch.tensor([processor.text_to_image_prompt("a red circle")])
    n, offset, vocab = 1200, model.config.image_token_offset, model.config.image_vocab_size

    def draw(seed, **extra):
        tokens = generate(model, ids, num_images_per_prompt=n, generator=torch.Generator().manual_seed(seed), **extra)
        return _histograms(tokens.image_token_ids, offset, vocab) / n

    reference, other = draw(0), draw(1)
    # A reference picture drawn once from the model itself: its tokens are likely, so many drafts are accepted.
    picture = generate(model, ids, generator=torch.Generator().manual_seed(7)).image_token_ids
    parallel = draw(2, parallel_decoding="jacobi", draft_length=4, draft_image_token_ids=picture)
    noise = 0.5 * (reference - other).abs().sum(-1)
    distance = 0.5 * (reference - parallel).abs().sum(-1)
    assert distance.max() < 3 * noise.max() + 0.02
    assert distance.mean() < 2 * noise.mean() + 0.01


def test_reference_drafts_are_checked(tiny):
    model, processor = tiny
    ids, mask = batch(processor, PROMPTS[:1])
    picture = generate(model, ids, mask, do_sample=False).image_token_ids
    with pytest.raises(ValueError, match="`draft_image_token_ids` are drafts for speculative decoding"):
        generate(model, ids, mask, draft_image_token_ids=picture)
    with pytest.raises(ValueError, match=r"`draft_image_token_ids` must have shape \(1, 16\)"):
        generate(model, ids, mask, parallel_decoding="jacobi", draft_image_token_ids=picture[:, :4])
    with pytest.raises(ValueError, match="`draft_image_token_ids` must be image tokens"):
        generate(model, ids, mask, parallel_decoding="jacobi", draft_image_token_ids=picture * 0)
