"""`flan plan`: compile the train step ahead of time on fake devices and print the memory plan.

    flan plan --gin_file=models/lamda_137b.gin --gin_file=runs/train.gin --mesh=1,128,1 \
              --accelerator=tpu-v3

Nothing is allocated: the state and batch are abstract arrays with their mesh shardings, the
step is lowered and compiled by XLA for the mesh (on CPU stand-in devices), and XLA's memory
analysis gives the per-device temporaries. Parameters and optimizer state per device are
summed from the shard shapes. A scanned model (`scan_layers`, the paper-size gin files) is
compiled whole: its program holds one layer, whatever the depth. A deep unscanned model is
compiled with 1 and 2 layers and the per-layer cost extrapolated linearly (`--full_compile`
compiles every layer instead).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

from flan.errors import UserError

GiB = 1024 ** 3
# Memory per device (a TPU core, or a GPU), bytes.
ACCELERATORS = {
    "tpu-v3": 16 * GiB, "tpu-v4": 32 * GiB, "tpu-v5e": 16 * GiB, "tpu-v5p": 95 * GiB,
    "h100": 80 * GiB, "h200": 141 * GiB,
}
FULL_COMPILE_MAX_LAYERS = 4


class PlanError(UserError, ValueError):
  """A plan that cannot be made (bad mesh, unknown accelerator, a config that fails to compile)."""


def shard_bytes(abstract_tree, shardings) -> int:
  """Bytes one device holds of a pytree of abstract arrays placed with `shardings`."""
  import jax
  import numpy as np
  total = 0
  for leaf, sharding in zip(jax.tree.leaves(abstract_tree), jax.tree.leaves(
      shardings, is_leaf=lambda x: isinstance(x, jax.sharding.Sharding))):
    shape = sharding.shard_shape(leaf.shape)
    total += int(np.prod(shape)) * leaf.dtype.itemsize
  return total


def compile_step(config, train_kwargs: dict, mesh_shape, rules):
  """Compiles one train step for `config` on the mesh; returns a dict of per-device bytes."""
  import jax
  import jax.numpy as jnp
  import optax

  from flan.train import optimizer as optimizer_lib
  from flan import sharding
  from flan.train import step as step_lib

  mesh = sharding.make_mesh(mesh_shape)
  try:
    sharding.check_batch(int(train_kwargs["batch_size"]), mesh, rules,
                             int(train_kwargs.get("microbatches", 1)))
  except ValueError as e:
    raise PlanError(str(e)) from None
  schedule = optax.constant_schedule(float(train_kwargs.get("learning_rate", 3e-5))
                                     if not callable(train_kwargs.get("learning_rate")) else 1e-3)
  graphdef, tx, _, abstract_state, shardings = step_lib.plan_state(
      config, lambda axes: optimizer_lib.adafactor(schedule, axes=axes), 0, mesh, rules)
  batch_size = int(train_kwargs["batch_size"])
  length = int(train_kwargs["inputs_length"]) + int(train_kwargs["targets_length"])
  batch_sharding = sharding.batch_sharding(mesh, rules)
  batch = {k: jax.ShapeDtypeStruct((batch_size, length), jnp.int32, sharding=batch_sharding)
           for k in ("decoder_input_tokens", "decoder_target_tokens", "decoder_loss_weights",
                     "decoder_segment_ids", "decoder_positions")}
  state = jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
                       abstract_state, shardings)
  step = step_lib.make_train_step(graphdef, tx, microbatches=int(train_kwargs.get(
      "microbatches", 1)), state_shardings=shardings, batch_sharding=batch_sharding,
      rules=rules)
  compiled = step.lower(state, batch).compile()
  analysis = compiled.memory_analysis()
  return {
      "params": shard_bytes(abstract_state["params"], shardings["params"]),
      "optimizer": shard_bytes(abstract_state["opt_state"], shardings["opt_state"]),
      "temporaries": int(getattr(analysis, "temp_size_in_bytes", 0)),
  }


def plan(config, train_kwargs: dict, mesh_shape, rules, full_compile: bool = False) -> dict:
  """Per-device bytes for the full model, extrapolating over layers when it is deep."""
  if full_compile or config.scan_layers or config.num_layers <= FULL_COMPILE_MAX_LAYERS:
    result = compile_step(config, train_kwargs, mesh_shape, rules)
    scanned = ", scanned" if config.scan_layers else ""
    result["method"] = f"compiled all {config.num_layers} layers{scanned}"
    return result
  one = compile_step(dataclasses.replace(config, num_layers=1), train_kwargs, mesh_shape, rules)
  two = compile_step(dataclasses.replace(config, num_layers=2), train_kwargs, mesh_shape, rules)
  result = {k: one[k] + (two[k] - one[k]) * (config.num_layers - 1) for k in one}
  result["method"] = (f"compiled 1 and 2 layers, extrapolated to {config.num_layers} "
                      f"(per layer: temporaries {(two['temporaries'] - one['temporaries']) / GiB:.3f}"
                      f" GiB)")
  return result


def human(n: float) -> str:
  return f"{n / GiB:.2f} GiB" if n >= 0.1 * GiB else f"{n / 1024 ** 2:.1f} MiB"


def format_plan(config, mesh_shape, result: dict, accelerator: str | None) -> str:
  total = result["params"] + result["optimizer"] + result["temporaries"]
  lines = [
      f"model: {config.num_params() / 1e6:,.1f}M parameters, {config.num_layers} layers, "
      f"d_model {config.d_model}, dtype {config.dtype}, remat {config.remat}, "
      f"{'scanned' if config.scan_layers else 'unscanned'} layers",
      f"mesh (data, fsdp, model) = {tuple(mesh_shape)}; {result['method']}",
      f"per device: parameters {human(result['params'])}, optimizer state "
      f"{human(result['optimizer'])}, activations and temporaries "
      f"{human(result['temporaries'])}, total {human(total)}",
  ]
  names = [accelerator] if accelerator else list(ACCELERATORS)
  for name in names:
    capacity = ACCELERATORS[name]
    verdict = "fits" if total <= capacity else "does NOT fit"
    lines.append(f"{name}: {capacity / GiB:.0f} GiB per device -> {verdict} "
                 f"({100 * total / capacity:.0f}% used)")
  return "\n".join(lines)


def main(gin_files: list[str], bindings: list[str], mesh_shape: tuple[int, ...],
         accelerator: str | None, full_compile: bool = False) -> str:
  """Runs in a process that already has enough (fake) devices."""
  import gin

  from flan.cli import gin_config
  from flan.model import ModelConfig
  from flan import sharding

  if accelerator is not None and accelerator not in ACCELERATORS:
    raise PlanError(f"unknown accelerator {accelerator!r}; known: {sorted(ACCELERATORS)}")
  gin_config.parse(gin_files, bindings)
  config = gin.get_configurable(ModelConfig)()
  train_kwargs = {}
  for name in ("batch_size", "inputs_length", "targets_length", "microbatches", "learning_rate"):
    try:
      train_kwargs[name] = gin.query_parameter(f"flan.train.trainer.train.{name}")
    except ValueError:
      pass
  train_kwargs.setdefault("microbatches", 1)
  result = plan(config, train_kwargs, mesh_shape, sharding.DEFAULT_RULES, full_compile)
  return format_plan(config, mesh_shape, result, accelerator)


def error_line(stderr: str) -> str:
  """The exception line of a child's traceback ("PlanError: ...", "ValueError: ..."), else the
  last line: JAX appends notes after the exception that say nothing about it."""
  lines = [l.strip() for l in stderr.splitlines() if l.strip()]
  is_error = lambda l: l.split(":", 1)[0].split(".")[-1].endswith(("Error", "Exception"))
  errors = [l for l in lines if ": " in l and is_error(l)]
  if errors:
    name, message = errors[-1].split(": ", 1)
    return message if name.endswith("PlanError") else f"{name.split('.')[-1]}: {message}"
  return lines[-1] if lines else "unknown error"


def run(gin_files, bindings, mesh_shape, accelerator, full_compile=False) -> int:
  """Re-runs itself with as many fake CPU devices as the mesh needs, and prints the plan."""
  import math
  devices = math.prod(mesh_shape)
  env = dict(os.environ, JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3",
             XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
  code = ("import sys, json; from flan.cli import plan; a = json.loads(sys.argv[1]); "
          "print(plan.main(a['g'], a['b'], tuple(a['m']), a['a'], a['f']))")
  import json
  args = json.dumps({"g": gin_files, "b": bindings, "m": list(mesh_shape), "a": accelerator,
                     "f": full_compile})
  result = subprocess.run([sys.executable, "-c", code, args], env=env, capture_output=True,
                          text=True)
  if result.returncode != 0:
    raise PlanError(f"plan failed: {error_line(result.stderr)}")
  print(result.stdout.strip())
  return 0
