"""Preparing the TFDS datasets that a mixture or task needs, and telling what is still missing.

    $ flan data prepare mix:flan:heldout_nli --data_dir /data/tfds --jobs 4
    dataset             entries        status       detail
    glue/rte:2.0.1      rte            ready
    ag_news_subset:1.0  ag_news        built now    120,000 examples
    story_cloze/2016    story_cloze    manual       put the files into /data/tfds/downloads/manual/story_cloze: ...
    cnn_dailymail:3.4   cnn_dailymail  failed       ConnectionError: ...

A name is a mixture (`mix:...`: the entries it trains on and the held-out entries it is evaluated
on), a task (`flan:rte`, `rte`) or `--all`. Every TFDS builder is prepared once, at the
catalog's pinned version, with TFDS's own `download_and_prepare`:

    ready       already prepared in the data directory (nothing is done)
    built now   prepared by this run
    manual      the builder needs files that only a person can download (TFDS's build stopped
                at its manual folder); the detail names the folder to put them in
                (<data_dir>/downloads/manual/<builder>, or TFDS's shared <data_dir>/downloads/
                manual) and the builder's own instructions. A builder that declares manual
                instructions for some configs only (WMT: de-en downloads, cs-en needs CzEng) is
                tried; with `--check`, which builds nothing, it reads "manual" while its folder
                is empty
    failed      the build raised; the detail is its first line
    missing     (readiness only: `check`) not prepared, and not tried

TFDS writes a dataset into a temporary `<version>.incomplete*` folder and renames it only when
complete, so an interrupted prepare never leaves a dataset that looks prepared; the next run
removes such leftovers and builds the dataset again, skipping every one that is ready.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import io
import multiprocessing
import pathlib
import shutil
from typing import Callable, Iterable

from flan import runtime
from flan.data import catalog, datasets, mixtures, tasks

READY, BUILT, MANUAL, FAILED, MISSING = "ready", "built now", "manual", "failed", "missing"
DONE = (READY, BUILT)


@dataclasses.dataclass(frozen=True)
class Outcome:
  """What one TFDS builder's preparation came to."""
  builder: str                  # the TFDS full name, e.g. "glue/rte:2.0.1"
  entries: tuple[str, ...]      # the catalog entries that read it
  status: str                   # READY, BUILT, MANUAL, FAILED or MISSING
  detail: str = ""


def entries_for(names: Iterable[str], everything: bool = False,
                evaluation: bool = True) -> list[catalog.DatasetSpec]:
  """The catalog entries that mixtures / tasks need (all entries with `everything`), in catalog
  order without repeats; a mixture's held-out entries too unless `evaluation` is False. Unknown
  names raise before anything is prepared."""
  if everything:
    return catalog.entries()
  wanted: dict[str, catalog.DatasetSpec] = {}
  for name in names:
    if name.startswith("mix:"):
      training, heldout = mixtures.split(mixtures.parse_mixture_name(name))
      for spec in training + (heldout if evaluation else []):
        wanted[spec.name] = spec
    else:
      spec, _ = tasks.resolve(name)
      wanted[spec.name] = spec
  order = list(catalog.catalog())
  return sorted(wanted.values(), key=lambda s: order.index(s.name))


def by_builder(specs: Iterable[catalog.DatasetSpec]) -> dict[str, list[catalog.DatasetSpec]]:
  """Entries grouped by the TFDS builder they read (MNLI matched/mismatched share one)."""
  groups: dict[str, list[catalog.DatasetSpec]] = {}
  for spec in specs:
    groups.setdefault(spec.tfds_full_name, []).append(spec)
  return groups


def manual_dirs(spec, data_dir: str) -> tuple[pathlib.Path, pathlib.Path]:
  """(the builder's own manual folder, TFDS's shared one) under `data_dir`."""
  shared = pathlib.Path(data_dir) / "downloads" / "manual"
  return shared / spec.tfds_name.split("/")[0], shared


def _has_files(folder: pathlib.Path) -> bool:
  return folder.is_dir() and any(folder.iterdir())


def _one_line(error: BaseException) -> str:
  text = " ".join(str(error).split())
  return f"{type(error).__name__}: {text[:300]}" if text else type(error).__name__


def _manual_detail(builder, spec, data_dir: str) -> str:
  own, _ = manual_dirs(spec, data_dir)
  instructions = " ".join(str(builder.MANUAL_DOWNLOAD_INSTRUCTIONS).split())
  return f"put the files into {own}: {instructions}"


def _remove_incomplete(spec, data_dir: str) -> None:
  """Deletes the `*.incomplete*` folders an interrupted build of `spec` left behind."""
  parent = pathlib.Path(data_dir, spec.tfds_name)
  if parent.is_dir():
    for leftover in parent.glob(f"{spec.tfds_version}.incomplete*"):
      shutil.rmtree(leftover, ignore_errors=True)


def status(spec, data_dir: str) -> Outcome:
  """READY, MANUAL (files needed and absent) or MISSING, without building anything."""
  names = (spec.name,)
  try:
    builder = datasets.builder(spec, data_dir)
  except datasets.DatasetNotPreparedError as e:
    return Outcome(spec.tfds_full_name, names, FAILED, str(e))
  if builder.is_prepared():
    return Outcome(spec.tfds_full_name, names, READY)
  if builder.MANUAL_DOWNLOAD_INSTRUCTIONS and not any(
      _has_files(d) for d in manual_dirs(spec, data_dir)):
    return Outcome(spec.tfds_full_name, names, MANUAL, _manual_detail(builder, spec, data_dir))
  return Outcome(spec.tfds_full_name, names, MISSING)


def prepare_builder(spec, data_dir: str, verbose: bool = False) -> Outcome:
  """Prepares the TFDS builder of `spec` into `data_dir` unless it is ready (see module doc)."""
  import tensorflow_datasets as tfds

  found = status(spec, data_dir)
  if found.status in (READY, FAILED):
    return found
  if not verbose:
    tfds.disable_progress_bar()
  builder = datasets.builder(spec, data_dir)
  own, shared = manual_dirs(spec, data_dir)
  config = tfds.download.DownloadConfig(
      try_download_gcs=False, manual_dir=str(own if _has_files(own) else shared))
  _remove_incomplete(spec, data_dir)
  # TFDS prints its own "Downloading and preparing ..." lines; the table says what happened.
  printed = contextlib.nullcontext() if verbose else contextlib.redirect_stdout(io.StringIO())
  try:
    with printed:
      builder.download_and_prepare(download_config=config)
  except Exception as e:  # noqa: BLE001 - any failure is reported in the table, per dataset
    if "Manual directory" in str(e):  # TFDS's own check: this config needs hand-made files
      return Outcome(spec.tfds_full_name, found.entries, MANUAL,
                     _manual_detail(builder, spec, data_dir))
    return Outcome(spec.tfds_full_name, found.entries, FAILED, _one_line(e))
  examples = sum(split.num_examples for split in builder.info.splits.values())
  return Outcome(spec.tfds_full_name, found.entries, BUILT, f"{examples:,} examples")


def _prepare_in_worker(name: str, data_dir: str, verbose: bool) -> Outcome:
  """One builder, in a worker process (`--jobs`): the entry is looked up anew there."""
  return prepare_builder(catalog.get(name), data_dir, verbose)


def prepare(specs: list[catalog.DatasetSpec], data_dir: str, jobs: int = 1,
            verbose: bool = False, on_done: Callable[[Outcome], None] | None = None
            ) -> list[Outcome]:
  """Prepares every builder `specs` read; one Outcome per builder, in catalog order."""
  groups = by_builder(specs)
  firsts = [group[0] for group in groups.values()]
  results: dict[str, Outcome] = {}

  def finish(spec, outcome: Outcome) -> None:
    outcome = dataclasses.replace(outcome, entries=tuple(s.name for s in groups[spec.tfds_full_name]))
    results[spec.tfds_full_name] = outcome
    if on_done:
      on_done(outcome)

  if jobs <= 1:
    for spec in firsts:
      finish(spec, prepare_builder(spec, data_dir, verbose))
  else:
    context = multiprocessing.get_context("spawn")  # TensorFlow does not survive a fork
    initializer, initargs = runtime.worker_initializer()  # quiet workers under a quiet flan
    with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context, initializer=initializer,
                                                initargs=initargs) as pool:
      futures = {pool.submit(_prepare_in_worker, s.name, data_dir, verbose): s for s in firsts}
      for future in concurrent.futures.as_completed(futures):
        spec = futures[future]
        try:
          outcome = future.result()
        except Exception as e:  # noqa: BLE001 - a crashed worker fails its dataset only
          outcome = Outcome(spec.tfds_full_name, (), FAILED, _one_line(e))
        finish(spec, outcome)
  return [results[s.tfds_full_name] for s in firsts]


def check(specs: list[catalog.DatasetSpec], data_dir: str) -> list[Outcome]:
  """The readiness of every builder `specs` read, building nothing (one Outcome per builder)."""
  outcomes = []
  for name, group in by_builder(specs).items():
    outcome = status(group[0], data_dir)
    outcomes.append(dataclasses.replace(outcome, entries=tuple(s.name for s in group)))
  return outcomes


def table(outcomes: list[Outcome]) -> str:
  """The outcomes as an aligned text table (dataset, entries, status, detail)."""
  rows = [("dataset", "entries", "status", "detail")]
  rows += [(o.builder, ",".join(o.entries), o.status, o.detail) for o in outcomes]
  widths = [max(len(r[i]) for r in rows) for i in range(3)]
  return "\n".join("  ".join(r[i].ljust(widths[i]) for i in range(3)) + "  " + r[3]
                   for r in rows).rstrip() + "\n"


def summary(outcomes: list[Outcome]) -> str:
  """'3 ready, 1 built now, 1 manual, 2 failed' (statuses that occur, in that order)."""
  counts = [(s, sum(o.status == s for o in outcomes)) for s in (READY, BUILT, MANUAL, FAILED,
                                                                 MISSING)]
  return ", ".join(f"{n} {s}" for s, n in counts if n)


def require_ready(specs: list[catalog.DatasetSpec], data_dir: str | None = None,
                  command: str = "flan data prepare") -> None:
  """Raises DatasetNotPreparedError listing every builder of `specs` that is not prepared, with
  the command that prepares them: checked before a run writes or computes anything."""
  data_dir = data_dir or datasets.data_dir()
  missing = [o for o in check(specs, data_dir) if o.status not in DONE]
  if not missing:
    return
  names = " ".join(sorted({e for o in missing for e in o.entries}))
  raise datasets.DatasetNotPreparedError(
      f"{len(missing)} of the datasets this run needs are not prepared in {data_dir} "
      f"(run `{command} {names} --data_dir {data_dir}`):\n" + table(missing).rstrip())
