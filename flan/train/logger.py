"""Training metrics: averaged over each logging window, written as JSONL and TensorBoard events.

Per logged step (one JSON line in <model_dir>/metrics.jsonl, and the same scalars as TensorBoard
events in <model_dir>/tensorboard/):

    loss                 cross-entropy per target token over the window (whatever the packing)
    accuracy             next-token accuracy on target tokens
    learning_rate        at the logged step
    grad_norm            global gradient norm at the logged step
    packing_efficiency   non-padding positions / all positions fed to the model
    tokens_per_s         positions fed per second (padding included), over the window
    mfu                  model FLOPs utilization, when the device peak is given
"""

from __future__ import annotations

import json
import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np

SUMMED = ("loss_sum", "target_tokens", "correct_tokens")


class MetricsLogger:
  """Accumulates step metrics on device (no host sync) and writes one record per window."""

  def __init__(self, model_dir: pathlib.Path, *, flops_per_token: float | None = None,
               peak_flops: float | None = None, tensorboard: bool = True,
               extra: dict | None = None):
    self.path = model_dir / "metrics.jsonl"
    self.flops_per_token = flops_per_token
    self.peak_flops = peak_flops
    self.extra = extra or {}
    self._writer = None
    if tensorboard and jax.process_index() == 0:
      import tensorflow as tf
      self._writer = tf.summary.create_file_writer(str(model_dir / "tensorboard"))
    self._reset()

  def _reset(self):
    self._sums = None
    self._real = 0
    self._positions = 0
    self._start = time.perf_counter()

  def add(self, metrics: dict, batch: dict) -> None:
    """Adds one step's device metrics (asynchronously) and its batch's padding counts."""
    summed = {k: metrics[k] for k in SUMMED}
    self._sums = summed if self._sums is None else jax.tree.map(jnp.add, self._sums, summed)
    targets = batch["decoder_target_tokens"]
    self._real += int(np.count_nonzero(targets))
    self._positions += targets.size

  def write(self, step: int, metrics: dict, learning_rate: float) -> dict:
    """Closes the window at `step`: one JSONL line and TensorBoard scalars; returns the record."""
    sums = jax.device_get(self._sums)
    elapsed = max(time.perf_counter() - self._start, 1e-9)
    tokens = max(float(sums["target_tokens"]), 1.0)
    record = {
        "step": step,
        "loss": float(sums["loss_sum"]) / tokens,
        "accuracy": float(sums["correct_tokens"]) / tokens,
        "learning_rate": learning_rate,
        "grad_norm": float(jax.device_get(metrics["grad_norm"])),
        "packing_efficiency": self._real / max(self._positions, 1),
        "tokens_per_s": self._positions / elapsed,
    }
    if self.flops_per_token and self.peak_flops:
      record["mfu"] = record["tokens_per_s"] * self.flops_per_token / (
          self.peak_flops * jax.device_count())
    if jax.process_index() == 0:
      with self.path.open("a") as f:
        f.write(json.dumps({**record, **self.extra}) + "\n")
      if self._writer is not None:
        import tensorflow as tf
        with self._writer.as_default(step=step):
          for key, value in record.items():
            if key != "step":
              tf.summary.scalar(key, value)
        self._writer.flush()
    self._reset()
    return record

  def close(self):
    if self._writer is not None:
      self._writer.close()
