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
from collections.abc import Iterator, Sequence
from dataclasses import replace

from .backends import GenerationStats, LLMBackend, make_backend
from .config import Settings
from .embed import Embedder, SentenceTransformerEmbedder
from .errors import ArticleError, BotError, ConfigError, IndexStateError, ModelError, QuestionError
from .extractive import answer_extractive
from .generate import Generated, Request, generate
from .index import SentenceIndex, Status, build_index, index_status, load_index, sha256_file
from .ingest import CONTROL_CHARS, load_articles, read_article
from .lang import detect
from .prompts import ABSTAIN, Prompts
from .retrieve import Retrieval, Retriever
from .types import Answer, Citation, Hit

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
        self.last_stats: GenerationStats | None = None  # of the last LLM generation (any thread)

    # -- index -----------------------------------------------------------
    def status(self) -> Status:
        return index_status(self.settings.index, self.settings.seeds, self.embedder.model_id)

    def build(self, progress: bool = False) -> SentenceIndex:
        """(Re)build the index from the articles folder."""
        with self._lock:
            articles, problems = load_articles(self.settings.seeds)
            self.warnings = problems
            indexed = {a.id for a in articles}
            skipped = {
                p.stem: sha256_file(p) for p in sorted(self.settings.seeds.glob("*.txt")) if p.stem not in indexed
            }
            self._index = build_index(articles, self.embedder, self.settings.index, skipped, progress)
            self._retriever = Retriever(self._index, self.embedder)
            self._seen = self._signature()
            return self._index

    def ensure_index(self) -> tuple[SentenceIndex, str | None]:
        """The current index, rebuilt first if stale; the notice says why it was."""
        with self._lock:
            signature = self._signature()
            if self._index is not None and signature == self._seen:
                return self._index, None
            status = self.status()
            if status.current:
                try:
                    # status() has just hashed every file; do not hash them again
                    self._index = load_index(self.settings.index, self.embedder.model_id, checksums_verified=True)
                except IndexStateError as e:  # e.g. the FAISS file is not the type the manifest names
                    return self.build(), f"rebuilt the index: {e}"
                self._retriever = Retriever(self._index, self.embedder)
                self._seen = signature
                return self._index, None
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
        found = self._retriever.search(q, top_k or self.settings.top_k, article, history)
        t2 = time.perf_counter()
        lang = detect(q, hint=_history_lang(history))
        extractive = answer_extractive(q, found.hits, lang, found.background)
        timings = {"index_ms": (t1 - t0) * 1000, "retrieval_ms": (t2 - t1) * 1000}
        notices = [index_notice] if index_notice else []

        answer = extractive
        stats: list[GenerationStats] = []  # this question's, not another thread's last_stats
        if engine in ("llm", "auto") and found.hits:
            try:
                llm_answer: Answer | None = None
                for item in self._generate(q, lang, found, article, history, notices, stats):
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
        if answer.engine == "extractive":
            yield answer.answer
        first = stats[0].first_token_ms if answer.engine == "llm" and stats else None
        timings.update(answer_ms=(t3 - t2) * 1000, total_ms=(t3 - t0) * 1000)
        if first is not None:
            timings["first_token_ms"] = (t2 - t0) * 1000 + first
        yield replace(answer, timings_ms=timings, notice="; ".join(notices) or None)

    def _generate(
        self,
        q: str,
        lang: str,
        found: Retrieval,
        article: str | None,
        history: History,
        notices: list[str],
        stats: list[GenerationStats],
    ) -> Iterator[str | Answer]:
        """The LLM's answer, or the extractive one (with a notice) when its citations fail."""
        assert self._retriever is not None and self._index is not None
        article_id = article or found.hits[0].sentence.article_id
        lo, hi = self._index.ranges[article_id]
        request = Request(q, lang, article_id, self._index.sentences[lo:hi], found.hits, history)
        generated: Generated | None = None
        for item in generate(
            self.llm,
            self.prompts,
            request,
            self.settings.llm_max_tokens,
            similarity=lambda text, numbers: self._retriever.similarity(text, article_id, numbers),  # type: ignore[union-attr]
        ):
            if isinstance(item, Generated):
                generated = item
            else:
                yield item
        assert generated is not None
        self.last_stats = generated.stats
        stats.append(generated.stats)
        if generated.abstained:
            yield Answer(q, ABSTAIN.get(lang, ABSTAIN["en"]), "llm", True, lang, (), tuple(found.hits))
            return
        if not generated.support.ok:
            notices.append(
                f"the LLM's answer failed the citation check ({generated.support.reason}); extractive answer shown"
            )
            yield answer_extractive(q, found.hits, lang, found.background)
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
        yield Answer(q, generated.parsed.text, "llm", False, lang, tuple(citations), tuple(found.hits))

    @property
    def llm(self) -> LLMBackend:
        """The model that writes LLM answers: in this process, or a server (ARTICLE_QA_LLM_URL)."""
        if self._llm is None:
            self._llm = make_backend(self.settings)
        return self._llm

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

    def warm(self, article: str | None = None) -> None:
        """Load the models and put an article's prompt prefix in the KV cache, so
        that the first real question is as fast as the next ones."""
        index, _ = self.ensure_index()
        article_id = article or index.article_ids[0]
        lo, hi = index.ranges[article_id]
        self.embedder.embed_queries(["warm-up"])
        detect("warm-up")
        messages = self.prompts.messages(article_id, index.sentences[lo:hi], "?", "en")
        for _ in self.llm.stream(messages, max_tokens=1):
            pass


def _history_lang(history: History) -> str | None:
    for turn in reversed(list(history)):
        if turn and turn[0].strip():
            return detect(turn[0])
    return None


__all__ = ["Bot", "clean_question"]
