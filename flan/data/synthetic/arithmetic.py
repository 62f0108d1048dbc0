"""Arithmetic cluster: answers are digits computed from the input.

    synth_addition: {"question": "23 + 17", "a": 23, "b": 17, "answer": "40"}
    synth_counting: {"words": "apple, river, chair", "count": 3, "answer": "3"}

Addition: two numbers 0-49, the answer is their sum. Counting: 1-9 distinct words separated by
", ", the answer is how many there are (every count is equally likely).
"""

from __future__ import annotations

import numpy as np
import tensorflow_datasets as tfds

from flan.data.synthetic.base import SyntheticBuilder

MAX_ADDEND = 49
MAX_WORDS = 9
SEPARATOR = ", "
WORDS = ["apple", "river", "chair", "cloud", "pencil", "garden", "window", "tiger", "bread",
         "mountain", "button", "letter", "orange", "bottle", "forest", "candle", "rabbit", "bridge",
         "pocket", "silver", "engine", "island", "carpet", "lemon", "spoon", "planet", "shadow",
         "ticket", "violin", "wagon", "feather", "castle", "puzzle", "anchor", "basket", "cookie",
         "dragon", "jacket", "kitten", "ladder"]


class SynthAddition(SyntheticBuilder):
  """'a + b' with a, b in 0-49; the answer is the sum as digits."""

  @classmethod
  def features(cls):
    return {"question": tfds.features.Text(), "a": np.int32, "b": np.int32,
            "answer": tfds.features.Text()}

  @classmethod
  def draw(cls, rng, index):
    a, b = rng.randint(0, MAX_ADDEND), rng.randint(0, MAX_ADDEND)
    question = f"{a} + {b}"
    return question, {"question": question, "a": a, "b": b, "answer": str(a + b)}


class SynthCounting(SyntheticBuilder):
  """A comma-separated list of 1-9 distinct words; the answer is how many, as digits."""

  @classmethod
  def features(cls):
    return {"words": tfds.features.Text(), "count": np.int32, "answer": tfds.features.Text()}

  @classmethod
  def draw(cls, rng, index):
    count = rng.randint(1, MAX_WORDS)
    words = SEPARATOR.join(rng.sample(WORDS, count))
    return words, {"words": words, "count": count, "answer": str(count)}
