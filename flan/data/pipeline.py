"""The training input pipeline: a SeqIO task or mixture -> packed decoder batches (numpy).

    batches = TrainData("mix:synthetic", inputs_length=192, targets_length=64, batch_size=16,
                        state_dir="runs/x/data_state")
    batch = next(batches)   # dict of int32 [16, 256]: decoder_input_tokens, decoder_target_tokens,
                            # decoder_loss_weights, decoder_segment_ids, decoder_positions,
                            # decoder_causal_attention
    batches.position()      # {"batches": 1, "iterator": "data-000000001"}: saved with a checkpoint

The stream: every task's examples (rendered, tokenized, EOS appended, trimmed; read from SeqIO's
cache when the tasks are cached) are sampled at the mixture's rates, then packed by best fit
(flan/data/packing.py; `packer="seqio"` gives SeqIO's greedy packing) into rows of inputs_length +
targets_length, then batched. The stream is deterministic for a seed.

Which tasks a batch came from: with `track_tasks=True` every example is tagged with its task's
index before mixing (the mixture samples exactly as it would untagged), the packer carries the
tag per position (packing.TASK_IDS) and TrainData takes it out of the batch again:

    batches = TrainData("mix:synthetic", ..., track_tasks=True)
    batch = next(batches)   # the same six features, the same values as without tracking
    batches.last_tasks      # ("flan:synth_comparison", "flan:synth_reviews", ...): the tasks whose
                            # examples are in that batch, sorted

Resuming: `position()` writes the tf.data iterator's own checkpoint (read position, shuffle
buffers, packing pools) into `state_dir`, named by the batch count; `TrainData(...,
start_batch=n, state_dir=...)` restores it, so the resumed stream equals the uninterrupted one
without replaying it. Without a state (none saved, or one written by another configuration)
it replays the first n batches instead: the same stream, slower. A state holds the buffered
examples; tf.data's symbolic checkpoints would be smaller but stop its prefetching, so they are
not used (sizes and timings: benchmarks/README.md).
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np

from flan import runtime
from flan.errors import UserError
from flan.data import packing, vocab
from flan.data import mixtures

PACKERS = ("best_fit", "seqio")
KEEP_STATES = 8  # iterator states kept in state_dir (older checkpoints resume by replaying)
CACHE_NOTE = "flan_cache.json"  # written by scripts/cache_tasks.py beside the cached tasks


class CacheError(UserError, ValueError):
  """A task cache that does not fit this run (tokenized with another vocabulary)."""


def cache_dirs() -> list[str]:
  """`FLAN_CACHE_DIR` (several joined by os.pathsep): where cached tasks are looked for
  (written by scripts/cache_tasks.py)."""
  return [d for d in os.environ.get("FLAN_CACHE_DIR", "").split(os.pathsep) if d]


def use_cache_dirs(vocabulary) -> None:
  """Adds the cache dirs to SeqIO's, after checking each was tokenized with `vocabulary`."""
  import seqio
  import tensorflow as tf
  for directory in cache_dirs():
    note = os.path.join(directory, CACHE_NOTE)
    if tf.io.gfile.exists(note):
      with tf.io.gfile.GFile(note) as f:
        cached_with = json.load(f).get("vocabulary")
      if cached_with != vocab.fingerprint(vocabulary):
        raise CacheError(f"the task cache {directory} was tokenized with another vocabulary "
                         f"(fingerprint {cached_with}, this run's is "
                         f"{vocab.fingerprint(vocabulary)}); re-cache it or unset "
                         f"FLAN_CACHE_DIR")
    seqio.add_global_cache_dirs([directory])


def is_cached(provider) -> bool:
  """Whether every task of a task or mixture has a complete SeqIO cache in the cache dirs."""
  import seqio
  tasks = provider.tasks if isinstance(provider, seqio.Mixture) else [provider]
  return all(t.supports_caching and t.cache_dir for t in tasks)


def task_names(provider, split: str = "train") -> list[str]:
  """The tasks of a SeqIO task or mixture in the order `tag_tasks` indexes them: the mixture's
  tasks that have `split`, sorted by name (the order seqio.Mixture.get_dataset mixes them in)."""
  import seqio
  if not isinstance(provider, seqio.Mixture):
    return [provider.name]
  return [t.name for t in provider.tasks if split in t.splits]


def tag_tasks(provider):
  """A copy of a SeqIO task or mixture whose examples carry `task_index` (int32, the place of
  their task in `task_names`). A mixture samples exactly as the original (same sampling function,
  rates and seed: tagging maps each task's stream before the sampler draws from them)."""
  import copy

  import seqio
  import tensorflow as tf

  def tag(dataset, index):
    return dataset.map(lambda ex: dict(ex, task_index=tf.constant(index, tf.int32)))

  if not isinstance(provider, seqio.Mixture):
    class Tagged:
      def get_dataset(self, **kwargs):
        return tag(provider.get_dataset(**kwargs), 0)
    return Tagged()
  tagged = copy.copy(provider)
  sample = provider._sample_fn  # seqio.Mixture(sample_fn=...): how the tasks are interleaved
  tagged._sample_fn = lambda datasets, rates, seed: sample(
      [tag(d, i) for i, d in enumerate(datasets)], rates, seed)
  return tagged


def example_stream(name: str, *, inputs_length: int, targets_length: int, seed: int = 0,
                   split: str = "train", vocabulary=None, shard_info=None, shuffle: bool = True,
                   num_epochs: int | None = None, use_cached: bool | None = None,
                   tagged: bool = False):
  """tf.data of tokenized {"inputs", "targets"} int32 vectors of a task or mixture (mixed at its
  rates, trimmed to the lengths, EOS appended). use_cached None: the cache when it exists.
  tagged: each example also has "task_index", its task's place in `task_names` (the same
  stream otherwise)."""
  runtime.keep_tensorflow_off_accelerators()
  vocabulary = vocabulary or vocab.get_vocabulary()
  use_cache_dirs(vocabulary)
  provider = mixtures.get(name, vocabulary)
  if use_cached is None:
    use_cached = is_cached(provider)
  dataset = (tag_tasks(provider) if tagged else provider).get_dataset(
      sequence_length={"inputs": inputs_length, "targets": targets_length}, split=split,
      use_cached=use_cached, shuffle=shuffle, seed=seed, shard_info=shard_info,
      num_epochs=num_epochs, try_in_mem_cache=False)  # keeps iterator checkpoints small
  keep = ("inputs", "targets", "task_index") if tagged else ("inputs", "targets")
  return dataset.map(lambda ex: {k: ex[k] for k in keep})


def packed_dataset(name: str, *, inputs_length: int, targets_length: int, batch_size: int,
                   seed: int = 0, split: str = "train", vocabulary=None, shard_info=None,
                   pack: bool = True, shuffle: bool = True, num_epochs: int | None = None,
                   packer: str = "best_fit", pool_size: int = packing.POOL_SIZE,
                   use_cached: bool | None = None, tagged: bool = False):
  """A tf.data.Dataset of batched decoder features (full batches only) for a task or mixture.
  tagged: the batches also hold packing.TASK_IDS (best-fit packing only)."""
  import tensorflow as tf

  if packer not in PACKERS:
    raise ValueError(f"packer must be one of {PACKERS}, got {packer!r}")
  if tagged and (packer != "best_fit" or not pack):
    raise ValueError("task tags are carried by the best-fit packer only (packer='best_fit', "
                     "pack=True)")
  examples = example_stream(
      name, inputs_length=inputs_length, targets_length=targets_length, seed=seed, split=split,
      vocabulary=vocabulary, shard_info=shard_info, shuffle=shuffle, num_epochs=num_epochs,
      use_cached=use_cached, tagged=tagged)
  start_id = vocab.decoder_start_id(vocabulary or vocab.get_vocabulary())
  if not pack or packer == "seqio":
    rows = packing.seqio_pack_dataset(examples, inputs_length, targets_length, start_id, pack)
  else:
    rows = packing.pack_dataset(examples, inputs_length, targets_length, pool_size, start_id)
  options = tf.data.Options()
  options.deterministic = True
  # The renderer and packer are pure numpy functions: nothing outside tf.data to checkpoint.
  options.experimental_external_state_policy = tf.data.experimental.ExternalStatePolicy.IGNORE
  batches = rows.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
  return batches.with_options(options)


def to_global(batch: dict[str, np.ndarray], sharding, whole: bool = False) -> dict:
  """This host's rows of a batch -> global jax.Arrays split over the mesh's batch axes.

  On one host that is the whole batch; on a pod slice every host passes its own shard (read
  with `seqio.ShardInfo`) and the arrays span all hosts.

  whole: every host passes the same, whole global batch (each read the unsharded stream) and
  each of its devices takes its own rows of it, so the hosts together feed exactly that batch
  (the global arrays equal the one-host ones, whatever the mesh):

      batch rows [0..7], 2 hosts x 2 devices, batch over 4 devices:
      host 0's devices hold rows [0, 1] and [2, 3], host 1's [4, 5] and [6, 7]
  """
  import jax
  if whole:
    return {k: jax.make_array_from_callback(v.shape, sharding, lambda index, v=v: v[index])
            for k, v in batch.items()}
  return {k: jax.make_array_from_process_local_data(sharding, v) for k, v in batch.items()}


class TrainData:
  """An endless iterator of numpy batches that saves and restores its position.

  `state_dir` (optional, e.g. <model_dir>/data_state) holds the iterator states `position()`
  writes, `data-<batches>.p<host>.*`, with a JSON note of the pipeline configuration; the newest
  KEEP_STATES are kept. Each host of a multi-host run writes its own: `host` (default: the
  shard's index, else 0) names its files.

  track_tasks: `task_names` lists the stream's tasks and after each batch `last_tasks` names
  those whose examples it holds and `last_task_ids` (int32 [B, L]) gives each position's task
  as 1 + its index in task_names, 0 on padding (see the module docstring); the batches are
  unchanged.
  """

  def __init__(self, name: str, *, inputs_length: int, targets_length: int, batch_size: int,
               seed: int = 0, vocabulary=None, shard_info=None, start_batch: int = 0,
               state_dir=None, packer: str = "best_fit", pool_size: int = packing.POOL_SIZE,
               use_cached: bool | None = None, track_tasks: bool = False,
               host: int | None = None):
    self._dataset = packed_dataset(
        name, inputs_length=inputs_length, targets_length=targets_length, batch_size=batch_size,
        seed=seed, vocabulary=vocabulary, shard_info=shard_info, packer=packer,
        pool_size=pool_size, use_cached=use_cached, tagged=track_tasks)
    shard = None if shard_info is None else [shard_info.index, shard_info.num_shards]
    self._config = {"name": name, "inputs_length": inputs_length,
                    "targets_length": targets_length, "batch_size": batch_size, "seed": seed,
                    "shard": shard, "packer": packer, "pool_size": pool_size,
                    "vocabulary": vocab.fingerprint(vocabulary),
                    "track_tasks": track_tasks}
    self.task_names = None
    if track_tasks:
      self.task_names = task_names(mixtures.get(name, vocabulary))
    self.last_tasks: tuple[str, ...] = ()
    self.last_task_ids: np.ndarray | None = None
    if host is None:
      host = 0 if shard_info is None else shard_info.index
    self._host = host
    self._state_dir = None if state_dir is None else str(state_dir)
    self._iterator = iter(self._dataset)
    self._batches = 0
    self.restored_from = None  # "state" or "replay" after a resume
    if start_batch:
      self._resume(int(start_batch))

  def __iter__(self):
    return self

  def __next__(self) -> dict[str, np.ndarray]:
    batch = {k: v.numpy() for k, v in next(self._iterator).items()}
    if self.task_names is not None:
      ids = self.last_task_ids = batch.pop(packing.TASK_IDS)
      self.last_tasks = tuple(self.task_names[i - 1] for i in np.unique(ids[ids > 0]))
    self._batches += 1
    return batch

  def position(self) -> dict:
    """{"batches": n} and, with a state_dir, the iterator state written there for n."""
    position = {"batches": self._batches}
    if self._state_dir is not None:
      position["iterator"] = self._save_state()
    return position

  # --- iterator states ------------------------------------------------------------------------

  def _prefix(self, batches: int) -> str:
    return os.path.join(self._state_dir, f"data-{batches:09d}.p{self._host}")

  def _save_state(self) -> str:
    import tensorflow as tf
    tf.io.gfile.makedirs(self._state_dir)
    prefix = self._prefix(self._batches)
    tf.train.Checkpoint(iterator=self._iterator).write(prefix)
    with tf.io.gfile.GFile(prefix + ".json", "w") as f:
      f.write(json.dumps(self._config, sort_keys=True))
    self._prune()
    return f"data-{self._batches:09d}"

  def _prune(self) -> None:
    import tensorflow as tf
    notes = sorted(tf.io.gfile.glob(os.path.join(self._state_dir, f"data-*.p{self._host}.json")))
    for note in notes[:-KEEP_STATES]:
      for path in tf.io.gfile.glob(note[:-len(".json")] + ".*"):
        tf.io.gfile.remove(path)

  def _resume(self, batches: int) -> None:
    """Restores the state saved at `batches`, or replays that many batches."""
    import tensorflow as tf
    prefix = None if self._state_dir is None else self._prefix(batches)
    if prefix and tf.io.gfile.exists(prefix + ".json"):
      with tf.io.gfile.GFile(prefix + ".json") as f:
        saved = json.load(f)
      if saved == self._config:
        try:
          tf.train.Checkpoint(iterator=self._iterator).read(prefix).assert_consumed()
          self._batches, self.restored_from = batches, "state"
          return
        except (tf.errors.OpError, AssertionError, ValueError) as e:
          print(f"data: cannot restore {prefix} ({type(e).__name__}); replaying {batches} "
                f"batches", file=sys.stderr)
          self._iterator = iter(self._dataset)
      else:
        print(f"data: {prefix} was saved by another pipeline configuration; replaying "
              f"{batches} batches", file=sys.stderr)
    for _ in range(batches):
      next(self._iterator)
    self._batches, self.restored_from = batches, "replay"
