"""Prompt templates from ``prompts/``, loaded once and rendered strictly.

    >>> p = Prompts.load()
    >>> messages = p.messages("a1", sentences, question="Qui ?", lang="fr")

The chat template itself (ChatML for Qwen) comes from the GGUF file; here we
only build the list of messages. The article goes into the last user turn,
*before* the question, so that the token prefix up to the question is the
same for every question about an article and stays in llama.cpp's KV cache.
"""

from __future__ import annotations

import json
import string
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from .errors import BotError
from .types import Sentence

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"
LANGUAGE_NAMES = {
    "fr": "French",
    "en": "English",
    "de": "German",
    "es": "Spanish",
    "it": "Italian",
    "pt": "Portuguese",
    "nl": "Dutch",
    "ar": "Arabic",
    "fa": "Persian",
    "he": "Hebrew",
    "ru": "Russian",
    "uk": "Ukrainian",
    "el": "Greek",
    "zh": "Chinese",
    "ja": "Japanese",
    "ko": "Korean",
}
ABSTAIN = {
    "fr": "Je ne trouve pas cette information dans l'article.",
    "en": "I can't find this in the article.",
}


class PromptError(BotError):
    """A template is missing, or is rendered without one of its variables."""


def render(template: str, name: str, **values: Any) -> str:
    """``str.format`` that names every missing variable, and the ones given."""
    wanted = {field for _, field, _, _ in string.Formatter().parse(template) if field}
    missing = sorted(wanted - set(values))
    if missing:
        raise PromptError(
            f"template {name} needs {', '.join(missing)}; given: {', '.join(sorted(values)) or 'nothing'}"
        )
    return template.format(**values)


def number_sentences(sentences: Sequence[Sentence]) -> str:
    # Newlines inside a sentence would break the one-sentence-a-line layout.
    return "\n".join(f"[{s.n}] {' '.join(s.text.split())}" for s in sentences)


def format_history(history: Sequence[Sequence[str]], max_turns: int = 3) -> str:
    turns = [t for t in history if len(t) == 2][-max_turns:]
    if not turns:
        return ""
    lines = ["Conversation so far:"]
    for user, assistant in turns:
        lines.append(f"User: {' '.join(str(user).split())[:500]}")
        lines.append(f"Assistant: {' '.join(str(assistant).split())[:500]}")
    return "\n".join(lines) + "\n\n"


@dataclass(frozen=True)
class Prompts:
    system: str
    question: str
    examples: dict[str, Any]

    @classmethod
    def load(cls, folder: Path = PROMPTS_DIR) -> Prompts:
        return _load(folder)

    def user_turn(
        self,
        article_id: str,
        sentences: Sequence[Sentence],
        question: str,
        lang: str,
        history: Sequence[Sequence[str]] = (),
    ) -> str:
        return render(
            self.question,
            "question.txt",
            article_id=article_id,
            article=number_sentences(sentences),
            history=format_history(history),
            question=" ".join(question.split()),
            language=LANGUAGE_NAMES.get(lang, "English"),
        )

    def messages(
        self,
        article_id: str,
        sentences: Sequence[Sentence],
        question: str,
        lang: str,
        history: Sequence[Sequence[str]] = (),
    ) -> list[dict[str, str]]:
        """System, example exchanges, then the article's sentences with the question."""
        ex = self.examples
        example_sentences = [
            Sentence(f"example:{i}", "example", i, text, 0, len(text)) for i, text in enumerate(ex["sentences"], 1)
        ]
        out = [{"role": "system", "content": self.system}]
        for turn in ex["exchanges"]:
            out.append(
                {
                    "role": "user",
                    "content": self.user_turn(ex["article_id"], example_sentences, turn["question"], turn["lang"]),
                }
            )
            out.append({"role": "assistant", "content": turn["answer"]})
        out.append({"role": "user", "content": self.user_turn(article_id, sentences, question, lang, history)})
        return out


@lru_cache(maxsize=4)
def _load(folder: Path) -> Prompts:
    try:
        system = (folder / "system.txt").read_text(encoding="utf-8").strip()
        question = (folder / "question.txt").read_text(encoding="utf-8").strip()
        examples = json.loads((folder / "examples.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise PromptError(f"cannot read the prompt files in {folder} ({e}): restore them from git") from None
    return Prompts(system, question, examples)
