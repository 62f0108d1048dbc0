"""`flan data prepare`, the readiness checks of `flan train`, and `flan data vocab --mixture`.

Real builders are prepared with TFDS's own `download_and_prepare`; their download is replaced by
files this test writes in the builders' raw formats (AG News: the CSV folder its archive
extracts to; StoryCloze: the two CSV files a person downloads by hand).
"""

import csv
import pathlib

import pytest
import tensorflow_datasets as tfds

from flan import cli
from flan.data import prepare, vocab, vocab_build

AG_NEWS_URL = "https://drive.google.com/uc?export=download&id=0Bz8a_Dbh9QhbUDNpeUdjb0wxRms"
STORY_COLUMNS = ["InputStoryid", "InputSentence1", "InputSentence2", "InputSentence3",
                 "InputSentence4", "RandomFifthSentenceQuiz1", "RandomFifthSentenceQuiz2",
                 "AnswerRightEnding"]


def run_cli(capsys, *argv):
  code = cli.main(list(argv))
  out, err = capsys.readouterr()
  return code, out, err


@pytest.fixture()
def ag_news_download(tmp_path, monkeypatch):
  """AG News's archive as its extracted folder: ag_news_csv/{train,test}.csv (label, title,
  description); TFDS's download manager hands that folder to the builder."""
  raw = tmp_path / "raw" / "ag_news"
  (raw / "ag_news_csv").mkdir(parents=True)
  for split, n in (("train", 6), ("test", 4)):
    with open(raw / "ag_news_csv" / f"{split}.csv", "w", newline="") as f:
      writer = csv.writer(f)
      for i in range(n):
        writer.writerow([i % 4 + 1, f"{split} title {i}", f"{split} story number {i}."])
  local = {AG_NEWS_URL: str(raw)}

  def download_and_extract(self, url_or_urls):
    return tfds.core.utils.map_nested(lambda url: local[url], url_or_urls)

  monkeypatch.setattr(tfds.download.DownloadManager, "download_and_extract", download_and_extract)
  return raw


def write_story_cloze(manual_dir: pathlib.Path) -> None:
  manual_dir.mkdir(parents=True, exist_ok=True)
  for split in ("val", "test"):
    with open(manual_dir / f"cloze_test_{split}__spring2016.csv", "w", newline="") as f:
      writer = csv.DictWriter(f, STORY_COLUMNS)
      writer.writeheader()
      for i in range(5):
        writer.writerow({"InputStoryid": f"{split}-{i}", "InputSentence1": "Ann woke up.",
                         "InputSentence2": "She was hungry.", "InputSentence3": "She cooked.",
                         "InputSentence4": f"It took {i} minutes.",
                         "RandomFifthSentenceQuiz1": "She ate.",
                         "RandomFifthSentenceQuiz2": "She flew away.", "AnswerRightEnding": 1})


def statuses(out: str) -> dict[str, str]:
  """{builder: status} from the printed table."""
  found = {}
  for line in out.splitlines()[1:]:
    for status in (prepare.BUILT, prepare.READY, prepare.MANUAL, prepare.FAILED,
                   prepare.MISSING):
      if f"  {status}" in line:
        found[line.split()[0]] = status
        break
  return found


def test_prepare_builds_what_is_missing_and_names_manual_folders(capsys, tmp_path,
                                                                 ag_news_download):
  data_dir = tmp_path / "tfds"
  names = ("synth_counting", "flan:ag_news", "story_cloze")
  code, out, err = run_cli(capsys, "data", "prepare", *names, "--data_dir", str(data_dir),
                           "--quiet")
  assert code == 1, err  # story_cloze still needs its files
  assert statuses(out) == {"synth_counting:1.0.0": prepare.BUILT,
                           "ag_news_subset:1.0.0": prepare.BUILT,
                           "story_cloze/2016:1.0.0": prepare.MANUAL}
  manual = data_dir / "downloads" / "manual" / "story_cloze"
  assert f"put the files into {manual}:" in out and "cloze_test_val__spring2016.csv" in out
  assert "1 manual" in out.splitlines()[-1]
  ag_news = tfds.builder("ag_news_subset", data_dir=str(data_dir))
  assert ag_news.info.splits["train"].num_examples == 6
  assert ag_news.info.splits["test"].num_examples == 4

  write_story_cloze(manual)
  code, out, err = run_cli(capsys, "data", "prepare", *names, "--data_dir", str(data_dir),
                           "--quiet")
  assert code == 0, err
  assert statuses(out) == {"synth_counting:1.0.0": prepare.READY,
                           "ag_news_subset:1.0.0": prepare.READY,
                           "story_cloze/2016:1.0.0": prepare.BUILT}
  story = tfds.builder("story_cloze/2016", data_dir=str(data_dir))
  assert story.info.splits["validation"].num_examples == 5


def test_interrupted_prepare_leaves_nothing_prepared_and_resumes(capsys, tmp_path,
                                                                 ag_news_download, monkeypatch):
  data_dir = tmp_path / "tfds"
  builder_cls = tfds.builder_cls("ag_news_subset")
  original = builder_cls._generate_examples

  def interrupted(self, path):
    for i, example in enumerate(original(self, path)):
      if i == 3:
        raise KeyboardInterrupt  # Ctrl-C in the middle of writing a split
      yield example

  monkeypatch.setattr(builder_cls, "_generate_examples", interrupted)
  with pytest.raises(KeyboardInterrupt):
    cli.main(["data", "prepare", "ag_news", "--data_dir", str(data_dir), "--quiet"])
  capsys.readouterr()
  version_dir = data_dir / "ag_news_subset" / "1.0.0"
  assert not (version_dir / "dataset_info.json").exists()
  assert not tfds.builder("ag_news_subset", data_dir=str(data_dir)).is_prepared()
  code, out, _ = run_cli(capsys, "data", "prepare", "ag_news", "--data_dir", str(data_dir),
                         "--check")
  assert code == 1 and statuses(out) == {"ag_news_subset:1.0.0": prepare.MISSING}

  monkeypatch.setattr(builder_cls, "_generate_examples", original)
  code, out, err = run_cli(capsys, "data", "prepare", "ag_news", "--data_dir", str(data_dir),
                           "--quiet")
  assert code == 0, err
  assert statuses(out) == {"ag_news_subset:1.0.0": prepare.BUILT}
  assert not list((data_dir / "ag_news_subset").glob("*.incomplete*"))


def test_prepare_refuses_unknown_names_before_any_work(capsys, tmp_path):
  data_dir = tmp_path / "tfds"
  for argv, message in ((["mix:flan:heldout_nlii"], "unknown cluster"),
                        (["flan:rtee"], "unknown catalog entry"),
                        ([], "name a mixture or task")):
    code, out, err = run_cli(capsys, "data", "prepare", *argv, "--data_dir", str(data_dir))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
  assert not data_dir.exists()


def test_a_mixture_needs_its_training_and_heldout_entries():
  training = {s.name for s in prepare.entries_for(["mix:synthetic:heldout_nli"],
                                                  evaluation=False)}
  everything = {s.name for s in prepare.entries_for(["mix:synthetic:heldout_nli"])}
  assert "synth_comparison" not in training and "synth_reviews" in training
  assert everything - training == {"synth_comparison", "synth_containment"}


def test_train_checks_every_dataset_before_it_starts(capsys, tmp_path, use_data_dir):
  use_data_dir(tmp_path / "empty")
  model_dir = tmp_path / "run"
  code, _, err = run_cli(capsys, "train", "--gin_file=models/tiny.gin",
                         "--gin_file=runs/train.gin", "--gin.MIXTURE='mix:synthetic:heldout_nli'",
                         f"--gin.MODEL_DIR='{model_dir}'", "--gin.trainer.train.num_steps=1")
  assert code == 2
  assert "6 of the datasets this run needs are not prepared" in err
  assert "flan data prepare synth_addition synth_counting" in err
  for name in ("synth_reviews:1.0.0", "synth_tweets:1.0.0", "synth_records:1.0.0"):
    assert name in err
  assert "synth_comparison" not in err  # held out: evaluation checks it, training does not
  assert not (model_dir / "checkpoints").exists()


def test_a_paper_size_model_refuses_the_implicit_demo_vocabulary(capsys, tmp_path,
                                                                  synthetic_data_dir,
                                                                  use_data_dir):
  use_data_dir(synthetic_data_dir)
  common = ["train", "--gin_file=models/small.gin", "--gin_file=runs/train.gin",
            "--gin.MIXTURE='flan:synth_reviews'", f"--gin.MODEL_DIR='{tmp_path / 'run'}'",
            "--gin.trainer.train.num_steps=0"]
  code, _, err = run_cli(capsys, *common)
  assert code == 2
  assert "32000 embedding rows" in err and "flan data vocab --mixture mix:flan" in err
  code, _, err = run_cli(capsys, *common, "--gin.trainer.train.vocabulary='demo'")
  assert code == 0, err
  code, _, err = run_cli(capsys, "train", "--gin_file=models/lamda_422m.gin",
                         "--gin_file=runs/train.gin", "--gin.MIXTURE='flan:synth_reviews'",
                         f"--gin.MODEL_DIR='{tmp_path / 'run2'}'")
  assert code == 2 and "vocabulary file vocab/flan_32k.model does not exist" in err


def test_mixture_vocabulary_is_reproducible_byte_for_byte(tmp_path, synthetic_data_dir):
  first, second = tmp_path / "a" / "v.model", tmp_path / "b" / "v.model"
  for out in (first, second):
    vocab_build.build_for_mixture(out, "mix:synthetic:heldout_nli", vocab_size=400, examples=300,
                            data_dir=synthetic_data_dir)
  assert first.read_bytes() == second.read_bytes()
  manifest = (first.parent / "v.model.json").read_text()
  assert manifest == (second.parent / "v.model.json").read_text()
  assert '"mixture": "mix:synthetic:heldout_nli"' in manifest
  assert f'"fingerprint": "{vocab.fingerprint(str(first))}"' in manifest
  assert '"synth_comparison"' not in manifest  # held out: not in the sample
  spm = vocab.get_vocabulary(str(first))
  assert (spm.pad_id, spm.eos_id, spm.unk_id) == (0, 1, 2)
  text = "Ünïcødé 漢字 is not in the synthetic data"
  ids = spm.encode(text)
  assert spm.unk_id not in ids and spm.decode(ids) == text  # byte fallback
  with pytest.raises(vocab.VocabularyError, match="exists; pass --overwrite"):
    vocab_build.build_for_mixture(first, "mix:synthetic", vocab_size=400, examples=300,
                            data_dir=synthetic_data_dir)


def test_sample_sizes_follow_the_mixture_rates():
  assert vocab_build.sample_sizes({"a": 3000, "b": 1000}, examples=400) == {"a": 300, "b": 100}
  assert vocab_build.sample_sizes({"a": 3000, "b": 10}, examples=1000,
                            available={"a": 3000, "b": 10}) == {"a": 997, "b": 10}


def test_eval_checks_every_dataset_before_it_starts(capsys, tmp_path, use_data_dir):
  use_data_dir(tmp_path / "empty")
  code, _, err = run_cli(capsys, "eval", "--model_dir", str(tmp_path / "model"), "--cluster",
                         "sentiment", "--collection", "synthetic")
  assert code == 2
  assert "2 of the datasets this run needs are not prepared" in err
  assert "flan data prepare synth_reviews synth_tweets" in err
  assert not (tmp_path / "model").exists()
