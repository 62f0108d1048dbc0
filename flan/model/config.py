"""Decoder hyperparameters, parameter counts, FLOP counts and named presets.

A `ModelConfig` is all a `Decoder` needs to be built. It is a frozen dataclass, so gin can bind it
at the edges and it can be hashed into jit caches.

The counts are computed from the formula, never from a built model, so a test can check the
formula against the real parameter tree:

  num_params      every parameter: embedding, (unembed), per layer its norms (2, or 4 with
                  post_norms, + 2 head-sized with qk_norm), q/k/v biases (qkv_bias), attention +
                  MLP kernels, final norm.
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
# The open families one decoder covers (ModelConfig.family; flan/export/families.py).
FAMILIES = ("llama", "mistral", "qwen2", "qwen3", "gemma2", "gemma3")
ROPE_SCALINGS = ("none", "llama3", "linear")
# Kernels per backend (flan/model/kernels.py); "auto" picks by the backend that runs the model.
ATTENTION_KERNELS = ("auto", "xla", "cpu", "splash", "cudnn")
MATMUL_KERNELS = ("auto", "xla", "lowp")


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
      program's size no longer grow with num_layers. Unscanned: `blocks/<i>/...`. With mixed
      sliding-window and global layers, one scan step runs a whole period of the pattern
      (`layer_period`, see Decoder._scanned).
    mlp_activation: "silu" (SwiGLU, the Llama family) or "gelu" (gated GELU, the LaMDA-PT-like
      family of the paper's base models).

  Family switches (the defaults are the decoder above, bit for bit; presets in configs/models/):
    family: the Hugging Face architecture an export writes and an import came from: "llama",
      "mistral", "qwen2", "qwen3", "gemma2", "gemma3" (see flan/export/families.py).
    rope_scaling: "none", "llama3" (Llama 3.1+: long wavelengths divided by the factor, a smooth
      ramp between rope_low_freq_factor and rope_high_freq_factor of
      rope_original_max_positions) or "linear" (every frequency divided by the factor).
    rope_scaling_factor, rope_low_freq_factor, rope_high_freq_factor,
      rope_original_max_positions: the parameters of rope_scaling.
    rope_local_theta: RoPE base of the sliding-window layers, unscaled (Gemma 3: 10000); 0 means
      every layer uses rope_theta and rope_scaling.
    qkv_bias: biases on the query, key and value projections (Qwen2).
    qk_norm: RMSNorm over each query and key head before RoPE (Qwen3, Gemma 3).
    norm_plus_one: every RMSNorm multiplies by (1 + scale), scales initialized to 0 (Gemma).
    embed_scale: the embedding output is multiplied by sqrt(d_model) (Gemma).
    post_norms: RMSNorm on the attention and MLP outputs before each residual add, besides
      the usual pre-norms (Gemma 2/3).
    attn_softcap: attention scores s -> c * tanh(s / c) before the mask (Gemma 2: 50); 0 = off.
    final_softcap: logits z -> c * tanh(z / c) (Gemma 2: 30); 0 = off.
    sliding_window: W > 0: a query at position p sees keys at positions > p - W only (in the
      sliding-window layers); 0 = every layer attends to its whole segment.
    global_every: with sliding_window, layer i attends globally iff (i + 1) % global_every == 0
      (Gemma 2: 2, Gemma 3: 6); 0 = every layer slides (Mistral).
    query_pre_attn_scalar: queries are scaled by query_pre_attn_scalar ** -0.5 instead of
      head_dim ** -0.5 (Gemma); 0 = head_dim.
    attention_kernel: "auto" (by backend: CPU "cpu", TPU "splash", GPU "xla"), "xla" (plain
      JAX softmax attention), "cpu" (attention_core's hand-written backward pass), "splash"
      (Pallas TPU splash attention over segment ids), "cudnn" (jax.nn.dot_product_attention's
      cuDNN kernel). See flan/model/kernels.py.
    matmul_kernel: "auto" (CPU "lowp", else "xla"), "lowp" (flan/model/lowp.py's bfloat16
      matmuls with row-major backward dots, a CPU tuning) or "xla" (plain jnp.dot).
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
  family: str = "llama"
  rope_scaling: str = "none"
  rope_scaling_factor: float = 1.0
  rope_low_freq_factor: float = 1.0
  rope_high_freq_factor: float = 4.0
  rope_original_max_positions: int = 8192
  rope_local_theta: float = 0.0
  qkv_bias: bool = False
  qk_norm: bool = False
  norm_plus_one: bool = False
  embed_scale: bool = False
  post_norms: bool = False
  attn_softcap: float = 0.0
  final_softcap: float = 0.0
  sliding_window: int = 0
  global_every: int = 0
  query_pre_attn_scalar: float = 0.0
  attention_kernel: str = "auto"
  matmul_kernel: str = "auto"

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
    if self.family not in FAMILIES:
      raise ValueError(f"family={self.family!r} is not one of {FAMILIES}")
    if self.rope_scaling not in ROPE_SCALINGS:
      raise ValueError(f"rope_scaling={self.rope_scaling!r} is not one of {ROPE_SCALINGS}")
    if self.sliding_window < 0 or self.global_every < 0:
      raise ValueError("sliding_window and global_every must be >= 0")
    if self.attention_kernel not in ATTENTION_KERNELS:
      raise ValueError(f"attention_kernel={self.attention_kernel!r} is not one of "
                       f"{ATTENTION_KERNELS}")
    if self.matmul_kernel not in MATMUL_KERNELS:
      raise ValueError(f"matmul_kernel={self.matmul_kernel!r} is not one of {MATMUL_KERNELS}")
    for name in ("dtype", "param_dtype"):
      jnp.dtype(getattr(self, name))  # Raises TypeError on an unknown dtype name.

  def block_matmul_params(self) -> int:
    """Matmul parameters of one block: attention q/k/v/o and the MLP's wi_0/wi_1/wo."""
    d, h, k, dh, f = self.d_model, self.num_heads, self.num_kv_heads, self.head_dim, self.d_ff
    return d * h * dh + 2 * d * k * dh + h * dh * d + 3 * d * f

  def block_params(self) -> int:
    """Parameters of one block: block_matmul_params, the norm scales (two, four with
    post_norms, plus two [Dh] with qk_norm) and the q/k/v biases (qkv_bias)."""
    h, k, dh = self.num_heads, self.num_kv_heads, self.head_dim
    norms = (4 if self.post_norms else 2) * self.d_model + (2 * dh if self.qk_norm else 0)
    biases = (h + 2 * k) * dh if self.qkv_bias else 0
    return self.block_matmul_params() + norms + biases

  def is_sliding(self, layer: int) -> bool:
    """Whether block `layer` attends within sliding_window (see the class docstring)."""
    if not self.sliding_window:
      return False
    return not self.global_every or (layer + 1) % self.global_every != 0

  def layer_period(self) -> int:
    """Layers per repeat of the sliding/global pattern: global_every when a sliding window mixes
    with global layers (Gemma 2: 2, Gemma 3: 6), else 1 (every layer alike)."""
    return self.global_every if self.sliding_window and self.global_every else 1

  def num_params(self) -> int:
    """Every parameter of the `Decoder` built from this config."""
    embedding = self.vocab_size * self.d_model
    unembed = 0 if self.tie_embeddings else self.d_model * self.vocab_size
    final_norm = self.d_model
    return embedding + unembed + self.num_layers * self.block_params() + final_norm

  def matmul_params(self) -> int:
    """Parameters that take part in matmuls (see the module docstring)."""
    output_projection = self.d_model * self.vocab_size
    return self.num_layers * self.block_matmul_params() + output_projection

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
