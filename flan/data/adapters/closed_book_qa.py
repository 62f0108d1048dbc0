"""Function adapters of the closed-book QA entries: ARC (both sets) and TriviaQA."""

from __future__ import annotations

from typing import Any

import numpy as np

from flan.data.adapters.core import (Record, classification, generation, register, text, texts,
                                     unique)

ARC_NUM_CHOICES = 4


def _choice_index(key: Any) -> int | None:
  """An ARC choice key -> 0-based index.

  TFDS stores keys as ClassLabel indices (0 = 'A'); the source files use letters 'A'-'E' or
  digits '1'-'5'. Both spellings are accepted; anything else is None.
  """
  if isinstance(key, (bytes, str)) or (isinstance(key, np.ndarray) and key.dtype.kind in "SUO"):
    key = text(key).strip().upper()
    if len(key) == 1 and "A" <= key <= "Z":
      return ord(key) - ord("A")
    return int(key) - 1 if key.isdigit() else None
  return int(key)


@register("arc")
def arc(raw: dict[str, Any], config: dict[str, Any]) -> Record | None:
  """ARC: the four choice texts are the options; drops questions without exactly four."""
  del config
  choices = texts(raw["choices"]["text"])
  keys = [_choice_index(k) for k in np.asarray(raw["choices"]["label"]).reshape(-1)]
  if len(choices) != ARC_NUM_CHOICES or len(keys) != len(choices):
    return None
  answer_key = _choice_index(raw["answerKey"])
  if answer_key not in keys:
    return None
  return classification({"question": text(raw["question"])}, choices, keys.index(answer_key))


@register("trivia_qa")
def trivia_qa(raw: dict[str, Any], config: dict[str, Any]) -> Record | None:
  """TriviaQA, closed-book: target the answer's value; any normalized alias is also correct."""
  del config
  answer = raw["answer"]
  answers = unique([text(answer["value"])] + texts(answer["normalized_aliases"]))
  return generation({"question": text(raw["question"])}, answers)
