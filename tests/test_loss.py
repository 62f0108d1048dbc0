"""The cross-entropy's hand-written backward pass equals autodiff of the textbook formula."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flan.train import loss as loss_lib


def reference_terms(logits, targets, weights, z_loss):
  """sum(weights * (logsumexp - target logit + z_loss * logsumexp**2)), by plain jax ops."""
  log_z = jax.nn.logsumexp(logits, axis=-1)
  target = jnp.take_along_axis(logits, targets[..., None], axis=-1)[..., 0]
  return jnp.sum(weights * (log_z - target + z_loss * log_z ** 2))


@pytest.mark.parametrize("z_loss", [0.0, 1e-2])
def test_gradient_matches_autodiff(z_loss):
  rng = np.random.default_rng(0)
  logits = jnp.asarray(3 * rng.standard_normal((2, 5, 37)), jnp.float32)
  targets = jnp.asarray(rng.integers(0, 37, (2, 5)), jnp.int32)
  weights = jnp.asarray(rng.integers(0, 2, (2, 5)), jnp.float32)

  def ours(logits):
    return loss_lib.loss_terms(logits, targets, weights, z_loss=z_loss)[0]

  np.testing.assert_allclose(ours(logits), reference_terms(logits, targets, weights, z_loss),
                             rtol=1e-6)
  np.testing.assert_allclose(jax.grad(ours)(logits),
                             jax.grad(reference_terms)(logits, targets, weights, z_loss),
                             rtol=1e-5, atol=1e-7)


def test_correct_tokens_are_the_argmax():
  rng = np.random.default_rng(1)
  logits = jnp.asarray(rng.standard_normal((3, 7, 11)), jnp.float32)
  targets = jnp.argmax(logits, axis=-1).at[0, :4].set(0).astype(jnp.int32)
  weights = jnp.ones((3, 7))
  _, _, metrics = loss_lib.loss_terms(logits, targets, weights)
  want = jnp.sum(jnp.argmax(logits, axis=-1) == targets)
  assert metrics["correct_tokens"] == want
  assert 0 < want < 21


def test_loss_positions_exact():
  weights = jnp.array([[0, 1, 1, 0, 1, 0], [1, 0, 0, 0, 0, 0]])
  index, valid, fits = loss_lib.loss_positions(weights, 4)
  np.testing.assert_array_equal(index, [[1, 2, 4, 0], [0, 1, 2, 3]])
  np.testing.assert_array_equal(valid, [[True, True, True, False], [True, False, False, False]])
  assert bool(fits)
  assert not bool(loss_lib.loss_positions(weights, 2)[2])
