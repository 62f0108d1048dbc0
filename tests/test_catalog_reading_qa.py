"""Reading-comprehension and QA catalog entries, offline.

drop, multirc, openbookqa, squad_v2 (reading comprehension); cosmos_qa, record (reading
comprehension with commonsense); arc_challenge, natural_questions, trivia_qa (closed-book QA).
Raw examples come from `tfds.testing.mock_data` (no download) and go through every template;
hand-made raw examples pin each adapter, its drop cases and one exact rendering per entry.
"""

import functools
import itertools
import re

import catalog_checks
import numpy as np
import pytest

from flan.data import adapters, catalog, render
from flan.data.adapters import reading_comprehension as rc

ENTRIES = ("drop", "multirc", "openbookqa", "squad_v2", "cosmos_qa", "record", "arc_challenge",
           "natural_questions", "trivia_qa")
CLUSTERS = {"drop": "reading_comprehension", "multirc": "reading_comprehension",
            "openbookqa": "reading_comprehension", "squad_v2": "reading_comprehension",
            "cosmos_qa": "reading_comprehension_with_commonsense",
            "record": "reading_comprehension_with_commonsense",
            "arc_challenge": "closed_book_qa", "natural_questions": "closed_book_qa",
            "trivia_qa": "closed_book_qa"}


@functools.lru_cache(maxsize=None)
def _spec(name):
  """The entry loaded from its own file (other entries of the catalog may be mid-edit)."""
  return catalog.load_entry(catalog.templates_dir() / f"{name}.yaml")


def _obj(*values):
  """A TFDS text sequence: an object array of bytes."""
  return np.array([v.encode() if isinstance(v, str) else v for v in values], dtype=object)


# ---- Mock-data fixups: what random mock values cannot satisfy. ----------------------------------


def _arc_four_choices(raw):
  """Mock ARC examples have a random number of choices: trim to four, keys A-D, a valid answer."""
  return {**raw, "choices": {"text": raw["choices"]["text"][:4], "label": np.arange(4)},
          "answerKey": np.int64(int(raw["answerKey"]) % 4)}


def _record_gold_entities(raw):
  """Mock ReCoRD answers are unrelated to the entities: make the first two entities gold."""
  entities = list(raw["entities"]) or [b"Entity"]
  return {**raw, "entities": _obj(*entities),
          "passage": raw["passage"] + b"\n@highlight\nA highlight\n@highlight\nAnother one",
          "query": b"Something about @placeholder " + raw["query"],
          "answers": _obj(*entities[:2])}


_squad_v2_count = itertools.count()


def _squad_v2_alternate(raw):
  """Alternates answerable and unanswerable mock questions so both paths render."""
  return {**raw, "is_impossible": np.bool_(next(_squad_v2_count) % 2)}


FIXUPS = {"arc_challenge": _arc_four_choices, "record": _record_gold_entities,
          "squad_v2": _squad_v2_alternate}


@pytest.fixture(scope="module")
def mock_records():
  """entry name -> canonical records adapted from mock TFDS data."""
  return {name: catalog_checks.mock_records(_spec(name), fixup=FIXUPS.get(name))
          for name in ENTRIES}


@pytest.mark.parametrize("name", ENTRIES)
def test_entry_loads_and_is_well_formed(name):
  spec = _spec(name)
  assert spec.collection == "flan"
  assert spec.cluster == CLUSTERS[name]
  assert not spec.manual_download and not spec.eval_only
  assert len(spec.templates) == catalog.NUM_TEMPLATES
  assert spec.templates[0].uses_options == (spec.type == "classification")
  assert 1 <= sum(t.inverted for t in spec.templates) <= catalog.MAX_INVERTED


@pytest.mark.parametrize("name", ENTRIES)
def test_every_template_renders_mock_data(name, mock_records):
  catalog_checks.check_renders_every_template(_spec(name), mock_records[name])


def test_builders_versions_types_and_metrics():
  expected = {
      "drop": ("drop:2.0.0", "generation", "drop"),
      "multirc": ("super_glue/multirc:1.0.2", "classification", "multirc"),
      "openbookqa": ("openbookqa:0.1.0", "classification", "accuracy"),
      "squad_v2": ("squad/v2.0:3.0.0", "generation", "squad_v2"),
      "cosmos_qa": ("cosmos_qa:1.0.0", "classification", "accuracy"),
      "record": ("super_glue/record:1.0.2", "classification", "record"),
      "arc_challenge": ("ai2_arc/ARC-Challenge:1.0.0", "classification", "accuracy"),
      "natural_questions": ("natural_questions_open:1.0.0", "generation", "squad"),
      "trivia_qa": ("trivia_qa/rc:1.1.0", "generation", "squad"),
  }
  for name, (full_name, entry_type, metric) in expected.items():
    spec = _spec(name)
    assert (spec.tfds_full_name, spec.type, spec.metric) == (full_name, entry_type, metric), name


def test_splits_follow_the_recipe():
  s30 = {"train": "train[:30000]", "validation": "train[-200:]", "test": "validation"}
  s_200 = {"train": "train[:-200]", "validation": "train[-200:]", "test": "validation"}
  assert _spec("drop").splits == {**s30, "validation": "train[-4000:]", "test": "dev"}
  # carved by passage (catalog `carve`): a validation slice about 200 held-out rows deep
  assert _spec("multirc").splits == {"train": "train[:-2000]", "validation": "train[-2000:]",
                                     "test": "validation"}
  assert _spec("openbookqa").splits == {"train": "train", "validation": "validation[:200]",
                                              "test": "test"}
  for name in ("natural_questions", "trivia_qa"):
    assert _spec(name).splits == s30, name
  for name in ("squad_v2", "record"):
    assert _spec(name).splits == {**s30, "validation": "train[-4000:]"}, name
  assert _spec("cosmos_qa").splits == s_200
  assert _spec("arc_challenge").splits == {**s_200, "test": "test"}


# Published sizes of the split the train/validation slices carve (for the disjointness check).
SOURCE_SIZES = {"drop": 77409, "multirc": 27243, "squad_v2": 130319, "cosmos_qa": 25262,
                "record": 100730, "arc_challenge": 1119, "natural_questions": 87925,
                "trivia_qa": 138384}
_SLICE = re.compile(r"^(\w+)\[(-?\d*):(-?\d*)\]$")


def _indices(split: str, size: int) -> range:
  """The example indices a TFDS slice like 'train[:-200]' reads from a split of `size`."""
  match = _SLICE.match(split)
  assert match, split
  start, stop = (int(v) if v else None for v in match.group(2, 3))
  return range(size)[start:stop]


@pytest.mark.parametrize("name", sorted(SOURCE_SIZES))
def test_train_and_validation_carve_outs_are_disjoint(name):
  splits = _spec(name).splits
  assert splits["train"].split("[")[0] == splits["validation"].split("[")[0] == "train"
  train = _indices(splits["train"], SOURCE_SIZES[name])
  validation = _indices(splits["validation"], SOURCE_SIZES[name])
  carve = _spec(name).carve
  held_out = len(validation) * carve.percent // 100 if carve else len(validation)
  assert len(train) > 0 and held_out == 200
  assert train.stop <= validation.start


@pytest.mark.parametrize("name,by", [("multirc", "idx/paragraph"), ("record", "passage"),
                                     ("squad_v2", "context"), ("drop", "passage")])
def test_shared_passages_are_carved_by_passage(name, by):
  """Questions on one passage are many rows: validation is carved by passage, not by row."""
  assert _spec(name).carve.by == by


def test_openbookqa_uses_separate_splits():
  splits = _spec("openbookqa").splits
  assert len({s.split("[")[0] for s in splits.values()}) == 3


def test_adapter_kinds():
  assert _spec("arc_challenge").adapter["function"] == "arc"
  assert "function" not in _spec("natural_questions").adapter
  for name in ("drop", "multirc", "openbookqa", "squad_v2", "cosmos_qa", "record", "trivia_qa"):
    assert _spec(name).adapter["function"] == name


# ---- Hand-made raw examples, shaped like the builders' features. --------------------------------

DROP_RAW = {"passage": b"The Bears scored 7 points in the first quarter and 10 in the second.",
            "question": b"How many points did the Bears score in the first half?",
            "answer": b"17", "validated_answers": _obj("17", "seventeen", "17"),
            "query_id": b"q0"}
MULTIRC_RAW = {"paragraph": b"Sam bought apples and pears. He ate the pears first.",
               "question": b"What did Sam buy?", "answer": b"Apples and pears",
               "idx": {"paragraph": np.int32(3), "question": np.int32(12), "answer": np.int32(40)},
               "label": np.int64(1)}
OPENBOOKQA_RAW = {"question": {"stem": b"A magnet will stick to",
                               "choice_A": b"a wooden spoon", "choice_B": b"an iron nail",
                               "choice_C": b"a glass cup", "choice_D": b"a rubber band"},
                  "fact1": b"magnets attract iron", "humanScore": np.float32(1.0),
                  "clarity": np.float32(2.0), "turkIdAnonymized": b"x", "answerKey": np.int64(1)}
SQUAD_V2_RAW = {"id": b"s1", "title": b"Super_Bowl_50",
                "context": b"The Denver Broncos won Super Bowl 50.",
                "question": b"Who lost Super Bowl 50?", "is_impossible": np.True_,
                "answers": {"text": _obj(), "answer_start": np.array([], dtype=np.int32)},
                "plausible_answers": {"text": _obj("Denver Broncos"),
                                      "answer_start": np.array([4], dtype=np.int32)}}
COSMOS_QA_RAW = {"id": b"c1", "context": b"I missed the bus again, so I walked to work in the rain.",
                 "question": b"Why did I walk to work?",
                 "answer0": b"Because I missed the bus.", "answer1": b"Because I like rain.",
                 "answer2": b"Because my car is new.", "answer3": b"None of the above choices.",
                 "label": np.int64(0)}
RECORD_RAW = {"passage": b"Lionel Messi scored twice as Barcelona beat Real Madrid.\n@highlight\n"
                         b"Messi scores a brace\n@highlight\nBarcelona go top of the table!",
              "query": b"@placeholder are now three points clear at the top.",
              "entities": _obj("Barcelona", "Lionel Messi", "Messi", "Real Madrid"),
              "answers": _obj("Barcelona"),
              "idx": {"passage": np.int32(0), "query": np.int32(0)}}
ARC_CHALLENGE_RAW = {"id": b"a1", "question": b"Which process turns liquid water into vapor?",
                     "choices": {"text": _obj("condensation", "evaporation", "freezing",
                                              "melting"),
                                 "label": np.array([0, 1, 2, 3])},
                     "answerKey": np.int64(1)}
NQ_RAW = {"question": b"who wrote the novel moby dick",
          "answer": _obj("Herman Melville", "Melville")}
TRIVIA_QA_RAW = {"question": b"Which planet is known as the Red Planet?", "question_id": b"t1",
                 "question_source": b"http://example.com",
                 "entity_pages": {"doc_source": _obj(), "filename": _obj(), "title": _obj(),
                                  "wiki_context": _obj()},
                 "search_results": {"description": _obj(), "filename": _obj(),
                                    "rank": np.array([], dtype=np.int32), "title": _obj(),
                                    "url": _obj(), "search_context": _obj()},
                 "answer": {"aliases": _obj("Mars", "The Red Planet"),
                            "normalized_aliases": _obj("mars", "red planet", "mars"),
                            "matched_wiki_entity_name": b"", "normalized_matched_wiki_entity_name":
                            b"", "normalized_value": b"mars", "type": b"WikipediaEntity",
                            "value": b"Mars"}}

GOLDEN = {
    "drop": (
        DROP_RAW,
        "Passage: The Bears scored 7 points in the first quarter and 10 in the second.\n\n"
        "Question: How many points did the Bears score in the first half?\n\nAnswer:",
        "17"),
    "multirc": (
        MULTIRC_RAW,
        "Paragraph: Sam bought apples and pears. He ate the pears first.\n\n"
        "Question: What did Sam buy?\n\nCandidate answer: Apples and pears\n\n"
        "Is the candidate answer correct?\n\nOPTIONS:\n- no\n- yes",
        "yes"),
    "openbookqa": (
        OPENBOOKQA_RAW,
        "Fact: magnets attract iron\n\nQuestion: A magnet will stick to\n\n"
        "OPTIONS:\n- a wooden spoon\n- an iron nail\n- a glass cup\n- a rubber band",
        "an iron nail"),
    "squad_v2": (
        SQUAD_V2_RAW,
        "Passage: The Denver Broncos won Super Bowl 50.\n\nQuestion: Who lost Super Bowl 50?\n\n"
        "Answer (or \"unanswerable\"):",
        "unanswerable"),
    "cosmos_qa": (
        COSMOS_QA_RAW,
        "I missed the bus again, so I walked to work in the rain.\n\n"
        "Question: Why did I walk to work?\n\nOPTIONS:\n- Because I missed the bus.\n"
        "- Because I like rain.\n- Because my car is new.\n- None of the above choices.",
        "Because I missed the bus."),
    "record": (
        RECORD_RAW,
        "Lionel Messi scored twice as Barcelona beat Real Madrid.\n\n"
        "Messi scores a brace. Barcelona go top of the table!\n\n"
        "Fill in the blank: ___ are now three points clear at the top.\n\n"
        "OPTIONS:\n- Barcelona\n- Lionel Messi\n- Messi\n- Real Madrid",
        "Barcelona"),
    "arc_challenge": (
        ARC_CHALLENGE_RAW,
        "Question: Which process turns liquid water into vapor?\n\n"
        "OPTIONS:\n- condensation\n- evaporation\n- freezing\n- melting",
        "evaporation"),
    "natural_questions": (
        NQ_RAW, "Question: who wrote the novel moby dick\n\nAnswer:", "Herman Melville"),
    "trivia_qa": (
        TRIVIA_QA_RAW, "Question: Which planet is known as the Red Planet?\n\nAnswer:", "Mars"),
}


@pytest.mark.parametrize("name", ENTRIES)
def test_golden_rendering(name):
  spec = _spec(name)
  raw, inputs, targets = GOLDEN[name]
  catalog_checks.check_golden(spec, raw, inputs, targets)


def _adapt(name, raw, **changes):
  return adapters.adapt(_spec(name), {**raw, **changes})


# ---- DROP. ---------------------------------------------------------------------------------------


def test_drop_adapter_keeps_distinct_answers_in_order():
  assert _adapt("drop", DROP_RAW) == {
      "passage": DROP_RAW["passage"].decode(), "question": DROP_RAW["question"].decode(),
      "answer": "17", "answers": ["17", "seventeen"]}


def test_drop_adapter_falls_back_to_validated_answers():
  record = _adapt("drop", DROP_RAW, answer=b"")
  assert record["answer"] == "17" and record["answers"] == ["17", "seventeen"]


def test_drop_adapter_drops_questions_without_any_answer():
  assert _adapt("drop", DROP_RAW, answer=b"", validated_answers=_obj()) is None
  assert _adapt("drop", DROP_RAW, answer=b"  ", validated_answers=_obj("")) is None


# ---- MultiRC. ------------------------------------------------------------------------------------


@pytest.mark.parametrize("label,expected", [(1, "yes"), (0, "no")])
def test_multirc_adapter_maps_label_and_keeps_ids(label, expected):
  record = _adapt("multirc", MULTIRC_RAW, label=np.int64(label))
  assert record == {"paragraph": "Sam bought apples and pears. He ate the pears first.",
                    "question": "What did Sam buy?", "response": "Apples and pears",
                    "question_id": "3-12", "answer_id": "40", "options": ["no", "yes"],
                    "answer": expected, "answers": [expected]}


def test_multirc_adapter_drops_unlabelled_pairs():
  assert _adapt("multirc", MULTIRC_RAW, label=np.int64(-1)) is None


def test_multirc_label_conditioned_inversions():
  spec = _spec("multirc")
  filtered = {t.label: t for t in spec.templates if t.label is not None}
  assert set(filtered) == {"yes", "no"}
  for label in (0, 1):
    record = _adapt("multirc", MULTIRC_RAW, label=np.int64(label))
    for t in filtered.values():
      assert t.inverted and t.accepts(record) == (t.label == record["answer"])
  wrong = _adapt("multirc", MULTIRC_RAW, label=np.int64(0))
  assert render.render(filtered["no"], wrong).targets == "Apples and pears"


# ---- OpenBookQA. ---------------------------------------------------------------------------------


@pytest.mark.parametrize("key,expected", [(0, "a wooden spoon"), (3, "a rubber band")])
def test_openbookqa_adapter_uses_choice_texts(key, expected):
  record = _adapt("openbookqa", OPENBOOKQA_RAW, answerKey=np.int64(key))
  assert record["fact"] == "magnets attract iron"
  assert record["question"] == "A magnet will stick to"
  assert record["options"] == ["a wooden spoon", "an iron nail", "a glass cup", "a rubber band"]
  assert record["answer"] == expected and record["answers"] == [expected]


def test_openbookqa_adapter_drops_out_of_range_keys():
  assert _adapt("openbookqa", OPENBOOKQA_RAW, answerKey=np.int64(-1)) is None
  assert _adapt("openbookqa", OPENBOOKQA_RAW, answerKey=np.int64(4)) is None


# ---- SQuAD v2. -----------------------------------------------------------------------------------


def test_squad_v2_unanswerable_gets_the_fixed_answer():
  record = _adapt("squad_v2", SQUAD_V2_RAW)
  assert record == {"title": "Super Bowl 50", "context": "The Denver Broncos won Super Bowl 50.",
                    "question": "Who lost Super Bowl 50?", "answer": rc.UNANSWERABLE,
                    "answers": [rc.UNANSWERABLE]}
  assert rc.UNANSWERABLE == "unanswerable"


def test_squad_v2_answerable_keeps_every_answer():
  answers = {"text": _obj("Denver Broncos", "The Denver Broncos"),
             "answer_start": np.array([4, 0], dtype=np.int32)}
  record = _adapt("squad_v2", SQUAD_V2_RAW, is_impossible=np.False_, answers=answers,
                  question=b"Who won Super Bowl 50?")
  assert record["answer"] == "Denver Broncos"
  assert record["answers"] == ["Denver Broncos", "The Denver Broncos"]


def test_squad_v2_drops_answerable_questions_without_answers():
  assert _adapt("squad_v2", SQUAD_V2_RAW, is_impossible=np.False_) is None


def test_squad_v2_unanswerable_inversion_sees_only_unanswerable():
  spec = _spec("squad_v2")
  (t,) = [t for t in spec.templates if t.label is not None]
  assert t.inverted and t.label == "unanswerable"
  assert t.accepts(_adapt("squad_v2", SQUAD_V2_RAW))
  answers = {"text": _obj("Denver Broncos"), "answer_start": np.array([4], dtype=np.int32)}
  answerable = _adapt("squad_v2", SQUAD_V2_RAW, is_impossible=np.False_, answers=answers)
  assert not t.accepts(answerable)


# ---- CosmosQA. -----------------------------------------------------------------------------------


def test_cosmos_qa_adapter_uses_the_four_answers():
  record = _adapt("cosmos_qa", COSMOS_QA_RAW, label=np.int64(2))
  assert record["options"] == ["Because I missed the bus.", "Because I like rain.",
                               "Because my car is new.", "None of the above choices."]
  assert record["answer"] == "Because my car is new."
  assert record["context"] == COSMOS_QA_RAW["context"].decode()


def test_cosmos_qa_adapter_drops_unlabelled_examples():
  assert _adapt("cosmos_qa", COSMOS_QA_RAW, label=np.int64(-1)) is None


# ---- ReCoRD. -------------------------------------------------------------------------------------


def test_record_adapter_fills_and_blanks_the_query():
  record = _adapt("record", RECORD_RAW)
  assert record == {
      "passage": "Lionel Messi scored twice as Barcelona beat Real Madrid.\n\n"
                 "Messi scores a brace. Barcelona go top of the table!",
      "query": "___ are now three points clear at the top.",
      "filled_query": "Barcelona are now three points clear at the top.",
      "options": ["Barcelona", "Lionel Messi", "Messi", "Real Madrid"],
      "answer": "Barcelona", "answers": ["Barcelona"]}


def test_record_adapter_keeps_every_gold_entity():
  record = _adapt("record", RECORD_RAW, answers=_obj("Real Madrid", "Messi", "Lionel Messi"),
                  query=b"@placeholder scored twice.")
  assert record["answer"] == "Real Madrid"
  assert record["answers"] == ["Real Madrid", "Messi", "Lionel Messi"]
  assert record["filled_query"] == "Real Madrid scored twice."


def test_record_adapter_targets_a_gold_entity_that_is_an_option():
  record = _adapt("record", RECORD_RAW, answers=_obj("FC Barcelona", "Barcelona"))
  assert record["answer"] == "Barcelona"
  assert record["answers"] == ["Barcelona", "FC Barcelona"]


@pytest.mark.parametrize("answers", [_obj(), _obj("Atletico")])
def test_record_adapter_drops_queries_without_a_usable_gold_entity(answers):
  assert _adapt("record", RECORD_RAW, answers=answers) is None


@pytest.mark.parametrize("passage,expected", [
    ("Text here.\n@highlight\nPoint one\n@highlight\nPoint two?",
     "Text here.\n\nPoint one. Point two?"),
    ("Text without highlights.", "Text without highlights."),
    ("Text.\n@highlight\n\n@highlight\nOnly \"this\"", "Text.\n\nOnly \"this\""),
])
def test_record_passage_turns_highlights_into_sentences(passage, expected):
  assert rc.record_passage(passage) == expected
  assert "@highlight" not in rc.record_passage(passage)


# ---- ARC-Challenge (the shared `arc` adapter). ---------------------------------------------------


def test_arc_challenge_drops_questions_without_four_choices():
  three = {"text": _obj("a", "b", "c"), "label": np.array([0, 1, 2])}
  assert _adapt("arc_challenge", ARC_CHALLENGE_RAW, choices=three) is None
  five = {"text": _obj("a", "b", "c", "d", "e"), "label": np.arange(5)}
  assert _adapt("arc_challenge", ARC_CHALLENGE_RAW, choices=five) is None


# ---- Natural Questions (declarative) and TriviaQA. -----------------------------------------------


def test_natural_questions_keeps_every_answer_and_drops_empty():
  assert _adapt("natural_questions", NQ_RAW) == {
      "question": "who wrote the novel moby dick", "answer": "Herman Melville",
      "answers": ["Herman Melville", "Melville"]}
  assert _adapt("natural_questions", NQ_RAW, answer=_obj()) is None


def test_trivia_qa_targets_the_value_and_accepts_normalized_aliases():
  assert _adapt("trivia_qa", TRIVIA_QA_RAW) == {
      "question": "Which planet is known as the Red Planet?", "answer": "Mars",
      "answers": ["Mars", "mars", "red planet"]}


def test_trivia_qa_falls_back_to_aliases_and_drops_unanswered():
  answer = {**TRIVIA_QA_RAW["answer"], "value": b""}
  assert _adapt("trivia_qa", TRIVIA_QA_RAW, answer=answer)["answer"] == "mars"
  empty = {**answer, "aliases": _obj(), "normalized_aliases": _obj()}
  assert _adapt("trivia_qa", TRIVIA_QA_RAW, answer=empty) is None  # the test split
