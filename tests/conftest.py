"""Shared fixtures: a prepared synthetic data directory (small), CPU only, quiet TensorFlow."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("JAX_PLATFORMS", "cpu")  # also keeps libtpu (jax[tpu]) from a TPU attempt
os.environ.setdefault("TPU_SKIP_MDS_QUERY", "1")  # TPU compile tests: no cloud metadata query

import pytest  # noqa: E402

SMALL_SPLIT = 240  # examples per split in the test copy of the synthetic datasets


@pytest.fixture(scope="session")
def synthetic_data_dir(tmp_path_factory):
  """All synthetic datasets, 240 examples per split, in a session-wide temporary data dir."""
  import tensorflow_datasets as tfds

  from flan.data import synthetic

  tfds.disable_progress_bar()
  directory = tmp_path_factory.mktemp("tfds")
  synthetic.prepare(data_dir=directory, max_examples_per_split=SMALL_SPLIT)
  return str(directory)


@pytest.fixture()
def use_data_dir(monkeypatch):
  """Points FLAN_DATA_DIR at a directory for one test."""
  def use(directory):
    monkeypatch.setenv("FLAN_DATA_DIR", str(directory))
    return str(directory)
  return use
