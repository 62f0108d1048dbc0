"""The model card (`README.md`) of a `flan export hf` folder: what the model expects and how flan
scored it, in words and a few lines of transformers code.

Sections: the base model and family; the prompt format with a worked example (text and the ids
around it); generation with plain `generate(input_ids)`; classification as flan scores it (rank
the options by log p(option + EOS | prompt)); the mixture trained on, its held-out cluster and
step; the evaluation summary (`flan eval`'s summary.md) when one is given.
"""

from __future__ import annotations

import pathlib

from flan.data import mixtures, render

EXAMPLE_INPUTS = ("Premise: A man is playing a guitar.\nHypothesis: A person makes music.\n"
                  "Does the premise entail the hypothesis?\n")
EXAMPLE_OPTIONS = ["yes", "it is not possible to tell", "no"]

SCORING_CODE = '''\
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained("{path}")
model = AutoModelForCausalLM.from_pretrained("{path}", torch_dtype=torch.float32)

def score(inputs: str, option: str) -> float:
  prompt = tokenizer(inputs).input_ids                  # [bos] + inputs + [eos]
  target = tokenizer(option, add_special_tokens=False).input_ids + [tokenizer.eos_token_id]
  ids = torch.tensor([prompt + target])
  with torch.no_grad():
    log_probs = model(ids).logits[0, len(prompt) - 1:-1].float().log_softmax(-1)
  return log_probs.gather(-1, torch.tensor(target)[:, None]).sum().item()

choice = max(options, key=lambda option: score(inputs, option))'''

GENERATE_CODE = '''\
input_ids = tokenizer(inputs, return_tensors="pt").input_ids
output = model.generate(input_ids, max_new_tokens=32, do_sample=False)
print(tokenizer.decode(output[0, input_ids.shape[1]:], skip_special_tokens=True))'''


def model_card(*, family: str, num_params: int, prompt: dict, meta: dict,
               imported_from: str | None = None,
               eval_summary: str | None = None) -> str:
  """The README.md text (see the module docstring)."""
  inputs = EXAMPLE_INPUTS + render.options_block(EXAMPLE_OPTIONS)
  mixture = meta.get("mixture")
  held_out = mixtures.heldout_clusters(mixture)
  lines = [
      f"# flan-{family}" + (f" ({mixture})" if mixture else ""),
      "",
      f"A {family} decoder ({num_params:,} parameters) instruction-tuned with "
      f"[flan](https://github.com/) in the FLAN format"
      + (f", starting from `{imported_from}`." if imported_from else "."),
      "",
      "## Prompt format",
      "",
      "The model reads the start token, the instruction text and EOS, then writes the answer and "
      "EOS:",
      "",
      "    [bos] inputs [eos]  ->  targets [eos]",
      "",
      f"with bos = `{prompt['bos_token']}` (id {prompt['bos_id']}), eos = "
      f"`{prompt['eos_token']}` (id {prompt['eos_id']}); padding is id {prompt['pad_id']}, "
      f"never the start token. `tokenizer(inputs).input_ids` adds both, and the chat template "
      f"renders a user message the same way. A worked example:",
      "",
      "inputs:",
      "",
      *("    " + line for line in inputs.splitlines()),
      "",
      "targets: `yes`",
      "",
      "Options are listed after a header line, one per line with a marker, as above. "
      "Greedy generation needs no attention mask:",
      "",
      "```python",
      GENERATE_CODE,
      "```",
      "",
      "## How classification was scored",
      "",
      "For tasks with options, flan ranks the options: each option's log-likelihood as the "
      "target (its tokens and EOS, given the prompt), the highest wins. These lines reproduce "
      "flan's choice:",
      "",
      "```python",
      SCORING_CODE.format(path="path/to/this/folder"),
      "```",
      "",
      "## Training",
      "",
      f"- mixture: `{mixture}`" if mixture else "- mixture: not recorded",
      "- held-out " + ("clusters" if len(held_out) > 1 else "cluster") + " (never trained on, "
      "evaluated zero-shot): " + ", ".join(f"`{c}`" for c in held_out)
      if held_out else "- held-out cluster: none",
      f"- steps: {meta.get('step')}",
  ]
  if eval_summary:
    lines += ["", "## Evaluation", "", eval_summary.strip()]
  return "\n".join(lines) + "\n"


def read_eval_summary(eval_dir: str | pathlib.Path | None) -> str | None:
  """The results table a `flan eval --out DIR` wrote (DIR/summary.md), or None."""
  if not eval_dir:
    return None
  path = pathlib.Path(eval_dir) / "summary.md"
  return path.read_text() if path.exists() else None
