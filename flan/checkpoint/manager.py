"""Orbax checkpoints of the train state, with the data position and run config beside them.

Layout of `<model_dir>/checkpoints/<step>/`:
    state/    the train state (params, optimizer state, step), Orbax's standard format
    meta/     JSON: {"step": ..., "data": {"batches": ...}, ...}

Orbax writes each checkpoint to a temporary folder and renames it only once complete, so an
interrupted save is never listed; `latest_step` only sees finished checkpoints.
"""

from __future__ import annotations

import pathlib
import warnings
from typing import Any

import jax
import orbax.checkpoint as ocp


class Checkpointer:
  """Saves every `every` steps, keeps the newest `keep`, restores the latest complete one."""

  def __init__(self, model_dir: str | pathlib.Path, every: int = 1000, keep: int = 3,
               asynchronous: bool = True):
    self.directory = pathlib.Path(model_dir).absolute() / "checkpoints"
    self.every = every
    options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                           enable_async_checkpointing=asynchronous)
    self.manager = ocp.CheckpointManager(self.directory, options=options,
                                         item_names=("state", "meta"))

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

  def restore_params(self, abstract_params: Any, step: int | None = None) -> Any | None:
    """Only the parameters of a checkpoint (no optimizer state), or None when there is none."""
    step = self.latest_step() if step is None else step
    if step is None:
      return None
    target = jax.tree.map(ocp.utils.to_shape_dtype_struct, abstract_params)
    restored = self.manager.restore(
        step, args=ocp.args.Composite(state=ocp.args.PyTreeRestore(
            {"params": target}, partial_restore=True)))
    return restored["state"]["params"]

  def wait(self):
    self.manager.wait_until_finished()

  def close(self):
    self.manager.wait_until_finished()
    self.manager.close()
