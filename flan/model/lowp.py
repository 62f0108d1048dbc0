"""bfloat16 matmuls whose forward and backward passes are all row-major dots accumulated in float32.

XLA's CPU backend runs a bfloat16 x bfloat16 -> float32 dot through YNNPACK at about twice the
float32 rate on CPUs with AVX512-BF16 (figures: benchmarks/README.md), but only when the left operand
contracts its minor dimension and both operands are laid out row-major. Any other dot has its
operands upcast to float32 first and runs at the float32 rate or below. Autodiff breaks the rule
twice: a transposed operand (`x.T`) is laid out column-major (a free relabelling), and the weight
gradient x^T dy contracts the major dimension of both operands.

`matmul` therefore has a hand-written backward pass in which every dot follows the rule:

    forward   y  = x @ w                    x [N, I], w [I, O]: contracts x's minor dimension
    backward  dx = dy @ w^T                 dot_general contracting the minor dims of dy and w
              dw = transposed(x) @ dy       transposed(x) [I, N] is a row-major copy of x^T

and `transposed` materializes a transpose in row-major layout: through a trailing unit dimension
that a reshape then drops, which XLA cannot lay out as a relabelling. The copy costs one pass
over x, against the 2 * N * I * O FLOPs of the dot it feeds. On TPU and GPU none of this
matters; the functions compute what autodiff of the plain dot computes on any backend, except
that an incoming float32 gradient (of float32 logits) is rounded to the operands' dtype before
its dots, as mixed-precision training does anyway.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp


def is_low_precision(dtype) -> bool:
  """Whether `dtype` is a 16-bit float compute dtype (bfloat16, float16)."""
  return jnp.dtype(dtype).itemsize == 2 and jnp.issubdtype(dtype, jnp.floating)


def transposed(x: jax.Array, perm: tuple[int, ...] | None = None) -> jax.Array:
  """x.transpose(perm) (default: reversed axes) as a row-major copy, never a relabelling.

  Same values as jnp.transpose; e.g. for x = [[1, 2, 3], [4, 5, 6]]: [[1, 4], [2, 5], [3, 6]].
  """
  perm = tuple(reversed(range(x.ndim))) if perm is None else tuple(perm)
  out_shape = tuple(x.shape[axis] for axis in perm)
  return x[..., None].transpose(perm + (x.ndim,)).reshape(out_shape)


def _dot(x: jax.Array, w: jax.Array, w_contract: int) -> jax.Array:
  """x [N, I] times w contracted on its dimension `w_contract`, accumulated in float32."""
  dims = (((1,), (w_contract,)), ((), ()))
  return jax.lax.dot_general(x, w, dims, preferred_element_type=jnp.float32)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def matmul(x: jax.Array, w: jax.Array, transpose_w: bool, out_dtype) -> jax.Array:
  """x [N, I] @ w [I, O] (or w [O, I] with transpose_w: x @ w^T) -> [N, O] in out_dtype.

  x and w share one dtype; the product is accumulated in float32. Gradients come back in the
  operands' dtypes, computed by the dots of the module docstring.
  """
  return _dot(x, w, 1 if transpose_w else 0).astype(out_dtype)


def _matmul_fwd(x, w, transpose_w, out_dtype):
  return matmul(x, w, transpose_w, out_dtype), (x, w)


def _matmul_bwd(transpose_w, out_dtype, residuals, dy):
  del out_dtype
  x, w = residuals
  dy = dy.astype(x.dtype)                                                # [N, O]
  x_t = transposed(x)                                                    # [I, N]
  if transpose_w:                                                        # w [O, I]
    dx = _dot(dy, w, 0)                                                  # [N, I]
    dw = transposed(_dot(x_t, dy, 0).astype(w.dtype))                   # [I, O] -> [O, I]
  else:                                                                  # w [I, O]
    dx = _dot(dy, w, 1)                                                  # [N, I]
    dw = _dot(x_t, dy, 0).astype(w.dtype)                                # [I, O]
  return dx.astype(x.dtype), dw


matmul.defvjp(_matmul_fwd, _matmul_bwd)
