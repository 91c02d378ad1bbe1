"""Where CM3Leon-Emoji's drawings of held-out (emoji, skin tone) pairs go wrong, for a model with a palette code (the
recipe's `--palette-steps`): the tone or the shape?

The held-out pairs are drawn as `evaluate.py`'s text-to-image row draws them (the bare name, the model's default
decoding, four samples each, the same seeds), as token ids. For those drawings: how often the palette code is the
pair's tone, how many grid codes are its yellow base's, what the judge names (the pair, the same emoji with another
tone or none, another emoji with the tone, something else), and what it names once each drawing's palette code is
replaced by the one the tokenizer reads off the pair's render. The ceiling: the base's own grid codes with the
pair's palette code, decoded and judged (and, where it is not the pair, what the judge names instead).

    python benchmarks/held_out_drawing_emoji.py --model outputs/cm3leon-emoji/model --seed 0
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "recipes"))

from cm3leon_emoji import emoji_data  # noqa: E402
from cm3leon_emoji.evaluate import EmojiEvaluator  # noqa: E402
from cm3leon_emoji.image_tokenizer import palette_label  # noqa: E402

from transformers_cm3leon import CM3LeonForCausalLM, CM3LeonProcessor  # noqa: E402
from transformers_cm3leon.default_model import default_model_path  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="A model folder (default: the shipped default model).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--samples", type=int, default=4, help="Drawings per held-out pair (evaluate.py: 4).")
    args = parser.parse_args(argv)
    if args.samples < 1:
        parser.error(f"--samples must be at least 1, got {args.samples}")
    folder = args.model or default_model_path()
    model = CM3LeonForCausalLM.from_pretrained(folder).eval()
    processor = CM3LeonProcessor.from_pretrained(folder)
    image_processor = processor.image_processor
    vq_config = image_processor.vq_model.config
    if not vq_config.num_palette_embeddings:
        parser.error(f"{folder} has no palette code (its image tokenizer's `num_palette_embeddings` is 0)")
    evaluator = EmojiEvaluator(model, processor, seed=args.seed)
    cells, held_out = vq_config.grid_size**2, evaluator.held_out

    def judged(codes, expected) -> float:
        return evaluator.judge.accuracy(image_processor.postprocess(image_processor.decode(codes)), expected)

    def outcome(name: str, pair) -> str:
        found = evaluator.by_name[name]
        if name == pair.name:
            return "the pair"
        if found.base == pair.base:
            return "the same emoji, another tone or none"
        return "another emoji with the tone" if found.tone == pair.tone else "something else"

    pair_codes = image_processor.encode([emoji_data.render(e.char) for e in held_out])
    base_codes = image_processor.encode([emoji_data.render(e.base) for e in held_out])
    ideal = torch.cat([base_codes[:, :cells], pair_codes[:, cells:]], dim=1)

    # As `EmojiEvaluator.text_to_image(held_out, samples=4)`: the same prompts, batches and seeds.
    prompts = evaluator.prompts([emoji_data.text_to_image_prompt(e.name, 0) for e in held_out])
    prompt_ids = [p for p in prompts for _ in range(args.samples)]
    drawn = evaluator.generate_images(prompt_ids, return_tokens=True, **evaluator.t2i_settings())
    drawn = drawn - processor.image_token_offset
    rows = torch.arange(len(held_out)).repeat_interleave(args.samples)
    expected = [held_out[i].name for i in rows]

    images = image_processor.postprocess(image_processor.decode(drawn))
    outcomes = Counter(outcome(name, held_out[row]) for name, row in zip(evaluator.judge.identify(images), rows))
    ideal_names = evaluator.judge.identify(image_processor.postprocess(image_processor.decode(ideal)))
    # Where the ideal drawing is not judged as the pair: which tone the judge sees instead.
    ideal_misses = Counter(
        evaluator.by_name[name].tone or "none" for name, pair in zip(ideal_names, held_out) if name != pair.name
    )
    tone_codes = torch.tensor([vq_config.num_embeddings + palette_label(held_out[i]) for i in rows])
    with_pair_palette = torch.cat([drawn[:, :cells], pair_codes[rows, cells:]], dim=1)
    found = {
        "model": folder,
        "seed": args.seed,
        "drawings": len(drawn),
        "palette_code_is_the_tone": float((drawn[:, cells] == tone_codes).float().mean()),
        "grid_codes_of_the_base": float((drawn[:, :cells] == base_codes[rows, :cells]).float().mean()),
        "grid_codes_of_the_pair": float((drawn[:, :cells] == pair_codes[rows, :cells]).float().mean()),
        "judged": {key: value / len(drawn) for key, value in sorted(outcomes.items())},
        "judged_with_the_palette_code_of_the_pairs_render": judged(with_pair_palette, expected),
        "ceiling_base_grid_and_pair_palette": judged(ideal, [e.name for e in held_out]),
        "ceiling_judged": dict(sorted(Counter(outcome(n, e) for n, e in zip(ideal_names, held_out)).items())),
        "ceiling_misses_by_tone_seen": dict(sorted(ideal_misses.items())),
        "round_trip_of_the_pairs": judged(pair_codes, [e.name for e in held_out]),
    }
    print(json.dumps(found, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
