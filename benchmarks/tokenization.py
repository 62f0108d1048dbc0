"""Tokenization throughput of the input pipeline: a tokenizer.json vocabulary against SentencePiece
on the same rendered FLAN-style text, against what the `small` model's train step consumes.

  .venv/bin/python benchmarks/tokenization.py            # a few minutes on 2 busy CPU cores
  .venv/bin/python benchmarks/tokenization.py --quick    # smoke test

Measures, in one run and side by side:

  text         rendered (inputs, targets) pairs of the offline synthetic datasets (every template),
               repeated to `--examples`; the same strings for both vocabularies.
  sentencepiece  the shipped demo SentencePiece vocabulary (seqio.SentencePieceVocabulary).
  tokenizers   a byte-level BPE tokenizer.json of the same size (2,048) trained on the same text
               (flan.data.hf_vocab.HfTokenizerVocabulary: encode_batch in Rust via tf.numpy_function).
               Both through flan.data.tasks.tokenize_dataset (batches of 256 strings) inside
               tf.data, held to one thread: tokens per second per core, after a warm-up.
  train step   the `small` preset (8 x 512, V = 32,000, bfloat16) on random 4 x 512 batches:
               tokens per second its train step consumes (median of the timed steps).
  headroom     tokens/s per core of each vocabulary / train-step tokens/s (target: >= 10).

Prints exactly one JSON line on stdout; progress goes to stderr.
"""

from __future__ import annotations


import argparse
import json
import pathlib
import tempfile
import time

import numpy as np  # noqa: E402

import common  # noqa: E402  benchmarks/common.py; this file is run as a script.
from pipeline import synthetic_data_dir  # noqa: E402  benchmarks/pipeline.py


def rendered_text(data_dir: str, limit: int) -> list[str]:
  from flan.data import vocab_build
  lines = vocab_build.corpus(data_dir)
  return lines[:limit] if limit else lines


def train_bpe(lines: list[str], size: int, directory: str) -> str:
  """A byte-level BPE tokenizer.json trained on `lines`, wrapped as flan's vocabulary.json."""
  from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

  from flan.data import hf_vocab
  tokenizer = Tokenizer(models.BPE())
  tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
  tokenizer.decoder = decoders.ByteLevel()
  tokenizer.train_from_iterator(lines, trainers.BpeTrainer(
      vocab_size=size - 1, show_progress=False,
      initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
  tokenizer.add_special_tokens(["<|endoftext|>"])
  path = f"{directory}/vocabulary.json"
  end = tokenizer.token_to_id("<|endoftext|>")
  hf_vocab.write_vocabulary(json.loads(tokenizer.to_str()), pathlib.Path(path),
                            bos_id=end, eos_id=end)
  return path


def tokenize_rate(vocabulary, lines: list[str], repeats: int) -> dict:
  """Tokens per second of tasks.tokenize_dataset over `lines`, tf.data on one thread."""
  import seqio
  import tensorflow as tf

  from flan.data import tasks
  features = {"inputs": seqio.Feature(vocabulary, add_eos=True)}
  dataset = tf.data.Dataset.from_tensor_slices({"inputs": lines})
  options = tf.data.Options()
  options.threading.private_threadpool_size = 1
  options.threading.max_intra_op_parallelism = 1
  tokenized = tasks.tokenize_dataset(dataset, features, batch_size=256).with_options(options)
  for _ in tokenized.take(512):  # warm-up
    pass
  best = None
  for _ in range(repeats):
    start, tokens = time.perf_counter(), 0
    for example in tokenized:
      tokens += int(example["inputs"].shape[0])
    seconds = time.perf_counter() - start
    best = seconds if best is None else min(best, seconds)
  result = {"strings": len(lines), "tokens": tokens, "seconds": round(best, 3),
            "tokens_per_s_per_core": round(tokens / best, 1),
            "chars_per_token": round(sum(map(len, lines)) / tokens, 2)}
  common.log(f"[tokenize] {type(vocabulary).__name__}: {result}")
  return result


def small_train_step(steps: int) -> dict:
  """Tokens per second the `small` preset's train step consumes on random 4 x 512 batches."""
  import jax

  from flan import sharding
  from flan.model import presets
  from flan.train import optimizer as opt
  from flan.train import step as step_lib
  config = presets["small"]
  batch, length = 4, 512
  rng = np.random.default_rng(0)
  tokens = rng.integers(2, config.vocab_size, (batch, length)).astype(np.int32)
  positions = np.broadcast_to(np.arange(length, dtype=np.int32), (batch, length))
  features = jax.device_put({
      "decoder_target_tokens": tokens,
      "decoder_input_tokens": np.concatenate([np.zeros((batch, 1), np.int32), tokens[:, :-1]], 1),
      "decoder_loss_weights": (positions >= length // 2).astype(np.int32),
      "decoder_segment_ids": np.ones((batch, length), np.int32),
      "decoder_positions": np.array(positions)})
  graphdef, tx, state, _ = step_lib.build_state(
      config, lambda axes: opt.adafactor(1e-3, axes=axes), 0, sharding.make_mesh(),
      sharding.DEFAULT_RULES)
  train_step = step_lib.make_train_step(graphdef, tx)
  for _ in range(2):
    state, _ = jax.block_until_ready(train_step(state, features))
  times = []
  for _ in range(steps):
    start = time.perf_counter()
    state, _ = jax.block_until_ready(train_step(state, features))
    times.append(time.perf_counter() - start)
  step_s = common.median(times)
  return {"model": "small", "batch": batch, "seq_len": length, "steps": steps,
          "step_ms": round(1e3 * step_s, 1), "tokens_per_s": round(batch * length / step_s, 1)}


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--quick", action="store_true", help="few strings, one repeat, 2 steps")
  parser.add_argument("--examples", type=int, default=20000, help="strings tokenized")
  args = parser.parse_args(argv)
  data_dir = synthetic_data_dir()
  lines = rendered_text(data_dir, 0)
  count = 2000 if args.quick else args.examples
  text = (lines * (count // max(len(lines), 1) + 1))[:count]
  from flan.data import vocab as vocab_lib
  with tempfile.TemporaryDirectory() as directory:
    bpe = vocab_lib.get_vocabulary(train_bpe(lines, vocab_lib.VOCAB_SIZE, directory))
    repeats = 1 if args.quick else 3
    results = {"sentencepiece": tokenize_rate(vocab_lib.get_vocabulary(), text, repeats),
               "tokenizers": tokenize_rate(bpe, text, repeats)}
  step = small_train_step(2 if args.quick else 5)
  for result in results.values():
    result["headroom"] = round(result["tokens_per_s_per_core"] / step["tokens_per_s"], 1)
  print(json.dumps({"benchmark": "tokenize", "device": common.device_name(), **results,
                    "train_step": step, "target_headroom": 10}))


if __name__ == "__main__":
  main()
