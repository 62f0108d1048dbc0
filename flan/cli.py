"""The `flan` command.

    flan demo [--out runs/demo]                         the whole loop on the offline synthetic data
    flan train --gin_file=F [--gin.NAME=VALUE ...]      train (T5X-style gin flags), resumes
    flan eval --model_dir D [--task T | --cluster C]    zero-shot evaluation of a trained model
    flan data list [--cluster C] [--collection X]      entries, metrics, split sizes where prepared
    flan data show TASK [--template N] [--shots K] [--options flan|none|random]
    flan data export TASK_OR_MIXTURE --split S --out F.jsonl [--limit N] [--shots K] [--options O]
    flan data manifest [--out templates/MANIFEST.md] | prepare --synthetic | vocab --out F

Errors a user can fix (unknown task, malformed template, missing dataset, bad gin binding) are
printed as one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow only feeds data here


class _Parser(argparse.ArgumentParser):
  """argparse with the project's error form: one line, exit status 2."""

  def error(self, message):
    self.exit(2, f"flan: error: {message} (see `{self.prog} --help`)\n")


def _user_errors():
  from flan.catalog import CatalogError, UnknownEntryError
  from flan.data_dir import DatasetNotPreparedError
  from flan.data_export import ExportError
  from flan.fewshot import FewshotError
  from flan.gin_utils import GinError
  from flan.train.trainer import TrainingError
  return (CatalogError, UnknownEntryError, DatasetNotPreparedError, GinError, TrainingError,
          FileNotFoundError, ExportError, FewshotError)


def cmd_train(args, gin_bindings):
  from flan import gin_utils
  from flan.train import trainer

  gin_utils.parse(args.gin_file, list(args.gin_bindings) + gin_bindings)
  return gin_utils.train_with_configs(trainer.train)


def cmd_eval(args):
  from flan import catalog, mixtures
  from flan.eval import runner

  if args.task:
    from flan import tasks
    specs = [tasks.resolve(args.task)[0]]
  elif args.cluster:
    specs = catalog.entries(collection=args.collection, cluster=args.cluster)
    mixtures.excluded_clusters(args.cluster)  # validates the cluster name
  else:
    specs = catalog.entries(collection=args.collection)
  out = args.out or os.path.join(args.model_dir, "eval")
  summary = runner.evaluate_model(args.model_dir, specs, out_dir=out, split=args.split,
                                  limit=args.limit)
  print(runner.format_summary(summary))


def cmd_data(args):
  from flan import catalog

  if args.data_command == "list":
    from flan.data_show import list_entries
    catalog.catalog()  # a malformed entry fails here, before anything is printed
    list_entries(collection=args.collection, cluster=args.cluster)
  elif args.data_command == "show":
    from flan.data_show import show
    show(args.task, n=args.n, split=args.split, template=args.template, shots=args.shots,
         options=args.options, seed=args.seed)
  elif args.data_command == "export":
    from flan.data_export import export
    counts = export(args.name, split=args.split, out=args.out, limit=args.limit,
                    shots=args.shots, options=args.options, seed=args.seed,
                    overwrite=args.overwrite)
    print(f"wrote {sum(counts.values())} examples of {len(counts)} entries to {args.out}")
  elif args.data_command == "manifest":
    from flan import manifest
    if args.out:
      print(f"wrote {manifest.write(args.out)}")
    else:
      print(manifest.generate(), end="")
  elif args.data_command == "prepare":
    from flan import data_dir, synthetic
    for builder in synthetic.prepare(data_dir=args.data_dir or data_dir.data_dir()).values():
      print(f"prepared {builder.info.full_name} in {builder.data_dir}")
  elif args.data_command == "vocab":
    import tempfile

    from flan import vocab
    with tempfile.TemporaryDirectory() as tmp:
      path = vocab.build(args.out, data_dir=tmp)
    print(f"wrote {path}")


def cmd_demo(args):
  from flan import demo
  demo.run(out_dir=args.out, num_steps=args.steps, heldout=args.heldout, limit=args.limit)


def _add_render_flags(parser) -> None:
  from flan.render import OPTIONS_STYLES
  parser.add_argument("--shots", type=int, default=0, help="few-shot exemplars (0..16)")
  parser.add_argument("--options", choices=OPTIONS_STYLES, default="flan",
                      help="options block: FLAN's, none, or a random format per example")
  parser.add_argument("--seed", type=int, default=0, help="seeds exemplars and random formats")


def build_parser() -> argparse.ArgumentParser:
  parser = _Parser(prog="flan", description=__doc__.splitlines()[0])
  sub = parser.add_subparsers(dest="command", required=True)

  demo = sub.add_parser("demo", help="train and evaluate zero-shot on the synthetic data")
  demo.add_argument("--out", default="runs/demo", help="output folder (resumes if present)")
  demo.add_argument("--steps", type=int, default=None, help="override the number of steps")
  demo.add_argument("--heldout", default="nli", help="the synthetic cluster to hold out")
  demo.add_argument("--limit", type=int, default=100, help="evaluation examples per task")

  train = sub.add_parser("train", help="train a model (gin-configured)")
  train.add_argument("--gin_file", action="append", default=[], required=True)
  train.add_argument("--gin_bindings", action="append", default=[])

  ev = sub.add_parser("eval", help="zero-shot evaluation of a trained model")
  ev.add_argument("--model_dir", required=True)
  group = ev.add_mutually_exclusive_group()
  group.add_argument("--task")
  group.add_argument("--cluster")
  ev.add_argument("--collection", default="synthetic")
  ev.add_argument("--split", default="test")
  ev.add_argument("--limit", type=int, default=100)
  ev.add_argument("--out", default=None)

  data = sub.add_parser("data", help="inspect and prepare datasets")
  data_sub = data.add_subparsers(dest="data_command", required=True)
  lst = data_sub.add_parser("list", help="catalog entries")
  lst.add_argument("--collection", default=None)
  lst.add_argument("--cluster", default=None)
  show = data_sub.add_parser("show", help="rendered examples of a task")
  show.add_argument("task", help="an entry or task name: rte, flan:rte, flan:rte:t3")
  show.add_argument("--n", type=int, default=3)
  show.add_argument("--split", default="train")
  show.add_argument("--template", type=int, default=None)
  _add_render_flags(show)
  export = data_sub.add_parser("export", help="rendered examples as JSONL")
  export.add_argument("name", help="a task (flan:rte, flan:rte:t3) or a mixture (mix:flan...)")
  export.add_argument("--split", required=True)
  export.add_argument("--out", required=True, help="the .jsonl file to write")
  export.add_argument("--limit", type=int, default=None, help="examples per entry")
  export.add_argument("--overwrite", action="store_true", help="replace an existing --out")
  _add_render_flags(export)
  manifest = data_sub.add_parser("manifest", help="the catalog as a Markdown table")
  manifest.add_argument("--out", default=None, help="file to write (default: print)")
  prepare = data_sub.add_parser("prepare", help="build the synthetic datasets (no download)")
  prepare.add_argument("--synthetic", action="store_true", required=True)
  prepare.add_argument("--data_dir", default=None)
  vocab = data_sub.add_parser("vocab", help="rebuild the demo SentencePiece vocabulary")
  vocab.add_argument("--out", required=True)
  return parser


def main(argv: list[str] | None = None) -> int:
  argv = list(sys.argv[1:] if argv is None else argv)
  from flan import gin_utils
  try:
    gin_bindings, argv = gin_utils.split_gin_flags(argv)
  except gin_utils.GinError as e:
    print(f"flan: error: {e}", file=sys.stderr)
    return 2
  args = build_parser().parse_args(argv)
  errors = _user_errors()
  try:
    if args.command == "train":
      cmd_train(args, gin_bindings)
    elif args.command == "eval":
      cmd_eval(args)
    elif args.command == "data":
      cmd_data(args)
    elif args.command == "demo":
      cmd_demo(args)
  except errors as e:
    print(f"flan: error: {e}", file=sys.stderr)
    return 2
  return 0


if __name__ == "__main__":
  sys.exit(main())
