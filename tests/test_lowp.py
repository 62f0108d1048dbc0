"""flan.model.lowp: transposed against jnp.transpose, matmul against jnp.dot and its autodiff
gradients, dense's bfloat16 routing through lowp, and the bfloat16 dots of the compiled backward."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flan.model import layers, lowp
from flan.model.layers import dense

BF16 = jnp.bfloat16
F32 = jnp.float32


def bits(a) -> np.ndarray:
  """The raw bits of an array (uint16 for bfloat16), for bitwise comparisons."""
  a = np.asarray(a)
  return a.view(f"u{a.itemsize}")


def assert_bitwise_equal(got, want):
  assert got.dtype == want.dtype, (got.dtype, want.dtype)
  assert got.shape == want.shape, (got.shape, want.shape)
  np.testing.assert_array_equal(bits(got), bits(want))


def small_ints(rng, shape, dtype):
  """Values in {-2, ..., 2}: exact in bfloat16, and so are sums of up to 64 of their products."""
  return jnp.asarray(rng.integers(-2, 3, shape), dtype)


def normal(rng, shape, dtype):
  return jnp.asarray(rng.standard_normal(shape), dtype)


def weight_shape(n_in, n_out, transpose_w):
  return (n_out, n_in) if transpose_w else (n_in, n_out)


def reference(x, w, transpose_w, out_dtype):
  """The plain expression lowp.matmul stands for."""
  return jnp.dot(x, w.T if transpose_w else w, preferred_element_type=F32).astype(out_dtype)


def test_is_low_precision():
  """16-bit floats are low precision; float32 and 16-bit integers are not."""
  assert lowp.is_low_precision(jnp.bfloat16) and lowp.is_low_precision(jnp.float16)
  assert lowp.is_low_precision(np.dtype(jnp.bfloat16))
  for dtype in (jnp.float32, jnp.float64, jnp.int16, jnp.uint16, jnp.int8):
    assert not lowp.is_low_precision(dtype), dtype


def test_transposed_2d_matches_transpose():
  """A 2-D int and float array, default permutation, including the docstring's example."""
  np.testing.assert_array_equal(lowp.transposed(jnp.array([[1, 2, 3], [4, 5, 6]])),
                                [[1, 4], [2, 5], [3, 6]])
  for dtype in (jnp.int32, F32):
    x = jnp.arange(15, dtype=dtype).reshape(3, 5)
    got = lowp.transposed(x)
    assert got.shape == (5, 3) and got.dtype == dtype
    assert_bitwise_equal(got, jnp.transpose(x))


def test_transposed_4d_permutation_jit_and_bfloat16():
  """Explicit and default permutations of a 4-D array, eager and under jit, float32 and bfloat16."""
  x = jnp.arange(2 * 3 * 4 * 5, dtype=F32).reshape(2, 3, 4, 5) - 50.5
  perm = (2, 0, 3, 1)
  jitted = jax.jit(lowp.transposed, static_argnums=1)
  for dtype in (F32, BF16):
    xd = x.astype(dtype)
    for p in (perm, None, (0, 1, 2, 3)):
      want = jnp.transpose(xd, p)
      assert_bitwise_equal(lowp.transposed(xd, p), want)
      assert_bitwise_equal(jitted(xd, p), want)
  assert lowp.transposed(x, perm).shape == (4, 2, 5, 3)


@pytest.mark.parametrize("transpose_w", [False, True])
@pytest.mark.parametrize("out_dtype", [BF16, F32])
def test_matmul_forward_is_the_float32_accumulated_dot(transpose_w, out_dtype):
  """Bitwise equal to jnp.dot(..., preferred_element_type=float32).astype(out_dtype)."""
  rng = np.random.default_rng(0)
  x = normal(rng, (24, 40), BF16)
  w = normal(rng, weight_shape(40, 32, transpose_w), BF16)
  want = reference(x, w, transpose_w, out_dtype)
  got = lowp.matmul(x, w, transpose_w, out_dtype)
  assert got.shape == (24, 32)
  assert_bitwise_equal(got, want)
  # Compiled too. (Not against a jitted reference: under jit XLA CPU runs jnp.dot(x, w.T) as an
  # upcast float32 dot, whose float32 sums differ from these in the last bits.)
  jitted = jax.jit(lowp.matmul, static_argnums=(2, 3))
  assert_bitwise_equal(jitted(x, w, transpose_w, out_dtype), want)


def matmul_and_reference_vjps(x, w, transpose_w, out_dtype, cotangent):
  """(dx, dw) of lowp.matmul on x, w; and of the plain expression in float32 from the same values."""
  _, vjp = jax.vjp(lambda x, w: lowp.matmul(x, w, transpose_w, out_dtype), x, w)
  _, ref_vjp = jax.vjp(lambda x, w: reference(x, w, transpose_w, F32),
                       x.astype(F32), w.astype(F32))
  return vjp(cotangent), ref_vjp(cotangent.astype(F32))


@pytest.mark.parametrize("transpose_w", [False, True])
@pytest.mark.parametrize("out_dtype", [BF16, F32])
def test_matmul_gradients_match_autodiff(transpose_w, out_dtype):
  """Random data: bfloat16 gradients within bfloat16 rounding of the float32 autodiff ones."""
  rng = np.random.default_rng(1)
  x = normal(rng, (48, 40), BF16)
  w = normal(rng, weight_shape(40, 56, transpose_w), BF16)
  cotangent = normal(rng, (48, 56), out_dtype)
  got, want = matmul_and_reference_vjps(x, w, transpose_w, out_dtype, cotangent)
  for g, r, operand in zip(got, want, (x, w)):
    assert g.dtype == BF16 and g.shape == operand.shape, (g.dtype, g.shape)
    r = np.asarray(r)
    np.testing.assert_allclose(np.asarray(g, np.float32), r, rtol=2e-2,
                               atol=1e-2 * float(np.std(r)))


@pytest.mark.parametrize("transpose_w", [False, True])
@pytest.mark.parametrize("out_dtype", [BF16, F32])
def test_matmul_gradients_exact_on_small_integers(transpose_w, out_dtype):
  """Values in {-2..2} with at most 56 terms per sum: every gradient is exact, so it must equal
  the float32 autodiff gradient exactly."""
  rng = np.random.default_rng(2)
  x = small_ints(rng, (48, 40), BF16)
  w = small_ints(rng, weight_shape(40, 56, transpose_w), BF16)
  cotangent = small_ints(rng, (48, 56), out_dtype)
  got, want = matmul_and_reference_vjps(x, w, transpose_w, out_dtype, cotangent)
  for g, r in zip(got, want):
    assert g.dtype == BF16
    assert np.abs(np.asarray(r)).max() > 8  # not a degenerate all-small case
    np.testing.assert_array_equal(np.asarray(g, np.float32), np.asarray(r))
  # Under jit too, via jax.grad of a scalar loss.
  loss = lambda x, w: jnp.sum(lowp.matmul(x, w, transpose_w, out_dtype).astype(F32)
                              * cotangent.astype(F32))
  for g, r in zip(jax.jit(jax.grad(loss, argnums=(0, 1)))(x, w), want):
    np.testing.assert_array_equal(np.asarray(g, np.float32), np.asarray(r))


# (x shape, kernel shape, contract, transpose_kernel, output shape)
DENSE_CASES = [
    ((2, 3, 8), (8, 4, 5), 1, False, (2, 3, 4, 5)),   # x [B, L, D] @ query kernel [D, H, Dh]
    ((2, 3, 4, 5), (4, 5, 8), 2, False, (2, 3, 8)),   # attention output [B, L, H, Dh] @ [H, Dh, D]
    ((2, 3, 8), (10, 8), 1, True, (2, 3, 10)),        # tied embedding [V, D] as output projection
    ((2, 3, 4, 5), (6, 4, 5), 2, True, (2, 3, 6)),    # transposed kernel with two input dims
]


@pytest.mark.parametrize("x_shape,kernel_shape,contract,transpose_kernel,out_shape", DENSE_CASES)
@pytest.mark.parametrize("preferred", [None, F32])
def test_dense_bfloat16_matches_float32(x_shape, kernel_shape, contract, transpose_kernel,
                                        out_shape, preferred):
  """On small-integer data, bfloat16 dense gives exactly the float32 dense values and gradients."""
  rng = np.random.default_rng(3)
  x = small_ints(rng, x_shape, F32)
  kernel = small_ints(rng, kernel_shape, F32)
  out_dtype = preferred or BF16
  cotangent = small_ints(rng, out_shape, out_dtype)
  f = lambda x, k: dense(x, k, contract, transpose_kernel, preferred_element_type=preferred)
  y, vjp = jax.vjp(f, x.astype(BF16), kernel.astype(BF16))
  y_ref, vjp_ref = jax.vjp(f, x, kernel)
  assert y.shape == out_shape and y.dtype == out_dtype
  # The float32 reference, computed without the lowp path, pins down the documented reshapes.
  x2 = np.asarray(x).reshape(-1, np.prod(x_shape[len(x_shape) - contract:]))
  k2 = np.asarray(kernel).reshape((-1, x2.shape[1]) if transpose_kernel else (x2.shape[1], -1))
  np.testing.assert_array_equal(np.asarray(y_ref),
                                (x2 @ (k2.T if transpose_kernel else k2)).reshape(out_shape))
  np.testing.assert_array_equal(np.asarray(y, np.float32), np.asarray(y_ref))
  grads, grads_ref = vjp(cotangent), vjp_ref(cotangent.astype(F32))
  for g, r, shape in zip(grads, grads_ref, (x_shape, kernel_shape)):
    assert g.dtype == BF16 and g.shape == shape
    np.testing.assert_array_equal(np.asarray(g, np.float32), np.asarray(r))


def test_dense_routes_only_low_precision_through_lowp(monkeypatch):
  """bfloat16 x and kernel go through lowp.matmul; float32 or mixed dtypes do not."""
  calls = []
  original = lowp.matmul

  def counting(*args):
    calls.append(args[2:])
    return original(*args)

  monkeypatch.setattr(layers.lowp_lib, "matmul", counting)
  x, kernel = jnp.ones((2, 3, 8)), jnp.ones((10, 8))
  dense(x.astype(BF16), kernel.astype(BF16), transpose_kernel=True, preferred_element_type=F32)
  assert calls == [(True, F32)]
  dense(x.astype(BF16), kernel.astype(BF16), transpose_kernel=True)
  assert calls[1:] == [(True, BF16)]
  dense(x, kernel, transpose_kernel=True)
  dense(x.astype(BF16), kernel, transpose_kernel=True)
  dense(x.astype(BF16), kernel.astype(BF16), transpose_kernel=True, lowp=False)  # matmul "xla"
  assert len(calls) == 2


_COMPUTATION_START = re.compile(r"^(?:ENTRY\s+)?%?[\w.\-]+\s.*\{\s*$")
_INSTRUCTION = re.compile(r"^\s*(?:ROOT\s+)?%?([\w.\-]+)\s*=\s*(.*)$")
_ARRAY_TYPE = re.compile(r"^([a-z]+[0-9a-z]*)\[")


def _split_type(rest: str) -> tuple[str, str]:
  """'bf16[2,3]{1,0} dot(...)' -> ('bf16[2,3]{1,0}', 'dot(...)'); tuple types are kept whole."""
  if rest.startswith("("):
    depth = 0
    for i, c in enumerate(rest):
      depth += {"(": 1, ")": -1}.get(c, 0)
      if depth == 0:
        return rest[:i + 1], rest[i + 1:].lstrip()
  shape, _, op = rest.partition(" ")
  return shape, op


def _call_arguments(op: str) -> list[str]:
  """'dot(%a, %b), lhs_...' -> ['%a', '%b'], splitting only at the top level of the parentheses."""
  args, depth, current = [], 0, ""
  for c in op[op.index("(") + 1:]:
    if c in "([{":
      depth += 1
    elif c in ")]}":
      if depth == 0:
        break
      depth -= 1
    if c == "," and depth == 0:
      args.append(current.strip())
      current = ""
    else:
      current += c
  return args + ([current.strip()] if current.strip() else [])


def dot_operand_dtypes(hlo: str) -> list[tuple[str, ...]]:
  """For every dot instruction in an HLO module's text, the element types of its operands.

  An operand's type is read from the operand itself when the printer inlines it, else from the
  instruction of that name in the same computation (a fused computation's parameters included).
  """
  dots, computation = [], None
  for line in hlo.splitlines():
    if computation is None:
      if _COMPUTATION_START.match(line):
        computation = {"types": {}, "dots": []}
      continue
    if line.strip() == "}":
      for operands in computation["dots"]:
        dtypes = []
        for operand in operands:
          inline = _ARRAY_TYPE.match(operand)
          name = operand.split()[-1].lstrip("%")
          dtypes.append(inline.group(1) if inline else computation["types"][name])
        dots.append(tuple(dtypes))
      computation = None
      continue
    match = _INSTRUCTION.match(line)
    if not match:
      continue
    name, (shape, op) = match.group(1), _split_type(match.group(2))
    dtype = _ARRAY_TYPE.match(shape)
    computation["types"][name] = dtype.group(1) if dtype else shape
    if op.startswith("dot("):
      computation["dots"].append(_call_arguments(op))
  return dots


def compiled_dense_gradient(dtype, transpose_kernel, preferred=None) -> str:
  """Optimized HLO of the loss and gradients of dense([256, 128] x [128, 192]) in `dtype`."""
  x = jax.ShapeDtypeStruct((256, 128), dtype)
  kernel = jax.ShapeDtypeStruct((192, 128) if transpose_kernel else (128, 192), dtype)
  cotangent = jax.ShapeDtypeStruct((256, 192), F32)
  loss = lambda x, k, c: jnp.sum(
      dense(x, k, transpose_kernel=transpose_kernel, preferred_element_type=preferred)
      .astype(F32) * c)
  grad = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
  return grad.lower(x, kernel, cotangent).compile().as_text()


def require_cpu():
  if jax.default_backend() != "cpu":
    pytest.skip(f"the bfloat16 dot layout rule is XLA CPU's; backend is {jax.default_backend()}")


def test_dot_operand_parser_sees_float32_dots():
  """Control for the check below: the parser finds the three dots of a float32 dense's forward
  and backward pass, through fusion parameters, and reads their operands as f32."""
  require_cpu()
  dots = dot_operand_dtypes(compiled_dense_gradient(F32, transpose_kernel=False))
  assert len(dots) >= 3, dots
  assert all(dtypes == ("f32", "f32") for dtypes in dots), dots


def cpu_has_bfloat16_dots() -> bool:
  """Whether this CPU has the instructions XLA's bfloat16 dots use (AVX512-BF16 or AMX)."""
  try:
    with open("/proc/cpuinfo") as f:
      flags = f.read()
  except OSError:
    return False
  return "avx512_bf16" in flags or "amx_bf16" in flags


@pytest.mark.parametrize("transpose_kernel,preferred", [(False, None), (True, F32)])
def test_compiled_bfloat16_dense_gradient_keeps_bfloat16_dots(transpose_kernel, preferred):
  """Every dot of a bfloat16 dense's forward and backward pass has bfloat16 operands: XLA CPU did
  not upcast any of them to float32 (what it does for layouts its bfloat16 dot cannot take)."""
  require_cpu()
  if not cpu_has_bfloat16_dots():
    pytest.skip("this CPU has no AVX512-BF16 / AMX: XLA may upcast every bfloat16 dot here")
  dots = dot_operand_dtypes(compiled_dense_gradient(BF16, transpose_kernel, preferred))
  assert len(dots) >= 3, dots  # forward, input gradient, weight gradient
  assert all(dtypes == ("bf16", "bf16") for dtypes in dots), dots


# --- the whole train step in bfloat16 -----------------------------------------------------------

def packed_batch(rows: int = 4, length: int = 32, vocab: int = 256) -> dict:
  """Two packed segments per row; the second half of each segment carries the loss."""
  rng = np.random.default_rng(0)
  half = length // 2
  segments = np.where(np.arange(length) < half, 1, 2)
  positions = np.where(np.arange(length) < half, np.arange(length), np.arange(length) - half)
  targets = rng.integers(2, vocab, (rows, length)).astype(np.int32)
  inputs = np.where(positions == 0, 0, np.roll(targets, 1, axis=1)).astype(np.int32)
  tile = lambda row: np.broadcast_to(row, (rows, length)).astype(np.int32)
  return {"decoder_input_tokens": inputs, "decoder_target_tokens": targets,
          "decoder_loss_weights": tile(positions >= half // 2),
          "decoder_segment_ids": tile(segments), "decoder_positions": tile(positions)}


@pytest.mark.parametrize("scan_layers,tie_embeddings", [
    pytest.param(False, True, marks=pytest.mark.slow),  # ~60 s
    (True, False)])
def test_bfloat16_train_step_matches_float32(scan_layers, tie_embeddings):
  """One train step of a small decoder in bfloat16 compute (every projection through lowp, with
  loss_capacity and 2 microbatches) runs on this backend and gives the float32 step's loss and
  gradients within bfloat16 rounding (plain SGD at lr 1: the update is minus the gradient; an
  Adafactor first step divides by the gradient's own scale and so amplifies rounding). XLA CPU
  fails a bfloat16 dot it has no kernel for at run time, so this also guards the layouts of the
  compiled step."""
  import optax

  from flan.model import ModelConfig
  from flan.train import step as step_lib
  from train_helpers import train_state

  def one_step(dtype):
    config = ModelConfig(vocab_size=256, num_layers=2, d_model=64, num_heads=4, num_kv_heads=2,
                         head_dim=16, d_ff=128, dtype=dtype, scan_layers=scan_layers,
                         remat="full" if scan_layers else "none", tie_embeddings=tie_embeddings)
    graphdef, tx, state = train_state(config, lambda axes: optax.sgd(1.0))
    train_step = step_lib.make_train_step(graphdef, tx, loss_capacity=0.5, microbatches=2,
                                          donate=False)
    new_state, metrics = train_step(state, packed_batch())
    updates = jax.tree.map(lambda new, old: np.asarray(new) - np.asarray(old),
                           new_state["params"], state["params"])
    return jax.device_get(metrics), updates

  low, low_updates = one_step("bfloat16")
  full, full_updates = one_step("float32")
  assert np.isfinite(low["loss"])
  np.testing.assert_allclose(low["loss"], full["loss"], rtol=1e-2)
  np.testing.assert_allclose(low["grad_norm"], full["grad_norm"], rtol=5e-2)
  low_leaves, full_leaves = jax.tree.leaves(low_updates), jax.tree.leaves(full_updates)
  assert len(low_leaves) == len(full_leaves)
  for got, want in zip(low_leaves, full_leaves):  # minus the gradients, parameter by parameter
    assert np.linalg.norm(got - want) <= 0.03 * np.linalg.norm(want), (
        np.linalg.norm(got - want) / np.linalg.norm(want))
