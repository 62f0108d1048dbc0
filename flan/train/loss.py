"""Weighted cross-entropy over target tokens, in float32, with an optional z-loss.

The loss is returned as a (numerator, denominator) pair so that gradient accumulation and
data-parallel reduction can sum both and divide once:

    logits  [B, L, V] float32,  targets [B, L] int32,  weights [B, L] (1 on target tokens + EOS)
    numerator   = sum(weights * -log p(target))          (+ z_loss * sum(weights * logZ**2))
    denominator = normalizer(weights)                      see NORMALIZATIONS

Normalizations (named, logged with the run):
    "tokens"    per real target token: denominator = sum(weights)     (the default; what we report)
    "sequences" per packed sequence:   denominator = number of rows
    "sum"       no normalization:      denominator = 1
    "constant"  a fixed number of tokens (T5X's loss_normalizing_factor): denominator = constant
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

NORMALIZATIONS = ("tokens", "sequences", "sum", "constant")


def token_losses(logits: jax.Array, targets: jax.Array, z_loss: float = 0.0):
  """Per-token cross-entropy and log-partition, both float32 [B, L]."""
  logits = logits.astype(jnp.float32)
  log_z = jax.nn.logsumexp(logits, axis=-1)
  target_logits = jnp.take_along_axis(logits, targets[..., None], axis=-1)[..., 0]
  losses = log_z - target_logits
  if z_loss:
    losses = losses + z_loss * jnp.square(log_z)
  return losses, log_z


def denominator(weights: jax.Array, normalization: str = "tokens", constant: float = 1.0):
  """The normalizer of one batch (see module docstring)."""
  if normalization == "tokens":
    return jnp.sum(weights).astype(jnp.float32)
  if normalization == "sequences":
    return jnp.float32(weights.shape[0])
  if normalization == "sum":
    return jnp.float32(1.0)
  if normalization == "constant":
    return jnp.float32(constant)
  raise ValueError(f"unknown loss normalization {normalization!r}; choose from {NORMALIZATIONS}")


def loss_terms(logits, targets, weights, *, z_loss: float = 0.0, normalization: str = "tokens",
               constant: float = 1.0):
  """(numerator, denominator, metrics) of the weighted cross-entropy."""
  weights = weights.astype(jnp.float32)
  losses, _ = token_losses(logits, targets, z_loss)
  plain, _ = token_losses(logits, targets) if z_loss else (losses, None)
  correct = (jnp.argmax(logits, axis=-1) == targets).astype(jnp.float32)
  num_tokens = jnp.sum(weights)
  metrics = {
      "loss_sum": jnp.sum(plain * weights),          # cross-entropy only, for per-token reporting
      "target_tokens": num_tokens,
      "correct_tokens": jnp.sum(correct * weights),
  }
  return jnp.sum(losses * weights), denominator(weights, normalization, constant), metrics


def per_example_loss(logits, targets, weights, segment_ids):
  """Mean target-token loss of each packed segment: {segment id: loss} as arrays [B, S].

  Used by tests to check that packing changes nothing: the loss of an example is the same
  whether it sits alone in a row or packed with others.
  """
  losses, _ = token_losses(logits, targets)
  weights = weights.astype(jnp.float32)
  max_segments = int(segment_ids.max()) + 1
  one_hot = jax.nn.one_hot(segment_ids, max_segments, dtype=jnp.float32)  # [B, L, S]
  sums = jnp.einsum("bl,bls->bs", losses * weights, one_hot)
  counts = jnp.einsum("bl,bls->bs", weights, one_hot)
  return sums / jnp.maximum(counts, 1.0), counts
