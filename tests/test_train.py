"""Training on synthetic data: the loss goes down; a resumed run equals an uninterrupted one."""

import json

import jax
import numpy as np
import pytest

from flan.checkpoint import manager, restore
from flan.checkpoint.model_dir import ModelDirError
from flan.model import presets
from flan.train import trainer

TINY = presets["tiny"]
RUN = dict(model=TINY, batch_size=8, inputs_length=96, targets_length=32, learning_rate=3e-3,
           progress=False, log_every=10)


def read_metrics(model_dir):
  return [json.loads(line) for line in (model_dir / "metrics.jsonl").read_text().splitlines()]


def params_of(model_dir):
  _, _, params, _ = restore.load_model(model_dir)
  return jax.tree.leaves(jax.device_get(params))


@pytest.fixture(autouse=True)
def data(synthetic_data_dir, use_data_dir):
  use_data_dir(synthetic_data_dir)


def test_training_lowers_the_loss(tmp_path):
  trainer.train(model_dir=str(tmp_path / "m"), mixture="mix:synthetic", num_steps=80,
                checkpoint_every=0, **RUN)
  metrics = read_metrics(tmp_path / "m")
  assert [m["step"] for m in metrics] == list(range(10, 81, 10))
  first, last = metrics[0]["loss"], metrics[-1]["loss"]
  assert last < 0.75 * first, (first, last)
  assert all(0.0 < m["packing_efficiency"] <= 1.0 for m in metrics)
  assert metrics[-1]["loss_normalization"] == "tokens"


def test_resumed_run_equals_uninterrupted_run(tmp_path):
  straight, resumed = tmp_path / "straight", tmp_path / "resumed"
  trainer.train(model_dir=str(straight), mixture="mix:synthetic", num_steps=12,
                checkpoint_every=6, **RUN)
  trainer.train(model_dir=str(resumed), mixture="mix:synthetic", num_steps=6,
                checkpoint_every=6, **RUN)
  # The restored checkpoint is the uninterrupted run's step-6 state, parameter for parameter.
  _, _, at_six, _ = restore.load_model(resumed)
  straight_ckpt = manager.Checkpointer(straight, asynchronous=False)
  straight_six = straight_ckpt.restore_params(at_six, step=6)
  straight_ckpt.close()
  for a, b in zip(jax.tree.leaves(at_six), jax.tree.leaves(straight_six)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  # Resuming (state + data position) reproduces the next steps bit for bit.
  trainer.train(model_dir=str(resumed), mixture="mix:synthetic", num_steps=12,
                checkpoint_every=6, **RUN)
  for a, b in zip(params_of(straight), params_of(resumed)):
    np.testing.assert_array_equal(a, b)
  assert read_metrics(straight)[-1]["loss"] == read_metrics(resumed)[-1]["loss"]


def test_finished_run_does_not_train_again(tmp_path):
  trainer.train(model_dir=str(tmp_path / "m"), mixture="flan:synth_reviews", num_steps=3,
                checkpoint_every=0, **RUN)
  assert trainer.train(model_dir=str(tmp_path / "m"), mixture="flan:synth_reviews",
                       num_steps=3, checkpoint_every=0, **RUN) == {"step": 3}


def test_batch_without_loss_tokens_fails_fast():
  batch = {"decoder_loss_weights": np.zeros((2, 4), np.int32),
           "decoder_target_tokens": np.ones((2, 4), np.int32)}
  with pytest.raises(trainer.TrainingError, match="no loss-bearing token"):
    trainer.check_batch(batch, step=7)
  batch["decoder_loss_weights"] = np.ones((2, 4), np.int32)
  with pytest.raises(trainer.TrainingError, match="every token carries loss"):
    trainer.check_batch(batch, step=7)


def test_vocabulary_mismatch_is_a_clear_error(tmp_path):
  model_dir = tmp_path / "m"
  trainer.train(model_dir=str(model_dir), mixture="flan:synth_reviews", num_steps=2,
                checkpoint_every=0, **RUN)
  config = json.loads((model_dir / "model_config.json").read_text())
  config["vocabulary_fingerprint"] = "0" * 16
  (model_dir / "model_config.json").write_text(json.dumps(config))
  with pytest.raises(ModelDirError, match="trained with a vocabulary that differs"):
    restore.load_model(model_dir)
