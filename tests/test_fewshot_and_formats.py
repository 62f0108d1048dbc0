"""The rendering path: few-shot (exact text, budget pruning, exemplar choice), the options
formats, the text formats and the round-robin template choice."""

import dataclasses
import re

import pytest
import yaml

from flan.data import catalog, fewshot, render
from flan.data.catalog import FewshotFormat, Template
from flan.data.fewshot import FewshotError, choose_exemplars
from flan.data.render import OptionsFormat, Style

CLAIM = Template(0, "Is this true? {premise}\n\n{options}", "{answer}")
ODD = Template(0, "Is {n} odd?", "{answer}")


def claim(premise, answer):
  return {"premise": premise, "options": ["no", "yes"], "answer": answer, "answers": [answer]}


def number(n):
  answer = "yes" if n % 2 else "no"
  return {"n": str(n), "answer": answer, "answers": [answer]}


POOL = [claim("Fire is cold.", "no"), claim("Ice is cold.", "yes"), claim("Snow is hot.", "no"),
        claim("Sun is hot.", "yes")]
QUERY = claim("Rain is wet.", "yes")


def words(text):
  return text.split()


def render_fewshot(template, record, pool, shots, *, fewshot=FewshotFormat(), options="flan",
                   seed=0, budget=fewshot.TOKEN_BUDGET, tokenize=None):
  """`render.render_example` in the instructions format, for an entry with layout `fewshot`."""
  spec = dataclasses.replace(catalog.get("rte"), fewshot=fewshot)
  style = Style(options=options, shots=shots, seed=seed, budget=budget)
  return render.render_example(spec, template, record, style, pool, tokenize)


# --- few-shot ---------------------------------------------------------------------------------

def test_two_shots_exact_text():
  example = render_fewshot(CLAIM, QUERY, POOL, 2, tokenize=words)
  assert example.inputs == (
      "Is this true? Ice is cold.\n\nOPTIONS:\n- no\n- yes\n\nyes\n\n\n"
      "Is this true? Fire is cold.\n\nOPTIONS:\n- no\n- yes\n\nno\n\n\n"
      "Is this true? Rain is wet.\n\nOPTIONS:\n- no\n- yes")
  assert (example.targets, example.options, example.answers) == ("yes", ("no", "yes"), ("yes",))
  assert example.shots == 2 and example.template == 0


def test_two_shots_with_an_entry_format_and_letter_markers():
  fmt = FewshotFormat(targets_prefix="\nAnswer: ", example_separator="\n\n")
  example = render_fewshot(CLAIM, QUERY, POOL, 2, fewshot=fmt, tokenize=words,
                           options=OptionsFormat("random", "Choose one:", "A)"))
  assert example.inputs == (
      "Is this true? Ice is cold.\n\nChoose one:\nA) no\nB) yes\nAnswer: B\n\n"
      "Is this true? Fire is cold.\n\nChoose one:\nA) no\nB) yes\nAnswer: A\n\n"
      "Is this true? Rain is wet.\n\nChoose one:\nA) no\nB) yes\nAnswer:")
  assert (example.targets, example.options, example.answers) == ("B", ("A", "B"), ("B",))


def test_generation_two_shots():
  example = render_fewshot(ODD, number(5), [number(3), number(4)], 2, tokenize=words)
  assert example.inputs == "Is 3 odd?\n\nyes\n\n\nIs 4 odd?\n\nno\n\n\nIs 5 odd?"
  assert example.options_format == render.NO_OPTIONS


@pytest.mark.parametrize("options", ["flan", "none", "random"])
@pytest.mark.parametrize("template", [CLAIM, ODD])
def test_zero_shots_is_the_zero_shot_render(template, options):
  for record in [QUERY, *POOL] if template is CLAIM else [number(n) for n in range(5)]:
    assert render_fewshot(template, record, POOL, 0, options=options) == \
        render.render(template, record, options)


def test_budget_prunes_exemplars_from_the_end():
  pool = [number(n) for n in range(1000, 1040)]
  query = number(7)
  order = choose_exemplars(ODD, query, pool, 16)
  full = [render.render(ODD, r) for r in order]
  assert len(full) == 16
  query_words = len(words("Is 7 odd?"))
  for budget in range(query_words, 80):
    example = render_fewshot(ODD, query, pool, 16, budget=budget, tokenize=words)
    assert len(words(example.inputs)) <= budget
    assert example.inputs == fewshot.join("Is 7 odd?", full[:example.shots], FewshotFormat())
    if example.shots < 16:  # one more exemplar would not have fitted
      assert len(words(fewshot.join("Is 7 odd?", full[:example.shots + 1],
                                    FewshotFormat()))) > budget
  assert render_fewshot(ODD, query, pool, 16, budget=query_words, tokenize=words).shots == 0


def test_the_query_is_never_an_exemplar():
  pool = [number(n) for n in range(6)]
  query = pool[2]
  for seed in range(20):
    chosen = choose_exemplars(ODD, query, pool + [dict(query)], 16, seed=seed)
    assert len(chosen) == 5 and query not in chosen
  example = render_fewshot(ODD, query, pool, 16, budget=None)
  assert example.shots == 5 and example.inputs.count("Is 2 odd?") == 1


def test_at_most_sixteen_shots():
  pool = [number(n) for n in range(40)]
  assert render_fewshot(ODD, number(99), pool, 16, budget=None).shots == 16
  with pytest.raises(FewshotError, match="between 0 and 16"):
    render_fewshot(ODD, number(99), pool, 17)
  with pytest.raises(FewshotError):
    render_fewshot(ODD, number(99), pool, -1)


def test_exemplars_are_seeded_and_follow_label_filters():
  pool = [number(n) for n in range(40)]
  first = choose_exemplars(ODD, number(99), pool, 8, seed=1)
  assert first == choose_exemplars(ODD, number(99), pool, 8, seed=1)
  assert first != choose_exemplars(ODD, number(99), pool, 8, seed=2)
  assert first != choose_exemplars(ODD, number(97), pool, 8, seed=1)  # seeded per query too
  odd_only = Template(9, "Write an odd number.", "{n}", inverted=True, label="yes")
  chosen = choose_exemplars(odd_only, number(99), pool, 16)
  assert len(chosen) == 16 and all(r["answer"] == "yes" for r in chosen)


def test_the_budget_counts_tokens_of_the_given_tokenizer():
  from flan.data import vocab
  pool = [claim(f"Claim number {i} is about something long enough. " * 8, "no")
          for i in range(16)]
  encode = vocab.get_vocabulary().encode
  example = render_fewshot(CLAIM, QUERY, pool, 16, tokenize=encode)
  assert 0 < example.shots < 16
  assert len(encode(example.inputs)) <= fewshot.TOKEN_BUDGET
  with pytest.raises(ValueError, match="needs `tokenize`"):  # no silent default vocabulary
    render_fewshot(CLAIM, QUERY, pool, 16)
  assert render_fewshot(CLAIM, QUERY, pool, 0) == render.render(CLAIM, QUERY)  # none needed


# --- options formats --------------------------------------------------------------------------

def test_flan_format_is_the_default():
  example = render.render(CLAIM, QUERY)
  assert example.inputs == "Is this true? Rain is wet.\n\nOPTIONS:\n- no\n- yes"
  assert example.options_format == OptionsFormat("flan", "OPTIONS:", "-")
  assert render.render(CLAIM, QUERY, "flan") == example


def test_none_format_drops_the_block_and_trailing_whitespace():
  example = render.render(CLAIM, QUERY, "none")
  assert example.inputs == "Is this true? Rain is wet."
  assert (example.targets, example.options) == ("yes", ("no", "yes"))
  assert example.options_format.style == "none"


@pytest.mark.parametrize("marker, block, targets, options", [
    ("-", "- no\n- yes", "yes", ("no", "yes")),
    ("*", "* no\n* yes", "yes", ("no", "yes")),
    ("A)", "A) no\nB) yes", "B", ("A", "B")),
    ("1.", "1. no\n2. yes", "2", ("1", "2")),
])
def test_each_marker_exact_text_and_targets(marker, block, targets, options):
  fmt = OptionsFormat("random", "Possible answers:", marker)
  example = render.render(CLAIM, QUERY, fmt)
  assert example.inputs == f"Is this true? Rain is wet.\n\nPossible answers:\n{block}"
  assert (example.targets, example.options, example.answers) == (targets, options, (targets,))
  assert example.options_format == fmt


def test_random_format_is_seeded_per_example():
  records = [claim(f"Claim {i}.", "yes") for i in range(60)]
  formats = [render.render(CLAIM, r, "random").options_format for r in records]
  assert formats == [render.render(CLAIM, r, "random", seed=0).options_format for r in records]
  assert formats != [render.render(CLAIM, r, "random", seed=1).options_format for r in records]
  assert {f.header for f in formats} == set(render.RANDOM_HEADERS)
  assert {f.marker for f in formats} == set(render.RANDOM_MARKERS)
  assert all(f.style == "random" for f in formats)


def test_formats_leave_templates_without_options_alone():
  inverted = Template(9, "Write a true claim.", "{premise}", inverted=True, label="yes", eval=False)
  example = render.render(inverted, QUERY, OptionsFormat("random", "Options:", "A)"))
  assert (example.inputs, example.targets, example.options) == \
      ("Write a true claim.", "Rain is wet.", ())
  assert example.options_format == render.NO_OPTIONS


def test_letters_go_past_z():
  fmt = OptionsFormat("random", "Options:", "A)")
  assert [fmt.label(i) for i in (0, 25, 26, 27, 52)] == ["A", "Z", "AA", "AB", "BA"]


# --- text formats and the template of each example ---------------------------------------------

RTE_RECORD = {"premise": "A cat sat.", "hypothesis": "An animal sat.", "options": ["yes", "no"],
              "answer": "yes", "answers": ["yes"]}


def test_text_formats_exact():
  spec = catalog.get("rte")
  template = spec.templates[3]  # "Here is a claim: {hypothesis} ... context: {premise}"

  def text(format, **style):
    example = render.render_example(spec, template, RTE_RECORD, Style(format=format, **style))
    return example.inputs, example.targets

  inputs, targets = text("instructions")
  assert "claim" in inputs and targets == "yes"
  assert (inputs, targets) == (render.render(template, RTE_RECORD).inputs, "yes")
  # The adapter's field order, whatever the template's.
  assert text("noinstruction") == ("A cat sat.\nAn animal sat.", "yes")
  assert text("dataset_name") == ("[NLI: RTE] A cat sat.\nAn animal sat.", "yes")
  # No options block outside the instructions format, so never an option letter as the target.
  letters = OptionsFormat("random", "Choose one:", "A)")
  assert text("noinstruction", options=letters) == ("A cat sat.\nAn animal sat.", "yes")
  example = render.render_example(spec, template, RTE_RECORD, Style(format="dataset_name"))
  assert example.options_format == render.NO_OPTIONS and example.options == ("yes", "no")


def test_fewshot_exemplars_share_the_query_format():
  spec = catalog.get("rte")
  pool = [dict(RTE_RECORD, premise="Dogs bark.", hypothesis="Dogs are loud.", answer="no",
               answers=["no"])]
  example = render.render_example(spec, spec.templates[3], RTE_RECORD,
                                  Style(format="noinstruction", shots=1, budget=None), pool)
  assert example.inputs == "Dogs bark.\nDogs are loud.\n\nno\n\n\nA cat sat.\nAn animal sat."
  assert (example.targets, example.shots) == ("yes", 1)


def test_style_is_checked_when_made():
  with pytest.raises(ValueError, match="format must be one of"):
    Style(format="plain")
  with pytest.raises(ValueError, match="options style must be one of"):
    Style(options="fancy")
  with pytest.raises(FewshotError, match="between 0 and 16"):
    Style(shots=17)


def test_pick_template_round_robin():
  true_or_false = Template(1, "True or false: {premise}\n{options}", "{answer}")
  yes_only = Template(2, "Write a true claim.", "{premise}", inverted=True, label="yes")
  templates = [CLAIM, true_or_false, yes_only]
  no = claim("Fire is cold.", "no")
  assert [render.pick_template(templates, QUERY, i).index for i in range(4)] == [0, 1, 2, 0]
  # A label filter that rejects passes the example on to the next template ...
  assert [render.pick_template(templates, no, i).index for i in range(4)] == [0, 1, 0, 0]
  # ... unless strict (the vocabulary corpus's rule): then the example is skipped.
  assert [getattr(render.pick_template(templates, no, i, strict=True), "index", None)
          for i in range(4)] == [0, 1, None, 0]
  assert render.pick_template([yes_only], no, 0) is None


# --- the `fewshot` key of a catalog entry ------------------------------------------------------

def rte_data():
  return yaml.safe_load((catalog.TEMPLATES_DIR / "rte.yaml").read_text())


def test_fewshot_key_defaults_and_parses():
  assert catalog.parse_entry(rte_data(), "rte.yaml").fewshot == FewshotFormat("\n\n", "\n\n\n")
  data = rte_data()
  data["fewshot"] = {"targets_prefix": "\nAnswer: "}
  assert catalog.parse_entry(data, "rte.yaml").fewshot == FewshotFormat("\nAnswer: ", "\n\n\n")


@pytest.mark.parametrize("value, message", [
    ({"target_prefix": " "},
     "fewshot: unknown keys ['target_prefix'] (did you mean 'targets_prefix'?)"),
    ({"example_separator": ""}, "'example_separator' must be a non-empty string"),
    ({"targets_prefix": 3}, "'targets_prefix' must be a non-empty string"),
    ("\n\n", "'fewshot' must be a mapping"),
])
def test_fewshot_key_is_validated(value, message):
  data = rte_data()
  data["fewshot"] = value
  with pytest.raises(catalog.CatalogError, match=re.escape(message)):
    catalog.parse_entry(data, "rte.yaml")
