"""`flan data list | show | export | manifest` on the small synthetic data (no network)."""

import json

import pytest

from flan import cli
from flan.cli import data_export, data_show, data_manifest
from flan.data import adapters, datasets, mixtures, records, render, tasks
from flan.data.render import Style
from flan.data.synthetic.base import SIZES
from conftest import SMALL_SPLIT


def run_cli(capsys, *argv):
  code = cli.main(list(argv))
  out, err = capsys.readouterr()
  return code, out, err


def read_jsonl(path):
  return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture()
def synthetic(synthetic_data_dir, use_data_dir):
  return use_data_dir(synthetic_data_dir)


# --- export -----------------------------------------------------------------------------------

def test_export_task_columns_and_round_robin(capsys, synthetic, tmp_path):
  out = tmp_path / "reviews.jsonl"
  code, stdout, err = run_cli(capsys, "data", "export", "flan:synth_reviews", "--split",
                              "validation", "--out", str(out), "--limit", "5", "--shots", "2")
  assert code == 0, err
  assert stdout.strip() == f"wrote 5 examples of 1 entries to {out}"
  rows = read_jsonl(out)
  assert [list(r) for r in rows] == [list(data_export.COLUMNS)] * 5
  assert [r["template"] for r in rows] == [0, 1, 2, 3, 4]  # round-robin, as in training
  first = rows[0]
  assert (first["dataset"], first["cluster"], first["shots"], first["inverted"]) == \
      ("synth_reviews", "sentiment", 2, False)
  assert first["options"] == ["negative", "positive"] and first["targets"] in first["options"]
  assert first["options_format"] == {"style": "flan", "header": "OPTIONS:", "marker": "-"}
  assert first["inputs"].count("OPTIONS:") == 3  # two exemplars and the query
  assert list(tmp_path.iterdir()) == [out]  # no partial file left behind


def test_export_random_options_records_the_format(capsys, synthetic, tmp_path):
  out = tmp_path / "tweets.jsonl"
  code, _, err = run_cli(capsys, "data", "export", "synth_tweets", "--split", "test",
                         "--out", str(out), "--limit", "20", "--options", "random")
  assert code == 0, err
  for row in read_jsonl(out):
    fmt = row["options_format"]
    if row["inverted"]:
      continue
    assert fmt["style"] == "random" and fmt["header"] in row["inputs"]
    if fmt["marker"] in ("A)", "1."):
      assert row["options"] == (["A", "B"] if fmt["marker"] == "A)" else ["1", "2"])
    assert row["targets"] in row["options"]


def test_export_refuses_to_overwrite(capsys, synthetic, tmp_path):
  out = tmp_path / "x.jsonl"
  out.write_text("keep me\n")
  code, _, err = run_cli(capsys, "data", "export", "flan:synth_reviews", "--split", "train",
                         "--out", str(out), "--limit", "2")
  assert code == 2
  assert err == f"flan: error: {out} already exists; pass --overwrite to replace it\n"
  assert out.read_text() == "keep me\n"
  code, _, err = run_cli(capsys, "data", "export", "flan:synth_reviews", "--split", "train",
                         "--out", str(out), "--limit", "2", "--overwrite")
  assert code == 0, err
  assert len(read_jsonl(out)) == 2


def test_interrupted_export_leaves_no_file(synthetic, tmp_path, monkeypatch):
  def broken(*args, **kwargs):
    yield 0, render.render(tasks.resolve("synth_reviews")[1][0],
                           {"text": "t", "product": "p", "options": ["negative"],
                            "answer": "negative", "answers": ["negative"]})
    raise KeyboardInterrupt

  monkeypatch.setattr(records, "iter_examples", broken)
  out = tmp_path / "x.jsonl"
  with pytest.raises(KeyboardInterrupt):
    data_export.export("flan:synth_reviews", "train", out)
  assert list(tmp_path.iterdir()) == []


def test_export_mixture(capsys, synthetic, tmp_path):
  out = tmp_path / "mix.jsonl"
  code, _, err = run_cli(capsys, "data", "export", "mix:synthetic:heldout_nli", "--split",
                         "train", "--out", str(out), "--limit", "3")
  assert code == 0, err
  rows = read_jsonl(out)
  training, _ = mixtures.split_entries("synthetic", "nli")
  assert [r["dataset"] for r in rows] == [s.name for s in training for _ in range(3)]
  assert not {r["cluster"] for r in rows} & mixtures.excluded_clusters("nli")
  assert [r["template"] for r in rows[:3]] == [0, 1, 2]


def test_export_noinstruction_mixture_writes_what_training_sees(capsys, tmp_path, monkeypatch):
  """`flan data export mix:flan:format_noinstruction` over every real builder it trains on, on
  TFDS mock data: each line is the text training renders for that example (its task's format,
  templates round-robin from the raw example's index), so no instructions."""
  import tensorflow_datasets as tfds

  # Mock data has no prepared files to find; the check itself is tested elsewhere.
  monkeypatch.setattr(datasets, "require_prepared", lambda spec, directory=None: None)
  name, out = "mix:flan:format_noinstruction", tmp_path / "noinstruction.jsonl"
  with tfds.testing.mock_data(num_examples=2):
    code, _, err = run_cli(capsys, "data", "export", name, "--split", "train", "--out", str(out),
                           "--limit", "1")
    assert code == 0, err
    expected, instructions = [], []
    for task in mixtures.training_tasks(mixtures.parse_mixture_name(name)):
      assert tasks.parse_task(task).format == "noinstruction"
      spec, templates = tasks.resolve(task)
      for index, raw in enumerate(records.iter_raw(spec, "train")):
        # What the training task's tf.data preprocessor writes for this example.
        inputs, targets, template = render.render_raw(spec, templates, raw, index,
                                                      Style(format="noinstruction"))
        if template >= 0:
          expected.append((spec.name, inputs.decode(), targets.decode(), template))
          record = adapters.adapt(spec, raw)
          instructions.append(render.render(spec.templates[template], record).inputs)
          break
  rows = read_jsonl(out)
  assert len(rows) == len(expected) > 30
  assert [(r["dataset"], r["inputs"], r["targets"], r["template"]) for r in rows] == expected
  assert all(r["inputs"] != text for r, text in zip(rows, instructions))
  assert not any("OPTIONS:" in r["inputs"] for r in rows)
  assert {r["options_format"]["style"] for r in rows} == {"none"}


def test_export_errors_are_one_line(capsys, synthetic, tmp_path):
  out = tmp_path / "x.jsonl"
  for argv, message in [
      (["flan:synth_reviews", "--split", "dev"], "synth_reviews has no split 'dev'"),
      (["mix:synthetic:heldout_nope", "--split", "train"], "unknown cluster 'nope'"),
      (["flan:synth_reviews", "--split", "train", "--shots", "17"], "between 0 and 16"),
  ]:
    code, _, err = run_cli(capsys, "data", "export", *argv, "--out", str(out))
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith("flan: error:") and message in err
  assert not out.exists()


# --- show and list ----------------------------------------------------------------------------

def test_show_with_shots(capsys, synthetic):
  code, out, err = run_cli(capsys, "data", "show", "synth_reviews", "--shots", "2", "--n", "2")
  assert code == 0, err
  assert out.count(", 2 shots\n") == 2
  first = out.split("=== ")[1]
  assert first.count("OPTIONS:") == 3 and first.count("\n\n\nReview: ") == 2


def test_show_random_options_and_template(capsys, synthetic):
  code, out, err = run_cli(capsys, "data", "show", "synth_reviews", "--template", "1",
                           "--options", "random", "--n", "4")
  assert code == 0, err
  assert out.count("template t1") == 4 and out.count("--- options format: header ") == 4
  code, _, err = run_cli(capsys, "data", "show", "synth_reviews", "--template", "12")
  assert code == 2 and "t0..t9" in err


def test_list_columns_and_sizes(capsys, synthetic):
  code, out, err = run_cli(capsys, "data", "list", "--collection", "synthetic")
  assert code == 0, err
  lines = out.splitlines()
  assert lines[0].split() == list(data_show.LIST_COLUMNS)
  rows = {line.split()[0]: line.split() for line in lines[1:]}
  sizes = [str(min(SMALL_SPLIT, SIZES[s])) for s in ("train", "validation", "test")]
  assert rows["synth_reviews"] == ["synth_reviews", "sentiment", "classification", "accuracy",
                                   *sizes, "no", "ready"]
  assert len(rows) == 8


def test_list_unprepared_sizes_are_dashes(capsys, tmp_path, use_data_dir):
  use_data_dir(tmp_path)
  code, out, err = run_cli(capsys, "data", "list", "--cluster", "nli")
  assert code == 0, err
  rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
  assert rows["rte"][4:] == ["-", "-", "-", "no", "missing"]
  code, out, err = run_cli(capsys, "data", "list", "--cluster", "commonsense")
  rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
  assert code == 0 and rows["story_cloze"][-2:] == ["yes", "manual"]


def test_bad_flag_is_one_line(capsys):
  with pytest.raises(SystemExit) as e:
    cli.main(["data", "show", "synth_reviews", "--options", "fancy"])
  _, err = capsys.readouterr()
  assert e.value.code == 2 and len(err.strip().splitlines()) == 1
  assert err.startswith("flan: error: argument --options: invalid choice: 'fancy'")


# --- manifest ---------------------------------------------------------------------------------

def test_shipped_manifest_is_up_to_date():
  assert data_manifest.MANIFEST.read_text() == data_manifest.generate(), \
      f"templates/MANIFEST.md is stale: run `{data_manifest.COMMAND}`"


def test_manifest_command(capsys, tmp_path):
  out = tmp_path / "MANIFEST.md"
  code, _, err = run_cli(capsys, "data", "manifest", "--out", str(out))
  assert code == 0, err
  text = out.read_text()
  assert text == data_manifest.generate()
  assert "| synth_reviews | synthetic reviews | sentiment | classification | accuracy | " \
         "`synth_reviews:1.0.0` | `train` | `validation` | `test` | no |" in text
