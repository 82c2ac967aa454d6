"""``python -m tokenizer_acquisition``: the ``tokacq`` command line."""

from .entrypoints.cli import main

raise SystemExit(main())
