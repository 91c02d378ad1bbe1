"""transformers' model contract, on both blocks: what transformers' common tests (ModelTesterMixin /
GenerationTesterMixin) check, written for CM3Leon: save / load, generation modes and caches, resizing, packed
(padding-free) batches, attention implementations, gradient checkpointing, outputs, parallelism plans."""

import pytest
import torch
from transformers import DataCollatorWithFlattening, GenerationConfig
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

from transformers_cm3leon import CM3LeonConfig, CM3LeonForCausalLM
from transformers_cm3leon.modeling_cm3leon import (
    CM3LeonChameleonDecoderLayer,
    CM3LeonChameleonSwinDecoderLayer,
    CM3LeonDecoderLayer,
)
from transformers_cm3leon.testing_utils import TINY_LM_CONFIG

BLOCKS = {
    "cm3leon": {},
    "chameleon": {"block_type": "chameleon", "hidden_act": "silu", "qk_norm": True, "num_key_value_heads": 2},
    "chameleon-swin": {"block_type": "chameleon", "hidden_act": "silu", "swin_norm": True},
}


def tiny_config(block: str, **overrides) -> CM3LeonConfig:
    vocabulary = dict(
        vocab_size=96,
        image_token_offset=4,
        image_vocab_size=16,
        image_seq_length=4,
        eoss_token_id=20,
        break_token_id=21,
        sentinel_token_offset=22,
        num_sentinel_tokens=4,
    )
    return CM3LeonConfig(**{**TINY_LM_CONFIG, **vocabulary, "initializer_range": 0.2, **BLOCKS[block], **overrides})


def tiny_model(block: str, **overrides) -> CM3LeonForCausalLM:
    torch.manual_seed(0)
    return CM3LeonForCausalLM(tiny_config(block, **overrides)).eval()


def ids(batch: int = 2, length: int = 9, seed: int = 0) -> torch.LongTensor:
    return torch.randint(30, 60, (batch, length), generator=torch.Generator().manual_seed(seed))


@pytest.fixture(params=list(BLOCKS))
def block(request):
    return request.param


def test_one_decoder_layer_class_per_block():
    assert type(tiny_model("cm3leon").model.layers[0]) is CM3LeonDecoderLayer
    assert type(tiny_model("chameleon").model.layers[0]) is CM3LeonChameleonDecoderLayer
    assert type(tiny_model("chameleon-swin").model.layers[0]) is CM3LeonChameleonSwinDecoderLayer
    # The paper's block learns absolute positions: it has no rotary settings to advertise.
    assert not hasattr(tiny_config("cm3leon"), "rope_parameters")
    assert tiny_config("chameleon").rope_parameters["rope_type"] == "default"
    with pytest.raises(ValueError, match="`rope_parameters`=.* rotary positions, which the paper's block"):
        tiny_config("cm3leon", rope_parameters={"rope_type": "linear", "rope_theta": 1e4, "factor": 2.0})


def test_save_and_load_give_the_same_logits(block, tmp_path):
    model = tiny_model(block)
    model.save_pretrained(tmp_path)
    reloaded = CM3LeonForCausalLM.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(ids()).logits, model(ids()).logits)


@pytest.mark.parametrize("cache_implementation", ["dynamic", "static"])
def test_greedy_generation_equals_the_uncached_argmax(block, cache_implementation):
    model = tiny_model(block)
    prompt = ids(1, 5)
    out = model.generate(
        prompt, max_new_tokens=6, do_sample=False, cache_implementation=cache_implementation, pad_token_id=1
    )
    sequence = prompt
    with torch.no_grad():
        for _ in range(6):
            next_token = model(sequence).logits[:, -1].argmax(-1, keepdim=True)
            sequence = torch.cat([sequence, next_token], dim=-1)
    assert torch.equal(out[:, : sequence.shape[1]], sequence) or bool((out == model.config.eos_token_id).any())


@pytest.mark.parametrize("mode", [{"do_sample": True, "top_k": 5}, {"num_beams": 3}, {"do_sample": False}])
def test_generation_modes_run_and_are_reproducible(block, mode):
    model = tiny_model(block)
    runs = []
    for _ in range(2):
        torch.manual_seed(3)
        runs.append(model.generate(ids(2, 4), max_new_tokens=5, pad_token_id=1, **mode))
    assert torch.equal(runs[0], runs[1]) and runs[0].shape[1] <= 9


def test_generate_without_an_eos_token(block):
    model = tiny_model(block, eos_token_id=None)
    assert model.generation_config.eos_token_id == [model.config.eoss_token_id]
    model.config.eoss_token_id = 5  # keep the id check happy; no eos at all below
    model.generation_config.eos_token_id = None
    out = model.generate(ids(1, 4), max_new_tokens=4, do_sample=False, pad_token_id=1)
    assert out.shape == (1, 8)


def test_left_padding_gives_each_row_its_own_logits(block):
    model = tiny_model(block)
    short, long = ids(1, 5, seed=1), ids(1, 8, seed=2)
    batch = torch.cat([torch.cat([torch.full((1, 3), 1), short], dim=1), long])
    mask = torch.ones_like(batch)
    mask[0, :3] = 0
    with torch.no_grad():
        padded = model(batch, attention_mask=mask).logits
        torch.testing.assert_close(padded[0, 3:], model(short).logits[0], atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(padded[1], model(long).logits[0], atol=1e-5, rtol=1e-4)


def test_resize_token_embeddings_then_use_the_new_ids(block):
    model = tiny_model(block)
    size = model.config.vocab_size
    model.resize_token_embeddings(size + 8)
    new_ids = torch.tensor([[size + 7, size + 1, 40]])
    with torch.no_grad():
        assert model(new_ids).logits.shape == (1, 3, size + 8)
    model.resize_token_embeddings(size - 4 + 8)  # smaller again: the id check follows
    with pytest.raises(ValueError, match=f"`input_ids` must lie in \\[0, vocab_size={size + 4}\\)"):
        model(new_ids)


def test_packed_sequences_with_restarting_positions_equal_separate_runs(block):
    # Padding-free batches (DataCollatorWithFlattening, TRL packing): one row, positions restart per sequence. The
    # learned position table bounds the largest position id, not the packed length.
    model = tiny_model(block, max_position_embeddings=12)
    first, second = ids(1, 10, seed=3)[0].tolist(), ids(1, 9, seed=4)[0].tolist()
    batch = DataCollatorWithFlattening(return_position_ids=True)([{"input_ids": first}, {"input_ids": second}])
    assert batch["input_ids"].shape == (1, 19)
    with torch.no_grad():  # as in training: no cache, so the sequence boundaries come from the position ids
        packed = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).logits[0]
        torch.testing.assert_close(packed[:10], model(torch.tensor([first])).logits[0], atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(packed[10:], model(torch.tensor([second])).logits[0], atol=1e-5, rtol=1e-4)


def test_rope_scaling_survives_initialisation():
    for rope in (
        {"rope_type": "linear", "rope_theta": 10000.0, "factor": 4.0},
        {"rope_type": "dynamic", "rope_theta": 10000.0, "factor": 2.0},
        {"rope_type": "yarn", "rope_theta": 10000.0, "factor": 2.0, "original_max_position_embeddings": 32},
    ):
        config = tiny_config("chameleon", rope_parameters=rope)
        model = CM3LeonForCausalLM(config)
        expected, _ = ROPE_INIT_FUNCTIONS[rope["rope_type"]](config)
        torch.testing.assert_close(model.model.rotary_emb.inv_freq, expected)
        torch.testing.assert_close(model.model.rotary_emb.original_inv_freq, expected)


def test_eager_and_sdpa_attention_agree(block):
    eager = tiny_model(block, attn_implementation="eager")
    sdpa = tiny_model(block, attn_implementation="sdpa")
    with torch.no_grad():
        torch.testing.assert_close(eager(ids()).logits, sdpa(ids()).logits, atol=1e-5, rtol=1e-4)


def test_gradient_checkpointing_gives_the_same_loss_and_gradients(block):
    inputs = ids()
    losses, grads = [], []
    for checkpointing in (False, True):
        model = tiny_model(block).train()
        if checkpointing:
            model.gradient_checkpointing_enable()
        loss = model(inputs, labels=inputs).loss
        loss.backward()
        losses.append(loss.detach())
        grads.append(model.model.embed_tokens.weight.grad.clone())
    torch.testing.assert_close(losses[0], losses[1])
    torch.testing.assert_close(grads[0], grads[1], atol=1e-6, rtol=1e-4)


def test_hidden_states_and_attentions_are_recorded(block):
    model = tiny_model(block, attn_implementation="eager")
    with torch.no_grad():
        output = model(ids(), output_hidden_states=True, output_attentions=True)
    layers = model.config.num_hidden_layers
    assert len(output.hidden_states) == layers + 1 and len(output.attentions) == layers
    assert output.attentions[0].shape == (2, model.config.num_attention_heads, 9, 9)


def test_parallelism_plans_name_existing_modules(block):
    model = tiny_model(block)
    names = {name for name, _ in model.model.named_modules()}
    for pattern in model.config.base_model_tp_plan:
        prefix, _, rest = pattern.partition(".*.")
        concrete = f"{prefix}.0.{rest}"
        if concrete.endswith(("q_norm", "k_norm")) and not model.config.qk_norm:
            continue
        if concrete.endswith("gate_proj") and model.config.block_type == "cm3leon":
            continue  # the paper's MLP has no gate
        assert concrete in names, concrete
    assert set(model.config.base_model_pp_plan) == {"embed_tokens", "layers", "norm"}


def test_a_generation_config_without_eos_loads(block, tmp_path):
    model = tiny_model(block)
    model.save_pretrained(tmp_path)
    GenerationConfig(eos_token_id=None, pad_token_id=1).save_pretrained(tmp_path)
    reloaded = CM3LeonForCausalLM.from_pretrained(tmp_path)
    assert reloaded.generation_config.eos_token_id is None
    assert reloaded.generate(ids(1, 3), max_new_tokens=2, do_sample=False, min_new_tokens=2).shape == (1, 5)
