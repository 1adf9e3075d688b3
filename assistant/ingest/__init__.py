"""Ingest: the review into passages and references, the study cards, and index chunks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from assistant.ingest.cards import load_cards, name_key
from assistant.ingest.chunks import chunk_review, embedded_text, passage_quote_spans, token_counter
from assistant.ingest.keys import load_passage_keys
from assistant.ingest.review import load_review, parse_review, read_review_text
from assistant.types import PassageKey, Review, StudyCard
from assistant.vocabulary import Vocabulary, load_vocabulary

__all__ = [
    "Corpus",
    "chunk_review",
    "embedded_text",
    "load_cards",
    "load_corpus",
    "load_passage_keys",
    "load_review",
    "name_key",
    "parse_review",
    "passage_quote_spans",
    "read_review_text",
    "token_counter",
]


@dataclass(frozen=True)
class Corpus:
    """The review as read from disk, its original text (for offsets), the cards and the vocabulary."""

    original: str
    review: Review
    cards: tuple[StudyCard, ...]
    vocabulary: Vocabulary
    keys: tuple[PassageKey, ...] = ()  # questions each passage answers, in clinicians' words


def load_corpus(corpus_dir: Path) -> Corpus:
    original = read_review_text(corpus_dir / "review.txt", corpus_dir / "provenance.yaml")
    review = parse_review(original)
    cards = load_cards(corpus_dir / "studies", len(review.references))
    vocabulary = load_vocabulary(corpus_dir / "vocabulary.yaml")
    keys = load_passage_keys(corpus_dir / "passage_keys.yaml", review)
    return Corpus(original=original, review=review, cards=cards, vocabulary=vocabulary, keys=keys)
