"""LangChain adapters, so the bot plugs into LangChain apps: the retriever is a
``BaseRetriever`` and the whole pipeline an ``AnswerRunnable``.

    >>> from bot.langchain_api import SentenceRetriever
    >>> retriever = SentenceRetriever(bot=Bot(), k=3)
    >>> docs = retriever.invoke("Combien de soldats nord-coréens ?")
    >>> docs[0].metadata["sentence_id"], docs[0].metadata["score"]

Each ``Document`` is one article sentence; its metadata carries the sentence
id, article id, sentence number, score, character offsets and source URL.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableConfig
from pydantic import ConfigDict

from .errors import QuestionError
from .pipeline import Bot
from .types import Answer


class SentenceRetriever(BaseRetriever):
    """A LangChain retriever over the bot's sentence index."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    bot: Any  # a bot.Bot; Any keeps pydantic from inspecting it
    k: int = 5
    article: str | None = None

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        bot: Bot = self.bot
        hits = bot.retrieve(query, article=self.article, top_k=self.k)
        sources = bot.index.sources
        return [
            Document(
                page_content=h.sentence.text,
                metadata={
                    "sentence_id": h.sentence.id,
                    "article_id": h.sentence.article_id,
                    "n": h.sentence.n,
                    "score": h.score,
                    "start": h.sentence.start,
                    "end": h.sentence.end,
                    "source_url": sources.get(h.sentence.article_id),
                },
            )
            for h in hits
        ]


class AnswerRunnable(Runnable[dict[str, Any], Answer]):
    """The answering pipeline as a LangChain ``Runnable``.

        >>> chain = AnswerRunnable(bot=Bot())
        >>> chain.invoke({"question": "Qui est Mark Rutte ?", "history": []}).answer
        >>> for piece in chain.stream({"question": "Who is Mark Rutte?"}):
        ...     print(piece)    # the text so far (str), then the final Answer

    Input keys: ``question`` (required), ``history`` (list of [user, assistant]
    pairs), ``article``, ``engine``, ``top_k``.
    """

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    @staticmethod
    def _args(input: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(input, dict) or not isinstance(input.get("question"), str):
            raise QuestionError('the input must be a dict with a "question" string')
        return {
            "question": input["question"],
            "history": input.get("history") or (),
            "article": input.get("article"),
            "engine": input.get("engine"),
            "top_k": input.get("top_k"),
        }

    def invoke(self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any) -> Answer:
        return self._call_with_config(lambda x: self.bot.ask(**self._args(x)), input, config)

    def stream(self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[Any]:
        yield from self.bot.stream(**self._args(input))
