"""The public entry: a ``Bot`` that keeps the index current and answers questions.

    >>> bot = Bot(Settings.load())           # cheap: nothing loaded yet
    >>> answer = bot.ask("Combien de soldats nord-coréens ont été envoyés en Russie ?")
    >>> answer.answer, answer.citations[0].sentence_id

The first question loads the embedding model and the index, rebuilding the
index (and saying so in ``Answer.notice``) when the articles or the model
changed since it was built.
"""

from __future__ import annotations

import re
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from . import library
from .backends import GenerationStats, LLMBackend, make_backend
from .confidence import Calibration, assess
from .config import Settings
from .context import CHARS_PER_TOKEN, chars, protects, warm_plan
from .embed import Embedder, SentenceTransformerEmbedder
from .errors import ArticleError, BotError, ConfigError, IndexStateError, ModelError, QuestionError
from .extractive import answer_extractive
from .generate import Generated, Request, generate
from .index import SentenceIndex, Status, index_status, load_index, lock
from .ingest import CONTROL_CHARS, load_articles, read_article
from .lang import detect
from .prompts import ABSTAIN, Prompts
from .retrieve import Retrieval, Retriever
from .slot import Slot
from .token_store import TokenFiles
from .tokens import CACHE_SIZE as TOKEN_CACHE_SIZE
from .types import Answer, Citation, Hit, Sentence
from .verify import Verification, Verifier, check_input

ENGINES = ("auto", "llm", "extractive")
_SURROGATE = re.compile("[\ud800-\udfff]")
History = Sequence[Sequence[str]]


def clean_question(question: str, max_chars: int) -> str:
    """NFC, control characters and markup out, whitespace folded; refuse empty or huge input."""
    if not isinstance(question, str):
        raise QuestionError("the question must be text")
    if _SURROGATE.search(question):
        # What Python makes of undecodable bytes in argv or a file: not text.
        raise QuestionError("the question holds bytes that are not valid UTF-8: send it as UTF-8 text")
    text = " ".join(CONTROL_CHARS.sub(" ", unicodedata.normalize("NFC", question)).split())
    if not text:
        raise QuestionError("the question is empty: type a question about the article")
    if len(text) > max_chars:
        raise QuestionError(
            f"the question is {len(text):,} characters long; the limit is {max_chars:,}: ask a shorter question"
        )
    text = strip_markup(text)
    if not any(c.isalnum() for c in text):
        raise QuestionError("the question has no letters or digits (markup is ignored): ask about the article in words")
    return text


# Markup in a question is not part of it: "<script>…</script>" or a Markdown
# link would otherwise be embedded as words and match whatever sentence looks
# most like code. Only real HTML tag names count as tags ("a<b and c>d" stays),
# inline ones leave nothing behind ("<b>NATO</b>?" -> "NATO?", not "NATO ?",
# which reads as French), block ones a space. The UI shows the question as typed.
_BLOCK_TAGS = (
    "p|div|br|hr|li|ul|ol|tr|td|th|table|h[1-6]|img|iframe|article|section|body|html|head|title|pre"
    "|form|input|button|video|audio|embed|object|svg|details|summary|meta|link"
)
_INLINE_TAGS = "a|abbr|b|i|u|s|em|strong|code|span|small|sub|sup|mark|q|kbd|font"
_MARKUP = (
    (re.compile(r"<(script|style)\b[^<>]{0,300}>.*?</\1\s*>", re.IGNORECASE | re.DOTALL), " "),
    # an opening tag right after a letter may be a comparison (a<b); a closing one is a tag
    (re.compile(rf"(?:(?<![\w<])<|</)(?:{_BLOCK_TAGS}|script|style)\b[^<>]{{0,300}}>", re.IGNORECASE), " "),
    (re.compile(rf"(?:(?<![\w<])<|</)(?:{_INLINE_TAGS})\b[^<>]{{0,300}}>", re.IGNORECASE), ""),
    (re.compile(r"!?\[([^\]]{0,300})\]\((?:[^()]|\([^()]*\)){0,500}\)"), r"\1"),  # [text](url) -> text
    # emphasis and code marks around text, not inside words (__init__, x**2)
    (re.compile(r"(?<!\w)(\*\*|__|~~|`+)(?=\S)(.+?)(?<=\S)\1(?!\w)"), r"\2"),
)


def strip_markup(text: str) -> str:
    for pattern, repl in _MARKUP:
        text = pattern.sub(repl, text)
    return " ".join(text.split())


class Bot:
    """Answers questions about the articles in ``settings.seeds``, with citations."""

    def __init__(
        self, settings: Settings | None = None, embedder: Embedder | None = None, llm: LLMBackend | None = None
    ) -> None:
        self.settings = settings or Settings.load()
        self.embedder: Embedder = embedder or SentenceTransformerEmbedder(self.settings)
        self._index: SentenceIndex | None = None
        self._retriever: Retriever | None = None
        self._seen: tuple[tuple[str, int, int], ...] | None = None
        self._lock = threading.RLock()
        self.warnings: list[str] = []  # skipped articles at the last build
        self._llm: LLMBackend | None = llm
        self._verifier: Verifier | None = None
        self.last_stats: GenerationStats | None = None  # of the last LLM generation (any thread)
        self.last_context: str | None = None  # and what it read (bot/context.py)
        self._warm: set[str] = set()  # long articles' sections in the LLM's cache (bot/context.py)
        self.slot = Slot()  # what the LLM's slot holds, so that the cache restores those sections (bot/slot.py)
        self.token_files = TokenFiles(self.settings.index, self.embedder)  # bot/token_store.py

    # -- index -----------------------------------------------------------
    def status(self) -> Status:
        return index_status(self.settings.index, self.settings.seeds, self.embedder.model_id)

    def build(self, progress: bool = False) -> SentenceIndex:
        """(Re)build the index from the articles folder."""
        with self._lock:
            index, self.warnings = library.rebuild(self.settings, self.embedder, progress)
            self.token_files.write(index, index.article_ids, prune_others=True)
            return self._use(index)

    def _use(self, index: SentenceIndex) -> SentenceIndex:
        self._index = index
        self.token_files.reset()
        self._retriever = Retriever(index, self.embedder)
        self._seen = self._signature()
        return index

    def ensure_index(self) -> tuple[SentenceIndex, str | None]:
        """The current index, rebuilt first if stale; the notice says why it was."""
        with self._lock:
            signature = self._signature()
            if self._index is not None and signature == self._seen:
                return self._index, None
            if library.has_pending(self.settings.seeds):  # an add or remove was killed: settle it first
                with lock(self.settings.index):
                    library.recover(self.settings.seeds, self.settings.index)
                signature = self._signature()
            # Shared: a writer in another session commits whole generations, never under our feet.
            loaded: SentenceIndex | None = None
            error: IndexStateError | None = None
            with lock(self.settings.index, shared=True):
                status = self.status()
                if status.current:
                    try:
                        # status() has just hashed every file; do not hash them again
                        loaded = load_index(self.settings.index, self.embedder.model_id, checksums_verified=True)
                    except IndexStateError as e:  # e.g. the FAISS file is not the type the manifest names
                        error = e
            if loaded is not None:
                self._use(loaded)
                self._seen = signature
                return loaded, None
            if error is not None:
                return self.build(), f"rebuilt the index: {error}"
            index = self.build()
            if not status.exists:
                return index, f"built the index in {self.settings.index} (there was none)"
            return index, "rebuilt the stale index: " + "; ".join(status.reasons)

    def _signature(self) -> tuple[tuple[str, int, int], ...]:
        # Cheap change detection (name, size, mtime) so a warm ask does not re-hash files.
        paths = [*sorted(self.settings.seeds.glob("*.txt")), *sorted(self.settings.index.glob("*.*"))]
        out = []
        for p in paths:
            try:
                st = p.stat()
            except OSError:
                continue
            out.append((str(p), st.st_size, st.st_mtime_ns))
        return tuple(out)

    @property
    def index(self) -> SentenceIndex:
        return self.ensure_index()[0]

    # -- articles (bot/library.py) ---------------------------------------
    def add_article(
        self,
        data: bytes | str | Path,
        name: str | None = None,
        article_id: str | None = None,
        title: str | None = None,
        progress: library.Progress | None = None,
    ) -> library.ArticleInfo:
        """Add one article (a file's bytes or path, or pasted text) without rebuilding the index.

        Bad input (empty, too large, not text, a copy of an indexed article, no
        sentence) raises ArticleError and leaves the index as it was."""
        if isinstance(data, Path):
            data, name = library.read_input(str(data), self.settings.max_article_chars)
        index, info = library.add_article(
            self.settings, self.embedder, data, name or "the pasted text", article_id, title, progress
        )
        self.token_files.write(index, [info.id])  # outside the lock: questions go on meanwhile
        with self._lock:
            self._use(index)
        return info

    def remove_article(self, article_id: str) -> library.ArticleInfo:
        """Remove one article from the index and the articles folder; the others keep their vectors."""
        self.ensure_index()
        with self._lock:
            index, info = library.remove_article(self.settings, self.embedder.model_id, article_id)
            self.token_files.write(index, [], prune_others=True)
            self._use(index)
        return info

    def articles(self) -> list[library.ArticleInfo]:
        return library.articles(self.index)

    @property
    def known_article_ids(self) -> list[str]:
        """The article ids of the index in memory, without looking at the disk (cheap enough for a timer)."""
        return self._index.article_ids if self._index is not None else []

    # -- questions -------------------------------------------------------
    def retrieve(
        self, question: str, article: str | None = None, top_k: int | None = None, history: History = ()
    ) -> list[Hit]:
        self.ensure_index()
        assert self._retriever is not None
        q = clean_question(question, self.settings.max_question_chars)
        return self._retriever.search(q, top_k or self.settings.top_k, article, history).hits

    def ask(
        self,
        question: str,
        history: History = (),
        article: str | None = None,
        engine: str | None = None,
        top_k: int | None = None,
    ) -> Answer:
        """Answer ``question``; the last item of ``stream``."""
        result: Answer | None = None
        for item in self.stream(question, history, article, engine, top_k):
            if isinstance(item, Answer):
                result = item
        assert result is not None
        return result

    def stream(
        self,
        question: str,
        history: History = (),
        article: str | None = None,
        engine: str | None = None,
        top_k: int | None = None,
    ) -> Iterator[str | Answer]:
        """Yield the answer's text as it grows, then the final ``Answer``.

        The final answer may differ from the streamed text: an LLM answer that
        fails the citation check is replaced by the extractive one.
        """
        engine = engine or self.settings.engine
        if engine not in ENGINES:
            raise ConfigError(f"engine must be one of {', '.join(ENGINES)}; got {engine!r}")
        t0 = time.perf_counter()
        q = clean_question(question, self.settings.max_question_chars)
        _, index_notice = self.ensure_index()
        t1 = time.perf_counter()
        assert self._retriever is not None
        if article is not None and article not in self._retriever.index.ranges:
            self._explain_unknown(article)
        lang = detect(q, hint=_history_lang(history))
        found = self._retriever.search(q, top_k or self.settings.top_k, article, history, lang=lang)
        for article_id in dict.fromkeys(h.sentence.article_id for h in found.hits):
            self.token_files.read(self._retriever.index, article_id)
        _, judged = assess(q, found, self.calibration)
        confidence = judged.confidence if judged else None
        unsure = judged is not None and not self.calibration.answers(judged, self.settings.min_confidence)
        t2 = time.perf_counter()
        extractive = answer_extractive(q, found.hits, lang, confidence, unsure)
        timings = {"index_ms": (t1 - t0) * 1000, "retrieval_ms": (t2 - t1) * 1000}
        notices = [index_notice] if index_notice else []

        answer = extractive
        stats: list[GenerationStats] = []  # this question's, not another thread's last_stats
        if engine in ("llm", "auto") and found.hits and unsure:
            # One decision for both engines: below the operating point the LLM is
            # not asked (its answer would be shown only if it said "not found").
            answer = Answer(q, ABSTAIN.get(lang, ABSTAIN["en"]), "llm", True, lang, (), tuple(found.hits))
        elif engine in ("llm", "auto") and found.hits:
            try:
                llm_answer: Answer | None = None
                for item in self._generate(q, lang, found, article, history, notices, confidence, stats):
                    if isinstance(item, Answer):
                        llm_answer = item
                    else:
                        yield item
                if llm_answer is not None:
                    answer = llm_answer
            except ModelError as e:
                # Also mid-answer (a server cut the stream): the text streamed
                # so far is replaced by the extractive answer yielded below.
                if engine == "llm":
                    raise
                notices.append(f"LLM unavailable ({e}); answered extractively")
        t3 = time.perf_counter()
        if answer.engine == "extractive" or answer.abstained:
            yield answer.answer
        first = stats[0].first_token_ms if answer.engine == "llm" and stats else None
        timings.update(answer_ms=(t3 - t2) * 1000, total_ms=(t3 - t0) * 1000)
        if first is not None:
            timings["first_token_ms"] = (t2 - t0) * 1000 + first
        yield replace(
            answer,
            timings_ms=timings,
            notice="; ".join(notices) or None,
            confidence=confidence,
            answerable=judged.answerable if judged else None,
        )

    def _generate(
        self,
        q: str,
        lang: str,
        found: Retrieval,
        article: str | None,
        history: History,
        notices: list[str],
        confidence: float | None,
        stats: list[GenerationStats],
    ) -> Iterator[str | Answer]:
        """The LLM's answer, or the extractive one (with a notice) when its citations fail."""
        assert self._retriever is not None and self._index is not None
        article_id = article or found.hits[0].sentence.article_id
        lo, hi = self._index.ranges[article_id]
        request = Request(q, lang, article_id, self._index.sentences[lo:hi], found.hits, history, frozenset(self._warm))
        generated: Generated | None = None
        for item in generate(
            self.llm,
            self.prompts,
            request,
            self.settings.llm_max_tokens,
            check=lambda text, question: self._check(text, article_id, question),
            slot=self.slot,
        ):
            if isinstance(item, Generated):
                generated = item
            else:
                yield item
        assert generated is not None
        self.last_stats = generated.stats
        self.last_context = generated.mode  # what the model read: "article", "section" or "retrieved"
        own = generated.stats
        if generated.section and own.prompt_tokens > own.cached_tokens:
            # the section's state was evicted from the cache (the question re-read it): not warm any more
            self._warm.discard(generated.section)
        stats.append(generated.stats)
        if generated.abstained:
            yield Answer(q, ABSTAIN.get(lang, ABSTAIN["en"]), "llm", True, lang, (), tuple(found.hits))
            return
        if not generated.support.ok:
            notices.append(
                f"the LLM's answer failed the citation check ({generated.support.reason}); extractive answer shown"
            )
            # the LLM is asked only when the decision is to answer: so is the fallback
            fallback = answer_extractive(q, found.hits, lang, confidence)
            yield replace(fallback, verification=generated.verification)
            return
        if generated.parsed.removed:
            notices.append(
                f"removed citation(s) to sentences the model was not given: {list(generated.parsed.removed)}"
            )
        scores = {h.sentence.n: h.score for h in found.hits if h.sentence.article_id == article_id}
        by_n = {s.n: s for s in generated.shown}
        citations = []
        for n in generated.parsed.cited:
            s = by_n[n]
            score = scores.get(n)
            if score is None and found.query is not None:
                score = self._retriever.score(found.query, article_id, n)
            citations.append(Citation(n, s.id, s.article_id, s.text, s.start, s.end, round(float(score or 0.0), 4)))
        answer = Answer(q, generated.parsed.text, "llm", False, lang, tuple(citations), tuple(found.hits))
        yield replace(answer, verification=generated.verification)

    # -- claims ------------------------------------------------------------
    def verify(self, text: str, article: str | None = None, question: str | None = None) -> Verification:
        """Check any answer that cites an article's sentences as [n]: a verdict per
        sentence, with reasons (bot/verify.py). ``article`` may be left out when
        the index holds one article; ``question`` lets the shape checks and the
        question's names apply."""
        index, _ = self.ensure_index()
        if article is None:
            if len(index.article_ids) != 1:
                raise ArticleError(f"give the article to check against (--article ID): {', '.join(index.article_ids)}")
            article = index.article_ids[0]
        if article not in index.ranges:
            self._explain_unknown(article)
        lo, hi = index.ranges[article]
        text = check_input(text, hi - lo, article)
        if question is not None:
            question = clean_question(question, self.settings.max_question_chars)
        return self._check(text, article, question)

    def _check(self, text: str, article_id: str, question: str | None) -> Verification:
        assert self._index is not None
        index = self._index
        lo, hi = index.ranges[article_id]
        if self._verifier is None:
            self._verifier = Verifier(self.embedder.embed_queries)
        lang = str(index.manifest["articles"].get(article_id, {}).get("lang", "unknown"))

        def vectors(_: None) -> np.ndarray:
            return np.asarray(index.faiss_index.reconstruct_n(lo, hi - lo))

        return self._verifier.verify(text, index.sentences[lo:hi], question, lang, vectors)

    @property
    def llm(self) -> LLMBackend:
        """The model that writes LLM answers: in this process, or a server (ARTICLE_QA_LLM_URL)."""
        if self._llm is None:
            self._llm = make_backend(self.settings)
        return self._llm

    @property
    def calibration(self) -> Calibration:
        return Calibration.load()

    @property
    def prompts(self) -> Prompts:
        return Prompts.load()

    def _explain_unknown(self, article: str) -> None:
        """An article id that is not indexed: say why if its file was skipped."""
        known = ", ".join(self._index.article_ids) if self._index else "none"
        path = self.settings.seeds / f"{article}.txt"
        if "/" not in article and path.is_file():
            try:
                read_article(path)
                # Readable, so a copy of another article (only the folder as a whole tells)
                _, problems = load_articles(self.settings.seeds)
                reason = next((w for w in problems if w.startswith(path.name)), None)
            except BotError as e:
                reason = str(e)
            if reason:
                raise ArticleError(f"article {article!r} is not indexed: {reason}; indexed articles: {known}")
        raise ArticleError(f"unknown article {article!r}; indexed articles: {known}")

    @property
    def llm_loaded(self) -> bool:
        return self._llm is not None and bool(getattr(self._llm, "loaded", True))

    def warm(
        self,
        article: str | None = None,
        progress: Callable[[int, int], None] | None = None,
        pause: Callable[[], None] | None = None,
    ) -> None:
        """Load the models and read an article into the LLM's cache ahead of the
        questions: its prompt prefix, or each section of a long one (bot/context.py),
        so that a question costs its own tokens. ``progress(done, total)`` counts
        characters read; ``pause()`` runs before each request (the UI lets a
        waiting question go first)."""
        index, _ = self.ensure_index()
        article_id = article or index.article_ids[0]
        lo, hi = index.ranges[article_id]
        self.embedder.embed_queries(["warm-up"])
        detect("warm-up")
        todo = [(k, s) for k, s in warm_plan(article_id, index.sentences[lo:hi], self.settings.llm_context)]
        todo = [(k, s) for k, s in todo if k not in self._warm or k.endswith(":article")]
        total, done = sum(max(1, chars(s)) for _, s in todo), 0
        if progress:
            progress(0, total)
        for key, sentences in todo:
            if pause:
                pause()
            messages = self.prompts.messages(article_id, sentences, "?", "en")
            stats = GenerationStats()
            with self.slot.lock:
                # a first read must not destroy a section read before; a re-read must find itself
                self.slot.before(self.llm, self.prompts, article_id, key in self._warm, protects(self._warm), key)
                for _ in self.llm.stream(messages, 1, stats):
                    pass
                self.slot.after(stats, key)
            self._warm.add(key)
            done += max(1, chars(sentences))
            if progress:
                progress(done, total)
        sections = [(k, s) for k, s in todo if s and not k.endswith(":article")]
        if len(sections) > 1:
            self._check_restored(article_id, sections)

    def read_tokens(self, article: str | None = None) -> int:
        """Have an article's sentences' token vectors ready for its questions
        (the confidence reads them, bot/tokens.py): read from the index's token
        file, or else computed (~25 ms a sentence; the UI runs this beside the
        LLM's warm-up) and written there for the next process. Returns how many
        sentences are ready (0 when the model gives none)."""
        index, _ = self.ensure_index()
        article_id = article or index.article_ids[0]
        if article_id not in index.ranges:
            return 0
        lo, hi = index.ranges[article_id]
        if self.token_files.read(index, article_id):
            return min(hi - lo, TOKEN_CACHE_SIZE)
        if hasattr(self.embedder, "passage_tokens"):
            return self.token_files.write(index, [article_id])
        # an embedder with the one-text method only: read ahead, nothing written
        tokens = getattr(self.embedder, "token_states", None)
        if tokens is None:
            return 0
        done = 0
        for s in index.sentences[lo:hi][:TOKEN_CACHE_SIZE]:
            if tokens(s.text, "passage") is None:
                break
            done += 1
        return done

    def forget_tokens(self) -> None:
        """Forget every token state in memory, as a new process starts with none
        (benchmarks time its first question): the token files are read again."""
        forget = getattr(self.embedder, "forget_tokens", None)
        if forget is not None:
            forget()
        self.token_files.reset()

    def _check_restored(self, article_id: str, sections: list[tuple[str, list[Sentence]]]) -> None:
        """Ask for the first section again: restored from the host-memory cache it
        costs a token or two, else its whole text. It was not, before the slot was
        parked between reads (bot/context.py: a near-miss state is overwritten); a
        cache that lost it anyway (too small, a server's other clients) would make
        each question re-read its section (20-50 s), so the article's sections are
        then marked cold and its questions read the retrieved sentences (bounded)."""
        key, sentences = sections[0]
        stats = GenerationStats()
        with self.slot.lock:
            self.slot.before(self.llm, self.prompts, article_id, True, True, key)
            for _ in self.llm.stream(self.prompts.messages(article_id, sentences, "?", "en"), 1, stats):
                pass
            self.slot.after(stats, key)
        if stats.prompt_tokens > chars(sentences) / CHARS_PER_TOKEN / 4:
            for k, _ in sections:
                self._warm.discard(k)


def _history_lang(history: History) -> str | None:
    for turn in reversed(list(history)):
        if turn and turn[0].strip():
            return detect(turn[0])
    return None


__all__ = ["Bot", "clean_question"]
