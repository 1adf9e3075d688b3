"""Ingestion: structure, references, citation markers, cleaning and offsets of the review."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
import yaml

from assistant.errors import CorpusError
from assistant.ingest import chunk_review, load_corpus, passage_quote_spans, token_counter
from assistant.ingest.mapped import MappedText, clean, sentence_bounds
from assistant.ingest.references import citation_refs
from assistant.ingest.review import load_review
from tests.conftest import CORPUS

NUMBERED_SECTIONS = ["1", "2", "3", "4", "5", "5.1", "5.2", "6", "6.1", "6.2", "7"]
PERSPECTIVE_STATEMENTS = {"2": 3, "3": 2, "4": 3, "5.1": 2, "5.2": 2, "6.1": 1, "6.2": 2}


def test_review_copy_is_byte_identical_to_provenance_hash() -> None:
    provenance = yaml.safe_load((CORPUS / "provenance.yaml").read_text())
    data = (CORPUS / "review.txt").read_bytes()
    assert hashlib.sha256(data).hexdigest() == provenance["sha256"]
    assert len(data) == provenance["bytes"]


def test_sections_are_numbered_and_levelled_by_number_not_by_hashes(corpus) -> None:  # type: ignore[no-untyped-def]
    body = [s for s in corpus.review.sections if s.kind == "body"]
    assert [s.number for s in body] == NUMBERED_SECTIONS
    levels = {s.number: s.level for s in body}
    assert levels["4"] == 1
    assert levels["5.1"] == 2
    assert levels["6.2"] == 2
    assert corpus.review.section("5.1").parent == "5"
    assert corpus.review.section("6.1").title == "Brain metastases"


def test_title_abstract_authors_and_keywords(corpus) -> None:  # type: ignore[no-untyped-def]
    review = corpus.review
    assert review.title.startswith("Impact of HER2-targeting antibody drug conjugates")
    assert review.authors == ("Hanghang Ma", "Jianbin Li")
    assert "HER2 expression" in review.keywords
    abstract = review.passage("review:abstract")
    assert abstract.text.startswith("Antibody drug conjugates (ADCs) are novel drugs")


def test_every_section_perspectives_is_its_own_unit(corpus) -> None:  # type: ignore[no-untyped-def]
    found = {p.section: len(p.statements) for p in corpus.review.perspectives}
    assert found == PERSPECTIVE_STATEMENTS
    first = corpus.review.passage("review:2:perspective:1")
    assert first.kind == "perspective"
    assert first.statement == 1
    assert first.text.endswith("T-DM1 or trastuzumab-pertuzumab are optional")
    # The page break inside section 3's Perspectives is joined.
    assert corpus.review.passage("review:3:perspective:2").text.endswith(
        "can also be reduced through combination therapy, target replacement, and other methods.")


def test_reference_list_parses_into_57_typed_entries(corpus) -> None:  # type: ignore[no-untyped-def]
    references = corpus.review.references
    assert [r.number for r in references] == list(range(1, 58))
    for reference in references:
        assert reference.title, reference.number
        assert reference.journal, reference.number
        assert reference.year is not None, reference.number
        assert 2017 <= reference.year <= 2024, reference.number
        assert reference.authors or reference.et_al, reference.number
    dbo3 = corpus.review.reference(7)
    assert dbo3.authors[0] == "J. Cortés"
    assert dbo3.title == "Trastuzumab deruxtecan versus trastuzumab emtansine for breast cancer"
    assert (dbo3.journal, dbo3.volume, dbo3.year, dbo3.pages) == ("N. Engl. J. Med.", "386 (12)", 2022, "1143–1154")
    assert corpus.review.reference(51).authors[0] == "Yan M."  # surname-first list
    assert corpus.review.reference(38).journal == "SABCS"  # year inside the italics
    assert "TNF α" in corpus.review.reference(17).title  # LaTeX rendered


def test_every_citation_marker_resolves_to_a_reference(corpus) -> None:  # type: ignore[no-untyped-def]
    markers = set()
    for passage in corpus.review.passages:
        for marker in re.findall(r"\[([\d,\s–-]+)\]", passage.text):
            markers.add(marker)
        for ref in passage.refs:
            assert 1 <= ref <= 57
    cited = {ref for passage in corpus.review.passages for ref in passage.refs}
    assert cited == set(range(1, 58))  # the review cites each of its references
    assert markers  # markers were found at all


@pytest.mark.parametrize(
    ("text", "refs"),
    [("as shown [7].", (7,)), ("two [25,26] here", (25, 26)), ("range [34-36]", (34, 35, 36)),
     ("en dash [34–36]", (34, 35, 36)), ("none here", ())],
)
def test_citation_marker_forms(text: str, refs: tuple[int, ...]) -> None:
    assert citation_refs(text, 57) == refs


def test_marker_outside_the_list_is_a_corpus_error() -> None:
    with pytest.raises(CorpusError, match="outside the reference list"):
        citation_refs("see [58]", 57)


def test_quotes_at_their_offsets_equal_the_original(corpus) -> None:  # type: ignore[no-untyped-def]
    original = corpus.original
    for passage in corpus.review.passages:
        pieces = MappedText.join(MappedText.of(original, s.start, s.end) for s in passage.spans)
        assert clean(pieces).text == passage.text, passage.id
    # Units without conversion artifacts are verbatim slices of the original.
    p = corpus.review.passage("review:2:p4")
    assert original[p.spans[0].start:p.spans[0].end] == p.text


def test_a_sentence_split_by_the_footnote_is_joined_with_two_spans(corpus) -> None:  # type: ignore[no-untyped-def]
    passage = corpus.review.passage("review:2:p1")
    assert "it is too early for ADC to replace traditional chemotherapy." in passage.text
    assert "Corresponding author" not in passage.text
    assert len(passage.spans) == 2
    quote = "too early for ADC to replace traditional chemotherapy"
    spans = passage_quote_spans(passage, quote, corpus.original)
    assert corpus.original[spans[0].start:spans[0].end] == "too early for ADC to"
    assert corpus.original[spans[1].start:spans[1].end] == "replace traditional chemotherapy"


def test_latex_and_markup_are_cleaned(corpus) -> None:  # type: ignore[no-untyped-def]
    texts = " ".join(p.text for p in corpus.review.passages)
    for artifact in ("$", "\\alpha", "**", "<sup>", "\\*"):
        assert artifact not in texts
    assert "Tumor necrosis factor α (TNF α) induced" in corpus.review.passage("review:3:p1").text
    assert "38% had received ≥3 -line treatment" in corpus.review.passage("review:5.1:p2").text
    quote = "Tumor necrosis factor α (TNF α)"
    spans = passage_quote_spans(corpus.review.passage("review:3:p1"), quote, corpus.original)
    assert corpus.original[spans[0].start:spans[-1].end] == "Tumor necrosis factor  $\\alpha$  (TNF  $\\alpha$ )"


def test_sentences_do_not_split_at_abbreviations() -> None:
    text = "PFS was longer (7.6 vs. 4.6 months). Saura et al. reported it. limited data followed."
    assert [text[a:b] for a, b in sentence_bounds(text)] == [
        "PFS was longer (7.6 vs. 4.6 months).", "Saura et al. reported it.", "limited data followed."]


def test_chunks_fit_the_model_window_and_never_cross_a_passage(corpus) -> None:  # type: ignore[no-untyped-def]
    from assistant.index import model_path
    from assistant.settings import Settings

    count = token_counter(model_path(Settings()))
    chunks = chunk_review(corpus.review, corpus.original, count, 200, 1)
    passages = {p.id: p for p in corpus.review.passages}
    assert all(c.tokens <= 200 for c in chunks)
    for chunk in chunks:
        assert chunk.text in passages[chunk.passage_id].text
        assert chunk.section == passages[chunk.passage_id].section
    # the title is one chunk of its own ("which article is this?"); retrieval opens it only when the review is asked about
    titles = [c for c in chunks if c.passage_id == "review:title"]
    assert len(titles) == 1
    assert titles[0].text == passages["review:title"].text
    assert all(c.kind != "backmatter" or "References" not in (c.section_title or "") for c in chunks)


def test_missing_review_names_the_file_and_the_fix(corpus_copy: Path) -> None:
    (corpus_copy / "review.txt").unlink()
    with pytest.raises(CorpusError, match=r"review is missing: .*review.txt does not exist"):
        load_corpus(corpus_copy)


def test_non_utf8_review_is_refused_clearly(corpus_copy: Path) -> None:
    (corpus_copy / "review.txt").write_bytes(b"\xff\xfe not text \x80")
    with pytest.raises(CorpusError, match="not UTF-8 text"):
        load_corpus(corpus_copy)


def test_altered_review_does_not_match_its_provenance(corpus_copy: Path) -> None:
    path = corpus_copy / "review.txt"
    path.write_text(path.read_text(encoding="utf-8")[:20000], encoding="utf-8")
    with pytest.raises(CorpusError, match="does not match the sha256"):
        load_review(path, corpus_copy / "provenance.yaml")
