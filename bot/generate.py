"""The LLM engine: prompt the local model with the article, stream its answer,
then check the answer's citations in code before anyone relies on it.

    >>> for item in generate(llm, prompts, request):
    ...     if isinstance(item, str): show(item)      # the text so far
    ...     else: result = item                        # a Generated, last

The model sees the whole article, numbered, ahead of the question (so the
article stays in the KV cache), and writes under a grammar that makes every
sentence end in citations (``answer_grammar``). A long article that would not
fit is given as its retrieved sentences only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from .backends import GenerationStats, LLMBackend
from .cite import Parsed, Support, check_support, is_abstention, parse_citations
from .extractive import asks_quantity, asks_time, has_count, has_time
from .prompts import ABSTAIN, Prompts
from .types import Hit, Sentence

# Tokens kept free for the system prompt, the examples, the question and the
# answer when deciding whether a whole article fits in the context window.
RESERVED_TOKENS = 1400
CHARS_PER_TOKEN = 3.0  # French news text with Qwen's tokenizer: ~3.2 measured


@dataclass(frozen=True)
class Request:
    question: str
    lang: str
    article_id: str
    article_sentences: Sequence[Sentence]
    hits: Sequence[Hit]  # retrieval results, best first
    history: Sequence[Sequence[str]] = ()


@dataclass(frozen=True)
class Generated:
    raw: str  # what the model wrote
    parsed: Parsed  # invented citation numbers removed
    abstained: bool
    support: Support
    shown: tuple[Sentence, ...]  # what the model was given
    stats: GenerationStats


def context_sentences(request: Request, n_ctx: int, mode: str = "article") -> list[Sentence]:
    """The whole article when it fits, else the retrieved sentences in reading order."""
    budget_chars = (n_ctx - RESERVED_TOKENS) * CHARS_PER_TOKEN
    fits = sum(len(s.text) + 6 for s in request.article_sentences) <= budget_chars
    if fits and mode == "article":
        return list(request.article_sentences)
    chosen = [h.sentence for h in request.hits if h.sentence.article_id == request.article_id]
    return sorted(chosen, key=lambda s: s.n)


# The LLM's citations must meet retrieval's top sentences: a 1.5B model that
# cites sentences retrieval ranks low has, on the dev set, always answered
# something other than the question.
AGREEMENT_TOP = 3


def answers_question(request: Request, parsed: Parsed) -> Support:
    """Cheap checks that the answer is about what was asked, not just true."""
    answer = re.sub(r"\[\d+\]", " ", parsed.text)
    if asks_quantity(request.question) and not has_count(answer):
        return Support(False, "the question asks for a quantity and the answer has no number")
    if asks_time(request.question) and not has_time(answer):
        return Support(False, "the question asks when and the answer has no time expression")
    top = [h.sentence.n for h in request.hits if h.sentence.article_id == request.article_id][:AGREEMENT_TOP]
    if top and not set(parsed.cited) & set(top):
        return Support(False, f"cites {list(parsed.cited)}, none of the retrieved {sorted(top)}")
    return Support(True, "every sentence is supported")


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


def generate(
    llm: LLMBackend,
    prompts: Prompts,
    request: Request,
    max_tokens: int,
    similarity: Callable[[str, Sequence[int]], float] | None = None,
) -> Iterator[str | Generated]:
    shown = context_sentences(request, llm.settings.llm_context, llm.settings.llm_context_mode)
    messages = prompts.messages(request.article_id, shown, request.question, request.lang, request.history)
    stats = GenerationStats()
    allowed = {s.n for s in shown}
    # The backend sends it where its server takes one (llm.takes_grammar()).
    grammar = answer_grammar(allowed) if llm.settings.llm_grammar != "false" and allowed else None
    text = ""
    for piece in llm.stream(messages, max_tokens, stats, grammar=grammar):
        text += piece
        yield text
    parsed = parse_citations(text, allowed)
    # "The article does not say X, but [3] says Y" cites something: it is an
    # answer (a corrected premise, say) and stands or falls on its citations.
    if is_abstention(parsed.text) and not parsed.cited:
        yield Generated(text, parsed, True, Support(True, "abstained"), tuple(shown), stats)
        return
    by_n = {s.n: s.text for s in shown}
    support = check_support(parsed.text, by_n, similarity)
    if support.ok:
        support = answers_question(request, parsed)
    if parsed.removed and support.ok:
        support = Support(True, f"removed invented citation(s) {list(parsed.removed)}")
    yield Generated(text, parsed, False, support, tuple(shown), stats)
