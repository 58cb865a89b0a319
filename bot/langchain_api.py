"""LangChain adapters, so the bot plugs into LangChain apps.

    >>> from bot.langchain_api import SentenceRetriever
    >>> retriever = SentenceRetriever(bot=Bot(), k=3)
    >>> docs = retriever.invoke("Combien de soldats nord-coréens ?")
    >>> docs[0].metadata["sentence_id"], docs[0].metadata["score"]

Each ``Document`` is one article sentence; its metadata carries the sentence
id, article id, sentence number, score, character offsets and source URL.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from .pipeline import Bot


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
