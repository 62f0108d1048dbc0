"""The summarization catalog entries, offline.

Raw examples come from `tfds.testing.mock_data` (random values shaped by each builder's features,
no download; this works for the manual-download builders newsroom, samsum and xsum too), go
through the entry's adapter and every template. Hand-made raw examples pin the function adapters
of flan/data/adapters/summarization.py (including the examples they drop) and one exact rendering of
template 0 per entry.
"""

import catalog_checks
import numpy as np
import pytest

from flan.data import adapters, catalog, render

ENTRIES = ("aeslc", "ag_news", "cnn_dailymail", "gigaword", "multi_news", "newsroom",
           "opinion_abstracts_idebate", "opinion_abstracts_rotten_tomatoes", "samsum",
           "wiki_lingua_en", "xsum")

# entry -> (TFDS builder, version, manual download)
BUILDERS = {
    "aeslc": ("aeslc", "1.0.0", False),
    "ag_news": ("ag_news_subset", "1.0.0", False),
    "cnn_dailymail": ("cnn_dailymail", "3.4.0", False),
    "gigaword": ("gigaword", "1.2.0", False),
    "multi_news": ("multi_news", "2.1.0", False),
    "newsroom": ("newsroom", "1.0.0", True),
    "opinion_abstracts_idebate": ("opinion_abstracts/idebate", "1.0.0", False),
    "opinion_abstracts_rotten_tomatoes": ("opinion_abstracts/rotten_tomatoes", "1.0.0", False),
    "samsum": ("samsum", "1.0.0", True),
    "wiki_lingua_en": ("gem/wiki_lingua_english_en", "1.1.0", False),
    "xsum": ("xsum", "1.1.0", True),
}

SD = {"train": "train[:30000]", "validation": "validation[:200]", "test": "test"}
OPINION = {"train": "train[:-600]", "validation": "train[-600:-500]", "test": "train[-500:]"}
SPLITS = {
    "aeslc": {"train": "train", "validation": "validation[-200:]", "test": "test"},
    "ag_news": {"train": "train[:30000]", "validation": "train[-200:]", "test": "test"},
    "cnn_dailymail": SD, "gigaword": SD, "multi_news": SD, "newsroom": SD,
    "wiki_lingua_en": SD, "xsum": SD,
    "opinion_abstracts_idebate": OPINION, "opinion_abstracts_rotten_tomatoes": OPINION,
    "samsum": {"train": "train", "validation": "validation[:200]", "test": "test"},
}


def _adapt(name, raw):
  return adapters.adapt(catalog.get(name), raw)


@pytest.fixture(scope="module")
def mock_records():
  """entry name -> canonical records adapted from mock TFDS data."""
  return {name: catalog_checks.mock_records(catalog.get(name)) for name in ENTRIES}


@pytest.mark.parametrize("name", ENTRIES)
def test_entry_loads_and_is_well_formed(name):
  spec = catalog.get(name)
  assert spec.cluster == "summarization" and spec.collection == "flan"
  builder, version, manual = BUILDERS[name]
  assert (spec.tfds_name, spec.tfds_version, spec.manual_download) == (builder, version, manual)
  if name == "ag_news":
    assert (spec.type, spec.metric) == ("classification", "accuracy")
    assert spec.options == ("World", "Sports", "Business", "Science/Tech")
  else:
    assert (spec.type, spec.metric) == ("generation", "rouge")
  assert len(spec.templates) == catalog.NUM_TEMPLATES
  assert spec.templates[0].uses_options == (spec.type == "classification")
  assert 1 <= sum(t.inverted for t in spec.templates) <= catalog.MAX_INVERTED


@pytest.mark.parametrize("name", ENTRIES)
def test_splits_follow_the_recipe(name):
  assert catalog.get(name).splits == SPLITS[name]


@pytest.mark.parametrize("name", ENTRIES)
def test_every_template_renders_mock_data(name, mock_records):
  catalog_checks.check_renders_every_template(catalog.get(name), mock_records[name])



# ---- Golden renderings: template 0 of each entry on a hand-made raw example. --------------------

def _opinions(values):
  """An opinion_abstracts Sequence({key, value}) feature as tfds.as_numpy yields it."""
  return {"key": np.array([f"k{i}".encode() for i in range(len(values))], dtype=object),
          "value": np.array(values, dtype=object)}


GOLDEN = {
    "aeslc": (
        {"email_body": b"Please review the attached draft\nby Friday.\n\nThanks, Ann",
         "subject_line": b"Draft review\n"},
        "Please review the attached draft by Friday. Thanks, Ann\n\n"
        "Write a subject line for this email.",
        "Draft review"),
    "ag_news": (
        {"title": b"Stocks rally", "description": b"Shares rose sharply on Monday.",
         "label": np.int64(2)},
        "Shares rose sharply on Monday.\n\nWhat is this news article mainly about?\n\n"
        "OPTIONS:\n- World\n- Sports\n- Business\n- Science/Tech",
        "Business"),
    "cnn_dailymail": (
        {"article": b"A dog rescued a child from a river on Sunday.",
         "highlights": b"Dog saves child.\nRescue took place on Sunday.", "id": b"x1",
         "publisher": b"cnn"},
        "A dog rescued a child from a river on Sunday.\n\nWrite the highlights of this article.",
        "Dog saves child.\nRescue took place on Sunday."),
    "gigaword": (
        {"document": b"the central bank raised interest rates by half a point on tuesday .",
         "summary": b"central bank raises rates"},
        "the central bank raised interest rates by half a point on tuesday .\n\n"
        "Write a short summary of the text above.",
        "central bank raises rates"),
    "multi_news": (
        {"document": b"Report one. ||||| Report two.", "summary": b"\xe2\x80\x93 Two reports."},
        "Report one. ||||| Report two.\n\nWrite a summary of the news articles above.",
        "\u2013 Two reports."),
    "newsroom": (
        {"text": b"The city opened a new library downtown.", "title": b"New library",
         "summary": b"A library opens.", "url": b"u", "date": b"d", "density_bin": b"extractive",
         "coverage_bin": b"high", "compression_bin": b"low", "density": np.float32(1),
         "coverage": np.float32(1), "compression": np.float32(1)},
        "The city opened a new library downtown.\n\nWrite a short summary of this article.",
        "A library opens."),
    "opinion_abstracts_idebate": (
        {"_debate_name": b"This House would ban homework", "_claim_id": b"c1",
         "_claim": b"Homework harms children.",
         "_argument_sentences": _opinions([b"Kids need rest.", b"Homework causes stress."])},
        "1. Kids need rest.\n2. Homework causes stress.\n\n"
        "What claim do these arguments support?",
        "Homework harms children."),
    "opinion_abstracts_rotten_tomatoes": (
        {"_movie_name": b"the_big_heist", "_movie_id": b"m1",
         "_critic_consensus": b"Slick and fun.",
         "_critics": _opinions([b"A fun ride.", b"Slick caper."])},
        "1. A fun ride.\n2. Slick caper.\n\n"
        "Write a one-sentence critical consensus based on these movie reviews.",
        "Slick and fun."),
    "samsum": (
        {"id": b"s1", "dialogue": b"Amy: lunch?\r\nBob: sure <file_photo>\r\nAmy: 12:30",
         "summary": b"Amy and Bob will have lunch at 12:30."},
        "Amy: lunch?\nBob: sure\nAmy: 12:30\n\nWrite a short summary of this dialogue.",
        "Amy and Bob will have lunch at 12:30."),
    "wiki_lingua_en": (
        {"gem_id": b"g1", "gem_parent_id": b"g1", "source": b"Fill the pot. Boil the water.",
         "target": b"Boil water in a pot.", "references": np.array([], dtype=object),
         "source_aligned": {"en": b"Fill the pot. Boil the water."},
         "target_aligned": {"en": b"Boil water in a pot."}},
        "Fill the pot. Boil the water.\n\nWrite a summary of the text above.",
        "Boil water in a pot."),
    "xsum": (
        {"document": b"The council approved the new budget after a long debate.",
         "summary": b"The budget was approved."},
        "The council approved the new budget after a long debate.\n\n"
        "Summarize this article in one sentence.",
        "The budget was approved."),
}


@pytest.mark.parametrize("name", ENTRIES)
def test_golden_rendering(name):
  spec = catalog.get(name)
  raw, inputs, targets = GOLDEN[name]
  catalog_checks.check_golden(spec, raw, inputs, targets)


# ---- Adapters on hand-made raw examples. ---------------------------------------------------------


@pytest.mark.parametrize("label,answer", [(0, "World"), (1, "Sports"), (2, "Business"),
                                          (3, "Science/Tech")])
def test_ag_news_label_order(label, answer):
  raw = {"title": b"t", "description": b"d", "label": np.int64(label)}
  record = _adapt("ag_news", raw)
  assert record["answer"] == answer and record["text"] == "d" and record["title"] == "t"


def test_aeslc_adapter_flattens_lines():
  assert _adapt("aeslc", GOLDEN["aeslc"][0]) == {
      "body": "Please review the attached draft by Friday. Thanks, Ann",
      "subject": "Draft review", "answer": "Draft review", "answers": ["Draft review"]}


@pytest.mark.parametrize("body,subject", [(b"", b"Hello"), (b"Some text", b""),
                                          (b"\n \n", b"\n")])
def test_aeslc_adapter_drops_empty_examples(body, subject):
  assert _adapt("aeslc", {"email_body": body, "subject_line": subject}) is None


@pytest.mark.parametrize("document,summary", [
    (b"police arrested UNK men on friday .", b"police arrest men"),
    (b"police arrested three men on friday .", b"police arrest UNK"),
    (b"shares fell # percent on monday .", b"shares fall"),
    (b"shares fell sharply on monday .", b"shares fall # percent"),
])
def test_gigaword_adapter_drops_unk_and_hash(document, summary):
  assert _adapt("gigaword", {"document": document, "summary": summary}) is None


def test_gigaword_adapter_keeps_clean_examples():
  record = _adapt("gigaword", GOLDEN["gigaword"][0])
  assert record["summary"] == record["answer"] == "central bank raises rates"
  assert record["document"].startswith("the central bank")


def test_idebate_adapter_numbers_at_most_ten_sentences():
  raw = {**GOLDEN["opinion_abstracts_idebate"][0],
         "_argument_sentences": _opinions([f"Point {i}.".encode() for i in range(1, 13)])}
  record = _adapt("opinion_abstracts_idebate", raw)
  lines = record["arguments"].split("\n")
  assert len(lines) == 10
  assert lines[0] == "1. Point 1." and lines[-1] == "10. Point 10."
  assert record["debate"] == "This House would ban homework"
  assert record["claim"] == record["answer"] == "Homework harms children."


@pytest.mark.parametrize("name,key", [("opinion_abstracts_idebate", "_argument_sentences"),
                                      ("opinion_abstracts_rotten_tomatoes", "_critics")])
def test_opinion_adapters_drop_examples_without_opinions(name, key):
  raw = {**GOLDEN[name][0], key: _opinions([])}
  assert _adapt(name, raw) is None
  raw = {**GOLDEN[name][0], key: _opinions([b"", b"  "])}
  assert _adapt(name, raw) is None


def test_rotten_tomatoes_adapter_fields():
  record = _adapt("opinion_abstracts_rotten_tomatoes",
                  GOLDEN["opinion_abstracts_rotten_tomatoes"][0])
  assert record == {"movie": "The Big Heist", "reviews": "1. A fun ride.\n2. Slick caper.",
                    "first_review": "A fun ride.", "consensus": "Slick and fun.",
                    "answer": "Slick and fun.", "answers": ["Slick and fun."]}


def test_rotten_tomatoes_adapter_keeps_cased_movie_names():
  raw = {**GOLDEN["opinion_abstracts_rotten_tomatoes"][0], "_movie_name": b"Toy_Story_3"}
  assert _adapt("opinion_abstracts_rotten_tomatoes", raw)["movie"] == "Toy Story 3"


def test_rotten_tomatoes_adapter_accepts_a_list_of_opinion_dicts():
  raw = {**GOLDEN["opinion_abstracts_rotten_tomatoes"][0],
         "_critics": [{"key": b"a", "value": b"Great."}, {"key": b"b", "value": b"Meh."}]}
  record = _adapt("opinion_abstracts_rotten_tomatoes", raw)
  assert record["reviews"] == "1. Great.\n2. Meh." and record["first_review"] == "Great."


def test_samsum_adapter_cleans_dialogue():
  record = _adapt("samsum", GOLDEN["samsum"][0])
  assert record["dialogue"] == "Amy: lunch?\nBob: sure\nAmy: 12:30"
  assert record["summary"] == record["answer"] == "Amy and Bob will have lunch at 12:30."


def test_samsum_adapter_drops_empty_summaries():
  raw = {**GOLDEN["samsum"][0], "summary": b""}
  assert _adapt("samsum", raw) is None


def test_wiki_lingua_adapter_keeps_references_as_answers():
  raw = {**GOLDEN["wiki_lingua_en"][0],
         "references": np.array([b"Boil water in a pot.", b"Heat water."], dtype=object)}
  record = _adapt("wiki_lingua_en", raw)
  assert record["answer"] == "Boil water in a pot."
  assert record["answers"] == ["Boil water in a pot.", "Heat water."]
  assert record["article"] == "Fill the pot. Boil the water."


def test_wiki_lingua_adapter_train_example_has_one_answer():
  record = _adapt("wiki_lingua_en", GOLDEN["wiki_lingua_en"][0])
  assert record["answers"] == ["Boil water in a pot."]


@pytest.mark.parametrize("source,target", [(b"", b"Summary."), (b"Article.", b" ")])
def test_wiki_lingua_adapter_drops_empty_examples(source, target):
  raw = {**GOLDEN["wiki_lingua_en"][0], "source": source, "target": target}
  assert _adapt("wiki_lingua_en", raw) is None


def test_inverted_summarization_templates_render_the_source():
  spec = catalog.get("xsum")
  record = adapters.adapt(spec, GOLDEN["xsum"][0])
  example = render.render(spec.templates[-2], record)
  assert example.inputs == ("Write a news article that could be summarized as: "
                            "The budget was approved.")
  assert example.targets == "The council approved the new budget after a long debate."
  assert example.inverted and example.answers == (example.targets,)
