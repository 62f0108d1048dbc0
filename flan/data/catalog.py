"""The catalog: `templates/*.yaml` loaded into typed, validated `DatasetSpec` objects.

A catalog entry is pure data (see docs/templates.md). Loading is cheap: YAML only, no TensorFlow.

    >>> spec = load_entry("templates/rte.yaml")
    >>> spec.name, spec.cluster, len(spec.templates)
    ('rte', 'nli', 10)
    >>> spec.templates[0].uses_options, spec.templates[-1].inverted
    (True, True)
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import os
import pathlib
import re
import string
from typing import Any

import yaml

from flan import resources
from flan.errors import UserError

NUM_TEMPLATES = 10
MAX_INVERTED = 3
SPECIAL_PLACEHOLDERS = ("answer", "options")
TYPES = ("classification", "generation")
# Metric names an entry may declare (flan/eval implements them).
METRICS = ("accuracy", "accuracy_f1", "accuracy_macro_f1", "matthews_corr", "accuracy_matthews",
           "pearson_spearman", "squad", "squad_v2", "drop", "exact_match", "multirc", "record",
           "bleu", "rouge", "edit_distance")
TEMPLATES_DIR = resources.TEMPLATES_DIR


class CatalogError(UserError, ValueError):
  """A catalog entry is malformed. The message names the file and template."""


class UnknownEntryError(UserError, KeyError):
  """A name that is not in the catalog. The message suggests close names."""

  def __str__(self):
    return str(self.args[0])


@dataclasses.dataclass(frozen=True)
class Template:
  """One (input, target) pattern of an entry.

  `index` is 0-based; task names use it as `t{index}` (`flan:rte:t0` is the plainest).
  """
  index: int
  input: str
  target: str
  inverted: bool = False
  label: str | None = None
  eval: bool = True

  @property
  def uses_options(self) -> bool:
    return "options" in placeholders(self.input)

  def accepts(self, record: dict) -> bool:
    """Whether the template applies to a record: a label-conditioned inversion (`label` set)
    sees only records with that answer; every other template sees all."""
    return self.label is None or record.get("answer") == self.label


@dataclasses.dataclass(frozen=True)
class FewshotFormat:
  """How few-shot exemplars are joined to the query (entry key `fewshot`, defaults shown).

  Each exemplar is its inputs, `targets_prefix`, its targets and `example_separator`; the query's
  inputs come last, then `targets_prefix` without trailing whitespace (nothing, by default), so
  zero shots is exactly the zero-shot input. With the defaults:

      'Is 3 odd?\\n\\nyes\\n\\n\\nIs 4 odd?\\n\\nno\\n\\n\\nIs 5 odd?'
  """
  targets_prefix: str = "\n\n"
  example_separator: str = "\n\n\n"


@dataclasses.dataclass(frozen=True)
class Carve:
  """Validation carved from the train split by input (entry key `carve`).

  Rows are held out by a hash of the raw TFDS feature `by` (a path such as 'idx/paragraph'; a
  list feature is joined): every row of a held-out input (all its references, every question on
  its passage) is dropped from the `train` split and only held-out rows are kept in `validation`.
  `percent` of the inputs are held out:

      carve: {by: context, percent: 5}      # SQuAD: no validation passage is trained on
  """
  by: str
  percent: int


# `groups` values: rows with the same rendered input are one example (every reference).
SAME_INPUT = "same_input"


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
  """A catalog entry: one TFDS config, its splits, adapter and ten templates."""
  name: str
  paper_dataset: str
  cluster: str
  collection: str
  type: str
  metric: str
  tfds_name: str
  tfds_version: str
  splits: dict[str, str]
  adapter: dict[str, Any]
  templates: tuple[Template, ...]
  path: str = ""
  manual_download: bool = False
  eval_only: bool = False
  fewshot: FewshotFormat = FewshotFormat()
  carve: Carve | None = None
  groups: str | None = None

  @property
  def tfds_full_name(self) -> str:
    """`super_glue/rte:1.0.2`, the form `tfds.builder` and seqio take."""
    return f"{self.tfds_name}:{self.tfds_version}"

  @property
  def fields(self) -> tuple[str, ...]:
    """The text fields the adapter emits."""
    fields = self.adapter.get("fields", ())
    return tuple(fields.keys() if isinstance(fields, dict) else fields)

  @property
  def options(self) -> tuple[str, ...] | None:
    """Fixed verbalized labels of a declarative classification adapter, else None."""
    options = self.adapter.get("options")
    return tuple(options) if options else None

  @property
  def num_options(self) -> int | None:
    """How many answers a classification entry chooses from: its fixed options, else the
    adapter's declared `num_options` (options that vary per example, e.g. ARC's four choices);
    None for generation (and for classification over open sets, e.g. ReCoRD's entities)."""
    if self.options is not None:
      return len(self.options)
    declared = self.adapter.get("num_options")
    return int(declared) if declared else None

  @property
  def train_templates(self) -> tuple[Template, ...]:
    return self.templates

  @property
  def eval_templates(self) -> tuple[Template, ...]:
    return tuple(t for t in self.templates if t.eval)


def placeholders(text: str) -> list[str]:
  """Names of the `{placeholders}` in a template text, in order ('{{' is a literal brace)."""
  try:
    return [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
  except ValueError as e:
    raise CatalogError(f"unbalanced braces: {e}") from None


_GLUED = re.compile(r"[A-Za-z0-9]\{(?!\{)|(?<!\})\}[A-Za-z0-9]")


def _check_template(t: dict[str, Any], index: int, fields: set[str], entry_type: str,
                    options: tuple[str, ...] | None, where: str) -> Template:
  where = f"{where}: template {index}"
  if not isinstance(t, dict) or "input" not in t or "target" not in t:
    raise CatalogError(f"{where}: needs 'input' and 'target' keys")
  unknown_keys = set(t) - {"input", "target", "inverted", "label", "eval"}
  if unknown_keys:
    raise CatalogError(f"{where}: unknown keys {sorted(unknown_keys)}")
  known = fields | set(SPECIAL_PLACEHOLDERS)
  for key in ("input", "target"):
    text = t[key]
    if not isinstance(text, str) or not text.strip():
      raise CatalogError(f"{where}: '{key}' must be non-empty text")
    try:
      names = placeholders(text)
    except CatalogError as e:
      raise CatalogError(f"{where}: {key}: {e}") from None
    for name in names:
      if name not in known:
        close = difflib.get_close_matches(name, sorted(known), n=1)
        hint = f" (did you mean '{{{close[0]}}}'?)" if close else ""
        raise CatalogError(f"{where}: {key} has unknown placeholder '{{{name}}}'{hint}; "
                           f"known: {sorted(known)}")
    glued = _GLUED.search(text.replace("{{", "").replace("}}", ""))
    if glued:
      raise CatalogError(f"{where}: {key} has a character glued to a placeholder near "
                         f"{text[max(0, glued.start() - 12):glued.end() + 12]!r}")
  if "options" in placeholders(t["target"]):
    raise CatalogError(f"{where}: '{{options}}' belongs in the input, not the target")
  inverted = bool(t.get("inverted", False))
  uses_options = "options" in placeholders(t["input"])
  if uses_options:
    if entry_type != "classification":
      raise CatalogError(f"{where}: uses '{{options}}' but the entry is {entry_type} (no options)")
    if not t["input"].rstrip().endswith("{options}"):
      raise CatalogError(f"{where}: the input must end with '{{options}}'")
  label = t.get("label")
  if label is not None:
    if not inverted:
      raise CatalogError(f"{where}: a 'label' filter is only for inverted templates")
    if options is not None and label not in options:
      raise CatalogError(f"{where}: label filter {label!r} is not one of the options {list(options)}")
  is_eval = bool(t.get("eval", not inverted))
  if inverted and is_eval:
    raise CatalogError(f"{where}: inverted templates are never eval-eligible")
  if is_eval and entry_type == "classification" and t["target"] != "{answer}":
    raise CatalogError(f"{where}: an eval-eligible classification template's target must be "
                       f"exactly '{{answer}}' (rank classification scores the options)")
  return Template(index=index, input=t["input"], target=t["target"], inverted=inverted,
                  label=None if label is None else str(label), eval=is_eval)


_SEGMENT_BREAK = re.compile(r"\n+|(?<=[.?!])\s+")
_PLACEHOLDER = re.compile(r"\{\w+\}")
_ANSWER_PAIR = re.compile(r"\b([A-Za-z']+(?: [A-Za-z']+)?) or ([A-Za-z']+(?: [A-Za-z']+)?)\s*[?.]$")


def _names_option(phrase: str, option: str) -> bool:
  """Whether a phrase of a question names an option: 'review positive' or 'positively here'
  names 'positive'; 'same meaning' names 'the same meaning'; 'thumbs down' names no 'negative'."""
  phrase, option = phrase.lower(), option.lower()
  if phrase.endswith(option) or option.endswith(phrase):
    return True
  label = option.split()[-1]
  return any(word.startswith(label) or label.startswith(word) for word in phrase.split())


def _check_answer_words(template: Template, options: tuple[str, ...] | None, where: str) -> None:
  """An `{options}` template whose instruction ends by naming two answers ('... favorable or
  unfavorable.', 'thumbs up or thumbs down?') must name the options, or forms of them.

  The instruction is the last sentence before the options block with words besides placeholders.
  """
  if not options or not template.uses_options:
    return
  text = template.input[:template.input.rindex("{options}")]
  segments = [_PLACEHOLDER.sub("#", seg).strip() for seg in _SEGMENT_BREAK.split(text)]
  segments = [seg for seg in segments if re.search(r"[A-Za-z]{2}", seg)]
  match = _ANSWER_PAIR.search(segments[-1]) if segments else None
  if match and not all(any(_names_option(w, o) for o in options) for w in match.groups()):
    raise CatalogError(f"{where}: template {template.index}: the input asks "
                       f"'{match.group(1)} or {match.group(2)}' but the options are "
                       f"{list(options)}; ask in the options' words")


_REQUIRED = ("name", "cluster", "type", "metric", "tfds", "splits", "adapter", "templates")
_KNOWN_KEYS = set(_REQUIRED) | {"paper_dataset", "collection", "eval_only", "notes", "fewshot",
                                 "carve", "groups"}
_TFDS_SPLIT = re.compile(r"^([A-Za-z0-9_]+)")


def _parse_carve(value: Any, splits: dict, where: str) -> Carve | None:
  """The optional `carve` mapping: {by: raw feature path, percent: 1..50}, for an entry whose
  train and validation read the same TFDS split."""
  if value is None:
    return None
  if not isinstance(value, dict) or set(value) != {"by", "percent"}:
    unknown = sorted(set(value) - {"by", "percent"}) if isinstance(value, dict) else []
    close = difflib.get_close_matches(unknown[0], ["by", "percent"], n=1) if unknown else []
    hint = f" ({unknown[0]!r}: did you mean {close[0]!r}?)" if close else ""
    raise CatalogError(f"{where}: 'carve' must be a mapping with keys 'by' (a raw TFDS feature) "
                       f"and 'percent' (of inputs held out for validation){hint}")
  by, percent = value["by"], value["percent"]
  if not isinstance(by, str) or not by.strip():
    raise CatalogError(f"{where}: carve: 'by' must name a raw TFDS feature, got {by!r}")
  if not isinstance(percent, int) or isinstance(percent, bool) or not 1 <= percent <= 50:
    raise CatalogError(f"{where}: carve: 'percent' must be an integer from 1 to 50, got {percent!r}")
  sources = {k: _TFDS_SPLIT.match(splits.get(k, "")) for k in ("train", "validation")}
  if not all(sources.values()) or sources["train"].group(1) != sources["validation"].group(1):
    raise CatalogError(f"{where}: carve needs 'train' and 'validation' read from the same TFDS "
                       f"split, got {splits.get('train')!r} and {splits.get('validation')!r}")
  return Carve(by=by, percent=percent)


def _parse_groups(value: Any, fields: set[str], entry_type: str, where: str) -> str | None:
  """The optional `groups`: SAME_INPUT (generation rows that repeat an input, one per reference)
  or a record field whose rows are scored together (classification: MultiRC's question_id)."""
  if value is None:
    return None
  if entry_type == "generation" and value != SAME_INPUT:
    raise CatalogError(f"{where}: 'groups' of a generation entry must be {SAME_INPUT!r}, "
                       f"got {value!r}")
  if entry_type == "classification" and value not in fields:
    raise CatalogError(f"{where}: 'groups' must name one of the adapter's fields "
                       f"{sorted(fields)}, got {value!r}")
  return str(value)


def _parse_fewshot(value: Any, where: str) -> FewshotFormat:
  """The optional `fewshot` mapping: non-empty strings for the keys of `FewshotFormat`."""
  if value is None:
    return FewshotFormat()
  known = [f.name for f in dataclasses.fields(FewshotFormat)]
  if not isinstance(value, dict):
    raise CatalogError(f"{where}: 'fewshot' must be a mapping with keys among {known}")
  unknown = sorted(set(value) - set(known))
  if unknown:
    close = difflib.get_close_matches(unknown[0], known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise CatalogError(f"{where}: fewshot: unknown keys {unknown}{hint}; known: {known}")
  for key, text in value.items():
    if not isinstance(text, str) or not text:
      raise CatalogError(f"{where}: fewshot: {key!r} must be a non-empty string, got {text!r}")
  return FewshotFormat(**value)


def parse_entry(data: Any, where: str) -> DatasetSpec:
  """Validates one parsed YAML document and returns its `DatasetSpec`."""
  if not isinstance(data, dict):
    raise CatalogError(f"{where}: expected a mapping at the top level")
  missing = [k for k in _REQUIRED if k not in data]
  if missing:
    raise CatalogError(f"{where}: missing keys {missing}")
  unknown = set(data) - _KNOWN_KEYS
  if unknown:
    raise CatalogError(f"{where}: unknown keys {sorted(unknown)}")
  if data["type"] not in TYPES:
    raise CatalogError(f"{where}: type must be one of {TYPES}, got {data['type']!r}")
  if data["metric"] not in METRICS:
    raise CatalogError(f"{where}: metric must be one of {METRICS}, got {data['metric']!r}")
  tfds_cfg = data["tfds"]
  if not isinstance(tfds_cfg, dict) or "name" not in tfds_cfg or "version" not in tfds_cfg:
    raise CatalogError(f"{where}: 'tfds' needs 'name' and 'version'")
  splits = data["splits"]
  eval_only = bool(data.get("eval_only", False))
  needed = "test" if eval_only else "train"
  if not isinstance(splits, dict) or needed not in splits:
    raise CatalogError(f"{where}: 'splits' must map at least {needed!r} to a TFDS split")
  unknown_splits = set(splits) - {"train", "validation", "test"}
  if unknown_splits:
    raise CatalogError(f"{where}: unknown split names {sorted(unknown_splits)}; use train, "
                       f"validation, test")
  adapter = data["adapter"]
  if not isinstance(adapter, dict) or "fields" not in adapter:
    raise CatalogError(f"{where}: 'adapter' needs 'fields'")
  fields_cfg = adapter["fields"]
  fields = set(fields_cfg.keys() if isinstance(fields_cfg, dict) else fields_cfg)
  clash = fields & set(SPECIAL_PLACEHOLDERS)
  if clash:
    raise CatalogError(f"{where}: adapter fields {sorted(clash)} clash with reserved names")
  options = tuple(adapter["options"]) if adapter.get("options") else None
  if data["type"] == "classification" and "function" not in adapter and options is None:
    raise CatalogError(f"{where}: a declarative classification adapter needs 'options'")
  raw_templates = data["templates"]
  if not isinstance(raw_templates, list) or len(raw_templates) != NUM_TEMPLATES:
    n = len(raw_templates) if isinstance(raw_templates, list) else 0
    raise CatalogError(f"{where}: needs exactly {NUM_TEMPLATES} templates, found {n}")
  templates = tuple(_check_template(t, i, fields, data["type"], options, where)
                    for i, t in enumerate(raw_templates))
  for t in templates:
    _check_answer_words(t, options, where)
  seen = {}
  for t in templates:
    key = (t.input, t.target)
    if key in seen:
      raise CatalogError(f"{where}: template {t.index} duplicates template {seen[key]}")
    seen[key] = t.index
  inverted = [t.inverted for t in templates]
  if sum(inverted) > MAX_INVERTED:
    raise CatalogError(f"{where}: at most {MAX_INVERTED} inverted templates, found {sum(inverted)}")
  if inverted != sorted(inverted):
    raise CatalogError(f"{where}: inverted templates must come last")
  if not any(t.eval for t in templates):
    raise CatalogError(f"{where}: no eval-eligible template")
  return DatasetSpec(
      name=str(data["name"]), paper_dataset=str(data.get("paper_dataset", data["name"])),
      cluster=str(data["cluster"]), collection=str(data.get("collection", "flan")),
      type=data["type"], metric=str(data["metric"]), tfds_name=str(tfds_cfg["name"]),
      tfds_version=str(tfds_cfg["version"]), splits={str(k): str(v) for k, v in splits.items()},
      adapter=dict(adapter), templates=templates, path=where,
      manual_download=bool(tfds_cfg.get("manual", False)), eval_only=eval_only,
      fewshot=_parse_fewshot(data.get("fewshot"), where),
      carve=_parse_carve(data.get("carve"), splits, where),
      groups=_parse_groups(data.get("groups"), fields, data["type"], where))


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: ~9x faster


def load_entry(path: str | os.PathLike) -> DatasetSpec:
  """Loads and validates one `templates/<entry>.yaml` file."""
  path = pathlib.Path(path)
  try:
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
  except yaml.YAMLError as e:
    raise CatalogError(f"{path}: not valid YAML: {e}") from None
  spec = parse_entry(data, str(path))
  if spec.name != path.stem:
    raise CatalogError(f"{path}: entry name {spec.name!r} must match the file name {path.stem!r}")
  return spec


def templates_dir() -> pathlib.Path:
  """Where the catalog lives; `FLAN_TEMPLATES_DIR` overrides the packaged folder."""
  return pathlib.Path(os.environ.get("FLAN_TEMPLATES_DIR", TEMPLATES_DIR))


@dataclasses.dataclass(frozen=True)
class BrokenEntry:
  """A templates/*.yaml file that does not load: its error, and the collection and cluster it
  declares where its YAML still reads (None where not)."""
  name: str
  error: CatalogError
  collection: str | None
  cluster: str | None

  def may_belong(self, collection: str | None, cluster: str | None) -> bool:
    return ((collection is None or self.collection in (None, collection))
            and (cluster is None or self.cluster in (None, cluster)))


def _broken(path: pathlib.Path, error: CatalogError) -> BrokenEntry:
  try:
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
  except (OSError, yaml.YAMLError):
    data = None
  data = data if isinstance(data, dict) else {}
  cluster = data.get("cluster")
  return BrokenEntry(path.stem, error, str(data.get("collection", "flan")) if data else None,
                     None if cluster is None else str(cluster))


@functools.lru_cache(maxsize=None)
def _load_catalog(directory: str) -> tuple[dict[str, DatasetSpec], dict[str, BrokenEntry]]:
  """(the entries that load, the files that do not): one broken file fails only the commands
  that read it."""
  entries, broken = {}, {}
  for path in sorted(pathlib.Path(directory).glob("*.yaml")):
    try:
      spec = load_entry(path)
    except CatalogError as e:
      broken[path.stem] = _broken(path, e)
      continue
    entries[spec.name] = spec
  return entries, broken


def catalog() -> dict[str, DatasetSpec]:
  """Every entry of the catalog that loads, by name (loaded once); see `broken_entries`."""
  return _load_catalog(str(templates_dir()))[0]


def broken_entries(collection: str | None = None,
                   cluster: str | None = None) -> list[BrokenEntry]:
  """The catalog files that do not load (and may belong to `collection` / `cluster`)."""
  return [b for b in _load_catalog(str(templates_dir()))[1].values()
          if b.may_belong(collection, cluster)]


def require_valid(collection: str | None = None, cluster: str | None = None) -> None:
  """Raises the first broken entry's `CatalogError` (of `collection` / `cluster`, if given)."""
  broken = broken_entries(collection, cluster)
  if broken:
    raise broken[0].error


def get(name: str) -> DatasetSpec:
  """The entry called `name`, or an `UnknownEntryError` that suggests close names (or the
  `CatalogError` of its file, when that file does not load)."""
  entries, broken = _load_catalog(str(templates_dir()))
  if name in broken:
    raise broken[name].error
  if name not in entries:
    close = difflib.get_close_matches(name, entries.keys(), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else "; `flan data list` shows them all"
    raise UnknownEntryError(f"unknown catalog entry {name!r}{hint}")
  return entries[name]


def entries(collection: str | None = None, cluster: str | None = None,
            strict: bool = True) -> list[DatasetSpec]:
  """Catalog entries, optionally only one collection and/or cluster, sorted by name.

  `strict`: a broken file that may belong to the selection raises its `CatalogError` (a mixture
  must not silently lose a dataset); otherwise broken files are left out.
  """
  if strict:
    require_valid(collection, cluster)
  return [s for s in catalog().values()
          if (collection is None or s.collection == collection)
          and (cluster is None or s.cluster == cluster)]
