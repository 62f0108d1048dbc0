"""Packing and masks: exact arrays from the feature converter, and packed loss = unpacked loss."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import seqio
import tensorflow as tf
from flax import nnx

from flan.model import Decoder, presets
from flan.train import loss as loss_lib
from flan.train import step as step_lib

# Two tokenized examples (EOS = 1 already appended, as the tasks do).
EXAMPLES = [
    {"inputs": [7, 8, 5, 1], "targets": [3, 9, 1]},
    {"inputs": [8, 4, 9, 3, 1], "targets": [4, 1]},
    {"inputs": [6, 1], "targets": [2, 2, 2, 1]},
]
LENGTHS = {"inputs": 7, "targets": 8}  # packed rows are 7 + 8 = 15 long


def convert(examples, pack: bool):
  dataset = tf.data.Dataset.from_generator(
      lambda: iter(examples),
      output_signature={"inputs": tf.TensorSpec([None], tf.int32),
                        "targets": tf.TensorSpec([None], tf.int32)})
  converter = seqio.PrefixLMFeatureConverter(pack=pack, loss_on_targets_only=True)
  converted = converter(dataset, LENGTHS)
  return [{k: v.tolist() for k, v in ex.items()} for ex in converted.as_numpy_iterator()]


def test_packed_arrays_are_exact():
  rows = convert(EXAMPLES, pack=True)
  assert len(rows) == 2
  first = rows[0]
  # Example 1 (7 tokens) and example 2 (7 tokens) share the first row; BOS = 0 starts each.
  assert first["decoder_target_tokens"] == [7, 8, 5, 1, 3, 9, 1, 8, 4, 9, 3, 1, 4, 1, 0]
  assert first["decoder_input_tokens"] == [0, 7, 8, 5, 1, 3, 9, 0, 8, 4, 9, 3, 1, 4, 0]
  assert first["decoder_segment_ids"] == [1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 0]
  assert first["decoder_positions"] == [0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4, 5, 6, 0]
  # Loss on the targets and the target EOS only; never on inputs, their EOS, or padding.
  assert first["decoder_loss_weights"] == [0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 0]
  second = rows[1]
  assert second["decoder_target_tokens"] == [6, 1, 2, 2, 2, 1] + [0] * 9
  assert second["decoder_input_tokens"] == [0, 6, 1, 2, 2, 2] + [0] * 9
  assert second["decoder_segment_ids"] == [1] * 6 + [0] * 9
  assert second["decoder_positions"] == [0, 1, 2, 3, 4, 5] + [0] * 9
  assert second["decoder_loss_weights"] == [0, 0, 1, 1, 1, 1] + [0] * 9


def test_unpacked_arrays_are_exact():
  rows = convert(EXAMPLES[:1], pack=False)
  assert rows[0]["decoder_target_tokens"] == [7, 8, 5, 1, 3, 9, 1] + [0] * 8
  # Unpacked rows are shifted as a whole: the final EOS lands on the first padding position,
  # where the target is 0 and the loss weight 0, so no prediction depends on it.
  assert rows[0]["decoder_input_tokens"] == [0, 7, 8, 5, 1, 3, 9, 1] + [0] * 7
  assert rows[0]["decoder_loss_weights"] == [0, 0, 0, 0, 1, 1, 1] + [0] * 8


def per_example_loss(logits, targets, weights, segment_ids):
  """Mean target-token loss of each packed segment, and its token count: two arrays [B, S]
  (column s = segment id s; column 0 collects the padding)."""
  losses, _, _ = loss_lib.token_losses(logits, targets)
  weights = weights.astype(jnp.float32)
  max_segments = int(segment_ids.max()) + 1
  one_hot = jax.nn.one_hot(segment_ids, max_segments, dtype=jnp.float32)  # [B, L, S]
  sums = jnp.einsum("bl,bls->bs", losses * weights, one_hot)
  counts = jnp.einsum("bl,bls->bs", weights, one_hot)
  return sums / jnp.maximum(counts, 1.0), counts


def batch_of(rows):
  return {k: np.array([r[k] for r in rows], np.int32) for k in rows[0]}


@pytest.mark.parametrize("seed", [0, 1])
def test_packed_loss_equals_unpacked_loss(seed):
  """Each example's mean target loss is the same alone in a row or packed with others."""
  model = Decoder(presets["tiny"], rngs=nnx.Rngs(seed))
  graphdef, params = nnx.split(model, nnx.Param)
  packed = batch_of(convert(EXAMPLES, pack=True))
  unpacked = batch_of(convert(EXAMPLES, pack=False))
  assert "decoder_segment_ids" not in unpacked  # derived by the model's feature reader

  packed_logits = step_lib.model_logits(graphdef, params, packed)
  packed_losses, packed_counts = per_example_loss(
      packed_logits, packed["decoder_target_tokens"], packed["decoder_loss_weights"],
      packed["decoder_segment_ids"])
  # Packed order: row 0 holds examples 0 and 1 (segments 1, 2); row 1 holds example 2.
  packed_per_example = [packed_losses[0, 1], packed_losses[0, 2], packed_losses[1, 1]]

  unpacked_logits = step_lib.model_logits(graphdef, params, unpacked)
  segment_ids = (unpacked["decoder_target_tokens"] != 0).astype(np.int32)
  unpacked_losses, _ = per_example_loss(
      unpacked_logits, unpacked["decoder_target_tokens"], unpacked["decoder_loss_weights"],
      segment_ids)
  np.testing.assert_allclose(packed_per_example, unpacked_losses[:, 1], rtol=1e-5, atol=1e-5)
  assert [float(packed_counts[0, 1]), float(packed_counts[0, 2]),
          float(packed_counts[1, 1])] == [3.0, 2.0, 4.0]
  # And the batch losses agree when normalized per target token.
  num_p, den_p, _ = loss_lib.loss_terms(packed_logits, packed["decoder_target_tokens"],
                                        packed["decoder_loss_weights"])
  num_u, den_u, _ = loss_lib.loss_terms(unpacked_logits, unpacked["decoder_target_tokens"],
                                        unpacked["decoder_loss_weights"])
  assert float(den_p) == float(den_u) == 9.0
  np.testing.assert_allclose(float(num_p / den_p), float(num_u / den_u), rtol=1e-5)
