"""Adapters: a raw TFDS example (numpy values) -> the canonical record.

Every adapter returns the same shape, or None to drop the example:

    >>> raw = {"premise": b"A cat sat. ", "hypothesis": b"An animal sat.", "label": 0}
    >>> adapt(catalog.get("rte"), raw)
    {'premise': 'A cat sat.', 'hypothesis': 'An animal sat.', 'options': ['yes', 'no'],
     'answer': 'yes', 'answers': ['yes']}

Declarative adapters (`adapter: {fields: {...}, label: ..., options: [...]}` in the YAML) cover
plain mappings; anything else is a function registered here with `@register("name")` and named
in the YAML as `adapter: {function: name, fields: [...]}`.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

Record = dict[str, Any]
AdapterFn = Callable[[dict[str, Any], dict[str, Any]], Record | None]

_FUNCTIONS: dict[str, AdapterFn] = {}


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
      raise KeyError(f"{spec.path}: adapter function {name!r} is not registered in flan/adapters.py;"
                     f" known: {sorted(_FUNCTIONS)}")
    return _FUNCTIONS[name](raw, config)
  return declarative(raw, config)


# ---- Function adapters for entries that are not a plain mapping. --------------------------------


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


@register("squad")
def squad(raw: dict[str, Any], config: dict[str, Any]) -> Record | None:
  """SQuAD: every annotated answer text is acceptable; the first is the training target."""
  del config
  fields = {"title": text(raw["title"]).replace("_", " "), "context": text(raw["context"]),
            "question": text(raw["question"])}
  return generation(fields, texts(raw["answers"]["text"]))
