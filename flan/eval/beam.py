"""Beam search over any next-token distribution, as one jittable `lax.while_loop`.

    tokens, scores = beam_search(first_log_probs, state, step_fn, beam_size=4,
                                 max_new_tokens=32, eos_id=1)
    tokens  int32 [B, W, max_new_tokens]   W beams per row, best first; EOS kept, 0 after it
    scores  float32 [B, W]                 sum of log-probabilities (length-normalized if asked)

`first_log_probs` [B, V] is the distribution of the first new token (from the prompt);
`step_fn(tokens [B*W], step, state) -> (log_probs [B*W, V], state)` gives the next one after
feeding `tokens` (the model with a key/value cache: see decoding.py). `state` starts with B rows:
every array leaf with a leading axis is repeated W times, then reordered along that axis (row
b * W + w) whenever beams are re-ranked; scalar leaves (a cache index) are shared.

A finished beam (it emitted EOS) stays in the beam with its score frozen and competes with the
live ones; the search stops when every beam of every row is finished or after max_new_tokens.
With beam_size 1 this is greedy decoding, token for token. `length_penalty` alpha ranks the final
beams by score / ((5 + length) / 6) ** alpha (GNMT); 0 ranks by the raw log-probability.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

NEG = -1e9  # score of an impossible candidate: finite, so sums never produce NaN


def _repeat(state, beams: int):
  return jax.tree.map(lambda x: jnp.repeat(x, beams, axis=0) if x.ndim else x, state)


def _gather(state, rows):
  return jax.tree.map(lambda x: x[rows] if x.ndim else x, state)


def beam_search(first_log_probs, state, step_fn, *, beam_size: int, max_new_tokens: int,
                eos_id: int, length_penalty: float = 0.0):
  """See the module docstring."""
  batch, vocab = first_log_probs.shape
  beams = beam_size
  state = _repeat(state, beams)
  log_probs = jnp.repeat(first_log_probs.astype(jnp.float32), beams, axis=0)       # [B*W, V]
  scores = jnp.full((batch, beams), NEG, jnp.float32).at[:, 0].set(0.0)  # one live beam at first
  tokens = jnp.zeros((batch, beams, max_new_tokens), jnp.int32)
  finished = jnp.zeros((batch, beams), bool)
  lengths = jnp.zeros((batch, beams), jnp.int32)
  keep_token = jnp.arange(vocab) == 0                  # a finished beam's one candidate: itself

  def cond(carry):
    step, _, _, finished, _, _, _ = carry
    return (step < max_new_tokens) & ~jnp.all(finished)

  def body(carry):
    step, tokens, scores, finished, lengths, log_probs, state = carry
    log_probs = log_probs.reshape(batch, beams, vocab)
    frozen = jnp.where(keep_token, 0.0, NEG)                                        # [V]
    candidates = scores[..., None] + jnp.where(finished[..., None], frozen, log_probs)
    scores, flat = jax.lax.top_k(candidates.reshape(batch, beams * vocab), beams)   # [B, W]
    parent, token = flat // vocab, flat % vocab
    was_finished = jnp.take_along_axis(finished, parent, axis=1)
    token = jnp.where(was_finished, 0, token)
    tokens = jnp.take_along_axis(tokens, parent[..., None], axis=1)
    tokens = tokens.at[:, :, step].set(token)
    lengths = jnp.take_along_axis(lengths, parent, axis=1) + (~was_finished).astype(jnp.int32)
    finished = was_finished | (token == eos_id)
    rows = (jnp.arange(batch)[:, None] * beams + parent).reshape(-1)
    log_probs, state = step_fn(token.reshape(-1), step, _gather(state, rows))
    return step + 1, tokens, scores, finished, lengths, log_probs, state

  carry = (jnp.zeros((), jnp.int32), tokens, scores, finished, lengths, log_probs, state)
  _, tokens, scores, _, lengths, _, _ = jax.lax.while_loop(cond, body, carry)
  if length_penalty:
    scores = scores / ((5.0 + lengths) / 6.0) ** length_penalty
  order = jnp.argsort(-scores, axis=1, stable=True)
  return (jnp.take_along_axis(tokens, order[..., None], axis=1),
          jnp.take_along_axis(scores, order, axis=1))
