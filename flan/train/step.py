"""The train step: a pure function of (graphdef, state, batch) under `jax.jit`.

    state = {"step": int32 [], "params": nnx.State, "opt_state": optax state}
    batch = SeqIO decoder features, int32 [B, L]:
      decoder_input_tokens, decoder_target_tokens, decoder_loss_weights,
      decoder_segment_ids, decoder_positions
    new_state, metrics = train_step(state, batch)

The model sees `decoder_input_tokens` (BOS = 0 at the start of each packed segment) with the
segment ids and per-segment positions; the loss covers the tokens whose weight is 1 (targets and
the target EOS).
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from flan.model import forward_features
from flan.train import loss as loss_lib

State = dict[str, Any]


def init_state(model: nnx.Module, optimizer: optax.GradientTransformation) -> tuple[Any, State]:
  """Splits a model into its graphdef and a train state holding params and optimizer state."""
  graphdef, params = nnx.split(model, nnx.Param)
  return graphdef, {"step": jnp.zeros((), jnp.int32), "params": params,
                    "opt_state": optimizer.init(params)}


def model_logits(graphdef, params, batch) -> jax.Array:
  """Logits [B, L, V] float32 for a batch of decoder features."""
  return forward_features(nnx.merge(graphdef, params), batch)


def make_train_step(graphdef, optimizer: optax.GradientTransformation, *, z_loss: float = 0.0,
                    normalization: str = "tokens", constant: float = 1.0,
                    donate: bool = True) -> Callable[[State, dict], tuple[State, dict]]:
  """A jitted `train_step(state, batch) -> (state, metrics)`."""

  def loss_fn(params, batch):
    logits = model_logits(graphdef, params, batch)
    numerator, denom, metrics = loss_lib.loss_terms(
        logits, batch["decoder_target_tokens"], batch["decoder_loss_weights"], z_loss=z_loss,
        normalization=normalization, constant=constant)
    return numerator / denom, metrics

  def train_step(state: State, batch: dict) -> tuple[State, dict]:
    (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(state["params"], batch)
    updates, opt_state = optimizer.update(grads, state["opt_state"], state["params"])
    params = optax.apply_updates(state["params"], updates)
    metrics = dict(metrics, loss=loss, grad_norm=optax.global_norm(grads))
    new_state = {"step": state["step"] + 1, "params": params, "opt_state": opt_state}
    return new_state, metrics

  return jax.jit(train_step, donate_argnums=(0,) if donate else ())


@functools.partial(jax.jit, static_argnums=(0,))
def eval_logits(graphdef, params, batch):
  return model_logits(graphdef, params, batch)
