"""Function adapters of the reading-comprehension entries.

BoolQ, DROP, MultiRC, OpenBookQA, SQuAD v1/v2 (reading comprehension); CosmosQA, ReCoRD (reading
comprehension with commonsense). ARC-Challenge reuses `arc` (closed_book_qa.py) and Natural
Questions is declarative.
"""

from __future__ import annotations

import re
from typing import Any

from flan.data.adapters.core import (Record, classification, generation, register, text, texts,
                                     unique)

# SQuAD v2's target for a question the passage does not answer.
UNANSWERABLE = "unanswerable"
# ReCoRD's marker of the blank in a query, and the readable blank that replaces it.
RECORD_PLACEHOLDER = "@placeholder"
RECORD_BLANK = "___"
_HIGHLIGHT = re.compile(r"\s*@highlight\s*")
_SENTENCE_END = (".", "!", "?", "\"", "'")


@register("drop")
def drop(raw: dict[str, Any], config: dict[str, Any]) -> Record | None:
  """DROP: the answer then every distinct validated answer; dropped when all are empty."""
  del config
  fields = {"passage": text(raw["passage"]), "question": text(raw["question"])}
  answers = unique([text(raw["answer"])] + texts(raw["validated_answers"]))
  return generation(fields, answers)


@register("multirc")
def multirc(raw: dict[str, Any], config: dict[str, Any]) -> Record | None:
  """MultiRC: one (question, candidate answer) pair; is the candidate correct?

  Keeps the ids the metric groups by: `question_id` ("<paragraph>-<question>", unique across
  paragraphs) and `answer_id`. Unlabelled pairs (label -1, the test split) are dropped.
  """
  idx = raw["idx"]
  fields = {"paragraph": text(raw["paragraph"]), "question": text(raw["question"]),
            "response": text(raw["answer"]),
            "question_id": f"{int(idx['paragraph'])}-{int(idx['question'])}",
            "answer_id": str(int(idx["answer"]))}
  options = list(config.get("options") or ["no", "yes"])
  return classification(fields, options, int(raw["label"]))


@register("openbookqa")
def openbookqa(raw: dict[str, Any], config: dict[str, Any]) -> Record | None:
  """OpenBookQA: the four choice texts are the options; the supporting fact `fact1` is given."""
  del config
  question = raw["question"]
  choices = [text(question[f"choice_{letter}"]) for letter in "ABCD"]
  fields = {"fact": text(raw["fact1"]), "question": text(question["stem"])}
  return classification(fields, choices, int(raw["answerKey"]))


@register("squad_v2")
def squad_v2(raw: dict[str, Any], config: dict[str, Any]) -> Record | None:
  """SQuAD v2: answerable questions keep every answer text; the rest answer 'unanswerable'."""
  fields = {"title": text(raw["title"]).replace("_", " "), "context": text(raw["context"]),
            "question": text(raw["question"])}
  if bool(raw["is_impossible"]):
    return generation(fields, [str(config.get("unanswerable", UNANSWERABLE))])
  return generation(fields, texts(raw["answers"]["text"]))


@register("cosmos_qa")
def cosmos_qa(raw: dict[str, Any], config: dict[str, Any]) -> Record | None:
  """CosmosQA: answer0-answer3 are the options; unlabelled examples (label -1) are dropped."""
  del config
  fields = {"context": text(raw["context"]), "question": text(raw["question"])}
  options = [text(raw[f"answer{i}"]) for i in range(4)]
  return classification(fields, options, int(raw["label"]))


def record_passage(passage: str) -> str:
  """A ReCoRD passage with its '@highlight' markers turned into a paragraph of sentences.

  'Article text.\\n@highlight\\nFirst point\\n@highlight\\nSecond point' ->
  'Article text.\\n\\nFirst point. Second point.'
  """
  article, *highlights = _HIGHLIGHT.split(passage.strip())
  sentences = [h if h.endswith(_SENTENCE_END) else h + "." for h in map(str.strip, highlights) if h]
  return "\n\n".join(part for part in (article.strip(), " ".join(sentences)) if part)


@register("record")
def record(raw: dict[str, Any], config: dict[str, Any]) -> Record | None:
  """ReCoRD: the passage's entities are the options; every gold entity is an answer.

  The query's '@placeholder' becomes a '___' blank (`query`); `filled_query` is the query completed
  with the training answer. The training answer is the first gold entity among the options; the
  example is dropped when no gold entity is one (e.g. the unlabelled test split).
  """
  del config
  options = unique(texts(raw["entities"]))
  gold = unique(texts(raw["answers"]))
  in_options = [a for a in gold if a in options]
  if not in_options:
    return None
  answer = in_options[0]
  query = text(raw["query"])
  fields = {"passage": record_passage(text(raw["passage"])),
            "query": query.replace(RECORD_PLACEHOLDER, RECORD_BLANK),
            "filled_query": query.replace(RECORD_PLACEHOLDER, answer)}
  return {**fields, "options": options, "answer": answer,
          "answers": [answer] + [a for a in gold if a != answer]}


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
