"""Evaluation of a catalog entry: every eval-eligible template, on every split asked for.

    rows = evaluate_entry(graphdef, params, vocab, catalog.get("synth_containment"), limit=64)
    rows[0] == {"task": "synth_containment", "entry": "synth_containment", "cluster": "nli",
                "template": 0, "split": "validation", "tfds_split": "validation", "shots": 0,
                "metric": "accuracy", "score": 0.71, "scores": {"accuracy": 0.71},
                "chance": 0.5, "majority": 0.53, "top_answer": "yes", "top_share": 0.62,
                "num_examples": 64}

`majority` is the accuracy of always giving the most common gold answer (classification scored
by accuracy; else None); `top_answer` is the model's most common prediction and `top_share` the
fraction of the examples it was given to (1.0: the same answer to every example).

Classification templates are scored by rank classification over the options, generation
templates by greedy (or beam) decoding with a key/value cache, every template and split of the
entry in one length-bucketed pass; then the entry's metric (metrics.py). `score` is the metric's
primary sub-score. With `shots` > 0 each query gets that many exemplars from the train split,
written with the same template (flan/data/render.py). An entry whose eval templates produce
different target fields (translation both ways) reports one task per target:
`wmt14_enfr:to_french`, `wmt14_enfr:to_english`.
"""

from __future__ import annotations

import collections
import json
import logging

from flan.data import catalog, records as records_lib, render
from flan.eval import batching, decoding, groups, metrics, scoring

MAX_DECODE_TOKENS = 256
SPLITS = ("validation", "test")


def report_names(spec, templates=None) -> dict[int, str]:
  """The reported task of each eval template: the entry, or `entry:to_FIELD` per target field."""
  templates = spec.eval_templates if templates is None else templates
  targets = {t.index: catalog.placeholders(t.target) for t in templates}
  if len({tuple(v) for v in targets.values()}) <= 1:
    return {i: spec.name for i in targets}
  return {i: f"{spec.name}:to_{'_'.join(v) or 'text'}" for i, v in targets.items()}


def chance(metric: str, examples) -> float | None:
  """Expected accuracy of a uniform random guess (mean 1/num_options); None for other metrics."""
  if metric != "accuracy" or not examples or not examples[0].options:
    return None
  return sum(1.0 / len(ex.options) for ex in examples) / len(examples)


def majority(metric: str, examples) -> float | None:
  """Accuracy of always answering the most common gold answer; None where chance is None."""
  if chance(metric, examples) is None:
    return None
  counts = collections.Counter(ex.answers[0] for ex in examples if ex.answers)
  return max(counts.values()) / len(examples) if counts else None


def top_answer(predictions) -> tuple[str | None, float | None]:
  """(the most common prediction, the fraction of predictions that are it)."""
  if not predictions:
    return None, None
  answer, count = collections.Counter(predictions).most_common(1)[0]
  return answer, count / len(predictions)


def decode_budget(vocab, examples) -> int:
  """New tokens to decode: the longest reference answer (+ EOS), rounded up to a power of two
  (at least 8, at most MAX_DECODE_TOKENS).

  Like T5X's decoding to the task's target length, the budget bounds the output length only;
  rows stop at EOS, and few distinct budgets mean few compiled decoding loops.
  """
  longest = max((len(vocab.encode(a)) for ex in examples for a in ex.answers), default=1)
  return min(MAX_DECODE_TOKENS, max(8, batching.pow2_at_least(longest + 1)))


def predict(graphdef, params, vocab, spec, examples, *, beam_size: int = 1) -> list[str]:
  """The prediction text of every example: the best option, or the decoded continuation."""
  if not examples:
    return []
  if spec.type == "classification":
    return scoring.rank_classify(graphdef, params, vocab, examples)
  return decoding.decode_texts(graphdef, params, vocab, [ex.inputs for ex in examples],
                               max_new_tokens=decode_budget(vocab, examples),
                               beam_size=beam_size)


def render_examples(spec, template, records, *, pool=(), shots: int = 0, seed: int = 0,
                    tokenize=None) -> list[tuple[dict, render.Example]]:
  """(record, example) for every record the template accepts, with `shots` exemplars (the one
  rendering path, in the instructions format: evaluation always shows the instructions)."""
  style = render.Style(shots=shots, seed=seed)
  return [(r, render.render_example(spec, template, r, style, pool, tokenize))
          for r in records if template.accepts(r)]


def evaluate_entry(graphdef, params, vocab, spec, *, splits=SPLITS, limit: int | None = 100,
                   shots: int = 0, beam_size: int = 1, templates=None, predictions_file=None,
                   data_dir: str | None = None, seed: int = 0, warn=None) -> list[dict]:
  """One row per (eval template, split) of `spec`, on the first `limit` records of each split.

  Splits the entry does not have (e.g. WSC273 has only test) are skipped; `templates` restricts
  the eval templates (default: all of them). An entry with `groups` (groups.py) is read whole and
  evaluated in whole groups, `limit` counting groups (same_input) or rows rounded down to whole
  groups; `warn(message)` (default: a logging warning) hears when `limit` leaves groups out.
  STS-B's float gold similarity (the record's `score`) reaches the correlations.
  """
  eval_templates = [t for t in (templates or spec.eval_templates) if t.eval]
  names = report_names(spec, eval_templates)
  pool = records_lib.exemplar_pool(spec, data_dir=data_dir) if shots else []
  # Every (split, template) of the entry is predicted in one pass: fuller length buckets.
  rendered, group_keys = {}, {}
  for split in [s for s in splits if s in spec.splits]:
    # A grouped entry's siblings lie anywhere in the split: read it whole, then keep whole groups.
    records = records_lib.load_records(spec, split, limit=None if spec.groups else limit,
                                       data_dir=data_dir)
    for t in eval_templates:
      pairs = render_examples(spec, t, records, pool=pool, shots=shots, seed=seed,
                              tokenize=vocab.encode)
      if spec.groups:
        selection = groups.whole_groups(spec, t, pairs, limit)
        if selection.cut and t is eval_templates[0]:
          (warn or logging.getLogger(__name__).warning)(
              groups.limit_message(spec, split, limit, selection))
        pairs, group_keys[split, t.index] = selection.pairs, selection.keys
      rendered[split, t.index] = pairs
  examples = [ex for pairs in rendered.values() for _, ex in pairs]
  predictions = iter(predict(graphdef, params, vocab, spec, examples, beam_size=beam_size))
  rows = []
  for (split, template), pairs in rendered.items():
    template_examples = [ex for _, ex in pairs]
    template_predictions = [next(predictions) for _ in pairs]
    if not pairs:
      continue
    scores = metrics.compute(spec.metric, template_predictions,
                             [list(ex.answers) for ex in template_examples],
                             options=[ex.options for ex in template_examples],
                             groups=group_keys.get((split, template),
                                                   [str(i) for i in range(len(pairs))]),
                             scores=[r.get("score") for r, _ in pairs])
    rows.append({"task": names[template], "entry": spec.name, "cluster": spec.cluster,
                 "template": template, "split": split, "tfds_split": spec.splits[split],
                 "shots": shots,
                 "metric": spec.metric, "score": metrics.primary(spec.metric, scores),
                 "scores": scores, "chance": chance(spec.metric, template_examples),
                 "majority": majority(spec.metric, template_examples),
                 **dict(zip(("top_answer", "top_share"), top_answer(template_predictions))),
                 "num_examples": len(pairs)})
    if predictions_file is not None:
      for ex, prediction in zip(template_examples, template_predictions):
        predictions_file.write(json.dumps({
            "task": names[template], "template": template, "split": split,
            "shots": ex.shots, "inputs": ex.inputs, "prediction": prediction,
            "answers": list(ex.answers), "options": list(ex.options)}) + "\n")
  return rows
