"""Examples-proportional mixtures and leave-one-cluster-out splits, built lazily with SeqIO.

Mixture names:
    mix:synthetic                  every synthetic entry
    mix:flan                       every paper entry
    mix:flan:heldout_nli           every paper entry but the held-out cluster and what its rules drop

Each dataset contributes one task (`flan:ENTRY`, its templates round-robin) with rate
min(n_train, rate_cap) (rate cap 3,000 in `mixtures/clusters.yaml`).
"""

from __future__ import annotations

import functools
import pathlib
import re

import yaml

from flan import catalog, tasks

MIXTURES_DIR = pathlib.Path(__file__).resolve().parent.parent / "mixtures"
_MIXTURE_NAME = re.compile(r"^mix:(?P<collection>[a-z_]+)(?::heldout_(?P<cluster>[a-z_]+))?$")


@functools.lru_cache(maxsize=None)
def cluster_rules() -> dict:
  return yaml.safe_load((MIXTURES_DIR / "clusters.yaml").read_text())


def mixture_name(collection: str, heldout: str | None = None) -> str:
  return f"mix:{collection}" + (f":heldout_{heldout}" if heldout else "")


def excluded_clusters(heldout: str) -> set[str]:
  """The held-out cluster and every cluster its rules drop from training."""
  rules = cluster_rules()
  if heldout not in rules["clusters"]:
    raise catalog.UnknownEntryError(
        f"unknown cluster {heldout!r}; known: {sorted(rules['clusters'])}")
  return {heldout, *rules["heldout_also_drops"].get(heldout, [])}


def split_entries(collection: str, heldout: str | None):
  """(training entries, evaluation entries) of a leave-one-cluster-out split.

  A dataset that would sit on both sides (same paper dataset) is removed from training.
  """
  entries = catalog.entries(collection=collection)
  if not entries:
    raise catalog.UnknownEntryError(f"no catalog entries in collection {collection!r}")
  if heldout is None:
    return [s for s in entries if not s.eval_only], []
  dropped = excluded_clusters(heldout)
  evaluation = [s for s in entries if s.cluster == heldout]
  eval_datasets = {s.paper_dataset for s in evaluation}
  training = [s for s in entries if not s.eval_only
              and s.cluster not in dropped and s.paper_dataset not in eval_datasets]
  return training, evaluation


def parse_mixture_name(name: str) -> tuple[str, str | None]:
  match = _MIXTURE_NAME.match(name)
  if not match:
    raise catalog.UnknownEntryError(
        f"{name!r} is not a mixture name; expected mix:COLLECTION[:heldout_CLUSTER]")
  return match.group("collection"), match.group("cluster")


def rate(task) -> float:
  """min(n_train, rate_cap): the number of training examples, capped."""
  import seqio
  return seqio.mixing_rate_num_examples(task, maximum=cluster_rules()["rate_cap"])


def get_mixture(name: str, vocabulary=None):
  """The SeqIO mixture `name`, registered (with its tasks) on first use."""
  import seqio

  collection, heldout = parse_mixture_name(name)
  training, _ = split_entries(collection, heldout)
  task_names = [tasks.get_task(tasks.task_name(s.name), vocabulary).name for s in training]
  if name in seqio.MixtureRegistry.names():
    seqio.MixtureRegistry.remove(name)
  mixture = seqio.Mixture(name, [(t, rate) for t in task_names])
  seqio.MixtureRegistry.add_provider(name, mixture)
  return mixture


def get(name: str, vocabulary=None):
  """A mixture (`mix:...`) or a task (`flan:...`) by name."""
  if name.startswith("mix:"):
    return get_mixture(name, vocabulary)
  return tasks.get_task(name, vocabulary)
