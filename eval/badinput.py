"""The bad-input matrix: every case through the CLI, the Python API and the UI's
chat function, side by side.

    python eval/badinput.py [--out eval/reports/bad-input.md]

Each case says what a user must get: a clear message (naming the problem), an
answer citing a given sentence, or a polite abstention. A cell passes when the
interface gives that, shows no markup it was handed, and does not crash. The
seeds folder is hashed before and after: nothing is lost or rewritten.
tests/test_bad_input.py runs the same matrix.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot import Bot, Settings  # noqa: E402
from bot.errors import BotError  # noqa: E402
from bot.ui import Session, respond  # noqa: E402

SEED = ROOT / "seeds" / "000_806bd7fa77100f9f.txt"
ONLY_FR_EN = "English or French"
SOLDIERS = "Combien de soldats nord-coréens ont été envoyés en Russie ?"
EVIL_ARTICLE = (
    "Source : https://example.org/evil\n"
    "Le conseil a voté <script>alert('article')</script> la fermeture du pont. "
    "La maire a cité [ce lien](javascript:alert(1)) et <img src=x onerror=alert(2)> dans son discours. "
    "Les travaux coûteront 4 millions d'euros.\n"
)
# Markup that must never reach the page as markup: tags anywhere, and Markdown
# links in chat messages (the article panel is HTML, where "[a](b)" is text).
RAW_TAGS = re.compile(r"<(?!/?(?:span|a|details|summary|ul|li|b|code|br|div|h3|p)\b)/?[a-z]", re.IGNORECASE)
RAW_MARKDOWN = re.compile(r"(?<!\\)\]\((?:javascript|https?):")


@dataclass(frozen=True)
class Case:
    name: str
    question: str | bytes  # bytes: sent as they are (invalid UTF-8)
    expect: str  # "message" | "answer" | "abstain"
    must: str = ""  # the message must contain this (case-insensitive)
    cites: int | None = None  # the answer must cite this sentence
    article: str | None = None


CASES = [
    Case("empty question", "", "message", "empty"),
    Case("whitespace only", " \n\t  \u3000 ", "message", "empty"),
    Case("100,000 characters", "Combien de soldats ? " * 4762, "message", "characters long"),
    Case(
        "control characters and NUL",
        "Combien de soldats\x00 nord-coréens\x07 ont été\x1b envoyés en Russie ?",
        "answer",
        cites=5,
    ),
    Case("invalid UTF-8 in the question", b"Combien de soldats ? " + b"\xff\xfe", "message", "UTF-8"),
    Case("emoji only", "🤔🤔🤔 ?!", "message", "no letters"),
    Case("emoji in a question", "Combien de soldats 🇰🇵 ont été envoyés en Russie ? 🪖", "answer", cites=5),
    Case(
        "right-to-left (Arabic)",
        "كم عدد الجنود الكوريين الشماليين الذين أرسلوا إلى روسيا؟",
        "abstain",
        "English or French",
    ),
    Case("right-to-left (Hebrew)", "כמה חיילים צפון קוריאנים נשלחו לרוסיה?", "abstain", ONLY_FR_EN),
    Case(
        "third language (German)",
        "Wie viele nordkoreanische Soldaten wurden nach Russland geschickt?",
        "abstain",
        "English or French",
    ),
    Case("third language (Chinese)", "有多少朝鲜士兵被派往俄罗斯？", "abstain", ONLY_FR_EN),
    Case("HTML/JS only", "<script>alert('x')</script><img src=x onerror=alert(1)>", "message", "no letters"),
    Case("HTML/JS in a question", f"<b>{SOLDIERS}</b><img src=x onerror=alert(1)>", "answer", cites=5),
    Case("Markdown link in a question", f"{SOLDIERS} [source](javascript:alert(1)) **urgent**", "answer", cites=5),
    Case("HTML/JS and Markdown in an article", "Combien coûteront les travaux ?", "answer", cites=3, article="evil"),
    Case("unknown article id", SOLDIERS, "message", "unknown article 'nope'", article="nope"),
    Case("article with no sentence", SOLDIERS, "message", "no sentence", article="empty"),
    Case("article file not UTF-8", SOLDIERS, "message", "not valid UTF-8", article="latin1"),
    Case("duplicate article", SOLDIERS, "message", "is a copy of", article="copy"),
]


@dataclass(frozen=True)
class Outcome:
    kind: str  # "message" | "answer" | "abstain" | "crash"
    text: str
    cited: tuple[int, ...] = ()
    raw_markup: bool = False


def make_workspace(folder: Path) -> Settings:
    seeds = folder / "seeds"
    seeds.mkdir(parents=True)
    shutil.copy(SEED, seeds / SEED.name)
    shutil.copy(SEED, seeds / "copy.txt")
    (seeds / "evil.txt").write_text(EVIL_ARTICLE, encoding="utf-8")
    (seeds / "empty.txt").write_text("Comment (0)\n\n   \n", encoding="utf-8")
    (seeds / "latin1.txt").write_bytes("Un article écrit en Latin-1, où les accents cassent.".encode("latin-1"))
    return Settings.load({"seeds": seeds, "index": folder / "index", "engine": "extractive"}, environ={})


def as_text(q: str | bytes) -> str:
    # Python's view of undecodable bytes (argv, os.fsdecode): lone surrogates.
    return q.decode("utf-8", "surrogateescape") if isinstance(q, bytes) else q


def via_api(bot: Bot, case: Case, engine: str) -> Outcome:
    try:
        a = bot.ask(as_text(case.question), article=case.article, engine=engine)
    except BotError as e:
        return Outcome("message", str(e))
    except Exception as e:  # noqa: BLE001 - a crash is what this matrix looks for
        return Outcome("crash", f"{type(e).__name__}: {e}")
    return Outcome("abstain" if a.abstained else "answer", a.answer, tuple(c.n for c in a.citations))


def via_cli(settings: Settings, case: Case, engine: str) -> Outcome:
    # The question goes through stdin (`bot ask -`): argv cannot carry NUL.
    data = case.question if isinstance(case.question, bytes) else case.question.encode("utf-8")
    cmd = [sys.executable, "-m", "bot", "--seeds", str(settings.seeds), "--index", str(settings.index)]
    cmd += ["ask", "--json", "--engine", engine, "-"] + (["--article", case.article] if case.article else [])
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARTICLE_QA_") or k == "ARTICLE_QA_CACHE"}
    env["HF_HUB_OFFLINE"] = "1"
    p = subprocess.run(cmd, input=data, capture_output=True, env=env, timeout=300, cwd=ROOT)
    out, err = p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")
    if p.returncode == 2 and err.startswith("error: ") and "Traceback" not in err:
        return Outcome("message", err.strip().removeprefix("error: "))
    if p.returncode != 0:
        return Outcome("crash", f"exit {p.returncode}: {err.strip()[-300:]}")
    try:
        j = json.loads(out)
    except ValueError:
        return Outcome("crash", f"not JSON: {out[:200]}")
    cited = tuple(int(c["n"]) for c in j["citations"])
    return Outcome("abstain" if j["abstained"] else "answer", j["answer"], cited)


def via_ui(bot: Bot, case: Case, engine: str) -> Outcome:
    # A browser always sends UTF-8: undecodable bytes arrive as U+FFFD.
    q = case.question.decode("utf-8", "replace") if isinstance(case.question, bytes) else case.question
    try:
        chat, _, page = list(respond(bot, q, [], Session(), engine, case.article))[-1]
    except Exception as e:  # noqa: BLE001
        return Outcome("crash", f"{type(e).__name__}: {e}")
    shown = chat[-1]["content"]
    user = chat[0]["content"]
    raw = any(RAW_TAGS.search(t) or RAW_MARKDOWN.search(t) for t in (shown, user)) or bool(RAW_TAGS.search(page))
    # What the reader sees: tags out, then our HTML and Markdown escapes undone.
    text = html.unescape(re.sub(r"\\(.)", r"\1", re.sub(r"<[^>]+>", "", shown.split("<details>")[0]))).strip()
    cited = tuple(int(n) for n in re.findall(r'class="cite-link" href="#s-[^"]*-(\d+)"', shown))
    kind = "answer" if cited else "abstain" if 'class="abstained"' in shown else "message"
    return Outcome(kind, text, cited, raw)


def judge(case: Case, o: Outcome, interface: str) -> tuple[bool, str]:
    if o.kind == "crash":
        return False, "crashed"
    if o.raw_markup:
        return False, "markup rendered"
    expect = case.expect
    if interface == "ui" and isinstance(case.question, bytes):
        expect = "abstain|answer"  # the browser's U+FFFD text is a question like any other
    if o.kind not in expect.split("|"):
        return False, f"expected {case.expect}, got {o.kind}"
    if case.must and expect == case.expect and case.must.lower() not in o.text.lower():
        return False, f"message lacks {case.must!r}"
    if case.cites is not None and case.cites not in o.cited:
        return False, f"cites {list(o.cited)}, not [{case.cites}]"
    return True, "ok"


def digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.iterdir()):
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


@dataclass(frozen=True)
class Row:
    case: Case
    results: dict[str, tuple[bool, Outcome, str]]  # interface -> (passed, outcome, why)


def run_matrix(folder: Path, engine: str = "extractive") -> tuple[list[Row], list[str], bool]:
    """All cases through the three interfaces; (rows, build warnings, seeds unchanged)."""
    settings = make_workspace(folder)
    before = digest(settings.seeds)
    bot = Bot(settings)
    bot.build()
    warnings = list(bot.warnings)
    rows = []
    for case in CASES:
        results = {}
        for name, outcome in (
            ("cli", via_cli(settings, case, engine)),
            ("api", via_api(bot, case, engine)),
            ("ui", via_ui(bot, case, engine)),
        ):
            ok, why = judge(case, outcome, name)
            results[name] = (ok, outcome, why)
        rows.append(Row(case, results))
    return rows, warnings, digest(settings.seeds) == before


def cell(text: str, n: int = 90) -> str:
    text = " ".join(text.split())
    text = text if len(text) <= n else text[: n - 1] + "…"
    return text.replace("|", "\\|").replace("<", "&lt;")


def report(rows: list[Row], warnings: list[str], unchanged: bool, engine: str) -> str:
    cells = [r for row in rows for r in row.results.values()]
    passed = sum(ok for ok, _, _ in cells)
    lines = [
        f"# Bad-input matrix: {passed}/{len(cells)} cells pass (engine {engine})",
        "",
        "Every case through the CLI (`bot ask --json -`, question on stdin, a new process each time), the "
        "Python API (`Bot.ask`) and the UI's chat function (`bot.ui.respond`, what the Gradio app calls). "
        "Expected: *message* = a clear error naming the problem; *answer* = cites the given sentence; "
        "*abstain* = the polite “not in the article” or “English or French only” reply. "
        "Regenerate: `python eval/badinput.py`.",
        "",
        "| case | expected | CLI | API | UI |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        c = row.case
        exp = c.expect + (f" “{c.must}”" if c.must else "") + (f" [{c.cites}]" if c.cites else "")
        out = []
        for name in ("cli", "api", "ui"):
            ok, o, why = row.results[name]
            mark = "✅" if ok else f"❌ {why}:"
            out.append(f"{mark} {o.kind}: {cell(o.text)}")
        lines.append(f"| {c.name} | {exp} | " + " | ".join(out) + " |")
    lines += [
        "",
        "## Articles skipped at build time (warnings, also printed by `bot index build`)",
        "",
        *[f"- {w}" for w in warnings],
        "",
        f"Seeds folder byte-identical before and after the matrix: {'yes' if unchanged else 'NO'}.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--engine", default="extractive", choices=["extractive", "auto", "llm"])
    ap.add_argument("--out", type=Path, default=ROOT / "eval" / "reports" / "bad-input.md")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="article-qa-badinput-"))
    try:
        rows, warnings, unchanged = run_matrix(work, args.engine)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = report(rows, warnings, unchanged, args.engine)
    args.out.write_text(text, encoding="utf-8")
    print(text.splitlines()[0])
    failed = [r.case.name for r in rows if not all(ok for ok, _, _ in r.results.values())]
    for name in failed:
        print(f"  failed: {name}")
    return 1 if failed or not unchanged else 0


if __name__ == "__main__":
    raise SystemExit(main())
