"""Struct-to-text cluster: verbalize a small structure with a fixed, deterministic pattern.

    synth_records: {"record": "name[Blue Fox] | food[Thai] | price[cheap] | area[riverside]",
                    "answer": "Blue Fox serves cheap Thai food by the riverside."}
    synth_triples: {"triple": "(Oslo; capital of; Norway)", "subject": "Oslo",
                    "relation": "capital of", "object": "Norway",
                    "answer": "Oslo is the capital of Norway."}

Records always list name, food, then (half the time) price, then area; the sentence is
"{name} serves [{price phrase} ]{food} food {area phrase}." Triples use one phrasing per relation
(`RELATIONS`); "works as" picks "a"/"an" by the job's first letter.
"""

from __future__ import annotations

import tensorflow_datasets as tfds

from flan.data.synthetic.base import SyntheticBuilder

RESTAURANTS = ["Blue Fox", "Red Lantern", "Green Olive", "Silver Fork", "Old Mill", "Little Bay",
               "Corner House", "Golden Pear", "Quiet Owl", "Sunny Table", "Stone Bridge",
               "Lucky Cat"]
FOODS = ["Thai", "Italian", "Chinese", "French", "Indian", "Japanese", "Mexican", "Greek",
         "Spanish", "Turkish"]
PRICES = {"cheap": "cheap", "moderate": "moderately priced", "expensive": "expensive"}
AREAS = {"riverside": "by the riverside", "city centre": "in the city centre",
         "harbour": "near the harbour", "old town": "in the old town",
         "airport": "close to the airport", "university": "next to the university"}

PEOPLE = ["Ana Ruiz", "Tom Berg", "Lena Novak", "Omar Haddad", "Mei Lin", "Jonas Weber",
          "Priya Nair", "Carlos Mendes", "Sara Holm", "Ivan Petrov", "Yuki Sato", "Grace Okafor"]
CAPITALS = [("Oslo", "Norway"), ("Lima", "Peru"), ("Nairobi", "Kenya"), ("Dublin", "Ireland"),
            ("Hanoi", "Vietnam"), ("Quito", "Ecuador"), ("Tunis", "Tunisia"),
            ("Lisbon", "Portugal"), ("Ottawa", "Canada"), ("Canberra", "Australia"),
            ("Cairo", "Egypt"), ("Madrid", "Spain")]
CITIES = ["Lisbon", "Oslo", "Nairobi", "Lima", "Osaka", "Krakow", "Dublin", "Hanoi", "Porto",
          "Tunis", "Bergen", "Leeds"]
JOBS = ["nurse", "engineer", "teacher", "architect", "baker", "pilot", "lawyer", "farmer",
        "artist", "dentist", "editor", "optician"]
INSTRUMENTS = ["violin", "piano", "cello", "guitar", "flute", "drums", "trumpet", "harp"]
LANGUAGES = ["Spanish", "Portuguese", "Japanese", "Swahili", "Polish", "Arabic", "Hindi", "German"]
BOOKS = ["The Quiet Harbor", "Paper Birds", "A Winter Road", "The Glass Orchard", "Salt and Ash",
         "Night Trains", "The Last Lantern", "Small Kingdoms"]

# relation -> sentence pattern ({a} is the article of the object)
RELATIONS = {
    "capital of": "{s} is the capital of {o}.",
    "born in": "{s} was born in {o}.",
    "works as": "{s} works as {a} {o}.",
    "plays": "{s} plays the {o}.",
    "speaks": "{s} speaks {o}.",
    "married to": "{s} is married to {o}.",
    "written by": "{s} was written by {o}.",
}


def record_sentence(name: str, food: str, area: str, price: str | None = None) -> str:
  """The records rule.

      >>> record_sentence("Blue Fox", "Thai", "riverside", "moderate")
      'Blue Fox serves moderately priced Thai food by the riverside.'
  """
  price_phrase = PRICES[price] + " " if price else ""
  return f"{name} serves {price_phrase}{food} food {AREAS[area]}."


def triple_sentence(subject: str, relation: str, obj: str) -> str:
  """The triples rule.

      >>> triple_sentence("Yuki Sato", "works as", "engineer")
      'Yuki Sato works as an engineer.'
  """
  article = "an" if obj[0].lower() in "aeiou" else "a"
  return RELATIONS[relation].format(s=subject, o=obj, a=article)


def _subject_object(rng, relation: str) -> tuple[str, str]:
  if relation == "capital of":
    return rng.choice(CAPITALS)
  if relation == "married to":
    first, second = rng.sample(PEOPLE, 2)
    return first, second
  if relation == "written by":
    return rng.choice(BOOKS), rng.choice(PEOPLE)
  objects = {"born in": CITIES, "works as": JOBS, "plays": INSTRUMENTS, "speaks": LANGUAGES}
  return rng.choice(PEOPLE), rng.choice(objects[relation])


class SynthRecords(SyntheticBuilder):
  """A restaurant record -> one fixed-pattern sentence (`record_sentence`)."""

  @classmethod
  def features(cls):
    return {"record": tfds.features.Text(), "answer": tfds.features.Text()}

  @classmethod
  def draw(cls, rng, index):
    name, food, area = rng.choice(RESTAURANTS), rng.choice(FOODS), rng.choice(sorted(AREAS))
    price = rng.choice(sorted(PRICES)) if rng.random() < 0.5 else None
    parts = [f"name[{name}]", f"food[{food}]"] + ([f"price[{price}]"] if price else [])
    record = " | ".join(parts + [f"area[{area}]"])
    return record, {"record": record, "answer": record_sentence(name, food, area, price)}


class SynthTriples(SyntheticBuilder):
  """A (subject; relation; object) triple -> its sentence (`triple_sentence`)."""

  @classmethod
  def features(cls):
    return {"triple": tfds.features.Text(), "subject": tfds.features.Text(),
            "relation": tfds.features.Text(), "object": tfds.features.Text(),
            "answer": tfds.features.Text()}

  @classmethod
  def draw(cls, rng, index):
    relation = rng.choice(list(RELATIONS))
    subject, obj = _subject_object(rng, relation)
    triple = f"({subject}; {relation}; {obj})"
    return triple, {"triple": triple, "subject": subject, "relation": relation, "object": obj,
                    "answer": triple_sentence(subject, relation, obj)}
