"""Evaluate a trained model directory on catalog entries and write the results files.

    <out_dir>/predictions.jsonl   one line per (example, template, split): inputs, prediction,
                                  answers, options
    <out_dir>/templates.csv       one row per (task, template, split): score, sub-scores, chance, n
    <out_dir>/summary.md          the results table: mean over templates, the test score of the
                                  template best on validation, chance (aggregate.markdown_table)
    <out_dir>/summary.csv         the same per task, every sub-score as a column
    <out_dir>/summary.json        the same; written last, so its presence means "finished"

`flan eval`, `flan demo` and `flan sweep` all go through `evaluate_model`.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import sys

from flan.errors import UserError
from flan.eval import aggregate, evaluate

SUMMARY_FILE = "summary.json"


class EvalError(UserError, ValueError):
  """An evaluation request that selects nothing to evaluate."""


def evaluate_model(model_dir: str, specs, *, out_dir: str, splits=evaluate.SPLITS,
                   limit: int | None = 100, heldout=None, shots: int = 0,
                   beam_size: int = 1, data_dir: str | None = None,
                   progress: bool = True) -> list[dict]:
  """Evaluates the latest checkpoint of `model_dir` on `specs` and writes `out_dir`.

  `specs`: catalog entries, or (entry, templates) pairs to evaluate only some templates.
  `heldout`: clusters the model never trained on (default: read from the model's gin config).
  Returns the summary (aggregate.summarize).
  """
  from tqdm.auto import tqdm

  from flan.train import trainer

  _, graphdef, params, vocab = trainer.load_model(model_dir)
  out = pathlib.Path(out_dir)
  out.mkdir(parents=True, exist_ok=True)
  (out / SUMMARY_FILE).unlink(missing_ok=True)
  rows = []
  with (out / "predictions.jsonl").open("w") as predictions:
    for item in tqdm(specs, desc="eval", unit="task", disable=not progress):
      spec, templates = item if isinstance(item, tuple) else (item, None)
      rows.extend(evaluate.evaluate_entry(
          graphdef, params, vocab, spec, splits=splits, limit=limit, shots=shots,
          beam_size=beam_size, templates=templates, predictions_file=predictions,
          data_dir=data_dir, warn=lambda m: tqdm.write(f"flan: warning: {m}", file=sys.stderr)))
  if not rows:
    raise EvalError("nothing to evaluate: no eval-eligible template of the selected entries "
                    f"has examples on the splits {list(splits)}")
  aggregate.write_csv(out / "templates.csv", rows)
  if heldout is None:
    heldout = untrained_clusters(model_dir)
  summary = aggregate.summarize(rows, heldout)
  (out / "summary.md").write_text(aggregate.markdown_table(summary) + "\n")
  aggregate.write_csv(out / "summary.csv", summary)
  partial = out / (SUMMARY_FILE + ".tmp")
  partial.write_text(json.dumps(summary, indent=2))
  os.replace(partial, out / SUMMARY_FILE)
  return summary


_MIXTURE_MACRO = re.compile(r"^MIXTURE\s*=\s*['\"]([^'\"]+)['\"]", re.MULTILINE)


def untrained_clusters(model_dir: str | pathlib.Path) -> set[str]:
  """The clusters none of whose entries the model trained on, from the MIXTURE of its
  config.gin; empty when that is unknown."""
  from flan.data import catalog, clusters, mixtures

  path = pathlib.Path(model_dir) / "config.gin"
  match = _MIXTURE_MACRO.search(path.read_text()) if path.exists() else None
  if not match:
    return set()
  try:
    training, _ = mixtures.split(mixtures.parse_mixture_name(match.group(1)))
  except (catalog.CatalogError, catalog.UnknownEntryError):
    return set()
  return set(clusters.names()) - {s.cluster for s in training}


def load_summary(out_dir: str | pathlib.Path) -> list[dict] | None:
  """The summary a finished evaluation wrote into `out_dir`, or None."""
  path = pathlib.Path(out_dir) / SUMMARY_FILE
  return json.loads(path.read_text()) if path.exists() else None


def format_summary(summary: list[dict]) -> str:
  return aggregate.markdown_table(summary)
