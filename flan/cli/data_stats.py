"""`flan data stats`: what a mixture trains on, dataset by dataset, without reading any data.

    $ flan data stats mix:synthetic:heldout_nli --steps 1000 --batch_size 16
    dataset         cluster         n_train  rate  probability  expected  epochs
    synth_addition  arithmetic      3000     3000  0.1667       2666.7    0.89
    ...
    cluster         datasets  n_train  rate   probability  expected
    arithmetic      2         6000     6000   0.3333       5333.3
    ...
    held out: nli (evaluated: synth_comparison, synth_containment)

n_train is the size of the entry's train split expression in the prepared TFDS data; when the
data is not prepared, the published size of mixtures/sizes.yaml marked "~"; else "-" (and the
entry is left out of the probabilities). rate = min(n_train, 3000); probability = rate / sum of
rates; expected = steps * batch_size * examples_per_row * probability: examples drawn from the
dataset in `steps` steps (a packed row holds several examples: pass the average, e.g. from
benchmarks/pipeline.py); epochs = expected / n_train.
"""

from __future__ import annotations

import dataclasses
import json

from flan.data import datasets, mixtures


@dataclasses.dataclass
class DatasetStats:
  entry: str
  cluster: str
  task: str
  n_train: int | None
  source: str | None  # "tfds" (prepared data), "hint" (mixtures/sizes.yaml) or None
  rate: float | None = None
  probability: float | None = None
  expected: float | None = None


def train_size(spec, directory: str, hints: dict[str, int]) -> tuple[int | None, str | None]:
  """(n_train, where it came from) for an entry: prepared TFDS data, else a size hint."""
  size = datasets.split_sizes(spec, directory).get("train")
  if size is not None:
    return size, "tfds"
  if spec.name in hints:
    return int(hints[spec.name]), "hint"
  return None, None


def mixture_stats(name: str, steps: int | None = None, batch_size: int | None = None,
                  examples_per_row: float = 1.0, data_dir: str | None = None,
                  hints: dict[str, int] | None = None) -> dict:
  """Per-dataset and per-cluster rates, probabilities and expected examples of a mixture."""
  definition = mixtures.parse_mixture_name(name)
  training, evaluation = mixtures.split(definition)
  directory = data_dir or datasets.data_dir()
  hints = mixtures.size_hints() if hints is None else hints
  cap = mixtures.rate_cap()
  rows = []
  for spec in training:
    n, source = train_size(spec, directory, hints)
    rows.append(DatasetStats(spec.name, spec.cluster, mixtures.task_for(definition, spec), n,
                             source, None if n is None else float(min(n, cap))))
  total = sum(r.rate for r in rows if r.rate is not None)
  per_step = None if steps is None or batch_size is None else steps * batch_size * examples_per_row
  for r in rows:
    if r.rate is not None and total > 0:
      r.probability = r.rate / total
      r.expected = None if per_step is None else per_step * r.probability
  clusters = []
  for cluster in sorted({r.cluster for r in rows}):
    members = [r for r in rows if r.cluster == cluster]
    known = [r for r in members if r.rate is not None]
    clusters.append({
        "cluster": cluster, "datasets": len(members),
        "n_train": sum(r.n_train for r in known) if known else None,
        "rate": sum(r.rate for r in known) if known else None,
        "probability": sum(r.probability for r in known) if known and total else None,
        "expected": (sum(r.expected for r in known)
                     if known and total and per_step is not None else None)})
  heldout = list(definition.heldout)
  return {
      "mixture": name, "collection": definition.collection, "templates": definition.templates,
      "format": definition.format, "rate_cap": cap, "steps": steps, "batch_size": batch_size,
      "examples_per_row": examples_per_row,
      "datasets": [dataclasses.asdict(r) for r in rows], "clusters": clusters,
      "heldout": heldout,
      "dropped": sorted(mixtures.excluded_clusters(heldout) - set(heldout)),
      "evaluation": [s.name for s in evaluation],
      "unknown_sizes": [r.entry for r in rows if r.n_train is None],
  }


def _number(value, digits: int = 1) -> str:
  if value is None:
    return "-"
  if isinstance(value, int) or float(value).is_integer():
    return str(int(value))
  return f"{value:.{digits}f}"


def format_stats(stats: dict) -> str:
  """The two tables and the held-out line, as `flan data stats` prints them."""
  from flan.cli.data_show import format_table
  with_steps = stats["steps"] is not None and stats["batch_size"] is not None
  header = ["dataset", "cluster", "n_train", "rate", "probability"]
  header += ["expected", "epochs"] if with_steps else []
  rows = []
  for d in stats["datasets"]:
    n = _number(d["n_train"]) + ("~" if d["source"] == "hint" else "")
    row = [d["entry"], d["cluster"], n, _number(d["rate"]),
           "-" if d["probability"] is None else f"{d['probability']:.4f}"]
    if with_steps:
      known = d["expected"] is not None and d["n_train"]
      epochs = d["expected"] / d["n_train"] if known else None
      row += [_number(d["expected"]), "-" if epochs is None else f"{epochs:.2f}"]
    rows.append(row)
  lines = [format_table(header, rows), ""]
  cluster_header = ["cluster", "datasets", "n_train", "rate", "probability"]
  cluster_header += ["expected"] if with_steps else []
  cluster_rows = []
  for c in stats["clusters"]:
    row = [c["cluster"], str(c["datasets"]), _number(c["n_train"]), _number(c["rate"]),
           "-" if c["probability"] is None else f"{c['probability']:.4f}"]
    cluster_rows.append(row + ([_number(c["expected"])] if with_steps else []))
  lines += [format_table(cluster_header, cluster_rows), ""]
  summary = (f"{stats['mixture']}: {len(stats['datasets'])} datasets, rate cap "
             f"{stats['rate_cap']}, templates {stats['templates'] or 'all'}, format "
             f"{stats['format']}")
  if with_steps:
    summary += (f"; {stats['steps']} steps x {stats['batch_size']} x "
                f"{_number(stats['examples_per_row'], 2)} examples per row")
  lines.append(summary)
  if stats["heldout"]:
    dropped = f"; also dropped: {', '.join(stats['dropped'])}" if stats["dropped"] else ""
    lines.append(f"held out: {', '.join(stats['heldout'])}{dropped} "
                 f"(evaluated: {', '.join(stats['evaluation'])})")
  else:
    lines.append("held out: none")
  if stats["unknown_sizes"]:
    lines.append(f"sizes unknown (not prepared, no hint; left out of the probabilities): "
                 f"{', '.join(stats['unknown_sizes'])}")
  if any(d["source"] == "hint" for d in stats["datasets"]):
    lines.append("~ published size (mixtures/sizes.yaml): the dataset is not prepared here")
  return "\n".join(lines)


def print_stats(name: str, as_json: bool = False, **kwargs) -> None:
  stats = mixture_stats(name, **kwargs)
  print(json.dumps(stats) if as_json else format_stats(stats))
