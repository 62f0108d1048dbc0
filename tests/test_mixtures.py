"""Mixtures as data: rates and probabilities, held-out splits, the paper's ablations, data stats."""

import json

import pytest
import yaml

from flan.data import catalog, clusters, datasets, mixtures, records, tasks
from flan.data.render import Style
from flan import cli
from flan.cli import data_stats
from flan.data.catalog import UnknownEntryError

PAPER_ORDER = ["summarization", "translation", "reading_comprehension", "sentiment",
               "struct_to_text", "coreference", "misc"]
THREE_HELDOUT = ("nli", "closed_book_qa", "commonsense")


def flan_cluster_names():
  return sorted({s.cluster for s in catalog.entries(collection="flan")})


# --- a toy catalog: rates and probabilities by hand ---------------------------------------------

TOY = {  # entry: (copied synthetic entry, train split expression)
    "toy_reviews": ("synth_reviews", "train[:50]"),
    "toy_tweets": ("synth_tweets", "train[:200]"),
    "toy_addition": ("synth_addition", "train"),       # the whole 240-example test split
    "toy_containment": ("synth_containment", "train[:120]"),
}


@pytest.fixture()
def toy_catalog(tmp_path, monkeypatch, synthetic_data_dir, use_data_dir):
  """Four synthetic entries in collection 'toy' with 50 / 200 / 240 / 120 train examples, and a
  rate cap of 100: the hand-computed case below."""
  directory = tmp_path / "templates"
  directory.mkdir()
  for name, (source, train) in TOY.items():
    data = yaml.safe_load((catalog.TEMPLATES_DIR / f"{source}.yaml").read_text())
    data.update(name=name, collection="toy", paper_dataset=name)
    data["splits"] = dict(data["splits"], train=train)
    (directory / f"{name}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
  monkeypatch.setenv("FLAN_TEMPLATES_DIR", str(directory))
  monkeypatch.setattr(mixtures, "rate_cap", lambda: 100)
  use_data_dir(synthetic_data_dir)
  return directory


# toy_containment (nli) is held out; rates min(n, 100): addition 100, reviews 50, tweets 100.
TOY_RATES = {"toy_addition": 100.0, "toy_reviews": 50.0, "toy_tweets": 100.0}
TOY_PROBABILITIES = {"toy_addition": 0.4, "toy_reviews": 0.2, "toy_tweets": 0.4}


def test_toy_rates_and_probabilities_equal_hand_computed_values(toy_catalog):
  mixture = mixtures.get_mixture("mix:toy:heldout_nli")
  rates = {t.name: mixture.get_rate(t) for t in mixture.tasks}
  assert rates == {f"flan:{name}": rate for name, rate in TOY_RATES.items()}
  assert mixture.total_rate == 250.0

  stats = data_stats.mixture_stats("mix:toy:heldout_nli", steps=10, batch_size=5)
  by_entry = {d["entry"]: d for d in stats["datasets"]}
  assert {e: d["n_train"] for e, d in by_entry.items()} == {
      "toy_addition": 240, "toy_reviews": 50, "toy_tweets": 200}
  assert {e: d["source"] for e, d in by_entry.items()} == dict.fromkeys(by_entry, "tfds")
  assert {e: d["rate"] for e, d in by_entry.items()} == TOY_RATES
  assert {e: d["probability"] for e, d in by_entry.items()} == pytest.approx(TOY_PROBABILITIES)
  # 10 steps x 5 examples: 50 draws.
  assert {e: d["expected"] for e, d in by_entry.items()} == pytest.approx(
      {"toy_addition": 20.0, "toy_reviews": 10.0, "toy_tweets": 20.0})
  clusters = {c["cluster"]: c for c in stats["clusters"]}
  assert clusters["sentiment"]["rate"] == 150.0 and clusters["sentiment"]["n_train"] == 250
  assert clusters["sentiment"]["probability"] == pytest.approx(0.6)
  assert clusters["arithmetic"]["expected"] == pytest.approx(20.0)
  assert stats["heldout"] == ["nli"] and stats["dropped"] == ["paraphrase"]
  assert stats["evaluation"] == ["toy_containment"]


def test_stats_use_size_hints_when_data_is_not_prepared(tmp_path, use_data_dir):
  use_data_dir(tmp_path / "empty")
  hints = {"synth_addition": 6000, "synth_reviews": 1000, "synth_tweets": 2000}
  stats = data_stats.mixture_stats("mix:synthetic:heldout_nli", hints=hints)
  by_entry = {d["entry"]: d for d in stats["datasets"]}
  assert by_entry["synth_addition"]["rate"] == 3000.0  # capped
  assert by_entry["synth_addition"]["source"] == "hint"
  assert by_entry["synth_counting"]["n_train"] is None  # neither prepared nor hinted
  assert by_entry["synth_counting"]["probability"] is None
  assert by_entry["synth_reviews"]["probability"] == pytest.approx(1000 / 6000)
  text = data_stats.format_stats(stats)
  assert "6000~" in text and "sizes unknown" in text and "synth_counting" in text


def test_data_stats_command(capsys, toy_catalog):
  assert cli.main(["data", "stats", "mix:toy:heldout_nli", "--steps", "10",
                   "--batch_size", "5"]) == 0
  out = capsys.readouterr().out
  lines = out.splitlines()
  assert lines[0].split() == ["dataset", "cluster", "n_train", "rate", "probability",
                              "expected", "epochs"]
  assert lines[1].split() == ["toy_addition", "arithmetic", "240", "100", "0.4000", "20",
                              "0.08"]
  assert "held out: nli; also dropped: paraphrase (evaluated: toy_containment)" in out
  assert cli.main(["data", "stats", "mix:toy", "--json"]) == 0
  stats = json.loads(capsys.readouterr().out)
  assert [d["entry"] for d in stats["datasets"]] == sorted(TOY)
  assert cli.main(["data", "stats", "mix:toy:clusters_9"]) == 2
  assert "is not a mixture name" in capsys.readouterr().err


# --- held-out splits over the real catalog ------------------------------------------------------

def all_definitions():
  defs = [mixtures.parse_mixture_name(mixtures.mixture_name("flan", c))
          for c in flan_cluster_names()]
  return defs + [d for d in mixtures.named_mixtures().values() if d.collection == "flan"]


def test_every_heldout_split_obeys_the_exclusion_rules():
  rules = clusters.rules()
  for definition in all_definitions():
    training, evaluation = mixtures.split(definition)
    assert evaluation, definition.name
    train_clusters = {s.cluster for s in training}
    for heldout in definition.heldout:
      assert heldout not in train_clusters
      for dropped in rules["heldout_also_drops"].get(heldout, []):
        assert dropped not in train_clusters, (definition.name, dropped)
    # No evaluation dataset sits in the training mixture, by any of the identities.
    for key in ("name", "paper_dataset", "tfds_name", "tfds_full_name"):
      shared = {getattr(s, key) for s in training} & {getattr(s, key) for s in evaluation}
      assert not shared, (definition.name, key, shared)
    assert not any(s.eval_only for s in training)
    assert {s.cluster for s in evaluation} == set(definition.heldout)


def test_the_paper_rules_in_particular():
  def train_clusters(cluster):
    training, _ = mixtures.split_entries("flan", cluster)
    return {s.cluster for s in training}
  assert "paraphrase" not in train_clusters("nli") and "nli" not in train_clusters("paraphrase")
  for parent in ("reading_comprehension", "commonsense"):
    assert "reading_comprehension_with_commonsense" not in train_clusters(parent)
  both = train_clusters("reading_comprehension_with_commonsense")
  assert not both & {"reading_comprehension", "commonsense"}
  # Leave-one-out keeps everything else.
  assert train_clusters("translation") == set(flan_cluster_names()) - {"translation"}


def test_same_dataset_and_same_source_rules_are_data(monkeypatch):
  rules = dict(clusters.rules())
  # MNLI matched / mismatched read the same train examples: the full mixture trains on one.
  names = [s.name for s in mixtures.split_entries("flan", None)[0]]
  assert "mnli_matched" in names and "mnli_mismatched" not in names
  # A same-source group removes its members from training when any of them is evaluated.
  monkeypatch.setattr(clusters, "rules", lambda: dict(rules, same_source=[["SQuAD", "QNLI"]]))
  training, evaluation = mixtures.split_entries("flan", "nli")
  assert "qnli" in {s.name for s in evaluation}
  assert not {"squad_v1", "squad_v2"} & {s.name for s in training}


# --- the ablations ------------------------------------------------------------------------------

def test_cluster_count_ablation_adds_clusters_in_the_paper_order():
  for k in range(1, 8):
    definition = mixtures.parse_mixture_name(f"mix:flan:clusters_{k}")
    assert definition.heldout == THREE_HELDOUT
    training, evaluation = mixtures.split(definition)
    assert {s.cluster for s in training} == set(PAPER_ORDER[:k])
    assert {s.cluster for s in evaluation} == set(THREE_HELDOUT)
  # Seven clusters is everything the held-out rules leave ("conversational QA" = misc).
  seven, _ = mixtures.split(mixtures.parse_mixture_name("mix:flan:clusters_7"))
  everything, _ = mixtures.split_entries("flan", THREE_HELDOUT)
  assert [s.name for s in seven] == [s.name for s in everything]


def test_template_count_ablation_names_template_ranges():
  for count, suffix in ((1, ":t0"), (4, ":t0-3"), (10, "")):
    definition = mixtures.parse_mixture_name(f"mix:flan:templates_{count}")
    names = mixtures.training_tasks(definition)
    assert names[0] == f"flan:aeslc{suffix}"
    for name in names:
      spec, templates = tasks.resolve(name)
      assert [t.index for t in templates] == list(range(min(count, len(spec.templates))))


def test_instruction_format_ablation_drops_inverted_templates():
  for fmt in ("noinstruction", "dataset_name"):
    names = mixtures.training_tasks(mixtures.parse_mixture_name(f"mix:flan:format_{fmt}"))
    for name in names:
      assert tasks.parse_task(name).format == fmt
      spec, templates = tasks.resolve(name)
      assert templates == tuple(t for t in spec.templates if not t.inverted)
  instructions = mixtures.training_tasks(
      mixtures.parse_mixture_name("mix:flan:format_instructions"))
  assert all(tasks.parse_task(n).format == "instructions" for n in instructions)


def test_every_named_mixture_loads_and_resolves():
  assert {f"mix:flan:clusters_{k}" for k in range(1, 8)} <= set(mixtures.names())
  for definition in mixtures.named_mixtures().values():
    for name in mixtures.training_tasks(definition):
      tasks.resolve(name)


def test_malformed_mixture_definitions_are_clear():
  with pytest.raises(mixtures.MixtureError, match="exclude"):
    mixtures._definition("mix:x", {"heldout": ["nli"], "clusters": ["paraphrase"]}, "f.yaml")
  with pytest.raises(mixtures.MixtureError, match="unknown cluster 'nope'"):
    mixtures._definition("mix:x", {"heldout": ["nope"]}, "f.yaml")
  with pytest.raises(mixtures.MixtureError, match="templates must be"):
    mixtures._definition("mix:x", {"templates": 11}, "f.yaml")
  with pytest.raises(mixtures.MixtureError, match="unknown keys"):
    mixtures._definition("mix:x", {"held_out": ["nli"]}, "f.yaml")
  with pytest.raises(UnknownEntryError, match="did you mean mix:flan:clusters_3"):
    mixtures.parse_mixture_name("mix:flan:cluster_3")
  with pytest.raises(UnknownEntryError, match="unknown cluster 'nope'"):
    mixtures.parse_mixture_name("mix:synthetic:heldout_nope")


# --- task names and the instruction formats -----------------------------------------------------

def test_task_names_round_trip():
  for name in ("flan:rte", "flan:rte:t3", "flan:rte:t0-3", "flan:rte:t0-7:noinstruction",
               "flan:rte:dataset_name"):
    assert str(tasks.parse_task(name)) == name
  assert tasks.parse_task("rte:t2") == tasks.TaskName("rte", (2, 2))
  assert tasks.task_name("rte", 0, last=3, format="noinstruction") == "flan:rte:t0-3:noinstruction"
  with pytest.raises(UnknownEntryError, match="inverted templates have no noinstruction form"):
    tasks.resolve("flan:rte:t0-9:noinstruction")
  with pytest.raises(UnknownEntryError, match="t0..t9"):
    tasks.resolve("flan:rte:t3-12")


def test_batched_tf_render_equals_the_python_renderer(synthetic_data_dir, use_data_dir):
  """The tf.data path (one numpy call per batch of examples) gives the same text, template for
  template, as rendering each record in Python (records.iter_examples: `flan data show` and
  `export`); across batch boundaries too."""
  use_data_dir(synthetic_data_dir)
  for name in ("flan:synth_records", "flan:synth_tweets:t0-4:dataset_name"):
    spec, templates = tasks.resolve(name)
    fmt = tasks.parse_task(name).format
    builder = datasets.builder(spec)
    source = builder.as_dataset(split=spec.splits["train"], shuffle_files=False)
    rendered = list(tasks.render_dataset(source, spec, templates, fmt, batch_size=7)
                    .take(30).as_numpy_iterator())
    expected = []
    for _, example in records.iter_examples(spec, templates, "train", Style(format=fmt)):
      expected.append((example.inputs.encode(), example.targets.encode(), example.template))
      if len(expected) == 30:
        break
    assert [(r["inputs"], r["targets"], r["template"]) for r in rendered] == expected
    if fmt == "dataset_name":
      assert all(r["inputs"].startswith(b"[Sentiment: synthetic tweets] ") for r in rendered)


def test_mixture_export_follows_the_ablation(capsys, synthetic_data_dir, use_data_dir,
                                             tmp_path):
  use_data_dir(synthetic_data_dir)
  out = tmp_path / "t1.jsonl"
  assert cli.main(["data", "export", "mix:synthetic:templates_1", "--split", "train",
                   "--out", str(out), "--limit", "3"]) == 0
  rows = [json.loads(line) for line in out.read_text().splitlines()]
  assert {r["template"] for r in rows} == {0}
