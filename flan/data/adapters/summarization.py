"""Function adapters of the summarization entries.

The plain document -> summary builders (cnn_dailymail, multi_news, newsroom, xsum, ag_news) use
declarative adapters in their YAML; the ones here clean text or drop examples as the FLAN recipe
says (see the public FLAN task definitions).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from flan.data.adapters.core import Record, generation, register, text, texts

# Opinion abstracts: at most this many opinions go into the input, numbered "1. ...".
MAX_OPINIONS = 10
# Gigaword: examples whose document or summary contains one of these are dropped.
GIGAWORD_BANNED = ("UNK", "#")
# SAMSum: inline markers such as <file_photo> or <file_gif> become a space.
_SAMSUM_TAG = re.compile(r"<[^<>\n]*>")
_SPACES = re.compile(r"[ \t]+")


def _one_line(value: str) -> str:
  """Joins the lines of a text with spaces and squeezes repeated spaces."""
  return _SPACES.sub(" ", " ".join(value.splitlines())).strip()


def _numbered(items: list[str]) -> str:
  """['a', 'b'] -> '1. a\\n2. b' (the FLAN way of listing several texts in one field)."""
  return "\n".join(f"{i}. {item}" for i, item in enumerate(items, start=1))


def _opinion_values(raw: dict[str, Any], key: str) -> list[str]:
  """The non-empty `value` texts of an opinion_abstracts Sequence({key, value}) feature."""
  values = raw[key]["value"] if isinstance(raw[key], dict) else [o["value"] for o in raw[key]]
  return [v for v in texts(values) if v]


def _movie_title(name: str) -> str:
  """Rotten Tomatoes movie names: underscores -> spaces; all-lowercase names get capitalized."""
  name = " ".join(name.replace("_", " ").split())
  if name == name.lower():
    name = " ".join(word[:1].upper() + word[1:] for word in name.split(" "))
  return name


@register("aeslc")
def aeslc(raw: dict[str, Any], config: dict[str, Any]) -> Record | None:
  """AESLC: body and subject line each flattened to one line; examples missing either dropped."""
  del config
  body = _one_line(text(raw["email_body"]))
  subject = _one_line(text(raw["subject_line"]))
  if not body:
    return None
  return generation({"body": body, "subject": subject}, [subject])


@register("gigaword")
def gigaword(raw: dict[str, Any], config: dict[str, Any]) -> Record | None:
  """Gigaword: drops examples whose document or summary contains 'UNK' or '#'."""
  del config
  document, summary = text(raw["document"]), text(raw["summary"])
  if not document or any(bad in document or bad in summary for bad in GIGAWORD_BANNED):
    return None
  return generation({"document": document, "summary": summary}, [summary])


@register("opinion_abstracts_idebate")
def opinion_abstracts_idebate(raw: dict[str, Any], config: dict[str, Any]) -> Record | None:
  """iDebate: the first ten argument sentences, numbered, -> the claim they support."""
  del config
  sentences = _opinion_values(raw, "_argument_sentences")
  if not sentences:
    return None
  claim = text(raw["_claim"])
  fields = {"debate": text(raw["_debate_name"]).replace("_", " "),
            "arguments": _numbered(sentences[:MAX_OPINIONS]), "claim": claim}
  return generation(fields, [claim])


@register("opinion_abstracts_rotten_tomatoes")
def opinion_abstracts_rotten_tomatoes(raw: dict[str, Any],
                                      config: dict[str, Any]) -> Record | None:
  """Rotten Tomatoes: the first ten critic reviews, numbered, -> the critics' consensus."""
  del config
  reviews = _opinion_values(raw, "_critics")
  if not reviews:
    return None
  consensus = text(raw["_critic_consensus"])
  fields = {"movie": _movie_title(text(raw["_movie_name"])),
            "reviews": _numbered(reviews[:MAX_OPINIONS]), "first_review": reviews[0],
            "consensus": consensus}
  return generation(fields, [consensus])


@register("samsum")
def samsum(raw: dict[str, Any], config: dict[str, Any]) -> Record | None:
  """SAMSum: Windows line ends -> '\\n', inline <file_...> markers -> a space."""
  del config
  dialogue = text(raw["dialogue"]).replace("\r\n", "\n").replace("\r", "\n")
  dialogue = "\n".join(_SPACES.sub(" ", _SAMSUM_TAG.sub(" ", line)).strip()
                       for line in dialogue.split("\n"))
  summary = text(raw["summary"])
  if not dialogue.strip():
    return None
  return generation({"dialogue": dialogue.strip(), "summary": summary}, [summary])


@register("wiki_lingua_en")
def wiki_lingua_en(raw: dict[str, Any], config: dict[str, Any]) -> Record | None:
  """GEM WikiLingua (en): how-to article (`source`) -> its summary (`target`).

  The training split has an empty `references`; validation and test repeat the target there, and
  every reference is kept as an acceptable answer. Examples without article or summary are dropped.
  """
  del config
  article, summary = text(raw["source"]), text(raw["target"])
  if not article or not summary:
    return None
  references = texts(raw["references"]) if np.size(raw["references"]) else []
  answers = list(dict.fromkeys(a for a in [summary, *references] if a))
  return generation({"article": article, "summary": summary}, answers)
