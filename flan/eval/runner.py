"""Evaluate a trained model directory on catalog entries and write the results files.

    <out_dir>/predictions.jsonl   one line per (example, template, split): inputs, prediction,
                                  answers, options
    <out_dir>/templates.csv       one row per (task, template, split): score, sub-scores, chance, n
    <out_dir>/summary.md          the results table: mean over templates, the test score of the
                                  template best on validation, chance (aggregate.markdown_table)
    <out_dir>/summary.csv         the same per task, every sub-score as a column
    <out_dir>/summary.json        the same; moved in last, so its presence means "finished"

A failed evaluation leaves the previous files of <out_dir> untouched: the request is checked
before anything is written (`check_selection`), and the new files are written into
<out_dir>/.staging-<pid>/ and moved over the old ones only once every one of them is complete.

`flan eval`, `flan demo` and `flan sweep` all go through `evaluate_model`.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import shutil
import sys
from typing import Iterator

from flan.checkpoint import model_dir as model_dir_lib, restore
from flan.data import prepare
from flan.data import catalog, clusters, mixtures, tasks
from flan.errors import UserError
from flan.eval import aggregate, evaluate

SUMMARY_FILE = "summary.json"
RESULT_FILES = ("predictions.jsonl", "templates.csv", "summary.md", "summary.csv", SUMMARY_FILE)


class EvalError(UserError, ValueError):
  """An evaluation request that selects nothing to evaluate."""


def check_selection(specs, splits, data_dir: str | None = None) -> None:
  """Fails (one line) unless some selected template is eval-eligible on one of `splits`, and
  every selected entry's data is prepared: checked before the model is loaded or any file
  written."""
  pairs = [item if isinstance(item, tuple) else (item, None) for item in specs]
  if not any(any(t.eval for t in (templates or spec.eval_templates))
             and any(s in spec.splits for s in splits) for spec, templates in pairs):
    raise EvalError("nothing to evaluate: no eval-eligible template of the selected entries "
                    f"has one of the splits {list(splits)}")
  prepare.require_ready([spec for spec, _ in pairs], data_dir)


def evaluate_model(model_dir: str, specs, *, out_dir: str, splits=evaluate.SPLITS,
                   limit: int | None = 100, heldout=None, shots: int = 0,
                   beam_size: int = 1, data_dir: str | None = None,
                   progress: bool = True) -> list[dict]:
  """Evaluates the latest checkpoint of `model_dir` on `specs` and writes `out_dir`.

  `specs`: catalog entries, or (entry, templates) pairs to evaluate only some templates.
  `heldout`: clusters the model never trained on (default: from the mixture its checkpoint
  was trained on, `untrained_clusters`).
  Returns the summary (aggregate.summarize). A failure leaves `out_dir` as it was: the request
  is checked first, the files are written into a staging folder and moved into `out_dir` only
  once all of them are complete.
  """
  from tqdm.auto import tqdm

  specs = list(specs)
  check_selection(specs, splits, data_dir)
  _, graphdef, params, vocab = restore.load_model(model_dir)
  if heldout is None:
    heldout = untrained_clusters(model_dir)
  with _staged(pathlib.Path(out_dir)) as staging:
    rows = []
    with (staging / "predictions.jsonl").open("w") as predictions:
      for item in tqdm(specs, desc="eval", unit="task", disable=not progress):
        spec, templates = item if isinstance(item, tuple) else (item, None)
        rows.extend(evaluate.evaluate_entry(
            graphdef, params, vocab, spec, splits=splits, limit=limit, shots=shots,
            beam_size=beam_size, templates=templates, predictions_file=predictions,
            data_dir=data_dir,
            warn=lambda m: tqdm.write(f"flan: warning: {m}", file=sys.stderr)))
    if not rows:
      raise EvalError("nothing to evaluate: no eval-eligible template of the selected entries "
                      f"has examples on the splits {list(splits)}")
    aggregate.write_csv(staging / "templates.csv", rows)
    summary = aggregate.summarize(rows, heldout)
    (staging / "summary.md").write_text(aggregate.markdown_table(summary) + "\n")
    aggregate.write_csv(staging / "summary.csv", summary)
    (staging / SUMMARY_FILE).write_text(json.dumps(summary, indent=2))
  return summary


@contextlib.contextmanager
def _staged(out: pathlib.Path) -> Iterator[pathlib.Path]:
  """Yields an empty <out>/.staging-<pid> folder; when the block succeeds its RESULT_FILES
  replace those of `out` (summary.json removed first and moved in last, so a folder caught
  half-way never looks finished); when it fails, `out` is left as it was."""
  created = not out.exists()
  out.mkdir(parents=True, exist_ok=True)
  staging = out / f".staging-{os.getpid()}"
  shutil.rmtree(staging, ignore_errors=True)
  staging.mkdir()
  try:
    yield staging
  except BaseException:
    shutil.rmtree(staging, ignore_errors=True)
    if created and not any(out.iterdir()):
      out.rmdir()
    raise
  (out / SUMMARY_FILE).unlink(missing_ok=True)
  for name in RESULT_FILES:
    os.replace(staging / name, out / name)
  staging.rmdir()


def untrained_clusters(model_dir: str | pathlib.Path) -> set[str]:
  """The clusters none of whose entries the model trained on, from the mixture recorded in its
  latest checkpoint (exports and imports carry it); empty when that is unknown."""
  name = model_dir_lib.trained_mixture(model_dir)
  if not name:
    return set()
  try:
    if name.startswith("mix:"):
      training, _ = mixtures.split(mixtures.parse_mixture_name(name))
    else:
      training = [tasks.resolve(name)[0]]
  except (catalog.CatalogError, catalog.UnknownEntryError):
    return set()
  return set(clusters.names()) - {s.cluster for s in training}


def load_summary(out_dir: str | pathlib.Path) -> list[dict] | None:
  """The summary a finished evaluation wrote into `out_dir`, or None."""
  path = pathlib.Path(out_dir) / SUMMARY_FILE
  return json.loads(path.read_text()) if path.exists() else None


def format_summary(summary: list[dict]) -> str:
  return aggregate.markdown_table(summary)
