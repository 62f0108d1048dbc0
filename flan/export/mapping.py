"""flan parameters <-> Hugging Face Llama tensors: names, layouts and model configs.

flan path (params/...)                   Llama tensor                            flan <- Llama
embed/embedding          [V, D]          model.embed_tokens.weight     [V, D]    as is
blocks/i/attention_norm/scale [D]        model.layers.i.input_layernorm.weight   as is
blocks/i/attention/query [D, H, Dh]      ...self_attn.q_proj.weight    [H*Dh, D] W.T.reshape(D, H, Dh)
blocks/i/attention/key   [D, K, Dh]      ...self_attn.k_proj.weight    [K*Dh, D] W.T.reshape(D, K, Dh)
blocks/i/attention/value [D, K, Dh]      ...self_attn.v_proj.weight    [K*Dh, D] W.T.reshape(D, K, Dh)
blocks/i/attention/out   [H, Dh, D]      ...self_attn.o_proj.weight    [D, H*Dh] W.T.reshape(H, Dh, D)
blocks/i/mlp_norm/scale  [D]             model.layers.i.post_attention_layernorm.weight
blocks/i/mlp/wi_0        [D, F]          ...mlp.gate_proj.weight       [F, D]    W.T
blocks/i/mlp/wi_1        [D, F]          ...mlp.up_proj.weight         [F, D]    W.T
blocks/i/mlp/wo          [F, D]          ...mlp.down_proj.weight       [D, F]    W.T
final_norm/scale         [D]             model.norm.weight                       as is
unembed                  [D, V]          lm_head.weight                [V, D]    W.T

Family switches add (ModelConfig; flan/export/families.py has the configs):
blocks/i/attention/query_bias [H, Dh]    ...self_attn.q_proj.bias      [H*Dh]    reshape   (qkv_bias)
blocks/i/attention/key_bias, value_bias  ...self_attn.k_proj.bias, v_proj.bias     reshape
blocks/i/attention/query_norm/scale [Dh] ...self_attn.q_norm.weight              as is     (qk_norm)
blocks/i/attention/key_norm/scale   [Dh] ...self_attn.k_norm.weight              as is
and with post_norms (Gemma 2/3) the four norms of a block are named as Gemma names them:
attention_norm -> input_layernorm, post_attention_norm -> post_attention_layernorm,
mlp_norm -> pre_feedforward_layernorm, post_mlp_norm -> post_feedforward_layernorm.
(1 + w) norms (norm_plus_one) store w in both, so their scales copy as is too.

Head h of q_proj is rows h*Dh..(h+1)*Dh, and query head h reads key/value head h // (H/K) in both
(HF's repeat_kv; flan's "h = kv_head * groups + g"). Every conversion here returns a *view*
(transposes and splits of one axis), so nothing is copied until the writer casts block by block.

Numerics checked against transformers' LlamaForCausalLM (tests/test_export.py): RMSNorm
x * rsqrt(mean(x^2) + eps) * weight, RoPE "rotate half" with inverse frequency
theta^(-2i/Dh), softmax scale 1/sqrt(Dh), SwiGLU down(silu(gate(x)) * up(x)) (or gated GELU, tanh approximation), tied logits
without a scale (flan: scale_tied_logits=False). A flan model with tie_embeddings and
scale_tied_logits exports untied, with lm_head = embedding / sqrt(D): the same logits.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from flan.model import ModelConfig

ATTENTION = {"query": "q_proj", "key": "k_proj", "value": "v_proj", "out": "o_proj"}
MLP = {"wi_0": "gate_proj", "wi_1": "up_proj", "wo": "down_proj"}
NORMS = {"attention_norm": "input_layernorm", "mlp_norm": "post_attention_layernorm"}
POST_NORMS = {"attention_norm": "input_layernorm", "post_attention_norm": "post_attention_layernorm",
              "mlp_norm": "pre_feedforward_layernorm",
              "post_mlp_norm": "post_feedforward_layernorm"}


@dataclasses.dataclass(frozen=True)
class Tensor:
  """One parameter: its flan path, its Llama name, and how the layouts relate.

  kind: "same" (identical layout), "transpose" (2-D, W.T), "query", "kv", "out" (attention
  kernels, see the module docstring), "flat" (a [N, Dh] bias as [N*Dh]). layer: the block index, or None outside the blocks;
  sub: the path inside a block ("attention/query"), used to find it in a scanned checkpoint.
  """
  flan: str
  hf: str
  kind: str
  layer: int | None = None
  sub: str | None = None


def tensors(config: ModelConfig, lm_head: bool | None = None) -> list[Tensor]:
  """Every tensor of a model, in Llama checkpoint order. `lm_head` defaults to "not tied"."""
  lm_head = (not config.tie_embeddings) if lm_head is None else lm_head
  out = [Tensor("embed/embedding", "model.embed_tokens.weight", "same")]
  norms = POST_NORMS if config.post_norms else NORMS
  for i in range(config.num_layers):
    prefix = f"model.layers.{i}."
    entries = [("attention_norm/scale", f"{prefix}{norms['attention_norm']}.weight", "same")]
    entries += [(f"attention/{k}", f"{prefix}self_attn.{v}.weight",
                 {"query": "query", "key": "kv", "value": "kv", "out": "out"}[k])
                for k, v in ATTENTION.items()]
    if config.qkv_bias:
      entries += [(f"attention/{k}_bias", f"{prefix}self_attn.{ATTENTION[k]}.bias", "flat")
                  for k in ("query", "key", "value")]
    if config.qk_norm:
      entries += [(f"attention/{k}_norm/scale", f"{prefix}self_attn.{k[0]}_norm.weight", "same")
                  for k in ("query", "key")]
    if config.post_norms:
      entries += [("post_attention_norm/scale", f"{prefix}{norms['post_attention_norm']}.weight",
                   "same"),
                  ("post_mlp_norm/scale", f"{prefix}{norms['post_mlp_norm']}.weight", "same")]
    entries += [("mlp_norm/scale", f"{prefix}{norms['mlp_norm']}.weight", "same")]
    entries += [(f"mlp/{k}", f"{prefix}mlp.{v}.weight", "transpose") for k, v in MLP.items()]
    out += [Tensor(f"blocks/{i}/{sub}", hf, kind, i, sub) for sub, hf, kind in entries]
  out.append(Tensor("final_norm/scale", "model.norm.weight", "same"))
  if lm_head:
    out.append(Tensor("unembed", "lm_head.weight", "transpose"))
  return out


def flan_shape(tensor: Tensor, config: ModelConfig) -> tuple[int, ...]:
  """The shape of a parameter in flan's layout."""
  d, h, k, dh, f, v = (config.d_model, config.num_heads, config.num_kv_heads, config.head_dim,
                       config.d_ff, config.vocab_size)
  if tensor.sub is not None:
    if tensor.sub in ("attention/query_norm/scale", "attention/key_norm/scale"):
      return (dh,)
    name = tensor.sub.split("/")[-1]
    return {"scale": (d,), "query": (d, h, dh), "key": (d, k, dh), "value": (d, k, dh),
            "out": (h, dh, d), "wi_0": (d, f), "wi_1": (d, f), "wo": (f, d),
            "query_bias": (h, dh), "key_bias": (k, dh), "value_bias": (k, dh)}[name]
  return {"embed/embedding": (v, d), "final_norm/scale": (d,), "unembed": (d, v)}[tensor.flan]


def hf_shape(tensor: Tensor, config: ModelConfig) -> tuple[int, ...]:
  """The shape of a parameter in the Llama checkpoint."""
  shape = flan_shape(tensor, config)
  if tensor.kind == "same":
    return shape
  if tensor.kind == "flat":
    return (shape[0] * shape[1],)
  if tensor.kind in ("query", "kv"):
    return (shape[1] * shape[2], shape[0])
  if tensor.kind == "out":
    return (shape[2], shape[0] * shape[1])
  return (shape[1], shape[0])


def to_hf(tensor: Tensor, array: np.ndarray) -> np.ndarray:
  """A flan-layout array as a view in the Llama layout."""
  if tensor.kind == "same":
    return array
  if tensor.kind == "flat":                # [N, Dh] -> [N*Dh]
    return array.reshape(-1)
  if tensor.kind in ("query", "kv"):       # [D, N, Dh] -> [N*Dh, D]
    return array.reshape(array.shape[0], -1).T
  if tensor.kind == "out":                 # [H, Dh, D] -> [D, H*Dh]
    return array.reshape(-1, array.shape[2]).T
  return array.T


def from_hf(tensor: Tensor, array: np.ndarray, config: ModelConfig) -> np.ndarray:
  """A Llama-layout array as a view in flan's layout."""
  shape = flan_shape(tensor, config)
  if tensor.kind in ("same", "flat"):
    return array.reshape(shape)
  if tensor.kind in ("query", "kv", "out"):
    return array.T.reshape(shape)
  return array.T


# --- configs: per family, in families.py ----------------------------------------------------

from flan.export.families import (  # noqa: E402,F401  (re-exported)
    FLAN_ACTIVATIONS, HF_ACTIVATIONS, exports_lm_head, hf_config, model_config_from_hf)
