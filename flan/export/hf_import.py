"""`flan import hf`: a local Hugging Face Llama checkpoint -> a flan model directory.

    import_hf("llama-dir/", "runs/llama-import")

reads config.json, *.safetensors and tokenizer.model from the Hugging Face folder and writes

    model_config.json        the ModelConfig (families.model_config_from_hf) + vocabulary, by
                             its bare name (the folder can move)
    vocabulary.model         tokenizer.model: the run's SentencePiece vocabulary, or
    vocabulary.json          tokenizer.json with the model's BOS/EOS/pad ids (hf_tokenizer.py)
    checkpoints/0/           an Orbax checkpoint {"step", "params"}, no optimizer state; its
                             meta keeps the trained-on mixture of a `flan export hf` folder
                             (flan_prompt.json), so its held-out clusters survive the round trip
    hf_config.json           the source config.json, for reference and the way back
    finetune.gin             model shape, vocabulary and init_from, on top of runs/train.gin:

    flan train --gin_file=runs/llama-import/finetune.gin \\
        --gin.MIXTURE="'mix:flan'" --gin.MODEL_DIR="'runs/llama-flan'"

Fine-tuning starts in a new MODEL_DIR: `trainer.train(init_from=<import dir>)` restores these
parameters into the freshly built train state and initializes the optimizer state from them, so
the import is independent of the optimizer and can seed any number of runs. (`flan eval` and
`flan export` read the import directory directly.)

Tensors are converted one at a time (read from the safetensors file, laid out, cast, written by
Orbax, dropped). The vocabulary is the folder's tokenizer.model (SentencePiece) when it has one,
else its tokenizer.json; either way every decoder segment then starts with the model's own BOS
(Llama's <s> = 1, Gemma's <bos>, Qwen's <|endoftext|>), as it was pretrained
(vocab.decoder_start_id).
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import shutil

import numpy as np

from flan.data import hf_vocab
from flan.export import ConversionError, hf_tokenizer, mapping, output, tokenizer
from flan.checkpoint import model_dir as model_dir_lib, streaming
from flan.export.safetensors_io import SafetensorsDir, SafetensorsError

VOCABULARY_FILE = "vocabulary.model"        # a SentencePiece tokenizer.model
HF_VOCABULARY_FILE = "vocabulary.json"      # a tokenizer.json and its special ids (hf_vocab)
GIN_FILE = "finetune.gin"
IGNORED_SUFFIXES = ("rotary_emb.inv_freq",)  # buffers some old checkpoints saved


def _dtype(name: str) -> np.dtype:
  import jax.numpy as jnp
  try:
    return np.dtype(jnp.dtype(name))
  except TypeError:
    raise ConversionError(f"unknown dtype {name!r}") from None


def read_source(source: pathlib.Path, param_dtype: str):
  """(ModelConfig, HF config dict, SafetensorsDir, tokenizer), checked; tokenizer is the
  tokenizer.model path (SentencePiece, preferred) or (tokenizer.json content, special ids)."""
  config_path = source / "config.json"
  if not config_path.exists():
    raise ConversionError(f"{source} is not a Hugging Face model folder (no config.json)")
  hf = json.loads(config_path.read_text())
  config = mapping.model_config_from_hf(hf, param_dtype=param_dtype)
  spm_path = source / "tokenizer.model"
  if spm_path.exists():
    vocabulary = spm_path
    tokenizer.check_vocab_fits(tokenizer.read_spm(spm_path), config.vocab_size, str(source))
  elif (source / "tokenizer.json").exists():
    vocabulary = hf_tokenizer.read_tokenizer(source, config.vocab_size)
  else:
    raise ConversionError(f"{source} has no tokenizer.model (SentencePiece) or tokenizer.json "
                          f"file")
  try:
    weights = SafetensorsDir(source)
  except SafetensorsError as e:
    raise ConversionError(str(e)) from None
  expected = mapping.tensors(config, lm_head=not config.tie_embeddings)
  for t in expected:
    if t.hf not in weights:
      raise ConversionError(f"{source}: tensor {t.hf} is missing")
    if weights.shape(t.hf) != mapping.hf_shape(t, config):
      raise ConversionError(f"{source}: {t.hf} has shape {list(weights.shape(t.hf))} but "
                            f"config.json implies {list(mapping.hf_shape(t, config))}")
  known = {t.hf for t in expected} | {"lm_head.weight"}
  unexpected = [n for n in weights.names()
                if n not in known and not n.endswith(IGNORED_SUFFIXES)]
  if unexpected:
    raise ConversionError(f"{source}: unexpected tensors for a {config.family} model: "
                          f"{', '.join(sorted(unexpected)[:5])}")
  return config, hf, weights, vocabulary


def gin_text(config, vocabulary: pathlib.Path, init_from: pathlib.Path, source: str) -> str:
  fields = dataclasses.asdict(config)
  bindings = "\n".join(f"  {k} = {v!r}" if not isinstance(v, str) else f'  {k} = "{v}"'
                       for k, v in fields.items())
  return (f"# Fine-tune the checkpoint imported from {source} (written by `flan import hf`).\n"
          f"#   flan train --gin_file={init_from / GIN_FILE} \\\n"
          f"#       --gin.MIXTURE=\"'mix:...'\" --gin.MODEL_DIR=\"'runs/<new run>'\"\n"
          f"# Training starts from the imported parameters (init_from) with a fresh optimizer\n"
          f"# state; MODEL_DIR must be a new directory, not the import itself.\n"
          f"include 'runs/train.gin'\n"
          f"from __gin__ import dynamic_registration\n"
          f"from flan.model import config\n"
          f"from flan.train import trainer\n\n"
          f"MODEL = @config.ModelConfig()\n"
          f"config.ModelConfig:\n{bindings}\n\n"
          f"trainer.train:\n"
          f"  vocabulary = \"{vocabulary}\"\n"
          f"  init_from = \"{init_from}\"\n")


def trained_on(source: pathlib.Path) -> dict:
  """{"mixture": ...} when `source` is a `flan export hf` folder whose flan_prompt.json records
  the mixture the model was trained on (so evaluating the import still knows its held-out
  clusters), else {}."""
  try:
    mixture = json.loads((source / "flan_prompt.json").read_text())["trained_on"]["mixture"]
  except (OSError, ValueError, KeyError, TypeError):
    return {}
  return {"mixture": mixture} if isinstance(mixture, str) and mixture else {}


def import_hf(source: str | pathlib.Path, out: str | pathlib.Path, *,
              param_dtype: str = "float32", overwrite: bool = False,
              progress: bool = True) -> pathlib.Path:
  """Imports a Hugging Face Llama folder into a flan model directory; returns its path."""
  from tqdm.auto import tqdm

  source = pathlib.Path(source).absolute()
  dtype = _dtype(param_dtype)
  config, hf, weights, vocabulary = read_source(source, param_dtype)
  vocabulary_file = VOCABULARY_FILE if isinstance(vocabulary, pathlib.Path) else HF_VOCABULARY_FILE
  final = output.check_output(out, overwrite, source)
  by_path = {t.flan: t for t in mapping.tensors(config)}

  def load(path: str) -> np.ndarray:
    t = by_path[path]
    return np.ascontiguousarray(mapping.from_hf(t, weights.read(t.hf), config), dtype=dtype)

  with output.staged_output(final, overwrite, source, command="import hf") as tmp:
    if isinstance(vocabulary, pathlib.Path):
      shutil.copyfile(vocabulary, tmp / vocabulary_file)
    else:
      tokenizer_json, special = vocabulary
      hf_vocab.write_vocabulary(tokenizer_json, tmp / vocabulary_file, **special)
    model_dir_lib.save_model_config(tmp, config, str(tmp / vocabulary_file))  # recorded by name
    fingerprint = model_dir_lib.load_model_config(tmp).fingerprint
    (tmp / "hf_config.json").write_text(json.dumps(hf, indent=2) + "\n")
    (tmp / GIN_FILE).write_text(gin_text(config, final / vocabulary_file, final, str(source)))
    bar = tqdm(total=len(by_path) + 1, desc="import hf", unit="tensor", disable=not progress)
    meta = {"step": 0, "data": {"batches": 0}, "vocabulary": fingerprint,
            "imported_from": str(source), **trained_on(source)}
    streaming.write_checkpoint(tmp, 0, streaming.lazy_params(config, load), meta,
                               progress=lambda name: bar.update(1))
    bar.close()
  return final
