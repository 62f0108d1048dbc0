"""scripts/tpu/launch.sh with a stand-in `gcloud` that runs the remote command in a local shell.

The stand-in records its argv and runs `--command` with `bash -c`, as the worker's login shell
would; a stand-in `flan` writes the argv it receives. HOME is a temporary folder holding the
`~/flan` checkout (an empty venv) and `~/flan-runs`.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import time

import pytest

LAUNCH = pathlib.Path(__file__).resolve().parents[1] / "scripts" / "tpu" / "launch.sh"
GCLOUD = """#!/usr/bin/env bash
printf '%s\\n' "$@" >> "$HOME/gcloud.log"
while [ $# -gt 0 ]; do
  if [ "$1" = --command ]; then exec bash -c "$2"; fi
  shift
done
"""
FLAN = f"""#!{sys.executable}
import json, os, sys, time
with open(os.path.expanduser("~/argv.json"), "w") as f:
  json.dump({{"argv": sys.argv[1:], "data_dir": os.environ.get("FLAN_DATA_DIR")}}, f)
print("step 1 loss 2.5", flush=True)
if "--sleep" in sys.argv:
  time.sleep(60)
"""


@pytest.fixture()
def pod(tmp_path):
  """(run launch.sh with args -> CompletedProcess, HOME)."""
  home, bin_dir = tmp_path / "home", tmp_path / "bin"
  (home / "flan" / ".venv" / "bin").mkdir(parents=True)
  (home / "flan" / ".venv" / "bin" / "activate").write_text("")
  bin_dir.mkdir()
  for name, text in (("gcloud", GCLOUD), ("flan", FLAN)):
    (bin_dir / name).write_text(text)
    (bin_dir / name).chmod(0o755)
  env = dict(os.environ, HOME=str(home), PATH=f"{bin_dir}:{os.environ['PATH']}", FLAN_RUN="r1")

  def launch(*args):
    return subprocess.run(["bash", str(LAUNCH), "flan-v3-128", "europe-west4-a", *args],
                          env=env, capture_output=True, text=True, timeout=60)
  return launch, home


def wait_for(path: pathlib.Path, seconds: float = 30):
  deadline = time.time() + seconds
  while not path.exists() and time.time() < deadline:
    time.sleep(0.1)
  assert path.exists(), path
  time.sleep(0.1)
  return path.read_text()


def test_workers_receive_the_argv_the_user_typed(pod):
  launch, home = pod
  typed = ["flan", "train", "--distributed", "--gin_file=models/lamda_137b.gin",
           "--gin.MIXTURE='mix:flan:heldout_nli'", "--gin.MODEL_DIR='gs://bucket/runs/flan 137b'",
           "--gin.trainer.train.mesh_shape=(1, 8, 16)", '--gin_bindings=NAME = "a b"', "$HOME",
           "it's"]
  result = launch("--", "FLAN_DATA_DIR=gs://bucket/tensorflow datasets", *typed)
  assert result.returncode == 0, result.stderr
  host = subprocess.run(["hostname"], capture_output=True, text=True).stdout.strip()
  assert f"{host}: started r1" in result.stdout
  assert wait_for(home / "flan-runs" / "r1" / f"{host}.rc").strip() == "0"
  received = json.loads((home / "argv.json").read_text())
  assert received == {"argv": typed[1:], "data_dir": "gs://bucket/tensorflow datasets"}
  assert "--worker=all" in (home / "gcloud.log").read_text().splitlines()
  status = launch("status")
  assert f"{host}: exited 0" in status.stdout and "step 1 loss 2.5" in status.stdout
  assert "step 1 loss 2.5" in launch("logs", "r1").stdout
  assert f"{host}: not running" in launch("stop").stdout


def test_stop_ends_a_detached_run(pod):
  launch, home = pod
  assert launch("--", "flan", "train", "--sleep").returncode == 0
  wait_for(home / "argv.json")
  host = subprocess.run(["hostname"], capture_output=True, text=True).stdout.strip()
  assert f"{host}: running" in launch("status").stdout
  assert f"{host}: stopping" in launch("stop", "r1").stdout
  deadline = time.time() + 20
  while "running" in launch("status").stdout.split("\n")[0].replace("not running", "") \
      and time.time() < deadline:
    time.sleep(0.2)
  assert f"{host}: not running" in launch("status").stdout


def test_usage_and_bad_run_names(pod):
  launch, _ = pod
  assert launch("start").returncode == 2 and "usage:" in launch("start").stderr
  assert launch("--").returncode == 2
  assert launch("status", "../etc").returncode == 2
