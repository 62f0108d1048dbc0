"""`python -m flan.cli ...` runs the `flan` command."""

import sys

from flan.cli.main import main

sys.exit(main())
