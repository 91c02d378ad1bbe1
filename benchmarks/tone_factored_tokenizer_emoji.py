"""Would an image tokenizer whose codes do not carry the skin tone let CM3Leon-Emoji compose held-out (emoji, skin
tone) pairs? A probe on the default model's image tokenizer, not a recipe stage (nothing here is shipped).

The shipped VQ model is fine-tuned on seen emoji only (the held-out pairs never take part), its codebook frozen:
- consistency: a toned emoji's encoder latents are pulled onto the code vectors of its yellow base emoji;
- the decoder takes the tone as a condition (a learned embedding added to its input), and reconstructs the toned
  picture from the base's codes;
- a small tone head reads the tone from the pixels.

Measured on seen toned emoji and on the held-out pairs: the share of a picture's codes equal to its base's; whether
the pixel judge names the pair when the base's codes are decoded with the pair's tone (what a language model that
writes a seen shape and a seen tone token would get); the head's tone, and the tone a fixed rule reads from the skin
colours; the round trip with the head's tone; and the round trip of untoned seen emoji (what the fine-tune costs).

    python benchmarks/tone_factored_tokenizer_emoji.py --steps 5000 --threads 2
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "recipes"))

from cm3leon_emoji import emoji_data  # noqa: E402
from cm3leon_emoji.judge import ImageJudge, in_model_frame  # noqa: E402
from cm3leon_emoji.train import EmojiRecipe  # noqa: E402

from transformers_cm3leon.default_model import load_default  # noqa: E402

TONES = (None, *emoji_data.TONE_NAMES)  # index 0: no tone (the yellow emoji)
# OpenMoji's skin fill of each tone, in TONES' order (from its glyphs: 78% of the pixels a tone changes).
SKIN_COLOURS = np.array(
    [[252, 234, 43], [250, 220, 188], [222, 187, 144], [193, 154, 101], [165, 121, 57], [106, 70, 47]]
)


def tone_by_skin_colour(picture, levels: float = 12.0) -> int:
    """A fixed rule, no learning: the tone whose skin colour the most pixels are near; 0 when no pixel is near one."""
    rgb = np.asarray(picture, dtype=np.float64).reshape(-1, 1, 3)
    near = (np.linalg.norm(rgb - SKIN_COLOURS[None, 1:], axis=-1) < levels).sum(axis=0)
    return int(near.argmax()) + 1 if near.max() > 0 else 0


class ToneFactoredTokenizer(torch.nn.Module):
    """A VQ model whose decoder also takes a tone, and a tone head on the pixels."""

    def __init__(self, vq_model, num_tones: int):
        super().__init__()
        self.vq_model = vq_model.train()
        self.vq_model.quantize.requires_grad_(False)
        self.tone_embedding = torch.nn.Embedding(num_tones, vq_model.config.latent_channels)
        torch.nn.init.zeros_(self.tone_embedding.weight)  # starts as the shipped decoder
        self.tone_head = torch.nn.Sequential(
            torch.nn.Conv2d(3, 32, 4, 4),
            torch.nn.GELU(),
            torch.nn.Conv2d(32, 32, 2, 2),
            torch.nn.GELU(),
            torch.nn.AdaptiveAvgPool2d(1),
            torch.nn.Flatten(),
            torch.nn.Linear(32, num_tones),
        )

    def latents(self, pixel_values):
        return self.vq_model.quant_conv(self.vq_model.encoder(pixel_values))

    def code_vectors(self, codes):
        vq_model = self.vq_model
        grid = vq_model.config.grid_size
        return vq_model.quantize.get_codebook_entry(codes, (len(codes), grid, grid, vq_model.config.embed_dim))

    def decode(self, quantized, tones):
        hidden = self.vq_model.post_quant_conv(quantized) + self.tone_embedding(tones)[:, :, None, None]
        return self.vq_model.decoder(hidden)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--consistency-weight", type=float, default=0.3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", default=None, help="Also write the results here.")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    image_processor = load_default()[1].image_processor
    everything = emoji_data.select_emoji(EmojiRecipe().min_distance)
    seen, held_out = emoji_data.split(everything, seed=0)
    base_of = {e.base: e for e in everything if e.tone is None}

    def pixels(emoji):
        renders = [emoji_data.render(e.char) for e in emoji]
        return torch.from_numpy(image_processor.preprocess(renders, return_tensors="np")["pixel_values"])

    train = [e for e in seen if e.base in base_of]
    images, base_images = pixels(train), pixels([base_of[e.base] for e in train])
    train_tones = torch.tensor([TONES.index(e.tone) for e in train])
    model = ToneFactoredTokenizer(copy.deepcopy(image_processor.vq_model), len(TONES))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-4)
    toned = (train_tones > 0).nonzero().flatten()
    for step in range(args.steps):
        # Half of each batch toned emoji, half any seen emoji.
        index = torch.cat([toned[torch.randint(len(toned), (16,))], torch.randint(len(images), (16,))])
        x, tone = images[index], train_tones[index]
        latents = model.latents(x)
        with torch.no_grad():
            _, base_codes, _, _ = model.vq_model.quantize(model.latents(base_images[index]))
            target = model.code_vectors(base_codes)
        quantized, _, _, commitment = model.vq_model.quantize(latents)
        reconstruction = model.decode(quantized, tone)
        loss = (
            (reconstruction - x).abs().mean()
            + (reconstruction - x).pow(2).mean()
            + 0.25 * commitment
            + args.consistency_weight * F.mse_loss(latents, target)
            + 0.1 * F.cross_entropy(model.tone_head(x), tone)
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 500 == 0:
            print(f"step {step}: loss {loss.item():.4f}", flush=True)
    model.eval()

    references = in_model_frame(image_processor, [emoji_data.render(e.char) for e in everything])
    judge = ImageJudge([e.name for e in everything], references)

    def as_pictures(pixel_values):
        return image_processor.postprocess(pixel_values.clamp(-1, 1))

    @torch.no_grad()
    def measure(emoji) -> dict:
        x = pixels(emoji)
        _, codes, _, _ = model.vq_model.quantize(model.latents(x))
        _, base_codes, _, _ = model.vq_model.quantize(model.latents(pixels([base_of[e.base] for e in emoji])))
        true_tones = torch.tensor([TONES.index(e.tone) for e in emoji])
        read_tones = model.tone_head(x).argmax(1)
        names = [e.name for e in emoji]
        return {
            "codes_equal_to_the_base": float((codes == base_codes).float().mean()),
            "base_codes_and_tone_judged": judge.accuracy(
                as_pictures(model.decode(model.code_vectors(base_codes), true_tones)), names
            ),
            "tone_read_by_the_head": float((read_tones == true_tones).float().mean()),
            "tone_read_by_skin_colour": float(
                np.mean([tone_by_skin_colour(p) == t for p, t in zip(as_pictures(x), true_tones.tolist())])
            ),
            "round_trip_judged": judge.accuracy(
                as_pictures(model.decode(model.code_vectors(codes), read_tones)), names
            ),
            "count": len(emoji),
        }

    with torch.no_grad():
        plain = [e for e in seen if e.tone is None][:300]
        x = pixels(plain)
        quantized, _, _, _ = model.vq_model.quantize(model.latents(x))
        untoned = model.decode(quantized, torch.zeros(len(plain), dtype=torch.long))
    results = {
        "steps": args.steps,
        "seen_toned": measure([e for e in seen if e.tone and e.base in base_of]),
        "held_out_pairs": measure([e for e in held_out if e.base in base_of]),
        "untoned_seen_round_trip_judged": judge.accuracy(as_pictures(untoned), [e.name for e in plain]),
    }
    print(json.dumps(results, indent=2))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
