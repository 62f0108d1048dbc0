"""Function adapters of the paraphrase entries."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from flan.data.adapters.core import Record, classification, register, text

STSB_OPTIONS = ("0", "1", "2", "3", "4", "5")


def round_half_up(score: float) -> int:
  """The nearest integer, ties upwards (2.5 -> 3; Python's round() would give 2)."""
  return int(math.floor(score + 0.5))


@register("stsb")
def stsb(raw: dict[str, Any], config: dict[str, Any]) -> Record | None:
  """STS-B: the 0-5 similarity score, rounded to the nearest integer, indexes options "0".."5".

  Drops unlabeled examples (GLUE's test split stores -1) and any score outside [0, 5] or NaN. The
  record keeps the unrounded score as `score` (a float, not a template field) for correlations.
  """
  score = float(np.asarray(raw["label"]).item())
  if math.isnan(score) or not 0.0 <= score <= 5.0:
    return None
  options = list(config.get("options") or STSB_OPTIONS)
  fields = {"sentence1": text(raw["sentence1"]), "sentence2": text(raw["sentence2"])}
  record = classification(fields, options, round_half_up(score))
  if record is not None:
    record["score"] = score
  return record
