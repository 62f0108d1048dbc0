"""Llama-style decoder-only transformer over packed sequences.

  tokens [B, L] -> embedding -> num_layers x Block -> final RMSNorm -> output projection -> logits

  Block(x) = x + Attention(RMSNorm(x)),  then  x + Mlp(RMSNorm(x))

Inputs follow the SeqIO decoder contract (see flan/model/features.py): `segment_ids` number the
packed sequences of a row from 1 (0 = padding), `positions` restart at 0 in every segment.
Activations are computed in config.dtype, parameters are stored in config.param_dtype, logits come
back in float32.
"""

import jax
import jax.numpy as jnp
from flax import nnx

from flan.model.attention import Attention, attention_mask
from flan.model.config import ModelConfig
from flan.model.layers import Embedding, RMSNorm, logical_param
from flan.model.mlp import Mlp


class Block(nnx.Module):
  """Pre-norm residual block: attention, then SwiGLU MLP."""

  def __init__(self, config: ModelConfig, *, rngs: nnx.Rngs):
    dtype, param_dtype = jnp.dtype(config.dtype), jnp.dtype(config.param_dtype)
    self.attention_norm = RMSNorm(config.d_model, config.norm_eps, dtype, param_dtype)
    self.attention = Attention(config, rngs=rngs)
    self.mlp_norm = RMSNorm(config.d_model, config.norm_eps, dtype, param_dtype)
    self.mlp = Mlp(config, rngs=rngs)

  def __call__(self, x: jax.Array, mask: jax.Array, positions: jax.Array) -> jax.Array:
    """x: [B, L, D], mask: bool [B, L, L], positions: int32 [B, L] -> [B, L, D]."""
    x = x + self.attention(self.attention_norm(x), mask, positions)
    return x + self.mlp(self.mlp_norm(x))


def _run_block(block: Block, x: jax.Array, mask: jax.Array, positions: jax.Array) -> jax.Array:
  return block(x, mask, positions)


# The same block, its activations recomputed in the backward pass instead of stored.
_run_block_remat = nnx.remat(_run_block)


class Decoder(nnx.Module):
  """The model: `Decoder(config, rngs=nnx.Rngs(0))(tokens, segment_ids, positions)`.

  Parameters (paths in nnx.state(model)):
    embed/embedding          [V, D]   ("vocab", "embed")
    blocks/<i>/...           see Block, Attention, Mlp
    final_norm/scale         [D]      ("embed",)
    unembed                  [D, V]   ("embed", "vocab"), only when not config.tie_embeddings
  """

  def __init__(self, config: ModelConfig, *, rngs: nnx.Rngs):
    self.config = config
    dtype, param_dtype = jnp.dtype(config.dtype), jnp.dtype(config.param_dtype)
    self.embed = Embedding(config.vocab_size, config.d_model, dtype, param_dtype, rngs=rngs)
    self.blocks = nnx.List([Block(config, rngs=rngs) for _ in range(config.num_layers)])
    self.final_norm = RMSNorm(config.d_model, config.norm_eps, dtype, param_dtype)
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
    cfg = self.config
    mask = attention_mask(segment_ids)                          # bool [B, L, L]
    run_block = _run_block_remat if cfg.remat == "full" else _run_block
    x = self.embed(tokens)                                      # [B, L, D]
    for block in self.blocks:
      x = run_block(block, x, mask, positions)
    x = self.final_norm(x)
    if cfg.tie_embeddings:
      return self.embed.attend(x, scale_logits=cfg.scale_tied_logits)
    unembed = self.unembed[...].astype(x.dtype)
    return jnp.einsum("bld,dv->blv", x, unembed, preferred_element_type=jnp.float32)
