"""Commonsense, coreference and sentiment catalog entries, offline.

Raw examples come from `tfds.testing.mock_data` (random values shaped by each builder's features,
no download; StoryCloze needs a manual download for real data but mocks fine), go through the
entry's adapter and every template. Random mock values cannot satisfy some adapters (COPA's
question, HellaSwag's four endings, Winogrande's blank, WSC273's pronoun offsets, Sentiment140's
polarity), so a per-entry fixup repairs them. Hand-made raw examples pin each adapter, its drop
cases and one exact rendering per entry.
"""

import itertools
import re

import catalog_checks
import numpy as np
import pytest

from flan.data import adapters, catalog, render

COMMONSENSE = ("copa", "hellaswag", "piqa", "story_cloze")
COREFERENCE = ("dpr", "winogrande", "wsc273", "wsc")
SENTIMENT = ("imdb", "sentiment140", "yelp_polarity")
ENTRIES = COMMONSENSE + COREFERENCE + SENTIMENT
SENTIMENT_OPTIONS = ["negative", "positive"]


def _array(values):
  return np.array(values, dtype=object)


# ---- Mock-data fixups: make random values satisfy what the adapters require. ---------------------


def _alternating(fix):
  """A fixup that passes a running example counter to `fix(raw, i)`."""
  counter = itertools.count()
  return lambda raw: fix(raw, next(counter))


def _copa(raw, i):
  return {**raw, "question": (b"cause", b"effect")[i % 2], "label": np.int64(i % 2)}


def _hellaswag(raw, i):
  endings = [f"ending {k} of example {i}".encode() for k in range(4)]
  return {**raw, "endings": _array(endings), "label": np.int32(i % 4)}


def _story_cloze(raw, i):
  return {**raw, "endings": _array([b"It ended well.", b"It ended badly."]),
          "label": np.int32(1 + i % 2)}


def _dpr(raw, i):
  return {**raw, "candidates": _array([b"the dog", b"the cat"]), "label": np.int64(i % 2)}


def _winogrande(raw, i):
  return {**raw, "sentence": raw["sentence"].strip() + b" because _ was late.",
          "label": np.int64(i % 2)}


def _wsc273(raw, i):
  text = b"Before that, it was " + raw["text"].strip()
  return {**raw, "text": text, "pronoun_text": b"it", "pronoun_start": np.int32(13),
          "pronoun_end": np.int32(15), "label": np.int32(i % 2)}


def _binary_label(raw, i):
  return {**raw, "label": np.int64(i % 2)}


def _sentiment140(raw, i):
  return {**raw, "polarity": np.int32((0, 2, 4)[i % 3])}


FIXUPS = {"copa": _copa, "hellaswag": _hellaswag, "story_cloze": _story_cloze, "dpr": _dpr,
          "winogrande": _winogrande, "wsc273": _wsc273, "wsc": _binary_label,
          "imdb": _binary_label, "sentiment140": _sentiment140, "yelp_polarity": _binary_label}


@pytest.fixture(scope="module")
def mock_records():
  """entry name -> canonical records adapted from mock TFDS data."""
  return {name: catalog_checks.mock_records(catalog.get(name),
                                            fixup=_alternating(FIXUPS[name]) if name in FIXUPS
                                            else None)
          for name in ENTRIES}


@pytest.mark.parametrize("name", ENTRIES)
def test_entry_loads_and_is_well_formed(name):
  spec = catalog.get(name)
  assert spec.collection == "flan" and spec.type == "classification"
  assert spec.metric == "accuracy"
  assert len(spec.templates) == catalog.NUM_TEMPLATES
  assert spec.templates[0].uses_options and not spec.templates[0].inverted
  assert spec.manual_download == (name == "story_cloze")


@pytest.mark.parametrize("name", ENTRIES)
def test_every_template_renders_mock_data(name, mock_records):
  catalog_checks.check_renders_every_template(catalog.get(name), mock_records[name])


def test_clusters_and_paper_datasets():
  for name in COMMONSENSE:
    assert catalog.get(name).cluster == "commonsense"
  for name in COREFERENCE:
    assert catalog.get(name).cluster == "coreference"
  for name in SENTIMENT:
    assert catalog.get(name).cluster == "sentiment"
    assert catalog.get(name).options == tuple(SENTIMENT_OPTIONS)
  # SuperGLUE WSC trains; WSC273 is the paper's coreference eval set: distinct paper datasets.
  assert catalog.get("wsc273").eval_only and catalog.get("wsc273").paper_dataset == "WSC273"
  assert not catalog.get("wsc").eval_only
  assert catalog.get("wsc").paper_dataset != catalog.get("wsc273").paper_dataset


def test_eval_only_entry_has_no_inverted_templates():
  spec = catalog.get("wsc273")
  assert all(t.eval and not t.inverted for t in spec.templates)


# ---- Builders and splits (datasets.md). ----------------------------------------------------------

TFDS = {
    "copa": "super_glue/copa:1.0.2", "hellaswag": "hellaswag:1.1.0", "piqa": "piqa:1.0.0",
    "story_cloze": "story_cloze/2016:1.0.0",
    "dpr": "definite_pronoun_resolution:1.1.0", "winogrande": "winogrande:1.2.0",
    "wsc273": "wsc273:1.0.0", "wsc": "super_glue/wsc.fixed:1.0.2",
    "imdb": "imdb_reviews/plain_text:1.0.0", "sentiment140": "sentiment140:1.0.0",
    "yelp_polarity": "yelp_polarity_reviews:0.2.0",
}
SPLITS = {
    "copa": ("train[:-50]", "train[-50:]", "validation"),
    "hellaswag": ("train[:30000]", "train[-200:]", "validation"),
    "piqa": ("train[:-100]", "train[-100:]", "validation"),
    "story_cloze": ("validation[:-200]", "validation[-200:]", "test"),
    "dpr": ("train[:-200]", "train[-200:]", "test"),
    "winogrande": ("train_xl[:30000]", "train_xl[-200:]", "validation"),
    "wsc": ("train[:-50]", "train[-50:]", "validation"),
    "imdb": ("train[:-200]", "train[-200:]", "test"),
    "sentiment140": ("train[:30000]", "train[-200:]", "test"),
    "yelp_polarity": ("train[:30000]", "train[-200:]", "test"),
}
# Published sizes of the split the train/validation slices carve (for the disjointness check).
SOURCE_SIZES = {
    "copa": 400, "hellaswag": 39905, "piqa": 16113, "story_cloze": 1871, "dpr": 1322,
    "winogrande": 40398, "wsc": 554, "imdb": 25000, "sentiment140": 1600000,
    "yelp_polarity": 560000,
}


@pytest.mark.parametrize("name", ENTRIES)
def test_builder_and_version(name):
  assert catalog.get(name).tfds_full_name == TFDS[name]


@pytest.mark.parametrize("name", sorted(SPLITS))
def test_splits_follow_the_recipe(name):
  train, validation, test = SPLITS[name]
  assert catalog.get(name).splits == {"train": train, "validation": validation, "test": test}


def test_eval_only_split():
  assert catalog.get("wsc273").splits == {"test": "test"}


_SLICE = re.compile(r"^(\w+)\[(-?\d*):(-?\d*)\]$")


def _absolute(spec: str, size: int) -> range:
  """The example indices a TFDS slice like 'train[:-200]' reads from a split of `size`."""
  match = _SLICE.match(spec)
  assert match, spec
  start, stop = (int(v) if v else None for v in match.group(2, 3))
  return range(size)[start:stop]


@pytest.mark.parametrize("name", sorted(SPLITS))
def test_train_and_validation_carve_outs_are_disjoint(name):
  spec = catalog.get(name)
  source = spec.splits["validation"].split("[")[0]
  assert spec.splits["train"].split("[")[0] == source
  train = _absolute(spec.splits["train"], SOURCE_SIZES[name])
  validation = _absolute(spec.splits["validation"], SOURCE_SIZES[name])
  assert len(train) > 0 and len(validation) > 0
  assert not set(train) & set(validation)


# ---- Golden renderings: template 0 of each entry on a hand-made raw example. --------------------

GOLDEN = {
    "copa": (
        {"premise": b"My body cast a shadow over the grass.", "question": b"cause",
         "choice1": b"The sun was rising.", "choice2": b"The grass was cut.",
         "idx": np.int32(0), "label": np.int64(0)},
        "My body cast a shadow over the grass.\n\nWhat was the cause?\n\n"
        "OPTIONS:\n- The sun was rising.\n- The grass was cut.",
        "The sun was rising."),
    "hellaswag": (
        {"activity_label": b"Making tea",
         "context": b"[header] How to make tea [title] Boil some water. [step] Then you",
         "endings": _array([b"pour the water over the tea bag.", b"eat the kettle.",
                            b"[substeps] paint the cup.", b"sing to the water."]),
         "label": np.int32(0), "source_id": b"wikihow~1", "split_type": b"indomain"},
        "How to make tea Boil some water. Then you\n\nHow does the text most likely continue?\n\n"
        "OPTIONS:\n- pour the water over the tea bag.\n- eat the kettle.\n- paint the cup.\n"
        "- sing to the water.",
        "pour the water over the tea bag."),
    "piqa": (
        {"id": b"p1", "goal": b"Keep a door from slamming.",
         "sol1": b"Hang a towel over the top of the door.", "sol2": b"Paint the door red.",
         "label": np.int64(0)},
        "Goal: Keep a door from slamming.\n\nWhich solution is better?\n\n"
        "OPTIONS:\n- Hang a towel over the top of the door.\n- Paint the door red.",
        "Hang a towel over the top of the door."),
    "story_cloze": (
        {"context": b"Ann baked a cake. She left it on the table. Her dog saw it. "
                    b"Ann went outside.",
         "endings": _array([b"Ann's dog ate the cake.", b"Ann's cake grew wings."]),
         "label": np.int32(1)},
        "Ann baked a cake. She left it on the table. Her dog saw it. Ann went outside.\n\n"
        "What is the best ending for this story?\n\n"
        "OPTIONS:\n- Ann's dog ate the cake.\n- Ann's cake grew wings.",
        "Ann's dog ate the cake."),
    "dpr": (
        {"sentence": b"The bee landed on the flower because it had pollen.", "pronoun": b"it",
         "candidates": _array([b"The bee", b"the flower"]), "label": np.int64(1)},
        "The bee landed on the flower because it had pollen.\n\n"
        "Who or what does \"it\" refer to in the sentence above?\n\n"
        "OPTIONS:\n- The bee\n- the flower",
        "the flower"),
    "winogrande": (
        {"sentence": b"The trophy didn't fit in the suitcase because the _ was too big.",
         "option1": b"trophy", "option2": b"suitcase", "label": np.int64(0)},
        "The trophy didn't fit in the suitcase because the\n\nHow does the sentence end?\n\n"
        "OPTIONS:\n- trophy was too big.\n- suitcase was too big.",
        "trophy was too big."),
    "wsc273": (
        {"text": b"The city councilmen refused the demonstrators a permit because they "
                 b"feared violence.",
         "pronoun_text": b"they", "pronoun_start": np.int32(63), "pronoun_end": np.int32(67),
         "option1": b"The city councilmen", "option2": b"The demonstrators",
         "option1_normalized": b"the city councilmen", "option2_normalized": b"the demonstrators",
         "label": np.int32(0), "idx": np.int32(0)},
        "The city councilmen refused the demonstrators a permit because\n\n"
        "How does the sentence end?\n\n"
        "OPTIONS:\n- the city councilmen feared violence.\n- the demonstrators feared violence.",
        "the city councilmen feared violence."),
    "wsc": (
        {"text": b"Mark told Pete many lies about himself, which Pete included in his book.",
         "span1_index": np.int32(0), "span1_text": b"Mark", "span2_index": np.int32(13),
         "span2_text": b"his", "idx": np.int32(0), "label": np.int64(0)},
        "Mark told Pete many lies about himself, which Pete included in his book.\n\n"
        "In the passage above, does \"his\" refer to \"Mark\"?\n\nOPTIONS:\n- no\n- yes",
        "no"),
    "imdb": (
        {"text": b"A wonderful film.<br /><br />I laughed the whole time.",
         "label": np.int64(1)},
        "A wonderful film.\n\nI laughed the whole time.\n\n"
        "Is this movie review positive or negative?\n\nOPTIONS:\n- negative\n- positive",
        "positive"),
    "sentiment140": (
        {"text": b"my flight got cancelled again", "polarity": np.int32(0), "date": b"Mon",
         "query": b"NO_QUERY", "user": b"someone"},
        "Tweet: my flight got cancelled again\n\nWhat is the sentiment of this tweet?\n\n"
        "OPTIONS:\n- negative\n- positive",
        "negative"),
    "yelp_polarity": (
        {"text": b"Cold food.\\nRude staff.", "label": np.int64(0)},
        "Cold food.\nRude staff.\n\nIs this review positive or negative?\n\n"
        "OPTIONS:\n- negative\n- positive",
        "negative"),
}


@pytest.mark.parametrize("name", ENTRIES)
def test_golden_rendering(name):
  spec = catalog.get(name)
  raw, inputs, targets = GOLDEN[name]
  catalog_checks.check_golden(spec, raw, inputs, targets)


def _adapt(name, **changes):
  """The entry's adapter on its golden raw example with some features changed."""
  return adapters.adapt(catalog.get(name), {**GOLDEN[name][0], **changes})


# ---- Commonsense adapters. -----------------------------------------------------------------------


@pytest.mark.parametrize("question,connective", [(b"cause", "because"), (b"effect", "so")])
def test_copa_adapter_branches_on_the_question(question, connective):
  record = _adapt("copa", question=question, label=np.int64(1))
  assert record == {"premise": "My body cast a shadow over the grass.",
                    "question": question.decode(), "connective": connective,
                    "clause": "My body cast a shadow over the grass",
                    "options": ["The sun was rising.", "The grass was cut."],
                    "answer": "The grass was cut.", "answers": ["The grass was cut."]}


def test_copa_connective_template_reads_as_a_sentence():
  spec = catalog.get("copa")
  example = render.render(spec.templates[1], _adapt("copa", question=b"effect"))
  assert "My body cast a shadow over the grass so..." in example.inputs


@pytest.mark.parametrize("changes", [{"question": b"reason"}, {"label": np.int64(-1)}])
def test_copa_adapter_drops(changes):
  assert _adapt("copa", **changes) is None


def test_hellaswag_adapter_strips_section_markers():
  record = _adapt("hellaswag", label=np.int32(3))
  assert record["context"] == "How to make tea Boil some water. Then you"
  assert record["activity"] == "Making tea"
  assert record["options"][2] == "paint the cup."
  assert record["answer"] == "sing to the water."


@pytest.mark.parametrize("changes", [
    {"label": np.int32(-1)},                                             # unlabelled test split
    {"endings": _array([b"one.", b"two.", b"three."])},                  # three endings
    {"endings": _array([b"one.", b"[step]", b"three.", b"four."])},      # empty after stripping
])
def test_hellaswag_adapter_drops(changes):
  assert _adapt("hellaswag", **changes) is None


def test_piqa_adapter_second_solution():
  record = _adapt("piqa", label=np.int64(1))
  assert record["options"] == ["Hang a towel over the top of the door.", "Paint the door red."]
  assert record["goal"] == "Keep a door from slamming."
  assert record["answer"] == "Paint the door red."


@pytest.mark.parametrize("label,answer", [(1, "Ann's dog ate the cake."),
                                          (2, "Ann's cake grew wings.")])
def test_story_cloze_label_is_one_based(label, answer):
  assert _adapt("story_cloze", label=np.int32(label))["answer"] == answer


@pytest.mark.parametrize("changes", [
    {"label": np.int32(0)}, {"label": np.int32(-1)}, {"label": np.int32(3)},
    {"endings": _array([b"Only one ending."])},
])
def test_story_cloze_adapter_drops(changes):
  assert _adapt("story_cloze", **changes) is None


# ---- Coreference adapters. -----------------------------------------------------------------------


def test_dpr_adapter():
  assert _adapt("dpr", label=np.int64(0)) == {
      "sentence": "The bee landed on the flower because it had pollen.", "pronoun": "it",
      "options": ["The bee", "the flower"], "answer": "The bee", "answers": ["The bee"]}


def test_dpr_adapter_drops_other_candidate_counts():
  assert _adapt("dpr", candidates=_array([b"a", b"b", b"c"])) is None


def test_winogrande_adapter_options_are_endings():
  record = _adapt("winogrande", sentence=b"_'s car broke, so Ann drove Sue home.",
                  option1=b"Ann", option2=b"Sue", label=np.int64(1))
  assert record["context"] == ""
  assert record["options"] == ["Ann's car broke, so Ann drove Sue home.",
                               "Sue's car broke, so Ann drove Sue home."]
  assert record["answer"] == "Sue's car broke, so Ann drove Sue home."
  record = _adapt("winogrande")
  assert record["sentence"] == "The trophy didn't fit in the suitcase because the _ was too big."


@pytest.mark.parametrize("changes", [
    {"sentence": b"No blank in this sentence."},
    {"sentence": b"Two _ blanks _ here."},
    {"label": np.int64(-1)},
])
def test_winogrande_adapter_drops(changes):
  assert _adapt("winogrande", **changes) is None


def test_wsc273_adapter_uses_normalized_candidates():
  record = _adapt("wsc273", label=np.int32(1))
  assert record["pronoun"] == "they"
  assert record["sentence"].endswith("because they feared violence.")
  assert record["answer"] == "the demonstrators feared violence."


@pytest.mark.parametrize("changes", [
    {"pronoun_start": np.int32(62)},                       # offsets miss the pronoun
    {"pronoun_end": np.int32(200)},                        # past the end of the text
    {"label": np.int32(-1)},
])
def test_wsc273_adapter_drops(changes):
  assert _adapt("wsc273", **changes) is None


def test_wsc_adapter_maps_spans():
  record = _adapt("wsc", label=np.int64(1))
  assert record["noun"] == "Mark" and record["pronoun"] == "his"
  assert record["options"] == ["no", "yes"] and record["answer"] == "yes"


# ---- Sentiment adapters. -------------------------------------------------------------------------


@pytest.mark.parametrize("raw_text,expected", [
    (b"Great.<br /><br />Loved it.", "Great.\n\nLoved it."),
    (b"Bad.<br/>Awful.<BR>Never again.", "Bad.\nAwful.\nNever again."),
    (b"  Plain review.  ", "Plain review."),
])
def test_imdb_adapter_turns_html_breaks_into_newlines(raw_text, expected):
  assert _adapt("imdb", text=raw_text)["text"] == expected


@pytest.mark.parametrize("label,answer", [(0, "negative"), (1, "positive")])
def test_imdb_and_yelp_labels(label, answer):
  assert _adapt("imdb", label=np.int64(label))["answer"] == answer
  assert _adapt("yelp_polarity", label=np.int64(label))["answer"] == answer


@pytest.mark.parametrize("polarity,answer", [(0, "negative"), (4, "positive")])
def test_sentiment140_polarity(polarity, answer):
  record = _adapt("sentiment140", polarity=np.int32(polarity))
  assert record["options"] == SENTIMENT_OPTIONS
  assert record["answer"] == answer and record["answers"] == [answer]


@pytest.mark.parametrize("polarity", [2, 1, 3, -1])
def test_sentiment140_drops_neutral_and_unknown_polarity(polarity):
  assert _adapt("sentiment140", polarity=np.int32(polarity)) is None


def test_yelp_adapter_unescapes_the_source_csv():
  record = _adapt("yelp_polarity", text=b'They said ""closed"".\\n\\nNever again.')
  assert record["text"] == 'They said "closed".\n\nNever again.'


# ---- Label-conditioned inversions and inverted targets. ------------------------------------------


@pytest.mark.parametrize("name,labels", [("wsc", {"yes", "no"}), ("imdb", SENTIMENT_OPTIONS),
                                         ("sentiment140", SENTIMENT_OPTIONS),
                                         ("yelp_polarity", SENTIMENT_OPTIONS)])
def test_label_conditioned_inversions_see_only_their_label(name, labels):
  spec = catalog.get(name)
  filtered = [t for t in spec.templates if t.label is not None]
  assert {t.label for t in filtered} == set(labels)
  record = adapters.adapt(spec, GOLDEN[name][0])
  for t in filtered:
    assert t.inverted
    assert t.accepts(record) == (t.label == record["answer"])
