"""``python -m bench [--quick] [--only SECTIONS]``: every benchmark and the summary (bench/suite.py)."""

import os

# Before torch or numpy start their thread pools: idle OpenMP workers sleep
# instead of spinning, as in the CLI's real use on 2-core machines.
os.environ["OMP_WAIT_POLICY"] = "PASSIVE"

from .suite import main  # noqa: E402

raise SystemExit(main())
