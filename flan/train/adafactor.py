"""Adafactor factored by logical axis names, as T5X does it (optax's factors the two largest dims).

Each parameter's dimensions get a role from its logical axis names (`FACTOR_RULES`):

    row     'embed'                              second moments averaged over the columns
    column  'vocab', 'mlp', 'heads', 'kv', ...   second moments averaged over the rows
    batch   'layers'                             kept apart: every statistic is per layer

For a scanned attention kernel [layers, embed, heads, kv] the row statistic has shape
[layers, embed, 1, 1] and the column statistic [layers, 1, heads, kv]; update clipping and the
parameter scale use the RMS of each layer's slice, never one number for the whole stack.

The update of a parameter p with gradient g at step t (t = 1, 2, ...), T5X defaults:

    beta_t  = 1 - t ** -decay_rate                          (decay_rate 0.8)
    v       = beta_t * v + (1 - beta_t) * (g**2 + epsilon1) (factored: row and column means)
    u       = g / sqrt(v_hat),  v_hat = v_row * v_col / mean_rows(v_row)
    u       = u / max(1, rms(u) / clipping_threshold)       (per batch slice)
    update  = -lr * max(epsilon2, rms(p)) * u               (parameter scale, per batch slice)

A parameter is factored when it has row and column dims whose sizes (products) are both at
least `min_dim_size_to_factor` (128); otherwise the full second moment is kept.

A scanned parameter (leading "layers" batch dim) is updated one layer at a time in a
`jax.lax.fori_loop` that overwrites each layer's gradient with its update: the same numbers, but
the float32 temporaries of the update (squared gradients, the update before clipping) exist for
one layer instead of the whole stack.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

ROW, COLUMN, BATCH = "row", "column", "batch"
FACTOR_RULES = {
    "embed": ROW,
    "vocab": COLUMN, "mlp": COLUMN, "heads": COLUMN, "kv_heads": COLUMN, "kv": COLUMN,
    "layers": BATCH, "batch": BATCH,
}


class FactorSpec(NamedTuple):
  """Which dims of one parameter are rows, columns and batch, and whether it is factored."""
  rows: tuple[int, ...]
  columns: tuple[int, ...]
  batch: tuple[int, ...]
  factored: bool
  stacked: bool = False  # named "layers" first: a scanned stack, updated layer by layer


def factor_spec(shape: tuple[int, ...], axes: tuple[str | None, ...] | None,
                min_dim_size_to_factor: int = 128) -> FactorSpec:
  """The roles of a parameter's dims from its logical axis names (unknown names: column).

  Without names (axes None), the last dim is the column, the one before it the row, and the
  rest batch dims, so a plain 2-D matrix behaves as in the Adafactor paper.
  """
  if axes is None or len(axes) != len(shape):
    roles = [BATCH] * max(len(shape) - 2, 0) + [ROW, COLUMN][-min(len(shape), 2):]
  else:
    roles = [FACTOR_RULES.get(name, COLUMN) if name else COLUMN for name in axes]
  rows = tuple(i for i, r in enumerate(roles) if r == ROW)
  columns = tuple(i for i, r in enumerate(roles) if r == COLUMN)
  batch = tuple(i for i, r in enumerate(roles) if r == BATCH)
  size = lambda dims: math.prod(shape[d] for d in dims)
  factored = bool(rows and columns and size(rows) >= min_dim_size_to_factor
                  and size(columns) >= min_dim_size_to_factor)
  stacked = bool(axes) and len(axes) == len(shape) > 1 and axes[0] == "layers"
  return FactorSpec(rows, columns, batch, factored, stacked)


class AdafactorState(NamedTuple):
  count: jax.Array   # int32 [], steps taken
  v_row: Any         # per parameter: row statistic (factored) or a placeholder scalar
  v_col: Any         # per parameter: column statistic (factored) or a placeholder scalar
  v: Any             # per parameter: full second moment (not factored) or a placeholder scalar


def _rms(x: jax.Array, batch: tuple[int, ...]) -> jax.Array:
  """Root mean square over every dim but the batch dims (kept, for broadcasting)."""
  reduce = tuple(d for d in range(x.ndim) if d not in batch)
  return jnp.sqrt(jnp.mean(jnp.square(x), axis=reduce, keepdims=True))


def logical_adafactor(learning_rate: float | optax.Schedule, axes: Any, *,
                      decay_rate: float = 0.8, epsilon1: float = 1e-30, epsilon2: float = 1e-3,
                      clipping_threshold: float | None = 1.0, min_dim_size_to_factor: int = 128,
                      multiply_by_parameter_scale: bool = True) -> optax.GradientTransformation:
  """Adafactor whose factoring, clipping and scaling follow `axes`.

  `axes` is a pytree like the parameters with a tuple of logical axis names per parameter
  (e.g. from `nnx.get_partition_spec`), or None to use positional roles everywhere.
  """
  schedule = learning_rate if callable(learning_rate) else (lambda _: learning_rate)

  def specs_for(params):
    if axes is None:
      return jax.tree.map(lambda p: factor_spec(p.shape, None, min_dim_size_to_factor), params)
    return jax.tree.map(
        lambda p, a: factor_spec(p.shape, tuple(a) if a is not None else None,
                                 min_dim_size_to_factor),
        params, axes, is_leaf=lambda x: isinstance(x, jax.sharding.PartitionSpec))

  def init(params):
    specs = specs_for(params)
    placeholder = lambda: jnp.zeros((), jnp.float32)

    def row(p, s):
      return jnp.zeros(_reduced(p.shape, s.columns), jnp.float32) if s.factored else placeholder()

    def col(p, s):
      return jnp.zeros(_reduced(p.shape, s.rows), jnp.float32) if s.factored else placeholder()

    def full(p, s):
      return placeholder() if s.factored else jnp.zeros(p.shape, jnp.float32)

    is_spec = lambda x: isinstance(x, FactorSpec)
    return AdafactorState(
        count=jnp.zeros((), jnp.int32),
        v_row=jax.tree.map(row, params, specs, is_leaf=is_spec),
        v_col=jax.tree.map(col, params, specs, is_leaf=is_spec),
        v=jax.tree.map(full, params, specs, is_leaf=is_spec))

  def update(grads, state, params=None):
    if params is None:
      raise ValueError("logical_adafactor needs params (parameter scaling)")
    specs = specs_for(params)
    count = state.count + 1
    beta = 1.0 - jnp.power(count.astype(jnp.float32), -decay_rate)
    lr = schedule(state.count)

    def one(g, p, v_row, v_col, v, s):
      if s.stacked:
        return layer_by_layer(g, p, v_row, v_col, v, s)
      g = g.astype(jnp.float32)
      g2 = jnp.square(g) + epsilon1
      if s.factored:
        v_row = beta * v_row + (1 - beta) * jnp.mean(g2, axis=s.columns, keepdims=True)
        v_col = beta * v_col + (1 - beta) * jnp.mean(g2, axis=s.rows, keepdims=True)
        row_mean = jnp.mean(v_row, axis=s.rows, keepdims=True)
        u = g * jax.lax.rsqrt(v_row / row_mean) * jax.lax.rsqrt(v_col)
      else:
        v = beta * v + (1 - beta) * g2
        u = g * jax.lax.rsqrt(v)
      if clipping_threshold is not None:
        u = u / jnp.maximum(1.0, _rms(u, s.batch) / clipping_threshold)
      scale = lr
      if multiply_by_parameter_scale:
        scale = scale * jnp.maximum(epsilon2, _rms(p.astype(jnp.float32), s.batch))
      return (-scale * u).astype(p.dtype), v_row, v_col, v

    def layer_by_layer(g, p, v_row, v_col, v, s):
      """`one` for a [layers, ...] parameter, one layer per iteration of a loop that writes each
      layer's update over its gradient (the stack's update reuses the gradient's buffer)."""
      inner = FactorSpec(tuple(d - 1 for d in s.rows), tuple(d - 1 for d in s.columns),
                         tuple(d - 1 for d in s.batch if d), s.factored)
      take = lambda a, i: jax.lax.dynamic_index_in_dim(a, i, keepdims=False)
      put = lambda a, x, i: jax.lax.dynamic_update_index_in_dim(a, x.astype(a.dtype), i, 0)

      def layer(i, carry):
        g, v_row, v_col, v = carry
        if s.factored:
          update, row, col, _ = one(take(g, i), take(p, i), take(v_row, i), take(v_col, i), v,
                                    inner)
          return put(g, update, i), put(v_row, row, i), put(v_col, col, i), v
        update, _, _, full = one(take(g, i), take(p, i), v_row, v_col, take(v, i), inner)
        return put(g, update, i), v_row, v_col, put(v, full, i)

      g, v_row, v_col, v = jax.lax.fori_loop(0, g.shape[0], layer, (g, v_row, v_col, v))
      return g.astype(p.dtype), v_row, v_col, v

    is_spec = lambda x: isinstance(x, FactorSpec)
    flat_specs, treedef = jax.tree.flatten(specs, is_leaf=is_spec)
    outs = [one(*args) for args in zip(treedef.flatten_up_to(grads),
                                        treedef.flatten_up_to(params),
                                        treedef.flatten_up_to(state.v_row),
                                        treedef.flatten_up_to(state.v_col),
                                        treedef.flatten_up_to(state.v), flat_specs)]
    unflatten = lambda i: treedef.unflatten([o[i] for o in outs])
    return unflatten(0), AdafactorState(count, unflatten(1), unflatten(2), unflatten(3))

  return optax.GradientTransformation(init, update)


def _reduced(shape: tuple[int, ...], dims: tuple[int, ...]) -> tuple[int, ...]:
  return tuple(1 if d in dims else n for d, n in enumerate(shape))
