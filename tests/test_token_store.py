"""Token states on disk (bot/token_store.py): written when an article is
embedded, read back by the next process, and never trusted when stale or damaged."""

from __future__ import annotations

import json
import logging
import shutil
import struct
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bot import Bot
from bot import token_store as store
from bot.embed import SentenceTransformerEmbedder
from bot.ingest import read_article
from bot.tokens import Tokens

from .conftest import SEED, FakeEmbedder

Q = "Combien de soldats nord-coréens ont été envoyés en Russie ?"


def _tokens(text: str, dim: int = 4) -> Tokens:
    words = text.split()
    rng = np.random.default_rng(len(text))
    v = rng.normal(size=(len(words), dim)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return Tokens(tuple(words), v.astype(np.float16))


def test_a_round_trip_keeps_every_piece_and_vector(tmp_path: Path):
    texts = ["Le même jour, Mme Singh", "", "« Notre position » est honnête"]
    tokens = [_tokens(t) for t in texts]
    path = store.store_path(tmp_path, "model", "ab" * 32)
    store.save(path, texts, tokens)
    got = store.load(path)
    assert got is not None and got[0] == texts
    for a, b in zip(got[1], tokens, strict=True):
        assert a.pieces == b.pieces and a.vectors.dtype == np.float16
        np.testing.assert_array_equal(a.vectors.reshape(-1, 4) if len(b.pieces) else a.vectors[:0], b.vectors)
    assert not list(path.parent.glob(".tmp-*"))  # written through a temporary file, renamed


def test_the_name_holds_the_article_and_the_model(tmp_path: Path):
    a = store.store_path(tmp_path, "model-a", "11" * 32)
    assert a != store.store_path(tmp_path, "model-b", "11" * 32)
    assert a != store.store_path(tmp_path, "model-a", "12" * 32)
    assert a.parent == tmp_path / "tokens"


def test_a_missing_or_damaged_file_reads_as_nothing(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    path = store.store_path(tmp_path, "m", "cd" * 32)
    assert store.load(path) is None  # absent: no warning
    assert not caplog.records
    store.save(path, ["a b"], [_tokens("a b")])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with caplog.at_level(logging.WARNING):
        assert store.load(path) is None
    assert "computed again" in caplog.text
    # a header that does not agree with itself or with the data
    for broken in (
        {"counts": "[3]"},  # counts that do not add up to the pieces
        {"format": "2"},
        {"texts": "not json"},
    ):
        _write_with(path, meta=broken)
        assert store.load(path) is None, broken
    _write_with(path, shape=[3, 4])  # more rows than the data holds
    assert store.load(path) is None


def _write_with(path: Path, meta: dict | None = None, shape: list[int] | None = None) -> None:
    """A valid file for one two-token sentence, then its header changed."""
    store.save(path, ["a b"], [_tokens("a b")])
    blob = path.read_bytes()
    (size,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + size])
    header["__metadata__"].update(meta or {})
    if shape:
        header["vectors"]["shape"] = shape
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + blob[8 + size :])


def test_the_file_is_a_safetensors_file_any_reader_opens(tmp_path: Path):
    from safetensors.numpy import load_file

    path = store.store_path(tmp_path, "m", "ef" * 32)
    tokens = [_tokens("Mark Rutte a confirmé"), _tokens("Kiev")]
    store.save(path, ["Mark Rutte a confirmé", "Kiev"], tokens)
    np.testing.assert_array_equal(load_file(str(path))["vectors"], np.vstack([t.vectors for t in tokens]))


def test_save_refuses_texts_and_states_that_do_not_pair():
    with pytest.raises(ValueError, match="2 texts but 1"):
        store.save(Path("unused" + store.SUFFIX), ["a", "b"], [_tokens("a")])


def test_prune_keeps_the_listed_files_and_a_writer_s_temporary_one(tmp_path: Path):
    keep = store.store_path(tmp_path, "m", "aa" * 32)
    drop = store.store_path(tmp_path, "m", "bb" * 32)
    for p in (keep, drop):
        store.save(p, ["x"], [_tokens("x")])
    tmp = keep.parent / (".tmp-123" + store.SUFFIX)
    tmp.write_bytes(b"")
    store.prune(tmp_path, {keep})
    assert keep.is_file() and tmp.is_file() and not drop.exists()
    store.prune(tmp_path / "none", set())  # no folder: nothing to do


class TokenFakeEmbedder(FakeEmbedder):
    """The fake embedder with the token methods of the real one, counting what it computes."""

    def __init__(self) -> None:
        super().__init__()
        self.computed: list[str] = []
        self.kept: dict[str, Tokens] = {}

    def token_states(self, text: str, kind: str) -> Tokens:
        key = f"{kind}: {text}"
        if key not in self.kept:
            self.computed.append(key)
            self.kept[key] = _tokens(text or "_")
        return self.kept[key]

    def passage_tokens(self, texts: Sequence[str]) -> list[Tokens]:
        return [self.token_states(t, "passage") for t in texts]

    def adopt_passage_tokens(self, texts: Sequence[str], tokens: Sequence[Tokens]) -> None:
        self.kept.update({f"passage: {t}": v for t, v in zip(texts, tokens, strict=True)})


def _files(settings) -> list[Path]:
    return sorted((settings.index / store.FOLDER).glob("*" + store.SUFFIX))


def test_the_next_process_reads_the_states_the_build_wrote(settings):
    first = Bot(settings, embedder=TokenFakeEmbedder())  # type: ignore[arg-type]
    first.ensure_index()
    n = len(first.index.sentences)
    assert len(first.embedder.computed) == n and len(_files(settings)) == 1  # type: ignore[attr-defined]

    again = Bot(settings, embedder=TokenFakeEmbedder())  # type: ignore[arg-type]
    a = again.ask(Q)
    computed = again.embedder.computed  # type: ignore[attr-defined]
    assert computed == [f"query: {Q}"] and a.confidence is not None  # no sentence computed
    assert again.read_tokens() == n and again.embedder.computed == computed  # type: ignore[attr-defined]


def test_a_damaged_file_is_computed_again_and_rewritten(settings, caplog: pytest.LogCaptureFixture):
    Bot(settings, embedder=TokenFakeEmbedder()).ensure_index()  # type: ignore[arg-type]
    (path,) = _files(settings)
    path.write_bytes(b"not a safetensors file")
    bot = Bot(settings, embedder=TokenFakeEmbedder())  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING):
        a = bot.ask(Q)  # the question is answered all the same
    assert a.answer and "computed again" in caplog.text
    n = len(bot.index.sentences)
    assert bot.read_tokens() == n and store.load(path) is not None  # rewritten


def test_an_edited_article_gets_a_new_file_and_the_old_one_goes(settings, seeds: Path):
    Bot(settings, embedder=TokenFakeEmbedder()).ensure_index()  # type: ignore[arg-type]
    (before,) = _files(settings)
    text = SEED.read_text(encoding="utf-8")
    (seeds / SEED.name).write_text(text.replace("10 000", "12 000"), encoding="utf-8")
    bot = Bot(settings, embedder=TokenFakeEmbedder())  # type: ignore[arg-type]
    bot.ensure_index()  # stale: rebuilt
    (after,) = _files(settings)
    assert after != before
    texts, _ = store.load(after) or ([], [])
    assert any("12 000" in t for t in texts) and not any("10 000" in t for t in texts)


def test_added_and_removed_articles_keep_their_files_in_step(settings):
    bot = Bot(settings, embedder=TokenFakeEmbedder())  # type: ignore[arg-type]
    bot.ensure_index()
    info = bot.add_article(b"The harbour bridge reopened on Monday. It had been closed for a year.", "bridge.txt")
    assert len(_files(settings)) == 2
    bot.remove_article(info.id)
    assert len(_files(settings)) == 1


def test_states_written_by_another_version_of_the_token_code_are_not_read(settings, monkeypatch):
    Bot(settings, embedder=TokenFakeEmbedder()).ensure_index()  # type: ignore[arg-type]
    (before,) = _files(settings)
    monkeypatch.setattr("bot.token_store.TOKENS_VERSION", 999)
    bot = Bot(settings, embedder=TokenFakeEmbedder())  # type: ignore[arg-type]
    bot.ask(Q)
    assert any(c.startswith("passage: ") for c in bot.embedder.computed)  # type: ignore[attr-defined]
    bot.build()  # the rebuild writes this version's file and prunes the other
    (after,) = _files(settings)
    assert after != before


def test_a_model_error_in_the_token_pass_leaves_the_index_and_the_add_working(settings, caplog):
    class Failing(TokenFakeEmbedder):
        def passage_tokens(self, texts: Sequence[str]) -> list[Tokens]:
            raise RuntimeError("out of memory")

    bot = Bot(settings, embedder=Failing())  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING):
        bot.ensure_index()
        info = bot.add_article(b"The harbour bridge reopened on Monday. It had been closed for a year.", "b.txt")
    assert "out of memory" in caplog.text and not _files(settings)
    assert info.id in bot.index.article_ids and bot.ask(Q).answer


def test_an_embedder_without_token_methods_writes_nothing(settings):
    bot = Bot(settings, embedder=FakeEmbedder())
    bot.ask(Q)
    assert not _files(settings) and bot.read_tokens() == 0


@pytest.mark.real_model
def test_the_real_model_s_stored_states_match_the_numpy_pass(real_settings, tmp_path: Path):
    seeds = tmp_path / "seeds"
    shutil.copytree(real_settings.seeds, seeds)
    settings = replace(real_settings, seeds=seeds, index=tmp_path / "index")
    Bot(settings).ensure_index()  # embeds: the states come from sentence-transformers' forward pass
    (path,) = _files(settings)
    texts, stored = store.load(path) or ([], [])
    numpy_pass = SentenceTransformerEmbedder(settings)
    assert texts and len(texts) == len(stored)
    for text, tokens in zip(texts, stored, strict=True):
        mine = numpy_pass.token_states(text, "passage")
        assert mine is not None and mine.pieces == tokens.pieces
        # float16 storage: one unit in the last place at most
        assert np.abs(mine.vectors.astype(np.float32) - tokens.vectors.astype(np.float32)).max() < 2e-3

    # rows of sentence-transformers that are not the numpy encoder's tokens are not taken
    loaded = SentenceTransformerEmbedder(settings)
    loaded.embed_passages(texts[:1])  # sentence-transformers loaded, as after indexing
    enc = loaded._encoder()
    assert enc is not None
    seen: list[int] = []
    forward = enc.hidden
    enc.hidden = lambda ids: seen.append(len(ids)) or forward(ids)  # type: ignore[method-assign]
    assert loaded.passage_tokens(texts[:2]) is not None and seen == []  # the batched pass
    loaded.forget_tokens()
    enc.truncated_ids = lambda text: []  # type: ignore[method-assign]
    assert loaded.passage_tokens(texts[:2]) is not None and len(seen) == 2  # each through numpy

    # a new process: only the question goes through the numpy encoder
    bot = Bot(settings)
    bot.ensure_index()
    encoder = bot.embedder._encoder()  # type: ignore[attr-defined]
    calls: list[int] = []
    hidden = encoder.hidden
    encoder.hidden = lambda ids: calls.append(len(ids)) or hidden(ids)
    a = bot.ask(Q)
    assert len(calls) == 1 and not a.abstained and a.confidence is not None


@pytest.mark.real_model
def test_indexing_takes_vectors_and_token_states_from_one_forward_pass(real_settings, tmp_path: Path):
    """embed_sentences gives embed_passages's vectors and keeps the sentences' token states, so writing
    the token files after a build runs no second pass of the model."""
    embedder = SentenceTransformerEmbedder(real_settings)
    texts = [s.text for s in read_article(SEED).sentences]
    plain = embedder.embed_passages(texts)
    embedder.forget_tokens()
    both = embedder.embed_sentences(texts)
    assert both.shape == plain.shape and np.abs(both - plain).max() < 1e-5
    enc = embedder._encoder()
    assert enc is not None and all(enc.cached(enc.prompts.get("passage", "") + t) is not None for t in texts)
    # a failure in keeping the states costs the states, never the vectors
    embedder.forget_tokens()
    enc.select = lambda *a: 1 / 0  # type: ignore[method-assign]
    assert np.abs(embedder.embed_sentences(texts) - plain).max() < 1e-5
    assert enc.cached(enc.prompts.get("passage", "") + texts[0]) is None
    del enc.select

    seeds = tmp_path / "seeds"
    shutil.copytree(real_settings.seeds, seeds)
    settings = replace(real_settings, seeds=seeds, index=tmp_path / "index")
    bot = Bot(settings)
    model = bot.embedder.model  # type: ignore[attr-defined]
    calls: list[tuple[int, object]] = []
    encode = model.encode
    model.encode = lambda texts, **kw: (
        calls.append((len(texts), kw.get("output_value", "sentence_embedding"))) or encode(texts, **kw)
    )
    bot.ensure_index()
    assert _files(settings)  # the token file is written...
    # ...from the sentences' pass (tokens and vectors at once) and the windows' pass: nothing else
    assert [o for _, o in calls] == [None, "sentence_embedding"], calls


def test_a_file_whose_texts_are_not_the_article_s_sentences_is_not_adopted(settings):
    Bot(settings, embedder=TokenFakeEmbedder()).ensure_index()  # type: ignore[arg-type]
    (path,) = _files(settings)
    texts, tokens = store.load(path) or ([], [])
    store.save(path, ["another splitter's first sentence", *texts[1:]], tokens)
    bot = Bot(settings, embedder=TokenFakeEmbedder())  # type: ignore[arg-type]
    bot.ask(Q)
    assert any(c.startswith("passage: ") for c in bot.embedder.computed)  # type: ignore[attr-defined]
