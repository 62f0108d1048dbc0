"""Adafactor by logical axes against hand-computed updates (numpy, written out step by step)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flan.train import adafactor

EPS1, EPS2, DECAY, CLIP, LR = 1e-30, 1e-3, 0.8, 1.0, 0.01


def reference(params, grads_per_step, rows, columns):
  """Two-matrix-free Adafactor for one (non-batched) parameter, factored over rows x columns."""
  p = np.array(params, np.float64)
  v_row = v_col = None
  for t, g in enumerate(grads_per_step, start=1):
    g = np.array(g, np.float64)
    beta = 1.0 - t ** -DECAY
    g2 = g * g + EPS1
    row_stat = g2.mean(axis=columns, keepdims=True)
    col_stat = g2.mean(axis=rows, keepdims=True)
    v_row = row_stat if v_row is None else beta * v_row + (1 - beta) * row_stat
    v_col = col_stat if v_col is None else beta * v_col + (1 - beta) * col_stat
    v_hat = v_row * v_col / v_row.mean(axis=rows, keepdims=True)
    u = g / np.sqrt(v_hat)
    u = u / max(1.0, np.sqrt(np.mean(u * u)) / CLIP)
    update = -LR * max(EPS2, np.sqrt(np.mean(p * p))) * u
    p = p + update
  return p


def run(params, grads_per_step, axes):
  tx = adafactor.logical_adafactor(LR, {"w": axes})
  tree = {"w": jnp.asarray(params, jnp.float32)}
  state = tx.init(tree)
  for g in grads_per_step:
    updates, state = tx.update({"w": jnp.asarray(g, jnp.float32)}, state, tree)
    tree = jax.tree.map(lambda a, b: a + b, tree, updates)
  return np.asarray(tree["w"]), state


def random(shape, seed):
  return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def test_2d_matches_hand_computed():
  p, grads = random((128, 256), 0), [random((128, 256), s) for s in (1, 2, 3)]
  got, state = run(p, grads, ("embed", "mlp"))
  np.testing.assert_allclose(got, reference(p, grads, rows=(0,), columns=(1,)), rtol=2e-5,
                             atol=1e-6)
  assert state.v_row["w"].shape == (128, 1) and state.v_col["w"].shape == (1, 256)


def test_3d_attention_kernel_matches_hand_computed():
  p, grads = random((128, 4, 32), 4), [random((128, 4, 32), s) for s in (5, 6)]
  got, state = run(p, grads, ("embed", "heads", "kv"))
  np.testing.assert_allclose(got, reference(p, grads, rows=(0,), columns=(1, 2)), rtol=2e-5,
                             atol=1e-6)
  assert state.v_row["w"].shape == (128, 1, 1) and state.v_col["w"].shape == (1, 4, 32)


def test_scanned_parameter_is_per_layer():
  """A [layers, embed, mlp] stack updates exactly like each layer on its own."""
  layers = 3
  p = random((layers, 128, 256), 7)
  grads = [random((layers, 128, 256), s) for s in (8, 9)]
  # Make the layers' scales very different, so a shared clip/scale factor would show.
  p[1] *= 50.0
  grads[0][2] *= 1e3
  got, state = run(p, grads, ("layers", "embed", "mlp"))
  for layer in range(layers):
    want = reference(p[layer], [g[layer] for g in grads], rows=(0,), columns=(1,))
    np.testing.assert_allclose(got[layer], want, rtol=2e-5, atol=1e-6)
  assert state.v_row["w"].shape == (layers, 128, 1)


def test_small_and_1d_parameters_are_not_factored():
  p, grads = random((64,), 10), [random((64,), 11)]
  got, state = run(p, grads, ("embed",))
  assert state.v["w"].shape == (64,) and state.v_row["w"].shape == ()
  g = grads[0].astype(np.float64)
  u = g / np.sqrt(g * g + EPS1)
  u = u / max(1.0, np.sqrt(np.mean(u * u)) / CLIP)
  want = p - LR * max(EPS2, np.sqrt(np.mean(p.astype(np.float64) ** 2))) * u
  np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6)
  spec = adafactor.factor_spec((100, 256), ("embed", "mlp"))
  assert not spec.factored  # 100 rows < 128


@pytest.mark.parametrize("axes, want", [
    (("vocab", "embed"), adafactor.FactorSpec((1,), (0,), (), True)),
    (("layers", "heads", "kv", "embed"), adafactor.FactorSpec((3,), (1, 2), (0,), True, stacked=True)),
    (None, adafactor.FactorSpec((1,), (2,), (0,), True)),
])
def test_factor_roles_follow_axis_names(axes, want):
  assert adafactor.factor_spec((4, 256, 128, 256) if axes and len(axes) == 4 else
                               (256, 512) if axes else (2, 256, 512), axes) == want
