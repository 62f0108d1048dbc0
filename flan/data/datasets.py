"""TFDS access, in one place: where data lives, a catalog entry's builder, and the checks that it
is prepared before anything reads it.

    builder(spec)            tfds.builder(spec.tfds_full_name, data_dir=data_dir()), with flan's
                             synthetic builders registered first when the entry needs them
    register(spec)           only the registration (for readers that make their own builder,
                             e.g. seqio.TfdsDataSource)
    require_prepared(spec)   raises DatasetNotPreparedError: one sentence, the command to run
    split_sizes(spec, dir)   {"train": 3000, ...} of a prepared builder, {} when not prepared
    read_split(spec, split, splits)   the TFDS expression that reads a split: the catalog's
                             slice, cut to the prepared data as a Python slice is
    split_map(spec, dir)     read_split of every split, for SeqIO's TfdsDataSource

seqio's TFDS source would otherwise try to download a missing dataset (there is no network on
most research machines' compute nodes) or fail deep inside TFDS. TFDS itself is imported only
inside these functions (importing it costs seconds).
"""

from __future__ import annotations

import os
import pathlib
import re

from flan.errors import UserError


class DatasetNotPreparedError(UserError, RuntimeError):
  """A TFDS builder's data is not in the data directory."""


def data_dir() -> str:
  """`FLAN_DATA_DIR`, else `TFDS_DATA_DIR`, else TFDS's own default (~/tensorflow_datasets)."""
  path = os.environ.get("FLAN_DATA_DIR") or os.environ.get("TFDS_DATA_DIR")
  return str(pathlib.Path(path or "~/tensorflow_datasets").expanduser())


def register(spec) -> None:
  """Makes the entry's builder known to TFDS: the synthetic builders are classes of
  flan.data.synthetic, registered by importing it (once per process); TFDS's own need nothing."""
  if spec.collection == "synthetic":
    from flan.data import synthetic  # noqa: F401  (heavy: imports TFDS)


def builder(spec, directory: str | None = None):
  """The TFDS builder of a catalog entry in `directory` (default: `data_dir()`), at the catalog's
  pinned version (`register` first); DatasetNotPreparedError when TFDS cannot make it."""
  import tensorflow_datasets as tfds  # heavy: only when data is about to be read

  register(spec)
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


_SLICE = re.compile(r"^(?P<split>[\w-]+)\[(?P<start>-?\d*):(?P<end>-?\d*)\]$")


def read_split(spec, split: str, splits) -> str:
  """The TFDS split expression that reads the entry's `split`, given the prepared builder's
  `info.splits`. A catalog slice reads as a Python slice does: a bound past the split's size
  stops at its end, where TFDS would refuse the whole read. With 240 training examples:

      "train[:30000]" -> "train[:240]"  (at most 30,000: all 240)
      "train[-200:]"  -> "train[-200:]" (unchanged)
      "validation"    -> "validation"
  """
  expression = spec.splits[split]
  match = _SLICE.match(expression)
  if not match or match["split"] not in splits:
    return expression
  size = splits[match["split"]].num_examples

  def clamp(bound: str) -> str:
    return bound and str(max(-size, min(size, int(bound))))

  return f"{match['split']}[{clamp(match['start'])}:{clamp(match['end'])}]"


def _prepared_splits(spec, directory: str):
  """The prepared builder's `info.splits` in `directory`, else None."""
  info = pathlib.Path(directory, spec.tfds_name, spec.tfds_version, "dataset_info.json")
  if not info.exists():  # cheap check first: no TensorFlow for an empty data directory
    return None
  try:
    return builder(spec, directory).info.splits
  except Exception:  # noqa: BLE001  (unknown builder: the splits are just not known)
    return None


def split_map(spec, directory: str | None = None) -> dict[str, str]:
  """{split: TFDS expression} to read (`read_split` of each) where the builder is prepared in
  `directory`; the catalog's own expressions where it is not."""
  splits = _prepared_splits(spec, directory or data_dir()) or {}
  return {name: read_split(spec, name, splits) for name in spec.splits}


def split_sizes(spec, directory: str | None = None) -> dict[str, int]:
  """Examples per split of a prepared builder ({} when it is not prepared in `directory`)."""
  splits = _prepared_splits(spec, directory or data_dir())
  try:
    return {name: splits[read_split(spec, name, splits)].num_examples for name in spec.splits}
  except Exception:  # noqa: BLE001  (not prepared, or a split it lacks: sizes are not known)
    return {}
