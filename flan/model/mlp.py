"""Gated feed-forward block: wo(act(x @ wi_0) * (x @ wi_1)), act = SiLU (Llama) or GELU (LaMDA)."""

import jax
import jax.numpy as jnp
from flax import nnx

from flan.model import kernels
from flan.model.config import ModelConfig
from flan.model.layers import compute_weight, dense, logical_param
from flan.sharding import HIDDEN, RESIDUAL, constrain


ACTIVATIONS = {"silu": jax.nn.silu, "gelu": jax.nn.gelu}


class Mlp(nnx.Module):
  """Gated MLP (Llama's gate_proj / up_proj / down_proj are wi_0 / wi_1 / wo).

  Parameters (std 1/sqrt(fan_in)):
    wi_0  [D, F]  ("embed", "mlp")   gate, through SiLU
    wi_1  [D, F]  ("embed", "mlp")   linear
    wo    [F, D]  ("mlp", "embed")
  """

  def __init__(self, config: ModelConfig, *, rngs: nnx.Rngs):
    d, f = config.d_model, config.d_ff
    param_dtype = jnp.dtype(config.param_dtype)
    self.dtype = jnp.dtype(config.dtype)
    self.lowp = kernels.use_lowp(config)
    self.activation = ACTIVATIONS[config.mlp_activation]
    self.wi_0 = logical_param(rngs, d ** -0.5, (d, f), ("embed", "mlp"), param_dtype)
    self.wi_1 = logical_param(rngs, d ** -0.5, (d, f), ("embed", "mlp"), param_dtype)
    self.wo = logical_param(rngs, f ** -0.5, (f, d), ("mlp", "embed"), param_dtype)

  def __call__(self, x: jax.Array) -> jax.Array:
    """x: [B, L, D] -> [B, L, D], in config.dtype."""
    w = lambda p: compute_weight(p, self.dtype)
    lowp = self.lowp
    gate = self.activation(dense(x, w(self.wi_0), lowp=lowp))    # [B, L, F]
    linear = dense(x, w(self.wi_1), lowp=lowp)                    # [B, L, F]
    hidden = constrain(gate * linear, HIDDEN)
    return constrain(dense(hidden, w(self.wo), lowp=lowp), RESIDUAL)  # [B, L, D]
