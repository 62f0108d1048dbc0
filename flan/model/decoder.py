"""Llama-style decoder-only transformer over packed sequences.

  tokens [B, L] -> embedding -> num_layers x Block -> final RMSNorm -> output projection -> logits

  Block(x) = x + Attention(RMSNorm(x)),  then  x + Mlp(RMSNorm(x))
  (post_norms, Gemma 2/3: x + RMSNorm(Attention(RMSNorm(x))), then the same around the Mlp)

Inputs follow the SeqIO decoder contract (see flan/model/features.py): `segment_ids` number the
packed sequences of a row from 1 (0 = padding), `positions` restart at 0 in every segment.
Activations are computed in config.dtype, parameters are stored in config.param_dtype, logits come
back in float32.

Incremental decoding reuses the same parameters through a key/value cache:

  cache = model.init_cache(batch_size=B, length=S)                 # S slots per row, all empty
  hidden, cache = model.extend(prompt, segment_ids, positions, cache)   # prefill [B, T] at slot 0
  logits = model.output_logits(hidden[:, -1:])                         # [B, 1, V]
  hidden, cache = model.extend(next_token, ones, next_positions, cache) # one step at slot T

Each `extend` writes its T tokens into the next T slots and sees every earlier real slot (see
`attention.extend_mask`); `model(tokens, segment_ids, positions)` is unchanged.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from flan.model import kernels
from flan.model.attention import Attention, attention_mask, extend_mask, window_mask
from flan.model.config import ModelConfig
from flan.model.layers import Embedding, RMSNorm, compute_weight, dense, logical_param
from flan.model.mlp import Mlp
from flan.sharding import LOGITS, RESIDUAL, constrain


class Block(nnx.Module):
  """Pre-norm residual block: attention, then SwiGLU MLP.

  Norms: attention_norm, mlp_norm (before each), and with config.post_norms post_attention_norm,
  post_mlp_norm (on each output, before the residual add). `sliding`: block `layer` attends
  within config.sliding_window (config.is_sliding).
  """

  def __init__(self, config: ModelConfig, *, rngs: nnx.Rngs, layer: int = 0):
    dtype, param_dtype = jnp.dtype(config.dtype), jnp.dtype(config.param_dtype)
    norm = lambda: RMSNorm(config.d_model, config.norm_eps, dtype, param_dtype,
                           plus_one=config.norm_plus_one)
    self.attention_norm = norm()
    self.attention = Attention(config, rngs=rngs, sliding=config.is_sliding(layer))
    self.mlp_norm = norm()
    self.mlp = Mlp(config, rngs=rngs)
    self.post_norms = config.post_norms
    if config.post_norms:
      self.post_attention_norm = norm()
      self.post_mlp_norm = norm()

  def __call__(self, x: jax.Array, mask: jax.Array, positions: jax.Array) -> jax.Array:
    """x: [B, L, D], mask: bool [B, L, L], positions: int32 [B, L] -> [B, L, D]."""
    x = x + self._post(self.attention(self.attention_norm(x), mask, positions), "attention")
    return constrain(x + self._post(self.mlp(self.mlp_norm(x)), "mlp"), RESIDUAL)

  def extend(self, x, positions, mask, key_cache, value_cache, index):
    """`__call__` for T new tokens over a key/value cache (see `Attention.extend`)."""
    attended, key_cache, value_cache = self.attention.extend(
        self.attention_norm(x), positions, mask, key_cache, value_cache, index)
    x = x + self._post(attended, "attention")
    return x + self._post(self.mlp(self.mlp_norm(x)), "mlp"), key_cache, value_cache

  def _post(self, y: jax.Array, which: str) -> jax.Array:
    if not self.post_norms:
      return y
    return (self.post_attention_norm if which == "attention" else self.post_mlp_norm)(y)


# What each remat policy lets a block save for the backward pass (see config.REMAT_POLICIES).
_SAVEABLE = {
    "minimal": jax.checkpoint_policies.dots_with_no_batch_dims_saveable,
    "dots": jax.checkpoint_policies.dots_saveable,
    "full": jax.checkpoint_policies.nothing_saveable,
}


def block_fn(graphdef: nnx.GraphDef, remat: str, sliding: bool | None = None):
  """`apply(block_params, x, mask, positions) -> x`: one Block as a pure function of its
  parameters, rematerialized by `remat` (the same function runs every layer, scanned or not).
  `sliding` (static) overrides the graph's own: a scanned stack has one graph for every layer."""
  def apply(block_params, x, mask, positions):
    # The barrier keeps XLA from converting a scanned model's whole stack of saved block inputs
    # to float32 at once (for the RMSNorm of the recomputation); each layer converts its own.
    x = jax.lax.optimization_barrier(x)
    return _merge_block(graphdef, block_params, sliding)(x, mask, positions)
  if remat == "none":
    return apply
  return jax.checkpoint(apply, policy=_SAVEABLE[remat], prevent_cse=False)


def _merge_block(graphdef: nnx.GraphDef, block_params, sliding: bool | None) -> "Block":
  block = nnx.merge(graphdef, block_params)
  if sliding is not None:
    block.attention.sliding = sliding
  return block


def stacked_blocks(config: ModelConfig, rngs: nnx.Rngs) -> Block:
  """num_layers Blocks as one Block whose parameters have a leading "layers" axis:
  query [L, D, H, Dh] ("layers", "embed", "heads", "kv"), ..., each layer initialized from its
  own split of `rngs`."""
  @nnx.split_rngs(splits=config.num_layers)
  @nnx.vmap(in_axes=(0,), out_axes=0, transform_metadata={nnx.PARTITION_NAME: "layers"})
  def make(rngs: nnx.Rngs) -> Block:
    return Block(config, rngs=rngs)
  return make(rngs)


class DecodeCache(NamedTuple):
  """Keys and values of every layer for S slots per row (a pytree; nothing in it is a parameter).

    keys, values  tuple (one per layer) of [B, S, K, Dh] in config.dtype
    valid         bool [B, S]: the slot holds a real token (left padding and empty slots don't)
    index         int32 []: the next free slot, shared by every row
    positions     int32 [B, S]: the RoPE position of each slot's token (sliding windows)
  """
  keys: tuple
  values: tuple
  valid: jax.Array
  index: jax.Array
  positions: jax.Array | None = None


class Decoder(nnx.Module):
  """The model: `Decoder(config, rngs=nnx.Rngs(0))(tokens, segment_ids, positions)`.

  Parameters (paths in nnx.state(model)):
    embed/embedding          [V, D]   ("vocab", "embed")
    blocks/<i>/...           see Block, Attention, Mlp (config.scan_layers False)
    blocks_scanned/...       the same, stacked: [num_layers, *shape], ("layers", *names)
                             (config.scan_layers True)
    final_norm/scale         [D]      ("embed",)
    unembed                  [D, V]   ("embed", "vocab"), only when not config.tie_embeddings
  """

  def __init__(self, config: ModelConfig, *, rngs: nnx.Rngs):
    self.config = config
    dtype, param_dtype = jnp.dtype(config.dtype), jnp.dtype(config.param_dtype)
    self.embed = Embedding(config.vocab_size, config.d_model, dtype, param_dtype, rngs=rngs,
                           scale_output=config.embed_scale, lowp=kernels.use_lowp(config))
    if config.scan_layers:
      self.blocks_scanned = stacked_blocks(config, rngs)
    else:
      self.blocks = nnx.List([Block(config, rngs=rngs, layer=i)
                              for i in range(config.num_layers)])
    self.final_norm = RMSNorm(config.d_model, config.norm_eps, dtype, param_dtype,
                              plus_one=config.norm_plus_one)
    if not config.tie_embeddings:
      self.unembed = logical_param(rngs, config.d_model ** -0.5,
                                   (config.d_model, config.vocab_size), ("embed", "vocab"),
                                   param_dtype)

  def __call__(self, tokens: jax.Array, segment_ids: jax.Array,
               positions: jax.Array) -> jax.Array:
    """Next-token logits for every position of a (packed) batch.

    Args:
      tokens: int32 [B, L] decoder input tokens (BOS = 0 starts each segment).
      segment_ids: int32 [B, L], 1, 2, ... per packed sequence, 0 for padding.
      positions: int32 [B, L], position within the segment, restarting at 0.

    Returns:
      float32 [B, L, V]. Rows of padding positions are finite but meaningless.
    """
    return self.output_logits(self.hidden(tokens, segment_ids, positions))

  def hidden(self, tokens: jax.Array, segment_ids: jax.Array, positions: jax.Array) -> jax.Array:
    """The final-normed hidden states [B, L, D] that `output_logits` projects (same arguments
    as `__call__`): the train step projects only the positions that carry loss."""
    cfg = self.config
    if kernels.takes_segments(cfg):  # the kernel masks by segment ids [B, L] itself (splash)
      mask = local = segment_ids
    else:
      mask = attention_mask(segment_ids)                        # bool [B, L, L]
      local = (mask & window_mask(positions, positions, cfg.sliding_window)
               if cfg.sliding_window else mask)
    x = constrain(self.embed(tokens), RESIDUAL)                 # [B, L, D]
    if cfg.scan_layers:
      x = self._scanned(x, mask, local, positions)
    else:
      for block in self.blocks:
        graphdef, block_params = nnx.split(block)
        layer_mask = local if block.attention.sliding else mask
        x = block_fn(graphdef, cfg.remat)(block_params, x, layer_mask, positions)
    return self.final_norm(x)

  def layers(self) -> list[Block]:
    """The blocks in order, one Block per layer (a scanned model's are slices of its stack)."""
    if not self.config.scan_layers:
      return list(self.blocks)
    graphdef, stacked = nnx.split(self.blocks_scanned)
    return [_merge_block(graphdef, jax.tree.map(lambda p, i=i: p[i], stacked),
                         self.config.is_sliding(i)) for i in range(self.config.num_layers)]

  def _scanned(self, x, mask, local, positions):
    """The stacked blocks with `jax.lax.scan`. Layers alike: one scan step per layer. Sliding
    and global layers mixed (global_every = P): one step per P layers, unrolled in their
    pattern, over the stack viewed as [L // P, P, ...]; the L % P layers left run after it.
    Gemma 3 1B (26 layers, P = 6): 4 steps of 5 sliding + 1 global, then 2 sliding layers."""
    cfg = self.config
    graphdef, stacked = nnx.split(self.blocks_scanned)
    period = cfg.layer_period()
    applies = [block_fn(graphdef, cfg.remat, cfg.is_sliding(j)) for j in range(period)]
    masks = [local if cfg.is_sliding(j) else mask for j in range(period)]
    steps = cfg.num_layers // period
    if period == 1:
      x, _ = jax.lax.scan(lambda x, layer: (applies[0](layer, x, masks[0], positions), None), x,
                          stacked)
      return x

    def step(x, group):
      for j in range(period):
        x = applies[j](jax.tree.map(lambda p: p[j], group), x, masks[j], positions)
      return x, None

    groups = jax.tree.map(lambda p: p[:steps * period].reshape(steps, period, *p.shape[1:]),
                          stacked)
    x, _ = jax.lax.scan(step, x, groups)
    for i in range(steps * period, cfg.num_layers):
      x = applies[i % period](jax.tree.map(lambda p, i=i: p[i], stacked), x, masks[i % period],
                              positions)
    return x

  def output_logits(self, x: jax.Array) -> jax.Array:
    """The output projection: final-normed hidden states [B, T, D] -> float32 logits [B, T, V]."""
    cfg = self.config
    if cfg.tie_embeddings:
      logits = self.embed.attend(x, scale_logits=cfg.scale_tied_logits)
    else:
      unembed = compute_weight(self.unembed, x.dtype)
      logits = dense(x, unembed, preferred_element_type=jnp.float32, lowp=kernels.use_lowp(cfg))
    if cfg.final_softcap:
      logits = cfg.final_softcap * jnp.tanh(logits / cfg.final_softcap)
    return constrain(logits, LOGITS)

  def init_cache(self, batch_size: int, length: int) -> DecodeCache:
    """An empty cache of `length` slots per row."""
    cfg = self.config
    shape = (batch_size, length, cfg.num_kv_heads, cfg.head_dim)
    empty = tuple(jnp.zeros(shape, jnp.dtype(cfg.dtype)) for _ in range(cfg.num_layers))
    return DecodeCache(keys=empty, values=empty, valid=jnp.zeros((batch_size, length), bool),
                       index=jnp.zeros((), jnp.int32),
                       positions=jnp.zeros((batch_size, length), jnp.int32))

  def extend(self, tokens: jax.Array, segment_ids: jax.Array, positions: jax.Array,
             cache: DecodeCache) -> tuple[jax.Array, DecodeCache]:
    """Runs T new tokens through the model, writing them into slots [index, index + T).

    Args:
      tokens: int32 [B, T] new input tokens.
      segment_ids: int32 [B, T]: 0 = padding (never seen by later tokens); new tokens with the
        same nonzero id see each other causally, and every call sees all earlier real slots.
      positions: int32 [B, T] RoPE positions (a prompt left-padded by p tokens starts at -p, its
        first real token at 0).
      cache: from `init_cache` or an earlier `extend`; index + T must not exceed its S slots.

    Returns:
      (final-normed hidden states [B, T, D] for `output_logits`, the updated cache).
    """
    cfg = self.config
    mask = extend_mask(cache.valid, segment_ids, cache.index)       # bool [B, T, S]
    slot_positions = jax.lax.dynamic_update_slice(
        cache.positions, positions.astype(jnp.int32), (0, cache.index))  # [B, S]
    local = (mask & window_mask(positions, slot_positions, cfg.sliding_window)
             if cfg.sliding_window else mask)
    x = self.embed(tokens)                                          # [B, T, D]
    keys, values = [], []
    for block, key_cache, value_cache in zip(self.layers(), cache.keys, cache.values):
      layer_mask = local if block.attention.sliding else mask
      x, key_cache, value_cache = block.extend(x, positions, layer_mask, key_cache, value_cache,
                                               cache.index)
      keys.append(key_cache)
      values.append(value_cache)
    valid = jax.lax.dynamic_update_slice(cache.valid, segment_ids != 0, (0, cache.index))
    cache = DecodeCache(tuple(keys), tuple(values), valid, cache.index + tokens.shape[1],
                        slot_positions)
    return self.final_norm(x), cache
