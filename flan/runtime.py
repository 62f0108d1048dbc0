"""Process set-up for the `flan` command, in one place: `setup()`, once, before any command.

    runtime.setup(cpu_compute=True)    # train, eval, demo, sweep: JAX computes on this host
    runtime.setup(cpu_compute=False)   # data, export, import, plan: TensorFlow or numpy only

1. TensorFlow only feeds data, so it is kept off accelerators: right after TensorFlow is first
   imported (by flan, SeqIO or TFDS, whichever comes first) only the CPU stays visible to it,
   before it creates its context, so it never takes GPU or TPU memory that JAX needs
   (`keep_tensorflow_off_accelerators`; the input pipeline also calls it, for library users).
2. Third-party noise stays out of the terminal:
   - TensorFlow's C++ log (TF_CPP_MIN_LOG_LEVEL=3) and what its libraries print while they load
     ("Could not find cuda drivers on your machine", twice; no variable silences it): stderr
     goes nowhere during `import tensorflow` (and is shown if the import fails);
   - absl records below ERROR (SeqIO's "Task ... not cached", Orbax's "Metadata file does not
     exist", TFDS's "Variant folder ... has no dataset_info.json") and TensorFlow's Python log;
   - Python warnings raised inside Orbax, TensorFlow, TFDS or SeqIO (Orbax's "Sharding info
     not provided when restoring"), and TFDS's progress bars.
   flan's own messages and warnings (a skipped incomplete checkpoint, say) and JAX's still
   show. With `flan --verbose` (`verbose=True`) none of this is done: all of it shows again.
3. Host memory, only with `cpu_compute` (it slows TensorFlow's input pipeline): see below.
4. No TPU backend attempt on a host without accelerators where libtpu is installed
   (`skip_absent_tpu`).

Host memory: keep freed memory in the process, so a CPU train step does not page-fault its
buffers anew.

XLA's CPU backend (and PyTorch's) allocates every step's temporaries and outputs with malloc.
glibc serves blocks over 32 MB with a fresh mmap and unmaps them on free, so each step touches
hundreds of MB of new pages, and the kernel zeroes every page on its first touch, which slows
elementwise ops several-fold and whole train steps measurably (figures: benchmarks/README.md).

`keep_freed_memory()` tells glibc to serve large blocks from its heap (M_MMAP_MAX = 0), to keep
freed memory instead of trimming it (M_TRIM_THRESHOLD), and to use one arena (M_ARENA_MAX = 1;
with 2 or more, XLA's threads get arenas whose freed heaps go back to the kernel and most of
the gain is lost), so that the next step reuses pages that are already mapped. The process
keeps its peak resident memory for its lifetime, which a training process does anyway.

The price is malloc contention between threads: TensorFlow's multi-threaded input pipeline
loses a large share of its throughput (benchmarks/pipeline.py; figures in benchmarks/README.md),
though it still outpaces the demo's train step. So it is for CPU training only:
`keep_freed_memory()` does nothing on a host with an accelerator (JAX_PLATFORMS naming another
platform, TPU or NVIDIA device files), with FLAN_KEEP_FREED_MEMORY=0, or elsewhere than glibc.
Call it at startup, before JAX or TensorFlow start their threads; `setup` does.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import glob
import importlib.abc
import importlib.util
import logging
import os
import sys
import tempfile
import warnings

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


# Python warnings raised inside these packages are theirs, not the user's run's.
NOISY_PACKAGES = ("orbax", "tensorflow", "tensorflow_datasets", "seqio")
# Python loggers that only repeat library internals at WARNING level (absl carries SeqIO's,
# Orbax's and TFDS's records).
NOISY_LOGGERS = ("absl", "tensorflow")

_settings: dict | None = None  # what setup() was called with


def setup(cpu_compute: bool, verbose: bool = False) -> None:
  """Sets the process up for a command, once (see the module docstring); call it before JAX or
  TensorFlow are imported. `cpu_compute`: JAX trains or evaluates in this process."""
  global _settings
  if _settings is not None:
    return
  _settings = {"cpu_compute": cpu_compute, "verbose": verbose}
  skip_absent_tpu()
  if not verbose:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    for name in NOISY_LOGGERS:
      logging.getLogger(name).setLevel(logging.ERROR)
    for package in NOISY_PACKAGES:
      warnings.filterwarnings("ignore", module=rf"{package}(\.|$)")
  after_import("tensorflow", keep_tensorflow_off_accelerators, quiet=not verbose)
  if not verbose:
    after_import("tensorflow_datasets", lambda: sys.modules["tensorflow_datasets"]
                 .disable_progress_bar())
  if cpu_compute:
    keep_freed_memory()


def worker_initializer() -> tuple:
  """(initializer, initargs) for a process pool whose workers (fresh interpreters) read data:
  each is set up as this process was, without host memory; (None, ()) if this one was not."""
  if _settings is None:
    return None, ()
  return setup, (False, _settings["verbose"])


def keep_tensorflow_off_accelerators() -> None:
  """Leaves TensorFlow only the CPU (it feeds data; JAX owns GPUs and TPUs). Does nothing once
  TensorFlow has created its context, which is why `setup` runs it right after the import."""
  import tensorflow as tf
  try:
    tf.config.set_visible_devices(tf.config.list_physical_devices("CPU"))
  except RuntimeError:
    pass  # TensorFlow is already initialized: too late to change, and it was never ours


def after_import(module: str, callback, quiet: bool = False) -> None:
  """Runs `callback()` right after `module` is first imported, by whomever (now if it already
  is). quiet: the process's stderr goes nowhere while the module loads, except when the
  import fails, then what it printed is shown."""
  if module in sys.modules:
    callback()
    return
  sys.meta_path.insert(0, _AfterImport(module, callback, quiet))


class _AfterImport(importlib.abc.MetaPathFinder):
  """An import hook for `module`: finds it as the other finders do and wraps its loader; leaves
  sys.meta_path when the module is loaded (not when merely looked up: etils asks
  `importlib.util.find_spec("tensorflow")` only to learn whether it is installed)."""

  def __init__(self, module: str, callback, quiet: bool):
    self.module, self.callback, self.quiet = module, callback, quiet
    self._finding = False

  def find_spec(self, fullname, path, target=None):
    if fullname != self.module or self._finding:
      return None
    self._finding = True
    try:
      spec = importlib.util.find_spec(fullname)
    finally:
      self._finding = False
    if spec is not None and spec.loader is not None:
      spec.loader = _Loader(spec.loader, self)
    return spec


class _Loader(importlib.abc.Loader):

  def __init__(self, loader, hook: _AfterImport):
    self.loader, self.hook = loader, hook

  def create_module(self, spec):
    return self.loader.create_module(spec)

  def exec_module(self, module):
    if self.hook in sys.meta_path:
      sys.meta_path.remove(self.hook)
    module.__loader__ = module.__spec__.loader = self.loader  # the module sees its own loader
    with _stderr_hidden() if self.hook.quiet else contextlib.nullcontext():
      self.loader.exec_module(module)
      self.hook.callback()


@contextlib.contextmanager
def _stderr_hidden():
  """File descriptor 2 goes to a temporary file (C++ libraries write there directly, bypassing
  sys.stderr); on an exception its content is written back before the exception goes on."""
  sys.stderr.flush()
  saved = os.dup(2)
  with tempfile.TemporaryFile() as captured:
    os.dup2(captured.fileno(), 2)
    try:
      yield
    except BaseException:
      sys.stderr.flush()
      os.dup2(saved, 2)
      captured.seek(0)
      os.write(2, captured.read())
      raise
    finally:
      sys.stderr.flush()
      os.dup2(saved, 2)
      os.close(saved)


def skip_absent_tpu() -> None:
  """With libtpu installed (the `test` and `tpu` extras) JAX tries a TPU backend at its first
  use even on a host without a TPU; libtpu then prints a screen of errors before JAX falls back
  to the CPU. On a host with no accelerator devices and JAX_PLATFORMS unset, this sets
  JAX_PLATFORMS=cpu (what JAX would end up with) and TPU_SKIP_MDS_QUERY=1 (no cloud metadata
  query; `flan plan --topology` still compiles for TPU). Call it before JAX's first use."""
  if os.environ.get("JAX_PLATFORMS") or on_accelerator_host():
    return
  os.environ["JAX_PLATFORMS"] = "cpu"
  os.environ.setdefault("TPU_SKIP_MDS_QUERY", "1")

