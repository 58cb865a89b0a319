"""Evaluate the bot against gold questions: retrieval, answers, citations,
abstention and latency, by language and question type, with a readable report.

    >>> result = evaluate(bot, load_gold(path, bot.index.sentences), engine="extractive")
    >>> result.metrics["answer_accuracy"]
    >>> write_report(result, Path("eval/out"))

No LLM judge: every number is computed locally from the gold file (see
bot/metrics.py for the definitions).
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .cite import citations_in
from .errors import BotError
from .gold import GoldError, GoldItem
from .metrics import (
    abstention_scores,
    answer_correct,
    citation_precision,
    citation_recall,
    mean,
    percentile,
    recall_at_k,
    reciprocal_rank,
    token_f1,
)
from .pipeline import Bot

# Quality metrics the regression gate watches (latency is for bench/, not tests).
GATED = (
    "answer_accuracy",
    "answer_cited",
    "unanswerable_abstained",
    "citation_precision",
    "citation_recall",
    "recall@1",
    "recall@3",
    "mrr",
)


@dataclass
class Prediction:
    id: str
    question: str
    lang: str
    type: str
    answerable: bool
    answer: str
    engine: str
    abstained: bool
    citations: list[dict[str, Any]]
    ranked: list[str]
    support: list[str]
    accepted: list[str]
    correct: bool  # right answer (answerable) or abstained (unanswerable)
    cited_support: float  # citation recall for this item (NaN if no support)
    f1: float
    citation_precision: float
    invalid_citations: int
    first_token_ms: float | None
    total_ms: float
    notice: str | None = None
    error: str | None = None
    scores: list[float] = field(default_factory=list)  # of ``ranked``, best first


@dataclass
class EvalResult:
    engine: str
    predictions: list[Prediction]
    metrics: dict[str, float]
    by_lang: dict[str, dict[str, float]] = field(default_factory=dict)
    by_type: dict[str, dict[str, float]] = field(default_factory=dict)


def predict(bot: Bot, item: GoldItem, engine: str) -> Prediction:
    history = [list(t) for t in item.history]
    try:
        a = bot.ask(item.question, history=history, article=item.article, engine=engine, top_k=5)
    except BotError as e:
        return Prediction(
            item.id,
            item.question,
            item.lang,
            item.type,
            item.answerable,
            "",
            engine,
            False,
            [],
            [],
            list(item.support_ids),
            list(item.answers),
            False,
            math.nan,
            math.nan,
            math.nan,
            0,
            None,
            0.0,
            error=str(e),
        )
    ranked = [h.sentence.id for h in a.hits]
    cited = [(c.sentence_id, c.text) for c in a.citations]
    valid_numbers = {c.n for c in a.citations}
    invalid = sum(1 for n in citations_in(a.answer) if n not in valid_numbers)
    if item.answerable:
        correct = not a.abstained and answer_correct(a.answer, item.answers)
    else:
        correct = a.abstained
    return Prediction(
        id=item.id,
        question=item.question,
        lang=item.lang or a.lang,
        type=item.type or "?",
        answerable=item.answerable,
        answer=a.answer,
        engine=a.engine,
        abstained=a.abstained,
        citations=[dict(c.__dict__) for c in a.citations],
        ranked=ranked,
        support=list(item.support_ids),
        accepted=list(item.answers),
        correct=correct,
        cited_support=citation_recall([c[0] for c in cited], item.support_ids) if item.answerable else math.nan,
        f1=token_f1(a.answer, item.answers)
        if item.answerable and not a.abstained
        else (0.0 if item.answerable else math.nan),
        citation_precision=citation_precision(cited, item.support_ids, item.answers),
        invalid_citations=invalid,
        first_token_ms=a.timings_ms.get("first_token_ms"),
        total_ms=a.timings_ms.get("total_ms", 0.0),
        notice=a.notice,
        scores=[round(h.score, 6) for h in a.hits],
    )


def summarize(preds: Sequence[Prediction]) -> dict[str, float]:
    answerable = [p for p in preds if p.answerable]
    abst_p, abst_r = abstention_scores([p.abstained for p in preds], [p.answerable for p in preds])
    firsts = [p.first_token_ms for p in preds if p.first_token_ms is not None]
    totals = [p.total_ms for p in preds]
    return {
        "n": float(len(preds)),
        "n_answerable": float(len(answerable)),
        "answer_accuracy": mean(float(p.correct) for p in answerable),
        # right answer AND at least one support sentence cited: the quality bar
        "answer_cited": mean(float(p.correct and p.cited_support == 1.0) for p in answerable),
        "token_f1": mean(p.f1 for p in answerable),
        "unanswerable_abstained": mean(float(p.abstained) for p in preds if not p.answerable),
        "abstention_precision": abst_p,
        "abstention_recall": abst_r,
        "citation_precision": mean(p.citation_precision for p in preds),
        "citation_recall": mean(p.cited_support for p in answerable),
        "invalid_citation_ids": float(sum(p.invalid_citations for p in preds)),
        "recall@1": mean(recall_at_k(p.ranked, p.support, 1) for p in answerable),
        "recall@3": mean(recall_at_k(p.ranked, p.support, 3) for p in answerable),
        "recall@5": mean(recall_at_k(p.ranked, p.support, 5) for p in answerable),
        "mrr": mean(reciprocal_rank(p.ranked, p.support) for p in answerable),
        "first_token_ms_p50": percentile(firsts, 50),
        "first_token_ms_p95": percentile(firsts, 95),
        "total_ms_p50": percentile(totals, 50),
        "total_ms_p95": percentile(totals, 95),
        "errors": float(sum(1 for p in preds if p.error)),
    }


def evaluate(
    bot: Bot,
    items: Sequence[GoldItem],
    engine: str = "auto",
    progress: bool = False,
    on_item: Callable[[Prediction], None] | None = None,
) -> EvalResult:
    iterator: Any = items
    if progress:
        from tqdm import tqdm

        iterator = tqdm(items, desc=f"eval ({engine})", unit="q")
    preds = []
    for item in iterator:
        p = predict(bot, item, engine)
        preds.append(p)
        if on_item:
            on_item(p)
    groups: dict[str, dict[str, list[Prediction]]] = {"lang": {}, "type": {}}
    for p in preds:
        groups["lang"].setdefault(p.lang, []).append(p)
        groups["type"].setdefault(p.type, []).append(p)
    return EvalResult(
        engine,
        preds,
        summarize(preds),
        {k: summarize(v) for k, v in sorted(groups["lang"].items())},
        {k: summarize(v) for k, v in sorted(groups["type"].items())},
    )


# ---------------------------------------------------------------- report


def _fmt(v: float, pct: bool = True) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{100 * v:.1f}" if pct else f"{v:.0f}"


def failures(result: EvalResult, limit: int = 15) -> list[Prediction]:
    bad = [p for p in result.predictions if not p.correct or (p.answerable and p.cited_support == 0.0)]
    return bad[:limit]


def report_markdown(result: EvalResult, title: str) -> str:
    m = result.metrics
    lines = [
        f"# {title}",
        "",
        f"Engine: **{result.engine}**, {int(m['n'])} questions "
        f"({int(m['n_answerable'])} answerable). Percentages; latency in ms.",
        "",
    ]
    lines += ["| metric | value |", "|---|---|"]
    for key in (
        "answer_accuracy",
        "answer_cited",
        "token_f1",
        "unanswerable_abstained",
        "abstention_precision",
        "abstention_recall",
        "citation_precision",
        "citation_recall",
        "recall@1",
        "recall@3",
        "recall@5",
        "mrr",
    ):
        lines.append(f"| {key} | {_fmt(m[key])} |")
    lines.append(f"| invalid citation ids | {int(m['invalid_citation_ids'])} |")
    lines.append(
        f"| first token p50 / p95 | {_fmt(m['first_token_ms_p50'], False)} / {_fmt(m['first_token_ms_p95'], False)} |"
    )
    lines.append(f"| total p50 / p95 | {_fmt(m['total_ms_p50'], False)} / {_fmt(m['total_ms_p95'], False)} |")
    for name, table in (("language", result.by_lang), ("question type", result.by_type)):
        lines += [
            "",
            f"## By {name}",
            "",
            f"| {name} | n | answer acc. | answer + citation | abstained (unanswerable) | citation prec. | recall@3 |",
            "|---|---|---|---|---|---|---|",
        ]
        for key, s in table.items():
            lines.append(
                f"| {key} | {int(s['n'])} | {_fmt(s['answer_accuracy'])} | {_fmt(s['answer_cited'])} | "
                f"{_fmt(s['unanswerable_abstained'])} | {_fmt(s['citation_precision'])} | {_fmt(s['recall@3'])} |"
            )
    bad = failures(result)
    lines += [
        "",
        f"## Failures ({len([p for p in result.predictions if not p.correct])} wrong; first {len(bad)} shown)",
        "",
    ]
    for p in bad:
        why = (
            "should have abstained"
            if not p.answerable
            else ("abstained" if p.abstained else ("wrong answer" if not p.correct else "support not cited"))
        )
        cites = ", ".join(c["sentence_id"].split(":")[-1] for c in p.citations) or "none"
        lines += [
            f"**{p.id}** ({p.lang}, {p.type}): {why}",
            "",
            f"- question: {p.question}",
            f"- answer ({p.engine}): {p.answer}",
            f"- cited: {cites}; gold: "
            f"{', '.join(s.split(':')[-1] for s in p.support) or 'none'}; accepted: {p.accepted}",
        ]
        if p.notice:
            lines.append(f"- notice: {p.notice}")
        lines.append("")
    return "\n".join(lines) + "\n"


def write_report(result: EvalResult, out: Path, title: str = "Evaluation") -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(report_markdown(result, title), encoding="utf-8")
    metrics = {"engine": result.engine, "metrics": result.metrics, "by_lang": result.by_lang, "by_type": result.by_type}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=_nan_none), encoding="utf-8")
    with open(out / "predictions.jsonl", "w", encoding="utf-8") as f:
        for p in result.predictions:
            f.write(json.dumps(asdict(p), ensure_ascii=False, default=_nan_none) + "\n")
    _chart(result, out / "chart.png")
    return out / "report.md"


def _nan_none(v: Any) -> Any:
    return None


def _chart(result: EvalResult, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    types = list(result.by_type)
    values = [
        result.by_type[t]["answer_cited"]
        if result.by_type[t]["n_answerable"]
        else result.by_type[t]["unanswerable_abstained"]
        for t in types
    ]
    ax1.bar(types, [0 if math.isnan(v) else 100 * v for v in values], color="#d9a400")
    ax1.set_ylim(0, 100)
    ax1.set_ylabel("% right (answer + citation, or abstained)")
    ax1.set_title(f"By question type ({result.engine})")
    ax1.tick_params(axis="x", rotation=35)
    totals = [p.total_ms / 1000 for p in result.predictions]
    firsts = [p.first_token_ms / 1000 for p in result.predictions if p.first_token_ms is not None]
    ax2.hist(totals, bins=20, alpha=0.7, label="total")
    if firsts:
        ax2.hist(firsts, bins=20, alpha=0.7, label="first token")
    ax2.set_xlabel("seconds")
    ax2.set_title("Latency")
    ax2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


# ---------------------------------------------------------------- SQuAD


def load_squad(path: Path, folder: Path) -> list[GoldItem]:
    """SQuAD v1.1/v2.0: each paragraph becomes an article file in ``folder``; each
    question is asked of its own paragraph; the gold support is the sentence
    holding the answer span."""
    from .ingest import parse_article

    try:
        data = json.loads(path.read_text(encoding="utf-8"))["data"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise GoldError(f"{path} is not a SQuAD JSON file ({e}): expected {{'data': [...]}}") from None
    folder.mkdir(parents=True, exist_ok=True)
    items: list[GoldItem] = []
    for di, doc in enumerate(data):
        for pi, para in enumerate(doc.get("paragraphs", [])):
            article_id = f"squad-{di:04d}-{pi:03d}"
            context = para["context"]
            (folder / f"{article_id}.txt").write_text(context, encoding="utf-8")
            article = parse_article(article_id, context)
            for qa in para.get("qas", []):
                impossible = bool(qa.get("is_impossible", False))
                answers = [a["text"] for a in qa.get("answers", [])] if not impossible else []
                support: list[str] = []
                for a in qa.get("answers", []) if not impossible else []:
                    # the sentence holding the span: nearest sentence containing the text to answer_start
                    holders = [s for s in article.sentences if a["text"] in s.text]
                    if holders:
                        best = min(holders, key=lambda s: abs(s.start - a.get("answer_start", 0)))
                        if best.id not in support:
                            support.append(best.id)
                items.append(
                    GoldItem(
                        id=str(qa.get("id", f"{article_id}-{len(items)}")),
                        question=qa["question"],
                        answerable=not impossible,
                        answers=tuple(dict.fromkeys(answers)),
                        support=(),
                        support_ids=tuple(support),
                        lang="",
                        type="unanswerable" if impossible else "squad",
                        article=article_id,
                    )
                )
    return items


def squad_workspace() -> Path:
    return Path(tempfile.mkdtemp(prefix="article-qa-squad-"))
