"""The training input pipeline: a SeqIO task or mixture -> packed decoder batches (numpy).

    batches = TrainData("mix:synthetic", inputs_length=192, targets_length=64, batch_size=16)
    batch = next(batches)   # dict of int32 [16, 256]: decoder_input_tokens, decoder_target_tokens,
                            # decoder_loss_weights, decoder_segment_ids, decoder_positions, ...
    batches.position()      # {"batches": 1}: saved with each checkpoint

Packing and masks come from SeqIO's `PrefixLMFeatureConverter` (inputs and targets concatenated,
BOS = 0 at each segment start, positions restarting per segment, loss on target tokens and the
target EOS only). The stream is deterministic for a seed; restoring a position skips the batches
already consumed so the resumed stream equals the uninterrupted one.
"""

from __future__ import annotations

import numpy as np


def hide_accelerators_from_tf():
  """TensorFlow only feeds data here: keep it off GPUs/TPUs so JAX owns their memory."""
  import tensorflow as tf
  try:
    tf.config.set_visible_devices([], "GPU")
    tf.config.set_visible_devices([], "TPU")
  except (RuntimeError, ValueError):
    pass  # already initialized, or no such device type


def packed_dataset(name: str, *, inputs_length: int, targets_length: int, batch_size: int,
                   seed: int = 0, split: str = "train", vocabulary=None, shard_info=None,
                   pack: bool = True, shuffle: bool = True, num_epochs: int | None = None):
  """A tf.data.Dataset of batched decoder features for a task or mixture."""
  import seqio

  from flan import mixtures

  hide_accelerators_from_tf()
  provider = mixtures.get(name, vocabulary)
  converter = seqio.PrefixLMFeatureConverter(pack=pack, loss_on_targets_only=True)
  return seqio.get_dataset(
      provider, task_feature_lengths={"inputs": inputs_length, "targets": targets_length},
      feature_converter=converter, dataset_split=split, shuffle=shuffle, num_epochs=num_epochs,
      seed=seed, batch_size=batch_size, shard_info=shard_info, verbose=False)


def to_global(batch: dict[str, np.ndarray], sharding) -> dict:
  """This host's rows of a batch -> global jax.Arrays split over the mesh's batch axes.

  On one host that is the whole batch; on a pod slice every host passes its own shard (read
  with `seqio.ShardInfo`) and the arrays span all hosts.
  """
  import jax
  return {k: jax.make_array_from_process_local_data(sharding, v) for k, v in batch.items()}


class TrainData:
  """An endless iterator of numpy batches that knows (and can restore) its position."""

  def __init__(self, name: str, *, inputs_length: int, targets_length: int, batch_size: int,
               seed: int = 0, vocabulary=None, shard_info=None, start_batch: int = 0):
    self._dataset = packed_dataset(
        name, inputs_length=inputs_length, targets_length=targets_length, batch_size=batch_size,
        seed=seed, vocabulary=vocabulary, shard_info=shard_info)
    self._batches = start_batch
    self._iterator = iter(self._dataset.skip(start_batch).as_numpy_iterator())

  def __iter__(self):
    return self

  def __next__(self) -> dict[str, np.ndarray]:
    batch = next(self._iterator)
    self._batches += 1
    return batch

  def position(self) -> dict:
    return {"batches": self._batches}
