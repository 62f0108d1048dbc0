"""Checkpoint robustness: a corrupt latest checkpoint is skipped; SIGKILL mid-run then restart
equals an uninterrupted run bit for bit; SIGTERM leaves a complete checkpoint; a non-finite
step is skipped or stops the run."""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flan.model import presets
from flan.checkpoint import manager, restore
from flan.data import pipeline
from flan.train import optimizer as optimizer_lib, step as step_lib, trainer
from train_helpers import train_state

TINY = presets["tiny"]
RUN = dict(model=TINY, batch_size=8, inputs_length=96, targets_length=32, learning_rate=3e-3,
           progress=False, log_every=1, tensorboard=False)


def leaves(model_dir):
  _, _, params, _ = restore.load_model(model_dir)
  return [np.asarray(x) for x in jax.tree.leaves(jax.device_get(params))]


def test_corrupt_latest_checkpoint_is_skipped(tmp_path, synthetic_data_dir, use_data_dir):
  use_data_dir(synthetic_data_dir)
  model_dir = tmp_path / "m"
  trainer.train(model_dir=str(model_dir), mixture="flan:synth_reviews", num_steps=4,
                checkpoint_every=2, **RUN)
  state_dir = model_dir / "checkpoints" / "4" / "state"
  for path in state_dir.rglob("*"):
    if path.is_file() and path.stat().st_size > 0 and "manifest" in path.name:
      path.write_bytes(b"garbage")
  shutil.rmtree(next(p for p in state_dir.iterdir() if p.is_dir()), ignore_errors=True)
  with pytest.warns(UserWarning, match="skipping checkpoint .*/4"):
    last = trainer.train(model_dir=str(model_dir), mixture="flan:synth_reviews", num_steps=5,
                         checkpoint_every=2, **RUN)
  assert last["step"] == 5
  lines = [json.loads(l) for l in (model_dir / "metrics.jsonl").read_text().splitlines()]
  assert [l["step"] for l in lines] == [1, 2, 3, 4, 3, 4, 5]  # resumed from step 2


def _one_step(batch, skip):
  graphdef, tx, state = train_state(TINY, lambda axes: optimizer_lib.adafactor(0.01, axes=axes))
  before = [np.asarray(x) for x in jax.tree.leaves(state["params"])]
  train_step = step_lib.make_train_step(graphdef, tx, skip_nonfinite=skip, donate=False)
  new_state, metrics = train_step(state, batch)
  return before, [np.asarray(x) for x in jax.tree.leaves(new_state["params"])], metrics


def test_nonfinite_step_is_skipped_or_not():
  rows, length = 2, 8
  batch = {"decoder_input_tokens": np.ones((rows, length), np.int32),
           "decoder_target_tokens": np.ones((rows, length), np.int32),
           "decoder_loss_weights": np.zeros((rows, length), np.int32),  # 0/0: a NaN loss
           "decoder_segment_ids": np.ones((rows, length), np.int32),
           "decoder_positions": np.tile(np.arange(length, dtype=np.int32), (rows, 1))}
  before, after, metrics = _one_step(batch, skip=True)
  assert not bool(metrics["finite"])
  for a, b in zip(before, after):
    np.testing.assert_array_equal(a, b)
  _, after, _ = _one_step(batch, skip=False)
  assert any(np.isnan(a).any() for a in after)


def test_nonfinite_step_stops_the_run_naming_its_tasks(tmp_path, synthetic_data_dir,
                                                      use_data_dir):
  """A NaN learning rate for step 4's update: step 5's loss is the first NaN, caught at step 6
  (the next logged step); the error names step 5, the tasks of step 5's batch, checkpoint 3."""
  use_data_dir(synthetic_data_dir)
  run = dict(RUN, batch_size=4, log_every=3, checkpoint_every=3,
             learning_rate=lambda count: jnp.where(count == 3, jnp.nan, 3e-3))
  with pytest.raises(trainer.TrainingError) as error:
    trainer.train(model_dir=str(tmp_path / "m"), mixture="mix:synthetic", num_steps=9, **run)
  batches = pipeline.TrainData("mix:synthetic", inputs_length=96, targets_length=32, batch_size=4,
                           track_tasks=True)
  for _ in range(5):
    next(batches)
  tasks = batches.last_tasks
  assert 0 < len(tasks) < len(batches.task_names)  # the batch's tasks, not the mixture's
  assert str(error.value) == (
      f"step 5: non-finite loss or gradient (caught at step 6) while training on mix:synthetic; "
      f"the batch of step 5 held examples of the tasks {', '.join(tasks)}; the last good "
      f"checkpoint is step 3 in {tmp_path / 'm' / 'checkpoints'} (set on_nonfinite='skip' to "
      f"skip such updates)")


def _train_command(model_dir, num_steps):
  return [sys.executable, "-m", "flan.cli", "train", "--gin_file=models/tiny.gin",
          "--gin_file=runs/train.gin", "--gin.MIXTURE='mix:synthetic'",
          f"--gin.MODEL_DIR='{model_dir}'", f"--gin.trainer.train.num_steps={num_steps}",
          "--gin.trainer.train.batch_size=8", "--gin.trainer.train.inputs_length=96",
          "--gin.trainer.train.targets_length=32", "--gin.trainer.train.learning_rate=3e-3",
          "--gin.trainer.train.checkpoint_every=2", "--gin.trainer.train.log_every=1",
          "--gin.trainer.train.progress=False", "--gin.trainer.train.tensorboard=False"]


def _env(data_dir):
  return dict(os.environ, FLAN_DATA_DIR=data_dir, JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3")


def _wait_for_step(model_dir, step, process, timeout=300):
  deadline = time.time() + timeout
  metrics = model_dir / "metrics.jsonl"
  while time.time() < deadline:
    if metrics.exists() and len(metrics.read_text().splitlines()) >= step:
      return
    assert process.poll() is None, process.communicate()[1][-2000:]
    time.sleep(0.05)
  raise AssertionError(f"no step {step} within {timeout} s")


@pytest.mark.slow  # ~170 s; make test keeps sigterm + resumed = uninterrupted
def test_sigkill_then_restart_equals_uninterrupted(tmp_path, synthetic_data_dir):
  env, steps = _env(synthetic_data_dir), 12
  straight, killed = tmp_path / "straight", tmp_path / "killed"
  subprocess.run(_train_command(straight, steps), env=env, check=True, capture_output=True,
                 timeout=600)
  process = subprocess.Popen(_train_command(killed, steps), env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
  _wait_for_step(killed, random.Random(0).randint(3, 9), process)
  process.send_signal(signal.SIGKILL)
  process.wait(timeout=60)
  assert process.returncode == -signal.SIGKILL
  subprocess.run(_train_command(killed, steps), env=env, check=True, capture_output=True,
                 timeout=600)
  for a, b in zip(leaves(straight), leaves(killed)):
    np.testing.assert_array_equal(a, b)


def test_sigterm_leaves_a_complete_checkpoint(tmp_path, synthetic_data_dir):
  model_dir = tmp_path / "m"
  process = subprocess.Popen(_train_command(model_dir, 400), env=_env(synthetic_data_dir),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  _wait_for_step(model_dir, 3, process)
  process.send_signal(signal.SIGTERM)
  out, err = process.communicate(timeout=120)
  assert process.returncode == 0, err[-2000:]
  saved = int(out.split("SIGTERM: saved step ")[1].split(",")[0])
  ckpt = manager.Checkpointer(model_dir, asynchronous=False)
  assert ckpt.latest_step() == saved
  ckpt.close()
  assert len(leaves(model_dir)) > 0
