"""A SeqIO vocabulary over a Hugging Face `tokenizer.json` (the `tokenizers` library), for the
models that bring one (Llama 3, Qwen, Gemma, Mistral's newer releases).

The vocabulary file flan keeps in a model directory (`vocabulary.json`) is the tokenizer and the
model's special ids in one JSON object, so that one fingerprint covers both:

    {"format": "flan-hf-vocabulary/1",
     "bos_id": 151643, "eos_id": 151643, "pad_id": null,     # from the model folder, at import
     "tokenizer": {...}}                                     # tokenizer.json, unchanged

A bare tokenizer.json works too: EOS is then the last special token its post-processor appends
(or a special token named like one), BOS the first one it prepends (or none).

Text is encoded without the tokenizer's own special tokens (`add_special_tokens=False`): the
feature converter adds the decoder's start token (`decoder_start_id`) and SeqIO appends EOS.
Inside tf.data, `encode_tf` encodes a whole batch of strings (scalar or rank 1) at once through
`tf.numpy_function` and `Tokenizer.encode_batch`, which runs in Rust over all cores.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np
import seqio

FORMAT = "flan-hf-vocabulary/1"
EOS_NAMES = ("</s>", "<|end_of_text|>", "<eos>", "<|endoftext|>")
BOS_NAMES = ("<s>", "<|begin_of_text|>", "<bos>")


def _read(path) -> str:
  """A file's text, local or remote (gs://)."""
  from etils import epath
  return epath.Path(path).read_text()


def is_hf_vocabulary(path: str | pathlib.Path) -> bool:
  return str(path).endswith(".json")


def _template_specials(tokenizer_json: dict) -> tuple[list[str], list[str]]:
  """(tokens the post-processor puts before the text, after it) for single sequences."""
  processor = tokenizer_json.get("post_processor") or {}
  processors = processor.get("processors", [processor])
  before, after, seen_text = [], [], False
  for p in processors:
    for piece in p.get("single", []) if p.get("type") == "TemplateProcessing" else []:
      if "Sequence" in piece:
        seen_text = True
      elif "SpecialToken" in piece:
        (after if seen_text else before).append(piece["SpecialToken"]["id"])
  return before, after


def special_ids(tokenizer_json: dict) -> dict:
  """bos_id / eos_id / pad_id inferred from a bare tokenizer.json (see the module docstring)."""
  ids = {t["content"]: t["id"] for t in tokenizer_json.get("added_tokens", [])}
  before, after = _template_specials(tokenizer_json)
  bos = next((ids[t] for t in before if t in ids), None)
  eos = next((ids[t] for t in reversed(after) if t in ids), None)
  if eos is None:
    eos = next((ids[t] for t in EOS_NAMES if t in ids), None)
  if bos is None and not before:
    bos = next((ids[t] for t in BOS_NAMES if t in ids), None)
  pad = next((ids[t] for t in ("<pad>", "<|finetune_right_pad_id|>", "[PAD]") if t in ids), None)
  return {"bos_id": bos, "eos_id": eos, "pad_id": pad}


class HfTokenizerVocabulary(seqio.Vocabulary):
  """`seqio.Vocabulary` over a tokenizer.json (bare, or wrapped as in the module docstring)."""

  def __init__(self, path: str | pathlib.Path):
    from tokenizers import Tokenizer
    self._path = str(path)
    data = json.loads(_read(path))
    if data.get("format") == FORMAT:
      tokenizer_json, ids = data["tokenizer"], data
    else:
      tokenizer_json, ids = data, special_ids(data)
    self._tokenizer = Tokenizer.from_str(json.dumps(tokenizer_json))
    self._bos, self._eos, self._pad_token = ids.get("bos_id"), ids.get("eos_id"), ids.get("pad_id")
    if self._eos is None:
      raise ValueError(f"{path}: the tokenizer has no EOS token")
    super().__init__()

  @property
  def path(self) -> str:
    return self._path

  @property
  def tokenizer(self):
    return self._tokenizer

  @property
  def bos_id(self):
    return self._bos

  @property
  def eos_id(self):
    return self._eos

  @property
  def pad_token_id(self):
    """The tokenizer's own padding token (None if it has none); SeqIO's feature pad stays 0."""
    return self._pad_token

  @property
  def unk_id(self):
    return None

  @property
  def _base_vocab_size(self) -> int:
    return self._tokenizer.get_vocab_size(with_added_tokens=True)

  def _encode(self, s: str) -> list[int]:
    return self._tokenizer.encode(s, add_special_tokens=False).ids

  def encode_batch(self, texts: list[str]) -> list[list[int]]:
    return [e.ids for e in self._tokenizer.encode_batch(texts, add_special_tokens=False)]

  def _decode(self, ids) -> str:
    return self._tokenizer.decode([int(i) for i in ids], skip_special_tokens=True)

  def _encode_flat(self, strings: np.ndarray):
    texts = [s.decode("utf-8") for s in strings.reshape(-1)]
    encoded = self.encode_batch(texts)
    values = np.array([i for ids in encoded for i in ids], np.int32)
    splits = np.cumsum([0] + [len(ids) for ids in encoded]).astype(np.int64)
    return values, splits

  def _encode_tf(self, s):
    import tensorflow as tf
    values, splits = tf.numpy_function(self._encode_flat, [s], [tf.int32, tf.int64],
                                       stateful=False)
    values.set_shape([None])
    splits.set_shape([None])
    if s.shape.rank == 0:
      return values
    return tf.RaggedTensor.from_row_splits(values, splits)

  def decode(self, ids) -> str:
    """The text of the ids before the first EOS (id 0 is a real token here, not padding)."""
    ids = [int(i) for i in ids]
    if self._eos in ids:
      ids = ids[:ids.index(self._eos)]
    return self._decode(ids)

  def decode_tf(self, ids):
    """`decode` of each row of an int32 tensor [..., L] -> tf.string [...]."""
    import tensorflow as tf

    def decode(array):
      rows = array.reshape(-1, array.shape[-1])
      out = np.array([self.decode(row).encode("utf-8") for row in rows], dtype=object)
      return out.reshape(array.shape[:-1])
    text = tf.numpy_function(decode, [ids], tf.string, stateful=False)
    text.set_shape(ids.shape[:-1])
    return text

  def _decode_tf(self, ids):
    return self.decode_tf(ids)

  def __eq__(self, other):
    return isinstance(other, HfTokenizerVocabulary) and other._path == self._path

  def __hash__(self):
    return hash(self._path)

  def __str__(self) -> str:
    return f"HfTokenizerVocabulary(file={self._path}, size={self.vocab_size})"


def write_vocabulary(tokenizer_json: dict, out: pathlib.Path, *, bos_id, eos_id,
                     pad_id=None) -> None:
  """The wrapped vocabulary file of the module docstring."""
  out.write_text(json.dumps({"format": FORMAT, "bos_id": bos_id, "eos_id": eos_id,
                             "pad_id": pad_id, "tokenizer": tokenizer_json}))


def tokenizer_json(path: str | pathlib.Path) -> dict:
  """The plain tokenizer.json content of a vocabulary file (wrapped or bare)."""
  data = json.loads(_read(path))
  return data["tokenizer"] if data.get("format") == FORMAT else data
