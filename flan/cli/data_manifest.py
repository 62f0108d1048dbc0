"""`templates/MANIFEST.md`: every catalog entry in one table per collection, generated.

    $ flan data manifest --out templates/MANIFEST.md

One row per entry, e.g.

    | rte | RTE | nli | classification | accuracy | `super_glue/rte:1.0.2` | `train[:-200]` | ...

A test compares the shipped file with a fresh generation, so the manifest never goes stale:
regenerate it after adding or changing an entry.
"""

from __future__ import annotations

import os
import pathlib

from flan.data import catalog

MANIFEST = catalog.TEMPLATES_DIR / "MANIFEST.md"
COMMAND = "flan data manifest --out templates/MANIFEST.md"
HEADER = ("entry", "paper dataset", "cluster", "type", "metric", "TFDS builder", "train",
          "validation", "test", "manual download")


def _cell(text: str) -> str:
  return text.replace("|", "\\|")


def _code(text: str | None) -> str:
  return f"`{text}`" if text else "-"


def _split(spec, split: str) -> str:
  """The split's TFDS expression, and the carve-out by input that filters train and validation:
  '`train[-4000:]` held-out 5% by `context`'."""
  cell = _code(spec.splits.get(split))
  if spec.carve and split == "train":
    cell += f" less held-out {spec.carve.percent}% by `{spec.carve.by}`"
  elif spec.carve and split == "validation":
    cell += f" held-out {spec.carve.percent}% by `{spec.carve.by}`"
  return cell


def row(spec) -> tuple[str, ...]:
  return (spec.name, _cell(spec.paper_dataset), spec.cluster, spec.type, spec.metric,
          _code(spec.tfds_full_name), *(_split(spec, s) for s in ("train", "validation", "test")),
          "yes" if spec.manual_download else "no")


def _table(specs) -> list[str]:
  lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
  return lines + ["| " + " | ".join(row(s)) + " |" for s in specs]


def generate(entries=None) -> str:
  """The manifest text: a table per collection ('flan' first), rows by cluster then entry."""
  if entries is None:
    catalog.require_valid()  # a manifest that silently drops a broken entry looks complete
  entries = list(catalog.catalog().values() if entries is None else entries)
  collections = sorted({s.collection for s in entries}, key=lambda c: (c != "flan", c))
  lines = ["# Catalog manifest", "",
           f"Generated from `templates/*.yaml` by `{COMMAND}`; do not edit by hand.", "",
           f"{len(entries)} entries: " + ", ".join(
               f"{sum(s.collection == c for s in entries)} {c}" for c in collections) + ".",
           "Splits are TFDS split expressions; 'manual download' marks builders whose data must",
           "be downloaded by hand before `tfds build`."]
  for collection in collections:
    specs = sorted((s for s in entries if s.collection == collection),
                   key=lambda s: (s.cluster, s.name))
    lines += ["", f"## {collection}", "", *_table(specs)]
  return "\n".join(lines) + "\n"


def write(out: str | os.PathLike) -> pathlib.Path:
  out = pathlib.Path(out)
  out.write_text(generate(), encoding="utf-8")
  return out
