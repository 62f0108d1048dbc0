"""Grouped datasets and carve-outs: E2E scored once per input against every reference, MultiRC
in whole question groups, STS-B against its float gold, validation carved by input so that no
validation input is trained on (both TFDS readers agree)."""

import random
import types

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from flan.data import adapters, carve, catalog, records as records_lib
from flan.eval import evaluate, groups

VOCAB = types.SimpleNamespace(encode=str.split)


def _evaluate(monkeypatch, spec, records, predict, **kwargs):
  """evaluate_entry on hand-made records with a stand-in for the model's predictions."""
  monkeypatch.setattr(records_lib, "load_records",
                      lambda spec, split, limit=None, **_: records[:limit])
  monkeypatch.setattr(evaluate, "predict", lambda g, p, v, spec, examples, **_: [
      predict(ex) for ex in examples])
  return evaluate.evaluate_entry(None, None, VOCAB, spec, splits=("test",), **kwargs)


def _e2e_raw(mr: str, target: str) -> dict:
  return {"gem_id": b"x", "meaning_representation": mr.encode(), "target": target.encode(),
          "references": np.array([], dtype=object)}


E2E_REFS = {f"name[Pub {i}], food[Thai]": [f"Pub {i} serves Thai food.", f"Thai food at Pub {i}.",
                                           f"Pub {i} is a Thai place."] for i in range(4)}


def test_e2e_is_scored_once_per_input_against_every_reference(monkeypatch):
  spec = catalog.get("e2e_nlg")
  rows = [(mr, ref) for mr, refs in E2E_REFS.items() for ref in refs]
  random.Random(0).shuffle(rows)          # one row per (input, reference), in hashed order
  records = [adapters.adapt(spec, _e2e_raw(mr, ref)) for mr, ref in rows]
  last_reference = {adapters.adapt(spec, _e2e_raw(mr, refs[0]))["attributes"]: refs[-1]
                    for mr, refs in E2E_REFS.items()}
  by_input = lambda ex: next(v for k, v in last_reference.items() if k in ex.inputs)
  got = _evaluate(monkeypatch, spec, records, by_input, limit=None,
                  templates=spec.eval_templates[:1])
  # A prediction equal to one of an input's references is a perfect score, and each input
  # counts once (the old per-row scoring gave 12 examples and a ROUGE well below 1).
  assert [(r["num_examples"], r["score"]) for r in got] == [(4, pytest.approx(1.0))]


def test_limit_counts_whole_inputs_and_warns(monkeypatch):
  spec = catalog.get("e2e_nlg")
  rows = [(mr, ref) for mr, refs in E2E_REFS.items() for ref in refs]
  records = [adapters.adapt(spec, _e2e_raw(mr, ref)) for mr, ref in rows]
  warnings = []
  got = _evaluate(monkeypatch, spec, records, lambda ex: "x", limit=2, warn=warnings.append,
                  templates=spec.eval_templates[:2])
  assert [r["num_examples"] for r in got] == [2, 2]
  assert warnings == ["e2e_nlg test: --limit 2 scores 2 of 4 whole inputs (2 examples): a "
                      "larger --limit scores more of the split"]


def _multirc(question: str, answer: int, label: int) -> dict:
  return {"paragraph": "P.", "question": f"Q{question}?", "response": f"A{answer}",
          "question_id": f"0-{question}", "answer_id": str(answer), "options": ["no", "yes"],
          "answer": ["no", "yes"][label], "answers": [["no", "yes"][label]]}


def test_multirc_limit_keeps_whole_questions(monkeypatch):
  spec = catalog.get("multirc")
  # hashed order: question 1's candidates are rows 0, 3 and 5
  records = [_multirc("1", 0, 1), _multirc("2", 1, 1), _multirc("2", 2, 1), _multirc("1", 3, 0),
             _multirc("3", 4, 1), _multirc("1", 5, 1)]
  warnings = []
  got = _evaluate(monkeypatch, spec, records, lambda ex: "yes", limit=4, warn=warnings.append,
                  templates=spec.eval_templates[:1])
  # whole groups in first-seen order: question 1 (3 rows) fits, question 2 (2 more) would not
  # fit 4 rows; question 1 has a wrong candidate -> EM 0; F1a over its rows: tp 2, fp 1 -> 0.8
  assert got[0]["num_examples"] == 3
  assert got[0]["scores"] == pytest.approx({"f1a": 0.8, "exact_match": 0.0})
  assert warnings and "scores 1 of 3 whole question_id groups (3 examples)" in warnings[0]
  # unlimited: every question whole; q2 and q3 all right -> EM 2/3
  got = _evaluate(monkeypatch, spec, records, lambda ex: "yes", limit=None,
                  templates=spec.eval_templates[:1])
  assert got[0]["num_examples"] == 6
  assert got[0]["scores"]["exact_match"] == pytest.approx(2 / 3)


def test_stsb_correlates_with_the_unrounded_gold(monkeypatch):
  spec = catalog.get("stsb")
  raws = [{"sentence1": b"a", "sentence2": b"b", "label": np.float32(g), "idx": 0}
          for g in (0.4, 1.6, 2.4, 3.6, 4.8)]
  records = [adapters.adapt(spec, r) for r in raws]
  predictions = iter(["1", "2", "2", "4", "5"] * 10)
  got = _evaluate(monkeypatch, spec, records, lambda ex: next(predictions),
                  templates=spec.eval_templates[:1])
  gold = np.array([0.4, 1.6, 2.4, 3.6, 4.8], np.float32).astype(np.float64)
  assert got[0]["scores"]["pearson"] == pytest.approx(np.corrcoef([1, 2, 2, 4, 5], gold)[0, 1])


# ---------------------------------------------------------------- carve-outs


def _mock_e2e(builder, split, **_):
  """Every 'split' of the mock builder: 30 inputs x 4 references, in hashed order."""
  rows = [(f"name[Inn {i}], area[city centre]", f"Inn {i} is central, ref {j}.")
          for i in range(30) for j in range(4)]
  random.Random(1).shuffle(rows)
  return tf.data.Dataset.from_tensor_slices({
      "gem_id": [b"x"] * len(rows), "meaning_representation": [r[0] for r in rows],
      "target": [r[1] for r in rows],
      "references": tf.ragged.constant([[] for _ in rows], dtype=tf.string)})


def test_e2e_validation_inputs_are_never_trained_on():
  spec = catalog.get("e2e_nlg")
  with tfds.testing.mock_data(as_dataset_fn=_mock_e2e):
    inputs = {split: [r["attributes"] for r in records_lib.iter_records(
        spec, split, check_prepared=False)] for split in ("train", "validation")}
    source = carve.tfds_source(spec, "/nonexistent")
    trained = {ex["meaning_representation"] for ex in tfds.as_numpy(
        source.get_dataset("train", shuffle=False))}
  train, validation = set(inputs["train"]), set(inputs["validation"])
  assert validation and train and not train & validation
  assert len(train | validation) == 30
  # every reference of a held-out input is held out: 4 rows per validation input
  assert len(inputs["validation"]) == 4 * len(validation)
  # the SeqIO source (training) agrees with the records reader row for row
  assert len(trained) == len(train) and len(inputs["train"]) == 4 * len(train)


def test_carve_is_a_stable_partition_by_key():
  spec = types.SimpleNamespace(carve=catalog.Carve(by="idx/paragraph", percent=20))
  data = tf.data.Dataset.from_tensor_slices({"idx": {"paragraph": tf.range(1000) // 10}})
  kept = {split: [int(x["idx"]["paragraph"]) for x in tfds.as_numpy(
      carve.apply(spec, split, data))] for split in ("train", "validation", "test")}
  assert len(kept["test"]) == 1000
  assert not set(kept["train"]) & set(kept["validation"])
  assert len(kept["train"]) + len(kept["validation"]) == 1000
  assert 10 <= len(set(kept["validation"])) <= 30      # about 20% of the 100 paragraphs
  assert bool(carve.held_out(b"Some passage.", 100)) and not bool(carve.held_out(b"x", 0))


@pytest.mark.parametrize("value,message", [
    ({"by": "context"}, "'carve' must be a mapping"),
    ({"by": "context", "percnt": 5}, "did you mean 'percent'"),
    ({"by": "context", "percent": 0}, "'percent' must be an integer from 1 to 50"),
    ({"by": "", "percent": 5}, "'by' must name a raw TFDS feature"),
])
def test_carve_schema_errors_are_one_line(value, message):
  import yaml
  data = yaml.safe_load(open(catalog.TEMPLATES_DIR / "squad_v1.yaml"))
  data["carve"] = value
  with pytest.raises(catalog.CatalogError, match=message):
    catalog.parse_entry(data, "squad_v1.yaml")
  data["carve"] = {"by": "context", "percent": 5}
  data["splits"]["validation"] = "validation[:200]"
  with pytest.raises(catalog.CatalogError, match="same TFDS split"):
    catalog.parse_entry(data, "squad_v1.yaml")


def test_every_grouped_or_shared_input_entry_declares_it():
  """The audit's list: these entries repeat an input over rows, so they are carved and/or grouped."""
  carved = {s.name for s in catalog.entries() if s.carve}
  assert {"e2e_nlg", "common_gen", "dart", "web_nlg", "multirc", "record", "squad_v1",
          "squad_v2", "quac", "drop"} <= carved
  grouped = {s.name: s.groups for s in catalog.entries() if s.groups}
  assert grouped == {"e2e_nlg": "same_input", "common_gen": "same_input", "dart": "same_input",
                     "web_nlg": "same_input", "wmt16_fien": "same_input",
                     "multirc": "question_id"}


def test_wmt16_fien_scores_english_to_finnish_against_both_references(monkeypatch):
  spec = catalog.get("wmt16_fien")
  # newstest2016 (en, fi A) and newstestB2016 (en, fi B): the same English source twice
  second = "Oikein hyvaa huomenta koko porukalle."
  records = [adapters.adapt(spec, {"en": b"Good morning.", "fi": fi.encode()})
             for fi in ("Hyvaa huomenta kaikille teille.", second)]
  to_finnish = [t for t in spec.eval_templates if t.target == "{finnish}"][:1]
  got = _evaluate(monkeypatch, spec, records, lambda ex: second, limit=None, templates=to_finnish)
  assert (got[0]["num_examples"], got[0]["score"]) == (1, pytest.approx(1.0))
  to_english = [t for t in spec.eval_templates if t.target == "{english}"][:1]
  got = _evaluate(monkeypatch, spec, records, lambda ex: "Good morning.", limit=None,
                  templates=to_english)
  assert got[0]["num_examples"] == 2     # two different Finnish sources
