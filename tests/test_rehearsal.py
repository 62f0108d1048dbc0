"""The run flan exists for, in miniature and offline: a random tiny Qwen2-style model with its own
tokenizer.json -> `flan import hf` -> a few fine-tuning steps on a FLAN held-out mixture of real
TFDS builders -> zero-shot evaluation of the held-out cluster -> `flan export hf` ->
transformers, whose plain `generate(input_ids)` and option ranking (done as the model card says)
equal flan's.

The builders are the real ones (summarization trains, NLI is held out: the paper's one-cluster
ablation, `mix:flan:clusters_1`), "prepared" on disk with TFDS mock examples
(catalog_checks.write_prepared_mock), so train and eval read them through their unpatched paths.
"""

from __future__ import annotations

import json
import shutil

import catalog_checks
import numpy as np
import pytest

from flan import cli
from flan.checkpoint import restore
from flan.data import catalog, mixtures
from flan.data import vocab as vocab_lib
from flan.eval import decoding
from tests.test_vocabularies import SPECIALS, TEXTS

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

MIXTURE, HELDOUT = "mix:flan:clusters_1", "nli"

CORPUS = TEXTS + [
    "Premise: The red box is larger than the blue box.", "Hypothesis: The blue box is smaller.",
    "Does the premise entail the hypothesis?", "OPTIONS:\n- yes\n- no\n- it is not possible to tell",
    "Answer: yes", "Is it true that 12 is bigger than 7? no", "The list contains apple and pear."]


def qwen_folder(directory):
  """A random tiny Qwen2 model (tied, QKV biases) with a byte-level BPE tokenizer.json whose
  special tokens come last, and Qwen's convention: <|endoftext|> is BOS (config.json) and EOS."""
  from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
  tokenizer = Tokenizer(models.BPE())
  tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
  tokenizer.decoder = decoders.ByteLevel()
  tokenizer.train_from_iterator(CORPUS * 10, trainers.BpeTrainer(
      vocab_size=600, show_progress=False, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
  tokenizer.add_special_tokens(SPECIALS)
  directory.mkdir()
  tokenizer.save(str(directory / "tokenizer.json"))
  (directory / "tokenizer_config.json").write_text(json.dumps(
      {"bos_token": None, "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>"}))
  end = tokenizer.token_to_id("<|endoftext|>")
  torch.manual_seed(0)
  config = transformers.Qwen2Config(
      vocab_size=640, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
      num_attention_heads=4, num_key_value_heads=2, head_dim=16, tie_word_embeddings=True,
      bos_token_id=end, eos_token_id=end, max_position_embeddings=512)
  transformers.AutoModelForCausalLM.from_config(config).save_pretrained(directory)
  return end


@pytest.fixture(scope="module")
def mock_flan_data_dir(tmp_path_factory):
  """Every builder the mixture trains on and the held-out cluster evaluates, with mock data."""
  definition = mixtures.parse_mixture_name(MIXTURE)
  assert definition.heldout[0] == HELDOUT
  names = [name.split(":")[1] for name in mixtures.training_tasks(definition)]
  names += [spec.name for spec in catalog.entries("flan", HELDOUT)]
  directory = tmp_path_factory.mktemp("tfds_mock")
  for name in names:
    catalog_checks.write_prepared_mock(catalog.get(name), directory)
  return str(directory)


def hf_score(model, tokenizer, inputs: str, option: str) -> float:
  """The model card's scoring code."""
  prompt = tokenizer(inputs).input_ids
  target = tokenizer(option, add_special_tokens=False).input_ids + [tokenizer.eos_token_id]
  ids = torch.tensor([prompt + target])
  with torch.no_grad():
    log_probs = model(ids).logits[0, len(prompt) - 1:-1].float().log_softmax(-1)
  return log_probs.gather(-1, torch.tensor(target)[:, None]).sum().item()


def test_import_finetune_heldout_eval_export_and_transformers_agree(
    tmp_path, mock_flan_data_dir, use_data_dir):
  use_data_dir(mock_flan_data_dir)
  end = qwen_folder(tmp_path / "hf")
  flan_dir, run, out = tmp_path / "flan", tmp_path / "run", tmp_path / "export"
  assert cli.main(["import", "hf", "--from", str(tmp_path / "hf"), "--out", str(flan_dir),
                   "--quiet"]) == 0
  vocab = vocab_lib.get_vocabulary(str(flan_dir / "vocabulary.json"))
  assert vocab_lib.decoder_start_id(vocab) == end          # Qwen's <|endoftext|> starts rows

  assert cli.main(["train", f"--gin_file={flan_dir / 'finetune.gin'}",
                   f"--gin.MIXTURE='{MIXTURE}'", f"--gin.MODEL_DIR='{run}'",
                   "--gin.trainer.train.num_steps=6", "--gin.trainer.train.batch_size=4",
                   "--gin.trainer.train.inputs_length=192",
                   "--gin.trainer.train.targets_length=32",
                   "--gin.trainer.train.learning_rate=0.01", "--gin.trainer.train.log_every=3",
                   "--gin.trainer.train.tensorboard=False",
                   "--gin.trainer.train.progress=False"]) == 0
  assert cli.main(["eval", "--model_dir", str(run), "--cluster", HELDOUT, "--limit", "2",
                   "--splits", "test", "--out", str(tmp_path / "eval"), "--quiet"]) == 0
  summary = (tmp_path / "eval" / "summary.md").read_text()
  assert "held-out" in summary
  assert cli.main(["export", "hf", "--checkpoint", str(run), "--out", str(out),
                   "--eval", str(tmp_path / "eval"), "--quiet"]) == 0

  card = (out / "README.md").read_text()
  assert MIXTURE in card and f"`{HELDOUT}`" in card and summary.strip() in card
  config = json.loads((out / "config.json").read_text())
  assert config["model_type"] == "qwen2" and config["bos_token_id"] == end
  assert config["pad_token_id"] not in (end,)
  tokenizer = transformers.AutoTokenizer.from_pretrained(out)
  model = transformers.AutoModelForCausalLM.from_pretrained(out).float().eval()

  predictions = [json.loads(line) for line in (tmp_path / "eval" / "predictions.jsonl").open()]
  ranked = [p for p in predictions if p.get("options")]
  by_entry = {}  # two predictions of every held-out entry (transformers scores them on CPU)
  for p in ranked:
    by_entry.setdefault(p["task"].split(":")[0], []).append(p)
  assert sorted(by_entry) == sorted(s.name for s in catalog.entries("flan", HELDOUT))
  ranked = [p for entry_predictions in by_entry.values() for p in entry_predictions[:2]]
  _, graphdef, params, _ = restore.load_model(run)
  for p in ranked:
    # The prompt is flan's: [start] + encode(inputs) + [EOS].
    assert tokenizer(p["inputs"]).input_ids == [end] + list(vocab.encode(p["inputs"])) + [end]
    scores = [hf_score(model, tokenizer, p["inputs"], o) for o in p["options"]]
    assert p["options"][int(np.argmax(scores))] == p["prediction"], (scores, p)
  # Plain generate(input_ids), no attention mask, gives flan's greedy tokens.
  prompts = [p["inputs"] for p in ranked[:2]]
  flan_ids = decoding.decode_tokens(graphdef, params,
                                    [[end] + list(vocab.encode(t)) + [end] for t in prompts],
                                    max_new_tokens=6, eos_id=None)
  model.generation_config.eos_token_id = None
  for text, ids in zip(prompts, flan_ids):
    input_ids = tokenizer(text, return_tensors="pt").input_ids
    output = model.generate(input_ids, max_new_tokens=6, do_sample=False)
    assert output[0, input_ids.shape[1]:].tolist() == ids
  # And the text through flan's own decoding path equals transformers' decoded text.
  greedy = decoding.decode_texts(graphdef, params, vocab, prompts[:1], max_new_tokens=6)
  model.generation_config.eos_token_id = end
  input_ids = tokenizer(prompts[0], return_tensors="pt").input_ids
  output = model.generate(input_ids, max_new_tokens=6, do_sample=False)
  assert tokenizer.decode(output[0, input_ids.shape[1]:], skip_special_tokens=True) == greedy[0]
  shutil.rmtree(tmp_path / "hf")
