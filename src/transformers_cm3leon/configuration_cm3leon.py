# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Configurations of the CM3Leon language model and of its VQ image tokenizer."""

from __future__ import annotations

import math

from transformers import PretrainedConfig

# Vocabulary layout shared by the tokenizer builder, the presets and the Chameleon release:
#   0 <s>, 1 <pad>, 2 </s>, 3 <unk>, then the image tokens (one per VQ code, in code order),
#   then <eoss>, <racm3:break> (Chameleon's end-/begin-image ids 8196/8197), then the sentinels,
#   then the BPE text tokens.
BLOCK_TYPES = ("cm3leon", "chameleon")


def _check_choice(name: str, value, allowed) -> None:
    if value not in allowed:
        raise ValueError(f"`{name}` must be one of {list(allowed)}, got {value!r}.")


def _check_positive_int(name: str, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")


class CM3LeonConfig(PretrainedConfig):
    r"""
    Configuration of [`CM3LeonForCausalLM`]: a decoder-only transformer over one vocabulary of text tokens,
    VQ image tokens and the CM3 special tokens.

    Two blocks are available, selected by `block_type`:

    - `"cm3leon"` (the paper's): pre-LayerNorm without learnable parameters, no biases, no dropout, learned
      absolute positions with OPT's offset of 2, a two-layer MLP with `hidden_act` (ReLU by default).
    - `"chameleon"` (Meta's public successor, also Anole): RMSNorm, SwiGLU MLP, rotary positions, optional
      per-head QK LayerNorm (`qk_norm`), optional Swin-style norm ordering (`swin_norm`), grouped KV heads.

    Args:
        vocab_size (`int`): Number of rows of the embedding table (text + image + special tokens).
        hidden_size (`int`): Width of the residual stream.
        intermediate_size (`int`): Width of the MLP.
        num_hidden_layers (`int`): Number of decoder layers.
        num_attention_heads (`int`): Number of query heads.
        num_key_value_heads (`int`, *optional*): Number of key/value heads (grouped-query attention). Defaults to
            `num_attention_heads`.
        head_dim (`int`, *optional*): Width of one head. Defaults to `hidden_size // num_attention_heads`.
        block_type (`str`): `"cm3leon"` or `"chameleon"`.
        hidden_act (`str`): MLP activation (`"relu"` for CM3Leon, `"silu"` for Chameleon's SwiGLU).
        max_position_embeddings (`int`): Context length (4096).
        norm_eps (`float`): Epsilon of the LayerNorm / RMSNorm.
        rope_parameters (`dict`, *optional*): RoPE settings of the Chameleon block (`rope_theta`, `rope_type` and
            its scaling fields); `None` for the paper's block, which has learned positions.
        qk_norm (`bool`): LayerNorm over the head dimension of queries and keys (Chameleon block only).
        swin_norm (`bool`): Swin-style ordering `h = x + norm(attn(x))` (Chameleon block only).
        initializer_range (`float`): Std of the truncated-normal init (0.006 in the paper).
        init_truncation (`float`): Truncation of the init in standard deviations (3).
        position_initializer_range (`float`): Std of the learned position table (0.0002 in the paper).
        zero_init_output_projections (`bool`): Initialise each block's attention output and MLP output projection
            to zero (the paper's "output layers are initialised as 0").
        image_token_offset (`int`): Id of the image token of VQ code 0; code `c` is id `image_token_offset + c`.
        image_vocab_size (`int`): Number of VQ codes (8192).
        image_seq_length (`int`): Image tokens per image (1024).
        num_palette_tokens (`int`): The last `num_palette_tokens` image tokens are palette codes (an image tokenizer
            with `num_palette_embeddings`): each image ends with one, and only there. 0 (the paper, Chameleon): none.
        break_token_id (`int`): Id of `<racm3:break>`, the modality switch (begin-image in Chameleon).
        eoss_token_id (`int`): Id of `<eoss>`, end of a sentinel span (end-image in Chameleon).
        sentinel_token_offset (`int`, *optional*): Id of `<sentinel:0>`; `None` when the vocabulary has none.
        num_sentinel_tokens (`int`): Number of sentinels `<sentinel:0..N-1>`.
    """

    model_type = "cm3leon"
    keys_to_ignore_at_inference = ["past_key_values"]
    # Tensor and pipeline parallelism (transformers' `tp_plan="auto"`), as Llama's: heads split column-wise, outputs
    # row-wise. The QK-norm weights are per head, so they follow their heads.
    base_model_tp_plan = {
        "layers.*.self_attn.q_proj": "colwise",
        "layers.*.self_attn.k_proj": "colwise",
        "layers.*.self_attn.v_proj": "colwise",
        "layers.*.self_attn.q_norm": "colwise",
        "layers.*.self_attn.k_norm": "colwise",
        "layers.*.self_attn.o_proj": "rowwise",
        "layers.*.mlp.gate_proj": "colwise",
        "layers.*.mlp.up_proj": "colwise",
        "layers.*.mlp.down_proj": "rowwise",
    }
    base_model_pp_plan = {
        "embed_tokens": (["input_ids"], ["inputs_embeds"]),
        "layers": (["hidden_states", "attention_mask"], ["hidden_states"]),
        "norm": (["hidden_states"], ["hidden_states"]),
    }

    def __init__(
        self,
        vocab_size: int = 56320,
        hidden_size: int = 1024,
        intermediate_size: int = 4096,
        num_hidden_layers: int = 24,
        num_attention_heads: int = 16,
        num_key_value_heads: int | None = None,
        head_dim: int | None = None,
        block_type: str = "cm3leon",
        hidden_act: str = "relu",
        max_position_embeddings: int = 4096,
        norm_eps: float = 1e-5,
        rope_parameters: dict | None = None,
        qk_norm: bool = False,
        swin_norm: bool = False,
        initializer_range: float = 0.006,
        init_truncation: float = 3.0,
        position_initializer_range: float = 0.0002,
        zero_init_output_projections: bool = False,
        image_token_offset: int = 4,
        image_vocab_size: int = 8192,
        image_seq_length: int = 1024,
        num_palette_tokens: int = 0,
        eoss_token_id: int = 8196,
        break_token_id: int = 8197,
        sentinel_token_offset: int | None = 8198,
        num_sentinel_tokens: int = 512,
        pad_token_id: int = 1,
        bos_token_id: int = 0,
        eos_token_id: int = 2,
        tie_word_embeddings: bool = True,
        use_cache: bool = True,
        **kwargs,
    ):
        _check_choice("block_type", block_type, BLOCK_TYPES)
        for name, value in (
            ("vocab_size", vocab_size),
            ("hidden_size", hidden_size),
            ("intermediate_size", intermediate_size),
            ("num_hidden_layers", num_hidden_layers),
            ("num_attention_heads", num_attention_heads),
            ("max_position_embeddings", max_position_embeddings),
            ("image_vocab_size", image_vocab_size),
            ("image_seq_length", image_seq_length),
        ):
            _check_positive_int(name, value)
        for name, value in (("norm_eps", norm_eps), ("initializer_range", initializer_range)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
                raise ValueError(f"`{name}` must be a positive finite number, got {value!r}.")
        num_key_value_heads = num_attention_heads if num_key_value_heads is None else num_key_value_heads
        if num_attention_heads % num_key_value_heads:
            raise ValueError(
                f"`num_attention_heads` ({num_attention_heads}) must be a multiple of `num_key_value_heads` "
                f"({num_key_value_heads})."
            )
        if head_dim is None:
            if hidden_size % num_attention_heads:
                raise ValueError(
                    f"`hidden_size` ({hidden_size}) must be divisible by `num_attention_heads` ({num_attention_heads}) "
                    "when `head_dim` is not given."
                )
            head_dim = hidden_size // num_attention_heads
        if block_type == "cm3leon" and (qk_norm or swin_norm or num_key_value_heads != num_attention_heads):
            raise ValueError(
                "`qk_norm`, `swin_norm` and grouped KV heads belong to the Chameleon block; got "
                f"qk_norm={qk_norm}, swin_norm={swin_norm}, num_key_value_heads={num_key_value_heads} with "
                "block_type='cm3leon'."
            )
        default_rope = {"rope_type": "default", "rope_theta": 10000.0}
        if block_type == "cm3leon":
            # The paper's block has learned positions. Folders saved by version 0.1 carry the unused default.
            if rope_parameters not in (None, default_rope):
                raise ValueError(
                    f"`rope_parameters`={rope_parameters!r} configure rotary positions, which the paper's block "
                    "(block_type='cm3leon') does not have: it learns absolute positions. Use block_type='chameleon'."
                )
            rope_parameters = None
        else:
            rope_parameters = rope_parameters or default_rope
        if num_sentinel_tokens and sentinel_token_offset is None:
            raise ValueError("`sentinel_token_offset` is required when `num_sentinel_tokens` > 0.")

        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.intermediate_size = intermediate_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.num_key_value_heads = num_key_value_heads
        self.head_dim = head_dim
        self.block_type = block_type
        self.hidden_act = hidden_act
        self.max_position_embeddings = max_position_embeddings
        self.norm_eps = norm_eps
        if rope_parameters is not None:  # the paper's block has no rotary positions, so no `rope_parameters`
            self.rope_parameters = rope_parameters
        self.qk_norm = qk_norm
        self.swin_norm = swin_norm
        self.initializer_range = initializer_range
        self.init_truncation = init_truncation
        self.position_initializer_range = position_initializer_range
        self.zero_init_output_projections = zero_init_output_projections
        self.image_token_offset = image_token_offset
        self.image_vocab_size = image_vocab_size
        self.image_seq_length = image_seq_length
        if isinstance(num_palette_tokens, bool) or not isinstance(num_palette_tokens, int):
            raise TypeError(f"`num_palette_tokens` must be an int (0 for none), got {num_palette_tokens!r}.")
        if num_palette_tokens and not (2 <= num_palette_tokens < image_vocab_size and image_seq_length >= 2):
            raise ValueError(
                f"`num_palette_tokens` must be 0 or in [2, image_vocab_size={image_vocab_size}), with at least one grid "
                f"token before it (image_seq_length={image_seq_length}), got {num_palette_tokens}."
            )
        self.num_palette_tokens = num_palette_tokens
        self.eoss_token_id = eoss_token_id
        self.break_token_id = break_token_id
        self.sentinel_token_offset = sentinel_token_offset
        self.num_sentinel_tokens = num_sentinel_tokens
        self.use_cache = use_cache
        super().__init__(
            pad_token_id=pad_token_id,
            bos_token_id=bos_token_id,
            eos_token_id=eos_token_id,
            tie_word_embeddings=tie_word_embeddings,
            **kwargs,
        )
        self._check_token_ids()

    def _check_token_ids(self) -> None:
        named_ids = {
            "pad_token_id": self.pad_token_id,
            "bos_token_id": self.bos_token_id,
            "eos_token_id": self.eos_token_id,
            "break_token_id": self.break_token_id,
            "eoss_token_id": self.eoss_token_id,
        }
        for name, token_id in named_ids.items():
            if token_id is not None and not 0 <= token_id < self.vocab_size:
                raise ValueError(f"`{name}` must be in [0, vocab_size={self.vocab_size}), got {token_id}.")
        ranges = {"image tokens": (self.image_token_offset, self.image_vocab_size)}
        if self.num_sentinel_tokens:
            ranges["sentinel tokens"] = (self.sentinel_token_offset, self.num_sentinel_tokens)
        for what, (start, size) in ranges.items():
            if start < 0 or start + size > self.vocab_size:
                raise ValueError(
                    f"The {what} occupy ids [{start}, {start + size}), which does not fit in "
                    f"vocab_size={self.vocab_size}."
                )
        image_ids = range(self.image_token_offset, self.image_token_offset + self.image_vocab_size)
        for name, token_id in named_ids.items():
            if token_id in image_ids:
                raise ValueError(
                    f"`{name}`={token_id} falls inside the image-token range [{image_ids.start}, {image_ids.stop})."
                )

    # -- token helpers ----------------------------------------------------------------------------------------------
    @property
    def image_token_ids(self) -> range:
        """The ids of the image tokens, in code order."""
        return range(self.image_token_offset, self.image_token_offset + self.image_vocab_size)

    @property
    def sentinel_token_ids(self) -> range:
        """The ids of `<sentinel:0>` ... `<sentinel:N-1>`."""
        if not self.num_sentinel_tokens:
            return range(0)
        return range(self.sentinel_token_offset, self.sentinel_token_offset + self.num_sentinel_tokens)

    # -- presets ----------------------------------------------------------------------------------------------------
    @classmethod
    def from_preset(cls, name: str, **kwargs) -> CM3LeonConfig:
        """Build a configuration of a named size (`cm3leon-350m`, `cm3leon-760m`, `cm3leon-7b`, `chameleon-7b`).

        Keyword arguments override fields of the preset.
        """
        if name not in CM3LEON_PRESETS:
            raise ValueError(f"Unknown preset {name!r}; available presets: {sorted(CM3LEON_PRESETS)}.")
        return cls(**{**CM3LEON_PRESETS[name], **kwargs})


# Sizes from the paper's Table 3 (layers, width); heads and FFN width are metaseq's stock sizes (16/16/32 heads,
# FFN 4d). The CM3Leon vocabulary is the paper's 56,320 tokens (text, 8192 image tokens, specials). The head is
# tied for 350m/760m (OPT's convention) and untied for 7b (the paper zero-initialises its "output layers"); the
# names are nominal, as in GPT-3/OPT, and count the blocks and token embeddings (see tests/test_configuration.py).
_CM3LEON_BASE = dict(block_type="cm3leon", hidden_act="relu", vocab_size=56320, max_position_embeddings=4096)
CM3LEON_PRESETS: dict[str, dict] = {
    "cm3leon-350m": dict(
        _CM3LEON_BASE, hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16
    ),
    "cm3leon-760m": dict(
        _CM3LEON_BASE, hidden_size=1536, intermediate_size=6144, num_hidden_layers=24, num_attention_heads=16
    ),
    "cm3leon-7b": dict(
        _CM3LEON_BASE,
        hidden_size=4096,
        intermediate_size=16384,
        num_hidden_layers=32,
        num_attention_heads=32,
        tie_word_embeddings=False,
    ),
    # Meta's Chameleon-7B release (params.json): LLaMA-2 block with QK-norm, 65,536 tokens including the 8192
    # image tokens at ids 4..8195, <eoss>=8196 (end-image), <racm3:break>=8197 (begin-image), no sentinels.
    "chameleon-7b": dict(
        block_type="chameleon",
        hidden_act="silu",
        vocab_size=65536,
        hidden_size=4096,
        intermediate_size=11008,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=32,
        max_position_embeddings=4096,
        qk_norm=True,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        tie_word_embeddings=False,
        sentinel_token_offset=None,
        num_sentinel_tokens=0,
        initializer_range=0.02,
    ),
}


class CM3LeonVQConfig(PretrainedConfig):
    r"""
    Configuration of [`CM3LeonVQModel`], the taming-transformers style VQGAN that turns an image into a grid of
    codes (row-major) and back.

    Args:
        embed_dim (`int`): Dimension of a codebook vector.
        num_embeddings (`int`): Codebook size (8192).
        latent_channels (`int`): Channels of the encoder output (taming's `z_channels`).
        resolution (`int`): Side of the square input image in pixels.
        in_channels (`int`): Image channels in.
        out_channels (`int`): Image channels out.
        base_channels (`int`): Channels of the first resolution level (taming's `ch`).
        channel_multiplier (`list[int]`): Channel multiplier per resolution level (taming's `ch_mult`); the
            downsampling factor is `2 ** (len(channel_multiplier) - 1)`.
        num_res_blocks (`int`): ResNet blocks per level.
        attn_resolutions (`list[int]`): Resolutions (in pixels of the feature map) with self-attention.
        dropout (`float`): Dropout in the ResNet blocks (0 at inference).
        double_latent (`bool`): Whether the encoder outputs twice `latent_channels` (taming's `double_z`).
        beta (`float`): Weight of the commitment loss.
        num_groups (`int`): Groups of every GroupNorm (32 in taming).
        initializer_range (`float`): Std of the normal init of the codebook.
        num_palette_embeddings (`int`): Size of a second, global codebook: one more code per image, read from its
            colours alone (not where they are) and added to the decoder's input everywhere, so that the grid codes
            can describe shapes while the palette code says how they are coloured (e.g. an emoji's skin tone). It
            follows the grid codes (`image_seq_length = grid_size ** 2 + 1`) and is numbered after them
            (`num_embeddings + palette`). 0 (taming, Chameleon): no palette code.
    """

    model_type = "cm3leon_vqgan"
    base_config_key = "vq_config"

    def __init__(
        self,
        embed_dim: int = 256,
        num_embeddings: int = 8192,
        latent_channels: int = 256,
        resolution: int = 256,
        in_channels: int = 3,
        out_channels: int = 3,
        base_channels: int = 128,
        channel_multiplier: list[int] = (1, 1, 2, 4),
        num_res_blocks: int = 2,
        attn_resolutions: list[int] = (32,),
        dropout: float = 0.0,
        double_latent: bool = False,
        beta: float = 0.25,
        num_groups: int = 32,
        initializer_range: float = 0.02,
        num_palette_embeddings: int = 0,
        **kwargs,
    ):
        if isinstance(num_palette_embeddings, bool) or not isinstance(num_palette_embeddings, int):
            raise TypeError(f"`num_palette_embeddings` must be an int (0 for none), got {num_palette_embeddings!r}.")
        if num_palette_embeddings == 1 or num_palette_embeddings < 0:
            raise ValueError(
                f"`num_palette_embeddings` must be 0 (no palette code) or at least 2, got {num_palette_embeddings}."
            )
        for name, value in (
            ("embed_dim", embed_dim),
            ("num_embeddings", num_embeddings),
            ("latent_channels", latent_channels),
            ("resolution", resolution),
            ("base_channels", base_channels),
            ("num_res_blocks", num_res_blocks),
            ("num_groups", num_groups),
        ):
            _check_positive_int(name, value)
        channel_multiplier = list(channel_multiplier)
        if not channel_multiplier:
            raise ValueError("`channel_multiplier` must list at least one level, got [].")
        factor = 2 ** (len(channel_multiplier) - 1)
        if resolution % factor:
            raise ValueError(
                f"`resolution` ({resolution}) must be divisible by the downsampling factor {factor} implied by "
                f"`channel_multiplier`={channel_multiplier}."
            )
        widths = [base_channels * m for m in channel_multiplier] + [base_channels]
        if any(w % num_groups for w in widths):
            raise ValueError(
                f"Every level's channels {widths} must be divisible by `num_groups` ({num_groups}) for GroupNorm."
            )
        self.embed_dim = embed_dim
        self.num_embeddings = num_embeddings
        self.latent_channels = latent_channels
        self.resolution = resolution
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.base_channels = base_channels
        self.channel_multiplier = channel_multiplier
        self.num_res_blocks = num_res_blocks
        self.attn_resolutions = list(attn_resolutions)
        self.dropout = dropout
        self.double_latent = double_latent
        self.beta = beta
        self.num_groups = num_groups
        self.initializer_range = initializer_range
        self.num_palette_embeddings = num_palette_embeddings
        kwargs.setdefault("tie_word_embeddings", False)
        super().__init__(**kwargs)

    @property
    def downsample_factor(self) -> int:
        return 2 ** (len(self.channel_multiplier) - 1)

    @property
    def grid_size(self) -> int:
        """Codes per side: the image is encoded to `grid_size * grid_size` codes."""
        return self.resolution // self.downsample_factor

    @property
    def image_seq_length(self) -> int:
        """Codes per image: the grid, then the palette code when there is one."""
        return self.grid_size**2 + (1 if self.num_palette_embeddings else 0)

    @property
    def num_image_tokens(self) -> int:
        """Distinct codes: the grid codebook's, then the palette codes."""
        return self.num_embeddings + self.num_palette_embeddings

    @classmethod
    def from_preset(cls, name: str, **kwargs) -> CM3LeonVQConfig:
        """Build a named image tokenizer configuration (`cm3leon-vq-256`, `chameleon-vq-512`)."""
        if name not in CM3LEON_VQ_PRESETS:
            raise ValueError(f"Unknown preset {name!r}; available presets: {sorted(CM3LEON_VQ_PRESETS)}.")
        return cls(**{**CM3LEON_VQ_PRESETS[name], **kwargs})


CM3LEON_VQ_PRESETS: dict[str, dict] = {
    # CM3Leon (Make-A-Scene lineage): 256 px, factor 8 -> 32x32 = 1024 codes from 8192. The exact architecture was
    # never released; this is the taming f8 layout at the paper's resolution and codebook size.
    "cm3leon-vq-256": dict(
        resolution=256,
        embed_dim=256,
        num_embeddings=8192,
        latent_channels=256,
        base_channels=128,
        channel_multiplier=[1, 1, 2, 4],
        num_res_blocks=2,
        attn_resolutions=[32],
    ),
    # Chameleon's released tokenizer (tokenizer/vqgan.yaml): 512 px, factor 16 -> 32x32 = 1024 codes from 8192.
    "chameleon-vq-512": dict(
        resolution=512,
        embed_dim=256,
        num_embeddings=8192,
        latent_channels=256,
        base_channels=128,
        channel_multiplier=[1, 1, 2, 2, 4],
        num_res_blocks=2,
        attn_resolutions=[],
    ),
}

__all__ = ["CM3LeonConfig", "CM3LeonVQConfig", "CM3LEON_PRESETS", "CM3LEON_VQ_PRESETS"]
