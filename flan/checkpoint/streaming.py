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
(`Checkpointer.restore_params`, `restore.load_model`, `trainer.train(init_from=...)`).

`read_into` places a checkpoint's parameters into a target of the other layout (scanned from
unscanned and the other way round), re-stacking while reading: `restore.init_params` uses it.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any, Callable

import jax
import numpy as np
import orbax.checkpoint as ocp

from flan.checkpoint import manager, model_dir as model_dir_lib
from flan.checkpoint.model_dir import ModelDirError
from flan.model import ModelConfig
from flan.model import Decoder

SCANNED = "blocks_scanned"


# --- reading ---------------------------------------------------------------------------------

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
    self.model_dir, self.step = model_dir_lib.resolve(path, step)
    saved = model_dir_lib.load_model_config(self.model_dir)
    self.config, self.vocabulary = saved.model, saved.vocabulary
    self.state_dir = self.model_dir / model_dir_lib.CHECKPOINTS / str(self.step) / "state"
    self.meta = model_dir_lib.read_meta(self.model_dir, self.step)
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
      raise ModelDirError(f"{self.state_dir}: no parameter {path!r} (model_config.json and the "
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
        raise ModelDirError(f"{info.name}: produced {array.shape} {array.dtype}, expected "
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
  orbax = manager.orbax_manager(model_dir, item_handlers=handlers)
  step_leaf = LazyArray((), np.dtype(np.int32), lambda: np.asarray(step, np.int32))
  try:
    orbax.save(step, args=ocp.args.Composite(
        state=ocp.args.PyTreeSave({"step": step_leaf, "params": params}),
        meta=ocp.args.JsonSave(meta)))
    orbax.wait_until_finished()
  finally:
    orbax.close()
  return pathlib.Path(model_dir) / model_dir_lib.CHECKPOINTS / str(step)


def lazy_params(config: ModelConfig, load: Callable[[str], np.ndarray]) -> Any:
  """The nnx parameter tree of a Decoder(config), each leaf a LazyArray whose load() is
  load('blocks/0/attention/query') etc. (for a scanned config, blocks_scanned/<sub> stacks
  load('blocks/<i>/<sub>') over the layers). Nothing is allocated (the model is traced
  abstractly)."""
  from flax import nnx
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
