"""Per-module mutation scores from mutmut's results in mutants/ (`make mutation`, docs/mutation.md).

    python eval/mutation_report.py            # a Markdown table, one row per module
    python eval/mutation_report.py --survivors  # and the surviving mutants' names

A mutant is killed when a test failed with it in place, a timeout when its
tests ran past mutmut's time limit (an infinite loop, say: counted as killed,
as mutmut does); the score is (killed + timeout) / mutants.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

MODULES = ("cite", "extractive", "generate", "index", "pipeline")
# mutmut's exit codes (mutmut/stats.py, 3.8)
STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", 34: "skipped", 36: "timeout"}
STATUS.update({-24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout", None: "not checked"})


def results(root: Path, module: str) -> dict[str, str]:
    meta = root / "mutants" / "bot" / f"{module}.py.meta"
    if not meta.is_file():
        return {}
    codes = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
    return {name: STATUS.get(code, "suspicious") for name, code in codes.items()}


def table(root: Path) -> tuple[str, list[str]]:
    rows = [
        "| module | mutants | killed | survived | timeout | other | score |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    survivors = []
    for module in MODULES:
        found = results(root, module)
        c = Counter(found.values())
        total = len(found)
        other = total - c["killed"] - c["survived"] - c["timeout"]
        score = f"{100 * (c['killed'] + c['timeout']) / total:.1f} %" if total else "-"
        rows.append(
            f"| bot/{module}.py | {total} | {c['killed']} | {c['survived']} | {c['timeout']} | {other} | {score} |"
        )
        survivors += sorted(f"{n}: {s}" for n, s in found.items() if s not in ("killed", "timeout", "not checked"))
    return "\n".join(rows), survivors


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    p.add_argument("--survivors", action="store_true", help="list the mutants checked and not killed")
    args = p.parse_args(argv)
    text, survivors = table(args.root)
    print(text)
    if args.survivors:
        print("\n".join(["", *survivors]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
