"""Best-fit packing (exact arrays, SeqIO's contract, efficiency), the resumable and sharded input
pipeline, and reading SeqIO caches of our tasks."""

import collections
import importlib.util
import json
import pathlib

import numpy as np
import pytest
import seqio
import tensorflow as tf

from flan.data import packing
from flan.data import pipeline

EXAMPLES = [  # tokenized, EOS = 1 appended, as the tasks emit them
    {"inputs": [7, 8, 5, 1], "targets": [3, 9, 1]},
    {"inputs": [8, 4, 9, 3, 1], "targets": [4, 1]},
    {"inputs": [6, 1], "targets": [2, 2, 2, 1]},
]
LENGTHS = {"inputs": 7, "targets": 8}  # rows of 15
ROOT = pathlib.Path(__file__).resolve().parent.parent


def as_dataset(examples):
  return tf.data.Dataset.from_generator(
      lambda: iter(examples),
      output_signature={"inputs": tf.TensorSpec([None], tf.int32),
                        "targets": tf.TensorSpec([None], tf.int32)})


def seqio_rows(examples, pack=True):
  converter = seqio.PrefixLMFeatureConverter(pack=pack, loss_on_targets_only=True)
  converted = converter(as_dataset(examples), LENGTHS)
  return [{k: v.tolist() for k, v in ex.items()} for ex in converted.as_numpy_iterator()]


def rows_of(features):
  return [{k: features[k][i].tolist() for k in packing.FEATURES}
          for i in range(len(features["decoder_segment_ids"]))]


def random_examples(n, seed=0, max_inputs=7, max_targets=8):
  rng = np.random.default_rng(seed)
  return [{"inputs": list(rng.integers(2, 50, rng.integers(1, max_inputs))) + [1],
           "targets": list(rng.integers(2, 50, rng.integers(0, max_targets))) + [1]}
          for _ in range(n)]


# --- the packer ---------------------------------------------------------------------------------

def test_best_fit_decreasing_bins():
  assert packing.best_fit([7, 7, 6], capacity=15) == [[0, 1], [2]]
  assert packing.best_fit([9, 3, 6, 5], capacity=10) == [[0], [1, 2], [3]]
  # The tightest open row wins: 4 goes with 6 (room 4), not with 2 (room 8).
  assert packing.best_fit([6, 2, 4], capacity=10) == [[0, 2], [1]]
  assert packing.best_fit([], capacity=10) == []
  with pytest.raises(ValueError, match="11 tokens"):
    packing.best_fit([11], capacity=10)


def test_packed_arrays_are_exact_and_equal_seqio():
  rows = rows_of(packing.pack_examples(EXAMPLES, **{f"{k}_length": v for k, v in LENGTHS.items()}))
  assert rows[0] == {
      "decoder_target_tokens":    [7, 8, 5, 1, 3, 9, 1, 8, 4, 9, 3, 1, 4, 1, 0],
      "decoder_input_tokens":     [0, 7, 8, 5, 1, 3, 9, 0, 8, 4, 9, 3, 1, 4, 0],
      "decoder_loss_weights":     [0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 0],
      "decoder_segment_ids":      [1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 0],
      "decoder_positions":        [0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4, 5, 6, 0],
      "decoder_causal_attention": [1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0],
  }
  assert rows[1] == {
      "decoder_target_tokens":    [6, 1, 2, 2, 2, 1] + [0] * 9,
      "decoder_input_tokens":     [0, 6, 1, 2, 2, 2] + [0] * 9,
      "decoder_loss_weights":     [0, 0, 1, 1, 1, 1] + [0] * 9,
      "decoder_segment_ids":      [1] * 6 + [0] * 9,
      "decoder_positions":        [0, 1, 2, 3, 4, 5] + [0] * 9,
      "decoder_causal_attention": [1, 1, 1] + [0] * 12,
  }
  # Same rows as SeqIO's converter (it happens to choose the same bins here), every feature.
  assert rows == seqio_rows(EXAMPLES)


def test_every_segment_equals_its_unpacked_seqio_conversion():
  """On a random stream each example lands in exactly one segment, and that segment's arrays are
  SeqIO's unpacked arrays of the example (BOS, shift, loss weights, causal attention)."""
  examples = random_examples(60, seed=3)
  unpacked = {tuple(ex["inputs"] + ex["targets"]): seqio_rows([ex], pack=False)[0]
              for ex in examples}
  segments = []
  for row in rows_of(packing.pack_examples(examples, 7, 8)):
    ids = np.array(row["decoder_segment_ids"])
    real = ids[ids > 0]
    assert list(real) == sorted(real) and set(real) == set(range(1, ids.max() + 1))
    for s in range(1, ids.max() + 1):
      where = np.flatnonzero(ids == s)
      content = tuple(row["decoder_target_tokens"][i] for i in where)
      segments.append(content)
      u = unpacked[content]
      assert [row["decoder_positions"][i] for i in where] == list(range(len(where)))
      for key in ("decoder_input_tokens", "decoder_loss_weights", "decoder_causal_attention"):
        assert [row[key][i] for i in where] == u[key][:len(where)], key
  assert collections.Counter(segments) == collections.Counter(
      tuple(ex["inputs"] + ex["targets"]) for ex in examples)


def test_best_fit_wastes_less_than_seqio_and_the_efficiency_figure():
  # Rows of 10 (inputs 6 + targets 4); example lengths 6, 6, 4, 4 in stream order.
  six = {"inputs": [5, 5, 5, 5, 1], "targets": [1]}
  four = {"inputs": [5, 1], "targets": [3, 1]}
  examples = [six, six, four, four]
  greedy = list(packing.seqio_pack_dataset(as_dataset(examples), 6, 4).as_numpy_iterator())
  ours = rows_of(packing.pack_examples(examples, 6, 4))
  # SeqIO closes the first row when the second 6 does not fit: 3 rows, 20 of 30 positions real.
  assert len(greedy) == 3 and packing.efficiency(greedy) == pytest.approx(20 / 30)
  assert [r["decoder_segment_ids"] for r in ours] == [[1] * 6 + [2] * 4] * 2
  assert packing.efficiency(ours) == 1.0
  # The figure itself: real (segment id != 0) over all positions, across batches.
  batches = [{"decoder_segment_ids": np.array([[1, 1, 0, 0], [1, 2, 2, 2]])},
             {"decoder_segment_ids": np.array([[0, 0, 0, 0]])}]
  assert packing.efficiency(batches) == 6 / 12
  assert packing.efficiency([]) == 0.0


def test_tf_packer_equals_the_numpy_packer_pool_by_pool():
  examples = random_examples(23, seed=5)
  rows = list(packing.pack_dataset(as_dataset(examples), 7, 8, pool_size=10)
              .as_numpy_iterator())
  expected = []
  for start in range(0, len(examples), 10):
    expected += rows_of(packing.pack_examples(examples[start:start + 10], 7, 8))
  assert [{k: r[k].tolist() for k in packing.FEATURES} for r in rows] == expected
  assert all(r["decoder_segment_ids"].dtype == np.int32 for r in rows)


def test_task_ids_cover_each_segment_with_its_task():
  tagged = [dict(ex, task_index=t) for ex, t in zip(EXAMPLES, [2, 0, 1])]
  packed = packing.pack_examples(tagged, **{f"{k}_length": v for k, v in LENGTHS.items()})
  assert packed[packing.TASK_IDS].tolist() == [
      [3, 3, 3, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0],
      [2, 2, 2, 2, 2, 2] + [0] * 9,
  ]
  # The other features are the untagged ones; the tf.data packer carries the tags the same way.
  assert rows_of(packed) == rows_of(packing.pack_examples(EXAMPLES, 7, 8))
  dataset = tf.data.Dataset.from_generator(
      lambda: iter(tagged), output_signature={"inputs": tf.TensorSpec([None], tf.int32),
                                              "targets": tf.TensorSpec([None], tf.int32),
                                              "task_index": tf.TensorSpec([], tf.int32)})
  rows = list(packing.pack_dataset(dataset, 7, 8).as_numpy_iterator())
  assert [r[packing.TASK_IDS].tolist() for r in rows] == packed[packing.TASK_IDS].tolist()


# --- the pipeline: deterministic, resumable, sharded --------------------------------------------

PIPELINE = dict(inputs_length=96, targets_length=32, batch_size=4)


def equal_batches(a, b):
  return len(a) == len(b) and all(
      x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x) for x, y in zip(a, b))


@pytest.fixture()
def synthetic(synthetic_data_dir, use_data_dir):
  return use_data_dir(synthetic_data_dir)


def test_batched_tokenizer_gives_seqio_ids(synthetic):
  from flan.data import mixtures, tasks
  task = mixtures.get("flan:synth_triples")
  spec, templates = tasks.resolve("flan:synth_triples")
  rendered = tasks.render_dataset(task.source.get_dataset("train", shuffle=False), spec, templates)
  ours = list(tasks.tokenize_dataset(rendered, task.output_features, batch_size=5)
              .take(23).as_numpy_iterator())
  theirs = list(seqio.preprocessors.tokenize(rendered, task.output_features)
                .take(23).as_numpy_iterator())
  assert [sorted(x) for x in ours] == [sorted(x) for x in theirs]
  for x, y in zip(ours, theirs):
    assert all(np.array_equal(x[k], y[k]) for k in x)
    assert x["inputs"].dtype == y["inputs"].dtype == np.int32


def test_restored_pipeline_yields_the_uninterrupted_batches(synthetic, tmp_path, capsys,
                                                            monkeypatch):
  state_dir = tmp_path / "data_state"
  straight = pipeline.TrainData("mix:synthetic", state_dir=state_dir, **PIPELINE)
  head = [next(straight) for _ in range(3)]
  assert straight.position() == {"batches": 3, "iterator": "data-000000003"}
  tail = [next(straight) for _ in range(3)]
  assert all(set(b) == set(packing.FEATURES) and b["decoder_segment_ids"].shape == (4, 128)
             for b in head + tail)
  assert packing.efficiency(head + tail) > 0.95

  restored = pipeline.TrainData("mix:synthetic", state_dir=state_dir, start_batch=3, **PIPELINE)
  assert restored.restored_from == "state"
  assert equal_batches([next(restored) for _ in range(3)], tail)

  # A state written by another configuration is not used: the pipeline replays 3 batches.
  note = state_dir / "data-000000003.p0.json"
  note.write_text(json.dumps(dict(json.loads(note.read_text()), seed=1)))
  replayed = pipeline.TrainData("mix:synthetic", state_dir=state_dir, start_batch=3, **PIPELINE)
  assert replayed.restored_from == "replay"
  assert "another pipeline configuration" in capsys.readouterr().err
  assert equal_batches([next(replayed) for _ in range(3)], tail)

  # Only the newest KEEP_STATES states stay.
  monkeypatch.setattr(pipeline, "KEEP_STATES", 1)
  assert straight.position() == {"batches": 6, "iterator": "data-000000006"}
  assert sorted(p.name for p in state_dir.iterdir()) == [
      "data-000000006.p0.data-00000-of-00001", "data-000000006.p0.index",
      "data-000000006.p0.json"]


@pytest.mark.slow  # ~55 s
def test_tracked_batches_are_unchanged_and_name_their_tasks(synthetic):
  tracked = pipeline.TrainData("mix:synthetic", track_tasks=True, pool_size=64, **PIPELINE)
  plain = pipeline.TrainData("mix:synthetic", pool_size=64, **PIPELINE)
  batches = [next(tracked) for _ in range(3)]
  assert equal_batches(batches, [next(plain) for _ in range(3)])
  # Each task's own stream (same seed) holds the examples the mixture drew from it: the segments
  # of the first pool's batches map back to their tasks without the tags.
  task_of = {}
  for name in tracked.task_names:
    stream = pipeline.example_stream(name, inputs_length=96, targets_length=32)
    for ex in stream.take(64).as_numpy_iterator():
      task_of.setdefault(tuple(ex["inputs"]) + tuple(ex["targets"]), set()).add(name)
  tracked = pipeline.TrainData("mix:synthetic", track_tasks=True, pool_size=64, **PIPELINE)
  for batch in batches:
    next(tracked)
    found = set()
    for row, ids in zip(batch["decoder_target_tokens"], batch["decoder_segment_ids"]):
      for segment in range(1, ids.max() + 1):
        found |= task_of[tuple(row[ids == segment])]
    assert set(tracked.last_tasks) == found
    assert list(tracked.last_tasks) == sorted(found)
  assert tracked.task_names == sorted(tracked.task_names) and len(tracked.task_names) == 8


def test_host_shards_are_disjoint_and_cover_the_split(synthetic):
  # One template, so an example renders the same whichever host reads it (round-robin counts
  # the examples a host reads).
  def examples(shard_info=None):
    stream = pipeline.example_stream("flan:synth_reviews:t0", inputs_length=96, targets_length=32,
                                 shuffle=False, num_epochs=1, shard_info=shard_info)
    return [(tuple(ex["inputs"]), tuple(ex["targets"])) for ex in stream.as_numpy_iterator()]
  everything = examples()
  shards = [examples(seqio.ShardInfo(index=i, num_shards=2)) for i in range(2)]
  # Together the shards are the split, each example on exactly one host ...
  assert collections.Counter(shards[0]) + collections.Counter(shards[1]) == \
      collections.Counter(everything)
  # ... and the hosts do the same work: equal halves, and batches of one shape every step.
  assert len(shards[0]) == len(shards[1]) == len(everything) // 2
  hosts = [pipeline.TrainData("mix:synthetic", shard_info=seqio.ShardInfo(i, 2), **PIPELINE)
           for i in range(2)]
  a, b = next(hosts[0]), next(hosts[1])
  assert {k: v.shape for k, v in a.items()} == {k: v.shape for k, v in b.items()}
  assert not np.array_equal(a["decoder_target_tokens"], b["decoder_target_tokens"])


# --- SeqIO caches of our tasks ------------------------------------------------------------------

def load_script():
  spec = importlib.util.spec_from_file_location("cache_tasks", ROOT / "scripts/cache_tasks.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def stream_of(task, **kwargs):
  stream = pipeline.example_stream(task, inputs_length=96, targets_length=32, shuffle=False,
                               num_epochs=1, **kwargs)
  return [(ex["inputs"].tolist(), ex["targets"].tolist()) for ex in stream.as_numpy_iterator()]


def test_training_reads_the_cache(synthetic, tmp_path, use_data_dir, monkeypatch):
  monkeypatch.setattr(seqio.utils, "_GLOBAL_CACHE_DIRECTORIES", [])  # no leak to other tests
  script = load_script()
  cache = tmp_path / "cache"
  assert script.main(["flan:synth_reviews", "--cache_dir", str(cache), "--runner", "local"]) == 0
  assert (cache / "flan/synth_reviews/COMPLETED").exists()
  expected = stream_of("flan:synth_reviews", use_cached=False)
  # With the TFDS data gone, only the cache can produce the examples.
  use_data_dir(tmp_path / "no_tfds_here")
  monkeypatch.setenv("FLAN_CACHE_DIR", str(cache))
  assert stream_of("flan:synth_reviews") == expected
  # A cache tokenized with another vocabulary is refused.
  (cache / "flan_cache.json").write_text(json.dumps({"vocabulary": "0" * 16}))
  with pytest.raises(pipeline.CacheError, match="another vocabulary"):
    stream_of("flan:synth_reviews")


def test_beam_cache_matches_the_local_cache(synthetic, tmp_path):
  pytest.importorskip("apache_beam")  # the `cache` extra: pip install 'flan[cache]'
  script = load_script()
  for runner in ("local", "beam"):
    assert script.main(["flan:synth_tweets", "--cache_dir", str(tmp_path / runner),
                        "--runner", runner]) == 0
  for name in ("info.train.json", "stats.train.json"):
    assert json.loads((tmp_path / "beam/flan/synth_tweets" / name).read_text()) == \
        json.loads((tmp_path / "local/flan/synth_tweets" / name).read_text())
  read = {}
  for runner in ("local", "beam"):
    source = seqio.dataset_providers._CachedDataSource(
        str(tmp_path / runner / "flan/synth_tweets"), "train")
    read[runner] = sorted(
        (ex["inputs"].tolist(), ex["targets"].tolist(), int(ex["template"]))
        for ex in source.get_dataset("train", shuffle=False).as_numpy_iterator())
  assert read["beam"] == read["local"] and len(read["local"]) > 0
