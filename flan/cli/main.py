"""The `flan` command.

    flan demo [--out runs/demo]                         the whole loop on the offline synthetic data
    flan train --gin_file=F [--gin.NAME=VALUE ...]      train (T5X-style gin flags), resumes
    flan eval --model_dir D (--task T | --cluster C | --suite S) [--shots K]
                                                        evaluation of a trained model
    flan sweep holdout --gin_file=F [--clusters C ...] [--print_only]
                                                        train + evaluate, one run per held-out cluster
    flan data list [--cluster C] [--collection X]      entries, metrics, split sizes where prepared
    flan data show TASK [--template N] [--shots K] [--options flan|none|random]
    flan data export TASK_OR_MIXTURE --split S --out F.jsonl [--limit N] [--shots K] [--options O]
    flan data manifest [--out templates/MANIFEST.md] | prepare --synthetic | vocab --out F
    flan data stats MIXTURE [--steps N --batch_size B]   rates, probabilities, held-out clusters
    flan import hf --from HF_DIR --out MODEL_DIR        a local Llama checkpoint -> flan model dir
    flan export hf --checkpoint MODEL_DIR --out DIR [--eval EVAL_DIR]   -> transformers folder
    flan export params --checkpoint MODEL_DIR --out DIR [--dtype bfloat16]   params only

Errors a user can fix (flan.errors.UserError: unknown task, malformed template, missing dataset,
bad gin binding, a path that does not exist) are printed as one line and exit with status 2.
Third-party log noise is kept out of the terminal; `flan --verbose COMMAND ...` shows it
(flan/runtime.py).
"""

from __future__ import annotations

import argparse
import os
import re
import sys

from flan import runtime
from flan.errors import UserError

# Commands in which JAX trains or evaluates: they get runtime.setup's host-memory setting, which
# the others (data, export, import, plan) would only pay for in TensorFlow's input speed.
CPU_COMPUTE_COMMANDS = ("train", "eval", "demo", "sweep")


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
  """Every flag's default in `--help` (lists space-separated), except where there is none (None,
  False, a required flag) or the help text already says it; descriptions keep their lines."""

  def _get_help_string(self, action):
    text = action.help or ""
    default = action.default
    if (default is None or default is False or default is argparse.SUPPRESS or action.required
        or "default" in text or not action.option_strings):
      return text
    if isinstance(default, (list, tuple)):
      if not default:
        return text
      default = " ".join(map(str, default))
    return f"{text} (default: {default})".replace("%", "%%")


def _at_least(minimum: int):
  """An argparse type: an integer >= minimum."""
  def parse(text: str) -> int:
    try:
      value = int(text)
    except ValueError:
      raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < minimum:
      raise argparse.ArgumentTypeError(f"must be {minimum} or more, got {value}")
    return value
  return parse


_positive, _natural = _at_least(1), _at_least(0)


GIN_FLAGS_HELP = """gin flags (T5X style; repeatable; later ones win):
  --gin_file=F            a gin file, as a path or relative to the configs/ folder
                          (demo.gin, models/tiny.gin, runs/train.gin)
  --gin.NAME=VALUE        bind one macro or parameter; VALUE is gin syntax, so a string
                          is quoted twice, once for the shell and once for gin:
                            --gin.MODEL_DIR="'runs/my_run'" --gin.MIXTURE="'mix:synthetic'"
                            --gin.trainer.train.num_steps=600
  --gin_bindings="B"      the same in gin's own form: --gin_bindings="MODEL_DIR = 'runs/x'"
Every binding must bind something the config reads: a misspelt name is an error.
"""


def _add_gin_flags(parser) -> None:
  parser.add_argument("--gin_file", action="append", default=[], required=True,
                      help="gin file (repeatable): a path, or relative to configs/")
  parser.add_argument("--gin_bindings", action="append", default=[],
                      help="a gin binding, e.g. \"trainer.train.num_steps = 600\" (repeatable)")


class _Parser(argparse.ArgumentParser):
  """argparse with the project's error form: one line, exit status 2; defaults in --help."""

  def __init__(self, *args, **kwargs):
    kwargs.setdefault("formatter_class", _HelpFormatter)
    super().__init__(*args, **kwargs)

  def error(self, message):
    self.exit(2, f"flan: error: {message} (see `{self.prog} --help`)\n")


def cmd_train(args, gin_bindings):
  from flan.cli import defaults, gin_config
  from flan.train import trainer

  if args.distributed:
    import jax
    jax.distributed.initialize()
  gin_config.parse(args.gin_file, list(args.gin_bindings) + gin_bindings)
  model_dir, num_steps = gin_config.model_dir(), _gin_num_steps()
  before = defaults.latest_step(model_dir)
  result = gin_config.train_with_configs(trainer.train)
  print(_train_report(model_dir, num_steps, before, defaults.latest_step(model_dir)))
  return result


def _gin_num_steps() -> int | None:
  import gin
  try:
    return int(gin.query_parameter("flan.train.trainer.train.num_steps"))
  except (ValueError, TypeError):
    return None


def _train_report(model_dir, num_steps: int | None, before: int | None,
                  after: int | None) -> str:
  """Where the run is and what to run next, e.g.

      runs/demo/model: trained to step 1000 (checkpoints, metrics.jsonl, config.gin)
      next: flan eval --model_dir runs/demo/model --cluster nli
  """
  from flan.cli import defaults
  from flan.data import mixtures
  if before is not None and num_steps is not None and before >= num_steps:
    head = (f"{model_dir}: the run is already complete at step {before} (num_steps = "
            f"{num_steps}); nothing was trained. To train longer, raise "
            f"--gin.trainer.train.num_steps")
  elif after is not None and num_steps is not None and after < num_steps:
    return (f"{model_dir}: stopped at step {after} of {num_steps}; the same command resumes "
            f"from there")
  else:
    head = (f"{model_dir}: trained to step {after} (checkpoints/, metrics.jsonl, "
            f"operative_config.gin)")
  heldout = mixtures.heldout_clusters(defaults.trained_mixture(model_dir))
  selection = f"--cluster {heldout[0]}" if len(heldout) == 1 else "--task TASK (or --cluster C)"
  return f"{head}\nnext: flan eval --model_dir {model_dir} {selection}"


def _eval_specs(args):
  """The entries (or (entry, templates) pairs) `flan eval` evaluates."""
  from flan.cli import defaults
  from flan.data import catalog, tasks
  from flan.eval import suites

  if args.collection is not None:
    defaults.check_collection(args.collection)
  if args.task:
    spec, templates = tasks.resolve(args.task)
    return [(spec, templates)]
  if args.suite:
    return suites.suite_specs(args.suite)
  if args.cluster:
    defaults.check_cluster(args.cluster)  # the name first: no model directory needed for that
  collection = defaults.model_collection(args.model_dir, args.collection)
  if args.cluster:
    defaults.check_cluster(args.cluster, collection)
  return catalog.entries(collection=collection, cluster=args.cluster)


def cmd_plan(args, gin_bindings):
  from flan.cli import plan
  mesh = None
  if args.mesh is not None:
    try:
      mesh = tuple(int(x) for x in args.mesh.split(","))
    except ValueError:
      mesh = ()
    if len(mesh) != 3 or min(mesh) < -1 or 0 in mesh or mesh.count(-1) > 1:
      raise plan.PlanError(f"--mesh must be three positive sizes data,fsdp,model (one may be -1: "
                           f"the slice's remaining devices, 1 on the CPU stand-in); got {args.mesh}")
  return plan.run(args.gin_file, list(args.gin_bindings) + gin_bindings, mesh, args.accelerator,
                  args.full_compile, args.topology, not args.no_forecast)


def cmd_eval(args):
  from flan.eval import runner

  specs = _eval_specs(args)  # evaluate_model checks that their data is prepared, first
  out = args.out or os.path.join(args.model_dir, "eval")
  # Held-out status comes from the model's training mixture (runner.untrained_clusters).
  summary = runner.evaluate_model(args.model_dir, specs, out_dir=out, splits=args.splits,
                                  limit=args.limit, shots=args.shots,
                                  beam_size=args.beam, progress=not args.quiet)
  print(runner.format_summary(summary))
  print(f"\nfiles: {out}/ (predictions.jsonl, templates.csv, summary.md, summary.csv)")


def cmd_sweep(args, gin_bindings):
  from flan.cli import defaults, sweep

  bindings = list(args.gin_bindings) + gin_bindings
  # The gin flags are checked here, before the first run trains.
  collection = defaults.gin_collection(args.gin_file, bindings)
  collection = defaults.check_collection(args.collection or collection)
  for cluster in args.clusters or []:
    defaults.check_cluster(cluster, collection)
  plan = sweep.SweepPlan(gin_files=list(args.gin_file), bindings=bindings,
                         out_dir=args.out, collection=collection,
                         clusters=args.clusters or None, limit=args.limit, shots=args.shots,
                         splits=tuple(args.splits))
  if args.print_only:
    print("\n".join(sweep.launch_commands(plan)))
    return
  results = sweep.run_sweep(plan, progress=not args.quiet)
  print(sweep.markdown_results(results))
  print(f"\nfiles: {args.out}/ (results.md, results.csv, results.png, heldout_*/)")


def cmd_data(args):
  from flan.data import catalog

  if args.data_command == "list":
    from flan.cli import defaults
    from flan.cli.data_show import list_entries
    if args.collection is not None:
      defaults.check_collection(args.collection)
    if args.cluster is not None:
      defaults.check_cluster(args.cluster, args.collection)
    list_entries(collection=args.collection, cluster=args.cluster)
  elif args.data_command == "show":
    from flan.cli.data_show import show
    show(args.task, n=args.n, split=args.split, template=args.template, shots=args.shots,
         options=args.options, seed=args.seed)
  elif args.data_command == "export":
    from flan.cli.data_export import export
    counts = export(args.name, split=args.split, out=args.out, limit=args.limit,
                    shots=args.shots, options=args.options, seed=args.seed,
                    overwrite=args.overwrite)
    print(f"wrote {sum(counts.values())} examples of {len(counts)} entries to {args.out}")
  elif args.data_command == "stats":
    from flan.cli import data_stats
    data_stats.print_stats(args.mixture, as_json=args.json, steps=args.steps,
                              batch_size=args.batch_size,
                              examples_per_row=args.examples_per_row)
  elif args.data_command == "manifest":
    from flan.cli import data_manifest
    if args.out:
      print(f"wrote {data_manifest.write(args.out)}")
    else:
      print(data_manifest.generate(), end="")
  elif args.data_command == "prepare":
    from flan.cli import data_prepare
    names = list(args.names) + (["mix:synthetic"] if args.synthetic else [])
    if not names and not args.all:
      from flan.data.catalog import UnknownEntryError
      raise UnknownEntryError("name a mixture or task to prepare (e.g. mix:flan, flan:rte), "
                              "or pass --all or --synthetic")
    data_prepare.run(names, everything=args.all, data_dir=args.data_dir, jobs=args.jobs,
                     verbose=args.verbose, progress=not args.quiet, check_only=args.check)
  elif args.data_command == "vocab":
    import tempfile

    from flan.data import vocab_build
    if args.mixture:
      path = vocab_build.build_for_mixture(args.out, args.mixture, args.size,
                                           examples=args.examples, seed=args.seed,
                                           data_dir=args.data_dir, overwrite=args.overwrite)
      print(f"wrote {path} and {path}.json")
      return
    with tempfile.TemporaryDirectory() as tmp:
      path = vocab_build.build(args.out, data_dir=tmp)
    print(f"wrote {path}")


def cmd_demo(args):
  from flan.cli import defaults, demo
  defaults.check_cluster(args.heldout, "synthetic")  # before the datasets are prepared
  demo.run(out_dir=args.out, num_steps=args.steps, heldout=args.heldout, limit=args.limit)


def _size(text: str) -> int:
  """'5GB', '500MB', '123' (bytes) -> bytes."""
  units = {"KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}
  text = text.strip().upper()
  try:
    for unit, factor in units.items():
      if text.endswith(unit):
        return int(float(text[:-len(unit)]) * factor)
    return int(text)
  except ValueError:
    raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 5GB, 500MB)") from None


def cmd_import(args):
  from flan.export import hf_import
  out = hf_import.import_hf(args.source, args.out, param_dtype=args.param_dtype,
                            overwrite=args.overwrite, progress=not args.quiet)
  print(f"imported {args.source} into {out}\n"
        f"fine-tune: flan train --gin_file={out / hf_import.GIN_FILE} "
        f"--gin.MIXTURE=\"'mix:...'\" --gin.MODEL_DIR=\"'runs/...'\"")


def cmd_export(args):
  if args.export_command == "hf":
    from flan.export import hf_export
    out = hf_export.export_hf(args.checkpoint, args.out, dtype=args.dtype, step=args.step,
                              overwrite=args.overwrite, max_shard_bytes=args.max_shard_size,
                              progress=not args.quiet, eval_dir=args.eval)
  else:
    from flan.export import params_export
    out = params_export.export_params(args.checkpoint, args.out, dtype=args.dtype,
                                      step=args.step, overwrite=args.overwrite,
                                      progress=not args.quiet)
  print(f"wrote {out}")


def _add_import_export_parsers(sub) -> None:
  imp = sub.add_parser("import", help="import a Hugging Face checkpoint")
  imp_sub = imp.add_subparsers(dest="import_command", required=True)
  hf = imp_sub.add_parser("hf", help="a local Llama, Mistral, Qwen2/3 or Gemma 2/3 folder "
                                     "(safetensors, config.json, tokenizer.model or "
                                     "tokenizer.json) -> a flan model directory")
  hf.add_argument("--from", dest="source", required=True, help="the Hugging Face folder")
  hf.add_argument("--out", required=True, help="the flan model directory to create")
  hf.add_argument("--param_dtype", choices=("float32", "bfloat16"), default="float32",
                  help="dtype of the imported parameters")
  hf.add_argument("--overwrite", action="store_true", help="replace an existing --out")
  hf.add_argument("--quiet", action="store_true", help="no progress bar")
  exp = sub.add_parser("export", help="export a checkpoint (Hugging Face, params only)")
  exp_sub = exp.add_subparsers(dest="export_command", required=True)
  for name, text in (("hf", "a transformers folder of the model's family with tokenizer, chat "
                            "template, prompt format and model card"),
                     ("params", "parameters only (no optimizer state), as a flan model dir")):
    p = exp_sub.add_parser(name, help=text)
    p.add_argument("--checkpoint", required=True,
                   help="a model directory (latest step) or its checkpoints/<step> folder")
    p.add_argument("--out", required=True, help="the folder to create")
    p.add_argument("--dtype", choices=("float32", "bfloat16"), default=None,
                   help="dtype of the exported parameters (default: the checkpoint's)")
    p.add_argument("--step", type=_natural, default=None, help="checkpoint step (default: the latest)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    if name == "hf":
      p.add_argument("--max_shard_size", type=_size, default=5 << 30,
                     help="largest safetensors shard (default 5GB)")
      p.add_argument("--eval", default=None,
                     help="a `flan eval --out` folder: its results table goes into README.md")


def _add_render_flags(parser) -> None:
  from flan.data.render import OPTIONS_STYLES
  parser.add_argument("--shots", type=_natural, default=0, help="few-shot exemplars (0..16)")
  parser.add_argument("--options", choices=OPTIONS_STYLES, default="flan",
                      help="options block: FLAN's, none, or a random format per example")
  parser.add_argument("--seed", type=int, default=0, help="seeds exemplars and random formats")


def _add_eval_flags(parser) -> None:
  parser.add_argument("--splits", nargs="+", default=["validation", "test"],
                      choices=("train", "validation", "test"),
                      help="splits to evaluate: templates are selected on validation, "
                           "reported on test")
  parser.add_argument("--limit", type=_positive, default=100,
                      help="examples per split and entry")
  parser.add_argument("--shots", type=_natural, default=0,
                      help="few-shot exemplars (0 = zero-shot)")
  parser.add_argument("--quiet", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
  parser = _Parser(prog="flan", description=__doc__.splitlines()[0])
  parser.add_argument("-v", "--verbose", action="store_true",
                      help="show what TensorFlow, absl, Orbax, SeqIO and TFDS log (hidden by "
                           "default; may also come after the command)")
  sub = parser.add_subparsers(dest="command", required=True)

  demo = sub.add_parser("demo", help="train and evaluate zero-shot on the synthetic data")
  demo.add_argument("--out", default="runs/demo", help="output folder (resumes if present)")
  demo.add_argument("--steps", type=_positive, default=None,
                    help="training steps (default: demo.gin's)")
  demo.add_argument("--heldout", default="nli", help="the synthetic cluster to hold out")
  demo.add_argument("--limit", type=_positive, default=100, help="evaluation examples per task")

  train = sub.add_parser("train", help="train a model (gin-configured)", epilog=GIN_FLAGS_HELP,
                         description="Train (or resume) the model of a gin config; the run is "
                                     "written into its MODEL_DIR.",
                         usage="flan train --gin_file=F [--gin_file=F ...] [--gin.NAME=VALUE ...] "
                               "[--gin_bindings=B ...] [--distributed]")
  _add_gin_flags(train)
  train.add_argument("--distributed", action="store_true",
                     help="multi-host: jax.distributed.initialize() before anything else")

  pl = sub.add_parser("plan", help="per-device memory of a training config on a mesh",
                      epilog=GIN_FLAGS_HELP)
  _add_gin_flags(pl)
  pl.add_argument("--mesh", default=None,
                  help="data,fsdp,model sizes, e.g. 1,8,16 (default: the run's "
                       "trainer.train.mesh_shape; -1 takes the slice's remaining devices)")
  pl.add_argument("--topology", default=None,
                  help="a Cloud TPU slice (v3-128, v4-64, v5e-256, v5p-128, 2xv5e-256): compile "
                       "with the TPU compiler (needs libtpu: pip install 'jax[tpu]')")
  pl.add_argument("--accelerator", default=None,
                  help="without --topology, the memory to compare the CPU estimate with: "
                       "tpu-v3, tpu-v4, tpu-v5e, tpu-v5p, h100, h200")
  pl.add_argument("--full_compile", action="store_true", help="compile every layer")
  pl.add_argument("--no_forecast", action="store_true",
                  help="skip the MFU forecast (two more TPU compiles)")

  ev = sub.add_parser("eval", help="zero-shot (or few-shot) evaluation of a trained model")
  ev.add_argument("--model_dir", required=True, help="a trained model directory (its latest "
                                                    "checkpoint is evaluated)")
  group = ev.add_mutually_exclusive_group()
  group.add_argument("--task", help="an entry or task: rte, flan:rte, flan:rte:t3")
  group.add_argument("--cluster", help="every entry of a cluster (of --collection)")
  group.add_argument("--suite", help="a named suite of mixtures/suites.yaml, e.g. paper25")
  ev.add_argument("--collection", default=None,
                  help="the collection --cluster (or no selection: all entries) picks from "
                       "(default: the one MODEL_DIR was trained on, from its checkpoint)")
  _add_eval_flags(ev)
  ev.add_argument("--beam", type=_positive, default=1, help="beam size for generation (1 = greedy)")
  ev.add_argument("--out", default=None, help="output folder (default MODEL_DIR/eval)")

  sweep = sub.add_parser("sweep", help="train-and-evaluate sweeps")
  sweep_sub = sweep.add_subparsers(dest="sweep_command", required=True)
  holdout = sweep_sub.add_parser(
      "holdout", help="one run per held-out cluster: train on the rest, evaluate it zero-shot",
      epilog=GIN_FLAGS_HELP)
  _add_gin_flags(holdout)
  holdout.add_argument("--clusters", nargs="+", default=None,
                       help="clusters to hold out (default: every cluster of --collection)")
  holdout.add_argument("--collection", default=None,
                       help="the collection to sweep (default: the collection of the gin "
                            "config's MIXTURE; flan when it binds none)")
  holdout.add_argument("--out", default="runs/sweep", help="sweep folder (resumes if present)")
  holdout.add_argument("--print_only", action="store_true",
                       help="print one launch command per run (for a pod) instead of running")
  _add_eval_flags(holdout)

  data = sub.add_parser("data", help="inspect and prepare datasets")
  data_sub = data.add_subparsers(dest="data_command", required=True)
  lst = data_sub.add_parser("list", help="catalog entries")
  lst.add_argument("--collection", default=None, help="only this collection (default: all)")
  lst.add_argument("--cluster", default=None, help="only this cluster (default: all)")
  show = data_sub.add_parser("show", help="rendered examples of a task")
  show.add_argument("task", help="an entry or task name: rte, flan:rte, flan:rte:t3")
  show.add_argument("--n", type=_positive, default=3, help="examples to print")
  show.add_argument("--split", default="train", help="train, validation or test")
  show.add_argument("--template", type=_natural, default=None,
                    help="only this template index (default: the templates in turn)")
  _add_render_flags(show)
  export = data_sub.add_parser("export", help="rendered examples as JSONL")
  export.add_argument("name", help="a task (flan:rte, flan:rte:t3) or a mixture (mix:flan...)")
  export.add_argument("--split", required=True, help="train, validation or test")
  export.add_argument("--out", required=True, help="the .jsonl file to write")
  export.add_argument("--limit", type=_positive, default=None,
                      help="examples per entry: a task has one entry, a mixture one per training "
                           "dataset, so a mixture writes up to LIMIT lines for each (default: all)")
  export.add_argument("--overwrite", action="store_true", help="replace an existing --out")
  _add_render_flags(export)
  stats = data_sub.add_parser("stats", help="a mixture's datasets, rates and probabilities")
  stats.add_argument("mixture", help="mix:flan, mix:flan:heldout_nli, mix:flan:clusters_3, ...")
  stats.add_argument("--steps", type=_positive, default=None,
                     help="training steps, for expected counts")
  stats.add_argument("--batch_size", type=_positive, default=None, help="rows per step")
  stats.add_argument("--examples_per_row", type=float, default=1.0,
                     help="examples a packed row holds on average (1: unpacked)")
  stats.add_argument("--json", action="store_true", help="print JSON instead of tables")
  manifest = data_sub.add_parser("manifest", help="the catalog as a Markdown table")
  manifest.add_argument("--out", default=None, help="file to write (default: print)")
  prepare = data_sub.add_parser(
      "prepare", help="build the TFDS datasets that mixtures or tasks need, then print what is "
                      "ready, built, needs a manual download or failed")
  prepare.add_argument("names", nargs="*", help="mixtures (mix:flan:heldout_nli: the datasets "
                                                "it trains and evaluates on) or tasks (flan:rte)")
  prepare.add_argument("--all", action="store_true", help="every catalog entry")
  prepare.add_argument("--synthetic", action="store_true",
                       help="the offline synthetic datasets (same as naming mix:synthetic)")
  prepare.add_argument("--data_dir", default=None,
                       help="default: $FLAN_DATA_DIR, else $TFDS_DATA_DIR, else "
                            "~/tensorflow_datasets")
  prepare.add_argument("--jobs", type=_positive, default=1, help="datasets built at once (processes)")
  prepare.add_argument("--quiet", action="store_true", help="no progress bar")
  prepare.add_argument("--check", action="store_true",
                       help="only print what is ready and what is missing; build nothing")
  vocab = data_sub.add_parser(
      "vocab", help="train a SentencePiece vocabulary on a mixture (--mixture), or rebuild the "
                    "shipped demo vocabulary (no --mixture)")
  vocab.add_argument("--out", required=True, help="the .model file to write")
  vocab.add_argument("--mixture", default=None, help="e.g. mix:flan (its datasets prepared)")
  vocab.add_argument("--size", type=_positive, default=32000, help="pieces (with --mixture)")
  vocab.add_argument("--examples", type=_positive, default=100_000,
                     help="rendered examples sampled over the datasets, examples-proportional")
  vocab.add_argument("--seed", type=int, default=0, help="offsets the round-robin templates")
  vocab.add_argument("--data_dir", default=None, help="TFDS data directory (default: "
                                                     "$FLAN_DATA_DIR, else $TFDS_DATA_DIR)")
  vocab.add_argument("--overwrite", action="store_true", help="replace an existing --out")
  _add_import_export_parsers(sub)
  return parser


def _verbose_first(argv: list[str]) -> list[str]:
  """`flan train ... --verbose` means `flan --verbose train ...`: the flag is global."""
  flags = [a for a in argv if a in ("-v", "--verbose")]
  return flags[:1] + [a for a in argv if a not in ("-v", "--verbose")]


def _message(error: UserError) -> str:
  """The error's message without what gin appends to an error raised inside a configurable
  ("\n  In call to configurable 'train' (<function train at 0x7f...>)"): one line, or the
  lines of a message that lists things (the datasets a run still needs)."""
  message = re.sub(r"\n\s*In call to configurable '.*", "", str(error), flags=re.S).strip()
  return message or type(error).__name__


def main(argv: list[str] | None = None) -> int:
  argv = list(sys.argv[1:] if argv is None else argv)
  from flan.cli import data_prepare, gin_config
  try:
    gin_bindings, argv = gin_config.split_gin_flags(argv)
  except UserError as e:
    print(f"flan: error: {_message(e)}", file=sys.stderr)
    return 2
  args = build_parser().parse_args(_verbose_first(argv))
  # Before anything imports JAX or TensorFlow.
  runtime.setup(cpu_compute=args.command in CPU_COMPUTE_COMMANDS, verbose=args.verbose)
  try:
    if args.command == "train":
      cmd_train(args, gin_bindings)
    elif args.command == "plan":
      cmd_plan(args, gin_bindings)
    elif args.command == "eval":
      cmd_eval(args)
    elif args.command == "sweep":
      cmd_sweep(args, gin_bindings)
    elif args.command == "data":
      cmd_data(args)
    elif args.command == "demo":
      cmd_demo(args)
    elif args.command == "import":
      cmd_import(args)
    elif args.command == "export":
      cmd_export(args)
  except UserError as e:
    print(f"flan: error: {_message(e)}", file=sys.stderr)
    return 2
  except data_prepare.PrepareIncomplete:
    return 1
  return 0


if __name__ == "__main__":
  sys.exit(main())
