"""Rank classification: score each option as the target, pick the most likely.

For an example with inputs x and options o_1..o_k, each option becomes one row

    decoder_target_tokens = [x..., EOS, o_j..., EOS, 0, ...]
    decoder_input_tokens  = [0, x..., EOS, o_j..., 0, ...]        (BOS = 0, shifted by one)
    weights               = [0 ... 0,   1 ... 1 (o_j and its EOS), 0 ...]

and its score is sum(weights * log p(target)). The prediction is the argmax over options.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from flan.train import step as step_lib

EOS_ID = 1
LENGTH_BUCKET = 32


def bucket(length: int, multiple: int = LENGTH_BUCKET) -> int:
  """Round a length up so that few distinct shapes are compiled."""
  return max(multiple, -(-length // multiple) * multiple)


def prompt_ids(vocab, text: str, max_length: int) -> list[int]:
  """Token ids of an input text plus EOS, keeping the end when it is too long."""
  ids = list(vocab.encode(text)) + [EOS_ID]
  return ids[-max_length:]


def target_ids(vocab, text: str, max_length: int) -> list[int]:
  return (list(vocab.encode(text)) + [EOS_ID])[:max_length]


def make_rows(prompt: list[int], target: list[int], length: int):
  """(input tokens, target tokens, weights) of one scored sequence, padded to `length`."""
  sequence = prompt + target
  targets = np.zeros(length, np.int32)
  targets[:len(sequence)] = sequence
  inputs = np.zeros(length, np.int32)
  inputs[1:len(sequence)] = sequence[:-1]
  weights = np.zeros(length, np.float32)
  weights[len(prompt):len(sequence)] = 1.0
  return inputs, targets, weights


@functools.partial(jax.jit, static_argnums=(0,))
def _sequence_scores(graphdef, params, inputs, targets, weights):
  # One segment per row: the padding after the sequence cannot reach it through a causal mask.
  segment_ids = jnp.ones_like(inputs)
  positions = jnp.broadcast_to(jnp.arange(inputs.shape[1], dtype=jnp.int32), inputs.shape)
  batch = {"decoder_input_tokens": inputs, "decoder_segment_ids": segment_ids,
           "decoder_positions": positions}
  logits = step_lib.model_logits(graphdef, params, batch)
  log_probs = jax.nn.log_softmax(logits, axis=-1)
  token_scores = jnp.take_along_axis(log_probs, targets[..., None], axis=-1)[..., 0]
  return jnp.sum(token_scores * weights, axis=-1)


def score_options(graphdef, params, vocab, examples, *, max_input_length: int = 512,
                  max_target_length: int = 64, batch_size: int = 32) -> list[np.ndarray]:
  """Log-likelihood of every option of every example: a list of [num_options] arrays."""
  rows = []  # (example index, prompt ids, option ids)
  for i, example in enumerate(examples):
    prompt = prompt_ids(vocab, example.inputs, max_input_length)
    for option in example.options:
      rows.append((i, prompt, target_ids(vocab, option, max_target_length)))
  scores = np.zeros(len(rows), np.float32)
  for start in range(0, len(rows), batch_size):
    chunk = rows[start:start + batch_size]
    length = bucket(max(len(p) + len(t) for _, p, t in chunk))
    arrays = [make_rows(p, t, length) for _, p, t in chunk]
    pad = batch_size - len(chunk)
    inputs, targets, weights = (np.stack([a[k] for a in arrays] + [arrays[0][k]] * pad)
                                for k in range(3))
    batch_scores = _sequence_scores(graphdef, params, inputs, targets, weights)
    scores[start:start + len(chunk)] = np.asarray(batch_scores)[:len(chunk)]
  per_example, row = [], 0
  for example in examples:
    per_example.append(scores[row:row + len(example.options)])
    row += len(example.options)
  return per_example


def rank_classify(graphdef, params, vocab, examples, **kwargs) -> list[str]:
  """The option with the highest log-likelihood, per example."""
  scores = score_options(graphdef, params, vocab, examples, **kwargs)
  return [ex.options[int(np.argmax(s))] for ex, s in zip(examples, scores)]
