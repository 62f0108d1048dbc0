"""Reading a catalog entry's split as canonical records and rendered examples, in plain Python.

The same adapter and renderer as the SeqIO tasks, without TensorFlow in the loop: used by
evaluation and `flan data show`.
"""

from __future__ import annotations

from typing import Iterator

from flan.data import adapters, datasets, fewshot, render, tasks
from flan.data.catalog import UnknownEntryError

FEWSHOT_POOL = 1000  # few-shot exemplars are drawn from the first records of the train split


def iter_records(spec, split: str, data_dir: str | None = None,
                 check_prepared: bool = True) -> Iterator[dict]:
  """Canonical records of `split` (a key of the entry's `splits`), in the dataset's order."""
  import tensorflow_datasets as tfds

  if split not in spec.splits:
    raise UnknownEntryError(f"{spec.name} has no split {split!r}; it has {sorted(spec.splits)}")
  directory = data_dir or datasets.data_dir()
  if check_prepared:
    datasets.require_prepared(spec, directory)
  if spec.collection == "synthetic":
    import flan.data.synthetic  # noqa: F401
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


def exemplar_pool(spec, size: int = FEWSHOT_POOL, **kwargs) -> list[dict]:
  """The train records few-shot exemplars are drawn from (the first `size` of the split)."""
  if "train" not in spec.splits:
    raise fewshot.FewshotError(f"{spec.name} has no train split to draw few-shot exemplars from")
  return load_records(spec, "train", limit=size, **kwargs)


def iter_examples(spec, templates, split: str, shots: int = 0, options="flan", seed: int = 0,
                  pool_size: int = FEWSHOT_POOL, tokenize=None,
                  **kwargs) -> Iterator[tuple[int, render.Example]]:
  """(record index, example) for every record of `split`, templates round-robin as in training
  (`tasks.pick_template`), with `shots` exemplars from the train split and options style
  `options`; records no template accepts are skipped."""
  if not 0 <= shots <= fewshot.MAX_SHOTS:
    raise fewshot.FewshotError(f"shots must be between 0 and {fewshot.MAX_SHOTS}, got {shots}")
  pool = exemplar_pool(spec, pool_size, **kwargs) if shots else []
  for i, record in enumerate(iter_records(spec, split, **kwargs)):
    template = tasks.pick_template(templates, record, i)
    if template is not None:
      yield i, fewshot.render_fewshot(template, record, pool, shots, fewshot=spec.fewshot,
                                      options=options, seed=seed, tokenize=tokenize)
