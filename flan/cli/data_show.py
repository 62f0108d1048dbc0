"""`flan data list` and `flan data show`: the catalog and rendered examples, as a person reads them.

    $ flan data list --cluster sentiment
    entry          cluster    type            metric    train  validation  test  manual  status
    synth_reviews  sentiment  classification  accuracy  3000   200         200   no      ready

Sizes are the TFDS counts of the entry's split expressions (before the adapter drops anything),
read from the prepared builder in the data directory, or "-" when it is not prepared there; the
status is "ready", "missing" (`flan data prepare ENTRY` builds it), "manual" (its files must be
downloaded by hand first: `flan data prepare ENTRY` says where they go) or "broken" (its
templates file does not load; the command then ends with that file's error).

    $ flan data show synth_reviews --shots 2 --options random --n 1
    === synth_reviews [train] example 0, template t0, 2 shots
    --- inputs
    ...
"""

from __future__ import annotations

from flan.data import catalog, datasets, records, tasks, vocab
from flan.data.render import Style

LIST_COLUMNS = ("entry", "cluster", "type", "metric", "train", "validation", "test", "manual",
                "status")


def list_rows(collection: str | None = None, cluster: str | None = None,
              directory: str | None = None) -> list[tuple[str, ...]]:
  """One row of LIST_COLUMNS per catalog entry."""
  directory = directory or datasets.data_dir()
  rows = []
  for spec in catalog.entries(collection=collection, cluster=cluster, strict=False):
    sizes = datasets.split_sizes(spec, directory)
    status = "ready" if sizes else "manual" if spec.manual_download else "missing"
    rows.append((spec.name, spec.cluster, spec.type, spec.metric,
                 *(str(sizes.get(s, "-")) for s in ("train", "validation", "test")),
                 "yes" if spec.manual_download else "no", status))
  for broken in catalog.broken_entries(collection, cluster):
    rows.append((broken.name, broken.cluster or "?", "BROKEN", "-", "-", "-", "-", "-",
                 "broken"))
  return sorted(rows)


def format_table(header, rows) -> str:
  """Left-aligned columns two spaces apart, no trailing spaces."""
  widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
  return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip()
                   for row in [header, *rows])


def list_entries(collection: str | None = None, cluster: str | None = None) -> None:
  """Prints the table; then raises the first broken file's error (the table marks them all)."""
  print(format_table(LIST_COLUMNS, list_rows(collection, cluster)))
  broken = catalog.broken_entries(collection, cluster)
  if len(broken) > 1:
    print(f"{len(broken)} catalog files do not load: {', '.join(b.name for b in broken)}; the "
          f"first one's error:", flush=True)
  catalog.require_valid(collection, cluster)


def show(name: str, n: int = 3, split: str = "train", template: int | None = None,
         shots: int = 0, options: str = "flan", seed: int = 0) -> None:
  """Prints `n` examples of a task as training writes them: its templates round-robin (or only
  `template`), in its format, with `shots` exemplars and the options style `options`."""
  spec, templates = tasks.resolve(name)
  format = tasks.parse_task(name).format
  if template is not None:
    _, templates = tasks.resolve(tasks.task_name(spec.name, template, format=format))
  style = Style(format=format, options=options, shots=shots, seed=seed)
  tokenize = vocab.get_vocabulary().encode if shots else None
  shown = 0
  for i, example in records.iter_examples(spec, templates, split, style, tokenize=tokenize):
    flags = " inverted" if example.inverted else ""
    shot_note = f", {example.shots} shots" if shots else ""
    print(f"=== {spec.name} [{split}] example {i}, template t{example.template}{flags}{shot_note}")
    print(f"--- inputs\n{example.inputs}\n--- targets\n{example.targets}")
    if example.options:
      print(f"--- options: {list(example.options)}")
    if options != "flan" and example.options_format.style != "none":
      fmt = example.options_format
      print(f"--- options format: header {fmt.header!r}, marker {fmt.marker!r}")
    shown += 1
    if shown == n:
      break
