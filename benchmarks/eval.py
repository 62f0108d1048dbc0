"""Evaluation speed, side by side in one run, on the demo-sized decoder (random weights):

  rank classification   flan.eval.scoring (prompt once, options packed against its key/value
                        cache, length-bucketed batches) against the naive way: every option a
                        separate row, every row padded to the longest of the evaluation set.
                        Same scores within 1e-5 (relative to max(1, |score|): the scores are
                        float32 sums of ~-40) and the same predictions required.
  greedy decoding       flan.eval.decoding (key/value cache, while_loop) against re-running the
                        whole buffer every step (no cache), 256 new tokens, EOS ignored.
                        Identical tokens required.

    .venv/bin/python benchmarks/eval.py            # ~4-6 min on 2 CPU cores
    .venv/bin/python benchmarks/eval.py --quick    # smoke test: fewer examples and tokens

Prints one JSON line; progress goes to stderr. Times are the best of `--repeats` warm runs, the
two sides alternating (compilation excluded: each side runs once before timing).
"""

from __future__ import annotations

import argparse
import functools
import json
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from flan import runtime  # noqa: E402

runtime.skip_absent_tpu()  # before JAX is imported, as `flan` does

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from flax import nnx  # noqa: E402

from benchmarks.common import device_name, log  # noqa: E402
from flan.data import vocab as vocab_lib  # noqa: E402
from flan.eval import decoding, scoring  # noqa: E402
from flan.eval.batching import prompt_ids, target_ids  # noqa: E402
from flan.model import Decoder, ModelConfig  # noqa: E402
from flan.data.render import Example  # noqa: E402
from flan.train import step as step_lib  # noqa: E402

DEMO = ModelConfig(vocab_size=2048, num_layers=4, d_model=128, num_heads=4, num_kv_heads=4,
                   head_dim=32, d_ff=384)
WORDS = ("the a movie was great terrible plot actor scene review film i loved hated it and but "
         "very not really story question answer premise hypothesis true false").split()


def make_examples(n: int, seed: int = 0) -> list[Example]:
  """Classification examples with prompts of 10-160 words and 2-4 options of 1-4 words."""
  rng = np.random.default_rng(seed)
  examples = []
  for _ in range(n):
    words = rng.choice(WORDS, rng.integers(10, 160))
    options = tuple(" ".join(rng.choice(WORDS, rng.integers(1, 5)))
                    for _ in range(rng.integers(2, 5)))
    examples.append(Example(" ".join(words) + "\n\nOPTIONS:\n" +
                            "\n".join(f"- {o}" for o in options), options[0], options,
                            (options[0],)))
  return examples


@functools.partial(jax.jit, static_argnums=(0,))
def _naive_rows(graphdef, params, inputs, targets, weights):
  batch = {"decoder_input_tokens": inputs, "decoder_segment_ids": jnp.ones_like(inputs),
           "decoder_positions": jnp.broadcast_to(jnp.arange(inputs.shape[1]), inputs.shape)}
  log_probs = jax.nn.log_softmax(step_lib.model_logits(graphdef, params, batch), axis=-1)
  token_scores = jnp.take_along_axis(log_probs, targets[..., None], axis=-1)[..., 0]
  return token_scores * weights  # summed on the host in float64, as scoring.py does


def naive_scores(graphdef, params, vocab, examples, batch_size: int = 32) -> list[np.ndarray]:
  """Each (example, option) a row [0, x..., EOS, o...], all padded to the longest row."""
  rows = []
  for i, ex in enumerate(examples):
    prompt = prompt_ids(vocab, ex.inputs, 1024)
    rows += [(i, prompt, target_ids(vocab, o, 128)) for o in ex.options]
  length = max(len(p) + len(t) for _, p, t in rows)
  scores = np.zeros(len(rows), np.float32)
  for start in range(0, len(rows), batch_size):
    chunk = rows[start:start + batch_size]
    inputs = np.zeros((batch_size, length), np.int32)
    targets = np.zeros((batch_size, length), np.int32)
    weights = np.zeros((batch_size, length), np.float32)
    for r, (_, prompt, target) in enumerate(chunk):
      sequence = prompt + target
      targets[r, :len(sequence)] = sequence
      inputs[r, 1:len(sequence)] = sequence[:-1]
      weights[r, len(prompt):len(sequence)] = 1.0
    token_scores = np.asarray(_naive_rows(graphdef, params, inputs, targets, weights))
    scores[start:start + len(chunk)] = token_scores[:len(chunk)].sum(-1, dtype=np.float64)
  out, row = [], 0
  for ex in examples:
    out.append(scores[row:row + len(ex.options)])
    row += len(ex.options)
  return out


@functools.partial(jax.jit, static_argnums=(0, 4))
def _uncached_greedy(graphdef, params, buffer, lengths, max_new_tokens: int):
  """Greedy decoding that re-reads the whole [B, L] buffer at every step."""
  batch, length = buffer.shape
  features = {"decoder_segment_ids": jnp.ones_like(buffer),
              "decoder_positions": jnp.broadcast_to(jnp.arange(length), buffer.shape)}
  rows = jnp.arange(batch)

  def body(step, buffer):
    logits = step_lib.model_logits(graphdef, params,
                                   {"decoder_input_tokens": buffer, **features})
    cursor = lengths + step
    next_token = jnp.argmax(logits[rows, cursor - 1], axis=-1).astype(buffer.dtype)
    return buffer.at[rows, cursor].set(next_token)

  return jax.lax.fori_loop(0, max_new_tokens, body, buffer)


def uncached_decode(graphdef, params, prompts, max_new_tokens):
  length = max(len(p) for p in prompts) + max_new_tokens
  buffer = np.zeros((len(prompts), length), np.int32)
  for i, p in enumerate(prompts):
    buffer[i, :len(p)] = p
  lengths = np.array([len(p) for p in prompts], np.int32)
  result = np.asarray(_uncached_greedy(graphdef, params, buffer, lengths, max_new_tokens))
  return [result[i, len(p):len(p) + max_new_tokens].tolist() for i, p in enumerate(prompts)]


def side_by_side(baseline, ours, repeats: int):
  """(baseline result, ours result, best baseline seconds, best ours seconds).

  Each function runs once untimed (compilation), then the two alternate `repeats` times, so a
  change in the machine's load hits both alike.
  """
  results = baseline(), ours()
  times = ([], [])
  for _ in range(repeats):
    for fn, spent in zip((baseline, ours), times):
      start = time.perf_counter()
      fn()
      spent.append(time.perf_counter() - start)
  return results[0], results[1], min(times[0]), min(times[1])


def main(argv=None) -> dict:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--quick", action="store_true")
  parser.add_argument("--examples", type=int, default=256)
  parser.add_argument("--new_tokens", type=int, default=256)
  parser.add_argument("--decode_batch", type=int, default=8)
  parser.add_argument("--repeats", type=int, default=3,
                      help="timed runs of each side (decoding: one fewer)")
  args = parser.parse_args(argv)
  if args.quick:
    args.examples, args.new_tokens, args.repeats = 48, 32, 1

  vocab = vocab_lib.get_vocabulary()
  graphdef, params = nnx.split(Decoder(DEMO, rngs=nnx.Rngs(0)), nnx.Param)
  examples = make_examples(args.examples)
  num_options = sum(len(ex.options) for ex in examples)

  log(f"rank classification: {len(examples)} examples, {num_options} options")
  naive, ours, naive_s, ours_s = side_by_side(
      lambda: naive_scores(graphdef, params, vocab, examples),
      lambda: scoring.score_options(graphdef, params, vocab, examples), args.repeats)
  log(f"  naive: {naive_s:.2f} s, ours: {ours_s:.2f} s")
  max_diff = max(float(np.max(np.abs(a - b))) for a, b in zip(naive, ours))
  max_relative = max(float(np.max(np.abs(a - b) / np.maximum(1.0, np.abs(a))))
                     for a, b in zip(naive, ours))
  same_argmax = all(int(np.argmax(a)) == int(np.argmax(b)) for a, b in zip(naive, ours))

  rng = np.random.default_rng(1)
  prompts = [[0] + prompt_ids(vocab, " ".join(rng.choice(WORDS, rng.integers(8, 40))), 1024)
             for _ in range(args.decode_batch)]
  log(f"greedy decoding: {len(prompts)} prompts x {args.new_tokens} new tokens")
  uncached, cached, uncached_s, cached_s = side_by_side(
      lambda: uncached_decode(graphdef, params, prompts, args.new_tokens),
      lambda: decoding.decode_tokens(graphdef, params, prompts, max_new_tokens=args.new_tokens,
                                     eos_id=None), max(1, args.repeats - 1))
  log(f"  uncached: {uncached_s:.2f} s, cached: {cached_s:.3f} s")
  identical = cached == uncached
  matching = sum(a == b for c, u in zip(cached, uncached) for a, b in zip(c, u))

  result = {
      "benchmark": "eval", "device": device_name(), "model": "demo (4 x 128, V = 2048)",
      "rank_classification": {
          "examples": len(examples), "options": num_options,
          "naive_s": round(naive_s, 4), "ours_s": round(ours_s, 4),
          "naive_examples_per_s": round(len(examples) / naive_s, 1),
          "ours_examples_per_s": round(len(examples) / ours_s, 1),
          "speedup": round(naive_s / ours_s, 2), "max_abs_diff": max_diff,
          "max_diff_relative_to_max(1,|score|)": max_relative,
          "same_scores_within_1e-5": max_relative <= 1e-5, "same_predictions": same_argmax},
      "greedy_decoding": {
          "prompts": len(prompts), "new_tokens": args.new_tokens,
          "uncached_s": round(uncached_s, 4), "cached_s": round(cached_s, 4),
          "cached_tokens_per_s": round(len(prompts) * args.new_tokens / cached_s, 1),
          "speedup": round(uncached_s / cached_s, 2), "identical_tokens": identical,
          "matching_tokens": f"{matching}/{len(prompts) * args.new_tokens}"},
  }
  print(json.dumps(result), flush=True)
  return result


if __name__ == "__main__":
  main()
