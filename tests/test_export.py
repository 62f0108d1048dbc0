"""Hugging Face import/export and params-only export (flan/export), against transformers itself.

A tiny random Llama made with transformers (PyTorch CPU, float32) goes through
`flan import hf` -> flan logits == transformers logits -> `flan export hf` -> transformers loads
it with the same logits; training from the import lowers the loss; a scanned checkpoint exports
to the same bytes as the unscanned one; bad inputs are one-line errors.
"""

import dataclasses
import filecmp
import json
import pathlib
import shutil

import jax
import numpy as np
import pytest
from flax import nnx

from flan import cli
from flan.data import vocab as vocab_lib
from flan.model import Decoder, presets
from flan.checkpoint import manager, model_dir as model_dir_lib, restore
from flan.train import step as step_lib
import train_helpers

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

TOLERANCE = 1e-4
SIZES = dict(vocab_size=2048, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
             num_attention_heads=4, num_key_value_heads=2, head_dim=16)


def make_hf_llama(directory: pathlib.Path, tied: bool = False, **overrides):
  """A random tiny LlamaForCausalLM saved as safetensors, with the demo SentencePiece model."""
  torch.manual_seed(0)
  config = transformers.LlamaConfig(**SIZES, rms_norm_eps=1e-5, rope_theta=500.0,
                                    tie_word_embeddings=tied, bos_token_id=0, eos_token_id=1,
                                    pad_token_id=0, max_position_embeddings=256, **overrides)
  model = transformers.LlamaForCausalLM(config).float().eval()
  with torch.no_grad():
    for name, parameter in model.named_parameters():
      if "norm" in name:  # RMSNorm weights start at 1: perturb them so the mapping is tested
        parameter.add_(0.2 * torch.randn_like(parameter))
  model.save_pretrained(directory)
  shutil.copyfile(vocab_lib.DEFAULT_VOCAB, directory / "tokenizer.model")
  return model


def tokens_batch(vocab_size=2048, shape=(2, 12)):
  return np.random.default_rng(0).integers(0, vocab_size, shape).astype(np.int32)


def hf_logits(model, tokens):
  with torch.no_grad():
    return model(torch.tensor(tokens, dtype=torch.long)).logits.float().numpy()


def flan_logits(model_dir, tokens):
  _, graphdef, params, _ = restore.load_model(model_dir)
  return np.asarray(step_lib.model_logits(graphdef, params, {"decoder_input_tokens": tokens}))


def run_cli(*argv):
  return cli.main([*map(str, argv), "--quiet"])


@pytest.fixture(scope="module")
def llama(tmp_path_factory):
  """(HF folder, transformers model, flan import of it)."""
  root = tmp_path_factory.mktemp("llama")
  model = make_hf_llama(root / "hf")
  assert run_cli("import", "hf", "--from", root / "hf", "--out", root / "flan") == 0
  return root / "hf", model, root / "flan"


def test_import_matches_transformers_logits(llama):
  hf_dir, model, flan_dir = llama
  saved = json.loads((flan_dir / "model_config.json").read_text())
  assert saved["model"]["scale_tied_logits"] is False
  assert saved["model"]["rope_theta"] == 500.0 and saved["model"]["norm_eps"] == 1e-5
  assert saved["vocabulary"] == "vocabulary.model"  # inside the folder: it can be moved
  assert model_dir_lib.load_model_config(flan_dir).vocabulary == str(flan_dir / "vocabulary.model")
  tokens = tokens_batch()
  diff = np.abs(flan_logits(flan_dir, tokens) - hf_logits(model, tokens)).max()
  assert diff <= TOLERANCE, diff
  # The gin file parses, and binds the shape, the vocabulary and init_from.
  from flan.cli import gin_config
  gin_config.parse([str(flan_dir / "finetune.gin")], ["MIXTURE = 'mix:synthetic'",
                                                      "MODEL_DIR = '/tmp/x'"])
  import gin
  assert gin.query_parameter("trainer.train.init_from") == str(flan_dir)
  gin.clear_config()


def test_export_loads_in_transformers_with_the_same_logits(llama, tmp_path):
  _, model, flan_dir = llama
  out = tmp_path / "hf"
  assert run_cli("export", "hf", "--checkpoint", flan_dir, "--out", out,
                 "--max_shard_size", "100KB") == 0
  assert len(list(out.glob("model-*-of-*.safetensors"))) > 1
  assert (out / "model.safetensors.index.json").exists()
  assert not list(tmp_path.glob("hf.tmp-*"))
  exported = transformers.AutoModelForCausalLM.from_pretrained(out).float().eval()
  tokens = tokens_batch()
  diff = np.abs(hf_logits(exported, tokens) - hf_logits(model, tokens)).max()
  assert diff <= TOLERANCE, diff
  # The tokenizer is the run's vocabulary; tokenizer(inputs) is flan's prompt: [0] + ids + [EOS].
  import sentencepiece as spm
  sp = spm.SentencePieceProcessor(model_file=str(vocab_lib.DEFAULT_VOCAB))
  tokenizer = transformers.AutoTokenizer.from_pretrained(out)
  text = "Premise: A cat sat.\nDoes it follow?\nOPTIONS:\n- yes\n- no"
  assert tokenizer(text).input_ids == [0] + sp.encode(text) + [1]
  prompt = json.loads((out / "flan_prompt.json").read_text())
  assert (prompt["bos_id"], prompt["eos_id"]) == (0, 1)
  assert prompt["options"]["header"] == "OPTIONS:"


@pytest.mark.parametrize("gelu", [False, True])
def test_tied_llama_round_trip(tmp_path, gelu):
  if gelu and "mlp_activation" not in {f.name for f in dataclasses.fields(presets["tiny"])}:
    pytest.skip("this ModelConfig has no mlp_activation")
  model = make_hf_llama(tmp_path / "hf", tied=True,
                        **({"hidden_act": "gelu_pytorch_tanh"} if gelu else {}))
  assert run_cli("import", "hf", "--from", tmp_path / "hf", "--out", tmp_path / "flan") == 0
  tokens = tokens_batch()
  assert np.abs(flan_logits(tmp_path / "flan", tokens) - hf_logits(model, tokens)).max() \
      <= TOLERANCE
  assert run_cli("export", "hf", "--checkpoint", tmp_path / "flan", "--out", tmp_path / "out") == 0
  config = json.loads((tmp_path / "out" / "config.json").read_text())
  assert config["tie_word_embeddings"] is True
  exported = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "out").float()
  assert np.abs(hf_logits(exported, tokens) - hf_logits(model, tokens)).max() <= TOLERANCE


@pytest.fixture(scope="module")
def flan_run(tmp_path_factory):
  """A flan checkpoint like the demo's (tied, scaled logits) with a train state's opt_state."""
  model_dir = tmp_path_factory.mktemp("run") / "model"
  config = dataclasses.replace(presets["tiny"], rope_theta=1000.0)
  assert config.tie_embeddings and config.scale_tied_logits
  model_dir.mkdir()
  model_dir_lib.save_model_config(model_dir, config, None)
  params = nnx.state(Decoder(config, rngs=nnx.Rngs(3)), nnx.Param)
  rng = np.random.default_rng(1)
  params = jax.tree.map(lambda x: x + 0.1 * rng.standard_normal(x.shape).astype(x.dtype)
                        if x.ndim == 1 else x, params)
  state = {"step": np.int32(7), "params": params,
           "opt_state": jax.tree.map(lambda x: np.ones_like(x), params)}
  ckpt = manager.Checkpointer(model_dir, asynchronous=False)
  ckpt.save(7, state, {"step": 7, "data": {"batches": 7}, "mixture": "mix:synthetic",
                       "vocabulary": vocab_lib.fingerprint(None)})
  ckpt.close()
  return model_dir, config


def test_scaled_tied_model_exports_untied_with_the_same_logits(flan_run, tmp_path):
  model_dir, config = flan_run
  assert run_cli("export", "hf", "--checkpoint", model_dir, "--out", tmp_path / "hf") == 0
  hf_config = json.loads((tmp_path / "hf" / "config.json").read_text())
  assert hf_config["tie_word_embeddings"] is False
  exported = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "hf").float()
  tokens = tokens_batch(config.vocab_size)
  diff = np.abs(hf_logits(exported, tokens) - flan_logits(model_dir, tokens)).max()
  assert diff <= TOLERANCE, diff


def to_scanned(model_dir: pathlib.Path, out: pathlib.Path) -> None:
  """Copies a model directory into the scanned layout (tests/train_helpers.py): its config says
  scan_layers, its checkpoint holds blocks_scanned/<sub> stacked along a new leading axis."""
  shutil.copytree(model_dir, out, ignore=shutil.ignore_patterns("checkpoints"))
  saved = json.loads((model_dir / "model_config.json").read_text())
  saved["model"]["scan_layers"] = True
  (out / "model_config.json").write_text(json.dumps(saved))
  config, _, params, _ = restore.load_model(model_dir)
  scanned = nnx.state(Decoder(dataclasses.replace(config, scan_layers=True), rngs=nnx.Rngs(0)),
                      nnx.Param)
  scanned.replace_by_pure_dict(train_helpers.to_scanned(jax.device_get(params.to_pure_dict())))
  ckpt = manager.Checkpointer(out, asynchronous=False)
  source = manager.Checkpointer(model_dir, asynchronous=False)
  step = source.latest_step()
  meta = source.manager.restore(step, args=manager.ocp.args.Composite(
      meta=manager.ocp.args.JsonRestore()))["meta"]
  source.close()
  ckpt.save(step, {"step": np.int32(step), "params": scanned}, dict(meta))
  ckpt.close()


def test_scanned_checkpoint_exports_to_the_same_bytes(flan_run, tmp_path):
  model_dir, _ = flan_run
  to_scanned(model_dir, tmp_path / "scanned")
  assert run_cli("export", "hf", "--checkpoint", model_dir, "--out", tmp_path / "a") == 0
  assert run_cli("export", "hf", "--checkpoint", tmp_path / "scanned", "--out",
                 tmp_path / "b") == 0
  files = sorted(p.name for p in (tmp_path / "a").iterdir())
  assert files == sorted(p.name for p in (tmp_path / "b").iterdir())
  match, mismatch, errors = filecmp.cmpfiles(tmp_path / "a", tmp_path / "b", files, shallow=False)
  assert not mismatch and not errors and len(match) == len(files)


def test_scanned_model_loads_with_the_same_logits(flan_run, tmp_path):
  model_dir, config = flan_run
  to_scanned(model_dir, tmp_path / "scanned")
  config, _, params, _ = restore.load_model(tmp_path / "scanned")
  assert config.scan_layers and "blocks_scanned" in params
  tokens = tokens_batch(config.vocab_size)
  np.testing.assert_allclose(flan_logits(tmp_path / "scanned", tokens),
                             flan_logits(model_dir, tokens), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("source_scanned", [False, True])
def test_init_from_the_other_layout(flan_run, tmp_path, source_scanned):
  """A scanned run starts from an unscanned checkpoint and the other way round: the same
  parameters, re-stacked while read, placed with the target's shardings."""
  model_dir, config = flan_run
  if source_scanned:
    to_scanned(model_dir, tmp_path / "scanned")
    model_dir = tmp_path / "scanned"
  target_config = dataclasses.replace(config, scan_layers=not source_scanned)
  target = nnx.state(Decoder(target_config, rngs=nnx.Rngs(9)), nnx.Param)
  params = restore.init_params(model_dir, target_config, None, target)
  got = params.to_pure_dict()
  want = restore.load_model(model_dir)[2].to_pure_dict()
  want = train_helpers.to_unscanned(want) if source_scanned else train_helpers.to_scanned(want)
  assert jax.tree.structure(got) == jax.tree.structure(want)
  for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
    np.testing.assert_array_equal(a, b)
    assert a.sharding == jax.tree.leaves(target)[0].sharding


def test_params_export(flan_run, tmp_path):
  model_dir, config = flan_run
  out = tmp_path / "params"
  assert run_cli("export", "params", "--checkpoint", model_dir, "--out", out,
                 "--dtype", "bfloat16") == 0
  loaded_config, _, params, _ = restore.load_model(out)
  assert loaded_config.param_dtype == "bfloat16"
  assert {str(x.dtype) for x in jax.tree.leaves(params)} == {"bfloat16"}
  import orbax.checkpoint as ocp
  metadata = ocp.PyTreeCheckpointer().metadata(out / "checkpoints" / "7" / "state")
  assert set(metadata.item_metadata.tree) == {"step", "params"}  # no optimizer state
  tokens = tokens_batch(config.vocab_size)
  assert np.abs(flan_logits(out, tokens) - flan_logits(model_dir, tokens)).max() < 0.1


def test_bfloat16_export_imports_back(llama, tmp_path):
  _, model, flan_dir = llama
  assert run_cli("export", "hf", "--checkpoint", flan_dir, "--out", tmp_path / "hf",
                 "--dtype", "bfloat16") == 0
  assert json.loads((tmp_path / "hf" / "config.json").read_text())["torch_dtype"] == "bfloat16"
  assert run_cli("import", "hf", "--from", tmp_path / "hf", "--out", tmp_path / "flan") == 0
  tokens = tokens_batch()
  reference = hf_logits(model, tokens)
  diff = np.abs(flan_logits(tmp_path / "flan", tokens) - reference).max()
  assert 0 < diff < 0.05 * np.abs(reference).max(), diff  # rounded to bfloat16, not broken


def batch_loss(model_dir, batch):
  _, graphdef, params, _ = restore.load_model(model_dir)
  logits = np.asarray(step_lib.model_logits(graphdef, params, batch), np.float64)
  logits -= logits.max(-1, keepdims=True)
  log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
  targets = batch["decoder_target_tokens"]
  token = -np.take_along_axis(log_probs, targets[..., None], -1)[..., 0]
  weights = batch["decoder_loss_weights"]
  return float((token * weights).sum() / weights.sum())


def test_training_from_the_import_lowers_the_loss(llama, tmp_path, synthetic_data_dir,
                                                  use_data_dir):
  use_data_dir(synthetic_data_dir)
  _, _, flan_dir = llama
  run = tmp_path / "finetune"
  assert cli.main(["train", f"--gin_file={flan_dir / 'finetune.gin'}",
                   "--gin.MIXTURE='mix:synthetic'", f"--gin.MODEL_DIR='{run}'",
                   "--gin.trainer.train.num_steps=8", "--gin.trainer.train.batch_size=8",
                   "--gin.trainer.train.inputs_length=64", "--gin.trainer.train.targets_length=16",
                   "--gin.trainer.train.learning_rate=0.01", "--gin.trainer.train.log_every=4",
                   "--gin.trainer.train.tensorboard=False",
                   "--gin.trainer.train.progress=False"]) == 0
  from flan.data import pipeline
  vocabulary = vocab_lib.get_vocabulary(str(flan_dir / "vocabulary.model"))
  batch = next(pipeline.TrainData("mix:synthetic", inputs_length=64, targets_length=16, batch_size=8,
                              seed=1, vocabulary=vocabulary))
  before, after = batch_loss(flan_dir, batch), batch_loss(run, batch)
  assert after < before - 0.1, (before, after)
  # It started from the import (HF init: std 0.02), not from flan's own init (std 1.0 embedding).
  imported = restore.load_model(flan_dir)[2]["embed"]["embedding"][...]
  tuned = restore.load_model(run)[2]["embed"]["embedding"][...]
  assert np.linalg.norm(tuned - imported) < 0.5 * np.linalg.norm(imported)


def test_errors_are_one_line(llama, tmp_path, capsys):
  hf_dir, _, flan_dir = llama
  out = tmp_path / "out"
  out.mkdir()
  assert run_cli("export", "hf", "--checkpoint", flan_dir, "--out", out) == 0  # empty: accepted
  assert run_cli("export", "hf", "--checkpoint", flan_dir, "--out", out) == 2
  assert "already exists; pass --overwrite" in capsys.readouterr().err
  assert run_cli("export", "hf", "--checkpoint", flan_dir, "--out", out, "--overwrite") == 0
  assert (out / "config.json").exists()

  def broken_copy(name, edit=None, drop=()):
    copy = tmp_path / name
    shutil.copytree(hf_dir, copy)
    if edit:
      config = json.loads((copy / "config.json").read_text())
      (copy / "config.json").write_text(json.dumps({**config, **edit}))
    for file in drop:
      (copy / file).unlink()
    return copy

  cases = {
      "shape": (broken_copy("shape", edit={"intermediate_size": 96}),
                "has shape [128, 64] but config.json implies [96, 64]"),
      "vocab": (broken_copy("vocab", edit={"vocab_size": 1000}),
                "the tokenizer has 2048 pieces but the model's vocab_size is 1000"),
      "fast": (broken_copy("fast", drop=["tokenizer.model"]), "no tokenizer.model"),
  }
  (cases["fast"][0] / "tokenizer.json").write_text("{}")
  cases["fast"] = (cases["fast"][0], "tokenizer.json is not a tokenizers file")
  bad_model = tmp_path / "bad_model"
  shutil.copytree(flan_dir, bad_model)
  saved = json.loads((bad_model / "model_config.json").read_text())
  saved["model"]["d_ff"] = 96
  (bad_model / "model_config.json").write_text(json.dumps(saved))
  assert run_cli("export", "hf", "--checkpoint", bad_model, "--out", tmp_path / "x-bad") == 2
  err = capsys.readouterr().err
  assert "has shape (64, 128) but model_config.json implies (64, 96)" in err, err
  for name, (source, message) in cases.items():
    assert run_cli("import", "hf", "--from", source, "--out", tmp_path / f"x-{name}") == 2
    err = capsys.readouterr().err
    assert err.startswith("flan: error:") and message in err and err.count("\n") == 1, err
    assert not (tmp_path / f"x-{name}").exists()


def test_interrupted_export_never_looks_complete(flan_run, tmp_path, monkeypatch):
  from flan.export import safetensors_io
  model_dir, _ = flan_run
  calls = []

  def fail_on_third(self, name, array):
    calls.append(name)
    if len(calls) == 3:
      raise KeyboardInterrupt
    return original(self, name, array)

  original = safetensors_io.ShardedWriter.write
  monkeypatch.setattr(safetensors_io.ShardedWriter, "write", fail_on_third)
  with pytest.raises(KeyboardInterrupt):
    run_cli("export", "hf", "--checkpoint", model_dir, "--out", tmp_path / "hf")
  assert list(tmp_path.iterdir()) == []
