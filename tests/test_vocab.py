"""The shipped SentencePiece vocabulary: T5 ids, lossless round trip, rebuilt byte for byte."""

import pytest

from flan.data import vocab as vocab_lib
from flan.data import vocab_build


def test_ids_and_round_trip():
  vocab = vocab_lib.get_vocabulary()
  processor = vocab.tokenizer
  assert (processor.pad_id(), processor.eos_id(), processor.unk_id()) == (0, 1, 2)
  assert vocab.vocab_size == vocab_lib.VOCAB_SIZE
  text = "Does it follow?\n\nOPTIONS:\n- yes\n- no  Ünïcødé 日本 42"
  assert vocab.decode(vocab.encode(text)) == text
  assert 2 not in vocab.encode(text)  # byte fallback: never UNK


def test_rebuild_matches_shipped_file(tmp_path):
  rebuilt = vocab_build.build(tmp_path / "v.model", data_dir=str(tmp_path / "data"))
  assert rebuilt.read_bytes() == vocab_lib.DEFAULT_VOCAB.read_bytes()


def test_one_fingerprint_whatever_names_the_vocabulary(tmp_path):
  import hashlib

  import seqio

  default = vocab_lib.fingerprint(None)
  assert len(default) == 16
  assert vocab_lib.fingerprint(str(vocab_lib.DEFAULT_VOCAB)) == default
  assert vocab_lib.fingerprint(vocab_lib.DEFAULT_VOCAB) == default
  assert vocab_lib.fingerprint(vocab_lib.DEMO) == default
  assert vocab_lib.fingerprint(vocab_lib.get_vocabulary()) == default
  copy = tmp_path / "copy.model"
  copy.write_bytes(vocab_lib.DEFAULT_VOCAB.read_bytes())
  assert vocab_lib.fingerprint(seqio.SentencePieceVocabulary(str(copy))) == default  # content
  # A run records its vocabulary by path (checkpoints, model_config.json) and by the loaded
  # vocabulary (data-pipeline states, task caches): one value, so a resume finds it equal.
  assert vocab_lib.fingerprint(vocab_lib.get_vocabulary(str(copy))) == \
      vocab_lib.fingerprint(str(copy))
  assert vocab_lib.fingerprint(seqio.SentencePieceVocabulary(str(copy), extra_ids=4)) != default
  other = tmp_path / "other.model"
  other.write_bytes(vocab_lib.DEFAULT_VOCAB.read_bytes() + b"\n")
  assert vocab_lib.fingerprint(str(other)) != default
  # Task caches and pipeline states written before hashed the loaded model: the same value.
  sp_model = vocab_lib.get_vocabulary().sp_model
  assert hashlib.sha256(sp_model).hexdigest()[:16] == default
