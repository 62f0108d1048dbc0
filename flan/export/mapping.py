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

from flan.export import ConversionError
from flan.model import ModelConfig

ATTENTION = {"query": "q_proj", "key": "k_proj", "value": "v_proj", "out": "o_proj"}
MLP = {"wi_0": "gate_proj", "wi_1": "up_proj", "wo": "down_proj"}
NORMS = {"attention_norm": "input_layernorm", "mlp_norm": "post_attention_layernorm"}
# transformers' hidden_act -> flan's mlp_activation (jax.nn.gelu is the tanh approximation).
HF_ACTIVATIONS = {"silu": "silu", "gelu_pytorch_tanh": "gelu", "gelu_new": "gelu"}
FLAN_ACTIVATIONS = {"silu": "silu", "gelu": "gelu_pytorch_tanh"}


@dataclasses.dataclass(frozen=True)
class Tensor:
  """One parameter: its flan path, its Llama name, and how the layouts relate.

  kind: "same" (identical layout), "transpose" (2-D, W.T), "query", "kv", "out" (attention
  kernels, see the module docstring). layer: the block index, or None outside the blocks;
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
  for i in range(config.num_layers):
    prefix = f"model.layers.{i}."
    entries = [("attention_norm/scale", f"{prefix}{NORMS['attention_norm']}.weight", "same")]
    entries += [(f"attention/{k}", f"{prefix}self_attn.{v}.weight",
                 {"query": "query", "key": "kv", "value": "kv", "out": "out"}[k])
                for k, v in ATTENTION.items()]
    entries += [("mlp_norm/scale", f"{prefix}{NORMS['mlp_norm']}.weight", "same")]
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
    name = tensor.sub.split("/")[-1]
    return {"scale": (d,), "query": (d, h, dh), "key": (d, k, dh), "value": (d, k, dh),
            "out": (h, dh, d), "wi_0": (d, f), "wi_1": (d, f), "wo": (f, d)}[name]
  return {"embed/embedding": (v, d), "final_norm/scale": (d,), "unembed": (d, v)}[tensor.flan]


def hf_shape(tensor: Tensor, config: ModelConfig) -> tuple[int, ...]:
  """The shape of a parameter in the Llama checkpoint."""
  shape = flan_shape(tensor, config)
  if tensor.kind == "same":
    return shape
  if tensor.kind in ("query", "kv"):
    return (shape[1] * shape[2], shape[0])
  if tensor.kind == "out":
    return (shape[2], shape[0] * shape[1])
  return (shape[1], shape[0])


def to_hf(tensor: Tensor, array: np.ndarray) -> np.ndarray:
  """A flan-layout array as a view in the Llama layout."""
  if tensor.kind == "same":
    return array
  if tensor.kind in ("query", "kv"):       # [D, N, Dh] -> [N*Dh, D]
    return array.reshape(array.shape[0], -1).T
  if tensor.kind == "out":                 # [H, Dh, D] -> [D, H*Dh]
    return array.reshape(-1, array.shape[2]).T
  return array.T


def from_hf(tensor: Tensor, array: np.ndarray, config: ModelConfig) -> np.ndarray:
  """A Llama-layout array as a view in flan's layout."""
  shape = flan_shape(tensor, config)
  if tensor.kind == "same":
    return array.reshape(shape)
  if tensor.kind in ("query", "kv", "out"):
    return array.T.reshape(shape)
  return array.T


# --- configs ---------------------------------------------------------------------------------

def _rope_theta(hf: dict) -> float:
  """rope_theta from a transformers 4.x (`rope_theta`, `rope_scaling`) or 5.x
  (`rope_parameters`) config; scaled RoPE variants are refused."""
  parameters = hf.get("rope_parameters") or {}
  scaling = hf.get("rope_scaling") or {}
  rope_type = parameters.get("rope_type") or scaling.get("rope_type") or scaling.get("type")
  if rope_type not in (None, "default"):
    raise ConversionError(f"RoPE type {rope_type!r} is not supported: flan implements the "
                          f"default (unscaled) rotary embedding")
  return float(parameters.get("rope_theta", hf.get("rope_theta", 10000.0)))


def model_config_from_hf(hf: dict, param_dtype: str = "float32",
                         dtype: str = "float32") -> ModelConfig:
  """The flan ModelConfig of a Hugging Face Llama config.json."""
  if hf.get("model_type") != "llama":
    raise ConversionError(f"model_type {hf.get('model_type')!r} is not supported; flan imports "
                          f"Llama-style checkpoints (model_type 'llama')")
  for key in ("attention_bias", "mlp_bias"):
    if hf.get(key, False):
      raise ConversionError(f"config.json has {key}=true; flan's decoder has no biases")
  activation = HF_ACTIVATIONS.get(hf.get("hidden_act", "silu"))
  if activation is None:
    raise ConversionError(f"hidden_act {hf['hidden_act']!r} is not supported (flan: "
                          f"{', '.join(sorted(HF_ACTIVATIONS))})")
  extra = {}
  if activation != "silu":
    if "mlp_activation" not in {f.name for f in dataclasses.fields(ModelConfig)}:
      raise ConversionError(f"hidden_act {hf['hidden_act']!r}: this flan has SiLU only")
    extra["mlp_activation"] = activation
  try:
    heads = int(hf["num_attention_heads"])
    head_dim = hf.get("head_dim") or hf["hidden_size"] // heads
    return ModelConfig(
        vocab_size=int(hf["vocab_size"]), num_layers=int(hf["num_hidden_layers"]),
        d_model=int(hf["hidden_size"]), num_heads=heads,
        num_kv_heads=int(hf.get("num_key_value_heads") or heads), head_dim=int(head_dim),
        d_ff=int(hf["intermediate_size"]), dtype=dtype, param_dtype=param_dtype,
        rope_theta=_rope_theta(hf), tie_embeddings=bool(hf.get("tie_word_embeddings", False)),
        scale_tied_logits=False, norm_eps=float(hf.get("rms_norm_eps", 1e-6)), **extra)
  except KeyError as e:
    raise ConversionError(f"config.json lacks {e.args[0]!r}") from None
  except ValueError as e:
    raise ConversionError(f"config.json: {e}") from None


def exports_lm_head(config: ModelConfig) -> bool:
  """Whether the export has its own lm_head: untied models, and tied ones whose logits are
  scaled by 1/sqrt(D) (Llama has no such scale; it is folded into a separate lm_head)."""
  return not config.tie_embeddings or config.scale_tied_logits


def hf_config(config: ModelConfig, *, dtype: str, bos_id: int, eos_id: int, pad_id: int,
              max_position_embeddings: int = 2048) -> dict:
  """config.json for transformers' LlamaForCausalLM (read by 4.x and 5.x)."""
  return {
      "architectures": ["LlamaForCausalLM"],
      "model_type": "llama",
      "vocab_size": config.vocab_size,
      "hidden_size": config.d_model,
      "intermediate_size": config.d_ff,
      "num_hidden_layers": config.num_layers,
      "num_attention_heads": config.num_heads,
      "num_key_value_heads": config.num_kv_heads,
      "head_dim": config.head_dim,
      "hidden_act": FLAN_ACTIVATIONS[getattr(config, "mlp_activation", "silu")],
      "max_position_embeddings": max_position_embeddings,
      "rms_norm_eps": config.norm_eps,
      "rope_theta": config.rope_theta,
      "rope_parameters": {"rope_type": "default", "rope_theta": config.rope_theta},
      "attention_bias": False,
      "attention_dropout": 0.0,
      "mlp_bias": False,
      "tie_word_embeddings": not exports_lm_head(config),
      "bos_token_id": bos_id,
      "eos_token_id": eos_id,
      "pad_token_id": pad_id,
      "torch_dtype": dtype,
      "use_cache": True,
  }
