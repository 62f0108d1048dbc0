"""The real-dataset catalog entries (rte, boolq, sst2, arc_easy, squad_v1) end to end, offline.

Raw examples come from `tfds.testing.mock_data` (random values shaped by the builder's own
features, no download), go through the entry's adapter and every template. Hand-made raw examples
pin the adapters and one exact rendering per entry.
"""

import catalog_checks
import numpy as np
import pytest

from flan.data import adapters, catalog

ENTRIES = ("rte", "boolq", "sst2", "arc_easy", "squad_v1")
def _four_choices(raw):
  """Mock ARC examples have a random number of choices: trim to four, keys A-D, a valid answer."""
  choices = raw["choices"]
  return {**raw, "choices": {"text": choices["text"][:4], "label": np.arange(4)},
          "answerKey": np.int64(int(raw["answerKey"]) % 4)}


@pytest.fixture(scope="module")
def mock_records():
  """entry name -> canonical records adapted from mock TFDS data."""
  return {name: catalog_checks.mock_records(
      catalog.get(name), fixup=_four_choices if name == "arc_easy" else None)
          for name in ENTRIES}


@pytest.mark.parametrize("name", ENTRIES)
def test_entry_loads_and_is_well_formed(name):
  spec = catalog.get(name)
  assert spec.collection == "flan"
  assert len(spec.templates) == catalog.NUM_TEMPLATES
  assert spec.templates[0].uses_options == (spec.type == "classification")
  assert 1 <= sum(t.inverted for t in spec.templates) <= catalog.MAX_INVERTED
  assert set(spec.splits) == {"train", "validation", "test"}


@pytest.mark.parametrize("name", ENTRIES)
def test_every_template_renders_mock_data(name, mock_records):
  catalog_checks.check_renders_every_template(catalog.get(name), mock_records[name])


def test_splits_follow_the_recipe():
  s_200 = {"train": "train[:-200]", "validation": "train[-200:]", "test": "validation"}
  assert catalog.get("rte").splits == s_200
  assert catalog.get("boolq").splits == s_200
  assert catalog.get("sst2").splits == {"train": "train[:30000]", "validation": "train[-200:]",
                                        "test": "validation"}
  # SQuAD carves validation by passage (5% of the contexts of the last 4,000 rows, ~200 rows),
  # so no validation passage is trained on (flan/data/carve.py).
  assert catalog.get("squad_v1").splits == {**catalog.get("sst2").splits,
                                            "validation": "train[-4000:]"}
  assert (catalog.get("squad_v1").carve.by, catalog.get("squad_v1").carve.percent) == ("context", 5)
  assert catalog.get("arc_easy").splits == {**s_200, "test": "test"}


# ---- Golden renderings: template 0 of each entry on a hand-made raw example. --------------------

GOLDEN = {
    "rte": (
        {"premise": b"The cat sat on the mat.", "hypothesis": b"A cat is sitting.",
         "idx": np.int32(0), "label": np.int64(0)},
        "Premise: The cat sat on the mat.\nHypothesis: A cat is sitting.\n\n"
        "Is the hypothesis entailed by the premise?\n\nOPTIONS:\n- yes\n- no",
        "yes"),
    "boolq": (
        {"question": b"is the sky blue", "passage": b"The sky looks blue because of scattering.",
         "title": b"Sky", "answer": np.True_},
        "Passage: The sky looks blue because of scattering.\n\nQuestion: is the sky blue?\n\n"
        "OPTIONS:\n- no\n- yes",
        "yes"),
    "sst2": (
        {"sentence": b"a gorgeous, witty film", "idx": np.int32(3), "label": np.int64(1)},
        "Sentence: a gorgeous, witty film\n\nWhat is the sentiment of this sentence?\n\n"
        "OPTIONS:\n- negative\n- positive",
        "positive"),
    "arc_easy": (
        {"id": b"q1", "question": b"Which of these is a liquid at room temperature?",
         "choices": {"text": np.array([b"ice", b"water", b"rock", b"wood"], dtype=object),
                     "label": np.array([0, 1, 2, 3])},
         "answerKey": np.int64(1)},
        "Which of these is a liquid at room temperature?\n\n"
        "OPTIONS:\n- ice\n- water\n- rock\n- wood",
        "water"),
    "squad_v1": (
        {"id": b"s1", "title": b"Super_Bowl_50", "context": b"The Denver Broncos won Super Bowl 50.",
         "question": b"Who won Super Bowl 50?",
         "answers": {"text": np.array([b"Denver Broncos", b"The Denver Broncos"], dtype=object),
                     "answer_start": np.array([4, 0], dtype=np.int32)}},
        "Passage: The Denver Broncos won Super Bowl 50.\n\nQuestion: Who won Super Bowl 50?\n\n"
        "Answer:",
        "Denver Broncos"),
}


@pytest.mark.parametrize("name", ENTRIES)
def test_golden_rendering(name):
  spec = catalog.get(name)
  raw, inputs, targets = GOLDEN[name]
  catalog_checks.check_golden(spec, raw, inputs, targets)


# ---- Adapters on hand-made raw examples. ---------------------------------------------------------


def _arc_raw(choice_texts, choice_keys, answer_key):
  return {"id": b"q", "question": b"What do plants need to make food?",
          "choices": {"text": np.array(choice_texts, dtype=object),
                      "label": np.array(choice_keys)},
          "answerKey": answer_key}


ARC_TEXTS = [b"sunlight", b"sand", b"salt", b"smoke"]


@pytest.mark.parametrize("keys,answer_key", [
    ([0, 1, 2, 3], np.int64(0)),                      # TFDS ClassLabel indices
    ([b"A", b"B", b"C", b"D"], b"A"),                 # letters, as in the source files
    ([b"1", b"2", b"3", b"4"], b"1"),                 # digits, as in the source files
    (["1", "2", "3", "4"], "1"),
])
def test_arc_adapter_maps_answer_key_to_choice_text(keys, answer_key):
  record = adapters.adapt(catalog.get("arc_easy"), _arc_raw(ARC_TEXTS, keys, answer_key))
  assert record == {"question": "What do plants need to make food?",
                    "options": ["sunlight", "sand", "salt", "smoke"],
                    "answer": "sunlight", "answers": ["sunlight"]}


def test_arc_adapter_digit_key_is_one_based():
  raw = _arc_raw(ARC_TEXTS, [b"1", b"2", b"3", b"4"], b"3")
  assert adapters.adapt(catalog.get("arc_easy"), raw)["answer"] == "salt"


@pytest.mark.parametrize("texts,keys,answer_key", [
    (ARC_TEXTS[:3], [b"A", b"B", b"C"], b"A"),                   # three choices
    (ARC_TEXTS + [b"steam"], [0, 1, 2, 3, 4], np.int64(4)),     # five choices
    (ARC_TEXTS, [b"A", b"B", b"C", b"D"], b"E"),                 # key names no choice
])
def test_arc_adapter_drops_unusable_questions(texts, keys, answer_key):
  assert adapters.adapt(catalog.get("arc_easy"), _arc_raw(texts, keys, answer_key)) is None


@pytest.mark.parametrize("answer,expected", [(np.True_, "yes"), (np.False_, "no"), (True, "yes")])
def test_boolq_adapter_maps_bool_answer(answer, expected):
  raw = {"question": b"is water wet?", "passage": b"Water is a liquid.", "title": b"Water",
         "answer": answer}
  record = adapters.adapt(catalog.get("boolq"), raw)
  assert record["options"] == ["no", "yes"]
  assert record["answer"] == expected and record["answers"] == [expected]
  assert record["question"] == "is water wet?"  # a '?' is added only when missing


def test_squad_adapter_keeps_every_answer():
  raw, _, _ = GOLDEN["squad_v1"]
  assert adapters.adapt(catalog.get("squad_v1"), raw) == {
      "title": "Super Bowl 50", "context": "The Denver Broncos won Super Bowl 50.",
      "question": "Who won Super Bowl 50?", "answer": "Denver Broncos",
      "answers": ["Denver Broncos", "The Denver Broncos"]}


def test_squad_adapter_drops_examples_without_answers():
  raw, _, _ = GOLDEN["squad_v1"]
  raw = {**raw, "answers": {"text": np.array([], dtype=object),
                            "answer_start": np.array([], dtype=np.int32)}}
  assert adapters.adapt(catalog.get("squad_v1"), raw) is None


@pytest.mark.parametrize("name,labels", [("sst2", {"positive", "negative"}),
                                         ("rte", {"yes", "no"})])
def test_label_conditioned_inversions_see_only_their_label(name, labels):
  spec = catalog.get(name)
  record = adapters.adapt(spec, GOLDEN[name][0])
  filtered = [t for t in spec.templates if t.label is not None]
  assert {t.label for t in filtered} == labels
  for t in filtered:
    assert t.inverted
    assert t.accepts(record) == (t.label == record["answer"])


def test_catalog_slices_read_as_python_slices():
  """A slice bound past a prepared split's size stops at its end (TFDS would refuse the read)."""
  from types import SimpleNamespace

  from flan.data import datasets

  spec = SimpleNamespace(splits={"train": "train[:30000]", "validation": "train[-600:-500]",
                                 "test": "validation"})
  prepared = {"train": SimpleNamespace(num_examples=240),
              "validation": SimpleNamespace(num_examples=7)}
  assert [datasets.read_split(spec, s, prepared) for s in spec.splits] == [
      "train[:240]", "train[-240:-240]", "validation"]
  prepared["train"] = SimpleNamespace(num_examples=90000)
  assert [datasets.read_split(spec, s, prepared) for s in spec.splits] == [
      "train[:30000]", "train[-600:-500]", "validation"]
  assert datasets.read_split(spec, "train", {}) == "train[:30000]"  # not prepared: as written
