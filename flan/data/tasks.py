"""Lazy SeqIO tasks from the catalog.

Importing flan registers nothing; a task is built the first time it is named:

    flan:rte                  every training template, one per example, round-robin (FLAN's)
    flan:rte:t3               template 3 only (examples its label filter rejects are skipped)
    flan:rte:t0-3             templates 0..3, round-robin (the templates-per-dataset ablation)
    flan:rte:t0-7:noinstruction   the templates' input fields only, one per line, no instruction
    flan:rte:dataset_name     "[NLI: RTE] " + those fields (the paper's dataset-name ablation)

Each task reads its TFDS builder through `seqio.TfdsDataSource` with the entry's split mapping,
renders text with the entry's adapter and templates in the task's format (flan/data/render.py,
the one rendering path: `flan data show`, `export` and evaluation write the same text),
tokenizes with the run's vocabulary (both a batch of examples at a time) and appends EOS to
inputs and targets (the EOS after the inputs is FLAN's separator):

    {"inputs": [..., 1], "targets": [..., 1], "template": 3}
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np

from flan.data import catalog, datasets, render
from flan.data import carve
from flan.data import vocab as vocab_lib
from flan.data.catalog import UnknownEntryError
from flan.data.render import FORMATS

PREFIX = "flan"
_TASK_NAME = re.compile(r"^flan:(?P<entry>[a-z0-9_]+)(?::t(?P<first>\d+)(?:-(?P<last>\d+))?)?"
                        r"(?::(?P<format>noinstruction|dataset_name))?$")
RENDER_BATCH = 256  # examples per Python call of the renderer inside tf.data


@dataclasses.dataclass(frozen=True)
class TaskName:
  """A parsed task name: entry, template range (first, last; None = all) and format.

      >>> parse_task("flan:rte:t0-3:noinstruction")
      TaskName(entry='rte', templates=(0, 3), format='noinstruction')
      >>> str(TaskName("rte", (3, 3)))
      'flan:rte:t3'
  """
  entry: str
  templates: tuple[int, int] | None = None
  format: str = "instructions"

  def __str__(self) -> str:
    name = f"{PREFIX}:{self.entry}"
    if self.templates is not None:
      first, last = self.templates
      name += f":t{first}" if first == last else f":t{first}-{last}"
    return name if self.format == "instructions" else f"{name}:{self.format}"


def task_name(entry: str, template: int | None = None, *, last: int | None = None,
              format: str = "instructions") -> str:
  """`flan:rte`, `flan:rte:t3`, `flan:rte:t0-3` (last=3), `flan:rte:noinstruction`."""
  if format not in FORMATS:
    raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
  templates = None if template is None else (template, template if last is None else last)
  return str(TaskName(entry, templates, format))


def parse_task(name: str) -> TaskName:
  """'flan:rte:t0-3' -> TaskName('rte', (0, 3)); a bare entry name 'rte' is accepted too."""
  match = _TASK_NAME.match(name) or _TASK_NAME.match(f"{PREFIX}:{name}")
  if not match:
    raise UnknownEntryError(f"{name!r} is not a task name; expected flan:ENTRY, flan:ENTRY:tN, "
                            f"flan:ENTRY:tN-M, optionally followed by :noinstruction or "
                            f":dataset_name")
  first, last = match.group("first"), match.group("last")
  templates = None if first is None else (int(first), int(first if last is None else last))
  return TaskName(match.group("entry"), templates, match.group("format") or "instructions")


def resolve(name: str) -> tuple[catalog.DatasetSpec, tuple[catalog.Template, ...]]:
  """The entry and the templates a task name selects, with close-name suggestions on error."""
  parsed = parse_task(name)
  spec = catalog.get(parsed.entry)
  if parsed.templates is None:
    templates = spec.train_templates
    if parsed.format != "instructions":  # inverted tasks exist only as instructions
      templates = tuple(t for t in templates if not t.inverted)
    return spec, templates
  first, last = parsed.templates
  if not 0 <= first <= last < len(spec.templates):
    last_index = len(spec.templates) - 1
    raise UnknownEntryError(f"{name!r}: {parsed.entry} has templates t0..t{last_index}")
  templates = spec.templates[first:last + 1]
  if parsed.format != "instructions" and any(t.inverted for t in templates):
    plain = sum(not t.inverted for t in spec.templates)
    raise UnknownEntryError(f"{name!r}: inverted templates have no {parsed.format} form; pick "
                            f"templates among the first {plain}")
  return spec, templates


def _components(value) -> list:
  """A batched tensor as plain tensors: [dense] or [flat_values, *row_splits] for ragged."""
  import tensorflow as tf
  if isinstance(value, tf.RaggedTensor):
    return [value.flat_values, *value.nested_row_splits]
  return [value]


def _rows(flat_values, splits: list, n: int) -> list:
  """The n per-example numpy values of a batched leaf from its components (numpy only).

  Dense: row i of the array. Ragged: rows sliced by the outermost row splits, with every deeper
  ragged level stacked back into the rectangular array one example held before batching.
  """
  if not splits:
    return [flat_values[i] for i in range(n)]
  outer, inner = splits[0], splits[1:]
  if not inner:
    return [flat_values[outer[i]:outer[i + 1]] for i in range(n)]
  rows = _rows(flat_values, inner, int(outer[-1]))
  return [np.stack(rows[outer[i]:outer[i + 1]]) if outer[i + 1] > outer[i]
          else flat_values[:0] for i in range(n)]


def render_dataset(dataset, spec, templates, format: str = "instructions",
                   batch_size: int | None = None):
  """tf.data of raw TFDS examples -> tf.data of {'inputs', 'targets', 'template'} strings.

  The adapter and renderer are plain Python (`render.render_raw`, the same path as evaluation,
  `flan data show` and `export`). They run through one `tf.numpy_function` per `batch_size`
  examples (the call costs far more than rendering one example; no TensorFlow op runs inside it,
  which could deadlock tf.data's thread pool); example i of the stream gets its template by
  round-robin from i, whatever the batching. Dropped examples are filtered out.
  """
  import tensorflow as tf

  style = render.Style(format=format)
  batched = dataset.enumerate().ragged_batch(batch_size or RENDER_BATCH)
  structure = batched.element_spec[1]
  leaves = tf.nest.flatten(structure)
  sizes = [1 + (spec_.ragged_rank if isinstance(spec_, tf.RaggedTensorSpec) else 0)
           for spec_ in leaves]

  def py_render(indices, *flat):
    columns, offset = [], 0
    for size in sizes:
      columns.append(_rows(flat[offset], list(flat[offset + 1:offset + size]), len(indices)))
      offset += size
    inputs, targets, chosen = [], [], []
    for i, index in enumerate(indices):
      raw = tf.nest.pack_sequence_as(structure, [column[i] for column in columns])
      rendered = render.render_raw(spec, templates, raw, int(index), style)
      inputs.append(rendered[0])
      targets.append(rendered[1])
      chosen.append(rendered[2])
    return (np.array(inputs, dtype=object), np.array(targets, dtype=object),
            np.array(chosen, dtype=np.int32))

  def map_fn(indices, examples):
    flat = [c for leaf in tf.nest.flatten(examples, expand_composites=False)
            for c in _components(leaf)]
    inputs, targets, template = tf.numpy_function(
        py_render, [indices] + flat, Tout=[tf.string, tf.string, tf.int32], stateful=False)
    for tensor in (inputs, targets, template):
      tensor.set_shape([None])
    return {"inputs": inputs, "targets": targets, "template": template}

  rendered = batched.map(map_fn, num_parallel_calls=tf.data.AUTOTUNE).unbatch()
  return rendered.filter(lambda ex: ex["template"] >= 0)


def tokenize_dataset(dataset, output_features, batch_size: int | None = None):
  """`seqio.preprocessors.tokenize` (the strings kept as "<key>_pretokenized", no EOS yet), with
  one SentencePiece call per `batch_size` examples instead of one per example: the same ids.

      {"inputs": b"Is 3 odd?", "targets": b"yes", "template": 0}
   -> {"inputs": [686, 1970, 2016, 313, 679, 2005], "inputs_pretokenized": b"Is 3 odd?",
       "targets": [326], "targets_pretokenized": b"yes", "template": 0}   (the demo vocabulary)
  """
  import tensorflow as tf

  def encode(batch):
    out = {}
    for key, value in batch.items():
      if key in output_features:
        out[f"{key}_pretokenized"] = value
        value = output_features[key].vocabulary.encode_tf(value)
      out[key] = value
    return out

  batched = dataset.batch(batch_size or RENDER_BATCH)
  return batched.map(encode, num_parallel_calls=tf.data.AUTOTUNE).unbatch()


def output_features(vocabulary):
  import seqio
  return {
      "inputs": seqio.Feature(vocabulary, add_eos=True, required=True),
      "targets": seqio.Feature(vocabulary, add_eos=True, required=True),
  }


def _build_task(name: str, vocabulary):
  import seqio

  spec, templates = resolve(name)
  format = parse_task(name).format
  datasets.register(spec)
  source = carve.tfds_source(spec, datasets.data_dir())

  def render_preprocessor(dataset):
    return render_dataset(dataset, spec, templates, format)

  return seqio.Task(
      name, source=source, output_features=output_features(vocabulary),
      preprocessors=[render_preprocessor, tokenize_dataset,
                     seqio.CacheDatasetPlaceholder(),
                     seqio.preprocessors.append_eos_after_trim],
      metric_fns=[])


_BUILT_WITH: dict[str, tuple] = {}  # task name -> (vocabulary, data dir) it was registered with


def get_task(name: str, vocabulary=None):
  """The SeqIO task `name`, registered on first use (with `vocabulary`, default the project's).

  A task registered earlier with another vocabulary or data directory is registered anew.
  """
  import seqio

  vocabulary = vocabulary or vocab_lib.get_vocabulary()
  canonical = str(parse_task(name))
  built_with = (vocabulary, datasets.data_dir())
  if canonical in seqio.TaskRegistry.names():
    if _BUILT_WITH.get(canonical) == built_with:
      return seqio.TaskRegistry.get(canonical)
    seqio.TaskRegistry.remove(canonical)
  resolve(canonical)  # an unknown entry or template range fails here, before any TensorFlow
  task = _build_task(canonical, vocabulary)
  seqio.TaskRegistry.add_provider(canonical, task)
  _BUILT_WITH[canonical] = built_with
  return task
