"""The NLI and paraphrase catalog entries, offline.

Raw examples come from `tfds.testing.mock_data` (no download) and go through each entry's adapter
and every template; hand-made raw examples pin one exact rendering per entry, the label order of
the options against the installed builders, SNLI's dropped label -1 and the STS-B adapter.
"""

import math
import re

import catalog_checks
import numpy as np
import pytest

from flan.data import adapters, catalog, render

NLI = ("anli_r1", "anli_r2", "anli_r3", "cb", "mnli_matched", "mnli_mismatched", "qnli", "snli",
       "wnli")
PARAPHRASE = ("mrpc", "qqp", "paws", "stsb")
ENTRIES = NLI + PARAPHRASE

NLI3 = ["yes", "it is not possible to tell", "no"]


def _stsb_scores(raw):
  """Mock STS-B scores are uniform in [0, 1): stretch them to the real 0-5 range."""
  return {**raw, "label": np.float32(raw["label"] * 5)}


@pytest.fixture(scope="module")
def mock_records():
  """entry name -> canonical records adapted from mock TFDS data."""
  return {name: catalog_checks.mock_records(
      catalog.get(name), fixup=_stsb_scores if name == "stsb" else None) for name in ENTRIES}


# ---- Entry metadata. -----------------------------------------------------------------------------

TFDS = {
    "anli_r1": ("anli/r1", "0.1.0"), "anli_r2": ("anli/r2", "0.1.0"),
    "anli_r3": ("anli/r3", "0.1.0"), "cb": ("super_glue/cb", "1.0.2"),
    "mnli_matched": ("glue/mnli", "2.0.0"), "mnli_mismatched": ("glue/mnli", "2.0.0"),
    "qnli": ("glue/qnli", "2.0.0"), "snli": ("snli", "1.1.0"), "wnli": ("glue/wnli", "2.0.0"),
    "mrpc": ("glue/mrpc", "2.0.0"), "qqp": ("glue/qqp", "2.0.0"),
    "paws": ("paws_wiki/labeled_final_raw", "1.1.0"),  # natural text, not "word , word"
    "stsb": ("glue/stsb", "2.0.0"),
}

METRIC = {"cb": "accuracy_macro_f1", "mrpc": "accuracy_f1", "qqp": "accuracy_f1",
          "stsb": "pearson_spearman"}


@pytest.mark.parametrize("name", ENTRIES)
def test_entry_loads_and_is_well_formed(name):
  spec = catalog.get(name)
  assert spec.collection == "flan"
  assert spec.cluster == ("nli" if name in NLI else "paraphrase")
  assert spec.type == "classification"
  assert spec.metric == METRIC.get(name, "accuracy")
  assert (spec.tfds_name, spec.tfds_version) == TFDS[name]
  assert not spec.manual_download and not spec.eval_only
  assert len(spec.templates) == catalog.NUM_TEMPLATES
  assert all(t.uses_options for t in spec.templates if not t.inverted)
  assert 1 <= sum(t.inverted for t in spec.templates) <= catalog.MAX_INVERTED


@pytest.mark.parametrize("name", ENTRIES)
def test_every_template_renders_mock_data(name, mock_records):
  catalog_checks.check_renders_every_template(catalog.get(name), mock_records[name])


# The builders' ClassLabel names -> our verbalizers.
VERBAL = {"e": "yes", "n": "it is not possible to tell", "c": "no",
          "entailment": "yes", "neutral": "it is not possible to tell", "contradiction": "no",
          "not_entailment": "no", "equivalent": "yes", "not_equivalent": "no",
          "duplicate": "yes", "not_duplicate": "no", "paraphrase": "yes",
          "different_meaning": "no"}


def test_installed_builders_match_the_catalog(tmp_path):
  """Version, manual flag and ClassLabel order of each builder (no download: features only)."""
  import tensorflow_datasets as tfds
  for name in ENTRIES:
    spec = catalog.get(name)
    builder = tfds.builder(spec.tfds_name, data_dir=str(tmp_path))
    assert str(builder.version) == spec.tfds_version, name
    assert not getattr(type(builder), "MANUAL_DOWNLOAD_INSTRUCTIONS", None), name
    label = builder.info.features["label"]
    if name == "stsb":
      assert label.dtype == np.float32
      continue
    assert list(spec.options) == [VERBAL[n] for n in label.names], name
  assert list(catalog.get("cb").options) == ["yes", "no", "it is not possible to tell"]
  for name in ("anli_r1", "mnli_matched", "snli"):
    assert list(catalog.get(name).options) == NLI3


# ---- Splits. -------------------------------------------------------------------------------------

S30 = {"train": "train[:30000]", "validation": "train[-200:]", "test": "validation"}
SD = {"train": "train[:30000]", "validation": "validation[:200]", "test": "test"}
SPLITS = {
    "anli_r1": {"train": "train", "validation": "validation[:200]", "test": "test"},
    "anli_r2": SD, "anli_r3": SD,
    "cb": {"train": "train[:-50]", "validation": "train[-50:]", "test": "validation"},
    "mnli_matched": {**S30, "test": "validation_matched"},
    "mnli_mismatched": {**S30, "test": "validation_mismatched"},
    "qnli": S30, "snli": SD,
    "wnli": {"train": "train[:-30]", "validation": "train[-30:]", "test": "validation"},
    "mrpc": {"train": "train[:-200]", "validation": "train[-200:]", "test": "validation"},
    "qqp": S30, "paws": SD,
    "stsb": {"train": "train[:-100]", "validation": "train[-100:]", "test": "validation"},
}

# Train sizes of the TFDS builders (their published split sizes).
TRAIN_SIZE = {"anli_r1": 16946, "anli_r2": 45460, "anli_r3": 100459, "cb": 250,
              "mnli_matched": 392702, "mnli_mismatched": 392702, "qnli": 104743, "snli": 550152,
              "wnli": 635, "mrpc": 3668, "qqp": 363846, "paws": 49401, "stsb": 5749}

_SLICE = re.compile(r"^(\w+)(?:\[(-?\d*):(-?\d*)\])?$")


def _rows(split: str, sizes: dict[str, int]) -> tuple[str, range]:
  """'train[:-200]' -> ('train', the row indices it selects)."""
  match = _SLICE.match(split)
  assert match, split
  name, start, stop = match.groups()
  rows = range(sizes.get(name, 10**6))
  return name, rows[slice(int(start) if start else None, int(stop) if stop else None)]


@pytest.mark.parametrize("name", ENTRIES)
def test_splits_follow_the_recipe_and_carve_outs_are_disjoint(name):
  spec = catalog.get(name)
  assert spec.splits == SPLITS[name]
  selected = [_rows(s, {"train": TRAIN_SIZE[name]}) for s in spec.splits.values()]
  for i, (split_a, rows_a) in enumerate(selected):
    assert len(rows_a) > 0, (name, split_a)
    for split_b, rows_b in selected[i + 1:]:
      if split_a == split_b:
        assert not set(rows_a) & set(rows_b), f"{name}: {split_a} slices overlap"


def test_split_slicer():
  assert _rows("train[:-200]", {"train": 1000}) == ("train", range(0, 800))
  assert _rows("train[-200:]", {"train": 1000}) == ("train", range(800, 1000))
  assert _rows("validation", {}) == ("validation", range(10**6))


# ---- Golden renderings: template 0 of each entry on a hand-made raw example. --------------------


def _nli(premise, hypothesis, label, **extra):
  return {"premise": premise, "hypothesis": hypothesis, "label": np.int64(label), **extra}


def _pair(s1, s2, label, **extra):
  return {"sentence1": s1, "sentence2": s2, "label": label, **extra}


ANLI_RAW = {"uid": b"a1", "context": b"Mount Kenya is the second-highest mountain in Africa. ",
            "hypothesis": b"Mount Kenya is in Africa.", "label": np.int64(0)}
ANLI_INPUT = ("Paragraph: Mount Kenya is the second-highest mountain in Africa.\n\n"
              "Claim: Mount Kenya is in Africa.\n\n"
              "Is the claim true according to the paragraph?\n\n"
              "OPTIONS:\n- yes\n- it is not possible to tell\n- no")
MNLI_RAW = _nli(b"The shop closes at six.", b"The shop is open all night.", 2, idx=np.int32(4))
MNLI_INPUT = ("Premise: The shop closes at six.\nHypothesis: The shop is open all night.\n\n"
              "If the premise is true, is the hypothesis true as well?\n\n"
              "OPTIONS:\n- yes\n- it is not possible to tell\n- no")

GOLDEN = {
    "anli_r1": (ANLI_RAW, ANLI_INPUT, "yes"),
    "anli_r2": ({**ANLI_RAW, "label": np.int64(1)}, ANLI_INPUT, "it is not possible to tell"),
    "anli_r3": ({**ANLI_RAW, "label": np.int64(2)}, ANLI_INPUT, "no"),
    "cb": (
        _nli(b"B: I doubt he ever finished the book.", b"he finished the book", 1,
             idx=np.int32(7)),
        "B: I doubt he ever finished the book.\n\n"
        "Does it follow from the text above that \"he finished the book\"?\n\n"
        "OPTIONS:\n- yes\n- no\n- it is not possible to tell",
        "no"),
    "mnli_matched": (MNLI_RAW, MNLI_INPUT, "no"),
    "mnli_mismatched": ({**MNLI_RAW, "label": np.int64(1)}, MNLI_INPUT,
                        "it is not possible to tell"),
    "qnli": (
        {"question": b"When was the bridge built?",
         "sentence": b"The bridge was built in 1932 by a local firm.", "idx": np.int32(1),
         "label": np.int64(0)},
        "Question: When was the bridge built?\nSentence: The bridge was built in 1932 by a local "
        "firm.\n\nDoes the sentence answer the question?\n\nOPTIONS:\n- yes\n- no",
        "yes"),
    "snli": (
        _nli(b"A dog runs across a snowy field.", b"An animal is outside.", 0),
        "Premise: \"A dog runs across a snowy field.\"\nHypothesis: \"An animal is outside.\"\n\n"
        "Does the premise show that the hypothesis is true?\n\n"
        "OPTIONS:\n- yes\n- it is not possible to tell\n- no",
        "yes"),
    "wnli": (
        _pair(b"The trophy didn't fit in the case because it was too big.",
              b"The trophy was too big.", np.int64(1), idx=np.int32(0)),
        "Sentence 1: The trophy didn't fit in the case because it was too big.\n"
        "Sentence 2: The trophy was too big.\n\n"
        "If sentence 1 is true, is sentence 2 true?\n\nOPTIONS:\n- no\n- yes",
        "yes"),
    "mrpc": (
        _pair(b"Shares rose 5 percent on Monday.", b"On Monday the stock gained 5 percent.",
              np.int64(1), idx=np.int32(2)),
        "Sentence 1: Shares rose 5 percent on Monday.\n"
        "Sentence 2: On Monday the stock gained 5 percent.\n\n"
        "Do these two sentences mean the same thing?\n\nOPTIONS:\n- no\n- yes",
        "yes"),
    "qqp": (
        {"question1": b"How do I learn to cook?", "question2": b"What is the best pizza in Rome?",
         "idx": np.int32(3), "label": np.int64(0)},
        "Question 1: How do I learn to cook?\nQuestion 2: What is the best pizza in Rome?\n\n"
        "Are these two questions asking the same thing?\n\nOPTIONS:\n- no\n- yes",
        "no"),
    "paws": (
        _pair(b"The river flows from the lake to the sea .",
              b"The river flows from the sea to the lake .", np.int64(0)),
        "Sentence 1: The river flows from the lake to the sea .\n"
        "Sentence 2: The river flows from the sea to the lake .\n\n"
        "Do both sentences express the same meaning?\n\nOPTIONS:\n- no\n- yes",
        "no"),
    "stsb": (
        _pair(b"A man is playing a guitar.", b"A man plays the guitar loudly.", np.float32(3.8),
              idx=np.int32(5)),
        "Sentence 1: A man is playing a guitar.\nSentence 2: A man plays the guitar loudly.\n\n"
        "On a scale from 0 (unrelated) to 5 (same meaning), how similar are these sentences?\n\n"
        "OPTIONS:\n- 0\n- 1\n- 2\n- 3\n- 4\n- 5",
        "4"),
}


@pytest.mark.parametrize("name", ENTRIES)
def test_golden_rendering(name):
  spec = catalog.get(name)
  raw, inputs, targets = GOLDEN[name]
  example = catalog_checks.check_golden(spec, raw, inputs, targets)
  assert example.answers == (targets,)


# ---- Adapters on hand-made raw examples. ---------------------------------------------------------


def test_anli_context_becomes_the_premise():
  record = adapters.adapt(catalog.get("anli_r1"), ANLI_RAW)
  assert record == {"premise": "Mount Kenya is the second-highest mountain in Africa.",
                    "hypothesis": "Mount Kenya is in Africa.", "options": NLI3,
                    "answer": "yes", "answers": ["yes"]}


@pytest.mark.parametrize("label,expected", [(0, "yes"), (1, "it is not possible to tell"),
                                            (2, "no")])
def test_snli_labels(label, expected):
  raw = _nli(b"Two kids play chess.", b"Children are playing a game.", label)
  assert adapters.adapt(catalog.get("snli"), raw)["answer"] == expected


def test_snli_drops_examples_without_a_gold_label():
  raw = _nli(b"Two kids play chess.", b"Children are playing a game.", -1)
  assert adapters.adapt(catalog.get("snli"), raw) is None


@pytest.mark.parametrize("score,expected", [
    (0.0, "0"), (0.49, "0"), (0.5, "1"), (2.5, "3"), (2.49, "2"), (3.8, "4"), (4.6, "5"),
    (5.0, "5"),
])
def test_stsb_rounds_the_score_to_the_nearest_integer(score, expected):
  raw = _pair(b" A cat sleeps. ", b"A cat is sleeping.", np.float32(score), idx=np.int32(0))
  record = adapters.adapt(catalog.get("stsb"), raw)
  assert record["options"] == ["0", "1", "2", "3", "4", "5"]
  assert record["answer"] == expected and record["answers"] == [expected]
  assert record["sentence1"] == "A cat sleeps." and record["sentence2"] == "A cat is sleeping."
  assert math.isclose(record["score"], float(np.float32(score)))


@pytest.mark.parametrize("score", [-1.0, 5.2, float("nan")])
def test_stsb_drops_unlabeled_or_out_of_range_scores(score):
  raw = _pair(b"A cat sleeps.", b"A cat is sleeping.", np.float32(score), idx=np.int32(0))
  assert adapters.adapt(catalog.get("stsb"), raw) is None


def test_stsb_inverted_template_names_the_score():
  spec = catalog.get("stsb")
  record = adapters.adapt(spec, GOLDEN["stsb"][0])
  example = render.render(spec.templates[8], record)
  assert "is 4 on a scale" in example.inputs
  assert example.targets == "A man plays the guitar loudly."
  assert example.inverted and example.options == ()


# ---- Templates. ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ENTRIES)
def test_label_conditioned_inversions_see_only_their_label(name):
  spec = catalog.get(name)
  record = adapters.adapt(spec, GOLDEN[name][0])
  for t in spec.templates:
    if t.label is not None:
      assert t.inverted
      assert t.label in record["options"]
      assert t.accepts(record) == (t.label == record["answer"])


def test_three_way_entries_have_one_inversion_per_label():
  for name in ("anli_r1", "anli_r2", "anli_r3", "cb", "mnli_matched", "mnli_mismatched", "snli"):
    spec = catalog.get(name)
    assert sorted(t.label for t in spec.templates if t.inverted) == sorted(NLI3), name

