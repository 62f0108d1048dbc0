"""Orbax checkpoints of flan parameters, read and written one tensor at a time.

Reading: `CheckpointReader` lists the parameters from the checkpoint's Orbax metadata and reads
each one (or one layer of a scanned one) straight from its TensorStore array, so an export holds
one tensor in memory, not the model:

    reader = CheckpointReader("runs/x/model")              # latest step; or .../checkpoints/<step>
    reader.config, reader.step, reader.meta, reader.vocabulary
    reader.read("blocks/3/attention/query")                # np.ndarray [D, H, Dh]

Two layouts are read (paths relative to state/params, a trailing nnx "value" key dropped):

    unscanned   blocks/<i>/<sub>           the flan Decoder (flan/model/decoder.py)
    scanned     blocks_scanned/<sub>       the same <sub> paths, every block stacked along a new
                                           leading "layers" axis: [num_layers, *block shape]

`read("blocks/<i>/<sub>")` answers both: from a scanned checkpoint it reads index i of the
stacked array (TensorStore reads only the chunks holding it; a checkpoint whose arrays are one
chunk each is decoded whole once per layer).

Writing: `write_checkpoint` saves a train-state-shaped tree {"step", "params"} whose leaves are
`LazyArray`s. Orbax writes them through a type handler that loads, writes and drops them one by
one, so the model never sits in memory; the result restores like any flan checkpoint
(`Checkpointer.restore_params`, `trainer.load_model`, `trainer.train(init_from=...)`).

`init_params` starts a run from any checkpoint whose shapes match, in either layout: a scanned
run from an unscanned import and the other way round (`read_into` re-stacks while reading).
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from typing import Any, Callable

import jax
import numpy as np
import orbax.checkpoint as ocp

from flan.export import ConversionError
from flan.model import ModelConfig

MODEL_CONFIG_FILE = "model_config.json"  # as flan.train.trainer.MODEL_CONFIG_FILE
SCANNED = "blocks_scanned"


# --- reading ---------------------------------------------------------------------------------

def checkpoint_steps(model_dir: pathlib.Path) -> list[int]:
  """Steps of the finished checkpoints (Orbax renames a step folder to its number last)."""
  directory = model_dir / "checkpoints"
  if not directory.is_dir():
    return []
  return sorted(int(p.name) for p in directory.iterdir() if p.name.isdigit() and p.is_dir())


def resolve(path: str | pathlib.Path, step: int | None = None) -> tuple[pathlib.Path, int]:
  """(model_dir, step) of a model directory (latest step by default) or of one of its
  <model_dir>/checkpoints/<step> folders."""
  path = pathlib.Path(path).absolute()
  if not (path / MODEL_CONFIG_FILE).exists() and path.name.isdigit() \
      and (path.parent.parent / MODEL_CONFIG_FILE).exists():
    path, step = path.parent.parent, int(path.name) if step is None else step
  if not (path / MODEL_CONFIG_FILE).exists():
    raise ConversionError(f"{path} is not a flan model directory (no {MODEL_CONFIG_FILE})")
  steps = checkpoint_steps(path)
  if not steps:
    raise ConversionError(f"{path}: no complete checkpoint found")
  if step is None:
    step = steps[-1]
  elif step not in steps:
    raise ConversionError(f"{path}: no checkpoint at step {step} (steps: {steps})")
  return path, step


def load_model_config(model_dir: pathlib.Path) -> tuple[ModelConfig, dict]:
  """(ModelConfig, the whole model_config.json) of a model directory, its vocabulary checked."""
  from flan.data import vocab as vocab_lib
  saved = json.loads((model_dir / MODEL_CONFIG_FILE).read_text())
  try:
    config = ModelConfig(**saved["model"])
  except (TypeError, ValueError) as e:
    raise ConversionError(f"{model_dir / MODEL_CONFIG_FILE}: {e}") from None
  vocabulary = pathlib.Path(saved.get("vocabulary") or vocab_lib.DEFAULT_VOCAB)
  if not vocabulary.exists():
    raise ConversionError(f"{model_dir}: its vocabulary {vocabulary} does not exist")
  if saved.get("vocabulary_fingerprint") not in (None, vocab_lib.fingerprint(str(vocabulary))):
    raise ConversionError(f"{model_dir} was trained with a vocabulary that differs from "
                          f"{vocabulary} (fingerprints {saved['vocabulary_fingerprint']} vs "
                          f"{vocab_lib.fingerprint(str(vocabulary))})")
  return config, dict(saved, vocabulary=str(vocabulary))


def _key_names(keys: tuple) -> list[str]:
  return [str(getattr(k, "key", getattr(k, "name", getattr(k, "idx", k)))) for k in keys]


def param_paths(key_paths: list[tuple]) -> list[str | None]:
  """'blocks/0/attention/query' for each key path under "params" (None for the rest: step,
  opt_state). An nnx.State ends every path with the Variable's "value" key; a plain dict does
  not (and then "attention/value" is a parameter): "value" is dropped only when every
  parameter path ends with it."""
  names = [_key_names(keys) for keys in key_paths]
  params = [n for n in names if n and n[0] == "params"]
  strip = bool(params) and all(n[-1] == "value" for n in params)
  return ["/".join(n[1:-1] if strip else n[1:]) if n and n[0] == "params" else None
          for n in names]


@dataclasses.dataclass(frozen=True)
class _Entry:
  key: str                       # the TensorStore key (Orbax's parameter name)
  shape: tuple[int, ...]         # shape of what read() returns
  dtype: np.dtype
  index: int | None = None       # layer of a scanned array


class CheckpointReader:
  """The parameters of one checkpoint, read one tensor at a time (see the module docstring)."""

  def __init__(self, path: str | pathlib.Path, step: int | None = None):
    import tensorstore as ts
    self._ts = ts
    self.model_dir, self.step = resolve(path, step)
    self.config, self.saved = load_model_config(self.model_dir)
    self.vocabulary = self.saved["vocabulary"]
    step_dir = self.model_dir / "checkpoints" / str(self.step)
    self.state_dir = step_dir / "state"
    self.meta = _read_json_item(step_dir / "meta")
    metadata = ocp.PyTreeCheckpointer().metadata(self.state_dir).item_metadata
    self._zarr = "zarr3" if getattr(metadata, "use_zarr3", False) else "zarr"
    self._ocdbt = (self.state_dir / "manifest.ocdbt").exists()
    self.entries: dict[str, _Entry] = {}
    leaves = jax.tree_util.tree_flatten_with_path(metadata.tree)[0]
    for path, (_, leaf) in zip(param_paths([keys for keys, _ in leaves]), leaves):
      if path is None:
        continue
      shape, dtype = tuple(leaf.shape), np.dtype(leaf.dtype)
      if path.startswith(SCANNED + "/"):
        sub = path[len(SCANNED) + 1:]
        for i in range(shape[0]):
          self.entries[f"blocks/{i}/{sub}"] = _Entry(leaf.name, shape[1:], dtype, i)
      else:
        self.entries[path] = _Entry(leaf.name, shape, dtype)
    self.scanned = any(e.index is not None for e in self.entries.values())

  def shape(self, path: str) -> tuple[int, ...]:
    return self._entry(path).shape

  def _entry(self, path: str) -> _Entry:
    if path not in self.entries:
      raise ConversionError(f"{self.state_dir}: no parameter {path!r} (model_config.json and the "
                            f"checkpoint disagree)")
    return self.entries[path]

  def read(self, path: str) -> np.ndarray:
    """One parameter (one layer of a scanned one) as a numpy array in its stored dtype."""
    entry = self._entry(path)
    if self._ocdbt:
      kvstore = {"driver": "ocdbt", "base": f"file://{self.state_dir}/", "path": entry.key}
    else:
      kvstore = {"driver": "file", "path": f"{self.state_dir}/{entry.key}/"}
    array = self._ts.open({"driver": self._zarr, "kvstore": kvstore}, open=True,
                          read=True).result()
    if entry.index is not None:
      array = array[entry.index]
    return np.asarray(array.read().result())


def _read_json_item(directory: pathlib.Path) -> dict:
  """The JSON item Orbax's JsonCheckpointHandler saved in `directory` ({} when absent)."""
  if not directory.is_dir():
    return {}
  return dict(ocp.Checkpointer(ocp.JsonCheckpointHandler()).restore(directory))


# --- writing ---------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class LazyArray:
  """A leaf whose data is produced only when Orbax writes it: load() -> np.ndarray."""
  shape: tuple[int, ...]
  dtype: np.dtype
  load: Callable[[], np.ndarray]

  @property
  def size(self) -> int:
    return int(np.prod(self.shape, dtype=np.int64))

  @property
  def ndim(self) -> int:
    return len(self.shape)


class _OneByOneHandler(ocp.type_handlers.NumpyHandler):
  """Orbax's numpy handler, loading and writing LazyArrays sequentially (one in memory)."""

  def __init__(self, progress: Callable[[str], None] | None = None):
    super().__init__(deepcopy_host_arrays=False)
    self._progress = progress

  async def _background_serialize(self, values, infos, args=None):
    args = args or [ocp.SaveArgs()] * len(values)
    for value, info, arg in zip(values, infos, args):
      array = value.load()
      if tuple(array.shape) != tuple(value.shape) or array.dtype != value.dtype:
        raise ConversionError(f"{info.name}: produced {array.shape} {array.dtype}, expected "
                              f"{value.shape} {value.dtype}")
      await super()._background_serialize([array], [info], [arg])
      del array
      if self._progress:
        self._progress(info.name)


def write_checkpoint(model_dir: pathlib.Path, step: int, params: Any, meta: dict,
                     progress: Callable[[str], None] | None = None) -> pathlib.Path:
  """Writes <model_dir>/checkpoints/<step>/{state: {"step", "params"}, meta} from a tree of
  LazyArrays (flan's train-state layout without optimizer state)."""
  registry = ocp.type_handlers.create_type_handler_registry(
      (LazyArray, _OneByOneHandler(progress)))
  handlers = {"state": ocp.PyTreeCheckpointHandler(type_handler_registry=registry),
              "meta": ocp.JsonCheckpointHandler()}
  options = ocp.CheckpointManagerOptions(create=True, enable_async_checkpointing=False)
  manager = ocp.CheckpointManager(model_dir.absolute() / "checkpoints", options=options,
                                  item_handlers=handlers)
  step_leaf = LazyArray((), np.dtype(np.int32), lambda: np.asarray(step, np.int32))
  try:
    manager.save(step, args=ocp.args.Composite(
        state=ocp.args.PyTreeSave({"step": step_leaf, "params": params}),
        meta=ocp.args.JsonSave(meta)))
    manager.wait_until_finished()
  finally:
    manager.close()
  return model_dir / "checkpoints" / str(step)


def lazy_params(config: ModelConfig, load: Callable[[str], np.ndarray]) -> Any:
  """The nnx parameter tree of a Decoder(config), each leaf a LazyArray whose load() is
  load('blocks/0/attention/query') etc. (for a scanned config, blocks_scanned/<sub> stacks
  load('blocks/<i>/<sub>') over the layers). Nothing is allocated (the model is traced
  abstractly)."""
  from flax import nnx

  from flan.model import Decoder
  abstract = nnx.eval_shape(lambda: Decoder(config, rngs=nnx.Rngs(0)))
  _, params = nnx.split(abstract, nnx.Param)

  def load_any(path: str) -> np.ndarray:
    if path.startswith(SCANNED + "/"):
      sub = path[len(SCANNED) + 1:]
      return np.stack([load(f"blocks/{i}/{sub}") for i in range(config.num_layers)])
    return load(path)

  leaves, treedef = jax.tree_util.tree_flatten_with_path(params)
  paths = param_paths([("params",) + tuple(keys) for keys, _ in leaves])
  lazy = [LazyArray(tuple(value.shape), np.dtype(value.dtype), lambda path=path: load_any(path))
          for path, (_, value) in zip(paths, leaves)]
  return jax.tree_util.tree_unflatten(treedef, lazy)


def read_into(reader: CheckpointReader, target: Any) -> Any:
  """The params of `reader`'s checkpoint placed like `target` (an nnx.State of jax.Arrays with
  shardings), whatever the checkpoint's layout: each device's shard is cut from the tensors
  read one layer at a time (a scanned target's shard stacks the layers it holds), so no host
  ever holds more than one layer of one parameter beyond its own shards."""
  import functools
  read = functools.lru_cache(maxsize=1)(reader.read)

  def place(path: str, leaf: jax.Array) -> jax.Array:
    def shard(index: tuple) -> np.ndarray:
      if not path.startswith(SCANNED + "/"):
        return read(path)[index]
      sub = path[len(SCANNED) + 1:]
      layers = range(leaf.shape[0])[index[0]]
      return np.stack([read(f"blocks/{i}/{sub}")[index[1:]] for i in layers])
    make = lambda index: np.asarray(shard(index), leaf.dtype)
    return jax.make_array_from_callback(leaf.shape, leaf.sharding, make)

  leaves, treedef = jax.tree_util.tree_flatten_with_path(target)
  paths = param_paths([("params",) + tuple(keys) for keys, _ in leaves])
  return jax.tree_util.tree_unflatten(
      treedef, [place(path, leaf) for path, (_, leaf) in zip(paths, leaves)])


def restore_params(model_dir: pathlib.Path, step: int, target: Any) -> Any:
  """The params of a checkpoint restored into `target`'s shapes, dtypes and shardings (jax.Arrays
  placed directly; works for trainer-written and streamed checkpoints alike)."""
  structs = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
  restore_args = jax.tree.map(
      lambda x: ocp.ArrayRestoreArgs(sharding=x.sharding, global_shape=x.shape, dtype=x.dtype),
      structs)
  manager = ocp.CheckpointManager(model_dir.absolute() / "checkpoints",
                                  item_names=("state", "meta"))
  try:
    restored = manager.restore(step, args=ocp.args.Composite(state=ocp.args.PyTreeRestore(
        {"params": structs}, restore_args={"params": restore_args}, partial_restore=True)))
  finally:
    manager.close()
  return restored["state"]["params"]


def init_params(init_from: str | pathlib.Path, config: ModelConfig, vocabulary: str | None,
                target: Any, step: int | None = None) -> Any:
  """The parameters a run starts from (`trainer.train(init_from=...)`): those of a model
  directory (an import, a params export, or any flan run), restored into `target` (the run's
  sharded params) after checking that shapes and vocabulary agree."""
  from flan.data import vocab as vocab_lib
  model_dir, step = resolve(init_from, step)
  source, saved = load_model_config(model_dir)
  ignored = ("dtype", "param_dtype", "remat", "scan_layers")
  mismatched = [f"{k}={getattr(source, k)!r} (this run: {getattr(config, k)!r})"
                for k in dataclasses.asdict(config) if k not in ignored
                and getattr(source, k) != getattr(config, k)]
  if mismatched:
    raise ConversionError(f"init_from {model_dir}: another model shape: {', '.join(mismatched)}")
  if saved.get("vocabulary_fingerprint") != vocab_lib.fingerprint(vocabulary):
    raise ConversionError(f"init_from {model_dir}: its vocabulary ({saved['vocabulary']}) is not "
                          f"this run's ({vocabulary or vocab_lib.DEFAULT_VOCAB})")
  reader = CheckpointReader(model_dir, step)
  if reader.scanned != config.scan_layers:  # the other layout: re-stacked while it is read
    return read_into(reader, target)
  return restore_params(model_dir, step, target)
