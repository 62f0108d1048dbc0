"""Rotary position embedding (RoPE) from explicit per-token positions.

Positions come from the batch (`decoder_positions`), not from arange: in a packed row they restart
at 0 at the start of every segment, so a segment sees the same rotations wherever it was packed.

Convention: "rotate half" as in Hugging Face Llama. The head vector is split into two halves
x = [x1, x2] of Dh/2 each, and pair i = (x1[i], x2[i]) is rotated by angle
position * theta ** (-2i / Dh):

  x1' = x1 * cos - x2 * sin
  x2' = x2 * cos + x1 * sin
"""

import jax
import jax.numpy as jnp


def apply_rope(x: jax.Array, positions: jax.Array, theta: float) -> jax.Array:
  """Rotates query or key heads by their positions.

  Args:
    x: [B, L, N, Dh] queries or keys (N heads), any float dtype.
    positions: int32 [B, L], position of each token within its segment.
    theta: base frequency (rope_theta).

  Returns:
    [B, L, N, Dh] in x.dtype; the rotation itself is computed in float32.
  """
  half = x.shape[-1] // 2
  inverse_frequency = theta ** (-jnp.arange(half, dtype=jnp.float32) / half)  # [Dh/2]
  angle = positions.astype(jnp.float32)[:, :, None] * inverse_frequency       # [B, L, Dh/2]
  sin = jnp.sin(angle)[:, :, None, :]                                         # [B, L, 1, Dh/2]
  cos = jnp.cos(angle)[:, :, None, :]
  x1, x2 = jnp.split(x.astype(jnp.float32), 2, axis=-1)
  rotated = jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)
  return rotated.astype(x.dtype)
