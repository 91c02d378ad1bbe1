"""Conversion of Meta's Chameleon release, transformers' Chameleon format and taming VQGANs into CM3Leon folders.

Every test writes a tiny random checkpoint in the original format, converts it, and checks the result against an
independent reference: a from-scratch forward of Meta's transformer (interleaved complex RoPE, per-shard QK-norm,
model parallelism simulated by summing the shards' partial outputs), transformers' own ChameleonForConditionalGeneration,
and a VQ model loaded from the original keys with plain `load_state_dict`.
"""

import importlib.util
import json
import logging
import math
from argparse import Namespace
from pathlib import Path

import pytest
import torch
import yaml
from huggingface_hub import ModelCard
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
from torch.nn import functional as F
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    ChameleonConfig,
    ChameleonForConditionalGeneration,
    GenerationConfig,
)

import transformers_cm3leon  # noqa: F401  (registers the Auto classes)
from transformers_cm3leon import conversion_utils
from transformers_cm3leon.configuration_cm3leon import CM3LeonConfig, CM3LeonVQConfig
from transformers_cm3leon.conversion_utils import CheckpointKeysError
from transformers_cm3leon.image_processing_cm3leon import CM3LeonImageProcessor
from transformers_cm3leon.modeling_cm3leon import CM3LeonForCausalLM
from transformers_cm3leon.modeling_cm3leon_vq import CM3LeonVQModel
from transformers_cm3leon.processing_cm3leon import CM3LeonProcessor
from transformers_cm3leon.taming_vqgan import load_taming_vqgan, vq_config_from_taming
from transformers_cm3leon.tokenization_cm3leon import image_token_name, special_token_ids

ROOT = Path(__file__).resolve().parents[1]


def _load_script(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "conversion" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


meta_converter = _load_script("convert_chameleon_to_cm3leon")
hf_converter = _load_script("convert_hf_chameleon_to_cm3leon")
taming_converter = _load_script("convert_taming_vqgan_to_cm3leon")

# -- a tiny Chameleon download ----------------------------------------------------------------------------------------
NUM_CODES = 16
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]
AFTER_IMAGES = ["<eoss>", "<racm3:break>", "<reserved08706>", "<reserved08707>"]
MERGES = [("Ġ", "a"), ("p", "h")]
# 4 specials + 16 image tokens + 4 + 256 byte symbols + 2 merges = 282 tokens (even: splits over 2 shards).
VOCAB_SIZE = 4 + NUM_CODES + 4 + 256 + 2
EOSS_ID, BREAK_ID = 4 + NUM_CODES, 5 + NUM_CODES

META_PARAMS = dict(
    dim=32, n_layers=2, n_heads=4, vocab_size=VOCAB_SIZE, multiple_of=16, norm_eps=1e-5, rope_theta=10000.0
)
TAMING_DDCONFIG = dict(
    double_z=False,
    z_channels=8,
    resolution=16,
    in_channels=3,
    out_ch=3,
    ch=32,
    ch_mult=[1, 2, 2],
    num_res_blocks=1,
    attn_resolutions=[4],
    dropout=0.0,
)
VQ_CONFIG = dict(
    embed_dim=8,
    num_embeddings=NUM_CODES,
    latent_channels=8,
    resolution=16,
    base_channels=32,
    channel_multiplier=[1, 2, 2],
    num_res_blocks=1,
    attn_resolutions=[4],
)


def write_text_tokenizer(path: Path) -> None:
    """A `tokenizers` BPE file laid out like Chameleon's text_tokenizer.json: specials, IMGIMG tokens (in the BPE
    vocabulary, not as added tokens), <eoss>, <racm3:break>, reserved tokens, then text."""
    names = SPECIALS + [image_token_name(code) for code in range(NUM_CODES)] + AFTER_IMAGES
    names += sorted(pre_tokenizers.ByteLevel.alphabet()) + ["".join(pair) for pair in MERGES]
    backend = Tokenizer(models.BPE(vocab={name: i for i, name in enumerate(names)}, merges=MERGES, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens([AddedToken(token, special=True) for token in SPECIALS + AFTER_IMAGES])
    backend.save(str(path))


def random_vq_model(seed: int = 0) -> CM3LeonVQModel:
    torch.manual_seed(seed)
    model = CM3LeonVQModel(CM3LeonVQConfig(**VQ_CONFIG)).eval()
    with torch.no_grad():  # codebook vectors drawn from real latents, so that images map to many different codes
        pixels = torch.rand(4, 3, 16, 16) * 2 - 1
        latents = model.quant_conv(model.encoder(pixels)).permute(0, 2, 3, 1).reshape(-1, VQ_CONFIG["embed_dim"])
        model.quantize.embedding.weight.copy_(latents[torch.randperm(len(latents))[:NUM_CODES]])
    return model


def write_vqgan(folder: Path, vq_model: CM3LeonVQModel) -> tuple[Path, Path]:
    """Chameleon's tokenizer/vqgan.yaml (taming format) and vqgan.ckpt (Lightning-style, with `loss.*` weights)."""
    config = {
        "model": {
            "base_learning_rate": 4.5e-06,
            "target": "taming.models.vqgan.VQModel",
            "params": {
                "embed_dim": VQ_CONFIG["embed_dim"],
                "n_embed": NUM_CODES,
                "ddconfig": TAMING_DDCONFIG,
                "lossconfig": {
                    "target": "taming.modules.losses.vqperceptual.VQLPIPSWithDiscriminator",
                    "params": {"disc_start": 0, "codebook_weight": 1.0},
                },
                "ckpt_path": "/checkpoints/vqgan.ckpt",
            },
        }
    }
    state_dict = dict(vq_model.state_dict())
    state_dict["loss.discriminator.main.0.weight"] = torch.randn(4, 3, 4, 4)
    state_dict["loss.perceptual_loss.net.slice1.0.weight"] = torch.randn(4, 3, 3, 3)
    yaml_path, ckpt_path = folder / "vqgan.yaml", folder / "vqgan.ckpt"
    yaml_path.write_text(yaml.safe_dump(config))
    torch.save({"state_dict": state_dict, "global_step": 1000, "epoch": 3}, ckpt_path)
    return yaml_path, ckpt_path


def random_meta_shards(params: dict, num_shards: int, seed: int) -> list[dict]:
    """Model-parallel shards of a random Chameleon transformer, in Meta's naming. Replicated norms are equal on every
    shard (as in the release); QK-norms are per shard (each rank has its own)."""
    gen = torch.Generator().manual_seed(seed)

    def rnd(*shape, std):
        return torch.randn(*shape, generator=gen) * std

    dim, heads = params["dim"], params["n_heads"]
    kv_heads = params.get("n_kv_heads") or heads
    head_dim = dim // heads
    ffn = meta_converter.intermediate_size(dim, params["multiple_of"], params.get("ffn_dim_multiplier"))
    hl, kl, fl = heads // num_shards, kv_heads // num_shards, ffn // num_shards
    replicated = {"norm.weight": 1 + rnd(dim, std=0.2)}
    for i in range(params["n_layers"]):
        replicated[f"layers.{i}.attention_norm.weight"] = 1 + rnd(dim, std=0.2)
        replicated[f"layers.{i}.ffn_norm.weight"] = 1 + rnd(dim, std=0.2)
    shards = []
    for _ in range(num_shards):
        shard = {
            "tok_embeddings.weight": rnd(VOCAB_SIZE, dim // num_shards, std=1.0),
            "output.weight": rnd(VOCAB_SIZE // num_shards, dim, std=0.3),
            "rope.freqs": rnd(head_dim // 2, std=1.0),
            **{key: value.clone() for key, value in replicated.items()},
        }
        for i in range(params["n_layers"]):
            pre = f"layers.{i}."
            shard[pre + "attention.wq.weight"] = rnd(hl * head_dim, dim, std=0.4)
            shard[pre + "attention.wk.weight"] = rnd(kl * head_dim, dim, std=0.4)
            shard[pre + "attention.wv.weight"] = rnd(kl * head_dim, dim, std=0.2)
            shard[pre + "attention.wo.weight"] = rnd(dim, hl * head_dim, std=0.2)
            shard[pre + "feed_forward.w1.weight"] = rnd(fl, dim, std=0.2)
            shard[pre + "feed_forward.w3.weight"] = rnd(fl, dim, std=0.2)
            shard[pre + "feed_forward.w2.weight"] = rnd(dim, fl, std=0.2)
            if params.get("qk_normalization"):
                for norm in ("q_normalization", "k_normalization"):
                    shard[pre + f"attention.{norm}.weight"] = 1 + rnd(head_dim, std=0.5)
                    shard[pre + f"attention.{norm}.bias"] = rnd(head_dim, std=0.5)
        shards.append(shard)
    return shards


def write_meta_model(folder: Path, params: dict, shards: list[dict]) -> None:
    folder.mkdir(parents=True)
    (folder / "params.json").write_text(json.dumps({"model_parallel_size": len(shards), "model": params}))
    (folder / "consolidate_params.json").write_text(json.dumps({}))
    if len(shards) == 1:
        torch.save(shards[0], folder / "consolidated.pth")
    else:
        for index, shard in enumerate(shards):
            torch.save(shard, folder / f"consolidated.{index:02d}.pth")


def meta_reference_logits(shards: list[dict], params: dict, tokens: torch.Tensor) -> torch.Tensor:
    """Meta's chameleon/inference/transformer.py, rewritten in plain torch for one sequence: every rank computes its
    heads / FFN slice (with its own QK-norm) and the partial outputs are summed, as `all_reduce` does; embeddings
    and logits are gathered along the feature axis. Rotary embeddings rotate adjacent pairs (complex form)."""
    num_shards = len(shards)
    dim, heads, eps, theta = params["dim"], params["n_heads"], params["norm_eps"], params["rope_theta"]
    kv_heads = params.get("n_kv_heads") or heads
    head_dim, seq = dim // heads, tokens.shape[0]
    local_heads, local_kv = heads // num_shards, kv_heads // num_shards
    freqs = 1.0 / theta ** (torch.arange(0, head_dim, 2).float() / head_dim)
    cis = torch.polar(torch.ones(seq, head_dim // 2), torch.outer(torch.arange(seq).float(), freqs))
    causal = torch.full((seq, seq), float("-inf")).triu(1)

    def rope(x):
        pairs = torch.view_as_complex(x.float().reshape(seq, x.shape[1], head_dim // 2, 2))
        return torch.view_as_real(pairs * cis[:, None]).flatten(2)

    def rms_norm(x, weight):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight

    def attention(shard, i, x):
        pre = f"layers.{i}.attention."
        q = (x @ shard[pre + "wq.weight"].T).view(seq, local_heads, head_dim)
        k = (x @ shard[pre + "wk.weight"].T).view(seq, local_kv, head_dim)
        v = (x @ shard[pre + "wv.weight"].T).view(seq, local_kv, head_dim)
        if params.get("qk_normalization"):
            q = F.layer_norm(
                q, (head_dim,), shard[pre + "q_normalization.weight"], shard[pre + "q_normalization.bias"]
            )
            k = F.layer_norm(
                k, (head_dim,), shard[pre + "k_normalization.weight"], shard[pre + "k_normalization.bias"]
            )
        q, k = rope(q), rope(k)
        k = k.repeat_interleave(local_heads // local_kv, dim=1)
        v = v.repeat_interleave(local_heads // local_kv, dim=1)
        scores = torch.einsum("thd,shd->hts", q, k) / math.sqrt(head_dim) + causal
        out = torch.einsum("hts,shd->thd", scores.softmax(-1), v).reshape(seq, local_heads * head_dim)
        return out @ shard[pre + "wo.weight"].T

    def feed_forward(shard, i, x):
        pre = f"layers.{i}.feed_forward."
        return (F.silu(x @ shard[pre + "w1.weight"].T) * (x @ shard[pre + "w3.weight"].T)) @ shard[pre + "w2.weight"].T

    h = torch.cat([shard["tok_embeddings.weight"][tokens] for shard in shards], dim=-1)
    for i in range(params["n_layers"]):
        attn_norm, ffn_norm = shards[0][f"layers.{i}.attention_norm.weight"], shards[0][f"layers.{i}.ffn_norm.weight"]
        if params.get("swin_norm"):
            h = h + rms_norm(sum(attention(s, i, h) for s in shards), attn_norm)
            h = h + rms_norm(sum(feed_forward(s, i, h) for s in shards), ffn_norm)
        else:
            h = h + sum(attention(s, i, rms_norm(h, attn_norm)) for s in shards)
            h = h + sum(feed_forward(s, i, rms_norm(h, ffn_norm)) for s in shards)
    h = rms_norm(h, shards[0]["norm.weight"])
    return torch.cat([h @ shard["output.weight"].T for shard in shards], dim=-1)


def download_sharing_tokenizer(download, folder: Path) -> Path:
    """A second download folder whose tokenizer/ is the fixture's (for variants of the model files)."""
    folder.mkdir()
    (folder / "tokenizer").symlink_to(download.root / "tokenizer")
    return folder


# 7B-like: one file, MHA, pre-norm. 30B-like: 2 model-parallel shards, grouped KV heads, Swin-style norms.
VARIANTS = {
    "7b": dict(META_PARAMS, qk_normalization=True, swin_norm=False),
    "30b": dict(META_PARAMS, n_kv_heads=2, qk_normalization=True, swin_norm=True),
}
NUM_SHARDS = {"7b": 1, "30b": 2}
# Text, specials and image tokens (our model does not mask image tokens, so every column is compared).
TOKENS = torch.tensor([0, 60, 61, 280, 281, 70, BREAK_ID, 4, 9, 19, 7, EOSS_ID, 100, 2])


@pytest.fixture(scope="module")
def chameleon_download(tmp_path_factory):
    root = tmp_path_factory.mktemp("chameleon")
    (root / "tokenizer").mkdir()
    write_text_tokenizer(root / "tokenizer" / "text_tokenizer.json")
    vq_model = random_vq_model()
    write_vqgan(root / "tokenizer", vq_model)
    shards = {}
    for size, params in VARIANTS.items():
        shards[size] = random_meta_shards(params, NUM_SHARDS[size], seed=len(size))
        write_meta_model(root / "models" / size, params, shards[size])
    return Namespace(root=root, shards=shards, vq_model=vq_model)


@pytest.fixture(scope="module")
def converted(chameleon_download, tmp_path_factory):
    outputs = {}
    for size in VARIANTS:
        out = tmp_path_factory.mktemp(f"converted-{size}")
        meta_converter.convert_chameleon(chameleon_download.root, size, out, dtype="float32", max_shard_size="40KB")
        outputs[size] = out
    return outputs


# -- Meta's format ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", list(VARIANTS))
def test_meta_conversion_matches_reference_forward(chameleon_download, converted, size):
    model, info = CM3LeonForCausalLM.from_pretrained(converted[size], output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    config = model.config
    params = VARIANTS[size]
    assert (config.block_type, config.hidden_act, config.qk_norm, config.swin_norm) == (
        "chameleon",
        "silu",
        True,
        params["swin_norm"],
    )
    assert config.num_key_value_heads == params.get("n_kv_heads", params["n_heads"])
    assert config.intermediate_size == 96  # 16 * ceil(int(8 * 32 / 3) / 16)
    assert not config.tie_word_embeddings
    with torch.no_grad():
        logits = model(TOKENS[None]).logits[0]
    reference = meta_reference_logits(chameleon_download.shards[size], params, TOKENS)
    assert logits.shape == (len(TOKENS), VOCAB_SIZE)
    assert reference.abs().max() > 1.0  # the comparison is not between near-zero numbers
    torch.testing.assert_close(logits, reference, atol=1e-4, rtol=0)


def test_reference_forward_detects_a_wrong_rotary_layout(chameleon_download):
    """The comparison above has power: giving the interleaved-RoPE reference the half-split q/k rows (what a
    converter that permuted twice, or in the wrong direction, would produce) changes its logits a lot."""
    shards = chameleon_download.shards["7b"]
    params = VARIANTS["7b"]
    relaid = [dict(shard) for shard in shards]
    for shard in relaid:
        for i in range(params["n_layers"]):
            for name in ("wq", "wk"):
                key = f"layers.{i}.attention.{name}.weight"
                shard[key] = meta_converter.interleaved_to_half_split(shard[key], shard[key].shape[0] // 8, 8)
    difference = meta_reference_logits(relaid, params, TOKENS) - meta_reference_logits(shards, params, TOKENS)
    assert difference.abs().max() > 1e-2


def test_meta_conversion_writes_sharded_safetensors(converted):
    folder = converted["30b"]
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    files = sorted(set(index["weight_map"].values()))
    assert len(files) > 1 and all((folder / name).is_file() for name in files)
    assert files[0] == f"model-00001-of-{len(files):05d}.safetensors"
    assert "lm_head.weight" in index["weight_map"] and "model.layers.1.self_attn.k_norm.bias" in index["weight_map"]
    assert not list(folder.glob("*.bin")) and not list(folder.glob("*.pth"))
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "cm3leon" and config["dtype"] == "float32"


def test_meta_conversion_dtype(chameleon_download, converted, tmp_path):
    assert AutoModelForCausalLM.from_pretrained(converted["7b"], dtype="auto").dtype == torch.float32
    out = meta_converter.convert_chameleon(chameleon_download.root, "7b", tmp_path / "bf16", dtype="bfloat16")
    model = AutoModelForCausalLM.from_pretrained(out, dtype="auto")
    assert model.dtype == torch.bfloat16 and json.loads((out / "config.json").read_text())["dtype"] == "bfloat16"
    reference = CM3LeonForCausalLM.from_pretrained(converted["7b"])
    torch.testing.assert_close(
        model.model.layers[0].self_attn.q_proj.weight.float(),
        reference.model.layers[0].self_attn.q_proj.weight.bfloat16().float(),
        atol=0,
        rtol=0,
    )
    # The VQ model keeps its own precision.
    assert CM3LeonProcessor.from_pretrained(out).image_processor.vq_model.dtype == torch.float32


def test_meta_conversion_qk_norm_is_per_shard_and_per_head(chameleon_download, converted):
    model = CM3LeonForCausalLM.from_pretrained(converted["30b"])
    q_norm = model.model.layers[0].self_attn.q_norm.weight  # [4 heads, 8], 2 heads per shard
    k_norm = model.model.layers[0].self_attn.k_norm.bias  # [2 kv heads, 8], 1 per shard
    assert q_norm.shape == (4, 8) and k_norm.shape == (2, 8)
    shards = chameleon_download.shards["30b"]
    for shard_index, shard in enumerate(shards):
        expected = meta_converter.qk_norm_to_half_split(shard["layers.0.attention.q_normalization.weight"], 8)
        torch.testing.assert_close(q_norm[2 * shard_index], expected, atol=0, rtol=0)
        torch.testing.assert_close(q_norm[2 * shard_index + 1], expected, atol=0, rtol=0)
        expected = meta_converter.qk_norm_to_half_split(shard["layers.0.attention.k_normalization.bias"], 8)
        torch.testing.assert_close(k_norm[shard_index], expected, atol=0, rtol=0)
    # The permutation sends even positions to the first half: gamma[2j] -> j, gamma[2j+1] -> j + 4.
    original = shards[0]["layers.0.attention.q_normalization.weight"]
    torch.testing.assert_close(q_norm[0, :4], original[0::2], atol=0, rtol=0)
    torch.testing.assert_close(q_norm[0, 4:], original[1::2], atol=0, rtol=0)


def test_meta_conversion_tokenizer_and_token_layout(converted):
    folder = converted["7b"]
    tokenizer = AutoTokenizer.from_pretrained(folder)
    layout = special_token_ids(tokenizer)
    assert layout == {
        "vocab_size": VOCAB_SIZE,
        "image_token_offset": 4,
        "image_vocab_size": NUM_CODES,
        "eoss_token_id": EOSS_ID,
        "break_token_id": BREAK_ID,
        "sentinel_token_offset": None,
        "num_sentinel_tokens": 0,
        "pad_token_id": 1,
        "bos_token_id": 0,
        "eos_token_id": 2,
    }
    assert tokenizer.convert_tokens_to_ids([image_token_name(0), image_token_name(15), "<racm3:break>"]) == [4, 19, 21]
    ph, a = tokenizer.convert_tokens_to_ids(["ph", "a"])
    assert tokenizer("<s>pha", add_special_tokens=False)["input_ids"] == [0, ph, a]
    config = CM3LeonForCausalLM.config_class.from_pretrained(folder)
    for key, value in layout.items():
        assert getattr(config, key) == value, key
    assert config.image_seq_length == 16  # 16 px / factor 4 -> 4 x 4 codes


def test_meta_conversion_image_tokenizer_has_decoder_and_matches_checkpoint(chameleon_download, converted):
    processor = CM3LeonProcessor.from_pretrained(converted["7b"])
    vq_model = processor.image_processor.vq_model
    assert isinstance(vq_model, CM3LeonVQModel) and vq_model.decoder is not None
    # Reference: the same architecture loaded from the original keys with plain load_state_dict (loss.* dropped).
    checkpoint = torch.load(chameleon_download.root / "tokenizer" / "vqgan.ckpt", weights_only=True)
    reference = CM3LeonVQModel(CM3LeonVQConfig(**VQ_CONFIG)).eval()
    reference.load_state_dict({k: v for k, v in checkpoint["state_dict"].items() if not k.startswith("loss.")})
    pixels = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    codes = vq_model.encode(pixels)
    assert torch.equal(codes, reference.encode(pixels))
    assert len(codes.unique()) > 3
    torch.testing.assert_close(vq_model.decode(codes), reference.decode(codes), atol=0, rtol=0)
    # Image token ids are the codes shifted by the image-token offset.
    image = processor.image_processor.postprocess(pixels[:1])[0]
    ids = processor.image_processor.images_to_token_ids(image)
    assert torch.equal(
        ids, reference.encode(processor.image_processor.preprocess(image, return_tensors="pt")["pixel_values"]) + 4
    )


def test_meta_conversion_processor_prompts_in_chameleon_layout(converted):
    folder = converted["7b"]
    assert json.loads((folder / "processor_config.json").read_text())["sequence_format"] == "chameleon"
    processor = CM3LeonProcessor.from_pretrained(folder)
    assert processor.sequence_format == "chameleon"
    ph, a = processor.tokenizer.convert_tokens_to_ids(["ph", "a"])
    # Meta's inference: a prompt starts with <s>, the model draws after <racm3:break>, an image is <break> ... <eoss>.
    assert processor.text_to_image_prompt("pha") == [0, ph, a, BREAK_ID]
    assert processor.unconditional_prompt() == [0, BREAK_ID]
    image = [4, 9, 19, 7] * 4  # 16 image tokens: one 4x4 image
    assert processor.encode_documents([["pha", image]])["input_ids"] == [[0, ph, a, BREAK_ID, *image, EOSS_ID, 2]]


def test_meta_conversion_generation_config_and_card(converted):
    folder = converted["7b"]
    generation = GenerationConfig.from_pretrained(folder)
    assert generation.do_sample is True and generation.temperature == 0.7 and generation.top_p == 0.9
    assert generation.image_generation_defaults == {
        "text-to-image": {"guidance_scale": 3.0, "temperature": 0.7, "top_p": 0.9},
        "image-editing": {"guidance_scale": 3.0, "image_guidance_scale": 1.2, "temperature": 0.7, "top_p": 0.9},
    }
    assert generation.guidance_scale is None  # stock generate() must not run CFG on text
    # Meta's text decoding: image tokens suppressed, repetition penalty 1.2.
    assert generation.suppress_tokens == list(CM3LeonConfig.from_pretrained(folder).image_token_ids)
    assert generation.repetition_penalty == 1.2
    # ... and the image pipelines start from Chameleon's own decoding.
    from transformers import pipeline

    pipe = pipeline("text-to-image", model=str(folder))
    assert pipe.generation_config().to_dict() == {"guidance_scale": 3.0, "temperature": 0.7, "top_p": 0.9}
    assert generation.eos_token_id == [2, BREAK_ID] and generation.pad_token_id == 1 and generation.bos_token_id == 0
    card = ModelCard.load(folder / "README.md")
    data = card.data
    assert data.library_name == "transformers" and data.pipeline_tag == "text-to-image"
    assert data.license == "other" and data.license_name == "chameleon-research-license"
    assert data.base_model == "facebook/chameleon-7b"
    assert {"cm3leon", "chameleon", "transformers-cm3leon"} <= set(data.tags)
    assert "Meta's Chameleon release" in card.text and "| Layers | 2 |" in card.text


def test_meta_conversion_streams_shards_from_memory_maps(chameleon_download, tmp_path, monkeypatch):
    """Each source file is memory-mapped, read with weights_only=True, and output shards are written one by one."""
    calls = []
    original_load = torch.load

    def recording_load(*args, **kwargs):
        calls.append(kwargs)
        return original_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", recording_load)
    built = []
    original_save = conversion_utils.save_file

    def recording_save(tensors, *args, **kwargs):
        built.append(len(tensors))
        return original_save(tensors, *args, **kwargs)

    monkeypatch.setattr(conversion_utils, "save_file", recording_save)
    meta_converter.convert_chameleon(chameleon_download.root, "30b", tmp_path / "out", max_shard_size="40KB")
    assert calls and all(call.get("weights_only") is True for call in calls)
    assert [call.get("mmap") for call in calls[:2]] == [True, True]  # the two model shards
    assert len(built) > 2 and max(built) < sum(built)  # several shards, none holding every tensor


def test_meta_conversion_errors_list_missing_and_unexpected_keys(chameleon_download, tmp_path):
    params = VARIANTS["7b"]
    shard = dict(chameleon_download.shards["7b"][0])
    del shard["layers.1.attention.wk.weight"]
    shard["layers.1.attention.wqkv.weight"] = torch.zeros(1)
    broken = download_sharing_tokenizer(chameleon_download, tmp_path / "broken")
    write_meta_model(broken / "models" / "7b", params, [shard])
    with pytest.raises(CheckpointKeysError) as error:
        meta_converter.convert_chameleon(broken, "7b", tmp_path / "out")
    assert error.value.missing_keys == ["layers.1.attention.wk.weight"]
    assert error.value.unexpected_keys == ["layers.1.attention.wqkv.weight"]
    assert "Missing keys (1): layers.1.attention.wk.weight" in str(error.value)
    assert "Unexpected keys (1): layers.1.attention.wqkv.weight" in str(error.value)
    assert not (tmp_path / "out").exists()  # nothing is written before the checks pass


def test_meta_conversion_errors_on_mismatched_params(chameleon_download, tmp_path):
    mismatched = download_sharing_tokenizer(chameleon_download, tmp_path / "mismatched")
    write_meta_model(mismatched / "models" / "7b", dict(VARIANTS["7b"], n_layers=3), chameleon_download.shards["7b"])
    with pytest.raises(CheckpointKeysError, match=r"Missing keys \(13\): layers\.2\.") as error:
        meta_converter.convert_chameleon(mismatched, "7b", tmp_path / "out")
    assert all(key.startswith("layers.2.") for key in error.value.missing_keys) and not error.value.unexpected_keys

    wide = download_sharing_tokenizer(chameleon_download, tmp_path / "wide")
    write_meta_model(wide / "models" / "7b", dict(VARIANTS["7b"], multiple_of=64), chameleon_download.shards["7b"])
    with pytest.raises(
        ValueError, match=r"`layers\.0\.feed_forward\.w1\.weight` has shape \(96, 32\), expected \(128, 32\)"
    ):
        meta_converter.convert_chameleon(wide, "7b", tmp_path / "out")


def test_meta_conversion_errors_on_corrupted_or_missing_files(chameleon_download, tmp_path):
    corrupted = download_sharing_tokenizer(chameleon_download, tmp_path / "corrupted")
    write_meta_model(corrupted / "models" / "7b", VARIANTS["7b"], chameleon_download.shards["7b"])
    path = corrupted / "models" / "7b" / "consolidated.pth"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ValueError, match="could not be read as a PyTorch checkpoint"):
        meta_converter.convert_chameleon(corrupted, "7b", tmp_path / "out")
    with pytest.raises(FileNotFoundError, match="params.json"):
        meta_converter.convert_chameleon(chameleon_download.root, "13b", tmp_path / "out")
    # 30B params say 2 shards; with one removed the count disagrees.
    partial = download_sharing_tokenizer(chameleon_download, tmp_path / "partial")
    write_meta_model(partial / "models" / "30b", VARIANTS["30b"], chameleon_download.shards["30b"])
    (partial / "models" / "30b" / "consolidated.01.pth").unlink()
    with pytest.raises(ValueError, match="model_parallel_size=2 but .* holds 1 checkpoint file"):
        meta_converter.convert_chameleon(partial, "30b", tmp_path / "out")


def test_meta_conversion_refuses_non_empty_output(chameleon_download, converted):
    with pytest.raises(ValueError, match="is not empty; choose an empty folder or pass --overwrite"):
        meta_converter.convert_chameleon(chameleon_download.root, "7b", converted["7b"])


# -- taming VQGAN -------------------------------------------------------------------------------------------------------
def test_taming_conversion_cli_writes_vq_model_and_image_processor(chameleon_download, tmp_path):
    tokenizer_dir = chameleon_download.root / "tokenizer"
    args = ["--checkpoint", str(tokenizer_dir / "vqgan.ckpt"), "--config", str(tokenizer_dir / "vqgan.yaml")]
    assert taming_converter.main([*args, "--output-dir", str(tmp_path / "vq")]) == 0
    assert taming_converter.main([*args, "--output-dir", str(tmp_path / "ip"), "--image-processor"]) == 0

    vq_model = CM3LeonVQModel.from_pretrained(tmp_path / "vq").eval()
    config = vq_model.config
    assert (config.base_channels, config.channel_multiplier, config.latent_channels, config.num_embeddings) == (
        32,
        [1, 2, 2],
        8,
        NUM_CODES,
    )
    image_processor = CM3LeonImageProcessor.from_pretrained(tmp_path / "ip")
    reference = chameleon_download.vq_model
    pixels = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1
    for model in (vq_model, image_processor.vq_model):
        codes = model.encode(pixels)
        assert torch.equal(codes, reference.encode(pixels))
        torch.testing.assert_close(model.decode(codes), reference.decode(codes), atol=0, rtol=0)
    assert image_processor.size == 16 and image_processor.image_token_offset == 4


def test_taming_config_conversion_names_and_rejections():
    config = vq_config_from_taming({"model": {"params": {"embed_dim": 8, "n_embed": 16, "ddconfig": TAMING_DDCONFIG}}})
    assert (config.base_channels, config.out_channels, config.double_latent, config.resolution) == (32, 3, False, 16)
    params = {"embed_dim": 8, "n_embed": 16, "ddconfig": TAMING_DDCONFIG}
    with pytest.raises(ValueError, match="only taming's plain `VQModel`"):
        vq_config_from_taming({"model": {"target": "taming.models.vqgan.GumbelVQ", "params": params}})
    with pytest.raises(ValueError, match="`remap`"):
        vq_config_from_taming(dict(params, remap="used_codes.npy"))
    with pytest.raises(ValueError, match=r"`ddconfig.attn_type='linear'` is not supported"):
        vq_config_from_taming(dict(params, ddconfig=dict(TAMING_DDCONFIG, attn_type="linear")))
    with pytest.raises(ValueError, match=r"unknown `ddconfig` keys \['giant'\]"):
        vq_config_from_taming(dict(params, ddconfig=dict(TAMING_DDCONFIG, giant=True)))


def test_taming_checkpoint_errors(chameleon_download, tmp_path):
    yaml_path = chameleon_download.root / "tokenizer" / "vqgan.yaml"
    state_dict = dict(chameleon_download.vq_model.state_dict())
    state_dict.pop("decoder.conv_out.bias")
    state_dict["encoder.extra.weight"] = torch.zeros(1)
    torch.save({"state_dict": state_dict}, tmp_path / "broken.ckpt")
    with pytest.raises(CheckpointKeysError) as error:
        load_taming_vqgan(tmp_path / "broken.ckpt", yaml_path)
    assert error.value.missing_keys == ["decoder.conv_out.bias"]
    assert error.value.unexpected_keys == ["encoder.extra.weight"]

    config = yaml.safe_load(yaml_path.read_text())
    config["model"]["params"]["ddconfig"]["ch"] = 64
    (tmp_path / "wide.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(
        ValueError, match=r"`encoder\.conv_in\.weight` has shape \(32, 3, 3, 3\), expected \(64, 3, 3, 3\)"
    ):
        load_taming_vqgan(chameleon_download.root / "tokenizer" / "vqgan.ckpt", tmp_path / "wide.yaml")

    # Lightning checkpoints may pickle arbitrary objects; weights_only=True refuses them and we say so.
    torch.save(
        {"state_dict": chameleon_download.vq_model.state_dict(), "hparams": Namespace(lr=1.0)}, tmp_path / "p.ckpt"
    )
    with pytest.raises(ValueError, match="holds Python objects besides tensors"):
        load_taming_vqgan(tmp_path / "p.ckpt", yaml_path)


# -- transformers' Chameleon format -------------------------------------------------------------------------------------
def tiny_hf_chameleon(download, folder: Path, seed: int = 0) -> ChameleonForConditionalGeneration:
    """A random transformers Chameleon with the download's vocabulary; its VQ encoder is the vqgan.ckpt's encoder."""
    tokenizer_file = download.root / "tokenizer" / "text_tokenizer.json"
    vocab = json.loads(tokenizer_file.read_text())["model"]["vocab"]
    vq = dict(VQ_CONFIG)
    vq["double_latent"] = False
    config = ChameleonConfig(
        vocab_size=VOCAB_SIZE,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
        vocabulary_map=vocab,
        vq_config=vq,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
    )
    torch.manual_seed(seed)
    model = ChameleonForConditionalGeneration(config).eval()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "vqmodel" in name:
                continue
            if name.endswith(("q_norm.weight", "k_norm.weight", "layernorm.weight", "norm.weight")):
                parameter.copy_(1 + 0.3 * torch.randn_like(parameter))
            else:
                parameter.normal_(0, 0.3)
        encoder = {k: v for k, v in download.vq_model.state_dict().items() if not k.startswith("decoder.")}
        model.model.vqmodel.load_state_dict(encoder)
    model.save_pretrained(folder)
    (folder / "tokenizer.json").write_bytes(tokenizer_file.read_bytes())
    return model


@pytest.fixture(scope="module")
def hf_chameleon(chameleon_download, tmp_path_factory):
    folder = tmp_path_factory.mktemp("hf-chameleon")
    model = tiny_hf_chameleon(chameleon_download, folder)
    return Namespace(folder=folder, model=model)


def test_hf_conversion_matches_transformers_chameleon(chameleon_download, hf_chameleon, tmp_path):
    tokenizer_dir = chameleon_download.root / "tokenizer"
    out = hf_converter.convert_hf_chameleon(
        hf_chameleon.folder,
        tmp_path / "out",
        vqgan_ckpt=tokenizer_dir / "vqgan.ckpt",
        vqgan_yaml=tokenizer_dir / "vqgan.yaml",
    )
    model, info = CM3LeonForCausalLM.from_pretrained(out, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    assert model.config.num_key_value_heads == 2 and model.config.qk_norm
    tokens = TOKENS[None]
    with torch.no_grad():
        ours = model(tokens, output_hidden_states=True)
        theirs = hf_chameleon.model(tokens, output_hidden_states=True)
    # transformers' Chameleon sets image-token logits to finfo.min in forward: compare the other columns, and the
    # hidden states of every layer.
    image_ids = list(range(4, 4 + NUM_CODES))
    text_columns = [i for i in range(VOCAB_SIZE) if i not in image_ids]
    assert (theirs.logits[..., image_ids] == torch.finfo(torch.float32).min).all()
    assert ours.logits.abs().max() > 1.0
    torch.testing.assert_close(ours.logits[..., text_columns], theirs.logits[..., text_columns], atol=1e-4, rtol=0)
    for mine, reference in zip(ours.hidden_states, theirs.hidden_states):
        torch.testing.assert_close(mine, reference, atol=1e-4, rtol=0)

    # The image tokenizer comes from vqgan.ckpt, decoder included; its codes agree with transformers' encoder.
    processor = CM3LeonProcessor.from_pretrained(out)
    pixels = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(2)) * 2 - 1
    hf_codes = hf_chameleon.model.model.vqmodel.encode(pixels).image_tokens.view(2, -1)
    assert torch.equal(processor.image_processor.vq_model.encode(pixels), hf_codes)
    hf_ids = hf_chameleon.model.model.get_image_tokens(pixels)
    assert torch.equal(processor.image_processor.vq_model.encode(pixels) + 4, hf_ids)
    images = processor.image_processor.token_ids_to_images(hf_ids)
    assert len(images) == 2 and images[0].size == (16, 16)
    assert processor.sequence_format == "chameleon" and processor.unconditional_prompt() == [0, BREAK_ID]


def test_hf_conversion_without_vqgan_is_text_only_and_says_so(hf_chameleon, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="convert_hf_chameleon_to_cm3leon"):
        out = hf_converter.convert_hf_chameleon(hf_chameleon.folder, tmp_path / "out")
    assert "has NO image tokenizer" in caplog.text
    assert not (out / "image_tokenizer").exists() and not (out / "processor_config.json").exists()
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert special_token_ids(tokenizer)["image_token_offset"] == 4
    model = CM3LeonForCausalLM.from_pretrained(out)
    with torch.no_grad():
        logits = model(TOKENS[None]).logits
        reference = hf_chameleon.model(TOKENS[None]).logits
    torch.testing.assert_close(logits[..., 30:], reference[..., 30:], atol=1e-4, rtol=0)
    card = ModelCard.load(out / "README.md")
    assert "No image tokenizer" in card.text and "AutoTokenizer" in card.text
    assert card.data.pipeline_tag == "text-generation" and "text-to-image" not in card.data.tags
    # The image pipelines say what is missing and how to add it.
    from transformers import pipeline

    with pytest.raises((ValueError, OSError), match="image tokenizer|image_tokenizer|vqgan"):
        pipeline("text-to-image", model=str(out))


def test_hf_conversion_checks_every_shape_before_writing_and_leaves_no_partial_folder(hf_chameleon, tmp_path):
    from safetensors.torch import load_file, save_file

    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("config.json", "tokenizer.json"):
        (broken / name).write_bytes((hf_chameleon.folder / name).read_bytes())
    state_dict = load_file(hf_chameleon.folder / "model.safetensors")
    name = sorted(k for k in state_dict if not k.startswith("model.vqmodel."))[-1]  # a tensor written late
    state_dict[name] = torch.zeros(3, 3)
    save_file(state_dict, broken / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ValueError, match=f"tensor '{name}' has shape \\[3, 3\\], but the converted config needs"):
        hf_converter.convert_hf_chameleon(broken, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken"]  # nothing written, no staging folder left


def test_hf_conversion_rejects_a_vqgan_from_another_model(chameleon_download, hf_chameleon, tmp_path):
    other = random_vq_model(seed=5)
    yaml_path, ckpt_path = write_vqgan(tmp_path, other)
    with pytest.raises(ValueError, match="does not match the image encoder of the transformers checkpoint"):
        hf_converter.convert_hf_chameleon(
            hf_chameleon.folder, tmp_path / "out", vqgan_ckpt=ckpt_path, vqgan_yaml=yaml_path
        )
    with pytest.raises(ValueError, match="`vqgan_yaml` was given without `vqgan_ckpt`"):
        hf_converter.convert_hf_chameleon(hf_chameleon.folder, tmp_path / "out", vqgan_yaml=yaml_path)


def test_hf_conversion_lists_missing_and_unexpected_keys(hf_chameleon, tmp_path):
    from safetensors.torch import load_file, save_file

    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("config.json", "tokenizer.json"):
        (broken / name).write_bytes((hf_chameleon.folder / name).read_bytes())
    state_dict = load_file(hf_chameleon.folder / "model.safetensors")
    state_dict.pop("model.layers.0.mlp.up_proj.weight")
    state_dict["model.layers.0.mlp.fc3.weight"] = torch.zeros(2)
    save_file(state_dict, broken / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(CheckpointKeysError) as error:
        hf_converter.convert_hf_chameleon(broken, tmp_path / "out")
    assert error.value.missing_keys == ["model.layers.0.mlp.up_proj.weight"]
    assert error.value.unexpected_keys == ["model.layers.0.mlp.fc3.weight"]
