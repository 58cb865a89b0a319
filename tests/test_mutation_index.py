"""bot/index.py, pinned down where mutation testing (docs/mutation.md) found
behaviour no other test checked: file names per generation, every staleness
reason and load refusal word for word, the manifest's fields, what an update
keeps and deletes, and the lock's two modes."""

from __future__ import annotations

import fcntl
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from bot.errors import IndexStateError
from bot.index import (
    ARTICLE_META,
    DATA_FILES,
    FLAT_MAX,
    FORMAT,
    HNSW_EF_CONSTRUCTION,
    HNSW_EF_SEARCH,
    HNSW_M,
    LOCK,
    MANIFEST,
    SENTENCES,
    VECTORS,
    WINDOWS,
    SentenceIndex,
    Status,
    _write_atomic,
    all_vectors,
    article_entry,
    build_index,
    data_name,
    data_path,
    index_status,
    index_type,
    load_index,
    lock,
    make_index,
    seed_checksums,
    update_index,
    window_text,
)
from bot.types import Article, Sentence

from .conftest import FakeEmbedder

MODEL = FakeEmbedder.model_id


def article(article_id: str, texts: list[str], lang: str = "fr", url: str | None = None) -> Article:
    sentences, at = [], 0
    for n, text in enumerate(texts, 1):
        sentences.append(Sentence(f"{article_id}:{n}", article_id, n, text, at, at + len(text)))
        at += len(text) + 1
    text = " ".join(texts)
    return Article(article_id, text, tuple(sentences), url, hashlib.sha256(text.encode()).hexdigest(), lang)


A = article("a", ["Des soldats sont partis.", "Ils sont arrivés à Koursk.", "Séoul a confirmé."], url="https://x/a")
B = article("b", ["Mark Rutte dirige l'OTAN.", "Il a parlé lundi."], lang="en")


def files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()} - {LOCK}


# -- names -------------------------------------------------------------------
def test_data_names_per_generation():
    assert DATA_FILES == (VECTORS, WINDOWS, SENTENCES) == ("vectors.faiss", "windows.faiss", "sentences.jsonl")
    assert [data_name(r) for r in DATA_FILES] == list(DATA_FILES)
    assert [data_name(r, 3) for r in DATA_FILES] == ["vectors.3.faiss", "windows.3.faiss", "sentences.3.jsonl"]
    assert data_path(Path("ix"), SENTENCES) == Path("ix/sentences.jsonl")
    assert data_path(Path("ix"), SENTENCES, {}) == Path("ix/sentences.jsonl")
    assert data_path(Path("ix"), VECTORS, {"generation": 2}) == Path("ix/vectors.2.faiss")


# -- FAISS indexes -----------------------------------------------------------
def test_flat_up_to_flat_max_hnsw_beyond():
    assert (FLAT_MAX, HNSW_M, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH) == (20_000, 32, 40, 128)
    flat = make_index(8, FLAT_MAX)
    assert type(flat).__name__ == "IndexFlatIP" and flat.d == 8 and index_type(flat) == "IndexFlatIP"
    hnsw = make_index(8, FLAT_MAX + 1)
    assert type(hnsw).__name__ == "IndexHNSWFlat" and hnsw.d == 8
    assert hnsw.hnsw.efConstruction == 40 and hnsw.hnsw.efSearch == 128
    assert index_type(hnsw) == "IndexHNSWFlat(M=32,efSearch=128)"
    # inner product: the best match of a vector is itself, scored 1
    hnsw.add(np.eye(8, dtype=np.float32))
    scores, ids = hnsw.search(np.eye(8, dtype=np.float32)[:1], 1)
    assert ids[0][0] == 0 and scores[0][0] == pytest.approx(1.0)


# -- SentenceIndex -----------------------------------------------------------
def test_a_sentence_index_knows_each_articles_rows_source_and_language():
    sentences = [*A.sentences, *B.sentences]
    manifest = {"articles": {"a": {"source_url": "https://x/a", "lang": "fr"}, "b": {"lang": ""}, "c": {}}}
    ix = SentenceIndex(None, None, sentences, manifest)
    assert ix.ranges == {"a": (0, 3), "b": (3, 5)}
    assert ix.sources == {"a": "https://x/a", "b": None, "c": None}
    assert ix.langs == {"a": "fr", "b": "en", "c": "en"}
    assert ix.article_ids == ["a", "b", "c"]


# -- build, load -------------------------------------------------------------
def test_build_writes_the_manifest_in_full(tmp_path: Path):
    folder = tmp_path / "ix"
    meta = {"a": {"title": "Titre", "date": "2024-10-28", "author": "", "added": None, "format": "html", "x": 1}}
    ix = build_index([A, B], FakeEmbedder(), folder, skipped={"bad": "0" * 64}, meta=meta)
    m = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    assert m == ix.manifest
    built_at = m.pop("built_at")
    assert len(built_at) == 25 and built_at.endswith("+00:00")
    assert m == {
        "format": FORMAT,
        "embed_model": MODEL,
        "dim": FakeEmbedder.dim,
        "normalized": "l2",
        "metric": "inner_product",
        "index_type": "IndexFlatIP",
        "text_normalization": "NFC",
        "generation": 0,
        "articles": {
            "a": {
                "sha256": A.sha256,
                "sentences": 3,
                "source_url": "https://x/a",
                "lang": "fr",
                "title": "Titre",
                "date": "2024-10-28",
                "format": "html",
            },
            "b": {"sha256": B.sha256, "sentences": 2, "source_url": None, "lang": "en"},
        },
        "skipped": {"bad": "0" * 64},
        "windows": "previous + sentence + next sentence of the same article",
        "files": {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in DATA_FILES},
    }
    assert files(folder) == {MANIFEST, *DATA_FILES}
    lines = [json.loads(x) for x in (folder / SENTENCES).read_text(encoding="utf-8").splitlines()]
    assert lines[4] == {"id": "b:2", "article_id": "b", "n": 2, "text": "Il a parlé lundi.", "start": 26, "end": 43}
    assert "Séoul" in (folder / SENTENCES).read_text(encoding="utf-8")  # not \u00e9-escaped


def test_article_entries_keep_only_the_metadata_given():
    assert ARTICLE_META == ("title", "date", "author", "added", "format")
    assert article_entry(B) == {"sha256": B.sha256, "sentences": 2, "source_url": None, "lang": "en"}
    assert article_entry(B, {"author": "X", "added": "2026", "url": "u"}) == {
        **article_entry(B),
        "author": "X",
        "added": "2026",
    }


def test_build_embeds_sentences_and_windows_and_load_gives_them_back(tmp_path: Path):
    folder = tmp_path / "ix"
    emb = FakeEmbedder()
    ix = build_index([A, B], emb, folder)
    assert emb.calls == 2
    loaded = load_index(folder, MODEL)
    assert loaded.sentences == [*A.sentences, *B.sentences] and loaded.manifest == ix.manifest
    vectors, windows = all_vectors(loaded)
    assert vectors.dtype == np.float32 and vectors.shape == (5, FakeEmbedder.dim)
    np.testing.assert_allclose(vectors, emb.embed_passages([s.text for s in loaded.sentences]), atol=1e-6)
    expected = [window_text(A, i) for i in range(3)] + [window_text(B, i) for i in range(2)]
    np.testing.assert_allclose(windows, emb.embed_passages(expected), atol=1e-6)
    assert loaded.langs == {"a": "fr", "b": "en"} and loaded.ranges == {"a": (0, 3), "b": (3, 5)}


def test_the_dimension_is_the_vectors_own_and_the_embedders_for_no_sentence(tmp_path: Path):
    class Misleading(FakeEmbedder):
        dim = 999  # what it says, not what it returns

        def embed_passages(self, texts, progress=False):
            return FakeEmbedder().embed_passages(texts, progress)

    assert build_index([A], Misleading(), tmp_path / "one").manifest["dim"] == FakeEmbedder.dim
    assert load_index(tmp_path / "one", MODEL).faiss_index.d == FakeEmbedder.dim
    assert build_index([], Misleading(), tmp_path / "none").manifest["dim"] == 999


def test_build_makes_the_folder_and_shows_no_progress_unless_asked(tmp_path: Path):
    seen = []

    class Recording(FakeEmbedder):
        def embed_passages(self, texts, progress=False):
            seen.append(progress)
            return super().embed_passages(texts, progress)

    build_index([A], Recording(), tmp_path / "deep" / "er" / "ix")
    assert (tmp_path / "deep" / "er" / "ix" / MANIFEST).is_file() and seen == [False, False]
    build_index([A], Recording(), tmp_path / "ix", progress=True)
    assert seen[2:] == [True, True]


def test_window_text_is_the_sentence_with_its_neighbours():
    assert window_text(A, 0) == "Des soldats sont partis. Ils sont arrivés à Koursk."
    assert window_text(A, 1) == "Des soldats sont partis. Ils sont arrivés à Koursk. Séoul a confirmé."
    assert window_text(A, 2) == "Ils sont arrivés à Koursk. Séoul a confirmé."


def test_an_empty_index(tmp_path: Path):
    ix = build_index([], FakeEmbedder(), tmp_path / "ix")
    assert ix.manifest["dim"] == FakeEmbedder.dim and ix.sentences == [] and ix.faiss_index.ntotal == 0
    vectors, windows = all_vectors(load_index(tmp_path / "ix", MODEL))
    assert vectors.shape == windows.shape == (0, FakeEmbedder.dim) and vectors.dtype == np.float32


def test_every_load_refusal_names_the_fix(tmp_path: Path):
    folder = tmp_path / "ix"
    with pytest.raises(IndexStateError) as e:
        load_index(folder, MODEL)
    assert str(e.value) == f"no index in {folder}: run `bot index build`"
    build_index([A], FakeEmbedder(), folder)
    with pytest.raises(IndexStateError) as e:
        load_index(folder, "other/model")
    assert str(e.value) == (f"index in {folder} was built with {MODEL!r}, not 'other/model': run `bot index build`")
    path = folder / MANIFEST
    good = path.read_text(encoding="utf-8")
    cases = [
        ("{", f"{path} is not valid JSON: run `bot index build`"),
        (b"\xff\xfe", f"{path} is not valid JSON: run `bot index build`"),
        ("[1]", f"{path} has format None, expected {FORMAT!r}: run `bot index build`"),
        ('{"format": "x"}', f"{path} has format 'x', expected {FORMAT!r}: run `bot index build`"),
    ]
    m = json.loads(good)
    for key in ("embed_model", "dim", "articles", "files"):
        cases.append(
            (json.dumps({k: v for k, v in m.items() if k != key}), f"{path} lacks {key!r}: run `bot index build`")
        )
    cases.append((json.dumps({**m, "generation": "2"}), f"{path} has a malformed generation: run `bot index build`"))
    for text, message in cases:
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        with pytest.raises(IndexStateError) as e:
            load_index(folder, MODEL)
        assert str(e.value) == message
    path.write_text(good, encoding="utf-8")
    assert load_index(folder, MODEL).sentences == list(A.sentences)


def test_a_damaged_data_file_is_refused_unless_the_caller_has_just_hashed_it(tmp_path: Path):
    folder = tmp_path / "ix"
    build_index([A], FakeEmbedder(), folder)
    lines = (folder / SENTENCES).read_text(encoding="utf-8").splitlines()
    (folder / SENTENCES).write_text("\n".join(lines[:2]) + "\n", encoding="utf-8")  # one sentence short
    with pytest.raises(IndexStateError) as e:
        load_index(folder, MODEL)
    assert str(e.value) == f"{folder / SENTENCES} is missing or damaged: run `bot index build`"
    with pytest.raises(IndexStateError) as e:
        load_index(folder, MODEL, checksums_verified=True)
    assert str(e.value) == (
        f"{folder / VECTORS} holds 3 vectors of dimension {FakeEmbedder.dim} for 2 sentences "
        f"of dimension {FakeEmbedder.dim}: run `bot index build`"
    )
    for bad in ("not json", '{"id": "a:1"}', '{"id": "a:1", "article_id": "a", "n": "x", "text": "t", "start": 0}'):
        (folder / SENTENCES).write_text(lines[0] + "\n" + bad + "\n", encoding="utf-8")
        with pytest.raises(IndexStateError) as e:
            load_index(folder, MODEL, checksums_verified=True)
        assert str(e.value) == f"{folder / SENTENCES} line 2 is malformed: run `bot index build`"
    (folder / SENTENCES).unlink()
    with pytest.raises(IndexStateError) as e:
        load_index(folder, MODEL, checksums_verified=True)
    assert str(e.value) == f"{folder / SENTENCES} is missing or damaged: run `bot index build`"


def test_a_faiss_file_faiss_cannot_read_or_of_another_dimension(tmp_path: Path):
    import faiss

    folder = tmp_path / "ix"
    build_index([A], FakeEmbedder(), folder)
    (folder / WINDOWS).write_bytes(b"garbage")
    with pytest.raises(IndexStateError) as e:
        load_index(folder, MODEL, checksums_verified=True)
    assert str(e.value) == f"{folder / WINDOWS} cannot be read by FAISS: run `bot index build`"
    small = faiss.IndexFlatIP(4)
    small.add(np.eye(4, dtype=np.float32)[:3])
    faiss.write_index(small, str(folder / WINDOWS))
    with pytest.raises(IndexStateError) as e:
        load_index(folder, MODEL, checksums_verified=True)
    assert str(e.value) == (
        f"{folder / WINDOWS} holds 3 vectors of dimension 4 for 3 sentences of dimension "
        f"{FakeEmbedder.dim}: run `bot index build`"
    )


def test_an_hnsw_file_searches_with_our_setting_and_must_match_the_manifest(tmp_path: Path, monkeypatch):
    import faiss

    import bot.index as index_module

    monkeypatch.setattr(index_module, "FLAT_MAX", 1)
    folder = tmp_path / "ix"
    build_index([A], FakeEmbedder(), folder)
    ix = faiss.read_index(str(folder / VECTORS))
    ix.hnsw.efSearch = 7
    faiss.write_index(ix, str(folder / VECTORS))
    loaded = load_index(folder, MODEL, checksums_verified=True)
    assert loaded.faiss_index.hnsw.efSearch == HNSW_EF_SEARCH == loaded.window_index.hnsw.efSearch
    m = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    del m["index_type"]  # an index from before the field: flat
    (folder / MANIFEST).write_text(json.dumps(m), encoding="utf-8")
    with pytest.raises(IndexStateError) as e:
        load_index(folder, MODEL, checksums_verified=True)
    assert str(e.value) == (
        f"{folder / VECTORS} is a IndexHNSWFlat(M=32,efSearch=128), the manifest says None: run `bot index build`"
    )


# -- status ------------------------------------------------------------------
def seeds_for(tmp_path: Path, **texts: str) -> Path:
    folder = tmp_path / "seeds"
    folder.mkdir(exist_ok=True)
    for name, text in texts.items():
        (folder / f"{name}.txt").write_text(text, encoding="utf-8")
    return folder


def test_seed_checksums_hash_the_text_files_only(tmp_path: Path):
    seeds = seeds_for(tmp_path, b="deux", a="un")
    (seeds / "a.meta.json").write_text("{}", encoding="utf-8")
    assert seed_checksums(seeds) == {
        "a": hashlib.sha256(b"un").hexdigest(),
        "b": hashlib.sha256(b"deux").hexdigest(),
    }
    assert list(seed_checksums(seeds)) == ["a", "b"]


def test_every_staleness_reason(tmp_path: Path):
    folder = tmp_path / "ix"
    seeds = seeds_for(tmp_path, a="un", b="deux", c="trois")
    assert index_status(folder, seeds, MODEL) == Status(
        False, False, (f"no index in {folder}: run `bot index build`",), None
    )
    entry = {"sentences": 1, "source_url": None, "lang": "fr"}
    articles = {
        "a": {**entry, "sha256": hashlib.sha256(b"un").hexdigest()},
        "b": {**entry, "sha256": "changed"},
        "gone": {**entry, "sha256": "x"},
    }
    ix = build_index([], FakeEmbedder(), folder)
    m = {**ix.manifest, "articles": articles, "skipped": {"c": hashlib.sha256(b"trois").hexdigest()}}
    (folder / MANIFEST).write_text(json.dumps(m), encoding="utf-8")
    (seeds / "new.txt").write_text("nouveau", encoding="utf-8")
    (folder / WINDOWS).write_bytes(b"edited")
    (folder / SENTENCES).unlink()
    status = index_status(folder, seeds, "other/model")
    assert status.exists and not status.current and status.manifest == m
    assert status.reasons == (
        f"built with model {MODEL!r}, settings say 'other/model'",
        "article new is new",
        "article gone was removed",
        "article b has changed",
        "windows.faiss does not match its checksum (truncated or edited)",
        "sentences.jsonl is missing",
    )
    assert index_status(folder, tmp_path / "no-seeds", MODEL).reasons[:3] == (
        "article a was removed",
        "article b was removed",
        "article c was removed",
    )


def test_a_damaged_manifest_exists_but_is_not_current(tmp_path: Path):
    folder = tmp_path / "ix"
    folder.mkdir()
    (folder / MANIFEST).write_text("{", encoding="utf-8")
    assert index_status(folder, tmp_path, MODEL) == Status(
        True, False, (f"{folder / MANIFEST} is not valid JSON: run `bot index build`",), None
    )


def test_a_fresh_build_is_current(tmp_path: Path):
    seeds = seeds_for(tmp_path, a="un")
    build_index([], FakeEmbedder(), tmp_path / "ix", skipped={"a": hashlib.sha256(b"un").hexdigest()})
    status = index_status(tmp_path / "ix", seeds, MODEL)
    assert status.current and status.exists and status.reasons == ()


# -- updates -----------------------------------------------------------------
def embedded(emb: FakeEmbedder, art: Article) -> tuple[np.ndarray, np.ndarray]:
    texts = [s.text for s in art.sentences]
    windows = [window_text(art, i) for i in range(len(texts))]
    return emb.embed_passages(texts).astype(np.float64), emb.embed_passages(windows).astype(np.float64)


def test_an_update_appends_or_drops_rows_and_writes_the_next_generation(tmp_path: Path):
    folder, emb = tmp_path / "ix", FakeEmbedder()
    ix0 = build_index([A], emb, folder, skipped={"bad": "0" * 64})
    v0, _ = all_vectors(ix0)
    ix1 = update_index(folder, ix0, add=(B, *embedded(emb, B), {"title": "B", "name": "x"}))
    assert ix1.manifest["generation"] == 1 and ix1.manifest["skipped"] == {"bad": "0" * 64}
    assert ix1.manifest["articles"]["b"] == {**article_entry(B), "title": "B"}
    assert ix1.sentences == [*A.sentences, *B.sentences]
    assert files(folder) == {MANIFEST, *DATA_FILES, "vectors.1.faiss", "windows.1.faiss", "sentences.1.jsonl"}
    v1, w1 = all_vectors(load_index(folder, MODEL))
    np.testing.assert_array_equal(v1[:3], v0)  # the other rows are kept, not re-embedded
    np.testing.assert_allclose(v1[3:], embedded(emb, B)[0], atol=1e-6)
    np.testing.assert_allclose(w1[3:], embedded(emb, B)[1], atol=1e-6)
    ix2 = update_index(folder, load_index(folder, MODEL), remove="a")
    assert ix2.manifest["generation"] == 2 and list(ix2.manifest["articles"]) == ["b"]
    assert ix2.sentences == list(B.sentences) and ix2.ranges == {"b": (0, 2)}
    # generation 2 and the one before it (a reader may still have it open); generation 0 goes
    assert files(folder) == {MANIFEST, *(data_name(r, g) for r in DATA_FILES for g in (1, 2))}
    v2, _ = all_vectors(load_index(folder, MODEL))
    np.testing.assert_array_equal(v2, v1[3:])
    assert load_index(folder, MODEL).manifest["generation"] == 2


def test_removing_an_article_in_the_middle_keeps_the_rows_around_it(tmp_path: Path):
    folder, emb = tmp_path / "ix", FakeEmbedder()
    c = article("c", ["Moscou n'a rien dit.", "Kiev non plus."])
    ix = build_index([A, B, c], emb, folder)
    v, w = all_vectors(ix)
    out = update_index(folder, ix, remove="b")
    assert [s.id for s in out.sentences] == ["a:1", "a:2", "a:3", "c:1", "c:2"]
    v2, w2 = all_vectors(load_index(folder, MODEL))
    np.testing.assert_array_equal(v2, np.concatenate([v[:3], v[5:]]))
    np.testing.assert_array_equal(w2, np.concatenate([w[:3], w[5:]]))


def test_an_update_of_an_index_without_generation_skipped_or_index_type_fields(tmp_path: Path):
    folder, emb = tmp_path / "ix", FakeEmbedder()
    ix = build_index([], emb, folder)
    old = {k: v for k, v in ix.manifest.items() if k not in ("generation", "skipped", "index_type")}
    (folder / MANIFEST).write_text(json.dumps(old), encoding="utf-8")
    status = index_status(folder, tmp_path / "no-seeds", MODEL)
    assert status.current and status.reasons == ()
    loaded = load_index(folder, MODEL)  # an index from before those fields: generation 0, flat
    out = update_index(folder, loaded, add=(A, *embedded(emb, A), {}))
    assert out.manifest["generation"] == 1 and out.manifest["skipped"] == {}
    # the generation read (0) stays for its readers
    assert files(folder) == {MANIFEST, *DATA_FILES, *(data_name(r, 1) for r in DATA_FILES)}
    assert out.sentences == list(A.sentences)
    vectors, _ = all_vectors(load_index(folder, MODEL))
    assert vectors.dtype == np.float32 and vectors.shape == (3, FakeEmbedder.dim)


def test_a_malformed_line_is_named_in_the_generation_read(tmp_path: Path):
    folder, emb = tmp_path / "ix", FakeEmbedder()
    ix = update_index(folder, build_index([A], emb, folder), add=(B, *embedded(emb, B), {}))
    path = folder / "sentences.1.jsonl"
    assert ix.manifest["generation"] == 1 and path.is_file()
    path.write_text("{}\n", encoding="utf-8")
    with pytest.raises(IndexStateError) as e:
        load_index(folder, MODEL, checksums_verified=True)
    assert str(e.value) == f"{path} line 1 is malformed: run `bot index build`"


def test_a_commit_removes_a_killed_writers_temporary_files_only(tmp_path: Path):
    folder = tmp_path / "ix"
    folder.mkdir()
    for name in (".vectors.faiss.abc", ".manifest.json.x1", ".sentences.jsonl.q", ".windows.faiss.z"):
        (folder / name).write_bytes(b"half")
    keep = [".keep", "notes.txt", ".vectorsX", "vectors.x.faiss", "sentences.jsonl.bak"]
    for name in keep:
        (folder / name).write_bytes(b"mine")
    build_index([A], FakeEmbedder(), folder)
    assert files(folder) == {MANIFEST, *DATA_FILES, *keep}


# -- writing -----------------------------------------------------------------
def test_an_atomic_write_that_fails_leaves_nothing_behind(tmp_path: Path):
    target = tmp_path / "f.txt"
    target.write_text("old", encoding="utf-8")

    def fail(p: Path) -> None:
        p.write_text("half", encoding="utf-8")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        _write_atomic(target, fail)
    assert target.read_text(encoding="utf-8") == "old" and {p.name for p in tmp_path.iterdir()} == {"f.txt"}
    _write_atomic(target, lambda p: p.write_text("new", encoding="utf-8"))
    assert target.read_text(encoding="utf-8") == "new" and {p.name for p in tmp_path.iterdir()} == {"f.txt"}


def test_an_atomic_write_goes_through_a_hidden_file_beside_the_target(tmp_path: Path):
    # a killed writer leaves ".NAME.xxxx" in the folder, which the next commit removes
    seen = []

    def write(p: Path) -> None:
        seen.append(p)
        p.write_bytes(b"data")

    _write_atomic(tmp_path / "vectors.faiss", write)
    (tmp,) = seen
    assert tmp.parent == tmp_path and tmp.name.startswith(".vectors.faiss.") and not tmp.exists()
    assert (tmp_path / "vectors.faiss").read_bytes() == b"data"


def test_the_lock_is_exclusive_for_writers_and_shared_for_readers(tmp_path: Path):
    folder = tmp_path / "new" / "ix"

    def can(mode: int) -> bool:
        with open(folder / LOCK, "a") as f:
            try:
                fcntl.flock(f, mode | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            fcntl.flock(f, fcntl.LOCK_UN)
            return True

    with lock(folder, shared=True):
        assert can(fcntl.LOCK_SH) and not can(fcntl.LOCK_EX)
    with lock(folder):
        assert not can(fcntl.LOCK_SH) and not can(fcntl.LOCK_EX)
    assert can(fcntl.LOCK_EX)
    with pytest.raises(RuntimeError), lock(folder):
        raise RuntimeError("the writer failed")
    assert can(fcntl.LOCK_EX)
