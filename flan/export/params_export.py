"""`flan export params`: the parameters of a checkpoint alone, as a flan model directory.

    export_params("runs/x/model", "exports/x-params", dtype="bfloat16")

writes a model directory (flan/checkpoint/model_dir.py): `model_config.json` (param_dtype = the
export dtype), `vocabulary.model` and `checkpoints/<step>/` holding {"step", "params"} and no
optimizer state (a third of an Adafactor train state at most) with the source's meta, so the
trained-on mixture (and with it the held-out clusters `flan eval` reports) carries over.
Loadable by `flan.checkpoint.restore.load_model` / `flan eval` for serving and by
`trainer.train(init_from=...)` for further fine-tuning. Parameters are read, cast and written
one at a time; a scanned checkpoint is written in the Decoder's unscanned layout.
"""

from __future__ import annotations

import dataclasses
import pathlib
import shutil

import numpy as np

from flan.checkpoint import model_dir as model_dir_lib, streaming
from flan.export import hf_export, output


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

  with output.staged_output(final, overwrite, reader.model_dir, command="export params") as tmp:
    model_dir_lib.save_model_config(tmp, config, reader.vocabulary, copy_vocabulary=True)
    if (reader.model_dir / "hf_config.json").exists():
      shutil.copyfile(reader.model_dir / "hf_config.json", tmp / "hf_config.json")
    meta = dict(reader.meta, exported_from=str(reader.model_dir), step=reader.step)
    bar = tqdm(total=len(reader.entries) + 1, desc="export params", unit="tensor",
               disable=not progress)
    streaming.write_checkpoint(tmp, reader.step, streaming.lazy_params(config, load), meta,
                               progress=lambda name: bar.update(1))
    bar.close()
  return final
