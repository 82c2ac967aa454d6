"""``python -m benchmarks [--quick] [--only N ...]``."""

from benchmarks.run import main

raise SystemExit(main())
