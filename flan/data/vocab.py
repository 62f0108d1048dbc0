"""The project's SentencePiece vocabulary: shipped as a file, rebuilt reproducibly by a command.

The demo vocabulary is a small BPE model trained on the rendered synthetic datasets, with byte
fallback so any text (the real datasets too) encodes without UNK. Newlines are a piece of their
own and spaces are kept, so decoding gives back the text that was encoded. Ids follow the
T5/SeqIO convention: pad 0, EOS 1, UNK 2, no BOS (the decoder's BOS is the pad id 0, inserted by
the feature converter).

    flan data vocab --out flan/assets/flan_demo_spm.model   # rebuilds the shipped file, byte for byte
"""

from __future__ import annotations

import functools
import io
import pathlib

ASSETS = pathlib.Path(__file__).resolve().parents[1] / "assets"
DEFAULT_VOCAB = ASSETS / "flan_demo_spm.model"
VOCAB_SIZE = 2048
EXAMPLES_PER_TEMPLATE = 100


@functools.lru_cache(maxsize=None)
def get_vocabulary(path: str | None = None):
  """A `seqio.SentencePieceVocabulary` (default: the shipped demo vocabulary)."""
  import seqio
  path = str(path or DEFAULT_VOCAB)
  if not pathlib.Path(path).exists():
    raise FileNotFoundError(f"vocabulary file {path} does not exist")
  return seqio.SentencePieceVocabulary(path)


def fingerprint(path: str | None = None) -> str:
  """A short content hash of a vocabulary file: checkpoints record it, restores compare it."""
  import hashlib
  return hashlib.sha256(pathlib.Path(path or DEFAULT_VOCAB).read_bytes()).hexdigest()[:16]


def corpus(data_dir: str) -> list[str]:
  """Training sentences, in a fixed order: rendered synthetic examples (all their templates).

  Only the synthetic entries feed the vocabulary, so adding catalog entries never changes it.
  """
  import tensorflow_datasets as tfds

  from flan.data import adapters, catalog, render, synthetic

  synthetic.prepare(data_dir=data_dir)
  lines = []
  for spec in catalog.entries(collection="synthetic"):
    builder = tfds.builder(spec.tfds_full_name, data_dir=data_dir)
    raws = tfds.as_numpy(builder.as_dataset(split=spec.splits["train"], shuffle_files=False))
    records = []
    for raw in raws:
      record = adapters.adapt(spec, raw)
      if record is not None:
        records.append(record)
      if len(records) == EXAMPLES_PER_TEMPLATE * len(spec.templates):
        break
    for i, record in enumerate(records):
      template = spec.templates[i % len(spec.templates)]
      if render.accepts(template, record):
        example = render.render(template, record)
        lines.extend([example.inputs, example.targets])
  return lines


def train_vocabulary(sentences: list[str], vocab_size: int = VOCAB_SIZE) -> bytes:
  """Trains a BPE SentencePiece model deterministically and returns its serialized bytes."""
  import sentencepiece as spm

  model = io.BytesIO()
  spm.SentencePieceTrainer.train(
      sentence_iterator=iter(sentences), model_writer=model, vocab_size=vocab_size,
      model_type="bpe", byte_fallback=True, character_coverage=1.0,
      pad_id=0, eos_id=1, unk_id=2, bos_id=-1, num_threads=1, hard_vocab_limit=False,
      normalization_rule_name="nfkc", remove_extra_whitespaces=False,
      user_defined_symbols=["\n"],
      shuffle_input_sentence=False, input_sentence_size=0, split_digits=True,
      max_sentence_length=16384, minloglevel=2)
  return model.getvalue()


def build(out: str | pathlib.Path, data_dir: str) -> pathlib.Path:
  """Rebuilds the demo vocabulary into `out`."""
  out = pathlib.Path(out)
  out.parent.mkdir(parents=True, exist_ok=True)
  out.write_bytes(train_vocabulary(corpus(data_dir)))
  return out
