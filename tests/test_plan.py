"""`flan plan`: the memory plan of a config on a mesh of stand-in devices."""

import pytest

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


def test_a_config_with_a_schedule_plans_and_prints_both_dtypes(capsys):
  """configs/demo.gin binds learning_rate to a schedule reference (issue 17 item 8)."""
  code = cli.main(["plan", "--gin_file=demo.gin", "--accelerator=h100",
                   "--gin.config.ModelConfig.dtype='bfloat16'"])
  out, err = capsys.readouterr()
  assert code == 0, err
  assert "parameters float32, compute bfloat16" in out
  assert "batch 16 x 128 tokens, 1 microbatch(es)" in out  # demo.gin's, not train()'s defaults
  assert "CPU compiler (estimate)" in out and "h100: 80 GiB per device -> fits" in out
  assert "mesh (data, fsdp, model) = (1, 1, 1)" in out  # train()'s (-1, 1, 1): one stand-in


def test_trainer_arguments_come_from_gin_over_the_defaults():
  from flan.cli import gin_config
  from flan.train import optimizer
  gin_config.parse(["demo.gin"], [])
  args = plan.train_arguments()
  assert args["batch_size"] == 16 and args["inputs_length"] == 96
  assert args["microbatches"] == 1 and args["mesh_shape"] == (-1, 1, 1)  # train()'s defaults
  schedule = args["learning_rate"]                                # the warmup, evaluated
  assert float(schedule(0)) == pytest.approx(1e-4) and float(schedule(99)) == pytest.approx(1e-2)
  assert args["optimizer"].__name__ == optimizer.adafactor.__name__
  gin_config.parse(["models/lamda_137b.gin", "runs/train.gin"], [])  # %MIXTURE unbound: fine
  assert plan.train_arguments()["model"].num_layers == 64


def test_topology_typos_and_missing_libtpu_are_one_line(capsys, monkeypatch):
  from flan.cli import topology
  code = cli.main(["plan", "--gin_file=demo.gin", "--topology=v3_128"])
  err = capsys.readouterr().err
  assert code == 2 and "'v3_128' is not a Cloud TPU slice name such as v3-128" in err
  assert len(err.strip().splitlines()) == 1
  monkeypatch.setattr(topology, "libtpu_installed", lambda: False)
  code = cli.main(["plan", "--gin_file=demo.gin", "--topology=v3-128"])
  err = capsys.readouterr().err
  assert code == 2 and "needs libtpu: pip install 'jax[tpu]'" in err
  code = cli.main(["plan", "--gin_file=demo.gin", "--mesh=1,x,2"])
  assert code == 2 and "--mesh must be three positive sizes" in capsys.readouterr().err


def test_no_forecast_names_the_compiles_optimal_seconds():
  """A step whose compile reports optimal_seconds < 0 (splash attention's backward on v5e) gets
  no forecast, and the line shows what the 1- and 2-layer compiles reported."""
  result = dict.fromkeys(plan.MEMORY_KEYS, 0)
  result["method"] = "compiled all 2 layers"
  args = {"batch_size": 2, "inputs_length": 96, "targets_length": 32, "microbatches": 1}
  target = {"label": "v5e-16", "source": "per core, TPU compiler", "capacities": [],
            "forecast": (0.0, 197e12), "mfu": 0.0, "forecast_compiles": (-1.99, -3.98)}
  text = plan.format_plan(presets["tiny"], (1, 16, 1), result, args, target)
  assert "no time estimate" in text and "-1.99 s, -3.98 s" in text
