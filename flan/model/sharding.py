"""Logical sharding constraints on activations, active only inside `activation_sharding`.

Parameters carry logical axis names (flan/model/layers.py); so do the key activations, through
`constrain(x, names)`:

    residual stream   [B, L, D]       ("batch", "length", "act_embed")
    queries           [B, L, H, Dh]   ("batch", "length", "heads", "kv")
    keys, values      [B, L, K, Dh]   ("batch", "length", "kv_heads", "kv")
    MLP hidden        [B, L, F]       ("batch", "length", "mlp")
    logits            [B, L, V]       ("batch", "length", "vocab")

Outside the context (eager calls, evaluation, tests) `constrain` returns x unchanged. The train
step traces the model inside `activation_sharding(mesh, rules)`, where each name is mapped by the
rule table to mesh axes (flan/train/partitioning.py: batch -> (data, fsdp), heads/mlp/vocab ->
model, act_embed unsplit) and `jax.lax.with_sharding_constraint` pins the layout, so XLA never
has to guess how a [B, L, F] hidden is split. A dimension that does not divide over its mesh
axes is left unsplit (`divisible_spec`).
"""

from __future__ import annotations

import contextlib
import threading

import jax
import numpy as np
from flax import linen as nn
from jax.sharding import Mesh, NamedSharding, PartitionSpec

RESIDUAL = ("batch", "length", "act_embed")
QUERIES = ("batch", "length", "heads", "kv")
KEYS = ("batch", "length", "kv_heads", "kv")
HIDDEN = ("batch", "length", "mlp")
LOGITS = ("batch", "length", "vocab")

_active = threading.local()


@contextlib.contextmanager
def activation_sharding(mesh: Mesh, rules):
  """Within this context `constrain` places activations on `mesh` by the rule table."""
  previous = getattr(_active, "value", None)
  _active.value = (mesh, tuple(rules))
  try:
    yield
  finally:
    _active.value = previous


def divisible_spec(spec: PartitionSpec, shape: tuple[int, ...], mesh: Mesh) -> PartitionSpec:
  """Drops the mesh axes a dimension cannot be split over evenly (that dim is replicated).

  E.g. 2 key/value heads on a model axis of 4: P('fsdp', 'model', None) -> P('fsdp', None, None).
  """
  out = []
  for size, axes in zip(shape, tuple(spec) + (None,) * (len(shape) - len(spec))):
    names = axes if isinstance(axes, tuple) else (axes,) if axes else ()
    ways = int(np.prod([mesh.shape[n] for n in names])) if names else 1
    out.append(axes if size % ways == 0 else None)
  return PartitionSpec(*out)


def constrain(x: jax.Array, names: tuple[str | None, ...]) -> jax.Array:
  """x, pinned to the mesh layout its logical axis `names` map to (inside activation_sharding)."""
  active = getattr(_active, "value", None)
  if active is None:
    return x
  mesh, rules = active
  spec = divisible_spec(nn.logical_to_mesh_axes(PartitionSpec(*names), rules), x.shape, mesh)
  return jax.lax.with_sharding_constraint(x, NamedSharding(mesh, spec))
