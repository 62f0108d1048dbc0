"""The same tiny run on 1 device and on 8 host devices with a (2, 2, 2) mesh: the same losses.

Runs in a subprocess because the device count is fixed when JAX starts.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import json, sys
    import jax
    from flan.model import presets
    from flan.checkpoint import restore
    from flan.train import trainer
    assert jax.device_count() == 8, jax.devices()
    out = {}
    for name, mesh in (("one", (1, 1, 1)), ("mesh222", (2, 2, 2))):
      model_dir = sys.argv[1] + "/" + name
      trainer.train(model_dir=model_dir, mixture="mix:synthetic", model=presets["tiny"],
                    num_steps=6, batch_size=8, inputs_length=96, targets_length=32,
                    learning_rate=3e-3, log_every=1, checkpoint_every=0, progress=False,
                    mesh_shape=mesh)
      lines = open(model_dir + "/metrics.jsonl").read().splitlines()
      out[name] = [json.loads(line)["loss"] for line in lines]
      _, _, params, _ = restore.load_model(model_dir)  # restores whatever mesh trained it
      out[name + "_params"] = float(sum(abs(p).sum() for p in jax.tree.leaves(params)))
    print("RESULT " + json.dumps(out))
""")


@pytest.mark.slow  # ~90 s; make test keeps the 2-process run and the 3-axis TPU compiles
def test_one_device_and_222_mesh_give_the_same_losses(tmp_path, synthetic_data_dir):
  env = dict(os.environ, FLAN_DATA_DIR=synthetic_data_dir, JAX_PLATFORMS="cpu",
             XLA_FLAGS="--xla_force_host_platform_device_count=8", TF_CPP_MIN_LOG_LEVEL="3")
  result = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  line = [l for l in result.stdout.splitlines() if l.startswith("RESULT ")][-1]
  out = json.loads(line[len("RESULT "):])
  assert len(out["one"]) == 6
  for a, b in zip(out["one"], out["mesh222"]):
    assert abs(a - b) <= 2e-4 * abs(a), (out["one"], out["mesh222"])
  assert abs(out["one_params"] - out["mesh222_params"]) <= 1e-4 * out["one_params"]
