"""`flan plan`: compile the train step ahead of time and print what one device needs.

    flan plan --gin_file=models/lamda_137b.gin --gin_file=runs/train.gin --topology=v3-128 \
              --mesh=1,8,16

With `--topology` (a Cloud TPU slice: v3-128, v4-64, v5e-256, v5p-128, 2xv5e-256) the real TPU
compiler compiles the step for the slice's devices (libtpu, no TPU needed: flan/cli/topology.py)
and its memory analysis gives, per core: arguments (parameters, optimizer state, batch),
outputs, the part of the outputs aliased to donated arguments, temporaries and generated code.
Their peak is arguments + outputs - aliased + temporaries + code, compared with the core's HBM.
Without it the step is compiled for CPU stand-in devices (`--accelerator` names the memory to
compare with: GPUs, or a TPU without libtpu); the CPU compiler schedules and fuses differently,
so those figures are an estimate.

Nothing is allocated: state and batch are abstract arrays with their mesh shardings. The step is
the trainer's (flan/train/trainer.py): its gin-bound arguments (batch, lengths, microbatches,
learning rate or schedule, optimizer, loss options, mesh_shape, axis_rules) are read with the
trainer's own defaults. A scanned model is compiled whole (its program holds one layer); a deep
unscanned one is compiled with 1 and 2 layers and extrapolated linearly (`--full_compile`
compiles every layer).

The forecast (TPU only) is the compiler's roofline estimate, not a measurement. The compiled
executable's cost_analysis() carries `optimal_seconds`, the compiler's lower bound on the step's
time per core, but it counts the body of a loop (a scanned layer stack, the microbatch scan)
once. So the forecast compiles the step unscanned with 1 and 2 layers and one microbatch of
batch / microbatches rows: t(n) = rest + n * layer, so a step takes

    microbatches * (t(1) + (num_layers - 1) * (t(2) - t(1)))

(the optimizer update is counted once per microbatch: a small overestimate). The forecast MFU
is the model FLOPs per step (ModelConfig.flops_per_token, DESIGN.md's convention) per device over
that time and the device's data-sheet bf16 peak.

On TPU v5e some ops of the step carry no cost estimate and each counts -1 s in the sum that
optimal_seconds is, so the step reads negative and there is no forecast. The ~1B Llama on
v5e-16 (benchmarks/tpu_plan.py) read -23.98 / -60.97 s for 1 / 2 layers with XLA attention and
-30.99 / -76.98 s with splash. Splash's backward Mosaic kernels are some of them (one call's
forward and backward alone, on one v5e core: -1.9995 s; its forward alone 0.00023 s; on v3, in
float32, 0.00104 s); the rest are not identified (all-gather, reduce-scatter and all-reduce over
the slice are costed). The 137B step on v3-128 and the 8B one on v5p-8 get
estimates.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import os
import subprocess
import sys

from flan.cli import topology as topology_lib
from flan.errors import UserError

GiB = 1024 ** 3
# Memory per device (a TPU core or megacore chip, a GPU), bytes, for the CPU stand-in estimate.
ACCELERATORS = {
    "tpu-v3": 16 * GiB, "tpu-v4": 32 * GiB, "tpu-v5e": 16 * GiB, "tpu-v5p": 95 * GiB,
    "h100": 80 * GiB, "h200": 141 * GiB,
}
FULL_COMPILE_MAX_LAYERS = 4
MEMORY_KEYS = ("params", "optimizer", "arguments", "outputs", "aliased", "temporaries", "code")


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


# The trainer arguments a plan needs; others (model_dir, mixture, ...) may stay unbound.
PLAN_ARGUMENTS = ("model", "batch_size", "inputs_length", "targets_length", "learning_rate",
                  "optimizer", "microbatches", "z_loss", "loss_normalization", "loss_capacity",
                  "on_nonfinite", "mesh_shape", "axis_rules")


def train_arguments() -> dict:
  """trainer.train's arguments as the parsed gin config binds them, over its own defaults
  (references such as `@optimizer.warmup_rsqrt_schedule()` evaluated; a macro the plan does
  not need, like %MIXTURE, may stay unbound)."""
  import copy

  import gin

  from flan.cli.gin_config import GinError
  from flan.train import trainer

  arguments = {name: p.default for name, p in inspect.signature(trainer.train).parameters.items()
               if p.default is not inspect.Parameter.empty}
  try:
    bound = gin.get_bindings(trainer.train, resolve_references=False)
  except (ValueError, KeyError):
    raise GinError("the gin files bind nothing of flan.train.trainer.train; include a run "
                   "config such as configs/runs/train.gin") from None
  for name, value in bound.items():
    try:
      arguments[name] = copy.deepcopy(value)  # gin resolves references as it copies them
    except Exception as e:
      if name in PLAN_ARGUMENTS:
        raise GinError(f"gin: trainer.train.{name}: {e}") from None
  if "model" not in arguments:
    raise GinError("the gin files bind no model (trainer.train.model = %MODEL); include a model "
                   "config such as configs/models/tiny.gin")
  return arguments


def lower_step(config, args: dict, mesh, rules):
  """The trainer's step for `config` on `mesh`, lowered for abstract state and batch:
  (lowered, abstract state, state shardings)."""
  import jax
  import jax.numpy as jnp
  import optax

  from flan import sharding
  from flan.train import step as step_lib

  batch_size, microbatches = int(args["batch_size"]), int(args["microbatches"])
  try:
    sharding.check_batch(batch_size, mesh, rules, microbatches)
  except ValueError as e:
    raise PlanError(str(e)) from None
  rate = args["learning_rate"]
  schedule = rate if callable(rate) else optax.constant_schedule(rate)
  graphdef, tx, _, abstract_state, shardings = step_lib.plan_state(
      config, lambda axes: args["optimizer"](learning_rate=schedule, axes=axes), 0, mesh, rules)
  length = int(args["inputs_length"]) + int(args["targets_length"])
  batch_sharding = sharding.batch_sharding(mesh, rules)
  batch = {k: jax.ShapeDtypeStruct((batch_size, length), jnp.int32, sharding=batch_sharding)
           for k in ("decoder_input_tokens", "decoder_target_tokens", "decoder_loss_weights",
                     "decoder_segment_ids", "decoder_positions")}
  state = jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
                       abstract_state, shardings)
  step = step_lib.make_train_step(
      graphdef, tx, z_loss=args["z_loss"], normalization=args["loss_normalization"],
      microbatches=microbatches, skip_nonfinite=args["on_nonfinite"] == "skip",
      state_shardings=shardings, batch_sharding=batch_sharding, rules=rules,
      loss_capacity=args["loss_capacity"])
  return step.lower(state, batch), abstract_state, shardings


def compiled_figures(compiled) -> dict:
  """Per-device bytes of a compiled executable, and the compiler's `optimal_seconds` (0 where
  the backend gives none, as XLA:CPU does)."""
  memory = compiled.memory_analysis()
  cost = compiled.cost_analysis() or {}
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  stat = lambda name: int(getattr(memory, name, 0) or 0)
  return {
      "arguments": stat("argument_size_in_bytes"),
      "outputs": stat("output_size_in_bytes"),
      "aliased": stat("alias_size_in_bytes"),
      "temporaries": stat("temp_size_in_bytes"),
      "code": stat("generated_code_size_in_bytes"),
      "seconds": float(cost.get("optimal_seconds", 0.0)),
  }


def compile_step(config, args: dict, mesh, rules) -> dict:
  """Compiles the trainer's step for `config` on `mesh`: per-device bytes (parameters and
  optimizer state summed from their shard shapes, the rest from the compiler) and seconds."""
  lowered, abstract_state, shardings = lower_step(config, args, mesh, rules)
  try:
    compiled = lowered.compile()
  except Exception as e:  # the compiler's refusal, in one line
    message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    raise PlanError(f"the step does not compile for this mesh: {message}") from None
  return {"params": shard_bytes(abstract_state["params"], shardings["params"]),
          "optimizer": shard_bytes(abstract_state["opt_state"], shardings["opt_state"]),
          **compiled_figures(compiled)}


def extrapolate(one: dict, two: dict, layers: int) -> dict:
  """Per-device figures of a `layers`-deep model from its 1- and 2-layer compiles."""
  return {k: one[k] + (two[k] - one[k]) * (layers - 1) for k in one}


def plan(config, args: dict, mesh, rules, full_compile: bool = False) -> dict:
  """Per-device bytes for the full model, extrapolating over layers when it is deep."""
  if full_compile or config.scan_layers or config.num_layers <= FULL_COMPILE_MAX_LAYERS:
    result = compile_step(config, args, mesh, rules)
    scanned = ", scanned" if config.scan_layers else ""
    result["method"] = f"compiled all {config.num_layers} layers{scanned}"
    return result
  one = compile_step(dataclasses.replace(config, num_layers=1), args, mesh, rules)
  two = compile_step(dataclasses.replace(config, num_layers=2), args, mesh, rules)
  result = extrapolate(one, two, config.num_layers)
  result["method"] = (f"compiled 1 and 2 layers, extrapolated to {config.num_layers} "
                      f"(per layer: temporaries {(two['temporaries'] - one['temporaries']) / GiB:.3f}"
                      f" GiB)")
  return result


def forecast_step(config, args: dict, mesh, rules) -> tuple[float, tuple[float, float]]:
  """The compiler's time estimate for one step, loops counted in full (module docstring), 0.0
  where it has none, and what its 1- and 2-layer compiles reported (optimal_seconds)."""
  microbatches = int(args["microbatches"])
  args = dict(args, batch_size=int(args["batch_size"]) // microbatches, microbatches=1)
  unscanned = dataclasses.replace(config, scan_layers=False)
  one = compile_step(dataclasses.replace(unscanned, num_layers=1), args, mesh, rules)
  two = compile_step(dataclasses.replace(unscanned, num_layers=2), args, mesh, rules)
  parts = (one["seconds"], two["seconds"])
  if min(parts) <= 0:  # -1: the compiler has no estimate for it
    return 0.0, parts
  return microbatches * extrapolate(one, two, config.num_layers)["seconds"], parts


def human(n: float) -> str:
  return f"{n / GiB:.2f} GiB" if abs(n) >= 0.1 * GiB else f"{n / 1024 ** 2:.1f} MiB"


def peak_bytes(result: dict) -> int:
  return (result["arguments"] + result["outputs"] - result["aliased"] + result["temporaries"]
          + result["code"])


def format_plan(config, mesh_shape, result: dict, args: dict, target: dict) -> str:
  """The report: model, mesh, per-device memory, verdict(s), forecast."""
  total = peak_bytes(result)
  lines = [
      f"model: {config.num_params() / 1e6:,.1f}M parameters, {config.num_layers} layers, "
      f"d_model {config.d_model}, parameters {config.param_dtype}, compute {config.dtype}, "
      f"remat {config.remat}, {'scanned' if config.scan_layers else 'unscanned'} layers, "
      f"attention {config.attention_kernel}, matmul {config.matmul_kernel}",
      f"batch {args['batch_size']} x {int(args['inputs_length']) + int(args['targets_length'])} "
      f"tokens, {args['microbatches']} microbatch(es)",
      f"target: {target['label']}",
      f"mesh (data, fsdp, model) = {tuple(mesh_shape)}; {result['method']}",
      f"per device: parameters {human(result['params'])}, optimizer state "
      f"{human(result['optimizer'])} (both in the arguments)",
      f"{target['source']}: arguments {human(result['arguments'])}, outputs "
      f"{human(result['outputs'])}, aliased {human(result['aliased'])}, temporaries "
      f"{human(result['temporaries'])}, generated code {human(result['code'])} -> total "
      f"{human(total)}",
  ]
  for name, capacity in target["capacities"]:
    verdict = "fits" if total <= capacity else "does NOT fit"
    lines.append(f"{name}: {capacity / GiB:.0f} GiB per device -> {verdict} "
                 f"({100 * total / capacity:.0f}% used)")
  if target.get("forecast"):
    seconds, peak = target["forecast"]
    tokens = int(args["batch_size"]) * (int(args["inputs_length"]) + int(args["targets_length"]))
    mfu = target["mfu"]
    if seconds <= 0:
      parts = ", ".join(f"{s:.3g} s" for s in target.get("forecast_compiles", ()))
      lines.append("forecast: the TPU compiler gave no time estimate for this program (optimal_"
                   f"seconds of the 1- and 2-layer compiles: {parts}; an op without a cost "
                   "estimate counts -1 s, as some do on v5e)")
      return "\n".join(lines)
    lines.append(f"forecast (the TPU compiler's roofline estimate, not a measurement): step "
                 f"{seconds:.3g} s, {tokens / seconds:,.0f} tokens/s, MFU "
                 f"{100 * mfu:.0f}% of {peak / 1e12:.1f} TFLOP/s bf16 per device")
  return "\n".join(lines)


def mesh_for(mesh_shape, devices):
  """The trainer's mesh on `devices`; every device of a TPU slice is used."""
  from flan import sharding
  try:
    return sharding.make_mesh(mesh_shape, devices)
  except ValueError as e:
    raise PlanError(str(e)) from None


def make_plan(gin_files: list[str], bindings: list[str], mesh_shape, accelerator: str | None,
              full_compile: bool = False, topology: str | None = None,
              forecast: bool = True) -> dict:
  """Compiles and measures (in a process that already has enough fake devices, or for a TPU
  slice's topology): {"config", "mesh_shape", "result", "args", "target"}, what `format_plan`
  prints; result["peak"] is the per-device total and target["forecast"] (TPU) (seconds, peak
  FLOP/s per device) with target["mfu"] and target["forecast_compiles"] (the 1- and 2-layer
  compiles' optimal_seconds)."""
  import jax

  from flan import sharding
  from flan.cli import gin_config
  from flan.model import kernels

  if accelerator is not None and accelerator not in ACCELERATORS:
    raise PlanError(f"unknown accelerator {accelerator!r}; known: {sorted(ACCELERATORS)}")
  gin_config.parse(gin_files, bindings)
  args = train_arguments()
  mesh_shape = tuple(mesh_shape or args["mesh_shape"])
  rules = tuple(args["axis_rules"]) if args["axis_rules"] else sharding.DEFAULT_RULES
  if topology:
    tpu = topology_lib.parse(topology)
    devices = topology_lib.devices(tpu)
    if -1 not in mesh_shape and math.prod(mesh_shape) != len(devices):
      raise PlanError(f"mesh {mesh_shape} uses {math.prod(mesh_shape)} devices; {topology} has "
                      f"{len(devices)} ({devices[0].device_kind})")
    mesh = mesh_for(mesh_shape, devices)
    config = kernels.resolve(args["model"], "tpu")
    result = plan(config, args, mesh, rules, full_compile)
    generation = tpu.generation
    slices = f" x {tpu.num_slices} slices" if tpu.num_slices > 1 else ""
    target = {"label": f"{topology} ({len(devices)} x {devices[0].device_kind}, topology "
                       f"{tpu.topology}{slices})",
              "source": "per core, TPU compiler",
              "capacities": [(f"{generation.name} core", generation.hbm_bytes)]}
    if forecast:
      seconds, target["forecast_compiles"] = forecast_step(config, args, mesh, rules)
      target["forecast"] = (seconds, generation.peak_flops)
  else:
    mesh_shape = stand_in_shape(mesh_shape)
    mesh = mesh_for(mesh_shape, jax.devices())
    config = kernels.resolve(args["model"], "gpu" if accelerator in ("h100", "h200") else "cpu")
    result = plan(config, args, mesh, rules, full_compile)
    names = [accelerator] if accelerator else list(ACCELERATORS)
    target = {"label": "CPU stand-in devices (an estimate; --topology compiles for a TPU slice "
                       "with the TPU compiler)",
              "source": "per device, CPU compiler (estimate)",
              "capacities": [(name, ACCELERATORS[name]) for name in names]}
  result["peak"] = peak_bytes(result)
  if target.get("forecast"):
    seconds, peak = target["forecast"]
    length = int(args["inputs_length"]) + int(args["targets_length"])
    flops = config.flops_per_token(length) * int(args["batch_size"]) * length
    target["mfu"] = flops / mesh.devices.size / (seconds * peak) if seconds > 0 else 0.0
  return {"config": config, "mesh_shape": mesh.devices.shape, "result": result, "args": args,
          "target": target}


def main(gin_files: list[str], bindings: list[str], mesh_shape, accelerator: str | None,
         full_compile: bool = False, topology: str | None = None,
         forecast: bool = True) -> str:
  """The printed plan (see make_plan)."""
  made = make_plan(gin_files, bindings, mesh_shape, accelerator, full_compile, topology, forecast)
  return format_plan(made["config"], made["mesh_shape"], made["result"], made["args"],
                     made["target"])


def error_line(stderr: str) -> str:
  """The exception line of a child's traceback ("PlanError: ...", "ValueError: ..."), else the
  last line: JAX appends notes after the exception that say nothing about it."""
  lines = [l.strip() for l in stderr.splitlines() if l.strip()]
  is_error = lambda l: l.split(":", 1)[0].split(".")[-1].endswith(("Error", "Exception"))
  errors = [l for l in lines if ": " in l and is_error(l) and not l.startswith(("E0000", "W0000"))]
  if errors:
    name, message = errors[-1].split(": ", 1)
    plain = ("PlanError", "GinError", "TopologyError")
    return message if name.endswith(plain) else f"{name.split('.')[-1]}: {message}"
  return lines[-1] if lines else "unknown error"


def child_env(mesh_shape, topology: str | None) -> dict:
  """The child's environment: JAX on CPU; stand-in devices for the CPU estimate; for a TPU
  slice, no cloud metadata query where this host has no TPU."""
  env = dict(os.environ, JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3")
  if topology:
    if not topology_lib.host_has_tpu():
      env.update(topology_lib.NO_TPU_ENV)
  elif mesh_shape:
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count="
                        f"{math.prod(mesh_shape)}").strip()
  return env


def run(gin_files, bindings, mesh_shape, accelerator, full_compile=False, topology=None,
        forecast=True) -> int:
  """Re-runs itself in a child process (fake CPU devices, or a TPU topology) and prints the
  plan. Names are checked here first, so a typo costs no compile."""
  if topology:
    try:
      topology_lib.parse(topology)  # a bad name is one line, before any work
    except topology_lib.TopologyError as e:
      raise PlanError(str(e)) from None
    if not topology_lib.libtpu_installed():
      raise PlanError(topology_lib.NO_LIBTPU)
  if accelerator is not None and accelerator not in ACCELERATORS:
    raise PlanError(f"unknown accelerator {accelerator!r}; known: {sorted(ACCELERATORS)}")
  if mesh_shape is None and not topology:
    mesh_shape = _gin_mesh_shape(gin_files, bindings)
  code = ("import sys, json; from flan.cli import plan; a = json.loads(sys.argv[1]); "
          "print(plan.main(a['g'], a['b'], a['m'] and tuple(a['m']), a['a'], a['f'], a['t'], "
          "a['o']))")
  payload = json.dumps({"g": gin_files, "b": bindings, "m": mesh_shape and list(mesh_shape),
                        "a": accelerator, "f": full_compile, "t": topology, "o": forecast})
  result = subprocess.run([sys.executable, "-c", code, payload],
                          env=child_env(mesh_shape, topology), capture_output=True, text=True)
  if result.returncode != 0:
    raise PlanError(f"plan failed: {error_line(result.stderr)}")
  print(result.stdout.strip())
  return 0


def stand_in_shape(mesh_shape) -> tuple[int, ...]:
  """The stand-in's mesh: a -1 ("the remaining devices", e.g. train()'s default (-1, 1, 1))
  becomes 1, one stand-in device for that axis."""
  return tuple(1 if size == -1 else int(size) for size in mesh_shape)


def _gin_mesh_shape(gin_files, bindings):
  """The run config's trainer.train.mesh_shape (the stand-in needs its device count up front)."""
  from flan.cli import gin_config
  gin_config.parse(gin_files, bindings)
  return stand_in_shape(train_arguments()["mesh_shape"])
