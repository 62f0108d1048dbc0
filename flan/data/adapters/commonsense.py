"""Function adapters of the commonsense entries (COPA, HellaSwag, PIQA, StoryCloze).

Each of these datasets has per-example options: the candidate texts themselves are the options
and the label indexes them.
"""

from __future__ import annotations

import re
from typing import Any

from flan.data.adapters.core import Record, classification, register, text, texts

# COPA's `question` feature -> the connective that joins the premise to the answer.
COPA_CONNECTIVES = {"cause": "because", "effect": "so"}
HELLASWAG_NUM_ENDINGS = 4
STORY_CLOZE_NUM_ENDINGS = 2
# WikiHow contexts of HellaSwag carry section markers such as "[header]", "[title]", "[step]".
_SECTION_MARKER = re.compile(r"\[[a-z_ ]+\]")
_SPACES = re.compile(r"[ \t]+")


def _clause(sentence: str) -> str:
  """A sentence without its final period, ready to be continued ('He fell.' -> 'He fell')."""
  return sentence.rstrip().rstrip(".").rstrip()


@register("copa")
def copa(raw: dict[str, Any], config: dict[str, Any]) -> Record | None:
  """COPA: the two choices are the options; `question` ('cause'/'effect') picks the connective.

  Emits `premise`, `question`, `connective` ('because' for a cause, 'so' for an effect) and
  `clause` (the premise without its final period, to be continued by the connective).
  Drops examples whose question is neither 'cause' nor 'effect'.
  """
  del config
  question = text(raw["question"]).lower()
  if question not in COPA_CONNECTIVES:
    return None
  premise = text(raw["premise"])
  fields = {"premise": premise, "question": question,
            "connective": COPA_CONNECTIVES[question], "clause": _clause(premise)}
  return classification(fields, [text(raw["choice1"]), text(raw["choice2"])], int(raw["label"]))


def strip_section_markers(value: str) -> str:
  """Removes HellaSwag's bracketed WikiHow markers ('[header]', '[step]', ...) and extra spaces."""
  value = _SECTION_MARKER.sub(" ", value)
  return _SPACES.sub(" ", value).strip()


@register("hellaswag")
def hellaswag(raw: dict[str, Any], config: dict[str, Any]) -> Record | None:
  """HellaSwag: the four endings are the options, section markers stripped.

  Drops unlabelled examples (label -1 in the test split) and those without exactly four
  non-empty endings.
  """
  del config
  endings = [strip_section_markers(e) for e in texts(raw["endings"])]
  if len(endings) != HELLASWAG_NUM_ENDINGS or not all(endings):
    return None
  context = strip_section_markers(text(raw["context"]))
  if not context:
    return None
  fields = {"context": context, "activity": strip_section_markers(text(raw["activity_label"]))}
  return classification(fields, endings, int(raw["label"]))


@register("piqa")
def piqa(raw: dict[str, Any], config: dict[str, Any]) -> Record | None:
  """PIQA: the two solutions are the options for the goal."""
  del config
  return classification({"goal": text(raw["goal"])}, [text(raw["sol1"]), text(raw["sol2"])],
                         int(raw["label"]))


@register("story_cloze")
def story_cloze(raw: dict[str, Any], config: dict[str, Any]) -> Record | None:
  """StoryCloze: the two endings are the options for the four-sentence context.

  The TFDS label is the source's `AnswerRightEnding`, 1-based (1 or 2); anything else is dropped.
  """
  del config
  endings = texts(raw["endings"])
  if len(endings) != STORY_CLOZE_NUM_ENDINGS:
    return None
  return classification({"context": text(raw["context"])}, endings, int(raw["label"]) - 1)
