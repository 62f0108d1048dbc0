"""Function adapter of the translation entries (ParaCrawl, WMT'14, WMT'16).

TFDS `Translation` features give one text per language code (`{"en": ..., "fr": ...}`). The YAML
names the record field of each language (`fields: {english: en, french: fr}`); templates cover both
directions by naming the target language's field, so `answer` (the non-English side, the
English -> X reference) is only the record's default target.
"""

from __future__ import annotations

from typing import Any

from flan.data.adapters.core import Record, generation, lookup, register, text

ENGLISH = "english"


@register("translation")
def translation(raw: dict[str, Any], config: dict[str, Any]) -> Record | None:
  """A sentence pair -> {english, <other language>}; drops pairs with an empty side."""
  fields = {name: text(lookup(raw, key)) for name, key in config["fields"].items()}
  if ENGLISH not in fields or len(fields) != 2:
    raise ValueError(f"translation adapter needs 'english' and one other field, got {list(fields)}")
  if not all(fields.values()):
    return None
  other = next(value for name, value in fields.items() if name != ENGLISH)
  return generation(fields, [other])
