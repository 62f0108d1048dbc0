"""The synthetic TFDS datasets: they build offline, follow their rules, and fit their templates."""

import re
import subprocess
import sys

import pytest

tfds = pytest.importorskip("tensorflow_datasets")

from flan.data import adapters, catalog, render, synthetic  # noqa: E402
from flan.data.synthetic import base, nli, sentiment, struct_to_text  # noqa: E402

NAMES = sorted(synthetic.BUILDERS)
SPLITS = ("train", "validation", "test")
RULE_SAMPLE = 60  # examples per split whose label/answer is recomputed from the input


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  directory = tmp_path_factory.mktemp("tfds")
  synthetic.prepare(data_dir=directory)
  return directory


def read(directory, name, split, n=None):
  ds = tfds.builder(name, data_dir=directory).as_dataset(split=split, shuffle_files=False)
  return list(tfds.as_numpy(ds if n is None else ds.take(n)))


def s(value):
  return adapters.text(value)


# ---- The rules, recomputed from the model-visible input. ----------------------------------------

def check_sentiment(ex, positive, negative, subject):
  text = s(ex["text"])
  n_pos = sum(text.count(p) for p in positive)
  n_neg = sum(text.count(p) for p in negative)
  assert n_pos != n_neg, text
  assert int(ex["label"]) == int(n_pos > n_neg), text
  assert s(ex[subject]) in text


def check_reviews(ex):
  check_sentiment(ex, sentiment.REVIEW_POSITIVE, sentiment.REVIEW_NEGATIVE, "product")


def check_tweets(ex):
  check_sentiment(ex, sentiment.TWEET_POSITIVE, sentiment.TWEET_NEGATIVE, "topic")


def check_containment(ex):
  premise, hypothesis = s(ex["premise"]), s(ex["hypothesis"])
  person, action, listed = re.fullmatch(r"(\w+) (\w+) (.+)\.", premise).groups()
  items = [x.removeprefix("a ") for x in re.split(r", | and ", listed)]
  assert 2 <= len(items) <= 5, premise
  h_person, h_action, item = re.fullmatch(r"(\w+) (\w+) a (\w+)\.", hypothesis).groups()
  assert (h_person, h_action) == (person, action)
  assert int(ex["label"]) == (0 if item in items else 1), (premise, hypothesis)


MORE = {"longer", "taller", "deeper", "heavier"}
LESS = {"shorter", "shallower", "lighter"}


def check_comparison(ex):
  premise, hypothesis = s(ex["premise"]), s(ex["hypothesis"])
  value = int(re.search(r"\d+", premise).group())
  word, threshold = re.search(r" is (\w+) than (\d+) ", hypothesis).groups()
  threshold = int(threshold)
  assert word in MORE | LESS and threshold != value
  true = value > threshold if word in MORE else value < threshold
  assert int(ex["label"]) == (0 if true else 1), (premise, hypothesis)
  assert premise.split(" ")[:2] == hypothesis.split(" ")[:2]  # same subject


def check_addition(ex):
  a, b = map(int, s(ex["question"]).split(" + "))
  assert 0 <= a <= 49 and 0 <= b <= 49
  assert (a, b) == (int(ex["a"]), int(ex["b"]))
  assert s(ex["answer"]) == str(a + b)


def check_counting(ex):
  words = s(ex["words"]).split(", ")
  assert 1 <= len(words) <= 9 and len(set(words)) == len(words)
  assert all(re.fullmatch(r"[a-z]+", w) for w in words)
  assert s(ex["answer"]) == str(len(words)) == str(int(ex["count"]))


def check_records(ex):
  fields = dict(re.findall(r"(\w+)\[([^\]]+)\]", s(ex["record"])))
  assert set(fields) in ({"name", "food", "area"}, {"name", "food", "price", "area"})
  price = struct_to_text.PRICES[fields["price"]] + " " if "price" in fields else ""
  area = struct_to_text.AREAS[fields["area"]]
  expected = f"{fields['name']} serves {price}{fields['food']} food {area}."
  assert s(ex["answer"]) == expected


def check_triples(ex):
  subject, relation, obj = re.fullmatch(r"\((.+); (.+); (.+)\)", s(ex["triple"])).groups()
  assert (subject, relation, obj) == (s(ex["subject"]), s(ex["relation"]), s(ex["object"]))
  answer = s(ex["answer"])
  assert answer.startswith(subject + " ") and answer.endswith(" " + obj + ".")
  assert answer == struct_to_text.triple_sentence(subject, relation, obj)
  if relation == "capital of":
    assert (subject, obj) in struct_to_text.CAPITALS
  if relation == "works as":
    assert answer.endswith((" an " if obj[0] in "aeiou" else " a ") + obj + ".")


RULES = {"synth_reviews": check_reviews, "synth_tweets": check_tweets,
         "synth_containment": check_containment, "synth_comparison": check_comparison,
         "synth_addition": check_addition, "synth_counting": check_counting,
         "synth_records": check_records, "synth_triples": check_triples}


# ---- Tests. -------------------------------------------------------------------------------------

def test_builders_match_the_catalog():
  assert NAMES == sorted(RULES)
  assert NAMES == sorted(spec.name for spec in catalog.entries(collection="synthetic"))
  for name, cls in synthetic.BUILDERS.items():
    spec = catalog.get(name)
    assert cls.name == name == spec.tfds_name
    assert str(cls.VERSION) == spec.tfds_version == "1.0.0"
    assert spec.splits == {split: split for split in SPLITS}
  assert synthetic.SIZES == {"train": 3000, "validation": 200, "test": 200}


def test_importing_flan_does_not_import_synthetic():
  code = ("import sys, flan, flan.data.catalog, flan.data.adapters, flan.data.render; "
          "assert 'flan.data.synthetic' not in sys.modules")
  subprocess.run([sys.executable, "-c", code], check=True)


def test_prepared_sizes(data_dir):
  for name in NAMES:
    splits = tfds.builder(name, data_dir=data_dir).info.splits
    assert {k: splits[k].num_examples for k in SPLITS} == synthetic.SIZES, name


@pytest.mark.parametrize("name", NAMES)
def test_examples_follow_the_rule(data_dir, name):
  for split in SPLITS:
    for ex in read(data_dir, name, split, RULE_SAMPLE):
      RULES[name](ex)


@pytest.mark.parametrize("name", NAMES)
def test_every_template_renders(data_dir, name):
  spec = catalog.get(name)
  raws = read(data_dir, name, "validation", 16)
  for raw in raws:
    record = adapters.adapt(spec, raw)
    assert record is not None
    for template in spec.templates:
      if not template.accepts(record):
        continue
      ex = render.render(template, record)
      for text in (ex.inputs, ex.targets):
        assert text.strip() and "{" not in text and "}" not in text, (template.index, text)
      if template.uses_options:
        assert ex.inputs.endswith(render.options_block(spec.options))
      if template.eval:
        assert ex.targets == record["answer"]
        if spec.type == "classification":
          assert ex.targets in ex.options
  for template in spec.templates:  # label-conditioned inversions see some examples
    assert any(template.accepts(adapters.adapt(spec, raw)) for raw in raws)


@pytest.mark.parametrize("name", NAMES)
def test_full_splits_balanced_and_disjoint(name):
  builder = synthetic.BUILDERS[name]
  spec = catalog.get(name)
  inputs = {}
  for split in SPLITS:
    examples = [ex for _, ex in builder.generate(split)]
    assert len(examples) == synthetic.SIZES[split]
    inputs[split] = {tuple(str(ex[f]) for f in spec.fields) for ex in examples}
    if spec.type == "classification":
      assert sum(ex["label"] for ex in examples) * 2 == len(examples)
  assert not inputs["train"] & inputs["validation"]
  assert not inputs["train"] & inputs["test"]
  assert not inputs["validation"] & inputs["test"]


def test_two_builds_are_identical(data_dir, tmp_path):
  synthetic.prepare(data_dir=tmp_path)
  for name in NAMES:
    shards = sorted(p.relative_to(data_dir) for p in data_dir.glob(f"{name}/*/*.tfrecord*"))
    assert len(shards) >= len(SPLITS)
    assert shards == sorted(p.relative_to(tmp_path) for p in tmp_path.glob(f"{name}/*/*.tfrecord*"))
    for shard in shards:  # byte-identical records, in the same order
      assert (data_dir / shard).read_bytes() == (tmp_path / shard).read_bytes(), shard
    assert read(data_dir, name, "test", 20) == read(tmp_path, name, "test", 20)


def test_capped_build_is_a_prefix(tmp_path):
  builders = synthetic.prepare(["synth_addition"], data_dir=tmp_path, max_examples_per_split=5)
  assert builders["synth_addition"].info.splits["test"].num_examples == 5
  expected = [ex for _, ex in synthetic.SynthAddition.generate("test", 5)]
  got = read(tmp_path, "synth_addition", "test")
  assert sorted(s(ex["question"]) for ex in got) == sorted(ex["question"] for ex in expected)


def test_seeds_and_split_assignment_are_stable():
  # Fixed across processes and Python versions (crc32, not the salted `hash`).
  assert base.seed("synth_addition", "train") == base.seed("synth_addition", "train")
  assert base.seed("synth_addition", "train") != base.seed("synth_addition", "test")
  assert [base.split_of(k) for k in ("12 + 30", "0 + 2", "1 + 5")] == [
      "train", "validation", "test"]
  assert nli.LABELS == list(catalog.get("synth_containment").options)
  assert sentiment.LABELS == list(catalog.get("synth_reviews").options)


def test_unknown_name_is_rejected(tmp_path):
  with pytest.raises(KeyError, match="synth_addition"):
    synthetic.prepare(["synth_adition"], data_dir=tmp_path)
