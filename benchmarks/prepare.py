"""`flan data prepare` throughput: datasets per minute and examples written per second.

  .venv/bin/python benchmarks/prepare.py            # ~2 min on 2 idle CPU cores
  .venv/bin/python benchmarks/prepare.py --quick    # smoke test

Measures, in one run and side by side, each into a fresh data directory through the command's
own code path (flan.data.prepare.prepare: TFDS download_and_prepare at the pinned versions):

  synthetic    the eight offline synthetic builders (3,400 examples each), sequential (jobs 1)
               and with two worker processes (jobs 2)
  file_backed  the real StoryCloze 2016 builder reading the two CSV files a person downloads
               by hand (written here, ROWS rows each, in the builder's raw format), the same
               way the tests do; one dataset, so jobs 2 only adds a worker's start-up

Prints exactly one JSON line on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import pathlib
import platform
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from flan import runtime  # noqa: E402

runtime.skip_absent_tpu()  # SeqIO imports JAX: keep it off an absent TPU, as `flan` does

from flan.data import catalog, datasets, prepare  # noqa: E402

ROWS = 20_000
STORY_COLUMNS = ["InputStoryid", "InputSentence1", "InputSentence2", "InputSentence3",
                 "InputSentence4", "RandomFifthSentenceQuiz1", "RandomFifthSentenceQuiz2",
                 "AnswerRightEnding"]


def cpu_model() -> str:
  for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
    if line.startswith("model name"):
      return line.split(":", 1)[1].strip()
  return platform.processor()


def write_story_cloze(manual_dir: pathlib.Path, rows: int) -> None:
  manual_dir.mkdir(parents=True, exist_ok=True)
  for split in ("val", "test"):
    with open(manual_dir / f"cloze_test_{split}__spring2016.csv", "w", newline="") as f:
      writer = csv.DictWriter(f, STORY_COLUMNS)
      writer.writeheader()
      for i in range(rows):
        writer.writerow({"InputStoryid": f"{split}-{i}", "InputSentence1": f"Day {i} began.",
                         "InputSentence2": "Sam walked to the shop.",
                         "InputSentence3": "The shop was closed.",
                         "InputSentence4": "Sam waited outside.",
                         "RandomFifthSentenceQuiz1": "It opened an hour later.",
                         "RandomFifthSentenceQuiz2": "Sam turned into a bird.",
                         "AnswerRightEnding": 1})


@contextlib.contextmanager
def stdout_to_stderr():
  """TFDS prints its own lines on stdout (in worker processes too): send fd 1 to stderr."""
  sys.stdout.flush()
  saved = os.dup(1)
  os.dup2(2, 1)
  try:
    yield
  finally:
    sys.stdout.flush()
    os.dup2(saved, 1)
    os.close(saved)


def measure(specs, jobs: int, setup=None) -> dict:
  """Prepares `specs` into a fresh directory with `jobs` workers: rates and outcomes."""
  with tempfile.TemporaryDirectory() as tmp, stdout_to_stderr():
    if setup:
      setup(pathlib.Path(tmp))
    start = time.perf_counter()
    outcomes = prepare.prepare(specs, tmp, jobs=jobs)
    seconds = time.perf_counter() - start
    examples = 0
    for spec in specs:
      splits = datasets.builder(spec, tmp).info.splits
      examples += sum(s.num_examples for s in splits.values())
  assert all(o.status == prepare.BUILT for o in outcomes), outcomes
  return {"datasets": len(outcomes), "seconds": round(seconds, 2),
          "datasets_per_minute": round(60 * len(outcomes) / seconds, 2),
          "examples_per_second": round(examples / seconds, 1)}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--quick", action="store_true", help="two synthetic builders, 500 rows")
  args = parser.parse_args()
  synthetic = catalog.entries(collection="synthetic")[:2 if args.quick else None]
  rows = 500 if args.quick else ROWS
  story = [catalog.get("story_cloze")]

  def story_files(directory: pathlib.Path) -> None:
    write_story_cloze(directory / "downloads" / "manual" / "story_cloze", rows)

  result = {"benchmark": "prepare", "cpu": cpu_model(), "quick": args.quick}
  for jobs in (1, 2):
    print(f"synthetic, jobs {jobs}", file=sys.stderr)
    result[f"synthetic_jobs{jobs}"] = measure(synthetic, jobs)
    print(f"file-backed StoryCloze, jobs {jobs}", file=sys.stderr)
    result[f"file_backed_jobs{jobs}"] = measure(story, jobs, story_files)
  result["synthetic_speedup_jobs2"] = round(
      result["synthetic_jobs1"]["seconds"] / result["synthetic_jobs2"]["seconds"], 2)
  print(json.dumps(result))


if __name__ == "__main__":
  main()
