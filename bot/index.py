"""The sentence index: a versioned artifact in a folder.

    index/vectors.faiss    FAISS inner-product index over L2-normalised vectors
    index/windows.faiss    the same rows, each sentence embedded with its two
                           neighbours (the retriever blends both scores)
    index/sentences.jsonl  one sentence a line (id, article, n, text, offsets)
    index/manifest.json    format, model, dimension, normalisation, the sha256
                           of every article and of the two files above

Nothing is ever unpickled. Each file is written under a temporary name and
renamed, the manifest last; since the manifest holds the checksums of the
files, an interrupted build leaves an index that is *detected* as damaged and
rebuilt, never one that loads wrongly. A lock file keeps two builders apart.

    >>> idx = build_index(articles, embedder, Path("index"))
    >>> idx = load_index(Path("index"), embedder.model_id)
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .embed import Embedder
from .errors import IndexStateError
from .provision import sha256_file
from .types import Article, Sentence

FORMAT = "article-qa-index/1"
VECTORS, WINDOWS, SENTENCES, MANIFEST, LOCK = (
    "vectors.faiss",
    "windows.faiss",
    "sentences.jsonl",
    "manifest.json",
    ".lock",
)
DATA_FILES = (VECTORS, WINDOWS, SENTENCES)

# Exact search up to FLAT_MAX sentences, HNSW beyond: bench/scale_results.md,
# one query at a time, clustered 384-d vectors. Exact search grows linearly
# (one thread: 0.7 ms at 10k, 17 ms at 100k, 179 ms at 1M) and passes the
# 2.5 ms a search may take (two per question) near 20k; HNSW with these
# parameters answers in 0.3-0.5 ms with recall@10 0.98-1.0 from 10k to 1M.
# An article has tens of sentences, so only an archive ever crosses the line.
FLAT_MAX = 20_000
HNSW_M, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH = 32, 40, 128


def make_index(dim: int, n: int) -> Any:
    """An empty FAISS index suited to ``n`` vectors (see FLAT_MAX)."""
    import faiss

    if n <= FLAT_MAX:
        return faiss.IndexFlatIP(dim)
    index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    index.hnsw.efSearch = HNSW_EF_SEARCH
    return index


def index_type(index: Any) -> str:
    """How the manifest names an index, parameters included."""
    name = type(index).__name__
    if hasattr(index, "hnsw"):
        return f"{name}(M={index.hnsw.nb_neighbors(1)},efSearch={index.hnsw.efSearch})"
    return name


@dataclass
class SentenceIndex:
    """Vectors and the sentences they stand for; row i is ``sentences[i]``."""

    faiss_index: Any  # one vector per sentence
    window_index: Any  # the sentence with its neighbours, same rows
    sentences: list[Sentence]
    manifest: dict[str, Any]
    sources: dict[str, str | None] = field(default_factory=dict)  # article id -> URL
    langs: dict[str, str] = field(default_factory=dict)  # article id -> language, e.g. "fr"
    ranges: dict[str, tuple[int, int]] = field(default_factory=dict)  # article id -> rows

    def __post_init__(self) -> None:
        for meta_id, meta in self.manifest["articles"].items():
            self.sources[meta_id] = meta.get("source_url")
            self.langs[meta_id] = meta.get("lang") or "en"
        for i, s in enumerate(self.sentences):
            lo, _ = self.ranges.get(s.article_id, (i, i))
            self.ranges[s.article_id] = (lo, i + 1)

    @property
    def article_ids(self) -> list[str]:
        return list(self.manifest["articles"])


@dataclass(frozen=True)
class Status:
    """How the index on disk compares with the articles and the model."""

    exists: bool
    current: bool
    reasons: tuple[str, ...]
    manifest: dict[str, Any] | None


def seed_checksums(seeds: Path) -> dict[str, str]:
    """sha256 of every article file, without parsing: cheap enough for every ask."""
    return {p.stem: sha256_file(p) for p in sorted(seeds.glob("*.txt"))}


def index_status(folder: Path, seeds: Path, model_id: str) -> Status:
    """Is the index present, intact, built with this model from these articles?"""
    try:
        manifest = _read_manifest(folder)
    except IndexStateError as e:
        exists = (folder / MANIFEST).exists()
        return Status(exists, False, (str(e),), None)
    reasons = []
    if manifest.get("embed_model") != model_id:
        reasons.append(f"built with model {manifest.get('embed_model')!r}, settings say {model_id!r}")
    indexed = {a: m["sha256"] for a, m in manifest["articles"].items()}
    indexed_all = {**indexed, **manifest.get("skipped", {})}
    on_disk = seed_checksums(seeds) if seeds.is_dir() else {}
    for a in sorted(set(on_disk) - set(indexed_all)):
        reasons.append(f"article {a} is new")
    for a in sorted(set(indexed_all) - set(on_disk)):
        reasons.append(f"article {a} was removed")
    for a in sorted(set(on_disk) & set(indexed_all)):
        if on_disk[a] != indexed_all[a]:
            reasons.append(f"article {a} has changed")
    for name in DATA_FILES:
        path = folder / name
        if not path.is_file():
            reasons.append(f"{name} is missing")
        elif sha256_file(path) != manifest["files"].get(name):
            reasons.append(f"{name} does not match its checksum (truncated or edited)")
    return Status(True, not reasons, tuple(reasons), manifest)


def _read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    if not path.is_file():
        raise IndexStateError(f"no index in {folder}: run `bot index build`")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise IndexStateError(f"{path} is not valid JSON: run `bot index build`") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise IndexStateError(f"{path} has format {found!r}, expected {FORMAT!r}: run `bot index build`")
    for key in ("embed_model", "dim", "articles", "files"):
        if key not in manifest:
            raise IndexStateError(f"{path} lacks {key!r}: run `bot index build`")
    return manifest


def load_index(folder: Path, model_id: str, checksums_verified: bool = False) -> SentenceIndex:
    """Load and verify the index; any mismatch is an IndexStateError naming the fix.

    ``checksums_verified``: the caller has just hashed the files (``index_status``),
    so they are not hashed a second time; the shape checks below still run.
    """
    import faiss

    manifest = _read_manifest(folder)
    if manifest["embed_model"] != model_id:
        raise IndexStateError(
            f"index in {folder} was built with {manifest['embed_model']!r}, not {model_id!r}: run `bot index build`"
        )
    for name in DATA_FILES:
        path = folder / name
        if not path.is_file() or (not checksums_verified and sha256_file(path) != manifest["files"].get(name)):
            raise IndexStateError(f"{path} is missing or damaged: run `bot index build`")
    sentences = []
    with open(folder / SENTENCES, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            try:
                d = json.loads(line)
                sentences.append(
                    Sentence(d["id"], d["article_id"], int(d["n"]), d["text"], int(d["start"]), int(d["end"]))
                )
            except (ValueError, KeyError, TypeError):
                raise IndexStateError(
                    f"{folder / SENTENCES} line {lineno} is malformed: run `bot index build`"
                ) from None
    loaded = []
    for name in (VECTORS, WINDOWS):
        try:
            vectors = faiss.read_index(str(folder / name))
        except RuntimeError:
            raise IndexStateError(f"{folder / name} cannot be read by FAISS: run `bot index build`") from None
        if hasattr(vectors, "hnsw"):
            vectors.hnsw.efSearch = HNSW_EF_SEARCH  # a search-time setting: ours, whatever the file says
        if type(vectors).__name__ != str(manifest.get("index_type", "IndexFlatIP")).split("(")[0]:
            raise IndexStateError(
                f"{folder / name} is a {index_type(vectors)}, the manifest says {manifest.get('index_type')}: "
                "run `bot index build`"
            )
        if vectors.ntotal != len(sentences) or vectors.d != manifest["dim"]:
            raise IndexStateError(
                f"{folder / name} holds {vectors.ntotal} vectors of dimension {vectors.d} for "
                f"{len(sentences)} sentences of dimension {manifest['dim']}: run `bot index build`"
            )
        loaded.append(vectors)
    return SentenceIndex(loaded[0], loaded[1], sentences, manifest)


def build_index(
    articles: list[Article],
    embedder: Embedder,
    folder: Path,
    skipped: dict[str, str] | None = None,
    progress: bool = False,
) -> SentenceIndex:
    """Embed every sentence and write the index atomically under a lock.

    ``skipped`` maps article ids that could not be used (empty, duplicate) to
    their file checksum, so that they do not make the index look stale.
    """
    import faiss

    sentences = [s for a in articles for s in a.sentences]
    windows = [window_text(a, i) for a in articles for i in range(len(a.sentences))]
    # Two calls, not one: a batch is padded to its longest text, and windows
    # are three times longer than sentences.
    parts = [embedder.embed_passages(texts, progress=progress) for texts in ([s.text for s in sentences], windows)]
    dim = int(parts[0].shape[1]) if sentences else embedder.dim
    indexes = []
    for vectors in parts:
        index = make_index(dim, len(sentences))
        if sentences:
            index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        indexes.append(index)
    folder.mkdir(parents=True, exist_ok=True)
    with _lock(folder):
        # Temporary files of a builder that was killed: nobody else writes while we hold the lock.
        for name in (*DATA_FILES, MANIFEST):
            for stale in folder.glob(f".{name}.*"):
                stale.unlink(missing_ok=True)
        for name, index in zip((VECTORS, WINDOWS), indexes, strict=True):
            _write_atomic(folder / name, lambda p, ix=index: faiss.write_index(ix, str(p)))
        lines = "".join(
            json.dumps(
                dict(id=s.id, article_id=s.article_id, n=s.n, text=s.text, start=s.start, end=s.end), ensure_ascii=False
            )
            + "\n"
            for s in sentences
        )
        _write_atomic(folder / SENTENCES, lambda p: p.write_text(lines, encoding="utf-8"))
        manifest = {
            "format": FORMAT,
            "embed_model": embedder.model_id,
            "dim": dim,
            "normalized": "l2",
            "metric": "inner_product",
            "index_type": index_type(indexes[0]),
            "text_normalization": "NFC",
            "built_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "articles": {
                a.id: {"sha256": a.sha256, "sentences": len(a.sentences), "source_url": a.source_url, "lang": a.lang}
                for a in articles
            },
            "skipped": dict(skipped or {}),
            "windows": "previous + sentence + next sentence of the same article",
            "files": {name: sha256_file(folder / name) for name in DATA_FILES},
        }
        text = json.dumps(manifest, indent=2, ensure_ascii=False)
        _write_atomic(folder / MANIFEST, lambda p: p.write_text(text, encoding="utf-8"))
    return SentenceIndex(indexes[0], indexes[1], sentences, manifest)


def window_text(article: Article, i: int) -> str:
    """Sentence i with its neighbours: gives "M. Rutte a appelé…" the context
    that says he leads NATO, which the sentence alone never does."""
    s = article.sentences
    return " ".join(x.text for x in s[max(0, i - 1) : i + 2])


@contextmanager
def _lock(folder: Path) -> Iterator[None]:
    with open(folder / LOCK, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # a second builder waits, then writes whole files
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _write_atomic(path: Path, write: Any) -> None:
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
