"""Does a CM3Leon language model compose held-out (emoji, skin tone) pairs when its image tokens factor the tone
out? A probe of the language-model half of the plan in `tone_factored_tokenizer_emoji.py` (nothing here is shipped).

Each emoji's picture is written as the ideal factored tokens: the shipped image tokenizer's 16 codes of its yellow
base emoji (of itself when it has no tone) and one tone token (six new ids: none and the five tones), first or last
in the image span. `--layout codes` is the control: the shipped codes of the picture itself, no tone token (the
default model's layout). The default model, with six new token embeddings (`--init scratch`: a model of its size
from scratch, which needs far more steps), is trained on the seen emoji only: text-to-image from the bare name and a
template, and captioning (the CM3 infilling layout). It is then asked to draw and to name the seen toned emoji and
the held-out pairs (greedy, every image position restricted to its kind of token).

A drawing is identified as the emoji whose target tokens are nearest by Hamming distance (unique, among all seen
and held-out emoji): a token-level judge, because the pixels of base codes + tone need the tone-conditioned decoder
of the tokenizer probe (which decodes them into the pair 38 of 38). A caption must be the exact CLDR name.

    python benchmarks/compositional_tokens_emoji.py --layout tone-last --steps 600 --learning-rate 5e-4
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "recipes"))

from cm3leon_emoji import emoji_data  # noqa: E402
from cm3leon_emoji.train import EmojiRecipe  # noqa: E402

from transformers_cm3leon import CM3LeonConfig, CM3LeonForCausalLM, special_token_ids  # noqa: E402
from transformers_cm3leon.default_model import load_default  # noqa: E402

TONES = (None, *emoji_data.TONE_NAMES)
LAYOUTS = ("tone-first", "tone-last", "codes")


class FactoredData:
    """The rows and targets of one layout."""

    def __init__(self, processor, layout: str, seed: int):
        recipe = EmojiRecipe()
        emoji = emoji_data.select_emoji(recipe.min_distance)
        self.seen, self.held_out = emoji_data.split(emoji, seed=0)
        self.processor, self.layout = processor, layout
        self.tone_offset = processor.vocab_size
        chars = sorted({e.char for e in emoji} | {e.base for e in emoji})
        codes = processor.encode_images([emoji_data.render(c) for c in chars])
        self.codes = dict(zip(chars, codes))
        self.everyone = [*self.seen, *self.held_out]
        self.targets = torch.tensor([self.span(e) for e in self.everyone])
        self.rng = np.random.default_rng(seed)

    def text_ids(self, text: str) -> list[int]:
        return self.processor.tokenizer(text, add_special_tokens=False, split_special_tokens=True)["input_ids"]

    def span(self, e) -> list[int]:
        """The image span of `e`'s picture in this layout."""
        if self.layout == "codes":
            return list(self.codes[e.char])
        codes, tone = list(self.codes[e.base if e.tone else e.char]), self.tone_offset + TONES.index(e.tone)
        return [tone, *codes] if self.layout == "tone-first" else [*codes, tone]

    def with_span(self, prompt_codes: list[int], prompt: list[int], span: list[int]) -> list[int]:
        """`prompt` (built with 16 codes) with its codes replaced by `span`."""
        for start in range(len(prompt) - len(prompt_codes) + 1):
            if prompt[start : start + len(prompt_codes)] == prompt_codes:
                return prompt[:start] + span + prompt[start + len(prompt_codes) :]
        raise ValueError("the codes are not in the prompt")

    def drawing_prompt(self, e, template: int = 0) -> list[int]:
        return self.processor.text_to_image_prompt(emoji_data.text_to_image_prompt(e.name, template))

    def captioning_prompt(self, e) -> list[int]:
        codes = list(self.codes[e.char])
        return self.with_span(codes, self.processor.captioning_prompt(codes), self.span(e))

    def rows(self) -> list[tuple[list[int], int]]:
        """One draw of the training rows: `(ids, answer start)`."""
        processor, rows = self.processor, []
        for e in self.seen:
            template = int(self.rng.integers(1, len(emoji_data.TEXT_TO_IMAGE_TEMPLATES)))
            for t in (0, template):
                prompt = self.drawing_prompt(e, t)
                rows.append((prompt + self.span(e) + [processor.eos_token_id], len(prompt)))
            prompt = self.captioning_prompt(e)
            rows.append((prompt + self.text_ids(e.name) + [processor.eoss_token_id], len(prompt)))
        return rows


def batches(data: FactoredData, batch_size: int, pad_id: int):
    while True:
        rows = data.rows()
        order = data.rng.permutation(len(rows))
        for start in range(0, len(rows) - batch_size + 1, batch_size):
            chunk = [rows[i] for i in order[start : start + batch_size]]
            width = max(len(ids) for ids, _ in chunk)
            input_ids = torch.full((len(chunk), width), pad_id)
            labels = torch.full((len(chunk), width), -100)
            for row, (ids, answer) in enumerate(chunk):
                input_ids[row, : len(ids)] = torch.tensor(ids)
                labels[row, answer : len(ids)] = torch.tensor(ids[answer:])
            yield input_ids, labels


def new_model(data: FactoredData, seed: int) -> CM3LeonForCausalLM:
    """A model of the default model's size, from scratch."""
    recipe, ids = EmojiRecipe(), special_token_ids(data.processor.tokenizer)
    ids["vocab_size"] += len(TONES)
    torch.manual_seed(seed)
    return CM3LeonForCausalLM(
        CM3LeonConfig(
            **ids,
            hidden_size=recipe.hidden_size,
            intermediate_size=recipe.intermediate_size,
            num_hidden_layers=recipe.num_hidden_layers,
            num_attention_heads=recipe.num_attention_heads,
            max_position_embeddings=2 * recipe.block_size,
            image_seq_length=len(data.targets[0]),
            initializer_range=0.02,
            position_initializer_range=0.02,
        )
    )


def default_model_with_tones(model: CM3LeonForCausalLM, data: FactoredData, seed: int) -> CM3LeonForCausalLM:
    """The default model with six new token embeddings for the tones, drawn at random: from one vector (the mean
    embedding) their logits stay equal and the hidden states get no gradient to tell the tones apart."""
    torch.manual_seed(seed)
    old = model.get_input_embeddings().weight.shape[0]
    model.resize_token_embeddings(old + len(TONES), mean_resizing=False)
    model.config.image_seq_length = len(data.targets[0])
    return model


def train(model, data: FactoredData, steps: int, batch_size: int, learning_rate: float) -> CM3LeonForCausalLM:
    tokenizer = data.processor.tokenizer
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / 100) * 0.5 * (1 + math.cos(math.pi * s / steps))
    )
    model.train()
    for step, (input_ids, labels) in zip(range(steps), batches(data, batch_size, tokenizer.pad_token_id)):
        loss = model(input_ids=input_ids, attention_mask=input_ids != tokenizer.pad_token_id, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        if step % 100 == 0:
            print(f"step {step} loss {loss.item():.3f}", flush=True)
    return model.eval()


@torch.no_grad()
def greedy(model, prompt: list[int], allowed: list[torch.Tensor], stop: int | None = None) -> list[int]:
    """Greedy decoding of `len(allowed)` tokens, each restricted to its `allowed` ids."""
    ids, out, past = torch.tensor([prompt]), [], None
    for allow in allowed:
        result = model(input_ids=ids, past_key_values=past, use_cache=True)
        past, logits = result.past_key_values, result.logits[0, -1]
        logits = torch.full_like(logits, -torch.inf).index_copy(0, allow, logits[allow])
        token = int(logits.argmax())
        out.append(token)
        if token == stop:
            break
        ids = torch.tensor([[token]])
    return out


def evaluate(model, data: FactoredData, emoji: list) -> dict:
    processor = data.processor
    image_ids = torch.arange(processor.image_token_offset, processor.image_token_offset + processor.image_vocab_size)
    tone_ids = torch.arange(data.tone_offset, data.tone_offset + len(TONES))
    text_ids = torch.arange(data.tone_offset)  # the default model's whole vocabulary
    kinds = [tone_ids if data.layout == "tone-first" else image_ids] + [image_ids] * 15
    kinds += [tone_ids] if data.layout == "tone-last" else [image_ids] if data.layout == "tone-first" else []
    names = [e.name for e in data.everyone]
    drawn = named = codes_right = tone_right = 0
    for e in emoji:
        span = torch.tensor(greedy(model, data.drawing_prompt(e), kinds))
        distance = (data.targets != span).sum(-1)
        nearest = torch.nonzero(distance == distance.min()).flatten().tolist()
        drawn += nearest == [names.index(e.name)]
        target = torch.tensor(data.span(e))
        is_tone = target >= data.tone_offset
        codes_right += (span[~is_tone] == target[~is_tone]).float().mean().item()
        tone_right += bool((span[is_tone] == target[is_tone]).all()) if is_tone.any() else 0
        caption = greedy(model, data.captioning_prompt(e), [text_ids] * 24, stop=processor.eoss_token_id)
        named += processor.tokenizer.decode(caption[:-1]).strip() == e.name
    n = len(emoji)
    return {
        "count": n,
        "text_to_image_identified": round(100 * drawn / n, 1),
        "codes_right": round(100 * codes_right / n, 1),
        "tone_right": round(100 * tone_right / n, 1) if data.layout != "codes" else None,
        "captioning_exact": round(100 * named / n, 1),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layout", choices=LAYOUTS, default="tone-last")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument(
        "--init",
        choices=("scratch", "default"),
        default="default",
        help="Train from scratch, or fine-tune the default model (six new token embeddings for the tones).",
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=1.5e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", help="Also write the results here.")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    default, processor = load_default()
    data = FactoredData(processor, args.layout, args.seed)
    model = (
        default_model_with_tones(default, data, args.seed) if args.init == "default" else new_model(data, args.seed)
    )
    started = time.time()
    model = train(model, data, args.steps, args.batch_size, args.learning_rate)
    seen_toned = [e for e in data.seen if e.tone][:: max(1, len([e for e in data.seen if e.tone]) // 100)]
    results = {
        "layout": args.layout,
        "init": args.init,
        "steps": args.steps,
        "train_seconds": round(time.time() - started),
        "held_out": evaluate(model, data, data.held_out),
        "seen_toned": evaluate(model, data, seen_toned),
    }
    print(json.dumps(results, indent=2))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
