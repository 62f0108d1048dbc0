"""Function adapters of the struct-to-text entries (GEM: CommonGen, DART, E2E NLG, WebNLG).

Every GEM config has a single `target` (on train, one example per reference) and `references`
(every reference of the input on validation/test, empty on train). The gold `answer` is `target`;
`answers` is `target` followed by every other reference, so ROUGE can score against all of them.
"""

from __future__ import annotations

import re
from typing import Any

from flan.data.adapters.core import Record, generation, register, text, texts

ITEM_SEPARATOR = "; "
# DART's WikiTableQuestions/WikiSQL triples carry table-layout cells such as "[TABLECONTEXT]" and
# "[TITLE]": they name no entity, so they are dropped (the title's value stays).
_BRACKETED_CELL = re.compile(r"\[[^\]]*\]")
# E2E meaning representation: "name[The Eagle], eatType[coffee shop], ..."
_MR_PAIR = re.compile(r"\s*([^,\[\]]+?)\s*\[([^\]]*)\]")
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z])(?=[A-Z])")
_SPACES = re.compile(r"\s+")


def _squash(value: str) -> str:
  """Collapses runs of whitespace to one space and strips the ends."""
  return _SPACES.sub(" ", value).strip()


def _decamel(name: str) -> str:
  """'priceRange' -> 'price range', 'MeanOfTransportation' -> 'mean of transportation'."""
  return _squash(_CAMEL_BOUNDARY.sub(" ", name).replace("_", " ")).lower()


def _references(raw: dict[str, Any]) -> list[str]:
  """`target` first, then every other reference (in order, without repeats or blanks)."""
  candidates = [text(raw["target"])] + texts(raw["references"])
  return [r for r in dict.fromkeys(candidates) if r]


def _lines(items: list[str]) -> str:
  """One item per line."""
  return "\n".join(items)


@register("common_gen")
def common_gen(raw: dict[str, Any], config: dict[str, Any]) -> Record | None:
  """CommonGen: the concept words, comma-separated; every reference sentence is acceptable."""
  del config
  concepts = [c for c in (_squash(c) for c in texts(raw["concepts"])) if c]
  if not concepts:
    return None
  return generation({"concepts": ", ".join(concepts)}, _references(raw))


def dart_triple(triple: str) -> str:
  """One flattened DART triple without its bracketed table-layout cells ('' if nothing is left)."""
  return _squash(_BRACKETED_CELL.sub(" ", triple))


@register("dart")
def dart(raw: dict[str, Any], config: dict[str, Any]) -> Record | None:
  """DART: the triples (GEM flattens each to 'subject predicate object'), title-style cells dropped.

  Drops the example when no triple has any content left.
  """
  del config
  triples = [t for t in (dart_triple(t) for t in texts(raw["tripleset"])) if t]
  if not triples:
    return None
  fields = {"triples": ITEM_SEPARATOR.join(triples), "triple_lines": _lines(triples)}
  return generation(fields, _references(raw))


def e2e_attributes(meaning_representation: str) -> list[str]:
  """'name[The Eagle], priceRange[cheap]' -> ['name: The Eagle', 'price range: cheap']."""
  pairs = _MR_PAIR.findall(meaning_representation)
  return [f"{_decamel(key)}: {_squash(value)}" for key, value in pairs if _squash(value)]


@register("e2e_nlg")
def e2e_nlg(raw: dict[str, Any], config: dict[str, Any]) -> Record | None:
  """E2E NLG: the meaning representation as 'attribute: value' pairs; unparsable MRs are dropped."""
  del config
  attributes = e2e_attributes(text(raw["meaning_representation"]))
  if not attributes:
    return None
  fields = {"attributes": ITEM_SEPARATOR.join(attributes), "attribute_lines": _lines(attributes)}
  return generation(fields, _references(raw))


def _web_nlg_entity(value: str) -> str:
  """A WebNLG subject/object: underscores to spaces, outer double quotes removed."""
  return _squash(value.replace("_", " ").strip().strip('"'))


def web_nlg_triple(triple: str) -> str:
  """'Aarhus_Airport | cityServed | "Aarhus, Denmark"' -> 'Aarhus Airport | city served | Aarhus,
  Denmark' (underscores to spaces, camelCase properties split, outer quotes removed)."""
  parts = [p.strip() for p in triple.split("|")]
  if len(parts) != 3:
    return _squash(triple.replace("_", " "))
  subject, prop, obj = parts
  return " | ".join([_web_nlg_entity(subject), _decamel(prop), _web_nlg_entity(obj)])


@register("web_nlg_en")
def web_nlg_en(raw: dict[str, Any], config: dict[str, Any]) -> Record | None:
  """WebNLG (en): 'subject | property | object' triples, cleaned; the DBpedia category, readable."""
  del config
  triples = [t for t in (web_nlg_triple(t) for t in texts(raw["input"])) if t]
  if not triples:
    return None
  fields = {"triples": ITEM_SEPARATOR.join(triples), "triple_lines": _lines(triples),
            "category": _decamel(text(raw["category"]))}
  return generation(fields, _references(raw))
