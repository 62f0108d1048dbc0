"""Flax NNX decoder-only model (Llama-style: RoPE, RMSNorm, SwiGLU, grouped-query attention).

  from flan.model import ModelConfig, Decoder, presets
  model = Decoder(presets["tiny"], rngs=nnx.Rngs(0))
  logits = model(tokens, segment_ids, positions)        # int32 [B, L] x3 -> float32 [B, L, V]
  logits = forward_features(model, seqio_feature_dict)
"""

from flan.model.config import ModelConfig, presets
from flan.model.decoder import Block, Decoder
from flan.model.features import forward_features, hidden_features, segment_ids_and_positions

__all__ = [
    "Block",
    "Decoder",
    "ModelConfig",
    "forward_features",
    "hidden_features",
    "presets",
    "segment_ids_and_positions",
]
