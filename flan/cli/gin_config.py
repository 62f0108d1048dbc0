"""gin at the edge: T5X-style flags (`--gin_file`, `--gin.NAME=VALUE`, `--gin_bindings`).

The library has no gin imports; config files bind its functions with dynamic registration:

    from __gin__ import dynamic_registration
    from flan.train import trainer
    trainer.train.num_steps = 600
"""

from __future__ import annotations

import contextlib
import difflib
import logging
import pathlib
import re

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
  known = sorted(str(p.relative_to(CONFIGS_DIR)) for p in CONFIGS_DIR.rglob("*.gin"))
  close = difflib.get_close_matches(path, known, n=2, cutoff=0.6)
  hint = f"; did you mean {' or '.join(close)}?" if close else ""
  raise GinError(f"gin file {path!r} not found (looked in . and {CONFIGS_DIR}){hint}")


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


_BINDING = re.compile(r"^\s*(?P<name>[A-Za-z_][\w./]*)\s*=\s*(?P<value>.*?)\s*$", re.DOTALL)
_BOUND_NAMES = re.compile(r"^\s*([A-Za-z_][\w./]*)\s*=", re.MULTILINE)
ENTRY_POINTS = ("flan.train.trainer.train",)  # what the commands call; everything else is read
                                               # through a reference (%MACRO, @configurable)


def parse(gin_files: list[str], bindings: list[str]) -> None:
  """Parses gin files then bindings; any gin failure becomes one `GinError` line.

  Each binding must bind something the configuration reads: a macro the files reference
  (`%MODEL_DIR`), or a parameter of a configurable that is called (`trainer.train`) or
  referenced (`@optimizer.adafactor`). Otherwise, or when a value does not parse, the error
  names the binding and suggests the close names or the quoting:

      --gin.MODEL_DIRR="'/tmp/x'"  ->  gin: --gin.MODEL_DIRR binds a macro no config reads; did
                                       you mean MODEL_DIR? (macros read: MIXTURE, MODEL, ...)
      --gin.MODEL_DIR=/tmp/x       ->  gin: --gin.MODEL_DIR=/tmp/x is not a gin value; quote a
                                       string twice: --gin.MODEL_DIR="'/tmp/x'"
  """
  import gin

  gin.clear_config()
  gin.add_config_file_search_path(str(CONFIGS_DIR))
  files = [resolve_gin_file(f) for f in gin_files]
  with _no_search_path_misses():
    _gin_call(gin.parse_config_files_and_bindings, files, [], finalize_config=False)
    for binding in bindings:
      match = _BINDING.match(binding)
      if match is not None and "\n" not in binding:  # one binding: its value is checked first
        _check_value(match.group("name"), match.group("value"))
      _gin_call(gin.parse_config, binding)  # several lines, an include: gin's own checks
  for binding in bindings:
    for name in _BOUND_NAMES.findall(binding):
      _check_read(name)


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


def _gin_call(fn, *args, **kwargs):
  try:
    return fn(*args, **kwargs)
  except (ValueError, AttributeError, ImportError, SyntaxError, KeyError, OSError) as e:
    first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    raise GinError(f"gin: {first_line}{_suggestion(first_line)}") from None


def _check_value(name: str, value: str) -> None:
  """A value gin cannot parse, typed as a bare string, gets the quoting shown."""
  import gin.config

  if value[:1] in ("@", "%"):  # references: gin itself checks what they name
    return
  try:
    gin.config.parse_value(value)
    return
  except (SyntaxError, ValueError):
    pass
  if value[:1] in ("'", '"', "@", "%", "[", "(", "{"):
    raise GinError(f"gin: --gin.{name}={value} is not a gin value (unbalanced quotes or brackets?)")
  raise GinError(f"gin: --gin.{name}={value} is not a gin value; quote a string twice, once for "
                 f"the shell and once for gin: --gin.{name}=\"'{value}'\" (or {name} = '{value}' "
                 f"in --gin_bindings)")


def _references() -> tuple[set[str], set[str]]:
  """(macro names, configurable selectors) the parsed configuration references."""
  import gin.config as gc

  macros, configurables = set(), set()

  def walk(value):
    if isinstance(value, gc.ConfigurableReference):
      if value.configurable.selector == "gin.macro":
        macros.add(value.scoped_selector.rsplit("/", 1)[0])
      else:
        configurables.add(value.configurable.selector)
    elif isinstance(value, (list, tuple, set)):
      for v in value:
        walk(v)
    elif isinstance(value, dict):
      for v in value.values():
        walk(v)

  for params in gc._CONFIG.values():  # noqa: SLF001  (gin has no public walk of the bindings)
    walk(params)
  return macros, configurables


def _check_read(name: str) -> None:
  import gin.config as gc

  macros, configurables = _references()
  selector = name.rsplit("/", 1)[-1]  # drop a scope
  if "." not in selector:  # a macro
    if selector in macros:
      return
    close = difflib.get_close_matches(selector, sorted(macros), n=2, cutoff=0.6)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    raise GinError(f"gin: --gin.{name} binds a macro that no config reads{hint} (macros read: "
                   f"{', '.join(sorted(macros)) or 'none'})")
  configurable = gc._REGISTRY.get_match(selector.rsplit(".", 1)[0])  # noqa: SLF001
  if configurable is None or configurable.selector in configurables | set(ENTRY_POINTS):
    return
  raise GinError(f"gin: --gin.{name} binds a parameter of {configurable.selector}, which this "
                 f"config never calls (it calls "
                 f"{', '.join(sorted(set(_short(configurables | set(ENTRY_POINTS)))))})")


def _short(selectors) -> list[str]:
  """'flan.train.optimizer.adafactor' -> 'optimizer.adafactor', the form configs/ use."""
  return [".".join(s.split(".")[-2:]) for s in selectors]


_NO_PARAMETER = re.compile(r"Configurable '(?P<configurable>[\w.]+)' doesn't have a parameter "
                           r"named '(?P<param>\w+)'")
_NO_CONFIGURABLE = re.compile(r"No configurable matching '(?P<configurable>[\w.]+)'")


def _suggestion(message: str) -> str:
  """Close names for gin's 'no such parameter' and 'no such configurable' messages."""
  import inspect

  import gin.config as gc

  match = _NO_PARAMETER.search(message)
  if match:
    configurable = gc._REGISTRY.get_match(match.group("configurable"))  # noqa: SLF001
    if configurable is None:
      return ""
    params = list(inspect.signature(configurable.wrapped).parameters)
    close = difflib.get_close_matches(match.group("param"), params, n=2, cutoff=0.6)
    return f" Did you mean {' or '.join(close)}?" if close else ""
  match = _NO_CONFIGURABLE.search(message)
  if match:
    _, configurables = _references()
    known = sorted(set(_short(list(configurables) + list(ENTRY_POINTS))))
    close = difflib.get_close_matches(match.group("configurable"), known, n=2, cutoff=0.6)
    return f" Did you mean {' or '.join(close)}?" if close else ""
  return ""


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


def _write(path: pathlib.Path, text: str) -> None:
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(text)


def write_config(path: pathlib.Path, operative: bool) -> None:
  import gin
  _write(path, gin.operative_config_str() if operative else gin.config_str())


def model_dir() -> pathlib.Path:
  """The run's MODEL_DIR macro (every run config binds trainer.train.model_dir to it)."""
  import gin
  try:
    return pathlib.Path(gin.query_parameter("%MODEL_DIR"))
  except ValueError:
    raise GinError("gin: bind MODEL_DIR, e.g. --gin.MODEL_DIR=\"'runs/my_run'\"") from None


def train_with_configs(train_fn, **overrides):
  """Calls the gin-configured trainer, writing config.gin into the model directory once the run
  is checked (the trainer's `on_start`: nothing is written for a run that cannot start) and
  operative_config.gin after it."""
  import gin
  directory = model_dir()
  config = gin.config_str()  # as parsed, before the call adds anything
  result = call(train_fn, on_start=lambda: _write(directory / "config.gin", config), **overrides)
  write_config(directory / "operative_config.gin", operative=True)
  return result
