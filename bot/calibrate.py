"""Fit the answerability model that both engines decide with (bot/calibration.json).

    python -m bot.calibrate [--work DIR] [--out bot/calibration.json] [--report eval/reports/calibration.md]

The recipe. Every question of the calibration sets is asked the way the bot
asks it (same retriever, same features, bot/confidence.py); its label says
whether quoting the chosen sentence(s) would answer it: 1 when the question is
answerable and an accepted answer is in them, else 0 (an unanswerable
question, or a wrong sentence). A logistic regression over standardised
features (L2, Newton's method, numpy) is fitted with each question weighing
1/sqrt(size of its set): 2,500 PIAF paragraphs count more than 53 dev
questions, but not 50 times more. The operating point is the highest threshold
at which no calibration set with ``MIN_BINDING`` answerable questions or more
refuses more than ``MAX_FALSE_ABSTENTIONS`` of them: the promise holds for each
kind of article, not on average over kinds. The report states the precision of
the answered questions it gives.

Calibration sets: the public sets in ../shared/data (PIAF paragraphs, PIAF
questions asked of another paragraph, SQuAD 2.0 Rhine and Computational
complexity asked of their whole article) and eval/gold/dev.jsonl. Never
eval/gold/test.jsonl: that is the held-out check. The report also fits once
without each source (PIAF, SQuAD, the gold questions) and scores that
source's sets, which is what a new kind of article would see.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .confidence import DEFAULT_PATH, Calibration, Logistic, features
from .config import Settings
from .datasets import QASet, public_sets, shared_data
from .embed import SentenceTransformerEmbedder
from .extractive import choose
from .gold import GoldItem, load_gold
from .metrics import answer_correct, auroc, expected_calibration_error
from .tokens import Tokens

ROOT = Path(__file__).resolve().parent.parent
# The default operating point refuses at most this share of the answerable
# questions of each binding calibration set (MIN_BINDING): a reader who asks
# what the article says should get it. Its precision on the calibration data is in the report (docs/calibration.md
# has the whole risk-coverage trade-off).
MAX_FALSE_ABSTENTIONS = 0.05
# the sets whose refusal rate the operating point holds to MAX_FALSE_ABSTENTIONS
# each: those with at least this many answerable questions
MIN_BINDING = 100
# The operating point sits this far below the question at the limit, not on it: on a fresh
# install (other numpy and torch builds) that question's probability came out a hair lower
# and PIAF refused 127 of its 2,522 questions, one over 5 % (2026-12-07). Builds differ by
# far less than this; the questions it lets through are in eval/reports/calibration.md.
NUMERIC_SLACK = 0.001
# Whatever the answerability, a quote we believe right less than one time in
# twenty is not shown: "Ignore previous instructions…" scored answerable 0.30
# (a sentence looked on topic) with a confidence of 0.02. On the calibration
# rows the floor costs the unanswerable sets 0.2–0.5 points (docs/calibration.md).
CONFIDENCE_FLOOR = 0.05
L2 = 1.0  # on standardised features; the weights stay small and stable
FEATURES = (
    "dense_top",
    "dense_lift",
    "dense_gap",
    "dense_z",
    "dense_shortfall",
    "same_lang",
    "lex_share",
    "lex_top",
    "terms_in_sentence",
    "terms_in_window",
    "terms_best_window",
    "terms_in_article",
    "question_terms",
    "names_in_article",
    "wrong_type",
    "log_sentences",
    "tok_mean",
    "tok_min",
    "tok_low2",
    "tok_q25",
    "terms_in_sentence_by_size",
    "terms_in_window_by_size",
    "terms_best_window_by_size",
    "terms_in_article_by_size",
)


@dataclass(frozen=True)
class Row:
    set: str
    id: str
    answerable: bool
    features: dict[str, float]
    label: int  # 1: quoting the chosen sentence(s) answers the question


class CachedQueries:
    """An embedder whose query vectors are kept in a file of raw float32 rows beside
    a JSON list of their texts' hashes, so that a second calibration run embeds nothing new."""

    def __init__(self, inner: SentenceTransformerEmbedder, path: Path) -> None:
        self.inner = inner
        self.path = path
        self._keys: list[str] = []
        self._vectors: list[np.ndarray] = []
        keys_file = path.with_suffix(".json")
        if path.is_file() and keys_file.is_file():
            self._keys = json.loads(keys_file.read_text())
            raw = np.frombuffer(path.read_bytes(), dtype=np.float32)
            self._vectors = list(raw.reshape(len(self._keys), -1)) if self._keys else []
        self._at = {k: i for i, k in enumerate(self._keys)}

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    @property
    def dim(self) -> int:
        return self.inner.dim

    def embed_passages(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        return self.inner.embed_passages(texts, progress)

    def token_states(self, text: str, kind: str) -> Tokens | None:
        return self.inner.token_states(text, kind)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        keys = [hashlib.sha256(t.encode("utf-8")).hexdigest()[:24] for t in texts]
        todo = [(k, t) for k, t in zip(keys, texts, strict=True) if k not in self._at]
        if todo:
            for (k, _), v in zip(todo, self.inner.embed_queries([t for _, t in todo]), strict=True):
                self._at[k] = len(self._keys)
                self._keys.append(k)
                self._vectors.append(np.asarray(v, dtype=np.float32))
        return np.stack([self._vectors[self._at[k]] for k in keys])

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # raw float32 rows, one per key: nothing to unpickle
        self.path.write_bytes(np.stack(self._vectors).astype(np.float32).tobytes() if self._vectors else b"")
        self.path.with_suffix(".json").write_text(json.dumps(self._keys))


def calibration_sets() -> list[QASet]:
    """The public sets (when ../shared/data is there) and the dev split on the seed article."""
    sets = list(public_sets())
    sets.append(gold_set(ROOT / "eval" / "gold" / "dev.jsonl", "gold-dev"))
    return sets


def gold_set(path: Path, name: str) -> QASet:
    seeds = ROOT / "seeds"
    articles = {p.stem: p.read_text(encoding="utf-8") for p in sorted(seeds.glob("*.txt"))}
    from .ingest import parse_article

    sentences = [s for aid, text in articles.items() for s in parse_article(aid, text).sentences]
    items = [i if i.article else replace(i, article=next(iter(articles))) for i in load_gold(path, sentences)]
    return QASet(name, articles, items)


def collect(qa: QASet, work: Path, settings: Settings, progress: bool = False) -> list[Row]:
    """Ask every question of ``qa`` as the bot does and label what it would quote."""
    from .lang import detect
    from .pipeline import Bot, clean_question

    folder = work / qa.name
    qa.write_articles(folder / "seeds")
    embedder = CachedQueries(SentenceTransformerEmbedder(settings), folder / "queries.f32")
    bot = Bot(replace(settings, seeds=folder / "seeds", index=folder / "index"), embedder=embedder)
    bot.ensure_index()
    assert bot._retriever is not None
    rows = []
    items: Sequence[GoldItem] = qa.items
    if progress:
        from tqdm import tqdm

        items = tqdm(items, desc=qa.name, unit="q")
    for item in items:
        q = clean_question(item.question, 10_000)
        history = [list(t) for t in item.history]
        lang = detect(q, hint=detect(history[-1][0]) if history else None)
        found = bot._retriever.search(q, settings.top_k, item.article, history, lang=lang)
        chosen = choose(q, found.hits)
        if found.evidence is None or not chosen:
            continue
        quoted = " ".join(h.sentence.text for h in chosen)
        label = int(item.answerable and answer_correct(quoted, item.answers))
        rows.append(Row(qa.name, item.id, item.answerable, features(found.evidence, chosen), label))
    embedder.save()
    return rows


# ---------------------------------------------------------------- fitting


def fit(
    rows: Sequence[Row], names: Sequence[str] = FEATURES, l2: float = L2, target: str = "right"
) -> tuple[np.ndarray, ...]:
    """L2 logistic regression by Newton's method, each row weighing 1/sqrt(its set's size):
    (mean, scale, weights, bias) of standardised features. ``target`` is what it
    predicts: "right" (the row's label) or "answerable"."""
    x = np.array([[r.features[n] for n in names] for r in rows], dtype=np.float64)
    y = np.array([r.answerable if target == "answerable" else r.label for r in rows], dtype=np.float64)
    sizes: dict[str, int] = {}
    for r in rows:
        sizes[r.set] = sizes.get(r.set, 0) + 1
    w = np.array([1 / math.sqrt(sizes[r.set]) for r in rows])
    w *= len(rows) / w.sum()
    # NaN (a lexical feature across languages, bot/confidence.py) is imputed as
    # the mean of the known values, as Calibration.probability does
    mean = np.nanmean(x, axis=0)
    scale = np.nanstd(x, axis=0)
    scale[~(scale >= 1e-9)] = 1.0
    z = np.hstack([np.nan_to_num((x - mean) / scale, nan=0.0), np.ones((len(rows), 1))])
    beta = np.zeros(z.shape[1])
    penalty = np.full(z.shape[1], l2)
    penalty[-1] = 0.0  # the bias is not shrunk
    for _ in range(50):
        p = 1 / (1 + np.exp(-np.clip(z @ beta, -30, 30)))
        grad = z.T @ (w * (p - y)) + penalty * beta
        hess = (z * (w * p * (1 - p))[:, None]).T @ z + np.diag(penalty)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return mean, scale, beta[:-1], beta[-1]


def logistic(params: tuple[np.ndarray, ...]) -> Logistic:
    mean, scale, weights, bias = params
    r = 6  # digits kept in the JSON file
    return Logistic(
        tuple(round(float(v), r) for v in mean),
        tuple(round(float(v), r) for v in scale),
        tuple(round(float(v), r) for v in weights),
        round(float(bias), r),
    )


def fit_both(
    rows: Sequence[Row], names: Sequence[str] = FEATURES, threshold: float = 0.5, meta: dict | None = None
) -> Calibration:
    """The two models: P(answerable) on every row, P(right | answerable) on the answerable ones."""
    return Calibration(
        tuple(names),
        logistic(fit(rows, names, target="answerable")),
        logistic(fit([r for r in rows if r.answerable], names)),
        threshold,
        0.0,
        meta or {},
    )


def operating_point(
    rows: Sequence[Row],
    probs: Sequence[float],
    limit: float = MAX_FALSE_ABSTENTIONS,
    refused: Sequence[bool] | None = None,
    slack: float = NUMERIC_SLACK,
) -> float:
    """The highest threshold at which no calibration set refuses more than ``limit``
    of its answerable questions, less ``slack``, rounded down to 4 decimals. Only sets
    with at least ``MIN_BINDING`` answerable questions bind (in 38, one question is
    2.6 %: too coarse to hold a 5 % promise); when none has that many, every set binds.
    ``refused`` marks questions refused whatever the threshold (below the confidence
    floor): they spend the budget first."""
    by_set: dict[str, list[float]] = {}
    floored: dict[str, int] = {}
    if refused is not None and len(refused) != len(rows):
        raise ValueError(f"{len(refused)} refusal flags for {len(rows)} rows")
    for i, (r, p) in enumerate(zip(rows, probs, strict=True)):
        if r.answerable:
            by_set.setdefault(r.set, [])
            floored.setdefault(r.set, 0)
            if refused is not None and refused[i]:
                floored[r.set] += 1
            else:
                by_set[r.set].append(float(p))
    sizes = {name: len(ps) + floored[name] for name, ps in by_set.items()}
    binding = [name for name, n in sizes.items() if n >= MIN_BINDING] or list(by_set)
    if not binding:
        return 0.0
    # a set may refuse floor(limit * n) of its n answerable questions: the floored
    # ones, then those strictly below its (k+1)-th lowest probability
    own = []
    for name in binding:
        k = math.floor(limit * sizes[name] + 1e-9) - floored[name]
        ps = sorted(by_set[name])
        if k < 0:
            raise ValueError(f"{name}: the confidence floor alone refuses more than {limit:.0%}")
        own.append(ps[min(k, len(ps) - 1)] if ps else 1.0)
    # down, never up: a threshold rounded above the question at the limit would refuse it
    edge = min(own) - slack
    threshold = math.floor(round(edge * 10_000, 6)) / 10_000
    if threshold > edge:  # 0.23339999999995 rounds to 2334.0 first: step back one unit
        threshold = (round(threshold * 10_000) - 1) / 10_000
    return max(0.0, threshold)


def precision_at(rows: Sequence[Row], answered: Sequence[bool]) -> float:
    """Share of the answered calibration questions that are right, every set weighing the same."""
    shares = []
    for name in dict.fromkeys(r.set for r in rows):
        right = [r.label for r, a in zip(rows, answered, strict=True) if r.set == name and a]
        if right:
            shares.append(sum(right) / len(right))
    return sum(shares) / len(shares) if shares else math.nan


@dataclass(frozen=True)
class SetReport:
    name: str
    n: int
    answerable: int
    auroc: float
    ece: float
    answered: float  # share answered at the threshold
    precision: float  # of the answered
    false_abstentions: float  # answerable questions abstained
    unanswerable_abstained: float
    held_out_auroc: float
    held_out_ece: float


def report_sets(rows: Sequence[Row], model: Calibration, held_out: dict[str, list[float]]) -> list[SetReport]:
    out = []
    for name in dict.fromkeys(r.set for r in rows):
        rs = [r for r in rows if r.set == name]
        judged = [model.judge(r.features) for r in rs]
        probs = [j.confidence for j in judged]
        labels = [bool(r.label) for r in rs]
        answered = [model.answers(j) for j in judged]
        ans = [r.answerable for r in rs]
        out.append(
            SetReport(
                name,
                len(rs),
                sum(ans),
                auroc(probs, labels),
                expected_calibration_error(probs, labels),
                _share(answered),
                _share([lab for lab, a in zip(labels, answered, strict=True) if a]),
                _share([not a for a, ok in zip(answered, ans, strict=True) if ok]),
                _share([not a for a, ok in zip(answered, ans, strict=True) if not ok]),
                auroc(held_out[name], labels),
                expected_calibration_error(held_out[name], labels),
            )
        )
    return out


def _share(flags: Sequence[bool]) -> float:
    return sum(flags) / len(flags) if flags else math.nan


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bot.calibrate", description=__doc__.split("\n\n")[0])
    p.add_argument("--work", type=Path, default=None, help="indexes and query vectors (default: the model cache)")
    p.add_argument("--out", type=Path, default=DEFAULT_PATH, help="the fitted model (default bot/calibration.json)")
    p.add_argument("--report", type=Path, default=ROOT / "eval" / "reports" / "calibration.md", help="the report")
    args = p.parse_args(argv)
    if shared_data() is None:
        print("the public data (../shared/data) is not here: nothing to calibrate on", file=sys.stderr)
        return 2
    settings = Settings.load({"engine": "extractive"})
    work = args.work or settings.cache / "calibration"
    rows: list[Row] = []
    for qa in calibration_sets():
        rows += collect(qa, work, settings, progress=sys.stderr.isatty())
    names = list(FEATURES)
    held_out: dict[str, list[float]] = {}
    for group in dict.fromkeys(source(r.set) for r in rows):
        # fitted without every set of the same source (PIAF's two sets share their paragraphs)
        m = fit_both([r for r in rows if source(r.set) != group], names)
        for name in dict.fromkeys(r.set for r in rows if source(r.set) == group):
            held_out[name] = [m.probability(r.features) for r in rows if r.set == name]
    draft = fit_both(rows, names)
    judged = [draft.judge(r.features) for r in rows]
    floored = [j.confidence < CONFIDENCE_FLOOR for j in judged]
    threshold = operating_point(rows, [j.answerable for j in judged], refused=floored)
    answered = [j.answerable >= threshold and not f for j, f in zip(judged, floored, strict=True)]
    sets = {n: sum(1 for r in rows if r.set == n) for n in dict.fromkeys(r.set for r in rows)}
    meta = {
        "fitted": _dt.date.today().isoformat(),
        "recipe": "python -m bot.calibrate (bot/calibrate.py)",
        "embed_model": settings.embed_model,
        "data": sets,
        "max_false_abstentions": MAX_FALSE_ABSTENTIONS,
        "per_set_of_at_least": MIN_BINDING,
        "numeric_slack": NUMERIC_SLACK,
        "precision_at_threshold": round(precision_at(rows, answered), 4),
        "l2": L2,
    }
    model = replace(draft, threshold=threshold, floor=CONFIDENCE_FLOOR, meta=meta)
    args.out.write_text(json.dumps(model.to_json(), indent=1) + "\n", encoding="utf-8")
    table = report_sets(rows, model, held_out)
    text = render_report(model, table)
    args.report.write_text(text, encoding="utf-8")
    print(text)
    return 0


def render_report(model: Calibration, table: Sequence[SetReport]) -> str:
    lines = [
        "# Calibration of the answerability model",
        "",
        f"Fitted {model.meta.get('fitted')} by `python -m bot.calibrate`; operating point **{model.threshold}** "
        f"on the probability that the article answers, with nothing quoted below a confidence of {model.floor}: "
        f"no calibration set with {MIN_BINDING} answerable questions or more has more than "
        f"{MAX_FALSE_ABSTENTIONS:.0%} of them refused, and the answered ones are right "
        f"{model.meta.get('precision_at_threshold', 0):.1%} "
        "of the time (every set weighing the same). Held-out columns: fitted without the sets of the same "
        "source (PIAF, SQuAD, gold), scored on it.",
        "",
        "| set | questions | answerable | AUROC | ECE | answered | right when answered | false abstentions "
        "| unanswerable abstained | held-out AUROC | held-out ECE |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for t in table:
        lines.append(
            f"| {t.name} | {t.n} | {t.answerable} | {t.auroc:.3f} | {t.ece:.3f} | {t.answered:.1%} | "
            f"{t.precision:.1%} | {t.false_abstentions:.1%} | {_pct(t.unanswerable_abstained)} | "
            f"{t.held_out_auroc:.3f} | {t.held_out_ece:.3f} |"
        )
    lines += ["", "| feature | weight in P(answerable) | weight in P(right \\| answerable) |", "|---|---:|---:|"]
    weights = zip(model.names, model.answerable.weights, model.right.weights, strict=True)
    for n, a, r in sorted(weights, key=lambda nw: -abs(nw[1]) - abs(nw[2])):
        lines.append(f"| {n} | {a:+.3f} | {r:+.3f} |")
    return "\n".join(lines) + "\n"


def source(set_name: str) -> str:
    """The data a set comes from: "piaf", "squad2", "gold"."""
    return set_name.split("-")[0]


def _pct(v: float) -> str:
    return "–" if math.isnan(v) else f"{v:.1%}"


if __name__ == "__main__":
    raise SystemExit(main())
