"""Output folders that never look complete before they are, and never lose a file flan did not
write.

    with staged_output("exports/hf", overwrite=False, command="export hf") as tmp:
      ...write everything into tmp...
    # only now does exports/hf hold the new files (tmp was exports/hf.tmp-<pid>)

A finished folder lists what flan wrote into it:

    <out>/.flan_output.json     {"command": "export hf", "files": ["config.json", ...]}

What `<out>` may be:
  absent, or an empty folder      written, no flag needed
  a flan output (.flan_output.json)   refused unless `overwrite`; then the files it lists are
                                  replaced once the new ones are complete, and every other
                                  file in it (a user's notes) is kept
  anything else                   refused, with or without `overwrite`: flan deletes nothing it
                                  did not write

An interrupted command leaves `<out>.tmp-<pid>` behind, never a half-written `<out>`.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import shutil
from collections.abc import Iterator

from flan.export import ConversionError

MARKER = ".flan_output.json"


def _remove(path: pathlib.Path) -> None:
  if path.is_dir() and not path.is_symlink():
    shutil.rmtree(path)
  elif path.exists() or path.is_symlink():
    path.unlink()


def written_by_flan(out: pathlib.Path) -> list[str] | None:
  """The names flan wrote into `out` (from its marker), or None when it is not a flan output."""
  try:
    return list(json.loads((out / MARKER).read_text())["files"])
  except (OSError, ValueError, KeyError, TypeError):
    return None


def check_output(out: str | pathlib.Path, overwrite: bool,
                 source: pathlib.Path | None = None) -> pathlib.Path:
  """The absolute output path, after refusing what `out` may not be (see the module docstring)
  and an output that is or holds the source."""
  out = pathlib.Path(out).absolute()
  if source is not None:
    source = source.absolute()
    if out == source or out in source.parents:
      raise ConversionError(f"the output {out} would replace its own source {source}")
  if out.is_symlink() or (out.exists() and not out.is_dir()):
    raise ConversionError(f"{out} exists and is not a folder; choose a new or empty folder")
  if not out.exists() or not any(out.iterdir()):
    return out
  if written_by_flan(out) is None:
    raise ConversionError(f"{out} is not empty and was not written by flan; choose a new or "
                          f"empty folder (flan does not delete files it did not write)")
  if not overwrite:
    raise ConversionError(f"{out} already exists; pass --overwrite to replace it")
  return out


@contextlib.contextmanager
def staged_output(out: str | pathlib.Path, overwrite: bool = False,
                  source: pathlib.Path | None = None,
                  command: str = "export") -> Iterator[pathlib.Path]:
  """Yields an empty `<out>.tmp-<pid>` folder that becomes `out` when the block succeeds."""
  out = check_output(out, overwrite, source)
  tmp = out.parent / f"{out.name}.tmp-{os.getpid()}"
  _remove(tmp)
  tmp.mkdir(parents=True)
  try:
    yield tmp
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise
  written = sorted(p.name for p in tmp.iterdir())
  (tmp / MARKER).write_text(json.dumps({"command": command, "files": written}, indent=2) + "\n")
  if not out.exists():
    tmp.rename(out)
    return
  previous = set(written_by_flan(out) or ()) | {MARKER}
  kept = sorted(p.name for p in out.iterdir() if p.name not in previous)
  clash = [name for name in kept if (tmp / name).exists()]
  if clash:
    shutil.rmtree(tmp, ignore_errors=True)
    raise ConversionError(f"{out} holds {', '.join(clash)}, which flan did not write and would "
                          f"now write; move it away and run again")
  for name in kept:  # the user's files move into the new folder: nothing of theirs is lost
    (out / name).rename(tmp / name)
  old = out.parent / f"{out.name}.old-{os.getpid()}"
  _remove(old)
  out.rename(old)
  tmp.rename(out)
  _remove(old)
