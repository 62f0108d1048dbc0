"""Reading a catalog entry's split as canonical records and rendered examples, in plain Python.

The same adapter and renderer as the SeqIO tasks, without TensorFlow in the loop: used by
evaluation and `flan data show`.
"""

from __future__ import annotations

from typing import Iterator

from flan import adapters, data_dir as data_dir_lib, render


def iter_records(spec, split: str, data_dir: str | None = None,
                 check_prepared: bool = True) -> Iterator[dict]:
  """Canonical records of `split` (a key of the entry's `splits`), in the dataset's order."""
  import tensorflow_datasets as tfds

  if split not in spec.splits:
    raise KeyError(f"{spec.name} has no split {split!r}; it has {sorted(spec.splits)}")
  directory = data_dir or data_dir_lib.data_dir()
  if check_prepared:
    data_dir_lib.require_prepared(spec, directory)
  if spec.collection == "synthetic":
    import flan.synthetic  # noqa: F401
  builder = tfds.builder(spec.tfds_full_name, data_dir=directory)
  dataset = builder.as_dataset(split=spec.splits[split], shuffle_files=False)
  for raw in tfds.as_numpy(dataset):
    record = adapters.adapt(spec, raw)
    if record is not None:
      yield record


def load_records(spec, split: str, limit: int | None = None, **kwargs) -> list[dict]:
  records = []
  for record in iter_records(spec, split, **kwargs):
    records.append(record)
    if limit is not None and len(records) >= limit:
      break
  return records


def rendered(spec, template, records: list[dict]) -> list[render.Example]:
  """The examples a template renders from records (label filters applied)."""
  return [render.render(template, r) for r in records if render.accepts(template, r)]
