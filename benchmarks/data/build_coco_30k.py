"""Build `coco_val2014_captions_30k.csv`: the 30,000 MS-COCO val2014 captions of the zero-shot FID-30K protocol, as
GigaGAN and LlamaGen use them (one `Prompt` column). COCO's annotations are licensed CC BY 4.0 (Lin et al., 2014,
"Microsoft COCO: Common Objects in Context"); the list is LlamaGen's `evaluations/t2i/coco_captions.csv`.

    python benchmarks/data/build_coco_30k.py                      # downloads LlamaGen's file, checks it, writes it here
    python benchmarks/data/build_coco_30k.py --from-file copy.csv  # checks and copies a file you already have

The prompts are checked against a fingerprint (30,000 rows; SHA-256 of the prompts joined by newlines), so the file
written is the protocol's list whatever the source. Then: `cm3leon eval text-to-image --prompts
benchmarks/data/coco_val2014_captions_30k.csv ...`.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import os
import urllib.request

SOURCE_URL = "https://raw.githubusercontent.com/FoundationVision/LlamaGen/main/evaluations/t2i/coco_captions.csv"
NUM_PROMPTS = 30_000
PROMPTS_SHA256 = "c084e576b4193254f54adff823526da43c4375adeabcd4fd7544d42767e0c82a"
DEFAULT_OUTPUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "coco_val2014_captions_30k.csv")


def read_prompts(text: str, source: str) -> list[str]:
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or "Prompt" not in reader.fieldnames:
        raise ValueError(f"{source} has no 'Prompt' column (columns: {reader.fieldnames}).")
    return [row["Prompt"] for row in reader]


def check_prompts(prompts: list[str], source: str) -> None:
    """The protocol's list, or a ValueError that says how it differs."""
    if len(prompts) != NUM_PROMPTS:
        raise ValueError(f"{source} holds {len(prompts)} prompts; the FID-30K list holds {NUM_PROMPTS}.")
    digest = hashlib.sha256("\n".join(prompts).encode("utf-8")).hexdigest()
    if digest != PROMPTS_SHA256:
        raise ValueError(
            f"{source}: the prompts differ from the FID-30K list (SHA-256 {digest}, expected {PROMPTS_SHA256})."
        )


def write_prompts(prompts: list[str], path: str) -> None:
    temporary = f"{path}.tmp"
    with open(temporary, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["Prompt"])
        writer.writerows([prompt] for prompt in prompts)
    os.replace(temporary, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from-file", default=None, help="A local copy of the list, instead of downloading it.")
    parser.add_argument(
        "--output", default=DEFAULT_OUTPUT, help="Where to write the CSV (default: next to this script)."
    )
    args = parser.parse_args(argv)
    if args.from_file is not None:
        with open(args.from_file, encoding="utf-8", newline="") as handle:
            text, source = handle.read(), args.from_file
    else:
        with urllib.request.urlopen(SOURCE_URL, timeout=60) as response:
            text, source = response.read().decode("utf-8"), SOURCE_URL
    prompts = read_prompts(text, source)
    check_prompts(prompts, source)
    write_prompts(prompts, args.output)
    print(f"wrote {args.output} ({len(prompts)} prompts)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
