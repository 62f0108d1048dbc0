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

Decoding with a key/value cache (`Attention.extend`, driven by `Decoder.extend`) writes the keys
and values of T new tokens into slots [index, index + T) of a cache of S slots and attends over
all S slots with the mask of `extend_mask`: earlier slots are a shared prefix, new tokens see each
other causally within their segment.
"""

import jax
import jax.numpy as jnp
from flax import nnx

from flan.model import attention_core, kernels
from flan.model.attention_softcap import attend_softcapped
from flan.model.config import ModelConfig
from flan.model.layers import RMSNorm, compute_weight, dense, logical_param
from flan.model.rope import Scaling, apply_rope
from flan.sharding import KEYS, QUERIES, RESIDUAL, constrain

NEG_INF = -1e9  # float32 bias for masked scores; finite so fully masked rows don't give NaN.


def attention_mask(segment_ids: jax.Array) -> jax.Array:
  """segment_ids: int32 [B, L] (0 = padding) -> bool [B, L, L], indexed [batch, query, key]."""
  length = segment_ids.shape[1]
  causal = jnp.tril(jnp.ones((length, length), dtype=jnp.bool_))                # [L, L]
  same_segment = segment_ids[:, :, None] == segment_ids[:, None, :]              # [B, L, L]
  real_query = (segment_ids != 0)[:, :, None]                                    # [B, L, 1]
  return causal[None] & same_segment & real_query


def extend_mask(cache_valid: jax.Array, segment_ids: jax.Array, index: jax.Array) -> jax.Array:
  """Which cache slots T new tokens, written at slots [index, index + T), may see.

    mask[b, t, s] = (s < index  and cache_valid[b, s])                 the prefix, shared by all
                 or (index <= s <= index + t  and  seg[b, s - index] == seg[b, t] != 0)

  For cache_valid [[0, 1, 1, 0, 0, 0]] (slot 0 is left padding), index 3, segment_ids [[1, 1, 2]]
  (two packed continuations of the same prefix):

    t\\s  0 1 2 3 4 5
     0    0 1 1 1 0 0
     1    0 1 1 1 1 0
     2    0 1 1 0 0 1     <- segment 2 sees the prefix and itself, not segment 1

  Args:
    cache_valid: bool [B, S], slots that earlier calls filled with a real token.
    segment_ids: int32 [B, T], segments of the new tokens (0 = padding).
    index: int32 scalar, the slot of the first new token.

  Returns:
    bool [B, T, S], indexed [batch, new token, slot].
  """
  new = segment_ids.shape[1]
  slot = jnp.arange(cache_valid.shape[1])                                        # [S]
  offset = slot - index                                                           # [S]
  prefix = (offset < 0)[None, None, :] & cache_valid[:, None, :]                  # [B, 1, S]
  slot_segment = jnp.take(segment_ids, jnp.clip(offset, 0, new - 1), axis=1)      # [B, S]
  in_block = ((offset >= 0) & (offset < new))[None, None, :]                      # [1, 1, S]
  causal = offset[None, None, :] <= jnp.arange(new)[None, :, None]                # [1, T, S]
  same = (slot_segment[:, None, :] == segment_ids[:, :, None]) \
      & (segment_ids != 0)[:, :, None]                                            # [B, T, S]
  return prefix | (in_block & causal & same)


def window_mask(query_positions: jax.Array, key_positions: jax.Array, window: int) -> jax.Array:
  """bool [B, Lq, Lk]: key position > query position - window (a sliding-window layer's limit,
  combined with `attention_mask` or `extend_mask` by `&`). For positions [[0, 1, 2, 3]] and
  window 2, query 3 sees keys 2 and 3 only."""
  return key_positions[:, None, :] > query_positions[:, :, None] - window


def rope_of(config: ModelConfig, sliding: bool) -> tuple[float, Scaling | None]:
  """(theta, scaling) of a layer: a sliding-window layer of a config with rope_local_theta
  uses that base, unscaled (Gemma 3); every other layer rope_theta and rope_scaling."""
  if sliding and config.rope_local_theta:
    return config.rope_local_theta, None
  if config.rope_scaling == "none":
    return config.rope_theta, None
  return config.rope_theta, Scaling(config.rope_scaling, config.rope_scaling_factor,
                                    config.rope_low_freq_factor, config.rope_high_freq_factor,
                                    config.rope_original_max_positions)


class Attention(nnx.Module):
  """Multi-head attention with H query heads sharing K key/value heads (G = H / K per group).

  Parameters (std 1/sqrt(fan_in)):
    query  [D, H, Dh]  ("embed", "heads", "kv")
    key    [D, K, Dh]  ("embed", "kv_heads", "kv")
    value  [D, K, Dh]  ("embed", "kv_heads", "kv")
    out    [H, Dh, D]  ("heads", "kv", "embed")
  and, by the family switches (ModelConfig):
    query_bias [H, Dh], key_bias / value_bias [K, Dh]   qkv_bias, zeros
    query_norm/scale, key_norm/scale [Dh] ("kv",)       qk_norm: RMSNorm per head before RoPE

  `sliding` (static): this layer attends within config.sliding_window (`window_mask`).
  """

  def __init__(self, config: ModelConfig, *, rngs: nnx.Rngs, sliding: bool = False):
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
    self.sliding = sliding
    if config.qkv_bias:
      zeros = lambda n, name: nnx.Param(jnp.zeros((n, dh), param_dtype),
                                        out_sharding=(name, "kv"), eager_sharding=False)
      self.query_bias = zeros(h, "heads")
      self.key_bias = zeros(k, "kv_heads")
      self.value_bias = zeros(k, "kv_heads")
    if config.qk_norm:
      norm = lambda: RMSNorm(dh, config.norm_eps, self.dtype, param_dtype,
                             plus_one=config.norm_plus_one, names=("kv",))
      self.query_norm = norm()
      self.key_norm = norm()

  def __call__(self, x: jax.Array, mask: jax.Array, positions: jax.Array) -> jax.Array:
    """Attends within segments.

    Args:
      x: [B, L, D] normalized residual stream, in config.dtype.
      mask: bool [B, L, L] from `attention_mask` (segment ids [B, L] for a kernel that takes
        segments, see `_attend`).
      positions: int32 [B, L], per-segment positions for RoPE.

    Returns:
      [B, L, D] in config.dtype.
    """
    q, k, v = self._project(x, positions)
    return self._attend(q, k, v, mask, causal=True)

  def extend(self, x: jax.Array, positions: jax.Array, mask: jax.Array, key_cache: jax.Array,
             value_cache: jax.Array, index: jax.Array):
    """Attention of T new tokens over a key/value cache they are first written into.

    Args:
      x: [B, T, D] normalized residual stream of the new tokens, in config.dtype.
      positions: int32 [B, T], their RoPE positions.
      mask: bool [B, T, S] from `extend_mask`.
      key_cache, value_cache: [B, S, K, Dh] in config.dtype; slots [index, index + T) are
        overwritten with the new tokens' keys and values (index + T <= S is the caller's duty).
      index: int32 scalar, the slot of the first new token.

    Returns:
      ([B, T, D] in config.dtype, key_cache, value_cache).
    """
    q, k, v = self._project(x, positions)
    start = (0, index, 0, 0)
    key_cache = jax.lax.dynamic_update_slice(key_cache, k.astype(key_cache.dtype), start)
    value_cache = jax.lax.dynamic_update_slice(value_cache, v.astype(value_cache.dtype), start)
    return self._attend(q, key_cache, value_cache, mask), key_cache, value_cache

  def _project(self, x: jax.Array, positions: jax.Array):
    """Queries [B, L, H, Dh] (RoPE'd, scaled by Dh**-0.5), keys and values [B, L, K, Dh]."""
    cfg = self.config
    w = lambda p: compute_weight(p, self.dtype)
    lowp = kernels.use_lowp(cfg)
    q = dense(x, w(self.query), lowp=lowp)                       # [B, L, H, Dh]
    k = dense(x, w(self.key), lowp=lowp)                         # [B, L, K, Dh]
    v = dense(x, w(self.value), lowp=lowp)                       # [B, L, K, Dh]
    if cfg.qkv_bias:
      q, k, v = q + w(self.query_bias), k + w(self.key_bias), v + w(self.value_bias)
    if cfg.qk_norm:
      q, k = self.query_norm(q), self.key_norm(k)
    theta, scaling = rope_of(cfg, self.sliding)
    q = apply_rope(q, positions, theta, scaling)
    k = apply_rope(k, positions, theta, scaling)
    q = q * jnp.asarray((cfg.query_pre_attn_scalar or cfg.head_dim) ** -0.5, self.dtype)
    return constrain(q, QUERIES), constrain(k, KEYS), constrain(v, KEYS)

  def _attend(self, q: jax.Array, k: jax.Array, v: jax.Array, mask: jax.Array,
              causal: bool = False) -> jax.Array:
    """q [B, Lq, H, Dh], k and v [B, Lk, K, Dh], mask bool [B, Lq, Lk] -> [B, Lq, D].

    causal: the mask is causal self-attention's (Lq == Lk, nothing above the diagonal), so key
    blocks after a query block are skipped (attention_core.attend_causal). With a kernel that
    takes segments (kernels.takes_segments: splash), `mask` is the segment ids [B, L] instead.
    The kernel is the config's (flan/model/kernels.py); decoding steps (not causal) use the
    "xla" one where the config's needs segments. Soft-capped attention (Gemma 2) always takes
    the core's path (attention_softcap.py), which works on every backend."""
    cfg = self.config
    batch, length = q.shape[:2]
    kernel = kernels.attention_kernel(cfg)
    if kernel == "splash" and causal and length % kernels.SPLASH_TILE == 0:
      attended = kernels.splash_attention(q, k, v, mask)
    elif kernel == "splash" and causal:  # a length splash cannot tile: mask is segment ids
      attended = kernels.xla_attention(q, k, v, attention_mask(mask))
    elif kernel == "cudnn":
      attended = kernels.cudnn_attention(q, k, v, mask)
    elif kernel == "cpu" or cfg.attn_softcap:  # soft-capped scores: the core's path only
      attended = self._cpu_core(q, k, v, mask, causal)
    else:
      attended = kernels.xla_attention(q, k, v, mask)
    attended = constrain(attended.reshape(batch, length, cfg.num_heads, cfg.head_dim), QUERIES)
    out = dense(attended, compute_weight(self.out, self.dtype), contract=2,
                lowp=kernels.use_lowp(cfg))                        # [B, Lq, D]
    return constrain(out, RESIDUAL)

  def _cpu_core(self, q, k, v, mask, causal):
    """attention_core's kernel: head-major operands, hand-written backward -> [B, Lq, H, Dh]."""
    cfg = self.config
    batch, length = q.shape[:2]
    groups = cfg.num_heads // cfg.num_kv_heads
    # Query head h = kv_head * groups + g uses key/value head kv_head; head-major for the core.
    q = q.reshape(batch, length, cfg.num_kv_heads, groups, cfg.head_dim)
    q = q.transpose(0, 2, 3, 1, 4)                                 # [B, K, G, Lq, Dh]
    k, v = k.transpose(0, 2, 1, 3), v.transpose(0, 2, 1, 3)        # [B, K, Lk, Dh]
    bias = jnp.where(mask, 0.0, NEG_INF).astype(jnp.float32)      # [B, Lq, Lk]
    if cfg.attn_softcap:
      attended = attend_softcapped(q, k, v, bias, cfg.attn_softcap)
    else:
      core = attention_core.attend_causal if causal else attention_core.attend
      attended = core(q, k, v, bias)                               # [B, K, G, Lq, Dh]
    return attended.transpose(0, 3, 1, 2, 4)                       # [B, Lq, K, G, Dh]
