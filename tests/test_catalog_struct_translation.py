"""The struct-to-text (GEM) and translation (ParaCrawl, WMT) catalog entries, offline.

Raw examples come from `tfds.testing.mock_data` (random values shaped by the builder's own
features, no download; this works for the WMT builders too, although they declare manual
downloads); hand-made raw examples pin the adapters, their drop rules and one exact rendering of
template 0 per entry.
"""

import catalog_checks
import numpy as np
import pytest

from flan.data import adapters, catalog, render
from flan.data.adapters import struct_to_text

STRUCT_TO_TEXT = ("common_gen", "dart", "e2e_nlg", "web_nlg")
# entry -> (record field of the other language, its TFDS language code, its English name)
TRANSLATION = {
    "para_crawl_enes": ("spanish", "es", "Spanish"),
    "wmt14_enfr": ("french", "fr", "French"),
    "wmt16_csen": ("czech", "cs", "Czech"),
    "wmt16_deen": ("german", "de", "German"),
    "wmt16_fien": ("finnish", "fi", "Finnish"),
    "wmt16_roen": ("romanian", "ro", "Romanian"),
    "wmt16_ruen": ("russian", "ru", "Russian"),
    "wmt16_tren": ("turkish", "tr", "Turkish"),
}
ENTRIES = STRUCT_TO_TEXT + tuple(TRANSLATION)


def _strings(*values):
  return np.array([v.encode() for v in values], dtype=object)


def _valid_mr(raw):
  """Random mock text is no E2E meaning representation: give every mock example a real one."""
  return {**raw, "meaning_representation": b"name[The Mill], eatType[pub], area[riverside]"}


@pytest.fixture(scope="module")
def mock_records():
  """entry name -> canonical records adapted from mock TFDS data."""
  return {name: catalog_checks.mock_records(
      catalog.get(name), fixup=_valid_mr if name == "e2e_nlg" else None) for name in ENTRIES}


@pytest.mark.parametrize("name", ENTRIES)
def test_entry_is_well_formed(name):
  spec = catalog.get(name)
  assert spec.collection == "flan" and spec.type == "generation"
  assert len(spec.templates) == catalog.NUM_TEMPLATES
  assert "function" in spec.adapter
  if name in STRUCT_TO_TEXT:
    assert (spec.cluster, spec.metric) == ("struct_to_text", "rouge")
    assert 1 <= sum(t.inverted for t in spec.templates) <= catalog.MAX_INVERTED
  else:
    assert (spec.cluster, spec.metric) == ("translation", "bleu")
    assert not any(t.inverted for t in spec.templates)
    assert all(t.eval for t in spec.templates)


@pytest.mark.parametrize("name", ENTRIES)
def test_every_template_renders_mock_data(name, mock_records):
  catalog_checks.check_renders_every_template(catalog.get(name), mock_records[name])


def test_splits_and_builders():
  s30 = {"train": "train[:30000]", "validation": "train[-200:]", "test": "validation"}
  sd = {"train": "train[:30000]", "validation": "validation[:200]", "test": "test"}
  builders = {"common_gen": "gem/common_gen", "dart": "gem/dart", "e2e_nlg": "gem/e2e_nlg",
              "web_nlg": "gem/web_nlg_en"}
  validation = {"common_gen": "train[-4000:]", "dart": "train[-4000:]",
                "e2e_nlg": "train[30000:]", "web_nlg": "train[30000:]"}
  carved_by = {"common_gen": "concept_set_id", "dart": "tripleset",
               "e2e_nlg": "meaning_representation", "web_nlg": "input"}
  for name, builder in builders.items():
    spec = catalog.get(name)
    # GEM's train split has one row per (input, reference): validation is carved by input and
    # evaluated as one example per input with every reference.
    assert spec.splits == {**s30, "validation": validation[name]}
    assert (spec.carve.by, spec.groups) == (carved_by[name], "same_input")
    assert (spec.tfds_full_name, spec.manual_download) == (f"{builder}:1.1.0", False)
  paracrawl = catalog.get("para_crawl_enes")
  assert paracrawl.splits == {"train": "train[:30000]", "validation": "train[-1200:-1000]",
                              "test": "train[-1000:]"}
  assert (paracrawl.tfds_full_name, paracrawl.manual_download) == ("para_crawl/enes:1.2.0", False)
  assert catalog.get("wmt14_enfr").tfds_full_name == "wmt14_translate/fr-en:1.0.0"
  for name, (_, code, _) in TRANSLATION.items():
    if name.startswith("wmt"):
      spec = catalog.get(name)
      assert spec.splits == sd and spec.manual_download
      if name.startswith("wmt16"):
        assert spec.tfds_full_name == f"wmt16_translate/{code}-en:1.0.0"


def test_carved_splits_are_disjoint():
  """Validation and test carved from one TFDS split must not overlap (nor overlap train)."""
  n = 50_000  # any train size above the 30k cap
  def rows(expr):
    start, stop = expr[len("train["):-1].split(":")
    return set(range(n)[slice(int(start) if start else None, int(stop) if stop else None)])
  for name in STRUCT_TO_TEXT + ("para_crawl_enes",):
    splits = {k: v for k, v in catalog.get(name).splits.items() if v.startswith("train[")}
    carved = [rows(v) for v in splits.values()]
    for i, a in enumerate(carved):
      for b in carved[i + 1:]:
        assert not a & b, name


@pytest.mark.parametrize("name", TRANSLATION)
def test_translation_templates_cover_both_directions(name):
  field, _, language = TRANSLATION[name]
  spec = catalog.get(name)
  targets = [t.target for t in spec.templates]
  assert targets.count(f"{{{field}}}") == 5 and targets.count("{english}") == 5
  for t in spec.templates:
    into_other = t.target == f"{{{field}}}"
    assert (language if into_other else "English") in t.input, (name, t.index)
    assert catalog.placeholders(t.input) == ["english" if into_other else field], (name, t.index)


# ---- Golden renderings: template 0 of each entry on a hand-made raw example. --------------------

def _gem(**features):
  return {"gem_id": b"g-1", "gem_parent_id": b"g-1", **features}


GOLDEN = {
    "common_gen": (
        _gem(concept_set_id=np.int32(3), concepts=_strings("dog", "frisbee", "catch"),
             target=b"The dog leaps to catch the frisbee.",
             references=_strings("The dog leaps to catch the frisbee.",
                                 "A dog catches a frisbee.")),
        "Concepts: dog, frisbee, catch\n\nWrite a sentence that uses all of these concepts.",
        "The dog leaps to catch the frisbee.",
        ("The dog leaps to catch the frisbee.", "A dog catches a frisbee.")),
    "dart": (
        _gem(dart_id=np.int32(7),
             tripleset=_strings("[TABLECONTEXT] [TITLE] Sonny Bono",
                                "[TABLECONTEXT] party Republican"),
             subtree_was_extended=np.False_, target_sources=_strings("WikiTableQuestions_mturk"),
             target=b"Sonny Bono was a Republican.", references=_strings()),
        "Triples: Sonny Bono; party Republican\n\nWrite a sentence that expresses these facts.",
        "Sonny Bono was a Republican.",
        ("Sonny Bono was a Republican.",)),
    "e2e_nlg": (
        _gem(meaning_representation=b"name[The Eagle], eatType[coffee shop], priceRange[cheap]",
             target=b"The Eagle is a cheap coffee shop.",
             references=_strings("The Eagle is a cheap coffee shop.")),
        "Attributes: name: The Eagle; eat type: coffee shop; price range: cheap\n\n"
        "Write a sentence describing this restaurant.",
        "The Eagle is a cheap coffee shop.",
        ("The Eagle is a cheap coffee shop.",)),
    "web_nlg": (
        _gem(input=_strings('Aarhus_Airport | cityServed | "Aarhus, Denmark"',
                            "Aarhus_Airport | elevationAboveTheSeaLevel | 25.0"),
             category=b"Airport", webnlg_id=b"Id1", target=b"Aarhus Airport serves Aarhus.",
             references=_strings()),
        "Facts: Aarhus Airport | city served | Aarhus, Denmark; "
        "Aarhus Airport | elevation above the sea level | 25.0\n\n"
        "Express these facts in English text.",
        "Aarhus Airport serves Aarhus.",
        ("Aarhus Airport serves Aarhus.",)),
}
_SENTENCES = {"es": "El gato duerme.", "fr": "Le chat dort.", "cs": "Kočka spí.",
              "de": "Die Katze schläft.", "fi": "Kissa nukkuu.", "ro": "Pisica doarme.",
              "ru": "Кошка спит.", "tr": "Kedi uyuyor."}
for _name, (_, _code, _language) in TRANSLATION.items():
  _target = _SENTENCES[_code]
  GOLDEN[_name] = ({"en": b"The cat is sleeping.", _code: _target.encode()},
                   f"Translate to {_language}:\n\nThe cat is sleeping.", _target, (_target,))


@pytest.mark.parametrize("name", ENTRIES)
def test_golden_rendering(name):
  spec = catalog.get(name)
  raw, inputs, targets, answers = GOLDEN[name]
  example = catalog_checks.check_golden(spec, raw, inputs, targets)
  assert example.answers == answers


@pytest.mark.parametrize("name", TRANSLATION)
def test_translation_reverse_direction_renders(name):
  """Template 5 is the plainest X -> English one; its reference is the English side."""
  spec = catalog.get(name)
  raw, _, target, _ = GOLDEN[name]
  example = render.render(spec.templates[5], adapters.adapt(spec, raw))
  assert example.inputs == f"Translate to English:\n\n{target}"
  assert example.targets == "The cat is sleeping."
  assert example.answers == ("The cat is sleeping.",)


# ---- Adapters on hand-made raw examples, including the drop cases. -------------------------------


def test_common_gen_answers_are_target_then_every_other_reference():
  spec = catalog.get("common_gen")
  raw = _gem(concept_set_id=np.int32(0), concepts=_strings(" ski ", "mountain"),
             target=b"A skier goes down the mountain.",
             references=_strings("A skier goes down the mountain.", "", "We ski on the mountain."))
  record = adapters.adapt(spec, raw)
  assert record["concepts"] == "ski, mountain"
  assert record["answers"] == ["A skier goes down the mountain.", "We ski on the mountain."]
  # Train examples have one target and no references.
  train = adapters.adapt(spec, {**raw, "references": _strings()})
  assert train["answers"] == ["A skier goes down the mountain."]


def test_common_gen_drops_unlabelled_or_empty_examples():
  spec = catalog.get("common_gen")
  unlabelled = _gem(concept_set_id=np.int32(0), concepts=_strings("ski", "mountain"), target=b"",
                    references=_strings())  # GEM's test split
  assert adapters.adapt(spec, unlabelled) is None
  no_concepts = {**unlabelled, "concepts": _strings(" "), "target": b"Something."}
  assert adapters.adapt(spec, no_concepts) is None


def test_dart_drops_title_style_cells():
  assert struct_to_text.dart_triple("[TABLECONTEXT] [TITLE] Sonny Bono") == "Sonny Bono"
  assert struct_to_text.dart_triple("[TABLECONTEXT] district California 44") == \
      "district California 44"
  assert struct_to_text.dart_triple("Mars Hill College joined 1973") == \
      "Mars Hill College joined 1973"
  assert struct_to_text.dart_triple("[TABLECONTEXT] [TITLE]") == ""


def test_dart_record_and_drop_cases():
  spec = catalog.get("dart")
  raw = GOLDEN["dart"][0]
  record = adapters.adapt(spec, {**raw, "references": _strings("Bono was a Republican.")})
  assert record["triple_lines"] == "Sonny Bono\nparty Republican"
  assert record["answers"] == ["Sonny Bono was a Republican.", "Bono was a Republican."]
  only_layout = {**raw, "tripleset": _strings("[TABLECONTEXT] [TITLE]", " ")}
  assert adapters.adapt(spec, only_layout) is None
  assert adapters.adapt(spec, {**raw, "target": b""}) is None


def test_e2e_attributes():
  mr = ("name[The Wrestlers], eatType[coffee shop], customer rating[3 out of 5], "
        "familyFriendly[yes], near[Raja Indian Cuisine], food[]")
  assert struct_to_text.e2e_attributes(mr) == [
      "name: The Wrestlers", "eat type: coffee shop", "customer rating: 3 out of 5",
      "family friendly: yes", "near: Raja Indian Cuisine"]


def test_e2e_record_and_drop_cases():
  spec = catalog.get("e2e_nlg")
  raw = GOLDEN["e2e_nlg"][0]
  record = adapters.adapt(spec, raw)
  assert record["attribute_lines"] == "name: The Eagle\neat type: coffee shop\nprice range: cheap"
  assert adapters.adapt(spec, {**raw, "meaning_representation": b"no brackets here"}) is None
  assert adapters.adapt(spec, {**raw, "target": b"", "references": _strings()}) is None


def test_web_nlg_triples_and_category():
  assert struct_to_text.web_nlg_triple("Alan_Bean | was a crew member of | Apollo_12") == \
      "Alan Bean | was a crew member of | Apollo 12"
  assert struct_to_text.web_nlg_triple("not_a_triple") == "not a triple"
  spec = catalog.get("web_nlg")
  raw = {**GOLDEN["web_nlg"][0], "category": b"MeanOfTransportation"}
  record = adapters.adapt(spec, raw)
  assert record["category"] == "mean of transportation"
  assert record["triple_lines"].split("\n")[0] == "Aarhus Airport | city served | Aarhus, Denmark"
  assert adapters.adapt(spec, {**raw, "input": _strings()}) is None


@pytest.mark.parametrize("name", TRANSLATION)
def test_translation_adapter(name):
  field, code, _ = TRANSLATION[name]
  spec = catalog.get(name)
  record = adapters.adapt(spec, {"en": b" Good morning. ", code: b"...ok "})
  assert record == {"english": "Good morning.", field: "...ok", "answer": "...ok",
                    "answers": ["...ok"]}
  assert adapters.adapt(spec, {"en": b"Good morning.", code: b"  "}) is None
  assert adapters.adapt(spec, {"en": b"", code: b"text"}) is None


def test_translation_adapter_needs_english_and_one_other_language():
  bad = catalog.get("wmt16_deen")
  bad = type(bad)(**{**bad.__dict__, "adapter": {"function": "translation",
                                                 "fields": {"german": "de"}}})
  with pytest.raises(ValueError, match="english"):
    adapters.adapt(bad, {"de": b"Hallo", "en": b"Hello"})
