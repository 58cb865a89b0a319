"""The Gradio chat: what app.py shows, kept here so it can be tested without a browser.

    >>> demo = build_demo(Bot())      # a gr.Blocks; app.py launches it

Every piece of article or user text is escaped before it is rendered, so
``<script>``, ``<img onerror=…>`` and ``[link](…)`` show as the characters
they are. How depends on where it lands: in a Markdown paragraph (the answer
and the question, in a ``<span>``) it is HTML- *and* Markdown-escaped
(``escape_text``); inside an HTML block (``<details>``, ``<div>``), where
Markdown is not parsed and a backslash would show, it is HTML-escaped only,
on one line so that the block cannot end early (``html_text``). The only
markup in a message is ours: citation links, the sources block, the notice
and the timing line.

"Add an article" (beside the article selector) takes pasted text or an
uploaded file, adds it through ``Bot.add_article`` while the chat shows the
progress, then selects it. ``Warmup`` reads the selected article into the
LLM in the background; a question for the LLM asked meanwhile is told at
once how long the model still needs, then streams as usual.
"""

from __future__ import annotations

import html
import queue
import re
import threading
import time
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
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
.notice { font-size: 12px; color: #a05a00; display: block; }
.loading { color: #555; font-style: italic; }
#add-article .upload-hint { font-size: 12px; color: #777; }
"""
UPLOAD_TYPES = [".txt", ".md", ".markdown", ".html", ".htm", ".pdf"]
# Prompt processing on the 2 target cores (docs/llm.md: 37-40 tokens/s, ~3.2
# characters a token) and the model's load when it is not in memory yet: what
# the "about N s left" estimate starts from before the warm-up has measured itself.
WARM_CHARS_PER_S = 110.0
MODEL_LOAD_S = 15.0


def escape_text(text: str) -> str:
    """Plain text for a Markdown+HTML renderer: nothing in it is markup."""
    # Markdown first, then HTML without quote entities: an entity's "#" must
    # not be backslash-escaped, and quotes are harmless in text content.
    # Last, "://" as an entity: the renderer turns bare URLs into links, and
    # inside a link backslash escapes are not undone ("news\.example\.com").
    return html.escape(_MD_SPECIAL.sub(r"\\\1", text), quote=False).replace("://", "&#58;//")


def html_text(text: str) -> str:
    """Plain text inside an HTML block (where Markdown is not parsed): HTML-escaped,
    on one line, since a blank line would end the block and let Markdown in."""
    return html.escape(" ".join(str(text).split()), quote=False)


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
            f"{html_text(c.text)}</li>"
            for c in answer.citations
        )
        parts.append(f"<details><summary>Sources ({len(answer.citations)})</summary><ul>{items}</ul></details>")
    if answer.notice:
        parts.append(f'<div class="notice">{html_text(answer.notice)}</div>')
    parts.append(f'<div class="answer-meta">{timing_line(answer)}</div>')
    return "\n".join(parts)


def timing_line(answer: Answer) -> str:
    t = answer.timings_ms
    bits = [f"engine: {answer.engine}"]
    if answer.confidence is not None:
        # the calibrated probability that the best sentence(s) hold the answer
        bits.append(f"confidence {answer.confidence:.0%}")
    if answer.answerable is not None:
        # the calibrated probability that the article answers at all: what the decision reads
        bits.append(f"answerable {answer.answerable:.0%}")
    bits.append(f"retrieval {t.get('retrieval_ms', 0):.0f} ms")
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
    """Reads articles into the LLM in the background, one job at a time, so the
    page is usable at once, and knows how long its current request still needs.

    The one source of truth about readiness: the status line, the engine
    choice of "auto" and the "still loading" message all ask it. A question
    for the LLM waits at most for the request being read (the worker pauses
    between requests while a question is waiting)."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self.state = "not started"  # -> "loading" (queue not empty) -> "ready" | "unavailable"
        self.error: str | None = None
        self.article: str | None = None
        self._jobs: queue.Queue[str | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._waiting = 0  # questions waiting for the LLM
        self._resume = threading.Condition(self._lock)
        self._busy = False  # a warm-up request is being read right now
        self._request_started = 0.0
        self._request_chars = 0
        self._load_s = 0.0
        self._read_chars = 0  # measured speed: characters read ...
        self._read_s = 0.0  # ... in this many seconds
        self._left_chars = 0  # of the current job
        self.first_done = False  # the model is loaded and has read one prompt: questions are answered

    def start(self, article: str | None = None, once: bool = False) -> None:
        """Queue a warm-up of ``article`` (default: the first one); the first call starts the worker.
        ``once``: only if nothing was ever queued (every page load asks)."""
        with self._lock:
            if once and self._thread is not None:
                return
            # the article's token vectors, for the confidence, on their own thread:
            # quick (~25 ms a sentence), and wanted whether or not the LLM loads
            threading.Thread(target=self._read_tokens, args=(article,), name="tokens", daemon=True).start()
            if self.state == "unavailable":
                return
            self.state = "loading"
            self._jobs.put(article)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="warmup", daemon=True)
                self._thread.start()

    def _read_tokens(self, article: str | None) -> None:
        try:
            self.bot.read_tokens(article)
        except Exception:  # noqa: BLE001 - a head start only: questions compute what is missing
            pass

    @property
    def loading(self) -> bool:
        """Is the LLM still being read into (its model loading, or an article's prefix)?"""
        return self.state == "loading"

    @property
    def busy(self) -> bool:
        """Is a warm-up request holding the LLM right now (a question would wait for it)?"""
        return self._busy

    def _run(self) -> None:
        while True:
            article = self._jobs.get()
            self.article = article
            with self._lock:  # busy from the start: the models load before the first request
                self._busy = True
                self._request_started = time.monotonic()
                self._load_s = 0.0 if self.bot.llm_loaded else MODEL_LOAD_S
                self._request_chars = self._request_chars or 4000
            try:
                self.bot.warm(article, progress=self._progress, pause=self._pause)
            except BotError as e:
                self.error = str(e)
                self.state, self._busy = "unavailable", False
                return
            except Exception as e:  # noqa: BLE001 - shown to the user, the app stays up
                self.error = f"{type(e).__name__}: {e}"
                self.state, self._busy = "unavailable", False
                return
            with self._lock:
                self._busy, self.first_done = False, True
                if self._jobs.empty():
                    self.state = "ready"

    def _pause(self) -> None:
        with self._lock:
            self._busy = False
            while self._waiting:
                self._resume.wait()
            self._busy = True
            self._load_s = 0.0 if self.bot.llm_loaded else MODEL_LOAD_S
            self._request_started = time.monotonic()

    def _progress(self, done_chars: int, total_chars: int) -> None:
        now = time.monotonic()
        if done_chars and self._request_started:
            self._read_chars += self._request_chars
            self._read_s += max(0.001, now - self._request_started - self._load_s)
            self.first_done = True
        self._left_chars = total_chars - done_chars
        # the next request's size: what is left, in steps of about one section
        self._request_chars = min(total_chars - done_chars, max(1, total_chars // max(1, self._steps(total_chars))))

    def _steps(self, total_chars: int) -> int:
        from .context import SECTION_CHARS

        return max(1, round(total_chars / SECTION_CHARS))

    def question(self) -> _Waiting:
        """``with warmup.question():`` around a question for the LLM: the worker lets it go first."""
        return _Waiting(self)

    def _speed(self) -> float:
        return self._read_chars / self._read_s if self._read_s > 1 else WARM_CHARS_PER_S

    def eta_s(self) -> int:
        """Seconds the request being read still needs, roughly (measured once one has been read)."""
        if not self._busy:
            # the worker let a question go first before the model was loaded: the question loads it
            return 0 if self.bot.llm_loaded or self.state != "loading" else round(MODEL_LOAD_S)
        left = self._load_s + self._request_chars / self._speed() - (time.monotonic() - self._request_started)
        return max(1, round(left))

    def eta_total_s(self) -> int:
        """Seconds the whole current job still needs (every section of a long article)."""
        later = max(0, self._left_chars - self._request_chars) / self._speed() if self._busy else 0
        return self.eta_s() + round(later)

    def still_loading(self) -> str:
        return f"The model is still loading (about {self.eta_s()} s left); your answer will follow."

    def status(self) -> str:
        if self.state == "unavailable":
            return f"LLM unavailable ({escape_text(self.error or '')}): answers are extractive."
        what = f"article {escape_text(self.article)}" if self.article else "the article"
        if self.loading and not self.first_done:
            return (
                f"Loading the LLM in the background (reading {what}, about {self.eta_total_s()} s left)… "
                "extractive answers work meanwhile."
            )
        if self.loading:
            left = self.eta_total_s()
            return f"LLM ready; reading {what} ahead in the background" + (f" (about {left} s left)." if left else ".")
        if self.state == "ready" or self.bot.llm_loaded:
            return "LLM ready."
        return "The LLM loads with the first question for it."


class _Waiting:
    def __init__(self, warmup: Warmup) -> None:
        self.warmup = warmup

    def __enter__(self) -> None:
        with self.warmup._lock:
            self.warmup._waiting += 1

    def __exit__(self, *exc: object) -> None:
        with self.warmup._lock:
            self.warmup._waiting -= 1
            self.warmup._resume.notify_all()


def respond(
    bot: Bot,
    message: str,
    chat: list[dict[str, Any]],
    session: Session,
    engine: str,
    article_id: str | None,
    warmup: Warmup | None = None,
    poll_s: float = 1.0,
) -> Iterator[tuple[list[dict[str, Any]], Session, str]]:
    """The chat function: yields (chat messages, session, article html) as the answer streams.

    While the LLM is still warming up, "auto" answers extractively rather than
    making the reader wait for the model, and says how long the model still
    needs; "llm" says so at once, counts down, then streams as usual.
    """
    waiting_for_llm = engine == "auto" and warmup is not None and warmup.busy
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
    uses_llm = engine in ("llm", "auto") and warmup is not None
    try:
        with warmup.question() if warmup is not None and uses_llm else nullcontext():
            # say at once that the model is busy reading, and for how long, instead of a silent wait
            while warmup is not None and uses_llm and warmup.busy:
                line = escape_text(warmup.still_loading())
                chat[-1] = {"role": "assistant", "content": f'<span class="loading">{line}</span>'}
                yield list(chat), session, render_article(bot, article_id)
                time.sleep(poll_s)
            if warmup is not None and uses_llm and warmup.eta_s():
                # the worker paused for this question before the model was loaded: it loads now, say so
                line = escape_text(warmup.still_loading())
                chat[-1] = {"role": "assistant", "content": f'<span class="loading">{line}</span>'}
                yield list(chat), session, render_article(bot, article_id)
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
        assert warmup is not None
        note = f"the LLM is still loading (about {warmup.eta_s()} s left): extractive answer meanwhile"
        final = replace(final, notice="; ".join(x for x in (final.notice, note) if x))
    chat[-1] = {"role": "assistant", "content": render_answer(final)}
    session = Session(session.turns + [(message, final.answer)])
    yield list(chat), session, render_article(bot, article_id, final)


def add_article(
    bot: Bot, data: bytes | str | None, name: str, chat: list[dict[str, Any]], poll_s: float = 0.3
) -> Iterator[tuple[list[dict[str, Any]], str | None, float]]:
    """Add pasted text or an uploaded file: yields (chat, the new article's id or None, progress 0-1).

    The chat shows the progress while the article is embedded, then one line:
    the article added, or what was wrong with it (nothing indexed is lost)."""
    chat = list(chat or [])
    chat.append({"role": "assistant", "content": f'<span class="loading">Adding {escape_text(name)}…</span>'})
    yield list(chat), None, 0.0
    state: dict[str, Any] = {"fraction": 0.0, "message": "reading"}

    def progress(fraction: float, message: str) -> None:
        state["fraction"], state["message"] = fraction, message

    def run() -> None:
        try:
            state["info"] = bot.add_article(data if data is not None else b"", name=name, progress=progress)
        except BotError as e:
            state["error"] = str(e)
        except Exception as e:  # noqa: BLE001 - a user's file must not take the app down
            state["error"] = f"{name} could not be added ({type(e).__name__}: {e}): try another file or paste its text"

    worker = threading.Thread(target=run, name="add-article", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(poll_s)
        if worker.is_alive():
            line = f"Adding {name}: {state['message']} ({100 * state['fraction']:.0f} %)…"
            chat[-1] = {"role": "assistant", "content": f'<span class="loading">{escape_text(line)}</span>'}
            yield list(chat), None, float(state["fraction"])
    if "error" in state:
        chat[-1] = {"role": "assistant", "content": f'<span class="notice">{escape_text(state["error"])}</span>'}
        yield list(chat), None, 1.0
        return
    info = state["info"]
    where = f" from {info.source_url}" if info.source_url else ""
    line = (
        f"Added “{info.title}” ({info.sentences} sentences, {info.format}{where}) as {info.id}. "
        "It is now the selected article: ask your questions about it."
    )
    # a new article, a new conversation (as when one is picked in the selector)
    yield [{"role": "assistant", "content": f'<span dir="auto">{escape_text(line)}</span>'}], info.id, 1.0


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
                with gr.Accordion("Add an article", open=False, elem_id="add-article"):
                    paste = gr.Textbox(
                        label="Paste an article (plain text, Markdown or a page's HTML)",
                        lines=4,
                        max_lines=10,
                        elem_id="paste",
                    )
                    with gr.Row():
                        add_paste = gr.Button("Add the pasted article", elem_id="add-paste", size="sm")
                        upload = gr.UploadButton(
                            "Upload a file",
                            elem_id="upload",
                            size="sm",
                            file_count="single",
                            file_types=UPLOAD_TYPES,
                            type="filepath",
                        )
                    gr.Markdown(
                        "A text, Markdown or PDF file, or a news page saved from the browser (.html): "
                        "its story is kept, menus, banners and comments are not.",
                        elem_classes="upload-hint",
                    )
                article = gr.Dropdown(
                    article_ids,
                    value=article_ids[0] if article_ids else None,
                    label="Article",
                    visible=len(article_ids) > 1,
                    elem_id="article-select",
                )
                article_html = gr.HTML(render_article(bot, article_ids[0] if article_ids else None), elem_id="article")

        def on_submit(message, chat, sess, eng, art):
            for out in respond(bot, message, chat, sess, eng, art, warmup=warmup):
                # the status line moves with the answer: it never lags one (the timer only covers idle time)
                yield (*out, warmup.status())

        # The textbox empties as soon as a question is sent (the question moves
        # to `pending`): clearing it after the answer raced with the next one.
        pending = gr.State("")
        inputs = [pending, chatbot, session, engine, article]
        outputs = [chatbot, session, article_html, status]
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

        def adding(data, name, chat, art, progress):
            added = None
            for chat_now, new_id, fraction in add_article(bot, data, name, chat):
                progress(fraction, desc="adding the article")
                added = new_id
                yield chat_now, gr.update(), gr.update(), gr.update(), gr.update(), warmup.status()
            if added is None:  # refused: the message is in the chat, the paste stays for a fix
                return
            ids = bot.index.article_ids
            if warm:
                warmup.start(added)
            yield (
                chat_now,
                Session(),
                gr.update(choices=ids, value=added, visible=True),
                render_article(bot, added),
                "",
                warmup.status(),
            )

        track = gr.Progress()  # gradio fills in a parameter whose default is a Progress

        def on_paste(text, chat, art, progress=track):
            yield from adding(text or "", "the pasted text", chat, art, progress)

        def on_upload(path, chat, art, progress=track):
            if not path:
                return
            name = Path(str(path)).name
            try:
                data = Path(str(path)).read_bytes()
            except OSError as e:
                data, name = b"", f"{name} (unreadable: {e.strerror})"
            yield from adding(data, name, chat, art, progress)

        add_outputs = [chatbot, session, article, article_html, paste, status]
        add_paste.click(on_paste, [paste, chatbot, article], add_outputs, concurrency_id="model", api_name="add_text")
        upload.upload(
            on_upload, [upload, chatbot, article], add_outputs, concurrency_id="model", api_visibility="undocumented"
        )

        def reset(art: str | None) -> tuple[list[Any], Session, str]:
            return [], Session(), render_article(bot, art)

        def on_select(art: str | None) -> tuple[list[Any], Session, str]:
            if warm:
                warmup.start(art)
            return reset(art)

        clear.click(reset, [article], [chatbot, session, article_html], api_name="clear")
        # .input, not .change: selecting the added article in code must not wipe the chat's "Added …" line
        article.input(on_select, [article], [chatbot, session, article_html], api_visibility="undocumented")
        # The timer covers idle time: the status while the LLM warms up, and the
        # selector when another session added or removed an article.
        known = gr.State(list(article_ids))

        def tick(seen: list[str]) -> tuple[str, Any, list[str]]:
            ids = bot.known_article_ids
            if ids == seen:
                return warmup.status(), gr.update(), seen
            return warmup.status(), gr.update(choices=ids, visible=len(ids) > 1), list(ids)

        timer = gr.Timer(1.0)
        timer.tick(tick, known, [status, article, known], api_visibility="undocumented", queue=False)
        if warm:
            demo.load(lambda: warmup.start(once=True), api_visibility="undocumented")
    # Everything else one at a time, as before; the answer event has its own limit above.
    demo.queue(default_concurrency_limit=1)
    return demo
