"""Nothing is ever unpickled; the index loader reads only FAISS and JSON."""

from __future__ import annotations

import re

from .conftest import ROOT

FORBIDDEN = re.compile(
    r"\b(pickle|cPickle|joblib|dill|cloudpickle)\b|torch\.load\(|allow_dangerous_deserialization|np\.load\("
)


def test_no_unpickling_in_the_package():
    offenders = []
    for path in sorted((ROOT / "bot").rglob("*.py")) + [ROOT / "app.py"]:
        if not path.exists():
            continue
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if FORBIDDEN.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{lineno}: {line.strip()}")
    assert offenders == []
