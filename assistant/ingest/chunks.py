"""Section-aware chunks that fit the embedding model's window.

A chunk is a run of whole sentences of one passage, so it never crosses a paragraph or a section
boundary and its text is a verbatim slice of the indexed passage. The embedded text is prefixed
with the section's title, which places it in the review; the header counts against the budget.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tokenizers import Tokenizer

from assistant.ingest.mapped import MappedText, clean, sentence_bounds
from assistant.ingest.references import citation_refs
from assistant.types import Chunk, Passage, Review, Span

TokenCounter = Callable[[str], int]


def token_counter(model_path: Path) -> TokenCounter:
    """Counts word pieces as the model will see them, [CLS] and [SEP] included."""
    tokenizer = Tokenizer.from_file(str(model_path / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return lambda text: len(tokenizer.encode(text).ids)


def embedding_header(chunk_section: str | None, section_title: str | None, kind: str) -> str:
    """The words put before a chunk's text when it is embedded (and matched lexically)."""
    if kind == "perspective":
        return f"{chunk_section}. {section_title}, Perspectives (the review's recommendations): "
    if chunk_section:
        return f"{chunk_section}. {section_title}: "
    return f"{section_title}: " if section_title else ""


def embedded_text(chunk: Chunk) -> str:
    return embedding_header(chunk.section, chunk.section_title, chunk.kind) + chunk.text


def chunk_review(
    review: Review, original: str, count_tokens: TokenCounter, max_tokens: int, overlap: int
) -> tuple[Chunk, ...]:
    chunks: list[Chunk] = []
    for passage in review.passages:  # the title too: "which article is this?" is answered by it
        chunks.extend(_chunk_passage(passage, original, count_tokens, max_tokens, overlap))
    return tuple(chunks)


def _chunk_passage(
    passage: Passage, original: str, count_tokens: TokenCounter, max_tokens: int, overlap: int
) -> list[Chunk]:
    header = embedding_header(passage.section, passage.section_title, passage.kind)
    budget = max_tokens - count_tokens(header) + 2  # header alone is counted with [CLS] [SEP]
    sentences = _fitting_sentences(passage.text, count_tokens, budget)
    groups: list[tuple[int, int]] = []  # sentence index ranges [first, last)
    first = 0
    while first < len(sentences):
        last = first + 1
        while last < len(sentences) and _tokens(passage.text, sentences, first, last + 1, count_tokens) <= budget:
            last += 1
        groups.append((first, last))
        if last >= len(sentences):
            break
        first = max(last - overlap, first + 1)
    mapped = _passage_mapping(passage, original)
    result = []
    for number, (first, last) in enumerate(groups):
        a, b = sentences[first][0], sentences[last - 1][1]
        text = passage.text[a:b]
        result.append(Chunk(
            id=f"{passage.id}#{number}", passage_id=passage.id, kind=passage.kind,
            section=passage.section, section_title=passage.section_title, text=text,
            refs=tuple(r for r in passage.refs if f"{r}" in _marker_numbers(text)),
            spans=mapped.spans(a, b, original=original) if mapped else passage.spans,
            tokens=count_tokens(header + text),
        ))
    return result


def _tokens(text: str, sentences: list[tuple[int, int]], first: int, last: int, count: TokenCounter) -> int:
    return count(text[sentences[first][0] : sentences[last - 1][1]])


def _fitting_sentences(text: str, count_tokens: TokenCounter, budget: int) -> list[tuple[int, int]]:
    """Sentence bounds, with any sentence longer than the budget cut at word boundaries."""
    result = []
    for a, b in sentence_bounds(text):
        if count_tokens(text[a:b]) <= budget:
            result.append((a, b))
            continue
        start = a
        while start < b:
            end = b
            while count_tokens(text[start:end]) > budget:
                end = text.rfind(" ", start, end - 1)
                if end <= start:
                    raise ValueError("a single word is longer than the chunk budget")
            result.append((start, end))
            start = end + 1
    return result


def _passage_mapping(passage: Passage, original: str) -> MappedText | None:
    """Re-derive the passage's character map from its spans (cleaning is deterministic)."""
    mapped = clean(MappedText.join(MappedText.of(original, s.start, s.end) for s in passage.spans))
    return mapped if mapped.text == passage.text else None


def _marker_numbers(text: str) -> set[str]:
    return {str(n) for n in citation_refs(text, 10_000)}


def passage_quote_spans(passage: Passage, quote: str, original: str) -> tuple[Span, ...]:
    """The original spans behind a verbatim quote of a passage's text."""
    start = passage.text.find(quote)
    if start < 0:
        raise ValueError("the quote is not in the passage")
    mapped = _passage_mapping(passage, original)
    if mapped is None:
        return passage.spans
    return mapped.spans(start, start + len(quote), original=original)
