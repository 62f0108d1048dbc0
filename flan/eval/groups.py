"""Whole groups of rows for evaluation (catalog key `groups`), and what `limit` does to them.

Some datasets spread one evaluation unit over several rows:

  groups: same_input   (generation: GEM E2E, WMT'16 fi-en) one row per (input, reference). Rows
                       whose zero-shot rendered input is the same become ONE example whose answers
                       are every reference of the group (multi-reference BLEU / ROUGE), and
                       `limit` counts those examples.
  groups: question_id  (classification: MultiRC) one row per (question, candidate answer). Rows
                       stay rows (F1a is over every candidate) but are ordered group by group, the
                       metric gets the group of each row (per-question EM), and `limit` counts
                       rows, rounded down to whole groups (never fewer than one group).

    pairs = [(r1, e1 "in A", answers ("x",)), (r2, e2 "in B", ("y",)), (r3, e3 "in A", ("z",))]
    whole_groups(e2e_spec, t, pairs, limit=None).pairs
        -> [(r1, e1 "in A", ("x", "z")), (r2, e2 "in B", ("y",))]

Groups are ordered by their first row, so the rows of a split must all be read (TFDS stores them in
hashed order: siblings are anywhere in the split).
"""

from __future__ import annotations

import dataclasses

from flan.data import catalog, render


@dataclasses.dataclass
class Selection:
  pairs: list          # (record, example) per evaluated example, group by group
  keys: list[str]      # the group of each pair
  kept: int            # groups kept
  total: int           # groups in the split

  @property
  def cut(self) -> bool:
    """Whether `limit` left groups out."""
    return self.kept < self.total


def group_key(spec, template, record: dict) -> str:
  """The group a record belongs to under `template`."""
  if spec.groups == catalog.SAME_INPUT:
    return render.render(template, record).inputs
  return str(record[spec.groups])


def whole_groups(spec, template, pairs: list, limit: int | None) -> Selection:
  """`pairs` ((record, example), in split order) as whole groups, at most `limit` (see above)."""
  grouped: dict[str, list] = {}
  for record, example in pairs:
    grouped.setdefault(group_key(spec, template, record), []).append((record, example))
  keys, selected = [], []
  if spec.groups == catalog.SAME_INPUT:
    for key, members in list(grouped.items())[:limit]:
      record, example = members[0]
      answers = tuple(dict.fromkeys(a for _, ex in members for a in ex.answers))
      selected.append((record, dataclasses.replace(example, answers=answers)))
      keys.append(key)
    return Selection(selected, keys, len(selected), len(grouped))
  kept = 0
  for key, members in grouped.items():
    if limit is not None and kept and len(selected) + len(members) > limit:
      break
    selected.extend(members)
    keys.extend([key] * len(members))
    kept += 1
  return Selection(selected, keys, kept, len(grouped))


def limit_message(spec, split: str, limit: int, selection: Selection) -> str:
  """The warning `flan eval` prints when `limit` leaves groups of a grouped dataset out."""
  unit = "inputs" if spec.groups == catalog.SAME_INPUT else f"{spec.groups} groups"
  return (f"{spec.name} {split}: --limit {limit} scores {selection.kept} of {selection.total} "
          f"whole {unit} ({len(selection.pairs)} examples): a larger --limit scores more of the split")
