"""The shared machinery of the synthetic builders: sizes, seeds and split assignment.

Every synthetic dataset is a real TFDS `GeneratorBasedBuilder` that downloads nothing. A subclass
declares its features and draws one example from a `random.Random`:

    class SynthEcho(SyntheticBuilder):            # TFDS name: synth_echo
      @classmethod
      def features(cls):
        return {"text": tfds.features.Text(), "answer": tfds.features.Text()}

      @classmethod
      def draw(cls, rng, index):
        word = rng.choice(["red", "green"])
        return word, {"text": word, "answer": word}  # (input, example)

Generation is deterministic: split `s` of builder `b` draws from `random.Random(seed(b, s))`, and
example `i` always has key `i`. The first value `draw` returns (the model-visible input) decides
which split an example may land in (`split_of`), so no input appears in two splits:

    >>> split_of("12 + 30"), split_of("0 + 2"), split_of("1 + 5")
    ('train', 'validation', 'test')
"""

from __future__ import annotations

import inspect
import random
import zlib
from typing import Any, Iterator

import tensorflow_datasets as tfds
from etils import epath
from tensorflow_datasets.core import utils as tfds_utils

VERSION = "1.0.0"
SIZES = {"train": 3000, "validation": 200, "test": 200}
EVAL_BUCKETS = 10  # crc32(input) % 10: 0 -> validation, 1 -> test, else train


def seed(name: str, split: str) -> int:
  """A stable per-(dataset, split) seed (Python's `hash` is salted per process)."""
  return zlib.crc32(f"{name}/{split}".encode("utf-8"))


def split_of(key: str) -> str:
  """The only split an example whose model-visible input is `key` may appear in."""
  bucket = zlib.crc32(key.encode("utf-8")) % EVAL_BUCKETS
  return {0: "validation", 1: "test"}.get(bucket, "train")


def join_list(items: list[str]) -> str:
  """'a lamp, a kettle and a rope' (no serial comma)."""
  if len(items) == 1:
    return items[0]
  return ", ".join(items[:-1]) + " and " + items[-1]


class SyntheticBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Base class; subclasses implement `features` and `draw`. Not registered itself."""

  VERSION = tfds.core.Version(VERSION)
  RELEASE_NOTES = {str(VERSION): "First release."}

  @tfds_utils.classproperty
  @classmethod
  def code_path(cls) -> epath.Path:
    # TFDS resolves this through `importlib.resources` on the top-level package, which fails for
    # a namespace package (an editable install of `flan` without `flan/__init__.py`).
    return epath.Path(inspect.getfile(cls))

  @classmethod
  def features(cls) -> dict[str, Any]:
    """The TFDS feature dict of one example."""
    raise NotImplementedError

  @classmethod
  def draw(cls, rng: random.Random, index: int) -> tuple[str, dict[str, Any]]:
    """One random example as (model-visible input, example); `index` lets classifiers balance."""
    raise NotImplementedError

  @classmethod
  def generate(cls, split: str, size: int | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """The (key, example) pairs of `split`, without TFDS; a smaller `size` yields a prefix."""
    rng = random.Random(seed(cls.name, split))
    for index in range(SIZES[split] if size is None else size):
      key, example = cls.draw(rng, index)
      while split_of(key) != split:
        key, example = cls.draw(rng, index)
      yield index, example

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self, description=inspect.cleandoc(type(self).__doc__ or self.name),
        features=tfds.features.FeaturesDict(self.features()))

  def _split_generators(self, dl_manager):
    del dl_manager  # Nothing to download: the data is drawn from seeded generators.
    return {split: self._generate_examples(split) for split in SIZES}

  def _generate_examples(self, split):
    yield from self.generate(split)

  # TFDS prints "Downloading and preparing dataset Unknown size ..." and "... downloaded and
  # prepared" around every build; a synthetic dataset downloads nothing, so it prints neither
  # (`flan data prepare` reports it "built now" in its table, `flan demo` in its step line).
  def _log_download_bytes(self) -> None:
    pass

  def _log_download_done(self) -> None:
    pass
