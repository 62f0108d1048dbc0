"""Validation carved from the train split by input: no validation input is ever trained on.

An entry with `carve: {by: FEATURE, percent: P}` (catalog.Carve) holds out P% of its inputs, chosen
by a fingerprint hash of the raw TFDS feature FEATURE ('idx/paragraph', 'context', ...; a list of
strings is joined with '\\x1f'; numbers are written as text). Both readers of TFDS, the SeqIO tasks
(training) and `records.iter_records` (evaluation, `flan data show`), filter the raw tf.data
stream here, so they agree row for row:

    split key     keeps
    train         rows whose input is not held out   (every reference / question of it)
    validation    rows whose input is held out
    test          everything (a split of its own)

    held_out(b"Some passage.", 5)  ->  True or False, the same on every machine and run
"""

from __future__ import annotations

from flan.data import datasets

BUCKETS = 100
SEPARATOR = "\x1f"


def _key(raw: dict, path: str):
  """The raw feature at `path` as one string tensor."""
  import tensorflow as tf

  value = raw
  for name in path.split("/"):
    if name not in value:
      raise KeyError(f"carve: raw TFDS feature {path!r} not found; features: {sorted(value)}")
    value = value[name]
  if isinstance(value, tf.RaggedTensor):
    value = value.flat_values
  if value.dtype != tf.string:
    value = tf.strings.as_string(value)
  return tf.strings.reduce_join(tf.reshape(value, [-1]), separator=SEPARATOR)


def held_out(key, percent: int):
  """Whether an input (string tensor or bytes) is held out: its hash bucket is below `percent`."""
  import tensorflow as tf

  return tf.strings.to_hash_bucket_fast(key, BUCKETS) < percent


def apply(spec, split: str, dataset):
  """The raw tf.data `dataset` of `spec`'s split key `split`, with the carve applied."""
  carve = spec.carve
  if carve is None or split not in ("train", "validation"):
    return dataset
  keep_held_out = split == "validation"
  return dataset.filter(lambda raw: held_out(_key(raw, carve.by), carve.percent) == keep_held_out)


def tfds_source(spec, data_dir: str):
  """The SeqIO data source of a task: `seqio.TfdsDataSource`, carved when the entry says so."""
  import seqio

  splits = datasets.split_map(spec, data_dir)
  if spec.carve is None:
    return seqio.TfdsDataSource(tfds_name=spec.tfds_full_name, splits=splits,
                                tfds_data_dir=data_dir)

  class CarvedTfdsSource(seqio.TfdsDataSource):

    def get_dataset(self, split="train", *args, **kwargs):
      return apply(spec, split, super().get_dataset(split, *args, **kwargs))

  return CarvedTfdsSource(tfds_name=spec.tfds_full_name, splits=splits,
                          tfds_data_dir=data_dir)
