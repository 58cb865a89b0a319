from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot import Settings
from bot.errors import ConfigError

from .conftest import REAL_CACHE


def test_defaults_env_then_overrides():
    s = Settings.load({"top_k": 3}, environ={"ARTICLE_QA_TOP_K": "7", "ARTICLE_QA_SEEDS": "/tmp/x", "HOME": "/"})
    assert s.top_k == 3 and s.seeds == Path("/tmp/x")
    assert Settings.load(environ={}).top_k == 5


def test_unknown_keys_are_errors():
    with pytest.raises(ConfigError, match="unknown environment variable ARTICLE_QA_TOPK"):
        Settings.load(environ={"ARTICLE_QA_TOPK": "3"})
    with pytest.raises(ConfigError, match="unknown setting 'colour'"):
        Settings.load({"colour": "blue"}, environ={})


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"top_k": 0}, "top_k must be at least 1"),
        ({"threads": "two"}, "whole number"),
        ({"engine": "gpt"}, "engine must be"),
    ],
)
def test_bad_values_name_the_problem(overrides, message):
    with pytest.raises(ConfigError, match=message):
        Settings.load(overrides, environ={})


def test_the_callers_settings_do_not_reach_the_tests():
    # conftest removes the caller's ARTICLE_QA_* variables and gives unmarked
    # tests a temporary model cache, so a fast test never provisions into ~/.cache.
    assert [k for k in os.environ if k.startswith("ARTICLE_QA_")] == ["ARTICLE_QA_CACHE"]
    assert Path(os.environ["ARTICLE_QA_CACHE"]) != REAL_CACHE
    assert Settings.load().cache == Path(os.environ["ARTICLE_QA_CACHE"])
