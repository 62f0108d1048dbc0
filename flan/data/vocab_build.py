"""Building SentencePiece vocabularies from rendered text: the shipped demo vocabulary and one
per mixture (`flan data vocab`). The text comes from the one rendering path (records.iter_examples,
flan/data/render.py), so a vocabulary sees what training renders.

    build(out, data_dir)                              the demo vocabulary, byte for byte
    build_for_mixture(out, "mix:flan", 32000)         a mixture's, with out.json beside it
"""

from __future__ import annotations

import io
import json
import os
import pathlib

from flan.data import catalog, datasets, mixtures, prepare, records, render, tasks
from flan.data.vocab import VOCAB_SIZE, VocabularyError, fingerprint

EXAMPLES_PER_TEMPLATE = 100


def corpus(data_dir: str) -> list[str]:
  """Training sentences, in a fixed order: rendered synthetic examples, inputs then targets.

  The rules, as parameters of the one rendering path (records.iter_examples): the first
  EXAMPLES_PER_TEMPLATE x (its number of templates) records of each synthetic entry's train
  split, every template (inverted ones too) round-robin and `strict` (a record whose template's
  label filter rejects it is skipped, not passed on), instructions format, FLAN options block,
  zero shots. Only the synthetic entries feed the vocabulary, so adding catalog entries never
  changes it.
  """
  from flan.data import synthetic  # imports TFDS

  synthetic.prepare(data_dir=data_dir)
  lines = []
  for spec in catalog.entries(collection="synthetic"):
    examples = records.iter_examples(
        spec, spec.templates, "train", max_records=EXAMPLES_PER_TEMPLATE * len(spec.templates),
        strict=True, data_dir=data_dir)
    for _, example in examples:
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


# --- a vocabulary for from-scratch runs on a mixture -------------------------------------------

MIXTURE_EXAMPLES = 100_000  # rendered examples sampled over a mixture's datasets, by default
MIN_PER_DATASET = 20        # every training dataset contributes at least this many (or all it has)


def sample_sizes(rates: dict[str, int], examples: int = MIXTURE_EXAMPLES,
                 available: dict[str, int] | None = None) -> dict[str, int]:
  """Examples each dataset contributes: examples-proportional like the mixture's rates, at least
  MIN_PER_DATASET, at most what the dataset has.

      >>> sample_sizes({"a": 3000, "b": 1000}, examples=400)
      {'a': 300, 'b': 100}
  """
  total = sum(rates.values())
  sizes = {}
  for name, rate in rates.items():
    share = max(MIN_PER_DATASET, round(examples * rate / total)) if total else MIN_PER_DATASET
    sizes[name] = min(share, (available or {}).get(name, share))
  return sizes


def mixture_corpus(mixture: str, examples: int = MIXTURE_EXAMPLES, seed: int = 0,
                   data_dir: str | None = None) -> tuple[list[str], dict[str, int]]:
  """(sentences, examples per entry) of a mixture: the first examples of each training entry's
  train split, rendered as training renders them (the mixture's templates and format; the
  template of example i is picked round-robin from i + seed), inputs and targets as two lines."""
  definition = mixtures.parse_mixture_name(mixture)
  training, _ = mixtures.split(definition)
  directory = data_dir or datasets.data_dir()
  prepare.require_ready(training, directory)
  rates, available = {}, {}
  for spec in training:
    splits = datasets.builder(spec, directory).info.splits
    available[spec.name] = splits[datasets.read_split(spec, "train", splits)].num_examples
    rates[spec.name] = min(available[spec.name], mixtures.rate_cap())
  sizes = sample_sizes(rates, examples, available)
  lines = []
  for spec in training:
    task = mixtures.task_for(definition, spec)
    _, templates = tasks.resolve(task)
    style = render.Style(format=tasks.parse_task(task).format)
    taken = 0
    for _, example in records.iter_examples(spec, templates, "train", style,
                                            template_offset=seed, data_dir=directory):
      if taken == sizes[spec.name]:
        break
      lines.extend([example.inputs, example.targets])
      taken += 1
    sizes[spec.name] = taken
  return lines, sizes


def build_for_mixture(out: str | pathlib.Path, mixture: str, vocab_size: int,
                      examples: int = MIXTURE_EXAMPLES, seed: int = 0,
                      data_dir: str | None = None, overwrite: bool = False) -> pathlib.Path:
  """Trains a SentencePiece vocabulary on `mixture` into `out`, with `out`.json beside it:

      {"mixture": "mix:flan", "vocab_size": 32000, "examples": 100000, "seed": 0,
       "sample": {"anli_r1": 1621, ...}, "fingerprint": "3f1c...", "pad_id": 0, "eos_id": 1,
       "unk_id": 2, "byte_fallback": true}

  Same data, same arguments: the same bytes. Both files appear only once complete."""
  out = pathlib.Path(out)
  manifest = out.with_name(out.name + ".json")
  if not overwrite and (out.exists() or manifest.exists()):
    raise VocabularyError(f"{out} exists; pass --overwrite to replace it")
  sentences, sizes = mixture_corpus(mixture, examples, seed, data_dir)
  model = train_vocabulary(sentences, vocab_size)
  out.parent.mkdir(parents=True, exist_ok=True)
  partial = out.with_name(out.name + ".partial")
  partial.write_bytes(model)
  os.replace(partial, out)
  info = {"mixture": mixture, "vocab_size": vocab_size, "examples": examples, "seed": seed,
          "sample": sizes, "fingerprint": fingerprint(str(out)), "pad_id": 0, "eos_id": 1,
          "unk_id": 2, "byte_fallback": True}
  partial = manifest.with_name(manifest.name + ".partial")
  partial.write_text(json.dumps(info, indent=2) + "\n")
  os.replace(partial, manifest)
  return out
