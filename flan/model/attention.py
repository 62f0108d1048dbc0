"""Grouped-query causal self-attention over packed segments.

The mask says which key each query may see:

  mask[b, q, k] = k <= q  and  segment[b, k] == segment[b, q]  and  segment[b, q] != 0

so attention never crosses a packed segment and padding (segment 0) queries see nothing. For
segment_ids [[1, 1, 2, 2, 0]]:

  q\\k  0 1 2 3 4
   0   1 0 0 0 0
   1   1 1 0 0 0
   2   0 0 1 0 0
   3   0 0 1 1 0
   4   0 0 0 0 0     <- padding row: every score is NEG_INF, softmax is uniform and finite

Masked scores are set to a large negative *finite* number (not -inf), and the softmax runs in
float32, so fully masked rows stay finite instead of becoming NaN.
"""

import jax
import jax.numpy as jnp
from flax import nnx

from flan.model.config import ModelConfig
from flan.model.layers import logical_param
from flan.model.rope import apply_rope

NEG_INF = -1e9  # float32 bias for masked scores; finite so fully masked rows don't give NaN.


def attention_mask(segment_ids: jax.Array) -> jax.Array:
  """segment_ids: int32 [B, L] (0 = padding) -> bool [B, L, L], indexed [batch, query, key]."""
  length = segment_ids.shape[1]
  causal = jnp.tril(jnp.ones((length, length), dtype=jnp.bool_))                # [L, L]
  same_segment = segment_ids[:, :, None] == segment_ids[:, None, :]              # [B, L, L]
  real_query = (segment_ids != 0)[:, :, None]                                    # [B, L, 1]
  return causal[None] & same_segment & real_query


class Attention(nnx.Module):
  """Multi-head attention with H query heads sharing K key/value heads (G = H / K per group).

  Parameters (std 1/sqrt(fan_in)):
    query  [D, H, Dh]  ("embed", "heads", "kv")
    key    [D, K, Dh]  ("embed", "kv_heads", "kv")
    value  [D, K, Dh]  ("embed", "kv_heads", "kv")
    out    [H, Dh, D]  ("heads", "kv", "embed")
  """

  def __init__(self, config: ModelConfig, *, rngs: nnx.Rngs):
    d, h, k, dh = config.d_model, config.num_heads, config.num_kv_heads, config.head_dim
    param_dtype = jnp.dtype(config.param_dtype)
    self.config = config
    self.dtype = jnp.dtype(config.dtype)
    self.query = logical_param(rngs, d ** -0.5, (d, h, dh), ("embed", "heads", "kv"), param_dtype)
    self.key = logical_param(rngs, d ** -0.5, (d, k, dh), ("embed", "kv_heads", "kv"),
                             param_dtype)
    self.value = logical_param(rngs, d ** -0.5, (d, k, dh), ("embed", "kv_heads", "kv"),
                               param_dtype)
    self.out = logical_param(rngs, (h * dh) ** -0.5, (h, dh, d), ("heads", "kv", "embed"),
                             param_dtype)

  def __call__(self, x: jax.Array, mask: jax.Array, positions: jax.Array) -> jax.Array:
    """Attends within segments.

    Args:
      x: [B, L, D] normalized residual stream, in config.dtype.
      mask: bool [B, L, L] from `attention_mask`.
      positions: int32 [B, L], per-segment positions for RoPE.

    Returns:
      [B, L, D] in config.dtype.
    """
    cfg = self.config
    batch, length, _ = x.shape
    groups = cfg.num_heads // cfg.num_kv_heads
    w = lambda p: p[...].astype(self.dtype)

    q = jnp.einsum("bld,dhk->blhk", x, w(self.query))           # [B, L, H, Dh]
    k = jnp.einsum("bld,dhk->blhk", x, w(self.key))             # [B, L, K, Dh]
    v = jnp.einsum("bld,dhk->blhk", x, w(self.value))           # [B, L, K, Dh]
    q = apply_rope(q, positions, cfg.rope_theta)
    k = apply_rope(k, positions, cfg.rope_theta)
    q = q * jnp.asarray(cfg.head_dim ** -0.5, self.dtype)

    # Query head h = kv_head * groups + g uses key/value head kv_head.
    q = q.reshape(batch, length, cfg.num_kv_heads, groups, cfg.head_dim)  # [B, L, K, G, Dh]
    scores = jnp.einsum("bqkgd,bskd->bkgqs", q, k,
                        preferred_element_type=jnp.float32)    # [B, K, G, L, L] float32
    scores = jnp.where(mask[:, None, None, :, :], scores, NEG_INF)
    probs = jax.nn.softmax(scores, axis=-1).astype(self.dtype)
    attended = jnp.einsum("bkgqs,bskd->bqkgd", probs, v)        # [B, L, K, G, Dh]
    attended = attended.reshape(batch, length, cfg.num_heads, cfg.head_dim)
    return jnp.einsum("blhk,hkd->bld", attended, w(self.out))  # [B, L, D]
