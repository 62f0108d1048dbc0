"""Function adapters of the miscellaneous entries (CoQA, QuAC, Math, Fix punctuation).

TREC, CoLA and WiC map their features directly and use declarative adapters in their YAML.
"""

from __future__ import annotations

import re
from typing import Any

from flan.data.adapters.core import Record, generation, register, text, texts

# QuAC marks an unanswerable question with this token, and appends it to every context so that
# span answers can point at it.
QUAC_NO_ANSWER_TOKEN = "CANNOTANSWER"
# The answer text an unanswerable QuAC question gets (the same words as SQuAD v2's).
QUAC_NO_ANSWER = "unanswerable"

# `str(bytes)` as older math_dataset builds stored it: b'Solve 2*x = 4 for x.\n'
_BYTES_REPR = re.compile(r"^b(['\"])(.*)\1$", re.DOTALL)
_LITERAL_NEWLINES = re.compile(r"(\\n)+$")
# What "punctuation" means for Fix punctuation: anything that is neither a word character nor
# whitespace (the FLAN rule).
_PUNCTUATION = re.compile(r"[^\w\s]")


def numbered(items: list[str]) -> str:
  """['a', 'b'] -> '1. a\\n2. b'."""
  return "\n".join(f"{i}. {item}" for i, item in enumerate(items, start=1))


@register("coqa")
def coqa(raw: dict[str, Any], config: dict[str, Any]) -> Record | None:
  """CoQA: the whole story, all its questions numbered -> all its answers numbered.

  Drops a story without questions, or whose questions and answers do not pair up.
  """
  del config
  questions = texts(raw["questions"])
  answers = texts(raw["answers"]["input_text"])
  if not questions or len(questions) != len(answers) or not all(answers):
    return None
  fields = {"story": text(raw["story"]), "questions": numbered(questions)}
  return generation(fields, [numbered(answers)])


def _quac_answer(answer: str) -> str:
  """A QuAC answer text, with the no-answer token spelled as words."""
  return QUAC_NO_ANSWER if answer == QUAC_NO_ANSWER_TOKEN else answer


def _quac_context(context: str) -> str:
  """A QuAC section text without the no-answer token appended to its end."""
  if context.endswith(QUAC_NO_ANSWER_TOKEN):
    context = context[:-len(QUAC_NO_ANSWER_TOKEN)]
  return context.strip()


@register("quac")
def quac(raw: dict[str, Any], config: dict[str, Any]) -> Record | None:
  """QuAC: one question of a dialogue about a Wikipedia section, answered from the section.

  The TFDS builder yields every question as its own example without the earlier turns, so the
  record is single-turn: article title, background, section title and text, and the question.
  The training target is the original dialogue answer; every annotated answer is acceptable.
  'CANNOTANSWER' becomes 'unanswerable'.
  """
  del config
  answers = [_quac_answer(text(raw["orig_answer"]["text"]))]
  answers += [_quac_answer(a) for a in texts(raw["answers"]["text"])]
  fields = {"title": text(raw["title"]), "section_title": text(raw["section_title"]),
            "background": text(raw["background"]), "context": _quac_context(text(raw["context"])),
            "question": text(raw["question"])}
  if not fields["context"] or not fields["question"]:
    return None
  return generation(fields, list(dict.fromkeys(answers)))


def clean_math_text(value: Any) -> str:
  """A math_dataset string without the `b'...\\n'` wrapper some builds left around it."""
  value = text(value)
  match = _BYTES_REPR.match(value)
  if match:
    value = _LITERAL_NEWLINES.sub("", match.group(2))
  return value.strip()


@register("math_dataset")
def math_dataset(raw: dict[str, Any], config: dict[str, Any]) -> Record | None:
  """Math (algebra, linear equations in one variable): question -> the answer text."""
  del config
  question = clean_math_text(raw["question"])
  if not question:
    return None
  return generation({"question": question}, [clean_math_text(raw["answer"])])


def strip_punctuation(sentence: str) -> str:
  """Lower-cased, punctuation removed, runs of whitespace collapsed to one space."""
  return " ".join(_PUNCTUATION.sub("", sentence).lower().split())


@register("fix_punctuation")
def fix_punctuation(raw: dict[str, Any], config: dict[str, Any]) -> Record | None:
  """Fix punctuation (from ParaCrawl en-da): the bare English sentence -> the original one.

  Drops sentences without any punctuation (nothing to restore) and those left empty.
  """
  del config
  sentence = text(raw["en"])
  bare = strip_punctuation(sentence)
  if not bare or not _PUNCTUATION.search(sentence):
    return None
  return generation({"unpunctuated": bare}, [sentence])
