"""Rank classification: the log-likelihood of each option as the target; the argmax wins.

The score of option o for inputs x is log p(o..., EOS | BOS, x..., EOS) (BOS: the vocabulary's
decoder start token, 0 in the T5 convention), the same number as scoring the whole sequence

    decoder_input_tokens  = [BOS, x..., EOS, o...]
    decoder_target_tokens = [x..., EOS, o..., EOS]      weights on o... and the final EOS

but the shared prompt runs through the model once per example, and every option of the example
is scored against its key/value cache, packed into one row as its own segment:

    prefix (left-padded, `Decoder.extend` at slot 0):   [BOS, x...]           all at once
    options (one row, slot len(prefix) on):             [EOS, o1...] [EOS, o2...] ...
    segment_ids                                         [1,   1 ...] [2,   2 ...] ...
    targets                                             [o1..., EOS] [o2..., EOS] ...

Each option segment sees the prefix and itself (`attention.extend_mask`), never another option;
its positions continue the prefix's. Examples are grouped by bucketed prefix length
(batching.bucket), so a batch pads to its own longest prefix and packed options, not to the
longest of the evaluation set.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from flan.data.vocab import decoder_start_id
from flan.eval.batching import (EOS_ID, batches, eos_id, bucket, length_groups, left_pad, prompt_ids,
                                rows_for, target_ids)

OPTIONS_BUCKET = 16


@functools.partial(jax.jit, static_argnums=(0,))
def _option_token_scores(graphdef, params, prefix, prefix_segments, prefix_positions,
                         tokens, targets, segments, positions):
  """log p(target token) of every packed option token: float32 [B, T] (0 on padding)."""
  model = nnx.merge(graphdef, params)
  cache = model.init_cache(prefix.shape[0], prefix.shape[1] + tokens.shape[1])
  _, cache = model.extend(prefix, prefix_segments, prefix_positions, cache)
  hidden, _ = model.extend(tokens, segments, positions, cache)
  log_probs = jax.nn.log_softmax(model.output_logits(hidden), axis=-1)     # [B, T, V]
  token_scores = jnp.take_along_axis(log_probs, targets[..., None], axis=-1)[..., 0]
  return jnp.where(segments != 0, token_scores, 0.0)


def pack_options(options: list[list[int]], start: int, eos: int = EOS_ID):
  """(tokens, targets, segment_ids, positions) of an example's options packed into one row.

  options: token ids of each option, each ending with EOS; start: the prefix length.

      pack_options([[7, 1], [8, 9, 1]], start=4)
      tokens      [1, 7, 1, 8, 9]
      targets     [7, 1, 8, 9, 1]
      segment_ids [1, 1, 2, 2, 2]
      positions   [4, 5, 4, 5, 6]
  """
  tokens, targets, segments, positions = [], [], [], []
  for j, option in enumerate(options):
    tokens += [eos] + option[:-1]
    targets += option
    segments += [j + 1] * len(option)
    positions += list(range(start, start + len(option)))
  return tokens, targets, segments, positions


def score_options(graphdef, params, vocab, examples, *, max_input_length: int = 1024,
                  max_target_length: int = 128, batch_tokens: int = 8192,
                  max_batch: int = 64) -> list[np.ndarray]:
  """Log-likelihood of every option of every example: a list of float32 [num_options] arrays.

  A batch holds up to `batch_tokens` (prefix + packed options) slots and `max_batch` rows.
  """
  encode_option = functools.lru_cache(maxsize=None)(
      lambda text: tuple(target_ids(vocab, text, max_target_length)))
  prefixes, packed = [], []
  start = decoder_start_id(vocab)
  for example in examples:
    prefix = [start] + prompt_ids(vocab, example.inputs, max_input_length)[:-1]  # EOS starts options
    prefixes.append(prefix)
    packed.append(pack_options([list(encode_option(o)) for o in example.options], len(prefix),
                               eos=eos_id(vocab)))
  # One shape per prefix bucket: its longest packed options fix the options length.
  scores: list[np.ndarray | None] = [None] * len(examples)
  for prefix_length, group in length_groups([len(p) for p in prefixes]).items():
    options_length = bucket(max(len(packed[i][0]) for i in group), OPTIONS_BUCKET)
    full_rows = rows_for(prefix_length + options_length, batch_tokens, max_batch)
    rows, chunks = batches(group, full_rows)
    for indices in chunks:
      batch_scores = _score_batch(graphdef, params, [prefixes[i] for i in indices],
                                  [packed[i] for i in indices],
                                  [len(examples[i].options) for i in indices],
                                  (rows, prefix_length, options_length))
      for i, example_scores in zip(indices, batch_scores):
        scores[i] = example_scores
  return scores


def _score_batch(graphdef, params, prefixes, packed, num_options, shape) -> list[np.ndarray]:
  """Option scores of one batch of examples, padded to shape (rows, prefix, options length)."""
  rows, prefix_length, options_length = shape
  prefix = left_pad(prefixes, prefix_length, rows)
  block = np.zeros((4, rows, options_length), np.int32)   # tokens, targets, segments, positions
  for r, values in enumerate(packed):
    for k, row in enumerate(values):
      block[k, r, :len(row)] = row
  token_scores = np.asarray(_option_token_scores(graphdef, params, *prefix, *block))
  return [np.bincount(block[2, r], weights=token_scores[r], minlength=n + 1)[1:n + 1]
          .astype(np.float32) for r, n in enumerate(num_options)]


def rank_classify(graphdef, params, vocab, examples, **kwargs) -> list[str]:
  """The option with the highest log-likelihood, per example (the first one on a tie)."""
  scores = score_options(graphdef, params, vocab, examples, **kwargs)
  return [ex.options[int(np.argmax(s))] for ex, s in zip(examples, scores)]
