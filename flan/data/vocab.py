"""The project's SentencePiece vocabulary: loading it, and its one fingerprint.

The demo vocabulary is a small BPE model trained on the rendered synthetic datasets, with byte
fallback so any text (the real datasets too) encodes without UNK. Newlines are a piece of their
own and spaces are kept, so decoding gives back the text that was encoded. Ids follow the
T5/SeqIO convention: pad 0, EOS 1, UNK 2, no BOS (the decoder's BOS is the pad id 0, inserted by
the feature converter).

    flan data vocab --out flan/assets/flan_demo_spm.model   # rebuilds the shipped file, byte for byte

Building vocabularies (this one, and one per mixture) is flan/data/vocab_build.py: it renders text
through the whole data library, which this module, imported by tasks and checkpoints, stays below.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pathlib

from flan.errors import UserError

ASSETS = pathlib.Path(__file__).resolve().parents[1] / "assets"
DEFAULT_VOCAB = ASSETS / "flan_demo_spm.model"
VOCAB_SIZE = 2048


class VocabularyError(UserError, ValueError):
  """A vocabulary that cannot be built or used as asked."""


DEMO = "demo"  # names the shipped demo vocabulary explicitly (a binding may say so)


def vocabulary_path(path: str | None = None):
  """The vocabulary file: `path` (local or gs://, as an `epath.Path`), or the shipped demo
  vocabulary for None or "demo"."""
  from etils import epath
  return epath.Path(DEFAULT_VOCAB if path in (None, DEMO) else path)


@functools.lru_cache(maxsize=None)
def get_vocabulary(path: str | None = None):
  """The vocabulary in a file, by what the file is: a Hugging Face tokenizer (`*.json`, see
  hf_vocab.py) or a `seqio.SentencePieceVocabulary` (default: the shipped demo vocabulary)."""
  import seqio
  file = vocabulary_path(path)
  if not file.exists():
    raise VocabularyError(
        f"vocabulary file {file} does not exist; build one for a mixture with `flan data vocab "
        f"--mixture mix:flan --size 32000 --out {file}`")
  from flan.data import hf_vocab
  if hf_vocab.is_hf_vocabulary(file):
    return hf_vocab.HfTokenizerVocabulary(str(file))
  return seqio.SentencePieceVocabulary(str(file))


def decoder_start_id(vocab) -> int:
  """The token that starts every packed segment: the vocabulary's BOS where the model was
  pretrained with one (Llama's <s> = 1, Gemma's <bos> = 2, ...), else 0 (T5-style
  vocabularies and the demo's, which have no BOS: SeqIO's convention)."""
  bos = getattr(vocab, "bos_id", None)
  return int(bos) if bos is not None and bos >= 0 else 0


def fingerprint(vocabulary=None) -> str:
  """The vocabulary's identity, recorded wherever tokens are stored and compared before they are
  read (checkpoints, model directories, task caches, data-pipeline states): a 16-hex-digit
  sha256 of its SentencePiece model file (or tokenizer.json vocabulary file, hf_vocab.py).

  `vocabulary` is None or "demo" (the shipped demo vocabulary), a path (local or gs://), or a
  seqio SentencePieceVocabulary (its model file; extra ids, which change the ids, are part of the
  identity), so fingerprint(None) == fingerprint(DEFAULT_VOCAB) == fingerprint(get_vocabulary()).
  """
  extra_ids = 0
  if vocabulary is not None and not isinstance(vocabulary, (str, os.PathLike)):
    extra_ids = getattr(vocabulary, "extra_ids", 0)
    vocabulary = getattr(vocabulary, "path", None) or vocabulary.sentencepiece_model_file
  digest = hashlib.sha256(vocabulary_path(vocabulary).read_bytes())
  if extra_ids:
    digest.update(f"extra_ids={extra_ids}".encode())
  return digest.hexdigest()[:16]


def check_model_fit(path: str | None, vocab_size: int, model_vocab_size: int) -> None:
  """Refuses a model whose embedding is far larger than an implicit demo vocabulary: a
  from-scratch run with the 2,048-piece demo vocabulary would waste a paper-size model. Naming
  the demo vocabulary explicitly (`vocabulary = "demo"`) allows it."""
  if path is None and model_vocab_size > 2 * vocab_size:
    raise VocabularyError(
        f"the model has {model_vocab_size} embedding rows but no vocabulary is bound, so it "
        f"would train with the {vocab_size}-piece demo vocabulary (learned from the synthetic "
        f"tasks); build one with `flan data vocab --mixture mix:flan --size {model_vocab_size} "
        f"--out vocab/flan_{model_vocab_size // 1000}k.model` and bind "
        f"--gin.trainer.train.vocabulary=\"'vocab/flan_{model_vocab_size // 1000}k.model'\", "
        f"or bind it to \"'demo'\" to use the demo vocabulary anyway")
