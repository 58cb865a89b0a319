"""Run a verifier set of eval/verify/ through eval/verify_mutations.py (the real `bot verify`), for the
real-model tests of tests/test_verify.py and tests/test_roles.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_set(name: str, bot, tmp_path: Path) -> dict[str, tuple[int, int]]:
    """(kept or rejected, items) by "kind|pair|split", from the set's JSON report in ``tmp_path``."""
    out = tmp_path / "report.md"
    s = bot.settings
    argv = [sys.executable, "eval/verify_mutations.py", "--set", f"eval/verify/{name}", "--out", str(out)]
    argv += ["--", "--seeds", str(s.seeds), "--index", str(s.index)]
    r = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stderr[-2000:]
    cells = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))["cells"]
    return {k: (ok, n) for k, (ok, n) in cells.items()}
