"""The `flan` command: rendered examples, and one clear line plus exit status 2 on bad input."""

import subprocess
import sys

import yaml

from flan import cli


def run_cli(capsys, *argv):
  code = cli.main(list(argv))
  out, err = capsys.readouterr()
  return code, out, err


def test_data_show_prints_rendered_examples(capsys, synthetic_data_dir, use_data_dir):
  use_data_dir(synthetic_data_dir)
  code, out, err = run_cli(capsys, "data", "show", "flan:synth_reviews", "--n", "3")
  assert code == 0, err
  assert out.count("=== synth_reviews [train] example") == 3
  assert "OPTIONS:\n- negative\n- positive" in out
  assert "--- targets\n" in out


def test_unknown_task_suggests_close_names(capsys):
  code, _, err = run_cli(capsys, "data", "show", "flan:synth_reviw")
  assert code == 2
  assert err.strip().startswith("flan: error: unknown catalog entry 'synth_reviw'; did you mean "
                                 "synth_reviews")
  assert len(err.strip().splitlines()) == 1


def test_missing_dataset_names_the_builder_and_the_fix(capsys, tmp_path, use_data_dir):
  use_data_dir(tmp_path)
  code, _, err = run_cli(capsys, "data", "show", "rte")
  assert code == 2
  assert len(err.strip().splitlines()) == 1
  assert "super_glue/rte:1.0.2 is not prepared in" in err
  assert f"run `flan data prepare rte --data_dir {tmp_path}` on a machine with network" in err


def test_missing_synthetic_dataset_points_at_prepare(capsys, tmp_path, use_data_dir):
  use_data_dir(tmp_path)
  code, _, err = run_cli(capsys, "data", "show", "synth_addition")
  assert code == 2 and f"run `flan data prepare synth_addition --data_dir {tmp_path}`" in err


def test_malformed_template_file(capsys, tmp_path, monkeypatch):
  from flan.data import catalog
  data = yaml.safe_load((catalog.TEMPLATES_DIR / "rte.yaml").read_text())
  data["templates"][3]["input"] = data["templates"][3]["input"].replace("{premise}", "{premis}")
  (tmp_path / "rte.yaml").write_text(yaml.safe_dump(data))
  monkeypatch.setenv("FLAN_TEMPLATES_DIR", str(tmp_path))
  code, _, err = run_cli(capsys, "data", "list")
  assert code == 2
  assert "rte.yaml: template 3: input has unknown placeholder '{premis}'" in err
  assert "did you mean '{premise}'" in err


def test_unknown_gin_binding(capsys):
  code, _, err = run_cli(capsys, "train", "--gin_file=demo.gin",
                         "--gin.trainer.train.num_stepz=3")
  assert code == 2
  assert err.startswith("flan: error: gin:") and "num_stepz" in err


def test_missing_gin_file(capsys):
  code, _, err = run_cli(capsys, "train", "--gin_file=nope.gin")
  assert code == 2 and "gin file 'nope.gin' not found" in err


def test_console_entry_point_exit_status():
  result = subprocess.run([sys.executable, "-m", "flan.cli", "data", "show", "flan:nope"],
                          capture_output=True, text=True, timeout=120)
  assert result.returncode == 2
  assert result.stderr.strip().splitlines()[-1].startswith("flan: error: unknown catalog entry")


def test_train_command_with_gin_flags(capsys, tmp_path, synthetic_data_dir, use_data_dir):
  use_data_dir(synthetic_data_dir)
  model_dir = tmp_path / "run"
  argv = ["train", "--gin_file=models/tiny.gin", "--gin_file=runs/train.gin",
          "--gin.MIXTURE='flan:synth_reviews'", f"--gin.MODEL_DIR='{model_dir}'",
          "--gin.trainer.train.num_steps=4", "--gin.trainer.train.inputs_length=96",
          "--gin.trainer.train.targets_length=32", "--gin.trainer.train.checkpoint_every=2",
          "--gin.trainer.train.log_every=2", "--gin.trainer.train.progress=False"]
  code, out, err = run_cli(capsys, *argv)
  assert code == 0, err
  assert out.splitlines()[-2:] == [
      f"{model_dir}: trained to step 4 (checkpoints/, metrics.jsonl, operative_config.gin)",
      f"next: flan eval --model_dir {model_dir} --task TASK (or --cluster C)"]
  assert sorted(p.name for p in (model_dir / "checkpoints").iterdir()) == ["2", "4"]
  code, out, err = run_cli(capsys, *argv)  # again: nothing left to train
  assert code == 0, err
  assert out.splitlines()[-2] == (
      f"{model_dir}: the run is already complete at step 4 (num_steps = 4); nothing was "
      f"trained. To train longer, raise --gin.trainer.train.num_steps")
  assert len((model_dir / "metrics.jsonl").read_text().splitlines()) == 2
  operative = (model_dir / "operative_config.gin").read_text()
  assert "num_steps = 4" in operative and "learning_rate = 3e-05" in operative
  assert (model_dir / "config.gin").exists()
