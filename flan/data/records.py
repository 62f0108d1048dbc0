"""Reading a catalog entry's split as canonical records and rendered examples, in plain Python.

The same adapter and renderer as the SeqIO tasks (flan/data/render.py), without TensorFlow in
the loop: used by evaluation, `flan data show`, `flan data export` and the vocabulary corpus.
Example i of a split is the i-th raw TFDS example, as in training, so a task's template choice
and format here are exactly training's:

    for index, example in iter_examples(spec, templates, "train", Style(format="noinstruction")):
      ...   # index: the raw example's position; example: render.Example
"""

from __future__ import annotations

from typing import Iterator

from flan.data import adapters, carve, datasets, fewshot, render
from flan.data.catalog import UnknownEntryError
from flan.data.render import Style

FEWSHOT_POOL = 1000  # few-shot exemplars are drawn from the first records of the train split


def iter_raw(spec, split: str, data_dir: str | None = None,
             check_prepared: bool = True) -> Iterator[dict]:
  """The raw TFDS examples (numpy values) of `split` (a key of the entry's `splits`), in the
  dataset's order."""
  import tensorflow_datasets as tfds

  if split not in spec.splits:
    raise UnknownEntryError(f"{spec.name} has no split {split!r}; it has {sorted(spec.splits)}")
  directory = data_dir or datasets.data_dir()
  if check_prepared:
    datasets.require_prepared(spec, directory)
  builder = datasets.builder(spec, directory)
  dataset = builder.as_dataset(split=datasets.read_split(spec, split, builder.info.splits),
                               shuffle_files=False)
  dataset = carve.apply(spec, split, dataset)  # validation carved by input (catalog `carve`)
  yield from tfds.as_numpy(dataset)


def iter_records(spec, split: str, **kwargs) -> Iterator[dict]:
  """Canonical records of `split`, in the dataset's order (those the adapter drops left out)."""
  for raw in iter_raw(spec, split, **kwargs):
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


def exemplar_pool(spec, size: int = FEWSHOT_POOL, **kwargs) -> list[dict]:
  """The train records few-shot exemplars are drawn from (the first `size` of the split)."""
  if "train" not in spec.splits:
    raise fewshot.FewshotError(f"{spec.name} has no train split to draw few-shot exemplars from")
  return load_records(spec, "train", limit=size, **kwargs)


def iter_examples(spec, templates, split: str, style: Style = Style(), *,
                  pool_size: int = FEWSHOT_POOL, tokenize=None, max_records: int | None = None,
                  strict: bool = False, template_offset: int = 0,
                  **kwargs) -> Iterator[tuple[int, render.Example]]:
  """(index, example) for the records of `split` written in `style`: templates round-robin from
  the raw example's index as in training (`render.pick_template`; `strict` as there; from index +
  `template_offset` when a caller rotates them, as the mixture vocabulary's seed does), with
  `style.shots` exemplars from the first `pool_size` train records (`tokenize` counts their
  tokens against `style.budget`); records no template accepts are skipped. `max_records` stops
  after that many records (after the adapter, whether rendered or skipped)."""
  pool = exemplar_pool(spec, pool_size, **kwargs) if style.shots else []
  read = 0
  for index, raw in enumerate(iter_raw(spec, split, **kwargs)):
    if max_records is not None and read >= max_records:
      break
    record = adapters.adapt(spec, raw)
    if record is None:
      continue
    read += 1
    example = render.render_record(spec, templates, record, index + template_offset, style, pool,
                                   tokenize, strict)
    if example is not None:
      yield index, example
