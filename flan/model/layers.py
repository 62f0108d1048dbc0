"""Building blocks shared by the decoder: named parameters, RMSNorm, the token embedding.

Every parameter is an `nnx.Param` carrying logical axis names as its `out_sharding` metadata,
one name per dimension, from this vocabulary:

  vocab     rows of the embedding / columns of the output projection   (V)
  embed     the residual stream                                        (D)
  heads     query heads                                                (H)
  kv_heads  key/value heads                                            (K)
  kv        width of one head                                          (Dh)
  mlp       hidden width of the MLP                                    (F)

`nnx.get_partition_spec(nnx.state(model))` returns them as `PartitionSpec('embed', 'mlp')` etc.;
inside `flax.core.spmd.logical_axis_rules(rules)` it returns the mesh axes the rules map them to.
Eager sharding is switched off for these parameters, so a model can be built with or without a
mesh; the train step places the state with the shardings derived from the names.
"""

import math

import jax
import jax.numpy as jnp
from flax import nnx

from flan.model import lowp as lowp_lib
from flan.sharding import constrain


def logical_param(rngs: nnx.Rngs, stddev: float, shape: tuple[int, ...],
                  names: tuple[str, ...], dtype) -> nnx.Param:
  """A normal(0, stddev) parameter of `shape` with one logical axis name per dimension."""
  assert len(shape) == len(names), (shape, names)
  value = stddev * jax.random.normal(rngs.params(), shape, dtype)
  return nnx.Param(value, out_sharding=names, eager_sharding=False)


def dense(x: jax.Array, kernel: jax.Array, contract: int = 1, transpose_kernel: bool = False,
          preferred_element_type=None, lowp: bool = True) -> jax.Array:
  """x [..., *in] times kernel [*in, *out] -> [..., *out], as one 2-D matmul [N, I] x [I, O].

  E.g. x [B, L, D] and a query kernel [D, H, Dh] give [B, L, H, Dh] (contract=1); attention
  output [B, L, H, Dh] and kernel [H, Dh, D] give [B, L, D] (contract=2). With
  transpose_kernel the kernel is [*out, *in] (a tied embedding [V, D] as the output projection).

  Flattening keeps every matmul of the forward and backward pass a plain [M, K] x [K, N]: the
  weight gradient is x2.T @ dy2 on row-major operands. Written as 3-D einsums ("bld,df->blf"),
  XLA's CPU backend materializes a transposed copy of every [B*L, F] activation gradient
  instead, which slows the MLP's forward and backward (figures: benchmarks/README.md).
  With lowp (the CPU pick of ModelConfig.matmul_kernel) 16-bit matmuls go through lowp.matmul.
  """
  if transpose_kernel:
    out_shape, in_shape = kernel.shape[:kernel.ndim - contract], kernel.shape[kernel.ndim - contract:]
  else:
    in_shape, out_shape = kernel.shape[:contract], kernel.shape[contract:]
  assert x.shape[x.ndim - contract:] == in_shape, (x.shape, kernel.shape)
  lead = x.shape[:x.ndim - contract]
  x2 = x.reshape(math.prod(lead), math.prod(in_shape))
  if transpose_kernel:
    kernel2 = kernel.reshape(math.prod(out_shape), math.prod(in_shape))         # [O, I]
  else:
    kernel2 = kernel.reshape(math.prod(in_shape), math.prod(out_shape))         # [I, O]
  if lowp and lowp_lib.is_low_precision(x.dtype) and kernel.dtype == x.dtype:
    y = lowp_lib.matmul(x2, kernel2, transpose_kernel, preferred_element_type or x.dtype)
  else:
    y = jnp.dot(x2, kernel2.T if transpose_kernel else kernel2,
                preferred_element_type=preferred_element_type)
  return y.reshape(lead + out_shape)


def compute_weight(param: nnx.Param, dtype) -> jax.Array:
  """A parameter cast to the compute dtype where it lies: the cast is pinned to the parameter's
  own sharding, so a sharded float32 kernel is cast shard by shard and gathered in `dtype`
  (half the bytes in bfloat16), never gathered whole in float32 first. A layer of a scanned
  stack keeps the stack's names; the leading "layers" is dropped."""
  value = param[...].astype(dtype)
  return constrain(value, tuple(param.out_sharding)[-value.ndim:])


class RMSNorm(nnx.Module):
  """y = x / sqrt(mean(x**2, -1) + eps) * scale, computed in float32, returned in `dtype`.

  scale: [D] (`names`, default ("embed",)), initialized to ones. With plus_one (Gemma) the
  factor is (1 + scale) and scale starts at zeros: the same function at initialization.
  """

  def __init__(self, d_model: int, eps: float, dtype, param_dtype, plus_one: bool = False,
               names: tuple[str, ...] = ("embed",)):
    self.eps = eps
    self.dtype = dtype
    self.plus_one = plus_one
    init = jnp.zeros if plus_one else jnp.ones
    self.scale = nnx.Param(init((d_model,), param_dtype), out_sharding=names,
                           eager_sharding=False)

  def __call__(self, x: jax.Array) -> jax.Array:
    """x: [..., D] -> [..., D] in self.dtype."""
    x = x.astype(jnp.float32)
    x = x * jax.lax.rsqrt(jnp.mean(jnp.square(x), axis=-1, keepdims=True) + self.eps)
    scale = self.scale[...].astype(jnp.float32)
    if self.plus_one:
      scale = 1.0 + scale
    return (x * scale).astype(self.dtype)


class Embedding(nnx.Module):
  """Token embedding, optionally reused as the output projection.

  embedding: [V, D] ("vocab", "embed"), normal with std 1.0 (T5 convention): the residual stream
  starts at unit scale. scale_output multiplies the looked-up rows by sqrt(D) (Gemma). Used as the output projection, logits = x @ embedding.T, scaled by
  1/sqrt(D) when `scale_logits`, so that unit-scale normalized activations give unit-scale logits.
  """

  def __init__(self, vocab_size: int, d_model: int, dtype, param_dtype, *, rngs: nnx.Rngs,
               scale_output: bool = False, lowp: bool = True):
    self.dtype = dtype
    self.scale_output = scale_output
    self.lowp = lowp
    self.embedding = logical_param(rngs, 1.0, (vocab_size, d_model), ("vocab", "embed"),
                                   param_dtype)

  def __call__(self, tokens: jax.Array) -> jax.Array:
    """tokens: int32 [B, L] -> [B, L, D] in self.dtype (times sqrt(D) with scale_output, the
    factor rounded to self.dtype first, as Gemma does)."""
    x = jnp.take(self.embedding[...], tokens, axis=0).astype(self.dtype)
    if self.scale_output:
      x = x * jnp.asarray(x.shape[-1] ** 0.5, self.dtype)
    return x

  def attend(self, x: jax.Array, scale_logits: bool) -> jax.Array:
    """x: [B, L, D] -> float32 logits [B, L, V] (matmul in self.dtype, accumulated in float32)."""
    embedding = compute_weight(self.embedding, self.dtype)
    logits = dense(x, embedding, transpose_kernel=True, preferred_element_type=jnp.float32,
                   lowp=self.lowp)
    if scale_logits:
      logits = logits / jnp.sqrt(jnp.float32(x.shape[-1]))
    return logits
