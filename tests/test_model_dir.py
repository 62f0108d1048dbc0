"""The model directory (flan/checkpoint): its config file and the one vocabulary check, resolve,
and the trained-on mixture carried through `flan export params` and an `export hf` ->
`import hf` round trip, so a held-out cluster is still reported as held-out on the copy."""

import json
import shutil

import jax
import numpy as np
import pytest
from flax import nnx

from flan import cli
from flan.checkpoint import manager, model_dir as model_dir_lib, restore
from flan.checkpoint.model_dir import ModelDirError
from flan.data import vocab as vocab_lib
from flan.eval import runner
from flan.model import Decoder, presets

TINY = presets["tiny"]
HELDOUT_NLI = "mix:synthetic:heldout_nli"


def make_model_dir(model_dir, mixture=HELDOUT_NLI, step=5):
  """A model directory as the trainer leaves it (random tiny params, an optimizer state), no
  training needed."""
  model_dir.mkdir(parents=True)
  model_dir_lib.save_model_config(model_dir, TINY, None)
  params = nnx.state(Decoder(TINY, rngs=nnx.Rngs(1)), nnx.Param)
  state = {"step": np.int32(step), "params": params,
           "opt_state": jax.tree.map(lambda x: np.zeros_like(x), params)}
  ckpt = manager.Checkpointer(model_dir, asynchronous=False)
  ckpt.save(step, state, {"step": step, "data": {"batches": step}, "mixture": mixture,
                          "vocabulary": vocab_lib.fingerprint(None)})
  ckpt.close()
  return model_dir


def test_model_config_round_trip_and_vocabulary_check(tmp_path):
  own = tmp_path / "own"
  own.mkdir()
  shutil.copyfile(vocab_lib.DEFAULT_VOCAB, tmp_path / "spm.model")
  model_dir_lib.save_model_config(own, TINY, str(tmp_path / "spm.model"), copy_vocabulary=True)
  saved = json.loads((own / "model_config.json").read_text())
  assert saved == {"model": saved["model"], "vocabulary": "vocabulary.model",
                   "vocabulary_fingerprint": vocab_lib.fingerprint(None)}
  moved = tmp_path / "moved"
  own.rename(moved)  # the copied vocabulary is found relative to the folder
  loaded = model_dir_lib.load_model_config(moved)
  assert loaded == model_dir_lib.ModelDirConfig(TINY, str(moved / "vocabulary.model"),
                                                vocab_lib.fingerprint(None))
  # The same run again is fine; another shape or vocabulary is refused and nothing is written.
  model_dir_lib.check_compatible(moved, TINY, None)
  before = (moved / "model_config.json").read_bytes()
  other = TINY.__class__(**{**saved["model"], "d_ff": 96})
  with pytest.raises(ModelDirError, match=r"another shape: d_ff=256 \(this run: 96\)"):
    model_dir_lib.save_model_config(moved, other, None)
  with pytest.raises(ModelDirError, match="trained with another vocabulary"):
    model_dir_lib.check_compatible(moved, TINY, _other_vocabulary(tmp_path))
  assert (moved / "model_config.json").read_bytes() == before
  # The file changed since: refused by every reader (load_model_config is the one check).
  (moved / "vocabulary.model").write_bytes(b"not the same")
  with pytest.raises(ModelDirError, match="trained with a vocabulary that differs"):
    model_dir_lib.load_model_config(moved)
  (moved / "vocabulary.model").unlink()
  with pytest.raises(ModelDirError, match="vocabulary.model does not exist"):
    model_dir_lib.load_model_config(moved)


def _other_vocabulary(tmp_path):
  path = tmp_path / "other.model"
  path.write_bytes(vocab_lib.DEFAULT_VOCAB.read_bytes() + b"\0")
  return str(path)


def test_resolve_steps_and_meta(tmp_path):
  model_dir = make_model_dir(tmp_path / "m")
  assert model_dir_lib.checkpoint_steps(model_dir) == [5]
  assert model_dir_lib.resolve(model_dir) == (model_dir, 5)
  assert model_dir_lib.resolve(model_dir / "checkpoints" / "5") == (model_dir, 5)
  with pytest.raises(ModelDirError, match=r"no checkpoint at step 3 \(steps: \[5\]\)"):
    model_dir_lib.resolve(model_dir, 3)
  with pytest.raises(ModelDirError, match="is not a flan model directory"):
    model_dir_lib.resolve(tmp_path)
  assert model_dir_lib.read_meta(model_dir, 5)["data"] == {"batches": 5}
  assert model_dir_lib.trained_mixture(model_dir) == HELDOUT_NLI
  assert model_dir_lib.trained_mixture(tmp_path) is None
  config, _, params, _ = restore.load_model(model_dir / "checkpoints" / "5")
  assert config == TINY
  want = nnx.state(Decoder(TINY, rngs=nnx.Rngs(1)), nnx.Param)
  for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(want)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def run_cli(*argv):
  return cli.main([*map(str, argv)])


def test_trained_mixture_survives_export_and_import(tmp_path, synthetic_data_dir, use_data_dir,
                                                    capsys):
  """Issue 17 item 6, and the output-folder rules of item 2 on the way."""
  use_data_dir(synthetic_data_dir)
  source = make_model_dir(tmp_path / "run")
  heldout = runner.untrained_clusters(source)
  assert "nli" in heldout and "sentiment" not in heldout

  assert run_cli("export", "params", "--checkpoint", source, "--out", tmp_path / "params",
                 "--quiet") == 0
  hf = tmp_path / "hf"
  hf.mkdir()  # an existing empty folder needs no --overwrite
  assert run_cli("export", "hf", "--checkpoint", source, "--out", hf, "--quiet") == 0
  assert json.loads((hf / "flan_prompt.json").read_text())["trained_on"]["mixture"] == HELDOUT_NLI
  (hf / "NOTES.md").write_text("my notes\n")
  assert run_cli("export", "hf", "--checkpoint", source, "--out", hf, "--overwrite",
                 "--quiet") == 0
  assert (hf / "NOTES.md").read_text() == "my notes\n"  # --overwrite kept the user's file
  assert run_cli("import", "hf", "--from", hf, "--out", tmp_path / "back", "--quiet") == 0
  capsys.readouterr()

  for copy in (tmp_path / "params", tmp_path / "back"):
    assert model_dir_lib.trained_mixture(copy) == HELDOUT_NLI
    assert runner.untrained_clusters(copy) == heldout
  # Evaluated from the round-tripped copy, the held-out cluster is reported as held-out.
  assert run_cli("eval", "--model_dir", tmp_path / "back", "--task", "flan:synth_containment:t0",
                 "--limit", "2", "--splits", "test", "--quiet") == 0
  assert "| synth_containment | nli | held-out |" in capsys.readouterr().out
