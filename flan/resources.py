"""Where the catalog, the mixtures and the gin configs are read from.

The three folders live at the repository's top level and are shipped inside the wheel as package
data (pyproject.toml maps them into the package):

    installed wheel                            checkout / editable install (`pip install -e`)
    site-packages/flan/_resources/templates/   <repo>/templates/
    site-packages/flan/_resources/mixtures/    <repo>/mixtures/
    site-packages/flan/_resources/configs/     <repo>/configs/

A folder inside the package wins; otherwise the checkout that holds this package is used.
`FLAN_TEMPLATES_DIR` (read by flan.data.catalog.templates_dir) overrides the catalog folder.
"""

from __future__ import annotations

import pathlib

_PACKAGE = pathlib.Path(__file__).resolve().parent
NAMES = ("templates", "mixtures", "configs")


def resource_dir(name: str) -> pathlib.Path:
  """The folder `name` (one of NAMES): packaged copy if there is one, else the checkout's."""
  if name not in NAMES:
    raise ValueError(f"unknown resource folder {name!r}; expected one of {NAMES}")
  packaged = _PACKAGE / "_resources" / name
  return packaged if packaged.is_dir() else _PACKAGE.parent / name


TEMPLATES_DIR = resource_dir("templates")
MIXTURES_DIR = resource_dir("mixtures")
CONFIGS_DIR = resource_dir("configs")
