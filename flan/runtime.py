"""Keep freed host memory in the process, so a CPU train step does not page-fault its buffers anew.

XLA's CPU backend (and PyTorch's) allocates every step's temporaries and outputs with malloc.
glibc serves blocks over 32 MB with a fresh mmap and unmaps them on free, so each step touches
hundreds of MB of new pages, and the kernel zeroes every page on its first touch: a float32
[32, 512, 512] elementwise op took 10.8 ms instead of 2.0 ms on a 2-core EPYC, and the small
preset's bfloat16 train step 2.31 s instead of 1.84 s.

`keep_freed_memory()` tells glibc to serve large blocks from its heap (M_MMAP_MAX = 0), to keep
freed memory instead of trimming it (M_TRIM_THRESHOLD), and to use one arena (M_ARENA_MAX = 1;
with 2 or more, XLA's threads get arenas whose freed heaps go back to the kernel and most of
the gain is lost), so that the next step reuses pages that are already mapped. The process
keeps its peak resident memory for its lifetime, which a training process does anyway.

The price is malloc contention between threads: TensorFlow's multi-threaded input pipeline
loses about 40% of its throughput (benchmarks/pipeline.py: 340k -> 190k positions/s on 2
cores, still 12x what the demo's train step consumes). So it is for CPU training only:
`keep_freed_memory()` does nothing on a host with an accelerator (JAX_PLATFORMS naming another
platform, TPU or NVIDIA device files), with FLAN_KEEP_FREED_MEMORY=0, or elsewhere than glibc.
Call it at startup, before JAX or TensorFlow start their threads; `flan` does (flan/cli.py).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os

# mallopt parameters, from glibc's malloc.h.
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
M_ARENA_MAX = -8
SWITCH = "FLAN_KEEP_FREED_MEMORY"  # "0" turns it off
TRIM_THRESHOLD = 2 ** 31 - 1  # bytes of free heap top kept before returning any to the kernel

_applied = False


def on_accelerator_host() -> bool:
  """Whether JAX will compute on an accelerator here: JAX_PLATFORMS names a platform other than
  cpu, or the host has TPU (/dev/accel*, /dev/vfio/*) or NVIDIA (/dev/nvidia0...) devices."""
  platforms = [p for p in os.environ.get("JAX_PLATFORMS", "").split(",") if p]
  if platforms:
    return platforms[0] != "cpu"
  patterns = ("/dev/accel*", "/dev/vfio/[0-9]*", "/dev/nvidia[0-9]*")
  return any(glob.glob(pattern) for pattern in patterns)


def keep_freed_memory() -> bool:
  """Applies the settings of the module docstring once, for CPU training; True when glibc took
  all of them, False when skipped (see the module docstring) or refused."""
  global _applied
  if _applied:
    return True
  if os.environ.get(SWITCH) == "0" or on_accelerator_host():
    return False
  try:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    mallopt = libc.mallopt
  except (OSError, AttributeError):
    return False
  mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
  settings = ((M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, TRIM_THRESHOLD), (M_ARENA_MAX, 1))
  _applied = all(mallopt(parameter, value) == 1 for parameter, value in settings)
  return _applied
