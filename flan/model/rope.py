"""Rotary position embedding (RoPE) from explicit per-token positions.

Positions come from the batch (`decoder_positions`), not from arange: in a packed row they restart
at 0 at the start of every segment, so a segment sees the same rotations wherever it was packed.

Convention: "rotate half" as in Hugging Face Llama. The head vector is split into two halves
x = [x1, x2] of Dh/2 each, and pair i = (x1[i], x2[i]) is rotated by angle
position * inverse_frequency[i], inverse_frequency[i] = theta ** (-2i / Dh):

  x1' = x1 * cos - x2 * sin
  x2' = x2 * cos + x1 * sin

Scaled variants change only the inverse frequencies (`Scaling`, as transformers computes them):

  linear  every frequency divided by the factor
  llama3  wavelength 2*pi/f longer than original / low_freq_factor: f / factor; shorter than
          original / high_freq_factor: f; in between a linear blend of the two in
          s = (original / wavelength - low) / (high - low):  (1 - s) * f / factor + s * f
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp


class Scaling(NamedTuple):
  """A scaled RoPE: kind "linear" or "llama3" and its parameters (see the module docstring)."""
  kind: str
  factor: float
  low_freq_factor: float = 1.0
  high_freq_factor: float = 4.0
  original_max_positions: int = 8192


def inverse_frequencies(half: int, theta: float, scaling: Scaling | None = None) -> jax.Array:
  """float32 [Dh/2]: the rotation speed of each pair."""
  inverse = theta ** (-jnp.arange(half, dtype=jnp.float32) / half)
  if scaling is None:
    return inverse
  if scaling.kind == "linear":
    return inverse / scaling.factor
  low_wavelength = scaling.original_max_positions / scaling.low_freq_factor
  high_wavelength = scaling.original_max_positions / scaling.high_freq_factor
  wavelength = 2 * math.pi / inverse
  scaled = jnp.where(wavelength > low_wavelength, inverse / scaling.factor, inverse)
  smooth = ((scaling.original_max_positions / wavelength - scaling.low_freq_factor)
            / (scaling.high_freq_factor - scaling.low_freq_factor))
  blended = (1 - smooth) * scaled / scaling.factor + smooth * scaled
  medium = (wavelength >= high_wavelength) & (wavelength <= low_wavelength)
  return jnp.where(medium, blended, scaled)


def apply_rope(x: jax.Array, positions: jax.Array, theta: float,
               scaling: Scaling | None = None) -> jax.Array:
  """Rotates query or key heads by their positions.

  Args:
    x: [B, L, N, Dh] queries or keys (N heads), any float dtype.
    positions: int32 [B, L], position of each token within its segment.
    theta: base frequency (rope_theta).
    scaling: a scaled variant, or None for plain RoPE.

  Returns:
    [B, L, N, Dh] in x.dtype; the rotation itself is computed in float32.
  """
  half = x.shape[-1] // 2
  inverse_frequency = inverse_frequencies(half, theta, scaling)                # [Dh/2]
  angle = positions.astype(jnp.float32)[:, :, None] * inverse_frequency       # [B, L, Dh/2]
  sin = jnp.sin(angle)[:, :, None, :]                                         # [B, L, 1, Dh/2]
  cos = jnp.cos(angle)[:, :, None, :]
  x1, x2 = jnp.split(x.astype(jnp.float32), 2, axis=-1)
  rotated = jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)
  return rotated.astype(x.dtype)
