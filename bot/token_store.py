"""An article's sentences' token states on disk, so that no process computes them twice.

    >>> files = TokenFiles(Path("index"), embedder)   # what the bot holds (bot/pipeline.py)
    >>> files.write(index, ["article-id"])             # when an article is embedded
    >>> files.read(index, "article-id")                # once per loaded index: True when adopted

    >>> save(path, texts, tokens); load(path)          # the file itself: (texts, tokens) or None

Why. The confidence reads the token states of the sentences it quotes
(bot/tokens.py): ~25 ms a sentence in numpy, so a process's first question on
an article cost ~80 ms instead of ~40 (bench/foundation.py, "nothing
cached"), and every `bot ask` is a new process. They are a property of the
article and the model, like its sentence vectors, so they are computed once,
when the article is embedded (from sentence-transformers' own forward pass,
bot/embed.py's ``passage_tokens``), and read back in a few milliseconds.

Why not in the index's manifest. The file is a cache, not a source of truth:
its name holds the article's checksum, the model's and the token code's
version (tokens.VERSION), so an edited article, another model or other token
rules never read a stale file, and a file that is missing or damaged
costs only the time to compute it again (a warning, never a failed question).
It is a safetensors file (one float16 tensor of every content token's vector;
the texts, pieces and counts as JSON in its metadata), read with ``struct``,
``json`` and ``np.frombuffer``: nothing is unpickled.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import struct
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .tokens import CACHE_SIZE, Tokens
from .tokens import VERSION as TOKENS_VERSION

if TYPE_CHECKING:
    from .index import SentenceIndex

FOLDER = "tokens"  # under the index folder
SUFFIX = ".safetensors"
FORMAT = 1

log = logging.getLogger(__name__)


def store_path(index_folder: Path, model_id: str, article_sha256: str) -> Path:
    """Where an article's token states for one model live."""
    model = hashlib.sha256(model_id.encode("utf-8")).hexdigest()[:12]
    return index_folder / FOLDER / f"{article_sha256[:24]}-{model}{SUFFIX}"


def save(path: Path, texts: Sequence[str], tokens: Sequence[Tokens]) -> None:
    """Write ``texts``' token states atomically (a reader sees the old file or the new)."""
    if len(texts) != len(tokens):
        raise ValueError(f"{len(texts)} texts but {len(tokens)} token states")
    dim = next((t.vectors.shape[1] for t in tokens if t.vectors.ndim == 2 and len(t.pieces)), 0)
    rows = [t.vectors.reshape(-1, dim) for t in tokens if len(t.pieces)] if dim else []
    data = (np.concatenate(rows) if rows else np.zeros((0, dim), dtype=np.float16)).astype("<f2").tobytes()
    meta = {
        "format": str(FORMAT),
        "texts": json.dumps(list(texts), ensure_ascii=False),
        "counts": json.dumps([len(t.pieces) for t in tokens]),
        "pieces": json.dumps([p for t in tokens for p in t.pieces], ensure_ascii=False),
    }
    n = sum(len(t.pieces) for t in tokens)
    header = {"__metadata__": meta, "vectors": {"dtype": "F16", "shape": [n, dim], "data_offsets": [0, len(data)]}}
    raw = json.dumps(header, ensure_ascii=False).encode("utf-8")
    raw += b" " * (-len(raw) % 8)  # the data starts 8-byte aligned, as safetensors asks
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=SUFFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<Q", len(raw)) + raw + data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: Path) -> tuple[list[str], list[Tokens]] | None:
    """The texts and token states in ``path``; None when there is no file, or
    when it cannot be read (a warning: the caller computes them again)."""
    if not path.is_file():
        return None
    try:
        blob = path.read_bytes()
        (size,) = struct.unpack("<Q", blob[:8])
        header = json.loads(blob[8 : 8 + size])
        meta, spec = header["__metadata__"], header["vectors"]
        if meta["format"] != str(FORMAT) or spec["dtype"] != "F16":
            raise ValueError(f"format {meta['format']} of {spec['dtype']}, not {FORMAT} of F16")
        texts, counts, pieces = (json.loads(meta[k]) for k in ("texts", "counts", "pieces"))
        lo, hi = (8 + size + int(o) for o in spec["data_offsets"])
        n, dim = (int(x) for x in spec["shape"])
        vectors = np.frombuffer(blob[lo:hi], dtype="<f2").reshape(n, dim)  # a wrong length raises here
        if not (len(counts) == len(texts) and min(counts, default=0) >= 0 and sum(counts) == len(pieces) == n):
            raise ValueError(f"{len(texts)} texts, {sum(counts)} tokens, {len(pieces)} pieces, {n} rows")
        ends = np.cumsum(counts).tolist()
        tokens = [
            Tokens(tuple(str(p) for p in pieces[e - c : e]), vectors[e - c : e].astype(np.float16))
            for c, e in zip(counts, ends, strict=True)
        ]
        return [str(t) for t in texts], tokens
    except Exception as e:  # struct, JSON, key, shape and value errors alike: the file is only a cache
        log.warning("%s cannot be read (%s: %s); its token states are computed again", path, type(e).__name__, e)
        return None


def prune(index_folder: Path, keep: set[Path]) -> None:
    """Remove the token files of articles (or models) no longer in the index."""
    folder = index_folder / FOLDER
    if not folder.is_dir():
        return
    for p in folder.iterdir():
        if p.suffix == SUFFIX and not p.name.startswith(".tmp-") and p not in keep:
            p.unlink(missing_ok=True)


class TokenFiles:
    """An index's token files as the bot uses them: written when articles are
    embedded, read once per loaded index, pruned with their articles.

    The embedder gives ``passage_tokens(texts)`` and ``adopt_passage_tokens(texts,
    tokens)`` (bot/embed.py); one without them (a test's fake, the calibration's
    cached embedder) writes and reads nothing.
    """

    def __init__(self, folder: Path, embedder: Any) -> None:
        self.folder = folder
        self.embedder = embedder
        # articles whose file was tried since the index was loaded, and whether it was read
        self._tried: dict[str, bool] = {}

    def reset(self) -> None:
        """Read the files again (a new index was loaded, or every state was forgotten)."""
        self._tried = {}

    def path(self, index: SentenceIndex, article_id: str) -> Path:
        sha = index.manifest["articles"][article_id]["sha256"]
        return store_path(self.folder, f"{self.embedder.model_id}|tokens-v{TOKENS_VERSION}", sha)

    def write(self, index: SentenceIndex, article_ids: Sequence[str], prune_others: bool = False) -> int:
        """Compute the articles' sentences' token states (from the embedding
        model's forward pass when it is loaded, as after indexing) and write
        them, so that no process computes them again; with ``prune_others``,
        remove the files of articles no longer in ``index``. Returns how many
        sentences' states are in memory now."""
        compute = getattr(self.embedder, "passage_tokens", None)
        if compute is None:
            return 0
        done = 0
        # the last articles embedded first: their states are the ones still in memory after a build
        # (the cache keeps the last tokens.CACHE_SIZE sentences), which earlier ones would evict
        for article_id in reversed(article_ids):
            lo, hi = index.ranges[article_id]
            texts = [s.text for s in index.sentences[lo:hi]][:CACHE_SIZE]
            try:
                tokens = compute(texts)
            except Exception as e:  # a model error: the index itself is fine, the states come per process
                log.warning("token states of %s not computed (%s: %s)", article_id, type(e).__name__, e)
                continue
            if tokens is None:  # a model without token states
                break
            done += len(tokens)
            try:
                save(self.path(index, article_id), texts, tokens)
            except OSError as e:  # a read-only index folder: computed per process, as before
                log.warning("token states of %s not written (%s): computed per process", article_id, e)
        if prune_others:
            prune(self.folder, {self.path(index, a) for a in index.article_ids})
        return done

    def read(self, index: SentenceIndex, article_id: str) -> bool:
        """Adopt an article's token states from its file, once per loaded index."""
        tried = self._tried  # one dict throughout: reset() swaps in a new one
        if article_id in tried:
            return tried.get(article_id, False)
        adopt = getattr(self.embedder, "adopt_passage_tokens", None)
        if adopt is None or article_id not in index.ranges:
            return False
        stored = load(self.path(index, article_id))
        lo, hi = index.ranges[article_id]
        texts = [s.text for s in index.sentences[lo:hi]]
        # the name holds the article's checksum; the texts are compared anyway (a splitter change)
        ok = stored is not None and stored[0] == texts[: len(stored[0])]
        if stored is not None and ok:
            ok = bool(adopt(*stored))
        tried[article_id] = ok  # tried once per loaded index, found or not
        return ok


__all__ = ["TokenFiles", "load", "prune", "save", "store_path"]
