"""The Misc. cluster entries (coqa, quac, trec, cola, wic, math_dataset, fix_punctuation), offline.

Raw examples come from `tfds.testing.mock_data` (random values shaped by the builder's own
features, no download), go through the entry's adapter and every template. Hand-made raw examples
pin the adapters (drop cases included) and one exact rendering of template 0 per entry.
"""

import catalog_checks
import numpy as np
import pytest

from flan.data import adapters, catalog, render
from flan.data.adapters import misc

ENTRIES = ("coqa", "quac", "trec", "cola", "wic", "math_dataset", "fix_punctuation")


def _pair_coqa_turns(raw):
  """Mock CoQA draws the question and answer counts independently: trim both to the shorter."""
  answers = raw["answers"]
  n = max(1, min(len(raw["questions"]), len(answers["input_text"])))
  return {**raw, "questions": raw["questions"][:n],
          "answers": {k: np.asarray(v)[:n] for k, v in answers.items()}}


def _punctuate(raw):
  """Mock ParaCrawl sentences have no punctuation (nothing to fix): make them a real sentence."""
  return {**raw, "en": b"Well, " + raw["en"].strip() + b"!"}


FIXUPS = {"coqa": _pair_coqa_turns, "fix_punctuation": _punctuate}


@pytest.fixture(scope="module")
def mock_records():
  """entry name -> canonical records adapted from mock TFDS data."""
  return {name: catalog_checks.mock_records(catalog.get(name), fixup=FIXUPS.get(name))
          for name in ENTRIES}


@pytest.mark.parametrize("name", ENTRIES)
def test_entry_loads_and_is_well_formed(name):
  spec = catalog.get(name)
  assert spec.name == name and spec.cluster == "misc" and spec.collection == "flan"
  assert not spec.eval_only and not spec.manual_download
  assert len(spec.templates) == catalog.NUM_TEMPLATES
  assert spec.templates[0].uses_options == (spec.type == "classification")
  assert 1 <= sum(t.inverted for t in spec.templates) <= catalog.MAX_INVERTED
  assert set(spec.splits) == {"train", "validation", "test"}


@pytest.mark.parametrize("name,builder,kind,metric", [
    ("coqa", "coqa:1.0.0", "generation", "squad"),
    ("quac", "quac:1.0.0", "generation", "squad"),
    ("trec", "trec:1.0.0", "classification", "accuracy"),
    ("cola", "glue/cola:2.0.0", "classification", "accuracy_matthews"),
    ("wic", "super_glue/wic:1.0.2", "classification", "accuracy"),
    ("math_dataset", "math_dataset/algebra__linear_1d:1.0.0", "generation", "exact_match"),
    ("fix_punctuation", "para_crawl/enda:1.2.0", "generation", "edit_distance"),
])
def test_builder_type_and_metric(name, builder, kind, metric):
  spec = catalog.get(name)
  assert (spec.tfds_full_name, spec.type, spec.metric) == (builder, kind, metric)


@pytest.mark.parametrize("name", ENTRIES)
def test_every_template_renders_mock_data(name, mock_records):
  catalog_checks.check_renders_every_template(catalog.get(name), mock_records[name])


def test_splits_follow_the_recipe():
  s_200 = {"train": "train[:-200]", "validation": "train[-200:]", "test": "validation"}
  assert catalog.get("cola").splits == s_200
  assert catalog.get("wic").splits == s_200
  assert catalog.get("trec").splits == {**s_200, "test": "test"}
  assert catalog.get("coqa").splits == {"train": "train[:-100]", "validation": "train[-100:]",
                                        "test": "test"}
  assert catalog.get("quac").splits == {"train": "train[:30000]", "validation": "train[-4000:]",
                                        "test": "validation"}
  assert catalog.get("math_dataset").splits == {"train": "train[:30000]",
                                                "validation": "train[-200:]", "test": "test"}
  assert catalog.get("fix_punctuation").splits == {
      "train": "train[30200:60200]", "validation": "train[60200:60400]", "test": "train[-3000:]"}


def test_fix_punctuation_slices_are_disjoint():
  """Train and validation are consecutive slices of ParaCrawl's only split; test is its tail."""
  splits = catalog.get("fix_punctuation").splits

  def bounds(split):
    start, end = split[len("train["):-1].split(":")
    return int(start), int(end)

  train, validation = bounds(splits["train"]), bounds(splits["validation"])
  assert train[1] - train[0] == 30000 and validation[1] - validation[0] == 200
  assert train[1] <= validation[0]
  assert splits["test"] == "train[-3000:]"  # ParaCrawl en-da has far more than 63,400 pairs


# ---- Golden renderings: template 0 of each entry on a hand-made raw example. --------------------

GOLDEN = {
    "coqa": (
        {"source": b"mctest", "story": b"Tom has a red bike. He rides it to school.",
         "questions": np.array([b"What color is the bike?", b"Where does he ride it?"],
                               dtype=object),
         "answers": {"input_text": np.array([b"red", b"to school"], dtype=object),
                     "answer_start": np.array([8, 24], dtype=np.int32),
                     "answer_end": np.array([18, 41], dtype=np.int32)}},
        "Tom has a red bike. He rides it to school.\n\nAnswer the numbered questions about the "
        "text.\n1. What color is the bike?\n2. Where does he ride it?",
        "1. red\n2. to school"),
    "quac": (
        {"title": b"Ada Lovelace", "section_title": b"Early life",
         "background": b"Ada Lovelace was an English mathematician.",
         "context": b"Ada was born in London in 1815. CANNOTANSWER",
         "question": b"Where was she born?", "followup": b"y", "yesno": b"x",
         "answers": {"text": np.array([b"in London"], dtype=object),
                     "answer_start": np.array([13], dtype=np.int32)},
         "orig_answer": {"text": b"in London", "answer_start": np.int32(13)}},
        "Ada was born in London in 1815.\n\nAnswer the question using the text above: "
        "Where was she born?",
        "in London"),
    "trec": (
        {"label-coarse": np.int64(5), "label-fine": np.int64(21),
         "text": b"What city hosted the 1992 Olympics ?"},
        "What city hosted the 1992 Olympics ?\n\nWhat kind of answer does this question ask for?"
        "\n\nOPTIONS:\n- description\n- entity\n- abbreviation\n- human\n- number\n- location",
        "location"),
    "cola": (
        {"sentence": b"The book was written by John.", "label": np.int64(1), "idx": np.int32(0)},
        "The book was written by John.\n\nIs this sentence grammatically acceptable?\n\n"
        "OPTIONS:\n- unacceptable\n- acceptable",
        "acceptable"),
    "wic": (
        {"word": b"bank", "sentence1": b"He sat on the river bank.",
         "sentence2": b"She deposited cash at the bank.", "start1": np.int32(20),
         "end1": np.int32(24), "start2": np.int32(26), "end2": np.int32(30),
         "idx": np.int32(0), "label": np.int64(0)},
        "He sat on the river bank.\nShe deposited cash at the bank.\n\nIn the two sentences above, "
        "is the word \"bank\" used with the same meaning or with different meanings?\n\n"
        "OPTIONS:\n- different meanings\n- the same meaning",
        "different meanings"),
    "math_dataset": (
        {"question": b"Solve 3*x + 2 = 11 for x.", "answer": b"3"},
        "Solve this problem.\n\nSolve 3*x + 2 = 11 for x.",
        "3"),
    "fix_punctuation": (
        {"en": b"Hello, world! It's a nice day.", "da": b"Hej, verden! Det er en dejlig dag."},
        "Fix the punctuation and capitalization of this text.\n\nhello world its a nice day",
        "Hello, world! It's a nice day."),
}


@pytest.mark.parametrize("name", ENTRIES)
def test_golden_rendering(name):
  spec = catalog.get(name)
  raw, inputs, targets = GOLDEN[name]
  catalog_checks.check_golden(spec, raw, inputs, targets)


# ---- CoQA. --------------------------------------------------------------------------------------


def _coqa_raw(questions, answers):
  return {"source": b"race", "story": b"  A short story.  ",
          "questions": np.array(questions, dtype=object),
          "answers": {"input_text": np.array(answers, dtype=object),
                      "answer_start": np.zeros(len(answers), dtype=np.int32),
                      "answer_end": np.zeros(len(answers), dtype=np.int32)}}


def test_coqa_adapter_numbers_questions_and_answers():
  raw = _coqa_raw([b"Who?", b"What?", b"Why?"], [b"Ann ", b"a cat", b"no reason"])
  record = adapters.adapt(catalog.get("coqa"), raw)
  assert record == {"story": "A short story.", "questions": "1. Who?\n2. What?\n3. Why?",
                    "answer": "1. Ann\n2. a cat\n3. no reason",
                    "answers": ["1. Ann\n2. a cat\n3. no reason"]}


@pytest.mark.parametrize("questions,answers", [
    ([], []),                                   # no questions
    ([b"Who?", b"What?"], [b"Ann"]),            # turns do not pair up
    ([b"Who?"], [b"Ann", b"a cat"]),
    ([b"Who?", b"What?"], [b"Ann", b"  "]),     # an empty answer
])
def test_coqa_adapter_drops_unusable_stories(questions, answers):
  assert adapters.adapt(catalog.get("coqa"), _coqa_raw(questions, answers)) is None


def test_coqa_inverted_template_writes_the_questions():
  spec = catalog.get("coqa")
  record = adapters.adapt(spec, GOLDEN["coqa"][0])
  example = render.render(spec.templates[-1], record)
  assert example.inverted and example.targets == record["questions"]
  assert record["answer"] in example.inputs


# ---- QuAC. --------------------------------------------------------------------------------------


def _quac_raw(orig, texts, context=b"She lived in Paris. CANNOTANSWER"):
  return {"title": b"Marie Curie", "section_title": b"Later years",
          "background": b"Marie Curie was a physicist.", "context": context,
          "question": b"Where did she live?", "followup": b"m", "yesno": b"x",
          "answers": {"text": np.array(texts, dtype=object),
                      "answer_start": np.zeros(len(texts), dtype=np.int32)},
          "orig_answer": {"text": orig, "answer_start": np.int32(0)}}


def test_quac_adapter_strips_the_no_answer_token_from_the_context():
  record = adapters.adapt(catalog.get("quac"), _quac_raw(b"in Paris", [b"in Paris"]))
  assert record["context"] == "She lived in Paris."
  assert record["title"] == "Marie Curie" and record["section_title"] == "Later years"
  assert record["background"] == "Marie Curie was a physicist."
  assert record["question"] == "Where did she live?"
  assert record["answer"] == "in Paris" and record["answers"] == ["in Paris"]


def test_quac_adapter_keeps_every_annotated_answer_original_first():
  raw = _quac_raw(b"She lived in Paris", [b"in Paris", b"She lived in Paris", b"Paris"])
  record = adapters.adapt(catalog.get("quac"), raw)
  assert record["answer"] == "She lived in Paris"
  assert record["answers"] == ["She lived in Paris", "in Paris", "Paris"]


def test_quac_adapter_spells_out_unanswerable():
  raw = _quac_raw(b"CANNOTANSWER", [b"CANNOTANSWER", b"CANNOTANSWER"])
  record = adapters.adapt(catalog.get("quac"), raw)
  assert record["answer"] == misc.QUAC_NO_ANSWER == "unanswerable"
  assert record["answers"] == ["unanswerable"]


def test_quac_adapter_keeps_a_context_without_the_token():
  raw = _quac_raw(b"in Paris", [], context=b"She lived in Paris.")
  record = adapters.adapt(catalog.get("quac"), raw)
  assert record["context"] == "She lived in Paris." and record["answers"] == ["in Paris"]


@pytest.mark.parametrize("context", [b"CANNOTANSWER", b"   "])
def test_quac_adapter_drops_an_empty_context(context):
  assert adapters.adapt(catalog.get("quac"), _quac_raw(b"x", [b"x"], context=context)) is None


# ---- TREC, CoLA, WiC (declarative). ------------------------------------------------------------


@pytest.mark.parametrize("label,expected", list(enumerate(
    ["description", "entity", "abbreviation", "human", "number", "location"])))
def test_trec_coarse_labels_follow_the_builder_order(label, expected):
  # TFDS coarse ClassLabel order: DESC, ENTY, ABBR, HUM, NUM, LOC.
  raw = {"label-coarse": np.int64(label), "label-fine": np.int64(0), "text": b"Who is he ?"}
  record = adapters.adapt(catalog.get("trec"), raw)
  assert record["answer"] == expected and record["text"] == "Who is he ?"
  assert len(record["options"]) == 6


@pytest.mark.parametrize("label,expected", [(0, "unacceptable"), (1, "acceptable"), (-1, None)])
def test_cola_labels(label, expected):
  # GLUE's unlabelled test split carries -1: dropped.
  raw = {"sentence": b"Him went home.", "label": np.int64(label), "idx": np.int32(1)}
  record = adapters.adapt(catalog.get("cola"), raw)
  assert (record and record["answer"]) == expected


@pytest.mark.parametrize("label,expected", [(0, "different meanings"), (1, "the same meaning"),
                                            (-1, None)])
def test_wic_labels(label, expected):
  raw = dict(GOLDEN["wic"][0], label=np.int64(label))
  record = adapters.adapt(catalog.get("wic"), raw)
  assert (record and record["answer"]) == expected
  if record:
    assert (record["word"], record["sentence2"]) == ("bank", "She deposited cash at the bank.")


@pytest.mark.parametrize("name,label,index", [
    ("cola", 1, 8), ("cola", 0, 9), ("wic", 1, 8), ("wic", 0, 9)])
def test_label_conditioned_inversions_see_only_their_label(name, label, index):
  spec = catalog.get(name)
  raw = dict(GOLDEN[name][0], label=np.int64(label))
  record = adapters.adapt(spec, raw)
  template = spec.templates[index]
  assert template.inverted and template.label == record["answer"]
  assert template.accepts(record)
  assert not spec.templates[17 - index].accepts(record)


# ---- Math. --------------------------------------------------------------------------------------


@pytest.mark.parametrize("value,expected", [
    (b"Solve 0 = 4*b + 8 for b.", "Solve 0 = 4*b + 8 for b."),
    (b"b'Solve 0 = 4*b + 8 for b.\\n'", "Solve 0 = 4*b + 8 for b."),
    (b"b'-2\\n'", "-2"),
    (b"b\"Let's solve 2*x = 4 for x.\\n\"", "Let's solve 2*x = 4 for x."),
    (b"b'7'", "7"),
    ("-2\n", "-2"),
])
def test_math_text_loses_bytes_artefacts(value, expected):
  assert misc.clean_math_text(value) == expected


def test_math_adapter():
  raw = {"question": b"b'Solve -3*k = -12 for k.\\n'", "answer": b"b'4\\n'"}
  record = adapters.adapt(catalog.get("math_dataset"), raw)
  assert record == {"question": "Solve -3*k = -12 for k.", "answer": "4", "answers": ["4"]}


@pytest.mark.parametrize("raw", [{"question": b"", "answer": b"4"},
                                 {"question": b"Solve x = 4 for x.", "answer": b"b'\\n'"}])
def test_math_adapter_drops_empty_questions_or_answers(raw):
  assert adapters.adapt(catalog.get("math_dataset"), raw) is None


# ---- Fix punctuation. ---------------------------------------------------------------------------


@pytest.mark.parametrize("sentence,bare", [
    (b"Hello, world!", "hello world"),
    (b"Prices - from 10 EUR - are (very) low.", "prices from 10 eur are very low"),
    ("Café \"Øresund\": open 9-17.".encode(), "café øresund open 917"),
])
def test_fix_punctuation_adapter(sentence, bare):
  record = adapters.adapt(catalog.get("fix_punctuation"), {"en": sentence, "da": b"-"})
  assert record == {"unpunctuated": bare, "answer": sentence.decode(),
                    "answers": [sentence.decode()]}


@pytest.mark.parametrize("sentence", [b"No punctuation here", b"lower case only", b" ... !", b""])
def test_fix_punctuation_drops_nothing_to_fix_or_nothing_left(sentence):
  assert adapters.adapt(catalog.get("fix_punctuation"), {"en": sentence, "da": b"x"}) is None


def test_fix_punctuation_inverted_template_strips_the_sentence():
  spec = catalog.get("fix_punctuation")
  record = adapters.adapt(spec, GOLDEN["fix_punctuation"][0])
  example = render.render(spec.templates[-1], record)
  assert example.inverted and example.targets == "hello world its a nice day"
  assert example.inputs.startswith("Hello, world! It's a nice day.")
