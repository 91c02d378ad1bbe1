# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""`pipeline("image-text-to-image-text")`: documents that mix text and images, written by one model.

The prompt (text, optionally with `<image>` placeholders and images, or chat messages) is continued by
`model.generate_interleaved`: text is sampled as text, each image the model opens is drawn by the image sampler, and
the output is the ordered segments of what was written: text strings and PIL images.
"""

from __future__ import annotations

from dataclasses import dataclass

import PIL.Image
import torch
from transformers import Pipeline
from transformers.utils import ModelOutput

from ..generation.configuration import CM3LeonImageGenerationConfig, model_defaults
from ..validation import check_bool, check_int, check_number, describe
from .image_generation import move_pipeline


@dataclass
class CM3LeonInterleavedPipelineOutput(ModelOutput):
    """
    What [`CM3LeonInterleavedGenerationPipeline`] wrote for each prompt.

    Args:
        segments (`list[list[str | PIL.Image.Image]]`): Per prompt, the text strings and images it wrote, in order.
        finish_reasons (`list[str]`): Per prompt, `"eos"` (the model ended the document) or `"length"` (the budget
            ran out).
    """

    segments: list[list[str | PIL.Image.Image]] | None = None
    finish_reasons: list[str] | None = None


class CM3LeonInterleavedGenerationPipeline(Pipeline):
    r"""
    Interleaved text-and-image output with CM3Leon.

    Example:

    ```python
    >>> import transformers_cm3leon  # registers the task
    >>> from transformers import pipeline

    >>> pipe = pipeline("image-text-to-image-text")  # the default model
    >>> output = pipe("a handwritten digit seven", max_new_tokens=200)
    >>> [type(segment).__name__ for segment in output.segments[0]]  # text and images, in order
    ```
    """

    task_name = "text-to-image"  # the image decoding defaults a model declares
    _load_processor = True
    _load_image_processor = False
    _load_feature_extractor = False
    _load_tokenizer = False

    def __call__(
        self,
        text: str | list[str],
        images=None,
        max_new_tokens: int = 256,
        do_sample: bool = True,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        generator: torch.Generator | None = None,
        **image_settings,
    ) -> CM3LeonInterleavedPipelineOutput:
        r"""
        Continue each prompt with text and images.

        Args:
            text (`str`, `list[str]` or chat messages): The prompt(s): plain text (laid out as the start of a
                document), text with `<image>` placeholders for `images`, or chat messages.
            images (*optional*): The images of the `<image>` placeholders.
            max_new_tokens (`int`, defaults to 256): Token budget per prompt (text and image tokens).
            do_sample, temperature, top_k, top_p: How text is sampled.
            generator (`torch.Generator`, *optional*): Makes the output reproducible.
            image_settings: Settings of [`CM3LeonImageGenerationConfig`] for the images (`guidance_scale`, ...),
                over the model's declared text-to-image defaults.

        Returns:
            [`CM3LeonInterleavedPipelineOutput`] with the `segments` written after each prompt.
        """
        unknown = sorted(set(image_settings) - set(CM3LeonImageGenerationConfig.field_names()))
        if unknown:
            raise TypeError(
                f"{type(self).__name__} got unexpected arguments {unknown}; it takes `text`, `images`, "
                f"`max_new_tokens`, `do_sample`, `temperature`, `top_k`, `top_p`, `generator` and the image settings "
                f"{list(CM3LeonImageGenerationConfig.field_names())}."
            )
        check_int("max_new_tokens", max_new_tokens, 1)
        check_bool("do_sample", do_sample)
        check_number("temperature", temperature, 0, exclusive_minimum=True)
        image_config = CM3LeonImageGenerationConfig.from_defaults(
            model_defaults(self.model.generation_config, self.task_name), **image_settings
        )
        image_config.validate(self.model.config.image_vocab_size)
        prompt_ids = self._prompt_ids(text, images)
        batch = self.processor.pad(prompt_ids, padding_side="left", return_tensors="pt")
        output = self.model.generate_interleaved(
            batch["input_ids"].to(self.device),
            batch["attention_mask"].to(self.device),
            max_new_tokens=max_new_tokens,
            do_sample=do_sample,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            sequence_format=self.processor.sequence_format,
            image_generation_config=image_config,
            generator=generator,
        )
        segments = [
            self.processor.decode_segments(sequence[len(prompt) :].tolist())
            for sequence, prompt in zip(output.sequences, prompt_ids)
        ]
        return CM3LeonInterleavedPipelineOutput(segments=segments, finish_reasons=output.finish_reasons)

    def to(self, device: str | int | torch.device) -> CM3LeonInterleavedGenerationPipeline:
        """diffusers' `pipe.to(device)`: move the model and the VQ image tokenizer; later calls run there."""
        return move_pipeline(self, device)

    def _prompt_ids(self, text, images) -> list[list[int]]:
        processor = self.processor
        if isinstance(text, (list, tuple)) and text and isinstance(text[0], dict):  # chat messages
            return [processor.apply_chat_template(text, tokenize=True, add_generation_prompt=True)[0]]
        texts = [text] if isinstance(text, str) else text
        if not isinstance(texts, (list, tuple)) or not texts or not all(isinstance(t, str) for t in texts):
            raise TypeError(f"`text` must be a string, a list of strings or chat messages, got {describe(text)}.")
        if images is None and not any(processor.image_token in t for t in texts):
            # Plain text starts a document: `</s> text` (CM3Leon) or `<s> text` (Chameleon).
            start = processor.bos_token_id if processor.sequence_format == "chameleon" else processor.eos_token_id
            return [processor._encode_row([start, t]) for t in texts]
        return processor(text=texts, images=images)["input_ids"]

    # transformers' Pipeline stages are not used: `__call__` runs the whole call.
    def _sanitize_parameters(self, **kwargs):
        return {}, {}, {}

    def preprocess(self, inputs):
        return inputs

    def _forward(self, model_inputs):
        return model_inputs

    def postprocess(self, model_outputs):
        return model_outputs


__all__ = ["CM3LeonInterleavedGenerationPipeline", "CM3LeonInterleavedPipelineOutput"]
