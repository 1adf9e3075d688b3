"""The naive retrieval baseline, answering the same cases so every report shows how far the assistant
is ahead of plain retrieval.

It is `assistant bench retrieval`'s naive baseline (assistant.bench.naive_store: LangChain's
splitter at 1000/200 over corpus/review.txt, the same MiniLM, dense top-k), turned into an Answer:
the top passage is the text and its [n] markers are the citations, each quoting that passage.
It has no notion of options, kinds or evidence levels: it answers every question as a fact.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from assistant.bench import covered_passages, naive_store
from assistant.errors import CorpusError
from assistant.ingest.references import citation_refs
from assistant.settings import Settings
from assistant.types import Answer, Citation, Review, Span, StudyCard

BASELINE_VERSION = "naive-baseline-1000-200-dense"


def query_of(messages: Sequence[str]) -> str:
    """The whole conversation is the query: plain retrieval has no notion of turns."""
    return " ".join(messages)


class NaiveBaseline:
    """Build once (embeds about 60 chunks, ~2 s); answer() and search() are then a query each."""

    def __init__(self, settings: Settings, review: Review, cards: Sequence[StudyCard], original: str,
                 k: int = 5) -> None:
        self.review = review
        self.k = k
        self._store: Any = naive_store(settings, original)
        self._trials = {ref: card.name for card in cards for ref in card.refs}
        self._cache: dict[str, list[Any]] = {}
        self.ms_per_query: float | None = None  # after prepare(): the batch's time per query

    def prepare(self, queries: Sequence[str]) -> None:
        """Embed many queries in one batch (several times faster than one by one on a CPU)."""
        todo = sorted({q for q in queries if q not in self._cache})
        if not todo:
            return
        started = time.perf_counter()
        vectors = self._store.embeddings.embed_documents(todo)
        for query, vector in zip(todo, vectors, strict=True):
            self._cache[query] = list(self._store.similarity_search_by_vector(vector, k=self.k))
        self.ms_per_query = (time.perf_counter() - started) * 1000 / len(todo)

    def _hits(self, question: str) -> list[Any]:
        if question not in self._cache:
            self._cache[question] = list(self._store.similarity_search(question, k=self.k))
        return self._cache[question]

    def answer(self, messages: Sequence[str]) -> Answer:
        """The top passage for the conversation's messages, its markers as citations."""
        hits = self._hits(query_of(messages))
        if not hits:
            return Answer(kind="out_of_scope", text="No passage found.", corpus_version=BASELINE_VERSION)
        top = hits[0]
        text = top.page_content
        try:
            refs = citation_refs(text, len(self.review.references))
        except CorpusError:
            refs = ()  # a marker outside the reference list: cite nothing rather than guess
        start = int(top.metadata["start_index"])
        spans = (Span(start=start, end=start + len(text)),)
        citations = tuple(
            Citation(id=str(number), ref=ref, trial=self._trials.get(ref), title=self.review.reference(ref).title,
                     section=None, quote=text, spans=spans)
            for number, ref in enumerate(refs, start=1))
        return Answer(kind="fact", text=text, citations=citations, corpus_version=BASELINE_VERSION)

    def search(self, question: str) -> list[list[str]]:
        """Per result, the review passages it covers (the retrieval benchmark's mapping)."""
        return [covered_passages([Span(start=int(d.metadata["start_index"]),
                                       end=int(d.metadata["start_index"]) + len(d.page_content))], self.review)
                for d in self._hits(question)]
