"""`flan plan`: the memory plan of a config on a mesh of stand-in devices."""

from flan import cli
from flan.cli import plan
from flan.model import presets


def test_plan_prints_per_device_memory_and_the_verdict(capsys):
  code = cli.main(["plan", "--gin_file=models/tiny.gin", "--gin_file=runs/train.gin",
                   "--mesh=2,2,1", "--accelerator=tpu-v3",
                   "--gin.trainer.train.inputs_length=96", "--gin.trainer.train.targets_length=32"])
  out, err = capsys.readouterr()
  assert code == 0, err
  assert "mesh (data, fsdp, model) = (2, 2, 1); compiled all 2 layers" in out
  assert "per device: parameters" in out and "tpu-v3: 16 GiB per device -> fits" in out


def test_shard_bytes_counts_one_device_share():
  import jax
  import numpy as np
  from jax.sharding import NamedSharding, PartitionSpec
  from flan import sharding
  mesh = sharding.make_mesh((1, 1, 1))
  leaf = jax.ShapeDtypeStruct((8, 4), np.float32)
  assert plan.shard_bytes([leaf], [NamedSharding(mesh, PartitionSpec())]) == 8 * 4 * 4
  assert presets["tiny"].num_params() > 0


def test_bad_mesh_is_a_clear_error(capsys):
  code = cli.main(["plan", "--gin_file=models/tiny.gin", "--gin_file=runs/train.gin",
                   "--mesh=2,2"])
  assert code == 2 and "--mesh must be three positive sizes" in capsys.readouterr().err


def test_dims_that_do_not_divide_are_replicated():
  from types import SimpleNamespace
  from jax.sharding import PartitionSpec as P
  from flan import sharding
  mesh = SimpleNamespace(shape={"data": 1, "fsdp": 2, "model": 4})
  # 2 key/value heads cannot split 4 ways: that dim is replicated, the rest stays split.
  assert sharding.divisible_spec(P("fsdp", "model", None), (64, 2, 16), mesh) == \
      P("fsdp", None, None)
  assert sharding.divisible_spec(P("fsdp", "model", None), (64, 8, 16), mesh) == \
      P("fsdp", "model", None)
  assert sharding.divisible_spec(P(("data", "fsdp"), None), (6, 3), mesh) == \
      P(("data", "fsdp"), None)
  assert sharding.divisible_spec(P(("data", "fsdp"), None), (5, 3), mesh) == P(None, None)
