"""Vocabularies as the model brings them: SentencePiece or a Hugging Face tokenizer.json, each
owning its special ids; every packed segment starts with the vocabulary's decoder start token."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest
import tensorflow as tf

from flan.data import hf_vocab, packing, vocab as vocab_lib

EXAMPLES = [  # tokenized, EOS = 1 appended
    {"inputs": [7, 8, 5, 1], "targets": [3, 9, 1]},
    {"inputs": [8, 4, 9, 3, 1], "targets": [4, 1]},
]
TEXTS = ["Premise: A man plays a guitar.\nHypothesis: A person makes music.\nOPTIONS:\n- yes\n- no",
         "Is 3 odd? yes", "What is the capital of France? Paris!", "Translate to German: hello"]
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|fim_pad|>"]


def tiny_tokenizer_json(size: int = 400) -> dict:
  """A Qwen-like byte-level BPE tokenizer.json: the byte alphabet first (id 0 is "!"), the
  special tokens last, no BOS added by its post-processor."""
  from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
  tokenizer = Tokenizer(models.BPE())
  tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
  tokenizer.decoder = decoders.ByteLevel()
  trainer = trainers.BpeTrainer(vocab_size=size - len(SPECIALS), show_progress=False,
                                initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
  tokenizer.train_from_iterator(TEXTS * 20, trainer)
  tokenizer.add_special_tokens(SPECIALS)
  return json.loads(tokenizer.to_str())


def write_qwen_vocabulary(path: pathlib.Path) -> pathlib.Path:
  """flan's vocabulary.json for the tiny tokenizer: BOS = EOS = <|endoftext|>, as Qwen's config."""
  data = tiny_tokenizer_json()
  ids = {t["content"]: t["id"] for t in data["added_tokens"]}
  hf_vocab.write_vocabulary(data, path, bos_id=ids["<|endoftext|>"], eos_id=ids["<|endoftext|>"],
                            pad_id=None)
  return path


def test_packed_row_under_each_start_token_convention():
  t5 = packing.pack_examples(EXAMPLES, inputs_length=7, targets_length=8)
  llama = packing.pack_examples(EXAMPLES, inputs_length=7, targets_length=8, start_id=1)
  assert t5["decoder_input_tokens"].tolist() == [
      [0, 7, 8, 5, 1, 3, 9, 0, 8, 4, 9, 3, 1, 4, 0]]
  assert llama["decoder_input_tokens"].tolist() == [
      [1, 7, 8, 5, 1, 3, 9, 1, 8, 4, 9, 3, 1, 4, 0]]
  for name in packing.FEATURES:
    if name != "decoder_input_tokens":
      assert np.array_equal(t5[name], llama[name]), name
  assert llama["decoder_loss_weights"].tolist() == [
      [0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 0]]
  # Id 0 is a real token in some vocabularies: loss weights follow positions, not values.
  zero = packing.pack_examples([{"inputs": [0, 5, 9], "targets": [0, 9]}], 4, 3, start_id=9)
  assert zero["decoder_input_tokens"].tolist() == [[9, 0, 5, 9, 0, 0, 0]]
  assert zero["decoder_loss_weights"].tolist() == [[0, 0, 0, 1, 1, 0, 0]]
  # The tf.data packer and SeqIO's own converter (rewritten) give the same start tokens.
  dataset = tf.data.Dataset.from_generator(
      lambda: iter(EXAMPLES), output_signature={"inputs": tf.TensorSpec([None], tf.int32),
                                                "targets": tf.TensorSpec([None], tf.int32)})
  tf_rows = list(packing.pack_dataset(dataset, 7, 8, start_id=1).as_numpy_iterator())
  assert tf_rows[0]["decoder_input_tokens"].tolist() == llama["decoder_input_tokens"][0].tolist()
  seqio_rows = list(packing.seqio_pack_dataset(dataset, 7, 8, start_id=1).as_numpy_iterator())
  assert seqio_rows[0]["decoder_input_tokens"].tolist()[:8] == [1, 7, 8, 5, 1, 3, 9, 1]


def test_decoder_start_token_is_the_vocabularys_bos_or_0(tmp_path):
  assert vocab_lib.decoder_start_id(vocab_lib.get_vocabulary()) == 0        # demo: no BOS
  qwen = vocab_lib.get_vocabulary(str(write_qwen_vocabulary(tmp_path / "vocabulary.json")))
  assert isinstance(qwen, hf_vocab.HfTokenizerVocabulary)
  special = {t["content"]: t["id"] for t in tiny_tokenizer_json()["added_tokens"]}
  assert special["<|endoftext|>"] == qwen.vocab_size - 4        # the specials come last
  assert vocab_lib.decoder_start_id(qwen) == qwen.bos_id == qwen.eos_id == special["<|endoftext|>"]
  # A bare tokenizer.json: BOS from its post-processor's template (Llama 3 / Gemma style).
  data = tiny_tokenizer_json()
  data["post_processor"] = {"type": "TemplateProcessing", "single": [
      {"SpecialToken": {"id": "<|im_start|>", "type_id": 0}},
      {"Sequence": {"id": "A", "type_id": 0}}], "pair": [], "special_tokens": {}}
  (tmp_path / "tokenizer.json").write_text(json.dumps(data))
  bare = hf_vocab.HfTokenizerVocabulary(tmp_path / "tokenizer.json")
  assert (bare.bos_id, bare.eos_id) == (special["<|im_start|>"], special["<|endoftext|>"])


def test_tokenizer_json_vocabulary_encodes_like_tokenizers_in_and_out_of_tf(tmp_path):
  from tokenizers import Tokenizer
  vocab = vocab_lib.get_vocabulary(str(write_qwen_vocabulary(tmp_path / "vocabulary.json")))
  reference = Tokenizer.from_str(json.dumps(tiny_tokenizer_json()))
  for text in TEXTS:
    ids = reference.encode(text, add_special_tokens=False).ids
    assert list(vocab.encode(text)) == ids
    assert vocab.decode(ids + [vocab.eos_id, 5, 6]) == text
  assert list(vocab.encode("!!")) == [0, 0]                 # id 0 is "!" here, not padding
  batch = vocab.encode_tf(tf.constant(TEXTS))
  assert batch.to_list() == [list(vocab.encode(t)) for t in TEXTS]
  assert vocab.encode_tf(tf.constant(TEXTS[1])).numpy().tolist() == list(vocab.encode(TEXTS[1]))
  decoded = vocab.decode_tf(tf.constant([list(vocab.encode(TEXTS[2])) + [vocab.eos_id, 0]]))
  assert decoded.numpy().tolist() == [TEXTS[2].encode()]


def test_a_llama_sentencepiece_vocabulary_starts_rows_with_its_bos(tmp_path):
  """Llama 2's tokenizer.model convention (unk 0, <s> 1, </s> 2): rows start with <s>, not with
  id 0 (<unk> there); the demo vocabulary has no BOS and keeps SeqIO's 0."""
  import io

  import sentencepiece as spm
  model = io.BytesIO()
  spm.SentencePieceTrainer.train(sentence_iterator=iter(TEXTS * 20), model_writer=model,
                                 vocab_size=400, model_type="bpe", byte_fallback=True,
                                 unk_id=0, bos_id=1, eos_id=2, pad_id=-1, minloglevel=2,
                                 hard_vocab_limit=False)
  path = tmp_path / "tokenizer.model"
  path.write_bytes(model.getvalue())
  llama = vocab_lib.get_vocabulary(str(path))
  assert vocab_lib.decoder_start_id(llama) == 1
  assert vocab_lib.decoder_start_id(vocab_lib.get_vocabulary()) == 0
  ids = llama.encode("Is 3 odd?")
  packed = packing.pack_examples([{"inputs": ids + [2], "targets": [5, 2]}],
                                 inputs_length=len(ids) + 1, targets_length=2,
                                 start_id=vocab_lib.decoder_start_id(llama))
  assert packed["decoder_input_tokens"].tolist() == [[1, *ids, 2, 5]]
