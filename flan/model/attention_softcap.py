"""Softmax attention with soft-capped scores (Gemma 2), in plain JAX (autodiff for the backward).

    out = attend_softcapped(q, k, v, bias, cap)      shapes as attention_core.attend

    s = cap * tanh(q k^T / cap) + bias;   out = softmax_row(s) v

The cap bounds every score to (-cap, cap) before the mask bias is added, as transformers' Gemma 2
does; with cap 50 and Dh**-0.5-scaled queries, ordinary scores pass almost unchanged.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def attend_softcapped(q: jax.Array, k: jax.Array, v: jax.Array, bias: jax.Array,
                      cap: float) -> jax.Array:
  """q [B, K, G, Lq, Dh], k and v [B, K, Lk, Dh], bias float32 [B, Lq, Lk] -> q's shape/dtype."""
  s = jnp.einsum("bkgqd,bksd->bkgqs", q, k, preferred_element_type=jnp.float32)
  s = cap * jnp.tanh(s / cap) + bias[:, None, None]
  p = jax.nn.softmax(s, axis=-1)
  out = jnp.einsum("bkgqs,bksd->bkgqd", p.astype(q.dtype), v,
                   preferred_element_type=jnp.float32)
  return out.astype(q.dtype)
