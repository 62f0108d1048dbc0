"""Token ids of evaluation inputs, left-padded prompt batches and length-bucketed groups.

Scoring and decoding both run a prompt through the model once (`Decoder.extend`) and then work
after it, so prompts are *left*-padded: every row's last prompt token sits in the same slot and
the next tokens of all rows go into the same slots. For prompts [5, 6, 7] and [8] at length 4:

    tokens       [[0, 5, 6, 7],     segment_ids [[0, 1, 1, 1],     positions [[-1, 0, 1, 2],
                  [0, 0, 0, 8]]                  [0, 0, 0, 1]]                  [-3, -2, -1, 0]]

Padding slots are segment 0 (never attended to); positions count from the first real token.

Examples are grouped by bucketed length, so that a batch pads to its own group's bucket, not to
the longest of the whole evaluation set; each group has one row count, so an evaluation compiles
one shape per length bucket:

    length_groups([3, 40, 5, 70])          == {32: [0, 2], 48: [1], 96: [3]}
    batches([0, 2, 4, 6, 8], full_rows=4)  == (4, [[0, 2, 4, 6], [8]])
    batches([0, 2], full_rows=64)          == (8, [[0, 2]])          (at least min_rows = 8)
"""

from __future__ import annotations

from typing import Callable, Hashable, Sequence

import numpy as np

EOS_ID = 1
LENGTH_BUCKET = 32


def bucket(length: int, minimum: int = LENGTH_BUCKET) -> int:
  """The smallest of minimum * (1, 1.5, 2, 3, 4, 6, 8, ...) that holds `length`.

  Two sizes per octave: at most a third of a bucket is padding, and an evaluation compiles few
  distinct shapes (with minimum 32: 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, ...).
  """
  size = minimum
  while size < length:
    size = size * 3 // 2 if size & (size - 1) == 0 else size * 4 // 3
  return size


def pow2_at_least(n: int) -> int:
  size = 1
  while size < n:
    size *= 2
  return size


def eos_id(vocab) -> int:
  """The vocabulary's EOS id (1 in the T5/SeqIO convention; 2 in Llama tokenizers)."""
  return int(getattr(vocab, "eos_id", EOS_ID))


def prompt_ids(vocab, text: str, max_length: int) -> list[int]:
  """Token ids of an input text plus EOS, keeping the end when it is too long."""
  ids = list(vocab.encode(text)) + [eos_id(vocab)]
  return ids[-max_length:]


def target_ids(vocab, text: str, max_length: int) -> list[int]:
  """Token ids of a target text plus EOS, keeping the start when it is too long."""
  return (list(vocab.encode(text)) + [eos_id(vocab)])[:max_length]


def left_pad(prompts: Sequence[Sequence[int]], length: int, rows: int | None = None):
  """(tokens, segment_ids, positions), each int32 [rows, length], prompts right-aligned.

  Rows past len(prompts) are all padding (segment 0).
  """
  rows = len(prompts) if rows is None else rows
  tokens = np.zeros((rows, length), np.int32)
  segment_ids = np.zeros((rows, length), np.int32)
  positions = np.zeros((rows, length), np.int32)
  for i, prompt in enumerate(prompts):
    pad = length - len(prompt)
    tokens[i, pad:] = prompt
    segment_ids[i, pad:] = 1
    positions[i] = np.arange(length) - pad
  return tokens, segment_ids, positions


def length_groups(lengths: Sequence[int], key: Callable[[int], Hashable] = bucket
                  ) -> dict[Hashable, list[int]]:
  """Indices of `lengths` by `key(length)`, keys in increasing order, indices in order."""
  groups: dict[Hashable, list[int]] = {}
  for i, n in enumerate(lengths):
    groups.setdefault(key(n), []).append(i)
  return {k: groups[k] for k in sorted(groups)}


def batches(indices: list[int], full_rows: int, min_rows: int = 8) -> tuple[int, list[list[int]]]:
  """(rows, chunks): a group's indices in chunks of `rows`, where rows is full_rows, or for a
  group smaller than that the power of two that holds it (at least min_rows). One row count per
  group: its last, partial chunk reuses the compiled shape of the full ones."""
  rows = min(full_rows, max(min_rows, pow2_at_least(len(indices))))
  return rows, [indices[s:s + rows] for s in range(0, len(indices), rows)]


def rows_for(tokens_per_row: int, batch_tokens: int, max_rows: int) -> int:
  """The largest power of two <= batch_tokens / tokens_per_row, between 1 and max_rows.

  A fixed row count per shape keeps the number of compiled shapes down.
  """
  rows = 1
  while rows * 2 <= min(max_rows, batch_tokens // max(tokens_per_row, 1)):
    rows *= 2
  return rows
