from __future__ import annotations

from pathlib import Path

import pytest

from bot import Settings
from bot.errors import ConfigError


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
