"""Few-shot rendering: exemplars from the train split, written with the query's template.

    >>> t = Template(0, "Is {n} odd?", "{answer}")
    >>> pool = [{"n": "3", "answer": "yes"}, {"n": "4", "answer": "no"}]
    >>> example = render_fewshot(t, {"n": "5", "answer": "yes"}, pool, shots=2, tokenize=str.split)
    >>> example.inputs, example.shots           # exemplars in a seeded order, then the query
    ('Is 3 odd?\\n\\nyes\\n\\n\\nIs 4 odd?\\n\\nno\\n\\n\\nIs 5 odd?', 2)

The layout is the entry's `fewshot` format (`catalog.FewshotFormat`): each exemplar is its inputs,
`targets_prefix`, its targets and `example_separator`; the query's inputs come last (followed by
the non-whitespace part of `targets_prefix`, if any), so zero shots is exactly `render.render`. At most `MAX_SHOTS` exemplars; those that would take the input
past `budget` tokens are dropped from the end (the query itself is never cut). Exemplars share the
query's options format, so with letter markers their targets are letters too.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Callable, Iterator, Sequence

from flan.data.catalog import FewshotFormat, Template
from flan.data.render import Example, OptionsFormat, accepts, options_format, record_key, render

MAX_SHOTS = 16
TOKEN_BUDGET = 960


class FewshotError(ValueError):
  """A few-shot request that cannot be met (too many shots, no train split)."""


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
    if candidate is query or candidate == query or not accepts(template, candidate):
      continue
    chosen.append(candidate)
    if len(chosen) == shots:
      break
  return chosen


def join(query_inputs: str, exemplars: Sequence[Example], fmt: FewshotFormat) -> str:
  """'{inputs}{targets_prefix}{targets}{example_separator}' per exemplar, then the query's
  inputs and, after at least one exemplar, `targets_prefix` without its trailing whitespace
  (so a prefix like '\\nAnswer: ' ends the query with '\\nAnswer:'; the default adds nothing)."""
  if not exemplars:
    return query_inputs
  shots = "".join(e.inputs + fmt.targets_prefix + e.targets + fmt.example_separator
                  for e in exemplars)
  return shots + query_inputs + fmt.targets_prefix.rstrip()


def default_tokenize() -> Callable[[str], Sequence[int]]:
  from flan.data import vocab
  return vocab.get_vocabulary().encode


def render_fewshot(template: Template, record: dict, pool: Sequence[dict], shots: int, *,
                   fewshot: FewshotFormat = FewshotFormat(),
                   options: str | OptionsFormat = "flan", seed: int = 0,
                   budget: int | None = TOKEN_BUDGET,
                   tokenize: Callable[[str], Sequence] | None = None) -> Example:
  """`record` rendered with up to `shots` exemplars from `pool` (see the module docstring).

  `tokenize` counts tokens for the budget (default: the project's vocabulary); `budget=None`
  keeps every exemplar. The result's `shots` is the number of exemplars actually used.
  """
  if not 0 <= shots <= MAX_SHOTS:
    raise FewshotError(f"shots must be between 0 and {MAX_SHOTS}, got {shots}")
  fmt = options_format(options, record, seed)
  query = render(template, record, fmt)
  chosen = choose_exemplars(template, record, pool, shots, seed)
  if not chosen:
    return query
  exemplars = [render(template, r, query.options_format) for r in chosen]
  if budget is not None:
    tokenize = tokenize or default_tokenize()
    while exemplars and len(tokenize(join(query.inputs, exemplars, fewshot))) > budget:
      exemplars.pop()
  return dataclasses.replace(query, inputs=join(query.inputs, exemplars, fewshot),
                             shots=len(exemplars))
