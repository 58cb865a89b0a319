"""The Gradio chat: what app.py shows, kept here so it can be tested without a browser.

    >>> demo = build_demo(Bot())      # a gr.Blocks; app.py launches it

Every piece of article or user text is HTML-escaped *and* Markdown-escaped
before it is rendered, so ``<script>``, ``<img onerror=…>`` and ``[link](…)``
show as the characters they are. The only markup in a message is ours:
citation links, the sources block and the timing line.
"""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from .errors import BotError
from .pipeline import Bot
from .types import Answer

EXAMPLES = [
    "Combien de soldats nord-coréens ont été envoyés en Russie ?",
    "Qu'a demandé Mark Rutte à la Russie et à la Corée du Nord ?",
    "Où Sergueï Lavrov a-t-il tenu sa conférence de presse ?",
    "Who is the Pentagon spokeswoman and what did she say?",
    "Did the Pentagon confirm that North Korean troops were fighting?",
    "How many North Korean soldiers were killed in Kursk?",
]
ENGINE_CHOICES = [("Auto (LLM, extractive if unavailable)", "auto"), ("LLM", "llm"), ("Extractive", "extractive")]
MAX_INPUT_CHARS = 2000
# Markdown's specials, less & < > which html.escape turns into entities.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~$])")
_ESCAPED_CITE = re.compile(r"\\\[(\d{1,4})\\\]")  # [n] after escape_text

CSS = """
.article-panel { max-height: 70vh; overflow-y: auto; line-height: 1.6; font-size: 15px; }
.article-panel .sent { border-radius: 3px; padding: 0 1px; }
.article-panel .cited { background: #ffe58a; box-shadow: 0 0 0 1px #e6b800; }
.article-panel .retrieved { background: #f3f0e0; }
.article-panel .num { font-size: 11px; color: #888; vertical-align: super; margin-right: 2px; }
.cite-link { font-weight: 600; text-decoration: none; color: #8a5a00; }
.answer-meta { font-size: 12px; color: #777; margin-top: 6px; }
.abstained { color: #555; font-style: italic; }
.notice { font-size: 12px; color: #a05a00; }
"""


def escape_text(text: str) -> str:
    """Plain text for a Markdown+HTML renderer: nothing in it is markup."""
    # Markdown first, then HTML without quote entities: an entity's "#" must
    # not be backslash-escaped, and quotes are harmless in text content.
    return html.escape(_MD_SPECIAL.sub(r"\\\1", text), quote=False)


def user_message(text: str) -> str:
    """The user's question as shown in the chat: escaped, and laid out right to
    left when it is written in Arabic or Hebrew (``dir="auto"``). A span, not a
    div: inside an HTML block Markdown is not parsed, and our escapes would show."""
    return f'<span dir="auto">{escape_text(text)}</span>'


def _anchor(article_id: str, n: int) -> str:
    """The id of sentence n's span in the article panel, which citations link to."""
    return f"s-{re.sub(r'[^A-Za-z0-9_-]', '_', article_id)}-{n}"


def render_answer(answer: Answer) -> str:
    """The assistant message: the answer with linked citations, the sources, the timings."""
    by_n = {c.n: c for c in answer.citations}
    body = escape_text(answer.answer)

    def link(m: re.Match[str]) -> str:
        c = by_n.get(int(m.group(1)))
        if c is None:  # cannot happen: the pipeline removed it; shown as plain text if it did
            return m.group(0)
        title = html.escape(c.text[:300], quote=True)
        return f'<a class="cite-link" href="#{_anchor(c.article_id, c.n)}" title="{title}">[{c.n}]</a>'

    body = _ESCAPED_CITE.sub(link, body)
    body = (
        f'<span dir="auto" class="abstained">{body}</span>' if answer.abstained else f'<span dir="auto">{body}</span>'
    )
    parts = [body]
    if answer.citations:
        items = "".join(
            f"<li><b>[{c.n}]</b> <code>{html.escape(c.sentence_id)}</code> · score {c.score:.3f}<br>"
            f"{escape_text(c.text)}</li>"
            for c in answer.citations
        )
        parts.append(f"<details><summary>Sources ({len(answer.citations)})</summary><ul>{items}</ul></details>")
    if answer.notice:
        parts.append(f'<div class="notice">{escape_text(answer.notice)}</div>')
    parts.append(f'<div class="answer-meta">{timing_line(answer)}</div>')
    return "\n".join(parts)


def timing_line(answer: Answer) -> str:
    t = answer.timings_ms
    bits = [f"engine: {answer.engine}", f"retrieval {t.get('retrieval_ms', 0):.0f} ms"]
    if "first_token_ms" in t:
        bits.append(f"first token {t['first_token_ms'] / 1000:.1f} s")
    bits.append(f"total {t.get('total_ms', 0) / 1000:.1f} s")
    return " · ".join(bits)


def render_article(bot: Bot, article_id: str | None, answer: Answer | None = None) -> str:
    """The article, each sentence a span; cited ones highlighted, retrieved ones tinted."""
    index = bot.index
    if not index.article_ids:
        return "<p>No article indexed.</p>"
    article_id = article_id if article_id in index.ranges else index.article_ids[0]
    lo, hi = index.ranges[article_id]
    cited = {c.n for c in answer.citations if c.article_id == article_id} if answer else set()
    retrieved = {h.sentence.n for h in answer.hits if h.sentence.article_id == article_id} if answer else set()
    url = index.sources.get(article_id)
    head = f"<h3>{html.escape(article_id)}</h3>"
    if url and re.match(r"^https?://", url):
        head += f'<p><a href="{html.escape(url, quote=True)}" target="_blank" rel="noopener noreferrer">Source</a></p>'
    spans = []
    for s in index.sentences[lo:hi]:
        cls = "sent cited" if s.n in cited else "sent retrieved" if s.n in retrieved else "sent"
        number = f'<span class="num">{s.n}</span>'
        spans.append(f'<span id="{_anchor(s.article_id, s.n)}" class="{cls}">{number}{html.escape(s.text)}</span>')
    return f'<div class="article-panel">{head}<p>{" ".join(spans)}</p></div>'


@dataclass
class Session:
    """One browser session's conversation (kept in gr.State, never shared)."""

    turns: list[tuple[str, str]] = field(default_factory=list)  # (question, plain answer) for the bot


class Warmup:
    """Loads the models in the background so the page is usable at once."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self.state = "not started"
        self.error: str | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="warmup", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        self.state = "loading"
        try:
            self.bot.warm()
            self.state = "ready"
        except BotError as e:
            self.error = str(e)
            self.state = "unavailable"
        except Exception as e:  # noqa: BLE001 - shown to the user, the app stays up
            self.error = f"{type(e).__name__}: {e}"
            self.state = "unavailable"

    def status(self) -> str:
        if self.state == "ready":
            return "LLM ready."
        if self.state == "unavailable":
            return f"LLM unavailable ({escape_text(self.error or '')}): answers are extractive."
        return "Loading the LLM in the background… extractive answers work meanwhile."


def respond(
    bot: Bot,
    message: str,
    chat: list[dict[str, Any]],
    session: Session,
    engine: str,
    article_id: str | None,
    llm_ready: bool = True,
) -> Iterator[tuple[list[dict[str, Any]], Session, str]]:
    """The chat function: yields (chat messages, session, article html) as the answer streams.

    While the LLM is still warming up, "auto" answers extractively rather than
    making the reader wait for the model.
    """
    waiting_for_llm = engine == "auto" and not llm_ready
    if waiting_for_llm:
        engine = "extractive"
    chat = list(chat or [])
    message = message or ""
    if len(message) > MAX_INPUT_CHARS:
        chat.append({"role": "user", "content": user_message(message[:200] + "…")})
        chat.append(
            {
                "role": "assistant",
                "content": f"That question is {len(message):,} characters long; please keep it under "
                f"{MAX_INPUT_CHARS:,} (one question at a time works best).",
            }
        )
        yield list(chat), session, render_article(bot, article_id)
        return
    chat.append({"role": "user", "content": user_message(message)})
    chat.append({"role": "assistant", "content": "…"})
    yield list(chat), session, render_article(bot, article_id)
    final: Answer | None = None
    try:
        for item in bot.stream(message, history=session.turns, article=article_id, engine=engine):
            if isinstance(item, Answer):
                final = item
            else:
                chat[-1] = {"role": "assistant", "content": escape_text(item) + " ▌"}
                yield list(chat), session, render_article(bot, article_id)
    except BotError as e:
        chat[-1] = {"role": "assistant", "content": f'<span class="notice">{escape_text(str(e))}</span>'}
        yield list(chat), session, render_article(bot, article_id)
        return
    assert final is not None
    if waiting_for_llm:
        note = "the LLM is still loading: extractive answer"
        final = replace(final, notice="; ".join(x for x in (final.notice, note) if x))
    chat[-1] = {"role": "assistant", "content": render_answer(final)}
    session = Session(session.turns + [(message, final.answer)])
    yield list(chat), session, render_article(bot, article_id, final)


def build_demo(bot: Bot, warm: bool = True) -> Any:
    import gradio as gr

    warmup = Warmup(bot)
    article_ids = bot.index.article_ids
    with gr.Blocks(title="article-qa") as demo:
        gr.Markdown(
            "## article-qa: ask the article\nAnswers come from the article only, with the sentences they rest on."
        )
        status = gr.Markdown(warmup.status(), elem_id="llm-status")
        session = gr.State(Session())
        with gr.Row():
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(
                    label="Chat",
                    height=520,
                    elem_id="chat",
                    sanitize_html=True,
                    feedback_options=None,
                    layout="panel",
                )
                question = gr.Textbox(
                    label="Your question (French or English)",
                    placeholder="Combien de soldats… / How many…",
                    elem_id="question",
                    max_length=MAX_INPUT_CHARS * 2,
                )
                with gr.Row():
                    send = gr.Button("Ask", variant="primary", elem_id="ask")
                    clear = gr.Button("Clear conversation", elem_id="clear")
                engine = gr.Radio(ENGINE_CHOICES, value=bot.settings.engine, label="Engine", elem_id="engine")
                gr.Examples(EXAMPLES, inputs=question, label="Examples")
            with gr.Column(scale=2):
                article = gr.Dropdown(
                    article_ids,
                    value=article_ids[0] if article_ids else None,
                    label="Article",
                    visible=len(article_ids) > 1,
                    elem_id="article-select",
                )
                article_html = gr.HTML(render_article(bot, article_ids[0] if article_ids else None), elem_id="article")

        def on_submit(message, chat, sess, eng, art):
            yield from respond(bot, message, chat, sess, eng, art, llm_ready=warmup.state != "loading")

        # The textbox empties as soon as a question is sent (the question moves
        # to `pending`): clearing it after the answer raced with the next one.
        pending = gr.State("")
        inputs = [pending, chatbot, session, engine, article]
        outputs = [chatbot, session, article_html]
        # Answers run as many at once as the LLM backend takes: one for the
        # in-process model (two generations on two cores halve each other),
        # ARTICLE_QA_LLM_PARALLEL when a server batches them.
        answers_at_once = bot.llm.parallel
        # API clients (gradio_client) call /send then /answer in one session,
        # as the page does; the button's copy of the chain is not listed twice.
        for trigger, visibility in ((question.submit, "public"), (send.click, "undocumented")):
            trigger(
                lambda q: ("", q),
                question,
                [question, pending],
                queue=False,
                api_name="send",
                api_visibility=visibility,
            ).then(
                on_submit,
                inputs,
                outputs,
                concurrency_id="model",
                concurrency_limit=answers_at_once,
                api_name="answer",
                api_visibility=visibility,
            )

        def reset(art: str | None) -> tuple[list[Any], Session, str]:
            return [], Session(), render_article(bot, art)

        clear.click(reset, [article], outputs, api_name="clear")
        article.change(reset, [article], outputs, api_visibility="undocumented")
        timer = gr.Timer(2.0)
        timer.tick(lambda: warmup.status(), None, status, api_visibility="undocumented")
        if warm:
            demo.load(warmup.start, api_visibility="undocumented")
    # Everything else one at a time, as before; the answer event has its own limit above.
    demo.queue(default_concurrency_limit=1)
    return demo
