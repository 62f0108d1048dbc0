"""Softmax attention of grouped queries over keys and values, with a hand-written backward pass.

    out = attend(q, k, v, bias)
      q     [B, K, G, Lq, Dh]  queries, head-major, already scaled by Dh**-0.5 (G per kv head)
      k, v  [B, K, Lk, Dh]
      bias  float32 [B, Lq, Lk]: 0 where a query may see a key, NEG_INF where it may not
      out   [B, K, G, Lq, Dh] in q's dtype

Head-major operands make every matmul a plain batched [Lq, Dh] x [Dh, Lk] (batch B, K) and keep
the [Lq, Lk] scores in their natural layout (no transposed copies of them).

Forward, per head (rows are queries):

    s = q k^T + bias;  p = exp(s - max_row(s));  l = sum_row(p);  out = (p v) / l

The normalization is applied to the [Lq, Dh] output, not to the [Lq, Lk] probabilities. The
backward pass uses the identity rowsum(dP * P) = rowsum(dout * out) (as FlashAttention does), so
the only [Lq, Lk]-sized work besides the matmuls is one elementwise pass:

    dP = dout v^T;   D = rowsum(dout * out);   dS = p * (dP - D) / l
    dq = dS k;   dk = dS^T q;   dv = p^T (dout / l)

where autodiff of a softmax adds a row reduction over [Lq, Lk] and more passes. The bias gets no
gradient. A fully masked row (padding) stays finite: every score is NEG_INF, p is uniform.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _forward(q, k, v, bias):
  s = jnp.einsum("bkgqd,bksd->bkgqs", q, k, preferred_element_type=jnp.float32)
  s = s + bias[:, None, None]                                            # [B, K, G, Lq, Lk]
  p = jnp.exp(s - jnp.max(s, axis=-1, keepdims=True))
  inverse = 1.0 / jnp.sum(p, axis=-1, keepdims=True)                     # [B, K, G, Lq, 1]
  unnormalized = jnp.einsum("bkgqs,bksd->bkgqd", p.astype(q.dtype), v,
                            preferred_element_type=jnp.float32)
  return (unnormalized * inverse).astype(q.dtype), p, inverse


@jax.custom_vjp
def attend(q: jax.Array, k: jax.Array, v: jax.Array, bias: jax.Array) -> jax.Array:
  """See the module docstring."""
  return _forward(q, k, v, bias)[0]


def _attend_fwd(q, k, v, bias):
  out, p, inverse = _forward(q, k, v, bias)
  return out, (q, k, v, bias, out, p, inverse)


def _attend_bwd(residuals, d_out):
  q, k, v, bias, out, p, inverse = residuals
  dtype = q.dtype
  d_out32 = d_out.astype(jnp.float32)
  d_p = jnp.einsum("bkgqd,bksd->bkgqs", d_out, v, preferred_element_type=jnp.float32)
  delta = jnp.sum(d_out32 * out.astype(jnp.float32), axis=-1, keepdims=True)  # [B, K, G, Lq, 1]
  d_s = (p * (d_p - delta) * inverse).astype(dtype)
  d_q = jnp.einsum("bkgqs,bksd->bkgqd", d_s, k, preferred_element_type=jnp.float32)
  d_k = jnp.einsum("bkgqs,bkgqd->bksd", d_s, q, preferred_element_type=jnp.float32)
  d_v = jnp.einsum("bkgqs,bkgqd->bksd", p.astype(dtype), (d_out32 * inverse).astype(dtype),
                   preferred_element_type=jnp.float32)
  return (d_q.astype(dtype), d_k.astype(k.dtype), d_v.astype(v.dtype), jnp.zeros_like(bias))


attend.defvjp(_attend_fwd, _attend_bwd)


def attend_causal(q: jax.Array, k: jax.Array, v: jax.Array, bias: jax.Array,
                  block: int = 256) -> jax.Array:
  """`attend` for causal self-attention (Lq == Lk, bias NEG_INF above the diagonal), skipping
  the key blocks no query of a block can see: queries [i*block, (i+1)*block) attend to keys
  [0, (i+1)*block) only. For L = 512 and block 128 that is 10 of 16 [block, block] tiles of
  scores (about 5/8 of the work); the result is the same as `attend` over everything.
  """
  length = q.shape[-2]
  if length <= block or length % block:
    return attend(q, k, v, bias)
  outs = []
  for start in range(0, length, block):
    end = start + block
    outs.append(attend(q[..., start:end, :], k[..., :end, :], v[..., :end, :],
                       bias[:, start:end, :end]))
  return jnp.concatenate(outs, axis=-2)
