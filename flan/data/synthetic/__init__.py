"""The offline default data: eight synthetic TFDS datasets, four clusters of two.

Importing this package registers the builders with TFDS (`import flan` does not import it):

    >>> from flan import synthetic
    >>> sorted(synthetic.BUILDERS)[:3]
    ['synth_addition', 'synth_comparison', 'synth_containment']
    >>> builders = synthetic.prepare(["synth_addition"], data_dir="/tmp/tfds")  # no download
    >>> builders["synth_addition"].info.splits["train"].num_examples
    3000

Then `tfds.builder("synth_addition", data_dir="/tmp/tfds")` (or a seqio `TfdsDataSource` on
"synth_addition:1.0.0") reads it like any other TFDS dataset. Each dataset has splits
train / validation / test of `SIZES` examples, drawn deterministically (see `base.py`).
"""

from __future__ import annotations

import os
from typing import Iterable

import tensorflow_datasets as tfds

from flan.data.synthetic.arithmetic import SynthAddition, SynthCounting
from flan.data.synthetic.base import SIZES, SyntheticBuilder, VERSION
from flan.data.synthetic.nli import SynthComparison, SynthContainment
from flan.data.synthetic.sentiment import SynthReviews, SynthTweets
from flan.data.synthetic.struct_to_text import SynthRecords, SynthTriples

BUILDERS: dict[str, type[SyntheticBuilder]] = {
    cls.name: cls for cls in (SynthReviews, SynthTweets, SynthContainment, SynthComparison,
                              SynthAddition, SynthCounting, SynthRecords, SynthTriples)}


def prepare(names: Iterable[str] | None = None, data_dir: str | os.PathLike | None = None,
            max_examples_per_split: int | None = None) -> dict[str, SyntheticBuilder]:
  """Generates the named datasets (default: all) into `data_dir`, skipping prepared ones.

  `max_examples_per_split` caps every split for quick tests; the capped data is a prefix of the
  full data, but it is written where the full data would go, so use a separate `data_dir`.
  Returns the builders by name.
  """
  names = list(BUILDERS) if names is None else list(names)
  unknown = [n for n in names if n not in BUILDERS]
  if unknown:
    raise KeyError(f"unknown synthetic datasets {unknown}; known: {sorted(BUILDERS)}")
  config = tfds.download.DownloadConfig(try_download_gcs=False,
                                        max_examples_per_split=max_examples_per_split)
  builders = {}
  for name in names:
    builder = BUILDERS[name](data_dir=os.fspath(data_dir) if data_dir else None)
    if not builder.is_prepared():
      builder.download_and_prepare(download_config=config)
    builders[name] = builder
  return builders


__all__ = ["BUILDERS", "SIZES", "VERSION", "SyntheticBuilder", "prepare"]
