"""Optimizers and learning-rate schedules (gin binds these; the library calls them plainly).

T5X's Adafactor: decay rate 0.8, epsilon1 1e-30, epsilon2 1e-3 (parameter scale floor), update
clipping 1.0, factored second moments for dims >= 128, no momentum, updates scaled by the
parameter's RMS. The FLAN recipe uses a constant learning rate of 3e-5.
"""

from __future__ import annotations

import jax.numpy as jnp
import optax

from flan.train.adafactor import logical_adafactor


def warmup_rsqrt_schedule(learning_rate: float = 1e-2, warmup_steps: int = 100) -> optax.Schedule:
  """T5-style: linear warm-up, then learning_rate * sqrt(warmup / step)."""
  def schedule(step):
    step = jnp.asarray(step, jnp.float32) + 1.0
    return learning_rate * jnp.minimum(step / warmup_steps, jnp.sqrt(warmup_steps / step))
  return schedule


def adafactor(learning_rate: float | optax.Schedule = 3e-5, axes=None, decay_rate: float = 0.8,
              clipping_threshold: float | None = 1.0, min_dim_size_to_factor: int = 128,
              multiply_by_parameter_scale: bool = True, epsilon1: float = 1e-30,
              epsilon2: float = 1e-3) -> optax.GradientTransformation:
  """T5X's Adafactor: factored by the parameters' logical `axes` (see flan/train/adafactor.py)."""
  return logical_adafactor(
      learning_rate, axes, decay_rate=decay_rate, epsilon1=epsilon1, epsilon2=epsilon2,
      clipping_threshold=clipping_threshold, min_dim_size_to_factor=min_dim_size_to_factor,
      multiply_by_parameter_scale=multiply_by_parameter_scale)
