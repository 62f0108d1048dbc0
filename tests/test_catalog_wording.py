"""An `{options}` template must not ask for answers in words other than its options: a question
that names two answers ("thumbs up or thumbs down?") names the options (or forms of them)."""

import pytest
import yaml

from flan.data import catalog


def _entry(name: str, index: int, question: str):
  data = yaml.safe_load(open(catalog.TEMPLATES_DIR / f"{name}.yaml"))
  field = "{sentence}" if name in ("sst2", "cola") else "{text}"
  data["templates"][index]["input"] = f"{field}\n\n{question}\n\n{{options}}"
  return catalog.parse_entry(data, f"{name}.yaml")


@pytest.mark.parametrize("name,question", [
    ("imdb", "Decide whether the review is favorable or unfavorable."),
    ("imdb", "thumbs up or thumbs down?"),
    ("sst2", "good vibe or bad vibe?"),
    ("yelp_polarity", "good experience or bad one?"),
    ("imdb", "Is it positive or neutral?"),          # one of the two is no option
])
def test_a_question_naming_other_answers_is_caught(name, question):
  with pytest.raises(catalog.CatalogError, match=r"template 1: the input asks .* or .* but "
                                                 r"the options are \['negative', 'positive'\]"):
    _entry(name, 1, question)


@pytest.mark.parametrize("name,question", [
    ("imdb", "Is this review positive or negative?"),
    ("sst2", "Does the critic feel positively or negatively?"),   # forms of the options
    ("cola", "Is it acceptable or unacceptable?"),
    ("imdb", "Which is it: a film or a series? Answer with its sentiment."),  # not the last
])
def test_questions_in_the_options_words_pass(name, question):
  assert _entry(name, 1, question).templates[1].input.endswith("{options}")


def test_the_catalog_passes_and_the_audited_templates_ask_in_their_options_words():
  entries = catalog.catalog()    # loads and validates every entry
  audited = {"imdb": (6, 7), "sst2": (5,), "yelp_polarity": (7,), "wic": (3, 6),
             "cola": (1, 3, 6)}
  for name, indices in audited.items():
    spec = entries[name]
    for i in indices:
      words = [o.split()[-1] for o in spec.options]
      text = spec.templates[i].input.lower()
      assert all(w in text for w in words), (name, i, spec.templates[i].input)
