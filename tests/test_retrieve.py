"""Hybrid retrieval on questions whose answers are known passages of the review."""

from __future__ import annotations

import pytest

from assistant.errors import InputRejected
from assistant.retrieve import check_query, lexical_tokens

KNOWN = [
    ("What hazard ratio did DESTINY-Breast03 report for PFS versus T-DM1?", "review:2:p3"),
    ("DB-04 results in HER2-low disease", "review:2:p4"),
    ("Which ADC for HR-negative HER2-0 triple negative disease after chemo-immunotherapy?", "review:5.2:p2"),
    ("active brain mets: local therapy or systemic?", "review:6.1:perspective:1"),
    ("one lesion growing on T-DXd while the rest responds", "review:6.2:p1"),
    ("mechanisms of resistance to T-DM1: MUC4, ROR1, HSP90", "review:3:p1"),
    ("Should we re-biopsy after T-DXd progression?", "review:4:perspective:3"),
    ("TUXEDO-1 intracranial response rate", "review:6.1:p1"),
    ("adjuvant T-DM1 without pCR after neoadjuvant therapy, KATHERINE", "review:2:p2"),
    ("ESR1 mutation after CDK4/6 inhibitor: elacestrant?", "review:5.1:p3"),
    ("ctDNA monitoring to predict resistance during ADC treatment", "review:3:perspective:1"),
    ("Tukysa (tucatinib) after T-DM1 in HER2CLIMB", "review:4:p2"),
]


@pytest.mark.parametrize(("question", "passage_id"), KNOWN)
def test_known_questions_find_their_passage_in_the_top_five(retriever, question: str, passage_id: str) -> None:  # type: ignore[no-untyped-def]
    results = retriever.search(question, 5)
    assert passage_id in [r.passage_id for r in results]


def test_results_are_typed_passages_with_section_refs_offsets_and_scores(retriever, corpus) -> None:  # type: ignore[no-untyped-def]
    result = retriever.search("DESTINY-Breast03 versus T-DM1 hazard ratio", 1)[0]
    assert result.passage_id == "review:2:p3"
    assert result.section == "2"
    assert 7 in result.refs
    assert result.text in corpus.review.passage(result.passage_id).text
    span = result.spans[0]
    assert corpus.original[span.start:span.end].startswith(result.text[:40])
    assert result.scores.dense is not None
    assert result.scores.lexical is not None
    assert result.score == result.scores.fused > 0


def test_one_result_per_passage(retriever) -> None:  # type: ignore[no-untyped-def]
    ids = [r.passage_id for r in retriever.search("T-DXd", 10)]
    assert len(ids) == len(set(ids)) == 10


@pytest.mark.parametrize("alias", ["DB-04", "DB04", "destiny breast 4", "DESTINY-Breast04", "NCT03734029"])
def test_study_aliases_find_the_studys_passages(retriever, alias: str) -> None:  # type: ignore[no-untyped-def]
    top = [r.passage_id for r in retriever.search(f"what did {alias} show", 3)]
    assert {"review:2:p4", "review:5.1:p1"} & set(top)
    assert [c.id for c in retriever.named_studies(alias)] == ["destiny-breast04"]


def test_the_reviews_misspelling_and_the_correct_name_lead_to_one_study(retriever) -> None:  # type: ignore[no-untyped-def]
    assert retriever.named_studies("TROPiCS-02") == retriever.named_studies("TROPICs-02")
    assert retriever.named_studies("PERMEATE")[0].id == "permeate"
    assert retriever.named_studies("an analysis of nalanine") == []  # names match whole words only


def test_typos_are_corrected_against_the_corpus_vocabulary(retriever) -> None:  # type: ignore[no-untyped-def]
    assert retriever.speller.correct_text("progressed on Enhretu") == "progressed on enhertu"
    assert retriever.speller.correct_text("oligoprogresion") == "oligoprogression"
    assert retriever.speller.correct_text("lives") == "lives"  # no single close word: left alone


def test_brand_names_reach_the_reviews_words(retriever) -> None:  # type: ignore[no-untyped-def]
    assert "trastuzumab deruxtecan" in retriever.normalized_query("Enhertu or Trodelvy?")
    assert "sacituzumab govitecan" in retriever.normalized_query("Enhertu or Trodelvy?")


def test_section_filter_keeps_to_the_section_and_its_subsections(retriever) -> None:  # type: ignore[no-untyped-def]
    results = retriever.search("T-DXd", 10, section="6")
    assert results
    assert all(r.section in {"6.1", "6.2"} for r in results)
    assert all(r.section == "5.2" for r in retriever.search("SG", 5, section="5.2"))


def test_study_filter_keeps_passages_that_cite_or_name_the_study(retriever) -> None:  # type: ignore[no-untyped-def]
    results = retriever.search("brain metastases", 10, study="HER2CLIMB")
    # 4:p2 and 6.1:p1 cite it; the Perspective names tucatinib, a drug only HER2CLIMB tested
    assert {r.passage_id for r in results} == {"review:4:p2", "review:6.1:p1", "review:4:perspective:2"}
    with pytest.raises(InputRejected, match="No study card"):
        retriever.search("anything", study="NOT-A-TRIAL")


@pytest.mark.parametrize(
    ("query", "message"),
    [("", "empty"), ("   \n\t ", "empty"), ("x" * 5000, "limit is 2,000"), ("abc\x00def", "binary"),
     ("\x01\x02\x03 text", "binary")],
)
def test_bad_queries_are_refused_with_a_clear_message(query: str, message: str) -> None:
    with pytest.raises(InputRejected, match=message):
        check_query(query, 2000)


def test_markup_in_a_query_is_just_words(retriever) -> None:  # type: ignore[no-untyped-def]
    results = retriever.search("<script>alert(1)</script> HER2-low T-DXd", 3)
    assert results
    assert all("<script>" not in r.text for r in results)


def test_lexical_tokens_keep_drug_names_whole() -> None:
    tokens = lexical_tokens("T-DXd after T-DM1; HR = 0.28 (95% CI 0.22-0.37)")
    assert {"tdxd", "dxd", "tdm1", "0.28", "0.22"} <= set(tokens)


def test_back_matter_is_searched_only_when_asked_about(retriever) -> None:  # type: ignore[no-untyped-def]
    clinical = retriever.search("What do antibody-drug conjugates add, according to this review article?", 45)
    assert clinical
    assert all(r.kind != "backmatter" for r in clinical)
    asked = [r.passage_id for r in retriever.search("competing interests of the authors", 3)]
    assert "review:declaration-of-competing-interest:p1" in asked
    assert "review:funding:p1" in [r.passage_id for r in retriever.search("funding of the review", 3)]


@pytest.mark.parametrize("question", ["what's the name of the article you quote?", "which publication are your answers from?",
                                      "title of the source paper please"])
def test_a_question_about_the_articles_name_finds_the_title(retriever, question: str) -> None:  # type: ignore[no-untyped-def]
    assert "review:title" in [r.passage_id for r in retriever.search(question, 3)]


@pytest.mark.parametrize("question", ["HER2-targeting antibody drug conjugates in breast cancer: treatment strategies after T-DXd",
                                      "impact of ADCs on how we treat HER2-low breast cancer"])
def test_the_title_is_never_a_result_for_a_clinical_question(retriever, question: str) -> None:  # type: ignore[no-untyped-def]
    assert all(r.kind not in {"title", "backmatter"} for r in retriever.search(question, 45))


def test_a_passage_scores_on_the_key_view_by_its_best_two_keys(retriever) -> None:  # type: ignore[no-untyped-def]
    """One key sharing a rare word by chance counts half; two keys that ask the question count fully."""
    query = "should the tumour be biopsied again when Enhertu stops working?"
    scores = retriever._key_bm25_scores(query)
    per_passage: dict[str, list[float]] = {}
    for key, score in zip(retriever.index.keys, scores, strict=True):
        if score > 0:
            per_passage.setdefault(key.passage_id, []).append(score)
    allowed = {c.id for c in retriever.index.chunks}
    ranked = retriever._key_lexical_ranking(query, allowed)
    chunks = retriever.index.chunks
    for position, score in ranked:
        best = sorted(per_passage[chunks[position].passage_id], reverse=True)
        assert score == pytest.approx((best[0] + (best[1] if len(best) > 1 else 0.0)) / 2)
    assert retriever.search(query, 1)[0].passage_id == "review:4:perspective:3"


def test_case_passages_join_the_fusion(retriever) -> None:  # type: ignore[no-untyped-def]
    query = "what should we do next for her?"
    plain = [r.passage_id for r in retriever.search(query, 5)]
    assert "review:6.2:perspective:2" not in plain
    routed = retriever.search(query, 5, case_passages=("review:6.2:perspective:2", "review:not-a-passage"))
    assert routed[0].passage_id == "review:6.2:perspective:2"
    assert routed[0].scores.case_rank == 1
    lexical = retriever.search(query, 5, mode="lexical", case_passages=("review:6.2:perspective:2",))
    assert all(r.scores.case_rank is None for r in lexical)  # single-retriever modes stay what they say


def test_one_sentence_of_a_long_paragraph_is_found_by_its_meaning(retriever) -> None:  # type: ignore[no-untyped-def]
    results = retriever.search("How fast does HER2-positive breast cancer progress, and is the outlook poor?", 5)
    background = next(r for r in results if r.passage_id == "review:1:p1")
    assert background.scores.sentence_rank == 1


def test_bm25_rows_score_exactly_as_rank_bm25() -> None:
    from rank_bm25 import BM25Okapi

    from assistant.retrieve import Bm25

    corpus = [lexical_tokens(t) for t in ["T-DXd after T-DM1 in HER2-positive disease", "sacituzumab in TNBC",
                                           "HER2-low disease and T-DXd", "funding of the review"]]
    for query in (["tdxd", "her2"], ["her2", "her2", "low"], ["unknown"], []):
        assert list(Bm25(corpus).get_scores(query)) == pytest.approx(list(BM25Okapi(corpus).get_scores(query)))


def test_spellings_of_one_concept_read_as_the_concept(retriever) -> None:  # type: ignore[no-untyped-def]
    assert retriever.in_concepts("ERBB2-amplified or HER2+ disease") == "HER2-positive or HER2-positive disease"


def test_a_question_about_the_paper_finds_the_back_matter_without_its_heading_words(retriever) -> None:  # type: ignore[no-untyped-def]
    assert retriever.search("When was the PubMed search run?", 1)[0].passage_id == "review:data-availability:p1"


def test_a_question_the_review_does_not_address_is_marked_weak(retriever) -> None:  # type: ignore[no-untyped-def]
    outside = retriever.retrieve("What is the amoxicillin dose for otitis media in a child?")
    assert outside.weak
    assert outside.support is not None
    assert outside.support < outside.threshold == retriever.settings.weak_support
    assert outside.passages  # the nearest passages are still there, for "what the review does cover"
    inside = retriever.retrieve("What hazard ratio did DESTINY-Breast03 report for PFS versus T-DM1?")
    assert not inside.weak
    assert inside.support is not None
    assert inside.support >= inside.threshold
    assert retriever.retrieve("T-DXd", mode="lexical").support is None  # a lexical search embeds nothing


def test_search_is_retrieve_without_the_signal(retriever) -> None:  # type: ignore[no-untyped-def]
    query = "trastuzumab deruxtecan in HER2-low disease"
    assert retriever.search(query, 5) == list(retriever.retrieve(query, 5).passages)


# Explanations quote what retrieval finds: the sentences chosen for the relation the question asks about.

def test_a_weak_explanation_says_the_review_may_not_cover_it_and_quotes_nothing(assistant) -> None:  # type: ignore[no-untyped-def]
    # (a study the review never names is now said to be outside it by name, before any search: tests/test_route.py)
    answer = assistant.answer(["Explain how circadian timing of ADC infusions affects efficacy."])
    assert answer.kind == "explanation"
    assert "may not be covered by the review" in answer.text
    assert "The review covers:" in answer.text
    assert answer.citations == ()


def test_an_order_question_quotes_the_sequencing_data_from_the_study_it_rests_on(assistant) -> None:  # type: ignore[no-untyped-def]
    answer = assistant.answer(["HER2-low mBC - does the sequence matter, SG then T-DXd or T-DXd then SG?"])
    assert answer.kind == "explanation"
    assert "[38]" in answer.text
    assert "MD Anderson" in answer.text  # the citing sentence opens the quote


def test_a_study_that_only_introduces_itself_is_quoted_with_its_results(assistant) -> None:  # type: ignore[no-untyped-def]
    answer = assistant.answer(["What evidence supports sacituzumab in previously treated metastatic TNBC? PFS and OS HRs?"])
    assert "ASCENT" in answer.text
    assert "0.43" in answer.text
    assert "0.51" in answer.text
    assert answer.evidence_level == "I"


def test_asked_for_evidence_a_perspective_is_followed_by_the_trial_of_its_section(assistant) -> None:  # type: ignore[no-untyped-def]
    answer = assistant.answer(["Does local treatment help in oligoprogression on an ADC? which evidence?"])
    assert "CURB" in answer.text


def test_a_why_question_answered_by_a_conclusion_also_quotes_its_reason(assistant) -> None:  # type: ignore[no-untyped-def]
    answer = assistant.answer(["Why do Chinese guidelines rank pyrotinib ahead of T-DM1 and T-DXd once trastuzumab fails?"])
    assert "Therefore" in answer.text
    assert "accessibility" in answer.text  # the sentence before the conclusion gives the reason


def test_a_drug_preferred_over_another_is_explained_by_the_trial_that_compared_them(assistant) -> None:  # type: ignore[no-untyped-def]
    answer = assistant.answer(["Why is trastuzumab deruxtecan favoured over Kadcyla after trastuzumab and a taxane?"])
    assert "**Head-to-head:**" in answer.text
    assert "DESTINY-Breast03 study [7]" in answer.text  # the trial's own sentence is quoted, not the background
    assert answer.evidence_level == "I"
