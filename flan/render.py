"""Rendering: canonical record + template -> (inputs, targets) text.

    >>> record = {"premise": "A cat sat.", "hypothesis": "An animal sat.",
    ...           "options": ["yes", "no"], "answer": "yes", "answers": ["yes"]}
    >>> t = Template(0, "{premise}\\nDoes it follow that {hypothesis}?\\n{options}", "{answer}")
    >>> render(t, record)
    Example(inputs='A cat sat.\\nDoes it follow that An animal sat.?\\nOPTIONS:\\n- yes\\n- no',
            targets='yes', options=('yes', 'no'), ...)
"""

from __future__ import annotations

import dataclasses

from flan.catalog import Template

OPTIONS_HEADER = "OPTIONS:"
OPTIONS_BULLET = "- "


def options_block(options: list[str] | tuple[str, ...]) -> str:
  """The FLAN 2021 options block: 'OPTIONS:\\n- yes\\n- no'."""
  return "\n".join([OPTIONS_HEADER] + [OPTIONS_BULLET + o for o in options])


@dataclasses.dataclass(frozen=True)
class Example:
  """One rendered example: the text pair a model sees plus what evaluation needs."""
  inputs: str
  targets: str
  options: tuple[str, ...] = ()
  answers: tuple[str, ...] = ()
  template: int = 0
  inverted: bool = False


def accepts(template: Template, record: dict) -> bool:
  """Whether a template applies to a record (label-conditioned inversions see only their label)."""
  return template.label is None or record.get("answer") == template.label


def render(template: Template, record: dict) -> Example:
  """Fills the template's placeholders from the record."""
  options = tuple(record.get("options") or ())
  values = {k: v for k, v in record.items() if isinstance(v, str)}
  values["options"] = options_block(options)
  inputs = template.input.format(**values)
  targets = template.target.format(**values)
  answers = (targets,) if template.inverted else tuple(record.get("answers") or (targets,))
  return Example(inputs=inputs, targets=targets, options=options if not template.inverted else (),
                 answers=answers, template=template.index, inverted=template.inverted)
