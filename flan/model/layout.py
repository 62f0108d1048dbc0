"""The two parameter layouts of a Decoder, converted into each other (plain nested dicts).

    unscanned  {"blocks": {0: {"attention": {"query": [D, H, Dh], ...}}, 1: {...}}, ...}
    scanned    {"blocks_scanned": {"attention": {"query": [num_layers, D, H, Dh], ...}}, ...}

Block i of the unscanned layout is index i of every stacked array; everything outside the blocks
(embed, final_norm, unembed) is the same in both. Works on `nnx.State.to_pure_dict()` trees:

    pure = to_scanned(nnx.state(unscanned_model, nnx.Param).to_pure_dict())
    nnx.state(scanned_model, nnx.Param).replace_by_pure_dict(pure)
"""

from typing import Any

import jax
import jax.numpy as jnp

BLOCKS, SCANNED = "blocks", "blocks_scanned"


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
