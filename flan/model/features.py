"""Run a `Decoder` on a SeqIO decoder feature dict.

Packed batches (seqio.DecoderFeatureConverter with pack=True) carry everything:

  decoder_input_tokens   [[0, 5, 6, 0, 7, 0]]   BOS = 0 starts each segment
  decoder_target_tokens  [[5, 6, 1, 7, 1, 0]]
  decoder_segment_ids    [[1, 1, 1, 2, 2, 0]]
  decoder_positions      [[0, 1, 2, 0, 1, 0]]

Unpacked batches have no segment ids or positions; one sequence per row, right-padded. Then

  segment_ids = (decoder_target_tokens != 0)   [[1, 1, 1, 0]]   (input tokens can't tell: BOS=0)
  positions   = arange(L)                      [[0, 1, 2, 3]]

and with no target tokens either (e.g. a decoding prompt) every position is segment 1.
"""

from collections.abc import Mapping

import jax
import jax.numpy as jnp

from flan.model.decoder import Decoder


def segment_ids_and_positions(batch: Mapping[str, jax.Array]) -> tuple[jax.Array, jax.Array]:
  """The (segment_ids, positions) of a feature dict, each int32 [B, L], derived when absent."""
  tokens = jnp.asarray(batch["decoder_input_tokens"])
  if "decoder_segment_ids" in batch:
    segment_ids = jnp.asarray(batch["decoder_segment_ids"], jnp.int32)
  elif "decoder_target_tokens" in batch:
    segment_ids = (jnp.asarray(batch["decoder_target_tokens"]) != 0).astype(jnp.int32)
  else:
    segment_ids = jnp.ones(tokens.shape, jnp.int32)
  if "decoder_positions" in batch:
    positions = jnp.asarray(batch["decoder_positions"], jnp.int32)
  else:
    positions = jnp.broadcast_to(jnp.arange(tokens.shape[1], dtype=jnp.int32), tokens.shape)
  return segment_ids, positions


def forward_features(model: Decoder, batch: Mapping[str, jax.Array]) -> jax.Array:
  """Logits float32 [B, L, V] for a SeqIO decoder feature dict (numpy or jax arrays)."""
  return model.output_logits(hidden_features(model, batch))


def hidden_features(model: Decoder, batch: Mapping[str, jax.Array]) -> jax.Array:
  """The final-normed hidden states [B, L, D] for a SeqIO decoder feature dict."""
  tokens = jnp.asarray(batch["decoder_input_tokens"], jnp.int32)
  segment_ids, positions = segment_ids_and_positions(batch)
  return model.hidden(tokens, segment_ids, positions)
