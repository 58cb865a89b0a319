"""What the LLM reads about a long article (bot/context.py), and that the
prompt stays within the window on any article (fake LLM)."""

from __future__ import annotations

from bot import Bot
from bot.context import budget, chars, plan_context, section_key, sections, warm_plan
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
    assert len(llm.messages) == warmed + 1
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
