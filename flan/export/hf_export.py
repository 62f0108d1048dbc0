"""`flan export hf`: a flan checkpoint -> a Hugging Face folder of its family (Llama, Mistral, Qwen2/3,
Gemma 2/3: export/families.py).

    export_hf("runs/x/model", "exports/x-hf")       # latest step; dtype of the checkpoint

writes
    model.safetensors                 (or model-0000k-of-0000n.safetensors + index.json)
    config.json, generation_config.json
    tokenizer.model or tokenizer.json, tokenizer_config.json (chat template),
    special_tokens_map.json           (tokenizer.py, hf_tokenizer.py)
    flan_prompt.json                  the input/target format, options block, EOS separator
    README.md                         the model card (model_card.py)

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

from flan.data import hf_vocab, vocab as vocab_lib
from flan.export import (ConversionError, families, hf_tokenizer, mapping, model_card, output,
                         tokenizer)
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
              max_shard_bytes: int = 5 << 30, progress: bool = True,
              eval_dir: str | pathlib.Path | None = None) -> pathlib.Path:
  """Exports a flan checkpoint as a Hugging Face folder of its family; returns its path.
  eval_dir: a `flan eval --out` folder whose summary.md goes into the model card."""
  from tqdm.auto import tqdm

  reader = streaming.CheckpointReader(checkpoint, step)
  config = reader.config
  dtype_name = dtype or config.param_dtype
  out_dtype = _dtype(dtype_name)
  output.check_output(out, overwrite, reader.model_dir)
  families.check_exportable(config)
  eval_summary = model_card.read_eval_summary(eval_dir)
  if eval_dir and eval_summary is None:
    raise ConversionError(f"{eval_dir} has no summary.md (the output folder of `flan eval`)")
  vocab = vocab_lib.get_vocabulary(str(reader.vocabulary))
  hf_tokenizer_json = isinstance(vocab, hf_vocab.HfTokenizerVocabulary)
  if not hf_tokenizer_json:
    spm = tokenizer.read_spm(reader.vocabulary)
    tokenizer.check_vocab_fits(spm, config.vocab_size, str(reader.model_dir))
  start, eos = vocab_lib.decoder_start_id(vocab), int(vocab.eos_id)
  pad = hf_tokenizer.export_pad_id(vocab, start, eos)
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

  with output.staged_output(out, overwrite, reader.model_dir, command="export hf") as tmp:
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
    hf = families.hf_config(config, dtype=dtype_name, bos_id=start, eos_id=eos, pad_id=pad,
                            max_position_embeddings=max_positions)
    generation = {"bos_token_id": start, "eos_token_id": eos, "pad_token_id": pad}
    _write_json(tmp / "config.json", hf)
    _write_json(tmp / "generation_config.json", generation)
    if hf_tokenizer_json:
      special = hf_tokenizer.write_tokenizer(vocab, tmp, start=start, eos=eos, pad=pad,
                                             max_length=max_positions)
      tokens = {"type": "tokenizers", "file": "tokenizer.json",
                "note": "the model's own tokenizer; its post-processor adds the start token "
                        "and EOS around the text"}
    else:
      special = tokenizer.write_hf_tokenizer(reader.vocabulary, tmp, spm, start=start, pad=pad,
                                             max_length=max_positions)
      tokens = {"type": "sentencepiece", "file": "tokenizer.model",
                "note": "the reference tokenizer; transformers' LlamaTokenizer matches it on "
                        "ordinary text"}
    ids = {"bos_id": start, "eos_id": eos, "pad_id": pad, **special}
    prompt = tokenizer.prompt_format(ids, tokens, reader.meta)
    _write_json(tmp / "flan_prompt.json", prompt)
    card = model_card.model_card(
        family=config.family, num_params=config.num_params(),
        prompt=prompt, meta=reader.meta, imported_from=reader.meta.get("imported_from"),
        eval_summary=eval_summary)
    (tmp / "README.md").write_text(card)
  return pathlib.Path(out).absolute()


def _write_json(path: pathlib.Path, value: dict) -> None:
  path.write_text(json.dumps(value, indent=2) + "\n")
