"""Function adapters of the reading-comprehension entries."""

from __future__ import annotations

from typing import Any

from flan.data.adapters.core import Record, classification, generation, register, text, texts


def _question_mark(question: str) -> str:
  """A question with a final '?' (BoolQ's questions come without one)."""
  question = question.strip()
  return question if question.endswith("?") else question + "?"


@register("boolq")
def boolq(raw: dict[str, Any], config: dict[str, Any]) -> Record | None:
  """BoolQ: the bool `answer` feature indexes the options (False -> 'no', True -> 'yes')."""
  fields = {"title": text(raw["title"]), "passage": text(raw["passage"]),
            "question": _question_mark(text(raw["question"]))}
  options = list(config.get("options") or ["no", "yes"])
  return classification(fields, options, int(bool(raw["answer"])))


@register("squad")
def squad(raw: dict[str, Any], config: dict[str, Any]) -> Record | None:
  """SQuAD: every annotated answer text is acceptable; the first is the training target."""
  del config
  fields = {"title": text(raw["title"]).replace("_", " "), "context": text(raw["context"]),
            "question": text(raw["question"])}
  return generation(fields, texts(raw["answers"]["text"]))
