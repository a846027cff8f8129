"""``python -m evaluate``: see :mod:`evaluate.cli`."""

from evaluate.cli import main

raise SystemExit(main())
