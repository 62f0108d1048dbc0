"""Output folders that never look complete before they are.

    with staged_output("exports/hf", overwrite=False) as tmp:
      ...write everything into tmp...
    # only now does exports/hf exist (renamed from exports/hf.tmp-<pid>)

An interrupted export leaves `<out>.tmp-<pid>` behind, never `<out>`. An existing `<out>` is
refused unless `overwrite`; then it is replaced only after the new one is complete.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
from collections.abc import Iterator

from flan.export import ConversionError


def _remove(path: pathlib.Path) -> None:
  if path.is_dir() and not path.is_symlink():
    shutil.rmtree(path)
  elif path.exists() or path.is_symlink():
    path.unlink()


def check_output(out: str | pathlib.Path, overwrite: bool,
                 source: pathlib.Path | None = None) -> pathlib.Path:
  """The absolute output path, after refusing an existing one (without `overwrite`) and one
  that is or holds the source."""
  out = pathlib.Path(out).absolute()
  if out.exists() and not overwrite:
    raise ConversionError(f"{out} already exists; pass --overwrite to replace it")
  if source is not None:
    source = source.absolute()
    if out == source or out in source.parents:
      raise ConversionError(f"the output {out} would replace its own source {source}")
  return out


@contextlib.contextmanager
def staged_output(out: str | pathlib.Path, overwrite: bool = False,
                  source: pathlib.Path | None = None) -> Iterator[pathlib.Path]:
  """Yields an empty `<out>.tmp-<pid>` folder, renamed to `out` when the block succeeds."""
  out = check_output(out, overwrite, source)
  tmp = out.parent / f"{out.name}.tmp-{os.getpid()}"
  _remove(tmp)
  tmp.mkdir(parents=True)
  try:
    yield tmp
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise
  if out.exists() or out.is_symlink():
    old = out.parent / f"{out.name}.old-{os.getpid()}"
    _remove(old)
    out.rename(old)
    tmp.rename(out)
    _remove(old)
  else:
    tmp.rename(out)
