"""gin at the edge: T5X-style flags (`--gin_file`, `--gin.NAME=VALUE`, `--gin_bindings`).

The library has no gin imports; config files bind its functions with dynamic registration:

    from __gin__ import dynamic_registration
    from flan.train import trainer
    trainer.train.num_steps = 600
"""

from __future__ import annotations

import contextlib
import logging
import pathlib

from flan import resources
from flan.errors import UserError

CONFIGS_DIR = resources.CONFIGS_DIR


class GinError(UserError, ValueError):
  """A gin file or binding that does not parse or names nothing."""


def resolve_gin_file(path: str) -> str:
  """A gin file as given, or relative to the project's configs/ folder."""
  for candidate in (pathlib.Path(path), CONFIGS_DIR / path):
    if candidate.is_file():
      return str(candidate)
  raise GinError(f"gin file {path!r} not found (looked in . and {CONFIGS_DIR})")


def split_gin_flags(argv: list[str]) -> tuple[list[str], list[str]]:
  """Pulls `--gin.NAME=VALUE` flags out of argv: (bindings, the other arguments)."""
  bindings, rest = [], []
  for arg in argv:
    if arg.startswith("--gin."):
      name, sep, value = arg[len("--gin."):].partition("=")
      if not sep:
        raise GinError(f"{arg!r}: expected --gin.NAME=VALUE")
      bindings.append(f"{name} = {value}")
    else:
      rest.append(arg)
  return bindings, rest


def parse(gin_files: list[str], bindings: list[str]) -> None:
  """Parses gin files then bindings; any gin failure becomes one `GinError` line."""
  import gin

  gin.clear_config()
  gin.add_config_file_search_path(str(CONFIGS_DIR))
  files = [resolve_gin_file(f) for f in gin_files]
  try:
    with _no_search_path_misses():
      gin.parse_config_files_and_bindings(files, bindings, finalize_config=False)
  except (ValueError, AttributeError, ImportError, SyntaxError, KeyError, OSError) as e:
    first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    raise GinError(f"gin: {first_line}") from None


class _SearchPathMiss(logging.Filter):
  """gin looks an include such as 'models/demo.gin' up under each search path in turn ('' first,
  then configs/), and logs "ERROR:root:Path not found: models/demo.gin" for every miss before
  the hit. A miss is no error: the include is found next, or gin raises (one GinError line)."""

  def filter(self, record: logging.LogRecord) -> bool:
    return not (record.module == "resource_reader" and record.msg.startswith("Path not found"))


@contextlib.contextmanager
def _no_search_path_misses():
  root, miss = logging.getLogger(), _SearchPathMiss()
  root.addFilter(miss)
  try:
    yield
  finally:
    root.removeFilter(miss)


def call(fn, **overrides):
  """Calls the gin-configured version of a library function."""
  import gin
  try:
    configurable = gin.get_configurable(fn)
  except (ValueError, KeyError):
    raise GinError(f"the gin files bind nothing of {fn.__module__}.{fn.__name__}; include a "
                   f"run config such as configs/runs/train.gin") from None
  try:
    return configurable(**overrides)
  except TypeError as e:
    if "missing" in str(e) and "argument" in str(e):
      raise GinError(f"gin: {e}") from None
    raise


def write_config(path: pathlib.Path, operative: bool) -> None:
  import gin
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(gin.operative_config_str() if operative else gin.config_str())


def model_dir() -> pathlib.Path:
  """The run's MODEL_DIR macro (every run config binds trainer.train.model_dir to it)."""
  import gin
  try:
    return pathlib.Path(gin.query_parameter("%MODEL_DIR"))
  except ValueError:
    raise GinError("gin: bind MODEL_DIR, e.g. --gin.MODEL_DIR=\"'runs/my_run'\"") from None


def train_with_configs(train_fn, **overrides):
  """Calls the gin-configured trainer, writing config.gin before and operative_config.gin after
  into the model directory."""
  directory = model_dir()
  write_config(directory / "config.gin", operative=False)
  result = call(train_fn, **overrides)
  write_config(directory / "operative_config.gin", operative=True)
  return result
