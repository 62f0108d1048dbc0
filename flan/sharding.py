"""The device mesh, the logical-axis rules, and the sharding of parameters, state and activations.

Every parameter carries logical axis names (flan/model/layers.py); so do the key activations,
through `constrain(x, names)`. A rule table maps the names onto the mesh axes `(data, fsdp,
model)`:

    mesh = make_mesh((2, 2, 2))                 # 8 devices: data x fsdp x model
    embed -> fsdp, mlp/heads/vocab -> model, batch -> (data, fsdp), everything else replicated

so a [embed, mlp] kernel is split over fsdp along its rows and over model along its columns,
and a batch [B, L] is split over data x fsdp along its rows. Parameters are created already
sharded (`init_sharded`): no host ever holds the whole model.

Activations, by logical names:

    residual stream   [B, L, D]       ("batch", "length", "act_embed")
    queries           [B, L, H, Dh]   ("batch", "length", "heads", "kv")
    keys, values      [B, L, K, Dh]   ("batch", "length", "kv_heads", "kv")
    MLP hidden        [B, L, F]       ("batch", "length", "mlp")
    logits            [B, L, V]       ("batch", "length", "vocab")

Outside `activation_sharding(mesh, rules)` (eager calls, evaluation, tests) `constrain` returns x
unchanged. The train step traces the model inside it, where each name is mapped by the rule
table and `jax.lax.with_sharding_constraint` pins the layout, so XLA never has to guess how a
[B, L, F] hidden is split. A dimension that does not divide over its mesh axes is left unsplit
(`divisible_spec`).
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Callable, Sequence

import jax
import numpy as np
from flax import linen as nn
from flax import nnx
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


def active_specs(named_shapes):
  """Inside activation_sharding: (mesh, [the PartitionSpec of each (names, shape)]), as
  `constrain` would place them; outside: None. For kernels run per device under shard_map."""
  active = getattr(_active, "value", None)
  if active is None:
    return None
  mesh, rules = active
  return mesh, [divisible_spec(nn.logical_to_mesh_axes(PartitionSpec(*names), rules), shape, mesh)
                for names, shape in named_shapes]


MESH_AXES = ("data", "fsdp", "model")
DEFAULT_RULES = (
    ("batch", ("data", "fsdp")),
    ("embed", "fsdp"),
    ("vocab", "model"),
    ("mlp", "model"),
    ("heads", "model"),
    ("kv_heads", "model"),
    ("kv", None),
    ("layers", None),
    ("length", None),
    ("act_embed", None),
)


def make_mesh(shape: Sequence[int] = (-1, 1, 1), devices=None) -> Mesh:
  """A (data, fsdp, model) mesh; one -1 entry takes the remaining devices, and a mesh without
  -1 uses the first devices it needs."""
  devices = list(devices if devices is not None else jax.devices())
  shape = list(shape)
  if shape.count(-1) > 1:
    raise ValueError(f"mesh shape {shape}: at most one -1")
  known = int(np.prod([s for s in shape if s != -1]))
  if -1 in shape:
    shape[shape.index(-1)] = len(devices) // known
  else:
    devices = devices[:known]  # a smaller mesh uses the first devices
  if int(np.prod(shape)) != len(devices):
    raise ValueError(f"mesh shape {tuple(shape)} needs {int(np.prod(shape))} devices; "
                     f"{len(devices)} are available")
  return Mesh(np.asarray(devices).reshape(shape), MESH_AXES)


def _is_spec(x) -> bool:
  return isinstance(x, PartitionSpec)


def mesh_shardings(logical_specs: Any, mesh: Mesh, rules=DEFAULT_RULES,
                   abstract: Any = None) -> Any:
  """Logical PartitionSpecs (a pytree) -> NamedShardings on `mesh` through the rule table.

  With `abstract` (arrays or ShapeDtypeStructs shaped like the specs), a dimension that does
  not divide over its mesh axes is replicated instead of failing.
  """
  to_mesh = lambda spec: nn.logical_to_mesh_axes(spec, rules)
  if abstract is None:
    return jax.tree.map(lambda spec: NamedSharding(mesh, to_mesh(spec)), logical_specs,
                        is_leaf=_is_spec)
  return jax.tree.map(
      lambda leaf, spec: NamedSharding(mesh, divisible_spec(to_mesh(spec), leaf.shape, mesh)),
      abstract, logical_specs)


def check_batch(batch_size: int, mesh: Mesh, rules=DEFAULT_RULES, microbatches: int = 1) -> None:
  """Raises ValueError unless every microbatch's rows split evenly over the batch mesh axes."""
  axes = nn.logical_to_mesh_axes(PartitionSpec("batch"), rules)[0] or ()
  axes = axes if isinstance(axes, tuple) else (axes,)
  ways = int(np.prod([mesh.shape[a] for a in axes]))
  if batch_size % microbatches or (batch_size // microbatches) % ways:
    raise ValueError(
        f"batch_size {batch_size} in {microbatches} microbatch(es) does not split over the "
        f"{ways} devices of mesh axes {axes} (mesh {dict(mesh.shape)}); each microbatch needs "
        f"a multiple of {ways} rows")


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, PartitionSpec())


def batch_sharding(mesh: Mesh, rules=DEFAULT_RULES) -> NamedSharding:
  """Rows of a [B, L] batch over the batch mesh axes; the length replicated."""
  return NamedSharding(mesh, nn.logical_to_mesh_axes(PartitionSpec("batch", "length"), rules))


def _like_param(leaf, param_sharding: NamedSharding) -> NamedSharding:
  """An optimizer statistic of a parameter: its spec, with size-1 (reduced) dims unsplit."""
  if not hasattr(leaf, "shape") or leaf.ndim == 0:
    return NamedSharding(param_sharding.mesh, PartitionSpec())
  spec = tuple(param_sharding.spec) + (None,) * (leaf.ndim - len(param_sharding.spec))
  return NamedSharding(param_sharding.mesh,
                       PartitionSpec(*(None if n == 1 else a for n, a in zip(leaf.shape, spec))))


def state_shardings(abstract_state: dict, param_shardings: Any, mesh: Mesh) -> dict:
  """Shardings of the whole train state: parameters by the rules, optimizer statistics like
  the parameter they belong to (any optimizer-state subtree shaped like the params), the rest
  replicated."""
  param_struct = jax.tree.structure(abstract_state["params"])

  def place(subtree):
    if jax.tree.structure(subtree) == param_struct:
      return jax.tree.map(_like_param, subtree, param_shardings)
    if isinstance(subtree, (tuple, list)) and not hasattr(subtree, "shape"):
      placed = [place(child) for child in subtree]
      return type(subtree)(*placed) if hasattr(subtree, "_fields") else type(subtree)(placed)
    if isinstance(subtree, dict):
      return {k: place(v) for k, v in subtree.items()}
    return jax.tree.map(lambda _: replicated(mesh), subtree)

  return {"step": replicated(mesh), "params": param_shardings,
          "opt_state": place(abstract_state["opt_state"])}


def init_sharded(make_state: Callable[[], dict], shardings: dict) -> dict:
  """Runs `make_state` under jit with the given output shardings (created in place)."""
  return jax.jit(make_state, out_shardings=shardings)()


def logical_specs(abstract_params) -> Any:
  return nnx.get_partition_spec(abstract_params)
