"""The import graph: no cycle between flan's modules, every module importable on its own, and the
data library importable without TensorFlow, SeqIO or TFDS."""

import ast
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
HEAVY = ("tensorflow", "tensorflow_datasets", "seqio")


def modules() -> dict[str, pathlib.Path]:
  """flan's modules by dotted name ('flan.data' for flan/data/__init__.py)."""
  found = {}
  for path in sorted((ROOT / "flan").rglob("*.py")):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
      parts.pop()
    found[".".join(parts)] = path
  return found


def import_graph() -> dict[str, set[str]]:
  """module -> the flan modules it imports, at the top or inside a function. A module importing
  one of its own parent packages is left out (the package is initialising it)."""
  known = modules()

  def owner(name: str) -> str:
    while name not in known:
      name = name.rpartition(".")[0]
    return name

  graph = {}
  for name, path in known.items():
    deps = set()
    for node in ast.walk(ast.parse(path.read_text())):
      if isinstance(node, ast.Import):
        deps |= {owner(a.name) for a in node.names if a.name.split(".")[0] == "flan"}
      elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and \
          node.module.split(".")[0] == "flan":
        for alias in node.names:
          full = f"{node.module}.{alias.name}"
          deps.add(full if full in known else owner(node.module))
    graph[name] = {d for d in deps if d != name and not name.startswith(d + ".")}
  return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
  """One cycle of the graph as [a, b, ..., a], or None (depth-first search)."""
  state, stack = {}, []

  def visit(node):
    state[node] = "open"
    stack.append(node)
    for dep in sorted(graph.get(node, ())):
      if state.get(dep) == "open":
        return stack[stack.index(dep):] + [dep]
      if dep not in state:
        cycle = visit(dep)
        if cycle:
          return cycle
    state[node] = "done"
    stack.pop()
    return None

  for node in sorted(graph):
    if node not in state:
      cycle = visit(node)
      if cycle:
        return cycle
  return None


def test_find_cycle_finds_one():
  assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
  assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle():
  graph = import_graph()
  assert {"flan.data.render", "flan.data.tasks", "flan.data.mixtures"} <= set(graph)
  assert "flan.data.clusters" in graph["flan.data.render"]  # what used to close the cycle
  cycle = find_cycle(graph)
  assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_every_module_imports_on_its_own():
  """Each module imported first, in a process whose other flan modules were all forgotten
  (one process for all: TensorFlow and JAX load once). The synthetic builders stay loaded:
  TFDS refuses to register a builder class twice. `__main__` modules run a program: left out."""
  names = [n for n in modules()
           if not n.startswith("flan.data.synthetic") and not n.endswith(".__main__")]
  code = f"""
import importlib, sys, traceback
failed = []
for name in {names!r}:
  for loaded in [m for m in sys.modules if m == "flan" or m.startswith("flan.")]:
    if not loaded.startswith("flan.data.synthetic"):
      del sys.modules[loaded]
  try:
    importlib.import_module(name)
  except Exception:
    failed.append(name + ": " + traceback.format_exc().strip().splitlines()[-1])
print("\\n".join(failed))
"""
  result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT)
  assert result.returncode == 0, result.stderr[-2000:]
  assert result.stdout.strip() == ""


def test_data_library_imports_no_tensorflow():
  code = ("import sys, flan, flan.data.catalog, flan.data.render, flan.data.records, "
          "flan.data.tasks, flan.data.mixtures, flan.data.vocab, flan.data.datasets, "
          "flan.data.fewshot, flan.data.clusters, flan.data.vocab_build, flan.cli.data_export; "
          f"print([m for m in {HEAVY!r} if m in sys.modules])")
  result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, check=True)
  assert result.stdout.strip() == "[]"
