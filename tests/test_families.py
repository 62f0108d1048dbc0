"""The open families (Llama 3, Mistral, Qwen2, Qwen3, Gemma 2, Gemma 3) as switches of one decoder:
`flan import hf` of a random tiny transformers model gives its logits, `flan export hf` gives them
back to transformers (<= 1e-4, float32), with the family's own config.json."""

from __future__ import annotations

import json
import pathlib
import shutil

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from flan.data import vocab as vocab_lib
from flan.export import families
from flan.model import Decoder, ModelConfig
from tests.test_export import TOLERANCE, flan_logits, hf_logits, run_cli

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

SIZES = dict(vocab_size=2048, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
             num_attention_heads=4, num_key_value_heads=2, head_dim=16, rms_norm_eps=1e-5,
             max_position_embeddings=256)
# One config per family, each switching on what sets the family apart; 12-token rows run past
# the sliding windows (4 and 5 tokens).
LLAMA3_ROPE = {"rope_type": "llama3", "rope_theta": 500.0, "factor": 8.0, "low_freq_factor": 1.0,
               "high_freq_factor": 4.0, "original_max_position_embeddings": 64}
CONFIGS = {
    "llama3": lambda: transformers.LlamaConfig(**SIZES, rope_parameters=LLAMA3_ROPE,
                                               tie_word_embeddings=True),
    "mistral": lambda: transformers.MistralConfig(**SIZES, sliding_window=5),
    "qwen2": lambda: transformers.Qwen2Config(**SIZES, tie_word_embeddings=True),
    "qwen3": lambda: transformers.Qwen3Config(**SIZES),
    "gemma2": lambda: transformers.Gemma2Config(**SIZES, sliding_window=4,
                                                query_pre_attn_scalar=24,
                                                attn_logit_softcapping=1.5,
                                                final_logit_softcapping=3.0),
    "gemma3": lambda: transformers.Gemma3TextConfig(
        **SIZES, sliding_window=4, sliding_window_pattern=2, query_pre_attn_scalar=24,
        rope_parameters={"full_attention": {"rope_type": "linear", "factor": 4.0,
                                            "rope_theta": 1e6},
                         "sliding_attention": {"rope_type": "default", "rope_theta": 1e4}}),
}


def make_hf(directory: pathlib.Path, name: str):
  """A random tiny model of the family, norms and biases perturbed, with the demo tokenizer."""
  torch.manual_seed(0)
  model = transformers.AutoModelForCausalLM.from_config(CONFIGS[name]()).float().eval()
  with torch.no_grad():
    for param_name, parameter in model.named_parameters():
      if "norm" in param_name or param_name.endswith("bias"):
        parameter.add_(0.3 * torch.randn_like(parameter))
  model.save_pretrained(directory)
  shutil.copyfile(vocab_lib.DEFAULT_VOCAB, directory / "tokenizer.model")
  return model


def tokens_batch():
  return np.random.default_rng(1).integers(0, SIZES["vocab_size"], (2, 12)).astype(np.int32)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_family_round_trip(tmp_path, name):
  model = make_hf(tmp_path / "hf", name)
  source = json.loads((tmp_path / "hf" / "config.json").read_text())
  assert run_cli("import", "hf", "--from", tmp_path / "hf", "--out", tmp_path / "flan") == 0
  saved = json.loads((tmp_path / "flan" / "model_config.json").read_text())["model"]
  assert saved["family"] == families.MODEL_TYPES[source["model_type"]]
  tokens = tokens_batch()
  reference = hf_logits(model, tokens)
  diff = np.abs(flan_logits(tmp_path / "flan", tokens) - reference).max()
  assert diff <= TOLERANCE, (name, diff)
  assert run_cli("export", "hf", "--checkpoint", tmp_path / "flan", "--out", tmp_path / "out") == 0
  exported_config = json.loads((tmp_path / "out" / "config.json").read_text())
  assert exported_config["model_type"] == source["model_type"]
  assert exported_config["architectures"] == source["architectures"]
  exported = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "out").float().eval()
  assert type(exported) is type(model)
  diff = np.abs(hf_logits(exported, tokens) - reference).max()
  assert diff <= TOLERANCE, (name, diff)


def test_switches_change_the_function_and_defaults_do_not():
  """Each switch changes the logits of a tiny model (so the equality tests above test it); the
  defaults build exactly the tree and logits of a config that never heard of families."""
  base = dict(vocab_size=64, num_layers=2, d_model=32, num_heads=2, num_kv_heads=1, head_dim=16,
              d_ff=64, tie_embeddings=True)
  tokens = jnp.asarray(np.random.default_rng(0).integers(0, 64, (1, 10)), jnp.int32)
  segments, positions = jnp.ones_like(tokens), jnp.arange(10)[None]

  def logits(**switches):
    model = Decoder(ModelConfig(**base, **switches), rngs=nnx.Rngs(0))
    params = nnx.state(model, nnx.Param)
    # Nonzero biases and norm offsets, so that every switch is visible.
    for path, leaf in nnx.to_flat_state(params):
      if path[-1].endswith("_bias") or (switches.get("norm_plus_one") and path[-1] == "scale"):
        leaf.value = 0.1 + jnp.zeros_like(leaf.value)
    nnx.update(model, params)
    return np.asarray(model(tokens, segments, positions))

  plain = logits()
  switches = [dict(qkv_bias=True), dict(qk_norm=True), dict(norm_plus_one=True),
              dict(embed_scale=True), dict(post_norms=True), dict(attn_softcap=0.5),
              dict(final_softcap=0.5), dict(sliding_window=3), dict(query_pre_attn_scalar=4.0),
              dict(rope_scaling="linear", rope_scaling_factor=4.0),
              dict(sliding_window=3, global_every=2, rope_local_theta=100.0)]
  for switch in switches:
    assert np.abs(logits(**switch) - plain).max() > 1e-3, switch
  assert np.array_equal(logits(family="gemma2"), plain)


def test_sliding_window_decoding_matches_the_full_forward():
  """Prefill + one token at a time through the cache (extend) equals one forward pass, past the
  window, for a Gemma-style model with alternating sliding and global layers."""
  config = ModelConfig(vocab_size=64, num_layers=2, d_model=32, num_heads=2, num_kv_heads=1,
                       head_dim=16, d_ff=64, sliding_window=3, global_every=2,
                       rope_local_theta=100.0, post_norms=True, norm_plus_one=True,
                       attn_softcap=2.0, family="gemma3", qk_norm=True, embed_scale=True)
  model = Decoder(config, rngs=nnx.Rngs(0))
  tokens = jnp.asarray(np.random.default_rng(0).integers(0, 64, (1, 9)), jnp.int32)
  full = np.asarray(model(tokens, jnp.ones_like(tokens), jnp.arange(9)[None]))
  cache = model.init_cache(1, 9)
  hidden, cache = model.extend(tokens[:, :4], jnp.ones((1, 4), jnp.int32), jnp.arange(4)[None],
                               cache)
  steps = [model.output_logits(hidden)]
  for t in range(4, 9):
    hidden, cache = model.extend(tokens[:, t:t + 1], jnp.ones((1, 1), jnp.int32),
                                 jnp.full((1, 1), t), cache)
    steps.append(model.output_logits(hidden))
  np.testing.assert_allclose(np.concatenate(steps, axis=1), full, atol=1e-5)


def test_refusals_are_one_line(tmp_path, capsys):
  """What the decoder cannot compute exactly is refused by name, before any work."""
  make_hf(tmp_path / "hf", "qwen2")
  capsys.readouterr()
  cases = {"rope": ({"rope_parameters": {"rope_type": "yarn", "factor": 2.0}},
                    "RoPE type 'yarn' is not supported"),
           "window": ({"use_sliding_window": True, "sliding_window": 4},
                      "use_sliding_window=true"),
           "type": ({"model_type": "phi3"}, "model_type 'phi3' is not supported")}
  for name, (edit, message) in cases.items():
    copy = tmp_path / name
    shutil.copytree(tmp_path / "hf", copy)
    config = json.loads((copy / "config.json").read_text())
    (copy / "config.json").write_text(json.dumps({**config, **edit}))
    assert run_cli("import", "hf", "--from", copy, "--out", tmp_path / f"x-{name}") == 2
    err = capsys.readouterr().err
    assert err.startswith("flan: error:") and message in err and err.count("\n") == 1, err
  with pytest.raises(families.ConversionError, match="family 'llama' cannot express qk_norm"):
    families.hf_config(ModelConfig(qk_norm=True), dtype="float32", bos_id=1, eos_id=2, pad_id=0)


@pytest.mark.parametrize("name", ["llama3_2_1b", "mistral_7b", "qwen2_5_0_5b", "qwen3_0_6b",
                                  "gemma2_2b", "gemma3_1b"])
def test_family_presets_parse(name):
  """configs/models/<family>.gin binds a ModelConfig of the published size."""
  import gin
  from flan.cli import gin_config
  gin_config.parse([f"models/{name}.gin"], [])
  try:
    config = gin.query_parameter("%MODEL").scoped_configurable_fn()
  finally:
    gin.clear_config()
  assert config.num_params() == PUBLISHED_PARAMS[name], config.num_params()


# The parameter counts the model publishers state (tied embeddings counted once).
PUBLISHED_PARAMS = {"llama3_2_1b": 1_235_814_400, "mistral_7b": 7_241_732_096,
                    "qwen2_5_0_5b": 494_032_768, "qwen3_0_6b": 596_049_920,
                    "gemma2_2b": 2_614_341_888, "gemma3_1b": 999_885_952}
