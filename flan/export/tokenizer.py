"""The run's SentencePiece vocabulary as Hugging Face tokenizer files, and the prompt format.

flan feeds the decoder `[0] + encode(inputs) + [EOS] + encode(targets) + [EOS]` (SeqIO's
PrefixLMFeatureConverter: id 0 starts every sequence, EOS separates inputs from targets). The
export writes

  tokenizer.model          the SentencePiece model itself (the exact tokenizer)
  tokenizer_config.json    LlamaTokenizer, with bos_token = the piece of id 0 and
                           add_bos_token / add_eos_token true, so `tokenizer(inputs).input_ids`
                           is exactly the prompt flan scores and decodes from
  special_tokens_map.json
  flan_prompt.json         the format in words and ids: inputs/targets, options block, EOS

transformers' LlamaTokenizer re-implements SentencePiece; it agrees with it on ordinary text
(tests/test_export.py) but not on everything (NFKC-normalized characters, runs of leading
spaces), so flan_prompt.json names the SentencePiece model as the reference.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import shutil

from flan.export import ConversionError
from flan.data import render

DECODER_START_ID = 0  # SeqIO: the pad id starts every decoder sequence (BOS)


@dataclasses.dataclass(frozen=True)
class SpmInfo:
  """What an export needs to know about a SentencePiece model."""
  size: int
  eos_id: int
  unk_id: int
  pieces: dict[int, str]      # the special pieces by id (0, eos, unk)
  add_dummy_prefix: bool


def read_spm(path: str | pathlib.Path) -> SpmInfo:
  import sentencepiece as spm
  path = pathlib.Path(path)
  try:
    processor = spm.SentencePieceProcessor(model_file=str(path))
  except (OSError, RuntimeError) as e:
    raise ConversionError(f"{path} is not a SentencePiece model: {e}") from None
  add_dummy_prefix = True
  try:
    from sentencepiece import sentencepiece_model_pb2
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(path.read_bytes())
    add_dummy_prefix = proto.normalizer_spec.add_dummy_prefix
  except Exception:  # protobuf missing or too new for the generated module: keep the default
    pass
  ids = {DECODER_START_ID, processor.eos_id(), processor.unk_id()} - {-1}
  return SpmInfo(size=processor.get_piece_size(), eos_id=processor.eos_id(),
                 unk_id=processor.unk_id(), pieces={i: processor.id_to_piece(i) for i in ids},
                 add_dummy_prefix=add_dummy_prefix)


def check_vocab_fits(info: SpmInfo, vocab_size: int, where: str) -> None:
  if info.size > vocab_size:
    raise ConversionError(f"{where}: the tokenizer has {info.size} pieces but the model's "
                          f"vocab_size is {vocab_size}")
  if info.eos_id < 0:
    raise ConversionError(f"{where}: the SentencePiece model has no EOS piece")


def write_hf_tokenizer(spm_path: str | pathlib.Path, out: pathlib.Path, info: SpmInfo,
                       max_length: int, start: int = DECODER_START_ID,
                       pad: int = DECODER_START_ID) -> dict:
  """tokenizer.model, tokenizer_config.json and special_tokens_map.json into `out`; returns the
  special tokens. `start` is the decoder start token (bos_token), `pad` the padding token."""
  import sentencepiece
  shutil.copyfile(spm_path, out / "tokenizer.model")
  piece = sentencepiece.SentencePieceProcessor(model_file=str(spm_path)).id_to_piece
  special = {"bos_token": piece(start), "eos_token": info.pieces[info.eos_id],
             "pad_token": piece(pad)}
  if info.unk_id >= 0:
    special["unk_token"] = info.pieces[info.unk_id]
  config = {"tokenizer_class": "LlamaTokenizer", **special, "add_bos_token": True,
            "add_eos_token": True, "add_prefix_space": info.add_dummy_prefix, "legacy": False,
            "clean_up_tokenization_spaces": False, "model_max_length": max_length,
            "padding_side": "right"}
  (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
  (out / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n")
  return special


def prompt_format(ids: dict, tokenizer: dict, meta: dict) -> dict:
  """flan_prompt.json: how the model expects its text, for whoever serves the export."""
  example_inputs = ("Premise: A man is playing a guitar.\nHypothesis: A person makes music.\n"
                    "Does the premise entail the hypothesis?\n" +
                    render.options_block(["yes", "it is not possible to tell", "no"]))
  return {
      "format": "flan-instruction/1",
      "tokenizer": tokenizer,
      "sequence": "[bos_id] + encode(inputs) + [eos_id] + encode(targets) + [eos_id]",
      "bos_id": ids["bos_id"], "bos_token": ids["bos_token"],
      "eos_id": ids["eos_id"], "eos_token": ids["eos_token"], "pad_id": ids["pad_id"],
      "separator": "eos: inputs end with eos_id; the model then writes the targets and eos_id",
      "generate": "feed tokenizer(inputs).input_ids (bos and eos added) and decode until eos_id; "
                  "pad_id differs from bos_id, so no attention mask is needed",
      "options": {**render.FLAN_OPTIONS.as_dict(),
                  "block": "header line, then one '<marker> <option>' line per option",
                  "example": render.options_block(["yes", "no"])},
      "example": {"inputs": example_inputs, "targets": "yes"},
      "trained_on": {"mixture": meta.get("mixture"), "step": meta.get("step")},
  }
