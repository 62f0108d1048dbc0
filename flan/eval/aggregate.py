"""Per-template rows -> per-task summary (the paper's protocol) -> tables.

For each reported task (evaluate.py's `task`):

  mean           the test score averaged over its eval templates
  best_template  the template with the best *validation* score (ties: the lowest index)
  best           that template's *test* score: the number the paper reports per dataset

    rows = [{"task": "rte", "template": 0, "split": "validation", "score": 0.6, ...},
            {"task": "rte", "template": 1, "split": "validation", "score": 0.8, ...},
            {"task": "rte", "template": 0, "split": "test", "score": 0.7, ...},
            {"task": "rte", "template": 1, "split": "test", "score": 0.5, ...}]
    summarize(rows)[0]  ->  mean 0.6, best_template 1, best 0.5     (not 0.7: test never selects)

A task evaluated without a validation split (WSC273 has only test) has best_template None.
"""

from __future__ import annotations

import csv
import pathlib

from flan.eval import metrics

REPORT_SPLIT = "test"
SELECTION_SPLIT = "validation"


def _mean(values):
  values = [v for v in values if v is not None]
  return sum(values) / len(values) if values else None


def select_template(metric: str, validation: dict[int, float]) -> int | None:
  """The template index with the best validation score (lowest index on a tie)."""
  best = None
  for template in sorted(validation):
    if best is None or metrics.better(metric, validation[template], validation[best]):
      best = template
  return best


def summarize(rows: list[dict], heldout=frozenset(), report_split: str = REPORT_SPLIT,
              selection_split: str = SELECTION_SPLIT) -> list[dict]:
  """One summary per task: held-out tasks first, then by cluster and name.

  When no row has `report_split`, the only split evaluated is reported (and nothing selected).
  """
  by_task: dict[str, list[dict]] = {}
  for row in rows:
    by_task.setdefault(row["task"], []).append(row)
  summary = []
  for task, task_rows in by_task.items():
    first = task_rows[0]
    splits = {r["split"] for r in task_rows}
    report = report_split if report_split in splits else first["split"]
    tested = {r["template"]: r for r in task_rows if r["split"] == report}
    validation = {r["template"]: r["score"] for r in task_rows
                  if r["split"] == selection_split and selection_split != report}
    best_template = select_template(first["metric"], {t: s for t, s in validation.items()
                                                      if t in tested})
    best_row = tested.get(best_template)
    score_names = list(first["scores"])
    summary.append({
        "task": task, "entry": first["entry"], "cluster": first["cluster"],
        "status": "held-out" if first["cluster"] in heldout else "seen",
        "metric": first["metric"], "score_name": metrics.PRIMARY[first["metric"]],
        "shots": first.get("shots", 0), "split": report,
        "tfds_split": next((r["tfds_split"] for r in tested.values() if "tfds_split" in r), None),
        "templates": len(tested),
        "num_examples": max((r["num_examples"] for r in tested.values()), default=0),
        "mean": _mean(r["score"] for r in tested.values()),
        "best_template": best_template,
        "best": best_row["score"] if best_row else None,
        "chance": _mean(r["chance"] for r in tested.values()),
        "majority": _mean(r.get("majority") for r in tested.values()),
        **one_answer(tested.values()),
        "mean_scores": {k: _mean(r["scores"][k] for r in tested.values()) for k in score_names},
        "best_scores": dict(best_row["scores"]) if best_row else {},
    })
  return sorted(summary, key=lambda s: (s["status"] != "held-out", s["cluster"], s["task"]))


ONE_ANSWER_SHARE = 0.95  # a model that gives one answer to this share of examples: noted


def one_answer(template_rows) -> dict:
  """{'top_share': mean over templates of the share of their examples given the template's most
  common answer, 'top_answers': those answers where the share reaches ONE_ANSWER_SHARE}."""
  rows = [r for r in template_rows if r.get("top_share") is not None]
  return {"top_share": _mean(r["top_share"] for r in rows),
          "top_answers": sorted({str(r["top_answer"]) for r in rows
                                 if r["top_share"] >= ONE_ANSWER_SHARE})}


def notes(summary: list[dict]) -> list[str]:
  """Lines under the results table: constant answers, and how to read held-out scores."""
  lines = []
  for s in summary:
    share = s.get("top_share")
    if share is not None and share >= ONE_ANSWER_SHARE:
      answers = " / ".join(repr(a) for a in s.get("top_answers", [])) or "one answer"
      where = f"{percent(share)}% of the {s['split']} examples (mean over templates)"
      if s.get("majority") is not None:
        lines.append(f"- {s['task']}: the model answers {answers} to {where}: a constant "
                     f"answer, so its score is that label's share of the examples (always "
                     f"answering the commonest gold answer scores {percent(s['majority'])}).")
      else:
        lines.append(f"- {s['task']}: the model outputs {answers} for {where}: a constant "
                     f"output, whatever the input.")
  if any(s["status"] == "held-out" for s in summary):
    lines.append("- held-out tasks: near chance is the faithful result for a small model; the "
                 "paper finds instruction tuning helps held-out clusters only at 68B and 137B "
                 "parameters (it hurts at 8B and below).")
  return lines


def percent(value) -> str:
  return "–" if value is None else f"{100 * value:.1f}"


def details(s: dict) -> str:
  """The other sub-scores of a task: of the selected template, else the means over templates."""
  scores = s["best_scores"] or s["mean_scores"]
  return ", ".join(f"{k} {percent(v)}" for k, v in scores.items() if k != s["score_name"])


def metric_name(s: dict) -> str:
  """The metric and the sub-score that is the task's number: 'accuracy', 'squad_v2 f1'."""
  return s["metric"] if s["metric"] == s["score_name"] else f"{s['metric']} {s['score_name']}"


def split_name(s: dict) -> str:
  """The split scored and the TFDS split it reads: 'test (TFDS validation)'."""
  return f"{s['split']} (TFDS {s['tfds_split']})" if s.get("tfds_split") else s["split"]


def markdown_table(summary: list[dict]) -> str:
  """The results table, scores in percent ("–" where there is none): per task the metric (and
  which of its sub-scores), the split scored (and the TFDS split behind it) and the number of
  examples scored on it (for grouped entries: inputs, each with all its references)."""
  lines = ["| task | cluster | status | metric | split scored | n | mean over templates | "
           "best on validation | chance | majority class | other scores |",
           "|---|---|---|---|---|---:|---:|---:|---:|---:|---|"]
  for s in summary:
    best = percent(s["best"]) + (f" (t{s['best_template']})" if s["best_template"] is not None
                                 else "")
    lines.append(f"| {s['task']} | {s['cluster']} | {s['status']} | {metric_name(s)} | "
                 f"{split_name(s)} | {s['num_examples']} | {percent(s['mean'])} | {best} | "
                 f"{percent(s['chance'])} | {percent(s.get('majority'))} | {details(s)} |")
  extra = notes(summary)
  return "\n".join(lines + ([""] + extra if extra else []))


def flatten(row: dict) -> dict:
  """{'scores': {'f1': 0.5}} -> {'scores.f1': 0.5}: nested dicts as dotted columns."""
  flat = {}
  for key, value in row.items():
    if isinstance(value, dict):
      flat.update({f"{key}.{k}": v for k, v in value.items()})
    else:
      flat[key] = value
  return flat


def write_csv(path: str | pathlib.Path, rows: list[dict]) -> None:
  """Rows (nested dicts flattened) with the union of their columns, in first-seen order."""
  flat = [flatten(r) for r in rows]
  columns = list(dict.fromkeys(k for r in flat for k in r))
  with open(path, "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=columns, restval="")
    writer.writeheader()
    writer.writerows(flat)
