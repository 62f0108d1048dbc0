"""Lazy SeqIO tasks from the catalog.

Importing flan registers nothing; a task is built the first time it is named:

    flan:rte          every training template, one per example, round-robin (the FLAN recipe)
    flan:rte:t3       template 3 only (examples its label filter rejects are skipped)

Each task reads its TFDS builder through `seqio.TfdsDataSource` with the entry's split mapping,
renders text with the entry's adapter and templates, tokenizes with the run's vocabulary and
appends EOS to inputs and targets (the EOS after the inputs is FLAN's separator):

    {"inputs": [..., 1], "targets": [..., 1], "template": 3}
"""

from __future__ import annotations

import difflib
import re

from flan import catalog
from flan import vocab as vocab_lib
from flan.catalog import UnknownEntryError

PREFIX = "flan"
_TASK_NAME = re.compile(r"^flan:(?P<entry>[a-z0-9_]+)(?::t(?P<template>\d+))?$")


def task_name(entry: str, template: int | None = None) -> str:
  """`flan:rte` or `flan:rte:t3`."""
  return f"{PREFIX}:{entry}" if template is None else f"{PREFIX}:{entry}:t{template}"


def parse_task_name(name: str) -> tuple[str, int | None]:
  """'flan:rte:t3' -> ('rte', 3); a bare entry name 'rte' is accepted too."""
  match = _TASK_NAME.match(name) or _TASK_NAME.match(f"{PREFIX}:{name}")
  if not match:
    raise UnknownEntryError(f"{name!r} is not a task name; expected flan:ENTRY or flan:ENTRY:tN")
  template = match.group("template")
  return match.group("entry"), None if template is None else int(template)


def resolve(name: str) -> tuple[catalog.DatasetSpec, tuple[catalog.Template, ...]]:
  """The entry and the templates a task name selects, with close-name suggestions on error."""
  entry, index = parse_task_name(name)
  spec = catalog.get(entry)
  if index is None:
    return spec, spec.train_templates
  if not 0 <= index < len(spec.templates):
    raise UnknownEntryError(f"{name!r}: {entry} has templates t0..t{len(spec.templates) - 1}")
  return spec, (spec.templates[index],)


def pick_template(templates, record: dict, example_index: int):
  """Round-robin over templates from `example_index`, skipping ones whose label filter rejects."""
  from flan.render import accepts
  for step in range(len(templates)):
    template = templates[(example_index + step) % len(templates)]
    if accepts(template, record):
      return template
  return None


def render_dataset(dataset, spec, templates):
  """tf.data of raw TFDS examples -> tf.data of {'inputs', 'targets', 'template'} strings.

  The adapter and renderer are plain Python (one code path for training, evaluation and
  `flan data show`), run through `tf.py_function`; dropped examples are filtered out.
  """
  import tensorflow as tf

  from flan import adapters
  from flan.render import render

  structure = dataset.element_spec

  def py_render(index, *flat):
    raw = tf.nest.pack_sequence_as(structure, [v.numpy() for v in flat])
    record = adapters.adapt(spec, raw)
    template = None if record is None else pick_template(templates, record, int(index))
    if template is None:
      return b"", b"", -1
    example = render(template, record)
    return example.inputs.encode(), example.targets.encode(), template.index

  def map_fn(index, example):
    inputs, targets, template = tf.py_function(
        py_render, [index] + tf.nest.flatten(example), Tout=[tf.string, tf.string, tf.int32])
    inputs.set_shape([])
    targets.set_shape([])
    template.set_shape([])
    return {"inputs": inputs, "targets": targets, "template": template}

  rendered = dataset.enumerate().map(map_fn, num_parallel_calls=tf.data.AUTOTUNE)
  return rendered.filter(lambda ex: ex["template"] >= 0)


def output_features(vocabulary):
  import seqio
  return {
      "inputs": seqio.Feature(vocabulary, add_eos=True, required=True),
      "targets": seqio.Feature(vocabulary, add_eos=True, required=True),
  }


def _build_task(name: str, vocabulary):
  import seqio

  from flan import data_dir

  spec, templates = resolve(name)
  if spec.collection == "synthetic":
    import flan.synthetic  # noqa: F401  (registers the synthetic builders with TFDS)
  source = seqio.TfdsDataSource(tfds_name=spec.tfds_full_name, splits=spec.splits,
                                tfds_data_dir=data_dir.data_dir())

  def render_preprocessor(dataset):
    return render_dataset(dataset, spec, templates)

  return seqio.Task(
      name, source=source, output_features=output_features(vocabulary),
      preprocessors=[render_preprocessor, seqio.preprocessors.tokenize,
                     seqio.CacheDatasetPlaceholder(),
                     seqio.preprocessors.append_eos_after_trim],
      metric_fns=[])


_BUILT_WITH: dict[str, tuple] = {}  # task name -> (vocabulary, data dir) it was registered with


def get_task(name: str, vocabulary=None):
  """The SeqIO task `name`, registered on first use (with `vocabulary`, default the project's).

  A task registered earlier with another vocabulary or data directory is registered anew.
  """
  import seqio

  from flan import data_dir

  vocabulary = vocabulary or vocab_lib.get_vocabulary()
  canonical = task_name(*parse_task_name(name))
  built_with = (vocabulary, data_dir.data_dir())
  if canonical in seqio.TaskRegistry.names():
    if _BUILT_WITH.get(canonical) == built_with:
      return seqio.TaskRegistry.get(canonical)
    seqio.TaskRegistry.remove(canonical)
  task = _build_task(canonical, vocabulary)
  seqio.TaskRegistry.add_provider(canonical, task)
  _BUILT_WITH[canonical] = built_with
  return task


def suggest(name: str) -> str:
  """Close task names for an error message."""
  names = [task_name(s) for s in catalog.catalog().values()]
  close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
  return f"; did you mean {', '.join(close)}?" if close else ""
