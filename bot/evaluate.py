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
from .extractive import choose
from .gold import GoldItem
from .metrics import (
    abstention_scores,
    answer_correct,
    auroc,
    citation_precision,
    citation_recall,
    expected_calibration_error,
    mean,
    percentile,
    recall_at_k,
    reciprocal_rank,
    risk_coverage,
    token_f1,
)
from .pipeline import Bot
from .types import Answer

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
    confidence: float | None = None
    # Quoting/saying this would be right: answerable and an accepted answer in
    # what it cites or says (None: nothing to judge, e.g. an error)
    would_be_right: bool | None = None
    # The LLM's own answer when the checks after generation refused it and the extractive
    # answer was shown instead, and whether it held an accepted answer: what the check cost
    rejected: str | None = None
    rejected_right: bool | None = None


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
    # only a fallback answer carries the LLM's verification (bot/pipeline.py)
    rejected = " ".join(s.text for s in a.verification.sentences) if a.engine != "llm" and a.verification else None
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
        confidence=a.confidence,
        would_be_right=_would_be_right(a, item),
        rejected=rejected,
        rejected_right=item.answerable and answer_correct(rejected, item.answers) if rejected is not None else None,
    )


def _would_be_right(a: Answer, item: GoldItem) -> bool:
    """What the confidence predicts: the answer (or, for an abstention, the
    sentence it would have quoted) holds an accepted answer."""
    if not item.answerable:
        return False
    if not a.abstained:
        return answer_correct(a.answer, item.answers)
    chosen = choose(a.question, list(a.hits))
    return bool(chosen) and answer_correct(" ".join(h.sentence.text for h in chosen), item.answers)


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
        # the LLM's own answers that got past the claim check (not abstained, not
        # replaced by the extractive one), and how many of those are wrong
        "llm_shown": float(len(shown := [p for p in preds if p.engine == "llm" and not p.abstained])),
        "llm_shown_wrong": float(sum(not p.correct for p in shown)),
        # the LLM's answers the checks refused (the extractive one shown), and how many of those were right
        "llm_rejected": float(len(refused := [p for p in preds if p.rejected is not None])),
        "llm_rejected_right": float(sum(bool(p.rejected_right) for p in refused)),
        **confidence_scores(preds),
    }


def confidence_scores(preds: Sequence[Prediction]) -> dict[str, float]:
    """How well ``confidence`` predicts a right answer: AUROC and expected calibration error."""
    judged = [p for p in preds if p.confidence is not None and p.would_be_right is not None]
    probs = [float(p.confidence) for p in judged]  # type: ignore[arg-type]
    right = [bool(p.would_be_right) for p in judged]
    return {"confidence_auroc": auroc(probs, right), "confidence_ece": expected_calibration_error(probs, right)}


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


def _fmt(v: float, pct: bool = True, digits: int = 0) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{100 * v:.1f}" if pct else f"{v:.{digits}f}"


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
    lines.append(f"| confidence AUROC | {_fmt(m['confidence_auroc'], False, 3)} |")
    lines.append(f"| confidence ECE (10 bins) | {_fmt(m['confidence_ece'], False, 3)} |")
    lines.append(
        f"| first token p50 / p95 | {_fmt(m['first_token_ms_p50'], False)} / {_fmt(m['first_token_ms_p95'], False)} |"
    )
    lines.append(f"| total p50 / p95 | {_fmt(m['total_ms_p50'], False)} / {_fmt(m['total_ms_p95'], False)} |")
    if m.get("llm_shown"):
        wrong = [p.id for p in result.predictions if p.engine == "llm" and not p.abstained and not p.correct]
        lines.append(
            f"| LLM answers shown (passed the claim check) / wrong | {int(m['llm_shown'])} / "
            f"{int(m['llm_shown_wrong'])}{' (' + ', '.join(wrong) + ')' if wrong else ''} |"
        )
    if m.get("llm_rejected"):
        lost = [p.id for p in result.predictions if p.rejected_right]
        lines.append(
            f"| LLM answers refused by the checks (extractive shown) / of them right | {int(m['llm_rejected'])} / "
            f"{int(m['llm_rejected_right'])}{' (' + ', '.join(lost) + ')' if lost else ''} |"
        )
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
    _risk_coverage_chart(result, out / "risk_coverage.png", title)
    return out / "report.md"


def _nan_none(v: Any) -> Any:
    return None


def _risk_coverage_chart(result: EvalResult, path: Path, title: str) -> None:
    """Answered fraction against accuracy of what was answered, as the confidence threshold moves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    judged = [p for p in result.predictions if p.confidence is not None and p.would_be_right is not None]
    curve = risk_coverage([float(p.confidence) for p in judged], [bool(p.would_be_right) for p in judged])  # type: ignore[arg-type]
    fig, ax = plt.subplots(figsize=(6, 4.5))
    if curve:
        ax.plot([c for _, c, _ in curve], [100 * a for _, _, a in curve], color="#8a5a00")
        answered = [p for p in judged if not p.abstained]
        if answered:
            cov = len(answered) / len(judged)
            acc = sum(bool(p.would_be_right) for p in answered) / len(answered)
            ax.scatter([cov], [100 * acc], color="#d9a400", zorder=3, label=f"operating point ({cov:.0%} answered)")
            ax.legend(loc="lower left")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 100)
    ax.set_xlabel("share of questions answered (coverage)")
    ax.set_ylabel("% of answered questions right")
    ax.set_title(f"Risk-coverage: {title}"[:70], fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


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


def load_squad(path: Path, folder: Path, mode: str = "paragraph") -> list[GoldItem]:
    """SQuAD v1.1/v2.0 questions (bot/datasets.py), their articles written into ``folder``."""
    from .datasets import load_squad as load

    qa = load(path, mode)
    qa.write_articles(folder)
    return qa.items


def squad_workspace() -> Path:
    return Path(tempfile.mkdtemp(prefix="article-qa-squad-"))
