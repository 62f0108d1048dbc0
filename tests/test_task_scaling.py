"""Per-task loss scaling L / log(n): output spaces from the catalog, the scaled numerator, and a
training run with the ablation switched on."""

import math

import jax
import numpy as np
import pytest

from flan.data import catalog
from flan.model import presets
from flan.train import optimizer as optimizer_lib
from flan.train import step as step_lib
from flan.train import task_scaling, trainer
from train_helpers import train_state


def test_every_closed_classification_entry_knows_its_number_of_options():
  open_sets = {"record"}  # ReCoRD picks among each passage's entities: an open set
  for spec in catalog.catalog().values():
    if spec.type == "classification" and spec.name not in open_sets:
      assert spec.num_options and spec.num_options >= 2, spec.name
    if spec.type == "generation":
      assert spec.num_options is None, spec.name


def test_output_spaces_and_scales():
  assert task_scaling.output_space("flan:rte", 32000) == 2
  assert task_scaling.output_space("flan:arc_easy:t2", 32000) == 4
  assert task_scaling.output_space("flan:squad_v1", 32000) == 32000
  scales = task_scaling.loss_scales(["flan:rte", "flan:squad_v1"], 32000)
  np.testing.assert_allclose(scales, [0.0, 1 / math.log(2), 1 / math.log(32000)], rtol=1e-6)


def test_scale_multiplies_the_numerator_only():
  """Scaled step == the plain step on a batch whose loss weights are pre-multiplied, for the
  gradient; the reported loss stays the plain cross-entropy."""
  rng = np.random.default_rng(0)
  rows, length = 4, 16
  targets = rng.integers(2, presets["tiny"].vocab_size, (rows, length)).astype(np.int32)
  weights = np.zeros((rows, length), np.int32)
  weights[:, 8:] = 1
  batch = {"decoder_input_tokens": np.roll(targets, 1, axis=1), "decoder_target_tokens": targets,
           "decoder_loss_weights": weights,
           "decoder_segment_ids": np.ones((rows, length), np.int32),
           "decoder_positions": np.tile(np.arange(length, dtype=np.int32), (rows, 1))}
  scale = np.where(np.arange(rows)[:, None] < 2, 0.5, 2.0).repeat(length, 1).astype(np.float32)
  graphdef, tx, state = train_state(presets["tiny"], lambda axes: optimizer_lib.adafactor(0.01, axes=axes))
  train_step = step_lib.make_train_step(graphdef, tx, donate=False, normalization="sum")
  _, plain = train_step(state, batch)
  _, scaled = train_step(state, dict(batch, **{step_lib.LOSS_SCALE: scale}))
  assert float(scaled["loss"]) == pytest.approx(float(plain["loss"]), rel=1e-6)
  assert float(scaled["grad_norm"]) != pytest.approx(float(plain["grad_norm"]), rel=1e-3)
  grads = [jax.grad(lambda p, b=b: step_lib.loss_lib.loss_terms(
      step_lib.model_logits(graphdef, p, b), b["decoder_target_tokens"],
      b["decoder_loss_weights"], scale=b.get(step_lib.LOSS_SCALE))[0])(state["params"])
      for b in (dict(batch, **{step_lib.LOSS_SCALE: scale}),
                dict(batch, decoder_loss_weights=weights * scale))]
  for a, b in zip(*map(jax.tree.leaves, grads)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_training_with_task_loss_scaling(tmp_path, synthetic_data_dir, use_data_dir, capsys):
  use_data_dir(synthetic_data_dir)
  metrics = trainer.train(model_dir=str(tmp_path / "m"), mixture="mix:synthetic", num_steps=4,
                          model=presets["tiny"], batch_size=8, inputs_length=96,
                          targets_length=32, learning_rate=3e-3, progress=False, log_every=2,
                          checkpoint_every=0, task_loss_scaling=True, loss_capacity=0.5)
  assert np.isfinite(metrics["loss"])
  printed = capsys.readouterr().out
  assert "task loss scales:" in printed and "flan:synth_reviews 1.443" in printed
