"""Zero-shot evaluation of a catalog entry: every eval-eligible template, one score each.

    rows = evaluate_entry(graphdef, params, vocab, catalog.get("synth_containment"), limit=64)
    rows[0] == {"entry": "synth_containment", "cluster": "nli", "template": 0,
                "metric": "accuracy", "score": 0.71, "chance": 0.5, "num_examples": 64}

Classification templates are scored by rank classification over the options; generation
templates by greedy decoding and the entry's metric.
"""

from __future__ import annotations

import json

from flan import records as records_lib
from flan.eval import decoding, metrics, scoring


def chance(spec, examples) -> float:
  """Expected score of a uniform random guess: mean 1/num_options; 0 for generation."""
  if spec.type != "classification" or not examples:
    return 0.0
  return sum(1.0 / len(ex.options) for ex in examples) / len(examples)


MAX_DECODE_TOKENS = 128


def decode_budget(vocab, examples) -> int:
  """New tokens to decode: the longest reference answer (+ EOS), rounded up to a multiple of 8.

  Like T5X's decoding to the task's target length, the budget bounds the output length only.
  """
  longest = max((len(vocab.encode(a)) for ex in examples for a in ex.answers), default=1)
  return min(MAX_DECODE_TOKENS, -(-(longest + 1) // 8) * 8)


def predict(graphdef, params, vocab, spec, examples) -> list[str]:
  if spec.type == "classification":
    return scoring.rank_classify(graphdef, params, vocab, examples)
  return decoding.greedy_decode(graphdef, params, vocab, [ex.inputs for ex in examples],
                                max_new_tokens=decode_budget(vocab, examples))


def evaluate_entry(graphdef, params, vocab, spec, *, split: str = "test", limit: int = 64,
                   predictions_file=None, data_dir: str | None = None) -> list[dict]:
  """Scores of every eval-eligible template of `spec` on the first `limit` records of `split`."""
  records = records_lib.load_records(spec, split, limit=limit, data_dir=data_dir)
  metric = "accuracy" if spec.type == "classification" else spec.metric
  rows = []
  for template in spec.eval_templates:
    examples = records_lib.rendered(spec, template, records)
    predictions = predict(graphdef, params, vocab, spec, examples)
    answers = [list(ex.answers) for ex in examples]
    rows.append({"entry": spec.name, "cluster": spec.cluster, "template": template.index,
                 "split": split, "metric": metric,
                 "score": metrics.compute(metric, predictions, answers),
                 "chance": chance(spec, examples), "num_examples": len(examples)})
    if predictions_file is not None:
      for ex, prediction in zip(examples, predictions):
        predictions_file.write(json.dumps({
            "entry": spec.name, "template": template.index, "split": split,
            "inputs": ex.inputs, "prediction": prediction, "answers": list(ex.answers)}) + "\n")
  return rows


def summarize(rows: list[dict], heldout: set[str] = frozenset()) -> list[dict]:
  """Per entry: mean over templates, the best template and its score, chance, seen/held-out."""
  by_entry: dict[str, list[dict]] = {}
  for row in rows:
    by_entry.setdefault(row["entry"], []).append(row)
  summary = []
  for entry, entry_rows in by_entry.items():
    best = max(entry_rows, key=lambda r: r["score"])
    summary.append({
        "entry": entry, "cluster": entry_rows[0]["cluster"],
        "status": "held-out" if entry_rows[0]["cluster"] in heldout else "seen",
        "metric": entry_rows[0]["metric"],
        "mean": sum(r["score"] for r in entry_rows) / len(entry_rows),
        "best_template": best["template"], "best": best["score"],
        "chance": sum(r["chance"] for r in entry_rows) / len(entry_rows),
        "templates": len(entry_rows),
        "num_examples": entry_rows[0]["num_examples"]})
  return sorted(summary, key=lambda s: (s["status"] != "held-out", s["cluster"], s["entry"]))


def markdown_table(summary: list[dict]) -> str:
  """The results table, scores in percent."""
  header = ("| task | cluster | status | metric | mean over templates | best template | chance |",
            "|---|---|---|---|---:|---:|---:|")
  lines = list(header)
  for s in summary:
    lines.append(f"| {s['entry']} | {s['cluster']} | {s['status']} | {s['metric']} | "
                 f"{100 * s['mean']:.1f} | {100 * s['best']:.1f} (t{s['best_template']}) | "
                 f"{100 * s['chance']:.1f} |")
  return "\n".join(lines)
