"""Rendering: the one path from a canonical record to the (inputs, targets) text a model sees.

Training (`tasks.render_dataset`), `flan data show`, `flan data export`, evaluation and the
vocabulary corpus all go through `render_example`; what they differ in is a `Style`:

    render_example(spec, template, record, Style(format="noinstruction", options="random",
                                                  shots=2, seed=0), pool=train_records,
                   tokenize=vocab.encode) -> Example

It composes four steps:

  1. `render(template, record, options)`: the template's placeholders filled from the record,
     with an options block (the instructions format, zero shots):

         >>> record = {"premise": "A cat sat.", "hypothesis": "An animal sat.",
         ...           "options": ["yes", "no"], "answer": "yes", "answers": ["yes"]}
         >>> t = Template(0, "{premise}\\nDoes it follow that {hypothesis}?\\n{options}",
         ...              "{answer}")
         >>> render(t, record)
         Example(inputs='A cat sat.\\nDoes it follow that An animal sat.?\\nOPTIONS:\\n- yes'
                        '\\n- no', targets='yes', options=('yes', 'no'), ...)

  2. the text format (FORMATS; the paper's Section 4.3 baselines):

         instructions    the template                  'Premise: A cat sat.\\nHypothesis: ...'
         noinstruction   the fields the input shows    'A cat sat.\\nAn animal sat.'
                         (adapter order, one per line)
         dataset_name    '[Cluster: Dataset] ' + those '[NLI: RTE] A cat sat.\\nAn animal sat.'

     the targets are the template's in every format; outside instructions no options block is
     shown (and the targets are never option letters);

  3. few-shot: `shots` exemplars from `pool` (fewshot.choose_exemplars), each written by steps 1-2
     with the query's template and options format, joined by the entry's `fewshot` layout and
     pruned from the end to `budget` tokens;

  4. which template a record gets (`pick_template`): round-robin from the example's index.

The options block has three styles (`Style(options=STYLE)`):

    flan     'OPTIONS:\\n- yes\\n- no'           the FLAN 2021 block (the default)
    none     ''                                 no block; the input's trailing whitespace is cut:
                                                'A cat sat.\\nDoes it follow that An animal sat.?'
    random   'Choose one:\\nA) yes\\nB) no'       header and markers drawn per example (seeded);
                                                letter or number markers make the target the
                                                marker ('A') and the options the markers ('A', 'B')

Every rendered `Example` records the options format its input shows (`options_format`).
"""

from __future__ import annotations

import dataclasses
import functools
import random
import string
from typing import Callable, Sequence

from flan.data import adapters, catalog, clusters, fewshot
from flan.data.adapters import record_key
from flan.data.catalog import Template

OPTIONS_HEADER = "OPTIONS:"
OPTIONS_BULLET = "- "
OPTIONS_STYLES = ("flan", "none", "random")
# How a task's text is written: the catalog's templates, or the paper's two instruction-free
# baselines (Section 4.3, "role of instructions").
FORMATS = ("instructions", "noinstruction", "dataset_name")
# What the random style draws from: a header, and a marker ('-' and '*' bullets; 'A)' letters and
# '1.' numbers enumerate, so the answer becomes the letter or number).
RANDOM_HEADERS = ("OPTIONS:", "Options:", "Choose one:", "Possible answers:", "Pick one:")
RANDOM_MARKERS = ("-", "*", "A)", "1.")


@dataclasses.dataclass(frozen=True)
class OptionsFormat:
  """How an options block is written: `style` (one of OPTIONS_STYLES), header and marker.

      >>> OptionsFormat("random", "Choose one:", "A)").block(["yes", "no"])
      'Choose one:\\nA) yes\\nB) no'
      >>> OptionsFormat("random", "Choose one:", "A)").label(1)
      'B'
  """
  style: str = "flan"
  header: str = OPTIONS_HEADER
  marker: str = "-"

  @property
  def enumerated(self) -> bool:
    """Letter or number markers: the options are named by their labels."""
    return self.marker in ("A)", "1.")

  def label(self, index: int) -> str | None:
    """'B' or '2' for the option at `index` of an enumerated format, else None."""
    if self.marker == "A)":  # A..Z, then AA, AB, ...
      letters = ""
      index += 1
      while index:
        index, rest = divmod(index - 1, 26)
        letters = string.ascii_uppercase[rest] + letters
      return letters
    if self.marker == "1.":
      return str(index + 1)
    return None

  def line(self, index: int, option: str) -> str:
    if self.marker == "A)":
      return f"{self.label(index)}) {option}"
    if self.marker == "1.":
      return f"{self.label(index)}. {option}"
    return f"{self.marker} {option}"

  def block(self, options) -> str:
    if self.style == "none":
      return ""
    return "\n".join([self.header] + [self.line(i, o) for i, o in enumerate(options)])

  def as_dict(self) -> dict:
    return dataclasses.asdict(self)


FLAN_OPTIONS = OptionsFormat()
NO_OPTIONS = OptionsFormat("none", "", "")


def options_block(options: list[str] | tuple[str, ...]) -> str:
  """The FLAN 2021 options block: 'OPTIONS:\\n- yes\\n- no'."""
  return FLAN_OPTIONS.block(options)


def options_format(style: str | OptionsFormat, record: dict, seed: int = 0) -> OptionsFormat:
  """The format of one example: 'flan' and 'none' are fixed; 'random' draws a header and a
  marker from `random.Random` seeded with `seed` and the record's content."""
  if isinstance(style, OptionsFormat):
    return style
  if style == "flan":
    return FLAN_OPTIONS
  if style == "none":
    return NO_OPTIONS
  if style != "random":
    raise ValueError(f"options style must be one of {OPTIONS_STYLES}, got {style!r}")
  rng = random.Random(f"options:{seed}:{record_key(record)}")
  header = rng.choice(RANDOM_HEADERS)
  return OptionsFormat("random", header, rng.choice(RANDOM_MARKERS))


@dataclasses.dataclass(frozen=True)
class Example:
  """One rendered example: the text pair a model sees plus what evaluation needs.

  `shots` is the number of few-shot exemplars in `inputs`; `options_format` is the options block
  the input shows (`NO_OPTIONS` when it shows none).
  """
  inputs: str
  targets: str
  options: tuple[str, ...] = ()
  answers: tuple[str, ...] = ()
  template: int = 0
  inverted: bool = False
  shots: int = 0
  options_format: OptionsFormat = FLAN_OPTIONS


def render(template: Template, record: dict, options: str | OptionsFormat = "flan",
           seed: int = 0) -> Example:
  """Step 1: fills the template's placeholders from the record, with the options block in
  `options` (a style of OPTIONS_STYLES, or a format already chosen); `seed` only matters for
  'random'. This is `render_example` in the instructions format with zero shots."""
  choices = tuple(record.get("options") or ())
  fmt = options_format(options, record, seed)
  shows_block = template.uses_options and bool(choices)
  if not shows_block:
    fmt = NO_OPTIONS
  values = {k: v for k, v in record.items() if isinstance(v, str)}
  values["options"] = fmt.block(choices)
  inputs = template.input.format(**values)
  if fmt.style == "none" and template.uses_options:
    inputs = inputs.rstrip()
  # The reference answers are the record's when the template asks for the answer; otherwise
  # (inverted templates, translation in either direction) the rendered target is the reference.
  answers = tuple(record.get("answers") or ())
  if fmt.enumerated and not template.inverted:
    labels = tuple(fmt.label(i) for i in range(len(choices)))
    to_label = {o: labels[i] for i, o in reversed(list(enumerate(choices)))}  # first one wins
    if "answer" in values:
      values["answer"] = to_label.get(values["answer"], values["answer"])
    answers = tuple(to_label.get(a, a) for a in answers)
    choices = labels
  targets = template.target.format(**values)
  if template.target != "{answer}" or not answers:
    answers = (targets,)
  return Example(inputs=inputs, targets=targets, options=choices if not template.inverted else (),
                 answers=answers, template=template.index, inverted=template.inverted,
                 options_format=fmt)


# --- the one path ----------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Style:
  """How examples are written, apart from their record and template.

  `format` is one of FORMATS; `options` a style of OPTIONS_STYLES (or one OptionsFormat for
  every example); `shots` the few-shot exemplars (0..fewshot.MAX_SHOTS); `seed` seeds the random
  options formats and the exemplar order; `budget` caps the few-shot input in tokens (None: no
  cap). Training uses `Style(format=<the task's format>)`. A bad value fails here, before any
  data is read.
  """
  format: str = "instructions"
  options: str | OptionsFormat = "flan"
  shots: int = 0
  seed: int = 0
  budget: int | None = fewshot.TOKEN_BUDGET

  def __post_init__(self):
    if self.format not in FORMATS:
      raise ValueError(f"format must be one of {FORMATS}, got {self.format!r}")
    if not isinstance(self.options, OptionsFormat) and self.options not in OPTIONS_STYLES:
      raise ValueError(f"options style must be one of {OPTIONS_STYLES}, got {self.options!r}")
    fewshot.check_shots(self.shots)


@functools.lru_cache(maxsize=4096)
def _input_fields(spec_fields: tuple[str, ...], template_input: str) -> tuple[str, ...]:
  """The entry's fields that a template's input shows, in the adapter's order."""
  used = set(catalog.placeholders(template_input))
  return tuple(f for f in spec_fields if f in used)


def _zero_shot(spec, template: Template, record: dict, format: str,
               options: OptionsFormat) -> Example:
  """Steps 1 and 2: one record under one template in one format, no exemplars."""
  if format == "instructions":
    return render(template, record, options)
  example = render(template, record, NO_OPTIONS)  # the targets, never as option letters
  fields = "\n".join(record[f] for f in _input_fields(spec.fields, template.input)
                     if isinstance(record.get(f), str))
  if format == "dataset_name":
    fields = f"[{clusters.display_name(spec.cluster)}: {spec.paper_dataset}] {fields}"
  return dataclasses.replace(example, inputs=fields)


def render_example(spec, template: Template, record: dict, style: Style = Style(),
                   pool: Sequence[dict] = (),
                   tokenize: Callable[[str], Sequence] | None = None) -> Example:
  """`record` of catalog entry `spec` under `template`, written in `style` (module docstring).

  `pool` holds the records few-shot exemplars are drawn from; `tokenize` counts tokens for
  `style.budget` (it is needed only when exemplars are used and a budget is set). The result's
  `shots` is the number of exemplars actually used.
  """
  options = options_format(style.options, record, style.seed)
  query = _zero_shot(spec, template, record, style.format, options)
  chosen = fewshot.choose_exemplars(template, record, pool, style.shots, style.seed)
  if not chosen:
    return query
  exemplars = [_zero_shot(spec, template, r, style.format, query.options_format)
               for r in chosen]
  if style.budget is not None:
    if tokenize is None:
      raise ValueError("few-shot rendering with a token budget needs `tokenize`")
    while exemplars and len(tokenize(fewshot.join(query.inputs, exemplars,
                                                  spec.fewshot))) > style.budget:
      exemplars.pop()
  return dataclasses.replace(query, inputs=fewshot.join(query.inputs, exemplars, spec.fewshot),
                             shots=len(exemplars))


def pick_template(templates: Sequence[Template], record: dict, index: int,
                  strict: bool = False) -> Template | None:
  """Step 4: the template of the example at `index` of a stream: templates[index % n], or (not
  `strict`) the next one round-robin that accepts the record when its label filter rejects it.
  None when none accepts (`strict`: when templates[index % n] rejects it)."""
  if not templates:
    return None
  steps = 1 if strict else len(templates)
  for step in range(steps):
    template = templates[(index + step) % len(templates)]
    if template.accepts(record):
      return template
  return None


def render_record(spec, templates: Sequence[Template], record: dict, index: int,
                  style: Style = Style(), pool: Sequence[dict] = (), tokenize=None,
                  strict: bool = False) -> Example | None:
  """The example at `index` of a stream of records: its template by `pick_template`, written by
  `render_example`; None when no template accepts the record."""
  template = pick_template(templates, record, index, strict)
  if template is None:
    return None
  return render_example(spec, template, record, style, pool, tokenize)


def render_raw(spec, templates: Sequence[Template], raw: dict, index: int,
               style: Style = Style()) -> tuple[bytes, bytes, int]:
  """One raw TFDS example (numpy values) at `index` of its split -> (inputs, targets, template
  index) as training stores them; (b'', b'', -1) when the adapter drops the example or no
  template accepts it."""
  record = adapters.adapt(spec, raw)
  example = None if record is None else render_record(spec, templates, record, index, style)
  if example is None:
    return b"", b"", -1
  return example.inputs.encode(), example.targets.encode(), example.template
