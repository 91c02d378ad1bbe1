# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Write the model card (`README.md`) of a saved CM3Leon folder.

The generator is library code (`transformers_cm3leon.model_card`) so that the conversion scripts and
`transformers_cm3leon.hub.push_to_hub` use the same one; the template it fills is package data
(`src/transformers_cm3leon/model_card_template.md`). This script is its command line.

Usage:

    python model_cards/generate_model_card.py path/to/folder --repo-id org/name --license apache-2.0 \
        --eval-results results.json

`results.json` holds a list of evaluation results, each with `task_type`, `dataset_type`, `dataset_name`,
`metric_type`, `metric_value` (and optionally `metric_name`, `dataset_split`, ...), as in `huggingface_hub.EvalResult`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from transformers_cm3leon.model_card import write_model_card


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", help="A saved CM3Leon folder (config.json, ...); README.md is written into it.")
    parser.add_argument("--repo-id", default=None, help="Hub id the card's snippets load (default: the folder path).")
    parser.add_argument("--model-name", default=None, help="Title of the card (default: the last part of the id).")
    parser.add_argument("--description", default=None, help="Paragraph under the title.")
    parser.add_argument("--base-model", action="append", default=None, help="Hub id of a base model (repeatable).")
    parser.add_argument("--license", default="apache-2.0", help="Hub license id (default: %(default)s).")
    parser.add_argument("--license-name", default=None, help="With --license other: the license's short name.")
    parser.add_argument("--license-link", default=None, help="With --license other: the license's URL.")
    parser.add_argument("--tag", action="append", default=[], help="Extra tag (repeatable).")
    parser.add_argument("--dataset", action="append", default=None, help="Training dataset Hub id (repeatable).")
    parser.add_argument("--eval-results", default=None, help="JSON file with a list of evaluation results.")
    args = parser.parse_args(argv)

    eval_results = None
    if args.eval_results is not None:
        eval_results = json.loads(Path(args.eval_results).read_text(encoding="utf-8"))
        if not isinstance(eval_results, list):
            parser.error(f"--eval-results must hold a JSON list of results, got {type(eval_results).__name__}.")
    base_model = args.base_model[0] if args.base_model and len(args.base_model) == 1 else args.base_model
    card = write_model_card(
        args.folder,
        repo_id=args.repo_id,
        model_name=args.model_name,
        description=args.description,
        base_model=base_model,
        license=args.license,
        license_name=args.license_name,
        license_link=args.license_link,
        tags=args.tag,
        datasets=args.dataset,
        eval_results=eval_results,
    )
    print(f"Wrote {Path(args.folder) / 'README.md'} ({len(str(card))} characters).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
