"""Parameters out of a model directory: for evaluation (`load_model`) and to start a run
(`init_params`, the trainer's `init_from`).

    config, graphdef, params, vocab = load_model("runs/x/model")          # latest step
    config, graphdef, params, vocab = load_model("runs/x/model/checkpoints/40")

Only the parameters are restored, never the optimizer state, from any model directory: a
training run, `flan import hf` or `flan export params` output (model_dir.py has the layout).
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any

from flax import nnx

from flan.checkpoint import manager, model_dir as model_dir_lib, streaming
from flan.checkpoint.model_dir import ModelDirError
from flan.data import vocab as vocab_lib
from flan.model import Decoder, ModelConfig

# Fields a run may change from the model it starts from (how it computes, not what it is).
FREE_FIELDS = ("dtype", "param_dtype", "remat", "scan_layers", "attention_kernel", "matmul_kernel")


def load_model(path: str | pathlib.Path, step: int | None = None):
  """(ModelConfig, graphdef, params, seqio vocabulary) of a model directory's latest checkpoint
  (or `step`, or the checkpoints/<step> folder `path` names)."""
  model_dir, step = model_dir_lib.resolve(path, step)
  saved = model_dir_lib.load_model_config(model_dir)
  graphdef, params = nnx.split(Decoder(saved.model, rngs=nnx.Rngs(0)), nnx.Param)
  ckpt = manager.Checkpointer(model_dir, asynchronous=False)
  try:
    restored = ckpt.restore_params(params, step)
  finally:
    ckpt.close()
  return saved.model, graphdef, restored, vocab_lib.get_vocabulary(saved.vocabulary)


def check_init_from(init_from: str | pathlib.Path, config: ModelConfig,
                    vocabulary: str | None, step: int | None = None) -> tuple[pathlib.Path, int]:
  """(model_dir, step) a run of `config` with `vocabulary` can start from, after checking that
  the shapes (all but FREE_FIELDS) and the vocabulary agree."""
  model_dir, step = model_dir_lib.resolve(init_from, step)
  source = model_dir_lib.load_model_config(model_dir)
  mismatched = [f"{k}={getattr(source.model, k)!r} (this run: {getattr(config, k)!r})"
                for k in dataclasses.asdict(config)
                if k not in FREE_FIELDS and getattr(source.model, k) != getattr(config, k)]
  if mismatched:
    raise ModelDirError(f"init_from {model_dir}: another model shape: {', '.join(mismatched)}")
  model_dir_lib.check_vocabulary(f"init_from {model_dir}", source.fingerprint, vocabulary)
  return model_dir, step


def init_params(init_from: str | pathlib.Path, config: ModelConfig, vocabulary: str | None,
                target: Any, step: int | None = None) -> Any:
  """The parameters a run starts from: those of a model directory (an import, a params export,
  or any flan run), restored into `target` (the run's sharded params; either layout)."""
  model_dir, step = check_init_from(init_from, config, vocabulary, step)
  reader = streaming.CheckpointReader(model_dir, step)
  if reader.scanned != config.scan_layers:  # the other layout: re-stacked while it is read
    return streaming.read_into(reader, target)
  ckpt = manager.Checkpointer(model_dir, asynchronous=False)
  try:
    return ckpt.restore_params(target, step)
  finally:
    ckpt.close()
