"""Safetensors files read and written one tensor at a time, with numpy only.

The format (https://github.com/huggingface/safetensors) is

    8 bytes      N, little-endian uint64
    N bytes      JSON header: {"__metadata__": {...},
                               name: {"dtype": "F32", "shape": [...], "data_offsets": [b, e]}}
    the rest     raw little-endian tensor bytes; [b, e) is relative to the end of the header

so a writer that knows every name, shape and dtype up front can write the header first and then
stream the tensors in header order, and a reader can seek to one tensor without touching the
others. Neither side needs torch or the `safetensors` package; `transformers` reads what
`ShardedWriter` writes (tests/test_export.py loads it).

    reader = SafetensorsDir("hf_model/")        # model.safetensors or sharded + index.json
    reader.names(); reader.shape(name); reader.read(name) -> np.ndarray

    writer = ShardedWriter(out, [(name, shape, dtype), ...], max_shard_bytes=5 << 30)
    for name, array in ...: writer.write(name, array)     # in the planned order
    writer.close()                                          # index.json when sharded
"""

from __future__ import annotations

import json
import os
import pathlib
import struct
import sys
from collections.abc import Iterable

import ml_dtypes
import numpy as np

from flan.errors import UserError

DTYPES = {
    "F64": np.dtype(np.float64), "F32": np.dtype(np.float32), "F16": np.dtype(np.float16),
    "BF16": np.dtype(ml_dtypes.bfloat16), "I64": np.dtype(np.int64),
    "I32": np.dtype(np.int32), "I16": np.dtype(np.int16), "I8": np.dtype(np.int8),
    "U8": np.dtype(np.uint8), "BOOL": np.dtype(np.bool_),
}
DTYPE_NAMES = {dtype: name for name, dtype in DTYPES.items()}
INDEX_FILE = "model.safetensors.index.json"
SINGLE_FILE = "model.safetensors"
# Rows of a tensor converted and written per step: bounds the extra memory of a transposed or
# cast tensor to about this many bytes instead of a full copy.
WRITE_BLOCK_BYTES = 64 << 20

assert sys.byteorder == "little", "safetensors data is little-endian"


class SafetensorsError(UserError, ValueError):
  """A safetensors file or directory that cannot be read as such."""


def read_header(path: pathlib.Path) -> tuple[dict, int]:
  """(header without __metadata__, byte offset of the data) of one .safetensors file."""
  with open(path, "rb") as f:
    prefix = f.read(8)
    if len(prefix) != 8:
      raise SafetensorsError(f"{path}: not a safetensors file (too short)")
    (length,) = struct.unpack("<Q", prefix)
    if length > os.path.getsize(path):
      raise SafetensorsError(f"{path}: not a safetensors file (header length {length})")
    header = json.loads(f.read(length))
  header.pop("__metadata__", None)
  return header, 8 + length


class SafetensorsDir:
  """The tensors of a Hugging Face checkpoint directory, read one at a time."""

  def __init__(self, directory: str | pathlib.Path):
    directory = pathlib.Path(directory)
    files = sorted(directory.glob("*.safetensors"))
    if not files:
      found = ", ".join(sorted(p.name for p in directory.iterdir())) if directory.is_dir() else ""
      raise SafetensorsError(f"{directory}: no *.safetensors files (found: {found or 'nothing'}); "
                             f"convert PyTorch .bin weights to safetensors first")
    self._where: dict[str, tuple[pathlib.Path, dict, int]] = {}
    for path in files:
      header, data_start = read_header(path)
      for name, entry in header.items():
        if entry["dtype"] not in DTYPES:
          raise SafetensorsError(f"{path}: tensor {name} has unsupported dtype {entry['dtype']}")
        self._where[name] = (path, entry, data_start)

  def names(self) -> list[str]:
    return list(self._where)

  def __contains__(self, name: str) -> bool:
    return name in self._where

  def shape(self, name: str) -> tuple[int, ...]:
    return tuple(self._where[name][1]["shape"])

  def dtype(self, name: str) -> np.dtype:
    return DTYPES[self._where[name][1]["dtype"]]

  def read(self, name: str) -> np.ndarray:
    """One tensor, read from disk into a fresh array (no memory map is kept)."""
    path, entry, data_start = self._where[name]
    begin, end = entry["data_offsets"]
    dtype = DTYPES[entry["dtype"]]
    with open(path, "rb") as f:
      f.seek(data_start + begin)
      data = np.fromfile(f, dtype=np.uint8, count=end - begin)
    if data.size != end - begin:
      raise SafetensorsError(f"{path}: tensor {name} is truncated")
    return data.view(dtype).reshape(entry["shape"])


def _nbytes(shape, dtype) -> int:
  return int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize


def plan_shards(tensors: list[tuple[str, tuple, np.dtype]],
                max_shard_bytes: int) -> list[list[tuple[str, tuple, np.dtype]]]:
  """Splits tensors, in order, into shards of at most max_shard_bytes (one tensor may exceed)."""
  shards, current, size = [], [], 0
  for tensor in tensors:
    nbytes = _nbytes(tensor[1], tensor[2])
    if current and size + nbytes > max_shard_bytes:
      shards.append(current)
      current, size = [], 0
    current.append(tensor)
    size += nbytes
  if current or not shards:
    shards.append(current)
  return shards


def _header_bytes(shard: list[tuple[str, tuple, np.dtype]], metadata: dict) -> bytes:
  header = {"__metadata__": metadata}
  offset = 0
  for name, shape, dtype in shard:
    nbytes = _nbytes(shape, dtype)
    header[name] = {"dtype": DTYPE_NAMES[np.dtype(dtype)], "shape": list(shape),
                    "data_offsets": [offset, offset + nbytes]}
    offset += nbytes
  encoded = json.dumps(header, separators=(",", ":")).encode()
  encoded += b" " * (-len(encoded) % 8)  # the data starts 8-byte aligned
  return struct.pack("<Q", len(encoded)) + encoded


class ShardedWriter:
  """Writes planned tensors into model.safetensors, or model-0000k-of-0000n.safetensors shards
  plus model.safetensors.index.json, holding at most one tensor (plus a block) in memory."""

  def __init__(self, directory: str | pathlib.Path,
               tensors: Iterable[tuple[str, tuple, np.dtype]], max_shard_bytes: int = 5 << 30,
               metadata: dict | None = None):
    self.directory = pathlib.Path(directory)
    self._metadata = {"format": "pt", **(metadata or {})}
    tensors = [(name, tuple(shape), np.dtype(dtype)) for name, shape, dtype in tensors]
    self._shards = plan_shards(tensors, max_shard_bytes)
    count = len(self._shards)
    self.files = ([SINGLE_FILE] if count == 1 else
                  [f"model-{i + 1:05d}-of-{count:05d}.safetensors" for i in range(count)])
    self._order = [(i, name, shape, dtype) for i, shard in enumerate(self._shards)
                   for name, shape, dtype in shard]
    self._next = 0
    self._file = None
    self._shard = -1
    self.total_bytes = sum(_nbytes(shape, dtype) for _, _, shape, dtype in self._order)

  def write(self, name: str, array: np.ndarray) -> None:
    """Writes the next planned tensor; `array` may be a non-contiguous view of any float dtype:
    it is cast and made contiguous block by block."""
    shard, expected, shape, dtype = self._order[self._next]
    if name != expected or tuple(array.shape) != shape:
      raise SafetensorsError(f"expected tensor {expected} {shape}, got {name} {array.shape}")
    if shard != self._shard:
      self._open(shard)
    flat = array.reshape(shape[0], -1) if array.ndim > 1 else array.reshape(1, -1)  # a view
    row_bytes = max(flat.shape[1] * dtype.itemsize, 1)
    step = max(1, WRITE_BLOCK_BYTES // row_bytes)
    for start in range(0, flat.shape[0], step):
      block = np.ascontiguousarray(flat[start:start + step], dtype=dtype)
      self._file.write(block.view(np.uint8).data)
    self._next += 1

  def _open(self, shard: int) -> None:
    if self._file is not None:
      self._file.close()
    self._shard = shard
    self._file = open(self.directory / self.files[shard], "wb")
    self._file.write(_header_bytes(self._shards[shard], self._metadata))

  def close(self) -> None:
    """Finishes the last shard and writes the index of a sharded checkpoint."""
    if self._next != len(self._order):
      raise SafetensorsError(f"only {self._next} of {len(self._order)} tensors were written")
    if self._file is None:  # no tensors at all: still a valid (empty) file
      self._open(0)
    self._file.close()
    self._file = None
    if len(self.files) > 1:
      weight_map = {name: self.files[shard] for shard, name, _, _ in self._order}
      index = {"metadata": {"total_size": self.total_bytes}, "weight_map": weight_map}
      (self.directory / INDEX_FILE).write_text(json.dumps(index, indent=2) + "\n")
