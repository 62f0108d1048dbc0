"""flan.model.attention_core.attend against autodiff of the textbook softmax attention."""

import jax
import jax.numpy as jnp
import numpy as np

from flan.model import attention_core
from flan.model.attention import NEG_INF, attention_mask


def reference(q, k, v, mask):
  scores = jnp.einsum("bkgqd,bksd->bkgqs", q, k)
  scores = jnp.where(mask[:, None, None], scores, NEG_INF)
  return jnp.einsum("bkgqs,bksd->bkgqd", jax.nn.softmax(scores, axis=-1), v)


def inputs():
  rng = np.random.default_rng(0)
  q = jnp.asarray(rng.standard_normal((2, 2, 3, 6, 4)), jnp.float32)   # B, K, G, L, Dh
  k = jnp.asarray(rng.standard_normal((2, 2, 6, 4)), jnp.float32)      # B, K, L, Dh
  v = jnp.asarray(rng.standard_normal((2, 2, 6, 4)), jnp.float32)
  # Row 0: two packed segments and a padding position (a fully masked query row).
  mask = attention_mask(jnp.array([[1, 1, 1, 2, 2, 0], [1, 1, 1, 1, 1, 1]], jnp.int32))
  return q, k, v, mask


def test_forward_and_gradients_match_autodiff():
  q, k, v, mask = inputs()
  bias = jnp.where(mask, 0.0, NEG_INF)
  cotangent = jnp.asarray(np.random.default_rng(1).standard_normal(q.shape), jnp.float32)
  # A padding query's output carries no loss in training (its gradient is zero); with an
  # additive bias the gradient of a fully masked row would differ from jnp.where's zero.
  cotangent = cotangent.at[0, :, :, 5].set(0.0)
  ours = lambda q, k, v: jnp.sum(attention_core.attend(q, k, v, bias) * cotangent)
  want = lambda q, k, v: jnp.sum(reference(q, k, v, mask) * cotangent)
  np.testing.assert_allclose(attention_core.attend(q, k, v, bias), reference(q, k, v, mask),
                             rtol=1e-5, atol=1e-6)
  for got, expected in zip(jax.grad(ours, argnums=(0, 1, 2))(q, k, v),
                           jax.grad(want, argnums=(0, 1, 2))(q, k, v)):
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)


def test_fully_masked_rows_are_finite():
  q, k, v, _ = inputs()
  bias = jnp.full((2, 6, 6), NEG_INF, jnp.float32)
  grads = jax.grad(lambda q: jnp.sum(attention_core.attend(q, k, v, bias)))(q)
  assert np.isfinite(np.asarray(attention_core.attend(q, k, v, bias))).all()
  assert np.isfinite(np.asarray(grads)).all()


def test_bfloat16_stays_close():
  q, k, v, mask = inputs()
  bias = jnp.where(mask, 0.0, NEG_INF)
  low = attention_core.attend(*(x.astype(jnp.bfloat16) for x in (q, k, v)), bias)
  assert low.dtype == jnp.bfloat16
  np.testing.assert_allclose(low.astype(jnp.float32), reference(q, k, v, mask), atol=0.05)


def test_causal_blocks_skip_nothing_visible():
  """attend_causal (blocks of 4 over 12 positions, packed segments) == attend, with gradients."""
  rng = np.random.default_rng(2)
  q = jnp.asarray(rng.standard_normal((2, 2, 3, 12, 4)), jnp.float32)
  k = jnp.asarray(rng.standard_normal((2, 2, 12, 4)), jnp.float32)
  v = jnp.asarray(rng.standard_normal((2, 2, 12, 4)), jnp.float32)
  segments = jnp.array([[1] * 5 + [2] * 7, [1] * 10 + [0] * 2], jnp.int32)
  bias = jnp.where(attention_mask(segments), 0.0, NEG_INF)
  cotangent = jnp.asarray(rng.standard_normal(q.shape), jnp.float32).at[1, :, :, 10:].set(0.0)
  blocked = lambda q, k, v: attention_core.attend_causal(q, k, v, bias, block=4)
  whole = lambda q, k, v: attention_core.attend(q, k, v, bias)
  np.testing.assert_allclose(blocked(q, k, v), whole(q, k, v), rtol=1e-5, atol=1e-6)
  grads = [jax.grad(lambda *a, f=f: jnp.sum(f(*a) * cotangent), argnums=(0, 1, 2))(q, k, v)
           for f in (blocked, whole)]
  for got, expected in zip(*grads):
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
