"""`flan export params`: the parameters of a checkpoint alone, as a flan model directory.

    export_params("runs/x/model", "exports/x-params", dtype="bfloat16")

writes `model_config.json` (param_dtype = the export dtype), `vocabulary.model` and
`checkpoints/<step>/` holding {"step", "params"} and no optimizer state: a third of an
Adafactor train state at most, loadable by `trainer.load_model` / `flan eval` for serving and by
`trainer.train(init_from=...)` for further fine-tuning. Parameters are read, cast and written
one at a time; a scanned checkpoint is written in the Decoder's unscanned layout.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import shutil

import numpy as np

from flan.export import hf_export, output
from flan.checkpoint import streaming

VOCABULARY_FILE = "vocabulary.model"


def export_params(checkpoint: str | pathlib.Path, out: str | pathlib.Path, *,
                  dtype: str | None = None, step: int | None = None, overwrite: bool = False,
                  progress: bool = True) -> pathlib.Path:
  """Writes a params-only copy of a checkpoint into a new model directory; returns its path."""
  from tqdm.auto import tqdm

  reader = streaming.CheckpointReader(checkpoint, step)
  dtype_name = dtype or reader.config.param_dtype
  out_dtype = hf_export._dtype(dtype_name)
  config = dataclasses.replace(reader.config, param_dtype=dtype_name, scan_layers=False)
  final = output.check_output(out, overwrite, reader.model_dir)

  def load(path: str) -> np.ndarray:
    return np.ascontiguousarray(reader.read(path), dtype=out_dtype)

  with output.staged_output(final, overwrite, reader.model_dir) as tmp:
    # vocabulary.model (SentencePiece) or vocabulary.json (a tokenizer.json vocabulary).
    vocabulary_file = pathlib.Path(VOCABULARY_FILE).with_suffix(
        pathlib.Path(str(reader.vocabulary)).suffix or ".model").name
    shutil.copyfile(reader.vocabulary, tmp / vocabulary_file)
    saved = dict(reader.saved, model=dataclasses.asdict(config),
                 vocabulary=str(final / vocabulary_file))
    (tmp / streaming.MODEL_CONFIG_FILE).write_text(json.dumps(saved, indent=2))
    if (reader.model_dir / "hf_config.json").exists():
      shutil.copyfile(reader.model_dir / "hf_config.json", tmp / "hf_config.json")
    meta = dict(reader.meta, exported_from=str(reader.model_dir), step=reader.step)
    bar = tqdm(total=len(reader.entries) + 1, desc="export params", unit="tensor",
               disable=not progress)
    streaming.write_checkpoint(tmp, reader.step, streaming.lazy_params(config, load), meta,
                               progress=lambda name: bar.update(1))
    bar.close()
  return final
