"""The wheel carries the catalog: a copy installed on its own runs the data commands.

Built offline from a copy of the checkout (so the build leaves no build/ or egg-info behind),
installed with `pip install --no-deps --target DIR` and run from a folder outside the checkout:

    DIR/flan/_resources/templates/*.yaml   mixtures/*.yaml   configs/**/*.gin
"""

import os
import pathlib
import shutil
import subprocess
import sys

from flan import resources

ROOT = pathlib.Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "setup.py", "README.md", "flan", "configs", "mixtures", "templates")


def _files(folder: pathlib.Path) -> list[str]:
  return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def _build_and_install(tmp_path: pathlib.Path) -> pathlib.Path:
  source, wheels, target = tmp_path / "source", tmp_path / "wheels", tmp_path / "site"
  source.mkdir()
  for name in SOURCES:
    if (ROOT / name).is_dir():
      shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    else:
      shutil.copy(ROOT / name, source / name)
  pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
  subprocess.run(pip + ["wheel", "--no-deps", "--no-build-isolation", str(source), "-w",
                        str(wheels)], check=True, capture_output=True, text=True)
  (wheel,) = wheels.glob("flan-*.whl")
  subprocess.run(pip + ["install", "--no-deps", "--target", str(target), str(wheel)], check=True,
                 capture_output=True, text=True)
  return target


def test_wheel_install_runs_the_data_commands(tmp_path, synthetic_data_dir):
  target = _build_and_install(tmp_path)
  for name in resources.NAMES:
    assert _files(target / "flan" / "_resources" / name) == _files(ROOT / name), name

  outside = tmp_path / "elsewhere"
  outside.mkdir()
  env = dict(os.environ, PYTHONPATH=str(target), FLAN_DATA_DIR=synthetic_data_dir)
  env.pop("FLAN_TEMPLATES_DIR", None)

  def flan(*argv):
    result = subprocess.run([sys.executable, "-m", "flan.cli", *argv], cwd=outside, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout

  probe = subprocess.run(
      [sys.executable, "-c", "import flan.resources as r; from flan.cli import gin_config; "
       "print(r.TEMPLATES_DIR); print(r.MIXTURES_DIR); "
       "print(gin_config.resolve_gin_file('runs/train.gin'))"],
      cwd=outside, env=env, capture_output=True, text=True, check=True).stdout.split()
  packaged = target / "flan" / "_resources"
  assert probe == [str(packaged / "templates"), str(packaged / "mixtures"),
                   str(packaged / "configs" / "runs" / "train.gin")]

  listed = [line.split()[0] for line in flan("data", "list").splitlines()[1:]]
  assert listed == sorted(p.stem for p in (ROOT / "templates").glob("*.yaml"))

  shown = flan("data", "show", "flan:synth_reviews", "--n", "2")
  assert shown.count("=== synth_reviews [train] example") == 2
  assert "OPTIONS:\n- negative\n- positive" in shown
