"""Metrics against hand-computed values; best-template selection and tables on hand-made rows;
the paper25 suite."""

import math

import pytest

from flan.data import catalog
from flan.eval import aggregate, evaluate, metrics, suites

YES_NO = ("no", "yes")


def test_every_catalog_metric_is_implemented():
  assert set(catalog.METRICS) == set(metrics.METRICS) == set(metrics.PRIMARY)


def test_text_metrics():
  assert metrics.accuracy(["yes", "no", "no"], [["yes"], ["yes"], ["no"]]) == pytest.approx(2 / 3)
  assert metrics.exact_match(["The Cat."], [["cat"]]) == 1.0
  assert metrics.exact_match(["a dog"], [["cat", "the dog"]]) == 1.0
  # prediction tokens {black, cat}, reference {black, cat, sat}: P = 1, R = 2/3, F1 = 0.8
  assert metrics.squad_f1(["the black cat"], [["black cat sat"]]) == pytest.approx(0.8)
  assert metrics.compute("squad", ["x", "the black cat"], [["y", "x"], ["black cat sat"]]) == \
      pytest.approx({"f1": 0.9, "exact_match": 0.5})
  # labels a, b; gold a a b b; predicted a b b b -> F1(a) = 2/3, F1(b) = 0.8
  assert metrics.macro_f1(["a", "b", "b", "b"], [["a"], ["a"], ["b"], ["b"]], ["a", "b"]) == \
      pytest.approx((2 / 3 + 0.8) / 2)


def test_accuracy_f1_on_option_indices():
  # pred 1 0 1 1, gold 1 1 0 1: accuracy 2/4; positive class (option 1): tp 2, fp 1, fn 1 -> 2/3
  got = metrics.compute("accuracy_f1", ["yes", "no", "yes", "yes"],
                        [["yes"], ["yes"], ["no"], ["yes"]], options=[YES_NO] * 4)
  assert got == pytest.approx({"accuracy_f1": (0.5 + 2 / 3) / 2, "accuracy": 0.5, "f1": 2 / 3})
  # The same with letter markers (options format "A)"): the metric reads option indices.
  letters = metrics.compute("accuracy_f1", ["B", "A", "B", "B"], [["B"], ["B"], ["A"], ["B"]],
                            options=[("A", "B")] * 4)
  assert letters == got


def test_accuracy_macro_f1():
  options = [("yes", "no", "maybe")] * 4
  # gold yes yes no no, predicted yes no no no: F1(yes) 2/3, F1(no) 0.8, F1(maybe) 0 (no tp)
  got = metrics.compute("accuracy_macro_f1", ["yes", "no", "no", "no"],
                        [["yes"], ["yes"], ["no"], ["no"]], options=options)
  assert got["accuracy"] == 0.75
  assert got["macro_f1"] == pytest.approx((2 / 3 + 0.8 + 0) / 3)


def test_matthews_corr():
  # pred 1 1 0 0, gold 1 0 0 0: TP 1, FP 1, TN 2, FN 0 -> (1*2 - 1*0) / sqrt(2*1*3*2)
  got = metrics.compute("matthews_corr", ["yes", "yes", "no", "no"],
                        [["yes"], ["no"], ["no"], ["no"]], options=[YES_NO] * 4)
  assert got["matthews_corr"] == pytest.approx(2 / math.sqrt(12))
  assert metrics.matthews(*map(__import__("numpy").array, ([0, 0], [0, 0]))) == 0.0


def test_pearson_spearman():
  options = [tuple("012345")] * 4
  # x = 0 2 1 5, y = 1 2 3 5: r = 10 / sqrt(14 * 8.75); ranks 1 3 2 4 vs 1 2 3 4: rho = 0.8
  got = metrics.compute("pearson_spearman", ["0", "2", "1", "5"], [["1"], ["2"], ["3"], ["5"]],
                        options=options)
  assert got["pearson"] == pytest.approx(10 / math.sqrt(14 * 8.75))
  assert got["spearman"] == pytest.approx(0.8)
  assert got["pearson_spearman"] == pytest.approx((got["pearson"] + 0.8) / 2)
  # ties take their average rank: ranks 1.5 1.5 3 vs 1 2 3 -> 1.5 / sqrt(1.5 * 2)
  assert metrics.spearman([1, 1, 2], [1, 2, 3]) == pytest.approx(1.5 / math.sqrt(3))
  assert metrics.pearson([1, 1, 1], [1, 2, 3]) == 0.0  # undefined -> 0


def test_multirc_groups_by_question():
  # q1: a1 (gold yes), a2 (gold no); q2: a3 (gold yes); every candidate predicted yes.
  got = metrics.compute("multirc", ["yes", "yes", "yes"], [["yes"], ["no"], ["yes"]],
                        options=[YES_NO] * 3, groups=["q1", "q1", "q2"])
  # F1a: tp 2, fp 1, fn 0 -> 0.8; EM: q1 wrong, q2 right -> 0.5
  assert got == pytest.approx({"f1a": 0.8, "exact_match": 0.5})


def test_record_takes_the_best_gold_entity():
  assert metrics.compute("record", ["Obama"], [["Barack Obama", "Obama"]]) == \
      {"f1": 1.0, "exact_match": 1.0}
  # "Barack" vs "Barack Obama": P 1, R 1/2 -> F1 2/3
  assert metrics.compute("record", ["Barack"], [["Barack Obama"]]) == \
      pytest.approx({"f1": 2 / 3, "exact_match": 0.0})


def test_bleu_hand_computed():
  assert metrics.compute("bleu", ["the cat sat on the mat"], [["the cat sat on the mat"]]) == \
      pytest.approx({"bleu": 1.0})
  # n-gram precisions 4/5, 3/4, 2/3, 1/2, no brevity penalty: (0.2) ** (1/4)
  assert metrics.compute("bleu", ["a b c d e"], [["a b c d f"]])["bleu"] == \
      pytest.approx(0.2 ** 0.25, abs=1e-4)
  # Two references: clipped counts take the max over them: 5/5, 3/4, 2/3, 1/2 -> 0.25 ** (1/4);
  # a second example with one reference only is allowed.
  got = metrics.compute("bleu", ["a b c d e"], [["a b c d f", "x y z w e"]])["bleu"]
  assert got == pytest.approx(0.25 ** 0.25, abs=1e-4)
  assert 0 < metrics.compute("bleu", ["a b c d e", "p q"], [["a b c d f", "x e"], ["p q"]])[
      "bleu"] <= 1


def test_rouge_hand_computed_max_over_references():
  # "the cat sat" vs "the cat sat on the mat": R1 P 1 R 1/2 -> 2/3; R2 P 1 R 2/5 -> 4/7; RL 2/3
  want = {"rouge1": 2 / 3, "rouge2": 4 / 7, "rougeL": 2 / 3}
  want["rouge"] = sum(want.values()) / 3
  assert metrics.compute("rouge", ["the cat sat"], [["a dog", "the cat sat on the mat"]]) == \
      pytest.approx(want)


def test_edit_distance():
  assert metrics.levenshtein("kitten", "sitting") == 3
  assert metrics.compute("edit_distance", ["kitten", "abc"], [["sitting", "kitchen"], ["abc"]]) \
      == pytest.approx({"edit_distance": (2 / 7 + 0) / 2})  # kitten -> kitchen: 2 edits / 7


def rows_of(task, metric, validation, test, cluster="nli"):
  rows = []
  for split, scores in (("validation", validation), ("test", test)):
    for template, score in enumerate(scores):
      rows.append({"task": task, "entry": task, "cluster": cluster, "template": template,
                   "split": split, "shots": 0, "metric": metric, "score": score,
                   "scores": {metrics.PRIMARY[metric]: score}, "chance": None,
                   "num_examples": 10})
  return rows


def test_best_template_is_selected_on_validation_and_reported_on_test():
  rows = rows_of("rte", "accuracy", validation=[0.6, 0.8, 0.8], test=[0.9, 0.5, 0.7])
  rows += rows_of("fix", "edit_distance", validation=[0.3, 0.1], test=[0.2, 0.4],
                  cluster="misc")
  rows += [r for r in rows_of("wsc273", "accuracy", [], [0.6, 0.7], cluster="coreference")]
  summary = {s["task"]: s for s in aggregate.summarize(rows, heldout={"nli"})}
  rte = summary["rte"]
  # Template 1 ties template 2 on validation (lowest index wins); its test score is reported,
  # not the best test score (0.9), which would be selecting on test.
  assert (rte["best_template"], rte["best"], rte["mean"]) == (1, 0.5, pytest.approx(0.7))
  assert rte["status"] == "held-out"
  assert (summary["fix"]["best_template"], summary["fix"]["best"]) == (1, 0.4)  # lower wins
  assert (summary["wsc273"]["best_template"], summary["wsc273"]["best"]) == (None, None)
  assert summary["wsc273"]["mean"] == pytest.approx(0.65)
  table = aggregate.markdown_table(list(summary.values()))
  assert "| rte | nli | held-out | accuracy | test | 10 | 70.0 | 50.0 (t1) | – | – |  |" in table
  assert "| wsc273 | coreference | seen | accuracy | test | 10 | 65.0 | – | – | – |  |" in table


def test_results_table_names_metric_split_and_count():
  """A reader of summary.md/csv knows what each number is: which metric (and which of its
  sub-scores), which split of which TFDS data, how many examples."""
  rows = rows_of("squad_v2", "squad_v2", validation=[0.5], test=[0.4], cluster="rc")
  for r in rows:
    r["tfds_split"] = {"validation": "train[-4000:]", "test": "validation"}[r["split"]]
    r["num_examples"] = {"validation": 190, "test": 11873}[r["split"]]
  (s,) = aggregate.summarize(rows)
  assert (s["metric"], s["score_name"], s["split"], s["tfds_split"], s["num_examples"]) == \
      ("squad_v2", "f1", "test", "validation", 11873)
  table = aggregate.markdown_table([s])
  assert table.splitlines()[0].startswith(
      "| task | cluster | status | metric | split scored | n | mean over templates |")
  assert "| squad_v2 | rc | seen | squad_v2 f1 | test (TFDS validation) | 11873 | 40.0 |" in table


def test_translation_reports_each_direction():
  spec = catalog.get("wmt14_enfr")
  names = evaluate.report_names(spec)
  assert names[0] == "wmt14_enfr:to_french" and names[9] == "wmt14_enfr:to_english"
  assert set(evaluate.report_names(catalog.get("rte")).values()) == {"rte"}


def test_paper25_suite_has_the_papers_25_tasks():
  tasks = {name for spec in suites.suite_specs("paper25")
           for name in evaluate.report_names(spec).values()}
  assert len(tasks) == 25
  assert {"anli_r1", "record", "wsc273", "wmt16_roen:to_romanian"} <= tasks
  assert suites.paper_result("wmt14_enfr:to_french") == {"value": 33.9, "score": "bleu"}
  for task in tasks - {"hellaswag"}:  # paper.md has no HellaSwag number
    result = suites.paper_result(task)
    assert result is not None, task
    spec = catalog.get(task.split(":")[0])
    assert result["score"] in metrics.compute(
        spec.metric, ["yes"], [["yes"]], options=[YES_NO], groups=["q"]), task
