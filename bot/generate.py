"""The LLM engine: prompt the local model with the article, stream its answer,
then check the answer's citations in code before anyone relies on it.

    >>> for item in generate(llm, prompts, request):
    ...     if isinstance(item, str): show(item)      # the text so far
    ...     else: result = item                        # a Generated, last

The model sees the whole article, numbered, ahead of the question (so the
article stays in the KV cache), and writes under a grammar that makes every
sentence end in citations (``answer_grammar``). A long article that would not
fit is given as one of its sections once that section is in the cache, else
as its retrieved sentences (``bot/context.py``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass

from .backends import GenerationStats, LLMBackend
from .cite import Parsed, Support, is_abstention, parse_citations
from .context import CHARS_PER_TOKEN, RESERVED_TOKENS, Plan, cached, plan_context, protects  # noqa: F401 - the budget lives there now
from .prompts import ABSTAIN, Prompts
from .slot import Slot
from .types import Hit, Sentence
from .verify import Verification, verify


@dataclass(frozen=True)
class Request:
    question: str
    lang: str
    article_id: str
    article_sentences: Sequence[Sentence]
    hits: Sequence[Hit]  # retrieval results, best first
    history: Sequence[Sequence[str]] = ()
    warm: frozenset[str] = frozenset()  # sections of long articles already in the LLM's cache


@dataclass(frozen=True)
class Generated:
    raw: str  # what the model wrote
    parsed: Parsed  # invented citation numbers removed
    abstained: bool
    support: Support
    shown: tuple[Sentence, ...]  # what the model was given
    stats: GenerationStats
    verification: Verification | None = None  # the claim check, per answer sentence (bot/verify.py)
    mode: str = "article"  # what the model read: "article", "section" or "retrieved" (bot/context.py)
    section: str | None = None  # the section's key in "section" mode


def context_sentences(request: Request, n_ctx: int, mode: str = "article") -> list[Sentence]:
    """What the model is shown (bot/context.py): the whole article when it fits, else a
    warm section, else the retrieved sentences in reading order."""
    plan = plan_context(request.article_id, request.article_sentences, request.hits, n_ctx, mode, request.warm)
    return list(plan.sentences)


# The LLM's citations must meet retrieval's top sentences: a 1.5B model that
# cites sentences retrieval ranks low has, on the dev set, always answered
# something other than the question.
AGREEMENT_TOP = 3


def answers_question(request: Request, parsed: Parsed) -> Support:
    """A cheap check that the answer is about what was asked, not just true (the
    answer's shape, yes/no, how many, when, is the verifier's)."""
    top = [h.sentence.n for h in request.hits if h.sentence.article_id == request.article_id][:AGREEMENT_TOP]
    if top and not set(parsed.cited) & set(top):
        return Support(False, f"cites {list(parsed.cited)}, none of the retrieved {sorted(top)}")
    return Support(True, "every sentence is supported")


def whole_sentences(raw: str) -> Support:
    """An answer sentence that filled the grammar's CLAIM_CHARS was cut there, mid-thought
    ("… en cas d'attaque militaire de l'une d [13]", test t-fr-11): not a claim to show.
    Under the grammar no sentence is longer, so this is "exactly 240": a sentence that
    ends there by itself is refused too, a rare loss (the longest of the 23 LLM answers
    shown on the gold splits ended at 238)."""
    for part in _CITES.split(raw):
        body = part.strip(" .")
        if len(body) >= CLAIM_CHARS:
            return Support(False, f"an answer sentence was cut off at {CLAIM_CHARS} characters ('…{body[-30:]}')")
    return Support(True, "every sentence is supported")


# A group of citations, where one claim ends: the grammar's "[n]" (its `cite` rule below).
# Not built from bot/cite.py's patterns, which would change the split: both also end a claim
# on "[1, 2]" or "[ 3 ]", and its _GROUP misses an n of five digits.
_CITES = re.compile(r"(?:\s*\[\d+\])+")

# What an answer sentence may hold before its citations: no brackets (so no
# citation in the middle), no line break, at most this many characters.
CLAIM_CHARS = 240
# Answers are in English or French, and Qwen sometimes slips into Chinese
# mid-sentence ("a dangerous expansion of the 冲突 [2]", seen on the test
# split): kana, CJK ideographs and hangul cannot be sampled.
_NOT_LATIN = r"\u3040-\u30FF\u3400-\u4DBF\u4E00-\u9FFF\uAC00-\uD7AF"
_TEXT = rf"[^\x5B\x5D\n{_NOT_LATIN}]"  # any character but "[", "]", a line break and those
_LAST = rf"[^\x5B\x5D\n.!?;:, {_NOT_LATIN}]"  # a claim's last character: not a stop or a space either


def answer_grammar(allowed: Iterable[int], not_found: Iterable[str] = ABSTAIN.values()) -> str:
    """GBNF for what the model may write: a "not found" sentence, or one or two
    sentences that each end in one to three citations to sentences it was shown.

    A sentence without a citation, a number it was not shown, or a third
    sentence cannot be sampled at all; the checks after generation still run.
    """
    numbers = sorted(set(allowed))
    if not numbers:
        raise ValueError("a grammar needs at least one sentence number to cite")
    quoted = " | ".join(_gbnf_string(s) for s in not_found)
    return "\n".join(
        [
            'root ::= notfound | claim (" " claim)?',
            f"notfound ::= {quoted}",
            # text ends in a letter, digit or closing mark, never in "." or a space,
            # so "… Koursk [1]." and not "… Koursk. [1]."
            # "… Koursk [1]." and "… Koursk. [1]" are both allowed (parse_citations
            # rewrites the second into the first): forbidding the stop before a
            # citation once made the model, having written it, emit whatever
            # character the grammar still allowed (a stray "協") before citing.
            f'claim ::= {_TEXT}{{0,{CLAIM_CHARS - 1}}} {_LAST} "."? " "? cite cite? cite? "."?',
            'cite ::= "[" num "]"',
            "num ::= " + " | ".join(f'"{n}"' for n in numbers),
        ]
    )


def _gbnf_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def read_key(plan: Plan, request: Request) -> str | None:
    """The section or whole article a prompt reads (warm keys, bot/context.py); None for retrieved sentences."""
    if plan.mode == "section":
        return plan.section
    return f"{request.article_id}:article" if plan.mode == "article" else None


def generate(
    llm: LLMBackend,
    prompts: Prompts,
    request: Request,
    max_tokens: int,
    check: Callable[[str, str], Verification] | None = None,
    slot: Slot | None = None,
) -> Iterator[str | Generated]:
    """Stream the model's answer, then check it. ``check(answer, question)`` is
    the claim verifier bound to the article (``Bot`` passes one that uses the
    embedder); without it, the lexical checks alone. ``slot``: what the model's
    slot holds, kept so that the prompt cache restores sections (bot/slot.py)."""
    plan = plan_context(
        request.article_id,
        request.article_sentences,
        request.hits,
        llm.settings.llm_context,
        llm.settings.llm_context_mode,
        request.warm,
    )
    shown = list(plan.sentences)
    messages = prompts.messages(request.article_id, shown, request.question, request.lang, request.history)
    stats = GenerationStats()
    allowed = {s.n for s in shown}
    # The backend sends it where its server takes one (llm.takes_grammar()).
    grammar = answer_grammar(allowed) if llm.settings.llm_grammar != "false" and allowed else None
    text = ""
    if slot is None or getattr(llm, "parallel", 1) > 1:
        # several slots (a server's, bot/remote_llm.py): which one a prompt lands on is the
        # server's choice, so there is no one slot to prepare, and questions must not queue here
        slot = None
    with slot.lock if slot is not None else nullcontext():  # preparation and prompt go together
        if slot is not None:
            in_cache = cached(plan, request.article_id, request.warm)
            slot.before(llm, prompts, request.article_id, in_cache, protects(request.warm), read_key(plan, request))
        for piece in llm.stream(messages, max_tokens, stats, grammar=grammar):
            text += piece
            yield text
        if slot is not None:
            slot.after(stats, read_key(plan, request))
    parsed = parse_citations(text, allowed)
    # "The article does not say X, but [3] says Y" cites something: it is an
    # answer (a corrected premise, say) and stands or falls on its citations.
    if is_abstention(parsed.text) and not parsed.cited:
        yield Generated(
            text, parsed, True, Support(True, "abstained"), tuple(shown), stats, mode=plan.mode, section=plan.section
        )
        return
    if check is not None:
        verification = check(parsed.text, request.question)
    else:
        verification = verify(parsed.text, request.article_sentences, request.question)
    support = Support(verification.supported, verification.reason)
    if support.ok and stats.grammar:  # the backend applied it (a server may not take one)
        support = whole_sentences(text)
    if support.ok:
        support = answers_question(request, parsed)
    if parsed.removed and support.ok:
        support = Support(True, f"removed invented citation(s) {list(parsed.removed)}")
    yield Generated(text, parsed, False, support, tuple(shown), stats, verification, plan.mode, plan.section)
