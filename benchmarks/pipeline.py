"""Input pipeline throughput and packing efficiency, against what the demo train step consumes.

  .venv/bin/python benchmarks/pipeline.py            # ~3-4 min on 2 busy CPU cores
  .venv/bin/python benchmarks/pipeline.py --quick    # smoke test

Measures, in one run and side by side:

  pipeline     the full training input path on the offline synthetic data (TFDS read -> adapter
               and template render -> SentencePiece tokenize -> mixture sampling -> best-fit
               packing -> batches of 16 x 128, the demo's shapes), flan.data.pipeline.packed_dataset,
               with tf.data held to one thread: packed positions (and real tokens) per second
               per core, after a warm-up that fills the shuffle buffers. The same with every
               thread (`all_threads_*`), with the renderer and the tokenizer called once per
               example (`pipeline_per_example_calls`, as before they were batched) and with
               SeqIO's packer, for comparison.
  packing      best fit (flan/data/packing.py, pools of 1,024 examples) against SeqIO's greedy
               packing, on the same stream of modeled FLAN lengths (rows of 1,024 + 256).
  train step   flan.train.step.make_train_step for the demo model (4 x 128, V = 2048) on
               random 16 x 128 batches: tokens per second it consumes (median of the timed steps).
  ratio        pipeline positions/s per core / train step tokens/s (target: >= 10).

The modeled FLAN length distribution (no real FLAN data is needed): every training entry of
mix:flan is drawn with its FLAN probability, rate min(n_train, 3000) with n_train from
mixtures/sizes.yaml; its input and target lengths are lognormal around the entry's typical
length in TYPICAL (sigma 0.5; 0.2 for label targets of <= 3 tokens), clipped to 1..1023 and
1..255, plus one EOS each. TYPICAL holds our estimates of each dataset's median rendered length
in a 32k SentencePiece vocabulary: the datasets' typical word counts (their papers and TFDS
catalog pages) times ~1.3 tokens per word, plus ~20 tokens of instruction and options; long
documents (CNN/DM, Multi-News, Newsroom, CoQA stories) sit at the 1,024 cap. The mean comes out
near 230 tokens per example.

Prints exactly one JSON line on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import numpy as np

import common  # benchmarks/common.py; this file is run as a script.

# Median (input tokens, target tokens) of each mix:flan training entry; see the module docstring.
TYPICAL = {
    "anli_r1": (150, 2), "anli_r2": (150, 2), "anli_r3": (140, 2), "cb": (110, 2),
    "mnli_matched": (85, 2), "qnli": (85, 2), "rte": (100, 2), "snli": (60, 2), "wnli": (70, 2),
    "boolq": (190, 2), "drop": (330, 4), "multirc": (380, 4), "openbookqa": (70, 6),
    "squad_v1": (230, 5), "squad_v2": (230, 5),
    "arc_challenge": (70, 8), "arc_easy": (65, 7), "natural_questions": (25, 5),
    "trivia_qa": (35, 6),
    "copa": (45, 10), "hellaswag": (120, 25), "piqa": (80, 25), "story_cloze": (95, 12),
    "dpr": (55, 3), "winogrande": (60, 4), "wsc": (60, 3),
    "imdb": (330, 2), "sentiment140": (40, 2), "sst2": (40, 2), "yelp_polarity": (200, 2),
    "mrpc": (75, 2), "qqp": (50, 2), "paws": (80, 2), "stsb": (55, 2),
    "common_gen": (30, 16), "dart": (55, 25), "e2e_nlg": (45, 30), "web_nlg": (60, 35),
    "para_crawl_enes": (45, 45), "wmt14_enfr": (50, 55), "wmt16_csen": (45, 45),
    "wmt16_deen": (50, 50), "wmt16_fien": (45, 45), "wmt16_roen": (50, 50),
    "wmt16_ruen": (50, 45), "wmt16_tren": (45, 40),
    "aeslc": (160, 8), "ag_news": (65, 3), "cnn_dailymail": (900, 75), "gigaword": (55, 14),
    "multi_news": (1024, 256), "newsroom": (850, 40), "opinion_abstracts_idebate": (300, 30),
    "opinion_abstracts_rotten_tomatoes": (700, 35), "samsum": (140, 30),
    "wiki_lingua_en": (520, 65), "xsum": (520, 30),
    "cosmos_qa": (130, 12), "record": (340, 5),
    "coqa": (1024, 90), "quac": (550, 35), "trec": (30, 2), "cola": (30, 2), "wic": (55, 2),
    "math_dataset": (40, 3), "fix_punctuation": (50, 45),
}
FLAN_INPUTS, FLAN_TARGETS = 1024, 256
DEMO = dict(batch=16, inputs_length=96, targets_length=32)


def modeled_flan_examples(n: int, seed: int = 0) -> tuple[list[dict], dict]:
  """n tokenized examples with FLAN's modeled lengths (random token ids), and the model used."""
  from flan.data import mixtures
  training, _ = mixtures.split(mixtures.parse_mixture_name("mix:flan"))
  missing = [s.name for s in training if s.name not in TYPICAL]
  if missing:
    raise KeyError(f"TYPICAL has no length for {missing}")
  hints = mixtures.size_hints()
  names = [s.name for s in training]
  rates = np.array([min(hints[name], mixtures.rate_cap()) for name in names], float)
  rng = np.random.default_rng(seed)
  picks = rng.choice(len(names), size=n, p=rates / rates.sum())
  examples = []
  for k in picks:
    median_in, median_tg = TYPICAL[names[k]]
    n_in = int(np.clip(round(rng.lognormal(np.log(median_in), 0.5)), 1, FLAN_INPUTS - 1))
    sigma = 0.5 if median_tg > 3 else 0.2
    n_tg = int(np.clip(round(rng.lognormal(np.log(median_tg), sigma)), 1, FLAN_TARGETS - 1))
    examples.append({"inputs": np.r_[rng.integers(2, 32000, n_in), 1].astype(np.int32),
                     "targets": np.r_[rng.integers(2, 32000, n_tg), 1].astype(np.int32)})
  tokens = sum(len(e["inputs"]) + len(e["targets"]) for e in examples)
  return examples, {"datasets": len(names), "mean_tokens_per_example": round(tokens / n, 1)}


def packing_efficiency(n: int) -> dict:
  """Best fit vs SeqIO's greedy packing on the same modeled FLAN stream."""
  import tensorflow as tf

  from flan.data import packing
  examples, model = modeled_flan_examples(n)
  length = FLAN_INPUTS + FLAN_TARGETS
  start = time.perf_counter()
  ours, rows = [], 0
  for i in range(0, n, packing.POOL_SIZE):
    ours.append(packing.pack_examples(examples[i:i + packing.POOL_SIZE], FLAN_INPUTS,
                                      FLAN_TARGETS))
    rows += len(ours[-1]["decoder_segment_ids"])
  best_fit_s = time.perf_counter() - start
  dataset = tf.data.Dataset.from_generator(
      lambda: iter(examples), output_signature={"inputs": tf.TensorSpec([None], tf.int32),
                                                "targets": tf.TensorSpec([None], tf.int32)})
  start = time.perf_counter()
  greedy = packing.seqio_pack_dataset(dataset, FLAN_INPUTS, FLAN_TARGETS).batch(64)
  seqio_eff = packing.efficiency(greedy.as_numpy_iterator())
  seqio_s = time.perf_counter() - start
  best = packing.efficiency(ours)
  common.log(f"[packing] {n} modeled FLAN examples: best fit {best:.4f} ({rows} rows, "
             f"{best_fit_s:.1f} s), SeqIO {seqio_eff:.4f} ({seqio_s:.1f} s)")
  return {"examples": n, **model, "row_length": length, "pool_size": packing.POOL_SIZE,
          "best_fit_efficiency": round(best, 4), "seqio_efficiency": round(seqio_eff, 4),
          "padding_cut": round(1 - (1 - best) / (1 - seqio_eff), 4),
          "best_fit_s": round(best_fit_s, 2), "seqio_s": round(seqio_s, 2)}


def pipeline_throughput(batches: int, warmup: int, threads: int | None,
                        packer: str = "best_fit", render_batch: int | None = None) -> dict:
  """Packed batches per second of flan.data.pipeline.packed_dataset on mix:synthetic
  (render_batch: examples per render / tokenize call, default tasks.RENDER_BATCH)."""
  import tensorflow as tf

  from flan.data import packing, tasks
  from flan.data import pipeline
  tasks.RENDER_BATCH = render_batch or 256
  dataset = pipeline.packed_dataset(
      "mix:synthetic", inputs_length=DEMO["inputs_length"], targets_length=DEMO["targets_length"],
      batch_size=DEMO["batch"], seed=0, packer=packer)
  if threads:
    options = tf.data.Options()
    options.threading.private_threadpool_size = threads
    options.threading.max_intra_op_parallelism = 1
    dataset = dataset.with_options(options)
  iterator = iter(dataset)
  start = time.perf_counter()
  for _ in range(warmup):
    next(iterator)
  warm_s = time.perf_counter() - start
  start = time.perf_counter()
  seen = [next(iterator)["decoder_segment_ids"].numpy() for _ in range(batches)]
  elapsed = time.perf_counter() - start
  tasks.RENDER_BATCH = 256
  positions = batches * DEMO["batch"] * (DEMO["inputs_length"] + DEMO["targets_length"])
  efficiency = packing.efficiency({"decoder_segment_ids": s} for s in seen)
  label = f"{packer}, render batch {render_batch or 256}, threads {threads or 'all'}"
  common.log(f"[pipeline] {label}: {positions / elapsed:,.0f} positions/s, efficiency "
             f"{efficiency:.4f} (warm-up {warm_s:.1f} s)")
  return {"batches": batches, "seconds": round(elapsed, 2),
          "positions_per_s": round(positions / elapsed, 1),
          "real_tokens_per_s": round(positions * efficiency / elapsed, 1),
          "packing_efficiency": round(efficiency, 4), "warmup_s": round(warm_s, 2)}


def train_step_throughput(steps: int) -> dict:
  """Tokens per second the demo model's train step consumes on random 16 x 128 batches."""
  import jax

  from flan import sharding
  from flan.model import ModelConfig
  from flan.train import optimizer as opt
  from flan.train import step as step_lib
  config = ModelConfig(vocab_size=2048, num_layers=4, d_model=128, num_heads=4, num_kv_heads=4,
                       head_dim=32, d_ff=384)
  batch, length = DEMO["batch"], DEMO["inputs_length"] + DEMO["targets_length"]
  rng = np.random.default_rng(0)
  tokens = rng.integers(2, config.vocab_size, (batch, length)).astype(np.int32)
  positions = np.broadcast_to(np.arange(length, dtype=np.int32), (batch, length))
  features = {
      "decoder_target_tokens": tokens,
      "decoder_input_tokens": np.concatenate([np.zeros((batch, 1), np.int32), tokens[:, :-1]], 1),
      "decoder_loss_weights": (positions >= length // 2).astype(np.int32),
      "decoder_segment_ids": np.ones((batch, length), np.int32),
      "decoder_positions": np.array(positions),
  }
  graphdef, tx, state, _ = step_lib.build_state(
      config, lambda axes: opt.adafactor(1e-3, axes=axes), 0, sharding.make_mesh(),
      sharding.DEFAULT_RULES)
  train_step = step_lib.make_train_step(graphdef, tx)
  features = jax.device_put(features)
  for _ in range(2):  # compile, then one more
    state, metrics = jax.block_until_ready(train_step(state, features))
  times = []
  for _ in range(steps):
    start = time.perf_counter()
    state, metrics = jax.block_until_ready(train_step(state, features))
    times.append(time.perf_counter() - start)
  step_s = common.median(times)
  common.log(f"[train step] demo {batch} x {length}: {1e3 * step_s:.1f} ms/step, "
             f"{batch * length / step_s:,.0f} tokens/s")
  return {"model": "demo", "batch": batch, "seq_len": length, "steps": steps,
          "step_ms": round(1e3 * step_s, 2), "tokens_per_s": round(batch * length / step_s, 1)}


def synthetic_data_dir() -> str:
  """FLAN_DATA_DIR if it holds the synthetic data, else a fresh temporary copy."""
  from flan.data import datasets, synthetic
  directory = os.environ.get("FLAN_DATA_DIR") or tempfile.mkdtemp(prefix="flan_bench_tfds_")
  os.environ["FLAN_DATA_DIR"] = directory
  import tensorflow_datasets as tfds
  tfds.disable_progress_bar()
  synthetic.prepare(data_dir=datasets.data_dir())
  return directory


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--quick", action="store_true", help="fewer batches and examples")
  args = parser.parse_args(argv)
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
  from flan import runtime
  runtime.keep_tensorflow_off_accelerators()
  load_start = os.getloadavg()[0]
  directory = synthetic_data_dir()
  common.log(f"synthetic data in {directory}")
  # A packing pool (1,024 examples) fills ~27 demo batches: warm up past the first pools and
  # time many, so that buffered batches do not flatter the rate.
  batches, warmup = (120, 40) if args.quick else (600, 60)

  one_core = pipeline_throughput(batches, warmup, threads=1)
  all_cores = pipeline_throughput(batches, warmup, threads=None)
  per_example = pipeline_throughput(batches // 2, warmup, threads=1, render_batch=1)
  seqio_packer = pipeline_throughput(batches, warmup, threads=1, packer="seqio")
  step = train_step_throughput(3 if args.quick else 10)
  packing = packing_efficiency(4000 if args.quick else 20000)
  ratio = one_core["positions_per_s"] / step["tokens_per_s"]
  print(json.dumps({
      "benchmark": "pipeline",
      "device": common.device_name(),
      "cores": os.cpu_count(),
      "load_avg_1min": [round(load_start, 2), round(os.getloadavg()[0], 2)],
      "pipeline": {"mixture": "mix:synthetic", **DEMO, "packer": "best_fit", "threads": 1,
                   **one_core,
                   "all_threads_positions_per_s": all_cores["positions_per_s"]},
      "pipeline_per_example_calls": {"threads": 1, **per_example},
      "batched_calls_speedup": round(one_core["positions_per_s"]
                                     / per_example["positions_per_s"], 2),
      "pipeline_seqio_packer": {"threads": 1, **seqio_packer},
      "packing_modeled_flan": packing,
      "train_step": step,
      "pipeline_to_train_step_ratio": round(ratio, 2),
      "target_ratio": 10,
  }))


if __name__ == "__main__":
  main()
