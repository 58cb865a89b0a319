"""What the LLM reads about a long article (bot/context.py), and that the
prompt stays within the window on any article (fake LLM)."""

from __future__ import annotations

import os

from bot import Bot
from bot.context import budget, cached, chars, plan_context, protects, section_key, sections, warm_plan
from bot.types import Hit, Sentence

from .conftest import FakeEmbedder, FakeLLM


def article(n: int, words: int = 25, article_id: str = "long") -> list[Sentence]:
    out, pos = [], 0
    for i in range(1, n + 1):
        text = f"Sentence {i} of the long article says " + " ".join(f"w{i}x{j}" for j in range(words)) + "."
        out.append(Sentence(f"{article_id}:{i}", article_id, i, text, pos, pos + len(text)))
        pos += len(text) + 1
    return out


def test_sections_are_consecutive_and_of_about_equal_size():
    s = article(200)
    ranges = sections(s)
    assert ranges[0][0] == 0 and ranges[-1][1] == 200
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False))
    sizes = [chars(s[lo:hi]) for lo, hi in ranges]
    assert max(sizes) - min(sizes) <= 2 * (max(len(x.text) for x in s) + 6)  # a cut falls between sentences
    assert all(size <= budget(4096) for size in sizes)


def test_a_short_article_is_read_whole():
    s = article(10)
    plan = plan_context("long", s, [Hit(s[3], 0.9)], 4096)
    assert plan.mode == "article" and len(plan.sentences) == 10


def test_a_long_article_reads_its_warm_section_else_the_retrieved_sentences():
    s = article(200)
    hits = [Hit(s[150], 0.9), Hit(s[40], 0.85), Hit(s[152], 0.8)]
    cold = plan_context("long", s, hits, 4096)
    assert cold.mode == "retrieved" and [x.n for x in cold.sentences] == [41, 151, 153]
    keys = dict(warm_plan("long", s, 4096))
    plan = plan_context("long", s, hits, 4096, warm=frozenset(keys))
    assert plan.mode == "section" and 151 in [x.n for x in plan.sentences] and 153 in [x.n for x in plan.sentences]
    assert plan.section == section_key("long", list(plan.sentences))
    assert chars(plan.sentences) <= budget(4096)


def test_retrieved_sentences_are_bounded_by_the_window_even_when_huge():
    giant = Sentence("long:1", "long", 1, "mot " * 20_000, 0, 80_000)
    rest = article(3)
    plan = plan_context("long", [giant, *rest], [Hit(giant, 0.9), Hit(rest[0], 0.8)], 4096)
    assert plan.mode == "retrieved" and chars(plan.sentences) <= budget(4096)
    assert giant.text.startswith(plan.sentences[0].text)


def test_the_pipeline_gives_the_model_a_warm_section_of_a_long_article(settings):
    text = "\n".join(s.text for s in article(200))
    (settings.seeds / "long.txt").write_text(text, encoding="utf-8")
    llm = FakeLLM(settings, ["x [151]."] * 10)
    bot = Bot(settings, embedder=FakeEmbedder(), llm=llm)  # type: ignore[arg-type]
    bot.build()
    bot.ask("Which one says w151x2 w151x4 w151x5 w151x6 w151x7 w151x8 w151x9?", article="long", engine="llm")
    first = llm.messages[-1][-1]["content"]
    assert first.count("\n[") <= 5  # cold: the retrieved sentences only
    bot.warm("long")
    warmed = len(llm.messages)
    bot.ask("Which one says w151x2 w151x4 w151x5 w151x6 w151x7 w151x8 w151x9?", article="long", engine="llm")
    # this fake reports no token counts: the slot's state is unknown, so it is cleared first (bot/slot.py)
    assert len(llm.messages) == warmed + 2 and llm.messages[-2] == [{"role": "user", "content": "?"}]
    shown = llm.messages[-1][-1]["content"]
    assert "[151] Sentence 151" in shown and 20 < shown.count("\n[") < 60  # its section
    assert len(shown) < budget(4096) + 2000


class ForgetfulLLM(FakeLLM):
    """An LLM whose cache does not restore sections: every request re-reads its whole prompt."""

    def stream(self, messages, max_tokens=200, stats=None, grammar=None):
        if stats is not None:
            stats.prompt_tokens = len(messages[-1]["content"]) // 3
        yield from super().stream(messages, max_tokens, stats, grammar)


def test_sections_the_cache_does_not_restore_are_not_used(settings):
    text = "\n".join(s.text for s in article(200))
    (settings.seeds / "long.txt").write_text(text, encoding="utf-8")
    llm = ForgetfulLLM(settings, ["x [151]."] * 20)
    bot = Bot(settings, embedder=FakeEmbedder(), llm=llm)  # type: ignore[arg-type]
    bot.build()
    bot.warm("long")
    bot.ask("Which one says w151x2 w151x4 w151x5 w151x6 w151x7 w151x8 w151x9?", article="long", engine="llm")
    assert bot.last_context == "retrieved" and llm.messages[-1][-1]["content"].count("\n[") <= 5


def test_a_plan_is_cached_when_its_section_or_article_was_read_ahead():
    s = article(200)
    hits = [Hit(s[150], 0.9), Hit(s[40], 0.85)]
    keys = frozenset(k for k, _ in warm_plan("long", s, 4096))
    cold, section = plan_context("long", s, hits, 4096), plan_context("long", s, hits, 4096, warm=keys)
    assert not cached(cold, "long", keys) and cached(section, "long", keys)
    short = article(10, article_id="short")
    whole = plan_context("short", short, [Hit(short[0], 0.9)], 4096)
    assert not cached(whole, "short", keys) and cached(whole, "short", keys | {"short:article"})
    assert protects(keys) and not protects(frozenset()) and not protects({"prefix"})


class SizedLLM(FakeLLM):
    """Reports its prompts' sizes, ~3 characters a token, as a perfect prompt cache would: the
    longest start shared with an earlier prompt as cached, the rest as read."""

    def __init__(self, settings, replies):
        super().__init__(settings, replies)
        self.seen: list[str] = []

    def stream(self, messages, max_tokens=200, stats=None, grammar=None):
        text = "\n".join(m["content"] for m in messages)
        shared = max((len(os.path.commonprefix([text, old])) for old in self.seen), default=0)
        self.seen.append(text)
        if stats is not None:
            stats.cached_tokens, stats.prompt_tokens = shared // 3, (len(text) - shared) // 3 + 1
        yield from super().stream(messages, max_tokens, stats, grammar)


EMPTY = '<article id="long">\n\n</article>'


def kinds(llm: FakeLLM) -> list[str]:
    """Each request: a park (empty article), a clear (one word, no system prompt) or a read."""
    out = []
    for m in llm.messages:
        content = m[-1]["content"]
        out.append("park" if EMPTY in content else "clear" if len(m) == 1 else "read")
    return out


def test_the_slot_is_parked_before_a_first_read_and_cleared_before_a_cached_one():
    from bot.prompts import Prompts
    from bot.slot import Slot

    llm, prompts, slot = SizedLLM(None, []), Prompts.load(), Slot()  # type: ignore[arg-type]
    slot.before(llm, prompts, "long", cached=False, protect=False)
    slot.before(llm, prompts, "long", cached=True, protect=False)
    assert llm.messages == []  # nothing cached to lose or find: no request
    slot.before(llm, prompts, "long", cached=False, protect=True)
    assert kinds(llm) == ["park"] and slot.short and slot.prefix_tokens > 500  # measured by the park
    slot.before(llm, prompts, "long", cached=True, protect=True)
    assert kinds(llm) == ["park", "clear"]  # a short state would keep llama.cpp from consulting its cache
    from bot.backends import GenerationStats

    slot.after(GenerationStats(prompt_tokens=30, cached_tokens=3 * slot.prefix_tokens))  # a section
    slot.before(llm, prompts, "long", cached=True, protect=True)
    assert kinds(llm) == ["park", "clear"] and not slot.short  # a long state: the cache is consulted as is
    slot.after(GenerationStats(prompt_tokens=20, cached_tokens=slot.prefix_tokens))  # retrieved sentences
    slot.before(llm, prompts, "long", cached=True, protect=True)
    assert kinds(llm) == ["park", "clear", "clear"]
    slot.after(GenerationStats(prompt_tokens=20, cached_tokens=slot.prefix_tokens + 100), key="short:article")
    slot.before(llm, prompts, "short", cached=True, protect=True, key="short:article")
    assert len(llm.messages) == 3  # short, but it holds that very article: a follow-up finds it in the slot
    slot.before(llm, prompts, "long", cached=True, protect=True, key="long:1-30:x")
    assert kinds(llm) == ["park", "clear", "clear", "clear"]


def test_warm_and_questions_keep_the_slot_ready_for_the_cache(settings):
    text = "\n".join(s.text for s in article(200))
    (settings.seeds / "long.txt").write_text(text, encoding="utf-8")
    llm = SizedLLM(settings, [])
    bot = Bot(settings, embedder=FakeEmbedder(), llm=llm)  # type: ignore[arg-type]
    bot.build()
    bot.warm("long")
    n_sections = len(warm_plan("long", bot.index.sentences[slice(*bot.index.ranges["long"])], 4096))
    # read, park, read, …, read; then the first section again (bot.warm's check), from a long state
    assert kinds(llm) == ["read"] + ["park", "read"] * (n_sections - 1) + ["read"]
    question = "Which one says w151x2 w151x4 w151x5 w151x6 w151x7 w151x8 w151x9?"
    llm.messages.clear()
    llm.replies[:] = ["x [151]."]
    bot.ask(question, article="long", engine="llm")
    assert bot.last_context == "section" and kinds(llm) == ["read"]  # no extra request between sections
    holding = [k for k in bot._warm if int(k.split(":")[1].split("-")[0]) <= 151 <= int(k.split(":")[1].split("-")[1])]
    bot._warm.discard(holding[0])  # its section is cold again: the question reads the retrieved sentences
    llm.messages.clear()
    llm.replies[:] = ["x [151].", "x [151]."]
    bot.ask(question, article="long", engine="llm")
    assert bot.last_context == "retrieved" and kinds(llm) == ["park", "read"]  # protects the others
    bot.warm("long")  # reads the section again
    llm.messages.clear()
    bot.ask(question, article="long", engine="llm")
    assert bot.last_context == "section" and kinds(llm) == ["read"]
