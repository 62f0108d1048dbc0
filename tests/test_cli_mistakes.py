"""The `flan` command as a careful user meets it: every name a user types is checked before any
work starts, and a mistake is one line with the fix (issue 17)."""

import importlib
import shlex
import subprocess
import sys

import pytest

from flan import cli
from flan.cli import gin_config


def run_cli(capsys, *argv):
  code = cli.main(list(argv))
  out, err = capsys.readouterr()
  return code, out, err


def flan_subprocess(*argv, cwd=None, env=None):
  """`flan ARGV` as a user runs it: (exit status, stdout, stderr)."""
  result = subprocess.run([sys.executable, "-m", "flan.cli", *argv], capture_output=True,
                          text=True, timeout=300, cwd=cwd, env=env)
  return result.returncode, result.stdout, result.stderr


# ------------------------------------------------------------------ gin bindings


def test_misspelled_macro_and_unquoted_string_stop_before_any_work(tmp_path):
  # A typo in a macro name used to train into the config's default MODEL_DIR.
  code, out, err = flan_subprocess("train", "--gin_file=demo.gin",
                                   f"--gin.MODEL_DIRR='{tmp_path}/run'", cwd=tmp_path)
  assert code == 2 and out == ""
  assert err.strip().splitlines() == [
      "flan: error: gin: --gin.MODEL_DIRR binds a macro that no config reads; did you mean "
      "MODEL_DIR or MODEL? (macros read: MIXTURE, MODEL, MODEL_DIR)"]
  assert list(tmp_path.iterdir()) == []  # no runs/demo/model, no config.gin
  code, out, err = flan_subprocess("train", "--gin_file=demo.gin", "--gin.MODEL_DIR=/tmp/x",
                                   cwd=tmp_path)
  assert code == 2 and list(tmp_path.iterdir()) == []
  assert err.strip().splitlines() == [
      "flan: error: gin: --gin.MODEL_DIR=/tmp/x is not a gin value; quote a string twice, once "
      "for the shell and once for gin: --gin.MODEL_DIR=\"'/tmp/x'\" (or MODEL_DIR = '/tmp/x' in "
      "--gin_bindings)"]


@pytest.mark.parametrize("binding, message", [
    ("trainer.train.num_stepz = 3",
     "gin: Configurable 'trainer.train' doesn't have a parameter named 'num_stepz'. Did you mean "
     "num_steps?"),
    ("trainer.trian.num_steps = 3",
     "gin: No configurable matching 'trainer.trian'. Did you mean trainer.train?"),
    ("config.ModelConfig.d_modl = 3",
     "gin: Configurable 'config.ModelConfig' doesn't have a parameter named 'd_modl'. Did you "
     "mean d_model?"),
    ("MIXTURE = mix:synthetic",
     "gin: --gin.MIXTURE=mix:synthetic is not a gin value; quote a string twice, once for the "
     "shell and once for gin: --gin.MIXTURE=\"'mix:synthetic'\" (or MIXTURE = 'mix:synthetic' in "
     "--gin_bindings)"),
    ("MODEL_DIR = 'x", "gin: --gin.MODEL_DIR='x is not a gin value (unbalanced quotes or "
                       "brackets?)"),
])
def test_bad_bindings_name_the_binding_and_the_fix(binding, message):
  with pytest.raises(gin_config.GinError) as e:
    gin_config.parse(["demo.gin"], [binding])
  assert str(e.value) == message


def test_binding_of_a_configurable_the_config_never_calls(tmp_path):
  config = tmp_path / "constant_lr.gin"
  config.write_text("from __gin__ import dynamic_registration\nfrom flan.train import optimizer\n"
                    "include 'models/tiny.gin'\ninclude 'runs/train.gin'\n"
                    "optimizer.warmup_rsqrt_schedule.warmup_steps = 10\n")
  with pytest.raises(gin_config.GinError) as e:
    gin_config.parse([str(config)], ["optimizer.warmup_rsqrt_schedule.warmup_steps = 3"])
  assert str(e.value) == (
      "gin: --gin.optimizer.warmup_rsqrt_schedule.warmup_steps binds a parameter of "
      "flan.train.optimizer.warmup_rsqrt_schedule, which this config never calls (it calls "
      "config.ModelConfig, optimizer.adafactor, trainer.train)")


def test_bindings_that_are_read_parse():
  import gin
  gin_config.parse(["demo.gin"], ["MODEL_DIR = '/tmp/x'", "trainer.train.num_steps = 7",
                                  "optimizer.warmup_rsqrt_schedule.warmup_steps = 3",
                                  "optimizer.adafactor.decay_rate = 0.5"])
  assert gin.query_parameter("%MODEL_DIR") == "/tmp/x"
  assert gin.query_parameter("flan.train.trainer.train.num_steps") == 7


# ------------------------------------------------------------------ results table


def test_majority_baseline_and_constant_answer_note():
  from flan.data import render
  from flan.eval import aggregate, evaluate

  def example(answer):
    return render.Example(inputs="q", targets=answer, answers=(answer,), options=("yes", "no"))

  examples = [example(a) for a in ("yes", "yes", "yes", "no")]
  assert evaluate.majority("accuracy", examples) == 0.75
  assert evaluate.majority("squad", examples) is None
  assert evaluate.top_answer(["yes", "no", "yes", "yes"]) == ("yes", 0.75)
  assert evaluate.top_answer([]) == (None, None)

  def rows(task, cluster, top_share, split="test"):
    return [{"task": task, "entry": task, "cluster": cluster, "template": t, "split": split,
             "shots": 0, "metric": "accuracy", "score": 0.47, "scores": {"accuracy": 0.47},
             "chance": 0.5, "majority": 0.53, "top_answer": "yes", "top_share": top_share,
             "num_examples": 100} for t in (0, 1)]

  summary = aggregate.summarize(rows("rte", "nli", 1.0) + rows("sst2", "sentiment", 0.6),
                                heldout={"nli"})
  rte = summary[0]
  assert (rte["majority"], rte["top_share"], rte["top_answers"]) == (0.53, 1.0, ["yes"])
  table = aggregate.markdown_table(summary)
  lines = table.splitlines()
  assert lines[0].endswith("| chance | majority class | other scores |")
  assert lines[2] == "| rte | nli | held-out | accuracy | test | 100 | 47.0 | – | 50.0 | 53.0 |  |"
  notes = lines[lines.index("") + 1:]
  assert notes == [
      "- rte: the model answers 'yes' to 100.0% of the test examples (mean over templates): a "
      "constant answer, so its score is that label's share of the examples (always answering "
      "the commonest gold answer scores 53.0).",
      "- held-out tasks: near chance is the faithful result for a small model; the paper finds "
      "instruction tuning helps held-out clusters only at 68B and 137B parameters (it hurts at "
      "8B and below)."]
  # Nothing held out and no constant answer: no notes at all.
  assert "" not in aggregate.markdown_table(
      aggregate.summarize(rows("sst2", "sentiment", 0.6))).splitlines()


# ------------------------------------------------------------------ collections and clusters


def test_help_shows_the_gin_flag_form_and_every_default():
  code, out, _ = flan_subprocess("train", "--help")
  assert code == 0
  assert "--gin.NAME=VALUE" in out and "--gin.MODEL_DIR=\"'runs/my_run'\"" in out
  assert "--gin_file GIN_FILE   gin file (repeatable)" in out
  main = importlib.import_module("flan.cli.main")
  parser = main.build_parser()
  eval_help = parser._subparsers._group_actions[0].choices["eval"].format_help()
  assert "(default: the one MODEL_DIR was trained on" in " ".join(eval_help.split())
  assert "(default: validation test)" in " ".join(eval_help.split())
  assert "(default: 100)" in eval_help and "(default: 0)" in eval_help


@pytest.mark.parametrize("argv, message", [
    (["data", "list", "--cluster", "nlii"], "unknown cluster 'nlii'; did you mean nli? (known: "),
    (["data", "list", "--collection", "flaan"],
     "unknown collection 'flaan'; did you mean flan? (known: flan, synthetic)"),
    (["data", "list", "--collection", "synthetic", "--cluster", "translation"],
     "collection 'synthetic' has no entries in cluster 'translation'; its clusters: nli, "
     "sentiment, struct_to_text, arithmetic"),
    (["eval", "--model_dir", "/nonexistent", "--cluster", "nlii"], "unknown cluster 'nlii'"),
    (["eval", "--model_dir", "/nonexistent", "--cluster", "nli"],
     "model directory /nonexistent does not exist"),
    (["eval", "--model_dir", "/nonexistent", "--collection", "flaan"], "unknown collection"),
    (["eval", "--model_dir", "/nonexistent", "--task", "rte", "--collection", "flaan"],
     "unknown collection"),
    (["sweep", "holdout", "--gin_file=demo.gin", "--print_only", "--clusters", "nlii"],
     "unknown cluster 'nlii'"),
    (["sweep", "holdout", "--gin_file=demo.gin", "--print_only", "--collection", "flaan"],
     "unknown collection 'flaan'"),
    (["sweep", "holdout", "--gin_file=demo.gin", "--print_only", "--gin.MIXTUR='x'"],
     "gin: --gin.MIXTUR binds a macro that no config reads; did you mean MIXTURE?"),
    (["data", "show", "synth_reviews", "--n", "0"], "argument --n: must be 1 or more, got 0"),
    (["data", "export", "synth_reviews", "--split", "train", "--out", "x.jsonl", "--limit", "0"],
     "argument --limit: must be 1 or more, got 0"),
])
def test_unknown_names_are_one_line_errors(capsys, argv, message):
  with pytest.raises(SystemExit) if "argument" in message else _nothing():
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and out == ""
  if "argument" in message:
    err = capsys.readouterr().err
  assert len(err.strip().splitlines()) == 1 and message in err


class _nothing:
  def __enter__(self):
    return self

  def __exit__(self, *exc):
    return False


def write_meta(model_dir, step, mixture):
  meta = model_dir / "checkpoints" / str(step) / "meta"
  meta.mkdir(parents=True)
  (meta / "metadata").write_text(f'{{"step": {step}, "mixture": "{mixture}"}}')


def test_eval_takes_the_collection_the_model_was_trained_on(tmp_path):
  from flan.cli import defaults
  main = importlib.import_module("flan.cli.main")
  from flan.data import catalog

  def specs(*argv):
    args = main.build_parser().parse_args(["eval", "--model_dir", str(tmp_path), *argv])
    return [s.name for s in main._eval_specs(args)]

  flan_nli = [s.name for s in catalog.entries(collection="flan", cluster="nli")]
  synthetic_nli = [s.name for s in catalog.entries(collection="synthetic", cluster="nli")]
  with pytest.raises(catalog.UnknownEntryError, match="no record of what it was trained on; "
                                                      "pass --collection"):
    specs("--cluster", "nli")
  (tmp_path / "config.gin").write_text("MIXTURE = 'mix:synthetic'\n")
  assert specs("--cluster", "nli") == synthetic_nli
  write_meta(tmp_path, 5, "mix:synthetic")
  write_meta(tmp_path, 10, "mix:flan:heldout_nli")  # the newest checkpoint's mixture wins
  assert defaults.trained_mixture(tmp_path) == "mix:flan:heldout_nli"
  assert specs("--cluster", "nli") == flan_nli and "rte" in flan_nli
  assert specs("--cluster", "nli", "--collection", "synthetic") == synthetic_nli


def test_sweep_print_only_trains_on_the_gin_configs_collection(tmp_path):
  code, out, err = flan_subprocess("sweep", "holdout", "--gin_file=demo.gin", "--print_only",
                                   "--out", str(tmp_path))
  assert code == 0, err
  lines = out.splitlines()
  mixtures = [arg.split(" = ")[1] for line in lines for arg in shlex.split(line)
              if arg.startswith("--gin_bindings=MIXTURE")]
  assert mixtures == [
      "'mix:synthetic:heldout_nli'", "'mix:synthetic:heldout_sentiment'",
      "'mix:synthetic:heldout_struct_to_text'", "'mix:synthetic:heldout_arithmetic'"]
  assert all("--collection=synthetic" in line for line in lines)
  assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ a broken template file


def test_a_broken_template_file_fails_only_what_reads_it(capsys, tmp_path, monkeypatch,
                                                          synthetic_data_dir, use_data_dir):
  import shutil

  import yaml

  from flan.data import catalog
  for name in ("synth_reviews", "synth_containment"):
    shutil.copy(catalog.TEMPLATES_DIR / f"{name}.yaml", tmp_path)
  data = yaml.safe_load((catalog.TEMPLATES_DIR / "rte.yaml").read_text())
  data["templates"][3]["input"] = data["templates"][3]["input"].replace("{premise}", "{premis}")
  (tmp_path / "rte.yaml").write_text(yaml.safe_dump(data))
  monkeypatch.setenv("FLAN_TEMPLATES_DIR", str(tmp_path))
  use_data_dir(synthetic_data_dir)
  broken = "rte.yaml: template 3: input has unknown placeholder '{premis}'"

  code, out, err = run_cli(capsys, "data", "show", "synth_reviews", "--n", "1")
  assert code == 0 and out.count("=== synth_reviews [train] example") == 1, err
  assert [s.name for s in catalog.entries(collection="synthetic")] == ["synth_containment",
                                                                       "synth_reviews"]
  code, out, err = run_cli(capsys, "data", "show", "rte")
  assert code == 2 and out == "" and len(err.splitlines()) == 1 and broken in err
  with pytest.raises(catalog.CatalogError, match="rte.yaml"):  # a flan mixture would lose rte
    catalog.entries(collection="flan", cluster="nli")
  code, out, err = run_cli(capsys, "data", "list")
  assert code == 2 and broken in err and len(err.splitlines()) == 1
  assert [line.split()[:3] for line in out.splitlines()[1:]] == [
      ["rte", "nli", "BROKEN"], ["synth_containment", "nli", "classification"],
      ["synth_reviews", "sentiment", "classification"]]
  code, out, _ = run_cli(capsys, "data", "list", "--collection", "synthetic")
  assert code == 0 and "rte" not in out


# ------------------------------------------------------------------ sweep results


def sweep_row(collection, task, paper):
  return {"heldout": "nli", "collection": collection, "task": task, "cluster": "nli",
          "metric": "accuracy", "score": "accuracy", "num_examples": 100, "mean": 0.47,
          "best_template": 0, "ours": 0.47, "paper": paper}


def test_sweep_table_compares_like_with_like():
  from flan.cli import sweep
  synthetic = sweep.markdown_results([sweep_row("synthetic", "synth_containment", None)])
  assert "FLAN 137B" not in synthetic
  assert synthetic.splitlines()[-1] == "| nli | 1 | 47.0 |"  # no paper cluster average beside it
  real = sweep.markdown_results([sweep_row("flan", "rte", 0.84)]).splitlines()
  assert real[0].endswith("| FLAN 137B (paper) |") and real[2].endswith("| 47.0 (t0) | 84.0 |")
  assert real[-1].startswith("| nli | 1 | 47.0 | ")  # the paper's Figure 1 NLI average


@pytest.mark.parametrize("paper", [None, 0.84])
def test_sweep_plot_legend_covers_no_bar(paper):
  import matplotlib.pyplot as plt

  from flan.cli import sweep
  rows = [sweep_row("flan", f"task{i}", paper) for i in range(3)]
  for row in rows:
    row["ours"] = 0.95  # long bars: the old lower-right legend sat on them
  fig = sweep.results_figure(rows)
  fig.canvas.draw()
  ax = fig.axes[0]
  legend = ax.get_legend().get_window_extent()
  assert not any(legend.overlaps(bar.get_window_extent()) for bar in ax.patches)
  assert len(ax.patches) == (6 if paper else 3)
  plt.close(fig)


@pytest.mark.parametrize("argv, message", [
    (["data", "stats", "mix:synthetc"],
     "unknown collection 'synthetc'; did you mean synthetic? (known: flan, synthetic)"),
    (["data", "stats", "mix:synthetic:heldout_nlii"], "unknown cluster 'nlii'; did you mean nli?"),
    (["eval", "--model_dir", "/nonexistent", "--task", "rte", "--splits", "tset"],
     "argument --splits: invalid choice: 'tset'"),
])
def test_mixture_and_split_names_are_checked(capsys, argv, message):
  try:
    code, out, err = run_cli(capsys, *argv)
  except SystemExit as e:  # argparse
    code, err = e.code, capsys.readouterr().err
  assert code == 2 and len(err.strip().splitlines()) == 1 and message in err


def test_demo_checks_the_heldout_cluster_before_preparing_data(capsys, tmp_path, use_data_dir):
  use_data_dir(tmp_path / "data")
  code, _, err = run_cli(capsys, "demo", "--heldout", "nlii", "--out", str(tmp_path / "demo"))
  assert code == 2 and "unknown cluster 'nlii'; did you mean nli?" in err
  code, _, err = run_cli(capsys, "demo", "--heldout", "translation",
                         "--out", str(tmp_path / "demo"))
  assert code == 2 and "collection 'synthetic' has no entries in cluster 'translation'" in err
  assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("mesh", ["1,1,x", "1,1", "0,1,1"])
def test_plan_mesh_is_a_one_line_error(capsys, mesh):
  code, _, err = run_cli(capsys, "plan", "--gin_file=demo.gin", f"--mesh={mesh}")
  assert code == 2 and err.strip().splitlines() == [
      f"flan: error: --mesh must be three positive sizes data,fsdp,model (one may be -1: the "
      f"slice's remaining devices, 1 on the CPU stand-in); got {mesh}"]


def test_misspelt_gin_file_suggests_the_configs():
  with pytest.raises(gin_config.GinError) as e:
    gin_config.parse(["models/tiyn.gin"], [])
  assert str(e.value).endswith("; did you mean models/tiny.gin or models/demo.gin?")


def test_several_bindings_in_one_flag_are_each_checked():
  import gin
  gin_config.parse(["demo.gin"], ["trainer.train.num_steps = 7\nMODEL_DIR = '/tmp/y'"])
  assert gin.query_parameter("%MODEL_DIR") == "/tmp/y"
  with pytest.raises(gin_config.GinError, match="--gin.MODEL_DIRR binds a macro"):
    gin_config.parse(["demo.gin"], ["trainer.train.num_steps = 7\nMODEL_DIRR = '/tmp/y'"])
