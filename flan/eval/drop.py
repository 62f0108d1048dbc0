"""DROP's official answer comparison (allenai's drop_eval.py), for one prediction and one gold.

    em_f1("2.5", "25")            == (0.0, 0.0)    numbers are floats: 2.5 != 25
    em_f1("25", "25.0")           == (1.0, 1.0)
    em_f1("4 touchdowns", "5 touchdowns") == (0.0, 0.0)   the gold's numbers must be predicted
    em_f1("Tom Brady", "Brady")   == (0.0, 0.67)   bag-of-tokens F1, rounded to 2 places

A text is split into tokens on spaces and hyphens; each token is lower-cased, loses its
punctuation unless it parses as a number, is written as a float when it is one ('25' -> '25.0'),
and articles are dropped. EM compares the normalized texts; F1 compares their token sets, and is
0 when the gold has numbers none of which the prediction has. A text with several spans (DROP's
multi-span answers) is a list: spans are aligned one to one to maximize F1 (Hungarian matching),
as the official script does.

The split on hyphens is the official script's: it reads '-5' as '5' (DROP's answers are counts,
years and spans; the sign-sensitive comparison lives in metrics.same_answer, for Math).
"""

from __future__ import annotations

import re
import string

import numpy as np

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = set(string.punctuation)


def _is_number(text: str) -> bool:
  try:
    float(text)
  except ValueError:
    return False
  return True


def _normalize_token(token: str) -> str:
  token = token.lower()
  if not _is_number(token):
    token = "".join(ch for ch in token if ch not in _PUNCTUATION)
  if _is_number(token):
    token = str(float(token))
  return " ".join(_ARTICLES.sub(" ", token).split())


def normalize(text: str) -> str:
  """'The 1,000 Eagles-fans.' -> '1000.0 eagles fans'."""
  parts = [_normalize_token(t) for t in re.split(" |-", text)]
  return " ".join(p for p in parts if p.strip()).strip()


def _bags(spans: list[str]) -> tuple[list[str], list[set[str]]]:
  normalized = [normalize(s) for s in spans]
  return normalized, [set(n.split()) for n in normalized]


def _f1(predicted: set[str], gold: set[str]) -> float:
  overlap = len(gold & predicted)
  precision = overlap / len(predicted) if predicted else 1.0
  recall = overlap / len(gold) if gold else 1.0
  if precision == 0.0 and recall == 0.0:
    return 0.0
  return 2 * precision * recall / (precision + recall)


def _numbers_match(gold: set[str], predicted: set[str]) -> bool:
  gold_numbers = {w for w in gold if _is_number(w)}
  return not gold_numbers or bool(gold_numbers & {w for w in predicted if _is_number(w)})


def _aligned_f1(predicted: list[set[str]], gold: list[set[str]]) -> np.ndarray:
  from scipy.optimize import linear_sum_assignment
  scores = np.zeros([len(gold), len(predicted)])
  for i, g in enumerate(gold):
    for j, p in enumerate(predicted):
      if _numbers_match(g, p):
        scores[i, j] = _f1(p, g)
  rows, columns = linear_sum_assignment(-scores)
  best = np.zeros([max(len(gold), len(predicted))])
  for r, c in zip(rows, columns):
    best[r] = max(best[r], scores[r, c])
  return best


def em_f1(prediction: str | list[str], gold: str | list[str]) -> tuple[float, float]:
  """(exact match, F1) of a prediction against one gold answer, each a text or a list of spans."""
  predicted = _bags([prediction] if isinstance(prediction, str) else list(prediction))
  golden = _bags([gold] if isinstance(gold, str) else list(gold))
  exact = float(set(predicted[0]) == set(golden[0]) and len(predicted[0]) == len(golden[0]))
  f1 = round(float(np.mean(_aligned_f1(predicted[1], golden[1]))), 2)
  return exact, f1
