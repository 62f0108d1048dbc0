"""`flan data prepare` and `flan data vocab --mixture`: the data a run needs, on disk.

    $ flan data prepare mix:flan:heldout_nli --jobs 2
    prepare: 100%|██████████| 63/63 [...]
    dataset  entries  status  detail
    ...
    62 ready, 1 manual

The exit status is 0 only when every dataset the names need is ready afterwards, so a script can
`flan data prepare MIX && flan train ...`.
"""

from __future__ import annotations

import sys

from flan.data import datasets, prepare


class PrepareIncomplete(Exception):
  """Some datasets are still missing after `flan data prepare` (exit status 1, table printed)."""


def run(names: list[str], *, everything: bool = False, data_dir: str | None = None,
        jobs: int = 1, verbose: bool = False, progress: bool = True,
        check_only: bool = False) -> list[prepare.Outcome]:
  """Prepares what `names` need (every name is checked first), prints the table; raises
  PrepareIncomplete when something is still missing. `check_only` builds nothing."""
  from tqdm.auto import tqdm

  specs = prepare.entries_for(names, everything)  # an unknown name stops here, before any work
  directory = data_dir or datasets.data_dir()
  if check_only:
    outcomes = prepare.check(specs, directory)
  else:
    bar = tqdm(total=len(prepare.by_builder(specs)), desc="prepare", unit="dataset",
               disable=not progress or verbose, file=sys.stderr)

    def done(outcome: prepare.Outcome) -> None:
      bar.set_postfix_str(f"{outcome.builder}: {outcome.status}")
      bar.update(1)

    outcomes = prepare.prepare(specs, directory, jobs=jobs, verbose=verbose, on_done=done)
    bar.close()
  print(prepare.table(outcomes), end="")
  print(f"{prepare.summary(outcomes)} in {directory}")
  if any(o.status not in prepare.DONE for o in outcomes):
    raise PrepareIncomplete()
  return outcomes
