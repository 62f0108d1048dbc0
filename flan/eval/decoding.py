"""Greedy and beam decoding with a key/value cache, each row stopping at its EOS.

A batch of prompts [start, x..., EOS] (start: the vocabulary's decoder start token, 0 or BOS) is left-padded to a bucketed length P (batching.left_pad) and
run through the model once (`Decoder.extend` into a cache of P + max_new_tokens slots); the
logits at the last slot give the first new token. Each further step feeds one token per row at
slot P + t and position len(prompt) + t, attending over the cache instead of re-reading the
prefix. The loop is a `lax.while_loop` that ends when every row has emitted EOS.

    decode_texts(graphdef, params, vocab, ["What is 3 + 4?"], max_new_tokens=8) == ["7"]

beam_size 1 (the default) runs the greedy loop (`_greedy`: argmax per step); beam_size W > 1 runs
beam search over W hypotheses per row (flan/eval/beam.py).

Outputs are the tokens before the first EOS (padding 0s dropped), decoded to text.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from flan.data.vocab import decoder_start_id
from flan.eval import beam as beam_lib
from flan.eval.batching import (EOS_ID, batches, eos_id, left_pad, length_groups, prompt_ids,
                                rows_for)


def _prefill(model, tokens, segment_ids, positions, max_new_tokens):
  """(log-probabilities of the first new token [B, V], cache) after the prompts."""
  cache = model.init_cache(tokens.shape[0], tokens.shape[1] + max_new_tokens)
  hidden, cache = model.extend(tokens, segment_ids, positions, cache)
  logits = model.output_logits(hidden[:, -1:])[:, 0]                             # [B, V]
  return jax.nn.log_softmax(logits, axis=-1), cache


def _step_fn(model, lengths):
  """step_fn(tokens [N], step, cache): feeds one token per row at position lengths + step."""
  def step_fn(tokens, step, cache):
    positions = (lengths + step)[:, None]
    hidden, cache = model.extend(tokens[:, None], jnp.ones_like(positions), positions, cache)
    return jax.nn.log_softmax(model.output_logits(hidden)[:, 0], axis=-1), cache
  return step_fn


@functools.partial(jax.jit, static_argnums=(0, 5, 6))
def _greedy(graphdef, params, tokens, segment_ids, positions, max_new_tokens: int, eos_id: int):
  """int32 [B, max_new_tokens]: greedy tokens per row, EOS kept, 0 after it."""
  model = nnx.merge(graphdef, params)
  log_probs, cache = _prefill(model, tokens, segment_ids, positions, max_new_tokens)
  lengths = jnp.sum(segment_ids, axis=1)                                          # [B]
  step_fn = _step_fn(model, lengths)
  batch = tokens.shape[0]

  def cond(carry):
    step, _, done, _, _ = carry
    return (step < max_new_tokens) & ~jnp.all(done)

  def body(carry):
    step, out, done, log_probs, cache = carry
    token = jnp.where(done, 0, jnp.argmax(log_probs, axis=-1).astype(jnp.int32))
    out = out.at[:, step].set(token)
    done = done | (token == eos_id)
    log_probs, cache = step_fn(token, step, cache)
    return step + 1, out, done, log_probs, cache

  out = jnp.zeros((batch, max_new_tokens), jnp.int32)
  done = lengths == 0                                   # padding rows never hold the loop up
  carry = (jnp.zeros((), jnp.int32), out, done, log_probs, cache)
  return jax.lax.while_loop(cond, body, carry)[1]


@functools.partial(jax.jit, static_argnums=(0, 5, 6, 7, 8))
def _beam(graphdef, params, tokens, segment_ids, positions, max_new_tokens: int, eos_id: int,
          beam_size: int, length_penalty: float):
  """int32 [B, max_new_tokens]: the best beam per row, EOS kept, 0 after it."""
  model = nnx.merge(graphdef, params)
  log_probs, cache = _prefill(model, tokens, segment_ids, positions, max_new_tokens)
  lengths = jnp.sum(segment_ids, axis=1)                                          # [B]
  # Padding rows emit EOS at once (certainly), so they never hold the loop up.
  eos_only = jnp.where(jnp.arange(log_probs.shape[-1]) == eos_id, 0.0, beam_lib.NEG)
  log_probs = jnp.where((lengths == 0)[:, None], eos_only, log_probs)
  step_fn = _step_fn(model, jnp.repeat(lengths, beam_size))                      # [B*W] rows
  best, _ = beam_lib.beam_search(log_probs, cache, step_fn,
                                 beam_size=beam_size, max_new_tokens=max_new_tokens,
                                 eos_id=eos_id, length_penalty=length_penalty)
  return best[:, 0]


def decode_tokens(graphdef, params, prompts: list[list[int]], *, max_new_tokens: int,
                  beam_size: int = 1, length_penalty: float = 0.0, eos_id: int | None = EOS_ID,
                  batch_tokens: int = 8192, max_batch: int = 32) -> list[list[int]]:
  """New token ids per prompt (prompts start with BOS 0), up to and without the first EOS.

  `eos_id=None` never stops early (every row gets max_new_tokens tokens).
  """
  stop = -1 if eos_id is None else eos_id
  outputs: list[list[int] | None] = [None] * len(prompts)
  for length, group in length_groups([len(p) for p in prompts]).items():
    full_rows = rows_for((length + max_new_tokens) * beam_size, batch_tokens, max_batch)
    rows, chunks = batches(group, full_rows, min_rows=1)
    for indices in chunks:
      batch = left_pad([prompts[i] for i in indices], length, rows)
      if beam_size == 1:
        result = _greedy(graphdef, params, *batch, max_new_tokens, stop)
      else:
        result = _beam(graphdef, params, *batch, max_new_tokens, stop, beam_size,
                       float(length_penalty))
      result = np.asarray(result)
      for r, i in enumerate(indices):
        generated = result[r].tolist()
        outputs[i] = generated[:generated.index(stop)] if stop in generated else generated
  return outputs


def decode_texts(graphdef, params, vocab, texts: list[str], *, max_new_tokens: int = 32,
                 max_input_length: int = 1024, beam_size: int = 1, **kwargs) -> list[str]:
  """Continuations of the input texts, as text: greedy with beam_size 1, else beam search."""
  start = decoder_start_id(vocab)
  prompts = [[start] + prompt_ids(vocab, t, max_input_length) for t in texts]
  kwargs.setdefault("eos_id", eos_id(vocab))
  outputs = decode_tokens(graphdef, params, prompts, max_new_tokens=max_new_tokens,
                          beam_size=beam_size, **kwargs)
  # Outputs end before EOS; a 0 the model wrote is a real token in some vocabularies (Qwen's
  # "!") and decodes to nothing in SentencePiece ones (<pad>), so it is passed on as it is.
  return [vocab.decode(ids) for ids in outputs]
