"""Few-shot exemplars: which train records go in front of a query, and how they are laid out.

Rendering the exemplars is the renderer's job (`render.render_example` with `Style(shots=k)`:
each exemplar is written with the query's template, format and options format); this module
chooses them and joins them:

    >>> t = Template(0, "Is {n} odd?", "{answer}")
    >>> pool = [{"n": "3", "answer": "yes"}, {"n": "4", "answer": "no"}]
    >>> [r["n"] for r in choose_exemplars(t, {"n": "5", "answer": "yes"}, pool, shots=2)]
    ['3', '4']                                  # a seeded order (seed, query content)
    >>> shots = [render.Example("Is 3 odd?", "yes"), render.Example("Is 4 odd?", "no")]
    >>> join("Is 5 odd?", shots, FewshotFormat())
    'Is 3 odd?\\n\\nyes\\n\\n\\nIs 4 odd?\\n\\nno\\n\\n\\nIs 5 odd?'

The layout is the entry's `fewshot` format (`catalog.FewshotFormat`): each exemplar is its inputs,
`targets_prefix`, its targets and `example_separator`; the query's inputs come last (followed by
the non-whitespace part of `targets_prefix`, if any), so zero shots is exactly the zero-shot
input. At most `MAX_SHOTS` exemplars; the renderer drops those that would take the input past
`TOKEN_BUDGET` tokens from the end (the query itself is never cut).
"""

from __future__ import annotations

import random
from typing import Iterator, Sequence

from flan.errors import UserError
from flan.data.adapters import record_key
from flan.data.catalog import FewshotFormat, Template

MAX_SHOTS = 16
TOKEN_BUDGET = 960


class FewshotError(UserError, ValueError):
  """A few-shot request that cannot be met (too many shots, no train split)."""


def check_shots(shots: int) -> None:
  if not 0 <= shots <= MAX_SHOTS:
    raise FewshotError(f"shots must be between 0 and {MAX_SHOTS}, got {shots}")


def _random_order(n: int, rng: random.Random) -> Iterator[int]:
  """0..n-1 in a random order, drawn lazily (a sparse Fisher-Yates shuffle)."""
  moved: dict[int, int] = {}
  for i in range(n):
    j = rng.randrange(i, n)
    yield moved.get(j, j)
    moved[j] = moved.get(i, i)


def choose_exemplars(template: Template, query: dict, pool: Sequence[dict], shots: int,
                     seed: int = 0) -> list[dict]:
  """Up to `shots` records of `pool` in an order seeded by `seed` and the query's content: only
  records the template accepts, never the query itself (the same object or an equal record)."""
  if shots <= 0:
    return []
  rng = random.Random(f"exemplars:{seed}:{record_key(query)}")
  chosen = []
  for i in _random_order(len(pool), rng):
    candidate = pool[i]
    if candidate is query or candidate == query or not template.accepts(candidate):
      continue
    chosen.append(candidate)
    if len(chosen) == shots:
      break
  return chosen


def join(query_inputs: str, exemplars: Sequence, fmt: FewshotFormat) -> str:
  """'{inputs}{targets_prefix}{targets}{example_separator}' per exemplar (anything with `inputs`
  and `targets`), then the query's inputs and, after at least one exemplar, `targets_prefix`
  without its trailing whitespace (so a prefix like '\\nAnswer: ' ends the query with
  '\\nAnswer:'; the default adds nothing)."""
  if not exemplars:
    return query_inputs
  shots = "".join(e.inputs + fmt.targets_prefix + e.targets + fmt.example_separator
                  for e in exemplars)
  return shots + query_inputs + fmt.targets_prefix.rstrip()
