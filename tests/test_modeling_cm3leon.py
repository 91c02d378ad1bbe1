import math
import tempfile

import pytest
import torch
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, DynamicCache, StaticCache

import transformers_cm3leon  # noqa: F401  (registers the Auto classes)
from transformers_cm3leon import CM3LEON_PRESETS, CM3LeonConfig, CM3LeonForCausalLM, CM3LeonModel
from transformers_cm3leon.modeling_cm3leon import POSITION_OFFSET, CM3LeonLearnedPositionalEmbedding

TINY = dict(
    vocab_size=64,
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    max_position_embeddings=64,
    image_token_offset=4,
    image_vocab_size=16,
    image_seq_length=4,
    eoss_token_id=20,
    break_token_id=21,
    sentinel_token_offset=22,
    num_sentinel_tokens=4,
)
BLOCKS = {
    "cm3leon": dict(TINY),
    "chameleon": dict(
        TINY, block_type="chameleon", hidden_act="silu", qk_norm=True, num_key_value_heads=2, tie_word_embeddings=False
    ),
    "chameleon-swin": dict(
        TINY, block_type="chameleon", hidden_act="silu", qk_norm=True, swin_norm=True, tie_word_embeddings=False
    ),
}


def tiny_model(block="cm3leon", seed=0, **overrides):
    torch.manual_seed(seed)
    config = CM3LeonConfig(**{**BLOCKS[block], **overrides})
    # The paper's std of 0.006 makes tiny random models nearly constant; a wider init makes comparisons meaningful.
    config.initializer_range = 0.2
    return CM3LeonForCausalLM(config).eval()


@pytest.fixture(params=list(BLOCKS))
def block(request):
    return request.param


@pytest.mark.parametrize("cache_kind", ["dynamic", "static"])
def test_cached_decoding_equals_full_forward(block, cache_kind):
    model = tiny_model(block)
    input_ids = torch.randint(0, 64, (2, 12), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        full = model(input_ids).logits
        if cache_kind == "dynamic":
            cache = DynamicCache(config=model.config)
        else:
            cache = StaticCache(config=model.config, max_cache_len=16)
        steps = [model(input_ids[:, :7], past_key_values=cache, use_cache=True).logits]
        for t in range(7, 12):
            steps.append(model(input_ids[:, t : t + 1], past_key_values=cache, use_cache=True).logits)
    assert (torch.cat(steps, dim=1) - full).abs().max() < 1e-4


@pytest.mark.parametrize("attn_implementation", ["sdpa", "eager"])
def test_left_padded_batch_matches_rows_alone(block, attn_implementation):
    model = tiny_model(block)
    model.config._attn_implementation = attn_implementation
    short = torch.tensor([[5, 9, 30, 31, 21]])
    long = torch.tensor([[2, 40, 41, 42, 43, 44, 45, 21]])
    pad = model.config.pad_token_id
    batch = torch.tensor([[pad, pad, pad] + short[0].tolist(), long[0].tolist()])
    mask = torch.tensor([[0, 0, 0, 1, 1, 1, 1, 1], [1] * 8])
    with torch.no_grad():
        batched = model(batch, attention_mask=mask).logits
        alone_short = model(short).logits
        alone_long = model(long).logits
    assert (batched[0, 3:] - alone_short[0]).abs().max() < 1e-4
    assert (batched[1] - alone_long[0]).abs().max() < 1e-4


def test_generate_left_padded_matches_alone(block):
    model = tiny_model(block)
    pad = model.config.pad_token_id
    short = torch.tensor([[5, 9, 30]])
    long = torch.tensor([[2, 40, 41, 42, 43]])
    batch = torch.tensor([[pad, pad] + short[0].tolist(), long[0].tolist()])
    mask = torch.tensor([[0, 0, 1, 1, 1], [1] * 5])
    kwargs = dict(max_new_tokens=6, do_sample=False, pad_token_id=pad, eos_token_id=None)
    batched = model.generate(batch, attention_mask=mask, **kwargs)
    assert batched[0, 5:].tolist() == model.generate(short, **kwargs)[0, 3:].tolist()
    assert batched[1, 5:].tolist() == model.generate(long, **kwargs)[0, 5:].tolist()


def test_generate_static_cache_matches_dynamic(block):
    model = tiny_model(block)
    prompt = torch.tensor([[2, 40, 41, 42, 43]])
    kwargs = dict(max_new_tokens=6, do_sample=False, eos_token_id=None, pad_token_id=1)
    dynamic = model.generate(prompt, **kwargs)
    static = model.generate(prompt, cache_implementation="static", **kwargs)
    assert dynamic.tolist() == static.tolist()


def test_loss_ignores_minus_100_and_matches_manual_cross_entropy():
    model = tiny_model()
    input_ids = torch.randint(0, 64, (2, 9), generator=torch.Generator().manual_seed(3))
    labels = input_ids.clone()
    labels[0, :4] = -100
    out = model(input_ids, labels=labels)
    logits = out.logits[:, :-1].reshape(-1, 64)
    target = labels[:, 1:].reshape(-1)
    expected = torch.nn.functional.cross_entropy(logits, target, ignore_index=-100)
    assert torch.allclose(out.loss, expected, atol=1e-6)


def test_gradient_checkpointing_gives_same_gradients(block):
    input_ids = torch.randint(0, 64, (2, 10), generator=torch.Generator().manual_seed(4))
    grads = []
    for checkpointing in (False, True):
        model = tiny_model(block).train()
        if checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            assert model.model.gradient_checkpointing or model.model.layers[0].gradient_checkpointing
        model(input_ids, labels=input_ids).loss.backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys() and len(grads[0]) > 0
    for name in grads[0]:
        assert torch.allclose(grads[0][name], grads[1][name], atol=1e-6), name


def test_cm3leon_block_structure():
    model = tiny_model()
    layer = model.model.layers[0]
    # No bias anywhere, LayerNorm without learnable parameters, learned positions with OPT's offset.
    assert all(not name.endswith("bias") for name, _ in model.named_parameters())
    assert isinstance(layer.input_layernorm, torch.nn.LayerNorm) and layer.input_layernorm.weight is None
    assert model.model.embed_positions.num_embeddings == 64 + POSITION_OFFSET
    assert model.lm_head.weight is model.model.embed_tokens.weight  # tied by default
    assert type(layer.mlp.act_fn).__name__ == "ReLU"


def test_learned_positions_use_offset_of_two():
    table = CM3LeonLearnedPositionalEmbedding(8, 4)
    torch.nn.init.normal_(table.weight)
    assert torch.equal(table(torch.tensor([[0, 3]])), table.weight[[2, 5]].unsqueeze(0))


def test_truncated_normal_init_and_zero_output_projections():
    config = CM3LeonConfig(**{**TINY, "hidden_size": 256, "intermediate_size": 512, "num_attention_heads": 4})
    model = CM3LeonForCausalLM(config)
    weight = model.model.layers[0].mlp.up_proj.weight
    assert weight.abs().max() <= 3 * 0.006 + 1e-7
    assert abs(weight.std().item() - 0.006) < 0.001  # a normal truncated at 3 sigma keeps ~98.7% of its std
    positions = model.model.embed_positions.weight
    assert positions.abs().max() <= 3 * 0.0002 + 1e-8

    zeroed = CM3LeonForCausalLM(CM3LeonConfig(**TINY, zero_init_output_projections=True))
    for layer in zeroed.model.layers:
        assert torch.count_nonzero(layer.self_attn.o_proj.weight) == 0
        assert torch.count_nonzero(layer.mlp.down_proj.weight) == 0
        assert torch.count_nonzero(layer.self_attn.q_proj.weight) > 0


def test_chameleon_block_structure():
    model = tiny_model("chameleon")
    attn = model.model.layers[0].self_attn
    assert attn.k_proj.out_features == 2 * 8  # 2 KV heads of 8
    assert tuple(attn.q_norm.weight.shape) == (4, 8) and tuple(attn.k_norm.weight.shape) == (2, 8)
    assert hasattr(model.model.layers[0].mlp, "gate_proj")
    assert model.model.embed_positions is None
    assert model.lm_head.weight is not model.model.embed_tokens.weight


@pytest.mark.parametrize("name", sorted(CM3LEON_PRESETS))
def test_preset_parameter_counts_on_meta_device(name):
    # Sizes are named as in GPT-3 / OPT: blocks + token embeddings (the 4M learned position rows not counted).
    named = {"cm3leon-350m": 350e6, "cm3leon-760m": 760e6, "cm3leon-7b": 7e9, "chameleon-7b": 7e9}[name]
    config = CM3LeonConfig.from_preset(name)
    with torch.device("meta"):
        model = CM3LeonForCausalLM(config)
    counted = sum(p.numel() for n, p in model.named_parameters() if "embed_positions" not in n)
    assert all(p.is_meta for p in model.parameters())
    assert math.isclose(counted, named, rel_tol=0.03), f"{name}: {counted / 1e6:.1f}M"


def test_preset_shapes():
    c7 = CM3LeonConfig.from_preset("cm3leon-7b")
    assert (c7.num_hidden_layers, c7.hidden_size, c7.num_attention_heads, c7.intermediate_size) == (
        32,
        4096,
        32,
        16384,
    )
    c760 = CM3LeonConfig.from_preset("cm3leon-760m")
    assert (c760.head_dim, c760.intermediate_size) == (96, 6144)
    cham = CM3LeonConfig.from_preset("chameleon-7b")
    assert (cham.break_token_id, cham.eoss_token_id, cham.image_token_ids) == (8197, 8196, range(4, 8196))
    assert CM3LeonConfig.from_preset("cm3leon-350m", num_hidden_layers=2).num_hidden_layers == 2


def test_save_load_through_auto_classes_gives_identical_logits(block):
    model = tiny_model(block)
    input_ids = torch.randint(0, 64, (1, 8), generator=torch.Generator().manual_seed(5))
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        assert isinstance(AutoConfig.from_pretrained(tmp), CM3LeonConfig)
        reloaded = AutoModelForCausalLM.from_pretrained(tmp).eval()
        base = AutoModel.from_pretrained(tmp)
    assert isinstance(reloaded, CM3LeonForCausalLM) and isinstance(base, CM3LeonModel)
    with torch.no_grad():
        assert torch.equal(model(input_ids).logits, reloaded(input_ids).logits)


def test_out_of_range_input_ids_raise():
    model = tiny_model()
    with pytest.raises(ValueError, match=r"input_ids.*\[0, vocab_size=64\).*\[0, 64\]"):
        model(torch.tensor([[0, 64]]))
    with pytest.raises(ValueError, match="input_ids"):
        model(torch.tensor([[-1, 3]]))


def test_prompt_longer_than_context_raises():
    model = tiny_model()
    with pytest.raises(ValueError, match="max_position_embeddings=64"):
        model(torch.zeros(1, 65, dtype=torch.long))


@pytest.mark.parametrize(
    "overrides, match",
    [
        (dict(block_type="gpt"), "block_type"),
        (dict(hidden_size=30), "hidden_size"),
        (dict(num_key_value_heads=3), "num_key_value_heads"),
        (dict(qk_norm=True), "Chameleon block"),
        (dict(break_token_id=64), "break_token_id"),
        (dict(eoss_token_id=5), "image-token range"),
        (dict(image_vocab_size=100), "image tokens"),
        (dict(num_sentinel_tokens=50), "sentinel tokens"),
        (dict(num_hidden_layers=0), "num_hidden_layers"),
        (dict(sentinel_token_offset=None), "sentinel_token_offset"),
    ],
)
def test_inconsistent_configs_raise(overrides, match):
    with pytest.raises(ValueError, match=match):
        CM3LeonConfig(**{**TINY, **overrides})


def test_unknown_preset_raises():
    with pytest.raises(ValueError, match=r"Unknown preset 'cm3leon-1b'.*cm3leon-350m"):
        CM3LeonConfig.from_preset("cm3leon-1b")
