"""Evaluate a trained model directory on catalog entries and write the results files.

    <out_dir>/predictions.jsonl   one line per example: inputs, prediction, answers, template
    <out_dir>/templates.csv       one row per (entry, template): metric, score, chance, n
    <out_dir>/summary.md          the results table (mean over templates, best template, chance)
"""

from __future__ import annotations

import csv
import json
import pathlib

from flan.eval import evaluate


def evaluate_model(model_dir: str, specs, *, out_dir: str, split: str = "test", limit: int = 100,
                   heldout: set[str] = frozenset(), progress: bool = True) -> list[dict]:
  from tqdm.auto import tqdm

  from flan.train import trainer

  _, graphdef, params, vocab = trainer.load_model(model_dir)
  out = pathlib.Path(out_dir)
  out.mkdir(parents=True, exist_ok=True)
  rows = []
  with (out / "predictions.jsonl").open("w") as predictions:
    for spec in tqdm(specs, desc="eval", unit="task", disable=not progress):
      rows.extend(evaluate.evaluate_entry(graphdef, params, vocab, spec, split=split, limit=limit,
                                          predictions_file=predictions))
  with (out / "templates.csv").open("w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
  summary = evaluate.summarize(rows, heldout)
  (out / "summary.md").write_text(evaluate.markdown_table(summary) + "\n")
  (out / "summary.json").write_text(json.dumps(summary, indent=2))
  return summary


def format_summary(summary: list[dict]) -> str:
  return evaluate.markdown_table(summary)
