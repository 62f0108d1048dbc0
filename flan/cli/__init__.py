"""The `flan` command (flan/cli/main.py): parser and dispatch; the commands live beside it."""

from flan.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
