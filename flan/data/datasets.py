"""Where TFDS data lives, and the check that a builder is prepared before anything reads it.

seqio's TFDS source would otherwise try to download a missing dataset (there is no network on
most research machines' compute nodes) or fail deep inside TFDS. `require_prepared` turns that into
one clear sentence with the command to run, and the builder's manual-download instructions.
"""

from __future__ import annotations

import os
import pathlib


class DatasetNotPreparedError(RuntimeError):
  """A TFDS builder's data is not in the data directory."""


def data_dir() -> str:
  """`FLAN_DATA_DIR`, else `TFDS_DATA_DIR`, else TFDS's own default (~/tensorflow_datasets)."""
  path = os.environ.get("FLAN_DATA_DIR") or os.environ.get("TFDS_DATA_DIR")
  return str(pathlib.Path(path or "~/tensorflow_datasets").expanduser())


def builder(spec, directory: str | None = None):
  """The TFDS builder of a catalog entry in `directory` (default: `data_dir()`), at the catalog's
  pinned version; the synthetic builders are registered with TFDS on first use."""
  import tensorflow_datasets as tfds  # heavy: only when data is about to be read

  if spec.collection == "synthetic":
    import flan.data.synthetic  # noqa: F401  (registers the synthetic builders)
  try:
    return tfds.builder(spec.tfds_full_name, data_dir=directory or data_dir())
  except Exception as e:  # unknown builder, version not in this tensorflow-datasets
    raise DatasetNotPreparedError(
        f"{spec.name}: TFDS cannot make builder {spec.tfds_full_name}: {e}") from None


def require_prepared(spec, directory: str | None = None) -> None:
  """Raises `DatasetNotPreparedError` naming the builder and how to prepare it."""
  directory = directory or data_dir()
  found = builder(spec, directory)
  if found.is_prepared():
    return
  how = f"run `flan data prepare {spec.name} --data_dir {directory}`"
  if spec.collection != "synthetic":
    how += " on a machine with network"
  message = (f"{spec.name}: TFDS dataset {spec.tfds_full_name} is not prepared in {directory}; "
             f"{how}, or point FLAN_DATA_DIR at a directory that has it.")
  instructions = getattr(found, "MANUAL_DOWNLOAD_INSTRUCTIONS", None)
  if instructions:
    message += (f" It needs a manual download into {directory}/downloads/manual/"
                f"{spec.tfds_name.split('/')[0]}: " + " ".join(str(instructions).split()))
  raise DatasetNotPreparedError(message)
