"""The few errors a user can cause, each with a message that says how to fix it.

The CLI prints ``str(error)`` on one line and exits with code 2; the UI shows
it as a chat message. Anything else that escapes is a bug.
"""

from __future__ import annotations


class BotError(Exception):
    """Base class: a problem the user can fix. The message names the fix."""


class ConfigError(BotError):
    """A setting is unknown or has an impossible value."""


class QuestionError(BotError):
    """The question cannot be asked as given (empty, too long, ...)."""


class ArticleError(BotError):
    """An article is missing, unknown, unreadable or empty."""


class IndexStateError(BotError):
    """The index on disk is missing, corrupt, or does not match the settings."""


class ModelError(BotError):
    """A model package is missing or its files fail verification."""


class AnswerError(BotError):
    """A text given to ``bot verify`` cannot be checked (empty, no citation, a number out of range)."""


class LLMServerError(ModelError):
    """The LLM server at ARTICLE_QA_LLM_URL is down, refused the request or the
    key, went silent, or cut its answer short. The message names the URL, never
    the key; ``--engine auto`` falls back to the extractive answer on it."""
