"""Cloud TPU slice names -> the compile-only devices of the TPU compiler (no TPU needed).

A Cloud TPU slice is named `<generation>-<N>`; what N counts depends on the generation:

  name       N counts      devices JAX sees        chips   topology (chips)   HBM/device  bf16 peak/device
  v3-128     TensorCores   128 (one per core)      64      v3:8x8             16 GiB      61.5 TFLOP/s
  v4-64      TensorCores   32 (megacore chips)     32      v4:2x4x4           32 GiB      275 TFLOP/s
  v5e-256    chips         256                     256     v5e:16x16          16 GiB      197 TFLOP/s
  v5p-128    TensorCores   64 (megacore chips)     64      v5p:4x4x4          95 GiB      459 TFLOP/s
  v6e-8      chips         8                       8       v6e:2x4            32 GiB      918 TFLOP/s

`2xv5e-256` is two such slices joined over the data-center network (multislice). A name the
TPU runtime already understands (`v4:2x2x1`) is taken as it is. Chips are laid out as Cloud TPU
lays them out: a 2-D torus for v3/v5e/v6e (v3-8: 2x2, v5e-8: 2x4, 16: 4x4, 32: 4x8, ...), 3-D
for v4/v5p (4 chips: 2x2x1, 8: 2x2x2, 16: 2x2x4, 32: 2x4x4, 64: 4x4x4, ...).

`devices(name)` asks libtpu (installed by `pip install 'jax[tpu]'`) for the slice's devices;
`jax.jit(...).lower(...).compile()` accepts them, so the real TPU compiler compiles for them on
a machine without a TPU. Where this host has no TPU it sets TPU_SKIP_MDS_QUERY=1 first, so libtpu
never asks a cloud metadata server for the topology, and ALLOW_MULTIPLE_LIBTPU_LOAD=1, so several
processes may compile at once.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import re

from flan.errors import UserError

GiB = 1024 ** 3


class TopologyError(UserError, ValueError):
  """A slice name that is not one, or libtpu missing."""


@dataclasses.dataclass(frozen=True)
class Generation:
  name: str
  counts_cores: bool      # N in "v4-64" counts TensorCores (2 per chip), else chips
  dims: int               # 2-D or 3-D torus
  devices_per_chip: int   # devices JAX sees per chip (v3: 2 cores; megacore chips: 1)
  hbm_bytes: int          # per device
  peak_flops: float       # dense bfloat16 FLOP/s per device, from the data sheet
  chip_config: str | None = None  # libtpu's chip config ("megacore": one device per chip)


GENERATIONS = {
    "v3": Generation("v3", True, 2, 2, 16 * GiB, 61.5e12),
    "v4": Generation("v4", True, 3, 1, 32 * GiB, 275e12, "megacore"),
    "v5e": Generation("v5e", False, 2, 1, 16 * GiB, 197e12),
    "v5p": Generation("v5p", True, 3, 1, 95 * GiB, 459e12),
    "v6e": Generation("v6e", False, 2, 1, 32 * GiB, 918e12),
}
NAME = re.compile(r"^(?:(\d+)x)?(v\d+[a-z]?)-(\d+)$")
RAW = re.compile(r"^(?:(\d+)x)?(v\d+[a-z]?):(\d+(?:x\d+)+)$")


@dataclasses.dataclass(frozen=True)
class Slice:
  """A parsed slice name: `topology` is libtpu's name ("v3:8x8")."""
  name: str
  generation: Generation
  topology: str
  num_slices: int = 1

  @property
  def num_devices(self) -> int:
    chips = 1
    for d in self.topology.split(":")[1].split("x"):
      chips *= int(d)
    return chips * self.generation.devices_per_chip * self.num_slices


def chip_layout(chips: int, dims: int) -> tuple[int, ...]:
  """Cloud TPU's torus for a power-of-two number of chips: 4 -> (2, 2) or (2, 2, 1), 8 -> (2, 4)
  or (2, 2, 2), 64 -> (8, 8) or (4, 4, 4)."""
  if chips < 1 or chips & (chips - 1):
    raise TopologyError(f"{chips} chips is not a power of two")
  if dims == 3 and chips == 4:
    return (2, 2, 1)
  bits = chips.bit_length() - 1
  shape = [1 << (bits // dims + (i >= dims - bits % dims)) for i in range(dims)]
  return tuple(shape)


def parse(name: str) -> Slice:
  """"v3-128" -> Slice(topology="v3:8x8"); "2xv5e-256" -> two v5e:16x16 slices."""
  known = ", ".join(f"{g}-N" for g in GENERATIONS)
  raw = RAW.match(name)
  match = NAME.match(name)
  if raw:
    slices, gen, shape = raw.groups()
    if gen not in GENERATIONS:
      raise TopologyError(f"unknown TPU generation {gen!r} in {name!r}; known: {known}")
    return Slice(name, GENERATIONS[gen], f"{gen}:{shape}", int(slices or 1))
  if not match:
    raise TopologyError(f"--topology {name!r} is not a Cloud TPU slice name such as v3-128, "
                        f"v4-64, v5e-256, v5p-128 or 2xv5e-256 (known: {known})")
  slices, gen, count = match.groups()
  if gen not in GENERATIONS:
    raise TopologyError(f"unknown TPU generation {gen!r} in {name!r}; known: {known}")
  generation = GENERATIONS[gen]
  count = int(count)
  per_chip = 2 if generation.counts_cores else 1
  if count % per_chip or count < per_chip:
    raise TopologyError(f"{name!r}: {gen} slices count TensorCores, 2 per chip (e.g. {gen}-8)")
  try:
    shape = chip_layout(count // per_chip, generation.dims)
  except TopologyError as e:
    raise TopologyError(f"{name!r}: {e}") from None
  return Slice(name, generation, f"{gen}:{'x'.join(map(str, shape))}", int(slices or 1))


# Where the host has no TPU: no cloud metadata query, and no /tmp/libtpu_lockfile (it admits one
# process per host, which compile-only use, e.g. two test workers, does not need).
NO_TPU_ENV = {"TPU_SKIP_MDS_QUERY": "1", "ALLOW_MULTIPLE_LIBTPU_LOAD": "1"}
NO_LIBTPU = ("compiling for TPU needs libtpu: pip install 'jax[tpu]' (or pip install -e '.[tpu]' "
             "in a checkout)")


def libtpu_installed() -> bool:
  import importlib.util
  return importlib.util.find_spec("libtpu") is not None


def host_has_tpu() -> bool:
  """TPU chips show up as /dev/accel* or /dev/vfio/<n>."""
  return bool(glob.glob("/dev/accel*") or glob.glob("/dev/vfio/[0-9]*"))


def devices(tpu: Slice) -> list:
  """The slice's compile-only devices (ordered as JAX orders a real slice's)."""
  if not host_has_tpu():
    os.environ.update(NO_TPU_ENV)
  if not libtpu_installed():
    raise TopologyError(NO_LIBTPU)
  from jax.experimental import topologies
  kwargs = {}
  if tpu.generation.chip_config:
    kwargs["chip_config_name"] = tpu.generation.chip_config
  if tpu.num_slices > 1:
    kwargs["num_slices"] = tpu.num_slices
  try:
    return list(topologies.get_topology_desc(platform="tpu", topology_name=tpu.topology,
                                             **kwargs).devices)
  except Exception as e:  # libtpu refuses a layout it does not know: one line, its words
    message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    raise TopologyError(f"libtpu refused topology {tpu.topology!r}: {message}") from None
