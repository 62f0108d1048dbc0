"""`UserError`: the base of every error a user can fix.

A bad name, a malformed template, a dataset not prepared yet, a checkpoint that does not fit the
config: the library raises a subclass of `UserError` whose message says, in one line, what is
wrong and how to fix it. The `flan` command catches this one type and prints

    flan: error: unknown catalog entry 'synth_reviw'; did you mean synth_reviews?

with exit status 2 and no traceback; any other exception is a bug and keeps its traceback.
Subclasses keep a builtin base where callers catch one (`CatalogError(UserError, ValueError)`).
"""

from __future__ import annotations


class UserError(Exception):
  """An error the user can fix; its message is one line that says how."""
