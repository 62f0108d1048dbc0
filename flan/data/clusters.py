"""Task clusters as data: `mixtures/clusters.yaml`, read once, owned here.

The renderer needs a cluster's display name (the `dataset_name` format writes
"[NLI: RTE] ...") and the mixtures need the held-out rules; both read them from this module, so
neither imports the other.

    >>> display_name("nli"), display_name("reading_comprehension_with_commonsense")
    ('NLI', 'Read. comp. w/ commonsense')
    >>> rules()["heldout_also_drops"]["nli"]
    ['paraphrase']
"""

from __future__ import annotations

import functools

import yaml

from flan import resources

MIXTURES_DIR = resources.MIXTURES_DIR


@functools.lru_cache(maxsize=None)
def rules() -> dict:
  """The whole of clusters.yaml: `clusters` (name -> display name), `heldout_also_drops`,
  `same_dataset_keys`, `same_source` and `rate_cap`."""
  return yaml.safe_load((MIXTURES_DIR / "clusters.yaml").read_text())


def names() -> list[str]:
  """Every cluster, in the order of clusters.yaml."""
  return list(rules()["clusters"])


def display_name(cluster: str) -> str:
  """'nli' -> 'NLI'; a cluster clusters.yaml does not name is shown as it is."""
  return rules()["clusters"].get(cluster, cluster)
