"""Evaluation on a tiny model: the key/value cache against the uncached model, rank
classification against a brute-force per-option scorer, cached greedy decoding against a
one-token-at-a-time reference, beam search, and one entry evaluated end to end."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from flan.data import catalog, vocab as vocab_lib
from flan.eval import beam, decoding, evaluate, scoring
from flan.model import Decoder, presets
from flan.model.attention import extend_mask
from flan.data.render import Example
from flan.train import step as step_lib


GRAPHDEF, PARAMS = nnx.split(Decoder(presets["tiny"], rngs=nnx.Rngs(3)), nnx.Param)


@pytest.fixture(scope="module")
def model():
  return GRAPHDEF, PARAMS, vocab_lib.get_vocabulary()


REFERENCE_LENGTH = 96


@jax.jit
def _reference_log_probs(params, tokens, segment_ids):
  batch = {"decoder_input_tokens": tokens, "decoder_segment_ids": segment_ids,
           "decoder_positions": jnp.arange(REFERENCE_LENGTH, dtype=jnp.int32)[None]}
  return jax.nn.log_softmax(step_lib.model_logits(GRAPHDEF, params, batch))


def full_log_probs(graphdef, params, tokens):
  """log p(next token) at every position of one sequence, no cache: [L, V]. The sequence is
  right-padded to one length (causal attention: padding after it changes nothing)."""
  assert graphdef == GRAPHDEF and len(tokens) <= REFERENCE_LENGTH
  padded = np.zeros((1, REFERENCE_LENGTH), np.int32)
  padded[0, :len(tokens)] = tokens
  segment_ids = (np.arange(REFERENCE_LENGTH) < len(tokens)).astype(np.int32)[None]
  return np.asarray(_reference_log_probs(params, padded, segment_ids))[0, :len(tokens)]


def test_extend_mask_docstring_example():
  mask = extend_mask(jnp.array([[0, 1, 1, 0, 0, 0]], bool), jnp.array([[1, 1, 2]]), 3)
  np.testing.assert_array_equal(mask[0].astype(int), [[0, 1, 1, 1, 0, 0],
                                                      [0, 1, 1, 1, 1, 0],
                                                      [0, 1, 1, 0, 0, 1]])


def test_cached_extend_matches_the_uncached_model(model):
  """Left-padded prefill, then packed continuations and single steps: every logit as uncached."""
  graphdef, params, _ = model
  decoder = nnx.merge(graphdef, params)
  rng = np.random.default_rng(0)
  short, long = rng.integers(2, 2048, 3).tolist(), rng.integers(2, 2048, 6).tolist()
  prefix = np.array([[0, 0, 0] + short, long], np.int32)             # left-padded to 6
  segments = (np.arange(6) >= np.array([[3], [0]])).astype(np.int32)
  positions = np.arange(6)[None] - np.array([[3], [0]])
  cache = decoder.init_cache(2, 10)
  hidden, cache = decoder.extend(prefix, segments, positions, cache)
  prefill = np.asarray(jax.nn.log_softmax(decoder.output_logits(hidden)))
  # Two continuations of each prefix packed as segments 1 and 2 of one row.
  cont = rng.integers(2, 2048, (2, 4)).astype(np.int32)
  cont_segments = np.array([[1, 1, 2, 2]] * 2, np.int32)
  lengths = np.array([3, 6])
  cont_positions = lengths[:, None] + np.array([0, 1, 0, 1])
  hidden, _ = decoder.extend(cont, cont_segments, cont_positions, cache)
  packed = np.asarray(jax.nn.log_softmax(decoder.output_logits(hidden)))
  for row, (tokens, n) in enumerate([(short, 3), (long, 6)]):
    np.testing.assert_allclose(prefill[row, -n:], full_log_probs(graphdef, params, tokens),
                               atol=1e-5)
    for seg in (0, 1):
      pair = cont[row, 2 * seg:2 * seg + 2].tolist()
      want = full_log_probs(graphdef, params, tokens + pair)[-2:]
      np.testing.assert_allclose(packed[row, 2 * seg:2 * seg + 2], want, atol=1e-5)


def brute_force_score(graphdef, params, vocab, inputs, option):
  """Log-likelihood of one option, one unpadded sequence, summed token by token."""
  prompt = list(vocab.encode(inputs)) + [1]
  target = list(vocab.encode(option)) + [1]
  sequence = prompt + target
  log_probs = full_log_probs(graphdef, params, [0] + sequence[:-1])
  # Position j reads token j - 1 (BOS first) and predicts token j of the sequence.
  return sum(log_probs[len(prompt) + i, t] for i, t in enumerate(target))


def test_rank_classification_matches_brute_force(model):
  graphdef, params, vocab = model
  examples = [
      Example("Is the sky blue?\n\nOPTIONS:\n- yes\n- no", "yes", ("yes", "no"), ("yes",)),
      Example("Pick a fruit.", "a ripe pear", ("a ripe pear", "stone", "cloud", "a boat"),
              ("a ripe pear",)),
      Example("x " * 40, "b", ("a", "b"), ("b",)),
      Example("Who?", "Ann", tuple(f"person number {i}" for i in range(9)), ("Ann",)),
  ]
  # max_batch=2: two batches, different bucketed shapes, one padded row.
  scores = scoring.score_options(graphdef, params, vocab, examples, max_batch=2)
  for example, got in zip(examples, scores):
    want = [brute_force_score(graphdef, params, vocab, example.inputs, o)
            for o in example.options]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
  predictions = scoring.rank_classify(graphdef, params, vocab, examples)
  assert predictions == [ex.options[int(np.argmax(s))] for ex, s in zip(examples, scores)]


def test_pack_options_docstring_example():
  assert scoring.pack_options([[7, 1], [8, 9, 1]], start=4) == (
      [1, 7, 1, 8, 9], [7, 1, 8, 9, 1], [1, 1, 2, 2, 2], [4, 5, 4, 5, 6])


PROMPTS = [[0, 17, 250, 3, 1], [0, 1900, 1], [0] + list(range(300, 340)) + [1]]


def reference_greedy(graphdef, params, prompt, steps, eos_id=None):
  """Greedy tokens by re-running the uncached model on the whole sequence at every step."""
  tokens, generated = list(prompt), []
  for _ in range(steps):
    next_token = int(np.argmax(full_log_probs(graphdef, params, tokens)[-1]))
    if next_token == eos_id:
      break
    generated.append(next_token)
    tokens.append(next_token)
  return generated


def test_cached_greedy_matches_uncached_reference(model):
  graphdef, params, _ = model
  got = decoding.decode_tokens(graphdef, params, PROMPTS, max_new_tokens=12, eos_id=None,
                               max_batch=2)
  assert got == [reference_greedy(graphdef, params, p, 12) for p in PROMPTS]
  assert all(len(g) == 12 for g in got)


def test_rows_stop_at_their_own_eos(model):
  graphdef, params, _ = model
  free = decoding.decode_tokens(graphdef, params, PROMPTS, max_new_tokens=10, eos_id=None)
  # Declare the 4th token of row 0 to be EOS: row 0 stops there, the others run on.
  eos = free[0][3]
  got = decoding.decode_tokens(graphdef, params, PROMPTS, max_new_tokens=10, eos_id=eos)
  assert got == [reference_greedy(graphdef, params, p, 10, eos_id=eos) for p in PROMPTS]
  assert got[0] == free[0][:free[0].index(eos)]


def test_beam_one_is_greedy_and_wider_beams_score_at_least_as_high(model):
  graphdef, params, _ = model
  greedy = decoding.decode_tokens(graphdef, params, PROMPTS, max_new_tokens=8, eos_id=None)
  assert decoding.decode_tokens(graphdef, params, PROMPTS, max_new_tokens=8, eos_id=None,
                                beam_size=1) == greedy
  wide = decoding.decode_tokens(graphdef, params, PROMPTS, max_new_tokens=8, eos_id=None,
                                beam_size=4)

  def sequence_score(prompt, continuation):
    log_probs = full_log_probs(graphdef, params, prompt + continuation)
    return sum(log_probs[len(prompt) - 1 + i, t] for i, t in enumerate(continuation))

  for prompt, g, w in zip(PROMPTS, greedy, wide):
    assert len(w) == 8
    assert sequence_score(prompt, w) >= sequence_score(prompt, g) - 1e-4


def test_beam_search_beats_greedy_on_a_crafted_chain():
  """A Markov chain over 5 tokens (EOS = 1): greedy takes 2 (p 0.6) then faces a uniform
  choice (p 0.2 each); the beam finds 3 -> EOS (0.4 * 0.9 = 0.36 > 0.6 * 0.2 = 0.12)."""
  table = np.full((5, 5), 1e-9)
  table[0] = [1e-9, 1e-9, 0.6, 0.4, 1e-9]      # the first token (state 0 = the prompt)
  table[2] = [0.2, 0.2, 0.2, 0.2, 0.2]         # after 2: anything
  table[3] = [0.025, 0.9, 0.025, 0.025, 0.025]  # after 3: EOS
  table[4] = table[2]
  table[1] = table[2]
  log_table = jnp.log(jnp.asarray(table / table.sum(1, keepdims=True), jnp.float32))
  step_fn = lambda tokens, step, state: (log_table[tokens], state)
  first = log_table[jnp.zeros((1,), jnp.int32)]
  state = jnp.zeros((1, 1))
  tokens, scores = beam.beam_search(first, state, step_fn, beam_size=1, max_new_tokens=3,
                                    eos_id=1)
  assert tokens[0, 0, 0] == 2 and float(scores[0, 0]) < np.log(0.13)
  tokens, scores = beam.beam_search(first, state, step_fn, beam_size=2, max_new_tokens=3,
                                    eos_id=1)
  assert tokens[0, 0].tolist() == [3, 1, 0]
  assert float(scores[0, 0]) == pytest.approx(np.log(0.36), abs=1e-4)


def test_evaluate_entry_on_synthetic_data(model, synthetic_data_dir, use_data_dir):
  """Both splits, every eval template, one row each; few-shot inputs carry exemplars."""
  use_data_dir(synthetic_data_dir)
  graphdef, params, vocab = model
  spec = catalog.get("synth_reviews")
  rows = evaluate.evaluate_entry(graphdef, params, vocab, spec, limit=6, shots=2)
  assert {(r["split"], r["template"]) for r in rows} == \
      {(s, t.index) for s in ("validation", "test") for t in spec.eval_templates}
  assert all(r["num_examples"] == 6 and r["shots"] == 2 and r["chance"] == 0.5 for r in rows)
  assert all(0.0 <= r["score"] <= 1.0 for r in rows)
  generation = evaluate.evaluate_entry(graphdef, params, vocab, catalog.get("synth_addition"),
                                       splits=("test",), limit=4)
  assert {r["metric"] for r in generation} == {"exact_match"}
