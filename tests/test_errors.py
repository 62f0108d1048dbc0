"""flan.errors.UserError: every error a user can fix derives from it, and the `flan` command
prints it as exactly one line with exit status 2."""

import importlib
import inspect
import pathlib
import pkgutil

import pytest

import flan
from flan import cli
from flan.errors import UserError


def flan_error_classes() -> dict[str, type]:
  """Every `...Error` exception class defined in a flan module, by qualified name (not
  data_prepare.PrepareIncomplete: the CLI turns it into exit status 1 after its table)."""
  found = {}
  for module_info in pkgutil.walk_packages(flan.__path__, "flan."):
    if module_info.name.endswith("__main__"):
      continue  # `python -m flan.cli` runs the command on import
    module = importlib.import_module(module_info.name)
    for _, cls in inspect.getmembers(module, inspect.isclass):
      if (issubclass(cls, BaseException) and cls.__name__.endswith("Error")
          and cls.__module__ == module.__name__):
        found[f"{cls.__module__}.{cls.__qualname__}"] = cls
  return found


def test_every_flan_error_is_a_user_error():
  """The CLI catches UserError only, so an error class outside it would surface as a traceback.
  The classes keep their builtin bases for callers that catch those."""
  classes = flan_error_classes()
  names = {name.rsplit(".", 1)[1] for name in classes}
  assert {"CatalogError", "UnknownEntryError", "MixtureError", "DatasetNotPreparedError",
          "ExportError", "ConversionError", "SafetensorsError", "FewshotError", "GinError",
          "PlanError", "CacheError", "TrainingError", "EvalError", "VocabularyError"} <= names
  assert [name for name, cls in classes.items() if not issubclass(cls, UserError)] == []
  from flan.data.catalog import CatalogError, UnknownEntryError
  assert issubclass(CatalogError, ValueError) and issubclass(UnknownEntryError, KeyError)


def one_error_line(capsys, *argv) -> str:
  """Runs `flan ARGV` in-process; asserts exit status 2 and one line on stderr; returns it."""
  code = cli.main(list(argv))
  out, err = capsys.readouterr()
  assert code == 2, (out, err)
  assert len(err.splitlines()) == 1 and err.startswith("flan: error: "), err
  return err.strip()


def test_an_error_raised_inside_training_is_one_line(capsys, tmp_path, synthetic_data_dir,
                                                     use_data_dir):
  """gin appends "\\n  In call to configurable 'train' (<function train at 0x...>)" to errors
  raised inside a configurable; the CLI leaves that out."""
  use_data_dir(synthetic_data_dir)
  line = one_error_line(capsys, "train", "--gin_file=models/tiny.gin", "--gin_file=runs/train.gin",
                        "--gin.MIXTURE='flan:synth_reviw'", f"--gin.MODEL_DIR='{tmp_path}'")
  assert line.startswith("flan: error: unknown catalog entry 'synth_reviw'; did you mean "
                         "synth_reviews")


def test_a_missing_vocabulary_file_is_one_line(capsys, tmp_path, synthetic_data_dir,
                                               use_data_dir):
  """The vocabulary path of a gin binding is checked where it is read: a UserError (it used to
  be a FileNotFoundError the CLI had to list)."""
  use_data_dir(synthetic_data_dir)
  line = one_error_line(capsys, "train", "--gin_file=models/tiny.gin", "--gin_file=runs/train.gin",
                        "--gin.MIXTURE='flan:synth_reviews'", f"--gin.MODEL_DIR='{tmp_path}'",
                        f"--gin.trainer.train.vocabulary='{tmp_path}/spm.modle'")
  assert line.startswith(f"flan: error: vocabulary file {tmp_path}/spm.modle does not exist")


@pytest.mark.parametrize("argv, message", [
    (["eval", "--model_dir", "runs/no_such_run", "--task", "synth_reviews"],
     f"flan: error: {pathlib.Path('runs/no_such_run').absolute()} is not a flan model directory "
     "(no model_config.json)"),
    (["--verbose", "data", "show", "flan:synth_reviw"],
     "flan: error: unknown catalog entry 'synth_reviw'; did you mean synth_reviews"),
    (["data", "stats", "mix:synthetic:heldout_nil", "--verbose"],
     "flan: error: unknown cluster 'nil'; did you mean nli? (known: nli, "),
])
def test_typos_are_one_line(capsys, synthetic_data_dir, use_data_dir, argv, message):
  use_data_dir(synthetic_data_dir)  # eval checks that its datasets are prepared first
  assert one_error_line(capsys, *argv).startswith(message)
