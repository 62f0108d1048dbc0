"""`flan sweep holdout` end to end on the synthetic data: two held-out clusters, a tiny model and
a few steps; the sweep is interrupted after the first run and resumed without redoing it."""

import csv
import json

import pytest

from flan import cli
from flan.cli import sweep

CLUSTERS = ["sentiment", "arithmetic"]
BINDINGS = ["trainer.train.num_steps = 3", "trainer.train.batch_size = 4",
            "trainer.train.inputs_length = 96", "trainer.train.targets_length = 32",
            "trainer.train.checkpoint_every = 3", "trainer.train.log_every = 3",
            "trainer.train.learning_rate = 1e-3", "trainer.train.progress = False"]


@pytest.fixture()
def plan(tmp_path, synthetic_data_dir, use_data_dir):
  use_data_dir(synthetic_data_dir)
  return sweep.SweepPlan(gin_files=["models/tiny.gin", "runs/train.gin"], bindings=BINDINGS,
                         out_dir=str(tmp_path / "sweep"), collection="synthetic",
                         clusters=CLUSTERS, limit=3)


class Preempted(Exception):
  pass


def test_holdout_sweep_interrupted_and_resumed(plan, monkeypatch, capsys):
  runs = {r.cluster: r for r in plan.runs()}
  assert runs["sentiment"].mixture == "mix:synthetic:heldout_sentiment"

  # First attempt: the first run finishes, the second is preempted after its training.
  evaluate_run = sweep.evaluate_run

  def preempt_second(plan_, run, progress=True):
    if run.cluster == "arithmetic":
      raise Preempted
    return evaluate_run(plan_, run, progress=False)

  monkeypatch.setattr(sweep, "evaluate_run", preempt_second)
  with pytest.raises(Preempted):
    sweep.run_sweep(plan)
  assert runs["sentiment"].finished and not runs["arithmetic"].finished
  assert (runs["arithmetic"].model_dir / "checkpoints" / "3").exists()
  finished_summary = (runs["sentiment"].eval_dir / "summary.json").read_text()

  # --print_only: a launch command for the unfinished run only.
  lines = sweep.launch_commands(plan)
  assert lines[0].startswith("# held out sentiment: finished")
  assert "flan train --gin_file=models/tiny.gin" in lines[1]
  assert "'--gin_bindings=MIXTURE = '\"'\"'mix:synthetic:heldout_arithmetic'\"'\"''" in lines[1]
  assert "&& flan eval" in lines[1] and "--cluster=arithmetic" in lines[1]

  # Resume: only the unfinished run trains (restored at its last checkpoint, step 3 of 3, so
  # nothing is trained again) and evaluates.
  checkpoints = runs["arithmetic"].model_dir / "checkpoints"
  saved = sorted(p.name for p in checkpoints.iterdir())
  metrics = (runs["arithmetic"].model_dir / "metrics.jsonl").read_text()
  trained = []
  train_run = sweep.train_run
  monkeypatch.setattr(sweep, "train_run", lambda p, r: (trained.append(r.cluster),
                                                        train_run(p, r)))
  monkeypatch.setattr(sweep, "evaluate_run", lambda p, r, progress=True: evaluate_run(p, r,
                                                                                     False))
  results = sweep.run_sweep(plan)
  assert trained == ["arithmetic"]
  assert (runs["sentiment"].eval_dir / "summary.json").read_text() == finished_summary
  assert sorted(p.name for p in checkpoints.iterdir()) == saved
  assert (runs["arithmetic"].model_dir / "metrics.jsonl").read_text() == metrics

  # One results table over both runs: every held-out entry, evaluated on 3 examples.
  assert {(r["heldout"], r["task"]) for r in results} == {
      ("sentiment", "synth_reviews"), ("sentiment", "synth_tweets"),
      ("arithmetic", "synth_addition"), ("arithmetic", "synth_counting")}
  assert all(r["num_examples"] == 3 and r["paper"] is None for r in results)
  out = plan.out_dir
  table = open(f"{out}/results.md").read()
  assert "| sentiment | synth_reviews | accuracy | 3 |" in table
  assert "| arithmetic | 2 |" in table  # the cluster averages
  with open(f"{out}/results.csv") as f:
    assert len(list(csv.DictReader(f))) == 4
  assert open(f"{out}/results.png", "rb").read(8) == b"\x89PNG\r\n\x1a\n"
  summary = json.loads(finished_summary)
  assert {s["status"] for s in summary} == {"held-out"}
  assert all(s["best_template"] is not None for s in summary)

  # `flan eval` on one of the sweep's models, few-shot, one template: the three files.
  eval_dir = runs["sentiment"].run_dir / "eval_cli"
  code = cli.main(["eval", "--model_dir", str(runs["sentiment"].model_dir), "--task",
                   "flan:synth_reviews:t0", "--limit", "2", "--shots", "1", "--quiet",
                   "--out", str(eval_dir)])
  printed = capsys.readouterr().out
  assert code == 0
  assert ("| synth_reviews | sentiment | held-out | accuracy | test (TFDS test) | 2 |"
          in printed)  # from config.gin
  lines = (eval_dir / "predictions.jsonl").read_text().splitlines()
  assert len(lines) == 4 and all(json.loads(line)["shots"] == 1 for line in lines)
  assert (eval_dir / "templates.csv").exists() and (eval_dir / "summary.md").exists()


def test_unknown_cluster_and_suite_are_one_line_errors(capsys, tmp_path):
  code = cli.main(["sweep", "holdout", "--gin_file=models/tiny.gin", "--clusters", "nope",
                   "--print_only"])
  assert code == 2 and "unknown cluster 'nope'" in capsys.readouterr().err
  code = cli.main(["eval", "--model_dir", str(tmp_path), "--suite", "paper26"])
  assert code == 2 and "unknown suite 'paper26'" in capsys.readouterr().err
