"""`flan data show TASK`: rendered examples of any task, as a person reads them."""

from __future__ import annotations

from flan import records, tasks


def show(name: str, n: int = 3, split: str = "train", template: int | None = None) -> None:
  spec, templates = tasks.resolve(name)
  if template is not None:
    templates = (spec.templates[template],)
  shown = 0
  for i, record in enumerate(records.iter_records(spec, split)):
    chosen = tasks.pick_template(templates, record, i)
    if chosen is None:
      continue
    example = records.render.render(chosen, record)
    flags = " inverted" if chosen.inverted else ""
    print(f"=== {spec.name} [{split}] example {i}, template t{chosen.index}{flags}")
    print(f"--- inputs\n{example.inputs}\n--- targets\n{example.targets}")
    if example.options:
      print(f"--- options: {list(example.options)}")
    shown += 1
    if shown == n:
      break
