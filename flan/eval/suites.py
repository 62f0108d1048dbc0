"""Named evaluation suites and the paper's numbers, from `mixtures/suites.yaml`.

    suite_entries("paper25")[:3]          == ["anli_r1", "anli_r2", "anli_r3"]
    paper_result("wmt14_enfr:to_french")  == {"value": 33.9, "score": "bleu"}
    paper_result("synth_reviews")         is None
"""

from __future__ import annotations

import functools

import yaml

from flan.data import catalog, mixtures


@functools.lru_cache(maxsize=None)
def _suites_file() -> dict:
  return yaml.safe_load((mixtures.MIXTURES_DIR / "suites.yaml").read_text())


def suite_entries(name: str) -> list[str]:
  """The catalog entry names of a suite, in the file's order."""
  suites = _suites_file()["suites"]
  if name not in suites:
    raise catalog.UnknownEntryError(f"unknown suite {name!r}; known: {sorted(suites)}")
  return list(suites[name])


def suite_specs(name: str):
  return [catalog.get(entry) for entry in suite_entries(name)]


def paper_result(task: str) -> dict | None:
  """FLAN 137B's zero-shot number for a reported task ({"value", "score"}), or None."""
  return _suites_file().get("paper_results", {}).get(task)


def paper_cluster(cluster: str) -> float | None:
  """FLAN 137B's zero-shot cluster average (the paper's Figure 1), or None."""
  return _suites_file().get("paper_clusters", {}).get(cluster)
