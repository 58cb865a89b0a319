"""Index round trip, staleness, damage detection and atomic writes (fake embedder)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bot import Bot
from bot.errors import IndexStateError
from bot.index import MANIFEST, SENTENCES, VECTORS, WINDOWS, index_status, load_index

from .conftest import SEED_ID, FakeEmbedder


def test_round_trip_gives_the_same_hits(fake_bot: Bot, settings):
    built = fake_bot.build()
    before = [(h.sentence.id, round(h.score, 5)) for h in fake_bot.retrieve("soldats nord-coréens envoyés Russie")]
    fresh = Bot(settings, embedder=FakeEmbedder())
    loaded = load_index(settings.index, FakeEmbedder.model_id)
    assert [s.id for s in loaded.sentences] == [s.id for s in built.sentences]
    after = [(h.sentence.id, round(h.score, 5)) for h in fresh.retrieve("soldats nord-coréens envoyés Russie")]
    assert before == after
    assert before[0][0] == f"{SEED_ID}:5"


def test_manifest_records_what_the_index_is(fake_bot: Bot, settings):
    fake_bot.build()
    m = json.loads((settings.index / MANIFEST).read_text())
    assert m["format"] == "article-qa-index/1"
    assert m["embed_model"] == FakeEmbedder.model_id
    assert m["dim"] == FakeEmbedder.dim
    assert m["normalized"] == "l2"
    assert len(m["articles"][SEED_ID]["sha256"]) == 64
    assert m["articles"][SEED_ID]["source_url"].startswith("https://")
    assert set(m["files"]) == {VECTORS, WINDOWS, SENTENCES}
    # sentences are human-readable JSON lines
    first = json.loads((settings.index / SENTENCES).read_text(encoding="utf-8").splitlines()[0])
    assert first["id"] == f"{SEED_ID}:1" and first["text"].startswith("Le secrétaire général")


def test_status_sees_new_changed_and_removed_articles(fake_bot: Bot, settings):
    assert not index_status(settings.index, settings.seeds, FakeEmbedder.model_id).exists
    fake_bot.build()
    assert index_status(settings.index, settings.seeds, FakeEmbedder.model_id).current
    assert "built with model" in index_status(settings.index, settings.seeds, "other/model").reasons[0]
    (settings.seeds / "new.txt").write_text("Un nouvel article. Avec deux phrases.", encoding="utf-8")
    assert "article new is new" in index_status(settings.index, settings.seeds, FakeEmbedder.model_id).reasons
    (settings.seeds / "new.txt").unlink()
    seed = settings.seeds / f"{SEED_ID}.txt"
    seed.write_text(seed.read_text(encoding="utf-8") + "\nUne phrase ajoutée.", encoding="utf-8")
    assert (
        f"article {SEED_ID} has changed" in index_status(settings.index, settings.seeds, FakeEmbedder.model_id).reasons
    )
    seed.unlink()
    assert (
        f"article {SEED_ID} was removed" in index_status(settings.index, settings.seeds, FakeEmbedder.model_id).reasons
    )


def test_ask_rebuilds_a_stale_index_and_says_so(fake_bot: Bot, settings):
    fake_bot.build()
    (settings.seeds / "extra.txt").write_text(
        "Le festival de jazz de Montréal accueille trois cents musiciens cette année.", encoding="utf-8"
    )
    answer = fake_bot.ask("Combien de musiciens au festival de jazz de Montréal ?")
    assert answer.notice and "article extra is new" in answer.notice
    assert "extra" in fake_bot.index.article_ids
    assert fake_bot.ask("Combien de musiciens au festival de jazz ?").notice is None


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda d: (d / VECTORS).write_bytes((d / VECTORS).read_bytes()[:100]), id="truncated-faiss"),
        pytest.param(lambda d: (d / WINDOWS).unlink(), id="missing-windows"),
        pytest.param(lambda d: (d / SENTENCES).write_text('{"id": broken\n'), id="malformed-jsonl"),
        pytest.param(lambda d: (d / MANIFEST).write_text("{not json"), id="manifest-not-json"),
        pytest.param(
            lambda d: (d / MANIFEST).write_text(json.dumps({"format": "other/9"})), id="manifest-other-format"
        ),
        pytest.param(
            lambda d: (d / MANIFEST).write_text(
                json.dumps({**json.loads((d / MANIFEST).read_text()), "embed_model": "someone/else"})
            ),
            id="manifest-other-model",
        ),
    ],
)
def test_damaged_index_is_refused_then_rebuilt(fake_bot: Bot, settings, damage):
    fake_bot.build()
    damage(settings.index)
    with pytest.raises(IndexStateError, match="bot index build"):
        load_index(settings.index, FakeEmbedder.model_id)
    fresh = Bot(settings, embedder=FakeEmbedder())
    answer = fresh.ask("Combien de soldats nord-coréens ont été envoyés en Russie ?")
    assert answer.notice and answer.notice.startswith("rebuilt the stale index")
    assert load_index(settings.index, FakeEmbedder.model_id).sentences


@pytest.mark.parametrize("dies_at", [1, 2, 3, 4])
def test_a_build_that_dies_midway_leaves_the_old_index_or_a_damaged_one(fake_bot: Bot, settings, monkeypatch, dies_at):
    # A build renames four files into place: vectors, windows, sentences, then
    # the manifest. Killed before the first rename, the old index is intact and
    # loads; killed after one, the files disagree with the manifest's checksums,
    # so the index is refused (never loaded wrong) and the next ask rebuilds it.
    fake_bot.build()
    before = {p.name: p.read_bytes() for p in settings.index.iterdir() if p.is_file()}

    import bot.index as index_module

    real_replace = os.replace
    calls = {"n": 0}

    def dying_replace(src, dst):
        calls["n"] += 1
        if calls["n"] == dies_at:
            raise KeyboardInterrupt("killed")
        return real_replace(src, dst)

    monkeypatch.setattr(index_module.os, "replace", dying_replace)
    (settings.seeds / "late.txt").write_text("Une phrase de plus. Et une autre.", encoding="utf-8")
    with pytest.raises(KeyboardInterrupt):
        Bot(settings, embedder=FakeEmbedder()).build()
    monkeypatch.setattr(index_module.os, "replace", real_replace)
    assert not [p for p in settings.index.iterdir() if p.name.startswith(".") and p.name != ".lock"]
    after = {p.name: p.read_bytes() for p in settings.index.iterdir() if p.is_file()}
    assert after[MANIFEST] == before[MANIFEST]
    if dies_at == 1:
        assert after == before
        assert len(load_index(settings.index, FakeEmbedder.model_id).sentences) == 14
    else:
        with pytest.raises(IndexStateError, match="missing or damaged"):
            load_index(settings.index, FakeEmbedder.model_id)
        assert not index_status(settings.index, settings.seeds, FakeEmbedder.model_id).current
    answer = Bot(settings, embedder=FakeEmbedder()).ask("Combien de soldats nord-coréens ?")
    assert answer.notice and answer.notice.startswith("rebuilt the stale index")
    assert len(load_index(settings.index, FakeEmbedder.model_id).sentences) == 16


def test_a_build_removes_the_temporary_files_of_a_killed_builder(fake_bot: Bot, settings):
    fake_bot.build()
    stale = [settings.index / f".{name}.k1ll3d" for name in (VECTORS, WINDOWS, SENTENCES, MANIFEST)]
    for p in stale:
        p.write_bytes(b"half-written")
    fake_bot.build()
    assert not [p for p in stale if p.exists()]


def test_a_second_builder_waits_for_the_lock(fake_bot: Bot, settings):
    # Without the lock a second builder would delete the first one's temporary
    # files as "stale" while it writes them.
    import threading

    from bot.index import lock as _lock

    fake_bot.build()
    manifest = (settings.index / MANIFEST).read_bytes()
    (settings.seeds / "late.txt").write_text("Une phrase de plus. Et une autre.", encoding="utf-8")
    builder = threading.Thread(target=Bot(settings, embedder=FakeEmbedder()).build)
    with _lock(settings.index):
        builder.start()
        builder.join(timeout=1.0)
        assert builder.is_alive(), "the builder did not wait for the lock"
        assert (settings.index / MANIFEST).read_bytes() == manifest
    builder.join(timeout=30)
    assert not builder.is_alive()
    assert len(load_index(settings.index, FakeEmbedder.model_id).sentences) == 16


def test_skipped_articles_do_not_make_the_index_stale(fake_bot: Bot, settings):
    # A copy and an empty file are skipped with a warning; the manifest records
    # them, so the next ask neither rebuilds nor says the index is stale.
    import shutil

    shutil.copy(settings.seeds / f"{SEED_ID}.txt", settings.seeds / "copy.txt")
    (settings.seeds / "empty.txt").write_text("  \n", encoding="utf-8")
    fake_bot.build()
    assert len(fake_bot.warnings) == 2
    assert index_status(settings.index, settings.seeds, FakeEmbedder.model_id).current
    fresh = Bot(settings, embedder=FakeEmbedder())
    calls = fresh.embedder.calls
    answer = fresh.ask("Combien de soldats nord-coréens ?")
    assert answer.notice is None
    assert fresh.embedder.calls == calls + 1  # the question only: no passage was embedded again


def test_unknown_article_is_named(fake_bot: Bot):
    fake_bot.build()
    from bot.errors import ArticleError

    with pytest.raises(ArticleError, match=f"unknown article 'nope'; indexed articles: {SEED_ID}"):
        fake_bot.ask("Qui ?", article="nope")


def test_index_dir_path_is_created(tmp_path: Path, seeds):
    from bot import Settings

    s = Settings.load({"seeds": seeds, "index": tmp_path / "deep" / "er" / "index"}, environ={})
    Bot(s, embedder=FakeEmbedder()).build()
    assert (tmp_path / "deep" / "er" / "index" / MANIFEST).is_file()


def test_large_indexes_switch_to_hnsw_and_answer_the_same(settings, monkeypatch):
    import bot.index as index_module

    flat = Bot(settings, embedder=FakeEmbedder())
    flat.build()
    questions = ["Combien de soldats nord-coréens ?", "Où Lavrov a-t-il parlé ?", "Qui est Mark Rutte ?"]
    expected = [[h.sentence.id for h in flat.retrieve(q, top_k=3)] for q in questions]
    assert flat.index.manifest["index_type"] == "IndexFlatIP"

    monkeypatch.setattr(index_module, "FLAT_MAX", 5)  # the seed article has 14 sentences
    hnsw = Bot(settings, embedder=FakeEmbedder())
    hnsw.build()
    assert hnsw.index.manifest["index_type"].startswith("IndexHNSWFlat(M=32,efSearch=")
    reloaded = load_index(settings.index, FakeEmbedder.model_id)
    assert type(reloaded.faiss_index).__name__ == "IndexHNSWFlat"
    # 14 vectors: HNSW finds the exact neighbours, and the per-article path is exact anyway
    assert [[h.sentence.id for h in hnsw.retrieve(q, top_k=3)] for q in questions] == expected
    assert [h.sentence.id for h in hnsw.retrieve(questions[0], top_k=3, article=SEED_ID)] == expected[0]


def test_an_index_of_another_type_than_its_manifest_says_is_rebuilt(fake_bot: Bot, settings):
    fake_bot.build()
    path = settings.index / MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["index_type"] = "IndexHNSWFlat(M=32,efSearch=128)"  # the file is an IndexFlatIP
    path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexStateError, match="IndexFlatIP, the manifest says IndexHNSWFlat"):
        load_index(settings.index, FakeEmbedder.model_id)
    fresh = Bot(settings, embedder=FakeEmbedder())
    a = fresh.ask("Combien de soldats nord-coréens ?")
    assert a.notice and "rebuilt the index" in a.notice
    assert load_index(settings.index, FakeEmbedder.model_id).manifest["index_type"] == "IndexFlatIP"
