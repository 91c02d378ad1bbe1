# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The CM3Leon decoder-only language model over text, image and CM3 special tokens.

The model only ever sees token ids: the processor turns images into image tokens (and back) outside it. Each block
is one decoder-layer class, chosen once from `config.block_type` when the model is built (`decoder_layer_class`):

- [`CM3LeonDecoderLayer`], "cm3leon" (the paper's): OPT-like pre-LN block without biases, dropout or LayerNorm
  parameters; the model adds learned absolute positions to the embeddings.
- [`CM3LeonChameleonDecoderLayer`], "chameleon": LLaMA-like block (RMSNorm, SwiGLU MLP; the model passes RoPE to
  attention) with optional QK-norm; [`CM3LeonChameleonSwinDecoderLayer`] with `swin_norm` (Chameleon-30B's ordering).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.cache_utils import Cache, DynamicCache
from transformers.generation import GenerationMixin
from transformers.masking_utils import create_causal_mask
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS, dynamic_rope_update
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS, PreTrainedModel
from transformers.processing_utils import Unpack
from transformers.utils import TransformersKwargs, can_return_tuple, logging
from transformers.utils.generic import merge_with_config_defaults
from transformers.utils.output_capturing import capture_outputs

from .configuration_cm3leon import CM3LeonConfig
from .generation import CM3LeonImageGenerationMixin

logger = logging.get_logger(__name__)

# OPT reserves the first two rows of its learned position table (a legacy of fairseq's padding_idx=1), so
# position p reads row p + 2. CM3Leon (metaseq) keeps the same table layout.
POSITION_OFFSET = 2


class CM3LeonRMSNorm(nn.Module):
    def __init__(self, hidden_size: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.variance_epsilon = eps

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        input_dtype = hidden_states.dtype
        hidden_states = hidden_states.to(torch.float32)
        variance = hidden_states.pow(2).mean(-1, keepdim=True)
        hidden_states = hidden_states * torch.rsqrt(variance + self.variance_epsilon)
        return self.weight * hidden_states.to(input_dtype)

    def extra_repr(self):
        return f"{tuple(self.weight.shape)}, eps={self.variance_epsilon}"


class CM3LeonQKLayerNorm(nn.LayerNorm):
    """LayerNorm over the head dimension with a separate gamma/beta per head (Chameleon's QK-norm).

    Chameleon applied each model-parallel shard's gamma/beta to its own heads, so statistics are computed over
    `head_dim` while the affine parameters have shape `[num_heads, head_dim]`.
    """

    def __init__(self, num_heads: int, head_dim: int, eps: float = 1e-5):
        super().__init__((num_heads, head_dim), eps=eps)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        # hidden_states: [batch, seq, heads, head_dim]
        hidden_states = F.layer_norm(hidden_states, self.normalized_shape[-1:], None, None, eps=self.eps)
        return hidden_states * self.weight + self.bias


class CM3LeonLearnedPositionalEmbedding(nn.Embedding):
    """Learned absolute positions with OPT's offset of 2."""

    def __init__(self, num_positions: int, embedding_dim: int):
        super().__init__(num_positions + POSITION_OFFSET, embedding_dim)

    def forward(self, position_ids: torch.LongTensor) -> torch.Tensor:
        return super().forward(position_ids + POSITION_OFFSET)


class CM3LeonRotaryEmbedding(nn.Module):
    def __init__(self, config: CM3LeonConfig):
        super().__init__()
        self.config = config
        self.max_seq_len_cached = config.max_position_embeddings
        self.original_max_seq_len = config.max_position_embeddings
        self.rope_type = config.rope_parameters.get("rope_type", "default")
        self.rope_init_fn = self.compute_default_rope_parameters
        if self.rope_type != "default":
            self.rope_init_fn = ROPE_INIT_FUNCTIONS[self.rope_type]
        inv_freq, self.attention_scaling = self.rope_init_fn(config)
        self.inv_freq = nn.Buffer(inv_freq, persistent=False)
        self.original_inv_freq = nn.Buffer(inv_freq.clone(), persistent=False)

    @staticmethod
    def compute_default_rope_parameters(config: CM3LeonConfig, **kwargs) -> tuple[torch.Tensor, float]:
        base = config.rope_parameters["rope_theta"]
        dim = config.head_dim
        inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float) / dim))
        return inv_freq, 1.0

    @torch.no_grad()
    @dynamic_rope_update
    def forward(self, x: torch.Tensor, position_ids: torch.LongTensor) -> tuple[torch.Tensor, torch.Tensor]:
        freqs = position_ids[..., None].float() * self.inv_freq.to(device=x.device, dtype=torch.float)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos = emb.cos() * self.attention_scaling
        sin = emb.sin() * self.attention_scaling
        return cos.to(dtype=x.dtype), sin.to(dtype=x.dtype)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rotary_pos_emb(q, k, cos, sin, unsqueeze_dim: int = 1):
    cos = cos.unsqueeze(unsqueeze_dim)
    sin = sin.unsqueeze(unsqueeze_dim)
    return (q * cos) + (rotate_half(q) * sin), (k * cos) + (rotate_half(k) * sin)


def repeat_kv(hidden_states: torch.Tensor, n_rep: int) -> torch.Tensor:
    """[batch, kv_heads, seq, head_dim] -> [batch, kv_heads * n_rep, seq, head_dim]."""
    if n_rep == 1:
        return hidden_states
    batch, num_key_value_heads, seq_len, head_dim = hidden_states.shape
    hidden_states = hidden_states[:, :, None].expand(batch, num_key_value_heads, n_rep, seq_len, head_dim)
    return hidden_states.reshape(batch, num_key_value_heads * n_rep, seq_len, head_dim)


def eager_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    dropout: float = 0.0,
    **kwargs: Unpack[TransformersKwargs],
):
    key_states = repeat_kv(key, module.num_key_value_groups)
    value_states = repeat_kv(value, module.num_key_value_groups)
    attn_weights = torch.matmul(query, key_states.transpose(2, 3)) * scaling
    if attention_mask is not None:
        attn_weights = attn_weights + attention_mask
    attn_weights = nn.functional.softmax(attn_weights, dim=-1, dtype=torch.float32).to(query.dtype)
    attn_weights = nn.functional.dropout(attn_weights, p=dropout, training=module.training)
    attn_output = torch.matmul(attn_weights, value_states).transpose(1, 2).contiguous()
    return attn_output, attn_weights


class CM3LeonAttention(nn.Module):
    """Causal multi-head (or grouped-query) self-attention without biases."""

    def __init__(self, config: CM3LeonConfig, layer_idx: int):
        super().__init__()
        self.config = config
        self.layer_idx = layer_idx
        self.head_dim = config.head_dim
        self.num_heads = config.num_attention_heads
        self.num_key_value_heads = config.num_key_value_heads
        self.num_key_value_groups = self.num_heads // self.num_key_value_heads
        self.scaling = self.head_dim**-0.5
        self.is_causal = True

        self.q_proj = nn.Linear(config.hidden_size, self.num_heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(config.hidden_size, self.num_key_value_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(config.hidden_size, self.num_key_value_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(self.num_heads * self.head_dim, config.hidden_size, bias=False)
        self.o_proj.is_residual_output = True  # zero-initialised with `zero_init_output_projections`
        if config.qk_norm:
            self.q_norm = CM3LeonQKLayerNorm(self.num_heads, self.head_dim, eps=config.norm_eps)
            self.k_norm = CM3LeonQKLayerNorm(self.num_key_value_heads, self.head_dim, eps=config.norm_eps)

    def forward(
        self,
        hidden_states: torch.Tensor,
        position_embeddings: tuple[torch.Tensor, torch.Tensor] | None = None,
        attention_mask: torch.Tensor | None = None,
        past_key_values: Cache | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        input_shape = hidden_states.shape[:-1]
        hidden_shape = (*input_shape, -1, self.head_dim)

        query_states = self.q_proj(hidden_states).view(hidden_shape)
        key_states = self.k_proj(hidden_states).view(hidden_shape)
        value_states = self.v_proj(hidden_states).view(hidden_shape)
        if self.config.qk_norm:
            query_states = self.q_norm(query_states)
            key_states = self.k_norm(key_states)
        query_states = query_states.transpose(1, 2)
        key_states = key_states.transpose(1, 2)
        value_states = value_states.transpose(1, 2)

        if position_embeddings is not None:  # rotary positions (Chameleon block); the paper's are in the embeddings
            cos, sin = position_embeddings
            query_states, key_states = apply_rotary_pos_emb(query_states, key_states, cos, sin)

        if past_key_values is not None:
            key_states, value_states = past_key_values.update(key_states, value_states, self.layer_idx)

        attention_interface: Callable = ALL_ATTENTION_FUNCTIONS.get_interface(
            self.config._attn_implementation, eager_attention_forward
        )
        attn_output, attn_weights = attention_interface(
            self,
            query_states,
            key_states,
            value_states,
            attention_mask,
            dropout=0.0,
            scaling=self.scaling,
            **kwargs,
        )
        attn_output = attn_output.reshape(*input_shape, -1).contiguous()
        return self.o_proj(attn_output), attn_weights


class CM3LeonMLP(nn.Module):
    """The paper's two-layer MLP (`up_proj` -> activation -> `down_proj`)."""

    def __init__(self, config: CM3LeonConfig):
        super().__init__()
        self.up_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.down_proj = nn.Linear(config.intermediate_size, config.hidden_size, bias=False)
        self.down_proj.is_residual_output = True
        self.act_fn = ACT2FN[config.hidden_act]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(self.act_fn(self.up_proj(x)))


class CM3LeonGatedMLP(nn.Module):
    """Chameleon's SwiGLU MLP (`down_proj(act(gate_proj(x)) * up_proj(x))`)."""

    def __init__(self, config: CM3LeonConfig):
        super().__init__()
        self.gate_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.up_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.down_proj = nn.Linear(config.intermediate_size, config.hidden_size, bias=False)
        self.down_proj.is_residual_output = True
        self.act_fn = ACT2FN[config.hidden_act]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(self.act_fn(self.gate_proj(x)) * self.up_proj(x))


class CM3LeonDecoderLayer(GradientCheckpointingLayer):
    """The paper's block: `x + attn(norm(x))`, `x + mlp(norm(x))`, LayerNorm without parameters, a two-layer MLP."""

    def __init__(self, config: CM3LeonConfig, layer_idx: int):
        super().__init__()
        self.self_attn = CM3LeonAttention(config, layer_idx)
        self.mlp = self.build_mlp(config)
        self.input_layernorm = self.build_norm(config)
        self.post_attention_layernorm = self.build_norm(config)

    @staticmethod
    def build_norm(config: CM3LeonConfig) -> nn.Module:
        return nn.LayerNorm(config.hidden_size, eps=config.norm_eps, elementwise_affine=False, bias=False)

    @staticmethod
    def build_mlp(config: CM3LeonConfig) -> nn.Module:
        return CM3LeonMLP(config)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        past_key_values: Cache | None = None,
        use_cache: bool | None = False,
        position_embeddings: tuple[torch.Tensor, torch.Tensor] | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> torch.Tensor:
        attn_output, _ = self.self_attn(
            hidden_states=self.input_layernorm(hidden_states),
            attention_mask=attention_mask,
            position_ids=position_ids,
            past_key_values=past_key_values,
            use_cache=use_cache,
            position_embeddings=position_embeddings,
            **kwargs,
        )
        hidden_states = hidden_states + attn_output
        return hidden_states + self.mlp(self.post_attention_layernorm(hidden_states))


class CM3LeonChameleonDecoderLayer(CM3LeonDecoderLayer):
    """Chameleon's block: the same pre-norm order with RMSNorm and a SwiGLU MLP (rotary positions in attention)."""

    @staticmethod
    def build_norm(config: CM3LeonConfig) -> nn.Module:
        return CM3LeonRMSNorm(config.hidden_size, eps=config.norm_eps)

    @staticmethod
    def build_mlp(config: CM3LeonConfig) -> nn.Module:
        return CM3LeonGatedMLP(config)


class CM3LeonChameleonSwinDecoderLayer(CM3LeonChameleonDecoderLayer):
    """Chameleon's block with Swin-style norm ordering (`swin_norm`): `x + norm(attn(x))`, `x + norm(mlp(x))`."""

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        past_key_values: Cache | None = None,
        use_cache: bool | None = False,
        position_embeddings: tuple[torch.Tensor, torch.Tensor] | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> torch.Tensor:
        attn_output, _ = self.self_attn(
            hidden_states=hidden_states,
            attention_mask=attention_mask,
            position_ids=position_ids,
            past_key_values=past_key_values,
            use_cache=use_cache,
            position_embeddings=position_embeddings,
            **kwargs,
        )
        hidden_states = hidden_states + self.input_layernorm(attn_output)
        return hidden_states + self.post_attention_layernorm(self.mlp(hidden_states))


def decoder_layer_class(config: CM3LeonConfig) -> type[CM3LeonDecoderLayer]:
    """The decoder-layer class of `config`'s block."""
    if config.block_type == "cm3leon":
        return CM3LeonDecoderLayer
    return CM3LeonChameleonSwinDecoderLayer if config.swin_norm else CM3LeonChameleonDecoderLayer


class CM3LeonPreTrainedModel(PreTrainedModel):
    config: CM3LeonConfig
    config_class = CM3LeonConfig
    base_model_prefix = "model"
    supports_gradient_checkpointing = True
    _no_split_modules = ["CM3LeonDecoderLayer", "CM3LeonChameleonDecoderLayer", "CM3LeonChameleonSwinDecoderLayer"]
    _skip_keys_device_placement = ["past_key_values"]
    _supports_flash_attn = True
    _supports_sdpa = True
    _supports_flex_attn = True
    _can_compile_fullgraph = True
    _supports_attention_backend = True
    _can_record_outputs = {
        "hidden_states": CM3LeonDecoderLayer,  # and its Chameleon subclasses
        "attentions": CM3LeonAttention,
    }

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        # The paper: truncated normal (std 0.006, cut at 3 sigma), positions near zero (std 0.0002), and optionally
        # zero "output layers" (each block's attention output and MLP output projection).
        config = self.config
        std = config.initializer_range
        bound = config.init_truncation * std
        if isinstance(module, CM3LeonLearnedPositionalEmbedding):
            pos_std = config.position_initializer_range
            bound_pos = config.init_truncation * pos_std
            init.trunc_normal_(module.weight, mean=0.0, std=pos_std, a=-bound_pos, b=bound_pos)
        elif (
            isinstance(module, nn.Linear)
            and config.zero_init_output_projections
            and getattr(module, "is_residual_output", False)
        ):
            init.zeros_(module.weight)
        elif isinstance(module, (nn.Linear, nn.Embedding)):
            init.trunc_normal_(module.weight, mean=0.0, std=std, a=-bound, b=bound)
        elif isinstance(module, CM3LeonQKLayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, CM3LeonRMSNorm):
            init.ones_(module.weight)
        elif isinstance(module, CM3LeonRotaryEmbedding):
            inv_freq, _ = module.rope_init_fn(module.config)  # the configured scaling (linear, dynamic, yarn, ...)
            init.copy_(module.inv_freq, inv_freq)
            init.copy_(module.original_inv_freq, inv_freq)


class CM3LeonModel(CM3LeonPreTrainedModel):
    def __init__(self, config: CM3LeonConfig):
        super().__init__(config)
        self.padding_idx = config.pad_token_id
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size, self.padding_idx)
        layer_class = decoder_layer_class(config)
        # The paper's block adds learned positions to the embeddings; Chameleon's rotates queries and keys.
        learned_positions = layer_class is CM3LeonDecoderLayer
        self.embed_positions = (
            CM3LeonLearnedPositionalEmbedding(config.max_position_embeddings, config.hidden_size)
            if learned_positions
            else None
        )
        self.rotary_emb = None if learned_positions else CM3LeonRotaryEmbedding(config)
        self.layers = nn.ModuleList([layer_class(config, layer_idx) for layer_idx in range(config.num_hidden_layers)])
        self.norm = layer_class.build_norm(config)
        self.gradient_checkpointing = False
        self.post_init()

    def _check_inputs(self, input_ids: torch.LongTensor, position_ids, past_key_values: Cache | None) -> None:
        """Clear errors for ids outside the vocabulary and for positions beyond the learned position table.

        Both checks read tensors (a host sync on accelerators), so they run on prompts (more than one new token), not
        on the one-token decoding steps, whose lengths the generation loops validate before they start.
        """
        if input_ids.shape[-1] < 2 or torch.compiler.is_compiling():
            return
        vocab_size = self.config.vocab_size  # `resize_token_embeddings` updates it
        low, high = int(input_ids.min()), int(input_ids.max())
        if low < 0 or high >= vocab_size:
            raise ValueError(f"`input_ids` must lie in [0, vocab_size={vocab_size}); got values in [{low}, {high}].")
        if self.embed_positions is None:
            return  # rotary positions have no table to run out of
        if position_ids is not None:  # e.g. packed sequences, whose positions restart per sequence
            furthest, what = int(position_ids.max()) + 1, "its largest position id + 1"
        else:
            cached = int(past_key_values.get_seq_length()) if past_key_values is not None else 0
            furthest, what = cached + input_ids.shape[-1], f"cached {cached} + new {input_ids.shape[-1]}"
        if furthest > self.config.max_position_embeddings:
            raise ValueError(
                f"The sequence reaches position {furthest} ({what}), beyond the learned positions of "
                f"max_position_embeddings={self.config.max_position_embeddings}."
            )

    @merge_with_config_defaults
    @capture_outputs
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        past_key_values: Cache | None = None,
        inputs_embeds: torch.FloatTensor | None = None,
        use_cache: bool | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> BaseModelOutputWithPast:
        if (input_ids is None) ^ (inputs_embeds is not None):
            raise ValueError("You must specify exactly one of `input_ids` or `inputs_embeds`.")
        if use_cache and past_key_values is None:
            past_key_values = DynamicCache(config=self.config)
        if inputs_embeds is None:
            self._check_inputs(input_ids, position_ids, past_key_values)
            inputs_embeds = self.embed_tokens(input_ids)
        seq_length = inputs_embeds.shape[1]

        if position_ids is None:
            if attention_mask is not None and attention_mask.ndim == 2:
                # Count only real tokens, so a left-padded row gets the positions it would have alone.
                position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)[:, -seq_length:]
            else:
                past_seen_tokens = past_key_values.get_seq_length() if past_key_values is not None else 0
                position_ids = torch.arange(seq_length, device=inputs_embeds.device) + past_seen_tokens
                position_ids = position_ids.unsqueeze(0)

        causal_mask = create_causal_mask(
            config=self.config,
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            past_key_values=past_key_values,
            position_ids=position_ids,
        )

        hidden_states = inputs_embeds
        position_embeddings = None
        if self.embed_positions is not None:
            hidden_states = hidden_states + self.embed_positions(position_ids).to(hidden_states.dtype)
        else:
            position_embeddings = self.rotary_emb(hidden_states, position_ids=position_ids)

        for decoder_layer in self.layers[: self.config.num_hidden_layers]:
            hidden_states = decoder_layer(
                hidden_states,
                attention_mask=causal_mask,
                position_embeddings=position_embeddings,
                position_ids=position_ids,
                past_key_values=past_key_values,
                use_cache=use_cache,
                **kwargs,
            )

        hidden_states = self.norm(hidden_states)
        return BaseModelOutputWithPast(last_hidden_state=hidden_states, past_key_values=past_key_values)


class CM3LeonForCausalLM(CM3LeonPreTrainedModel, GenerationMixin, CM3LeonImageGenerationMixin):
    _tied_weights_keys = {"lm_head.weight": "model.embed_tokens.weight"}
    _tp_plan = {"lm_head": "colwise_gather_output"}
    _pp_plan = {"lm_head": (["hidden_states"], ["logits"])}
    input_modalities = ("image", "text")
    output_modalities = ("image", "text")

    def __init__(self, config: CM3LeonConfig):
        super().__init__(config)
        self.model = CM3LeonModel(config)
        self.vocab_size = config.vocab_size
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()
        # Text ends at `</s>` or at `<eoss>`, which closes an infilled span (captions and answers by infilling).
        if self.generation_config is not None:
            ends = [token for token in (config.eos_token_id, config.eoss_token_id) if token is not None]
            self.generation_config.eos_token_id = ends or None

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        past_key_values: Cache | None = None,
        inputs_embeds: torch.FloatTensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        **kwargs: Unpack[TransformersKwargs],
    ) -> CausalLMOutputWithPast:
        r"""
        labels (`torch.LongTensor` of shape `(batch_size, sequence_length)`, *optional*):
            Token ids for the next-token loss (shifted inside); positions set to `-100` are ignored. CM3Leon trains on
            every token, image tokens and the retrieved documents included.
        logits_to_keep (`int` or `torch.Tensor`, *optional*):
            Compute logits only for the last `logits_to_keep` positions (0 means all), or for the given indices.
        """
        outputs: BaseModelOutputWithPast = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            past_key_values=past_key_values,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            **kwargs,
        )
        hidden_states = outputs.last_hidden_state
        slice_indices = slice(-logits_to_keep, None) if isinstance(logits_to_keep, int) else logits_to_keep
        logits = self.lm_head(hidden_states[:, slice_indices, :])

        loss = None
        if labels is not None:
            loss = self.loss_function(logits=logits, labels=labels, vocab_size=self.config.vocab_size, **kwargs)

        return CausalLMOutputWithPast(
            loss=loss,
            logits=logits,
            past_key_values=outputs.past_key_values,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )


__all__ = [
    "CM3LeonChameleonDecoderLayer",
    "CM3LeonChameleonSwinDecoderLayer",
    "CM3LeonDecoderLayer",
    "CM3LeonForCausalLM",
    "CM3LeonModel",
    "CM3LeonPreTrainedModel",
    "decoder_layer_class",
]
