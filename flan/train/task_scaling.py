"""Per-task loss scaling: each task's loss divided by log(n), n the size of its output space.

A two-way classification task's loss starts near log 2 = 0.69 and a generation task's near
log V (10.4 for V = 32000); dividing each by log n puts them on one scale, so the generation
tasks do not dominate the gradient just by having the larger loss. n is

    classification   the number of options (catalog.DatasetSpec.num_options)
    generation       the vocabulary size (also classification over open sets, e.g. ReCoRD)

Off by default (the FLAN recipe does not scale); configs/experiments/task_loss_scaling.gin turns
it on. The trainer multiplies each target token's loss by the factor of the task its example
came from (the packed task ids of data.TrainData), in the numerator only: the reported loss is
still the plain cross-entropy per target token.

    scales = loss_scales(["flan:rte", "flan:squad_v1"], vocab_size=32000)
    # [0, 1 / log 2, 1 / log 32000]: index 0 is padding (task id 0), task i has id i + 1
"""

from __future__ import annotations

import math

import numpy as np

from flan.data import tasks


def output_space(task_name: str, vocab_size: int) -> int:
  """n of one task (`flan:rte`, `flan:rte:t3`, ...): its number of options, else vocab_size."""
  spec, _ = tasks.resolve(task_name)
  return spec.num_options or vocab_size


def loss_scales(task_names: list[str], vocab_size: int) -> np.ndarray:
  """float32 [1 + len(task_names)]: 0 for padding, then 1 / log(n) of every task in order."""
  factors = [1.0 / math.log(output_space(name, vocab_size)) for name in task_names]
  return np.asarray([0.0] + factors, np.float32)
