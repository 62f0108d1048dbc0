"""Two local processes under `jax.distributed` (2 CPU devices each) give the same losses as one
process with 4 devices, on the same (2, 2, 1) mesh.

With host_input="global" every process reads the whole stream and feeds its devices' rows of each
global batch, so together they feed exactly the one-process batches. The CPU collectives between
the processes are gloo's (jax's default for CPU under `jax.distributed`).
"""

import json
import os
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np

SCRIPT = textwrap.dedent("""
    import json, sys
    import jax
    model_dir, process, port = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if process >= 0:
      jax.distributed.initialize(coordinator_address=f"localhost:{port}", num_processes=2,
                                 process_id=process)
      assert jax.process_count() == 2 and len(jax.local_devices()) == 2, jax.devices()
    from flan.model import presets
    from flan.train import trainer
    assert jax.device_count() == 4, jax.devices()
    trainer.train(model_dir=model_dir, mixture="flan:synth_reviews", model=presets["tiny"],
                  num_steps=4, batch_size=8, inputs_length=96, targets_length=32,
                  learning_rate=3e-3, log_every=1, checkpoint_every=0, progress=False,
                  tensorboard=False, mesh_shape=(2, 2, 1),
                  host_input="shard" if process < 0 else "global")
""")


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def run_together(runs, tmp_path, data_dir, timeout=300):
  """Starts every (model_dir, process, devices) run at once; a failed one stops the others (a
  process whose peer died would wait for it forever)."""
  port = free_port()
  processes, logs = [], []
  for i, (model_dir, process, devices) in enumerate(runs):
    env = dict(os.environ, FLAN_DATA_DIR=data_dir, JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3",
               XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
    logs.append(tmp_path / f"run{i}.log")
    with logs[-1].open("w") as log:
      processes.append(subprocess.Popen(
          [sys.executable, "-c", SCRIPT, str(model_dir), str(process), str(port)], env=env,
          stdout=log, stderr=subprocess.STDOUT))
  deadline = time.time() + timeout
  try:
    while any(p.poll() is None for p in processes):
      if any(p.poll() not in (None, 0) for p in processes) or time.time() > deadline:
        break
      time.sleep(0.2)
  finally:
    for p in processes:
      if p.poll() is None:
        p.kill()
        p.wait()
  for p, log in zip(processes, logs):
    assert p.returncode == 0, log.read_text()[-3000:]


def losses(model_dir):
  lines = (model_dir / "metrics.jsonl").read_text().splitlines()
  return [json.loads(line)["loss"] for line in lines]


def test_two_processes_give_the_losses_of_one(tmp_path, synthetic_data_dir):
  one, two = tmp_path / "one", tmp_path / "two"
  run_together([(one, -1, 4), (two, 0, 2), (two, 1, 2)], tmp_path, synthetic_data_dir)
  assert len(losses(one)) == 4
  np.testing.assert_allclose(losses(two), losses(one), rtol=1e-5)
