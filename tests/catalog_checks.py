"""Shared checks for catalog entries on TFDS mock data (imported by the tests/test_*catalog*.py).

    records = mock_records(spec)                 # raw mock examples of every split -> records
    check_renders_every_template(spec, records)  # every template renders, invariants hold
"""

from __future__ import annotations

import tensorflow_datasets as tfds

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
