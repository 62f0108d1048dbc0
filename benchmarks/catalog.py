"""Catalog benchmark: import cost, lazy task building and render throughput of the whole catalog.

  .venv/bin/python benchmarks/catalog.py [--import-repeats 3] [--render-repeats 5]
                                         [--mock-examples 8] [--entries rte,cb]

Measures, in one run:

  import_flan_s            `import flan` in a fresh interpreter (best of --import-repeats)
  import_flan_catalog_s    `import flan, flan.data.catalog; flan.data.catalog.catalog()` likewise: every
                           templates/*.yaml entry loaded and validated
  heavy_modules            which of tensorflow / jax / seqio / tensorflow_datasets each of those
                           two leaves in sys.modules (both should pull in none)
  import_seqio_s           `import seqio` in this process (drags in TensorFlow and JAX); timed
                           before anything else heavy is imported here
  build_all_tasks_s        `flan.data.tasks.get_task("flan:<entry>")` for every entry, lazily
                           registered with SeqIO (no data read; the first call also makes the
                           vocabulary object, which seqio loads lazily); get_task_cached_s is
                           the same loop again, every task already registered
  render_*                 adapters.adapt + render.render of TFDS mock examples (generated first,
                           outside the timed region, with tests/catalog_checks.mock_raw and the
                           catalog tests' fixups) through every template that accepts each record;
                           each entry is timed --render-repeats times and its best pass counts.
                           render_examples_per_s = rendered examples / summed best seconds;
                           slowest_entries are the 3 highest per-example times.

Prints exactly one JSON line on stdout; progress goes to stderr. The default run takes about a
minute on 2 busy CPU cores, most of it TFDS mock-data generation and `import seqio`.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import itertools
import json
import os
import pathlib
import platform
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
HEAVY = ("tensorflow", "jax", "seqio", "tensorflow_datasets")
IMPORT_TARGET_S = 3.0  # the target for importing flan with every catalog entry present

IMPORT_FLAN = "import flan"
IMPORT_FLAN_CATALOG = "import flan, flan.data.catalog; flan.data.catalog.catalog()"

# The catalog tests keep the mock-data fixups that random TFDS mock values need (module, name);
# a FIXUPS dict of a module covers several entries. Two-argument fixups get a running counter.
FIXUP_MODULES = ("test_catalog_commonsense_coref_sentiment", "test_catalog_reading_qa",
                 "test_catalog_misc")
FIXUP_EXTRAS = {"stsb": ("test_catalog_nli_paraphrase", "_stsb_scores"),
                "e2e_nlg": ("test_catalog_struct_translation", "_valid_mr"),
                "arc_easy": ("test_real_datasets", "_four_choices")}


def log(*args) -> None:
  print(*args, file=sys.stderr, flush=True)


# ---- Import cost, in fresh interpreters. --------------------------------------------------------


def _subprocess_import(statement: str) -> dict:
  """Runs `statement` in a fresh interpreter: its wall time and which heavy modules it loaded."""
  code = (f"import time; t = time.perf_counter(); {statement}; s = time.perf_counter() - t\n"
          f"import json, sys\n"
          f"print(json.dumps({{'s': s, 'modules': {{m: m in sys.modules for m in {HEAVY!r}}}}}))")
  env = {**os.environ, "PYTHONPATH": os.pathsep.join(
      filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
  out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True,
                       capture_output=True, text=True).stdout
  return json.loads(out.strip().splitlines()[-1])


def time_import(statement: str, repeats: int) -> dict:
  runs = [_subprocess_import(statement) for _ in range(repeats)]
  times = [r["s"] for r in runs]
  log(f"{statement!r}: best {min(times):.3f} s of {[round(t, 3) for t in times]}")
  return {"best_s": min(times), "times_s": times, "modules": runs[-1]["modules"]}


# ---- Mock data. ---------------------------------------------------------------------------------


def _with_counter(fix):
  counter = itertools.count()
  return lambda raw: fix(raw, next(counter))


def test_fixups() -> dict:
  """entry -> fixup(raw) -> raw, taken from the catalog tests (missing ones are skipped)."""
  sys.path.insert(0, str(ROOT / "tests"))
  fixups = {}
  for module_name in FIXUP_MODULES:
    try:
      fixups.update(importlib.import_module(module_name).FIXUPS)
    except Exception as e:  # a test module mid-edit: render those entries without fixups
      log(f"no fixups from tests/{module_name}.py: {type(e).__name__}: {e}")
  for entry, (module_name, attr) in FIXUP_EXTRAS.items():
    try:
      fixups[entry] = getattr(importlib.import_module(module_name), attr)
    except Exception as e:
      log(f"no fixup for {entry} from tests/{module_name}.py: {type(e).__name__}: {e}")
  return {name: _with_counter(fn) if len(inspect.signature(fn).parameters) == 2 else fn
          for name, fn in fixups.items()}


def mock_examples(specs, num_examples: int) -> tuple[dict, dict]:
  """entry -> raw mock examples of every split it names; entry -> error for those that failed."""
  fixups = test_fixups()  # puts tests/ on sys.path
  import catalog_checks
  raws, errors = {}, {}
  for spec in specs:
    try:
      raws[spec.name] = catalog_checks.mock_raw(spec, num_examples=num_examples,
                                                fixup=fixups.get(spec.name))
    except Exception as e:
      errors[spec.name] = f"{type(e).__name__}: {e}"
      log(f"mock data for {spec.name} failed: {errors[spec.name]}")
  return raws, errors


# ---- Rendering. ---------------------------------------------------------------------------------


def render_entry(spec, raws) -> tuple[int, int]:
  """adapt + render every raw example through every template that accepts it.

  Returns (rendered examples, records the adapter dropped).
  """
  from flan.data import adapters, render
  rendered = dropped = 0
  for raw in raws:
    record = adapters.adapt(spec, raw)
    if record is None:
      dropped += 1
      continue
    for template in spec.templates:
      if template.accepts(record):
        render.render(template, record)
        rendered += 1
  return rendered, dropped


def time_render(specs, raws: dict, repeats: int) -> dict:
  per_entry, errors = {}, {}
  for spec in specs:
    if spec.name not in raws:
      continue
    try:
      render_entry(spec, raws[spec.name])  # warm-up: imports function adapter modules
      best = float("inf")
      for _ in range(repeats):
        start = time.perf_counter()
        rendered, dropped = render_entry(spec, raws[spec.name])
        best = min(best, time.perf_counter() - start)
    except Exception as e:
      errors[spec.name] = f"{type(e).__name__}: {e}"
      log(f"rendering {spec.name} failed: {errors[spec.name]}")
      continue
    per_entry[spec.name] = {"raw": len(raws[spec.name]), "dropped": dropped,
                            "rendered": rendered, "s": best,
                            "us_per_example": 1e6 * best / rendered if rendered else None}
  total = sum(e["rendered"] for e in per_entry.values())
  seconds = sum(e["s"] for e in per_entry.values())
  timed = [(name, e) for name, e in per_entry.items() if e["rendered"]]
  slowest = sorted(timed, key=lambda item: -item[1]["us_per_example"])[:3]
  return {
      "render_examples": total,
      "render_raw_examples": sum(e["raw"] for e in per_entry.values()),
      "render_dropped_by_adapter": {n: e["dropped"] for n, e in per_entry.items() if e["dropped"]},
      "render_entries": len(per_entry),
      "render_s": seconds,
      "render_examples_per_s": total / seconds if seconds else None,
      "render_slowest_entries": [
          {"entry": name, "us_per_example": round(e["us_per_example"], 2),
           "rendered": e["rendered"], "cluster": next(s.cluster for s in specs if s.name == name)}
          for name, e in slowest],
      "render_errors": errors,
      "render_entries_with_nothing_rendered": sorted(n for n, e in per_entry.items()
                                                     if not e["rendered"]),
  }


# ---- Main. --------------------------------------------------------------------------------------


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--import-repeats", type=int, default=3)
  parser.add_argument("--render-repeats", type=int, default=5)
  parser.add_argument("--mock-examples", type=int, default=8,
                      help="mock examples per split (tests/catalog_checks uses 8)")
  parser.add_argument("--entries", default="", help="comma-separated subset (default: all)")
  args = parser.parse_args()
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  result = {"benchmark": "catalog", "python": platform.python_version(),
            "cpu_count": os.cpu_count(), "load_avg_1min_start": os.getloadavg()[0]}

  # 1. Import cost in fresh interpreters (before this process imports anything heavy).
  flan_import = time_import(IMPORT_FLAN, args.import_repeats)
  catalog_import = time_import(IMPORT_FLAN_CATALOG, args.import_repeats)
  result.update(
      import_flan_s=flan_import["best_s"], import_flan_times_s=flan_import["times_s"],
      import_flan_catalog_s=catalog_import["best_s"],
      import_flan_catalog_times_s=catalog_import["times_s"],
      heavy_modules_after_import_flan=flan_import["modules"],
      heavy_modules_after_import_flan_catalog=catalog_import["modules"],
      import_target_s=IMPORT_TARGET_S,
      import_under_target=catalog_import["best_s"] < IMPORT_TARGET_S)

  sys.path.insert(0, str(ROOT))
  from flan.data import catalog
  specs = list(catalog.catalog().values())
  if args.entries:
    specs = [catalog.get(name) for name in args.entries.split(",")]
  result["entries"] = len(catalog.catalog())
  result["entries_benchmarked"] = len(specs)
  heavy_here = [m for m in HEAVY if m in sys.modules]
  assert not heavy_here, f"loading the catalog imported {heavy_here}"

  # 2. SeqIO (and with it TensorFlow and JAX), then every task built lazily.
  start = time.perf_counter()
  import seqio  # noqa: F401
  result["import_seqio_s"] = time.perf_counter() - start
  result["heavy_modules_after_import_seqio"] = {m: m in sys.modules for m in HEAVY}
  log(f"import seqio: {result['import_seqio_s']:.2f} s")

  from flan.data import tasks
  build_errors = {}
  start = time.perf_counter()
  for spec in specs:
    try:
      tasks.get_task(tasks.task_name(spec.name))
    except Exception as e:
      build_errors[spec.name] = f"{type(e).__name__}: {e}"
  result["build_all_tasks_s"] = time.perf_counter() - start
  result["tasks_built"] = len(specs) - len(build_errors)
  result["build_errors"] = build_errors
  log(f"built {result['tasks_built']} tasks in {result['build_all_tasks_s']:.2f} s")

  start = time.perf_counter()
  for spec in specs:  # already registered: the cached path
    if spec.name not in build_errors:
      tasks.get_task(tasks.task_name(spec.name))
  result["get_task_cached_s"] = time.perf_counter() - start

  # 3. Render throughput over TFDS mock data (generated outside the timed region).
  from flan.data import datasets
  for spec in specs:  # the synthetic builders must be registered for mock_data to mock them
    datasets.register(spec)
  start = time.perf_counter()
  raws, mock_errors = mock_examples(specs, args.mock_examples)
  result["mock_data_s"] = time.perf_counter() - start
  result["mock_data_errors"] = mock_errors
  log(f"mock data for {len(raws)} entries in {result['mock_data_s']:.1f} s")
  result.update(time_render(specs, raws, args.render_repeats))
  result["render_repeats"] = args.render_repeats
  log(f"rendered {result['render_examples']} examples in {result['render_s']:.3f} s "
      f"({result['render_examples_per_s']:.0f}/s)")

  result["load_avg_1min_end"] = os.getloadavg()[0]
  print(json.dumps(result))


if __name__ == "__main__":
  sys.path.insert(0, str(ROOT))
  from flan import runtime
  runtime.skip_absent_tpu()  # `import seqio` imports JAX: no TPU backend attempt without a TPU
  main()
