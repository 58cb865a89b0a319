"""Corrupt and concurrent state with real processes: builds killed part-way,
two builders at once. The index either loads right or is refused, never
loads wrong; and `bot ask` always ends with a working index."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.errors import IndexStateError
from bot.index import index_status, load_index

from .conftest import SEED, ask_cli_json

pytestmark = pytest.mark.real_model


def workspace(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "seeds").mkdir()
    shutil.copy(SEED, tmp_path / "seeds" / SEED.name)
    (tmp_path / "seeds" / "second.txt").write_text(
        "Le conseil municipal de Lyon a voté mardi la fermeture du vieux pont. La maire a parlé de 4 millions d'euros.",
        encoding="utf-8",
    )
    return {
        **os.environ,
        "ARTICLE_QA_SEEDS": str(tmp_path / "seeds"),
        "ARTICLE_QA_INDEX": str(tmp_path / "index"),
        "ARTICLE_QA_ENGINE": "extractive",
        "HF_HUB_OFFLINE": "1",
    }


def build(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "index", "build"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def check_consistent(index_dir: Path, model_id: str) -> bool:
    """True if the index loads and is internally consistent; False if refused.
    Either way, the status check and the loader agree: an index is refused
    exactly when `bot ask` would see it as stale and rebuild it."""
    status = index_status(index_dir, index_dir.parent / "seeds", model_id)
    try:
        idx = load_index(index_dir, model_id)
    except IndexStateError:
        assert not status.current, "refused by the loader, yet the status check calls it current"
        return False
    assert status.current, f"loads, yet the status check calls it stale: {status.reasons}"
    assert idx.faiss_index.ntotal == idx.window_index.ntotal == len(idx.sentences)
    assert set(idx.article_ids) == {SEED.stem, "second"}
    return True


def test_builds_killed_at_random_points(real_bot, tmp_path: Path):
    env = workspace(tmp_path)
    model_id = real_bot.embedder.model_id
    outcomes = []
    for delay in (0.5, 2.0, 4.0, 6.0, 8.0, 10.0):
        p = build(env)
        time.sleep(delay)
        p.kill()
        p.wait()
        outcomes.append(check_consistent(tmp_path / "index", model_id))
        leftovers = (
            [f.name for f in (tmp_path / "index").glob(".*") if f.name != ".lock"]
            if (tmp_path / "index").exists()
            else []
        )
        # a killed writer may leave a temporary file, never a half-written data file under its real name
        assert all(name.startswith((".vectors", ".windows", ".sentences", ".manifest")) for name in leftovers)
    print("loaded after each kill:", outcomes)
    # half a second in, the process is still importing: there is no index yet
    assert outcomes[0] is False
    finished = build(env)
    assert finished.wait(timeout=600) == 0
    assert check_consistent(tmp_path / "index", model_id)
    assert ask_cli_json(env)["citations"]
    assert check_consistent(tmp_path / "index", model_id)


def test_two_builders_at_once(real_bot, tmp_path: Path):
    env = workspace(tmp_path)
    first, second = build(env), build(env)
    assert first.wait(timeout=600) == 0, first.stderr.read() if first.stderr else ""
    assert second.wait(timeout=600) == 0, second.stderr.read() if second.stderr else ""
    assert check_consistent(tmp_path / "index", real_bot.embedder.model_id)
