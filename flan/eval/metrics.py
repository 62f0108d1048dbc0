"""Metrics over predictions and reference answer lists, one per `catalog.METRICS` name.

    compute("accuracy", ["yes", "no"], [["yes"], ["yes"]])      == {"accuracy": 0.5}
    compute("squad", ["The Cat."], [["the cat", "a dog"]])      == {"exact_match": 1.0, "f1": 1.0}

`compute` returns every sub-score of a metric; `PRIMARY[metric]` names the one that ranks templates
and fills the "score" column (`LOWER_IS_BETTER` says which direction is better). All scores are
fractions (BLEU and ROUGE too: 0.273, not 27.3); correlations lie in [-1, 1].

  metric             sub-scores, primary first                            needs
  accuracy           accuracy
  accuracy_f1        accuracy_f1 = mean(accuracy, f1), accuracy, f1       options
  accuracy_macro_f1  accuracy_macro_f1 = mean(...), accuracy, macro_f1    options
  matthews_corr      matthews_corr, accuracy                              options
  accuracy_matthews  accuracy, matthews_corr (CoLA: the paper reports accuracy)  options
  pearson_spearman   pearson_spearman = mean(...), pearson, spearman      options ("0".."5"),
                     correlating the predicted option index with the float gold `scores`
                     (STS-B's unrounded 0-5 similarity, as GLUE does) when given
  squad              f1, exact_match (SQuAD v1.1's script: best over the answer list)
  squad_v2           f1, exact_match (SQuAD v2.0's script: the gold of an unanswerable question
                     is the empty answer; only an abstention, '' or UNANSWERABLE, scores on it)
  drop               f1, exact_match (drop_eval.py: numbers compared as floats, so '2.5' != '25',
                     and an F1 of 0 when the gold's numbers are missing; F1 rounded to 0.01)
  record             f1, exact_match (SuperGLUE's ReCoRD script: best over the gold entities)
  multirc            f1a (over every answer option), exact_match (per      options, groups
                     question: all its answer options right)
  bleu               bleu (sacrebleu corpus BLEU, any number of references)
  rouge              rouge = mean(rouge1, rouge2, rougeL), each the F-measure of the best
                     reference (rouge-score, Porter stemmer)
  exact_match        exact_match: equal strings after trimming whitespace, or equal numbers
                     ('5.0' == '5'); nothing else is normalized, so '-5' != '5' (Math)
  edit_distance      edit_distance: characters / the longer string, best reference (lower is
                     better)

Classification metrics read the gold label as the first answer and work on option indices, so
they hold for any options format ('yes'/'no' or 'A'/'B'); the positive class of F1 is option 1
(the catalog's binary options are ["no", "yes"]-ordered: label 1 is the positive class).
"""

from __future__ import annotations

import collections
import math
import re
import string
from typing import Sequence

import numpy as np

# The target text of SQuAD v2's unanswerable questions (its adapter's).
from flan.data.adapters.reading_comprehension import UNANSWERABLE

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
  """SQuAD normalization: lower case, no punctuation, no articles, single spaces."""
  text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
  return " ".join(_ARTICLES.sub(" ", text).split())


def _mean(values) -> float:
  values = list(values)
  return float(sum(values) / len(values)) if values else 0.0


# ---------------------------------------------------------------- text-matching metrics


def accuracy(predictions: list[str], answers: list[list[str]]) -> float:
  """Fraction of predictions that equal one of their answers exactly."""
  return _mean(p in a for p, a in zip(predictions, answers))


def exact_match(predictions: list[str], answers: list[list[str]]) -> float:
  """Fraction of predictions equal to one of their answers after SQuAD normalization."""
  return _mean(any(normalize_answer(p) == normalize_answer(a) for a in refs)
               for p, refs in zip(predictions, answers))


def _number(text: str) -> float | None:
  try:
    value = float(text)
  except ValueError:
    return None
  return value if math.isfinite(value) else None


def same_answer(prediction: str, answer: str) -> bool:
  """Exact string equality after trimming whitespace, or numeric equality: '-5' != '5',
  '5.0' == '5', 'Cat' != 'cat'."""
  prediction, answer = prediction.strip(), answer.strip()
  if prediction == answer:
    return True
  a, b = _number(prediction), _number(answer)
  return a is not None and b is not None and a == b


def strict_exact_match(predictions: list[str], answers: list[list[str]]) -> float:
  """Fraction of predictions that are `same_answer` as one of their answers."""
  return _mean(any(same_answer(p, a) for a in refs) for p, refs in zip(predictions, answers))


def token_f1(prediction: str, reference: str) -> float:
  """SQuAD token F1 of two normalized strings."""
  pred, ref = normalize_answer(prediction).split(), normalize_answer(reference).split()
  if not pred or not ref:
    return float(pred == ref)
  overlap = sum((collections.Counter(pred) & collections.Counter(ref)).values())
  if overlap == 0:
    return 0.0
  precision, recall = overlap / len(pred), overlap / len(ref)
  return 2 * precision * recall / (precision + recall)


def squad_f1(predictions: list[str], answers: list[list[str]]) -> float:
  """Mean over examples of the best token F1 against any answer."""
  return _mean(max((token_f1(p, a) for a in refs), default=0.0)
               for p, refs in zip(predictions, answers))


def squad(predictions, answers, **_) -> dict[str, float]:
  return {"f1": squad_f1(predictions, answers), "exact_match": exact_match(predictions, answers)}




def squad_v2(predictions, answers, **_) -> dict[str, float]:
  """SQuAD v2.0's script: an unanswerable question's gold is the empty answer, so F1 = EM = 1 for
  an empty prediction (our target text UNANSWERABLE counts as one) and 0 for any other."""
  def abstains(text):
    return normalize_answer(text) in ("", UNANSWERABLE)
  f1, em = [], []
  for p, refs in zip(predictions, answers):
    if all(abstains(a) for a in refs):
      f1.append(float(abstains(p)))
      em.append(float(abstains(p)))
    else:
      refs = [a for a in refs if not abstains(a)]
      f1.append(squad_f1([p], [refs]))
      em.append(exact_match([p], [refs]))
  return {"f1": _mean(f1), "exact_match": _mean(em)}


def levenshtein(a: str, b: str) -> int:
  """Character edit distance (insertions, deletions, substitutions cost 1)."""
  if len(a) < len(b):
    a, b = b, a
  previous = list(range(len(b) + 1))
  for i, ca in enumerate(a, 1):
    current = [i]
    for j, cb in enumerate(b, 1):
      current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
    previous = current
  return previous[-1]


def edit_distance(predictions, answers, **_) -> dict[str, float]:
  """Mean over examples of min over references of levenshtein / max(len) (0 = identical)."""
  return {"edit_distance": _mean(
      min((levenshtein(p, a) / max(len(p), len(a), 1) for a in refs), default=1.0)
      for p, refs in zip(predictions, answers))}


def bleu(predictions, answers, **_) -> dict[str, float]:
  """sacrebleu corpus BLEU (13a tokenization), any number of references per example."""
  import sacrebleu
  most = max((len(a) for a in answers), default=1)
  streams = [[refs[j] if j < len(refs) else None for refs in answers] for j in range(most)]
  return {"bleu": sacrebleu.corpus_bleu(list(predictions), streams).score / 100.0}


def rouge(predictions, answers, **_) -> dict[str, float]:
  """ROUGE-1/2/L F-measures (rouge-score, Porter stemmer), the best reference per example."""
  from rouge_score import rouge_scorer
  kinds = ("rouge1", "rouge2", "rougeL")
  scorer = rouge_scorer.RougeScorer(list(kinds), use_stemmer=True)
  per_example = [scorer.score_multi(list(refs), p) for p, refs in zip(predictions, answers)]
  scores = {k: _mean(s[k].fmeasure for s in per_example) for k in kinds}
  return {"rouge": _mean(scores.values()), **scores}


# ---------------------------------------------------------------- label metrics


def _indices(predictions, answers, options):
  """(predicted option index, gold option index) per example; -1 for a text not an option."""
  pred = [list(o).index(p) if p in o else -1 for p, o in zip(predictions, options)]
  gold = [list(o).index(a[0]) if a and a[0] in o else -1 for a, o in zip(answers, options)]
  return np.array(pred), np.array(gold)


def binary_f1(pred: np.ndarray, gold: np.ndarray, positive: int = 1) -> float:
  tp = int(np.sum((pred == positive) & (gold == positive)))
  fp = int(np.sum((pred == positive) & (gold != positive)))
  fn = int(np.sum((pred != positive) & (gold == positive)))
  return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def macro_f1(predictions: list[str], answers: list[list[str]], labels: Sequence[str]) -> float:
  """Unweighted mean over labels of per-label F1 (the gold label is the first answer)."""
  pred = np.array([list(labels).index(p) if p in labels else -1 for p in predictions])
  gold = np.array([list(labels).index(a[0]) if a[0] in labels else -1 for a in answers])
  return _mean(binary_f1(pred, gold, k) for k in range(len(labels)))


def matthews(pred: np.ndarray, gold: np.ndarray) -> float:
  """Multi-class Matthews correlation (Gorodkin's R_K); 0 when undefined."""
  labels = sorted(set(pred.tolist()) | set(gold.tolist()))
  confusion = np.array([[np.sum((gold == g) & (pred == p)) for p in labels] for g in labels],
                       np.float64)
  n, correct = confusion.sum(), np.trace(confusion)
  predicted, true = confusion.sum(axis=0), confusion.sum(axis=1)
  denominator = np.sqrt((n ** 2 - predicted @ predicted) * (n ** 2 - true @ true))
  return float((correct * n - predicted @ true) / denominator) if denominator else 0.0


def _ranks(x: np.ndarray) -> np.ndarray:
  """1-based ranks, ties given their average rank."""
  order = np.argsort(x, kind="stable")
  ranks = np.empty(len(x), np.float64)
  sorted_x = x[order]
  start = 0
  while start < len(x):
    end = start
    while end + 1 < len(x) and sorted_x[end + 1] == sorted_x[start]:
      end += 1
    ranks[order[start:end + 1]] = (start + end) / 2 + 1
    start = end + 1
  return ranks


def pearson(x: np.ndarray, y: np.ndarray) -> float:
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  if len(x) < 2 or np.std(x) == 0 or np.std(y) == 0:
    return 0.0
  return float(np.corrcoef(x, y)[0, 1])


def spearman(x: np.ndarray, y: np.ndarray) -> float:
  return pearson(_ranks(np.asarray(x, np.float64)), _ranks(np.asarray(y, np.float64)))


def accuracy_f1(predictions, answers, *, options, **_) -> dict[str, float]:
  acc = accuracy(predictions, answers)
  f1 = binary_f1(*_indices(predictions, answers, options))
  return {"accuracy_f1": (acc + f1) / 2, "accuracy": acc, "f1": f1}


def accuracy_macro_f1(predictions, answers, *, options, **_) -> dict[str, float]:
  acc = accuracy(predictions, answers)
  pred, gold = _indices(predictions, answers, options)
  f1 = _mean(binary_f1(pred, gold, k) for k in range(max(len(o) for o in options)))
  return {"accuracy_macro_f1": (acc + f1) / 2, "accuracy": acc, "macro_f1": f1}


def matthews_corr(predictions, answers, *, options, **_) -> dict[str, float]:
  return {"matthews_corr": matthews(*_indices(predictions, answers, options)),
          "accuracy": accuracy(predictions, answers)}


def accuracy_matthews(predictions, answers, *, options, **_) -> dict[str, float]:
  return {"accuracy": accuracy(predictions, answers),
          "matthews_corr": matthews(*_indices(predictions, answers, options))}


def pearson_spearman(predictions, answers, *, options, scores=None, **_) -> dict[str, float]:
  """Correlations of the predicted similarity (the option index, 0..5 for STS-B) with the gold
  similarity: the float `scores` when every example has one (GLUE correlates with STS-B's
  unrounded score), else the gold option index."""
  pred, gold = _indices(predictions, answers, options)
  if scores is not None and all(s is not None for s in scores):
    gold = np.asarray(scores, np.float64)
  p, s = pearson(pred, gold), spearman(pred, gold)
  return {"pearson_spearman": (p + s) / 2, "pearson": p, "spearman": s}


def multirc(predictions, answers, *, options, groups, **_) -> dict[str, float]:
  """F1a: binary F1 over every (question, candidate answer); EM: the fraction of questions
  (`groups`, the records' question_id) whose candidates are all judged right."""
  pred, gold = _indices(predictions, answers, options)
  by_question: dict[str, list[bool]] = collections.defaultdict(list)
  for question, p, g in zip(groups, pred, gold):
    by_question[question].append(bool(p == g))
  return {"f1a": binary_f1(pred, gold),
          "exact_match": _mean(all(v) for v in by_question.values())}


def record(predictions, answers, **_) -> dict[str, float]:
  """ReCoRD: token F1 and exact match against the best of the gold entities."""
  return squad(predictions, answers)


def accuracy_metric(predictions, answers, **_) -> dict[str, float]:
  return {"accuracy": accuracy(predictions, answers)}


def exact_match_metric(predictions, answers, **_) -> dict[str, float]:
  return {"exact_match": strict_exact_match(predictions, answers)}


def drop(predictions, answers, **_) -> dict[str, float]:
  """DROP's official drop_eval.py (see drop.py), the best over the validated answers."""
  from flan.eval import drop as drop_eval
  scores = [max((drop_eval.em_f1(p, a) for a in refs), default=(0.0, 0.0))
            for p, refs in zip(predictions, answers)]
  return {"f1": _mean(f for _, f in scores), "exact_match": _mean(e for e, _ in scores)}


METRICS = {
    "accuracy": accuracy_metric,
    "accuracy_f1": accuracy_f1,
    "accuracy_macro_f1": accuracy_macro_f1,
    "matthews_corr": matthews_corr,
    "accuracy_matthews": accuracy_matthews,
    "pearson_spearman": pearson_spearman,
    "squad": squad,
    "squad_v2": squad_v2,
    "drop": drop,
    "record": record,
    "multirc": multirc,
    "bleu": bleu,
    "rouge": rouge,
    "exact_match": exact_match_metric,
    "edit_distance": edit_distance,
}
PRIMARY = {"accuracy": "accuracy", "accuracy_f1": "accuracy_f1",
           "accuracy_macro_f1": "accuracy_macro_f1", "matthews_corr": "matthews_corr",
           "accuracy_matthews": "accuracy", "pearson_spearman": "pearson_spearman", "squad": "f1",
           "squad_v2": "f1", "drop": "f1", "record": "f1",
           "multirc": "f1a", "bleu": "bleu", "rouge": "rouge", "exact_match": "exact_match",
           "edit_distance": "edit_distance"}
LOWER_IS_BETTER = frozenset({"edit_distance"})


def compute(metric: str, predictions: list[str], answers: list[list[str]], *,
            options: list[Sequence[str]] | None = None,
            groups: list[str] | None = None,
            scores: list[float | None] | None = None) -> dict[str, float]:
  """Every sub-score of `metric`; `options` per example (classification), `groups` (MultiRC's
  question ids) and `scores` (real-valued gold, STS-B) where the metric needs them."""
  if metric not in METRICS:
    raise KeyError(f"unknown metric {metric!r}; known: {sorted(METRICS)}")
  if len(predictions) != len(answers):
    raise ValueError(f"{len(predictions)} predictions for {len(answers)} answer lists")
  return METRICS[metric](list(predictions), [list(a) for a in answers], options=options,
                         groups=groups, scores=scores)


def primary(metric: str, scores: dict[str, float]) -> float:
  """The score of `metric` that ranks templates."""
  return scores[PRIMARY[metric]]


def better(metric: str, a: float, b: float) -> bool:
  """Whether score a beats score b under `metric` (strictly)."""
  return a < b if metric in LOWER_IS_BETTER else a > b
