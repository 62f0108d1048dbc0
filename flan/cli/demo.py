"""`flan demo`: the whole FLAN loop, offline, in minutes on a laptop CPU.

1. build the synthetic TFDS datasets (no download);
2. train the demo decoder on every synthetic cluster but one (configs/demo.gin);
3. evaluate zero-shot on the held-out cluster and on the seen tasks;
4. print the results table with a chance column.

Everything lands in one folder (default runs/demo): model/ (checkpoints, metrics.jsonl, gin
configs) and eval/ (predictions, per-template CSV, summary). A second run resumes the training
instead of starting over.
"""

from __future__ import annotations

import pathlib
import time

from flan.data import datasets, mixtures, synthetic
from flan.cli import gin_config
from flan.eval import runner
from flan.train import trainer


def run(out_dir: str = "runs/demo", num_steps: int | None = None, heldout: str = "nli",
        limit: int = 100) -> list[dict]:
  start = time.perf_counter()
  out = pathlib.Path(out_dir)
  model_dir = out / "model"
  import tensorflow_datasets as tfds
  tfds.disable_progress_bar()
  print(f"[1/4] preparing the synthetic datasets in {datasets.data_dir()}")
  synthetic.prepare(data_dir=datasets.data_dir())
  training, evaluation = mixtures.split_entries("synthetic", heldout)
  mixture = mixtures.mixture_name("synthetic", heldout)
  print(f"[2/4] training on {mixture}: {', '.join(s.name for s in training)}")
  bindings = [f"MODEL_DIR = '{model_dir}'", f"MIXTURE = '{mixture}'"]
  if num_steps is not None:
    bindings.append(f"trainer.train.num_steps = {num_steps}")
  gin_config.parse(["demo.gin"], bindings)
  gin_config.train_with_configs(trainer.train)
  print(f"[3/4] evaluating zero-shot on held-out {heldout!r} and on the seen tasks")
  specs = evaluation + training
  summary = runner.evaluate_model(str(model_dir), specs, out_dir=str(out / "eval"),
                                  heldout={heldout}, limit=limit)
  print(f"[4/4] results ({limit} validation + {limit} test examples per task, every eval "
        f"template; the best template is picked on validation and scored on test; "
        f"{time.perf_counter() - start:.0f} s)\n")
  print(runner.format_summary(summary))
  print(f"\nfiles: {out}/model (checkpoints, metrics.jsonl), {out}/eval "
        f"(predictions.jsonl, templates.csv, summary.md, summary.csv)")
  return summary
