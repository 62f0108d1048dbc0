"""The trainer loop: build, restore, step, log, checkpoint.

    train(model_dir="runs/x", mixture="mix:synthetic", model=presets["demo"], num_steps=600)

writes into `model_dir` (the whole layout: flan/checkpoint/model_dir.py), and only once the run
can start (`check_run`: the mixture resolves, its datasets are prepared, vocabulary and model
shape fit, an existing model_dir or init_from matches):
    model_config.json      the model's shape and vocabulary (flan.checkpoint.model_dir)
    checkpoints/<step>/    Orbax checkpoints (state + data position + mixture + vocabulary)
    data_state/            the input pipeline's iterator at each checkpoint (flan/data/pipeline.py)
    metrics.jsonl          one line per logged step: loss per target token, token accuracy,
                           learning rate, gradient norm, packing efficiency, tokens/s
A second call with the same `model_dir` resumes from the latest complete checkpoint. SIGTERM
(preemption) saves a checkpoint at the current step and returns cleanly.

On several hosts (`jax.distributed.initialize()` first) every host runs the same call. With
host_input="shard" (the default) each host reads its own shard of the data (`seqio.ShardInfo`)
and feeds batch_size / hosts rows of every global batch; with host_input="global" every host
reads the whole stream and feeds its devices' rows of each global batch, so the run sees exactly
the batches of a one-host run (the same losses on any number of hosts; each host packs the
whole batch).
"""

from __future__ import annotations

import pathlib
import signal
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from flan.errors import UserError
from flan import sharding
from flan.checkpoint import manager, model_dir as model_dir_lib, restore
from flan.data import pipeline, prepare
from flan.data import vocab as vocab_lib
from flan.model import ModelConfig
from flan.train import logger as metrics_lib
from flan.train import optimizer as optimizer_lib, step as step_lib
from flan.train import task_scaling


class TrainingError(UserError, RuntimeError):
  """The run cannot go on (bad batch, bad config, mismatched checkpoint)."""


def check_batch(batch: dict, step: int) -> None:
  """Fail fast on a batch that would train on nothing."""
  weights = batch["decoder_loss_weights"]
  if not np.any(weights):
    raise TrainingError(f"step {step}: the batch has no loss-bearing token (all loss weights 0)")
  real = batch["decoder_target_tokens"] != 0
  if np.all(weights[real] == 1):
    raise TrainingError(f"step {step}: every token carries loss; inputs would be trained on")


class _Preemption:
  """Turns SIGTERM into a flag the loop checks after each step."""

  def __init__(self):
    self.requested = False
    self._previous = None

  def __enter__(self):
    try:
      self._previous = signal.signal(signal.SIGTERM, self._handle)
    except ValueError:  # not the main thread
      self._previous = None
    return self

  def _handle(self, signum, frame):
    self.requested = True

  def __exit__(self, *exc):
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)


def host_shard():
  """This host's share of the data on a multi-host run (None on one host)."""
  if jax.process_count() == 1:
    return None
  import seqio
  return seqio.ShardInfo(index=jax.process_index(), num_shards=jax.process_count())


HOST_INPUTS = ("shard", "global")


def host_batch_size(batch_size: int) -> int:
  """Rows of the global batch this host reads and feeds (every host the same number)."""
  if batch_size % jax.process_count():
    raise TrainingError(f"batch_size {batch_size} does not divide over {jax.process_count()} "
                        f"hosts")
  return batch_size // jax.process_count()


@jax.jit
def _first_nonfinite(first, finite, step):
  """The first step (> 0) whose loss or gradient was not finite, or 0: tracked on device."""
  return jnp.where((first == 0) & ~finite, step, first)


def batch_tasks(task_names: list[str], tasks: tuple[str, ...]) -> list[str]:
  """The task names of a batch on every host (a union over hosts of each host's rows)."""
  if jax.process_count() == 1:
    return sorted(tasks)
  from jax.experimental import multihost_utils
  mask = np.array([name in tasks for name in task_names])
  union = np.any(multihost_utils.process_allgather(mask), axis=0)
  return [name for name, held in zip(task_names, union) if held]


def check_data(mixture: str, prepared: bool = True) -> None:
  """Fails unless `mixture` (a mixture or a task name) resolves and (`prepared`) the TFDS data
  of every dataset it trains on is prepared (`flan data prepare` names what is missing). With
  task caches (FLAN_CACHE_DIR) the tasks may be read from the cache instead, so only the names
  are checked."""
  specs = prepare.entries_for([mixture], evaluation=False)
  if prepared and not pipeline.cache_dirs():
    prepare.require_ready(specs)


def check_run(model_dir: pathlib.Path, mixture: str, model: ModelConfig, vocabulary: str | None,
              init_from: str | None, num_steps: int):
  """Everything a run needs before it writes anything; returns the seqio vocabulary. (The data
  of a run that has already reached `num_steps` is not needed, so not checked.)"""
  if init_from and pathlib.Path(init_from).absolute() == model_dir.absolute():
    raise TrainingError(f"model_dir {model_dir} is init_from itself; train into a new directory")
  vocab = vocab_lib.get_vocabulary(vocabulary)
  vocab_lib.check_model_fit(vocabulary, vocab.vocab_size, model.vocab_size)
  if vocab.vocab_size > model.vocab_size:
    raise TrainingError(f"the vocabulary has {vocab.vocab_size} pieces but the model's embedding "
                        f"has {model.vocab_size} rows; set vocab_size >= {vocab.vocab_size}")
  model_dir_lib.check_compatible(model_dir, model, vocabulary)
  steps = model_dir_lib.checkpoint_steps(model_dir)
  if init_from and not steps:
    restore.check_init_from(init_from, model, vocabulary)
  check_data(mixture, prepared=not steps or steps[-1] < num_steps)
  return vocab


def _progress(total: int, initial: int, enabled: bool):
  from tqdm.auto import tqdm
  return tqdm(total=total, initial=initial, disable=not enabled or jax.process_index() != 0,
              unit="step", dynamic_ncols=True, desc="train")


def train(*, model_dir: str, mixture: str, model: ModelConfig, num_steps: int,
          batch_size: int = 16, inputs_length: int = 192, targets_length: int = 64,
          learning_rate: float | optax.Schedule = 3e-5,
          optimizer: Callable[..., optax.GradientTransformation] = optimizer_lib.adafactor,
          seed: int = 0, data_seed: int = 0, checkpoint_every: int = 1000,
          keep_checkpoints: int = 3, log_every: int = 10, z_loss: float = 0.0,
          loss_normalization: str = "tokens", microbatches: int = 1,
          mesh_shape: tuple[int, int, int] = (-1, 1, 1), axis_rules=None,
          on_nonfinite: str = "stop", peak_flops_per_device: float | None = None,
          tensorboard: bool = True, vocabulary: str | None = None,
          init_from: str | None = None, progress: bool = True,
          host_input: str = "shard", loss_capacity: float | None = None,
          task_loss_scaling: bool = False,
          on_start: Callable[[], None] | None = None) -> dict:
  """Trains `model` on `mixture` for `num_steps` steps (resuming), returns the last metrics.

  init_from: a model directory (`flan import hf` or `flan export params` output, or another run)
  whose latest parameters a new run starts from, with a fresh optimizer state; ignored once
  `model_dir` has a checkpoint of its own.

  on_nonfinite: "stop" raises at the first logged/checkpointed step after a step whose loss or
  gradient is not finite, naming that step, the tasks whose examples its batch held and the last
  good checkpoint; "skip" leaves parameters and optimizer state unchanged for such a step and
  goes on.

  loss_capacity: compute logits only at the first ceil(c * length) loss positions of each row
  (`step.make_train_step`; exact: a batch with more falls back to every position). FLAN rows
  are mostly inputs, so 0.5 (configs/runs/train.gin) skips at least half the output projection.

  task_loss_scaling: divide each task's loss by log(n), n its number of options or the vocabulary
  size (flan/train/task_scaling.py; configs/experiments/task_loss_scaling.gin). Off in the
  FLAN recipe.

  on_start: called once the run is checked (`check_run`) and before anything is written into
  `model_dir` (the CLI writes config.gin there).

  host_input: how the hosts of a multi-host run read the data (no difference on one host):
  "shard", each host its own `seqio.ShardInfo` shard and batch_size / hosts rows per step (the
  normal mode: each host packs only its share); "global", every host the whole stream, each
  feeding its devices' rows of every global batch (the batches of a one-host run, whatever the
  number of hosts; every host packs the whole batch).
  """
  if on_nonfinite not in ("stop", "skip"):
    raise TrainingError(f"on_nonfinite must be 'stop' or 'skip', got {on_nonfinite!r}")
  if host_input not in HOST_INPUTS:
    raise TrainingError(f"host_input must be one of {HOST_INPUTS}, got {host_input!r}")
  model_dir = pathlib.Path(model_dir)
  mesh = sharding.make_mesh(mesh_shape)
  rules = tuple(axis_rules) if axis_rules else sharding.DEFAULT_RULES
  try:
    sharding.check_batch(batch_size, mesh, rules, microbatches)
  except ValueError as e:
    raise TrainingError(str(e)) from None
  host_batch_size(batch_size)  # divides over the hosts
  vocab = check_run(model_dir, mixture, model, vocabulary, init_from, num_steps)
  if on_start is not None:
    on_start()
  model_dir.mkdir(parents=True, exist_ok=True)
  model_dir_lib.save_model_config(model_dir, model, vocabulary)
  schedule = learning_rate if callable(learning_rate) else optax.constant_schedule(learning_rate)
  graphdef, tx, state, shardings = step_lib.build_state(
      model, lambda axes: optimizer(learning_rate=schedule, axes=axes), seed, mesh, rules)
  batch_sharding = sharding.batch_sharding(mesh, rules)

  ckpt = manager.Checkpointer(model_dir, every=checkpoint_every, keep=keep_checkpoints)
  start_batch, start_step = 0, 0
  restored = ckpt.restore(state)
  if restored is not None:
    state, meta = restored
    model_dir_lib.check_vocabulary(f"{model_dir}: the checkpoint", meta.get("vocabulary"),
                                   vocabulary)
    start_step, start_batch = int(meta["step"]), int(meta["data"]["batches"])
    if start_step < num_steps:  # a finished run says so where it is called (flan train)
      print(f"resuming {model_dir} from step {start_step}")
  elif init_from:
    params = restore.init_params(init_from, model, vocabulary, state["params"])
    state = dict(state, params=params, opt_state=jax.jit(
        tx.init, out_shardings=shardings["opt_state"])(params))
    print(f"starting {model_dir} from the parameters of {init_from}")
  if start_step >= num_steps:
    ckpt.close()
    return {"step": start_step}

  sharded = host_input == "shard"
  batches = pipeline.TrainData(mixture, inputs_length=inputs_length, targets_length=targets_length,
                           batch_size=host_batch_size(batch_size) if sharded else batch_size,
                           seed=data_seed, vocabulary=vocab,
                           shard_info=host_shard() if sharded else None, start_batch=start_batch,
                           state_dir=model_dir / "data_state", track_tasks=True,
                           host=jax.process_index())
  scales = None
  if task_loss_scaling:
    scales = task_scaling.loss_scales(batches.task_names, vocab.vocab_size)
    print("task loss scales: " + ", ".join(f"{name} {factor:.3f}" for name, factor
                                           in zip(batches.task_names, scales[1:])))
  train_step = step_lib.make_train_step(
      graphdef, tx, z_loss=z_loss, normalization=loss_normalization, microbatches=microbatches,
      skip_nonfinite=on_nonfinite == "skip", state_shardings=shardings,
      batch_sharding=batch_sharding, rules=rules, loss_capacity=loss_capacity)
  logger = metrics_lib.MetricsLogger(
      model_dir, flops_per_token=model.flops_per_token(inputs_length + targets_length),
      peak_flops=peak_flops_per_device, tensorboard=tensorboard,
      extra={"loss_normalization": loss_normalization})

  def save(at_step: int, force: bool = False):
    meta = {"step": at_step, "data": batches.position(), "mixture": mixture,
            "vocabulary": vocab_lib.fingerprint(vocabulary)}
    ckpt.save(at_step, state, meta, force=force)

  # Between two checks: the first non-finite step (on device, no sync per step) and the tasks
  # of every step's batch (on this host).
  first_bad, fed_tasks = np.int32(0), {}

  def check_finite(at_step: int):
    nonlocal first_bad, fed_tasks
    if on_nonfinite == "stop" and (bad := int(jax.device_get(first_bad))):
      tasks = ", ".join(batch_tasks(batches.task_names, fed_tasks[bad]))
      caught = "" if bad == at_step else f" (caught at step {at_step})"
      ckpt.wait()  # an asynchronous save still in flight is the last good checkpoint too
      raise TrainingError(
          f"step {bad}: non-finite loss or gradient{caught} while training on {mixture}; the "
          f"batch of step {bad} held examples of the tasks {tasks}; the last good checkpoint "
          f"is step {ckpt.latest_step()} in {ckpt.directory} (set on_nonfinite='skip' to skip "
          f"such updates)")
    first_bad, fed_tasks = np.int32(0), {}

  last = {}
  bar = _progress(num_steps, start_step, progress)
  with _Preemption() as preemption:
    for step in range(start_step + 1, num_steps + 1):
      batch = next(batches)
      check_batch(batch, step)
      if scales is not None:
        batch[step_lib.LOSS_SCALE] = scales[batches.last_task_ids]
      state, metrics = train_step(state, pipeline.to_global(batch, batch_sharding,
                                                        whole=not sharded))
      logger.add(metrics, batch)
      if on_nonfinite == "stop":
        first_bad = _first_nonfinite(first_bad, metrics["finite"], np.int32(step))
        fed_tasks[step] = batches.last_tasks
      log_now = step % log_every == 0 or step == num_steps
      save_now = ckpt.should_save(step) or step == num_steps or preemption.requested
      if log_now or save_now:
        check_finite(step)
      if log_now:
        last = logger.write(step, metrics, float(schedule(step - 1)))
        bar.set_postfix(loss=f"{last['loss']:.3f}", acc=f"{last['accuracy']:.3f}")
      bar.update(1)
      if save_now:
        save(step, force=preemption.requested)
      if preemption.requested:
        print(f"SIGTERM: saved step {step}, exiting")
        break
  bar.close()
  logger.close()
  ckpt.close()
  return last
