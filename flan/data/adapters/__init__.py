"""Adapters: a raw TFDS example -> the canonical record (see `flan.data.adapters.core`)."""

from flan.data.adapters.core import (Record, adapt, classification, declarative, generation, lookup,
                                record_key, register, text, texts)

__all__ = ["Record", "adapt", "classification", "declarative", "generation", "lookup",
           "record_key", "register", "text", "texts"]
