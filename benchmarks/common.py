"""Shared helpers for the benchmarks: logging, timing, and this machine's matmul peak.

Benchmarks print one JSON line on stdout and log everything else to stderr, so that

  python benchmarks/train_step.py > result.json

captures only the result. Importing this module keeps JAX off an absent TPU
(`flan.runtime.skip_absent_tpu`, as the `flan` command does).

Timings record both wall-clock and process CPU time (all threads). On a machine shared with other
work, wall-clock rates drop with the cores the process gets, while FLOPs per CPU-second of a
compute-bound kernel stay put; comparing two kernels per CPU-second is a contention-robust
efficiency ratio.
"""

from __future__ import annotations

import dataclasses
import statistics
import sys
import time
from typing import Any, Callable

from flan import runtime

# With libtpu installed, JAX would try (and loudly fail) a TPU backend on a host without one:
# JAX_PLATFORMS=cpu there, before JAX is imported. Every benchmark imports this module first,
# or calls this itself where it imports JAX earlier.
runtime.skip_absent_tpu()

import jax  # noqa: E402  pylint: disable=wrong-import-position
import jax.numpy as jnp


def log(*args: Any) -> None:
  """Prints to stderr (stdout is reserved for the JSON result)."""
  print(*args, file=sys.stderr, flush=True)


def cpu() -> dict:
  """This host's CPU: its model name and whether it has bfloat16 dot instructions (AVX512-BF16
  or AMX), which decide whether bfloat16 matmuls outrun float32 ones (Linux; else unknown)."""
  model, flags = None, set()
  try:
    for line in open("/proc/cpuinfo", encoding="utf-8"):
      key, _, value = line.partition(":")
      if key.strip() == "model name" and model is None:
        model = value.strip()
      elif key.strip() == "flags" and not flags:
        flags = set(value.split())
  except OSError:
    pass
  return {"model": model, "bf16_dot": bool(flags & {"avx512_bf16", "amx_bf16"}) if flags else None}


def device_name() -> str:
  """The first device's kind ("cpu", "NVIDIA H200", "TPU v4"), else its platform."""
  device = jax.devices()[0]
  return getattr(device, "device_kind", None) or device.platform


@dataclasses.dataclass(frozen=True)
class Timing:
  """One timed call: wall-clock seconds and process CPU seconds (summed over threads)."""
  wall: float
  cpu: float


def timed(fn: Callable[[], Any]) -> tuple[Any, Timing]:
  """Calls `fn`, waits for its result with block_until_ready, returns (result, Timing)."""
  wall, cpu = time.perf_counter(), time.process_time()
  result = jax.block_until_ready(fn())
  return result, Timing(time.perf_counter() - wall, time.process_time() - cpu)


def median(values) -> float:
  return statistics.median(values)


def matmul_rates(n: int, repeats: int, dtype: str = "float32") -> dict:
  """GFLOP/s of a jitted [n, n] x [n, n] `jnp.dot` (2 * n**3 FLOPs) in `dtype`, accumulated and
  returned in float32 (bfloat16 operands: preferred_element_type=float32, as flan's model
  computes), after a warm-up.

  Returns {"gflops": best wall-clock rate, "gflops_per_cpu_s": median rate per CPU-second}.
  """
  dot = jax.jit(lambda a, b: jnp.dot(a, b, preferred_element_type=jnp.float32))
  a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32).astype(dtype)
  b = jax.random.normal(jax.random.key(1), (n, n), jnp.float32).astype(dtype)
  jax.block_until_ready(dot(a, b))
  timings = [timed(lambda: dot(a, b))[1] for _ in range(repeats)]
  flops = 2 * n ** 3
  return {"gflops": flops / min(t.wall for t in timings) / 1e9,
          "gflops_per_cpu_s": median(flops / max(t.cpu, 1e-9) / 1e9 for t in timings)}


def matmul_peak(sizes: tuple[int, ...] = (1024, 2048, 3072), repeats: int = 5,
                dtype: str = "float32") -> dict:
  """This machine's matmul peak in `dtype` over square `jnp.dot`s of `sizes`.

  Returns {"gflops", "size", "by_size", "gflops_per_cpu_s"}: the best wall-clock GFLOP/s, the
  size that reached it, the best of every size, and the best per-CPU-second rate of any size.
  """
  by_size, per_cpu_s = {}, {}
  for n in sizes:
    rates = matmul_rates(n, repeats, dtype)
    by_size[n], per_cpu_s[n] = rates["gflops"], rates["gflops_per_cpu_s"]
    log(f"matmul {n}x{n} {dtype}: {by_size[n]:.1f} GFLOP/s (best of {repeats}), "
        f"{per_cpu_s[n]:.1f} GFLOP per CPU-second")
  size = max(by_size, key=by_size.get)
  return {"gflops": by_size[size], "size": size, "by_size": by_size,
          "gflops_per_cpu_s": max(per_cpu_s.values())}
