"""Rules and cards hold up at load: typed conditions, evidence levels of subgroups and indirect populations,
one figure per result entry."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from assistant.compose import card_functions
from assistant.decide import Rule, decide, load_constraints, load_rules
from assistant.errors import CorpusError
from assistant.ingest import Corpus, load_cards
from assistant.ingest.cards import interval_problem
from assistant.registry import Registry, load_registry
from assistant.types import Fact, PatientFacts, StudyResult
from tests.conftest import CORPUS


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry(CORPUS)


@pytest.fixture(scope="module")
def rules(corpus: Corpus, registry: Registry) -> tuple[Rule, ...]:
    return load_rules(CORPUS / "rules", corpus.cards, corpus.review, card_functions(corpus.cards), registry)


def _load_one(tmp_path: Path, corpus: Corpus, registry: Registry, **changes: Any) -> None:
    rule: dict[str, Any] = {"id": "TEST-RULE", "title": "t", "section": "2", "when": {"her2": "positive"},
                            "recommend": [{"option": "x", "role": "preferred", "rationale": "r"}]}
    rule.update(changes)
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "bad.yaml").write_text(yaml.safe_dump([rule], allow_unicode=True), encoding="utf-8")
    load_rules(folder, corpus.cards, corpus.review, card_functions(corpus.cards), registry)


def _option(**fields: Any) -> list[dict[str, Any]]:
    return [{"option": "x", "role": "preferred", "rationale": "r", **fields}]


# --- typed conditions -------------------------------------------------------------------------

HER2_VALUES = "positive, low, ultralow, zero, negative, equivocal"


@pytest.mark.parametrize(
    ("changes", "bad", "allowed"),
    [
        pytest.param({"when": {"her2": ["zeró"]}}, "'zeró'", HER2_VALUES, id="misspelt value"),
        pytest.param({"when": {"brain_mets": "actve"}}, "'actve'", "none, active, stable", id="misspelt scalar"),
        pytest.param({"when": {"pcr": "yes"}}, "'yes'", "true or false", id="bool fact given a word"),
        pytest.param({"when": {"line": 2.5}}, "2.5", "a whole number", id="value outside an int type"),
        pytest.param({"when": {"line": {"gte": "two"}}}, "'two'", "a whole number", id="wrong operand type"),
        pytest.param({"when": {"her2": {"gte": 2}}}, "'gte' does not fit her2", HER2_VALUES,
                     id="threshold on a categorical fact"),
        pytest.param({"when": {"her2": {"not": ["zeró"]}}}, "'zeró'", HER2_VALUES, id="misspelt value under not"),
        pytest.param({"when": {"prior": {"excludes": ["trastuzumab-deruxtecan"]}}}, "'trastuzumab-deruxtecan'",
                     "trastuzumab deruxtecan", id="unknown drug name"),
        pytest.param({"when": {"failed": {"includes_any": ["adcs"]}}}, "'adcs'", "tyrosine kinase inhibitor",
                     id="unknown class name"),
        pytest.param({"when": {"prior": {"includes": "trastuzumab"}}}, "'trastuzumab'", "therapy names",
                     id="a drug where a list belongs"),
        pytest.param({"when": {"prior": ["trastuzumab"]}}, "set of therapy names", "includes",
                     id="a set facet without an operator"),
        pytest.param({"when": {"any": [{"her2": "zeró"}]}}, "'zeró'", HER2_VALUES, id="nested any"),
        pytest.param({"when": {"topic": {"includes": ["monitor"]}}}, "'monitor'", "monitoring",
                     id="unknown topic"),
        pytest.param({"when": {"biomarker.ESR1": "mutated"}}, "'mutated'", "true or false", id="biomarker word"),
        pytest.param({"when": {"line": {"gte": 3, "lte": 2}}}, "never holds", "gte 3", id="empty range"),
        pytest.param({"recommend": _option(when={"her2": "lowish"})}, "'lowish'", HER2_VALUES,
                     id="an option's when"),
        pytest.param({"recommend": _option(caveats=[{"when": {"cdk_months": {"gte": "seven"}}, "text": "t"}])},
                     "'seven'", "a whole number", id="a caveat's when"),
    ],
)
def test_a_bad_condition_fails_at_load_naming_file_rule_value_and_allowed_ones(
    tmp_path: Path, corpus: Corpus, registry: Registry, changes: dict[str, Any], bad: str, allowed: str
) -> None:
    with pytest.raises(CorpusError) as raised:
        _load_one(tmp_path, corpus, registry, **changes)
    message = str(raised.value)
    assert "bad.yaml" in message
    assert "TEST-RULE" in message
    assert bad in message
    assert allowed in message


def test_a_caveat_names_where_it_is(tmp_path: Path, corpus: Corpus, registry: Registry) -> None:
    with pytest.raises(CorpusError, match=r"recommend\[0\] \(x\)\.caveats\[0\]\.when\.cdk_months\.gte"):
        _load_one(tmp_path, corpus, registry,
                  recommend=_option(caveats=[{"when": {"cdk_months": {"gte": "seven"}}, "text": "t"}]))


def test_every_committed_rule_loads_with_typed_conditions(rules: tuple[Rule, ...]) -> None:
    assert len(rules) >= 28
    assert len({r.id for r in rules}) == len(rules)


def test_a_typed_threshold_no_longer_fails_mid_request(rules: tuple[Rule, ...]) -> None:
    # line: {gte: 2} is checked at load, so a decision over it cannot raise TypeError
    facts = PatientFacts(her2=Fact(value="zero", words="IHC 0", turn=1), hr=Fact(value="negative", words="TNBC", turn=1),
                         setting=Fact(value="metastatic", words="mets", turn=1), line=Fact(value=3, words="3L", turn=1))
    assert decide(facts, rules).rule_ids[0] == "TNBC-HER2ZERO-AFTER-1L"


@pytest.mark.parametrize(
    ("state", "message"),
    [({"fact": "ild", "when": ["activ"]}, "'activ'"),
     ({"fact": "ild", "when": {"lt": 2}}, "do not fit ild"),
     ({"fact": "lvef", "when": ["low"]}, "a whole number")],
)
def test_a_safety_state_with_a_value_outside_its_fact_type_is_refused(
    tmp_path: Path, corpus: Corpus, registry: Registry, state: dict[str, Any], message: str
) -> None:
    data = yaml.safe_load((CORPUS / "constraints.yaml").read_text(encoding="utf-8"))
    data["states"][0].update(state)
    path = tmp_path / "constraints.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(CorpusError, match=message) as raised:
        load_constraints(path, card_functions(corpus.cards), registry)
    assert "constraints.yaml, state ild" in str(raised.value)


def test_a_class_of_drugs_in_the_constraints_must_name_known_therapies(
        tmp_path: Path, corpus: Corpus, registry: Registry) -> None:
    data = yaml.safe_load((CORPUS / "constraints.yaml").read_text(encoding="utf-8"))
    data["classes"]["chemotherapy"] = ["capecitabine", "fluorouracil"]
    path = tmp_path / "constraints.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(CorpusError, match=r"classes.chemotherapy: unknown therapies \['fluorouracil'\]"):
        load_constraints(path, card_functions(corpus.cards), registry)


# --- evidence levels of subgroups and indirect populations ---------------------------------------


def _option_of(rules: tuple[Rule, ...], rule_id: str, starts: str) -> Any:
    rule = next(r for r in rules if r.id == rule_id)
    return next(o for o in rule.recommend if o.option.startswith(starts))


@pytest.mark.parametrize(
    ("rule_id", "option", "level", "because"),
    [
        ("BRAIN-ACTIVE-HER2POS", "tucatinib", "II", "subgroup (291 of 612"),
        ("BRAIN-STABLE-HER2POS", "tucatinib", "II", "subgroup (291 of 612"),
        ("BRAIN-AFTER-TDXD", "tucatinib", "II", "not T-DXd"),
        ("BRAIN-ON-TDXD", "tucatinib", "II", "not T-DXd"),
        ("HER2POS-AFTER-TDXD", "tucatinib", "II", "beyond T-DXd progression"),
        ("HER2POS-AFTER-TDXD", "margetuximab", "II", "not after T-DXd"),
        ("HER2POS-AFTER-TDXD", "neratinib", "II", "not after T-DXd"),
        ("TNBC-HER2LOW-AFTER-1L", "trastuzumab deruxtecan", "II", "HR-negative cohort was small"),
        ("HRPOS-AFTER-ADC", "elacestrant", "II", "not after an ADC"),
        ("TNBC-AFTER-ADC", "olaparib", "II", "not after an ADC"),
    ],
)
def test_an_option_resting_on_a_subgroup_or_indirect_population_takes_its_level_and_says_why(
    rules: tuple[Rule, ...], rule_id: str, option: str, level: str, because: str
) -> None:
    spec = _option_of(rules, rule_id, option)
    assert spec.evidence_level == level
    assert "not at its own level I" in spec.rationale
    assert because in spec.rationale


@pytest.mark.parametrize(
    ("rule_id", "option"),
    [("HER2POS-MET-2L", "trastuzumab deruxtecan"), ("HER2POS-AFTER-TDM1", "tucatinib"),
     ("HRPOS-HER2LOW-AFTER-CHEMO", "trastuzumab deruxtecan"), ("HRPOS-HER2LOW-AFTER-CDK", "elacestrant")],
)
def test_an_option_in_the_trials_own_population_keeps_level_one(rules: tuple[Rule, ...], rule_id: str, option: str) -> None:
    spec = _option_of(rules, rule_id, option)
    assert spec.evidence_level == "I"
    assert "not at its own level" not in spec.rationale


def test_every_option_quoting_a_subgroup_result_rests_on_that_subgroup(corpus: Corpus, rules: tuple[Rule, ...]) -> None:
    cards = {c.id: c for c in corpus.cards}
    quoted = 0
    for rule in rules:
        for option in rule.recommend:
            for card_id, measure in re.findall(r"result\('([^']+)', '([^']+)'\)", option.rationale):
                if card_id not in option.studies:
                    continue
                # the measure a template names is the first whose text contains it (compose.card_functions)
                result = next(r for r in cards[card_id].results if measure.lower() in r.measure.lower())
                for entry in cards[card_id].limited_evidence:
                    if result.measure in entry.results:
                        quoted += 1
                        assert entry.id in option.limited_evidence.get(card_id, ()), (rule.id, option.option)
    assert quoted >= 6


@pytest.mark.parametrize(
    ("option", "message"),
    [
        pytest.param({"studies": ["her2climb"], "rationale": "OS {{ result('her2climb', 'OS, brain-met') }}"},
                     "limited_evidence 'brain-metastases'", id="a subgroup's figure without resting on it"),
        pytest.param({"studies": ["her2climb"], "limited_evidence": {"her2climb": ["brain-mets"]}},
                     "no limited_evidence 'brain-mets'", id="an unknown entry"),
        pytest.param({"studies": ["nala"], "limited_evidence": {"her2climb": ["after-t-dxd"]}},
                     "not among its studies", id="a card the option does not cite"),
    ],
)
def test_limited_evidence_in_a_rule_is_checked_against_the_cards(
    tmp_path: Path, corpus: Corpus, registry: Registry, option: dict[str, Any], message: str
) -> None:
    with pytest.raises(CorpusError, match=message) as raised:
        _load_one(tmp_path, corpus, registry, recommend=_option(**option))
    assert "bad.yaml, rule TEST-RULE" in str(raised.value)


@pytest.mark.parametrize(
    ("entry", "message"),
    [({"level": "I"}, "level I is better than"),
     ({"results": ["OS, no such subgroup"]}, "no result with measure"),
     ({"kind": "post hoc"}, "kind"),
     ({"id": "Brain Mets"}, "lower-case words")],
)
def test_a_cards_limited_evidence_is_validated_at_load(corpus_copy: Path, entry: dict[str, Any], message: str) -> None:
    card = corpus_copy / "studies" / "destiny-breast04.yaml"
    data = yaml.safe_load(card.read_text(encoding="utf-8"))
    data["esmo_level"] = "II" if entry.get("level") == "I" else data["esmo_level"]
    data["limited_evidence"][0].update(entry)
    card.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(CorpusError, match=message) as raised:
        load_cards(corpus_copy / "studies", 57)
    assert "destiny-breast04.yaml" in str(raised.value)


# --- one figure per result entry, with its own interval --------------------------------------------


def test_destiny_breast12_and_tuxedo1_give_one_figure_per_entry_with_its_own_interval(corpus: Corpus) -> None:
    results = {(c.id, r.measure): r for c in corpus.cards for r in c.results}
    pfs12 = results[("destiny-breast12", "12-month PFS, BM cohort")]
    assert (pfs12.value, pfs12.ci) == ("61.6%", "54.9-67.6")
    median = results[("destiny-breast12", "median PFS, BM cohort")]
    assert (median.value, median.ci) == ("17.3 months", "not retrieved")
    final = "(final analysis, Neuro-Oncol 2024; 26.5-month follow-up)"
    assert (results[("tuxedo-1", f"median PFS {final}")].value, results[("tuxedo-1", f"median PFS {final}")].ci) == \
        ("21 months", "13.3-NR")
    assert (results[("tuxedo-1", f"median OS {final}")].value, results[("tuxedo-1", f"median OS {final}")].ci) == \
        ("not reached", "22.2-NR")
    functions = card_functions(corpus.cards)
    assert functions["result"]("destiny-breast12", "12-month PFS") == "61.6% (95% CI 54.9-67.6)"
    assert functions["result"]("tuxedo-1", "final analysis") == "21 months (95% CI 13.3-NR)"


@pytest.mark.parametrize(
    ("value", "ci", "joined"),
    [("61.6%; median PFS 17.3 months", "54.9-67.6", True),
     ("21 months; OS not reached (22.2-NR)", "13.3-NR", True),
     ("PFS 5.7 vs 2.3 months; HR 0.31; OS HR 0.53 (0.36-0.78); ORR 43.8% vs 12.8%", "PFS 0.22-0.45", True),
     ("75.8% vs 34.1%", "69.8-80.7", True),
     ("10.1 vs 5.4 months; HR 0.51", "0.40-0.64", False),
     ("HR 0.55 vs HR 0.42", "0.42-0.73; 0.28-0.64", False),
     ("73.3% (2 CR 13.3%, 9 PR 60%; 3 SD 20%)", "48.1-89.1", False),
     ("75.8% vs 34.1%", "69.8-80.7 vs 27.7-40.5", False),
     ("61.6%; median PFS 17.3 months", "not retrieved", False)],
)
def test_an_interval_shared_by_several_figures_is_refused(value: str, ci: str, joined: bool) -> None:
    result = StudyResult(measure="m", comparison="c", value=value, ci=ci, source="s")
    assert (interval_problem(result) is not None) is joined


def test_every_committed_result_has_one_interval_per_figure(corpus: Corpus) -> None:
    assert [(c.id, r.measure) for c in corpus.cards for r in c.results if interval_problem(r)] == []


def test_a_card_joining_figures_under_one_interval_fails_at_load(corpus_copy: Path) -> None:
    card = corpus_copy / "studies" / "tuxedo-1.yaml"
    data = yaml.safe_load(card.read_text(encoding="utf-8"))
    data["results"][0]["value"] = "73.3%; median PFS 21 months"
    card.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(CorpusError, match=re.escape("tuxedo-1.yaml, result 'intracranial RR': the value joins 2 figures")):
        load_cards(corpus_copy / "studies", 57)
