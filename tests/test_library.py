"""Adding and removing articles one at a time (fake embedder): only the new
article is embedded, a refused add leaves every file byte-identical, a
killed add leaves the previous index intact, two sessions can add at once."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from bot import Bot
from bot.errors import ArticleError
from bot.index import MANIFEST, index_status, load_index
from bot.library import slug, unique_id

from . import pages
from .conftest import ROOT, SEED_ID, FakeEmbedder


class CountingEmbedder(FakeEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.passages = 0

    def embed_passages(self, texts, progress=False):
        self.passages += len(texts)
        return super().embed_passages(texts, progress)


@pytest.fixture
def lib_bot(settings):
    bot = Bot(settings, embedder=CountingEmbedder())
    bot.build()
    return bot


def snapshot(*folders: Path) -> dict[str, str]:
    """sha256 of every file in the folders: what "byte-identical" compares."""
    return {
        str(p.relative_to(p.parents[1])): hashlib.sha256(p.read_bytes()).hexdigest()
        for folder in folders
        for p in sorted(folder.iterdir())
        if p.is_file()
    }


def test_add_embeds_only_the_new_article_and_keeps_every_other_vector(lib_bot, settings):
    before = load_index(settings.index, FakeEmbedder.model_id)
    old_vectors = before.faiss_index.reconstruct_n(0, len(before.sentences))
    lib_bot.embedder.passages = 0
    info = lib_bot.add_article(pages.news_page().encode(), name="page.html")
    assert lib_bot.embedder.passages == 2 * info.sentences  # its sentences and its windows, nothing else
    after = load_index(settings.index, FakeEmbedder.model_id)
    assert (after.faiss_index.reconstruct_n(0, len(before.sentences)) == old_vectors).all()
    assert [s.id for s in after.sentences[: len(before.sentences)]] == [s.id for s in before.sentences]
    assert info.id == "harbour-bridge-reopens-after-two-years" and info.format == "html"
    assert (info.title, info.source_url, info.author, info.date) == (pages.TITLE, pages.URL, "Jane Doe", "2026-03-14")
    assert index_status(settings.index, settings.seeds, FakeEmbedder.model_id).current


def test_the_added_article_is_answered_and_persists_across_a_restart(lib_bot, settings):
    info = lib_bot.add_article(pages.news_page().encode(), name="page.html")
    # (the fake embedder's scores are not calibrated for the extractive engine: retrieval is checked)
    hits = lib_bot.retrieve("How many steel cables did the engineers replace?", article=info.id)
    assert hits[0].sentence.article_id == info.id and "1,200 steel cables" in hits[0].sentence.text
    fresh = Bot(settings, embedder=CountingEmbedder())
    answer = fresh.ask("How many steel cables did the engineers replace?", article=info.id)
    assert answer.notice is None and fresh.embedder.passages == 0  # loaded, not rebuilt
    assert "1,200 steel cables" in answer.hits[0].sentence.text
    assert [x.id for x in fresh.articles()] == [SEED_ID, info.id]
    stored = (settings.seeds / f"{info.id}.txt").read_text(encoding="utf-8")
    assert stored.startswith(pages.TITLE + "\n") and stored.rstrip().endswith(f"Source : {pages.URL}")
    for marker in pages.BOILERPLATE:
        assert marker not in stored
        assert marker not in (settings.index / "sentences.1.jsonl").read_text(encoding="utf-8")


def test_a_full_rebuild_gives_the_same_sentences_and_keeps_the_metadata(lib_bot, settings):
    info = lib_bot.add_article(pages.news_page().encode(), name="page.html")
    incremental = [(s.id, s.text, s.start, s.end) for s in lib_bot.index.sentences]
    lib_bot.build()
    assert [(s.id, s.text, s.start, s.end) for s in lib_bot.index.sentences] == incremental
    again = next(a for a in lib_bot.articles() if a.id == info.id)
    assert (again.title, again.author, again.added, again.format) == (info.title, info.author, info.added, "html")


def test_remove_keeps_the_others_without_a_rebuild(lib_bot, settings):
    info = lib_bot.add_article(pages.news_page().encode(), name="page.html")
    lib_bot.embedder.passages = 0
    removed = lib_bot.remove_article(info.id)
    assert removed.id == info.id and lib_bot.embedder.passages == 0
    assert not (settings.seeds / f"{info.id}.txt").exists()
    assert not (settings.seeds / f"{info.id}.meta.json").exists()
    assert [a.id for a in lib_bot.articles()] == [SEED_ID]
    a = lib_bot.ask("Combien de soldats nord-coréens ont été envoyés en Russie ?")
    assert a.notice is None and a.hits[0].sentence.id == f"{SEED_ID}:5" and lib_bot.embedder.passages == 0
    assert index_status(settings.index, settings.seeds, FakeEmbedder.model_id).current


def test_ids_are_safe_and_never_collide(lib_bot, settings):
    assert slug("Ça déménage : l'été 2026 à Zürich !") == "ca-demenage-l-ete-2026-a"
    assert slug("日本語のタイトル") == "article" and unique_id("a", {"a", "a-2"}) == "a-3"
    first = lib_bot.add_article("Le pont rouvre\nLe vieux pont a rouvert samedi.", name="t")
    second = lib_bot.add_article("Le pont rouvre\nUn autre texte, sans rapport avec le premier.", name="t")
    assert (first.id, second.id) == ("le-pont-rouvre", "le-pont-rouvre-2")
    mine = lib_bot.add_article("Une note sur le budget municipal de cette année.", article_id="budget_2026")
    assert mine.id == "budget_2026"


@pytest.mark.parametrize(
    "data, kwargs, message",
    [
        (b"", {}, "is empty"),
        (b" \n \t\n", {}, "is empty"),
        (b"x" * 10_001, {}, "characters long; the limit is 10,000"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", {}, "is not text"),
        (b"caf\xe9 au lait", {}, "is not valid UTF-8"),
        ("DUPLICATE", {}, "is a copy of article"),
        (b"Comment (0)\nPartager\nSource : https://ex.fr/a", {}, "holds no sentence"),
        (b"!!! ??? ... ---", {}, "holds no sentence"),
        (b"Un texte correct.", {"article_id": SEED_ID}, "is already taken"),
        (b"Un texte correct.", {"article_id": "../etc/passwd"}, "is not allowed"),
    ],
    ids=[
        "empty",
        "whitespace",
        "too-large",
        "binary",
        "not-utf8",
        "duplicate",
        "furniture-only",
        "symbols",
        "id-taken",
        "id-unsafe",
    ],
)
def test_every_bad_input_is_refused_and_nothing_changes(settings, data, kwargs, message):
    from dataclasses import replace

    bot = Bot(replace(settings, max_article_chars=10_000), embedder=CountingEmbedder())
    bot.build()
    if data == "DUPLICATE":  # the seed again, re-wrapped and under another name: the same sentences
        data = "\n\n".join((settings.seeds / f"{SEED_ID}.txt").read_text(encoding="utf-8").splitlines()).encode()
    before = snapshot(settings.index, settings.seeds)
    with pytest.raises(ArticleError) as e:
        bot.add_article(data, name="the pasted text", **kwargs)
    assert message in str(e.value) and "\n" not in str(e.value)
    assert snapshot(settings.index, settings.seeds) == before


def test_remove_refuses_unknown_and_last_articles(lib_bot, settings):
    before = snapshot(settings.index, settings.seeds)
    with pytest.raises(ArticleError, match="unknown article 'nope'"):
        lib_bot.remove_article("nope")
    with pytest.raises(ArticleError, match="only article"):
        lib_bot.remove_article(SEED_ID)
    assert snapshot(settings.index, settings.seeds) == before


def test_the_first_article_of_an_empty_folder(tmp_path):
    from bot import Settings

    s = Settings.load({"seeds": tmp_path / "new", "index": tmp_path / "index"}, environ={})
    bot = Bot(s, embedder=FakeEmbedder())
    info = bot.add_article(pages.news_page().encode(), name="page.html")
    assert [a.id for a in bot.articles()] == [info.id]


# -- real processes: killed mid-add, and two adding at once --------------------

CHILD = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    sys.path.insert(0, {root!r})
    from tests.conftest import FakeEmbedder
    from bot import Bot, Settings
    import bot.index, bot.library

    where, marker = sys.argv[1], Path(sys.argv[2])
    settings = Settings.load({{"seeds": sys.argv[3], "index": sys.argv[4]}}, environ={{}})

    def stop_here():
        marker.write_text("reached")
        time.sleep(60)

    class Slow(FakeEmbedder):
        def embed_passages(self, texts, progress=False):
            if where == "embedding":
                stop_here()
            if where == "together":
                while not (marker.parent / "go").exists():
                    time.sleep(0.01)
                time.sleep(0.2)  # both embed at the same time
            return super().embed_passages(texts, progress)

    write = bot.index._write_atomic
    def slow_write(path, fn):
        if where == "before-commit" and path.name == "manifest.json":
            stop_here()
        return write(path, fn)
    bot.index._write_atomic = slow_write

    replace = os.replace
    def slow_replace(src, dst):
        if where == "after-commit" and str(src).endswith(".adding"):
            stop_here()
        return replace(src, dst)
    bot.library.os.replace = slow_replace

    text = sys.argv[5]
    info = Bot(settings, embedder=Slow()).add_article(text, name="child")
    print(info.id)
    """
)


def child(where: str, tmp: Path, settings, text: str) -> tuple[subprocess.Popen, Path]:
    script = tmp / "child.py"
    script.write_text(CHILD.format(root=str(ROOT)), encoding="utf-8")
    marker = tmp / f"marker-{where}-{abs(hash(text)) % 10**6}"
    proc = subprocess.Popen(
        [sys.executable, str(script), where, str(marker), str(settings.seeds), str(settings.index), text],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    return proc, marker


def wait_for(marker: Path, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.time() + timeout
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert time.time() < deadline, "the child never reached the kill point"
        time.sleep(0.02)


ARTICLE = "Le festival de jazz de Montréal accueille trois cents musiciens cette année. Il dure dix jours."


@pytest.mark.parametrize("where", ["embedding", "before-commit"])
def test_an_add_killed_before_its_commit_leaves_the_previous_index_intact(lib_bot, settings, tmp_path, where):
    manifest = (settings.index / MANIFEST).read_bytes()
    before = snapshot(settings.index)
    proc, marker = child(where, tmp_path, settings, ARTICLE)
    wait_for(marker, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # the previous manifest and every file it names are untouched
    assert (settings.index / MANIFEST).read_bytes() == manifest
    assert {k: v for k, v in snapshot(settings.index).items() if k in before} == before
    fresh = Bot(settings, embedder=CountingEmbedder())
    a = fresh.ask("Combien de soldats nord-coréens ont été envoyés en Russie ?")
    assert a.notice is None and a.hits[0].sentence.id == f"{SEED_ID}:5"
    assert fresh.embedder.passages == 0  # usable as it was, no rebuild
    assert [x.id for x in fresh.articles()] == [SEED_ID]
    assert sorted(p.name for p in settings.seeds.iterdir()) == [f"{SEED_ID}.txt"]  # the half-add is undone
    # and the next add works
    assert fresh.add_article(ARTICLE, name="again").id.startswith("le-festival-de-jazz")


def test_an_add_killed_after_its_commit_is_finished_by_the_next_session(lib_bot, settings, tmp_path):
    proc, marker = child("after-commit", tmp_path, settings, ARTICLE)
    wait_for(marker, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    fresh = Bot(settings, embedder=CountingEmbedder())
    a = fresh.ask("Combien de musiciens au festival de jazz de Montréal ?")
    assert a.notice is None and fresh.embedder.passages == 0
    added = [x.id for x in fresh.articles()]
    assert len(added) == 2 and (settings.seeds / f"{added[1]}.txt").is_file()
    assert index_status(settings.index, settings.seeds, FakeEmbedder.model_id).current


def test_two_sessions_adding_at_once_both_succeed(lib_bot, settings, tmp_path):
    texts = [ARTICLE, "Le conseil municipal de Lyon a voté mardi la fermeture du vieux pont aux voitures."]
    procs = [child("together", tmp_path, settings, t)[0] for t in texts]
    time.sleep(0.5)
    (tmp_path / "go").write_text("go")
    ids = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-2000:]
        ids.append(out.strip())
    fresh = Bot(settings, embedder=CountingEmbedder())
    assert sorted(a.id for a in fresh.articles()) == sorted([SEED_ID, *ids])
    assert fresh.embedder.passages == 0 and fresh.status().current
    for article_id, text in zip(ids, texts, strict=True):
        lo, hi = fresh.index.ranges[article_id]
        assert " ".join(s.text for s in fresh.index.sentences[lo:hi]) == text
    assert json.loads((settings.index / MANIFEST).read_text())["generation"] == 2


def test_a_commit_waits_for_a_reader_checking_the_index(lib_bot, settings):
    """Readers hold the lock shared while they check and load the index, so a writer's
    commit (a manifest and its files) never lands between the two."""
    import threading

    from bot.index import lock

    finished = threading.Event()

    def writer() -> None:
        Bot(settings, embedder=FakeEmbedder()).add_article(ARTICLE, name="t")
        finished.set()

    with lock(settings.index, shared=True):
        thread = threading.Thread(target=writer)
        thread.start()
        assert not finished.wait(1.0)  # embedded, then waiting for the reader
        before = (settings.index / MANIFEST).read_bytes()
    thread.join(30)
    assert finished.is_set() and (settings.index / MANIFEST).read_bytes() != before
