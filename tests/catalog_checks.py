"""Shared checks for catalog entries on TFDS mock data (imported by the tests/test_*catalog*.py).

    records = mock_records(spec)                 # raw mock examples of every split -> records
    check_renders_every_template(spec, records)  # every template renders, invariants hold
    write_prepared_mock(spec, data_dir)          # the builder "prepared" on disk with mock data
"""

from __future__ import annotations

import os
import pathlib
import re

import tensorflow as tf
import tensorflow_datasets as tfds

from flan.data import datasets

from flan.data import adapters, render

NUM_MOCK_EXAMPLES = 8


def mock_raw(spec, num_examples: int = NUM_MOCK_EXAMPLES, fixup=None) -> list[dict]:
  """Raw numpy examples of the entry's TFDS builder from every split it names, no download.

  `fixup(raw) -> raw` can repair what random mock values cannot satisfy (e.g. ARC's choices).
  """
  raws = []
  with tfds.testing.mock_data(num_examples=num_examples):
    for split in dict.fromkeys(spec.splits.values()):
      dataset = tfds.load(spec.tfds_full_name, split=split, as_supervised=False)
      raws.extend(tfds.as_numpy(dataset))
  return [fixup(raw) for raw in raws] if fixup else raws


def write_prepared_mock(spec, directory, num_examples: int = 40) -> dict[str, int]:
  """Writes the entry's TFDS builder into `directory` as if `flan data prepare` had run, with mock
  examples in every split the entry reads, so every reader (records, SeqIO's TfdsDataSource,
  `flan train`, `flan eval`) takes its real, unpatched path. The layout is the builder's own:
  DIR/NAME[/CONFIG]/VERSION/{dataset_info.json, features.json,
  NAME-SPLIT.tfrecord-00000-of-00001}. A split gets `num_examples` more than the catalog's
  slices carve from its end (rte's "train[:-200]": 240), so every slice has data.
  Returns {split: examples}.
  """
  builder = datasets.builder(spec, str(directory))
  # Entries sharing a builder (MNLI matched / mismatched) add their splits to what is there.
  kept = [info for name, info in builder.info.splits.items()] if builder.is_prepared() else []
  version_dir = pathlib.Path(builder.data_dir)
  version_dir.mkdir(parents=True, exist_ok=True)
  splits = sorted({split.split("[")[0] for split in spec.splits.values()})
  from_end = [int(n) for n in re.findall(r"-(\d+)", " ".join(spec.splits.values()))]
  with tfds.testing.mock_data(num_examples=num_examples + max(from_end, default=0),
                              policy=tfds.testing.MockPolicy.USE_CODE):
    mock = datasets.builder(spec, str(directory))
    examples = {split: list(tfds.as_numpy(mock.as_dataset(split=split))) for split in splits}
  template = tfds.core.ShardedFileTemplate(data_dir=version_dir, dataset_name=builder.name,
                                           filetype_suffix="tfrecord", split="train")
  infos = [info for info in kept if info.name not in examples]
  for split, rows in examples.items():
    split_template = template.replace(split=split)
    serialized = [builder.info.features.serialize_example(_equal_lengths(builder.info.features, row))
                  for row in rows]
    with tf.io.TFRecordWriter(os.fspath(split_template.sharded_filepath(shard_index=0, num_shards=1))) as writer:
      for record in serialized:
        writer.write(record)
    infos.append(tfds.core.SplitInfo(name=split, shard_lengths=[len(rows)],
                                     num_bytes=sum(map(len, serialized)),
                                     filename_template=split_template))
  builder.info.set_splits(tfds.core.SplitDict(infos))
  builder.info.write_to_directory(version_dir)
  return {split: len(rows) for split, rows in examples.items()}


def _equal_lengths(feature, value):
  """Mock data draws each field of a Sequence(FeaturesDict) with its own random length, which the
  feature cannot encode: cut every field to the shortest."""
  if isinstance(feature, tfds.features.FeaturesDict):
    return {key: _equal_lengths(feature[key], item) for key, item in value.items()}
  if isinstance(feature, tfds.features.Sequence) and isinstance(feature.feature,
                                                                tfds.features.FeaturesDict):
    shortest = min((len(v) for v in tfds.core.utils.flatten_nest_dict(value).values()),
                   default=0)
    return tfds.core.utils.map_nested(lambda v: v[:shortest], value, dict_only=True)
  return value


def mock_records(spec, **kwargs) -> list[dict]:
  return [r for r in (adapters.adapt(spec, raw) for raw in mock_raw(spec, **kwargs)) if r]


def check_example(spec, template, record, example) -> None:
  """The invariants every rendered example must satisfy."""
  where = f"{spec.name} template {template.index}"
  assert example.inputs.strip() and example.targets.strip(), where
  for text in (example.inputs, example.targets):
    assert "{" not in text and "}" not in text, f"{where}: unfilled placeholder in {text!r}"
  has_block = render.OPTIONS_HEADER in example.inputs
  assert has_block == template.uses_options, where
  if template.uses_options:
    assert example.inputs.endswith(render.options_block(record["options"])), where
  if spec.type == "classification" and template.eval:
    assert example.targets in record["options"], where
    assert example.targets == record["answer"], where
    assert example.options == tuple(record["options"]), where


def check_renders_every_template(spec, records, require_all: bool = True) -> set[int]:
  """Renders every record through every template that accepts it; returns the templates used."""
  assert records, f"{spec.name}: the adapter dropped every mock example"
  used = set()
  for record in records:
    assert set(spec.fields) <= set(record), spec.name
    assert record["answer"] == record["answers"][0], spec.name
    for template in spec.templates:
      if template.accepts(record):
        check_example(spec, template, record, render.render(template, record))
        used.add(template.index)
  if require_all:
    assert used == {t.index for t in spec.templates}, f"{spec.name}: templates never used"
  return used


def check_golden(spec, raw: dict, inputs: str, targets: str):
  """Template 0 of `spec` on a hand-made raw example renders exactly `inputs` / `targets`."""
  example = render.render(spec.templates[0], adapters.adapt(spec, raw))
  assert example.inputs == inputs, spec.name
  assert example.targets == targets, spec.name
  return example
