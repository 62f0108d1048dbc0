"""`flan sweep holdout`: one train-and-evaluate run per held-out cluster, and one results table.

    plan = SweepPlan(gin_files=["models/tiny.gin", "runs/train.gin"], out_dir="runs/sweep",
                     collection="flan", clusters=["nli", "commonsense"])
    run_sweep(plan)            # trains and evaluates each run in turn, skipping finished ones
    launch_commands(plan)      # or: the shell command of each unfinished run, for a pod

Layout of `out_dir`:

    heldout_<cluster>/model/         the run's MODEL_DIR: trained on mix:<collection>:heldout_<c>
    heldout_<cluster>/eval/          its zero-shot evaluation on the held-out cluster (runner.py)
    results.md, results.csv          every run's held-out tasks, FLAN 137B's number beside ours
    results.png                      the same as a bar chart

A run is finished when its eval/summary.json exists (the runner writes it last); a sweep started
again skips finished runs, and an unfinished run resumes its training from its last checkpoint.
"""

from __future__ import annotations

import dataclasses
import pathlib
import shlex
import sys

from flan.data import catalog, clusters, mixtures
from flan.eval import aggregate, runner, suites

PAPER_COLLECTION = "flan"  # the paper's datasets: the only ones its numbers describe


@dataclasses.dataclass(frozen=True)
class Run:
  """One leave-one-cluster-out run."""
  collection: str
  cluster: str
  run_dir: pathlib.Path

  @property
  def model_dir(self) -> pathlib.Path:
    return self.run_dir / "model"

  @property
  def eval_dir(self) -> pathlib.Path:
    return self.run_dir / "eval"

  @property
  def mixture(self) -> str:
    return mixtures.mixture_name(self.collection, self.cluster)

  @property
  def finished(self) -> bool:
    return runner.load_summary(self.eval_dir) is not None

  def gin_bindings(self) -> list[str]:
    return [f"MODEL_DIR = {str(self.model_dir)!r}", f"MIXTURE = {self.mixture!r}"]


@dataclasses.dataclass(frozen=True)
class SweepPlan:
  """What to sweep: gin files and bindings shared by every run, and how to evaluate."""
  gin_files: list[str]
  bindings: list[str] = dataclasses.field(default_factory=list)
  out_dir: str = "runs/sweep"
  collection: str = "flan"
  clusters: list[str] | None = None  # None: every cluster with entries in the collection
  limit: int | None = 100
  shots: int = 0
  splits: tuple[str, ...] = ("validation", "test")
  data_dir: str | None = None

  def runs(self) -> list[Run]:
    clusters = self.clusters or collection_clusters(self.collection)
    for cluster in clusters:
      mixtures.excluded_clusters(cluster)  # validates the name
    return [Run(self.collection, c, pathlib.Path(self.out_dir) / f"heldout_{c}")
            for c in clusters]


def collection_clusters(collection: str) -> list[str]:
  """The clusters that have entries in `collection`, in mixtures/clusters.yaml order."""
  present = {s.cluster for s in catalog.entries(collection=collection)}
  return [c for c in clusters.names() if c in present]


def train_run(plan: SweepPlan, run: Run) -> None:
  """Trains (or resumes) the run's model with the plan's gin files and the run's bindings."""
  from flan.cli import gin_config
  from flan.train import trainer

  gin_config.parse(plan.gin_files, list(plan.bindings) + run.gin_bindings())
  gin_config.train_with_configs(trainer.train)


def evaluate_run(plan: SweepPlan, run: Run, progress: bool = True) -> list[dict]:
  """Evaluates the run's model on every entry of its held-out cluster."""
  _, evaluation = mixtures.split_entries(plan.collection, run.cluster)
  return runner.evaluate_model(str(run.model_dir), evaluation, out_dir=str(run.eval_dir),
                               splits=plan.splits, limit=plan.limit, heldout={run.cluster},
                               shots=plan.shots, data_dir=plan.data_dir, progress=progress)


def run_sweep(plan: SweepPlan, progress: bool = True) -> list[dict]:
  """Trains and evaluates every unfinished run in turn, then writes and returns the results."""
  runs = plan.runs()
  for i, run in enumerate(runs, 1):
    if run.finished:
      print(f"[{i}/{len(runs)}] held out {run.cluster}: finished ({run.eval_dir}), skipped",
            file=sys.stderr)
      continue
    print(f"[{i}/{len(runs)}] held out {run.cluster}: training on {run.mixture}",
          file=sys.stderr)
    train_run(plan, run)
    print(f"[{i}/{len(runs)}] held out {run.cluster}: evaluating", file=sys.stderr)
    evaluate_run(plan, run, progress)
  return write_results(plan)


def launch_commands(plan: SweepPlan) -> list[str]:
  """One shell line per unfinished run (`flan train ... && flan eval ...`), for a pod launcher;
  run the same `flan sweep holdout` afterwards (without --print_only) to collect the results."""
  lines = []
  for run in plan.runs():
    if run.finished:
      lines.append(f"# held out {run.cluster}: finished ({run.eval_dir})")
      continue
    train = ["flan", "train", *(f"--gin_file={f}" for f in plan.gin_files),
             *(f"--gin_bindings={b}" for b in list(plan.bindings) + run.gin_bindings())]
    evaluate = ["flan", "eval", f"--model_dir={run.model_dir}", f"--cluster={run.cluster}",
                f"--collection={plan.collection}", f"--out={run.eval_dir}",
                f"--shots={plan.shots}", "--splits", *plan.splits]
    if plan.limit is not None:
      evaluate.append(f"--limit={plan.limit}")
    lines.append(shlex.join(train) + " && " + shlex.join(evaluate))
  return lines


# ---------------------------------------------------------------- results


def comparable(summary_row: dict, score: str) -> float | None:
  """Our number for a sub-score: the best-on-validation template's, else the template mean."""
  scores = summary_row["best_scores"] or summary_row["mean_scores"]
  return scores.get(score)


def collect(plan: SweepPlan) -> list[dict]:
  """One row per held-out task of every finished run, with FLAN 137B's number where it exists
  (the paper's datasets only: a synthetic task is never set beside a FLAN number)."""
  results = []
  for run in plan.runs():
    summary = runner.load_summary(run.eval_dir)
    for s in summary or []:
      paper = suites.paper_result(s["task"]) if run.collection == PAPER_COLLECTION else None
      score = paper["score"] if paper else s["score_name"]
      results.append({
          "heldout": run.cluster, "collection": run.collection, "task": s["task"],
          "cluster": s["cluster"],
          "metric": s["metric"], "score": score, "num_examples": s["num_examples"],
          "mean": s["mean_scores"].get(score), "best_template": s["best_template"],
          "ours": comparable(s, score), "paper": paper["value"] / 100 if paper else None})
  return results


def cluster_averages(results: list[dict]) -> list[dict]:
  """Per held-out cluster: the mean of our comparable numbers, and the paper's Figure 1 value."""
  by_cluster: dict[str, list[dict]] = {}
  for r in results:
    by_cluster.setdefault(r["heldout"], []).append(r)
  averages = []
  for cluster, rows in by_cluster.items():
    ours = [r["ours"] for r in rows if r["ours"] is not None]
    paper = (suites.paper_cluster(cluster)
             if all(r.get("collection") == PAPER_COLLECTION for r in rows) else None)
    averages.append({"heldout": cluster, "tasks": len(rows),
                     "ours": sum(ours) / len(ours) if ours else None,
                     "paper": paper / 100 if paper is not None else None})
  return averages


def markdown_results(results: list[dict]) -> str:
  """The results table and the cluster averages, in percent; the FLAN 137B columns only when
  some row is one of the paper's datasets (like is compared with like)."""
  pct = aggregate.percent
  averages = cluster_averages(results)
  paper = any(r["paper"] is not None for r in results + averages)
  lines = ["| held-out cluster | task | score | n | ours: mean over templates | "
           "ours: best on validation |" + (" FLAN 137B (paper) |" if paper else ""),
           "|---|---|---|---:|---:|---:|" + ("---:|" if paper else "")]
  for r in results:
    best = pct(r["ours"]) + (f" (t{r['best_template']})" if r["best_template"] is not None
                             else "")
    lines.append(f"| {r['heldout']} | {r['task']} | {r['score']} | {r['num_examples']} | "
                 f"{pct(r['mean'])} | {best} |" + (f" {pct(r['paper'])} |" if paper else ""))
  lines += ["", "| held-out cluster | tasks | ours: average |"
            + (" FLAN 137B (paper, Figure 1) |" if paper else ""),
            "|---|---:|---:|" + ("---:|" if paper else "")]
  for a in averages:
    lines.append(f"| {a['heldout']} | {a['tasks']} | {pct(a['ours'])} |"
                 + (f" {pct(a['paper'])} |" if paper else ""))
  return "\n".join(lines)


def results_figure(results: list[dict]):
  """Horizontal bars per task: ours (best on validation) and FLAN 137B where the paper has it
  (no paper bars at all when no row is a paper dataset); the legend sits below the axes, where
  it covers no bar."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  labels = [f"{r['task']} ({r['heldout']})" for r in results]
  ours = [100 * (r["ours"] or 0.0) for r in results]
  with_paper = any(r["paper"] is not None for r in results)
  height = 0.4 if with_paper else 0.6
  fig, ax = plt.subplots(figsize=(8, 1.8 + 0.45 * max(len(results), 1)))
  y = range(len(results))
  ax.barh([i - (height / 2 if with_paper else 0) for i in y], ours, height,
          label="ours (best template on validation)")
  if with_paper:
    paper = [100 * r["paper"] if r["paper"] is not None else 0.0 for r in results]
    ax.barh([i + height / 2 for i in y], paper, height, label="FLAN 137B zero-shot (paper)")
  ax.set_yticks(list(y), labels)
  ax.invert_yaxis()
  ax.set_xlabel("score (%)")
  ax.set_title("Zero-shot on held-out clusters")
  ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, fontsize="small",
            frameon=False)
  fig.tight_layout()
  return fig


def plot_results(results: list[dict], path: str | pathlib.Path) -> None:
  import matplotlib.pyplot as plt
  fig = results_figure(results)
  fig.savefig(path, dpi=100, bbox_inches="tight")
  plt.close(fig)


def write_results(plan: SweepPlan) -> list[dict]:
  """results.md, results.csv and results.png in the sweep folder; returns the result rows."""
  out = pathlib.Path(plan.out_dir)
  out.mkdir(parents=True, exist_ok=True)
  results = collect(plan)
  (out / "results.md").write_text(markdown_results(results) + "\n")
  aggregate.write_csv(out / "results.csv", results or [{"heldout": None}])
  plot_results(results, out / "results.png")
  return results
