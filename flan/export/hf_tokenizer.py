"""A model folder's `tokenizer.json` in and out of flan (the `tokenizers` vocabulary).

Import (`flan import hf` of a folder without tokenizer.model): the model's special ids come from
its own files, first found wins:

    bos, eos, pad   tokenizer_config.json "bos_token" / "eos_token" / "pad_token" (text or
                    {"content": ...}), looked up in tokenizer.json
                    config.json "bos_token_id" / "eos_token_id" (the first of a list)
                    tokenizer.json itself (hf_vocab.special_ids: its post-processor, names)

and are written with the tokenizer into the model directory's `vocabulary.json`
(hf_vocab.write_vocabulary). Qwen's tokenizer adds no BOS; its config.json names
<|endoftext|> (also its EOS), which then starts every segment.

Export: `tokenizer.json` is the model's own, except that its post-processor is set to flan's
prompt format, so `tokenizer(inputs).input_ids == [start] + encode(inputs) + [eos]`, the exact
prompt flan scores and decodes from; tokenizer_config.json names the special tokens and carries a
chat template that renders the same ids from chat messages.
"""

from __future__ import annotations

import json
import pathlib

from flan.data import hf_vocab
from flan.export import ConversionError

# Renders flan's prompt format: start token, the user's text, EOS; an assistant turn (the
# target) is followed by EOS too. A system message is put before the user's text.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ message['content'] + '\\n\\n' }}"
    "{% else %}{{ message['content'] + eos_token }}{% endif %}"
    "{% endfor %}")


def _token_text(value) -> str | None:
  if isinstance(value, dict):
    return value.get("content")
  return value


def _first_id(value) -> int | None:
  if isinstance(value, list):
    return int(value[0]) if value else None
  return None if value is None else int(value)


def read_special_ids(source: pathlib.Path, tokenizer_json: dict) -> dict:
  """{"bos_id", "eos_id", "pad_id"} of a Hugging Face folder (see the module docstring)."""
  from tokenizers import Tokenizer
  token_to_id = Tokenizer.from_str(json.dumps(tokenizer_json)).token_to_id
  tokenizer_config, config = {}, {}
  if (source / "tokenizer_config.json").exists():
    tokenizer_config = json.loads((source / "tokenizer_config.json").read_text())
  if (source / "config.json").exists():
    config = json.loads((source / "config.json").read_text())
  inferred = hf_vocab.special_ids(tokenizer_json)
  out = {}
  for name in ("bos", "eos", "pad"):
    text = _token_text(tokenizer_config.get(f"{name}_token"))
    if text is not None and token_to_id(text) is not None:
      out[f"{name}_id"] = token_to_id(text)
    elif config.get(f"{name}_token_id") is not None:
      out[f"{name}_id"] = _first_id(config[f"{name}_token_id"])
    else:
      out[f"{name}_id"] = inferred[f"{name}_id"]
  if out["eos_id"] is None:
    raise ConversionError(f"{source}: neither tokenizer_config.json, config.json nor "
                          f"tokenizer.json names an EOS token")
  return out


def read_tokenizer(source: pathlib.Path, vocab_size: int) -> tuple[dict, dict]:
  """(tokenizer.json content, special ids) of a folder, checked against the model's size;
  `hf_vocab.write_vocabulary(content, path, **ids)` then writes flan's vocabulary file."""
  try:
    tokenizer_json = json.loads((source / "tokenizer.json").read_text())
    from tokenizers import Tokenizer
    size = Tokenizer.from_str(json.dumps(tokenizer_json)).get_vocab_size(with_added_tokens=True)
  except Exception as e:  # noqa: BLE001 (any parse error is the user's file)
    raise ConversionError(f"{source / 'tokenizer.json'} is not a tokenizers file: "
                          f"{str(e).splitlines()[0]}") from None
  if size > vocab_size:
    raise ConversionError(f"{source}: the tokenizer has {size} tokens but the model's "
                          f"vocab_size is {vocab_size}")
  return tokenizer_json, read_special_ids(source, tokenizer_json)


def export_pad_id(vocab, start: int, eos: int) -> int:
  """A padding id for config.json that is not the start token, so `generate(input_ids)`
  never masks it: the tokenizer's own pad, else a special "pad" token, else the unknown token
  (SentencePiece), else EOS (transformers never infers a mask from a pad equal to EOS)."""
  own = getattr(vocab, "pad_token_id", None)
  if own is not None and own not in (start, eos):
    return int(own)
  if isinstance(vocab, hf_vocab.HfTokenizerVocabulary):
    for token in vocab.tokenizer.get_added_tokens_decoder().values():
      token_id = vocab.tokenizer.token_to_id(token.content)
      if token.special and "pad" in token.content and token_id not in (start, eos):
        return token_id
  unk = getattr(vocab, "unk_id", None)
  if unk is not None and unk >= 0 and unk not in (start, eos):
    return int(unk)
  return eos


def write_tokenizer(vocab, out: pathlib.Path, *, start: int, eos: int, pad: int,
                    max_length: int) -> dict:
  """tokenizer.json, tokenizer_config.json, special_tokens_map.json; returns the special map."""
  data = hf_vocab.tokenizer_json(vocab.path)
  text = vocab.tokenizer.id_to_token
  bos_token, eos_token, pad_token = text(start), text(eos), text(pad)
  data["post_processor"] = {
      "type": "TemplateProcessing",
      "single": [{"SpecialToken": {"id": bos_token, "type_id": 0}},
                 {"Sequence": {"id": "A", "type_id": 0}},
                 {"SpecialToken": {"id": eos_token, "type_id": 0}}],
      "pair": [{"SpecialToken": {"id": bos_token, "type_id": 0}},
               {"Sequence": {"id": "A", "type_id": 0}},
               {"SpecialToken": {"id": eos_token, "type_id": 0}},
               {"Sequence": {"id": "B", "type_id": 1}},
               {"SpecialToken": {"id": eos_token, "type_id": 1}}],
      "special_tokens": {t: {"id": t, "ids": [i], "tokens": [t]}
                         for t, i in ((bos_token, start), (eos_token, eos))}}
  (out / "tokenizer.json").write_text(json.dumps(data, ensure_ascii=False))
  special = {"bos_token": bos_token, "eos_token": eos_token, "pad_token": pad_token}
  config = {"tokenizer_class": "PreTrainedTokenizerFast", **special,
            "add_bos_token": False, "add_eos_token": False,
            "clean_up_tokenization_spaces": False, "model_max_length": max_length,
            "padding_side": "left", "chat_template": CHAT_TEMPLATE}
  (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
  (out / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n")
  return special
