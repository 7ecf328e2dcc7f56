"""``python -m kubetune_runner -- CMD``: the wrapper, for images without the console script."""

from kubetune_runner.cli import main

raise SystemExit(main())
