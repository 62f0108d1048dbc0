"""Tests for flan.model: shapes, parameter counts, packing, causality, masking, axis names (remat
and scanned layers: tests/test_scan.py)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from flan.model import Decoder, ModelConfig, forward_features, presets
from flan.model.attention import attention_mask

TINY = presets["tiny"]
LENGTH = 16


@pytest.fixture(scope="module")
def model():
  return Decoder(TINY, rngs=nnx.Rngs(0))


def unpacked(tokens: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """One sequence right-padded to LENGTH: (tokens, segment_ids, positions), each int32 [1, L]."""
  n = len(tokens)
  return (np.array([tokens + [0] * (LENGTH - n)], np.int32),
          np.array([[1] * n + [0] * (LENGTH - n)], np.int32),
          np.arange(LENGTH, dtype=np.int32)[None])


def random_tokens(seed: int, n: int) -> list[int]:
  return np.random.default_rng(seed).integers(1, TINY.vocab_size, n).tolist()


def test_output_shape_and_dtype(model):
  tokens = jnp.ones((3, LENGTH), jnp.int32)
  segment_ids = jnp.ones((3, LENGTH), jnp.int32)
  positions = jnp.broadcast_to(jnp.arange(LENGTH, dtype=jnp.int32), (3, LENGTH))
  logits = model(tokens, segment_ids, positions)
  assert logits.shape == (3, LENGTH, TINY.vocab_size)
  assert logits.dtype == jnp.float32


def test_bfloat16_compute_returns_float32_logits():
  config = dataclasses.replace(TINY, dtype="bfloat16")
  float32_model = Decoder(TINY, rngs=nnx.Rngs(0))
  bfloat16_model = Decoder(config, rngs=nnx.Rngs(0))
  args = unpacked(random_tokens(0, 9))
  low = bfloat16_model(*args)
  high = float32_model(*args)
  assert low.dtype == jnp.float32
  assert jax.tree.leaves(nnx.state(bfloat16_model, nnx.Param))[0].dtype == jnp.float32
  np.testing.assert_allclose(low[0, :9], high[0, :9], atol=0.15)


@pytest.mark.parametrize("tie_embeddings", [True, False])
def test_parameter_count_matches_formula(tie_embeddings):
  config = dataclasses.replace(TINY, tie_embeddings=tie_embeddings)
  model = Decoder(config, rngs=nnx.Rngs(0))
  counted = sum(x.size for x in jax.tree.leaves(nnx.state(model, nnx.Param)))
  assert counted == config.num_params()
  assert counted == 254_272 + (0 if tie_embeddings else 64 * 2048)


def test_matmul_params_and_flops():
  # Tiny: per layer q 64*4*16 + k,v 2*64*2*16 + o 4*16*64 + mlp 3*64*256 = 61,440; output 64*2048.
  assert TINY.matmul_params() == 2 * 61_440 + 64 * 2048
  untied = dataclasses.replace(TINY, tie_embeddings=False)
  assert untied.matmul_params() == TINY.matmul_params()  # The lookup embedding doesn't count.
  assert TINY.flops_per_token(128) == 6 * TINY.matmul_params() + 12 * 2 * 4 * 16 * 128


def test_presets_sizes():
  assert 100_000 <= presets["tiny"].num_params() <= 300_000
  assert 1_000_000 <= presets["demo"].num_params() <= 3_000_000
  assert 45_000_000 <= presets["small"].num_params() <= 55_000_000


@pytest.mark.parametrize("name", sorted(presets))
def test_preset_equals_its_gin_file(name):
  """configs/models/<name>.gin builds exactly presets[name] (the CLI's model is the tests')."""
  import gin

  from flan.cli import gin_config
  from flan.model import config
  gin_config.parse([f"models/{name}.gin"], [])
  try:
    assert gin.get_configurable(config.ModelConfig)() == presets[name]
  finally:
    gin.clear_config()


def test_config_validation():
  with pytest.raises(ValueError):
    dataclasses.replace(TINY, num_heads=4, num_kv_heads=3)
  with pytest.raises(ValueError):
    dataclasses.replace(TINY, remat="sometimes")


def test_attention_mask_exact():
  mask = attention_mask(jnp.array([[1, 1, 2, 2, 0]]))
  expected = np.array([[1, 0, 0, 0, 0],
                       [1, 1, 0, 0, 0],
                       [0, 0, 1, 0, 0],
                       [0, 0, 1, 1, 0],
                       [0, 0, 0, 0, 0]], bool)
  np.testing.assert_array_equal(mask[0], expected)


def test_packed_equals_unpacked(model):
  first, second = random_tokens(1, 5), random_tokens(2, 7)
  alone_first = model(*unpacked(first))[0]
  alone_second = model(*unpacked(second))[0]
  tokens = np.array([first + second + [0] * 4], np.int32)
  segment_ids = np.array([[1] * 5 + [2] * 7 + [0] * 4], np.int32)
  positions = np.array([list(range(5)) + list(range(7)) + [0] * 4], np.int32)
  packed = model(tokens, segment_ids, positions)[0]
  np.testing.assert_allclose(packed[:5], alone_first[:5], atol=1e-5)
  np.testing.assert_allclose(packed[5:12], alone_second[:7], atol=1e-5)
  # Control: as one segment, the second sequence attends to the first and its logits change.
  one_segment = np.array([[1] * 12 + [0] * 4], np.int32)
  merged = model(tokens, one_segment, positions)[0]
  assert np.abs(merged[5:12] - alone_second[:7]).max() > 1e-3


def test_positions_feed_rope(model):
  tokens, segment_ids, positions = unpacked(random_tokens(8, 8))
  reordered = positions.copy()
  reordered[0, :8] = [0, 2, 1, 3, 4, 5, 6, 7]
  changed = model(tokens, segment_ids, reordered)[0]
  assert np.abs(changed[:8] - model(tokens, segment_ids, positions)[0, :8]).max() > 1e-3


def test_causality(model):
  tokens, segment_ids, positions = unpacked(random_tokens(3, LENGTH))
  before = model(tokens, segment_ids, positions)[0]
  t = 9
  changed = tokens.copy()
  changed[0, t] = (changed[0, t] % (TINY.vocab_size - 1)) + 1
  after = model(changed, segment_ids, positions)[0]
  np.testing.assert_array_equal(after[:t], before[:t])
  assert np.abs(after[t:] - before[t:]).max() > 1e-3


def test_padding_rows_are_finite(model):
  tokens, segment_ids, positions = unpacked(random_tokens(4, 3))
  logits = model(tokens, segment_ids, positions)
  assert np.isfinite(np.asarray(logits)).all()
  all_padding = model(np.zeros((1, LENGTH), np.int32), np.zeros((1, LENGTH), np.int32),
                      np.zeros((1, LENGTH), np.int32))
  assert np.isfinite(np.asarray(all_padding)).all()


@pytest.mark.parametrize("tie_embeddings", [True, False])
def test_every_parameter_has_logical_axis_names(tie_embeddings):
  model = Decoder(dataclasses.replace(TINY, tie_embeddings=tie_embeddings), rngs=nnx.Rngs(0))
  state = nnx.state(model, nnx.Param)
  specs = nnx.get_partition_spec(state)
  names = {"vocab", "embed", "heads", "kv_heads", "kv", "mlp"}
  flat_specs = dict(nnx.to_flat_state(specs))
  flat_values = dict(nnx.to_flat_state(state))
  assert flat_specs.keys() == flat_values.keys()
  for path, spec in flat_specs.items():
    spec = spec.get_value()
    value = flat_values[path].get_value()
    assert len(spec) == value.ndim, path
    assert set(spec) <= names, (path, spec)
  assert flat_specs[("embed", "embedding")].get_value() == jax.sharding.PartitionSpec(
      "vocab", "embed")
  assert flat_specs[("blocks", 0, "attention", "query")].get_value() == (
      jax.sharding.PartitionSpec("embed", "heads", "kv"))
  if not tie_embeddings:
    assert flat_specs[("unembed",)].get_value() == jax.sharding.PartitionSpec("embed", "vocab")


def test_forward_features_packed_and_unpacked(model):
  tokens, segment_ids, positions = unpacked(random_tokens(6, 6))
  targets = np.where(segment_ids > 0, tokens + 1, 0).astype(np.int32)
  expected = model(tokens, segment_ids, positions)
  packed_batch = {"decoder_input_tokens": tokens, "decoder_target_tokens": targets,
                  "decoder_segment_ids": segment_ids, "decoder_positions": positions}
  unpacked_batch = {"decoder_input_tokens": tokens, "decoder_target_tokens": targets}
  np.testing.assert_array_equal(forward_features(model, packed_batch), expected)
  np.testing.assert_array_equal(forward_features(model, unpacked_batch), expected)


def test_jit_and_abstract_init():
  abstract = nnx.eval_shape(lambda: Decoder(TINY, rngs=nnx.Rngs(0)))
  shapes = [x.shape for x in jax.tree.leaves(nnx.state(abstract, nnx.Param))]
  assert sum(int(np.prod(s)) for s in shapes) == TINY.num_params()
  model = Decoder(TINY, rngs=nnx.Rngs(0))
  args = unpacked(random_tokens(7, 4))
  np.testing.assert_allclose(nnx.jit(lambda m, *a: m(*a))(model, *args), model(*args),
                             atol=1e-5)
