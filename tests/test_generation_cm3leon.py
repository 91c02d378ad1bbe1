"""Tests of the image-token sampling loop, its logits processors, CLIP self-rerank and the text-generation helper."""

import copy
import math

import pytest
import torch
from PIL import Image
from transformers import TopPLogitsWarper

from transformers_cm3leon import unconditional_input_ids
from transformers_cm3leon.generation import (
    ContrastiveTopKLogitsProcessor,
    ImageTokenSampler,
    InBatchCFGLogitsProcessor,
    InBatchInstructCFGLogitsProcessor,
    draw_uniforms,
    sample_from_logits,
    text_generation_config,
)
from transformers_cm3leon.generation.decoding import image_logits
from transformers_cm3leon.pipelines.reranking import rerank_images
from transformers_cm3leon.testing_utils import get_tiny_clip, get_tiny_cm3leon

PROMPTS = ["a red circle", "a drawing of a blue square in the top left corner"]


@pytest.fixture(scope="module")
def tiny():
    # A wider init than the paper's 0.006 makes the distributions peaked enough for guidance to matter.
    return get_tiny_cm3leon(initializer_range=0.2)


@pytest.fixture(scope="module")
def tiny_chameleon():
    return get_tiny_cm3leon(block_type="chameleon", initializer_range=0.2)


def batch(processor, prompts):
    prompts = [processor.text_to_image_prompt(p) for p in prompts]
    encoded = processor.pad(prompts, padding_side="left", return_tensors="pt")
    return encoded["input_ids"], encoded["attention_mask"]


def seeded(*seeds):
    return [torch.Generator().manual_seed(s) for s in seeds]


def generate(model, input_ids, attention_mask=None, **kwargs):
    return model.generate_images(input_ids, attention_mask, progress_bar=False, **kwargs)


# ----------------------------------------------------------------------------------------------------------------------
# A naive reference: every stream of every image is its own unpadded sequence, re-run in full (no cache) each step.
# ----------------------------------------------------------------------------------------------------------------------
def reference_generate(model, stream_prompts, num_images_per_prompt, mix, uniforms, top_p=None):
    """`stream_prompts[s][b]`: the prompt (list of ids) of stream `s` for prompt `b`. `mix(list of (R, V) logits per
    stream) -> (R, V)` scores; `uniforms` (R, S) or None for greedy."""
    config = model.config
    image_ids = slice(config.image_token_offset, config.image_token_offset + config.image_vocab_size)
    sequences = [[list(p) for p in prompts for _ in range(num_images_per_prompt)] for prompts in stream_prompts]
    num_images = len(sequences[0])
    drawn = []
    for step in range(config.image_seq_length):
        with torch.no_grad():
            per_stream = [
                torch.stack([model(torch.tensor([seq])).logits[0, -1, image_ids] for seq in stream])
                for stream in sequences
            ]
        scores = mix(per_stream)
        if uniforms is None:
            codes = scores.argmax(-1)
        else:
            if top_p is not None:
                scores = TopPLogitsWarper(top_p)(None, scores)
            codes = sample_from_logits(scores, uniforms[:, step])
        token_ids = codes + config.image_token_offset
        drawn.append(token_ids)
        for stream in sequences:
            for r in range(num_images):
                stream[r].append(int(token_ids[r]))
    return torch.stack(drawn, dim=1)


def cfg_mix(scale):
    return lambda streams: streams[1] + scale * (streams[0] - streams[1])


def editing_mix(text_scale, image_scale):
    return lambda s: s[2] + image_scale * (s[1] - s[2]) + text_scale * (s[0] - s[1])


# ----------------------------------------------------------------------------------------------------------------------
# Logits processors on fixed logits.
# ----------------------------------------------------------------------------------------------------------------------
def test_cfg_mix_equals_reference_and_unbatched_cfg_distribution():
    torch.manual_seed(0)
    cond, uncond = torch.randn(3, 10), torch.randn(3, 10)
    mixed = InBatchCFGLogitsProcessor(2.5)(None, torch.cat([cond, uncond]))
    torch.testing.assert_close(mixed, uncond + 2.5 * (cond - uncond))
    # transformers' unbatched CFG mixes log-probabilities: the same distribution.
    log_mix = uncond.log_softmax(-1) + 2.5 * (cond.log_softmax(-1) - uncond.log_softmax(-1))
    torch.testing.assert_close(mixed.softmax(-1), log_mix.softmax(-1))
    torch.testing.assert_close(InBatchCFGLogitsProcessor(1.0)(None, torch.cat([cond, uncond])), cond)
    torch.testing.assert_close(InBatchCFGLogitsProcessor(0.0)(None, torch.cat([cond, uncond])), uncond)


def test_editing_mix_equals_reference():
    torch.manual_seed(0)
    full, image, uncond = torch.randn(3, 2, 7)
    mixed = InBatchInstructCFGLogitsProcessor(7.5, 1.5)(None, torch.cat([full, image, uncond]))
    expected = uncond + 1.5 * (image - uncond) + 7.5 * (full - image)
    torch.testing.assert_close(mixed, expected)


def test_processors_reject_a_row_count_that_is_not_a_multiple_of_the_streams():
    with pytest.raises(ValueError, match="multiple of the 3 guidance streams"):
        InBatchInstructCFGLogitsProcessor(7.5, 1.5)(None, torch.zeros(4, 5))


def cd_scores(p_cond, p_uncond, top_k, alpha):
    logits = torch.tensor([p_cond, p_uncond]).log()
    return ContrastiveTopKLogitsProcessor(top_k, alpha)(None, logits)[0]


@pytest.mark.parametrize(
    "top_k, alpha, kept",
    [
        (2, 0.5, [0, 1, 2]),  # 2nd largest 0.3 -> threshold 0.15
        (2, 1.0, [0, 1]),  # threshold 0.3: exactly the top 2
        (1, 0.6, [0, 1]),  # threshold 0.24
        (1, 1.0, [0]),  # max-based, as strict as greedy
        (3, 0.25, [0, 1, 2, 3]),  # threshold 0.05
        (2, 0.0, [0, 1, 2, 3, 4]),  # alpha 0 keeps everything
    ],
)
def test_cd_k_candidate_sets(top_k, alpha, kept):
    p_cond = [0.4, 0.3, 0.2, 0.06, 0.04]
    p_uncond = [0.5, 0.1, 0.1, 0.1, 0.2]
    scores = cd_scores(p_cond, p_uncond, top_k, alpha)
    assert torch.isfinite(scores).nonzero().flatten().tolist() == kept
    for index in kept:  # score = log p_cond - log p_uncond
        assert scores[index].item() == pytest.approx(math.log(p_cond[index] / p_uncond[index]), rel=1e-5)


def test_cd_k_prefers_tokens_the_unconditional_stream_does_not_expect():
    scores = cd_scores([0.4, 0.3, 0.2, 0.06, 0.04], [0.5, 0.1, 0.1, 0.1, 0.2], top_k=2, alpha=0.5)
    assert scores.argmax().item() == 1  # 0.3 / 0.1 beats 0.4 / 0.5 and 0.2 / 0.1


# ----------------------------------------------------------------------------------------------------------------------
# Sampling from uniforms.
# ----------------------------------------------------------------------------------------------------------------------
def test_inverse_cdf_sampling_is_exact():
    probs = torch.tensor([0.1, 0.0, 0.5, 0.4])
    logits = probs.log()
    uniforms = torch.tensor([0.0, 0.05, 0.1, 0.59, 0.61, 0.999999])
    assert sample_from_logits(logits.expand(6, -1), uniforms).tolist() == [0, 0, 2, 2, 3, 3]
    # Stratified uniforms reproduce the probabilities to within 1 / n.
    n = 10_000
    uniforms = (torch.arange(n) + 0.5) / n
    counts = torch.bincount(sample_from_logits(logits.expand(n, -1), uniforms), minlength=4)
    torch.testing.assert_close(counts / n, probs, atol=1 / n, rtol=0)


def test_excluded_tokens_are_never_drawn_even_at_the_top_of_the_cdf():
    logits = torch.tensor([[0.0, 1.0, -math.inf, -math.inf]])
    largest_below_one = torch.tensor([1.0 - 2**-24])
    assert sample_from_logits(logits, largest_below_one).item() == 1


def test_uniforms_of_a_prompt_do_not_depend_on_the_batch():
    batched = draw_uniforms(seeded(1, 2), num_prompts=2, num_images_per_prompt=3, num_tokens=5)
    alone = [draw_uniforms(seeded(s)[0], 1, 3, 5) for s in (1, 2)]
    torch.testing.assert_close(batched, torch.cat(alone, dim=1))
    assert batched.shape == (5, 6)


# ----------------------------------------------------------------------------------------------------------------------
# The loop.
# ----------------------------------------------------------------------------------------------------------------------
def test_token_counts_ranges_and_sequences(tiny):
    model, processor = tiny
    input_ids, attention_mask = batch(processor, PROMPTS)
    out = generate(model, input_ids, attention_mask, num_images_per_prompt=3, generator=seeded(0, 1), top_p=0.9)
    config = model.config
    assert out.image_token_ids.shape == (6, config.image_seq_length)
    assert out.num_image_tokens == config.image_seq_length and out.is_complete
    ids = out.image_token_ids
    assert ((ids >= config.image_token_offset) & (ids < config.image_token_offset + config.image_vocab_size)).all()
    assert out.sequences.shape == (6, input_ids.shape[1] + config.image_seq_length + 1)
    torch.testing.assert_close(out.sequences[:, : input_ids.shape[1]], input_ids.repeat_interleave(3, 0))
    torch.testing.assert_close(out.sequences[:, input_ids.shape[1] : -1], ids)
    assert (out.sequences[:, -1] == config.eoss_token_id).all()
    images = processor.token_ids_to_images(ids)
    assert len(images) == 6 and images[0].size == (16, 16)


def test_restricted_head_equals_masking_the_full_vocabulary(tiny):
    model, _ = tiny
    hidden = torch.randn(3, model.config.hidden_size)
    config = model.config
    with torch.no_grad():
        full = model.lm_head(hidden)
        restricted = image_logits(model, hidden)
    image_ids = list(config.image_token_ids)
    torch.testing.assert_close(restricted, full[:, image_ids])
    masked = torch.full_like(full, -math.inf)
    masked[:, image_ids] = full[:, image_ids]
    torch.testing.assert_close(restricted.softmax(-1), masked.softmax(-1)[:, image_ids])


def test_a_wrapped_head_is_run_whole():
    model, _ = get_tiny_cm3leon(tie_word_embeddings=False)

    class ShiftedHead(torch.nn.Module):  # stands for an adapter-wrapped head (e.g. PEFT)
        def __init__(self, head):
            super().__init__()
            self.head = head

        def forward(self, hidden_states):
            return self.head(hidden_states) + torch.arange(self.head.out_features, dtype=hidden_states.dtype)

    model.lm_head = ShiftedHead(model.lm_head)
    hidden = torch.randn(2, model.config.hidden_size)
    with torch.no_grad():
        expected = model.lm_head(hidden)[:, list(model.config.image_token_ids)]
        torch.testing.assert_close(image_logits(model, hidden), expected)


def test_unconditional_prompt_matches_the_processor(tiny):
    model, processor = tiny
    config = model.config
    assert unconditional_input_ids(config) == [
        config.eos_token_id,
        config.sentinel_token_ids[0],
        config.break_token_id,
    ]
    assert unconditional_input_ids(config) == processor.unconditional_prompt()
    chameleon_like, chameleon_processor = get_tiny_cm3leon(num_sentinel_tokens=0)
    expected = [chameleon_like.config.bos_token_id, chameleon_like.config.break_token_id]
    assert unconditional_input_ids(chameleon_like.config) == expected == chameleon_processor.unconditional_prompt()
    input_ids, _ = batch(chameleon_processor, PROMPTS[:1])
    out = generate(chameleon_like, input_ids, do_sample=False)
    reference = reference_generate(chameleon_like, [[input_ids[0].tolist()], [expected]], 1, cfg_mix(3.0), None)
    assert torch.equal(out.image_token_ids, reference)


@pytest.mark.parametrize("model_name", ["tiny", "tiny_chameleon"])
@pytest.mark.parametrize("cache_implementation", ["static", "dynamic"])
@pytest.mark.parametrize("attn_implementation", ["sdpa", "eager"])
@pytest.mark.parametrize("do_sample", [False, True])
def test_cached_cfg_loop_equals_naive_reference(
    request, model_name, cache_implementation, attn_implementation, do_sample
):
    model, processor = request.getfixturevalue(model_name)
    model.set_attn_implementation(attn_implementation)
    try:
        input_ids, attention_mask = batch(processor, PROMPTS)
        kwargs = dict(top_p=0.8, generator=seeded(3, 4)) if do_sample else dict(do_sample=False)
        out = generate(
            model,
            input_ids,
            attention_mask,
            guidance_scale=3.0,
            num_images_per_prompt=2,
            cache_implementation=cache_implementation,
            **kwargs,
        )
        conditional = [processor.text_to_image_prompt(p) for p in PROMPTS]
        unconditional = [processor.unconditional_prompt()] * 2
        uniforms = torch.cat([torch.rand(2, 16, generator=g) for g in seeded(3, 4)]) if do_sample else None
        expected = reference_generate(
            model, [conditional, unconditional], 2, cfg_mix(3.0), uniforms, top_p=0.8 if do_sample else None
        )
        assert torch.equal(out.image_token_ids, expected)
    finally:
        model.set_attn_implementation("sdpa")


def test_guidance_scale_one_is_plain_sampling_with_one_stream(tiny):
    model, processor = tiny
    input_ids, attention_mask = batch(processor, PROMPTS)
    rows_seen = []
    hook = model.model.embed_tokens.register_forward_hook(
        lambda module, inputs, output: rows_seen.append(output.shape[0])
    )
    try:
        out = generate(model, input_ids, attention_mask, guidance_scale=1.0, generator=seeded(5, 6))
    finally:
        hook.remove()
    assert set(rows_seen) == {2}  # the two conditional rows only, every step
    conditional = [processor.text_to_image_prompt(p) for p in PROMPTS]
    uniforms = torch.cat([torch.rand(1, 16, generator=g) for g in seeded(5, 6)])
    expected = reference_generate(model, [conditional], 1, lambda streams: streams[0], uniforms)
    assert torch.equal(out.image_token_ids, expected)


def test_editing_three_streams_equal_naive_reference(tiny):
    model, processor = tiny
    source = Image.new("RGB", (16, 16), "red")
    full, image_only, unconditional = processor.editing_prompts(source, "make the circle blue")
    out = generate(
        model,
        torch.tensor([full]),
        image_input_ids=torch.tensor([image_only]),
        generator=torch.Generator().manual_seed(7),
    )
    uniforms = torch.rand(1, 16, generator=torch.Generator().manual_seed(7))
    expected = reference_generate(model, [[full], [image_only], [unconditional]], 1, editing_mix(7.5, 1.5), uniforms)
    assert torch.equal(out.image_token_ids, expected)


@pytest.mark.parametrize("num_images_per_prompt", [1, 2])
def test_batched_prompts_equal_one_at_a_time(tiny, num_images_per_prompt):
    model, processor = tiny
    input_ids, attention_mask = batch(processor, PROMPTS)
    kwargs = dict(num_images_per_prompt=num_images_per_prompt, top_k=20, temperature=0.9)
    batched = generate(model, input_ids, attention_mask, generator=seeded(11, 12), **kwargs)
    alone = [
        generate(model, batch(processor, [p])[0], generator=torch.Generator().manual_seed(seed), **kwargs)
        for p, seed in zip(PROMPTS, (11, 12))
    ]
    assert torch.equal(batched.image_token_ids, torch.cat([o.image_token_ids for o in alone]))


def test_one_generator_per_image(tiny):
    model, processor = tiny
    input_ids, attention_mask = batch(processor, PROMPTS)
    batched = generate(model, input_ids, attention_mask, num_images_per_prompt=2, generator=seeded(1, 2, 3, 4))
    second = generate(model, batch(processor, PROMPTS[1:])[0], num_images_per_prompt=2, generator=seeded(3, 4))
    assert torch.equal(batched.image_token_ids[2:], second.image_token_ids)


def test_same_seed_same_tokens_different_seed_different_tokens(tiny):
    model, processor = tiny
    input_ids, _ = batch(processor, PROMPTS[:1])
    first, second, other = (
        generate(model, input_ids, generator=torch.Generator().manual_seed(s), decoding_strategy="mixture")
        for s in (0, 0, 1)
    )
    assert torch.equal(first.image_token_ids, second.image_token_ids)
    assert not torch.equal(first.image_token_ids, other.image_token_ids)
    torch.manual_seed(3)
    global_first = generate(model, input_ids)
    torch.manual_seed(3)
    assert torch.equal(global_first.image_token_ids, generate(model, input_ids).image_token_ids)


def test_mixture_uses_top_p_for_the_first_half_and_cd_k_for_the_rest(tiny):
    model, processor = tiny
    input_ids, attention_mask = batch(processor, PROMPTS)
    common = dict(num_images_per_prompt=3, temperature=0.8)
    mixture = generate(model, input_ids, attention_mask, decoding_strategy="mixture", top_p=0.9, cd_top_k=4,
                       generator=seeded(1, 2), **common)  # fmt: skip
    top_p = generate(model, input_ids, attention_mask, top_p=0.9, generator=seeded(1, 2), **common)
    cd_k = generate(model, input_ids, attention_mask, decoding_strategy="cd-k", cd_top_k=4, generator=seeded(1, 2),
                    **common)  # fmt: skip
    # Images 0, 1 of each prompt (ceil(3 / 2) = 2) are top-p draws, image 2 a CD-K draw.
    for row in range(6):
        expected = cd_k if row % 3 == 2 else top_p
        assert torch.equal(mixture.image_token_ids[row], expected.image_token_ids[row])


def test_cd_k_equals_naive_reference(tiny):
    model, processor = tiny
    input_ids, attention_mask = batch(processor, PROMPTS)
    out = generate(model, input_ids, attention_mask, decoding_strategy="cd-k", cd_top_k=5, cd_alpha=0.3,
                   temperature=0.7, generator=seeded(8, 9))  # fmt: skip
    conditional = [processor.text_to_image_prompt(p) for p in PROMPTS]
    unconditional = [processor.unconditional_prompt()] * 2
    processor_cd = ContrastiveTopKLogitsProcessor(5, 0.3)
    uniforms = torch.cat([torch.rand(1, 16, generator=g) for g in seeded(8, 9)])
    expected = reference_generate(
        model, [conditional, unconditional], 1, lambda s: processor_cd(None, torch.cat(s)) / 0.7, uniforms
    )
    assert torch.equal(out.image_token_ids, expected)


def test_negative_prompt_replaces_the_unconditional_stream(tiny):
    model, processor = tiny
    input_ids, _ = batch(processor, PROMPTS[:1])
    default = generate(model, input_ids, do_sample=False)
    explicit = generate(
        model, input_ids, do_sample=False, negative_input_ids=torch.tensor([processor.unconditional_prompt()])
    )
    negative = processor.text_to_image_prompt("a handwritten digit seven")
    other = generate(model, input_ids, do_sample=False, negative_input_ids=torch.tensor([negative]))
    assert torch.equal(default.image_token_ids, explicit.image_token_ids)
    expected = reference_generate(model, [[input_ids[0].tolist()], [negative]], 1, cfg_mix(3.0), uniforms=None)
    assert torch.equal(other.image_token_ids, expected)


def test_an_unused_negative_prompt_is_reported(tiny, caplog):
    model, processor = tiny
    input_ids, _ = batch(processor, PROMPTS[:1])
    negative = torch.tensor([processor.unconditional_prompt()])
    with caplog.at_level("WARNING"):
        generate(model, input_ids, guidance_scale=1.0, negative_input_ids=negative, do_sample=False)
    assert "`negative_input_ids` are not used" in caplog.text


def test_callback_sees_every_step_and_can_stop(tiny):
    model, processor = tiny
    input_ids, attention_mask = batch(processor, PROMPTS)
    seen = []

    def callback(step, image_token_ids, scores):
        seen.append((step, tuple(image_token_ids.shape), tuple(scores.shape)))
        return step == 5

    out = generate(model, input_ids, attention_mask, generator=seeded(0, 1), callback_on_step_end=callback)
    assert seen == [(step, (2, step + 1), (2, model.config.image_vocab_size)) for step in range(6)]
    assert not out.is_complete and out.num_image_tokens == 6
    assert out.image_token_ids.shape == (2, 6)
    assert out.sequences.shape == (2, input_ids.shape[1] + 6)  # no <eoss> after a partial image
    full = generate(model, input_ids, attention_mask, generator=seeded(0, 1))
    assert torch.equal(out.image_token_ids, full.image_token_ids[:, :6])


def test_progress_bar(tiny, capsys):
    model, processor = tiny
    input_ids, _ = batch(processor, PROMPTS[:1])
    model.generate_images(input_ids, do_sample=False)
    assert "16/16" in capsys.readouterr().err
    model.generate_images(input_ids, do_sample=False, progress_bar=False)
    model.set_progress_bar_config(disable=True)
    try:
        model.generate_images(input_ids, do_sample=False)
    finally:
        model.set_progress_bar_config()
    assert capsys.readouterr().err == ""


@pytest.mark.slow
def test_compiled_step_equals_eager(tiny):
    model, processor = tiny
    input_ids, attention_mask = batch(processor, PROMPTS)
    kwargs = dict(num_images_per_prompt=2, top_p=0.9)
    eager = generate(model, input_ids, attention_mask, generator=seeded(0, 1), **kwargs)
    for _ in range(2):  # the second call reuses the compiled step
        compiled = generate(model, input_ids, attention_mask, generator=seeded(0, 1), compile=True, **kwargs)
        assert torch.equal(compiled.image_token_ids, eager.image_token_ids)


@pytest.mark.parametrize("parallel_decoding", [None, "jacobi"])
@pytest.mark.parametrize("block", ["tiny", "tiny_chameleon"])
def test_the_compiled_step_traces_as_one_graph(block, parallel_decoding, request, monkeypatch):
    """What `compile=True` compiles (the sequential step, the speculative window step) has no graph break: dynamo's
    `explain` traces the step of a real call (CFG, top-k then top-p) without compiling it."""
    from transformers_cm3leon.generation import decoding, mixin, speculative

    model, processor = request.getfixturevalue(block)
    step = speculative._window_step if parallel_decoding else decoding.decode_one_token
    reports = []

    def explained(*args):
        if not reports:  # trace a copy: running the step advances the cache
            torch._dynamo.reset()
            reports.append(torch._dynamo.explain(step)(*copy.deepcopy(args)))
        return step(*args)

    target = speculative if parallel_decoding else mixin
    name = "_get_compiled_window_step" if parallel_decoding else "_get_compiled_decode_one_token"
    monkeypatch.setattr(target, name, lambda: explained)
    input_ids, attention_mask = batch(processor, PROMPTS)
    kwargs = dict(guidance_scale=3.0, top_k=8, top_p=0.9, parallel_decoding=parallel_decoding)
    generate(model, input_ids, attention_mask, generator=seeded(0, 1), compile=True, **kwargs)
    assert reports and reports[0].graph_break_count == 0, reports[0].break_reasons
    assert reports[0].graph_count == 1


def test_sampler_without_guidance_returns_its_scores():
    sampler = ImageTokenSampler(num_streams=1, num_images=2, do_sample=False)
    logits = torch.tensor([[0.0, 2.0, 1.0], [3.0, 0.0, 1.0]])
    codes, scores = sampler(logits, None)
    assert codes.tolist() == [1, 0]
    torch.testing.assert_close(scores, logits)


# ----------------------------------------------------------------------------------------------------------------------
# Argument checks.
# ----------------------------------------------------------------------------------------------------------------------
BAD_ARGUMENTS = [
    (dict(guidance_scale=-1.0), ValueError, "guidance_scale"),
    (dict(guidance_scale=float("nan")), ValueError, "guidance_scale"),
    (dict(image_guidance_scale=1.5), ValueError, "image_guidance_scale"),
    (dict(num_images_per_prompt=0), ValueError, "num_images_per_prompt"),
    (dict(decoding_strategy="beam"), ValueError, "decoding_strategy"),
    (dict(temperature=0.0), ValueError, "temperature"),
    (dict(temperature=-1.0), ValueError, "temperature"),
    (dict(top_p=0.0), ValueError, "top_p"),
    (dict(top_p=1.5), ValueError, "top_p"),
    (dict(top_k=0), ValueError, "top_k"),
    (dict(top_k=10_000), ValueError, "top_k"),
    (dict(decoding_strategy="cd-k", top_p=0.9), ValueError, "top_k` / `top_p"),
    (dict(cd_top_k=5), ValueError, "cd_top_k"),
    (dict(decoding_strategy="cd-k", cd_top_k=0), ValueError, "cd_top_k"),
    (dict(decoding_strategy="cd-k", cd_alpha=1.5), ValueError, "cd_alpha"),
    (dict(do_sample=False, top_p=0.9), ValueError, "do_sample=False"),
    (dict(do_sample="yes"), TypeError, "do_sample"),
    (dict(generator=[torch.Generator()] * 3), ValueError, "one per prompt"),
    (dict(generator=123), TypeError, "generator"),
    (dict(cache_implementation="paged"), ValueError, "cache_implementation"),
    (dict(compile=True, cache_implementation="dynamic"), ValueError, "compile"),
    (dict(callback_on_step_end="stop"), TypeError, "callback_on_step_end"),
    (dict(negative_attention_mask=torch.ones(2, 3)), ValueError, "without `negative_input_ids`"),
    (dict(negative_input_ids=torch.tensor([[2, 38, 37]])), ValueError, "one per prompt"),
    (dict(negative_input_ids=torch.tensor([[2, 38, 5], [2, 38, 5]])), ValueError, "racm3:break"),
]


@pytest.mark.parametrize("kwargs, error, match", BAD_ARGUMENTS)
def test_bad_arguments_raise(tiny, kwargs, error, match):
    model, processor = tiny
    input_ids, attention_mask = batch(processor, PROMPTS)
    with pytest.raises(error, match=match):
        model.generate_images(input_ids, attention_mask, **kwargs)


def test_bad_prompts_raise(tiny):
    model, processor = tiny
    input_ids, attention_mask = batch(processor, PROMPTS)
    with pytest.raises(TypeError, match="input_ids"):
        model.generate_images(input_ids.tolist())
    with pytest.raises(ValueError, match="shape"):
        model.generate_images(input_ids[0])
    with pytest.raises(ValueError, match="left-padded"):
        model.generate_images(input_ids, attention_mask.flip(-1))
    with pytest.raises(ValueError, match="racm3:break"):
        model.generate_images(input_ids[:, :-1])
    with pytest.raises(ValueError, match="vocab_size"):
        model.generate_images(torch.tensor([[10_000, model.config.break_token_id]]))
    too_long = torch.tensor([[2] * (model.config.max_position_embeddings - 16) + [model.config.break_token_id]])
    with pytest.raises(ValueError, match="max_position_embeddings"):
        model.generate_images(too_long)
    with pytest.raises(ValueError, match="'sample' only"):
        model.generate_images(input_ids, attention_mask, image_input_ids=input_ids, decoding_strategy="cd-k")


# ----------------------------------------------------------------------------------------------------------------------
# Text generation through generate().
# ----------------------------------------------------------------------------------------------------------------------
def test_text_generation_stops_at_eoss_and_suppresses_image_tokens(tiny):
    model, processor = tiny
    config = model.config
    prompt = torch.tensor([processor.text_to_image_prompt("a red circle")])
    image_token = config.image_token_offset + 3
    # Without the image-token ban, this bias would make every token the image token.
    free = model.generate_text(prompt, max_new_tokens=6, do_sample=False, suppress_image_tokens=False,
                               sequence_bias={(image_token,): 100.0})  # fmt: skip
    assert (free[0, prompt.shape[1] :] == image_token).all()
    banned = model.generate_text(prompt, max_new_tokens=6, do_sample=False, sequence_bias={(image_token,): 100.0})
    new = banned[0, prompt.shape[1] :]
    assert not ((new >= config.image_token_offset) & (new < config.image_token_offset + config.image_vocab_size)).any()
    # <eoss> ends the text: once it is the most likely token, generation stops right after it.
    stopped = model.generate_text(
        prompt, max_new_tokens=6, do_sample=False, sequence_bias={(config.eoss_token_id,): 100.0}
    )
    assert stopped[0, prompt.shape[1] :].tolist() == [config.eoss_token_id]
    stopped = model.generate_text(
        prompt, max_new_tokens=6, do_sample=False, sequence_bias={(config.eos_token_id,): 100.0}
    )
    assert stopped[0, prompt.shape[1] :].tolist() == [config.eos_token_id]


def test_text_generation_config(tiny):
    model, _ = tiny
    config = model.config
    generation_config = text_generation_config(config, max_new_tokens=7)
    assert generation_config.eos_token_id == [config.eoss_token_id, config.eos_token_id]
    assert generation_config.pad_token_id == config.pad_token_id and generation_config.max_new_tokens == 7
    assert generation_config.suppress_tokens == list(config.image_token_ids)
    assert text_generation_config(config, suppress_image_tokens=False).suppress_tokens is None


# ----------------------------------------------------------------------------------------------------------------------
# CLIP self-rerank with a tiny random CLIP.
# ----------------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_clip():
    return get_tiny_clip(seed=0)


def test_rerank_picks_the_best_clip_score_per_prompt(tiny_clip):
    clip_model, clip_processor = tiny_clip
    prompts = ["a red circle", "a blue square"]
    colours = ["red", "blue", "green", "white", "black", "yellow"]
    images = [Image.new("RGB", (20, 20), c) for c in colours]
    out = rerank_images(images, prompts, clip_model, clip_processor, num_images_per_prompt=3)

    with torch.no_grad():
        text = clip_processor(text=prompts, padding=True, return_tensors="pt")
        text_embeds = clip_model.get_text_features(**text).pooler_output
        pixels = clip_processor(images=images, return_tensors="pt")["pixel_values"]
        image_embeds = clip_model.get_image_features(pixel_values=pixels).pooler_output
    expected = torch.nn.functional.cosine_similarity(image_embeds.view(2, 3, -1), text_embeds[:, None], dim=-1)
    torch.testing.assert_close(out.scores, expected)
    best = expected.argmax(-1)
    assert out.indices.tolist() == (torch.arange(2) * 3 + best).tolist()
    assert out.images == [images[i] for i in out.indices.tolist()]
    assert out.ranking[:, 0].tolist() == best.tolist()
    assert (out.scores.gather(1, out.ranking).diff(dim=-1) <= 0).all()
    # Pixel values give the same ranking.
    from_pixels = rerank_images(pixels, prompts, clip_model, clip_processor)
    torch.testing.assert_close(from_pixels.scores, out.scores)
    assert torch.equal(from_pixels.images, pixels[out.indices])


def test_rerank_checks_its_arguments(tiny_clip):
    clip_model, clip_processor = tiny_clip
    images = [Image.new("RGB", (16, 16))] * 3
    with pytest.raises(ValueError, match="multiple of the 2 prompts"):
        rerank_images(images, ["a", "b"], clip_model, clip_processor)
    with pytest.raises(ValueError, match="num_images_per_prompt"):
        rerank_images(images, "a red circle", clip_model, clip_processor, num_images_per_prompt=2)
    with pytest.raises(TypeError, match="prompts"):
        rerank_images(images, [1], clip_model, clip_processor)
