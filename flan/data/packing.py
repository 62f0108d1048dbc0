"""Best-fit packing of (inputs, targets) examples into prefix-LM decoder rows.

SeqIO packs greedily in stream order: an example that does not fit the open row closes it, and
the rest of that row is padding. Instruction data mixes short examples (NLI: ~80 tokens) with
long ones (summarization: ~1,000), so SeqIO wastes much of each row. Here the stream is cut into
pools of `pool_size` examples and each pool is packed by best-fit decreasing: longest example
first, each into the open row it fills most tightly, a new row only when none fits. The result is
the exact feature contract of `seqio.PrefixLMFeatureConverter(pack=True)`:

    examples (EOS = 1 appended):  {"inputs": [7, 8, 5, 1], "targets": [3, 9, 1]}
                                  {"inputs": [8, 4, 9, 3, 1], "targets": [4, 1]}
    pack_examples(examples, inputs_length=7, targets_length=8):
      decoder_target_tokens     [7, 8, 5, 1, 3, 9, 1, 8, 4, 9, 3, 1, 4, 1, 0]
      decoder_input_tokens      [0, 7, 8, 5, 1, 3, 9, 0, 8, 4, 9, 3, 1, 4, 0]   BOS 0 per segment
      decoder_loss_weights      [0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 0]   targets + EOS
      decoder_segment_ids       [1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 0]
      decoder_positions         [0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4, 5, 6, 0]
      decoder_causal_attention  [1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0]   inputs + 1

The token that starts each segment is the vocabulary's decoder start token (`start_id`,
vocab.decoder_start_id): 0 above (T5-style and demo vocabularies, SeqIO's convention), the BOS
where the model has one; with start_id=1 (Llama's <s>) the same examples give
      decoder_input_tokens      [1, 7, 8, 5, 1, 3, 9, 1, 8, 4, 9, 3, 1, 4, 0]
and every other feature unchanged. Loss weights follow positions (targets + EOS), never token
values, so a vocabulary in which id 0 is a real token (Qwen's "!") trains on it like any other.

Examples that carry a `task_index` (flan/data/pipeline.py tags them with their task) also give
`task_ids`, 1 + the task index on each of the segment's positions, 0 on padding; with the two
examples above from tasks 2 and 0:
      task_ids                  [3, 3, 3, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0]

Inside a row, segments keep stream order; rows come out in the order of their first example.
Each pool is packed on its own (no state carries over), so the packed stream is a pure function
of the example stream and tf.data can checkpoint it like any other stage.
"""

from __future__ import annotations

import bisect

import numpy as np

FEATURES = ("decoder_target_tokens", "decoder_input_tokens", "decoder_loss_weights",
            "decoder_segment_ids", "decoder_positions", "decoder_causal_attention")
TASK_IDS = "task_ids"  # 1 + the task index of each position's example (0: padding), when tagged
POOL_SIZE = 1024  # examples packed together; more packs tighter, costs memory and latency


def best_fit(lengths, capacity: int) -> list[list[int]]:
  """Bins of example indices: best-fit decreasing, each bin's total <= capacity.

      >>> best_fit([7, 7, 6], capacity=15)
      [[0, 1], [2]]
      >>> best_fit([9, 3, 6, 5], capacity=10)
      [[0], [1, 2], [3]]

  Ties keep stream order (the earlier example is placed first; among equally full rows the
  older one wins). Each bin lists its examples in stream order; bins are ordered by their first
  example.
  """
  order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
  bins: list[list[int]] = []
  open_rows: list[tuple[int, int]] = []  # (room left, bin id), sorted
  for i in order:
    size = int(lengths[i])
    if size > capacity:
      raise ValueError(f"example {i} has {size} tokens; rows hold {capacity}")
    at = bisect.bisect_left(open_rows, (size, -1))
    if at < len(open_rows):
      room, b = open_rows.pop(at)
    else:
      room, b = capacity, len(bins)
      bins.append([])
    bins[b].append(i)
    if room - size > 0:
      bisect.insort(open_rows, (room - size, b))
  for b in bins:
    b.sort()
  return sorted(bins, key=lambda b: b[0])


def assemble(inputs: list[np.ndarray], targets: list[np.ndarray], bins: list[list[int]],
             length: int, task_index=None, start_id: int = 0) -> dict[str, np.ndarray]:
  """The decoder features (int32 [len(bins), length]) of examples placed in bins, each segment
  starting with `start_id`; with `task_index` (one int per example) also TASK_IDS."""
  names = FEATURES if task_index is None else FEATURES + (TASK_IDS,)
  out = {name: np.zeros((len(bins), length), np.int32) for name in names}
  if not bins:
    return out
  order = [i for b in bins for i in b]
  bin_sizes = [len(b) for b in bins]
  # SeqIO pads empty targets with one 0 token; the tasks always append EOS, so this is moot.
  parts = [(inputs[i], targets[i] if len(targets[i]) else np.zeros(1, np.int32)) for i in order]
  tokens = np.concatenate([np.concatenate(p) for p in parts]).astype(np.int32)
  n_inputs = np.array([len(p[0]) for p in parts])
  has_targets = np.array([len(targets[i]) > 0 for i in order])
  seg_len = n_inputs + np.array([len(p[1]) for p in parts])
  starts = np.cumsum(seg_len) - seg_len                    # each segment's start in `tokens`
  first = np.cumsum(bin_sizes) - bin_sizes                  # each bin's first segment
  row_start = starts - np.repeat(starts[first], bin_sizes)  # each segment's start in its row
  if np.any(row_start + seg_len > length):
    raise ValueError(f"a row overflows its {length} positions")
  pos = np.arange(len(tokens)) - np.repeat(starts, seg_len)
  width = np.repeat(n_inputs, seg_len)
  rows = np.repeat(np.repeat(np.arange(len(bins)), bin_sizes), seg_len)
  cols = np.repeat(row_start, seg_len) + pos
  values = {
      "decoder_target_tokens": tokens,
      "decoder_input_tokens": np.where(pos == 0, start_id, np.r_[0, tokens[:-1]]),
      "decoder_loss_weights": (pos >= width) & np.repeat(has_targets, seg_len),
      "decoder_segment_ids": np.repeat(np.concatenate([np.arange(1, n + 1) for n in bin_sizes]),
                                       seg_len),
      "decoder_positions": pos,
      "decoder_causal_attention": pos < width + 1,
  }
  if task_index is not None:
    values[TASK_IDS] = np.repeat(np.asarray(task_index)[order] + 1, seg_len)
  for name in names:
    out[name][rows, cols] = values[name]
  return out


def pack_examples(examples, inputs_length: int, targets_length: int,
                  start_id: int = 0) -> dict[str, np.ndarray]:
  """Packs a list of {"inputs", "targets"} token lists into rows of inputs + targets length
  (each feature trimmed to its length first, as SeqIO does); examples that all have a
  "task_index" also give TASK_IDS."""
  inputs = [np.asarray(ex["inputs"], np.int32)[:inputs_length] for ex in examples]
  targets = [np.asarray(ex["targets"], np.int32)[:targets_length] for ex in examples]
  length = inputs_length + targets_length
  lengths = [len(i) + max(len(t), 1) for i, t in zip(inputs, targets)]
  tagged = bool(examples) and all("task_index" in ex for ex in examples)
  task_index = [ex["task_index"] for ex in examples] if tagged else None
  return assemble(inputs, targets, best_fit(lengths, length), length, task_index, start_id)


def _pack_pool(in_values, in_splits, tg_values, tg_splits, length, start_id, task_index=None):
  inputs = [in_values[in_splits[i]:in_splits[i + 1]] for i in range(len(in_splits) - 1)]
  targets = [tg_values[tg_splits[i]:tg_splits[i + 1]] for i in range(len(tg_splits) - 1)]
  lengths = [len(i) + max(len(t), 1) for i, t in zip(inputs, targets)]
  features = assemble(inputs, targets, best_fit(lengths, int(length)), int(length), task_index,
                      int(start_id))
  return tuple(features.values())


def pack_dataset(dataset, inputs_length: int, targets_length: int, pool_size: int = POOL_SIZE,
                 start_id: int = 0):
  """tf.data of {"inputs", "targets"} int32 token vectors -> tf.data of packed rows (int32
  [inputs_length + targets_length] per feature of FEATURES), best-fit within pools, segments
  starting with `start_id`. Examples with a scalar "task_index" also give TASK_IDS."""
  import tensorflow as tf

  length = inputs_length + targets_length
  tagged = "task_index" in dataset.element_spec
  names = FEATURES + (TASK_IDS,) if tagged else FEATURES

  def trim(ex):
    out = {"inputs": tf.cast(ex["inputs"][:inputs_length], tf.int32),
           "targets": tf.cast(ex["targets"][:targets_length], tf.int32)}
    if tagged:
      out["task_index"] = tf.cast(ex["task_index"], tf.int32)
    return out

  pools = dataset.map(trim, num_parallel_calls=tf.data.AUTOTUNE).ragged_batch(pool_size)

  def pack(pool):
    args = [pool["inputs"].values, pool["inputs"].row_splits, pool["targets"].values,
            pool["targets"].row_splits, length, start_id] + ([pool["task_index"]] if tagged else [])
    arrays = tf.numpy_function(_pack_pool, args, Tout=[tf.int32] * len(names), stateful=False)
    for array in arrays:
      array.set_shape([None, length])
    return dict(zip(names, arrays))

  return pools.map(pack, num_parallel_calls=tf.data.AUTOTUNE).unbatch()


def seqio_pack_dataset(dataset, inputs_length: int, targets_length: int, start_id: int = 0,
                       pack: bool = True):
  """The same stream packed by SeqIO's own converter (greedy, in order): the baseline. (pack
  False: one example per row.) SeqIO starts segments with 0; a nonzero start_id replaces it."""
  import seqio
  converter = seqio.PrefixLMFeatureConverter(pack=pack, loss_on_targets_only=True)
  rows = converter(dataset, {"inputs": inputs_length, "targets": targets_length})
  return rows if not start_id else rows.map(lambda row: with_start_id(row, start_id))


def with_start_id(row, start_id: int):
  """A SeqIO feature row whose segments start with start_id instead of 0 (tf)."""
  import tensorflow as tf
  tokens = row["decoder_input_tokens"]
  if "decoder_positions" in row:
    first = tf.equal(row["decoder_positions"], 0) & tf.not_equal(row["decoder_segment_ids"], 0)
  else:
    first = tf.equal(tf.range(tf.shape(tokens)[-1]), 0)
  return {**row, "decoder_input_tokens": tf.where(first, tf.cast(start_id, tokens.dtype), tokens)}


def efficiency(batches) -> float:
  """The fraction of positions that hold a real token (segment id != 0), over batches."""
  real = total = 0
  for batch in batches:
    segments = np.asarray(batch["decoder_segment_ids"])
    real += int(np.count_nonzero(segments))
    total += segments.size
  return real / max(total, 1)
