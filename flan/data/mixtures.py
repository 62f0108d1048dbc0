"""Examples-proportional mixtures, leave-one-cluster-out splits and the paper's ablations.

Every mixture is data. `mixtures/clusters.yaml` holds the clusters and the exclusion rules,
`mixtures/ablations.yaml` the named ablation mixtures; two families exist for every collection:

    mix:flan                       every training entry of the collection
    mix:flan:heldout_nli           all but the held-out cluster and what its rules drop
    mix:flan:clusters_3            ablations.yaml: train on three clusters, NLI / closed-book QA /
                                   commonsense held out
    mix:flan:templates_1           ablations.yaml: the first template of each dataset only
    mix:flan:format_noinstruction  ablations.yaml: the inputs' fields without instructions

Each training dataset contributes one task (`flan:ENTRY`, or `flan:ENTRY:t0-3:noinstruction` for
an ablation: see flan/data/tasks.py) with rate min(n_train, rate_cap) (3,000): rates are per dataset,
and within a dataset each example gets one template, round-robin, so one pass over the dataset
uses each example once.

    >>> d = parse_mixture_name("mix:flan:clusters_2")
    >>> d.heldout, d.clusters
    (('nli', 'closed_book_qa', 'commonsense'), ('summarization', 'translation'))
    >>> d.templates, d.format
    (None, 'instructions')
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import re
from typing import Iterable

import yaml

from flan.data import catalog, clusters, tasks
from flan.data.clusters import MIXTURES_DIR
from flan.data.render import FORMATS

_FAMILY = re.compile(r"^mix:(?P<collection>[a-z_]+)(?::heldout_(?P<cluster>[a-z_]+))?$")
_KEYS = {"collection", "heldout", "clusters", "templates", "format", "description"}


class MixtureError(catalog.CatalogError):
  """A malformed mixture definition in mixtures/*.yaml."""


@dataclasses.dataclass(frozen=True)
class MixtureDef:
  """A training mixture as data: which entries train, with which templates, in which format.

  `heldout` are the clusters the mixture is evaluated on (their rules drop more from training);
  `clusters` restricts training to these clusters (None: every cluster the rules leave);
  `templates` keeps the first N templates of each dataset (None: all); `format` is one of
  render.FORMATS.
  """
  name: str
  collection: str = "flan"
  heldout: tuple[str, ...] = ()
  clusters: tuple[str, ...] | None = None
  templates: int | None = None
  format: str = "instructions"
  description: str = ""


@functools.lru_cache(maxsize=None)
def size_hints() -> dict[str, int]:
  """Published train sizes per entry (mixtures/sizes.yaml), used when data is not prepared."""
  path = MIXTURES_DIR / "sizes.yaml"
  return dict(yaml.safe_load(path.read_text())["train"]) if path.exists() else {}


def rate_cap() -> int:
  return int(clusters.rules()["rate_cap"])


def mixture_name(collection: str, heldout: str | None = None) -> str:
  return f"mix:{collection}" + (f":heldout_{heldout}" if heldout else "")


def _did_you_mean(name: str, known) -> str:
  close = difflib.get_close_matches(name, list(known), n=2, cutoff=0.6)
  return f"did you mean {' or '.join(close)}? " if close else ""


def _check_cluster(cluster: str) -> None:
  known = clusters.names()
  if cluster not in known:
    raise catalog.UnknownEntryError(f"unknown cluster {cluster!r}; "
                                    f"{_did_you_mean(cluster, known)}(known: {', '.join(known)})")


def check_collection(collection: str) -> None:
  """A collection some catalog entry declares (`flan`, `synthetic`), else a one-line error."""
  known = sorted({s.collection for s in catalog.catalog().values()})
  if collection not in known:
    raise catalog.UnknownEntryError(f"unknown collection {collection!r}; "
                                    f"{_did_you_mean(collection, known)}(known: "
                                    f"{', '.join(known)})")


def excluded_clusters(heldout: str | Iterable[str]) -> set[str]:
  """The held-out cluster(s) and every cluster their rules drop from training."""
  heldout = [heldout] if isinstance(heldout, str) else list(heldout)
  dropped = set()
  for cluster in heldout:
    _check_cluster(cluster)
    dropped |= {cluster, *clusters.rules()["heldout_also_drops"].get(cluster, [])}
  return dropped


def overlaps(spec, evaluation) -> bool:
  """Whether a training entry is the same dataset as (or shares source text with) any
  evaluation entry, by the `same_dataset_keys` and `same_source` groups of clusters.yaml."""
  rules = clusters.rules()
  for key in rules.get("same_dataset_keys", ["paper_dataset"]):
    if getattr(spec, key) in {getattr(e, key) for e in evaluation}:
      return True
  eval_datasets = {e.paper_dataset for e in evaluation}
  return any(spec.paper_dataset in group and eval_datasets & set(group)
             for group in rules.get("same_source", []))


def split(definition: MixtureDef) -> tuple[list, list]:
  """(training entries, evaluation entries) of a mixture definition.

  Evaluation: every entry of the held-out clusters. Training: the entries of `clusters` (default:
  all clusters), minus eval-only entries, minus the clusters the held-out rules drop, minus any
  entry that overlaps an evaluation entry; entries that read the same train examples (same
  builder and split expression) train once, as the first of them in catalog order.
  """
  entries = catalog.entries(collection=definition.collection)
  if not entries:
    raise catalog.UnknownEntryError(
        f"no catalog entries in collection {definition.collection!r}")
  dropped = excluded_clusters(definition.heldout)
  evaluation = [s for s in entries if s.cluster in definition.heldout]
  allowed = definition.clusters
  training, seen = [], set()
  for s in entries:
    if (s.eval_only or s.cluster in dropped or (allowed is not None and s.cluster not in allowed)
        or overlaps(s, evaluation)):
      continue
    source = (s.tfds_full_name, s.splits["train"])
    if source not in seen:  # MNLI matched / mismatched train on the same examples: once
      seen.add(source)
      training.append(s)
  return training, evaluation


def split_entries(collection: str, heldout: str | Iterable[str] | None,
                  clusters: Iterable[str] | None = None) -> tuple[list, list]:
  """(training entries, evaluation entries) of a leave-cluster(s)-out split of a collection."""
  heldout = () if heldout is None else (heldout,) if isinstance(heldout, str) else tuple(heldout)
  return split(MixtureDef(name="", collection=collection, heldout=heldout,
                          clusters=None if clusters is None else tuple(clusters)))


def task_for(definition: MixtureDef, spec) -> str:
  """The task one training entry contributes: its templates (all, or the first N; only
  non-inverted ones outside the instructions format) in the mixture's format."""
  usable = [t for t in spec.train_templates
            if definition.format == "instructions" or not t.inverted]
  count = len(usable) if definition.templates is None else min(definition.templates, len(usable))
  if definition.format == "instructions" and count == len(spec.train_templates):
    return tasks.task_name(spec.name)
  return tasks.task_name(spec.name, usable[0].index, last=usable[count - 1].index,
                         format=definition.format)


def training_tasks(definition: MixtureDef) -> list[str]:
  """The task names of a mixture's training entries, in catalog order."""
  training, _ = split(definition)
  return [task_for(definition, spec) for spec in training]


# --- the registry ---------------------------------------------------------------------------

def _definition(name: str, data: dict, where: str) -> MixtureDef:
  if not isinstance(data, dict):
    raise MixtureError(f"{where}: {name}: expected a mapping with keys among {sorted(_KEYS)}")
  unknown = set(data) - _KEYS
  if unknown:
    raise MixtureError(f"{where}: {name}: unknown keys {sorted(unknown)}; known: {sorted(_KEYS)}")
  heldout = tuple(data.get("heldout") or ())
  trained = data.get("clusters")
  trained = None if trained is None else tuple(trained)
  for cluster in heldout + (trained or ()):
    if cluster not in clusters.rules()["clusters"]:
      raise MixtureError(f"{where}: {name}: unknown cluster {cluster!r}")
  excluded = set(trained or ()) & excluded_clusters(heldout)
  if excluded:
    raise MixtureError(f"{where}: {name}: trains on {sorted(excluded)}, which its held-out "
                       f"clusters {list(heldout)} exclude")
  templates = data.get("templates")
  if templates is not None and not (isinstance(templates, int)
                                    and 1 <= templates <= catalog.NUM_TEMPLATES):
    raise MixtureError(f"{where}: {name}: templates must be 1..{catalog.NUM_TEMPLATES}")
  format = data.get("format", "instructions")
  if format not in FORMATS:
    raise MixtureError(f"{where}: {name}: format must be one of {FORMATS}")
  return MixtureDef(name=name, collection=str(data.get("collection", "flan")), heldout=heldout,
                    clusters=trained, templates=templates, format=format,
                    description=str(data.get("description", "")))


@functools.lru_cache(maxsize=None)
def named_mixtures() -> dict[str, MixtureDef]:
  """The mixtures defined in mixtures/*.yaml (every file with a `mixtures:` mapping)."""
  found = {}
  for path in sorted(MIXTURES_DIR.glob("*.yaml")):
    data = yaml.safe_load(path.read_text()) or {}
    for name, body in (data.get("mixtures") or {}).items():
      if name in found:
        raise MixtureError(f"{path}: mixture {name!r} is defined twice")
      if not str(name).startswith("mix:"):
        raise MixtureError(f"{path}: mixture names start with 'mix:', got {name!r}")
      found[name] = _definition(name, body, str(path))
  return found


def names(collection: str | None = None) -> list[str]:
  """Every mixture name: the two families for each collection, then the named ones."""
  collections = sorted({s.collection for s in catalog.catalog().values()})
  result = []
  for coll in collections if collection is None else [collection]:
    present = sorted({s.cluster for s in catalog.entries(collection=coll)})
    result += [mixture_name(coll)] + [mixture_name(coll, c) for c in present]
  return result + [n for n, d in named_mixtures().items()
                   if collection is None or d.collection == collection]


def parse_mixture_name(name: str) -> MixtureDef:
  """The definition of a mixture name (a family name or one of mixtures/*.yaml)."""
  if name in named_mixtures():
    return named_mixtures()[name]
  match = _FAMILY.match(name)
  if match:
    collection, cluster = match.group("collection"), match.group("cluster")
    check_collection(collection)
    if cluster is not None:
      _check_cluster(cluster)
    return MixtureDef(name=name, collection=collection, heldout=(cluster,) if cluster else ())
  close = difflib.get_close_matches(name, names(), n=3, cutoff=0.6)
  hint = f"; did you mean {', '.join(close)}?" if close else ""
  raise catalog.UnknownEntryError(
      f"{name!r} is not a mixture name; expected mix:COLLECTION[:heldout_CLUSTER] or a mixture "
      f"of mixtures/*.yaml{hint}")


def heldout_clusters(mixture: str | None) -> tuple[str, ...]:
  """The clusters a mixture holds out: ('nli',) for mix:flan:heldout_nli, ('nli',
  'closed_book_qa', 'commonsense') for mix:flan:clusters_1; () for a task or an unknown name."""
  if not mixture or not mixture.startswith("mix:"):
    return ()
  try:
    return parse_mixture_name(mixture).heldout
  except (catalog.CatalogError, catalog.UnknownEntryError):
    return ()


# --- SeqIO ----------------------------------------------------------------------------------

def rate(task) -> float:
  """min(n_train, rate_cap): the number of training examples, capped."""
  import seqio
  return seqio.mixing_rate_num_examples(task, maximum=rate_cap())


def get_mixture(name: str, vocabulary=None):
  """The SeqIO mixture `name`, registered (with its tasks) on first use."""
  import seqio

  task_names = [tasks.get_task(t, vocabulary).name
                for t in training_tasks(parse_mixture_name(name))]
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
