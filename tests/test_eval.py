"""Evaluation: metrics on hand-computed values, rank classification against a brute-force
per-option scorer, batched greedy decoding against a one-token-at-a-time reference."""

import numpy as np
import pytest
from flax import nnx

from flan import vocab as vocab_lib
from flan.eval import decoding, evaluate, metrics, scoring
from flan.model import Decoder, presets
from flan.render import Example
from flan.train import step as step_lib


@pytest.fixture(scope="module")
def model():
  graphdef, params = nnx.split(Decoder(presets["tiny"], rngs=nnx.Rngs(3)), nnx.Param)
  return graphdef, params, vocab_lib.get_vocabulary()


def test_metrics_hand_computed():
  assert metrics.accuracy(["yes", "no", "no"], [["yes"], ["yes"], ["no"]]) == pytest.approx(2 / 3)
  assert metrics.exact_match(["The Cat."], [["cat"]]) == 1.0
  assert metrics.exact_match(["a dog"], [["cat", "the dog"]]) == 1.0
  # prediction tokens {black, cat}, reference {black, cat, sat}: P = 1, R = 2/3, F1 = 0.8
  assert metrics.squad_f1(["the black cat"], [["black cat sat"]]) == pytest.approx(0.8)
  assert metrics.squad_f1(["x"], [["y", "x"]]) == 1.0
  # labels a, b; gold a a b b; predicted a b b b -> F1(a) = 2/3, F1(b) = 0.8
  assert metrics.macro_f1(["a", "b", "b", "b"], [["a"], ["a"], ["b"], ["b"]], ["a", "b"]) == \
      pytest.approx((2 / 3 + 0.8) / 2)


def brute_force_score(graphdef, params, vocab, inputs, option):
  """Log-likelihood of one option, one unpadded sequence, summed token by token."""
  prompt = list(vocab.encode(inputs)) + [1]
  target = list(vocab.encode(option)) + [1]
  sequence = prompt + target
  batch = {"decoder_input_tokens": np.array([[0] + sequence[:-1]], np.int32),
           "decoder_segment_ids": np.ones((1, len(sequence)), np.int32),
           "decoder_positions": np.arange(len(sequence), dtype=np.int32)[None]}
  logits = np.asarray(step_lib.model_logits(graphdef, params, batch))[0]
  log_probs = logits - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1,
                                                                                 keepdims=True)) \
      - logits.max(-1, keepdims=True)
  # Position j reads token j - 1 (BOS first) and predicts token j of the sequence.
  return sum(log_probs[len(prompt) + i, t] for i, t in enumerate(target))


def test_rank_classification_matches_brute_force(model):
  graphdef, params, vocab = model
  examples = [
      Example("Is the sky blue?\n\nOPTIONS:\n- yes\n- no", "yes", ("yes", "no"), ("yes",)),
      Example("Pick a fruit.", "a ripe pear", ("a ripe pear", "stone", "cloud", "a boat"),
              ("a ripe pear",)),
      Example("x " * 40, "b", ("a", "b"), ("b",)),
  ]
  scores = scoring.score_options(graphdef, params, vocab, examples, batch_size=3)
  for example, got in zip(examples, scores):
    want = [brute_force_score(graphdef, params, vocab, example.inputs, o)
            for o in example.options]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
  predictions = scoring.rank_classify(graphdef, params, vocab, examples, batch_size=3)
  assert predictions == [ex.options[int(np.argmax(s))] for ex, s in zip(examples, scores)]


def reference_greedy(graphdef, params, vocab, text, steps):
  tokens = [0] + list(vocab.encode(text)) + [1]
  generated = []
  for _ in range(steps):
    batch = {"decoder_input_tokens": np.array([tokens], np.int32),
             "decoder_segment_ids": np.ones((1, len(tokens)), np.int32),
             "decoder_positions": np.arange(len(tokens), dtype=np.int32)[None]}
    next_token = int(np.argmax(np.asarray(step_lib.model_logits(graphdef, params, batch))[0, -1]))
    if next_token == 1:
      break
    generated.append(next_token)
    tokens.append(next_token)
  return vocab.decode([t for t in generated if t != 0])


def test_batched_greedy_matches_reference(model):
  graphdef, params, vocab = model
  texts = ["What is 3 + 4?", "Name a colour that rhymes with bed, please.", "hi"]
  got = decoding.greedy_decode(graphdef, params, vocab, texts, max_new_tokens=6, batch_size=2)
  assert got == [reference_greedy(graphdef, params, vocab, t, 6) for t in texts]


def test_summary_and_table():
  rows = [{"entry": "a", "cluster": "nli", "template": t, "metric": "accuracy", "score": s,
           "chance": 0.5, "num_examples": 10} for t, s in [(0, 0.6), (1, 0.8)]]
  rows.append({"entry": "b", "cluster": "sentiment", "template": 0, "metric": "accuracy",
               "score": 0.9, "chance": 0.5, "num_examples": 10})
  summary = evaluate.summarize(rows, heldout={"nli"})
  assert [(s["entry"], s["status"], round(s["mean"], 3), s["best_template"]) for s in summary] \
      == [("a", "held-out", 0.7, 1), ("b", "seen", 0.9, 0)]
  table = evaluate.markdown_table(summary)
  assert "| a | nli | held-out | accuracy | 70.0 | 80.0 (t1) | 50.0 |" in table
