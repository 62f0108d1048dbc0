"""Metrics over predictions and reference answer lists.

    accuracy(["yes", "no"], [["yes"], ["yes"]])            == 0.5
    exact_match(["The Cat."], [["the cat"]])               == 1.0   (SQuAD normalization)
    squad_f1(["the black cat"], [["black cat sat"]])       == 2/3   (tokens: black, cat vs black, cat, sat)
"""

from __future__ import annotations

import collections
import re
import string

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def normalize_answer(text: str) -> str:
  """SQuAD normalization: lower case, no punctuation, no articles, single spaces."""
  text = text.lower()
  text = "".join(ch for ch in text if ch not in set(string.punctuation))
  text = _ARTICLES.sub(" ", text)
  return " ".join(text.split())


def accuracy(predictions: list[str], answers: list[list[str]]) -> float:
  """Fraction of predictions that equal one of their answers exactly."""
  hits = [p in a for p, a in zip(predictions, answers)]
  return sum(hits) / max(len(hits), 1)


def exact_match(predictions: list[str], answers: list[list[str]]) -> float:
  """Fraction of predictions equal to one of their answers after SQuAD normalization."""
  hits = [max(normalize_answer(p) == normalize_answer(a) for a in refs) if refs else False
          for p, refs in zip(predictions, answers)]
  return sum(hits) / max(len(hits), 1)


def _f1(prediction: str, reference: str) -> float:
  pred, ref = normalize_answer(prediction).split(), normalize_answer(reference).split()
  common = collections.Counter(pred) & collections.Counter(ref)
  overlap = sum(common.values())
  if not pred or not ref:
    return float(pred == ref)
  if overlap == 0:
    return 0.0
  precision, recall = overlap / len(pred), overlap / len(ref)
  return 2 * precision * recall / (precision + recall)


def squad_f1(predictions: list[str], answers: list[list[str]]) -> float:
  """Mean over examples of the best token F1 against any answer."""
  scores = [max((_f1(p, a) for a in refs), default=0.0) for p, refs in zip(predictions, answers)]
  return sum(scores) / max(len(scores), 1)


def macro_f1(predictions: list[str], answers: list[list[str]], labels: list[str]) -> float:
  """Unweighted mean over labels of per-label F1 (the gold label is the first answer)."""
  gold = [a[0] for a in answers]
  scores = []
  for label in labels:
    tp = sum(p == label and g == label for p, g in zip(predictions, gold))
    fp = sum(p == label and g != label for p, g in zip(predictions, gold))
    fn = sum(p != label and g == label for p, g in zip(predictions, gold))
    scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
  return sum(scores) / max(len(scores), 1)


# metric name in the catalog -> (function, the name reported)
METRICS = {
    "accuracy": accuracy,
    "exact_match": exact_match,
    "squad": squad_f1,
}


def compute(metric: str, predictions: list[str], answers: list[list[str]]) -> float:
  if metric not in METRICS:
    raise KeyError(f"unknown metric {metric!r}; known: {sorted(METRICS)}")
  return METRICS[metric](predictions, answers)
