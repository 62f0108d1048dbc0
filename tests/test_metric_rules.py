"""Every metric against its dataset's official scorer's rules or a reference implementation.

SQuAD v1.1 / v2.0 (the official evaluate scripts), ReCoRD (SuperGLUE's record_eval.py: SQuAD
normalization, best gold entity), MultiRC (SuperGLUE: F1 over every answer option, EM per
question), DROP (drop_eval.py: numbers compared as floats, bags of spans), Math (exact string or
numeric equality), GLUE's correlations / Matthews / F1 (scipy formulas), sacrebleu, rouge-score.
"""

import math

import numpy as np
import pytest

from flan.eval import metrics

YES_NO = ("no", "yes")


# ------------------------------------------------------------------ SQuAD v1.1 / ReCoRD


@pytest.mark.parametrize("prediction,gold,em,f1", [
    ("The Cat.", ["cat"], 1.0, 1.0),                    # casing, article, punctuation
    ("an  apple", ["Apple!"], 1.0, 1.0),                # whitespace, article, punctuation
    ("Denver Broncos", ["Broncos", "the Denver Broncos"], 1.0, 1.0),   # best of several golds
    ("the black cat", ["black cat sat"], 0.0, 0.8),     # P 1, R 2/3
    ("-5", ["5"], 1.0, 1.0),                            # SQuAD's own rule: '-' is punctuation
    ("", ["cat"], 0.0, 0.0),                            # empty prediction
    ("a", ["the"], 1.0, 1.0),                           # both normalize to empty: equal
])
def test_squad_v1_official_rules(prediction, gold, em, f1):
  assert metrics.compute("squad", [prediction], [gold]) == pytest.approx({"f1": f1,
                                                                           "exact_match": em})
  assert metrics.compute("record", [prediction], [gold]) == pytest.approx({"f1": f1,
                                                                            "exact_match": em})


def test_squad_v2_no_answer_scores_only_an_abstention():
  # The gold of an unanswerable question is the empty answer (our target text 'unanswerable');
  # v2's script gives F1 = EM = 1 only to an empty prediction, 0 to anything else, even a
  # prediction that merely contains the word.
  no = [metrics.UNANSWERABLE]
  assert metrics.compute("squad_v2", ["unanswerable"], [no]) == {"f1": 1.0, "exact_match": 1.0}
  assert metrics.compute("squad_v2", [""], [no]) == {"f1": 1.0, "exact_match": 1.0}
  assert metrics.compute("squad_v2", ["it is unanswerable"], [no]) == {"f1": 0.0,
                                                                        "exact_match": 0.0}
  # (the v1 rules would give that last one F1 2/3 * ... > 0)
  assert metrics.compute("squad", ["it is unanswerable"], [no])["f1"] > 0
  # abstaining on an answerable question scores 0; answerable ones follow the v1 rules
  assert metrics.compute("squad_v2", ["unanswerable", "The Cat."], [["a cat"], ["cat"]]) == \
      pytest.approx({"f1": 0.5, "exact_match": 0.5})


# ------------------------------------------------------------------ DROP


@pytest.mark.parametrize("prediction,gold,em,f1", [
    ("2.5", ["25"], 0.0, 0.0),              # numbers are floats: 2.5 != 25 (SQuAD: equal)
    ("25", ["25.0"], 1.0, 1.0),             # 25 == 25.0
    ("1,000", ["1000"], 1.0, 1.0),          # punctuation leaves a number's digits
    ("4 touchdowns", ["5 touchdowns"], 0.0, 0.0),   # gold numbers must appear (SQuAD F1: 0.5)
    ("The Eagles.", ["eagles"], 1.0, 1.0),  # casing, article, punctuation
    ("Eagles", ["Giants", "the Eagles"], 1.0, 1.0),  # best of the validated answers
    ("Tom Brady", ["Brady"], 0.0, 0.67),    # bag F1 2/3, rounded to 2 places as drop_eval does
])
def test_drop_official_number_handling(prediction, gold, em, f1):
  assert metrics.compute("drop", [prediction], [gold]) == pytest.approx({"f1": f1,
                                                                          "exact_match": em})


def test_drop_and_squad_disagree_where_the_issue_says():
  assert metrics.compute("squad", ["2.5"], [["25"]])["exact_match"] == 1.0
  assert metrics.compute("drop", ["2.5"], [["25"]])["exact_match"] == 0.0


# ------------------------------------------------------------------ Math / exact match


@pytest.mark.parametrize("prediction,gold,em", [
    ("-5", ["5"], 0.0),        # the sign is part of the answer
    ("5", ["-5"], 0.0),
    ("-5", ["-5"], 1.0),
    (" -5 ", ["-5"], 1.0),     # surrounding whitespace only
    ("5.0", ["5"], 1.0),       # numerically equal
    ("1/2", ["0.5"], 0.0),     # a different string, not a float: no credit
    ("x = 3", ["3"], 0.0),
    ("Cat", ["cat"], 0.0),     # exact string: casing counts
    ("", ["0"], 0.0),
    ("7", ["3", "7"], 1.0),    # any of the answers
])
def test_exact_match_keeps_sign_and_compares_numbers(prediction, gold, em):
  assert metrics.compute("exact_match", [prediction], [gold]) == {"exact_match": em}


# ------------------------------------------------------------------ MultiRC (SuperGLUE)


def _multirc_reference(pred, gold, groups):
  """SuperGLUE's scorer written out: F1 over all options with label 1 positive; EM per question."""
  tp = sum(p == 1 and g == 1 for p, g in zip(pred, gold))
  fp = sum(p == 1 and g == 0 for p, g in zip(pred, gold))
  fn = sum(p == 0 and g == 1 for p, g in zip(pred, gold))
  f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
  questions = {}
  for q, p, g in zip(groups, pred, gold):
    questions.setdefault(q, []).append(p == g)
  return {"f1a": f1, "exact_match": np.mean([all(v) for v in questions.values()])}


def test_multirc_matches_the_superglue_scorer():
  rng = np.random.default_rng(0)
  gold = rng.integers(0, 2, 60).tolist()
  pred = [g if rng.random() < 0.7 else 1 - g for g in gold]
  groups = [f"p{i // 12}-q{i // 4}" for i in range(60)]  # 15 questions, 4 candidates each
  got = metrics.compute("multirc", [YES_NO[p] for p in pred], [[YES_NO[g]] for g in gold],
                        options=[YES_NO] * 60, groups=groups)
  assert got == pytest.approx(_multirc_reference(pred, gold, groups))


# ------------------------------------------------------------------ GLUE label metrics


def test_pearson_spearman_correlate_with_the_float_gold_scores():
  scipy_stats = pytest.importorskip("scipy.stats")
  options = [tuple("012345")] * 5
  predictions = ["1", "2", "2", "4", "5"]
  gold = [0.4, 1.6, 2.4, 3.6, 4.8]         # rounded: 0, 2, 2, 4, 5
  answers = [[str(int(math.floor(g + 0.5)))] for g in gold]
  got = metrics.compute("pearson_spearman", predictions, answers, options=options, scores=gold)
  x = [1, 2, 2, 4, 5]
  assert got["pearson"] == pytest.approx(scipy_stats.pearsonr(x, gold)[0])
  assert got["spearman"] == pytest.approx(scipy_stats.spearmanr(x, gold)[0])
  # correlating with the rounded class instead would give another number
  assert got["pearson"] != pytest.approx(scipy_stats.pearsonr(x, [0, 2, 2, 4, 5])[0])


def test_matthews_and_f1_match_the_textbook_formulas():
  rng = np.random.default_rng(1)
  gold = rng.integers(0, 2, 50)
  pred = np.where(rng.random(50) < 0.6, gold, 1 - gold)
  tp = np.sum((pred == 1) & (gold == 1))
  tn = np.sum((pred == 0) & (gold == 0))
  fp = np.sum((pred == 1) & (gold == 0))
  fn = np.sum((pred == 0) & (gold == 1))
  mcc = (tp * tn - fp * fn) / math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
  f1 = 2 * tp / (2 * tp + fp + fn)
  texts = [YES_NO[p] for p in pred]
  answers = [[YES_NO[g]] for g in gold]
  acc = float(np.mean(pred == gold))
  assert metrics.compute("matthews_corr", texts, answers, options=[YES_NO] * 50) == \
      pytest.approx({"matthews_corr": mcc, "accuracy": acc})
  assert metrics.compute("accuracy_matthews", texts, answers, options=[YES_NO] * 50) == \
      pytest.approx({"accuracy": acc, "matthews_corr": mcc})
  assert metrics.PRIMARY["accuracy_matthews"] == "accuracy"
  assert metrics.compute("accuracy_f1", texts, answers, options=[YES_NO] * 50) == \
      pytest.approx({"accuracy_f1": (acc + f1) / 2, "accuracy": acc, "f1": f1})
  macro = np.mean([2 * tp / (2 * tp + fp + fn), 2 * tn / (2 * tn + fn + fp)])
  assert metrics.compute("accuracy_macro_f1", texts, answers, options=[YES_NO] * 50) == \
      pytest.approx({"accuracy_macro_f1": (acc + macro) / 2, "accuracy": acc, "macro_f1": macro})
  assert metrics.compute("accuracy", texts, answers) == pytest.approx({"accuracy": acc})


# ------------------------------------------------------------------ BLEU / ROUGE / edit distance


def test_bleu_is_sacrebleu_with_every_reference():
  sacrebleu = pytest.importorskip("sacrebleu")
  predictions = ["The cat sat on the mat.", "A dog barked loudly at night"]
  answers = [["The cat is on the mat.", "There is a cat on the mat."],
             ["A dog barked at night."]]
  want = sacrebleu.corpus_bleu(predictions, [["The cat is on the mat.", "A dog barked at night."],
                                             ["There is a cat on the mat.", None]]).score / 100
  assert metrics.compute("bleu", predictions, answers)["bleu"] == pytest.approx(want)
  # a second reference can only help: BLEU clips n-gram counts by the max over references
  one = metrics.compute("bleu", predictions, [a[:1] for a in answers])["bleu"]
  assert metrics.compute("bleu", predictions, answers)["bleu"] >= one


def test_rouge_is_rouge_score_best_reference():
  rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")
  scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
  prediction, refs = "The cats were sitting", ["a cat sits", "the cats sat down quietly"]
  best = {k: max(scorer.score(r, prediction)[k].fmeasure for r in refs)
          for k in ("rouge1", "rouge2", "rougeL")}
  got = metrics.compute("rouge", [prediction], [refs])
  assert {k: got[k] for k in best} == pytest.approx(best)
  assert got["rouge"] == pytest.approx(sum(best.values()) / 3)


def test_edit_distance_edges():
  assert metrics.compute("edit_distance", [""], [[""]]) == {"edit_distance": 0.0}
  assert metrics.compute("edit_distance", ["abc"], [[""]]) == {"edit_distance": 1.0}
  assert metrics.compute("edit_distance", ["Hello, world."], [["hello world"]]) == \
      pytest.approx({"edit_distance": 3 / 13})     # H->h, no ",", no ".": casing and punctuation count
