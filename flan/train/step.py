"""The train step: a pure function of (graphdef, state, batch) under `jax.jit`.

    state = {"step": int32 [], "params": nnx.State, "opt_state": optax state}
    batch = SeqIO decoder features, int32 [B, L]:
      decoder_input_tokens, decoder_target_tokens, decoder_loss_weights,
      decoder_segment_ids, decoder_positions
      (optional) decoder_loss_scale, float32 [B, L]: per-token loss factors (task_scaling.py)
    new_state, metrics = train_step(state, batch)

The model sees `decoder_input_tokens` (BOS = 0 at the start of each packed segment) with the
segment ids and per-segment positions; the loss covers the tokens whose weight is 1 (targets and
the target EOS).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from flan import sharding
from flan.model import Decoder, forward_features, hidden_features
from flan.train import loss as loss_lib

State = dict[str, Any]
LOSS_SCALE = "decoder_loss_scale"  # optional float32 [B, L] batch feature: per-token loss factor


def plan_state(config, optimizer_fn, seed: int, mesh, rules):
  """(graphdef, optimizer, make_state, abstract state, shardings), allocating nothing.

  The model is traced abstractly to read its logical axes; `make_state` builds the real state.
  """
  abstract = nnx.eval_shape(lambda: Decoder(config, rngs=nnx.Rngs(seed)))
  graphdef, abstract_params = nnx.split(abstract, nnx.Param)
  axes = nnx.get_partition_spec(abstract_params)
  optimizer = optimizer_fn(axes)

  def make_state():
    params = nnx.state(Decoder(config, rngs=nnx.Rngs(seed)), nnx.Param)
    return {"step": jnp.zeros((), jnp.int32), "params": params,
            "opt_state": optimizer.init(params)}

  abstract_state = jax.eval_shape(make_state)
  param_shardings = sharding.mesh_shardings(axes, mesh, rules, abstract_state["params"])
  shardings = sharding.state_shardings(abstract_state, param_shardings, mesh)
  return graphdef, optimizer, make_state, abstract_state, shardings


def build_state(config, optimizer_fn, seed: int, mesh, rules):
  """(graphdef, optimizer, state, state shardings): the state created already sharded, under
  jit with the mesh shardings as outputs (no host holds the whole model)."""
  graphdef, optimizer, make_state, _, shardings = plan_state(config, optimizer_fn, seed, mesh,
                                                              rules)
  return graphdef, optimizer, sharding.init_sharded(make_state, shardings), shardings


def model_logits(graphdef, params, batch) -> jax.Array:
  """Logits [B, L, V] float32 for a batch of decoder features."""
  return forward_features(nnx.merge(graphdef, params), batch)


def make_train_step(graphdef, optimizer: optax.GradientTransformation, *, z_loss: float = 0.0,
                    normalization: str = "tokens", constant: float = 1.0, microbatches: int = 1,
                    donate: bool = True, skip_nonfinite: bool = False, state_shardings=None,
                    batch_sharding=None, rules=None,
                    loss_capacity: float | None = None) -> Callable[[State, dict], tuple[State, dict]]:
  """A jitted `train_step(state, batch) -> (state, metrics)`.

  With `microbatches` > 1 the batch is split along its rows and the gradient of the summed loss
  is accumulated in a `lax.scan`; the normalizer is computed once from the whole batch, so
  every normalization mode gives the same update as one big batch (T5X divides per microbatch).
  With shardings (flan/sharding.py) the step is compiled for the mesh: the state stays
  where it is (donated), the batch arrives split over the batch axes, activations are pinned by
  their logical names through `rules` (default sharding.DEFAULT_RULES; see
  flan/sharding.py) and gradients are placed like the parameters.

  With `loss_capacity` c (0 < c <= 1) the output projection and the softmax over the vocabulary
  run only at the first ceil(c * L) loss-bearing positions of each row (loss.loss_positions):
  in FLAN batches most positions are inputs, whose logits no loss uses. A batch with a row of
  more loss positions takes the full projection instead (both are compiled; `lax.cond` picks),
  so the loss and gradients are those of the full computation either way.
  """
  def terms(model, hidden, targets, weights, scale):
    numerator, _, metrics = loss_lib.loss_terms(
        model.output_logits(hidden), targets, weights, z_loss=z_loss,
        normalization=normalization, constant=constant, scale=scale)
    return numerator, metrics

  def numerator_fn(params, batch):
    model = nnx.merge(graphdef, params)
    hidden = hidden_features(model, batch)                                   # [B, L, D]
    targets, weights = batch["decoder_target_tokens"], batch["decoder_loss_weights"]
    scale = batch.get(LOSS_SCALE)
    if loss_capacity is None:
      return terms(model, hidden, targets, weights, scale)
    capacity = min(targets.shape[1], math.ceil(loss_capacity * targets.shape[1]))
    index, valid, fits = loss_lib.loss_positions(weights, capacity)        # [B, C]

    def at_loss_positions(hidden):
      take = lambda x: jnp.take_along_axis(x, index.reshape(index.shape + (1,) * (x.ndim - 2)),
                                           axis=1)
      return terms(model, take(hidden), take(targets), take(weights) * valid,
                   None if scale is None else take(scale))

    return jax.lax.cond(fits, at_loss_positions,
                        lambda hidden: terms(model, hidden, targets, weights, scale), hidden)

  grad_fn = jax.grad(numerator_fn, has_aux=True)

  def accumulate(params, batch):
    if microbatches == 1:
      return grad_fn(params, batch)
    # Microbatch m holds rows m, m + M, m + 2M, ...: a slice of every device's rows, so the
    # split needs no communication when the rows are sharded over the devices.
    split = jax.tree.map(lambda x: x.reshape(
        (x.shape[0] // microbatches, microbatches) + x.shape[1:]).swapaxes(0, 1), batch)

    def body(carry, micro):
      grads, metrics = grad_fn(params, micro)
      return jax.tree.map(jnp.add, carry, (grads, metrics)), None

    zeros = jax.tree.map(jnp.zeros_like, jax.eval_shape(grad_fn, params, jax.tree.map(
        lambda x: x[0], split)))
    (grads, metrics), _ = jax.lax.scan(body, zeros, split)
    return grads, metrics

  def train_step(state: State, batch: dict) -> tuple[State, dict]:
    if state_shardings is None:
      return update(state, batch)
    mesh = jax.tree.leaves(state_shardings)[0].mesh
    with sharding.activation_sharding(mesh, rules or sharding.DEFAULT_RULES):
      return update(state, batch)

  def update(state: State, batch: dict) -> tuple[State, dict]:
    denom = loss_lib.denominator(batch["decoder_loss_weights"], normalization, constant)
    grads, metrics = accumulate(state["params"], batch)
    grads = jax.tree.map(lambda g: g / denom, grads)
    if state_shardings is not None:
      grads = jax.lax.with_sharding_constraint(grads, state_shardings["params"])
    updates, opt_state = optimizer.update(grads, state["opt_state"], state["params"])
    params = optax.apply_updates(state["params"], updates)
    loss, grad_norm = metrics["loss_sum"] / denom, optax.global_norm(grads)
    finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
    if skip_nonfinite:  # keep the old parameters and statistics for a non-finite step
      keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(finite, a, b), new, old)
      params, opt_state = keep(params, state["params"]), keep(opt_state, state["opt_state"])
    metrics = dict(metrics, loss=loss, grad_norm=grad_norm, finite=finite)
    new_state = {"step": state["step"] + 1, "params": params, "opt_state": opt_state}
    return new_state, metrics

  donate_argnums = (0,) if donate else ()
  if state_shardings is None:
    return jax.jit(train_step, donate_argnums=donate_argnums)
  return jax.jit(train_step, donate_argnums=donate_argnums,
                 in_shardings=(state_shardings, batch_sharding),
                 out_shardings=(state_shardings, None))
