"""Attention and matmul kernels chosen per backend.

`ModelConfig.attention_kernel` and `matmul_kernel` name the implementation; "auto" picks by the
backend that will run the model:

  backend  attention  matmul  why
  cpu      cpu        lowp    XLA:CPU runs bf16 dots fast only with row-major operands
                              (lowp.py) and gains from the hand-written backward pass and
                              causal block skipping of attention_core.py
  tpu      splash     xla     Pallas splash attention: causal + segment-id masking inside a
                              fused kernel, never materializing [L, L] scores in HBM; lowp's
                              materialized transposes are copies the TPU compiler does not need
  gpu      xla        xla     plain softmax attention, fused by XLA:GPU. cuDNN's fused kernel
                              (`cudnn`) takes packed segments only as a dense [B, 1, L, L]
                              mask, and has not been measured against `xla` on our GPUs, so
                              it is opt-in

A sliding window (Mistral, Gemma) or attention soft-capping (Gemma 2) is not something splash is
given here (it sees segment ids only), so on TPU "auto" picks "xla" for such a model.
`resolve(config, platform)` replaces "auto" by those picks; `flan plan` resolves for the target
platform (a TPU slice compiled from a CPU host), everything else for `jax.default_backend()`.

Attention kernels take queries [B, L, H, Dh] (scaled by Dh**-0.5), keys and values [B, L, K, Dh]
and return [B, L, H, Dh]. All compute the same function on real (nonzero-segment) queries;
padding queries (segment 0) give finite values that no loss reads.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp

from flan import sharding

AUTO = {"cpu": ("cpu", "lowp"), "tpu": ("splash", "xla"), "gpu": ("xla", "xla")}
GPU_PLATFORMS = ("gpu", "cuda", "rocm")
SEGMENT_KERNELS = ("splash",)
# Mosaic (the Pallas TPU compiler) has no bfloat16 matmul operands on these (measured: "Unsupported
# matmul RHS type on target: vector<128x128xbf16>" on v3); splash runs there in float32.
OLD_TPUS = ("TPU v2", "TPU v3")
SPLASH_TILE = 128  # Mosaic tiles the sequence by multiples of 128; other lengths use "xla"  # kernels that take segment ids [B, L] instead of a mask


def _family(platform: str) -> str:
  return "gpu" if platform in GPU_PLATFORMS else platform if platform in AUTO else "cpu"


def resolve(config, platform: str | None = None):
  """`config` with "auto" kernels replaced by the picks for `platform` (default: JAX's default
  backend). E.g. on "tpu": attention_kernel "splash", matmul_kernel "xla"."""
  attention, matmul = AUTO[_family(platform or jax.default_backend())]
  masked_only = config.sliding_window or config.attn_softcap  # splash sees segments, not these
  if config.attention_kernel == "splash" and masked_only:
    raise ValueError("attention_kernel='splash' masks by segment ids only; a sliding window or "
                     "attention soft-capping needs 'xla' or 'cpu'")
  changes = {}
  if config.attention_kernel == "auto":
    changes["attention_kernel"] = "xla" if attention == "splash" and masked_only else attention
  if config.matmul_kernel == "auto":
    changes["matmul_kernel"] = matmul
  return dataclasses.replace(config, **changes) if changes else config


def attention_kernel(config) -> str:
  return resolve(config).attention_kernel


def use_lowp(config) -> bool:
  return resolve(config).matmul_kernel == "lowp"


def takes_segments(config) -> bool:
  """Whether the model passes segment ids [B, L] to its attention instead of a [B, L, L] mask."""
  return attention_kernel(config) in SEGMENT_KERNELS


def xla_attention(q, k, v, mask):
  """Reference softmax attention: q [B, Lq, H, Dh], k, v [B, Lk, K, Dh], mask bool [B, Lq, Lk]
  -> [B, Lq, H, Dh]; scores and softmax in float32, plain autodiff."""
  groups = q.shape[2] // k.shape[2]
  k, v = jnp.repeat(k, groups, axis=2), jnp.repeat(v, groups, axis=2)
  s = jnp.einsum("bqhd,bkhd->bhqk", q, k, preferred_element_type=jnp.float32)
  s = jnp.where(mask[:, None], s, jnp.float32(-1e9))
  p = jax.nn.softmax(s, axis=-1)
  return jnp.einsum("bhqk,bkhd->bqhd", p.astype(v.dtype), v,
                    preferred_element_type=jnp.float32).astype(q.dtype)


def cudnn_attention(q, k, v, mask):
  """`xla_attention` through cuDNN's fused kernel (GPU only)."""
  return jax.nn.dot_product_attention(q, k, v, mask=mask[:, None], scale=1.0,
                                      implementation="cudnn")


def _block(length: int) -> int:
  """Splash's tile along the sequence: 512 when it divides, else the largest of 256/128, else
  the whole (short) sequence."""
  for size in (512, 256, 128):
    if length % size == 0:
      return size
  return length


def _splash_kernel(heads: int, length: int, interpret: bool):
  """Made per trace: the kernel holds its mask tables as arrays of the trace it was made in."""
  from jax.experimental.pallas.ops.tpu import splash_attention as splash
  mask = splash.MultiHeadMask([splash.CausalMask((length, length))] * heads)
  b = _block(length)
  sizes = splash.BlockSizes(block_q=b, block_kv=b, block_kv_compute=b, block_q_dkv=b,
                            block_kv_dkv=b, block_kv_dkv_compute=b, block_q_dq=b, block_kv_dq=b)
  return splash.make_splash_mha(mask, block_sizes=sizes, head_shards=1, q_seq_shards=1,
                                interpret=interpret)


def _splash_local(q, k, v, segment_ids, interpret: bool):
  """One device's share: q [B, H, L, Dh], k, v [B, K, L, Dh], segment_ids [B, L]."""
  from jax.experimental.pallas.ops.tpu import splash_attention as splash
  kernel = _splash_kernel(q.shape[1], q.shape[2], interpret)
  one = lambda q, k, v, s: kernel(q, k, v, segment_ids=splash.SegmentIds(q=s, kv=s))
  return jax.vmap(one)(q, k, v, segment_ids)


def splash_attention(q, k, v, segment_ids, interpret: bool | None = None):
  """Causal attention within packed segments by Pallas splash attention.

  q [B, L, H, Dh], k, v [B, L, K, Dh], segment_ids int32 [B, L] -> [B, L, H, Dh]. A query sees
  the keys at or before it with its own segment id. Inside `sharding.activation_sharding` the
  kernel runs per device under shard_map, batch and heads split as the rule table says (keys
  and values repeated to H heads when K heads do not split like H). On TPU v2/v3 the kernel
  computes in float32 (OLD_TPUS). L must be a multiple of 128 (SPLASH_TILE).
  `interpret` runs the kernel's Python semantics, for tests on CPU; by default it is on unless
  the program is for TPU devices (the active mesh's, else the default backend's).
  """
  q, k, v = (x.transpose(0, 2, 1, 3) for x in (q, k, v))           # [B, heads, L, Dh]
  segment_ids = segment_ids.astype(jnp.int32)
  # The sequence stays whole on each device (the causal mask spans it).
  placed = sharding.active_specs([(("batch", "heads", None, None), q.shape),
                                  (("batch", "kv_heads", None, None), k.shape),
                                  (("batch", None), segment_ids.shape)])
  device = placed[0].devices.flat[0] if placed else jax.devices()[0]
  if interpret is None:  # the devices the program is for: a TPU slice compiled from a CPU host
    interpret = device.platform != "tpu"
  dtype = q.dtype
  if device.device_kind in OLD_TPUS and dtype != jnp.float32:
    q, k, v = (x.astype(jnp.float32) for x in (q, k, v))
  local = functools.partial(_splash_local, interpret=interpret)
  if placed is None:
    out = local(q, k, v, segment_ids)
  else:
    mesh, (q_spec, kv_spec, segment_spec) = placed
    if kv_spec[1] != q_spec[1] and k.shape[1] != q.shape[1]:
      groups = q.shape[1] // k.shape[1]
      k, v = jnp.repeat(k, groups, axis=1), jnp.repeat(v, groups, axis=1)
      kv_spec = q_spec
    out = jax.shard_map(local, mesh=mesh, in_specs=(q_spec, kv_spec, kv_spec, segment_spec),
                        out_specs=q_spec, check_vma=False)(q, k, v, segment_ids)
  return out.transpose(0, 2, 1, 3).astype(dtype)
