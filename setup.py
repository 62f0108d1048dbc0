"""Package list for setuptools (everything else is in pyproject.toml).

The top-level data folders are mapped into the package, so a wheel carries the whole catalog
(flan/resources.py finds either copy):

    configs/    -> flan/_resources/configs/     (with its subfolders models/, runs/, ...)
    mixtures/   -> flan/_resources/mixtures/
    templates/  -> flan/_resources/templates/
"""

import pathlib

from setuptools import find_namespace_packages, setup

RESOURCES = ("configs", "mixtures", "templates")


def resource_packages() -> list[str]:
  """flan._resources.<folder>[.<subfolder>...] for every folder under RESOURCES."""
  folders = []
  for name in RESOURCES:
    root = pathlib.Path(name)
    folders += [root] + sorted(p for p in root.rglob("*") if p.is_dir() and p.name != "__pycache__")
  return ["flan._resources." + ".".join(folder.parts) for folder in folders]


RESOURCE_PACKAGES = resource_packages()

setup(
    packages=find_namespace_packages(include=["flan", "flan.*"], exclude=["*.__pycache__"])
    + RESOURCE_PACKAGES,
    package_dir={f"flan._resources.{name}": name for name in RESOURCES},
    package_data={"flan": ["assets/*"], **{package: ["*"] for package in RESOURCE_PACKAGES}},
)
