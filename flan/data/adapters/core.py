"""Adapters: a raw TFDS example (numpy values) -> the canonical record.

Every adapter returns the same shape, or None to drop the example:

    >>> raw = {"premise": b"A cat sat. ", "hypothesis": b"An animal sat.", "label": 0}
    >>> adapt(catalog.get("rte"), raw)
    {'premise': 'A cat sat.', 'hypothesis': 'An animal sat.', 'options': ['yes', 'no'],
     'answer': 'yes', 'answers': ['yes']}

Declarative adapters (`adapter: {fields: {...}, label: ..., options: [...]}` in the YAML) cover
plain mappings; anything else is a function registered here with `@register("name")` and named
in the YAML as `adapter: {function: name, fields: [...]}`. Function adapters live in one module of
this package per cluster (`flan/data/adapters/<cluster>.py`); they are imported on first use.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Callable

import numpy as np

Record = dict[str, Any]
AdapterFn = Callable[[dict[str, Any], dict[str, Any]], Record | None]

_FUNCTIONS: dict[str, AdapterFn] = {}


def _import_function_modules() -> None:
  """Imports every module of this package, registering their function adapters."""
  import importlib
  import pkgutil

  import flan.data.adapters as package
  for module in pkgutil.iter_modules(package.__path__):
    importlib.import_module(f"flan.data.adapters.{module.name}")


def register(name: str) -> Callable[[AdapterFn], AdapterFn]:
  """Registers `fn(raw_example, adapter_config) -> record | None` under `name`."""
  def wrap(fn: AdapterFn) -> AdapterFn:
    _FUNCTIONS[name] = fn
    return fn
  return wrap


def text(value: Any) -> str:
  """bytes / numpy scalar / str -> str without surrounding whitespace (TFDS gives bytes)."""
  if isinstance(value, np.ndarray) and value.ndim == 0:
    value = value.item()
  if isinstance(value, bytes):
    value = value.decode("utf-8")
  return str(value).strip()


def texts(values: Any) -> list[str]:
  """A sequence of TFDS text values -> list of str."""
  return [text(v) for v in np.asarray(values).reshape(-1)]


def unique(values: list[str]) -> list[str]:
  """Non-empty values in first-seen order, without duplicates: ['a', '', 'b', 'a'] -> ['a', 'b']."""
  return [v for v in dict.fromkeys(values) if v]


def lookup(raw: dict[str, Any], path: str) -> Any:
  """`raw["answers"]["text"]` for path 'answers/text'."""
  value = raw
  for key in path.split("/"):
    value = value[key]
  return value


def classification(fields: dict[str, str], options: list[str], label: int) -> Record | None:
  """A classification record; None when the label is out of range (e.g. SNLI's -1)."""
  if not 0 <= label < len(options):
    return None
  answer = options[label]
  return {**fields, "options": list(options), "answer": answer, "answers": [answer]}


def generation(fields: dict[str, str], answers: list[str]) -> Record | None:
  """A generation record; the first answer is the training target."""
  answers = [a for a in answers if a]
  if not answers:
    return None
  return {**fields, "answer": answers[0], "answers": answers}


def declarative(raw: dict[str, Any], config: dict[str, Any]) -> Record | None:
  """The YAML mapping: `fields` (record field -> raw path), `label` + `options`, or `answer`."""
  fields = {name: text(lookup(raw, path)) for name, path in config["fields"].items()}
  if "options" in config:
    return classification(fields, list(config["options"]), int(lookup(raw, config["label"])))
  return generation(fields, texts(lookup(raw, config["answer"])))


def adapt(spec, raw: dict[str, Any]) -> Record | None:
  """Applies the entry's adapter to one raw example (a dict of numpy values)."""
  config = spec.adapter
  if "function" in config:
    name = config["function"]
    if name not in _FUNCTIONS:
      _import_function_modules()
    if name not in _FUNCTIONS:
      raise KeyError(f"{spec.path}: adapter function {name!r} is not registered in "
                     f"flan/data/adapters/; known: {sorted(_FUNCTIONS)}")
    return _FUNCTIONS[name](raw, config)
  return declarative(raw, config)


def record_key(record: Record) -> str:
  """A stable 16-hex-digit digest of a record's content: the per-example part of every seed
  (random options formats, few-shot exemplar order), so a record draws the same wherever it is."""
  text = json.dumps(record, sort_keys=True, ensure_ascii=False, default=str)
  return hashlib.sha256(text.encode()).hexdigest()[:16]
