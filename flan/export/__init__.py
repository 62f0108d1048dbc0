"""Hugging Face import/export and params-only export of flan checkpoints, one tensor at a time.

    flan import hf --from HF_DIR --out MODEL_DIR       a local checkpoint -> a flan model dir
    flan export hf --checkpoint MODEL_DIR --out DIR     -> safetensors + config.json + tokenizer
    flan export params --checkpoint MODEL_DIR --out DIR [--dtype bfloat16]

Modules (each one idea; see README.md in this folder for the layouts and the scanned format):
  families.py         config.json <-> ModelConfig per family (Llama, Mistral, Qwen2/3, Gemma 2/3)
  mapping.py          flan parameter paths <-> Hugging Face tensor names and layouts
  safetensors_io.py   streaming safetensors reader and sharded writer (numpy only)
  output.py           output folders that never look complete before they are and never lose
                      a file flan did not write
(the model directory itself, and reading/writing checkpoints one tensor at a time, belong to
flan/checkpoint: model_dir.py, streaming.py)
  tokenizer.py        the SentencePiece vocabulary as Hugging Face tokenizer files, prompt format
  hf_tokenizer.py     a model's tokenizer.json in (special ids) and out (prompt post-processor,
                      chat template, padding id distinct from the start token)
  model_card.py       the export's README.md
  hf_import.py, hf_export.py, params_export.py   the three commands
"""

from flan.errors import UserError


class ConversionError(UserError, ValueError):
  """An import or export that cannot be done as asked (bad input, shape, tokenizer, target)."""
