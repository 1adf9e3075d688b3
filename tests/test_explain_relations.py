"""What an answer shows for the relation or the study asked: the studies a comparison without a head-to-head trial
rests on in the population asked, every finding and concept the question names, the study that gave the drugs asked
together, the review's sentence that answers a question about a study, and a study the review never mentions."""

from __future__ import annotations

from assistant.conversation import Assistant


def _refs(answer) -> set[int | None]:  # type: ignore[no-untyped-def]
    return {c.ref for c in answer.citations}


def test_a_comparison_in_another_population_is_not_a_head_to_head(assistant: Assistant) -> None:
    """A real-world HER2-low cohort that gave both drugs did not compare them in HER2-0 triple-negative disease: the
    answer says no trial compared them and cites what each rests on there (ASCENT for SG, DAISY's HER2-0 cohort)."""
    answer = assistant.answer(["Why would you pick sacituzumab over Enhertu in triple-negative disease with HER2 zero?"])
    assert answer.kind == "explanation"
    assert "No head-to-head trial" in answer.text
    assert "compared only in" not in answer.text
    assert "sacituzumab govitecan: ASCENT" in answer.text
    assert "trastuzumab deruxtecan: DAISY" in answer.text
    assert {10, 32} <= _refs(answer)
    assert answer.evidence_level is not None


def test_every_finding_the_question_names_is_answered(assistant: Assistant) -> None:
    """"HER2-ultralow or HER2-0": a sentence on ultralow disease (DESTINY-Breast06's) joins those on HER2-0."""
    answer = assistant.answer(["Why does it matter whether a tumour is HER2-ultralow or HER2-0?"])
    assert answer.kind == "explanation"
    assert "ultralow" in answer.text.lower()
    assert 37 in _refs(answer)
    assert answer.evidence_level is not None


def test_the_study_of_the_drugs_asked_together_comes_first_with_the_reviews_words(assistant: Assistant) -> None:
    """Atezolizumab added to T-DM1: KATE2, with the review's sentence on its PD-L1 subgroup, not only its ITT figure."""
    answer = assistant.answer(["HER2+ metastatic breast cancer, could we add atezolizumab to T-DM1?"])
    section = answer.text.split("What the review says about atezolizumab")[1]
    assert section.lstrip(":* \n").startswith("- KATE2")
    assert "PD-L1" in section
    assert 23 in _refs(answer)


def test_a_concept_asked_beside_a_drug_is_answered(assistant: Assistant) -> None:
    """SG after T-DXd "or is there cross resistance?": the real-world sequences of both ADCs, and the review's own
    sentence on cross-resistance."""
    answer = assistant.answer(["HER2-low metastatic, progressed on Enhertu. Could I use Trodelvy next, or is there cross resistance?"])
    assert 38 in _refs(answer)
    assert "On cross-resistance:" in answer.text
    assert "consider the issue of cross resistance" in answer.text


def test_a_drug_set_against_her_regimen_is_placed_and_its_trial_cited(assistant: Assistant) -> None:
    """"... is neratinib better?" asks where neratinib stands as "what about neratinib?" would: NALA is cited."""
    answer = assistant.answer(["HER2+ mBC, 3rd line after lapatinib and capecitabine - is neratinib better?"])
    assert answer.kind == "recommendation"
    assert "You asked about neratinib" in answer.text
    assert "What the review says about neratinib" in answer.text
    assert 29 in _refs(answer)


def test_a_question_about_a_study_quotes_the_sentence_that_answers_it(assistant: Assistant) -> None:
    """Who DESTINY-Breast03 enrolled: the review's sentence that names the trial and the one after it, which says
    active brain metastases were excluded, not its headline sentence."""
    answer = assistant.answer(["Were patients with active brain metastases enrolled in DESTINY-Breast03?"])
    assert answer.kind == "fact"
    assert "both studies excluded patients with active brain metastases" in answer.text
    quote = next(c.quote for c in answer.citations if c.ref == 7)
    assert quote in assistant.index.review.passage("review:6.1:p1").text


def test_a_study_the_review_never_mentions_is_said_to_be_not_covered(assistant: Assistant) -> None:
    answer = assistant.answer(["How much OS did PHEREXA show for pertuzumab?"])
    # named as not covered, whether read as an uncovered study (a refusal that names it) or not (an explanation)
    assert any(line.startswith("**Not covered by the review:**") and "PHEREXA" in line for line in answer.text.split("\n"))
    # a study the review cites is not said to be missing
    cited = assistant.answer(["What PFS benefit did NALA show for neratinib?"])
    assert "does not mention NALA" not in cited.text


def test_a_drug_asked_beside_another_is_shown_by_the_study_that_tested_both_in_her_population(assistant: Assistant) -> None:
    """"Why not Trodelvy first?" after Enhertu was proposed, HR-positive HER2-low: the real-world study of both ADCs
    first; of SG's own trials TROPiCS-02 (HR-positive) rather than ASCENT (triple-negative), whose chemotherapy arm
    does not make it a study of "chemo"."""
    answer = assistant.answer(["why not Trodelvy first? ER+ HER2-low metastatic after a CDK4/6 inhibitor and one chemo, "
                               "you proposed Enhertu"])
    section = answer.text.split("What the review says about Trodelvy")[1].split("\n\n")[0]
    lines = [line for line in section.splitlines() if line.startswith("- ")]
    assert lines[0].startswith("- MD Anderson")
    assert lines[1].startswith("- TROPiCS-02")
    assert {38, 11} <= _refs(answer)


def test_a_regimen_of_two_drugs_is_not_shown_by_a_trial_that_compared_them(assistant: Assistant) -> None:
    """Two drugs read as one regimen ("T-DM1/T-DXd") get no study of their own from DESTINY-Breast03, which gave
    them in separate arms."""
    answer = assistant.answer(["why would a guideline rank pyrotinib over T-DM1/T-DXd after trastuzumab?"])
    assert "trastuzumab deruxtecan: DESTINY-Breast03" not in answer.text
    assert "plus trastuzumab deruxtecan: DESTINY-Breast03" not in answer.text


def test_a_study_with_two_references_keeps_both_when_one_sentence_answers(assistant: Assistant) -> None:
    """HER2CLIMB is cited as [27] and [50]: the sentence that answers the question cites one, the other reference
    keeps its own sentence."""
    answer = assistant.answer(["HER2CLIMB: who was enrolled, and what did tucatinib add?"])
    refs = [c.ref for c in answer.citations]
    assert {27, 50} <= set(refs)
    for citation in answer.citations:
        if citation.ref in {27, 50}:
            assert f"[{citation.ref}]" in citation.quote


def test_one_drug_after_another_is_answered_by_the_sentences_on_that_order(assistant: Assistant) -> None:
    """"SG after T-DXd": the real-world sequences of the two ADCs are quoted, not only SG's own trial."""
    answer = assistant.answer(["Any data on SG after T-DXd?"])
    assert answer.kind == "explanation"
    assert 38 in _refs(answer)
    assert "sequential" in answer.text


def test_a_gap_in_the_evidence_counts_only_where_it_is_about_what_is_asked(assistant: Assistant) -> None:
    """"Any trial comparing tucatinib and pyrotinib?": the review's lack of head-to-head data on T-DM1 against HP
    after neoadjuvant therapy is not an answer; the answer says no trial compared the two TKIs."""
    answer = assistant.answer(["Is there any trial comparing tucatinib and pyrotinib head to head?"])
    assert "No head-to-head trial" in answer.text
    assert "dual target of HP" not in answer.text
