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


@jax.custom_vjp
def log_z_and_target(logits: jax.Array, targets: jax.Array):
  """(log Z, the target's logit, the largest logit), float32 [B, L] each, of logits [B, L, V].

  The backward pass is one elementwise pass over [B, L, V]:
      d logits = g_log_z * softmax(logits) + g_target * one_hot(targets)
  where autodiff of logsumexp and take_along_axis would add a scatter into a zero [B, L, V]
  buffer and more passes over the logits (the largest of the step's activations). The largest
  logit (for accuracy) gets no gradient.
  """
  return _log_z_and_target(logits, targets)


def _log_z_and_target(logits, targets):
  largest = jnp.max(logits, axis=-1)
  log_z = largest + jnp.log(jnp.sum(jnp.exp(logits - largest[..., None]), axis=-1))
  target_logits = jnp.take_along_axis(logits, targets[..., None], axis=-1)[..., 0]
  return log_z, target_logits, largest


def _log_z_and_target_fwd(logits, targets):
  log_z, target_logits, largest = _log_z_and_target(logits, targets)
  return (log_z, target_logits, largest), (logits, targets, log_z)


def _log_z_and_target_bwd(residuals, cotangents):
  logits, targets, log_z = residuals
  g_log_z, g_target, _ = cotangents
  vocab = jax.lax.broadcasted_iota(jnp.int32, logits.shape, logits.ndim - 1)
  softmax = jnp.exp(logits - log_z[..., None])
  d_logits = g_log_z[..., None] * softmax + jnp.where(vocab == targets[..., None],
                                                      g_target[..., None], 0.0)
  return d_logits, None


log_z_and_target.defvjp(_log_z_and_target_fwd, _log_z_and_target_bwd)


def token_losses(logits: jax.Array, targets: jax.Array, z_loss: float = 0.0):
  """Per-token cross-entropy, log-partition and whether the target is the most likely token
  (its logit is the largest), float32 / float32 / bool [B, L]."""
  log_z, target_logits, largest = log_z_and_target(logits.astype(jnp.float32), targets)
  losses = log_z - target_logits
  if z_loss:
    losses = losses + z_loss * jnp.square(log_z)
  return losses, log_z, target_logits >= largest


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
               constant: float = 1.0, scale=None):
  """(numerator, denominator, metrics) of the weighted cross-entropy.

  scale: optional float32 [B, L] multiplying each token's loss in the numerator only (per-task
  loss scaling, flan/train/task_scaling.py); the denominator and the reported loss_sum stay
  those of the plain cross-entropy.
  """
  weights = weights.astype(jnp.float32)
  losses, log_z, correct = token_losses(logits, targets, z_loss)
  plain = losses - z_loss * jnp.square(log_z) if z_loss else losses
  correct = correct.astype(jnp.float32)
  num_tokens = jnp.sum(weights)
  metrics = {
      "loss_sum": jnp.sum(plain * weights),          # cross-entropy only, for per-token reporting
      "target_tokens": num_tokens,
      "correct_tokens": jnp.sum(correct * weights),
  }
  numerator_weights = weights if scale is None else weights * scale.astype(jnp.float32)
  return (jnp.sum(losses * numerator_weights), denominator(weights, normalization, constant),
          metrics)


def loss_positions(weights: jax.Array, capacity: int):
  """The first `capacity` loss-bearing positions of every row, to compute logits only there.

    weights [B, L] -> index int32 [B, C], valid bool [B, C], fits bool []

  For weights [[0, 1, 1, 0, 1, 0], [1, 0, 0, 0, 0, 0]] and capacity 4:
    index [[1, 2, 4, 0], [0, 1, 2, 3]]    loss positions first, in order, then the others
    valid [[T, T, T, F], [T, F, F, F]]
    fits  True                            (False when some row has more than C loss positions)
  """
  carries = weights > 0
  index = jnp.argsort(~carries, axis=1, stable=True)[:, :capacity].astype(jnp.int32)
  counts = jnp.sum(carries, axis=1)
  valid = jnp.arange(capacity)[None, :] < counts[:, None]
  return index, valid, jnp.all(counts <= capacity)
