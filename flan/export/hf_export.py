"""`flan export hf`: a flan checkpoint -> a Hugging Face LlamaForCausalLM folder.

    export_hf("runs/x/model", "exports/x-hf")       # latest step; dtype of the checkpoint

writes
    model.safetensors                 (or model-0000k-of-0000n.safetensors + index.json)
    config.json, generation_config.json
    tokenizer.model, tokenizer_config.json, special_tokens_map.json   (see tokenizer.py)
    flan_prompt.json                  the input/target format, options block, EOS separator

that `transformers.AutoModelForCausalLM.from_pretrained(dir)` loads with the same logits. One
parameter at a time is read (streaming.CheckpointReader), laid out (mapping.to_hf, a view) and
written block by block (safetensors_io.ShardedWriter): memory stays near one tensor. Scanned
checkpoints (blocks_scanned/...) export to the same bytes as unscanned ones.

A tied model with scale_tied_logits (flan's default) has no Llama equivalent; it is exported
untied with lm_head = embedding / sqrt(d_model), which gives the same logits.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np

from flan.export import ConversionError, mapping, output, tokenizer
from flan.checkpoint import streaming
from flan.export.safetensors_io import ShardedWriter

DTYPES = {"float32": np.float32, "bfloat16": "bfloat16", "float16": np.float16}
MAX_POSITION_EMBEDDINGS = 2048  # config.json needs one; flan's RoPE has no length limit


def _dtype(name: str) -> np.dtype:
  import ml_dtypes
  if name not in DTYPES:
    raise ConversionError(f"dtype {name!r} is not one of {sorted(DTYPES)}")
  return np.dtype(ml_dtypes.bfloat16) if name == "bfloat16" else np.dtype(DTYPES[name])


def _max_positions(model_dir: pathlib.Path) -> int:
  """max_position_embeddings of an imported model (kept in hf_config.json), else the default."""
  path = model_dir / "hf_config.json"
  if path.exists():
    return int(json.loads(path.read_text()).get("max_position_embeddings",
                                                 MAX_POSITION_EMBEDDINGS))
  return MAX_POSITION_EMBEDDINGS


def export_hf(checkpoint: str | pathlib.Path, out: str | pathlib.Path, *,
              dtype: str | None = None, step: int | None = None, overwrite: bool = False,
              max_shard_bytes: int = 5 << 30, progress: bool = True) -> pathlib.Path:
  """Exports a flan checkpoint as a Hugging Face Llama model folder; returns its path."""
  from tqdm.auto import tqdm

  reader = streaming.CheckpointReader(checkpoint, step)
  config = reader.config
  dtype_name = dtype or config.param_dtype
  out_dtype = _dtype(dtype_name)
  output.check_output(out, overwrite, reader.model_dir)
  spm = tokenizer.read_spm(reader.vocabulary)
  tokenizer.check_vocab_fits(spm, config.vocab_size, str(reader.model_dir))
  fold_scale = config.tie_embeddings and config.scale_tied_logits
  tensors = mapping.tensors(config, lm_head=mapping.exports_lm_head(config))
  for t in tensors:
    source = "embed/embedding" if (t.flan == "unembed" and fold_scale) else t.flan
    expected = ((config.vocab_size, config.d_model) if source == "embed/embedding"
                else mapping.flan_shape(t, config))
    if reader.shape(source) != expected:
      raise ConversionError(f"{reader.state_dir}: {source} has shape {reader.shape(source)} but "
                            f"model_config.json implies {expected}")
  max_positions = _max_positions(reader.model_dir)

  with output.staged_output(out, overwrite, reader.model_dir) as tmp:
    writer = ShardedWriter(tmp, [(t.hf, mapping.hf_shape(t, config), out_dtype) for t in tensors],
                           max_shard_bytes=max_shard_bytes)
    for t in tqdm(tensors, desc="export hf", unit="tensor", disable=not progress):
      if t.flan == "unembed" and fold_scale:
        lm_head = reader.read("embed/embedding").astype(np.float32, copy=False)   # [V, D]
        if not lm_head.flags.writeable:
          lm_head = lm_head.copy()
        lm_head /= np.sqrt(np.float32(config.d_model))          # as Embedding.attend does
        writer.write(t.hf, lm_head)
      else:
        writer.write(t.hf, mapping.to_hf(t, reader.read(t.flan)))
    writer.close()
    hf = mapping.hf_config(config, dtype=dtype_name, bos_id=tokenizer.DECODER_START_ID,
                           eos_id=spm.eos_id, pad_id=tokenizer.DECODER_START_ID,
                           max_position_embeddings=max_positions)
    generation = {"bos_token_id": tokenizer.DECODER_START_ID, "eos_token_id": spm.eos_id,
                  "pad_token_id": tokenizer.DECODER_START_ID}
    _write_json(tmp / "config.json", hf)
    _write_json(tmp / "generation_config.json", generation)
    tokenizer.write_hf_tokenizer(reader.vocabulary, tmp, spm, max_length=max_positions)
    _write_json(tmp / "flan_prompt.json", tokenizer.prompt_format(spm, reader.meta))
  return pathlib.Path(out).absolute()


def _write_json(path: pathlib.Path, value: dict) -> None:
  path.write_text(json.dumps(value, indent=2) + "\n")
