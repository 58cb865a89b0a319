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
rebuilt, never one that loads wrongly. A lock file keeps two writers apart
(readers take it shared, so they never see half a commit).

Adding or removing one article (``update_index``, called by bot/library.py)
keeps every other vector: the new article's rows are appended, a removed
one's rows dropped, and the data files are written under the next
*generation*'s names (``vectors.3.faiss``…) before the manifest that names
them replaces the old one. Until that rename the previous manifest and its
files are untouched, so a killed update leaves the previous index intact
and current; the generation before is kept for readers that opened it.

    >>> idx = build_index(articles, embedder, Path("index"))
    >>> idx = load_index(Path("index"), embedder.model_id)
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import json
import os
import re
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
# What the manifest keeps about each article besides its checksum and size
# (bot/library.py writes these for added articles; seed files have none).
ARTICLE_META = ("title", "date", "author", "added", "format")


def data_name(role: str, generation: int = 0) -> str:
    """The file holding ``role`` (a DATA_FILES name) at a generation: a full
    build writes generation 0 (the plain names), each update the next one."""
    if generation == 0:
        return role
    stem, ext = role.rsplit(".", 1)
    return f"{stem}.{generation}.{ext}"


def data_path(folder: Path, role: str, manifest: dict[str, Any] | None = None) -> Path:
    return folder / data_name(role, int((manifest or {}).get("generation", 0)))


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
        path = data_path(folder, name, manifest)
        if not path.is_file():
            reasons.append(f"{path.name} is missing")
        elif sha256_file(path) != manifest["files"].get(name):
            reasons.append(f"{path.name} does not match its checksum (truncated or edited)")
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
    if not isinstance(manifest.get("generation", 0), int):
        raise IndexStateError(f"{path} has a malformed generation: run `bot index build`")
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
        path = data_path(folder, name, manifest)
        if not path.is_file() or (not checksums_verified and sha256_file(path) != manifest["files"].get(name)):
            raise IndexStateError(f"{path} is missing or damaged: run `bot index build`")
    sentences = []
    with open(data_path(folder, SENTENCES, manifest), encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            try:
                d = json.loads(line)
                sentences.append(
                    Sentence(d["id"], d["article_id"], int(d["n"]), d["text"], int(d["start"]), int(d["end"]))
                )
            except (ValueError, KeyError, TypeError):
                raise IndexStateError(
                    f"{data_path(folder, SENTENCES, manifest)} line {lineno} is malformed: run `bot index build`"
                ) from None
    loaded = []
    for name in (VECTORS, WINDOWS):
        path = data_path(folder, name, manifest)
        try:
            vectors = faiss.read_index(str(path))
        except RuntimeError:
            raise IndexStateError(f"{path} cannot be read by FAISS: run `bot index build`") from None
        if hasattr(vectors, "hnsw"):
            vectors.hnsw.efSearch = HNSW_EF_SEARCH  # a search-time setting: ours, whatever the file says
        if type(vectors).__name__ != str(manifest.get("index_type", "IndexFlatIP")).split("(")[0]:
            raise IndexStateError(
                f"{path} is a {index_type(vectors)}, the manifest says {manifest.get('index_type')}: "
                "run `bot index build`"
            )
        if vectors.ntotal != len(sentences) or vectors.d != manifest["dim"]:
            raise IndexStateError(
                f"{path} holds {vectors.ntotal} vectors of dimension {vectors.d} for "
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
    meta: dict[str, dict[str, Any]] | None = None,
) -> SentenceIndex:
    """Embed every sentence and write the index atomically under a lock.

    ``skipped`` maps article ids that could not be used (empty, duplicate) to
    their file checksum, so that they do not make the index look stale;
    ``meta`` gives articles' ARTICLE_META fields (bot/library.py's sidecars).
    """
    sentences = [s for a in articles for s in a.sentences]
    windows = [window_text(a, i) for a in articles for i in range(len(a.sentences))]
    # Two calls, not one: a batch is padded to its longest text, and windows
    # are three times longer than sentences.
    # Sentences through embed_sentences when the embedder has it: the same vectors, and their token
    # states from the same forward pass, for the token files written next (bot/token_store.py).
    embed_sentences = getattr(embedder, "embed_sentences", embedder.embed_passages)
    parts = [embed_sentences([s.text for s in sentences], progress), embedder.embed_passages(windows, progress)]
    dim = int(parts[0].shape[1]) if sentences else embedder.dim
    entries = {a.id: article_entry(a, (meta or {}).get(a.id)) for a in articles}
    folder.mkdir(parents=True, exist_ok=True)
    with lock(folder):
        return commit(folder, embedder.model_id, dim, sentences, parts[0], parts[1], entries, skipped or {}, 0)


def article_entry(article: Article, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """An article's manifest entry: what staleness checks need, then its metadata."""
    entry: dict[str, Any] = {
        "sha256": article.sha256,
        "sentences": len(article.sentences),
        "source_url": article.source_url,
        "lang": article.lang,
    }
    for key in ARTICLE_META:
        if meta and meta.get(key):
            entry[key] = meta[key]
    return entry


def all_vectors(index: SentenceIndex) -> tuple[np.ndarray, np.ndarray]:
    """Every stored vector, sentences and windows, as (n, dim) arrays (no re-embedding)."""
    n = len(index.sentences)
    out = []
    for ix in (index.faiss_index, index.window_index):
        matrix = ix.reconstruct_n(0, n) if n else np.zeros((0, ix.d), dtype=np.float32)
        out.append(np.ascontiguousarray(matrix, dtype=np.float32).reshape(n, ix.d))
    return out[0], out[1]


def update_index(
    folder: Path,
    index: SentenceIndex,
    add: tuple[Article, np.ndarray, np.ndarray, dict[str, Any]] | None = None,
    remove: str | None = None,
) -> SentenceIndex:
    """Append one article (its sentence and window vectors, already embedded)
    or drop one, keeping every other vector; the caller holds ``lock(folder)``
    and passes the index as it is on disk. Writes the next generation."""
    vectors, windows = all_vectors(index)
    sentences = list(index.sentences)
    entries = dict(index.manifest["articles"])
    if remove is not None:
        lo, hi = index.ranges[remove]
        keep = np.r_[0:lo, hi : len(sentences)].astype(np.int64)
        vectors, windows, sentences = vectors[keep], windows[keep], sentences[:lo] + sentences[hi:]
        entries.pop(remove)
    if add is not None:
        article, new_vectors, new_windows, meta = add
        sentences += article.sentences
        vectors = np.concatenate([vectors, new_vectors.astype(np.float32)]) if len(vectors) else new_vectors
        windows = np.concatenate([windows, new_windows.astype(np.float32)]) if len(windows) else new_windows
        entries[article.id] = article_entry(article, meta)
    m = index.manifest
    generation = int(m.get("generation", 0)) + 1
    skipped = m.get("skipped", {})
    return commit(folder, m["embed_model"], int(m["dim"]), sentences, vectors, windows, entries, skipped, generation)


def commit(
    folder: Path,
    model_id: str,
    dim: int,
    sentences: list[Sentence],
    vectors: np.ndarray,
    windows: np.ndarray,
    articles: dict[str, dict[str, Any]],
    skipped: dict[str, str],
    generation: int,
) -> SentenceIndex:
    """Write one generation's data files, then the manifest that names them
    (the commit point), then delete the generations no reader can still need.
    The caller holds ``lock(folder)``."""
    import faiss

    # Temporary files of a writer that was killed: nobody else writes while we hold the lock.
    for stale in folder.iterdir():
        if re.match(r"\.(?:vectors|windows|sentences|manifest)\b", stale.name):
            stale.unlink(missing_ok=True)
    indexes = []
    for matrix in (vectors, windows):
        index = make_index(dim, len(sentences))
        if sentences:
            index.add(np.ascontiguousarray(matrix, dtype=np.float32))
        indexes.append(index)
    for name, index in zip((VECTORS, WINDOWS), indexes, strict=True):
        _write_atomic(folder / data_name(name, generation), lambda p, ix=index: faiss.write_index(ix, str(p)))
    lines = "".join(
        json.dumps(
            dict(id=s.id, article_id=s.article_id, n=s.n, text=s.text, start=s.start, end=s.end), ensure_ascii=False
        )
        + "\n"
        for s in sentences
    )
    _write_atomic(folder / data_name(SENTENCES, generation), lambda p: p.write_text(lines, encoding="utf-8"))
    previous = _generation_on_disk(folder)
    manifest = {
        "format": FORMAT,
        "embed_model": model_id,
        "dim": dim,
        "normalized": "l2",
        "metric": "inner_product",
        "index_type": index_type(indexes[0]),
        "text_normalization": "NFC",
        "built_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "generation": generation,
        "articles": articles,
        "skipped": dict(skipped),
        "windows": "previous + sentence + next sentence of the same article",
        "files": {name: sha256_file(folder / data_name(name, generation)) for name in DATA_FILES},
    }
    text = json.dumps(manifest, indent=2, ensure_ascii=False)
    _write_atomic(folder / MANIFEST, lambda p: p.write_text(text, encoding="utf-8"))
    fsync_dir(folder)
    keep = {data_name(n, g) for n in DATA_FILES for g in {generation, previous} if g is not None}
    for name in DATA_FILES:
        stem, ext = name.rsplit(".", 1)
        for path in (folder / name, *folder.glob(f"{stem}.*.{ext}")):
            if path.name not in keep and re.fullmatch(rf"{re.escape(stem)}(?:\.\d+)?\.{ext}", path.name):
                path.unlink(missing_ok=True)
    return SentenceIndex(indexes[0], indexes[1], sentences, manifest)


def _generation_on_disk(folder: Path) -> int | None:
    try:
        return int(_read_manifest(folder).get("generation", 0))
    except IndexStateError:
        return None


def window_text(article: Article, i: int) -> str:
    """Sentence i with its neighbours: gives "M. Rutte a appelé…" the context
    that says he leads NATO, which the sentence alone never does."""
    s = article.sentences
    return " ".join(x.text for x in s[max(0, i - 1) : i + 2])


@contextmanager
def lock(folder: Path, shared: bool = False) -> Iterator[None]:
    """The index folder's lock: exclusive for writers (a second one waits, then
    writes whole files), shared for readers checking and loading the index."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK, "a") as f:
        fcntl.flock(f, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
