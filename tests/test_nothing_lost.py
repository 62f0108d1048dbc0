"""Nothing a user has is lost by a failed or repeated command (issue 17, items 1-3): a failed
`flan eval` leaves the previous results as they were; export and import folders replace only
what flan wrote; `flan train` writes nothing before the run can start."""

import json
import os
import subprocess
import sys

import pytest

from flan import cli
from flan.data import catalog
from flan.eval import evaluate, runner
from flan.export import ConversionError, output

from test_model_dir import make_model_dir


def snapshot(folder):
  """{name: bytes, or the snapshot of a subfolder} of everything in `folder`."""
  return {p.name: snapshot(p) if p.is_dir() else p.read_bytes() for p in sorted(folder.iterdir())}


def test_failed_eval_leaves_the_previous_results(tmp_path, synthetic_data_dir, use_data_dir,
                                                 capsys, monkeypatch):
  use_data_dir(synthetic_data_dir)
  model_dir = make_model_dir(tmp_path / "model")
  out = model_dir / "eval"  # the default --out
  args = ["eval", "--model_dir", str(model_dir), "--limit", "2", "--splits", "test", "--quiet"]
  assert cli.main(args + ["--task", "flan:synth_reviews:t0"]) == 0
  before = snapshot(out)
  assert sorted(before) == sorted(runner.RESULT_FILES)
  assert len(before["predictions.jsonl"].splitlines()) == 2
  capsys.readouterr()

  # A task whose data is not prepared: refused before anything is written.
  assert cli.main(args + ["--task", "rte"]) == 2
  err = capsys.readouterr().err
  assert err.startswith("flan: error: 1 of the datasets this run needs are not prepared"), err
  assert "flan data prepare rte --data_dir" in err
  assert snapshot(out) == before

  # A failure half-way (predictions already written for the first entry): nothing changes.
  calls = []

  def fail_second(*a, **k):
    calls.append(1)
    if len(calls) == 2:
      raise RuntimeError("boom")
    return evaluate_entry(*a, **k)

  evaluate_entry = evaluate.evaluate_entry
  with monkeypatch.context() as patch, pytest.raises(RuntimeError, match="boom"):
    patch.setattr(evaluate, "evaluate_entry", fail_second)
    runner.evaluate_model(str(model_dir), [catalog.get("synth_reviews"),
                                           catalog.get("synth_tweets")],
                          out_dir=str(out), splits=("test",), limit=2, progress=False)
  assert len(calls) == 2
  assert snapshot(out) == before  # no staging folder left either

  # A successful evaluation replaces every result file; a user's file stays.
  (out / "notes.txt").write_text("mine")
  assert cli.main(args + ["--task", "flan:synth_tweets:t0"]) == 0
  after = snapshot(out)
  assert sorted(after) == sorted([*runner.RESULT_FILES, "notes.txt"])
  assert b"synth_tweets" in after["summary.json"] and b"synth_reviews" not in after["summary.json"]

  # An eval into a new folder that fails leaves no folder behind.
  assert cli.main(args + ["--task", "rte", "--out", str(tmp_path / "new")]) == 2
  assert not (tmp_path / "new").exists()


def write_flan_output(out, files, command="export hf"):
  with output.staged_output(out, overwrite=True, command=command) as tmp:
    for name, text in files.items():
      (tmp / name).write_text(text)


def test_output_folders_replace_only_what_flan_wrote(tmp_path):
  out = tmp_path / "out"
  out.mkdir()
  write_flan_output(out, {"a.json": "1", "b.bin": "2"})  # an empty folder is fine
  assert json.loads((out / output.MARKER).read_text()) == {"command": "export hf",
                                                            "files": ["a.json", "b.bin"]}
  (out / "NOTES.md").write_text("notes")
  (out / "plots").mkdir()
  (out / "plots" / "x.png").write_text("png")
  with pytest.raises(ConversionError, match="already exists; pass --overwrite"):
    output.check_output(out, overwrite=False)
  write_flan_output(out, {"a.json": "3", "c.txt": "4"})
  got = snapshot(out)
  assert got == {output.MARKER: got[output.MARKER], "NOTES.md": b"notes", "a.json": b"3",
                 "c.txt": b"4", "plots": {"x.png": b"png"}}  # b.bin (flan's, old) is gone
  assert json.loads((out / output.MARKER).read_text())["files"] == ["a.json", "c.txt"]
  # A user's file with the name of a new output file: refused, nothing changes.
  (out / "d.txt").write_text("user's d")
  before = snapshot(out)
  with pytest.raises(ConversionError, match="holds d.txt, which flan did not write"):
    write_flan_output(out, {"a.json": "5", "d.txt": "6"})
  assert snapshot(out) == before and sorted(p.name for p in tmp_path.iterdir()) == ["out"]
  # A folder flan did not write: refused, with or without --overwrite.
  theirs = tmp_path / "theirs"
  theirs.mkdir()
  (theirs / "thesis.tex").write_text("years of work")
  for overwrite in (False, True):
    with pytest.raises(ConversionError, match="not empty and was not written by flan"):
      output.check_output(theirs, overwrite=overwrite)
  assert snapshot(theirs) == {"thesis.tex": b"years of work"}


def test_export_and_import_refuse_a_folder_flan_did_not_write(tmp_path, capsys):
  model_dir = make_model_dir(tmp_path / "model")
  theirs = tmp_path / "theirs"
  theirs.mkdir()
  (theirs / "thesis.tex").write_text("years of work")
  assert cli.main(["export", "hf", "--checkpoint", str(model_dir), "--out", str(tmp_path / "hf"),
                   "--quiet"]) == 0
  for argv in (["export", "hf", "--checkpoint", model_dir],
               ["export", "params", "--checkpoint", model_dir],
               ["import", "hf", "--from", tmp_path / "hf"]):
    assert cli.main([*map(str, argv), "--out", str(theirs), "--overwrite", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "was not written by flan" in err and err.count("\n") == 1, err
  assert snapshot(theirs) == {"thesis.tex": b"years of work"}


def test_train_writes_nothing_when_the_data_is_missing(tmp_path):
  """A subprocess `flan train` as a user runs it: exit 2, one line, no model folder."""
  model_dir = tmp_path / "runs" / "x"
  env = dict(os.environ, FLAN_DATA_DIR=str(tmp_path / "empty"), JAX_PLATFORMS="cpu",
             TF_CPP_MIN_LOG_LEVEL="3")
  env.pop("FLAN_CACHE_DIR", None)
  result = subprocess.run(
      [sys.executable, "-m", "flan.cli", "train", "--gin_file=models/tiny.gin",
       "--gin_file=runs/train.gin", "--gin.MIXTURE='mix:synthetic:heldout_nli'",
       f"--gin.MODEL_DIR='{model_dir}'"], env=env, capture_output=True, text=True, timeout=300)
  assert result.returncode == 2, result.stderr[-2000:]
  lines = [l for l in result.stderr.splitlines() if l.startswith("flan: error:")]
  assert len(lines) == 1, result.stderr
  assert "6 of the datasets this run needs are not prepared" in lines[0], lines[0]
  assert ("`flan data prepare synth_addition synth_counting synth_records synth_reviews "
          "synth_triples synth_tweets --data_dir") in lines[0]  # not the held-out nli ones
  assert "Traceback" not in result.stderr and "In call to configurable" not in result.stderr
  assert not (tmp_path / "runs").exists()


def test_train_on_one_missing_real_dataset_names_the_build_command(tmp_path, use_data_dir,
                                                                   capsys):
  use_data_dir(tmp_path / "empty")
  model_dir = tmp_path / "run"
  assert cli.main(["train", "--gin_file=models/tiny.gin", "--gin_file=runs/train.gin",
                   "--gin.MIXTURE='flan:rte'", f"--gin.MODEL_DIR='{model_dir}'"]) == 2
  err = capsys.readouterr().err
  assert err.startswith("flan: error: 1 of the datasets this run needs are not prepared"), err
  assert "flan data prepare rte --data_dir" in err and "super_glue/rte" in err
  assert "In call to configurable" not in err
  assert not model_dir.exists()
