"""The open model families as Hugging Face config.json <-> ModelConfig, one table per family.

One decoder covers them all (flan/model/config.py); a family is a set of switch values:

  family   model_type    switches the architecture fixes             free (read from config.json)
  llama    llama         none of the below                           rope_scaling (llama3, linear)
  mistral  mistral       as llama                                    sliding_window (every layer)
  qwen2    qwen2         qkv_bias                                    rope_scaling
  qwen3    qwen3         qk_norm                                     rope_scaling
  gemma2   gemma2        norm_plus_one, embed_scale, post_norms      softcaps, query_pre_attn_scalar,
                                                                     sliding_window, global_every
  gemma3   gemma3_text   as gemma2, and qk_norm                      as gemma2, rope_local_theta

Importing reads the family from `model_type` and refuses, in one line, whatever config.json asks
for that the decoder does not compute exactly (a RoPE type, an o_proj bias, Qwen's per-layer
sliding window, a layer pattern that does not repeat). Exporting writes the family's own
config.json and refuses a ModelConfig whose switches its family cannot express (say qk_norm on a
"llama"), naming the switch.
"""

from __future__ import annotations


from flan.export import ConversionError
from flan.model import ModelConfig

MODEL_TYPES = {"llama": "llama", "mistral": "mistral", "qwen2": "qwen2", "qwen3": "qwen3",
               "gemma2": "gemma2", "gemma3_text": "gemma3"}
HF_MODEL_TYPE = {family: model_type for model_type, family in MODEL_TYPES.items()}
ARCHITECTURES = {"llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM",
                 "qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM",
                 "gemma2": "Gemma2ForCausalLM", "gemma3": "Gemma3ForCausalLM"}
# transformers' hidden_act -> flan's mlp_activation (jax.nn.gelu is the tanh approximation).
HF_ACTIVATIONS = {"silu": "silu", "gelu_pytorch_tanh": "gelu", "gelu_new": "gelu"}
FLAN_ACTIVATIONS = {"silu": "silu", "gelu": "gelu_pytorch_tanh"}

_PLAIN = dict(qkv_bias=False, qk_norm=False, norm_plus_one=False, embed_scale=False,
              post_norms=False, attn_softcap=0.0, final_softcap=0.0, sliding_window=0,
              global_every=0, query_pre_attn_scalar=0.0, rope_local_theta=0.0)
_GEMMA = dict(qkv_bias=False, norm_plus_one=True, embed_scale=True, post_norms=True)
# The switch values each family's architecture fixes; the rest are read from config.json.
FIXED = {
    "llama": _PLAIN,
    "mistral": {k: v for k, v in _PLAIN.items() if k != "sliding_window"},
    "qwen2": {**_PLAIN, "qkv_bias": True},
    "qwen3": {**_PLAIN, "qk_norm": True},
    "gemma2": {**_GEMMA, "qk_norm": False, "rope_local_theta": 0.0},
    "gemma3": {**_GEMMA, "qk_norm": True},
}
SLIDING, FULL = "sliding_attention", "full_attention"


def check_exportable(config: ModelConfig) -> None:
  """Raises ConversionError naming the first switch config.family's architecture lacks."""
  for name, value in FIXED[config.family].items():
    if getattr(config, name) != value:
      raise ConversionError(f"family {config.family!r} cannot express {name}="
                            f"{getattr(config, name)!r} (its architecture fixes {value!r})")


def layer_types(config: ModelConfig) -> list[str]:
  return [SLIDING if config.is_sliding(i) else FULL for i in range(config.num_layers)]


# --- import ----------------------------------------------------------------------------------

def _rope(parameters: dict, where: str) -> dict:
  """ModelConfig fields of one RoPE parameter dict ({"rope_type", "rope_theta", ...})."""
  kind = parameters.get("rope_type") or parameters.get("type") or "default"
  if kind == "default":
    return {}
  if kind == "linear":
    return {"rope_scaling": "linear", "rope_scaling_factor": float(parameters["factor"])}
  if kind == "llama3":
    return {"rope_scaling": "llama3", "rope_scaling_factor": float(parameters["factor"]),
            "rope_low_freq_factor": float(parameters["low_freq_factor"]),
            "rope_high_freq_factor": float(parameters["high_freq_factor"]),
            "rope_original_max_positions": int(parameters["original_max_position_embeddings"])}
  raise ConversionError(f"{where}RoPE type {kind!r} is not supported: flan computes 'default', "
                        f"'linear' and 'llama3' exactly")


def _rope_fields(hf: dict, gemma3: bool) -> dict:
  """rope_theta, scaling (and Gemma 3's local base) from a 4.x or 5.x config.json."""
  parameters = hf.get("rope_parameters") or {}
  if gemma3 and FULL in parameters:                        # 5.x: one dict per layer type
    full, local = parameters[FULL], parameters.get(SLIDING, {})
    fields = {"rope_theta": float(full.get("rope_theta", 1e6)), **_rope(full, "full layers: ")}
    if local.get("rope_type", "default") != "default":
      raise ConversionError("sliding layers: only unscaled RoPE is supported there")
    fields["rope_local_theta"] = float(local.get("rope_theta", 1e4))
    return fields
  scaling = {**(hf.get("rope_scaling") or {}), **parameters}
  theta = float(scaling.get("rope_theta", hf.get("rope_theta", 10000.0)))
  fields = {"rope_theta": theta, **_rope(scaling, "")}
  if gemma3:
    fields["rope_local_theta"] = float(hf.get("rope_local_base_freq", 10000.0))
  return fields


def _sliding_fields(hf: dict, family: str, num_layers: int) -> dict:
  """sliding_window and global_every from `sliding_window` and `layer_types`."""
  window = hf.get("sliding_window")
  if family in ("qwen2", "qwen3"):
    if hf.get("use_sliding_window"):
      raise ConversionError("config.json has use_sliding_window=true: Qwen's per-layer sliding "
                            "window (max_window_layers) is not supported")
    return {}
  if family == "mistral":
    return {"sliding_window": int(window)} if window else {}
  if family == "llama":
    return {}
  types = hf.get("layer_types")
  if types is None:                                        # 4.x Gemma 2: every other layer
    pattern = int(hf.get("sliding_window_pattern", 2 if family == "gemma2" else 6))
    types = [FULL if (i + 1) % pattern == 0 else SLIDING for i in range(num_layers)]
  if len(types) != num_layers or set(types) - {SLIDING, FULL}:
    raise ConversionError(f"config.json: layer_types {types} is not one of {SLIDING!r}/{FULL!r} "
                          f"per layer")
  if SLIDING not in types or not window:
    return {}
  every = types.index(FULL) + 1 if FULL in types else 0
  fields = {"sliding_window": int(window), "global_every": every}
  expected = [SLIDING if (not every or (i + 1) % every) else FULL for i in range(num_layers)]
  if types != expected:
    raise ConversionError(f"config.json: layer_types {types} does not repeat a pattern of "
                          f"sliding layers then one global layer")
  return fields


def _refuse_unsupported(hf: dict, family: str) -> None:
  bias_ok = ("qwen2",)
  if hf.get("attention_bias") and family not in bias_ok:
    raise ConversionError("config.json has attention_bias=true; flan's decoder has no "
                          "attention output bias")
  if hf.get("mlp_bias"):
    raise ConversionError("config.json has mlp_bias=true; flan's decoder has no MLP biases")
  if hf.get("use_bidirectional_attention"):
    raise ConversionError("config.json has use_bidirectional_attention=true; flan's decoder "
                          "is causal")


def model_config_from_hf(hf: dict, param_dtype: str = "float32",
                         dtype: str = "float32") -> ModelConfig:
  """The flan ModelConfig of a Hugging Face config.json of one of the families above."""
  model_type = hf.get("model_type")
  family = MODEL_TYPES.get(model_type)
  if family is None:
    raise ConversionError(f"model_type {model_type!r} is not supported; flan imports "
                          f"{', '.join(sorted(MODEL_TYPES))}")
  _refuse_unsupported(hf, family)
  act_name = hf.get("hidden_activation") or hf.get("hidden_act") or "silu"
  activation = HF_ACTIVATIONS.get(act_name)
  if activation is None:
    raise ConversionError(f"hidden_act {act_name!r} is not supported (flan: "
                          f"{', '.join(sorted(HF_ACTIVATIONS))})")
  try:
    heads = int(hf["num_attention_heads"])
    layers = int(hf["num_hidden_layers"])
    head_dim = hf.get("head_dim") or hf["hidden_size"] // heads
    fields = dict(FIXED[family])
    fields.update(_rope_fields(hf, family == "gemma3"))
    fields.update(_sliding_fields(hf, family, layers))
    if family.startswith("gemma"):
      fields["attn_softcap"] = float(hf.get("attn_logit_softcapping") or 0.0)
      fields["final_softcap"] = float(hf.get("final_logit_softcapping") or 0.0)
      fields["query_pre_attn_scalar"] = float(hf.get("query_pre_attn_scalar") or head_dim)
    # Gemma's config classes default to tied embeddings; the others to untied.
    tied = bool(hf.get("tie_word_embeddings", family.startswith("gemma")))
    return ModelConfig(
        vocab_size=int(hf["vocab_size"]), num_layers=layers,
        d_model=int(hf["hidden_size"]), num_heads=heads,
        num_kv_heads=int(hf.get("num_key_value_heads") or heads), head_dim=int(head_dim),
        d_ff=int(hf["intermediate_size"]), dtype=dtype, param_dtype=param_dtype,
        tie_embeddings=tied, scale_tied_logits=False, norm_eps=float(hf.get("rms_norm_eps", 1e-6)),
        mlp_activation=activation, family=family, **fields)
  except KeyError as e:
    raise ConversionError(f"config.json lacks {e.args[0]!r}") from None
  except ConversionError:
    raise
  except ValueError as e:
    raise ConversionError(f"config.json: {e}") from None


# --- export ----------------------------------------------------------------------------------

def _rope_parameters(config: ModelConfig) -> dict:
  parameters = {"rope_type": "default", "rope_theta": config.rope_theta}
  if config.rope_scaling != "none":
    parameters.update(rope_type=config.rope_scaling, factor=config.rope_scaling_factor)
  if config.rope_scaling == "llama3":
    parameters.update(low_freq_factor=config.rope_low_freq_factor,
                      high_freq_factor=config.rope_high_freq_factor,
                      original_max_position_embeddings=config.rope_original_max_positions)
  return parameters


def _number(value: float) -> int | float:
  """An integral float as an int (transformers' config classes type-check some fields)."""
  return int(value) if float(value).is_integer() else value


def exports_lm_head(config: ModelConfig) -> bool:
  """Whether the export has its own lm_head: untied models, and tied ones whose logits are
  scaled by 1/sqrt(D) (no family has that scale; it is folded into a separate lm_head)."""
  return not config.tie_embeddings or config.scale_tied_logits


def hf_config(config: ModelConfig, *, dtype: str, bos_id: int, eos_id: int, pad_id: int,
              max_position_embeddings: int = 2048) -> dict:
  """config.json of config.family's transformers class (read by transformers 4.x and 5.x)."""
  check_exportable(config)
  family = config.family
  rope = _rope_parameters(config)
  hf = {
      "architectures": [ARCHITECTURES[family]],
      "model_type": HF_MODEL_TYPE[family],
      "vocab_size": config.vocab_size,
      "hidden_size": config.d_model,
      "intermediate_size": config.d_ff,
      "num_hidden_layers": config.num_layers,
      "num_attention_heads": config.num_heads,
      "num_key_value_heads": config.num_kv_heads,
      "head_dim": config.head_dim,
      "hidden_act": FLAN_ACTIVATIONS[config.mlp_activation],
      "max_position_embeddings": max_position_embeddings,
      "rms_norm_eps": config.norm_eps,
      "rope_theta": config.rope_theta,
      "rope_parameters": rope,
      "attention_dropout": 0.0,
      "tie_word_embeddings": not exports_lm_head(config),
      "bos_token_id": bos_id,
      "eos_token_id": eos_id,
      "pad_token_id": pad_id,
      "torch_dtype": dtype,
      "use_cache": True,
  }
  if config.rope_scaling != "none":
    hf["rope_scaling"] = dict(rope)
  if family in ("llama", "qwen3", "gemma2", "gemma3"):
    hf["attention_bias"] = False
  if family == "llama":
    hf["mlp_bias"] = False
  if family == "mistral":
    hf["sliding_window"] = config.sliding_window or None
  if family in ("qwen2", "qwen3"):
    hf.update(use_sliding_window=False, sliding_window=None, max_window_layers=config.num_layers,
              layer_types=[FULL] * config.num_layers)
  if family.startswith("gemma"):
    hf.update(hidden_activation=hf["hidden_act"],
              query_pre_attn_scalar=_number(config.query_pre_attn_scalar or config.head_dim),
              attn_logit_softcapping=config.attn_softcap or None,
              final_logit_softcapping=config.final_softcap or None,
              sliding_window=config.sliding_window or max_position_embeddings,
              layer_types=layer_types(config))
  if family == "gemma3":
    local = config.rope_local_theta or config.rope_theta
    hf["rope_parameters"] = {FULL: rope, SLIDING: {"rope_type": "default", "rope_theta": local}}
    hf["rope_local_base_freq"] = local
    hf["use_bidirectional_attention"] = False
  return hf


def family_fields(config: ModelConfig) -> dict:
  """The switch fields of a config that differ from the defaults (for model cards, notes)."""
  defaults = ModelConfig()
  names = ("family",) + tuple(FIXED["llama"]) + ("rope_scaling",)
  return {n: getattr(config, n) for n in names if getattr(config, n) != getattr(defaults, n)}
