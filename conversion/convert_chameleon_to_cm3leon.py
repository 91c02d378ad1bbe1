# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Convert Meta's Chameleon release (or a fine-tune kept in its layout, such as Anole) into a CM3Leon folder.

Input (as downloaded from Meta):

    INPUT_DIR/models/<7b|30b>/params.json [+ consolidate_params.json]
    INPUT_DIR/models/<7b|30b>/consolidated.pth            (7B)  or  consolidated.00.pth ... .03.pth  (30B, 4 shards)
    INPUT_DIR/tokenizer/text_tokenizer.json               (Hugging Face `tokenizers` file, with the IMGIMG tokens)
    INPUT_DIR/tokenizer/vqgan.yaml + vqgan.ckpt            (taming-transformers VQGAN)

Output: a folder that `CM3LeonForCausalLM.from_pretrained` and `CM3LeonProcessor.from_pretrained` load, with the
language model as sharded safetensors, the tokenizer, the image processor with the full VQ model (decoder
included, so the folder generates images), Chameleon's decoding defaults and a model card. The processor is saved
with `sequence_format="chameleon"`: its prompts start with `<s>` and wrap images as `<racm3:break> image <eoss>`, as Chameleon
was trained.

What the conversion does to the weights:
- q/k projections: Meta's rotary embedding rotates adjacent pairs (x0, x1), (x2, x3) ...; transformers' rotates the
  two halves of each head. The rows of wq/wk are permuted per head so the half-split rotation computes the same
  thing; the QK-norm gamma/beta get the same permutation.
- QK-norm: each model-parallel shard has its own gamma/beta of size head_dim, applied to its own heads; they are
  repeated per head into `[num_heads, head_dim]`.
- Model-parallel shards (30B): column-parallel weights (wq, wk, wv, w1, w3, output) are concatenated along dim 0,
  row-parallel ones (wo, w2) and the embedding (split over its width) along dim 1; replicated norms are averaged.

Memory: the checkpoint is memory-mapped (`torch.load(weights_only=True, mmap=True)`: its pages are file-backed and
reclaimable) and each output shard is built and written before the next one, so a 7B conversion holds the weights
once plus about two output shards (the shard's tensors and safetensors' serialised buffer), never a second full
copy. Measured on a 648 MiB fp32 checkpoint with 200 MB shards: peak RSS +938 MB, against +1299 MB for loading the
checkpoint and building the whole converted state dict.

Usage:

    python conversion/convert_chameleon_to_cm3leon.py --input-dir chameleon-data --model-size 7b \
        --output-dir chameleon-7b-cm3leon
"""

from __future__ import annotations

import argparse
import logging
import math
from pathlib import Path

import torch

from transformers_cm3leon.configuration_cm3leon import CM3LeonConfig
from transformers_cm3leon.conversion_utils import (
    PlannedTensor,
    add_output_arguments,
    build_processor,
    check_keys,
    check_shape,
    embedding_special_token_ids,
    expected_state_dict_shapes,
    load_chameleon_tokenizer,
    load_torch_checkpoint,
    output_options,
    resolve_dtype,
    warn_if_qk_norm_eps_differs,
    write_converted_model,
)
from transformers_cm3leon.model_card import CHAMELEON_LICENSE
from transformers_cm3leon.modeling_cm3leon import CM3LeonForCausalLM
from transformers_cm3leon.taming_vqgan import load_taming_vqgan
from transformers_cm3leon.validation import read_mapping_file

logger = logging.getLogger("convert_chameleon_to_cm3leon")

BASE_MODELS = {"7b": "facebook/chameleon-7b", "30b": "facebook/chameleon-30b"}
# transformers' Chameleon converter: 4096 positions, 16384 for the long-context variants with a larger rope_theta.
DEFAULT_CONTEXT, LONG_CONTEXT = 4096, 16384


# -- reading --------------------------------------------------------------------------------------------------------
def read_params(model_dir: Path) -> dict:
    """`params.json` merged like Chameleon's loader: `{**params, **params["model"], **consolidate_params}`."""
    params_path = model_dir / "params.json"
    if not params_path.is_file():
        raise FileNotFoundError(f"{params_path} does not exist; is {model_dir} a Chameleon model folder?")
    params = read_mapping_file(params_path, "--input-dir", file_format="json")
    consolidate_path = model_dir / "consolidate_params.json"
    consolidate = (
        read_mapping_file(consolidate_path, "--input-dir", file_format="json") if consolidate_path.is_file() else {}
    )
    merged = {**params, **params.get("model", {}), **consolidate}
    missing = [key for key in ("dim", "n_layers", "n_heads") if key not in merged]
    if missing:
        raise ValueError(f"{params_path} lacks {missing}.")
    return merged


def find_shards(model_dir: Path, params: dict) -> list[Path]:
    """`consolidated.pth`, or the model-parallel shards `consolidated.00.pth`, `consolidated.01.pth`, ... in order."""
    single = model_dir / "consolidated.pth"
    shards = [single] if single.is_file() else sorted(model_dir.glob("consolidated.[0-9][0-9].pth"))
    if not shards:
        raise FileNotFoundError(f"No consolidated.pth or consolidated.NN.pth in {model_dir}.")
    numbers = [int(path.name.split(".")[1]) for path in shards] if shards[0] != single else [0]
    if numbers != list(range(len(shards))):
        raise ValueError(f"Model-parallel shards must be numbered 00..{len(shards) - 1:02d}, found {numbers}.")
    expected = params.get("model_parallel_size")
    if expected is not None and expected != len(shards):
        raise ValueError(
            f"params.json says model_parallel_size={expected} but {model_dir} holds {len(shards)} checkpoint file(s): "
            f"{[path.name for path in shards]}."
        )
    return shards


def intermediate_size(dim: int, multiple_of: int, ffn_dim_multiplier: float | None) -> int:
    """Chameleon's FeedForward width: `multiple_of * ceil(ffn_dim_multiplier * int(2 * 4 * dim / 3) / multiple_of)`."""
    hidden = int(2 * 4 * dim / 3)
    if ffn_dim_multiplier is not None:
        hidden = int(ffn_dim_multiplier * hidden)
    return multiple_of * math.ceil(hidden / multiple_of)


# -- layout of Meta's checkpoint ------------------------------------------------------------------------------------
class MetaLayout:
    """Names and per-shard shapes of the tensors of a Chameleon checkpoint with `num_shards` model-parallel shards."""

    def __init__(self, params: dict, num_shards: int, vocab_size: int):
        self.dim = params["dim"]
        self.num_layers = params["n_layers"]
        self.num_heads = params["n_heads"]
        self.num_kv_heads = params.get("n_kv_heads") or self.num_heads
        self.num_shards = num_shards
        self.vocab_size = vocab_size
        self.qk_norm = bool(params.get("qk_normalization", False))
        self.intermediate_size = intermediate_size(
            self.dim, params.get("multiple_of", 256), params.get("ffn_dim_multiplier")
        )
        for name, value in (
            ("dim", self.dim),
            ("n_heads", self.num_heads),
            ("n_kv_heads", self.num_kv_heads),
            ("vocab_size", vocab_size),
            ("the FFN width", self.intermediate_size),
        ):
            divisor = self.num_heads if name == "dim" else num_shards
            if value % divisor:
                raise ValueError(f"{name}={value} is not divisible by {divisor} ({num_shards} model-parallel shards).")
        self.head_dim = self.dim // self.num_heads
        if self.head_dim % 2:
            raise ValueError(f"head_dim={self.head_dim} must be even for rotary embeddings.")

    def shard_shapes(self) -> dict[str, tuple[int, ...]]:
        s, hd, d = self.num_shards, self.head_dim, self.dim
        shapes = {
            "tok_embeddings.weight": (self.vocab_size, d // s),
            "norm.weight": (d,),
            "output.weight": (self.vocab_size // s, d),
        }
        for i in range(self.num_layers):
            prefix = f"layers.{i}."
            shapes.update(
                {
                    prefix + "attention.wq.weight": (self.num_heads // s * hd, d),
                    prefix + "attention.wk.weight": (self.num_kv_heads // s * hd, d),
                    prefix + "attention.wv.weight": (self.num_kv_heads // s * hd, d),
                    prefix + "attention.wo.weight": (d, self.num_heads // s * hd),
                    prefix + "feed_forward.w1.weight": (self.intermediate_size // s, d),
                    prefix + "feed_forward.w3.weight": (self.intermediate_size // s, d),
                    prefix + "feed_forward.w2.weight": (d, self.intermediate_size // s),
                    prefix + "attention_norm.weight": (d,),
                    prefix + "ffn_norm.weight": (d,),
                }
            )
            if self.qk_norm:
                for norm in ("q_normalization", "k_normalization"):
                    shapes[prefix + f"attention.{norm}.weight"] = (hd,)
                    shapes[prefix + f"attention.{norm}.bias"] = (hd,)
        return shapes


def check_shards(shards: list[dict], paths: list[Path], layout: MetaLayout) -> None:
    """Every shard has exactly the expected keys (`rope.freqs`, a buffer, may be there) with the expected shapes."""
    expected = layout.shard_shapes()
    for shard, path in zip(shards, paths):
        check_keys(
            shard,
            expected,
            str(path),
            ignore=[r"rope\.freqs"],
            hint="Is this a Chameleon checkpoint, and does params.json describe it (n_layers, qk_normalization)?",
        )
        for name, shape in expected.items():
            check_shape(name, shard[name], shape, str(path))


# -- weight transforms ----------------------------------------------------------------------------------------------
def interleaved_to_half_split(weight: torch.Tensor, num_heads: int, head_dim: int) -> torch.Tensor:
    """Permute the output rows of a q/k projection from Meta's interleaved rotary pairs to transformers' halves.

    Within each head, output `2j` moves to `j` and `2j + 1` to `j + head_dim / 2`: rotating the halves of the
    permuted vector is then the same as rotating the adjacent pairs of the original one.
    """
    rows, columns = weight.shape
    return weight.view(num_heads, head_dim // 2, 2, columns).transpose(1, 2).reshape(rows, columns)


def qk_norm_to_half_split(vector: torch.Tensor, head_dim: int) -> torch.Tensor:
    """The same permutation for a QK-norm gamma or beta of size `head_dim`."""
    return vector.view(head_dim // 2, 2).t().reshape(head_dim)


def plan_language_model(
    shards: list[dict], layout: MetaLayout, dtype: torch.dtype, source: str
) -> dict[str, PlannedTensor]:
    """The CM3Leon state dict as lazily built tensors, in the order they will be written."""
    num_shards, hd = layout.num_shards, layout.head_dim

    def concat(key: str, dim: int):
        return lambda: torch.cat([shard[key] for shard in shards], dim=dim)

    def average(key: str):
        return lambda: torch.stack([shard[key].float() for shard in shards]).mean(dim=0)

    def rotary(key: str, num_heads: int):
        return lambda: interleaved_to_half_split(torch.cat([shard[key] for shard in shards]), num_heads, hd)

    def per_head(key: str, heads_per_shard: int):
        # Shard s applied its own gamma/beta to its heads s * heads_per_shard ... (s + 1) * heads_per_shard - 1.
        return lambda: torch.stack([qk_norm_to_half_split(shard[key], hd) for shard in shards]).repeat_interleave(
            heads_per_shard, dim=0
        )

    plan: dict[str, PlannedTensor] = {}

    def add(name: str, shape: tuple[int, ...], produce, meta_key: str) -> None:
        plan[name] = PlannedTensor(shape=shape, dtype=dtype, produce=produce, source=f"{source} ({meta_key})")

    dim, heads, kv_heads, ffn = layout.dim, layout.num_heads, layout.num_kv_heads, layout.intermediate_size
    add("model.embed_tokens.weight", (layout.vocab_size, dim), concat("tok_embeddings.weight", 1), "tok_embeddings")
    for i in range(layout.num_layers):
        meta, ours = f"layers.{i}.", f"model.layers.{i}."
        add(ours + "input_layernorm.weight", (dim,), average(meta + "attention_norm.weight"), meta + "attention_norm")
        add(
            ours + "self_attn.q_proj.weight",
            (heads * hd, dim),
            rotary(meta + "attention.wq.weight", heads),
            meta + "wq",
        )
        add(
            ours + "self_attn.k_proj.weight",
            (kv_heads * hd, dim),
            rotary(meta + "attention.wk.weight", kv_heads),
            meta + "wk",
        )
        add(
            ours + "self_attn.v_proj.weight",
            (kv_heads * hd, dim),
            concat(meta + "attention.wv.weight", 0),
            meta + "wv",
        )
        add(ours + "self_attn.o_proj.weight", (dim, heads * hd), concat(meta + "attention.wo.weight", 1), meta + "wo")
        if layout.qk_norm:
            for ours_norm, meta_norm, count in (
                ("q_norm", "q_normalization", heads),
                ("k_norm", "k_normalization", kv_heads),
            ):
                for param in ("weight", "bias"):
                    key = f"{meta}attention.{meta_norm}.{param}"
                    add(f"{ours}self_attn.{ours_norm}.{param}", (count, hd), per_head(key, count // num_shards), key)
        add(ours + "post_attention_layernorm.weight", (dim,), average(meta + "ffn_norm.weight"), meta + "ffn_norm")
        add(ours + "mlp.gate_proj.weight", (ffn, dim), concat(meta + "feed_forward.w1.weight", 0), meta + "w1")
        add(ours + "mlp.up_proj.weight", (ffn, dim), concat(meta + "feed_forward.w3.weight", 0), meta + "w3")
        add(ours + "mlp.down_proj.weight", (dim, ffn), concat(meta + "feed_forward.w2.weight", 1), meta + "w2")
    add("model.norm.weight", (dim,), average("norm.weight"), "norm")
    add("lm_head.weight", (layout.vocab_size, dim), concat("output.weight", 0), "output")
    return plan


def build_config(params: dict, layout: MetaLayout, tokenizer, image_seq_length: int) -> CM3LeonConfig:
    rope_theta = float(params.get("rope_theta", 10000.0))
    warn_if_qk_norm_eps_differs(float(params.get("norm_eps", 1e-5)))
    return CM3LeonConfig(
        **embedding_special_token_ids(tokenizer, layout.vocab_size),
        block_type="chameleon",
        hidden_act="silu",
        hidden_size=layout.dim,
        intermediate_size=layout.intermediate_size,
        num_hidden_layers=layout.num_layers,
        num_attention_heads=layout.num_heads,
        num_key_value_heads=layout.num_kv_heads,
        max_position_embeddings=LONG_CONTEXT if rope_theta > 10000.0 else DEFAULT_CONTEXT,
        norm_eps=float(params.get("norm_eps", 1e-5)),
        rope_parameters={"rope_type": "default", "rope_theta": rope_theta},
        qk_norm=layout.qk_norm,
        swin_norm=bool(params.get("swin_norm", False)),
        tie_word_embeddings=False,
        initializer_range=0.02,
        image_seq_length=image_seq_length,
    )


# -- the conversion -------------------------------------------------------------------------------------------------
def convert_chameleon(
    input_dir: str | Path,
    model_size: str,
    output_dir: str | Path,
    dtype: str | torch.dtype | None = None,
    max_shard_size: int | str = "2GB",
    overwrite: bool = False,
    repo_id: str | None = None,
    model_name: str | None = None,
    base_model: str | None = None,
) -> Path:
    """Convert `input_dir` (Meta's layout, see the module docstring) into a CM3Leon folder at `output_dir`.

    Everything is validated (parameters, every shard's keys and shapes, tokenizer, VQGAN) before anything is written.
    `dtype` is the dtype of the language model weights (`None`: keep the checkpoint's); the VQ model keeps its own.
    """
    input_dir = Path(input_dir)
    model_dir = input_dir / "models" / model_size.lower()
    tokenizer_dir = input_dir / "tokenizer"
    params = read_params(model_dir)
    shard_paths = find_shards(model_dir, params)
    logger.info(f"Reading {len(shard_paths)} shard(s) from {model_dir} (memory-mapped).")
    shards = [load_torch_checkpoint(path, mmap=True) for path in shard_paths]
    tokenizer = load_chameleon_tokenizer(tokenizer_dir / "text_tokenizer.json")
    vocab_size = params.get("vocab_size", -1)  # Chameleon's ModelArgs default is -1: unset
    if vocab_size <= 0:
        embedding = shards[0].get("tok_embeddings.weight")
        vocab_size = embedding.shape[0] if embedding is not None else len(tokenizer)
    layout = MetaLayout(params, len(shard_paths), vocab_size)
    check_shards(shards, shard_paths, layout)
    dtype = resolve_dtype(dtype) or shards[0]["tok_embeddings.weight"].dtype

    vq_model = load_taming_vqgan(tokenizer_dir / "vqgan.ckpt", tokenizer_dir / "vqgan.yaml")
    processor = build_processor(tokenizer, vq_model, sequence_format="chameleon")
    config = build_config(params, layout, tokenizer, image_seq_length=vq_model.config.grid_size**2)
    config.dtype = dtype

    plan = plan_language_model(shards, layout, dtype, source=str(model_dir))
    expected = expected_state_dict_shapes(CM3LeonForCausalLM, config)
    check_keys(plan, expected, "The converted state dict")
    for name, planned in plan.items():
        if planned.shape != expected[name]:
            raise RuntimeError(
                f"Planned {name} with shape {planned.shape}, CM3LeonForCausalLM expects {expected[name]}."
            )

    size = model_size.lower()
    output_dir = write_converted_model(
        output_dir,
        plan,
        config,
        tokenizer,
        processor,
        overwrite=overwrite,
        max_shard_size=max_shard_size,
        repo_id=repo_id,
        model_name=model_name or f"Chameleon-{size.upper()} (CM3Leon format)",
        source=f"Meta's Chameleon release (`models/{size}` and `tokenizer/` of the download)",
        base_model=base_model or BASE_MODELS.get(size),
        **CHAMELEON_LICENSE,
    )
    logger.info(f"Done: {output_dir}")
    return output_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input-dir", required=True, help="The Chameleon download (holds models/ and tokenizer/).")
    parser.add_argument("--model-size", required=True, help="Folder under models/: 7b or 30b (or a fine-tune's name).")
    add_output_arguments(parser, "Folder to write the CM3Leon model into.")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    convert_chameleon(args.input_dir, args.model_size, args.output_dir, **output_options(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
