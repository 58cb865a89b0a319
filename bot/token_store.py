"""An article's sentences' token states on disk, so that no process computes them twice.

    >>> path = store_path(Path("index"), embedder.model_id, article_sha256)
    >>> save(path, texts, tokens)         # at index time, beside the FAISS files
    >>> load(path)                        # texts and tokens, or None: then they are computed

Why. The confidence reads the token states of the sentences it quotes
(bot/tokens.py): ~25 ms a sentence in numpy, so a process's first question on
an article cost ~80 ms instead of ~40 (bench/foundation.py, "nothing
cached"), and every `bot ask` is a new process. They are a property of the
article and the model, like its sentence vectors, so they are computed once,
when the article is embedded (from sentence-transformers' own forward pass,
bot/embed.py's ``passage_tokens``), and read back in a few milliseconds.

Why not in the index's manifest. The file is a cache, not a source of truth:
its name holds the article's checksum and the model's, so an edited article or
another model never reads a stale file, and a file that is missing or damaged
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

import numpy as np

from .tokens import Tokens

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


__all__ = ["load", "prune", "save", "store_path"]
