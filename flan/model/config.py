"""Decoder hyperparameters, parameter counts, FLOP counts and named presets.

A `ModelConfig` is all a `Decoder` needs to be built. It is a frozen dataclass, so gin can bind it
at the edges and it can be hashed into jit caches.

The counts are computed from the formula, never from a built model, so a test can check the
formula against the real parameter tree:

  num_params      every parameter: embedding, (unembed), per layer 2 norms + attention + MLP,
                  final norm.
  matmul_params   parameters that take part in matmuls: attention q/k/v/o, the three MLP kernels,
                  the output projection (the tied embedding counts once, as the output projection;
                  an untied input embedding is a lookup and does not count). Norm scales don't.
  flops_per_token 6 * matmul_params + 12 * num_layers * num_heads * head_dim * seq_len: training
                  FLOPs per token under full (unmasked) attention (the MFU convention, benchmarks/README.md).
"""

import dataclasses

import jax.numpy as jnp

# What a block keeps for the backward pass (the rest is recomputed), as in T5X's remat_policy:
#   none     everything (no rematerialization)
#   minimal  the outputs of matmuls without batch dimensions: the q/k/v/out and MLP projections
#            (attention scores and probabilities, activations and norms are recomputed)
#   dots     the outputs of every matmul, the attention scores too
#   full     only the block's input: the whole block is recomputed
REMAT_POLICIES = ("none", "minimal", "dots", "full")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """Shape and numerics of a Llama-style decoder.

  Attributes:
    vocab_size: V, rows of the embedding.
    num_layers: number of transformer blocks.
    d_model: D, width of the residual stream.
    num_heads: H, query heads.
    num_kv_heads: K, key/value heads; H must be a multiple of K (K == H is plain multi-head).
    head_dim: Dh, width of one head (even, for RoPE).
    d_ff: F, hidden width of the SwiGLU MLP.
    dtype: computation dtype ("float32", "bfloat16"); logits are always returned in float32.
    param_dtype: storage dtype of the parameters.
    rope_theta: RoPE base frequency.
    tie_embeddings: the output projection is the embedding (transposed); else a separate
      `unembed` kernel [D, V].
    scale_tied_logits: with tie_embeddings, multiply logits by 1/sqrt(D). This goes with the
      std-1.0 embedding initialization (T5 convention). Set False to import a tied checkpoint
      trained without the scale (e.g. SmolLM / Llama-3.2-1B).
    norm_eps: RMSNorm epsilon.
    remat: what each block saves for the backward pass: "none", "minimal", "dots" or "full"
      (see REMAT_POLICIES).
    scan_layers: stack the blocks' parameters along a leading "layers" axis
      (`blocks_scanned/...`) and run them with one `jax.lax.scan`: compile time and the
      program's size no longer grow with num_layers. Unscanned: `blocks/<i>/...`.
    mlp_activation: "silu" (SwiGLU, the Llama family) or "gelu" (gated GELU, the LaMDA-PT-like
      family of the paper's base models).
  """
  vocab_size: int = 32000
  num_layers: int = 8
  d_model: int = 512
  num_heads: int = 8
  num_kv_heads: int = 8
  head_dim: int = 64
  d_ff: int = 2048
  dtype: str = "float32"
  param_dtype: str = "float32"
  rope_theta: float = 10000.0
  tie_embeddings: bool = True
  scale_tied_logits: bool = True
  norm_eps: float = 1e-6
  remat: str = "none"
  scan_layers: bool = False
  mlp_activation: str = "silu"

  def __post_init__(self):
    if self.num_heads % self.num_kv_heads:
      raise ValueError(f"num_heads={self.num_heads} is not a multiple of "
                       f"num_kv_heads={self.num_kv_heads}")
    if self.head_dim % 2:
      raise ValueError(f"head_dim={self.head_dim} must be even for RoPE")
    if self.mlp_activation not in ("silu", "gelu"):
      raise ValueError(f"mlp_activation={self.mlp_activation!r} is not 'silu' or 'gelu'")
    if self.remat not in REMAT_POLICIES:
      raise ValueError(f"remat={self.remat!r} is not one of {REMAT_POLICIES}")
    for name in ("dtype", "param_dtype"):
      jnp.dtype(getattr(self, name))  # Raises TypeError on an unknown dtype name.

  def block_params(self) -> int:
    """Parameters of one block: attention q/k/v/o, SwiGLU wi_0/wi_1/wo, two norm scales."""
    d, h, k, dh, f = self.d_model, self.num_heads, self.num_kv_heads, self.head_dim, self.d_ff
    attention = d * h * dh + 2 * d * k * dh + h * dh * d
    mlp = 3 * d * f
    return attention + mlp + 2 * d

  def num_params(self) -> int:
    """Every parameter of the `Decoder` built from this config."""
    embedding = self.vocab_size * self.d_model
    unembed = 0 if self.tie_embeddings else self.d_model * self.vocab_size
    final_norm = self.d_model
    return embedding + unembed + self.num_layers * self.block_params() + final_norm

  def matmul_params(self) -> int:
    """Parameters that take part in matmuls (see the module docstring)."""
    norms_per_block = 2 * self.d_model
    output_projection = self.d_model * self.vocab_size
    return self.num_layers * (self.block_params() - norms_per_block) + output_projection

  def flops_per_token(self, seq_len: int) -> int:
    """Training FLOPs per token (forward + backward), full attention over `seq_len`."""
    attention = 12 * self.num_layers * self.num_heads * self.head_dim * seq_len
    return 6 * self.matmul_params() + attention


# Each preset is also a gin file, configs/models/<name>.gin, binding the same values (a test keeps
# them equal).
presets: dict[str, ModelConfig] = {
    # Unit tests: 254,272 parameters.
    "tiny": ModelConfig(vocab_size=2048, num_layers=2, d_model=64, num_heads=4, num_kv_heads=2,
                        head_dim=16, d_ff=256),
    # The `flan demo` model (configs/models/demo.gin), trained on a CPU in minutes: 1,115,264.
    "demo": ModelConfig(vocab_size=2048, num_layers=4, d_model=128, num_heads=4, num_kv_heads=4,
                        head_dim=32, d_ff=384),
    # A real run on one accelerator: 50,995,712 parameters, bfloat16 compute.
    "small": ModelConfig(vocab_size=32000, num_layers=8, d_model=512, num_heads=8, num_kv_heads=4,
                         head_dim=64, d_ff=2304, dtype="bfloat16"),
}
