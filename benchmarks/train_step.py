"""Training throughput and MFU of flan's real train step, against this machine's matmul peak
and against the same-shaped Llama trained with Hugging Face transformers on PyTorch.

  .venv/bin/python benchmarks/train_step.py [--quick] [--models demo,small] [--steps N]
                                            [--no-pytorch] [--no-torch-compile]
                                            [--pytorch-dtypes float32]

Measures, in one run and side by side:

  matmul peak   per compute dtype, the best FLOP/s of a jitted square `jnp.dot` accumulated in
                float32 (bfloat16 operands with preferred_element_type=float32, as the model
                computes; see common.matmul_peak). Each entry's MFU is against its dtype's peak.
  each model    `flan.train.step.make_train_step` with T5X Adafactor on a packed-looking batch:
                compiled and warmed up, then N steps timed one by one (block_until_ready on the
                new state and metrics). step_ms is the fastest step, like the best-of-N peak:
                other processes only ever add time. step_ms_median is reported beside it.
                `small` trains as configs/runs/train.gin does (bfloat16 compute with float32
                parameters, loss_capacity 0.5: the output projection and vocabulary softmax
                only at the loss positions, half of these rows); `small_full_logits` is the
                same step with logits at every position; `small_f32` computes in float32.
                All count model FLOPs by the convention below, whatever the step skips
                (logits nobody's loss uses, key blocks after a causal query block), as MFU
                does; the PyTorch baseline computes all of them.
  pytorch       after all of flan's models, the same model as transformers' LlamaForCausalLM
                (config from flan.export.mapping.hf_config, float32 parameters, tied embeddings
                kept tied; the parameter count is checked against cfg.num_params()) on the same
                batch: input_ids = decoder_input_tokens, position_ids = decoder_positions, and a
                4-D additive float mask [B, 1, L, L] from the segment ids (block-diagonal
                causal), so it computes the same function as flan's packed attention. A
                bfloat16 entry's baseline runs forward and loss under torch.autocast("cpu",
                bfloat16), PyTorch's own mixed precision. The loss is computed from the logits
                like flan's (float32 cross-entropy weighted by decoder_loss_weights / loss
                tokens; tied logits scaled by 1/sqrt(D)). torch.optim.Adafactor at lr 1e-3
                (AdamW where torch has none); one step is forward, loss, backward,
                optimizer.step, zero_grad; torch.set_num_threads(cores).
                Both "sdpa" and "eager" attention are timed (WARMUP_STEPS, then N steps); the
                faster is kept and timed again under torch.compile (inductor; forward + loss,
                hence the AOTAutograd backward; the optimizer stays eager). The faster of eager
                and compiled is the baseline (`baseline`), whose figures are the entry's own;
                `eager`, `compiled` (null with `compile_error` when it fails or is skipped) and
                `tokens_per_s_by_attention` keep the rest. Same FLOP convention, same peak.
                `--pytorch-dtypes float32` runs the baseline for float32 entries only (the
                others get `pytorch_skipped`): where the CPU has no bfloat16 dot instructions
                (`cpu.bf16_dot` in the output), PyTorch's bfloat16 autocast step takes minutes.

Both sides run in this one process after `flan.runtime.keep_freed_memory()` (as `flan`
does): glibc keeps freed memory mapped, so neither XLA's nor PyTorch's step page-faults its
buffers anew each step (both got faster by it, PyTorch's bfloat16 step by about a sixth).

  tokens_per_s  batch * seq_len / step time
  gflops        tokens_per_s * cfg.flops_per_token(seq_len) / 1e9  (6 * matmul params + full
                attention, the MFU convention of flan/model/config.py)
  mfu           gflops / matmul_peak_gflops of the entry's dtype (wall-clock; reads low when
                other processes load the machine during the steps but not during the peak)
  mfu_cpu       the same ratio per CPU-second of this process: step FLOPs / step CPU time over
                matmul FLOPs / matmul CPU time (median over steps). It does not move with
                contention. On an idle machine mfu ~ mfu_cpu * cpu_per_wall / cores, where
                cpu_per_wall (median over steps) is how many cores the step kept busy.
  speedup_vs_pytorch      ours / the baseline's tokens_per_s, same precision (TARGETS: 1.2)
  speedup_vs_pytorch_eager  ours / eager PyTorch's tokens_per_s, same precision
  speedup_vs_pytorch_float32_eager  (bfloat16 entries, when small_f32 ran) ours / float32 eager
                          PyTorch's: transformers as it trains out of the box
  speedup_vs_pytorch_cpu  ours / the baseline's mfu_cpu: the ratio per CPU-second, steadier on a
                          shared machine (but PyTorch's OpenMP threads wait worse than XLA's
                          under contention, so its wall-clock rate suffers more than this shows)

matmul_gflops_at_end (the 1024 matmul of the first dtype after the models) and load_avg_1min
(start, end) show how busy the machine was; `targets` holds the goals (mfu 0.65,
speedup_vs_pytorch 1.2, for the small model at 512). Prints exactly one JSON line on stdout;
progress goes to stderr.

Models:
  demo   the `flan demo` decoder (configs/models/demo.gin), float32, batch 16 x 128 as in
         configs/demo.gin.
  small  presets["small"] (~51M parameters), bfloat16 compute (float32 for small_f32), batch
         4 x 512. bfloat16 runs at twice the float32 matmul rate only where the CPU has
         AVX512-BF16 or AMX (flan.model.lowp); elsewhere small_f32 is the one to run.
  1b     GPU / TPU only (`--models 1b`): a ~1.1B Llama (22 x 2048, 32 heads over 4 key/value
         heads, d_ff 5632, V = 32000, untied), bfloat16, scanned with remat "minimal", batch
         8 x 2048. Besides mfu against the measured bfloat16 matmul peak (squares of 4096 to
         16384 on accelerators), `mfu_spec` divides by the data sheet's dense bfloat16 peak
         (SPEC_BF16_TFLOPS; target 0.45). No PyTorch baseline (torch is installed CPU-only).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os

from flan import runtime

runtime.skip_absent_tpu()  # as `flan` does: no TPU backend attempt on a host without one
runtime.keep_freed_memory()  # as `flan` does; before JAX or torch start threads

import jax  # pylint: disable=wrong-import-position
import numpy as np

import common  # benchmarks/common.py; this file is run as a script.
from flan import sharding
from flan.export import mapping
from flan.model import ModelConfig, presets
from flan.train import optimizer as opt
from flan.train import step as step_lib


@dataclasses.dataclass(frozen=True)
class Bench:
  """One model to benchmark: its config, batch shape and step counts (default, --quick)."""
  config: ModelConfig
  batch: int
  seq_len: int
  steps: int
  quick_steps: int
  loss_capacity: float | None = None  # make_train_step's: logits only at loss positions
  accelerator: bool = False  # runs on a GPU or TPU only (no PyTorch baseline: torch is CPU here)


# Dense bfloat16 peaks from the vendors' data sheets, TFLOP/s per chip (no sparsity), by a
# substring of jax's device_kind; `mfu_spec` divides by these.
SPEC_BF16_TFLOPS = {"H200": 989.4, "H100": 989.4, "A100": 312.0, "L4": 121.0,
                    "TPU v4": 275.0, "TPU v5 lite": 197.0, "TPU v5p": 459.0, "TPU v3": 123.0}


BENCHES = {
    "demo": Bench(ModelConfig(vocab_size=2048, num_layers=4, d_model=128, num_heads=4,
                              num_kv_heads=4, head_dim=32, d_ff=384),
                  batch=16, seq_len=128, steps=20, quick_steps=3),
    # As configs/runs/train.gin trains: bfloat16 compute, logits only at the loss positions
    # (half of these rows).
    "small": Bench(presets["small"], batch=4, seq_len=512, steps=6, quick_steps=1,
                   loss_capacity=0.5),
    # The same step computing logits at every position (the T5X default).
    "small_full_logits": Bench(presets["small"], batch=4, seq_len=512, steps=6, quick_steps=1),
    # The same in float32 compute (for CPUs without fast bfloat16 matmuls).
    "small_f32": Bench(dataclasses.replace(presets["small"], dtype="float32"),
                       batch=4, seq_len=512, steps=4, quick_steps=1),
    # A ~1.1B Llama (TinyLlama's shape) in bfloat16, scanned, for GPUs and TPUs: `--models 1b`.
    "1b": Bench(ModelConfig(vocab_size=32000, num_layers=22, d_model=2048, num_heads=32,
                            num_kv_heads=4, head_dim=64, d_ff=5632, dtype="bfloat16",
                            tie_embeddings=False, scan_layers=True, remat="minimal"),
                batch=8, seq_len=2048, steps=10, quick_steps=2, accelerator=True),
}

WARMUP_STEPS = 2  # The first compiles; the second runs the compiled step once more.
TARGETS = {"mfu": 0.65, "speedup_vs_pytorch": 1.2}  # The goals, for the small model at 512.


def packed_batch(batch: int, seq_len: int, vocab_size: int, seed: int = 0) -> dict[str, np.ndarray]:
  """A packed-looking SeqIO decoder batch, int32 [batch, seq_len] per feature.

  Every row holds two segments of seq_len / 2 tokens (segment ids 1 and 2, positions restarting
  at 0); within a segment the first half is the input and the second half the targets, which
  carry the loss weights. Input tokens are the targets shifted right with BOS = 0 per segment.
  """
  rng = np.random.default_rng(seed)
  half = seq_len // 2
  segment_ids = np.where(np.arange(seq_len) < half, 1, 2)
  positions = np.where(np.arange(seq_len) < half, np.arange(seq_len), np.arange(seq_len) - half)
  segment_length = np.where(segment_ids == 1, half, seq_len - half)
  weights = positions >= segment_length // 2
  targets = rng.integers(2, vocab_size, size=(batch, seq_len), dtype=np.int32)
  inputs = np.where(positions == 0, 0, np.roll(targets, 1, axis=1))
  tile = lambda row: np.broadcast_to(row, (batch, seq_len)).astype(np.int32)
  return {
      "decoder_input_tokens": inputs.astype(np.int32),
      "decoder_target_tokens": targets,
      "decoder_loss_weights": tile(weights),
      "decoder_segment_ids": tile(segment_ids),
      "decoder_positions": tile(positions),
  }


# The per-step figures of every measured train step (flan and PyTorch alike).
FIGURES = ("step_ms", "step_ms_median", "tokens_per_s", "gflops", "mfu", "mfu_cpu",
           "cpu_per_wall")


def step_figures(bench: Bench, timings: list[common.Timing], peak: dict) -> dict:
  """The FIGURES of timed steps: the best step, the median, rates against the matmul peak."""
  tokens = bench.batch * bench.seq_len
  flops_per_step = tokens * bench.config.flops_per_token(bench.seq_len)
  step_s = min(t.wall for t in timings)
  gflops = flops_per_step / step_s / 1e9
  gflops_per_cpu_s = common.median(flops_per_step / max(t.cpu, 1e-9) / 1e9 for t in timings)
  return {
      "step_ms": round(1e3 * step_s, 2),
      "step_ms_median": round(1e3 * common.median(t.wall for t in timings), 2),
      "tokens_per_s": round(tokens / step_s, 1),
      "gflops": round(gflops, 2),
      "mfu": round(gflops / peak["gflops"], 4),
      "mfu_cpu": round(gflops_per_cpu_s / peak["gflops_per_cpu_s"], 4),
      "cpu_per_wall": round(common.median(t.cpu / t.wall for t in timings), 2),
  }


def bench_model(name: str, bench: Bench, steps: int, peak: dict) -> dict:
  """Builds the real train step for `bench`, times it, returns its JSON entry."""
  cfg, batch_size, seq_len = bench.config, bench.batch, bench.seq_len
  common.log(f"[{name}] building: {cfg.num_params():,} params, batch {batch_size} x {seq_len}")
  graphdef, tx, state, _ = step_lib.build_state(  # as the trainer: Adafactor factored by names
      cfg, lambda axes: opt.adafactor(1e-3, axes=axes), 0, sharding.make_mesh(),
      sharding.DEFAULT_RULES)
  train_step = step_lib.make_train_step(graphdef, tx, loss_capacity=bench.loss_capacity)
  batch = jax.device_put(packed_batch(batch_size, seq_len, cfg.vocab_size))
  run = lambda state: common.timed(lambda: train_step(state, batch))

  (state, metrics), compile_timing = run(state)
  common.log(f"[{name}] compile + first step {compile_timing.wall:.1f}s, "
             f"loss {float(metrics['loss']):.3f}")
  for _ in range(WARMUP_STEPS - 1):
    (state, metrics), _ = run(state)

  timings = []
  for i in range(steps):
    (state, metrics), timing = run(state)
    timings.append(timing)
    common.log(f"[{name}] step {i + 1}/{steps}: {1e3 * timing.wall:.1f} ms, "
               f"{timing.cpu / timing.wall:.2f} CPU-s per s")
  loss = float(metrics["loss"])
  if not np.isfinite(loss):
    raise RuntimeError(f"[{name}] loss is {loss}")

  result = {
      "params": cfg.num_params(),
      "matmul_params": cfg.matmul_params(),
      "batch": batch_size,
      "seq_len": seq_len,
      "dtype": cfg.dtype,
      "matmul_peak_gflops": round(peak["gflops"], 2),  # of cfg.dtype: what mfu divides by
      "loss_capacity": bench.loss_capacity,
      "steps": steps,
      "compile_s": round(compile_timing.wall, 2),
      "flops_per_token": cfg.flops_per_token(seq_len),
      **step_figures(bench, timings, peak),
      "final_loss": round(loss, 4),
  }
  spec = next((tflops for kind, tflops in SPEC_BF16_TFLOPS.items()
               if kind in common.device_name()), None)
  if spec is not None and cfg.dtype == "bfloat16":  # against the data sheet's dense peak
    result.update(spec_peak_tflops=spec, mfu_spec=round(result["gflops"] / (1e3 * spec), 4))
  common.log(f"[{name}] {result['step_ms']} ms/step, {result['tokens_per_s']} tokens/s, "
             f"{result['gflops']} GFLOP/s, MFU {result['mfu']:.1%} "
             f"(per CPU-second: {result['mfu_cpu']:.1%})")
  return result


# --- the PyTorch baseline: the same-shaped Llama in Hugging Face transformers -------------------

TORCH_LR = 1e-3
TORCH_ATTENTION = ("sdpa", "eager")  # transformers attention implementations tried; faster wins.


def import_torch():
  """(torch, transformers), or None (logged) when either is not installed."""
  try:
    import torch  # pylint: disable=import-outside-toplevel
    import transformers  # pylint: disable=import-outside-toplevel
  except ImportError as e:
    common.log(f"PyTorch baseline skipped: {e}")
    return None
  return torch, transformers


def llama_config(transformers, cfg: ModelConfig, attn_implementation: str):
  """transformers.LlamaConfig of the same shape as `cfg`, float32, no biases.

  Built from flan's export mapping (mapping.hf_config), except that tied embeddings stay tied:
  the export unties a tied model with scaled logits, the baseline applies the scale to the
  logits instead (see torch_loss), so both models have cfg.num_params() parameters.
  """
  hf = mapping.hf_config(cfg, dtype="float32", bos_id=0, eos_id=1, pad_id=0)
  hf.pop("torch_dtype")
  hf.update(dtype="float32", tie_word_embeddings=cfg.tie_embeddings, use_cache=False)
  return transformers.LlamaConfig(**hf, attn_implementation=attn_implementation)


def logit_scale(cfg: ModelConfig) -> float:
  """The factor flan's decoder applies to tied logits (1/sqrt(D)), else 1."""
  return cfg.d_model ** -0.5 if cfg.tie_embeddings and cfg.scale_tied_logits else 1.0


def segment_attention_mask(torch, segment_ids: np.ndarray):
  """Additive float32 mask [B, 1, L, L]: 0 where a query sees a key of its own segment at or
  before it (block-diagonal causal, like flan's packed attention), float32 min elsewhere."""
  segments = torch.from_numpy(segment_ids)
  length = segments.shape[1]
  causal = torch.ones(length, length, dtype=torch.bool).tril()
  visible = (segments[:, :, None] == segments[:, None, :]) & causal
  blocked = torch.full(visible.shape, torch.finfo(torch.float32).min)
  return torch.where(visible, torch.zeros(()), blocked)[:, None]


def torch_batch(torch, batch: dict[str, np.ndarray]) -> dict:
  """The packed batch as transformers' inputs: token ids, per-segment positions, 4-D mask."""
  as_long = lambda key: torch.from_numpy(batch[key]).long()
  return {
      "input_ids": as_long("decoder_input_tokens"),
      "position_ids": as_long("decoder_positions"),
      "attention_mask": segment_attention_mask(torch, batch["decoder_segment_ids"]),
      "targets": as_long("decoder_target_tokens"),
      "weights": torch.from_numpy(batch["decoder_loss_weights"]).float(),
  }


def torch_loss(torch, model, inputs: dict, scale: float):
  """Weighted cross-entropy over the targets / number of loss tokens, in float32 (flan's loss)."""
  logits = model(input_ids=inputs["input_ids"], position_ids=inputs["position_ids"],
                 attention_mask=inputs["attention_mask"], use_cache=False).logits
  logits = logits.float() * scale
  losses = torch.nn.functional.cross_entropy(logits.flatten(0, 1), inputs["targets"].flatten(),
                                             reduction="none")
  weights = inputs["weights"].flatten()
  return (losses * weights).sum() / weights.sum().clamp(min=1.0)


def torch_optimizer(torch, params):
  """(torch.optim.Adafactor at TORCH_LR, "Adafactor"); AdamW where this torch has no Adafactor."""
  if hasattr(torch.optim, "Adafactor"):
    return torch.optim.Adafactor(params, lr=TORCH_LR), "Adafactor"
  return torch.optim.AdamW(params, lr=TORCH_LR), "AdamW"


def make_torch_step(torch, transformers, cfg: ModelConfig, batch: dict, attn_implementation: str,
                    compile_model: bool):
  """A fresh Llama and optimizer, and step() -> loss: forward, loss, backward, step, zero_grad.

  Parameters are float32. For a bfloat16 `cfg.dtype` the forward and the loss run under
  torch.autocast("cpu", bfloat16): PyTorch's mixed precision (bfloat16 matmuls, float32
  parameters and optimizer), the counterpart of flan's bfloat16 compute with float32 parameters.
  With compile_model, the forward and the loss (and with them AOTAutograd's backward) go through
  torch.compile (inductor); the optimizer step stays eager.
  """
  torch.manual_seed(0)
  model = transformers.LlamaForCausalLM(llama_config(transformers, cfg, attn_implementation))
  model.train()
  params = sum(p.numel() for p in model.parameters())
  assert params == cfg.num_params(), f"torch Llama has {params:,} params, flan {cfg.num_params():,}"
  optimizer, optimizer_name = torch_optimizer(torch, model.parameters())
  inputs, scale = torch_batch(torch, batch), logit_scale(cfg)
  autocast = cfg.dtype == "bfloat16"

  def loss_fn():
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
      return torch_loss(torch, model, inputs, scale)

  if compile_model:
    loss_fn = torch.compile(loss_fn)

  def step() -> float:
    loss = loss_fn()
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.item()

  return step, optimizer_name


def time_steps(label: str, step, steps: int) -> tuple[common.Timing, list[common.Timing], float]:
  """Runs WARMUP_STEPS untimed steps (the first one timed apart), then `steps` timed ones.

  Returns (first step's Timing, the timed steps' Timings, the last loss)."""
  loss, first = common.timed(step)
  common.log(f"{label} first step {first.wall:.1f}s, loss {loss:.3f}")
  for _ in range(WARMUP_STEPS - 1):
    loss = step()
  timings = []
  for i in range(steps):
    loss, timing = common.timed(step)
    timings.append(timing)
    common.log(f"{label} step {i + 1}/{steps}: {1e3 * timing.wall:.1f} ms, "
               f"{timing.cpu / timing.wall:.2f} CPU-s per s")
  if not np.isfinite(loss):
    raise RuntimeError(f"{label} loss is {loss}")
  return first, timings, loss


def run_torch_variant(label: str, modules, bench: Bench, batch: dict, steps: int, peak: dict,
                      attn_implementation: str, compile_model: bool) -> dict:
  """Builds and times one variant of the baseline; its figures plus first_step_s, final_loss."""
  torch, transformers = modules
  step, optimizer_name = make_torch_step(torch, transformers, bench.config, batch,
                                         attn_implementation, compile_model)
  first, timings, loss = time_steps(label, step, steps)
  figures = step_figures(bench, timings, peak)
  common.log(f"{label} {figures['step_ms']} ms/step, {figures['tokens_per_s']} tokens/s, "
             f"MFU {figures['mfu']:.1%} (per CPU-second: {figures['mfu_cpu']:.1%})")
  return dict(figures, first_step_s=round(first.wall, 2), final_loss=round(loss, 4),
              optimizer=optimizer_name)


def bench_pytorch(name: str, bench: Bench, steps: int, peak: dict, modules,
                  try_compile: bool) -> dict:
  """The same-shaped Llama trained by transformers on PyTorch, on the same batch.

  Times every attention implementation of TORCH_ATTENTION in eager mode, keeps the faster, then
  (with try_compile) the same under torch.compile. The faster of eager and compiled is the
  baseline: its figures are the entry's top-level ones.
  """
  torch, transformers = modules
  torch.set_num_threads(os.cpu_count())
  batch = packed_batch(bench.batch, bench.seq_len, bench.config.vocab_size)
  by_attention = {}
  for attention in TORCH_ATTENTION:
    by_attention[attention] = run_torch_variant(f"[{name} torch {attention}]", modules, bench,
                                                batch, steps, peak, attention, False)
  attention = max(by_attention, key=lambda a: by_attention[a]["tokens_per_s"])
  eager = by_attention[attention]
  compiled, compile_error = None, None
  if try_compile:
    try:
      compiled = run_torch_variant(f"[{name} torch compiled {attention}]", modules, bench, batch,
                                   steps, peak, attention, True)
    except Exception as e:  # pylint: disable=broad-except
      compile_error = f"{type(e).__name__}: {e}".splitlines()[0][:500]
      common.log(f"[{name}] torch.compile failed, eager is the baseline: {compile_error}")
  else:
    compile_error = "skipped (--no-torch-compile)"
  faster_compiled = compiled is not None and compiled["tokens_per_s"] > eager["tokens_per_s"]
  baseline = compiled if faster_compiled else eager
  return dict(
      {key: baseline[key] for key in FIGURES},
      baseline="compiled" if faster_compiled else "eager",
      torch=torch.__version__,
      transformers=transformers.__version__,
      threads=torch.get_num_threads(),
      optimizer=eager["optimizer"],
      lr=TORCH_LR,
      attn_implementation=attention,
      tokens_per_s_by_attention={a: r["tokens_per_s"] for a, r in by_attention.items()},
      eager=eager,
      compiled=compiled,
      compile_error=compile_error,
  )



def compare_pytorch(name: str, bench: Bench, steps: int, peak: dict, modules, try_compile: bool,
                    ours: dict, baselines: dict) -> dict:
  """The entry's baseline keys: "pytorch" (bench_pytorch's entry, None without torch),
  "speedup_vs_pytorch" (ours / its tokens_per_s), "speedup_vs_pytorch_eager" (ours / eager
  PyTorch's) and "speedup_vs_pytorch_cpu" (ours / its mfu_cpu: the same ratio per CPU-second,
  which moves less with contention). Entries of the same shape and dtype share one baseline run
  (`baselines`, keyed by config and batch shape)."""
  if modules is None or bench.accelerator:
    return {"pytorch": None, "speedup_vs_pytorch": None, "speedup_vs_pytorch_eager": None,
            "speedup_vs_pytorch_cpu": None}
  shape = (bench.config, bench.batch, bench.seq_len)
  if shape not in baselines:
    baselines[shape] = bench_pytorch(name, bench, steps, peak, modules, try_compile)
  pytorch = baselines[shape]
  speedup = ours["tokens_per_s"] / pytorch["tokens_per_s"]
  speedup_eager = ours["tokens_per_s"] / pytorch["eager"]["tokens_per_s"]
  speedup_cpu = ours["mfu_cpu"] / pytorch["mfu_cpu"]
  common.log(f"[{name}] flan {ours['tokens_per_s']} vs PyTorch ({pytorch['baseline']}, "
             f"{pytorch['attn_implementation']} attention) {pytorch['tokens_per_s']} tokens/s: "
             f"{speedup:.2f}x, per CPU-second {speedup_cpu:.2f}x "
             f"(target {TARGETS['speedup_vs_pytorch']}x)")
  return {"pytorch": pytorch, "speedup_vs_pytorch": round(speedup, 3),
          "speedup_vs_pytorch_eager": round(speedup_eager, 3),
          "speedup_vs_pytorch_cpu": round(speedup_cpu, 3)}


def compare_float32_eager(bench: Bench, ours: dict, baselines: dict) -> dict:
  """For a bfloat16 entry whose shape also ran in float32 (small_f32): ours over float32 eager
  PyTorch, transformers as it runs out of the box ("speedup_vs_pytorch_float32_eager")."""
  if bench.config.dtype == "float32":
    return {}
  shape = (dataclasses.replace(bench.config, dtype="float32"), bench.batch, bench.seq_len)
  if shape not in baselines:
    return {"speedup_vs_pytorch_float32_eager": None}
  eager = baselines[shape]["eager"]["tokens_per_s"]
  return {"speedup_vs_pytorch_float32_eager": round(ours["tokens_per_s"] / eager, 3)}


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--quick", action="store_true", help="few steps, for a smoke test")
  parser.add_argument("--models", default="demo,small,small_full_logits,small_f32",
                      help=f"comma-separated, from {','.join(BENCHES)}")
  parser.add_argument("--steps", type=int, default=None, help="timed steps per model")
  parser.add_argument("--no-pytorch", action="store_true",
                      help="skip the Hugging Face transformers / PyTorch baseline")
  parser.add_argument("--no-torch-compile", action="store_true",
                      help="time the PyTorch baseline in eager mode only (no torch.compile)")
  parser.add_argument("--pytorch-dtypes", default=None,
                      help="comma-separated compute dtypes whose entries get the PyTorch "
                           "baseline (default: all). On a CPU without bfloat16 dot instructions "
                           "(cpu.bf16_dot false) PyTorch's bfloat16 autocast step of `small` "
                           "took over 5 minutes: pass float32 there")
  args = parser.parse_args(argv)
  names = [n.strip() for n in args.models.split(",") if n.strip()]
  unknown = [n for n in names if n not in BENCHES]
  if unknown or not names:
    parser.error(f"unknown --models {unknown}; choose from {list(BENCHES)}")

  on_cpu = jax.devices()[0].platform == "cpu"
  if on_cpu and any(BENCHES[name].accelerator for name in names):
    parser.error(f"--models {[n for n in names if BENCHES[n].accelerator]} need a GPU or TPU")
  common.log(f"jax {jax.__version__} on {common.device_name()}")
  load_start = os.getloadavg()[0]
  dtypes = sorted({BENCHES[name].config.dtype for name in names})
  sizes = (1024, 2048, 3072) if on_cpu else (4096, 8192, 16384)
  peaks = {dtype: common.matmul_peak(sizes, repeats=3 if args.quick else 5, dtype=dtype)
           for dtype in dtypes}
  peak_of = lambda name: peaks[BENCHES[name].config.dtype]
  steps = {name: args.steps or (BENCHES[name].quick_steps if args.quick else BENCHES[name].steps)
           for name in names}
  models = {name: bench_model(name, BENCHES[name], steps[name], peak_of(name)) for name in names}
  if not args.no_pytorch:  # After all of ours, so that torch's threads never overlap JAX's.
    torch_modules, baselines = import_torch(), {}
    pytorch_dtypes = args.pytorch_dtypes and args.pytorch_dtypes.split(",")
    for name in names:
      if pytorch_dtypes and BENCHES[name].config.dtype not in pytorch_dtypes:
        models[name].update(pytorch=None, speedup_vs_pytorch=None, speedup_vs_pytorch_eager=None,
                            speedup_vs_pytorch_cpu=None,
                            pytorch_skipped=f"--pytorch-dtypes {args.pytorch_dtypes}")
        continue
      models[name].update(compare_pytorch(name, BENCHES[name], steps[name], peak_of(name),
                                          torch_modules, not args.no_torch_compile, models[name],
                                          baselines))
    if torch_modules is not None:
      for name in names:
        models[name].update(compare_float32_eager(BENCHES[name], models[name], baselines))
  end_gflops = common.matmul_rates(1024, repeats=3, dtype=dtypes[0])["gflops"]  # Drift.

  by_dtype = lambda key: {dtype: round(peaks[dtype][key], 2) for dtype in dtypes}
  print(json.dumps({
      "benchmark": "train_step",
      "device": common.device_name(),
      "cpu": common.cpu(),
      "jax": jax.__version__,
      "matmul_peak_gflops": by_dtype("gflops"),
      "matmul_peak_size": {dtype: peaks[dtype]["size"] for dtype in dtypes},
      "matmul_gflops_by_size": {dtype: {str(n): round(g, 2)
                                        for n, g in peaks[dtype]["by_size"].items()}
                                for dtype in dtypes},
      "matmul_gflops_per_cpu_s": by_dtype("gflops_per_cpu_s"),
      "cores": os.cpu_count(),
      "matmul_gflops_at_end": round(end_gflops, 2),  # of the first dtype, 1024 x 1024
      "load_avg_1min": [round(load_start, 2), round(os.getloadavg()[0], 2)],  # start, end
      "targets": TARGETS,
      "models": models,
  }))


if __name__ == "__main__":
  main()
