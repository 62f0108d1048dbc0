"""Gradient accumulation: 4 microbatches give the update of one big batch, in every
normalization mode (numerator and denominator summed, divided once)."""

import jax
import numpy as np
import pytest

from flan.model import presets
from flan.train import loss as loss_lib
from flan.train import optimizer as optimizer_lib
from flan.train import step as step_lib
from train_helpers import train_state

ROWS, LENGTH = 8, 16


def batch():
  rng = np.random.default_rng(0)
  targets = rng.integers(2, presets["tiny"].vocab_size, (ROWS, LENGTH)).astype(np.int32)
  weights = np.zeros((ROWS, LENGTH), np.int32)
  for row in range(ROWS):  # a different number of target tokens in every row
    weights[row, LENGTH - 1 - row:LENGTH - 1] = 1
  inputs = np.concatenate([np.zeros((ROWS, 1), np.int32), targets[:, :-1]], axis=1)
  return {"decoder_input_tokens": inputs, "decoder_target_tokens": targets,
          "decoder_loss_weights": weights,
          "decoder_segment_ids": np.ones((ROWS, LENGTH), np.int32),
          "decoder_positions": np.tile(np.arange(LENGTH, dtype=np.int32), (ROWS, 1))}


def one_step(microbatches, normalization):
  graphdef, tx, state = train_state(presets["tiny"], lambda axes: optimizer_lib.adafactor(0.01, axes=axes))
  train_step = step_lib.make_train_step(graphdef, tx, normalization=normalization,
                                        constant=100.0, microbatches=microbatches, donate=False)
  new_state, metrics = train_step(state, batch())
  return jax.device_get(new_state["params"]), jax.device_get(metrics)


@pytest.mark.parametrize("normalization", loss_lib.NORMALIZATIONS)
def test_four_microbatches_equal_one_batch(normalization):
  big_params, big_metrics = one_step(1, normalization)
  acc_params, acc_metrics = one_step(4, normalization)
  for a, b in zip(jax.tree.leaves(big_params), jax.tree.leaves(acc_params)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(big_metrics["loss"], acc_metrics["loss"], rtol=1e-6)
  np.testing.assert_allclose(big_metrics["grad_norm"], acc_metrics["grad_norm"], rtol=1e-5)
  assert big_metrics["target_tokens"] == acc_metrics["target_tokens"] == sum(range(ROWS))


@pytest.mark.slow  # ~65 s; make test keeps microbatches = one batch per normalization
def test_normalizations_scale_the_loss():
  """The same summed loss divided by: tokens (28), rows (8), 1, or the constant (100)."""
  losses = {n: float(one_step(1, n)[1]["loss"]) for n in loss_lib.NORMALIZATIONS}
  total = losses["sum"]
  np.testing.assert_allclose([losses["tokens"], losses["sequences"], losses["constant"]],
                             [total / 28, total / 8, total / 100], rtol=1e-6)


@pytest.mark.parametrize("capacity", [0.5, 0.25])
def test_loss_capacity_gives_the_full_update(capacity):
  """Logits only at loss positions: every row of batch() has at most 7 of 16 loss tokens, so
  0.5 (8 slots) takes the compact path and 0.25 (4 slots) falls back to the full projection;
  both equal the plain step."""
  graphdef, tx, state = train_state(presets["tiny"], lambda axes: optimizer_lib.adafactor(0.01, axes=axes))
  results = [step_lib.make_train_step(graphdef, tx, donate=False, z_loss=1e-3,
                                      loss_capacity=c)(state, batch()) for c in (None, capacity)]
  (want_state, want), (got_state, got) = jax.device_get(results)
  for a, b in zip(jax.tree.leaves(want_state["params"]), jax.tree.leaves(got_state["params"])):
    np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
  for key in ("loss", "grad_norm", "correct_tokens", "target_tokens"):
    np.testing.assert_allclose(got[key], want[key], rtol=1e-5)
