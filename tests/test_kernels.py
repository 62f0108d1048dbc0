"""Attention kernels per backend agree with the reference attention (CPU; splash interpreted)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flan.model import ModelConfig, kernels
from flan.model.attention import attention_mask

# Two packed rows of 128: several segments, padding at the end of the second row.
SEGMENTS = np.array([[1] * 40 + [2] * 50 + [3] * 38,
                     [1] * 100 + [2] * 20 + [0] * 8], np.int32)


def inputs(heads=4, kv_heads=2, dim=16, seed=0):
  batch, length = SEGMENTS.shape
  kq, kk, kv = jax.random.split(jax.random.key(seed), 3)
  q = jax.random.normal(kq, (batch, length, heads, dim)) * dim ** -0.5
  k = jax.random.normal(kk, (batch, length, kv_heads, dim))
  v = jax.random.normal(kv, (batch, length, kv_heads, dim))
  return q, k, v


def real(x):
  """The rows of real (nonzero-segment) queries."""
  return np.asarray(x)[SEGMENTS != 0]


def test_splash_matches_reference_forward_and_gradients():
  """Grouped queries (4 heads over 2 key/value heads); the interpreter takes ~15 s."""
  q, k, v = inputs(heads=4, kv_heads=2)
  segments = jnp.asarray(SEGMENTS)
  mask = attention_mask(segments)
  weight = jax.random.normal(jax.random.key(1), q.shape) * (segments != 0)[..., None, None]
  loss = lambda f: lambda q, k, v: jnp.sum(f(q, k, v) * weight)
  reference = lambda q, k, v: kernels.xla_attention(q, k, v, mask)
  splash = lambda q, k, v: kernels.splash_attention(q, k, v, segments, interpret=True)
  np.testing.assert_allclose(real(jax.jit(splash)(q, k, v)), real(reference(q, k, v)),
                             atol=2e-5)
  expected = jax.grad(loss(reference), argnums=(0, 1, 2))(q, k, v)
  got = jax.jit(jax.grad(loss(splash), argnums=(0, 1, 2)))(q, k, v)
  for name, e, g in zip("qkv", expected, got):
    np.testing.assert_allclose(np.asarray(g), np.asarray(e), atol=5e-5, err_msg=name)


def test_reference_equals_the_cpu_core_on_real_rows():
  from flan.model import attention_core
  q, k, v = inputs()
  mask = attention_mask(jnp.asarray(SEGMENTS))
  bias = jnp.where(mask, 0.0, -1e9)
  qh = q.reshape(2, 128, 2, 2, 16).transpose(0, 2, 3, 1, 4)
  core = attention_core.attend(qh, k.transpose(0, 2, 1, 3), v.transpose(0, 2, 1, 3), bias)
  core = core.transpose(0, 3, 1, 2, 4).reshape(q.shape)
  np.testing.assert_allclose(real(core), real(kernels.xla_attention(q, k, v, mask)), atol=2e-5)


def test_auto_picks_by_backend():
  config = ModelConfig()
  assert kernels.resolve(config, "cpu").attention_kernel == "cpu"
  assert kernels.resolve(config, "cpu").matmul_kernel == "lowp"
  assert (kernels.resolve(config, "tpu").attention_kernel,
          kernels.resolve(config, "tpu").matmul_kernel) == ("splash", "xla")
  assert kernels.resolve(config, "cuda").attention_kernel == "xla"
  fixed = dataclasses.replace(config, attention_kernel="xla")
  assert kernels.resolve(fixed, "tpu").attention_kernel == "xla"
  with pytest.raises(ValueError, match="attention_kernel='flash'"):
    ModelConfig(attention_kernel="flash")


@pytest.mark.slow
def test_every_kernel_gives_the_same_model_loss():
  """The tiny model's logits on a packed batch: splash attention (interpreted) with plain
  matmuls equals the CPU picks (attention_core, lowp) on real positions."""
  from flax import nnx
  from flan.model import Decoder, presets
  tokens = jnp.asarray(np.arange(256).reshape(2, 128) % 97, jnp.int32)
  segments = jnp.asarray(SEGMENTS)
  positions = jnp.asarray(np.concatenate([np.arange(40), np.arange(50), np.arange(38),
                                          np.arange(100), np.arange(20), np.arange(8)]
                                         ).reshape(2, 128), jnp.int32)
  logits = {}
  for attention, matmul in [("cpu", "lowp"), ("splash", "xla")]:
    config = dataclasses.replace(presets["tiny"], attention_kernel=attention,
                                 matmul_kernel=matmul)
    graphdef, params = nnx.split(Decoder(config, rngs=nnx.Rngs(0)))
    forward = jax.jit(lambda p: nnx.merge(graphdef, p)(tokens, segments, positions))
    logits[attention] = real(forward(params))
  np.testing.assert_allclose(logits["splash"], logits["cpu"], atol=2e-4)


def test_splash_config_falls_back_to_xla_on_lengths_it_cannot_tile():
  """A sequence of 96 (not a multiple of 128) with attention_kernel "splash" runs the reference
  attention from the segment ids, so its logits equal the CPU kernel's."""
  from flax import nnx
  from flan.model import Decoder, presets
  segments = jnp.asarray(SEGMENTS[:, :96])
  tokens = jnp.asarray(np.arange(192).reshape(2, 96) % 89, jnp.int32)
  positions = jnp.asarray(np.tile(np.arange(96), (2, 1)), jnp.int32)
  out = {}
  for attention in ("cpu", "splash"):
    config = dataclasses.replace(presets["tiny"], attention_kernel=attention, matmul_kernel="xla")
    out[attention] = np.asarray(Decoder(config, rngs=nnx.Rngs(0))(tokens, segments, positions))
  np.testing.assert_allclose(out["splash"][SEGMENTS[:, :96] != 0],
                             out["cpu"][SEGMENTS[:, :96] != 0], atol=2e-4)
