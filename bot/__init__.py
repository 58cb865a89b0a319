"""article-qa: answers questions about news articles, citing their sentences.

    >>> from bot import Bot
    >>> Bot().ask("Combien de soldats nord-coréens ont été envoyés en Russie ?").answer

Importing the package loads no model; the first question does, once.
"""

import os

# OpenMP runtimes (torch, faiss, llama.cpp) spin-wait by default; on two shared
# cores a spinning idle pool starves the engine that is working.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# The tokenizers thread pool would fight torch for the same two cores.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from .config import Settings  # noqa: E402
from .errors import BotError  # noqa: E402
from .pipeline import Bot  # noqa: E402
from .types import Answer, Article, Citation, Hit, Sentence  # noqa: E402

__all__ = ["Answer", "Article", "Bot", "BotError", "Citation", "Hit", "Sentence", "Settings"]
__version__ = "0.1.0"
