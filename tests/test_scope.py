"""Scope of each mention (spaCy + medspaCy ConText with the project's rules): no index needed."""

from __future__ import annotations

import pytest

from assistant.registry import load_registry
from assistant.scope import ScopeReader
from assistant.vocabulary import load_vocabulary
from tests.conftest import CORPUS


@pytest.fixture(scope="module")
def scope() -> ScopeReader:
    registry = load_registry(CORPUS)
    return ScopeReader(registry, load_vocabulary(CORPUS / "vocabulary.yaml"), CORPUS)


def _categories(scope: ScopeReader, text: str, words: str) -> tuple[str, ...]:
    mention = next(m for m in scope.read(text) if m.text == words)
    return mention.categories


@pytest.mark.parametrize(
    ("text", "words", "category"),
    [("Enhertu was discussed at tumour board last month but she has not started it yet.", "Enhertu", "CONSIDERED"),
     ("Kadcyla was planned but she only received trastuzumab", "Kadcyla", "CONSIDERED"),
     ("wat about Enhertu??", "Enhertu", "CONSIDERED"),
     ("Plan ribociclib + letrozole + ovarian suppression.", "ribociclib", "CONSIDERED"),
     ("She declined Enhertu because of hair loss concerns.", "Enhertu", "DECLINED"),
     ("Pt refused Trodelvy after reading about neutropenia.", "Trodelvy", "DECLINED"),
     ("Elacestrant not available in our country.", "Elacestrant", "UNAVAILABLE"),
     ("T-DXd is not reimbursed here for HER2-low disease.", "T-DXd", "UNAVAILABLE"),
     ("she cannot take capecitabine due to DPD deficiency", "capecitabine", "CONTRAINDICATED"),
     ("T-DXd is contraindicated because of idiopathic pulmonary fibrosis", "T-DXd", "CONTRAINDICATED"),
     ("T-DXd stopped after 8 cycles because of grade 2 ILD", "T-DXd", "STOPPED"),
     ("alpelisib discontinued at 5 mo for grade 3 hyperglycaemia", "alpelisib", "STOPPED"),
     ("No ESR1/PIK3CA/AKT testing yet", "AKT", "NOT_TESTED"),
     ("PIK3CA result pending.", "PIK3CA", "NOT_TESTED"),
     ("her mother had brain metastases", "brain metastases", "FAMILY"),
     ("no history of brain metastases", "brain metastases", "NEGATED_EXISTENCE"),
     ("if she develops brain mets, what then?", "brain mets", "HYPOTHETICAL")],
)
def test_each_mention_gets_its_scope(scope: ScopeReader, text: str, words: str, category: str) -> None:
    categories = _categories(scope, text, words)
    # "No ESR1 ... testing yet": the negation is nearer, but not tested is what the reader keeps for a biomarker
    if category == "NOT_TESTED":
        assert category in categories
    else:
        assert categories[0] == category


@pytest.mark.parametrize(
    ("text", "words"),
    [("HR+ HER2 0 (no staining whatsoever on 2 biopsies), heavily pretreated: letrozole, Xeloda.", "Xeloda"),
     ("after Enhertu failure: is an HDAC inhibitor like tucidinostat an option?", "Enhertu"),
     ("no chemo so far -- should I switch the CDK4/6 inhibitor?", "CDK4/6 inhibitor")],
)
def test_a_bracket_colon_or_dash_ends_a_cue_s_scope(scope: ScopeReader, text: str, words: str) -> None:
    assert not {"NEGATED_EXISTENCE", "CONSIDERED"} & set(_categories(scope, text, words))


def test_the_nearest_cue_decides_when_two_cover_a_sentence(scope: ScopeReader) -> None:
    text = "Should I give T-DXd after progression on T-DM1?"
    assert _categories(scope, text, "T-DXd")[0] == "CONSIDERED"
    assert _categories(scope, text, "T-DM1")[0] == "PROGRESSED"


@pytest.mark.parametrize(
    ("text", "label", "value"),
    [("LVEF 38% and symptomatic heart failure", "lvef", 38), ("ECOG 3, bilirubin 3x ULN", "ecog", 3),
     ("ECOG 3, bilirubin 3x ULN", "hepatic_impairment", True), ("20 weeks pregnant", "pregnancy", "pregnant"),
     ("KPS 60", "ecog", 2), ("on haemodialysis 3x a week", "renal_impairment", True), ("He is 67, with HER2+ mBC", "sex", "male")],
)
def test_registry_patterns_read_their_values(scope: ScopeReader, text: str, label: str, value: object) -> None:
    assert any(m.label == label and m.value == value for m in scope.read(text))


@pytest.mark.parametrize(
    ("text", "words"),
    [("mTNBC, progressed on Trodelvy 2L. Is Enhertu worth trying?", "Enhertu"),
     ("PD on letrozole + palbo after 14mo. Would Enhertu be an option?", "Enhertu"),
     ("HER2+ MBC refractory to THP 1L. Kadcyla or Enhertu next?", "Kadcyla")],
)
def test_a_full_stop_inside_a_token_still_ends_the_sentence(scope: ScopeReader, text: str, words: str) -> None:
    """spaCy keeps the stop of "2L." in its token; the cue of the sentence before must not reach the next one."""
    assert "PROGRESSED" not in _categories(scope, text, words)


def test_an_abbreviation_does_not_end_the_sentence(scope: ScopeReader) -> None:
    assert "DECLINED" in _categories(scope, "She declined it, e.g. Enhertu.", "Enhertu")


def test_context_loads_without_quickumls_nltk_or_scipy() -> None:
    """The project uses ConText only: reading a message must not pay for medspaCy's QuickUMLS (NLTK, SciPy)."""
    import subprocess
    import sys

    code = ("import sys, assistant.scope as s; "
            "print(sorted(m for m in ('scipy', 'nltk', 'quickumls', 'quickumls.core') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    # nothing is left behind that breaks a library imported later (they scan sys.modules with hasattr)
    later = "import assistant.scope, sentence_transformers, inspect; inspect.getmodule(object)"
    subprocess.run([sys.executable, "-c", later], capture_output=True, text=True, check=True)


def test_spacy_loads_without_torch_and_torch_still_loads_later() -> None:
    """A cold answer does not pay for PyTorch through spaCy's thinc (0.9 s); the embedder can still import it."""
    import subprocess
    import sys

    code = ("import sys, assistant.scope as s; print('torch' in sys.modules); "
            "s.ScopeReader; import torch; print(torch.tensor([1.0]).sum().item())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "1.0"]


def test_new_words_do_not_stay_in_the_vocabulary(scope: ScopeReader) -> None:
    """A server reads notes full of names and numbers; each new word kept for good grew its memory without bound."""
    scope.read("HER2+ MBC, PD on THP. Enhertu declined.")
    before = len(scope._nlp.vocab.strings)
    for n in range(300):
        mentions = scope.read(f"Mrs Zq{n}xv, MRN {n}77{n}, HER2+ MBC, PD on THP. Enhertu declined by patient{n}.")
        assert "DECLINED" in next(m.categories for m in mentions if m.text == "Enhertu")
    assert len(scope._nlp.vocab.strings) - before < 50


def test_messages_read_at_once_from_many_threads_read_as_alone(scope: ScopeReader) -> None:
    """The server answers in threads; a memory zone closed by one message must not free another's strings."""
    from concurrent.futures import ThreadPoolExecutor

    texts = [f"Mr Qx{n}vz, HER2+ MBC, PD on THP{n % 3 * ' again'}. Enhertu declined; id {n}77." for n in range(160)]
    alone = [scope.read(t) for t in texts]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(scope.read, texts))
    assert together == alone
