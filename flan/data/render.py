"""Rendering: canonical record + template -> (inputs, targets) text.

    >>> record = {"premise": "A cat sat.", "hypothesis": "An animal sat.",
    ...           "options": ["yes", "no"], "answer": "yes", "answers": ["yes"]}
    >>> t = Template(0, "{premise}\\nDoes it follow that {hypothesis}?\\n{options}", "{answer}")
    >>> render(t, record)
    Example(inputs='A cat sat.\\nDoes it follow that An animal sat.?\\nOPTIONS:\\n- yes\\n- no',
            targets='yes', options=('yes', 'no'), ...)

The options block has three styles (`render(t, record, options=STYLE)`):

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
import hashlib
import json
import random
import string

from flan.data.catalog import Template

OPTIONS_HEADER = "OPTIONS:"
OPTIONS_BULLET = "- "
OPTIONS_STYLES = ("flan", "none", "random")
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


def record_key(record: dict) -> str:
  """A stable digest of a record's content: the per-example part of every seed."""
  text = json.dumps(record, sort_keys=True, ensure_ascii=False, default=str)
  return hashlib.sha256(text.encode()).hexdigest()[:16]


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


def accepts(template: Template, record: dict) -> bool:
  """Whether a template applies to a record (label-conditioned inversions see only their label)."""
  return template.label is None or record.get("answer") == template.label


def render(template: Template, record: dict, options: str | OptionsFormat = "flan",
           seed: int = 0) -> Example:
  """Fills the template's placeholders from the record, with the options block in `options`
  (a style of OPTIONS_STYLES, or a format already chosen); `seed` only matters for 'random'."""
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
