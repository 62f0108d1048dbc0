"""Sentiment cluster: short texts whose label is the polarity with more phrases, never a tie.

Each text mixes phrases from a positive and a negative lexicon with neutral filler. The label is
"positive" iff it contains more positive than negative phrases (1-3 for the majority side, fewer for
the other). Labels alternate with the example index, so every split is balanced.

    synth_reviews: {"product": "kettle",
                    "text": "I got this kettle as a gift. It works perfectly. It arrived on a
                             Tuesday. Total waste of money. Highly recommended.",
                    "label": 1}                                   # 1 = positive
    synth_tweets:  {"topic": "the night market",
                    "text": "just left the night market: so disappointed. what a mess. #weekend",
                    "label": 0}                                   # 0 = negative
"""

from __future__ import annotations

import random

import tensorflow_datasets as tfds

from flan.data.synthetic.base import SyntheticBuilder

LABELS = ["negative", "positive"]

PRODUCTS = ["blender", "desk lamp", "backpack", "kettle", "phone case", "toaster", "keyboard",
            "water bottle", "rice cooker", "tent", "hair dryer", "suitcase", "coffee grinder",
            "bike helmet", "power bank", "frying pan"]
REVIEW_OPENERS = ["I bought this {product} last month.", "Here is my take on the {product}.",
                  "I got this {product} as a gift.", "I have had this {product} for a few weeks.",
                  "My neighbor recommended this {product}.", "This is my second {product}."]
REVIEW_POSITIVE = ["It works perfectly.", "Great value for the money.",
                   "Very sturdy and well made.", "Highly recommended.",
                   "It exceeded my expectations.", "The quality is excellent.",
                   "Customer support was quick and friendly.", "I use it every day and love it.",
                   "Worth every penny.", "Five stars from me."]
REVIEW_NEGATIVE = ["It broke after a week.", "Total waste of money.", "It feels cheap and flimsy.",
                   "The instructions were useless.", "It stopped working after two days.",
                   "Terrible quality.", "I regret buying it.", "It arrived scratched and dented.",
                   "Far too noisy.", "One star is too generous."]
REVIEW_NEUTRAL = ["It comes in three colors.", "I ordered it online.", "It arrived on a Tuesday.",
                  "The box was plain brown cardboard.", "My old one was a different brand.",
                  "The manual is in four languages.", "It weighs about as much as a book.",
                  "I mostly use it on weekends."]

TOPICS = ["the jazz festival", "the new ramen place", "the city marathon", "the science museum",
          "the beach party", "the farmers market", "the football final", "the rooftop bar",
          "the book fair", "the street parade", "the night market", "the comedy show",
          "the art gallery", "the food truck rally"]
TWEET_OPENERS = ["at {topic} right now", "{topic} today", "just left {topic}",
                 "quick thoughts on {topic}", "back from {topic}", "update from {topic}"]
TWEET_POSITIVE = ["what a vibe", "best night ever", "so much fun", "cannot wait to go back",
                  "absolutely stunning views", "the staff were lovely", "ten out of ten",
                  "loved every minute", "pure magic", "totally worth the trip"]
TWEET_NEGATIVE = ["total letdown", "waited two hours for nothing", "never going again",
                  "way too crowded", "worst service ever", "freezing and miserable",
                  "overpriced and bland", "what a mess", "so disappointed",
                  "complete chaos at the entrance"]
TWEET_NEUTRAL = ["went with my cousins", "first time there", "took the train in",
                 "posting this from the bus", "anyone else there", "still have my ticket stub",
                 "it started at eight"]
HASHTAGS = ["#weekend", "#saturday", "#citylife", "#nofilter"]


def polar_phrases(rng: random.Random, label: int, positive: list[str], negative: list[str],
                  neutral: list[str]) -> list[str]:
  """1-3 phrases of the label's polarity, strictly fewer of the other, 0-2 neutral, shuffled."""
  majority = rng.randint(1, 3)
  minority = rng.randint(0, majority - 1)
  n_pos, n_neg = (majority, minority) if label == 1 else (minority, majority)
  phrases = (rng.sample(positive, n_pos) + rng.sample(negative, n_neg)
             + rng.sample(neutral, rng.randint(0, 2)))
  rng.shuffle(phrases)
  return phrases


def polarity(text: str, positive: list[str], negative: list[str]) -> int:
  """The rule: 1 (positive) iff the text has more positive than negative phrases.

      >>> polarity("It works perfectly. Terrible quality. Highly recommended.",
      ...          REVIEW_POSITIVE, REVIEW_NEGATIVE)
      1
  """
  n_pos = sum(text.count(p) for p in positive)
  n_neg = sum(text.count(p) for p in negative)
  return int(n_pos > n_neg)


class SynthReviews(SyntheticBuilder):
  """Synthetic product reviews; label = the polarity with more phrases (never a tie)."""

  @classmethod
  def features(cls):
    return {"product": tfds.features.Text(), "text": tfds.features.Text(),
            "label": tfds.features.ClassLabel(names=LABELS)}

  @classmethod
  def draw(cls, rng, index):
    label = index % 2
    product = rng.choice(PRODUCTS)
    opener = rng.choice(REVIEW_OPENERS).format(product=product)
    body = polar_phrases(rng, label, REVIEW_POSITIVE, REVIEW_NEGATIVE, REVIEW_NEUTRAL)
    text = " ".join([opener] + body)
    return text, {"product": product, "text": text, "label": label}


class SynthTweets(SyntheticBuilder):
  """Synthetic social posts about events and places; label = the polarity with more phrases."""

  @classmethod
  def features(cls):
    return {"topic": tfds.features.Text(), "text": tfds.features.Text(),
            "label": tfds.features.ClassLabel(names=LABELS)}

  @classmethod
  def draw(cls, rng, index):
    label = index % 2
    topic = rng.choice(TOPICS)
    opener = rng.choice(TWEET_OPENERS).format(topic=topic)
    body = polar_phrases(rng, label, TWEET_POSITIVE, TWEET_NEGATIVE, TWEET_NEUTRAL)
    text = opener + ": " + ". ".join(body) + rng.choice(["", "!", "!!", "..."])
    if rng.random() < 0.4:
      text += " " + rng.choice(HASHTAGS)
    return text, {"topic": topic, "text": text, "label": label}
