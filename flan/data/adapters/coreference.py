"""Function adapters of the coreference entries (DPR, Winogrande, WSC273).

Winogrande and WSC273 are cast the same way: the sentence is cut where the blank (Winogrande's
'_') or the pronoun (WSC273) stands; `context` is the part before it and the options are the two
candidate endings, each a candidate followed by the rest of the sentence.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from flan.data.adapters.core import Record, classification, register, text, texts

DPR_NUM_CANDIDATES = 2
WINOGRANDE_BLANK = "_"


def _unstripped(value: Any) -> str:
  """A TFDS text value as str, surrounding whitespace kept (character offsets point into it)."""
  if isinstance(value, np.ndarray) and value.ndim == 0:
    value = value.item()
  return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _endings(before: str, after: str, candidates: list[str]) -> tuple[str, list[str]]:
  """(`context`, endings): the text before the gap and each candidate + the text after it."""
  return before.strip(), [(candidate + after).strip() for candidate in candidates]


@register("dpr")
def dpr(raw: dict[str, Any], config: dict[str, Any]) -> Record | None:
  """Definite Pronoun Resolution: the two candidates are the options for the pronoun."""
  del config
  candidates = texts(raw["candidates"])
  if len(candidates) != DPR_NUM_CANDIDATES or not all(candidates):
    return None
  fields = {"sentence": text(raw["sentence"]), "pronoun": text(raw["pronoun"])}
  return classification(fields, candidates, int(raw["label"]))


@register("winogrande")
def winogrande(raw: dict[str, Any], config: dict[str, Any]) -> Record | None:
  """Winogrande: the options are the sentence endings from the blank on, one per filler.

  Emits `context` (the sentence up to the blank) and `sentence` (the whole sentence, blank
  included). Drops sentences without exactly one blank and unlabelled examples (test split).
  """
  del config
  sentence = text(raw["sentence"])
  if sentence.count(WINOGRANDE_BLANK) != 1:
    return None
  before, after = sentence.split(WINOGRANDE_BLANK)
  context, endings = _endings(before, after, [text(raw["option1"]), text(raw["option2"])])
  return classification({"context": context, "sentence": sentence}, endings, int(raw["label"]))


@register("wsc273")
def wsc273(raw: dict[str, Any], config: dict[str, Any]) -> Record | None:
  """WSC273: the options are the sentence endings from the pronoun on, one per candidate.

  The candidates are the capitalization-normalized options (they read in the pronoun's place).
  Emits `context` (the text before the pronoun), `sentence` and `pronoun`. Drops examples whose
  pronoun offsets do not point at the pronoun.
  """
  del config
  sentence = _unstripped(raw["text"])
  pronoun = text(raw["pronoun_text"])
  start, end = int(raw["pronoun_start"]), int(raw["pronoun_end"])
  if not pronoun or not 0 <= start < end <= len(sentence) or sentence[start:end] != pronoun:
    return None
  candidates = [text(raw["option1_normalized"]), text(raw["option2_normalized"])]
  context, endings = _endings(sentence[:start], sentence[end:], candidates)
  fields = {"context": context, "sentence": sentence.strip(), "pronoun": pronoun}
  return classification(fields, endings, int(raw["label"]))
