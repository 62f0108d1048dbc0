"""flan.runtime.keep_freed_memory: glibc accepts its settings, and a freed 64 MB block is
reused without page faults (measured in fresh subprocesses, so the settings stay out of pytest)."""

import ctypes.util
import json
import os
import pathlib
import platform
import subprocess
import sys

import pytest

from flan import runtime

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
FIRST_TOUCH_FAULTS = 10_000  # 64 MB is 16384 pages of 4 KiB; each faults on its first touch
REUSE_FAULTS = 2_000         # measured: 0 faults to reuse a kept block


def is_glibc() -> bool:
  return platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


requires_glibc = pytest.mark.skipif(not is_glibc(), reason="mallopt settings are glibc's")

# Allocates and touches a 64 MB block (bytes * n fills every page; a numpy array would not do:
# numpy asks for transparent huge pages, which fault 2 MB at a time), frees it, and does it
# again, printing the minor page faults of each round.
MEASURE = """
import json, resource, sys
if sys.argv[1] == "keep":
  from flan import runtime
  assert runtime.keep_freed_memory()
def faults():
  return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
rounds = []
for _ in range(3):
  before = faults()
  block = b"\\x01" * (64 << 20)
  rounds.append(faults() - before)
  del block
print(json.dumps(rounds))
"""


def run_python(code: str, *args: str):
  """Runs `code` in a fresh interpreter; the JSON value its last line of output prints."""
  result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          cwd=REPO_ROOT, timeout=60)
  assert result.returncode == 0, result.stderr
  return json.loads(result.stdout.strip().splitlines()[-1])


def page_faults_per_round(mode: str) -> list[int]:
  return run_python(MEASURE, mode)


@requires_glibc
def test_keep_freed_memory_applies_and_is_idempotent():
  """glibc takes all three settings; a second call also reports them applied (in a subprocess,
  as everywhere here: the settings would otherwise stay with the pytest process)."""
  assert ctypes.util.find_library("c")
  code = ("import json; from flan import runtime as h; "
          "print(json.dumps([h.keep_freed_memory(), h.keep_freed_memory(), h._applied]))")
  assert run_python(code) == [True, True, True]


@requires_glibc
def test_without_it_a_reallocated_block_faults_again():
  """The problem: glibc unmaps a freed 64 MB block, so every allocation faults all its pages."""
  rounds = page_faults_per_round("default")
  assert all(faults >= FIRST_TOUCH_FAULTS for faults in rounds), rounds


@requires_glibc
def test_with_it_a_reallocated_block_reuses_its_pages():
  """The fix: the first touch still faults, but the freed block's pages are reused thereafter."""
  first, *again = page_faults_per_round("keep")
  assert first >= FIRST_TOUCH_FAULTS, first
  assert all(faults < REUSE_FAULTS for faults in again), again


def test_accelerator_hosts_are_left_alone(monkeypatch):
  """JAX_PLATFORMS decides first (its first platform); without it, device files would."""
  from flan import runtime
  monkeypatch.setenv("JAX_PLATFORMS", "tpu,cpu")
  assert runtime.on_accelerator_host()
  monkeypatch.setenv("JAX_PLATFORMS", "cuda")
  assert runtime.on_accelerator_host()
  monkeypatch.setenv("JAX_PLATFORMS", "cpu")
  assert not runtime.on_accelerator_host()
  monkeypatch.setenv("JAX_PLATFORMS", "")
  monkeypatch.setattr(runtime.glob, "glob",
                      lambda pattern: ["/dev/accel0"] if pattern == "/dev/accel*" else [])
  assert runtime.on_accelerator_host()
  monkeypatch.setattr(runtime.glob, "glob", lambda pattern: [])
  assert not runtime.on_accelerator_host()


@requires_glibc
def test_switched_off_or_on_an_accelerator_host_it_does_nothing():
  """FLAN_KEEP_FREED_MEMORY=0 or JAX_PLATFORMS=tpu: nothing applied, blocks fault again."""
  code = ("import json; from flan import runtime as h; "
          "print(json.dumps([h.keep_freed_memory(), h._applied]))")
  for env in ({"FLAN_KEEP_FREED_MEMORY": "0"}, {"JAX_PLATFORMS": "tpu"}):
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=REPO_ROOT, timeout=60, env={**os.environ, **env})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [False, False], env


def test_no_tpu_backend_attempt_on_a_host_without_accelerators(monkeypatch):
  monkeypatch.delenv("JAX_PLATFORMS", raising=False)
  monkeypatch.delenv("TPU_SKIP_MDS_QUERY", raising=False)
  monkeypatch.setattr(runtime, "on_accelerator_host", lambda: False)
  runtime.skip_absent_tpu()
  assert os.environ["JAX_PLATFORMS"] == "cpu" and os.environ["TPU_SKIP_MDS_QUERY"] == "1"
  monkeypatch.setenv("JAX_PLATFORMS", "tpu")  # an explicit choice stays
  runtime.skip_absent_tpu()
  assert os.environ["JAX_PLATFORMS"] == "tpu"
  monkeypatch.delenv("JAX_PLATFORMS")
  monkeypatch.setattr(runtime, "on_accelerator_host", lambda: True)  # a TPU/GPU host: JAX picks
  runtime.skip_absent_tpu()
  assert "JAX_PLATFORMS" not in os.environ
