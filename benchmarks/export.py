"""Time and peak memory of `flan export hf`, `flan export params` and `flan import hf`.

  .venv/bin/python benchmarks/export.py [--quick] [--models small,1b] [--workdir DIR] [--keep]

For each model a random float32 checkpoint is written to disk first, one tensor at a time (the
model is never in memory: `flan.checkpoint.streaming.write_checkpoint` with random `LazyArray`s),
then each command runs in a fresh subprocess (`python -m flan.cli ...`) whose peak resident set
size is its own VmHWM (/proc/self/status, read by the child at exit; PEAK_WRAPPER). Not
os.wait4's ru_maxrss: Linux carries the high-water mark of the process image before exec into
it, i.e. this process's resident set at the fork (or its peak, with vfork), so every child read
at least what this process held after writing the random checkpoints (2396.5 MB in one run,
for every command of three families alike):

  export_hf       the checkpoint -> safetensors (float32) + config + tokenizer
  export_params   the checkpoint -> params-only Orbax checkpoint in bfloat16
  import_hf       export_hf's folder -> a flan model directory (float32)

Reported per model and command: seconds, peak_rss_mb, and the memory above the interpreter's
own (baseline_rss_mb: a child that imports the same modules and exits) as multiples of the
largest tensor (x_largest_tensor) and of the model's float32 size (x_model). A converter that
loads the model would show x_model >= 1; a streaming one stays near a few largest tensors.

Models:
  small  presets["small"]: 8 x 512, V = 32000, ~51M parameters (largest tensor: the embedding).
  1b     a TinyLlama-1.1B-shaped decoder: 22 x 2048, 32 heads / 4 KV heads, F = 5632,
         V = 32000, untied: ~1.1B parameters, 4.4 GB in float32.
  llama3_1b, mistral_1b, qwen2_0.5b, qwen3_0.6b, gemma2_1b, gemma3_1b
         each open family at ~1B (FAMILY_MODELS): its own config.json and tensor names, the
         demo vocabulary (the files' size is the model's).

Prints exactly one JSON line on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
import zlib

import numpy as np

import common  # benchmarks/common.py; this file is run as a script.
from flan.model import ModelConfig, presets

MODELS = {
    "small": dataclasses.replace(presets["small"], dtype="float32"),
    "1b": ModelConfig(vocab_size=32000, num_layers=22, d_model=2048, num_heads=32,
                      num_kv_heads=4, head_dim=64, d_ff=5632, tie_embeddings=False,
                      scale_tied_logits=False),
}
# The interpreter with everything the commands import and the JAX CPU client started.
BASELINE = ("from flan import cli; from flan.data import render, vocab; from flan.export import "
            "hf_export, hf_import, params_export; from flan.checkpoint import streaming; "
            "import tensorstore, orbax.checkpoint, jax; jax.numpy.zeros(1).block_until_ready()")
# ~1B decoders of each open family (configs/models/<preset>.gin, float32 parameters; Mistral 7B
# and Gemma 2 2B cut to the layers that make ~1B): name -> (preset, num_layers or None).
FAMILY_MODELS = {"llama3_1b": ("llama3_2_1b", None), "mistral_1b": ("mistral_7b", 4),
                 "qwen2_0.5b": ("qwen2_5_0_5b", None), "qwen3_0.6b": ("qwen3_0_6b", None),
                 "gemma2_1b": ("gemma2_2b", 6), "gemma3_1b": ("gemma3_1b", None)}


def family_model(preset: str, num_layers: int | None) -> ModelConfig:
  """The ModelConfig a configs/models preset binds, in float32, optionally with fewer layers."""
  import gin

  from flan.cli import gin_config
  gin_config.parse([f"models/{preset}.gin"], [])
  try:
    config = gin.query_parameter("%MODEL").scoped_configurable_fn()
  finally:
    gin.clear_config()
  return dataclasses.replace(config, dtype="float32",
                             num_layers=num_layers or config.num_layers)


def write_random_checkpoint(model_dir: pathlib.Path, config: ModelConfig) -> None:
  """A model directory with a random float32 checkpoint at step 1, written tensor by tensor."""
  from flan.export import mapping
  from flan.checkpoint import model_dir as model_dir_lib, streaming

  model_dir.mkdir(parents=True)
  model_dir_lib.save_model_config(model_dir, config, None)
  shapes = {t.flan: mapping.flan_shape(t, config) for t in mapping.tensors(config)}

  def load(path: str) -> np.ndarray:
    shape = shapes[path]
    if path.endswith("scale"):
      return np.ones(shape, np.float32)
    rng = np.random.default_rng(zlib.crc32(path.encode()))
    return rng.standard_normal(shape, dtype=np.float32) * np.float32(shape[0] ** -0.5)

  meta = {"step": 1, "data": {"batches": 1}, "mixture": "benchmark"}
  streaming.write_checkpoint(model_dir, 1, streaming.lazy_params(config, load), meta)


# Runs `-m module args...` or `-c code` as python would, and at exit writes the process's own
# peak resident set (VmHWM, kB; exec started it afresh) to the file named first.
PEAK_WRAPPER = """import atexit, runpy, sys
path, mode, target, *rest = sys.argv[1:]
def peak():
  with open('/proc/self/status') as f:
    kb = next(line.split()[1] for line in f if line.startswith('VmHWM:'))
  with open(path, 'w') as f:
    f.write(kb)
atexit.register(peak)
sys.argv = [target, *rest]
if mode == '-m':
  runpy.run_module(target, run_name='__main__', alter_sys=True)
else:
  exec(compile(target, '<string>', 'exec'), {'__name__': '__main__'})
"""


def run_measured(args: list[str]) -> dict:
  """Runs `python *args` (["-m", module, ...] or ["-c", code]) in a child process; its wall time
  and its own peak RSS (MB; module docstring)."""
  with tempfile.TemporaryDirectory() as scratch:
    peak_file = pathlib.Path(scratch) / "peak_kb"
    argv = [sys.executable, "-c", PEAK_WRAPPER, str(peak_file), *args]
    start = time.perf_counter()
    result = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
      stderr = result.stderr.decode(errors="replace")
      raise RuntimeError(f"python {' '.join(args)[:200]} failed:\n{stderr[-2000:]}")
    peak_kb = int(peak_file.read_text())
  return {"seconds": round(seconds, 2), "peak_rss_mb": round(peak_kb / 1024, 1)}


def measure(name: str, config: ModelConfig, workdir: pathlib.Path, baseline_mb: float) -> dict:
  model_mb = config.num_params() * 4 / 2 ** 20
  largest_mb = max(config.vocab_size * config.d_model, config.d_model * config.d_ff,
                   config.d_model * config.num_heads * config.head_dim) * 4 / 2 ** 20
  root = workdir / name
  common.log(f"{name}: writing a random checkpoint ({config.num_params() / 1e6:.0f}M params, "
             f"{model_mb:.0f} MB)")
  start = time.perf_counter()
  write_random_checkpoint(root / "model", config)
  common.log(f"{name}: written in {time.perf_counter() - start:.1f}s")
  flan = ["-m", "flan.cli"]
  commands = {
      "export_hf": flan + ["export", "hf", "--checkpoint", str(root / "model"), "--out",
                           str(root / "hf"), "--quiet"],
      "export_params": flan + ["export", "params", "--checkpoint", str(root / "model"), "--out",
                               str(root / "params"), "--dtype", "bfloat16", "--quiet"],
      "import_hf": flan + ["import", "hf", "--from", str(root / "hf"), "--out",
                           str(root / "imported"), "--quiet"],
  }
  result = {"params": config.num_params(), "model_mb": round(model_mb, 1),
            "largest_tensor_mb": round(largest_mb, 1)}
  for command, argv in commands.items():
    common.log(f"{name}: {command} ...")
    measured = run_measured(argv)
    above = max(measured["peak_rss_mb"] - baseline_mb, 0.0)
    measured.update(above_baseline_mb=round(above, 1),
                    x_largest_tensor=round(above / largest_mb, 2),
                    x_model=round(above / model_mb, 3),
                    peak_x_model=round(measured["peak_rss_mb"] / model_mb, 3))
    common.log(f"{name}: {command} {measured}")
    result[command] = measured
  shutil.rmtree(root)
  return result


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--quick", action="store_true", help="the small model only")
  parser.add_argument("--models", default=None,
                      help="comma-separated: small,1b," + ",".join(FAMILY_MODELS))
  parser.add_argument("--workdir", default=None, help="scratch folder (default: a temp dir)")
  parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
  args = parser.parse_args()
  for name, (preset, layers) in FAMILY_MODELS.items():
    MODELS[name] = family_model(preset, layers)
  names = args.models.split(",") if args.models else (["small"] if args.quick else list(MODELS))
  workdir = pathlib.Path(args.workdir or tempfile.mkdtemp(prefix="flan-export-bench-"))
  workdir.mkdir(parents=True, exist_ok=True)
  env_note = os.environ.get("JAX_PLATFORMS")
  os.environ.setdefault("JAX_PLATFORMS", "cpu")
  try:
    baseline = run_measured(["-c", BASELINE])
    common.log(f"baseline (imports only): {baseline}")
    results = {name: measure(name, MODELS[name], workdir, baseline["peak_rss_mb"])
               for name in names}
  finally:
    if not args.keep:
      shutil.rmtree(workdir, ignore_errors=True)
  print(json.dumps({"benchmark": "export", "baseline_rss_mb": baseline["peak_rss_mb"],
                    "jax_platforms": env_note or "cpu", "models": results}))


if __name__ == "__main__":
  main()
