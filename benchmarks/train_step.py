"""Training throughput and MFU of flan's real train step, against this machine's matmul peak.

  .venv/bin/python benchmarks/train_step.py [--quick] [--models demo,small] [--steps N]

Measures, in one run and side by side:

  matmul peak   the best float32 FLOP/s of a jitted square `jnp.dot` (see common.matmul_peak)
  each model    `flan.train.step.make_train_step` with T5X Adafactor on a packed-looking batch:
                compiled and warmed up, then N steps timed one by one (block_until_ready on the
                new state and metrics). step_ms is the fastest step, like the best-of-N peak:
                other processes only ever add time. step_ms_median is reported beside it.

  tokens_per_s  batch * seq_len / step time
  gflops        tokens_per_s * cfg.flops_per_token(seq_len) / 1e9  (6 * matmul params + full
                attention, the MFU convention of flan/model/config.py)
  mfu           gflops / matmul_peak_gflops (wall-clock; reads low when other processes load the
                machine during the steps but not during the peak)
  mfu_cpu       the same ratio per CPU-second of this process: step FLOPs / step CPU time over
                matmul FLOPs / matmul CPU time (median over steps). It does not move with
                contention. On an idle machine mfu ~ mfu_cpu * cpu_per_wall / cores, where
                cpu_per_wall (median over steps) is how many cores the step kept busy.

matmul_gflops_at_end (the 1024 matmul after the models) and load_avg_1min (start, end) show how
busy the machine was. Prints exactly one JSON line on stdout; progress goes to stderr.

Models:
  demo   the `flan demo` decoder (configs/models/demo.gin), batch 16 x 128 as in configs/demo.gin.
  small  presets["small"] (~51M parameters) in float32 (CPUs have no fast bfloat16 matmul),
         batch 4 x 512.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time

import jax
import numpy as np
from flax import nnx

import common  # benchmarks/common.py; this file is run as a script.
from flan.model import Decoder, ModelConfig, presets
from flan.train import optimizer as opt
from flan.train import step as step_lib


@dataclasses.dataclass(frozen=True)
class Bench:
  """One model to benchmark: its config, batch shape and step counts (default, --quick)."""
  config: ModelConfig
  batch: int
  seq_len: int
  steps: int
  quick_steps: int


BENCHES = {
    "demo": Bench(ModelConfig(vocab_size=2048, num_layers=4, d_model=128, num_heads=4,
                              num_kv_heads=4, head_dim=32, d_ff=384),
                  batch=16, seq_len=128, steps=20, quick_steps=3),
    "small": Bench(dataclasses.replace(presets["small"], dtype="float32"),
                   batch=4, seq_len=512, steps=4, quick_steps=1),
}

WARMUP_STEPS = 2  # The first compiles; the second runs the compiled step once more.


def packed_batch(batch: int, seq_len: int, vocab_size: int, seed: int = 0) -> dict[str, np.ndarray]:
  """A packed-looking SeqIO decoder batch, int32 [batch, seq_len] per feature.

  Every row holds two segments of seq_len / 2 tokens (segment ids 1 and 2, positions restarting
  at 0); within a segment the first half is the input and the second half the targets, which
  carry the loss weights. Input tokens are the targets shifted right with BOS = 0 per segment.
  """
  rng = np.random.default_rng(seed)
  half = seq_len // 2
  segment_ids = np.where(np.arange(seq_len) < half, 1, 2)
  positions = np.where(np.arange(seq_len) < half, np.arange(seq_len), np.arange(seq_len) - half)
  segment_length = np.where(segment_ids == 1, half, seq_len - half)
  weights = positions >= segment_length // 2
  targets = rng.integers(2, vocab_size, size=(batch, seq_len), dtype=np.int32)
  inputs = np.where(positions == 0, 0, np.roll(targets, 1, axis=1))
  tile = lambda row: np.broadcast_to(row, (batch, seq_len)).astype(np.int32)
  return {
      "decoder_input_tokens": inputs.astype(np.int32),
      "decoder_target_tokens": targets,
      "decoder_loss_weights": tile(weights),
      "decoder_segment_ids": tile(segment_ids),
      "decoder_positions": tile(positions),
  }


def bench_model(name: str, bench: Bench, steps: int, peak: dict) -> dict:
  """Builds the real train step for `bench`, times it, returns its JSON entry."""
  cfg, batch_size, seq_len = bench.config, bench.batch, bench.seq_len
  common.log(f"[{name}] building: {cfg.num_params():,} params, batch {batch_size} x {seq_len}")
  tx = opt.adafactor(1e-3)
  graphdef, state = step_lib.init_state(Decoder(cfg, rngs=nnx.Rngs(0)), tx)
  train_step = step_lib.make_train_step(graphdef, tx)
  batch = jax.device_put(packed_batch(batch_size, seq_len, cfg.vocab_size))
  run = lambda state: common.timed(lambda: train_step(state, batch))

  (state, metrics), compile_timing = run(state)
  common.log(f"[{name}] compile + first step {compile_timing.wall:.1f}s, "
             f"loss {float(metrics['loss']):.3f}")
  for _ in range(WARMUP_STEPS - 1):
    (state, metrics), _ = run(state)

  timings = []
  for i in range(steps):
    (state, metrics), timing = run(state)
    timings.append(timing)
    common.log(f"[{name}] step {i + 1}/{steps}: {1e3 * timing.wall:.1f} ms, "
               f"{timing.cpu / timing.wall:.2f} CPU-s per s")
  loss = float(metrics["loss"])
  if not np.isfinite(loss):
    raise RuntimeError(f"[{name}] loss is {loss}")

  flops_per_token = cfg.flops_per_token(seq_len)
  flops_per_step = batch_size * seq_len * flops_per_token
  step_s = min(t.wall for t in timings)
  gflops = flops_per_step / step_s / 1e9
  gflops_per_cpu_s = common.median(flops_per_step / max(t.cpu, 1e-9) / 1e9 for t in timings)
  result = {
      "params": cfg.num_params(),
      "matmul_params": cfg.matmul_params(),
      "batch": batch_size,
      "seq_len": seq_len,
      "dtype": cfg.dtype,
      "steps": steps,
      "compile_s": round(compile_timing.wall, 2),
      "step_ms": round(1e3 * step_s, 2),
      "step_ms_median": round(1e3 * common.median(t.wall for t in timings), 2),
      "tokens_per_s": round(batch_size * seq_len / step_s, 1),
      "flops_per_token": flops_per_token,
      "gflops": round(gflops, 2),
      "mfu": round(gflops / peak["gflops"], 4),
      "mfu_cpu": round(gflops_per_cpu_s / peak["gflops_per_cpu_s"], 4),
      "cpu_per_wall": round(common.median(t.cpu / t.wall for t in timings), 2),
      "final_loss": round(loss, 4),
  }
  common.log(f"[{name}] {result['step_ms']} ms/step, {result['tokens_per_s']} tokens/s, "
             f"{result['gflops']} GFLOP/s, MFU {result['mfu']:.1%} "
             f"(per CPU-second: {result['mfu_cpu']:.1%})")
  return result


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--quick", action="store_true", help="few steps, for a smoke test")
  parser.add_argument("--models", default="demo,small",
                      help=f"comma-separated, from {','.join(BENCHES)}")
  parser.add_argument("--steps", type=int, default=None, help="timed steps per model")
  args = parser.parse_args(argv)
  names = [n.strip() for n in args.models.split(",") if n.strip()]
  unknown = [n for n in names if n not in BENCHES]
  if unknown or not names:
    parser.error(f"unknown --models {unknown}; choose from {list(BENCHES)}")

  common.log(f"jax {jax.__version__} on {common.device_name()}")
  load_start = os.getloadavg()[0]
  peak = common.matmul_peak(repeats=3 if args.quick else 5)
  models = {}
  for name in names:
    bench = BENCHES[name]
    steps = args.steps or (bench.quick_steps if args.quick else bench.steps)
    models[name] = bench_model(name, bench, steps, peak)
  end_gflops = common.matmul_rates(1024, repeats=3)["gflops"]  # Drift on a shared machine.

  print(json.dumps({
      "benchmark": "train_step",
      "device": common.device_name(),
      "jax": jax.__version__,
      "matmul_peak_gflops": round(peak["gflops"], 2),
      "matmul_peak_size": peak["size"],
      "matmul_gflops_by_size": {str(n): round(g, 2) for n, g in peak["by_size"].items()},
      "matmul_gflops_per_cpu_s": round(peak["gflops_per_cpu_s"], 2),
      "cores": os.cpu_count(),
      "matmul_gflops_at_end": round(end_gflops, 2),
      "load_avg_1min": [round(load_start, 2), round(os.getloadavg()[0], 2)],  # start, end
      "models": models,
  }))


if __name__ == "__main__":
  main()
