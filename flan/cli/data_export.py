"""`flan data export`: rendered examples of a task or a mixture as plain-text JSONL.

    $ flan data export flan:synth_reviews --split train --out reviews.jsonl --limit 2 --shots 1
    $ head -1 reviews.jsonl
    {"inputs": "...", "targets": "positive", "options": ["negative", "positive"], "template": 0,
     "inverted": false, "dataset": "synth_reviews", "cluster": "sentiment",
     "options_format": {"style": "flan", "header": "OPTIONS:", "marker": "-"}, "shots": 1}

A mixture (`mix:synthetic`, `mix:flan:heldout_nli`) exports each of its training tasks in
turn, `--limit` examples each, written exactly as training writes them: the task's templates
round-robin and its format (so `mix:flan:format_noinstruction` exports the inputs' fields without
instructions). The file is
written under a temporary name and renamed when complete, so an interrupted export leaves no
file that looks finished; an existing file is only replaced with `overwrite=True`.
"""

from __future__ import annotations

import json
import os
import pathlib

from flan.errors import UserError
from flan.data import datasets, mixtures, records, tasks, vocab
from flan.data.catalog import UnknownEntryError
from flan.data.render import Style

COLUMNS = ("inputs", "targets", "options", "template", "inverted", "dataset", "cluster",
           "options_format", "shots")


class ExportError(UserError, RuntimeError):
  """An export that would overwrite a file, or whose output cannot be written."""


def selection(name: str) -> list[str]:
  """The task names a task name or a mixture name exports (a mixture's training tasks)."""
  if name.startswith("mix:"):
    return mixtures.training_tasks(mixtures.parse_mixture_name(name))
  return [name]


def row(spec, example) -> dict:
  """One JSONL line's object, keys in COLUMNS order."""
  return {"inputs": example.inputs, "targets": example.targets, "options": list(example.options),
          "template": example.template, "inverted": example.inverted, "dataset": spec.name,
          "cluster": spec.cluster, "options_format": example.options_format.as_dict(),
          "shots": example.shots}


def _check_output(out: pathlib.Path, overwrite: bool) -> None:
  if out.is_dir():
    raise ExportError(f"--out {out} is a directory; name a .jsonl file")
  if out.exists() and not overwrite:
    raise ExportError(f"{out} already exists; pass --overwrite to replace it")


def export(name: str, split: str, out: str | os.PathLike, limit: int | None = None,
           shots: int = 0, options: str = "flan", seed: int = 0,
           overwrite: bool = False) -> dict[str, int]:
  """Writes the examples of `name` (task or mixture) to `out`; returns the count per entry."""
  out = pathlib.Path(out)
  _check_output(out, overwrite)
  chosen = []
  for task in selection(name):  # every problem before any writing
    spec, templates = tasks.resolve(task)
    style = Style(format=tasks.parse_task(task).format, options=options, shots=shots, seed=seed)
    if split not in spec.splits:
      raise UnknownEntryError(f"{spec.name} has no split {split!r}; it has {sorted(spec.splits)}")
    datasets.require_prepared(spec)
    chosen.append((spec, templates, style))
  tokenize = vocab.get_vocabulary().encode if shots else None
  out.parent.mkdir(parents=True, exist_ok=True)
  partial = out.with_name(f".{out.name}.partial-{os.getpid()}")
  counts = {}
  try:
    with open(partial, "w", encoding="utf-8") as f:
      for spec, templates, style in chosen:
        counts[spec.name] = 0
        if limit is not None and limit <= 0:
          continue
        for _, example in records.iter_examples(spec, templates, split, style,
                                                tokenize=tokenize):
          f.write(json.dumps(row(spec, example), ensure_ascii=False) + "\n")
          counts[spec.name] += 1
          if counts[spec.name] == limit:
            break
    _check_output(out, overwrite)  # it may have appeared meanwhile
    os.replace(partial, out)
  finally:
    partial.unlink(missing_ok=True)
  return counts
