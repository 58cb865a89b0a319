"""`bot add|list|remove` through real processes, the real model and real files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from . import pages
from .conftest import SEED, SEED_ID
from .test_library import snapshot

pytestmark = pytest.mark.real_model


def run(args: list[str], env: dict[str, str], stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("ARTICLE_QA_") or k == "ARTICLE_QA_CACHE"}
    full.update({"ARTICLE_QA_ENGINE": "extractive", "HF_HUB_OFFLINE": "1", **env})
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, env=full, input=stdin, timeout=600)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    base = tmp_path_factory.mktemp("library-cli")
    (base / "seeds").mkdir()
    shutil.copy(SEED, base / "seeds" / SEED.name)
    env = {"ARTICLE_QA_SEEDS": str(base / "seeds"), "ARTICLE_QA_INDEX": str(base / "index")}
    r = run(["index", "build"], env)
    assert r.returncode == 0, r.stderr.decode()
    (base / "page.html").write_text(pages.news_page(), encoding="utf-8")
    return base, env


def test_add_a_news_page_ask_it_list_it_remove_it(workspace):
    base, env = workspace
    r = run(["add", str(base / "page.html"), "--json"], env)
    assert r.returncode == 0, r.stderr.decode()
    added = json.loads(r.stdout)
    article_id = added["id"]
    assert (added["title"], added["source_url"], added["format"]) == (pages.TITLE, pages.URL, "html")

    r = run(["ask", "How many steel cables did the engineers replace?", "--article", article_id, "--json"], env)
    assert r.returncode == 0, r.stderr.decode()
    answer = json.loads(r.stdout)
    assert not answer["abstained"] and "notice" not in answer
    cited = answer["citations"][0]
    assert cited["article_id"] == article_id and "1,200 steel cables" in cited["text"]

    listed = json.loads(run(["list", "--json"], env).stdout)
    mine = next(a for a in listed if a["id"] == article_id)
    assert (mine["title"], mine["source_url"], mine["sentences"]) == (pages.TITLE, pages.URL, added["sentences"])
    assert [a["id"] for a in listed] == [SEED_ID, article_id]
    index_text = "".join(p.read_text(encoding="utf-8") for p in (base / "index").glob("sentences*.jsonl"))
    for marker in pages.BOILERPLATE:
        assert marker not in index_text, marker

    r = run(["remove", article_id], env)
    assert r.returncode == 0, r.stderr.decode()
    assert f"removed {article_id}" in r.stdout.decode()
    r = run(["ask", "Combien de soldats nord-coréens ont été envoyés en Russie ?", "--json"], env)
    assert r.returncode == 0 and b"note:" not in r.stderr  # no rebuild: nothing to say
    assert json.loads(r.stdout)["citations"][0]["sentence_id"] == f"{SEED_ID}:5"
    manifest = json.loads((base / "index" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["generation"] == 2 and list(manifest["articles"]) == [SEED_ID]


def test_pasted_text_on_stdin(workspace):
    _, env = workspace
    text = "Le festival de jazz de Montréal accueille trois cents musiciens cette année.\nIl dure dix jours."
    r = run(["add", "-", "--title", "Festival de jazz", "--id", "jazz"], env, stdin=text.encode())
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.decode().startswith("added jazz: 'Festival de jazz' (3 sentences")
    r = run(["ask", "Combien de musiciens au festival ?", "--article", "jazz", "--json"], env)
    assert "trois cents" in json.loads(r.stdout)["citations"][0]["text"]
    assert run(["remove", "jazz"], env).returncode == 0


@pytest.mark.parametrize(
    "content, extra, message",
    [
        (b"", {}, "is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", {}, "is not text (it looks like a PNG image)"),
        (b"caf\xe9 au lait", {}, "is not valid UTF-8"),
        (b"Une phrase. " * 200, {"ARTICLE_QA_MAX_ARTICLE_CHARS": "1000"}, "the limit is 1,000"),
        (b"Comment (0)\nPartager", {}, "holds no sentence"),
        ("SEED", {}, "is a copy of article"),
        (None, {}, "is empty"),  # stdin
    ],
    ids=["empty", "binary", "not-utf8", "too-large", "no-sentence", "duplicate", "empty-stdin"],
)
def test_bad_articles_exit_2_with_one_line_and_change_nothing(workspace, tmp_path: Path, content, extra, message):
    base, env = workspace
    before = snapshot(base / "index", base / "seeds")
    path = tmp_path / "article.txt"
    if content == "SEED":
        content = SEED.read_bytes()
    if content is None:
        r = run(["add", "-"], {**env, **extra}, stdin=b"")
    else:
        path.write_bytes(content)
        r = run(["add", str(path)], {**env, **extra})
    err = r.stderr.decode()
    assert r.returncode == 2 and r.stdout == b""
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert snapshot(base / "index", base / "seeds") == before
