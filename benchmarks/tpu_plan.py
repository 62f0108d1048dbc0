"""Per-core memory and forecast MFU of flan's train step on TPU slices, from the TPU compiler.

    .venv/bin/python benchmarks/tpu_plan.py                  # every case (~10-20 min on 2 cores)
    .venv/bin/python benchmarks/tpu_plan.py --cases llama_1b --no-stand-in
    .venv/bin/python benchmarks/tpu_plan.py --cases lamda_137b --attention xla --no-stand-in

Prints one JSON line: per case, the per-core peak memory the TPU compiler reports (libtpu's
compile-only devices, `flan plan --topology`) against the CPU stand-in's estimate (the same step
compiled for as many fake CPU devices), and the forecast MFU (`flan/cli/plan.py`: the compiler's
optimal_seconds, loop trip counts restored by 1- and 2-layer unscanned compiles) with splash
attention and with plain XLA attention. Forecasts, not measurements: no TPU runs anything.
`optimal_seconds_1_2_layers` is what the forecast's two compiles reported: where one is negative
there is no forecast (step_seconds 0.0): on v5e some ops carry no cost estimate and count -1 s
each (flan/cli/plan.py).

Cases (batch and mesh chosen to fit, fsdp over the slice, bf16 compute, f32 parameters and
Adafactor, scanned layers, remat full, loss_capacity 0.5 as in runs/train.gin):

  lamda_137b  models/lamda_137b.gin + runs/train.gin, 8 x (1024 + 256), v3-128, mesh (1, 8, 16)
  llama_1b    TinyLlama's shape (22 x 2048, 32 heads / 4 kv, V 32000), 16 x 2048, v5e-16, (1, 16, 1)
  llama_8b    Llama 3 8B's shape (32 x 4096, 32 / 8, F 14336, V 128256), 8 x 2048, v5p-8, (1, 4, 1)

Each measurement runs in its own child process (fake CPU device counts are set at JAX start).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

LLAMA = ("config.ModelConfig.dtype = 'bfloat16'", "config.ModelConfig.scan_layers = True",
         "config.ModelConfig.remat = 'full'", "config.ModelConfig.tie_embeddings = False",
         "config.ModelConfig.mlp_activation = 'silu'")
CASES = {
    "lamda_137b": dict(gin=["models/lamda_137b.gin", "runs/train.gin"], bindings=[],
                       topology="v3-128", mesh=(1, 8, 16)),
    "llama_1b": dict(gin=["models/lamda_422m.gin", "runs/train.gin"], bindings=[
        *LLAMA, "config.ModelConfig.vocab_size = 32000", "config.ModelConfig.num_layers = 22",
        "config.ModelConfig.d_model = 2048", "config.ModelConfig.num_heads = 32",
        "config.ModelConfig.num_kv_heads = 4", "config.ModelConfig.head_dim = 64",
        "config.ModelConfig.d_ff = 5632", "trainer.train.batch_size = 16",
        "trainer.train.inputs_length = 1536", "trainer.train.targets_length = 512"],
        topology="v5e-16", mesh=(1, 16, 1)),
    "llama_8b": dict(gin=["models/lamda_8b.gin", "runs/train.gin"], bindings=[
        *LLAMA, "config.ModelConfig.vocab_size = 128256", "config.ModelConfig.num_layers = 32",
        "config.ModelConfig.d_model = 4096", "config.ModelConfig.num_heads = 32",
        "config.ModelConfig.num_kv_heads = 8", "config.ModelConfig.head_dim = 128",
        "config.ModelConfig.d_ff = 14336", "config.ModelConfig.rope_theta = 500000.0",
        "trainer.train.batch_size = 8", "trainer.train.inputs_length = 1536",
        "trainer.train.targets_length = 512"], topology="v5p-8", mesh=(1, 4, 1)),
}
CHILD = ("import sys, json; from flan.cli import plan; a = json.loads(sys.argv[1]); "
         "m = plan.make_plan(a['gin'], a['bindings'], tuple(a['mesh']), None, False, a['topology'], "
         "a['forecast']); t = m['target']; "
         "print(json.dumps({'peak_gib': m['result']['peak'] / 2 ** 30, "
         "'temporaries_gib': m['result']['temporaries'] / 2 ** 30, "
         "'arguments_gib': m['result']['arguments'] / 2 ** 30, "
         "'step_seconds': t.get('forecast', (None,))[0], 'mfu': t.get('mfu'), "
         "'optimal_seconds_1_2_layers': t.get('forecast_compiles'), "
         "'attention': m['config'].attention_kernel}))")


def measure(case: dict, *, topology: str | None, attention: str, forecast: bool) -> dict:
  from flan.cli import plan
  bindings = case["bindings"] + [f"config.ModelConfig.attention_kernel = '{attention}'"]
  env = plan.child_env(None if topology else case["mesh"], topology)
  payload = json.dumps(dict(gin=case["gin"], bindings=bindings, mesh=case["mesh"],
                            topology=topology, forecast=forecast))
  print(f"  {topology or 'cpu stand-in'}, attention {attention}", file=sys.stderr, flush=True)
  result = subprocess.run([sys.executable, "-c", CHILD, payload], env=env, capture_output=True,
                          text=True)
  if result.returncode:
    return {"error": plan.error_line(result.stderr)}
  return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
  parser.add_argument("--no-stand-in", action="store_true", help="skip the CPU estimates")
  parser.add_argument("--attention", nargs="+", default=["splash", "xla"],
                      choices=["splash", "xla"], help="the TPU attention kernels to compile")
  options = parser.parse_args()
  out = {"benchmark": "tpu_plan", "cases": {}}
  for name in options.cases:
    case = CASES[name]
    print(f"{name} on {case['topology']}, mesh {case['mesh']}", file=sys.stderr, flush=True)
    row = {"topology": case["topology"], "mesh": case["mesh"]}
    for attention in options.attention:
      row["splash" if attention == "splash" else "xla_attention"] = measure(
          case, topology=case["topology"], attention=attention, forecast=True)
    if not options.no_stand_in:
      row["cpu_stand_in"] = measure(case, topology=None, attention="cpu", forecast=False)
    out["cases"][name] = row
  print(json.dumps(out))


if __name__ == "__main__":
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  from flan import runtime
  # As `flan` does: no TPU backend attempt on a host without a TPU; on a host with one this
  # process still keeps JAX on the CPU (it only spawns children). The children compile for the
  # TPU through libtpu's compile-only topology either way: plan.child_env sets their
  # environment (JAX_PLATFORMS=cpu, no metadata query where there is no TPU).
  runtime.skip_absent_tpu()
  os.environ.setdefault("JAX_PLATFORMS", "cpu")
  main()
