"""Facts that act: what the clinician says of a drug takes it out of the preferred slot, with the reason.

A property test over the eval cases (hypothesis): where the preferred option is X, adding "she declined X",
"X is not available here", "X is contraindicated" or "she progressed on X" takes X out of the preferred slot
and shows the reason; an unrelated sentence changes nothing. And over every eval answer: no preferred
option is a drug its conversation says was declined, unavailable, contraindicated or progressed on.
"""

from __future__ import annotations

import functools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant.conversation import Assistant
from assistant.evaluate import load_cases
from assistant.types import IMPLIED_CLASSES, Answer
from assistant.understand import therapies_named
from tests.conftest import EVALS

_SETS = ("cases.jsonl", "heldout.jsonl", "blind2.jsonl", "blind3.jsonl", "blind4.jsonl")
_PHRASES = {
    "declined": "She declined {x}.",
    "unavailable": "{x} is not available here.",
    "contraindicated": "{x} is contraindicated for her.",
    "progressed": "She has since progressed on {x}.",
}
# what a clinician writes for a drug the assistant names by its generic name
_WRITTEN = {"trastuzumab deruxtecan": "T-DXd", "trastuzumab emtansine": "T-DM1", "sacituzumab govitecan": "sacituzumab govitecan",
            "cdk4/6 inhibitor": "the CDK4/6 inhibitor", "endocrine therapy": "endocrine therapy", "pi3k inhibitor": "alpelisib",
            "akt inhibitor": "capivasertib", "parp inhibitor": "olaparib", "immunotherapy": "pembrolizumab"}


@functools.cache
def _recommended(assistant: Assistant) -> tuple[tuple[tuple[str, ...], str, tuple[str, ...]], ...]:
    """(turns, preferred option, the drugs it names) for every metastatic eval case with a drug as its preferred option."""
    found = []
    for name in _SETS:
        for case in load_cases(EVALS / name):
            answer = assistant.answer(list(case.turns))
            preferred = _preferred(answer)
            if preferred is None or _setting(answer) != "metastatic":
                continue
            drugs = therapies_named(preferred, assistant.index.vocabulary) - IMPLIED_CLASSES  # a drug, not "an ADC"
            if drugs:
                found.append((case.turns, preferred, tuple(sorted(drugs))))
    return tuple(found)


def _setting(answer: Answer) -> object:
    setting = answer.patient.get("setting")
    return setting.get("value") if isinstance(setting, dict) else None


def _therapies(answer: Answer) -> list[dict[str, object]]:
    therapies = answer.patient.get("therapies", [])
    return therapies if isinstance(therapies, list) else []


def _preferred(answer: Answer) -> str | None:
    return next((r.option for r in answer.recommendations if r.role == "preferred"), None)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_what_the_clinician_says_of_the_preferred_drug_takes_it_out(assistant: Assistant, data: st.DataObject) -> None:
    cases = _recommended(assistant)
    turns, preferred, drugs = data.draw(st.sampled_from(cases))
    status = data.draw(st.sampled_from(sorted(_PHRASES)))
    named = [_WRITTEN.get(d, d) for d in drugs]
    # a regimen fails as a whole; a drug is declined, unavailable or contraindicated on its own
    x = ", ".join(named) if status == "progressed" else data.draw(st.sampled_from(named))
    last = turns[-1] if turns[-1].rstrip()[-1:] in ".?!" else f"{turns[-1]}."
    changed = assistant.answer([*turns[:-1], f"{last} {_PHRASES[status].format(x=x)}"])
    assert _preferred(changed) != preferred, (turns[-1], status, x)
    offered = [r.option for r in changed.recommendations]
    if status != "progressed" or preferred in offered:  # after progression the rules may move on to another pathway
        gone = [n for n in changed.not_offered if set(drugs) & therapies_named(n.option, assistant.index.vocabulary)]
        assert gone, (turns[-1], status, x)
        # the user's words: the drug as written, within the sentence that rules it out
        assert any(n.words and (x.lower() in n.words.lower() or n.words.lower() in x.lower()) for n in gone), \
            (turns[-1], status, x)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_an_unrelated_sentence_changes_nothing(assistant: Assistant, data: st.DataObject) -> None:
    turns, _, _ = data.draw(st.sampled_from(_recommended(assistant)))
    sentence = data.draw(st.sampled_from(["She enjoys gardening.", "Her daughter drove her to clinic today.",
                                          "She lives 20 minutes from the hospital."]))
    before = assistant.answer(list(turns))
    after = assistant.answer([*turns[:-1], f"{turns[-1]} {sentence}"])
    assert [r.option for r in after.recommendations] == [r.option for r in before.recommendations]
    assert after.not_offered == before.not_offered


_RULED_OUT = {"declined", "unavailable", "contraindicated"}


@pytest.mark.parametrize("name", [*_SETS, "notes/notes_blind.jsonl", "blind5/blind5.jsonl",
                                  "blind6/blind6.jsonl", "blind7/blind7.jsonl",
                                  "blind8/blind8.jsonl", "blind9/blind9.jsonl",
                                  "blind10/blind10.jsonl", "blind11/blind11.jsonl"])
def test_no_preferred_option_is_a_drug_the_conversation_ruled_out(assistant: Assistant, name: str) -> None:
    for case in load_cases(EVALS / name):
        answer = assistant.answer(list(case.turns))
        preferred = _preferred(answer)
        if preferred is None:
            continue
        named = therapies_named(preferred, assistant.index.vocabulary)
        therapies = [t for t in _therapies(answer) if not t["implied"]]
        ruled_out = {t["therapy"] for t in therapies if t["status"] in _RULED_OUT}
        progressed = {t["therapy"] for t in therapies if t["status"] == "progressed"}
        assert not named & ruled_out, (case.id, preferred)
        metastatic = _setting(answer) == "metastatic"
        if metastatic and "while continuing" not in preferred:
            # an option of classes alone ("another ADC", "chemotherapy", monitoring "during ADC treatment") is not the
            # regimen that failed
            assert not named <= progressed or named <= IMPLIED_CLASSES, (case.id, preferred)


def test_a_safety_state_opens_the_answer_and_names_the_state(assistant: Assistant) -> None:
    answer = assistant.answer(["HER2+ MBC progressed on THP. LVEF 38% with NYHA III heart failure. 2L?"])
    assert answer.warnings
    assert answer.text.startswith("**Warning:**")
    assert "heart failure" in answer.warnings[0].lower() or "ejection" in answer.warnings[0].lower()
    assert _preferred(answer) is None or not _preferred(answer).startswith("trastuzumab")  # type: ignore[union-attr]
    assert any("cardiac" in n.reason or "ejection" in n.reason for n in answer.not_offered)


def test_pregnancy_leaves_no_preferred_option_and_says_why(assistant: Assistant) -> None:
    answer = assistant.answer(["HER2+ MBC, 22 weeks pregnant, liver mets progressing after adjuvant TCHP. What systemic?"])
    assert _preferred(answer) is None
    assert "no option is preferred" in answer.text.lower()
    assert "pregnan" in answer.warnings[0].lower()


@pytest.mark.parametrize("message", [
    "HER2+ MBC after THP; now Child-Pugh C, bilirubin 4x ULN. Enhertu or Kadcyla?",
    "ER+ HER2-low metastatic, PD on AI + palbociclib and on capecitabine, hepatic impairment with bilirubin 2.5x ULN. Next?",
])
def test_hepatic_impairment_leaves_no_preferred_option_and_says_why(assistant: Assistant, message: str) -> None:
    """The review and its cards are silent on liver dysfunction: no option is preferred, each is listed for review
    against its label, and the answer opens with the state in her words."""
    answer = assistant.answer([message])
    assert _preferred(answer) is None
    assert answer.text.startswith("**Warning:**")
    assert "hepatic" in answer.warnings[0].lower()
    assert "no option is preferred" in answer.text.lower()


@pytest.mark.parametrize(
    ("message", "barred"),
    [("HR+ HER2-0 mBC after AI + CDK4/6i, capecitabine and paclitaxel, now PD. Trodelvy not available here.",
      "sacituzumab govitecan"),
     ("ER-positive HER2 IHC 0 MBC, progressed on letrozole/palbociclib then on eribulin. She declined SG. Next?",
      "sacituzumab govitecan")],
)
def test_when_every_option_is_out_of_reach_the_reviews_next_options_take_its_place(
        assistant: Assistant, message: str, barred: str) -> None:
    """The only option the review gives is not available or declined: the options it gives after that drug are
    offered instead, and the answer says in whose place; the barred drug stays under not offered."""
    answer = assistant.answer([message])
    assert answer.recommendations
    assert all(barred not in r.option.split("(e.g.")[0] for r in answer.recommendations)
    assert any(barred in n.option for n in answer.not_offered)
    assert f"In place of {barred}" in answer.text


@pytest.mark.parametrize(
    ("message", "failed"),
    [("HER2+ MBC: THP, then T-DXd, then the tucatinib combination, all with PD. Next?", "tucatinib"),
     ("HER2+ MBC, PD on THP, on T-DXd and on pyrotinib + cape. What now?", "pyrotinib"),
     ("HER2+ MBC after THP and T-DXd; progressed on neratinib too. Options?", "neratinib")],
)
def test_a_regimen_whose_own_drug_failed_is_not_offered_again(assistant: Assistant, message: str, failed: str) -> None:
    """The drug a regimen is named for progressed: its partners (trastuzumab, capecitabine) unnamed do not save it."""
    answer = assistant.answer([message])
    assert answer.kind == "recommendation"
    assert not any(failed in r.option.lower() for r in answer.recommendations)
    assert any(failed in e.option.lower() for e in answer.not_offered)


def test_a_partner_that_failed_does_not_remove_the_regimen(assistant: Assistant) -> None:
    answer = assistant.answer(["HER2+ MBC, PD on trastuzumab + docetaxel, then on T-DXd. Next?"])
    assert "tucatinib" in answer.recommendations[0].option.lower()


@pytest.mark.parametrize(
    ("message", "preferred"),
    [("ER+ HER2 IHC 1+ MBC: first-line letrozole + ribociclib for 22 months, then PD. No chemotherapy so far. Next?",
      "endocrine therapy chosen by molecular findings"),
     ("HR+ HER2-low mBC, PD after 2 years of anastrozole + abemaciclib (1st line), chemo-naive; ESR1 mutation on "
      "ctDNA. 2L?", "elacestrant")],
)
def test_destiny_breast06_criteria_not_met_keep_t_dxd_out_of_the_preferred_slot(
        assistant: Assistant, message: str, preferred: str) -> None:
    """One endocrine line that held for more than 6 months: DESTINY-Breast06's criteria are not met, so a second
    endocrine line leads and T-DXd is an option to consider later, not the preferred one under a caveat."""
    answer = assistant.answer([message])
    assert answer.recommendations[0].role == "preferred"
    assert answer.recommendations[0].option.startswith(preferred)
    t_dxd = [r for r in answer.recommendations if r.option.startswith("trastuzumab deruxtecan")]
    assert t_dxd
    assert t_dxd[0].role == "consider"


@pytest.mark.parametrize(("message", "words"), [
    ("HR+ HER2-low MBC, progressed on T-DXd and then on sacituzumab govitecan. What now?", "sacituzumab govitecan"),
    ("ER+ HER2 1+ metastatic, PD on trastuzumab deruxtecan. Trodelvy is not reimbursed for her. Options?", "Trodelvy"),
])
def test_an_option_given_by_its_example_leaves_when_the_example_is_out_of_her_reach(
        assistant: Assistant, message: str, words: str) -> None:
    """ "Another ADC (e.g. sacituzumab govitecan)" after progression on SG, or with SG not reimbursed, offers
    nothing she can have: it is not offered, with her words, and no option names SG."""
    answer = assistant.answer([message])
    assert answer.kind == "recommendation"
    assert all("sacituzumab" not in r.option for r in answer.recommendations)
    assert any("another ADC" in n.option and words in n.words for n in answer.not_offered)


@pytest.mark.parametrize(("turns", "reason"), [
    (["mTNBC HER2-0 de novo, 1L?", "she has active lupus nephritis - IO contraindicated per rheum."], "lupus"),
    (["mTNBC HER2-0, first line. Immunotherapy is contraindicated: she has Crohn's disease. Options?"], "crohn"),
    (["HER2+ mbc, prior THP -> T-DXd. pyrotinib is not reimbursed here, so not an option. next?"], "reimbursed"),
])
def test_a_drug_ruled_out_is_shown_with_the_reason_the_clinician_gave(
        assistant: Assistant, turns: list[str], reason: str) -> None:
    """Not offered "from your words": the sentence that rules the drug out, with its reason, not the drug's name alone."""
    answer = assistant.answer(turns)
    assert any(reason in n.words.lower() for n in answer.not_offered)
    assert reason in answer.text.lower()


@pytest.mark.parametrize("message", [
    "HER2+ mbc after THP and T-DXd, no CNS. She refuses any more chemotherapy. next?",
    "HER2+ MBC, PD on THP then on T-DXd. Patient declines further chemo. Options?",
])
def test_a_class_declined_takes_out_every_option_with_a_member(assistant: Assistant, message: str) -> None:
    """"No more chemotherapy": every regimen with capecitabine leaves, with her words; what is not chemotherapy stays."""
    answer = assistant.answer([message])
    assert answer.recommendations
    assert all("capecitabine" not in r.option for r in answer.recommendations)
    assert any(n.option.startswith("tucatinib plus trastuzumab and capecitabine") for n in answer.not_offered)
    assert any("chemo" in n.words.lower() for n in answer.not_offered)


def test_an_option_offering_one_of_several_drugs_keeps_the_others(assistant: Assistant) -> None:
    """"Anthracycline, eribulin or vinorelbine" with anthracyclines contraindicated: the option stays for the others,
    and the anthracycline is named as not offered with her words."""
    answer = assistant.answer(["HER2+ mbc after THP and T-DXd, no CNS. Anthracyclines contraindicated (prior "
                               "cardiotoxicity). next?"])
    assert any(r.option.startswith("chemotherapy with recognised activity") for r in answer.recommendations)
    assert any(n.option == "anthracycline" and "cardiotoxicity" in n.words for n in answer.not_offered)


@pytest.mark.parametrize("turns", [
    ["HER2+ mbc, prior THP -> T-DXd -> tucatinib/H/cape. no CNS dz. ECOG 1.", "pyrotinib and margetuximab are both "
     "unavailable in our region."],
    ["HER2+ MBC. Lines so far: THP, then T-DXd, then tucatinib/trastuzumab/capecitabine. ECOG 1. Next?"],
    ["HER2+ mBC previously treated with THP, T-DXd and tucatinib + trastuzumab + capecitabine; next line?"],
])
def test_a_regimen_given_for_metastatic_disease_and_left_behind_is_not_offered_again(
        assistant: Assistant, turns: list[str]) -> None:
    """A line she has had and moved on from is not the next line: the tucatinib regimen is not offered, with her words."""
    answer = assistant.answer(turns)
    assert answer.kind == "recommendation"
    assert all(not r.option.startswith("tucatinib") for r in answer.recommendations)
    assert any(n.option.startswith("tucatinib") for n in answer.not_offered)


def test_a_regimen_received_in_early_disease_is_offered_again_in_metastatic_disease(assistant: Assistant) -> None:
    """Trastuzumab given as adjuvant therapy does not rule out a trastuzumab-based option for metastases."""
    answer = assistant.answer(["HER2+ MBC relapsed 8 months after adjuvant TCHP + 1 year of trastuzumab. Options?"])
    assert _preferred(answer) == "trastuzumab deruxtecan (T-DXd)"
    assert not answer.not_offered


def test_the_pregnancy_warning_says_the_review_does_not_address_it(assistant: Assistant) -> None:
    answer = assistant.answer(["HER2+ MBC, now 22/40 pregnant. Safe to start Enhertu?"])
    assert "pregnan" in answer.warnings[0].lower()
    assert "do not address" in answer.text.lower()

