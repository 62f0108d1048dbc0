"""Defaults a command takes from what it is pointed at, and the names a user types, checked.

    trained_mixture("runs/demo/model")    'mix:synthetic:heldout_nli'  (the newest checkpoint's
                                          meta/metadata, else config.gin's MIXTURE; None: unknown)
    mixture_collection("flan:rte")        'flan'
    check_collection("flaan")             UnknownEntryError: unknown collection 'flaan'; did you
                                          mean flan? (known: flan, synthetic)
    check_cluster("nlii", "synthetic")    UnknownEntryError: unknown cluster 'nlii'; did you mean
                                          nli? ...

A model directory's layout (flan/checkpoint/manager.py):

    <model_dir>/checkpoints/<step>/meta/metadata   JSON {"step": 60, "mixture": "mix:...", ...}
    <model_dir>/config.gin                          the run's gin config (MIXTURE = '...')
"""

from __future__ import annotations

import json
import pathlib
import re

from flan.data import catalog, clusters, mixtures
from flan.errors import UserError

class ModelDirError(UserError, FileNotFoundError):
  """A --model_dir that is not there."""


_MIXTURE_MACRO = re.compile(r"^MIXTURE\s*=\s*['\"]([^'\"]+)['\"]", re.MULTILINE)


def _steps(model_dir: pathlib.Path) -> list[tuple[int, pathlib.Path]]:
  """(step, folder) of the finished checkpoints (Orbax renames a folder to its step only once
  the save is complete), oldest first."""
  directory = model_dir / "checkpoints"
  if not directory.is_dir():
    return []
  return sorted((int(p.name), p) for p in directory.iterdir() if p.name.isdigit())


def latest_step(model_dir: str | pathlib.Path) -> int | None:
  steps = _steps(pathlib.Path(model_dir))
  return steps[-1][0] if steps else None


def trained_mixture(model_dir: str | pathlib.Path) -> str | None:
  """The mixture (or task) the model directory's newest checkpoint was trained on."""
  model_dir = pathlib.Path(model_dir)
  for _, path in reversed(_steps(model_dir)):
    try:
      mixture = json.loads((path / "meta" / "metadata").read_text()).get("mixture")
    except (OSError, ValueError):
      continue
    if mixture:
      return str(mixture)
  config = model_dir / "config.gin"
  match = _MIXTURE_MACRO.search(config.read_text()) if config.is_file() else None
  return match.group(1) if match else None


def mixture_collection(name: str) -> str | None:
  """The collection of a mixture (`mix:...`) or task (`flan:ENTRY...`); None if it names none."""
  try:
    if name.startswith("mix:"):
      return mixtures.parse_mixture_name(name).collection
    from flan.data import tasks
    spec, _ = tasks.resolve(name)
    return spec.collection
  except (catalog.CatalogError, catalog.UnknownEntryError):
    return None


def collections() -> list[str]:
  return sorted({s.collection for s in catalog.catalog().values()})


def check_collection(name: str) -> str:
  mixtures.check_collection(name)
  return name


def check_cluster(cluster: str, collection: str | None = None) -> str:
  """A cluster of mixtures/clusters.yaml that has entries in `collection` (any, when None)."""
  mixtures.excluded_clusters(cluster)  # checks the name
  known = clusters.names()
  if collection is not None and not catalog.entries(collection=collection, cluster=cluster):
    present = [c for c in known if catalog.entries(collection=collection, cluster=c)]
    raise catalog.UnknownEntryError(f"collection {collection!r} has no entries in cluster "
                                    f"{cluster!r}; its clusters: {', '.join(present)}")
  return cluster


def model_collection(model_dir: str, given: str | None) -> str:
  """`--collection` of `flan eval`: as given, else the collection the model was trained on."""
  if given is not None:
    return check_collection(given)
  if not pathlib.Path(model_dir).is_dir():
    raise ModelDirError(f"model directory {model_dir} does not exist")
  mixture = trained_mixture(model_dir)
  collection = mixture_collection(mixture) if mixture else None
  if collection is None:
    raise catalog.UnknownEntryError(
        f"{model_dir}: no record of what it was trained on"
        + (f" ({mixture!r} is not a known mixture)" if mixture else "")
        + f"; pass --collection ({', '.join(collections())})")
  return collection


def gin_collection(gin_files: list[str], bindings: list[str]) -> str:
  """`--collection` of `flan sweep`: the collection of the gin config's MIXTURE, else flan."""
  import gin

  from flan.cli import gin_config
  gin_config.parse(gin_files, bindings)
  try:
    mixture = gin.query_parameter("%MIXTURE")
  except ValueError:
    return "flan"
  return mixture_collection(str(mixture)) or "flan"
