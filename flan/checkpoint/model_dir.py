"""The model directory: what a run, an import or a params export leaves behind, and how it is read.

    <model_dir>/
      model_config.json        {"model": {ModelConfig fields},
                                "vocabulary": null | "vocabulary.model" | "/abs/spm.model"
                                              | "gs://bucket/spm.model",
                                "vocabulary_fingerprint": "3f2a9c0e1b7d4a55"}
      vocabulary.model         a copy of the vocabulary (imports and params exports, .json for a
                               tokenizer.json vocabulary; then
                               "vocabulary" is this bare name, read relative to the folder,
                               so the folder can be moved)
      checkpoints/<step>/
        state/                 Orbax: {"step", "params", "opt_state"} (a run) or
                               {"step", "params"} (an import or params export)
        meta/                  JSON: {"step": 60, "data": {"batches": 60}, "mixture":
                               "mix:synthetic:heldout_nli", "vocabulary": "<fingerprint>", ...}
      config.gin, operative_config.gin, metrics.jsonl, data_state/   (a run; see trainer.py)

"vocabulary": null means the shipped demo vocabulary (flan.data.vocab.DEFAULT_VOCAB). The
fingerprint is `flan.data.vocab.fingerprint` of the file; `load_model_config` refuses a folder
whose vocabulary file is missing or has changed since, `check_vocabulary` one trained with
another vocabulary than a run's. A step folder appears only once Orbax has finished writing it
(it writes a temporary folder and renames it last), so `checkpoint_steps` lists complete
checkpoints only.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

from flan.data import vocab as vocab_lib
from flan.errors import UserError
from flan.model import ModelConfig

MODEL_CONFIG_FILE = "model_config.json"
VOCABULARY_FILE = "vocabulary.model"
CHECKPOINTS = "checkpoints"


class ModelDirError(UserError, ValueError):
  """A model directory that is missing, malformed, or does not fit what is asked of it."""


@dataclasses.dataclass(frozen=True)
class ModelDirConfig:
  """model_config.json, read: the model's shape and its (checked) vocabulary file."""
  model: ModelConfig
  vocabulary: str               # absolute path of the vocabulary file
  fingerprint: str              # vocabulary_fingerprint, equal to the file's


def _recorded(vocabulary: str | None) -> str | None:
  """How a run's vocabulary is written into model_config.json: None for the demo one, a gs://
  path as is, a local path made absolute (a run may name it relative to where it started)."""
  if vocabulary in (None, vocab_lib.DEMO):
    return None
  return str(vocabulary) if "://" in str(vocabulary) else str(pathlib.Path(vocabulary).absolute())


def _vocabulary_path(model_dir: pathlib.Path, recorded: str | None):
  """The vocabulary file model_config.json names (an epath.Path: local or gs://)."""
  if recorded is not None and "://" not in recorded and not pathlib.Path(recorded).is_absolute():
    recorded = str(model_dir.absolute() / recorded)
  return vocab_lib.vocabulary_path(recorded)


def save_model_config(model_dir: str | pathlib.Path, model: ModelConfig,
                      vocabulary: str | None = None, *, copy_vocabulary: bool = False) -> None:
  """Writes model_config.json (and vocabulary.model with `copy_vocabulary`) into `model_dir`.

  `vocabulary`: the vocabulary file (None or "demo": the demo one, recorded as null). Without
  `copy_vocabulary` its absolute path (or gs:// path) is recorded; with it, the file is copied
  into the folder and recorded by its bare name.
  A folder that already holds a model config of another shape or vocabulary is refused
  (`check_compatible`) before anything is written.
  """
  model_dir = pathlib.Path(model_dir)
  check_compatible(model_dir, model, vocabulary)
  recorded = _recorded(vocabulary)
  source = vocab_lib.vocabulary_path(recorded)
  if copy_vocabulary:  # vocabulary.model (SentencePiece) or vocabulary.json (tokenizer.json)
    name = pathlib.Path(VOCABULARY_FILE).with_suffix(pathlib.Path(str(source)).suffix
                                                     or ".model").name
    (model_dir / name).write_bytes(source.read_bytes())
    source, recorded = model_dir / name, name
  elif recorded and "://" not in recorded \
      and pathlib.Path(recorded).parent == model_dir.absolute():
    recorded = pathlib.Path(recorded).name  # already in the folder: by name
  saved = {"model": dataclasses.asdict(model), "vocabulary": recorded,
           "vocabulary_fingerprint": vocab_lib.fingerprint(str(source))}
  (model_dir / MODEL_CONFIG_FILE).write_text(json.dumps(saved, indent=2) + "\n")


def load_model_config(model_dir: str | pathlib.Path) -> ModelDirConfig:
  """The model config of a model directory, after the one vocabulary check every reader
  (training's init_from, evaluation, exports) goes through: the vocabulary file exists and its
  fingerprint is the recorded one."""
  model_dir = pathlib.Path(model_dir)
  path = model_dir / MODEL_CONFIG_FILE
  if not path.is_file():
    raise ModelDirError(f"{model_dir} is not a flan model directory (no {MODEL_CONFIG_FILE})")
  try:
    saved = json.loads(path.read_text())
    config = ModelConfig(**saved["model"])
  except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
    raise ModelDirError(f"{path}: not a valid model config ({type(e).__name__}: {e})") from None
  vocabulary = _vocabulary_path(model_dir, saved.get("vocabulary"))
  if not vocabulary.exists():
    raise ModelDirError(f"{model_dir}: its vocabulary {vocabulary} does not exist")
  actual = vocab_lib.fingerprint(str(vocabulary))
  if saved.get("vocabulary_fingerprint") != actual:
    raise ModelDirError(f"{model_dir} was trained with a vocabulary that differs from "
                        f"{vocabulary} (fingerprints {saved.get('vocabulary_fingerprint')} vs "
                        f"{actual})")
  return ModelDirConfig(config, str(vocabulary), actual)


def check_vocabulary(what: str, fingerprint: str | None, vocabulary: str | None) -> None:
  """Refuses a model directory (or checkpoint) recorded with another vocabulary than
  `vocabulary` (a run's; None: the demo one). `what` starts the message."""
  wanted = vocab_lib.fingerprint(vocabulary)
  if fingerprint != wanted:
    raise ModelDirError(f"{what} was trained with another vocabulary (fingerprint "
                        f"{fingerprint}) than this run's {vocabulary or vocab_lib.DEFAULT_VOCAB} "
                        f"({wanted}); use a new model_dir or the same vocabulary")


def check_compatible(model_dir: pathlib.Path, model: ModelConfig,
                     vocabulary: str | None) -> None:
  """Nothing, when `model_dir` has no model config yet or one of the same shape and vocabulary;
  otherwise the one-line reason a run of `model` with `vocabulary` cannot use it."""
  if not (model_dir / MODEL_CONFIG_FILE).exists():
    return
  saved = load_model_config(model_dir)
  if saved.model != model:
    differ = [f"{f.name}={getattr(saved.model, f.name)!r} (this run: {getattr(model, f.name)!r})"
              for f in dataclasses.fields(model)
              if getattr(saved.model, f.name) != getattr(model, f.name)]
    raise ModelDirError(f"{model_dir} holds a model of another shape: {', '.join(differ)}; "
                        f"use a new model_dir")
  check_vocabulary(str(model_dir), saved.fingerprint, vocabulary)


def checkpoint_steps(model_dir: str | pathlib.Path) -> list[int]:
  """Steps of the complete checkpoints, ascending."""
  directory = pathlib.Path(model_dir) / CHECKPOINTS
  if not directory.is_dir():
    return []
  return sorted(int(p.name) for p in directory.iterdir() if p.name.isdigit() and p.is_dir())


def resolve(path: str | pathlib.Path, step: int | None = None) -> tuple[pathlib.Path, int]:
  """(model_dir, step) of a model directory (its latest complete step unless `step`) or of one
  of its <model_dir>/checkpoints/<step> folders."""
  path = pathlib.Path(path).absolute()
  if not (path / MODEL_CONFIG_FILE).exists() and path.name.isdigit() \
      and path.parent.name == CHECKPOINTS and (path.parent.parent / MODEL_CONFIG_FILE).exists():
    path, step = path.parent.parent, int(path.name) if step is None else step
  if not (path / MODEL_CONFIG_FILE).exists():
    raise ModelDirError(f"{path} is not a flan model directory (no {MODEL_CONFIG_FILE})")
  steps = checkpoint_steps(path)
  if not steps:
    raise ModelDirError(f"{path}: no complete checkpoint found")
  if step is None:
    step = steps[-1]
  elif step not in steps:
    raise ModelDirError(f"{path}: no checkpoint at step {step} (steps: {steps})")
  return path, step


def read_meta(model_dir: str | pathlib.Path, step: int) -> dict:
  """The JSON item saved beside the state of checkpoint `step` ({} when it has none)."""
  import orbax.checkpoint as ocp
  directory = pathlib.Path(model_dir).absolute() / CHECKPOINTS / str(step) / "meta"
  if not directory.is_dir():
    return {}
  return dict(ocp.Checkpointer(ocp.JsonCheckpointHandler()).restore(directory))


def trained_mixture(model_dir: str | pathlib.Path) -> str | None:
  """The mixture the latest checkpoint was trained on (its meta's "mixture"; exports and imports
  carry it over), or None when unknown (no checkpoint, or an import of a foreign model)."""
  steps = checkpoint_steps(model_dir)
  return read_meta(model_dir, steps[-1]).get("mixture") if steps else None
