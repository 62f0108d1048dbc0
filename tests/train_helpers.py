"""Train state for tests, built the way the trainer builds it, and the two parameter layouts.

    graphdef, tx, state = train_state(presets["tiny"], lambda axes: adafactor(0.01, axes=axes))
    state == {"step": int32 [], "params": nnx.State, "opt_state": ...}   (step.build_state, seed 0)

The layouts of a Decoder's parameters (plain nested dicts, `nnx.State.to_pure_dict()` trees):

    unscanned  {"blocks": {0: {"attention": {"query": [D, H, Dh], ...}}, 1: {...}}, ...}
    scanned    {"blocks_scanned": {"attention": {"query": [num_layers, D, H, Dh], ...}}, ...}

Block i of the unscanned layout is index i of every stacked array; everything outside the blocks
(embed, final_norm, unembed) is the same in both.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from flan import sharding
from flan.train import step as step_lib

BLOCKS, SCANNED = "blocks", "blocks_scanned"


def train_state(config, optimizer_fn, seed: int = 0):
  """(graphdef, optimizer, state) from step.build_state on the default mesh of this process.

  `optimizer_fn(axes)` gets the parameters' logical axes, as gin's optimizer binding does."""
  graphdef, tx, state, _ = step_lib.build_state(config, optimizer_fn, seed, sharding.make_mesh(),
                                                sharding.DEFAULT_RULES)
  return graphdef, tx, state


def to_scanned(params: dict[str, Any]) -> dict[str, Any]:
  """{"blocks": {i: tree}} -> {"blocks_scanned": tree of arrays stacked over i = 0, 1, ...}."""
  out = {k: v for k, v in params.items() if k != BLOCKS}
  blocks = params[BLOCKS]
  out[SCANNED] = jax.tree.map(lambda *layers: jnp.stack(layers),
                              *[blocks[i] for i in sorted(blocks)])
  return out


def to_unscanned(params: dict[str, Any]) -> dict[str, Any]:
  """{"blocks_scanned": stacked tree} -> {"blocks": {i: tree of array[i]}}."""
  out = {k: v for k, v in params.items() if k != SCANNED}
  stacked = params[SCANNED]
  num_layers = jax.tree.leaves(stacked)[0].shape[0]
  out[BLOCKS] = {i: jax.tree.map(lambda a, i=i: a[i], stacked) for i in range(num_layers)}
  return out
