"""The TPU compiler compiles flan's programs for TPU slices, on this CPU-only machine.

libtpu (the `test` extra's jax[tpu]) gives compile-only devices of a slice
(flan/cli/topology.py); nothing runs. Each program must compile with splash attention selected
(a Mosaic `tpu_custom_call` in the program) and fit one device's HBM. A CPU-only op or a
sharding that does not divide fails here, not on a rented pod.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from flan.cli import plan, topology

pytestmark = pytest.mark.skipif(not topology.libtpu_installed(),
                                reason="needs libtpu: pip install -e '.[test]'")

# Tiny, bf16, splash attention; 4 heads over 2 key/value heads.
CONFIG = dict(vocab_size=2048, num_layers=2, d_model=128, num_heads=4, num_kv_heads=2,
              head_dim=32, d_ff=256, dtype="bfloat16", attention_kernel="splash",
              matmul_kernel="xla")
# A run like runs/train.gin, small: 8 rows of 96 + 32 tokens.
ARGS = dict(batch_size=8, inputs_length=96, targets_length=32, learning_rate=1e-3,
            microbatches=1, z_loss=1e-4, loss_normalization="tokens", loss_capacity=0.5,
            on_nonfinite="stop")


def tpu_mesh(name, shape):
  from flan import sharding
  return sharding.make_mesh(shape, topology.devices(topology.parse(name)))


def check(compiled, name):
  """Splash is in the program, and the program fits one device of slice `name`."""
  figures = plan.compiled_figures(compiled)
  assert plan.peak_bytes(dict(figures, params=0, optimizer=0)) < \
      topology.parse(name).generation.hbm_bytes
  assert figures["arguments"] > 0
  return figures


@pytest.mark.parametrize("name,shape,scan", [("v3-8", (2, 2, 2), True),
                                             ("v5e-8", (1, 2, 4), False)])
def test_train_step_compiles_with_splash(name, shape, scan):
  from flan import sharding
  from flan.model import ModelConfig
  from flan.train import optimizer
  config = ModelConfig(**CONFIG, scan_layers=scan, remat="full" if scan else "none")
  lowered, _, _ = plan.lower_step(config, dict(ARGS, optimizer=optimizer.adafactor),
                                  tpu_mesh(name, shape), sharding.DEFAULT_RULES)
  compiled = lowered.compile()
  assert "tpu_custom_call" in compiled.as_text()  # the Pallas kernel, not XLA's attention
  assert check(compiled, name)["seconds"] > 0     # the compiler's estimate, for the forecast


@pytest.mark.parametrize("name,shape", [("v3-8", (2, 2, 2)), ("v5e-8", (1, 2, 4))])
def test_scoring_and_decoding_compile(name, shape):
  """Rank-classification scoring and greedy decoding (prefill + the KV-cached step loop) with
  parameters sharded as in training and a batch split over (data, fsdp)."""
  import jax
  import jax.numpy as jnp
  from jax.sharding import NamedSharding, PartitionSpec as P
  from flan import sharding
  from flan.eval import decoding, scoring
  from flan.model import ModelConfig
  from flan.train import optimizer, step
  config = ModelConfig(**CONFIG)
  mesh = tpu_mesh(name, shape)
  graphdef, _, _, abstract, shardings = step.plan_state(
      config, lambda axes: optimizer.adafactor(1e-3, axes=axes), 0, mesh, sharding.DEFAULT_RULES)
  params = jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
                        abstract["params"], shardings["params"])
  rows = NamedSharding(mesh, P(("data", "fsdp")))
  ints = lambda length: jax.ShapeDtypeStruct((8, length), jnp.int32, sharding=rows)
  scores = scoring._option_token_scores.lower(graphdef, params, ints(96), ints(96), ints(96),
                                              ints(32), ints(32), ints(32), ints(32)).compile()
  check(scores, name)
  greedy = decoding._greedy.lower(graphdef, params, ints(96), ints(96), ints(96), 16, 1).compile()
  check(greedy, name)


def test_demo_model_plans_on_v4_with_auto_kernels():
  """`flan plan --topology v4-8` on the demo recipe: auto picks splash and plain matmuls."""
  out = plan.main(["demo.gin"], [], None, None, topology="v4-8", forecast=False)
  assert "attention splash, matmul xla" in out
  assert "target: v4-8 (4 x TPU v4, topology v4:2x2x1)" in out
  assert "v4 core: 32 GiB per device -> fits" in out


def test_slice_names():
  assert topology.parse("v3-128").topology == "v3:8x8"
  assert topology.parse("v4-64").topology == "v4:2x4x4"
  assert topology.parse("v5e-256").topology == "v5e:16x16"
  assert topology.parse("v5p-128").topology == "v5p:4x4x4"
  assert topology.parse("v5e-8").topology == "v5e:2x4"
  assert topology.parse("v4-8").topology == "v4:2x2x1"
  two = topology.parse("2xv5e-16")
  assert (two.topology, two.num_slices, two.num_devices) == ("v5e:4x4", 2, 32)
  assert topology.parse("v3-128").num_devices == 128
  assert topology.parse("v5p-128").num_devices == 64
  assert len(topology.devices(topology.parse("v4-16"))) == 8
  for bad, words in [("v3_128", "not a Cloud TPU slice name"), ("v9-8", "unknown TPU generation"),
                     ("v4-12", "not a power of two"), ("v3-1", "2 per chip")]:
    with pytest.raises(topology.TopologyError, match=words):
      topology.parse(bad)
  assert np.prod(topology.chip_layout(128, 3)) == 128
