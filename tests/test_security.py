"""Nothing is ever unpickled; the index loader reads only FAISS and JSON."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from .conftest import ROOT, ask_cli_json

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


def test_server_binds_loopback_by_default():
    from bot import Settings

    assert Settings.load(environ={}).host == "127.0.0.1"


@pytest.mark.real_model
def test_cli_works_with_networking_blocked(real_bot, tmp_path):
    """`unshare -n` runs the CLI in a network namespace with no interface but
    loopback: any attempt to reach a model hub would fail the command."""
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-n", "true"]).returncode != 0:
        pytest.fail("this test needs `unshare -n` (util-linux, as root), which CI has")
    s = real_bot.settings
    env = {
        **os.environ,
        "ARTICLE_QA_SEEDS": str(s.seeds),
        "ARTICLE_QA_INDEX": str(tmp_path / "index"),
        "ARTICLE_QA_ENGINE": "extractive",
    }
    env.pop("HF_HUB_OFFLINE", None)  # prove it without the offline switch too
    assert ask_cli_json(env, prefix=["unshare", "-n"])["citations"]
