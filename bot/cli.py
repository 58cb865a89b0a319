"""Command line: ``bot ask``, ``bot add|list|remove``, ``bot index build|status``, ``bot eval``, ``bot serve``.

The ``--json`` shapes are a contract (the evaluation and other tools read
them); see the README. A user's mistake prints one line on stderr and exits
with code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from .config import Settings
from .errors import AnswerError, BotError, QuestionError


def build_parser() -> argparse.ArgumentParser:
    # Global options work before or after the command (`bot --index D ask …`
    # and `bot ask … --index D`); SUPPRESS keeps the subcommand's unset option
    # from erasing a value given before it.
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    common.add_argument("--seeds", type=Path, help="folder of *.txt articles (env ARTICLE_QA_SEEDS, default seeds/)")
    common.add_argument("--index", type=Path, help="index folder (env ARTICLE_QA_INDEX, default index/)")
    common.add_argument("--embed-model", help="sentence-transformers model name or path (env ARTICLE_QA_EMBED_MODEL)")
    common.add_argument("--cache", type=Path, help="where provisioned models live (env ARTICLE_QA_CACHE)")
    common.add_argument("--threads", type=int, help="CPU threads for the models (env ARTICLE_QA_THREADS, default 2)")
    p = argparse.ArgumentParser(
        prog="bot", description="Answer questions about news articles, citing their sentences.", parents=[common]
    )
    sub = p.add_subparsers(
        dest="command", required=True, metavar="{ask,verify,add,list,remove,index,eval,serve,llm-server}"
    )

    ask = sub.add_parser("ask", parents=[common], help="answer a question (or a JSONL batch) with citations")
    ask.add_argument("question", nargs="?", help="the question, in French or English (- reads it from stdin)")
    ask.add_argument(
        "--batch", type=Path, metavar="FILE.jsonl", help='one {"id"?, "question", "article"?, "history"?} per line'
    )
    ask.add_argument(
        "--engine",
        choices=["auto", "llm", "extractive"],
        help="extractive (default) quotes the article; auto: the LLM (local, or the server at ARTICLE_QA_LLM_URL), "
        "extractive if it is unavailable; llm: the LLM only (env ARTICLE_QA_ENGINE)",
    )
    ask.add_argument("--article", metavar="ID", help="restrict to one article (its file stem)")
    ask.add_argument("--top-k", type=int, metavar="K", help="sentences retrieved (default 5)")
    ask.add_argument("--json", action="store_true", help="print the answer as JSON")

    ver = sub.add_parser(
        "verify",
        parents=[common],
        help="check that each sentence of an answer is backed by the article sentences it cites as [n]",
        description="Check any text against an article: every sentence must cite sentences [n] that say what it "
        "says (names, numbers, dates, quotes, who said what, negations). Exit 0: every sentence supported; "
        "1: one is not; 2: bad input.",
    )
    ver.add_argument("text", nargs="?", help="the answer, with [n] citations (- reads it from stdin)")
    ver.add_argument("--article", metavar="ID", help="the article it cites (needed when several are indexed)")
    ver.add_argument("--question", help="the question it answers: yes/no, how-many and when shapes, its names")
    ver.add_argument("--json", action="store_true", help="print the verdicts as JSON")
    ver.add_argument(
        "--batch",
        type=Path,
        metavar="FILE.jsonl",
        help='one {"id"?, "answer", "article"?, "question"?} per line; prints one JSON line each',
    )
    add = sub.add_parser(
        "add", parents=[common], help="add an article (text, Markdown, a saved HTML page or a PDF) to the index"
    )
    add.add_argument("file", metavar="FILE", help="the article's file; - reads pasted text from stdin")
    add.add_argument("--id", dest="article_id", metavar="ID", help="its id (default: made from its title)")
    add.add_argument("--title", help="its title (default: the page's title, or the first line)")
    add.add_argument("--json", action="store_true", help="print the added article as JSON")

    ls = sub.add_parser("list", parents=[common], help="list the indexed articles")
    ls.add_argument("--json", action="store_true", help="print the articles as JSON")

    rm = sub.add_parser("remove", parents=[common], help="remove an article from the index and the articles folder")
    rm.add_argument("article_id", metavar="ID", help="the article's id (`bot list` shows them)")
    rm.add_argument("--json", action="store_true", help="print the removed article as JSON")

    index = sub.add_parser("index", parents=[common], help="build the index or show its status")
    index.add_argument("action", choices=["build", "status"])

    ev = sub.add_parser("eval", parents=[common], help="evaluate against gold questions (JSONL or SQuAD)")
    ev.add_argument("gold", nargs="?", type=Path, help="gold JSONL file (see README)")
    ev.add_argument("--squad", type=Path, metavar="FILE.json", help="a SQuAD v1.1/v2.0 file (PIAF too) instead")
    ev.add_argument(
        "--squad-mode",
        choices=["paragraph", "article", "sections", "other-paragraph"],
        default="paragraph",
        help="paragraph: each question asked of its paragraph (default); article: of the whole article, "
        "all paragraphs joined; sections: of its own 8 consecutive paragraphs joined; "
        "other-paragraph: of another paragraph that lacks its answer (unanswerable)",
    )
    ev.add_argument("--limit", type=int, metavar="N", help="at most N questions, spread evenly over the file")
    ev.add_argument("--engine", choices=["auto", "llm", "extractive"], help="engine to evaluate (default auto)")
    ev.add_argument("--out", type=Path, default=Path("eval/out"), help="report folder (default eval/out)")
    ev.add_argument("--article", metavar="ID", help="only questions about this article")

    serve = sub.add_parser("serve", parents=[common], help="start the web UI (Gradio)")
    serve.add_argument("--host", help="address to listen on (env ARTICLE_QA_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (env ARTICLE_QA_PORT, default 7860)")
    serve.add_argument("--share", action="store_true", help="also publish a public gradio.live link (off by default)")

    llm = sub.add_parser(
        "llm-server",
        parents=[common],
        help="serve the bundled LLM over HTTP (OpenAI-compatible) for several app processes",
        description="Serve the bundled GGUF (or ARTICLE_QA_LLM_MODEL's) as a llama.cpp HTTP server; point apps at it "
        "with ARTICLE_QA_LLM_URL=http://HOST:PORT/v1. Clients must send ARTICLE_QA_LLM_API_KEY when it is set.",
    )
    llm.add_argument(
        "--host", dest="llm_host", metavar="HOST", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    llm.add_argument("--port", dest="llm_port", metavar="PORT", type=int, default=8080, help="port (default 8080)")
    llm.add_argument(
        "--parallel", type=int, default=2, metavar="N", help="requests decoded together, one slot each (default 2)"
    )
    llm.add_argument(
        "--idle-slots",
        choices=["swap", "keep"],
        default="swap",
        help="swap: llama.cpp's default, an idle slot's prompt moves to a RAM cache when another task starts; "
        "keep: each slot keeps its prompt (bench/scale_out_results.md compares them)",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        names = ("seeds", "index", "embed_model", "cache", "threads", "top_k", "engine", "host", "port")
        settings = Settings.load({name: getattr(args, name, None) for name in names})
        if args.command == "llm-server":
            from .llm_server import serve_forever

            # the server runs the model file itself, whatever URL the environment points apps at
            return serve_forever(
                replace(settings, llm_url=""), args.llm_host, args.llm_port, args.parallel, args.idle_slots
            )
        from .pipeline import Bot

        bot = Bot(settings)
        if args.command == "index":
            return _index(bot, args.action)
        if args.command == "serve":
            return _serve(bot, args.share)
        if args.command == "eval":
            return _eval(bot, args)
        if args.command == "verify":
            return _verify(bot, args)
        if args.command in ("add", "list", "remove"):
            return _library(bot, args)
        return _ask(bot, args)
    except BotError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _index(bot: Any, action: str) -> int:
    if action == "build":
        index = bot.build(progress=sys.stderr.isatty())
        for w in bot.warnings:
            print(f"warning: {w}", file=sys.stderr)
        print(
            f"indexed {len(index.sentences)} sentences from {len(index.article_ids)} article(s) "
            f"into {bot.settings.index} with {index.manifest['embed_model']}"
        )
        return 0
    status = bot.status()
    if not status.exists:
        print(f"no index in {bot.settings.index}: run `bot index build`")
        return 1
    m = status.manifest or {}
    print(f"index: {bot.settings.index}  model: {m.get('embed_model', '?')}  dim: {m.get('dim', '?')}")
    print(f"built: {m.get('built_at', '?')}")
    for aid, meta in (m.get("articles") or {}).items():
        print(
            f"  {aid}: {meta['sentences']} sentences, {meta.get('lang', '?')}, {meta.get('source_url') or 'no source'}"
        )
    if status.current:
        print("status: current")
        return 0
    print("status: stale (`bot ask` rebuilds it; or run `bot index build`)")
    for r in status.reasons:
        print(f"  - {r}")
    return 1


def _library(bot: Any, args: argparse.Namespace) -> int:
    from .library import read_input

    if args.command == "list":
        found = bot.articles()
        if args.json:
            print(json.dumps([a.to_json() for a in found], ensure_ascii=False, indent=1))
            return 0
        print(f"{'id':<34} {'sentences':>9}  {'added':<20} title / source")
        for a in found:
            added = (a.added or "-")[:19].replace("T", " ")
            print(f"{a.id:<34} {a.sentences:>9}  {added:<20} {a.title}")
            print(f"{'':<34} {'':>9}  {'':<20} {a.source_url or 'no source'}")
        return 0
    if args.command == "remove":
        info = bot.remove_article(args.article_id)
        if args.json:
            print(json.dumps(info.to_json(), ensure_ascii=False))
        else:
            print(f"removed {info.id} ({info.sentences} sentences); {len(bot.index.article_ids)} article(s) left")
        return 0
    data, name = read_input(args.file, bot.settings.max_article_chars)

    def progress(fraction: float, message: str) -> None:
        if sys.stderr.isatty():
            print(f"\r{100 * fraction:3.0f}% {message:<60}", end="", file=sys.stderr, flush=True)

    info = bot.add_article(data, name=name, article_id=args.article_id, title=args.title, progress=progress)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    if args.json:
        print(json.dumps(info.to_json(), ensure_ascii=False))
    else:
        print(f"added {info.id}: {info.title!r} ({info.sentences} sentences, {info.format}, {info.lang})")
        if info.source_url:
            print(f"  source: {info.source_url}")
        print(f'  ask it: bot ask "…" --article {info.id}')
    return 0


def _eval(bot: Any, args: argparse.Namespace) -> int:
    from dataclasses import replace

    from .datasets import load_squad
    from .evaluate import evaluate, squad_workspace, write_report
    from .gold import load_gold
    from .pipeline import Bot

    if (args.gold is None) == (args.squad is None):
        raise QuestionError("give a gold JSONL file or --squad FILE.json (one of them)")
    if args.squad is not None:
        work = squad_workspace()
        qa = load_squad(args.squad, args.squad_mode).sample(args.limit)
        qa.write_articles(work / "seeds")
        items = qa.items
        bot = Bot(replace(bot.settings, seeds=work / "seeds", index=work / "index"))
        title = f"Evaluation on {args.squad.name} ({args.squad_mode} mode)"
    else:
        if not args.gold.is_file():
            raise QuestionError(f"gold file {args.gold} does not exist")
        items = load_gold(args.gold, bot.index.sentences)[: args.limit]
        title = f"Evaluation on {args.gold}"
    if args.article:
        items = [i for i in items if (i.article or bot.index.article_ids[0]) == args.article]
    engine = args.engine or bot.settings.engine
    result = evaluate(bot, items, engine, progress=sys.stderr.isatty())
    report = write_report(result, args.out, title)
    m = result.metrics
    print(
        f"{len(items)} questions, engine {engine}: answer accuracy {100 * m['answer_accuracy']:.1f}%, "
        f"answer+citation {100 * m['answer_cited']:.1f}%, unanswerable abstained "
        f"{100 * m['unanswerable_abstained']:.1f}%, invalid citation ids {int(m['invalid_citation_ids'])}, "
        f"confidence AUROC {m['confidence_auroc']:.3f}, ECE {m['confidence_ece']:.3f}"
    )
    print(f"report: {report}")
    return 0


def _serve(bot: Any, share: bool) -> int:
    from .ui import CSS, build_demo

    demo = build_demo(bot)
    demo.launch(server_name=bot.settings.host, server_port=bot.settings.port, share=share, css=CSS)
    return 0


def _ask(bot: Any, args: argparse.Namespace) -> int:
    if args.batch is not None:
        if args.question:
            raise QuestionError("give either a question or --batch FILE, not both")
        return _batch(bot, args)
    if args.question is None:
        raise QuestionError('no question given: bot ask "Combien de soldats nord-coréens ?" (or - to read stdin)')
    question = args.question
    if question == "-":
        # a little more than the longest question allowed: enough to say it is too long
        data = sys.stdin.buffer.read(bot.settings.max_question_chars * 4 + 1)
        try:
            question = data.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise QuestionError(
                f"the question on standard input is not valid UTF-8 (byte {e.start}): send UTF-8"
            ) from None
    answer = bot.ask(question, article=args.article, engine=args.engine, top_k=args.top_k)
    if answer.notice:
        print(f"note: {answer.notice}", file=sys.stderr)
    if args.json:
        print(json.dumps(answer.to_json(), ensure_ascii=False))
        return 0
    print(answer.answer)
    for c in answer.citations:
        print(f"  [{c.n}] {c.sentence_id} (score {c.score:.3f})")
    return 0


def _batch(bot: Any, args: argparse.Namespace) -> int:
    try:
        lines = args.batch.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise QuestionError(f"cannot read batch file {args.batch}: {e}") from None
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        out: dict[str, Any]
        item_id = None
        try:
            item = json.loads(line)
            if not isinstance(item, dict) or not isinstance(item.get("question"), str):
                raise QuestionError(f'line {lineno}: expected an object with a "question" string')
            item_id = item.get("id")
            history = item.get("history") or []
            if not (isinstance(history, list) and all(isinstance(t, list) and len(t) == 2 for t in history)):
                raise QuestionError(f"line {lineno}: history must be a list of [user, assistant] pairs")
            answer = bot.ask(
                item["question"],
                history=history,
                article=item.get("article") or args.article,
                engine=args.engine,
                top_k=args.top_k,
            )
            out = answer.to_json(id=item_id)
        except json.JSONDecodeError as e:
            out = {"error": f"line {lineno} is not valid JSON: {e.msg}"}
        except BotError as e:
            out = {"id": item_id, "error": str(e)} if item_id is not None else {"error": str(e)}
        print(json.dumps(out, ensure_ascii=False), flush=True)
    return 0


def _verify(bot: Any, args: argparse.Namespace) -> int:
    if args.batch is not None:
        if args.text:
            raise AnswerError("give either a text or --batch FILE, not both")
        return _verify_batch(bot, args)
    if args.text is None:
        raise AnswerError('no text given: bot verify --article ID "… 10 000 soldats [5]." (or - to read stdin)')
    text = args.text
    if text == "-":
        data = sys.stdin.buffer.read(200_001)
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise AnswerError(f"the text on standard input is not valid UTF-8 (byte {e.start}): send UTF-8") from None
    result = bot.verify(text, article=args.article, question=args.question)
    if args.json:
        print(json.dumps(result.to_json(), ensure_ascii=False))
        return 0 if result.supported else 1
    print(render_verification(result))
    return 0 if result.supported else 1


def render_verification(result: Any) -> str:
    """The verdicts as the CLI prints them: one line per sentence, its reasons below."""
    n_bad = sum(not s.supported for s in result.sentences)
    head = (
        "supported: every sentence rests on what it cites"
        if result.supported
        else f"NOT SUPPORTED: {n_bad} of {len(result.sentences)} sentence(s) fail"
        + (", and the answer's shape" if result.answer_reasons else "")
    )
    lines = [head]
    for i, s in enumerate(result.sentences, 1):
        lines.append(f"{i}. {'ok ' if s.supported else 'NO '} {s.text}")
        lines += [f"     - {r}" for r in s.reasons]
        lines += [f"     · {n}" for n in s.notes]
    lines += [f"answer: {r}" for r in result.answer_reasons]
    return "\n".join(lines)


def _verify_batch(bot: Any, args: argparse.Namespace) -> int:
    try:
        lines = args.batch.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise AnswerError(f"cannot read batch file {args.batch}: {e}") from None
    worst = 0
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        out: dict[str, Any]
        item_id = None
        try:
            item = json.loads(line)
            if not isinstance(item, dict) or not isinstance(item.get("answer"), str):
                raise AnswerError(f'line {lineno}: expected an object with an "answer" string')
            item_id = item.get("id")
            article = item.get("article") or args.article
            result = bot.verify(item["answer"], article=article, question=item.get("question"))
            out = {"id": item_id, **result.to_json()}
            worst = max(worst, 0 if result.supported else 1)
        except json.JSONDecodeError as e:
            out = {"id": item_id, "error": f"line {lineno} is not valid JSON: {e.msg}"}
            worst = 2
        except BotError as e:
            out = {"id": item_id, "error": str(e)}
            worst = 2
        print(json.dumps(out, ensure_ascii=False), flush=True)
    return worst
