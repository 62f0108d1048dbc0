"""`flan import hf`: a local Hugging Face Llama checkpoint -> a flan model directory.

    import_hf("llama-dir/", "runs/llama-import")

reads config.json, *.safetensors and tokenizer.model from the Hugging Face folder and writes

    model_config.json        the ModelConfig (mapping.model_config_from_hf) + vocabulary path
    vocabulary.model         tokenizer.model: the run's SentencePiece vocabulary
    checkpoints/0/           an Orbax checkpoint {"step", "params"}, no optimizer state
    hf_config.json           the source config.json, for reference and the way back
    finetune.gin             model shape, vocabulary and init_from, on top of runs/train.gin:

    flan train --gin_file=runs/llama-import/finetune.gin \\
        --gin.MIXTURE="'mix:flan'" --gin.MODEL_DIR="'runs/llama-flan'"

Fine-tuning starts in a new MODEL_DIR: `trainer.train(init_from=<import dir>)` restores these
parameters into the freshly built train state and initializes the optimizer state from them, so
the import is independent of the optimizer and can seed any number of runs. (`flan eval` and
`flan export` read the import directory directly.)

Tensors are converted one at a time (read from the safetensors file, laid out, cast, written by
Orbax, dropped). Only SentencePiece tokenizers are supported: a checkpoint with tokenizer.json
alone (e.g. Llama 3's tiktoken BPE) is refused, since SeqIO's vocabulary is SentencePiece.

Note on ids: flan starts every decoder sequence with id 0 (SeqIO's pad id). A Llama tokenizer
has <unk> at 0 and <s> at 1, so a Llama model sees <unk> where it was pretrained with <s>;
fine-tuning adapts to it, zero-shot use of the raw import may suffer.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import shutil

import numpy as np

from flan.export import ConversionError, mapping, output, tokenizer
from flan.checkpoint import streaming
from flan.export.safetensors_io import SafetensorsDir, SafetensorsError

VOCABULARY_FILE = "vocabulary.model"
GIN_FILE = "finetune.gin"
IGNORED_SUFFIXES = ("rotary_emb.inv_freq",)  # buffers some old checkpoints saved


def _dtype(name: str) -> np.dtype:
  import jax.numpy as jnp
  try:
    return np.dtype(jnp.dtype(name))
  except TypeError:
    raise ConversionError(f"unknown dtype {name!r}") from None


def read_source(source: pathlib.Path, param_dtype: str):
  """(ModelConfig, HF config dict, SafetensorsDir, tokenizer.model path, SpmInfo), checked."""
  config_path = source / "config.json"
  if not config_path.exists():
    raise ConversionError(f"{source} is not a Hugging Face model folder (no config.json)")
  hf = json.loads(config_path.read_text())
  config = mapping.model_config_from_hf(hf, param_dtype=param_dtype)
  spm_path = source / "tokenizer.model"
  if not spm_path.exists():
    if (source / "tokenizer.json").exists():
      raise ConversionError(f"{source} has only a tokenizer.json fast tokenizer; flan needs a "
                            f"SentencePiece model (tokenizer.model) as its vocabulary")
    raise ConversionError(f"{source} has no tokenizer.model (SentencePiece) file")
  spm = tokenizer.read_spm(spm_path)
  tokenizer.check_vocab_fits(spm, config.vocab_size, str(source))
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
  return config, hf, weights, spm_path, spm


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


def import_hf(source: str | pathlib.Path, out: str | pathlib.Path, *,
              param_dtype: str = "float32", overwrite: bool = False,
              progress: bool = True) -> pathlib.Path:
  """Imports a Hugging Face Llama folder into a flan model directory; returns its path."""
  from tqdm.auto import tqdm

  from flan.data import vocab as vocab_lib
  from flan.checkpoint.streaming import MODEL_CONFIG_FILE

  source = pathlib.Path(source).absolute()
  dtype = _dtype(param_dtype)
  config, hf, weights, spm_path, _ = read_source(source, param_dtype)
  final = output.check_output(out, overwrite, source)
  by_path = {t.flan: t for t in mapping.tensors(config)}

  def load(path: str) -> np.ndarray:
    t = by_path[path]
    return np.ascontiguousarray(mapping.from_hf(t, weights.read(t.hf), config), dtype=dtype)

  with output.staged_output(final, overwrite, source) as tmp:
    shutil.copyfile(spm_path, tmp / VOCABULARY_FILE)
    fingerprint = vocab_lib.fingerprint(str(tmp / VOCABULARY_FILE))
    saved = {"model": dataclasses.asdict(config), "vocabulary": str(final / VOCABULARY_FILE),
             "vocabulary_fingerprint": fingerprint}
    (tmp / MODEL_CONFIG_FILE).write_text(json.dumps(saved, indent=2))
    (tmp / "hf_config.json").write_text(json.dumps(hf, indent=2) + "\n")
    (tmp / GIN_FILE).write_text(gin_text(config, final / VOCABULARY_FILE, final, str(source)))
    bar = tqdm(total=len(by_path) + 1, desc="import hf", unit="tensor", disable=not progress)
    meta = {"step": 0, "data": {"batches": 0}, "vocabulary": fingerprint,
            "imported_from": str(source)}
    streaming.write_checkpoint(tmp, 0, streaming.lazy_params(config, load), meta,
                               progress=lambda name: bar.update(1))
    bar.close()
  return final
