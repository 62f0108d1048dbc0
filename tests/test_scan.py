"""Scanned layers and remat policies compute the unscanned, non-rematerialized model exactly:
the same logits, gradients, Adafactor updates and cached decoding from the same parameters."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from flan.model import Decoder, presets
from flan.model.config import REMAT_POLICIES
from flan.train import optimizer as optimizer_lib
from flan.train import step as step_lib
from train_helpers import to_scanned, to_unscanned, train_state

TINY = dataclasses.replace(presets["tiny"], num_layers=3)
ROWS, LENGTH = 2, 12


def batch():
  """Two rows, the second packing two segments; loss on the second half of every segment."""
  rng = np.random.default_rng(0)
  targets = rng.integers(2, TINY.vocab_size, (ROWS, LENGTH)).astype(np.int32)
  segment_ids = np.array([[1] * 10 + [0] * 2, [1] * 5 + [2] * 7], np.int32)
  positions = np.array([list(range(10)) + [0, 0], list(range(5)) + list(range(7))], np.int32)
  inputs = np.where(positions == 0, 0, np.roll(targets, 1, axis=1)).astype(np.int32)
  weights = ((positions >= 2) & (segment_ids > 0)).astype(np.int32)
  return {"decoder_input_tokens": inputs, "decoder_target_tokens": targets,
          "decoder_loss_weights": weights, "decoder_segment_ids": segment_ids,
          "decoder_positions": positions}


def model_args():
  b = batch()
  return b["decoder_input_tokens"], b["decoder_segment_ids"], b["decoder_positions"]


def pair(base=TINY, **changes):
  """(unscanned model, scanned model with the same parameters stacked)."""
  plain = Decoder(base, rngs=nnx.Rngs(0))
  scanned = Decoder(dataclasses.replace(base, scan_layers=True, **changes), rngs=nnx.Rngs(1))
  pure = to_scanned(nnx.state(plain, nnx.Param).to_pure_dict())
  state = nnx.state(scanned, nnx.Param)
  state.replace_by_pure_dict(pure)
  nnx.update(scanned, state)
  return plain, scanned


def mean_square_logits(model):
  return jnp.mean(model(*model_args()) ** 2)


def test_scanned_parameters_are_stacked_with_a_layers_axis():
  model = Decoder(dataclasses.replace(TINY, scan_layers=True), rngs=nnx.Rngs(0))
  state = nnx.state(model, nnx.Param)
  assert set(state.keys()) == {"embed", "blocks_scanned", "final_norm"}
  query = state["blocks_scanned"]["attention"]["query"]
  assert query.shape == (3, 64, 4, 16)
  assert query.out_sharding == ("layers", "embed", "heads", "kv")
  assert state["blocks_scanned"]["mlp_norm"]["scale"].out_sharding == ("layers", "embed")
  assert sum(x.size for x in jax.tree.leaves(state)) == TINY.num_params()
  # Each layer is initialized from its own key: no two layers are equal.
  assert not np.allclose(query[...][0], query[...][1])


def test_layout_round_trip():
  plain = nnx.state(Decoder(TINY, rngs=nnx.Rngs(0)), nnx.Param).to_pure_dict()
  back = to_unscanned(to_scanned(plain))
  for a, b in zip(jax.tree.leaves(plain), jax.tree.leaves(back)):
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("remat", REMAT_POLICIES)
def test_scanned_matches_unscanned(remat):
  plain, scanned = pair(remat=remat)
  np.testing.assert_allclose(scanned(*model_args()), plain(*model_args()), rtol=1e-5, atol=1e-5)
  plain_grads = nnx.state(nnx.grad(mean_square_logits)(plain), nnx.Param).to_pure_dict()
  scanned_grads = nnx.state(nnx.grad(mean_square_logits)(scanned), nnx.Param).to_pure_dict()
  want = to_scanned(plain_grads)
  for a, b in zip(jax.tree.leaves(want), jax.tree.leaves(scanned_grads)):
    np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("remat", ["minimal", "dots", "full"])
def test_remat_policy_matches_none_unscanned(remat):
  plain = Decoder(TINY, rngs=nnx.Rngs(0))
  remat_model = Decoder(dataclasses.replace(TINY, remat=remat), rngs=nnx.Rngs(1))
  nnx.update(remat_model, nnx.state(plain))
  np.testing.assert_array_equal(remat_model(*model_args()), plain(*model_args()))
  grads = jax.tree.leaves(nnx.grad(mean_square_logits)(plain))
  remat_grads = jax.tree.leaves(nnx.grad(mean_square_logits)(remat_model))
  for a, b in zip(grads, remat_grads):
    np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-7)


def test_remat_policy_changes_what_is_saved():
  """The backward pass of `full` keeps fewer residuals than `none`: count them in the jaxpr."""
  def residuals(remat):
    model = Decoder(dataclasses.replace(TINY, remat=remat, scan_layers=True), rngs=nnx.Rngs(0))
    graphdef, params = nnx.split(model, nnx.Param)
    fn = lambda p: mean_square_logits(nnx.merge(graphdef, p))
    _, vjp = jax.vjp(fn, params)
    return sum(x.size for x in jax.tree.leaves(vjp) if hasattr(x, "size"))
  sizes = {r: residuals(r) for r in REMAT_POLICIES}
  assert sizes["full"] < sizes["minimal"] < sizes["none"]
  assert sizes["minimal"] <= sizes["dots"] <= sizes["none"]


def test_train_step_on_scanned_equals_unscanned():
  """One Adafactor step: per-layer clipping and parameter scale make the stacked update equal
  to the unscanned one, layer by layer."""
  def step(config, params=None):
    """(parameters before, after, metrics) of one step from a state built as the trainer does."""
    graphdef, tx, state = train_state(config, lambda axes: optimizer_lib.adafactor(0.01, axes=axes))
    if params is not None:
      state["params"].replace_by_pure_dict(params)
    before = jax.device_get(state["params"].to_pure_dict())
    train_step = step_lib.make_train_step(graphdef, tx, donate=False)
    new_state, metrics = train_step(state, batch())
    return before, jax.device_get(new_state["params"].to_pure_dict()), jax.device_get(metrics)

  plain_before, plain_params, plain_metrics = step(TINY)
  scanned_before, scanned_params, scanned_metrics = step(
      dataclasses.replace(TINY, scan_layers=True), to_scanned(plain_before))
  for a, b in zip(jax.tree.leaves(to_scanned(plain_before)), jax.tree.leaves(scanned_before)):
    np.testing.assert_array_equal(a, b)  # the same parameters, stacked
  np.testing.assert_allclose(scanned_metrics["loss"], plain_metrics["loss"], rtol=1e-6)
  want = to_scanned(plain_params)
  for a, b in zip(jax.tree.leaves(want), jax.tree.leaves(scanned_params)):
    np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


def gemma_like(global_every: int):
  """5 layers, a 3-token window on all but every `global_every`-th (Gemma 2: 2, Gemma 3: 6),
  so the scan takes 5 // P steps of P layers and 5 % P layers run after it."""
  return dataclasses.replace(TINY, num_layers=5, family="gemma3", sliding_window=3,
                             global_every=global_every, rope_local_theta=100.0, post_norms=True,
                             norm_plus_one=True, embed_scale=True, qk_norm=True,
                             attn_softcap=2.0)


@pytest.mark.parametrize("global_every", [2, 3])
def test_scanned_mixed_sliding_and_global_layers_match_unscanned(global_every):
  plain, scanned = pair(gemma_like(global_every), remat="full")
  want = plain(*model_args())
  np.testing.assert_allclose(scanned(*model_args()), want, rtol=1e-5, atol=1e-5)
  # (test_families: global_every changes the function, so a scan that gave every layer the
  # first layer's window would not match.)
  plain_grads = nnx.state(nnx.grad(mean_square_logits)(plain), nnx.Param).to_pure_dict()
  scanned_grads = nnx.state(nnx.grad(mean_square_logits)(scanned), nnx.Param).to_pure_dict()
  for a, b in zip(jax.tree.leaves(to_scanned(plain_grads)), jax.tree.leaves(scanned_grads)):
    np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("base", [TINY, gemma_like(3)], ids=["llama", "gemma"])
def test_scanned_extend_matches_full_forward(base):
  """Prefill 7 tokens into the cache, then 3 one at a time: the logits of the full pass."""
  plain, scanned = pair(base)
  tokens = np.random.default_rng(3).integers(2, TINY.vocab_size, (1, 10)).astype(np.int32)
  ones, positions = np.ones_like(tokens), np.arange(10, dtype=np.int32)[None]
  want = plain(tokens, ones, positions)
  cache = scanned.init_cache(batch_size=1, length=10)
  hidden, cache = scanned.extend(tokens[:, :7], ones[:, :7], positions[:, :7], cache)
  got = [scanned.output_logits(hidden)]
  for t in range(7, 10):
    hidden, cache = scanned.extend(tokens[:, t:t + 1], ones[:, :1], positions[:, t:t + 1], cache)
    got.append(scanned.output_logits(hidden))
  np.testing.assert_allclose(np.concatenate(got, axis=1), want, rtol=1e-5, atol=1e-5)
