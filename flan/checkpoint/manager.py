"""Orbax checkpoints of the train state, with the data position and run config beside them.

Layout of `<model_dir>/checkpoints/<step>/` (the whole folder: model_dir.py):
    state/    the train state (params, optimizer state, step), Orbax's standard format
    meta/     JSON: {"step": ..., "data": {"batches": ...}, "mixture": ..., "vocabulary": ...}

`orbax_manager` is the one place an Orbax `CheckpointManager` is made (the trainer's
`Checkpointer`, the params-only restore and streaming.write_checkpoint all go through it).
Orbax writes each checkpoint to a temporary folder and renames it only once complete, so an
interrupted save is never listed; `latest_step` only sees finished checkpoints.
"""

from __future__ import annotations

import pathlib
import warnings
from typing import Any

import jax
import orbax.checkpoint as ocp

from flan.checkpoint import model_dir as model_dir_lib


def orbax_manager(model_dir: str | pathlib.Path, *, keep: int | None = None,
                  asynchronous: bool = False, item_handlers: dict | None = None,
                  create: bool = True) -> ocp.CheckpointManager:
  """An Orbax CheckpointManager of <model_dir>/checkpoints with the items "state" and "meta"
  (`item_handlers`: custom handlers for them, e.g. streaming's one-tensor-at-a-time writer)."""
  options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=create,
                                         enable_async_checkpointing=asynchronous)
  directory = pathlib.Path(model_dir).absolute() / model_dir_lib.CHECKPOINTS
  if item_handlers is not None:
    return ocp.CheckpointManager(directory, options=options, item_handlers=item_handlers)
  return ocp.CheckpointManager(directory, options=options, item_names=("state", "meta"))


class Checkpointer:
  """Saves every `every` steps, keeps the newest `keep`, restores the latest complete one."""

  def __init__(self, model_dir: str | pathlib.Path, every: int = 1000, keep: int = 3,
               asynchronous: bool = True):
    self.directory = pathlib.Path(model_dir).absolute() / model_dir_lib.CHECKPOINTS
    self.every = every
    self.manager = orbax_manager(model_dir, keep=keep, asynchronous=asynchronous)

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def should_save(self, step: int) -> bool:
    return self.every > 0 and step % self.every == 0

  def save(self, step: int, state: Any, meta: dict, force: bool = False) -> bool:
    return self.manager.save(
        step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                      meta=ocp.args.JsonSave(meta)), force=force)

  def restore(self, abstract_state: Any, step: int | None = None) -> tuple[Any, dict] | None:
    """(state, meta) of `step`, or of the newest checkpoint that restores; None when none does.

    A checkpoint that fails to restore (a partial or corrupted folder) is skipped with a
    warning and the one before it is tried: it is never half-loaded.
    """
    steps = [step] if step is not None else sorted(self.manager.all_steps(), reverse=True)
    target = jax.tree.map(ocp.utils.to_shape_dtype_struct, abstract_state)
    for candidate in steps:
      try:
        restored = self.manager.restore(
            candidate, args=ocp.args.Composite(state=ocp.args.StandardRestore(target),
                                               meta=ocp.args.JsonRestore()))
      except Exception as e:  # noqa: BLE001 - any failure means: not a usable checkpoint
        if step is not None:
          raise
        warnings.warn(f"skipping checkpoint {self.directory / str(candidate)}: it does not "
                      f"restore ({type(e).__name__}: {str(e).splitlines()[0][:200]})")
        continue
      return restored["state"], dict(restored["meta"])
    return None

  def restore_params(self, target: Any, step: int | None = None) -> Any | None:
    """Only the parameters of a checkpoint (no optimizer state), or None when there is none:
    jax.Arrays with `target`'s shapes, dtypes (cast while read) and shardings, restored from a
    trainer-written or a streamed checkpoint alike."""
    step = self.latest_step() if step is None else step
    if step is None:
      return None
    structs = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
    restore_args = jax.tree.map(
        lambda x: ocp.ArrayRestoreArgs(sharding=x.sharding, global_shape=x.shape, dtype=x.dtype),
        structs)
    restored = self.manager.restore(step, args=ocp.args.Composite(state=ocp.args.PyTreeRestore(
        {"params": structs}, restore_args={"params": restore_args}, partial_restore=True)))
    return restored["state"]["params"]

  def wait(self):
    self.manager.wait_until_finished()

  def close(self):
    self.manager.wait_until_finished()
    self.manager.close()
