"""Greedy decoding (no key/value cache yet: each new token re-reads the whole prefix).

Prompts are placed left-aligned in a buffer of decoder input tokens [0, prompt..., EOS]; at
each step the logits at the last filled position give the next token, which is written after
it. Rows stop at EOS; the loop runs `max_new_tokens` steps inside one jitted `fori_loop`.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from flan.eval.scoring import EOS_ID, bucket, prompt_ids
from flan.train import step as step_lib


@functools.partial(jax.jit, static_argnums=(0, 4))
def _greedy(graphdef, params, buffer, lengths, max_new_tokens: int):
  batch, length = buffer.shape
  positions = jnp.broadcast_to(jnp.arange(length, dtype=jnp.int32), buffer.shape)
  segment_ids = jnp.ones_like(buffer)
  rows = jnp.arange(batch)

  def body(_, carry):
    buffer, cursor, done = carry
    batch_features = {"decoder_input_tokens": buffer, "decoder_segment_ids": segment_ids,
                      "decoder_positions": positions}
    logits = step_lib.model_logits(graphdef, params, batch_features)
    next_token = jnp.argmax(logits[rows, cursor - 1], axis=-1).astype(buffer.dtype)
    next_token = jnp.where(done, 0, next_token)
    write = (~done) & (cursor < length)
    buffer = buffer.at[rows, jnp.minimum(cursor, length - 1)].set(
        jnp.where(write, next_token, buffer[rows, jnp.minimum(cursor, length - 1)]))
    done = done | (next_token == EOS_ID) | (cursor + 1 >= length)
    return buffer, cursor + write.astype(cursor.dtype), done

  done = jnp.zeros((batch,), bool)
  buffer, _, _ = jax.lax.fori_loop(0, max_new_tokens, body, (buffer, lengths, done))
  return buffer


def greedy_decode(graphdef, params, vocab, texts: list[str], *, max_new_tokens: int = 32,
                  max_input_length: int = 512, batch_size: int = 32) -> list[str]:
  """Greedy continuations of the input texts, decoded to text (up to the first EOS)."""
  outputs = []
  for start in range(0, len(texts), batch_size):
    chunk = [[0] + prompt_ids(vocab, t, max_input_length) for t in texts[start:start + batch_size]]
    length = bucket(max(len(p) for p in chunk) + max_new_tokens)
    buffer = np.zeros((batch_size, length), np.int32)
    lengths = np.ones(batch_size, np.int32)
    for i, prompt in enumerate(chunk):
      buffer[i, :len(prompt)] = prompt
      lengths[i] = len(prompt)
    result = np.asarray(_greedy(graphdef, params, buffer, lengths, max_new_tokens))
    for i, prompt in enumerate(chunk):
      generated = list(result[i, len(prompt):len(prompt) + max_new_tokens])
      if EOS_ID in generated:
        generated = generated[:generated.index(EOS_ID)]
      generated = [t for t in generated if t != 0]
      outputs.append(vocab.decode(generated))
  return outputs
