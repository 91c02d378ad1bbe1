# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""PEFT for CM3Leon: default LoRA targets, training changes only adapters, save / reload / merge, image-token rows."""

from __future__ import annotations

import datasets
import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import TrainingArguments

from transformers_cm3leon import CM3LeonForCausalLM
from transformers_cm3leon.testing_utils import get_tiny_cm3leon
from transformers_cm3leon.training import (
    CM3LEON_LORA_TARGET_MODULES,
    CM3Arguments,
    LoraArguments,
    ModelArguments,
    SFTArguments,
    SFTTaskArguments,
    build_sft_trainer,
    get_image_head_tuning_config,
    get_lora_config,
    image_token_indices,
    untie_output_embeddings,
)

INPUT_IDS = torch.tensor([[2, 5, 6, 7, 37, 120, 121, 2], [2, 130, 140, 37, 20, 21, 22, 2]])


def logits(model) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=INPUT_IDS).logits


def perturb_trainable(model, seed: int = 0) -> None:
    """Move every trainable parameter away from its (identity) init, as training would."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.requires_grad:
                parameter.add_(0.1 * torch.randn(parameter.shape, generator=generator))


@pytest.mark.parametrize("block_type", ["cm3leon", "chameleon"])
def test_default_targets_cover_attention_and_mlp(block_type):
    model, _ = get_tiny_cm3leon(block_type=block_type)
    peft_model = get_peft_model(model, get_lora_config(model.config, r=4))
    adapted = sorted({name.split(".")[-1] for name, module in peft_model.named_modules() if hasattr(module, "lora_A")})
    expected = ["down_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]
    if block_type == "chameleon":
        expected = sorted([*expected, "gate_proj"])
    assert adapted == expected
    assert set(adapted) <= set(CM3LEON_LORA_TARGET_MODULES)
    config = get_lora_config(r=8, lora_alpha=16, target_modules=["q_proj"])
    assert isinstance(config, LoraConfig) and config.r == 8 and config.lora_alpha == 16
    assert config.target_modules == {"q_proj"} and config.task_type == "CAUSAL_LM"


def test_training_changes_only_the_adapter(tmp_path):
    """Two SFT steps with LoRA (through the recipe): every base weight is bit-identical, every adapter moved."""
    model, processor = get_tiny_cm3leon()
    base_before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    rows = [{"caption": f"a {c} square", "image_token_ids": list(range(4, 20))} for c in ("red", "blue")] * 4
    task = SFTTaskArguments(name="captions", template="captioning", dataset=datasets.Dataset.from_list(rows))
    args = TrainingArguments(
        output_dir=str(tmp_path), max_steps=2, per_device_train_batch_size=2, learning_rate=1e-2, report_to="none",
        save_strategy="no", use_cpu=True, disable_tqdm=True, logging_steps=1,
    )  # fmt: skip
    trainer, _ = build_sft_trainer(
        ModelArguments(), SFTArguments(), CM3Arguments(block_size=64), LoraArguments(use_lora=True, lora_r=4), args,
        [task], model=model, processor=processor,
    )  # fmt: skip
    adapter_before = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if p.requires_grad}
    assert adapter_before and all("lora_" in name for name in adapter_before)
    trainer.train()
    for name, parameter in trainer.model.named_parameters():
        if parameter.requires_grad:
            assert not torch.equal(parameter, adapter_before[name]), name
    base_after = trainer.model.get_base_model().state_dict()
    for name, tensor in base_before.items():
        key = name.replace("_proj.weight", "_proj.base_layer.weight") if "_proj" in name else name
        assert torch.equal(base_after[key], tensor), name


def test_adapter_save_reload_and_merge(tmp_path):
    model, _ = get_tiny_cm3leon()
    model.save_pretrained(tmp_path / "base")
    peft_model = get_peft_model(model, get_lora_config(model.config, r=4))
    perturb_trainable(peft_model)
    expected = logits(peft_model)
    peft_model.save_pretrained(tmp_path / "adapter")

    reloaded = PeftModel.from_pretrained(CM3LeonForCausalLM.from_pretrained(tmp_path / "base"), tmp_path / "adapter")
    torch.testing.assert_close(logits(reloaded), expected, atol=0, rtol=0)
    merged = reloaded.merge_and_unload()
    assert isinstance(merged, CM3LeonForCausalLM)
    torch.testing.assert_close(logits(merged), expected, atol=1e-5, rtol=1e-5)


def test_image_token_rows_with_a_tied_head(tmp_path):
    """Tied head (the CM3Leon default): the image-token rows of the shared matrix are trained, text rows are not."""
    model, _ = get_tiny_cm3leon()
    assert model.config.tie_word_embeddings
    image_ids = list(model.config.image_token_ids)
    assert image_token_indices(model.config) == {"embed_tokens": image_ids}
    base = logits(model)
    model.save_pretrained(tmp_path / "base")
    peft_model = get_peft_model(model, get_lora_config(model.config, r=4, train_image_token_rows=True))
    perturb_trainable(peft_model)
    expected = logits(peft_model)
    assert not torch.allclose(expected[..., image_ids], base[..., image_ids])
    peft_model.save_pretrained(tmp_path / "adapter")
    reloaded = PeftModel.from_pretrained(CM3LeonForCausalLM.from_pretrained(tmp_path / "base"), tmp_path / "adapter")
    torch.testing.assert_close(logits(reloaded), expected, atol=0, rtol=0)
    merged = peft_model.merge_and_unload()
    torch.testing.assert_close(logits(merged), expected, atol=1e-5, rtol=1e-5)
    assert merged.lm_head.weight is merged.model.embed_tokens.weight  # still tied

    # Head rows alone on a tied head would merge into the shared matrix: refused, with the two ways out.
    with pytest.raises(ValueError, match="untie_output_embeddings"):
        get_lora_config(model.config, trainable_token_indices={"lm_head": image_ids})


def test_image_head_rows_only_after_untying(tmp_path):
    """Anole's recipe: after untying, only the head's image-token rows change; text logits stay exactly the same."""
    model, _ = get_tiny_cm3leon()
    base = logits(model)
    untie_output_embeddings(model)
    assert not model.config.tie_word_embeddings and model.lm_head.weight is not model.model.embed_tokens.weight
    torch.testing.assert_close(logits(model), base, atol=0, rtol=0)
    model.save_pretrained(tmp_path / "base")
    image_ids = list(model.config.image_token_ids)
    peft_model = get_peft_model(model, get_image_head_tuning_config(model.config))
    perturb_trainable(peft_model)
    adapted = logits(peft_model)
    text_ids = [i for i in range(model.config.vocab_size) if i not in image_ids]
    torch.testing.assert_close(adapted[..., text_ids], base[..., text_ids], atol=0, rtol=0)
    assert not torch.allclose(adapted[..., image_ids], base[..., image_ids])
    peft_model.save_pretrained(tmp_path / "adapter")
    untied_base = CM3LeonForCausalLM.from_pretrained(tmp_path / "base")
    assert not untied_base.config.tie_word_embeddings
    reloaded = PeftModel.from_pretrained(untied_base, tmp_path / "adapter")
    torch.testing.assert_close(logits(reloaded), adapted, atol=0, rtol=0)
    merged = peft_model.merge_and_unload()
    torch.testing.assert_close(logits(merged), adapted, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(merged.model.embed_tokens.weight, untied_base.model.embed_tokens.weight)


def test_lora_arguments_are_checked():
    model, _ = get_tiny_cm3leon()
    with pytest.raises(ValueError, match="needs the model's `config`"):
        get_lora_config(train_image_token_rows=True)
    with pytest.raises(ValueError, match="not both"):
        get_lora_config(model.config, train_image_token_rows=True, trainable_token_indices=[4])
