"""Rules as data and the engine: validation at load, coverage of the review, pure decisions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from assistant.compose import card_functions
from assistant.conversation import Assistant
from assistant.decide import case_passages, counterfactuals, decide, evaluate, load_rules
from assistant.errors import CorpusError
from assistant.registry import load_registry
from assistant.types import Fact, PatientFacts, TherapyFact
from tests.conftest import CORPUS


@pytest.fixture(scope="module")
def rules(corpus):  # type: ignore[no-untyped-def]
    return load_rules(CORPUS / "rules", corpus.cards, corpus.review, card_functions(corpus.cards))


def _facts(**values: Any) -> PatientFacts:
    therapies: tuple[str, ...] = values.pop("failed", ())
    facts = {name: Fact(value=value, words=str(value), turn=1) for name, value in values.items()}
    treated = tuple(TherapyFact(therapy=t, received=True, progressed=True, current=False, words=t, turn=1)
                    for t in therapies)
    return PatientFacts(**facts, therapies=treated)


def test_every_perspectives_statement_maps_to_a_rule(rules, corpus) -> None:  # type: ignore[no-untyped-def]
    statements = {s.id for p in corpus.review.perspectives for s in p.statements}
    covered = {passage for rule in rules for passage in rule.perspectives}
    assert statements - covered == set()


def test_every_decision_point_of_the_issue_has_a_rule(rules) -> None:  # type: ignore[no-untyped-def]
    ids = {rule.id for rule in rules}
    for expected in ("HER2POS-ADJ-RESIDUAL", "HER2POS-ADJ-PCR", "HER2POS-NEOADJ", "HER2POS-MET-2L",
                     "HER2POS-MET-2L-ACCESS", "HER2POS-AFTER-TDXD", "HRPOS-HER2LOW-FIRST", "HRPOS-HER2LOW-AFTER-CDK",
                     "HRPOS-HER2LOW-AFTER-CHEMO", "HRPOS-AFTER-ADC", "TNBC-HER2LOW-AFTER-1L", "TNBC-HER2ZERO-AFTER-1L",
                     "BRAIN-ACTIVE-HER2POS", "BRAIN-STABLE-HER2POS", "OLIGOPROGRESSION-ON-ADC", "MONITOR-RESISTANCE",
                     "DELAY-RESISTANCE"):
        assert expected in ids


def test_evidence_levels_come_from_the_cards(rules) -> None:  # type: ignore[no-untyped-def]
    by_id = {rule.id: rule for rule in rules}
    options = {o.option: o for o in by_id["HER2POS-MET-2L"].recommend}
    assert options["trastuzumab deruxtecan (T-DXd)"].evidence_level == "I"  # DESTINY-Breast03
    assert options["pyrotinib-based therapy (pyrotinib plus capecitabine)"].evidence_level == "IV"  # retrospective
    assert options["trastuzumab emtansine (T-DM1)"].evidence_level == "V"  # no study: expert opinion
    oligo = by_id["OLIGOPROGRESSION-ON-ADC"].recommend[0]
    assert oligo.evidence_level == "V"  # CURB is context, not support: no benefit in breast cancer
    assert "curb" in oligo.context


@pytest.mark.parametrize(
    ("facts", "rule", "preferred"),
    [
        (dict(her2="positive", setting="metastatic", failed=("trastuzumab", "taxane")), "HER2POS-MET-2L",
         "trastuzumab deruxtecan (T-DXd)"),
        (dict(her2="positive", setting="metastatic", access_limited=True, failed=("trastuzumab",)),
         "HER2POS-MET-2L-ACCESS", "pyrotinib-based therapy (pyrotinib plus capecitabine)"),
        (dict(her2="low", hr="positive", setting="metastatic", failed=("cdk4/6 inhibitor", "chemotherapy")),
         "HRPOS-HER2LOW-AFTER-CHEMO", "trastuzumab deruxtecan (T-DXd)"),
        (dict(her2="zero", hr="negative", setting="metastatic", failed=("chemotherapy",)), "TNBC-HER2ZERO-AFTER-1L",
         "sacituzumab govitecan (SG)"),
        (dict(her2="positive", setting="adjuvant", pcr=False), "HER2POS-ADJ-RESIDUAL", "trastuzumab emtansine (T-DM1)"),
    ],
)
def test_decisions_follow_the_review(rules, facts: dict[str, object], rule: str, preferred: str) -> None:  # type: ignore[no-untyped-def]
    decision = decide(_facts(**facts), rules)
    assert decision.rule_ids[0] == rule
    assert decision.preferred is not None
    assert decision.preferred.spec.option == preferred


@pytest.mark.parametrize(
    ("facts", "rule"),
    [
        (dict(her2="positive", setting="metastatic", brain_mets="none", treatment_naive=True), "HER2POS-MET-1L"),
        (dict(her2="negative", hr="positive", setting="adjuvant"), "EARLY-HER2-NEGATIVE"),
        (dict(her2="low", setting="neoadjuvant"), "EARLY-HER2-NEGATIVE"),
    ],
)
def test_what_the_review_does_not_cover_is_said(rules, facts: dict[str, object], rule: str) -> None:  # type: ignore[no-untyped-def]
    decision = decide(_facts(**facts), rules)
    assert decision.not_covered == rule
    assert decision.options == ()


def test_missing_facts_become_questions(rules) -> None:  # type: ignore[no-untyped-def]
    decision = decide(_facts(her2="low", setting="metastatic", failed=("chemotherapy",)), rules)
    assert decision.options == ()
    assert "hr" in decision.missing


def test_a_broad_value_is_asked_to_be_narrowed(rules) -> None:  # type: ignore[no-untyped-def]
    decision = decide(_facts(her2="negative", hr="positive", setting="metastatic", failed=("chemotherapy",)), rules)
    assert decision.missing[0] == "her2"


def test_same_facts_same_decision(rules) -> None:  # type: ignore[no-untyped-def]
    facts = _facts(her2="positive", setting="metastatic", failed=("trastuzumab deruxtecan",), brain_mets="active")
    assert decide(facts, rules) == decide(facts, rules)
    assert decide(facts, rules).rule_ids[0] == "BRAIN-AFTER-TDXD"


def test_what_would_change_the_preferred_option(rules) -> None:  # type: ignore[no-untyped-def]
    facts = _facts(her2="low", hr="positive", setting="metastatic", failed=("cdk4/6 inhibitor", "chemotherapy"))
    changes = counterfactuals(facts, rules, decide(facts, rules))
    by_fact = {c.fact: c for c in changes}
    assert by_fact["hr"].preferred == "sacituzumab govitecan (SG)"
    assert by_fact["hr"].condition == "if the tumour were hormone-receptor negative rather than hormone-receptor positive"
    assert all(c.preferred for c in changes)


def test_any_conditions(rules) -> None:  # type: ignore[no-untyped-def]
    condition = {"any": [{"failed": {"includes": ["chemotherapy"]}}, {"line": {"gte": 2}}]}
    assert evaluate(condition, _facts(line=2))[0] is True
    assert evaluate(condition, _facts(failed=("chemotherapy",)))[0] is True
    assert evaluate(condition, _facts())[0] is None


def _broken(tmp_path: Path, corpus, rule: dict[str, object]) -> Path:  # type: ignore[no-untyped-def]
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "bad.yaml").write_text(yaml.safe_dump([rule]))
    return folder


@pytest.mark.parametrize(
    ("change", "message"),
    [({"when": {"eye_colour": "blue"}}, "unknown fact 'eye_colour'"),
     ({"recommend": [{"option": "x", "role": "preferred", "rationale": "r", "studies": ["no-such-trial"]}]},
      "unknown study card 'no-such-trial'"),
     ({"perspectives": ["review:9:perspective:1"]}, "not in the review"),
     ({"recommend": [{"option": "x", "role": "preferred", "rationale": "{{ result('nala', 'no such measure') }}"}]},
      "no result whose measure"),
     ({"id": "lower-case"}, "upper case")],
)
def test_a_bad_rule_is_refused_naming_file_and_rule(tmp_path: Path, corpus, change: dict[str, object], message: str) -> None:  # type: ignore[no-untyped-def]
    rule: dict[str, object] = {"id": "TEST-RULE", "title": "t", "section": "2", "when": {"her2": "positive"},
                               "recommend": [{"option": "x", "role": "preferred", "rationale": "r"}]}
    rule.update(change)
    folder = _broken(tmp_path, corpus, rule)
    with pytest.raises(CorpusError, match=message) as raised:
        load_rules(folder, corpus.cards, corpus.review, card_functions(corpus.cards), load_registry(CORPUS))
    assert "bad.yaml" in str(raised.value)


def test_duplicate_rule_ids_are_refused(tmp_path: Path, corpus) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "rules"
    folder.mkdir()
    rule = {"id": "DUP", "title": "t", "section": "2", "when": {}, "recommend": [{"option": "x", "role": "preferred", "rationale": "r"}]}
    (folder / "a.yaml").write_text(yaml.safe_dump([rule]))
    (folder / "b.yaml").write_text(yaml.safe_dump([rule]))
    with pytest.raises(CorpusError, match="repeated: DUP"):
        load_rules(folder, corpus.cards, corpus.review, card_functions(corpus.cards), load_registry(CORPUS))


def test_a_decision_rests_on_its_rules_perspectives_first_then_their_evidence(rules) -> None:  # type: ignore[no-untyped-def]
    facts = _facts(oligoprogression=True, her2="positive", setting="metastatic", failed=("adc",))
    decision = decide(facts, rules)
    assert decision.rule_ids
    passages = case_passages(decision, rules)
    fired = [r for r in rules if r.id in decision.rule_ids]
    perspectives = [p for r in fired for p in r.perspectives]
    assert passages[:len(perspectives)] == tuple(dict.fromkeys(perspectives))
    assert "review:6.2:perspective:1" in passages
    assert len(passages) == len(set(passages))
    assert case_passages(decide(PatientFacts(), rules), rules) == ()


def test_hr_negative_her2_low_disease_after_sg_may_still_get_t_dxd(rules) -> None:  # type: ignore[no-untyped-def]
    """The review names SG or T-DXd for HR-negative HER2-low disease; after SG, T-DXd stays an option to consider."""
    after_sg = decide(_facts(her2="low", hr="negative", setting="metastatic", failed=("sacituzumab govitecan",)), rules)
    options = {o.spec.option: o.role for o in after_sg.options}
    assert options.get("trastuzumab deruxtecan (T-DXd), for HER2-low disease that has not had it") == "consider"
    zero = decide(_facts(her2="zero", hr="negative", setting="metastatic", failed=("sacituzumab govitecan",)), rules)
    assert not any("trastuzumab deruxtecan" in o.spec.option for o in zero.options)


@pytest.mark.parametrize(("message", "said"), [
    ("ER+ HER2-low mBC PD on letrozole + palbociclib, no chemo yet. Is T-DXd indicated?", "is not known from what you wrote"),
    ("HR-positive HER2 IHC 1+ metastatic, progressed on anastrozole/ribociclib, chemo-naive. T-DXd now?",
     "is not known from what you wrote"),
    ("ER+ HER2 1+ mbc, 1L letrozole+abemaciclib 26 mo -> PD. no chemo. Eligible for T-DXd per DESTINY-Breast06?",
     "does not meet DESTINY-Breast06's entry criteria"),
])
def test_destiny_breast06_eligibility_is_said_or_asked_never_left_unsaid(
        assistant: Assistant, message: str, said: str) -> None:
    """The months on the CDK4/6 inhibitor and the endocrine lines decide DESTINY-Breast06's eligibility: when they
    are not given the answer says so beside T-DXd; when they rule her out it says she does not meet the criteria."""
    answer = assistant.answer([message])
    assert answer.kind == "recommendation"
    assert said in answer.text
    assert any(r.option == "trastuzumab deruxtecan (T-DXd)" for r in answer.recommendations)


@pytest.mark.parametrize("message", [
    "HER2+ mBC, PD on pyrotinib + capecitabine (2L, China). Choosing ADC - T-DXd or T-DM1?",
    "HER2-positive metastatic breast cancer, trastuzumab/docetaxel first line, then lapatinib and capecitabine until "
    "progression. No ADC so far. What next?",
])
def test_after_a_tki_before_any_adc_t_dxd_comes_first_with_the_real_world_data_the_review_cites(
        assistant: Assistant, message: str) -> None:
    """The review's real-world study [14]: after TKIs, T-DXd did better than T-DM1; the TKI she progressed on is
    not offered again."""
    answer = assistant.answer([message])
    assert answer.kind == "recommendation"
    assert answer.recommendations[0].option == "trastuzumab deruxtecan (T-DXd)"
    assert 14 in {c.ref for c in answer.citations}
    assert all("lapatinib" not in r.option for r in answer.recommendations)
    pyrotinib = [r for r in answer.recommendations if "pyrotinib" in r.option]
    assert not pyrotinib if "pyrotinib" in message else pyrotinib and 8 in {c.ref for c in answer.citations}


@pytest.mark.parametrize(("message", "kind", "first"), [
    ("HER2+ mbc after THP, has brain mets. next?", "clarification", None),
    ("HER2-positive MBC progressed on trastuzumab/pertuzumab/docetaxel; brain metastases on MRI. What now?", "clarification", None),
    ("HER2+ MBC after THP with new growing brain mets. next?", "recommendation",
     "trastuzumab deruxtecan (T-DXd) with local treatment (surgery or radiotherapy) where indicated"),
    ("HER2+ mbc after THP, brain mets stable after SRS. next?", "recommendation", "trastuzumab deruxtecan (T-DXd)"),
    # after T-DXd the review's options are the same whether they are active or stable: no need to ask
    ("HER2+ mbc after THP and T-DXd, has brain mets. next?", "recommendation",
     "tucatinib plus trastuzumab and capecitabine, with local treatment (surgery or radiotherapy) where indicated"),
])
def test_brain_metastases_without_their_activity_are_asked_about_never_assumed_active(
        assistant: Assistant, message: str, kind: str, first: str | None) -> None:
    answer = assistant.answer([message])
    assert answer.kind == kind
    if first is None:
        assert any("active" in q and "stable" in q for q in answer.follow_up)
    else:
        assert answer.recommendations[0].option == first


@pytest.mark.parametrize("message", [
    "HER2+ MBC, 2L. Enhertu discussed at clinic but not started - she is still deciding. Would Kadcyla be as good?",
    "HER2+ MBC, 2L, no brain mets. Which ADC?",
    "HER2-positive metastatic breast cancer, second line, no CNS disease. What do you recommend?",
])
def test_a_second_line_of_her2_positive_metastatic_disease_is_after_trastuzumab(assistant: Assistant, message: str) -> None:
    """"2L" says a first line came before: the review's second line (T-DXd, DESTINY-Breast03), not a question back."""
    answer = assistant.answer([message])
    assert answer.kind == "recommendation"
    assert answer.recommendations[0].option == "trastuzumab deruxtecan (T-DXd)"
    assert 7 in {c.ref for c in answer.citations}


def test_what_would_change_never_names_an_option_her_facts_rule_out(assistant: Assistant) -> None:
    """After progression on tucatinib, "with cost or access limits" does not bring the tucatinib regimen back."""
    answer = assistant.answer(["HER2+ MBC: 1L THP, 2L T-DXd, 3L tucatinib-trastuzumab-capecitabine. What now?"])
    gone = {n.option for n in answer.not_offered}
    assert gone
    assert all(change.preferred not in gone for change in answer.what_would_change)
    assert all(not (change.preferred or "").startswith("tucatinib") for change in answer.what_would_change)


def test_what_would_change_still_names_a_drug_out_of_reach_when_the_change_is_its_reach(assistant: Assistant) -> None:
    """T-DXd not reimbursed: "if there were no cost or access limits" still brings T-DXd back."""
    answer = assistant.answer(["HER2+ MBC progressed on THP. T-DXd is not reimbursed and she cannot afford it. Next?"])
    assert any(c.fact == "access_limited" and c.preferred == "trastuzumab deruxtecan (T-DXd)"
               for c in answer.what_would_change)


def test_after_t_dm1_progressed_on_t_dxd_the_t_dm1_option_cites_destiny_breast03(assistant: Assistant) -> None:
    answer = assistant.answer(["HER2+ mbc PD on T-DXd. why not T-DM1?"])  # the case and the question in one message
    t_dm1 = next(r for r in answer.recommendations if r.option.startswith("trastuzumab emtansine"))
    assert "less effective arm" in t_dm1.rationale
    assert 7 in {c.ref for c in answer.citations if c.id in t_dm1.citations}


@pytest.mark.parametrize("message", [
    "Is Enhertu worth trying after SG? HR+ HER2 1+ mbc progressed on sacituzumab (3L) after AI/palbo and capecitabine",
    "ER+ HER2-low metastatic, PD on AI + palbociclib, capecitabine, then Trodelvy. Next?",
])
def test_after_sg_in_her2_low_disease_another_adc_means_t_dxd_with_the_sequencing_data(
        assistant: Assistant, message: str) -> None:
    answer = assistant.answer([message])
    option = next(r for r in answer.recommendations if r.option.startswith("another ADC"))
    assert "trastuzumab deruxtecan" in option.option
    assert "cross-resistance" in option.rationale
    assert 38 in {c.ref for c in answer.citations}


@pytest.mark.parametrize("message", [
    "pt with HR+ HER2 1+ mBC, after CDK4/6i + 1 chemo line, progressing on T-DXd after 11 mo. ?biopsy again",
    "mTNBC HER2-low, PD on T-DXd after SG. Next?",
])
def test_after_t_dxd_re_biopsy_is_an_option_whatever_the_hormone_receptors(assistant: Assistant, message: str) -> None:
    answer = assistant.answer([message])
    assert any(r.option == "tumour re-biopsy before choosing the next treatment" for r in answer.recommendations)
    assert "biopsy" in answer.text.lower()


def test_after_t_dxd_in_hr_negative_her2_low_disease_sg_is_offered_at_its_extrapolated_level(assistant: Assistant) -> None:
    """SG after T-DXd: ASCENT enrolled no one after T-DXd, so level II with the reason, and the sequencing data [38]."""
    answer = assistant.answer(["mTNBC HER2-low (IHC 2+ ISH neg), PD on T-DXd 2L after paclitaxel/pembro. next?"])
    sg = next(r for r in answer.recommendations if r.option.startswith("sacituzumab govitecan"))
    assert sg.role == "consider"
    assert sg.evidence_level == "II"
    assert "not after T-DXd" in sg.rationale
    assert {10, 38} <= {c.ref for c in answer.citations}


def test_chemotherapy_before_the_metastases_is_not_a_line_for_them(rules) -> None:  # type: ignore[no-untyped-def]
    """Adjuvant chemotherapy, then metastases with no treatment for them yet: the first-line rule (a taxane plus a
    PD-1 inhibitor), not the rule for disease after chemotherapy."""
    adjuvant = TherapyFact(therapy="chemotherapy", received=True, progressed=False, current=False, words="adj chemo",
                           turn=1, status="completed")
    facts = PatientFacts(her2=Fact(value="zero", words="HER2 0", turn=1), hr=Fact(value="negative", words="mTNBC", turn=1),
                         setting=Fact(value="metastatic", words="mTNBC", turn=1),
                         treatment_naive=Fact(value=True, words="no prior tx for mets", turn=1), therapies=(adjuvant,))
    decision = decide(facts, rules)
    assert decision.rule_ids == ("TNBC-FIRST",)
    assert decision.options[0].spec.option.startswith("a taxane plus a PD-1 inhibitor")


def test_a_line_number_alone_fires_the_second_line_only_for_breast_cancer(rules) -> None:  # type: ignore[no-untyped-def]
    """"HER2+ ..., 2L" with no word of the primary: the line says nothing of which cancer, so the rule waits."""
    base = {"her2": Fact(value="positive", words="HER2+", turn=1), "setting": Fact(value="metastatic", words="2L", turn=1),
            "line": Fact(value=2, words="2L", turn=1)}
    assert "HER2POS-MET-2L" not in decide(PatientFacts(**base), rules).rule_ids
    breast = PatientFacts(**base, primary_site=Fact(value="breast", words="MBC", turn=1))
    assert decide(breast, rules).rule_ids[:1] == ("HER2POS-MET-2L",)
