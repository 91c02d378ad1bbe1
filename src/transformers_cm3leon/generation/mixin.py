# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The public API of CM3Leon's generation: `generate_images` (text-to-image and editing, with batched guidance),
`generate_text` (captions and answers through `generate()`), added to [`CM3LeonForCausalLM`] by
[`CM3LeonImageGenerationMixin`]."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm
from transformers import GenerationConfig
from transformers.utils import ModelOutput, logging

from ..validation import check_bool, check_int, describe
from .configuration import CM3LeonImageGenerationConfig
from .decoding import (
    StepCallback,
    _DecodeBuffers,
    _get_compiled_decode_one_token,
    decode_n_tokens,
    decode_one_token,
    prefill,
)
from .prompts import (
    GuidanceStreams,
    build_streams,
    check_context_length,
    check_image_tokens,
    check_memory,
    check_prompt,
)
from .sampling import ImageTokenSampler, draw_uniforms, image_logit_bias

logger = logging.get_logger(__name__)


@dataclass
class CM3LeonImageGenerationOutput(ModelOutput):
    r"""
    Output of [`~CM3LeonImageGenerationMixin.generate_images`].

    Args:
        image_token_ids (`torch.LongTensor` of shape `(batch_size * num_images_per_prompt, num_image_tokens)`):
            The drawn image tokens (vocabulary ids, all in `config.image_token_ids`), images of prompt `b` at rows
            `b * num_images_per_prompt ... (b + 1) * num_images_per_prompt - 1`. Decode them to pixels with
            `processor.token_ids_to_images(...)`.
        sequences (`torch.LongTensor` of shape `(batch_size * num_images_per_prompt, prompt_length + num_image_tokens (+ 1))`):
            The conditional prompt as given (with its left padding), the image tokens and, when `is_complete`, `<eoss>`.
        num_image_tokens (`int`): Image tokens drawn per image: `config.image_seq_length`, or fewer when
            `callback_on_step_end` stopped generation.
        is_complete (`bool`): Whether every image has all `config.image_seq_length` tokens. A stopped generation is
            never complete: its `image_token_ids` do not form decodable images.
        num_forward_passes (`int`): Forward passes of the model (the prefill included): `num_image_tokens` for
            sequential decoding, fewer with `parallel_decoding`.
    """

    image_token_ids: torch.LongTensor | None = None
    sequences: torch.LongTensor | None = None
    num_image_tokens: int | None = None
    is_complete: bool | None = None
    num_forward_passes: int | None = None


class CM3LeonImageGenerationMixin:
    """Adds image generation ([`generate_images`]) and a text-generation helper ([`generate_text`]) to
    [`CM3LeonForCausalLM`]."""

    def set_progress_bar_config(self, **kwargs) -> None:
        """Options for the tqdm bar of `generate_images` (e.g. `disable=True`, `leave=False`), as in diffusers."""
        self._progress_bar_config = kwargs

    @torch.no_grad()
    def generate_images(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.Tensor | None = None,
        *,
        negative_input_ids: torch.LongTensor | None = None,
        negative_attention_mask: torch.Tensor | None = None,
        image_input_ids: torch.LongTensor | None = None,
        image_attention_mask: torch.Tensor | None = None,
        guidance_scale: float | None = None,
        image_guidance_scale: float | None = None,
        num_images_per_prompt: int = 1,
        decoding_strategy: str | None = None,
        do_sample: bool | None = None,
        temperature: float | None = None,
        top_k: int | None = None,
        top_p: float | None = None,
        cd_top_k: int | None = None,
        cd_alpha: float | None = None,
        parallel_decoding: str | None = None,
        draft_length: int | None = None,
        draft_image_token_ids: torch.LongTensor | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
        progress_bar: bool = True,
        callback_on_step_end: StepCallback | None = None,
        cache_implementation: str | None = None,
        compile: bool | None = None,
        generation_config: CM3LeonImageGenerationConfig | None = None,
    ) -> CM3LeonImageGenerationOutput:
        r"""
        Draw `config.image_seq_length` image tokens after each prompt, with classifier-free guidance.

        All guidance streams of all images run in one forward per step over a preallocated KV cache (several image
        tokens per forward with `parallel_decoding="jacobi"`); the token drawn for an image is appended to every one
        of its streams. Logits are computed only over the image tokens.

        Args:
            input_ids (`torch.LongTensor` of shape `(batch_size, prompt_length)`):
                The conditional prompts, each ending with `<racm3:break>` (e.g. from
                `processor.text_to_image_prompt(...)`), left-padded when their lengths differ.
            attention_mask (`torch.Tensor` of shape `(batch_size, prompt_length)`, *optional*):
                1 for prompt tokens, 0 for (left) padding. Defaults to all ones.
            negative_input_ids (`torch.LongTensor` of shape `(batch_size, negative_length)`, *optional*):
                Prompts of the unconditional stream (a negative prompt), each ending with `<racm3:break>`. Defaults to
                [`unconditional_input_ids`]: `</s> <sentinel:0> <racm3:break>`.
            negative_attention_mask (`torch.Tensor`, *optional*): Mask of `negative_input_ids`.
            image_input_ids (`torch.LongTensor` of shape `(batch_size, image_prompt_length)`, *optional*):
                Image editing: the image-only prompts (instruction template and input image, without the edit text;
                `processor.editing_prompts(...)[1]`). `input_ids` are then the full prompts, and three streams are
                decoded: full, image-only, unconditional.
            image_attention_mask (`torch.Tensor`, *optional*): Mask of `image_input_ids`.
            num_images_per_prompt (`int`): Images drawn per prompt.
            guidance_scale, image_guidance_scale, decoding_strategy, do_sample, temperature, top_k, top_p, cd_top_k,
            cd_alpha, parallel_decoding, draft_length, cache_implementation, compile:
                The settings of [`CM3LeonImageGenerationConfig`] (see there for their defaults and allowed values);
                each overrides the same setting of `generation_config`.
            draft_image_token_ids (`torch.LongTensor` of shape `(batch_size, image_seq_length)`, *optional*):
                With `parallel_decoding="jacobi"`: a reference picture per prompt whose tokens are proposed as the
                drafts (retrieval-based speculative decoding: a retrieved document's picture, or the picture being
                edited). Drafts pass the same acceptance rule, so the images keep the distribution of sequential
                sampling; a reference close to what the model draws only saves forwards.
            generator (`torch.Generator` or a list, *optional*):
                One generator for the whole batch, or one per prompt, or one per image (diffusers' convention). With a
                list, prompt `b` gets the same images batched or alone (with its generator). All random numbers of
                sequential decoding are drawn before the loop.
            progress_bar (`bool`): Show a tqdm bar over image tokens (see also [`set_progress_bar_config`]).
            callback_on_step_end (`Callable`, *optional*):
                Called after each token as `callback_on_step_end(step, image_token_ids, scores)`: `step` is the index
                of the token just drawn, `image_token_ids` `(R, step + 1)` the tokens so far (a view of the output:
                read it, do not write it), `scores` `(R, image_vocab_size)` what the token was drawn from, after
                guidance and filtering (index `j` is token `config.image_token_offset + j`).
                Return `True` to stop: the output then has `is_complete=False` and `num_image_tokens=step + 1`.
                With `parallel_decoding`, it is called after each forward, for the last token accepted.
            generation_config ([`CM3LeonImageGenerationConfig`], *optional*): Settings to start from.

        Returns:
            [`CM3LeonImageGenerationOutput`] with `image_token_ids` `(batch_size * num_images_per_prompt,
            image_seq_length)`, `sequences`, `num_image_tokens`, `is_complete`, `num_forward_passes`.
        """
        editing = image_input_ids is not None
        settings = self._image_generation_settings(
            generation_config,
            editing,
            guidance_scale=guidance_scale,
            image_guidance_scale=image_guidance_scale,
            decoding_strategy=decoding_strategy,
            do_sample=do_sample,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            cd_top_k=cd_top_k,
            cd_alpha=cd_alpha,
            parallel_decoding=parallel_decoding,
            draft_length=draft_length,
            cache_implementation=cache_implementation,
            compile=compile,
        )
        prompts = [("input_ids", input_ids, attention_mask)]
        if editing:
            prompts.append(("image_input_ids", image_input_ids, image_attention_mask))
        prompts.append(("negative_input_ids", negative_input_ids, negative_attention_mask))
        self._check_generation_inputs(prompts, num_images_per_prompt, generator, progress_bar, callback_on_step_end)
        reference = None
        if draft_image_token_ids is not None:
            if settings.parallel_decoding is None:
                raise ValueError(
                    "`draft_image_token_ids` are drafts for speculative decoding; pass `parallel_decoding='jacobi'` "
                    "or drop them."
                )
            check_image_tokens(self.config, "draft_image_token_ids", draft_image_token_ids, input_ids.shape[0])
            reference = draft_image_token_ids.to(self.device).repeat_interleave(num_images_per_prompt, dim=0)
            reference = reference - self.config.image_token_offset
        if not settings.is_guided(editing):
            if negative_input_ids is not None:
                logger.warning(
                    "`negative_input_ids` are not used: with these guidance scales and 'sample' decoding no "
                    "unconditional stream is decoded."
                )
            prompts = prompts[:1]  # the conditional stream alone is exactly plain sampling
        num_tokens = self.config.image_seq_length
        streams = build_streams(self.config, prompts, num_images_per_prompt, self.device)
        check_context_length(self.config, prompts, streams, num_tokens)
        check_memory(self, streams, num_tokens)
        token_ids, num_drawn, num_forwards = self._draw_image_tokens(
            streams,
            num_tokens,
            settings,
            num_images_per_prompt,
            generator,
            progress_bar,
            callback_on_step_end,
            reference,
        )
        return self._image_generation_output(
            prompts, streams, token_ids, num_drawn, num_forwards, num_images_per_prompt
        )

    @torch.no_grad()
    def generate_infilling(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.Tensor | None = None,
        *,
        run_lengths: list[int],
        negative_input_ids: torch.LongTensor | None = None,
        negative_attention_mask: torch.Tensor | None = None,
        num_images_per_prompt: int = 1,
        generator: torch.Generator | list[torch.Generator] | None = None,
        progress_bar: bool = True,
        callback_on_step_end: StepCallback | None = None,
        generation_config: CM3LeonImageGenerationConfig | None = None,
        **settings,
    ) -> CM3LeonImageGenerationOutput:
        r"""
        Image infilling (CM3's causal masking at inference): redraw the masked runs of images.

        `input_ids` are documents from `processor.inpainting_prompt(image, token_mask, prompt)`: the image with each
        run of masked tokens replaced by `<sentinel:i>`. All documents of a call share the runs (one mask); the model
        writes each run after its document, `<sentinel:i> run_i <eoss>`, exactly `run_lengths[i]` image tokens.

        Args:
            input_ids, attention_mask: The documents (left-padded), `(batch_size, length)`.
            run_lengths (`list[int]`): The length of each masked run, in raster order (`processor.masked_runs`).
            negative_input_ids, negative_attention_mask: The unconditional stream of classifier-free guidance: the
                same documents without their prompt (`processor.inpainting_prompt(image, token_mask)`). Required
                when guidance is on.
            num_images_per_prompt, generator, progress_bar, callback_on_step_end, generation_config: As in
                [`generate_images`]; `callback_on_step_end` counts the steps over all runs.
            settings: The settings of [`CM3LeonImageGenerationConfig`] (`guidance_scale`, `temperature`, ...).

        Returns:
            [`CM3LeonImageGenerationOutput`] whose `image_token_ids` hold the runs' tokens one after the other
            `(batch_size * num_images_per_prompt, sum(run_lengths))`; `processor.fill_masked_runs` puts them back
            into the images.
        """
        from .infilling import check_run_lengths, infill_runs

        config = self.config
        settings = self._image_generation_settings(generation_config, False, **settings)
        run_lengths = check_run_lengths(config, run_lengths)
        prompts = [
            ("input_ids", input_ids, attention_mask),
            ("negative_input_ids", negative_input_ids, negative_attention_mask),
        ]
        check_prompt(config, "input_ids", input_ids, "attention_mask", attention_mask, None, None)
        if negative_input_ids is not None:
            check_prompt(
                config,
                "negative_input_ids",
                negative_input_ids,
                "negative_attention_mask",
                negative_attention_mask,
                input_ids.shape[0],
                None,
            )
        self._check_generation_inputs(
            [], num_images_per_prompt, generator, progress_bar, callback_on_step_end, batch_size=input_ids.shape[0]
        )
        if settings.is_guided(editing=False):
            if negative_input_ids is None:
                raise ValueError(
                    "Guided infilling contrasts each document with the same document without its prompt: pass "
                    "`negative_input_ids` (`processor.inpainting_prompt(image, token_mask)`), or turn guidance off "
                    "(`guidance_scale=1`)."
                )
        else:
            prompts = prompts[:1]
        token_ids, num_drawn, num_forwards, complete = infill_runs(
            self, prompts, run_lengths, settings, num_images_per_prompt, generator, progress_bar, callback_on_step_end
        )
        document = input_ids.to(self.device).repeat_interleave(num_images_per_prompt, 0)
        return CM3LeonImageGenerationOutput(
            image_token_ids=token_ids,
            sequences=torch.cat([document, token_ids], dim=-1),
            num_image_tokens=num_drawn,
            is_complete=complete,
            num_forward_passes=num_forwards,
        )

    @torch.no_grad()
    def image_log_likelihood(
        self,
        input_ids: torch.LongTensor,
        image_token_ids: torch.LongTensor,
        attention_mask: torch.Tensor | None = None,
    ) -> torch.FloatTensor:
        r"""
        The model's own score of pictures: log p(image tokens | prompt), teacher-forced in one forward.

        The sum of the image tokens' log-probabilities after each prompt, over the image vocabulary (the distribution
        `generate_images` samples at guidance 1 and temperature 1). The pipelines' best-of-N (`rerank`) keeps the
        candidate it scores highest when no CLIP model is given.

        Args:
            input_ids, attention_mask: Left-padded prompts ending with `<racm3:break>`, `(batch_size, length)`, e.g.
                `processor.text_to_image_prompt(...)` or `processor.unconditional_prompt()`.
            image_token_ids (`torch.LongTensor` of shape `(batch_size, image_seq_length)`): One picture per prompt
                row, as vocabulary ids (`generate_images(...).image_token_ids`).

        Returns:
            `torch.FloatTensor` of shape `(batch_size,)`: the log-likelihoods, in float32.
        """
        from .scoring import image_log_likelihood

        return image_log_likelihood(self, input_ids, image_token_ids, attention_mask)

    def generate_interleaved(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.Tensor | None = None,
        *,
        max_new_tokens: int = 256,
        do_sample: bool = True,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        sequence_format: str = "cm3leon",
        image_generation_config: CM3LeonImageGenerationConfig | None = None,
        generator: torch.Generator | None = None,
        progress_bar: bool = False,
    ):
        r"""
        Write documents that mix text and images after each prompt (see `generation/interleaved.py`).

        Text is sampled as text (`do_sample`, `temperature`, `top_k`, `top_p`; image tokens forbidden); when the
        model opens an image (`<racm3:break>` after text; Chameleon's begin-image in its format), exactly
        `image_seq_length` image tokens are drawn with the image-token constraint and `image_generation_config`
        (guidance against the unconditional prompt included), then text resumes. Stops at `</s>` or after
        `max_new_tokens` tokens (text and image tokens; an image that would not fit is not started).

        Args:
            input_ids, attention_mask: The prompts, `(batch_size, length)` (left-padded); each is continued alone.
            max_new_tokens (`int`): The token budget per prompt.
            do_sample, temperature, top_k, top_p: How text is sampled.
            sequence_format (`str`): `"cm3leon"` or `"chameleon"` (the processor's `sequence_format`).
            image_generation_config ([`CM3LeonImageGenerationConfig`], *optional*): How images are drawn.
            generator (`torch.Generator`, *optional*): Makes text and images reproducible.
            progress_bar (`bool`): A tqdm bar per image.

        Returns:
            [`CM3LeonInterleavedOutput`] with `sequences`, `num_images` and `finish_reasons`.
        """
        from ..validation import check_bool, check_choice, check_number
        from .interleaved import CM3LeonInterleavedOutput, TextSettings, write_interleaved

        check_prompt(self.config, "input_ids", input_ids, "attention_mask", attention_mask, None, None)
        check_int("max_new_tokens", max_new_tokens, 1)
        check_bool("do_sample", do_sample)
        check_number("temperature", temperature, 0, exclusive_minimum=True)
        if top_k is not None:
            check_int("top_k", top_k, 1)
        if top_p is not None:
            check_number("top_p", top_p, 0, 1, exclusive_minimum=True)
        check_choice("sequence_format", sequence_format, ("cm3leon", "chameleon"))
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"`generator` must be a torch.Generator, got {describe(generator)}.")
        settings = self._image_generation_settings(image_generation_config, False)
        text = TextSettings(do_sample=do_sample, temperature=temperature, top_k=top_k, top_p=top_p)
        mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
        sequences, counts, reasons = [], [], []
        for row, row_mask in zip(input_ids, mask):
            sequence, num_images, reason = write_interleaved(
                self, row[row_mask.bool()], max_new_tokens, text, settings, sequence_format, generator, progress_bar
            )
            sequences.append(sequence)
            counts.append(num_images)
            reasons.append(reason)
        return CM3LeonInterleavedOutput(sequences=sequences, num_images=counts, finish_reasons=reasons)

    # -- the steps of generate_images -----------------------------------------------------------------------------
    def _image_generation_settings(
        self, generation_config, editing: bool, **arguments
    ) -> CM3LeonImageGenerationConfig:
        """The settings of this generation: `arguments` over `generation_config`, checked, task defaults filled in."""
        if generation_config is not None and not isinstance(generation_config, CM3LeonImageGenerationConfig):
            raise TypeError(
                f"`generation_config` must be a CM3LeonImageGenerationConfig, got {describe(generation_config)}."
            )
        base = generation_config.to_dict() if generation_config is not None else None
        settings = CM3LeonImageGenerationConfig.from_defaults(base, **arguments)
        settings.validate(self.config.image_vocab_size, editing=editing)
        return settings.resolved(editing, self.config.image_vocab_size)

    def _check_generation_inputs(
        self, prompts, num_images_per_prompt, generator, progress_bar, callback, batch_size: int | None = None
    ) -> None:
        """The prompts (each ending with `<racm3:break>`) and the arguments every image generation takes."""
        config = self.config
        if prompts:
            (_, input_ids, attention_mask), *others = prompts
            check_prompt(config, "input_ids", input_ids, "attention_mask", attention_mask, None, config.break_token_id)
            batch_size = input_ids.shape[0]
            for name, ids, mask in others:
                mask_name = name.replace("input_ids", "attention_mask")
                if ids is not None:
                    check_prompt(config, name, ids, mask_name, mask, batch_size, config.break_token_id)
                elif mask is not None:
                    raise ValueError(f"`{mask_name}` was given without `{name}`.")
        check_int("num_images_per_prompt", num_images_per_prompt, 1)
        if generator is not None and not isinstance(generator, torch.Generator):
            if not isinstance(generator, (list, tuple)) or not all(isinstance(g, torch.Generator) for g in generator):
                raise TypeError(f"`generator` must be a torch.Generator or a list of them, got {describe(generator)}.")
            allowed = {batch_size, batch_size * num_images_per_prompt}
            if len(generator) not in allowed:
                raise ValueError(
                    f"`generator` has {len(generator)} generators; pass one per prompt ({batch_size}) or one per "
                    f"image ({batch_size * num_images_per_prompt})."
                )
        check_bool("progress_bar", progress_bar)
        if callback is not None and not callable(callback):
            raise TypeError(f"`callback_on_step_end` must be callable, got {describe(callback)}.")

    def _draw_image_tokens(
        self,
        streams: GuidanceStreams,
        num_tokens: int,
        settings: CM3LeonImageGenerationConfig,
        num_images_per_prompt: int,
        generator,
        progress_bar: bool,
        callback: StepCallback | None,
        reference: torch.LongTensor | None = None,
        ends_image: bool = True,
    ) -> tuple[torch.LongTensor, int, int]:
        """Draw `num_tokens` image tokens per image after the streams' prompts; returns `(token_ids, number drawn,
        forward passes)`. `reference`: codes `(images, num_tokens)` the speculative loop drafts from. `ends_image`:
        the last token drawn is an image's last (with palette codes, the palette code), not a run of an infilling."""
        logit_bias = image_logit_bias(self.config, num_tokens, ends_image, self.device)
        sampler = ImageTokenSampler(
            num_streams=streams.num_streams,
            num_images=streams.num_images,
            num_images_per_prompt=num_images_per_prompt,
            decoding_strategy=settings.decoding_strategy,
            do_sample=settings.do_sample,
            temperature=settings.temperature,
            top_k=settings.top_k,
            top_p=settings.top_p,
            cd_top_k=settings.cd_top_k,
            cd_alpha=settings.cd_alpha,
            guidance_scale=settings.guidance_scale,
            image_guidance_scale=settings.image_guidance_scale,
            device=self.device,
        )
        num_prompts = streams.num_images // num_images_per_prompt
        progress_config = {"total": num_tokens, "desc": "image tokens", **getattr(self, "_progress_bar_config", {})}
        if not progress_bar:
            progress_config["disable"] = True
        with tqdm(**progress_config) as progress:
            if settings.parallel_decoding == "jacobi":
                from .speculative import decode_speculative

                return decode_speculative(
                    self,
                    streams,
                    num_tokens,
                    sampler,
                    settings,
                    generator,
                    num_prompts,
                    callback,
                    progress,
                    reference,
                    logit_bias,
                )
            uniforms = None
            if settings.do_sample:
                uniforms = draw_uniforms(generator, num_prompts, num_images_per_prompt, num_tokens, self.device)
            buffers = _DecodeBuffers(
                self,
                streams.input_ids,
                streams.attention_mask,
                streams.num_streams,
                num_tokens,
                settings.cache_implementation,
            )
            token_ids = torch.empty((streams.num_images, num_tokens), dtype=torch.long, device=self.device)
            codes, scores = prefill(
                self,
                buffers.prompt_ids,
                buffers.prompt_mask,
                buffers.prompt_position_ids,
                buffers.cache,
                sampler,
                None if uniforms is None else uniforms[0],
                None if logit_bias is None else logit_bias[0],
            )
            if torch.isnan(scores).any() or not torch.isfinite(scores).any(-1).all():
                raise FloatingPointError(
                    "The model's image logits after the prompt are not finite (NaN or inf) for some image: check the "
                    "weights (e.g. an overflow in float16) and the prompt."
                )
            torch.add(codes, self.config.image_token_offset, out=token_ids[:, 0])
            progress.update(1)
            if callback is not None and callback(0, token_ids[:, :1], scores):
                return token_ids, 1, 1
            num_drawn = decode_n_tokens(
                self,
                buffers,
                token_ids,
                num_tokens - 1,
                sampler,
                uniforms,
                decode_fn=_get_compiled_decode_one_token() if settings.compile else decode_one_token,
                callback_on_step_end=callback,
                progress=progress,
                logit_bias=logit_bias,
            )
            return token_ids, num_drawn, num_drawn

    def _image_generation_output(self, prompts, streams, token_ids, num_drawn, num_forwards, num_images_per_prompt):
        num_tokens = self.config.image_seq_length
        is_complete = num_drawn == num_tokens
        token_ids = token_ids[:, :num_drawn]
        if not is_complete:
            logger.warning(
                f"`callback_on_step_end` stopped generation after {num_drawn} of {num_tokens} image tokens; the "
                "output has `is_complete=False`."
            )
        conditional = prompts[0][1].to(self.device).repeat_interleave(num_images_per_prompt, 0)
        pieces = [conditional, token_ids]
        if is_complete:
            eoss = torch.full((streams.num_images, 1), self.config.eoss_token_id, dtype=torch.long, device=self.device)
            pieces.append(eoss)
        return CM3LeonImageGenerationOutput(
            image_token_ids=token_ids,
            sequences=torch.cat(pieces, dim=-1),
            num_image_tokens=num_drawn,
            is_complete=is_complete,
            num_forward_passes=num_forwards,
        )

    def generate_text(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.Tensor | None = None,
        *,
        suppress_image_tokens: bool = True,
        **generate_kwargs,
    ):
        """Text generation (captions, answers) through the standard `generate()`, stopping at `<eoss>` or `</s>`.

        A thin wrapper: `generate(input_ids, attention_mask, generation_config=text_generation_config(...))`; any
        `generate()` argument may be passed (`max_new_tokens`, `do_sample`, ...).

        Args:
            suppress_image_tokens (`bool`): Forbid image tokens in the text (default).
        """
        generation_config = text_generation_config(
            self.config,
            generation_config=generate_kwargs.pop("generation_config", None) or self.generation_config,
            suppress_image_tokens=suppress_image_tokens,
            **{key: generate_kwargs.pop(key) for key in list(generate_kwargs) if hasattr(GenerationConfig(), key)},
        )
        return self.generate(
            input_ids=input_ids, attention_mask=attention_mask, generation_config=generation_config, **generate_kwargs
        )


def text_generation_config(
    config, generation_config: GenerationConfig | None = None, suppress_image_tokens: bool = True, **kwargs
) -> GenerationConfig:
    """A `GenerationConfig` for text answers: ends at `<eoss>` (the end of an infilled span: captions and VQA answers)
    or `</s>`, pads with `<pad>`, and by default forbids image tokens. `kwargs` override fields."""
    generation_config = copy.deepcopy(generation_config) if generation_config is not None else GenerationConfig()
    generation_config.eos_token_id = [t for t in (config.eoss_token_id, config.eos_token_id) if t is not None] or None
    generation_config.pad_token_id = config.pad_token_id
    generation_config.bos_token_id = config.bos_token_id
    if suppress_image_tokens:
        generation_config.suppress_tokens = list(config.image_token_ids)
    generation_config.update(**kwargs)
    for name, minimum in (("max_new_tokens", 1), ("max_length", 1), ("min_new_tokens", 0), ("min_length", 0)):
        if getattr(generation_config, name, None) is not None:
            check_int(name, getattr(generation_config, name), minimum=minimum)
    return generation_config


__all__ = ["CM3LeonImageGenerationMixin", "CM3LeonImageGenerationOutput", "text_generation_config"]
