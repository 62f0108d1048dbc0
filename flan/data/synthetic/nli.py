"""NLI cluster: does the hypothesis follow from the premise? Labels alternate, so splits balance.

    synth_containment: {"premise": "Maria packed a lamp, a kettle and a rope.",
                        "hypothesis": "Maria packed a kettle.", "label": 0}    # 0 = yes
    synth_comparison:  {"premise": "The bridge is 42 meters long.",
                        "hypothesis": "The bridge is shorter than 30 meters.", "label": 1}  # no

Containment: yes iff the hypothesis item is one of the 2-5 listed items (a "no" item is never
listed). Comparison: yes iff the stated number really is above (or below) the threshold; the
threshold never equals the number.
"""

from __future__ import annotations

import tensorflow_datasets as tfds

from flan.data.synthetic.base import SyntheticBuilder, join_list

LABELS = ["yes", "no"]  # class 0 = yes, class 1 = no (the catalog's option order)

PEOPLE = ["Maria", "Ken", "Aisha", "Tom", "Lena", "Omar", "Priya", "Jonas", "Sofia", "Daniel",
          "Mei", "Carlos"]
ACTIONS = ["packed", "bought", "borrowed", "found", "sold", "carried", "lost", "painted"]
ITEMS = ["lamp", "kettle", "rope", "map", "book", "candle", "blanket", "hammer", "radio", "teapot",
         "jacket", "pillow", "notebook", "camera", "bucket", "ladder", "scarf", "basket", "mirror",
         "torch", "wallet", "guitar", "compass", "towel"]  # all take the article "a"

# (subject, premise pattern, "more" comparative, "less" comparative, unit)
MEASURES = [
    ("The bridge", "{s} is {n} meters long.", "longer", "shorter", "meters"),
    ("The tower", "{s} is {n} meters tall.", "taller", "shorter", "meters"),
    ("The river", "{s} is {n} kilometers long.", "longer", "shorter", "kilometers"),
    ("The lake", "{s} is {n} meters deep.", "deeper", "shallower", "meters"),
    ("The parcel", "{s} weighs {n} kilograms.", "heavier", "lighter", "kilograms"),
    ("The film", "{s} lasts {n} minutes.", "longer", "shorter", "minutes"),
    ("The hike", "{s} is {n} kilometers long.", "longer", "shorter", "kilometers"),
    ("The statue", "{s} is {n} meters tall.", "taller", "shorter", "meters"),
]
MIN_VALUE, MAX_VALUE = 1, 99  # thresholds; stated numbers are 2-98 so every case is possible


class SynthContainment(SyntheticBuilder):
  """Premise lists items someone has; yes iff the hypothesis names one of them."""

  @classmethod
  def features(cls):
    return {"premise": tfds.features.Text(), "hypothesis": tfds.features.Text(),
            "label": tfds.features.ClassLabel(names=LABELS)}

  @classmethod
  def draw(cls, rng, index):
    label = index % 2
    person, action = rng.choice(PEOPLE), rng.choice(ACTIONS)
    chosen = rng.sample(ITEMS, rng.randint(3, 6))  # 2-5 listed + 1 absent
    listed, absent = chosen[:-1], chosen[-1]
    item = rng.choice(listed) if label == 0 else absent
    premise = f"{person} {action} {join_list(['a ' + x for x in listed])}."
    hypothesis = f"{person} {action} a {item}."
    return premise + "\n" + hypothesis, {"premise": premise, "hypothesis": hypothesis,
                                         "label": label}


class SynthComparison(SyntheticBuilder):
  """Premise states a number; yes iff the hypothesis' comparison with a threshold is true."""

  @classmethod
  def features(cls):
    return {"premise": tfds.features.Text(), "hypothesis": tfds.features.Text(),
            "label": tfds.features.ClassLabel(names=LABELS)}

  @classmethod
  def draw(cls, rng, index):
    label = index % 2
    subject, pattern, more, less, unit = rng.choice(MEASURES)
    value = rng.randint(MIN_VALUE + 1, MAX_VALUE - 1)
    above = rng.random() < 0.5  # the hypothesis says "more than"
    below_value = rng.randint(MIN_VALUE, value - 1)
    above_value = rng.randint(value + 1, MAX_VALUE)
    true = label == 0
    threshold = below_value if above == true else above_value
    word = more if above else less
    premise = pattern.format(s=subject, n=value)
    hypothesis = f"{subject} is {word} than {threshold} {unit}."
    return premise + "\n" + hypothesis, {"premise": premise, "hypothesis": hypothesis,
                                         "label": label}
