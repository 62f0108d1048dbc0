"""flan.runtime: the process set-up of the `flan` command, and a quiet terminal.

The set-up is process-wide (loggers, warning filters, an import hook), so anything that applies
it runs in a fresh interpreter; in-process tests check the pieces.
"""

import importlib.util
import logging
import os
import pathlib
import re
import subprocess
import sys

import pytest

from flan import cli, runtime

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
# TensorFlow's C++ log lines ("I0000 00:00:1796... cudart_stub.cc:31] Could not find cuda ...").
TF_CPP_LINE = re.compile(r"^[IWEF]\d{4} ", re.MULTILINE)


def run_flan(*argv, env):
  """Starts `flan ARGV` with TensorFlow's log level left to flan (tests/conftest.py sets it)."""
  env = {**{k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}, **env}
  return subprocess.Popen([sys.executable, "-m", "flan.cli", *argv], cwd=REPO_ROOT, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def test_a_command_prints_only_its_own_output_unless_verbose(synthetic_data_dir):
  """`flan data show` imports TensorFlow, TFDS and SeqIO: by default stderr stays empty; with
  --verbose (before or after the command) TensorFlow's C++ log is back."""
  env = {"FLAN_DATA_DIR": synthetic_data_dir}
  argv = ("data", "show", "flan:synth_reviews", "--n", "1")
  quiet, verbose = run_flan(*argv, env=env), run_flan(*argv, "--verbose", env=env)
  (out, err), (verbose_out, verbose_err) = quiet.communicate(240), verbose.communicate(240)
  assert quiet.returncode == 0 and verbose.returncode == 0, err + verbose_err
  assert out.count("=== synth_reviews [train] example") == 1 and verbose_out == out
  assert err == ""
  assert TF_CPP_LINE.search(verbose_err), verbose_err


QUIET_PROBE = """
import sys, warnings
from flan import runtime
runtime.setup(cpu_compute=False, verbose=sys.argv[1] == "verbose")
from absl import logging
logging.warning("Task 'flan:x' not cached so using number of input examples")
warnings.warn_explicit("Sharding info not provided when restoring", UserWarning,
                       "jax_array_handlers.py", 1027, module="orbax.checkpoint._src.x")
warnings.warn_explicit("skipping checkpoint 7: it is incomplete", UserWarning, "manager.py", 60,
                       module="flan.checkpoint.manager")
"""


@pytest.mark.parametrize("mode", ["quiet", "verbose"])
def test_library_warnings_are_hidden_and_flans_own_stay(mode):
  result = subprocess.run([sys.executable, "-c", QUIET_PROBE, mode], capture_output=True,
                          text=True, cwd=REPO_ROOT, timeout=60)
  assert result.returncode == 0, result.stderr
  assert "skipping checkpoint 7" in result.stderr
  for noise in ("not cached", "Sharding info not provided"):
    assert (noise in result.stderr) == (mode == "verbose"), (noise, result.stderr)


@pytest.fixture()
def probe_module(tmp_path, monkeypatch):
  """Writes an importable module `name` whose import writes to file descriptor 2 (as a C++
  library does) and runs `body`; removes it from sys.modules afterwards."""
  monkeypatch.syspath_prepend(str(tmp_path))
  written = []

  def make(name, body=""):
    (tmp_path / f"{name}.py").write_text(
        f"import os\nos.write(2, b'loading {name}: noise\\n')\n{body}\n")
    written.append(name)
    return name

  yield make
  for name in written:
    sys.modules.pop(name, None)
  sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, runtime._AfterImport)]


def test_after_import_runs_once_on_the_real_import_and_hides_its_stderr(probe_module, capfd):
  name = probe_module("flan_probe_quiet")
  calls = []
  runtime.after_import(name, lambda: calls.append(sys.modules[name].__name__), quiet=True)
  assert importlib.util.find_spec(name) is not None and calls == []  # a look-up only (etils)
  __import__(name)
  __import__(name)
  assert calls == [name]
  assert "noise" not in capfd.readouterr().err
  assert not any(isinstance(f, runtime._AfterImport) for f in sys.meta_path)
  runtime.after_import(name, lambda: calls.append("again"))  # already imported: runs now
  assert calls == [name, "again"]


def test_after_import_shows_what_a_failing_import_printed(probe_module, capfd):
  name = probe_module("flan_probe_broken", body="raise ImportError('no such library')")
  runtime.after_import(name, lambda: None, quiet=True)
  with pytest.raises(ImportError, match="no such library"):
    __import__(name)
  assert "loading flan_probe_broken: noise" in capfd.readouterr().err


def test_after_import_not_quiet_leaves_stderr_alone(probe_module, capfd):
  name = probe_module("flan_probe_loud")
  runtime.after_import(name, lambda: None, quiet=False)
  __import__(name)
  assert "loading flan_probe_loud: noise" in capfd.readouterr().err


class SetUp(Exception):
  """Raised by the stand-in for runtime.setup: the command stops right after its set-up."""


@pytest.mark.parametrize("argv, cpu_compute, verbose", [
    (["demo"], True, False),
    (["train", "--gin_file=demo.gin"], True, False),
    (["eval", "--model_dir", "m", "--task", "rte"], True, False),
    (["sweep", "holdout", "--gin_file=demo.gin"], True, False),
    (["data", "show", "rte", "--verbose"], False, True),
    (["--verbose", "data", "prepare", "--synthetic"], False, True),
    (["export", "hf", "--checkpoint", "m", "--out", "o"], False, False),
    (["import", "hf", "--from", "h", "--out", "o"], False, False),
    (["plan", "--gin_file=demo.gin"], False, False),
])
def test_host_memory_only_where_jax_computes(monkeypatch, argv, cpu_compute, verbose):
  """keep_freed_memory costs TensorFlow's input pipeline ~40%: only train, eval, demo and sweep
  (JAX computing on this host) get it; --verbose is global, before or after the command."""
  def setup(**kwargs):
    raise SetUp(kwargs)
  monkeypatch.setattr(runtime, "setup", setup)
  with pytest.raises(SetUp) as stopped:
    cli.main(argv)
  assert stopped.value.args[0] == {"cpu_compute": cpu_compute, "verbose": verbose}


def test_gin_logs_no_error_for_an_include_it_finds(caplog):
  """configs/demo.gin includes 'models/demo.gin': gin looks under '' first (a miss it used to
  log as "ERROR:root:Path not found") and then finds it under configs/."""
  from flan.cli import gin_config
  with caplog.at_level(logging.INFO):
    gin_config.parse(["demo.gin"], [])
  assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
  with pytest.raises(gin_config.GinError, match="Unable to open file: models/nope.gin"):
    gin_config.parse(["demo.gin"], ["include 'models/nope.gin'"])


def test_synthetic_prepare_does_not_claim_a_download(tmp_path, capsys):
  """TFDS prints "Downloading and preparing dataset Unknown size" for every build; a synthetic
  dataset is generated, and the commands say so themselves."""
  from flan.data import synthetic
  synthetic.prepare(["synth_addition"], data_dir=tmp_path, max_examples_per_split=4)
  assert capsys.readouterr().out == ""


def test_workers_are_set_up_as_their_parent(monkeypatch):
  """`flan data prepare --jobs N` builds in spawned interpreters: each gets the parent's quiet
  (or verbose) set-up, never the host-memory setting; nothing when the parent had none."""
  monkeypatch.setattr(runtime, "_settings", None)
  assert runtime.worker_initializer() == (None, ())
  monkeypatch.setattr(runtime, "_settings", {"cpu_compute": True, "verbose": True})
  assert runtime.worker_initializer() == (runtime.setup, (False, True))
