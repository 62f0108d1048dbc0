"""Function adapters of the sentiment entries (IMDB, Sentiment140, Yelp polarity).

All three emit one text field, `text`, and the options ["negative", "positive"].
"""

from __future__ import annotations

import re
from typing import Any

from flan.data.adapters.core import Record, classification, register, text

SENTIMENT_OPTIONS = ("negative", "positive")
# Sentiment140 polarity -> option index; 2 (neutral, only in the test split) is dropped.
SENTIMENT140_POLARITY = {0: 0, 4: 1}
_HTML_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)


def _options(config: dict[str, Any]) -> list[str]:
  return list(config.get("options") or SENTIMENT_OPTIONS)


def imdb_text(value: str) -> str:
  """IMDB reviews mark line breaks with HTML: every '<br />' becomes a newline."""
  return _HTML_BREAK.sub("\n", value).strip()


def yelp_text(value: str) -> str:
  """Yelp reviews keep the source CSV's escapes: a literal '\\n' is a newline, '""' a quote."""
  return value.replace("\\n", "\n").replace('""', '"').strip()


@register("imdb")
def imdb(raw: dict[str, Any], config: dict[str, Any]) -> Record | None:
  """IMDB: label 0 = negative, 1 = positive; '<br />' -> newline."""
  return classification({"text": imdb_text(text(raw["text"]))}, _options(config),
                        int(raw["label"]))


@register("sentiment140")
def sentiment140(raw: dict[str, Any], config: dict[str, Any]) -> Record | None:
  """Sentiment140: polarity 0 = negative, 4 = positive; neutral (2) and anything else dropped."""
  index = SENTIMENT140_POLARITY.get(int(raw["polarity"]))
  if index is None:
    return None
  return classification({"text": text(raw["text"])}, _options(config), index)


@register("yelp_polarity")
def yelp_polarity(raw: dict[str, Any], config: dict[str, Any]) -> Record | None:
  """Yelp polarity: label 0 (source class '1') = negative, 1 (source '2') = positive."""
  return classification({"text": yelp_text(text(raw["text"]))}, _options(config),
                        int(raw["label"]))
