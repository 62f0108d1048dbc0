"""Caches the tasks of a mixture (or one task) with SeqIO, so training reads tokenized examples.

    # Apache Beam (pip install 'flan[cache]'): the local DirectRunner, or any Beam runner
    python scripts/cache_tasks.py mix:flan --cache_dir gs://bucket/flan_cache
    python scripts/cache_tasks.py mix:flan --cache_dir gs://bucket/flan_cache \\
        --pipeline_options=--runner=DataflowRunner,--project=P,--region=R,--temp_location=gs://...
    # no Beam: one process, one shard per split (small mixtures, tests)
    python scripts/cache_tasks.py mix:synthetic --cache_dir /tmp/flan_cache --runner local

    FLAN_CACHE_DIR=/tmp/flan_cache flan train ...   # TrainData reads the cache of every task

What is cached is each task's output before `seqio.CacheDatasetPlaceholder`: the rendered and
tokenized examples ({"inputs", "targets", "template"}), in SeqIO's layout
(<cache_dir>/flan/<entry>/<split>.tfrecord-*, .info.json, .stats.json, COMPLETED), so
`seqio.get_dataset(..., use_cached=True)` reads it. Each template is fixed per example at caching
time (round-robin by example index, as without a cache). `<cache_dir>/flan_cache.json` records the
vocabulary the examples were tokenized with; training refuses a cache of another vocabulary.
Beam workers need `flan` installed; they register the tasks themselves (tasks are lazy).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import sys

from flan.data.pipeline import CACHE_NOTE  # noqa: E402  (flan_cache.json)


def _register(name: str, data_dir: str, vocabulary_path: str | None):
  """Registers the tasks of `name` in this process (Beam workers call it before reading)."""
  os.environ["FLAN_DATA_DIR"] = data_dir
  from flan.data import mixtures, vocab
  mixtures.get(name, vocab.get_vocabulary(vocabulary_path))


def task_list(name: str, vocabulary_path: str | None = None) -> list:
  """The seqio Tasks of a task or mixture name, registered."""
  import seqio

  from flan.data import mixtures, vocab
  provider = mixtures.get(name, vocab.get_vocabulary(vocabulary_path))
  return list(provider.tasks) if isinstance(provider, seqio.Mixture) else [provider]


def _info(example: dict, num_shards: int) -> dict:
  """What `seqio.beam_utils.GetInfo` writes: shapes (leading None) and dtypes of the features."""
  import seqio
  import tensorflow as tf
  features = {}
  for key, value in example.items():
    value = tf.constant(value)
    shape = value.shape.as_list()
    features[key] = {"shape": [None] + shape[1:] if shape else [], "dtype": value.dtype.name}
  return {"num_shards": num_shards, "features": features, "seqio_version": seqio.__version__}


def _write_json(path: str, value: dict) -> None:
  import tensorflow as tf
  with tf.io.gfile.GFile(path, "w") as f:
    f.write(json.dumps(value, sort_keys=True, indent=2) + "\n")


def cache_local(tasks, cache_dir: str, splits) -> list[str]:
  """Caches tasks in this process, without Beam, in the same layout (one shard per split)."""
  import numpy as np
  import seqio
  import tensorflow as tf

  written = []
  for task in tasks:
    out = os.path.join(cache_dir, seqio.get_task_dir_from_name(task.name))
    tf.io.gfile.makedirs(out)
    for split in [s for s in task.splits if splits is None or s in splits]:
      dataset = task.preprocess_precache(task.source.get_dataset(split=split, shuffle=False))
      stats, first = {"examples": 0}, None
      path = seqio.get_cached_tfrecord_prefix(out, split) + "-00000-of-00001"
      with tf.io.TFRecordWriter(path) as writer:
        for example in dataset.as_numpy_iterator():
          first = first or example
          writer.write(seqio.dict_to_tfexample(example).SerializeToString())
          stats["examples"] += 1
          for key, feature in task.output_features.items():
            values = np.asarray(example[key])
            tokens = int(np.sum((values != feature.vocabulary.eos_id)
                                & (values != feature.vocabulary.pad_id)))
            stats[f"{key}_tokens"] = stats.get(f"{key}_tokens", 0) + tokens
            stats[f"{key}_max_tokens"] = max(stats.get(f"{key}_max_tokens", 0), tokens)
      _write_json(seqio.get_cached_info_path(out, split), _info(first or {}, 1))
      _write_json(seqio.get_cached_stats_path(out, split), stats)
    with tf.io.gfile.GFile(os.path.join(out, "COMPLETED"), "w") as f:
      f.write("")
    written.append(out)
  return written


def cache_beam(tasks, cache_dir: str, splits, name: str, data_dir: str,
               vocabulary_path: str | None, pipeline_options: list[str],
               min_shards: int = 1) -> list[str]:
  """Caches tasks with SeqIO's Beam transforms (seqio.beam_utils), as seqio_cache_tasks does."""
  import apache_beam as beam
  import seqio
  from seqio import beam_utils

  setup = functools.partial(_register, name, data_dir, vocabulary_path)
  options = beam.options.pipeline_options.PipelineOptions(pipeline_options)
  written = []
  with beam.Pipeline(options=options) as pipeline:
    for task in tasks:
      out = os.path.join(cache_dir, seqio.get_task_dir_from_name(task.name))
      done = []
      for split in [s for s in task.splits if splits is None or s in splits]:
        label = re.sub(r"[^A-Za-z0-9_]", "_", f"{task.name}_{split}")
        transform = beam_utils.PreprocessTask(task, split, setup_fn=setup,
                                              tfds_data_dir=data_dir)
        num_shards = max(len(transform.shards), min_shards)
        examples = (pipeline | f"{label}_read" >> transform
                    | f"{label}_shuffle" >> beam.Reshuffle())
        done.append(examples | f"{label}_write" >> beam_utils.WriteExampleTfRecord(
            seqio.get_cached_tfrecord_prefix(out, split), num_shards=num_shards))
        done.append(examples | f"{label}_info" >> beam_utils.GetInfo(num_shards)
                    | f"{label}_write_info" >> beam_utils.WriteJson(
                        seqio.get_cached_info_path(out, split)))
        done.append(examples | f"{label}_stats" >> beam_utils.GetStats(task.output_features)
                    | f"{label}_write_stats" >> beam_utils.WriteJson(
                        seqio.get_cached_stats_path(out, split)))
      tag = re.sub(r"[^A-Za-z0-9_]", "_", task.name)
      _ = (done | f"{tag}_flatten" >> beam.Flatten()
           | f"{tag}_nothing" >> beam.Filter(lambda _: False)
           | f"{tag}_completed" >> beam.io.textio.WriteToText(
               os.path.join(out, "COMPLETED"), num_shards=1, shard_name_template="",
               append_trailing_newlines=False))
      written.append(out)
  return written


def write_note(cache_dir: str, vocabulary_path: str | None) -> None:
  """<cache_dir>/flan_cache.json: the vocabulary's fingerprint, checked before training reads."""
  from flan.data import vocab
  _write_json(os.path.join(cache_dir, CACHE_NOTE),
              {"vocabulary": vocab.fingerprint(vocabulary_path)})


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("name", help="a mixture (mix:flan, mix:flan:heldout_nli, ...) or a task")
  parser.add_argument("--cache_dir", required=True)
  parser.add_argument("--splits", default="train", help="comma-separated; 'all' for every split")
  parser.add_argument("--runner", default="beam", choices=("beam", "local"))
  parser.add_argument("--pipeline_options", default="--runner=DirectRunner",
                      help="comma-separated Beam pipeline options")
  parser.add_argument("--min_shards", type=int, default=1, help="output shards per split (Beam)")
  parser.add_argument("--vocabulary", default=None, help="SentencePiece model (default: flan's)")
  args = parser.parse_args(argv)

  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
  from flan.data import datasets
  from flan import runtime
  runtime.keep_tensorflow_off_accelerators()
  splits = None if args.splits == "all" else args.splits.split(",")
  tasks = task_list(args.name, args.vocabulary)
  if args.runner == "local":
    written = cache_local(tasks, args.cache_dir, splits)
  else:
    written = cache_beam(tasks, args.cache_dir, splits, args.name, datasets.data_dir(),
                         args.vocabulary, args.pipeline_options.split(","), args.min_shards)
  write_note(args.cache_dir, args.vocabulary)
  print(f"cached {len(written)} tasks of {args.name} in {args.cache_dir}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
