"""Understand one message: the patient facts it states, with the words they were read from, and
what kind of answer it asks for. Parsing, not generation: the same words always read the same way.

Negation is read within the clause ("no brain mets", "not HER2-positive", "PIK3CA wild-type"); a
message that states two different values for one fact is a conflict for the clarifying question.
"""

from __future__ import annotations

import html
import itertools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from assistant.errors import InputRejected
from assistant.registry import Registry
from assistant.scope import REGIMEN, Mention, ScopeReader
from assistant.textclean import clean_text
from assistant.types import (
    IMPLIED_CLASSES,
    BiomarkerFact,
    Exposure,
    Fact,
    Frozen,
    PatientFacts,
    StudyCard,
    TherapyFact,
)
from assistant.vocabulary import Alignment, Speller, Vocabulary

Intent = Literal["why", "evidence", "what_if", "question", "statement"]

# --- cleaning the message -------------------------------------------------------------------

_SCRIPT = re.compile(r"(?is)<\s*(script|style|iframe|object)\b.*?(?:<\s*/\s*\1\s*>|$)")
_TAG = re.compile(r"(?s)<\s*/?\s*[a-zA-Z!][^<>]{0,2000}>")


def sanitize(message: str, max_chars: int) -> tuple[str, bool]:
    """The message as plain text, and whether markup was removed. Never echo the original."""
    message = clean_text(message)  # invalid UTF-8 and terminal escapes, whatever surface it came through
    if "\x00" in message or sum(1 for c in message if ord(c) < 32 and c not in "\t\n\r") > 2:
        raise InputRejected("The message contains binary data; send plain text.")
    if len(message) > max_chars:
        raise InputRejected(
            f"The message is {len(message):,} characters long; the limit is {max_chars:,}. "
            "Describe the patient and the question in a few sentences."
        )
    text = html.unescape(message)
    cleaned = _TAG.sub(" ", _SCRIPT.sub(" ", text))
    # What is left of "<" and ">" is kept only as a comparison ("ER <1%", "> 10 mm"), never as markup.
    cleaned = re.sub(r"<(?![\s=]*[\d.])|(?<![\d%\s=-])>", " ", cleaned)
    cleaned = re.sub(r"[\u200b-\u200f\u2028-\u202e\ufeff]", "", cleaned)
    cleaned = re.sub(r"\s+", " ", cleaned).strip()
    return cleaned, cleaned != re.sub(r"\s+", " ", message).strip()


# --- the reading of one message -------------------------------------------------------------


class Conflict(Frozen):
    fact: str
    first: str  # the words of one value
    second: str  # the words of the other


class Reading(Frozen):
    text: str
    turn: int
    facts: PatientFacts  # about the patient: what-if sentences are not in it
    what_if: PatientFacts | None = None  # the facts of its what-if sentences ("what if she had brain mets?")
    conflicts: tuple[Conflict, ...] = ()
    studies: tuple[str, ...] = ()  # card ids the message names
    intent: Intent = "statement"
    hypothetical: bool = False
    correction: bool = False
    asks_definition: bool = False
    asks_result: bool = False
    asks_explanation: bool = False  # an asking sentence wants the evidence or the reasons: "explain", "what data?"
    measures: tuple[str, ...] = ()
    other_cancer: str | None = None
    alternative_medicine: bool = False
    alternative_asked: bool = False  # the question itself is about it: "... try homeopathy instead. Will that work?"
    about_review: bool = False  # asks about the review itself: authors, funding, journal, literature cut-off
    injection: bool = False
    dosing: bool = False
    toxicity_management: bool = False
    personal_data: bool = False  # asks for someone's address, phone, record number
    veterinary: bool = False  # about an animal
    markup_removed: bool = False
    domain_terms: tuple[str, ...] = ()  # vocabulary groups named
    patient_words: bool = False  # "she", "my patient", "58-year-old"
    asks_choice: bool = False  # "Enhertu or Trodelvy?": a choice between treatments
    drug_studies: tuple[str, ...] = ()  # cards reached through a drug only one study tested


@dataclass(frozen=True)
class Lexicon:
    """What understanding needs from the corpus: vocabulary, spelling, study names."""

    vocabulary: Vocabulary
    speller: Speller
    named_studies: Callable[[str], list[StudyCard]]  # by study names only, not by drugs
    studies_by_drug: Callable[[str], list[StudyCard]]  # also by a drug only one study tested
    registry: Registry
    scope: ScopeReader


def read(message: str, turn: int, lexicon: Lexicon, max_chars: int, *, metastatic: bool = False) -> Reading:
    """One message read; `metastatic`: an earlier turn said the disease is metastatic, so a line history in this
    one ("prev: letrozole/palbo, paclitaxel. next?") is a history of progressions."""
    text, markup = sanitize(message, max_chars)
    corrected, alignment = lexicon.speller.correct_aligned(text)
    lower = corrected.lower()
    mentions = lexicon.scope.read(corrected, regimen_spans(corrected, lexicon.vocabulary))
    what_if_spans = _what_if_sentences(lower)
    factual = _mask(corrected, what_if_spans)
    facts, conflicts = _facts(factual, turn, lexicon, mentions, metastatic)
    facts = _verbatim(facts, corrected, alignment)
    names = _uncovered(text, lexicon)
    uncovered = tuple(Fact(value=name, words=name, turn=turn) for name in names)
    if uncovered:
        names = [name.lower() for name in names]
        # "what about trastuzumab duocarmazine?" asks about the uncovered drug, not about trastuzumab
        therapies = tuple(t for t in facts.therapies if t.received or not any(
            t.words.lower() in name and t.words.lower() != name for name in names))
        facts = facts.model_copy(update={"uncovered": uncovered, "therapies": therapies})
    what_if = None
    if what_if_spans:
        kept = [(0, 0)] + [span for span in what_if_spans] + [(len(corrected), len(corrected))]
        others = [(a[1], b[0]) for a, b in itertools.pairwise(kept) if b[0] > a[1]]
        supposed = [m.model_copy(update={"categories": tuple(c for c in m.categories if c != "HYPOTHETICAL")})
                    for m in mentions]  # in a what-if sentence the hypothetical is the patient to answer for
        what_if = _verbatim(_facts(_mask(corrected, others), turn, lexicon, supposed)[0], corrected, alignment)
        # "what if she had brain mets: would tucatinib then be preferred over T-DXd?" asks about both drugs for her too
        named = {t.therapy for t in facts.therapies}
        asked_about = tuple(t for t in what_if.therapies if t.status == "considered" and t.therapy not in named)
        if asked_about:
            facts = facts.model_copy(update={"therapies": (*facts.therapies, *asked_about)})
    studies = tuple(card.id for card in lexicon.named_studies(corrected))
    groups = tuple(dict.fromkeys(m.group for m in lexicon.vocabulary.find(corrected)))
    asked = _questions(lower)
    alternative = bool(_ALTERNATIVE.search(lower))
    return Reading(
        text=text,
        turn=turn,
        facts=facts,
        what_if=what_if,
        conflicts=conflicts,
        studies=studies,
        intent=_intent(lower),
        hypothetical=bool(_HYPOTHETICAL.search(lower)),
        correction=bool(_CORRECTION.search(lower)),
        asks_definition=any(_DEFINITION.search(sentence) for sentence in asked),
        asks_result=any(_RESULT.search(sentence) for sentence in asked),  # not "NGS found" in the case
        asks_explanation=_asks_explanation(lower, lexicon.vocabulary, bool(_PATIENT.search(lower))),
        measures=tuple(name for name, pattern in _MEASURES.items() if pattern.search(lower)),
        other_cancer=_other_cancer(lower, corrected),
        alternative_medicine=alternative,
        alternative_asked=alternative and any(
            _ALTERNATIVE.search(sentence) or re.search(r"\b(?:those|that|them|it|this|these)\b", sentence) for sentence in asked),
        about_review=bool(_ABOUT_REVIEW.search(lower) and _PUBLICATION.search(lower)),
        injection=bool(_INJECTION.search(lower)),
        # asked, not told: "had Enhertu 5.4 mg/kg ... what now?" and "grade 2 ILD, resolved ... what next?" are treatment questions
        dosing=any(_DOSING.search(sentence) for sentence in asked),
        toxicity_management=any(_TOXICITY.search(sentence) for sentence in asked),
        personal_data=bool(_PERSONAL_DATA.search(lower)),
        veterinary=bool(_VETERINARY.search(lower)),
        markup_removed=markup,
        domain_terms=groups,
        patient_words=bool(_PATIENT.search(lower)),
        asks_choice=_asks_choice(corrected, lexicon),
        drug_studies=tuple(card.id for card in lexicon.studies_by_drug(corrected)),
    )


# the shapes of drug names (international nonproprietary name stems) and of development codes ("SYD985", "DS-8201")
_DRUG_SHAPE = re.compile(
    r"\b[A-Za-z][a-z]{2,}(?:mab|nib|lisib|ciclib|tecan|vedotin|platin|rubicin|taxel|estrant|parib|limus|sertib|degrader|"
    r"mycin|stat|zomib|tansine|govitecan|deruxtecan)(?:\s+(?:vedotin|deruxtecan|govitecan|duocarmazine|emtansine|"
    r"tirumotecan|mafodotin))?\b|\b[A-Z]{2,5}-?\d{3,5}[a-z]?\b")


_ASSAY = re.compile(r"SP\d{3}|22C3|28-8|E1L3N|4B5", re.IGNORECASE)  # PD-L1 and HER2 antibody clones, not drugs
# a trial's name as written (an all-capital gene symbol with a digit, "ERBB2", "PALB2", is not one): "KEYNOTE-355", "EMBER-3", "DESTINY-Breast05", "IMpassion130"; an acronym in brackets or
# before "trial"/"study" ("(EMBRACA)", "MOUNTAINEER trial"); a guideline by its body ("NCCN guidelines")
_TRIAL_SHAPE = re.compile(
    r"\b[A-Z]{4,}[A-Za-z]*-(?:(?:Breast|Lung|Gastric|PanTumou?r|CRC)-?)?\d{1,4}[A-Za-z]?\b|\b[A-Z][a-z]+[A-Z][A-Za-z]*-?\d{1,4}[A-Za-z]?\b|"
    r"(?<=\()[A-Z]{6,}(?=\))|\b[A-Z]{6,}(?=\s+(?:trial|study|data|regimen)\b)|(?:(?<=\bin\s)|(?<=\bper\s)|(?<=\blike\s))[A-Z]{6,}\b|"
    r"\b[A-Z]{5,}(?=\s+(?:show(?:s|ed|n)?|results?|data|findings?|found|reported|demonstrated|trial|study|readout|outcomes?|"
    r"publication|paper|abstract|update|presented|proved|met|missed|enrolled|included|tested|compared)\b)|"
    r"(?:(?<=\bdid\s)|(?<=\bdoes\s)|(?<=\bwas\s)|(?<=\bfrom\s)|(?<=\bof\s)|(?<=\babout\s))[A-Z]{5,}\b(?!-)|"
    r"\b(?:NCCN|St\.?\s?Gallen|NICE|ESO-ESMO|ABC\d?|ASCO|ESMO)(?=\s+(?:guidelines?|guidance|recommend\w*|consensus|says?)\b)")


def _uncovered(text: str, lexicon: Lexicon) -> list[str]:
    """Drugs the message names that neither the review, its studies nor the vocabulary know: the answer says the
    review does not discuss them rather than reading them as something else. Read from the user's words, before
    spelling correction could turn an unknown name into a known one."""
    known = [(m.start, m.end) for m in lexicon.vocabulary.find(text)]
    names: dict[str, str] = {}
    for match in _TRIAL_SHAPE.finditer(text):
        words = match.group(0)
        if any(a <= match.start() < b for a, b in known) or lexicon.named_studies(words):
            continue  # a study the review cites ("KATE2", "DESTINY-Breast03") or a name the vocabulary knows
        if all(w.lower() in lexicon.speller.known for w in re.findall(r"[A-Za-z]+", words)) and not re.search(r"\d", words):
            continue
        names.setdefault(words.lower(), words)
    for match in _DRUG_SHAPE.finditer(text):
        if any(a <= match.start() and match.end() <= b for a, b in known):
            continue  # within a name the vocabulary knows; "trastuzumab duocarmazine" is not trastuzumab
        words = match.group(0)
        if _ASSAY.fullmatch(words) or all(w.lower() in lexicon.speller.known for w in re.findall(r"[A-Za-z0-9-]+", words)):
            continue
        names.setdefault(words.lower(), words)
    return list(names.values())


EXPLANATION_INTENT = "asks for an explanation"  # the vocabulary groups of such words
EVIDENCE_INTENT = "asks for the evidence"
RECOMMENDATION_INTENT = "asks for a recommendation"


def _asks_explanation(lower: str, vocabulary: Vocabulary, about_a_patient: bool) -> bool:
    """The reasons or the evidence are what is asked: an asking sentence (a question, or one that opens with
    "explain") wants them, and it is the last one or none asks for a plan. "Worth adding atezolizumab to T-DM1?
    Explain what KATE2 showed." asks for the evidence; "What does the evidence support?" for a plan. The
    evidence of one patient's case ("any evidence on what to do after T-DXd for my patient?") is a plan."""
    wanted = {EXPLANATION_INTENT} if about_a_patient else {EXPLANATION_INTENT, EVIDENCE_INTENT}
    asking, every = [], []
    for match in re.finditer(r"[^.?!\n]+[.?!]?", lower):
        sentence = match.group(0).strip()
        groups = [(m.group, m.start) for m in vocabulary.find(sentence)]
        explains = any(g in wanted for g, _ in groups)
        opens = any(g in wanted and re.fullmatch(r"(?:(?:so|and|please|pls|can\s+you|could\s+you)\s+)*", sentence[:start])
                    for g, start in groups)
        flags = (explains, any(g == RECOMMENDATION_INTENT for g, _ in groups))
        every.append(flags)
        if sentence.endswith("?") or opens:
            asking.append(flags)
    asking = asking or every  # no question mark: every sentence may be the question
    if not asking:
        return False
    return any(e for e, _ in asking) and (asking[-1][0] or not any(r for _, r in asking))


def _asks_choice(text: str, lexicon: Lexicon) -> bool:
    drugs = [m for m in lexicon.vocabulary.find(text) if m.group in _GROUP_THERAPIES]
    return any(re.fullmatch(r"\s*(?:,|or|vs\.?|versus|/)\s*(?:\w+\s+)?", text[a.end:b.start], re.IGNORECASE)
               for a, b in itertools.pairwise(drugs))


# --- patterns -------------------------------------------------------------------------------

_NEG = r"(?:no|not|non|without|never|negative\s+for|denies|free\s+of|absence\s+of|ruled\s+out)"
_CLAUSE_SPLIT = re.compile(r"[.;!?\n]+(?!\d)|:\s|\s--?\s|\s—\s|,\s*(?=(?:but|however|now|then|currently|should|what|which|and now)\b)")
_SENTENCE_SPLIT = re.compile(r"[.;!?\n]+(?!\d)")

_HYPOTHETICAL = re.compile(
    r"\bwhat\s+(?:about\s+)?if\b|\bwhat\s+about\b|\band\s+if\b|\bsuppose\b|\bhypothetically\b|"
    r"\bif\s+(?:she|he|the\s+patient|they)\s+(?:had|has|were|was|did)\b|\bwould\s+(?:it|that|this)\s+change\b"
)
_CORRECTION = re.compile(
    r"\bcorrection\b|\bcorrected\b|\bi\s+meant\b|\bactually\b|\bsorry\b|\boh\s+wait\b|^\W*wait\b|\b(?:newest|latest)\s+(?:\w+\s+)?(?:biops\w*|bx|path\w*|results?|report)\b|"
    r"\b(?:new|repeat|fresh|recent|newest|latest)\s+(?:\w+\s+)?bx\b|\bmy\s+(?:bad|mistake)\b|\bmisread\b|\btypo\b|\bupdated?\b|"
    r"\bturns\s+out\b|\b(?:new|repeat|fresh|recent)\s+(?:\w+\s+)?biops\w*|\bre-?biops\w*|\bre-?test\w*|\bre-?stain\w*|\bretested\b|"
    r"\bnow\s+(?:shows?|is|reads?)\b|\bconverted\b|\bhas\s+become\b|\bon\s+progression\b|\bsecond\s+opinion\b|\bre-?review\w*|"
    # an apology or an admitted slip corrects what was said: "apologies - HER2 is IHC 0", "I misspoke", "mixed up the letters"
    r"\bapolog\w*|\bpardon\b|\bmis-?spoke\b|\bmis-?typed\b|\bmixed\s+(?:them\s+|it\s+)?up\b|\bmix-?up\b|\bscratch\s+that\b|"
    r"\bi\s+was\s+wrong\b|\b(?:should|meant\s+to)\s+(?:have\s+)?(?:said|say|written|write|read)\b|\bon\s+(?:central\s+|path\w*\s+)?review\b|\berratum\b"
)
_DEFINITION = re.compile(
    r"^\s*(?:(?:and|so|but)\s+)?(?:what\s+(?:exactly\s+|really\s+)?(?:is|are|does|do|causes|drives|makes|counts|distinguish\w*|"
    r"determin\w*|explain\w*|separat\w*|differentiat\w*|mechanisms?|role)\b|what'?s\b|define\b|definition\b|explain\b|describe\b|how\s+(?:do|does|is|are|can|could|should|might)\b|why\b|where\s+(?:do|does|is|are)\b|when\s+(?:do|does|is|are)\b|"
    r"what\s+(?:can|could|might)\s+be\b|is\s+there\s+(?:a\s+)?(?:rationale|mechanism|reason)|can\s+\w+\s+(?:\w+\s+){0,3}(?:make|cause|lead|explain)\b)|"
    r"\bmechanism|\bmeaning\b|\bmean\b\??$|\bwhat\s+causes\b|\bhow\s+(?:does|do)\b.*\bwork\b|\bwhy\s+does\b|\bwhy\s+do\b"
)
_RESULT = re.compile(
    r"\bwhat\s+did\b|\bwhat\s+does\b.*\b(?:show|find|report)|\bresults?\b|\bshow(?:ed|n)?\b|\bfound\b|\bfind(?:ings)?\b|"
    r"\breport(?:ed)?\b|\bhow\s+many\b|\bdesign\b|\bprimary\s+(?:end\s*point|outcome)\b|\benrol|\bpopulation\b|"
    r"\bhazard\s+ratio\b|\bhr\s*(?:for\b|of\b|=|\?)|\bdata\b|\bwhat\s+(?:share|proportion|percentage|fraction)\b|\bnumbers?\b|\brates?\b|\beffica|\bbenefit\b|\bwhat\s+was\b|\bhow\s+(?:big|large|good)\b"
)
_MEASURES = {
    "pfs": re.compile(r"\bpfs\b|progression[\s-]*free"),
    "os": re.compile(r"\bos\b|overall\s+survival"),
    "orr": re.compile(r"\borr\b|response\s+rate|\bresponse\b|\bremission\b"),
    "pcr": re.compile(r"\bpcr\b|complete\s+(?:pathologic|response)"),
    "idfs": re.compile(r"\bidfs\b|invasive\s+disease[\s-]*free"),
    "hazard ratio": re.compile(r"hazard\s+ratio|\bhr\s*(?:=|of\b|for\b|\?|was\b|\d)|\bhrs\b|\b(?:pfs|os)\s+hrs?\b|\b95\s*%?\s*ci\b|confidence\s+interval"),
    "safety": re.compile(r"\bild\b|pneumonitis|adverse|toxicit|safety|grade\s*(?:≥|>=|3)"),
    "n": re.compile(r"how\s+many|\bpatients\s+(?:were|enrolled)|sample\s+size|\benrol"),
    "design": re.compile(r"\bdesign\b|\bphase\b|randomi[sz]ed|single[\s-]*arm"),
    "cns": re.compile(r"\bcns\b|intracranial|brain"),
}
_OTHER_CANCERS = re.compile(
    r"\b(prostate|lung|colorectal|colon|rectal|gastric|stomach|gastro[\s-]*(?:o)?esophageal|esophageal|oesophageal|"
    r"ovarian|endometrial|uterine|cervical|pancreatic|bladder|urothelial|kidney|renal|liver|hepatocellular|thyroid|"
    r"head\s+and\s+neck|brain|skin|testicular|biliary(?:\s+tract)?|bile\s+duct|gall[\s-]*bladder|ampullary|salivary(?:\s+(?:duct|gland))?|parotid|gej|gastroesophageal\s+junction|gastro[\s-]*o?esophageal\s+junction)\s+(?:(?:serous|squamous|clear[\s-]+cell|mucinous|papillary|neuroendocrine|urothelial)\s+)?(?:cancer|carcinoma|adenocarcinoma|adenoca|ca|tumou?r|malignancy|neoplasm)\b|"
    r"\b(m?nsclc|sclc|m?crc|m?crpc|hcc|rcc|hnscc|scchn|gbm|btc|cholangio\w*|dlbcl|melanoma|lymphoma|leuka?emia|myeloma|glioblastoma|glioma|sarcoma|mesothelioma|"
    r"gastrointestinal\s+stromal|non[\s-]*small[\s-]*cell|small[\s-]*cell\s+lung)\b"
)
_BREAST = re.compile(r"\bbreast\b|\bmammary\b|\bm?bc\b|\bm?tnbc\b|\bidc\b|\bilc\b|\bebc\b|\bductal\s+carcinoma\b|\blobular\b")
_GIST = re.compile(r"\bGISTs?\b")  # the tumour in capitals; "the gist of the review" is a summary
_INJECTION = re.compile(
    r"\b(?:ignore|disregard|forget|override|bypass)\b[^.?!]{0,40}\b(?:instruction|rule|prompt|guideline|polic|"
    r"previous|above|system)\w*|\byou\s+are\s+now\b|\bpretend\s+(?:to\s+be|you)\b|\bact\s+as\s+(?:a|an|my)\b|"
    r"\bsystem\s+prompt\b|\bjailbreak\b|\bdeveloper\s+mode\b|\bdo\s+anything\s+now\b|\bnew\s+instructions?\b|"
    r"\breveal\s+your\b|\brepeat\s+(?:the|your)\s+(?:prompt|instructions)"
)
_ABOUT_REVIEW = re.compile(r"\b(?:this|the|your|that)\s+(?:review|paper|article|source)\b|\bauthors?\b|\bma\s+(?:and|&)\s+li\b")
_PUBLICATION = re.compile(
    r"\bjournal\b|\bdoi\b|\bpublish\w*|\bpublication\b|\bwhen\b|\byear\b|\bdate\b|\bauthors?\b|\bwr[io]te\b|\bfund\w*|"
    r"\bgrant\b|\bconflicts?\b|\bcompeting\b|\blicen[cs]e\w*|\bcut[\s-]*off\b|\bsearch\w*|\bliterature\b|\bpubmed\b|"
    r"\bup\s+to\s+date\b|\bcurrent\b|\bhow\s+old\b|\breferences?\b|\btitle\b|\bopen\s+access\b|\bbias\w*"
)
_ALTERNATIVE = re.compile(
    r"\bhomeopath\w*|\bnaturopath\w*|\bherbal\b|\bherbs?\b|\bsupplements?\b|\bvitamin\s+[a-z]\b|\bcannabi\w*|\bcbd\b|\bketo\w*\s+diet|"
    r"\bacupuncture\b|\bayurved\w*|\bmistletoe\b|\bapricot\s+kernels?\b|\blaetrile\b|\bcoffee\s+enemas?\b|\bcrystals?\b|\bfasting\b"
)
_DOSING = re.compile(
    r"\bdos(?:e|es|ing|age)\b|\bmg\s*/\s*(?:kg|m2|m²)\b|\bhow\s+much\s+(?:t-?dxd|t-?dm1|sg|enhertu|kadcyla|trodelvy|drug)|"
    r"\binfusion\s+(?:rate|time)\b|\bq3w\b|\bhow\s+often\s+(?:to\s+)?(?:give|infuse|administer)"
)
_TOXICITY = re.compile(
    r"\b(?:manag\w*|treat\w*|handl\w*|prevent\w*|steroid\w*|prednis\w*|dexameth\w*|prophyla\w*|antiemetic\w*)\b[^.?!]{0,50}"
    r"\b(?:nausea|vomiting|ild|pneumonitis|neutropenia|diarrh\w*|alopecia|rash|hyperglyc\w*|toxicit\w*|side\s+effects?|adverse)|"
    r"\b(?:nausea|vomiting|neutropenia|pneumonitis|ild|diarrh\w*|toxicit\w*|side\s+effects?)\b[^.?!]{0,40}\b(?:manag\w*|treat\w*|steroid\w*|prednis\w*|dexameth\w*|rechalleng\w*|handl\w*|prophyla\w*|loperamide|antidiarrh\w*|antiemetic\w*)"
)
_PERSONAL_DATA = re.compile(
    r"\b(?:give|tell|show|find|look\s*up|what\s+is|what'?s|send|list|share|retrieve|get|need)\b[^.?!]{0,40}"
    r"\b(?:home\s+)?(?:address|phone|telephone|e-?mail|contact\s+details|date\s+of\s+birth|dob|mrn|ssn|social\s+security|insurance\s+number)\b"
)
_VETERINARY = re.compile(
    r"\b(?:my|a|the|our|his|her)\s+(?:dog|cat|puppy|kitten|pet|mare|horse)\b|\b(?:canine|feline)\b|\bveterinar\w*|\bvet\b"
)
# "a pt", "any patient" speak of patients in general ("role of ctDNA while a pt is on an ADC?"), not of one
_PATIENT = re.compile(
    r"\b\d{1,3}\s*(?:-?\s*(?:year|yr)s?[\s-]*old|\s*yo\b|\s*y/o\b|\s*[fm]\b)|(?<!\ba\s)(?<!\bany\s)\b(?:pt|patient)\b|"
    r"\bshe\b|\bhe\b|\bher\b|"
    r"\bhis\b|\bwoman\b|\bman\b|\blady\b|\bmy\s+pt\b|\bcase\b|\bmy\s+patients?\b|\bour\s+patient\b|\bthis\s+patient\b"
)


def _questions(lower: str) -> list[str]:
    """The sentences that ask something (all sentences if none ends with '?')."""
    sentences = [m.group(0).strip() for m in re.finditer(r"[^.?!]+[.?!]?", lower) if m.group(0).strip()]
    asked = [s for s in sentences if s.endswith("?")]
    return asked or sentences


def _intent(lower: str) -> Intent:
    short = len(lower.split()) <= 8
    if short and re.search(r"^\s*(?:and\s+)?(?:but\s+)?(?:why|how\s+come|why\s+(?:that|this|so)|on\s+what\s+basis)\b", lower):
        return "why"
    if short and re.search(r"\b(?:evidence|source|sources|references?|citations?|based\s+on\s+what|which\s+(?:trial|study|studies)\s+support|proof|data\s+for\s+(?:that|this))\b", lower):
        return "evidence"
    if _HYPOTHETICAL.search(lower):
        return "what_if"
    if "?" in lower or re.match(r"\s*(?:what|which|how|should|would|could|can|is|are|do|does|when|where|who)\b", lower):
        return "question"
    return "statement"


def _other_cancer(lower: str, text: str) -> str | None:
    match = _OTHER_CANCERS.search(lower)
    if not match:
        gist = _GIST.search(text)
        return gist.group(0) if gist else None
    # "brain tumour" in a breast cancer question is a metastasis, not another cancer.
    if re.search(r"\bbreast\b|\bmbc\b|\btnbc\b", lower) and match.group(1) in {"brain", "liver", "skin"}:
        return None
    return match.group(0)


# --- facts ----------------------------------------------------------------------------------

_HER2 = r"(?:her[\s-]?2|her2/neu|erbb2|c-?erbb2)"
# "HER2 was actually 1+", "HER2 is in fact IHC 0", "HER2 now 3+": the words of a correction or an update
_ADVERB = r"(?:actually|really|in\s+fact|truly|definitely|indeed|now|only|just)"
_HER2_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("positive", re.compile(
        rf"\btriple[\s-]*positive\b|{_HER2}[\s-]*(?:status\s*)?(?:(?:is|was|{_ADVERB})\s+){{0,2}}(?:[:=]\s*)?(?:positive|pos\b|amplified|over[\s-]*expressi\w*|overexpressing|enriched|\+(?!\s*/\s*(?:hr|er|pr))(?![\w+])|\+(?=\s*/\s*(?:hr|er|pr)))|"
        rf"{_HER2}[\s-]*(?:(?:is|was|were|be|status|score|{_ADVERB})\s+){{0,2}}(?:ihc\s*)?3\s*\+|\bihc\s*(?:score\s*(?:of\s*)?)?3\s*\+|"
        rf"\bihc\s*2\s*\+\s*(?:/|,|and|with|but|;|\()?\s*(?:and\s+)?(?:\w+\s+){{0,2}}(?:ish|fish|sish|cish|ddish)\s*(?:\+|pos\w*|amplified|amp\b)|"
        rf"\b(?:ish|fish|sish|cish)\s*(?:(?:was|is|came\s+back|returned|reported|now)\s+){{0,2}}(?:\+|pos\w*|amplified)\b"
        rf"(?![^.;]*\b(?:her2[\s-]*low|ihc\s*1))|{_HER2}[\s-]*amplification|"
        rf"\bihc\s*2\s*\+\s*(?:/|,|and|with|but|;|\()?\s*(?:a\s+)?(?:positive|pos|amplified)\s+(?:ish|fish|sish|cish|ddish)|\bamplified\s+(?:by|on)\s+(?:ish|fish)"
    )),
    ("low", re.compile(
        rf"{_HER2}[\s-]*low|\bher[\s-]*low\b|\blow\s+{_HER2}\s*(?:expression|expressing)?|{_HER2}[\s-]*(?:(?:is|was|were|be|status|score|{_ADVERB})\s+){{0,2}}(?:ihc\s*)?1\s*\+|\bihc\s*(?:score\s*(?:of\s*)?)?1\s*\+|"
        rf"\bihc\s*2\s*\+\s*(?:/|,|and|with|but|;|\()?\s*(?:and\s+)?(?:\w+\s+){{0,2}}(?:ish|fish|sish|cish|ddish)\s*(?:-|−|neg\w*|non[\s-]*amplified|not\s+amplified|unamplified)|"
        rf"{_HER2}[\s-]*(?:(?:is|was|score|status|{_ADVERB})\s+){{0,2}}(?:ihc\s*)?2\s*\+\s*(?:/|,|and|with|but|\()?\s*(?:\w+\s+){{0,2}}(?:ish|fish|sish|cish)\s*"
        rf"(?:(?:was|is|came\s+back|returned)\s+)?(?:-|−|neg\w*|non[\s-]*amplified|not\s+amplified)|"
        rf"\bihc\s*2\s*\+\s*(?:/|,|and|with|but|;|\()?\s*(?:a\s+)?(?:negative|neg|non[\s-]*amplified|unamplified)\s+(?:ish|fish|sish|cish|ddish)|"
        rf"\b2\s*\+\s*/\s*(?:ish|fish|sish|cish|ddish)\s*(?:-|−|neg\w*|non[\s-]*amplified|not\s+amplified)"
    )),
    ("ultralow", re.compile(
        rf"{_HER2}[\s-]*ultra[\s-]*low|\bultra[\s-]*low\b|\bihc\s*(?:>|above|greater\s+than)\s*0\s*(?:but|and)?\s*(?:<|below|less\s+than)\s*1|\bihc\s*0\s*\+|faint\s+(?:incomplete\s+)?(?:membrane\s+)?staining"
    )),
    ("zero", re.compile(
        rf"{_HER2}[\s-]*(?:ihc\s*)?(?:0|zero|null|nul)\b(?!\s*\+)(?!\.\d)|{_HER2}[\s-]*(?:no|non)[\s-]*expressi\w*|\bihc\s*(?:score\s*(?:of\s*)?)?0\b(?!\s*\+)(?!\.\d)|"
        rf"{_HER2}\s*(?:is\s+)?(?:completely\s+)?negative\s*\(\s*(?:ihc\s*)?0\s*\)"
    )),
    ("negative", re.compile(
        rf"{_HER2}[\s-]*(?:status\s*)?(?:(?:is|was|{_ADVERB})\s+){{0,2}}(?:negative|neg\b|non[\s-]*amplified|not\s+amplified|[-−](?![\w])|[-−](?=\s*/))|"
        rf"\btriple[\s-]*neg\w*|\btnbc\b|\bmtnbc\b|\bhr\s*\+\s*/\s*{_HER2}\s*[-−]|"
        rf"\b(?:ish|fish|sish|cish)\s+(?:(?:was|is|came\s+back|returned|reported|result(?:ed)?|now)\s+){{0,2}}"
        rf"(?:not\s+amplified|non[\s-]*amplified|unamplified|negative)\b"
    )),
]
_CDK_NAME = re.compile(r"cdk\s*4\s*/\s*6|palbo|ribo|abema|ibrance|kisqali|verzenio|dalpiciclib")
# "x 28/12" is 28 months in British notes (months over twelve)
_ANY_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*-?\s*(months?|mos?|mths?|years?|yrs?|/\s*12(?![\d/]))\b")
_AGE = re.compile(r"[\s-]*old\b")
_ISH_RATIO = re.compile(r"\b(?:ish|fish|sish|cish|her2\s*/\s*cep17)\s*(?:ratio\s*)?(?:of\s*|=\s*|:\s*)?(\d+(?:\.\d+)?)\b(?!\s*%)")
_HER2_EQUIVOCAL = re.compile(rf"\bihc\s*2\s*\+|{_HER2}[\s-]*(?:ihc\s*)?2\s*\+|{_HER2}\s+equivocal|\b2\s*\+\s*/\s*(?:ish|fish)")

_RECEPTOR = r"(?:hr|er|pr|pgr|hormone[\s-]*receptors?|o?estrogen[\s-]*receptors?|progesterone[\s-]*receptors?)"
_HR_POS = re.compile(
    rf"\b{_RECEPTOR}(?:\s*|-(?=pos))(?:status\s*)?(?:is\s+|was\s+)?(?:\+|pos\w*|rich|strongly\s+positive)(?![\w])|\bluminal\b|\btriple[\s-]*positive\b|"
    rf"\b(?:er|pr)\s*\d{{1,3}}\s*%|\b(?:er|pr)\s*(?:\+|pos)\s*/"
)
_HR_NEG = re.compile(
    rf"\b{_RECEPTOR}(?:\s*|-(?=neg))(?:status\s*)?(?:is\s+|was\s+)?(?:[-−](?![\w])|neg\w*|0\s*%)|\btriple[\s-]*neg\w*|\btnbc\b|\bmtnbc\b|"
    rf"\bhormone[\s-]*receptor[\s-]*negative\b|\ber\s*/\s*pr\s*[-−]|\b(?:er|hr)\s*[-−]\s*/\s*pr\s*[-−]"
)
_PR_ONLY_POS = re.compile(r"\b(?:pr|pgr|progesterone[\s-]*receptors?)[\s-]*(?:\+|pos\w*)")
_ER_NEG = re.compile(r"\b(?:er|o?estrogen[\s-]*receptors?)[\s-]*(?:[-−](?![\w])|neg\w*)")

_METASTATIC = re.compile(
    r"\bmetasta\w*|\bmbc\b|\bmtnbc\b|\bstage\s*(?:iv|4)\b|\badvanced\b|\brecurren\w*|\brelapse\w*|\bde\s*novo\b|"
    r"\b(?:liver|lung|bone|brain|nodal|visceral|cns|pleural|peritoneal|skin)\s+(?:mets?|metastas\w*|lesions?|disease|involvement)\b|\bmets\b|"
    r"\bpd\b(?![-\s]?l1)|\bprogressive\s+disease\b|\bheavily\s+pre[\s-]*treated\b|\b(?:progress\w*|pd|growing|new)\s+(?:in\s+(?:the\s+)?)?(?:liver|lungs?|bones?|nodes|pleura|peritoneum)\b|"
    r"\boligo[\s-]*progress\w*|\boligo[\s-]*pd\b|\boligometasta\w*|\b(?:[2-9]|second|third|fourth|fifth|later)(?:nd|rd|th)?[\s-]*(?:lines?|l)\b|\bfirst[\s-]*line\b|\b1l\b|\bline\s+of\s+(?:therapy|treatment|chemo)"
)
_NOT_METASTATIC = re.compile(rf"\b{_NEG}[\s-]*(?:distant\s+)?metasta\w*|\bnon[\s-]*metastatic\b|\bm0\b")
_NEOADJ = re.compile(r"\bneo[\s-]*adjuvant\b|\bpre[\s-]*operative\b|\bbefore\s+surgery\b|\bprior\s+to\s+surgery\b")
_ADJ = re.compile(
    r"(?<!neo)(?<!neo-)(?<!neo )\badjuvant\w*|\bpost[\s-]*operative\b|\bafter\s+surgery\b|\bpost[\s-]*neo[\s-]*adjuvant\b|"
    r"\bresidual\s+(?:invasive\s+)?(?:disease|dz|tumou?r|cancer|carcinoma|idc|nodal\s+disease)\b|\bresidual\s+(?:\d+(?:\.\d+)?\s*(?:mm|cm)|node)|\bnon[\s-]*pcr\b|\b(?:no|without|did\s+not\s+(?:achieve|reach|get)|didn'?t\s+(?:achieve|reach|get)|failed\s+to\s+(?:achieve|reach))\s+(?:a\s+)?pcr\b|"
    r"\b(?:achieved|with|reached|had|got)\s+(?:a\s+)?pcr\b|\bpcr\s+(?:achieved|after)\b|\byp\s*t\s*[0-4]"
)
_HISTORY = re.compile(r"\b(?:after|post|prior|previous|previously|following|completed|finished|had|received)\s+(?:\w+\s+)?$")
_ADJUVANT_DRUG = re.compile(
    r"\s+(?:\w+\s+)?(?:tamoxifen|ai|aromatase|letrozole|anastrozole|exemestane|endocrine|hormon\w*|chemo\w*|ac|ac-t\w*|ec|"
    r"trastuzumab|herceptin|t-dm1|kadcyla|hp|pertuzumab|taxane|paclitaxel|docetaxel|capecitabine|olaparib|abemaciclib|"
    r"ribociclib|radiotherapy|therapy\s+with)"
)
_RELAPSE = re.compile(r"\brelaps\w*|\brecurr\w*|\b(?:distant|new)\s+metasta\w*|\bstage\s*(?:iv|4)\b|\bmetastatic\s+relapse\b")
_EARLY = re.compile(r"\bearly(?:[\s-]+stage)?\s+(?:(?:hr|er|pr|her2|tnbc|triple|luminal|hormone|receptor|high[\s-]*risk)[\w/+-]*\s+){0,3}(?:breast\s+)?(?:cancer|disease|bc|her2)|\bebc\b|\bstage\s*(?:i{1,3}|[1-3])[abc]?\b|\boperable\b|\blocali[sz]ed\b|\blocally\s+advanced\b")
_PCR_NO = re.compile(
    r"\b(?:no|without|non)[\s-]*pcr\b|\b(?:did\s+not|didn'?t|failed\s+to|not)\s+(?:achieve|reach|get|have)\s+(?:a\s+)?(?:pcr|(?:pathologic(?:al)?\s+)?complete\s+response)|"
    r"\bresidual\s+(?:invasive\s+)?(?:disease|dz|tumou?r|cancer|carcinoma|idc|nodal\s+disease)\b|\bresidual\s+(?:\d+(?:\.\d+)?\s*(?:mm|cm)|node)|\bnot\s+(?:a\s+)?pcr\b|\byp\s*t\s*[1-4]|\bpcr\s*[:=]?\s*(?:no|negative)\b"
)
_PCR_YES = re.compile(
    r"\b(?:achieved|with|reached|had|got|attained)\s+(?:a\s+)?(?:pcr|(?:pathologic(?:al)?\s+)?complete\s+(?:pathologic(?:al)?\s+)?response)|"
    r"\bpcr\s+(?:was\s+)?(?:achieved|obtained|after)\b|\bpcr\s*[:=]?\s*yes\b|\byp\s*t\s*0|\bypt0|\bwith\s+pcr\b|\bin\s+pcr\b|^\s*pcr\b|"
    r"\bcomplete\s+(?:pathologic(?:al)?\s+)?response\s+(?:was\s+)?(?:achieved|obtained|reached)|\bpathologic(?:al)?\s+complete\s+response\b(?!\s*\?)"
)
# "2L" is a line; "2 L/min", "4 L oxygen", "2 L at rest" are litres of oxygen
_LINE = re.compile(r"\b(first|second|third|fourth|fifth|[1-5])(?:st|nd|rd|th)?[\s-]*(?:line|l)\b"
                   r"(?!\s*/\s*min|\s*(?:per\s+min\w*|of\s+(?:o2|oxygen)|o2\b|oxygen|at\s+rest|nasal|via\b|by\s+nasal))")
_LINE_COUNT = re.compile(r"[1-5]\s+lines?\s+(?:of|with|on)\b")  # "1 line of capecitabine": a line behind her, not the one asked
_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5}
# a metastatic history that says lines are behind her or asks for the next one: "2 ET lines", "3 prior endocrine lines",
# "1 chemo line (capecitabine)", "lines of chemo", "T-DXd next?", "what now?"
_LINES_BEHIND = re.compile(
    r"\b(?:[1-6]|one|two|three|four|five|six)\s+(?:prior\s+|previous\s+|metastatic\s+)?(?:[\w/-]+\s+){0,2}lines?\b|"
    r"\blines?\s+of\s+(?:\w+\s+)?(?:therapy|treatment|chemo\w*|et|endocrine)|\bnext\s*(?:line\s*)?\?|\bwhat\s+now\b|\bnow\s+what\b")
_DE_NOVO = re.compile(r"\bde[\s-]*novo\b|\b(?:metastatic|stage\s*iv|oligometastatic|mets|metastases)\s+(?:\w+\s+){0,2}at\s+"
                      r"(?:diagnosis|presentation|dx)\b|\bpresent(?:ed|ing)\s+with\s+(?:\w+\s+){0,2}(?:metasta\w*|stage\s*iv)")
_DISTANT = re.compile(r"\s+(?:\w+\s+){0,2}(?:in|to)\s+(?:the\s+|her\s+)?(?:liver|lungs?|bones?|brain|pleura|peritone\w*|"
                      r"distant|viscera\w*|nodes)\b")
_RELAPSED = re.compile(r"\b(?:relaps(?:e|ed|ing)|recurrence|recurred|recurrent\s+(?:her2|hr|er|tnbc|triple|metastatic|mbc|"
                       r"disease|breast|cancer|\w+-positive|\w+-negative))\b")
_NAIVE = re.compile(
    r"\btreatment[\s-]*na[iï]ve\b|\buntreated\s+(?:metastatic|mbc|advanced|disease|her2|hr|tnbc|triple)|\bnewly\s+diagnosed\s+(?:\w+\s+){0,3}(?:metastatic|stage\s*iv|mbc)|"
    r"\bno\s+(?:prior\s+|previous\s+)?(?:systemic\s+)?(?:therapy|treatment|tx)\s*(?:\w+\s+){0,2}(?:so\s+far|yet|for\s+(?:the\s+)?(?:metastatic|advanced|mbc|recurren\w*|relapse))|"
    r"\bno\s+(?:prior|previous)\s+(?:systemic\s+)?(?:therapy|treatment|tx)\b|\bnot\s+(?:yet\s+)?treated\b|\bno\s+therapy\s+yet\b|"
    # "no treatment has been started", "has not started any treatment", "no systemic treatment yet for metastatic disease"
    r"\bno\s+(?:systemic\s+|anticancer\s+|anti-cancer\s+)?(?:therapy|treatment|tx)\s+(?:has\s+|have\s+)?(?:been\s+)?(?:started|begun|given)\b|"
    r"\bno\s+(?:systemic\s+)?(?:therapy|treatment|tx)\s+yet\b|\bnot\s+(?:yet\s+)?(?:started|begun|had|received)\s+any\b|"
    r"\bnot\s+(?:yet\s+)?(?:started|begun|had|received)\s+any\s+(?:systemic\s+)?(?:therapy|treatment|tx)\b|\byet\s+to\s+(?:start|begin|receive)\s+(?:any\s+)?(?:systemic\s+)?(?:therapy|treatment)\b|"
    r"\b(?:metasta\w*|stage\s*iv|mbc|mets)\b[^.;]{0,60},\s*untreated\s*(?:[.;]|$)|"
    r"\bfirst[\s-]*line\s+(?:options?|therapy|treatment|regimen|tx|choice)s?\s*\?|\bwhat\s+(?:\w+\s+){0,2}first[\s-]*line\b"
)

_BRAIN = r"(?:brain|cns|intracranial|cerebral|cerebellar|leptomeningeal|meningeal)"
_BRAIN_IMAGING = rf"\b(?:mri|ct|imaging|scan)\s+(?:of\s+the\s+)?{_BRAIN}\s*[:,-]\s*"  # "MRI brain: 2 new lesions"
# "progressed intracranially", "the brain is progressing", "a new right parietal metastasis"
_BRAIN_EVENT = (r"\bprogress\w*\s+intracranially\b|\bbrain[\s-]+only\s+progression\b|"
                r"\b(?:brain|head)\s+(?:mri|ct|imaging|scan)\s+(?:shows?|showed|with|:)?\s*(?:\w+\s+){0,3}(?:new|growing|enlarging)\s+"
                r"(?:\w+\s+){0,2}(?:lesions?|mets?|metastas[ie]s)\b|\bintracranial(?:ly)?\s+progress\w*|\bbrain\s+(?:is\s+)?(?:progressing|growing)\b|"
                r"\b(?:new|growing|enlarging)\s+(?:\S+\s+){0,4}(?:parietal|frontal|temporal|occipital|cerebellar|pontine)\s+"
                r"(?:\w+\s+)?(?:metastas[ie]s|mets?|lesions?)\b")
# "MRI brain (done for headaches) shows 2 new lesions", "Brain: 2 small untreated lesions"
_BRAIN_SHOWS = r"\b(?:mri|ct|imaging|scan)\s+(?:of\s+the\s+)?(?:brain|head)\b[^.;]{0,50}?\bnew\s+(?:\w+\s+){0,2}(?:lesions?|mets?|metasta\w*|foci|deposits?)\b"
_BRAIN_LABEL = r"\bbrain\s*:\s*(?:\w+\s+){0,3}(?:untreated|new|growing|active|progressing|enlarging)\s+(?:\w+\s+)?(?:lesions?|mets?|metasta\w*)\b"
_BRAIN_PRESENT = re.compile(
    rf"{_BRAIN_EVENT}|{_BRAIN_IMAGING.replace('[:,-]', '[:,-]?')}(?:is\s+)?(?:stable|unchanged)\b|\b(?:parietal|frontal|temporal|occipital|cerebellar|pontine)\s+(?:\w+\s+)?(?:metastas[ie]s|mets?)\b|"
    rf"\b{_BRAIN}[\s-]*(?:mets?|metasta\w*|lesions?|disease|involvement|deposits?|progression)\b|\bleptomeningeal\b|\bbms?\b|\bbrain\s+met\b|"
    rf"{_BRAIN_IMAGING}(?:\w+\s+){{0,3}}(?:lesions?|mets?|metasta\w*|deposits?)\b|{_BRAIN_SHOWS}|{_BRAIN_LABEL}"
)
_BRAIN_NONE = re.compile(
    rf"\b{_NEG}\s+(?:known\s+|evidence\s+of\s+|active\s+)?{_BRAIN}[\s-]*(?:mets?|metasta\w*|lesions?|disease|involvement)|"
    rf"\b{_BRAIN}[\s-]*(?:mets?|metasta\w*|lesions?|disease|involvement)\s*(?::\s*)?(?:none|absent|negative|excluded|ruled\s+out)|"
    rf"\b(?:brain|head)\s+(?:mri|ct)\s+(?:is\s+|was\s+)?(?:negative|clear|clean|normal|unremarkable)\b|\bno\s+bms?\b|\bcns[\s-]*negative\b|"
    rf"\b(?:mri|ct)\s+(?:of\s+the\s+)?(?:brain|head)\s+(?:is\s+|was\s+)?(?:negative|clear|clean|normal|unremarkable)\b|"
    rf"\bbrain\s+(?:is\s+)?(?:clear|clean)\b|\b(?:brain|head)\s+(?:mri|ct|imaging)\s*[:,-]?\s*no\s+(?:metastas[ie]s|mets|lesions)\b|"
    # "the HER2CLIMB population had 48% brain mets - she has none"
    rf"\b{_BRAIN}[\s-]*(?:mets?|metasta\w*)\b[^.;?]{{0,40}}?\b(?:she|he|pt|patient)\s+(?:has|had)\s+none\b"
)
_BRAIN_ACTIVE = re.compile(
    rf"\b(?:active|untreated|progressing|progressive|growing|new|enlarging|symptomatic|newly\s+diagnosed)\s+(?:\(?[\w+/-]+\)?\s+){{0,2}}(?:{_BRAIN}|bms?\b)|"
    rf"\b(?:{_BRAIN}[\s-]*(?:mets?|metasta\w*|lesions?|disease)|bms?)[,:]?\s+(?:(?!and\b|has\b|have\b|but\b|she\b|he\b|then\b)\w+[,:]?\s+){{0,3}}"
    rf"(?:progress\w*|growing|grew|enlarg\w*|active|untreated|symptomatic)|"
    rf"\bleptomeningeal\b|\bmeningeal\b|{_BRAIN_EVENT}|\b(?:brain|cns|intracranial)\s+progression\b|{_BRAIN_SHOWS}|{_BRAIN_LABEL}|"
    rf"{_BRAIN_IMAGING}(?:\w+\s+){{0,2}}(?:new|growing|enlarging|progressing)\s+(?:\w+\s+){{0,2}}(?:lesions?|mets?|metasta\w*)"
)
_LEPTOMENINGEAL = re.compile(r"\blepto[\s-]*mening\w*|\bleptomets?\b|\blmd\b|\blmc\b|\bcsf\s+(?:cytology\s+)?(?:positive|\+)|\bpositive\s+csf\b|"
                             r"\bcarcinomatous\s+meningitis\b")
_BRAIN_STABLE = re.compile(
    rf"\b(?:stable|treated|controlled|previously\s+treated|irradiated|resected|asymptomatic)\s+(?:\(?[\w+/-]+\)?\s+){{0,2}}(?:{_BRAIN}|bms?\b)|"
    rf"\b(?:{_BRAIN}[\s-]*(?:mets?|metasta\w*|lesions?|disease)|bms?)\b[^.;]{{0,80}}?\b(?:stable|treated|controlled|irradiated|resected|after\s+(?:srs|radiotherapy|surgery|wbrt))|"
    rf"{_BRAIN_IMAGING.replace('[:,-]', '[:,-]?')}(?:is\s+)?(?:stable|unchanged)\b"
)
_OLIGO = re.compile(
    r"\boligo[\s-]*progress\w*|\boligoprogression\b|\boligo[\s-]*pd\b|"
    r"\b(?:one|single|a\s+single|a|1|two|2|solitary|isolated)\s+(?:new\s+)?(?:enlarging|growing|progressing|progressive|increasing)\s+(?:\w+\s+){0,2}(?:lesions?|nodules?|mets?|metastas[ie]s|sites?|nodes?|foci|deposits?)|"
    r"\b(?:growing|enlarging|progressing|new)\b[^.;]{0,60}\b(?:all\s+)?(?:other|remaining)\s+(?:sites?|lesions?|disease|metastases)\s+(?:\w+\s+){0,2}(?:stable|responding|controlled|shrinking)|\b(?:one|single|a\s+single|1|two|2|a\s+few|few|isolated|solitary)\s+(?:[\w.,/-]+\s+){0,4}?(?:lesions?|nodules?|mets?|metastas[ie]s|sites?|nodes?|foci)\s+(?:\w+\s+){0,3}(?:progress\w*|grow\w*|grew|enlarg\w*|increas\w*|new)|"
    r"\b(?:one|single|a\s+single|1|solitary|isolated)\s+new\s+(?:[\w-]+\s+){0,3}(?:lesions?|nodules?|mets?|metastas[ie]s|deposits?)\b"
    r"[^.;]{0,40}\b(?:everything\s+else|all\s+else|the\s+rest|elsewhere|other\s+(?:sites?|lesions?|disease))\b[^.;]{0,25}\b(?:stable|respon\w*|controlled|shrinking|sd)\b|"
    r"\b(?:isolated|limited|single[\s-]*site|focal)\s+progression\b|\b(?:progress\w*|grow\w*|enlarg\w*)\s+(?:in\s+)?(?:only\s+)?(?:one|a\s+single|single|1|two)\s+(?:\w+\s+){0,2}(?:lesions?|sites?|mets?|metastas[ie]s|nodes?)"
)
_OLIGO_NOT = re.compile(r"\b(?:no|not|without)\s+oligo[\s-]*progress\w*|\bmultiple\s+new\s+lesions\b|"
                        r"\b(?:widespread|diffuse|multi[\s-]*site|multifocal|extensive|systemic)\b[^.;]{0,30}\b(?:pd|progress\w*)")
_ILD = re.compile(r"\b(?:ild|interstitial\s+lung\s+disease|pneumonitis|lung\s+fibrosis|pulmonary\s+fibrosis)\b")
_ILD_NOT = re.compile(rf"\b{_NEG}\s+(?:history\s+of\s+|prior\s+)?(?:ild|interstitial\s+lung\s+disease|pneumonitis)")
_ACCESS = re.compile(
    r"\b(?:can'?t|cannot|unable\s+to|couldn'?t|not\s+able\s+to)\s+(?:afford|access|get|obtain)|\bcost\w*\b|\bexpensive\b|\bafford\w*|"
    r"\b(?:not|isn'?t|is\s+not)\s+(?:available|reimbursed|covered|accessible|approved)|\bunavailable\b|\bno\s+access\b|\blimited\s+(?:access|resources)|"
    r"\binsurance\b|\bout[\s-]+of[\s-]+pocket\b|\blow[\s-]*resource\b|\bfinancial\w*"
)
_ACCESS_NOT = re.compile(  # "cost isn't an issue", "no financial or access constraints", "full private cover"
    r"\b(?:cost|costs|access|price|money|insurance|reimbursement|funding|affordability|finances?)\s+(?:is\s+|are\s+)?"
    r"(?:not\s+an?\s+|isn['’]?t\s+an?\s+|not\s+|no\s+)(?:issue|problem|concern|barrier|constraint|limitation|factor)s?\b|"
    r"\bno\s+(?:cost|access|financial|funding|reimbursement|insurance)(?:\s+(?:or|and)\s+\w+)?\s+"
    r"(?:issues?|problems?|concerns?|limits?|limitations?|constraints?|barriers?|restrictions?)|"
    r"\b(?:full|good|excellent|comprehensive)\s+(?:private\s+)?(?:insurance|cover(?:age)?|funding)\b|"
    r"\beverything\s+is\s+available\b|\ball\s+(?:options|drugs)\s+(?:are\s+)?(?:on\s+the\s+table|available)")

_BIOMARKERS: dict[str, re.Pattern[str]] = {
    "PIK3CA": re.compile(r"\bpik3ca\b|\bpi3k(?:ca)?\s+mut\w*"),
    "AKT1": re.compile(r"\bakt1?\b(?![\s-]*(?:inhibitor|pathway\s+inhibitor))"),
    "PTEN": re.compile(r"\bpten\b"),
    "ESR1": re.compile(r"\besr1\b"),
    "BRCA": re.compile(r"\bg?brca\s*[12]?\b|\bbrca[12]?\s*/\s*[12]\b|\bgbrcam?\b"),
    "PD-L1": re.compile(r"\bpd[\s-]?l1\b"),
}
_BIOMARKER_NEG = re.compile(
    r"wild[\s-]*type|\bwt\b|\bnegative\b|\bneg\b|\bnot\s+(?:mutated|altered|detected|found)|\bno\s+(?:\w+\s+){0,2}(?:mutation|alteration|variant)s?|"
    r"\bnormal\b|\bunmutated\b|\bintact\b|\bnon[\s-]*mutated\b|[-−](?![\w])"
)
_BIOMARKER_POS = re.compile(
    r"\b[a-z]\d{2,4}[a-z*]\b|\bexon\s*\d+|mut\w*|altered|alteration|positive|\bpos\b|\+|variant|loss|deleted|deletion|carrier|germline|amplif\w*|\bcps\s*(?:≥|>=|>)?\s*\d+|\bdetected\b|\bpresent\b|\bgbrca"
)

_TOPICS: dict[str, re.Pattern[str]] = {
    "monitoring": re.compile(r"\bmonitor\w*|\b(?:ctdna|ctcs?|liquid\s+biops\w*|circulating\s+tumou?r\s+(?:dna|cells?))\b[^.?]{0,60}\b(?:resistance|progression|early)|\b(?:pick\s+up|catch|spot|flag|anticipate)\s+(?:\w+\s+){0,3}(?:resistance|progression)|\b(?:track|follow|serial)\w*\s+(?:\w+\s+){0,2}(?:ctdna|liquid\s+biops\w*|ctcs?)\b|\bpredict\w*\s+(?:\w+\s+){0,2}resistance|\bdetect\w*\s+(?:\w+\s+){0,2}resistance|\bsurveillance\b|\bearly\s+(?:sign|warning|detection)"),
    "delay_resistance": re.compile(r"\b(?:delay|prevent|overcome|reduce|avoid|postpone|circumvent|get\s+around|slow)\w*\s+(?:\w+\s+){0,4}resistance|\bresistance\s+(?:be\s+)?(?:delayed|prevented|overcome|reduced)"),
    "rebiopsy": re.compile(r"\bre[\s-]*biops\w*|\bbiops\w*\s+(?:her\s+|it\s+)?again\b|\?\s*biops\w*|\brepeat\s+biops\w*|\bnew\s+biops\w*|\bbiopsy\s+(?:again|useful|worth|needed|helpful)|\bbiops\w*\b.*\b(?:useful|worth|needed|helpful|should)\b"),
    "sequencing": re.compile(r"\bsequenc\w*|\bwhich\s+(?:adc\s+)?first\b|\border\s+of\b|\bafter\s+(?:the\s+)?(?:first|other)\s+adc\b|\badc\s+after\s+(?:an?\s+)?adc\b|\bcross[\s-]*resist\w*"),
}

# Vocabulary groups -> therapies the patient may have received.
_GROUP_THERAPIES: dict[str, tuple[str, ...]] = {
    "trastuzumab deruxtecan": ("trastuzumab deruxtecan", "adc"),
    "trastuzumab emtansine": ("trastuzumab emtansine", "adc"),
    "sacituzumab govitecan": ("sacituzumab govitecan", "adc"),
    "datopotamab deruxtecan": ("datopotamab deruxtecan", "adc"),
    "sacituzumab tirumotecan": ("adc",),
    "antibody drug conjugate": ("adc",),
    "trastuzumab": ("trastuzumab",),
    "pertuzumab": ("pertuzumab",),
    "trastuzumab-pertuzumab": ("trastuzumab", "pertuzumab"),
    "taxane": ("taxane", "chemotherapy"),
    "capecitabine": ("capecitabine", "chemotherapy"),
    "eribulin": ("eribulin", "chemotherapy"),
    "vinorelbine": ("chemotherapy",),
    "anthracycline": ("anthracycline", "chemotherapy"),
    "chemotherapy": ("chemotherapy",),
    "pyrotinib": ("pyrotinib", "tyrosine kinase inhibitor"),
    "tucatinib": ("tucatinib", "tyrosine kinase inhibitor"),
    "neratinib": ("neratinib", "tyrosine kinase inhibitor"),
    "lapatinib": ("lapatinib", "tyrosine kinase inhibitor"),
    "tyrosine kinase inhibitor": ("tyrosine kinase inhibitor",),
    "CDK4/6 inhibitor": ("cdk4/6 inhibitor",),
    "endocrine therapy": ("endocrine therapy",),
    "PI3K inhibitor": ("pi3k inhibitor", "endocrine therapy"),
    "AKT inhibitor": ("akt inhibitor", "endocrine therapy"),
    "elacestrant": ("elacestrant", "endocrine therapy"),
    "margetuximab": ("margetuximab",),
    "immunotherapy": ("immunotherapy",),
    "PARP inhibitor": ("parp inhibitor",),
    "HDAC inhibitor": ("hdac inhibitor",),
    "anti-angiogenic therapy": ("anti-angiogenic therapy",),
}
# Drugs the review and its trials give only for metastatic disease: having had one says the disease is metastatic.
_METASTATIC_ONLY = frozenset({"sacituzumab govitecan", "trastuzumab deruxtecan", "tucatinib", "margetuximab", "elacestrant",
                              "eribulin"})
_HER2_DIRECTED = frozenset({"trastuzumab", "pertuzumab", "trastuzumab emtansine", "tucatinib", "pyrotinib", "neratinib",
                            "lapatinib"})
# A regimen's components; a cytotoxic it names besides a taxane or an anthracycline (cyclophosphamide, fluorouracil,
# carboplatin, methotrexate) makes "chemotherapy" a component of its own, so it stands first (not implied by the others).
_REGIMENS: dict[str, tuple[str, ...]] = {
    "thp": ("taxane", "chemotherapy", "trastuzumab", "pertuzumab"),
    "tchp": ("chemotherapy", "taxane", "trastuzumab", "pertuzumab"),
    "tch": ("chemotherapy", "taxane", "trastuzumab"),
    "tc": ("chemotherapy", "taxane"),
    "th": ("taxane", "chemotherapy", "trastuzumab"),
    "ac": ("chemotherapy", "anthracycline"),
    "ec": ("chemotherapy", "anthracycline"),
    "fec": ("chemotherapy", "anthracycline"),
    "fac": ("chemotherapy", "anthracycline"),
    "cmf": ("chemotherapy",),
    "ai": ("endocrine therapy",),
    "h": ("trastuzumab",),
}
# what follows an anthracycline regimen after a hyphen or slash: "AC-T", "EC-TH", "FEC-D", "ddAC-THP", "AC/T"
_SEQUEL: dict[str, tuple[str, ...]] = {
    "t": ("taxane",), "d": ("taxane",), "p": ("taxane",), "th": ("taxane", "trastuzumab"), "thp": ("taxane", "trastuzumab", "pertuzumab"),
    "dh": ("taxane", "trastuzumab"), "ph": ("taxane", "trastuzumab"), "tc": ("taxane",), "tch": ("taxane", "trastuzumab"),
}
_REGIMEN = re.compile(
    r"(?<![\w-])(?:dd)?(tchp|thp|tch|tc|th|ac|ec|fec|fac|cmf|ai|hp|h)(?:[-/](thp|tch|tc|th|dh|ph|t|d|p))?(?![\w])(?!-\w)|"
    r"(?<![\w-])(?:dd)?(ac|ec|fec|fac)(?=-[a-z]{4,})", re.IGNORECASE)
_PRIOR_CUE = re.compile(
    r"\b(?:after|post|following|progress\w*|prog(?:d|'d|ed)?|pd\b(?![-\s]?l1)|failed|failure|refractory|resistant|relapse\w*|recur\w*|prior|previous\w*|prev|hx|"
    r"pre[\s-]*treated|pretreated|received|had|treated|exposed|completed|got|given|on|while|during|despite|since|"
    r"through|intoleran\w*|stopped|discontinued|history\s+of|then|s/p|status\s+post|was|were)\b|\bs/p\b|-(?:pretreated|refractory|resistant|exposed)"
)
_PROGRESS_CUE = re.compile(  # a PFS on a regimen says it ended in progression: "then HP maintenance, PFS ~14 mo"
    r"\bpfs\b|\bttp\b|\bprogress\w*|\boligo[\s-]*pd\b|\bprog(?:d|'d|ed)?\b|\bpd\b(?![-\s]?l1)|\bfailed|\bfailure|\brefractory|\bresistan\w*|\brelapse\w*|\brecur\w*|"
    r"\bafter\b|\bpost\b|\bfollowing\b|\bgrow\w*|\bgrew\b|\benlarg\w*|\bworse\w*|\bnew\s+lesions?"
)
_CURRENT_CUE = re.compile(r"\b(?:on|currently|receiving|while\s+on|during|maintenance|still\s+on|now\s+on)\b")
_QUESTION_CUE = re.compile(
    r"\b(?:or|vs\.?|versus|should|next|start|give|giving|consider|use|using|offer|switch(?:ing)?\s+to|what\s+about|instead|"
    r"recommend\w*|prefer\w*|choose|choice|candidate|eligible|option|options|role\s+of|is\s+there|does|would|could|can|"
    r"alternative|alternatives|instead|cheaper|compared|than|worth|try|trying)\b|\?"
)
_HISTORY_LABEL = re.compile(r"\b(?:prev|previous(?:ly)?|prior|hx|history|h/o|pmh|treated\s+with|pretreated\s+with|received)\s*[:=-]\s*$")
_ASKING_START = re.compile(r"\s*(?:is|are|can|could|would|should|shall|what\s+about|how\s+about|any\s+role\s+for)\b")
_NOT_RECEIVED = re.compile(
    r"\b(?:no|never|not|without)\s+(?:\w+\s+){0,3}(?:prior|previous|received|had|given|treated|exposure)\b|"
    r"\b(?:no|never|without)\s+(?:prior|previous)?\s*$|\bna[iï]ve\b|\bnot\s+(?:yet\s+)?(?:received|had|given)\b|\bhasn'?t\s+had\b|\bhas\s+not\s+had\b"
)


_NEGATED_DRUG = re.compile(
    r"(?:\b(?:no|never|not|without|nor|neither|cannot|unable\s+to|denied|refused|declined|rejected)|n't|\bhasnt|"
    r"\bdidnt|\bhavent|\bcan\s+not)"
    r"(?:\s+(?:prior|previous|previously|had|has|have|received|given|been|on|treated|with|exposure|exposed|to|any|a|an|"
    r"yet|got|seen|tried|or|access|availability|funding|coverage|supply|reimbursement|for|pay|afford|get|obtain|"
    r"money|cash|\$|insurance|cover))*\s*$"
)


def _clauses(text: str) -> list[tuple[int, str]]:
    """(offset, clause) pairs; a clause ends at a sentence stop or a comma before a turn of thought."""
    result, start = [], 0
    for match in _CLAUSE_SPLIT.finditer(text):
        if match.start() > start:
            result.append((start, text[start:match.start()]))
        start = match.end()
    if start < len(text):
        result.append((start, text[start:]))
    return result


class _Collector:
    """Facts of one message; two different values for one fact become a conflict."""

    def __init__(self, turn: int) -> None:
        self.turn = turn
        self.values: dict[str, list[tuple[str | int | bool, str]]] = {}

    def add(self, name: str, value: str | int | bool, words: str) -> None:
        self.values.setdefault(name, []).append((value, words.strip()))

    def resolve(self) -> tuple[dict[str, Fact], list[Conflict]]:
        facts: dict[str, Fact] = {}
        conflicts: list[Conflict] = []
        for name, found in self.values.items():
            distinct: dict[str | int | bool, str] = {}
            for value, words in found:
                distinct.setdefault(value, words)
            if len(distinct) > 1:
                (_v1, w1), (_v2, w2) = list(distinct.items())[:2]
                conflicts.append(Conflict(fact=name, first=w1, second=w2))
            value, words = next(iter(distinct.items()))
            if name in PatientFacts.model_fields:  # other names only carry conflicts ("chemotherapy": given/not)
                facts[name] = Fact(value=value, words=words, turn=self.turn)
        return facts, conflicts


def _facts(text: str, turn: int, lexicon: Lexicon, found: Sequence[Mention],
           metastatic: bool = False) -> tuple[PatientFacts, tuple[Conflict, ...]]:
    """The facts of a text in which what is not about the patient now is blanked (same offsets)."""
    found = [m for m in found if text[m.start:m.end].strip()]  # not in a blanked sentence
    # "her sister had ILD on Enhertu": a drug someone else had is no exposure of the patient
    # "her son asks about Trodelvy", "his wife asks about chemotherapy versus T-DXd": an option the family raises for her
    others = [m for m in found if "FAMILY" in m.categories and (m.label == REGIMEN or _is_drug(m.label, lexicon))
              and not (_FAMILY_ASKS.search(text[max(0, m.start - 80):m.start])
                       and not _FAMILY_OWN.search(text[max(0, m.start - 80):m.end + 40]))]
    text = _mask(text, [(m.start, m.end) for m in others])
    found = [m for m in found if m not in others]
    text, scoped = _scoped_findings(text, found, lexicon.registry)
    lower = text.lower()
    collect = _Collector(turn)
    for name, fact in scoped.items():  # "no brain mets ... active brain metastases": a conflict to ask about
        if lexicon.registry.fact(name).read_by == "grammar":
            collect.add(name, fact.value, fact.words)
    _read_her2(lower, text, collect)
    _read_hr(lower, text, collect)
    drug_spans = [(m.start, m.end) for m in lexicon.vocabulary.find(text) if m.group in _GROUP_THERAPIES]
    _read_setting(lower, text, collect, drug_spans + [(a, b) for a, b, _ in _regimens(text, drug_spans)], metastatic)
    lines = [(_ORDINALS.get(m.group(1), int(m.group(1)) if m.group(1).isdigit() else 0), text[m.start():m.end()])
             for m in _LINE.finditer(lower) if not _LINE_COUNT.match(lower, m.start())]
    if lines:
        collect.add("line", *max(lines))  # "first line was X ... what second line?": the line asked about
    if (m := _DE_NOVO.search(lower)):
        collect.add("de_novo", not _negated(lower, m.start()), text[m.start():m.end()])  # "not de novo"
    elif (m := _RELAPSED.search(lower)) and not _negated(lower, m.start()) and (any(
            value == "metastatic" for value, _ in collect.values.get("setting", [])) or _DISTANT.match(lower, m.end())):
        collect.add("de_novo", False, text[m.start():m.end()])  # a metastatic relapse of early disease is not de novo
    _read_brain(lower, text, collect)
    other = _other_cancer(lower, text)
    breast = _BREAST.search(lower)
    if other:  # "HER2-positive gastric cancer": outside the review, whatever else it says
        collect.add("primary_site", "other", other)
    elif breast:
        collect.add("primary_site", "breast", text[breast.start():breast.end()])
    _read_flag(lower, text, collect, "oligoprogression", _OLIGO, _OLIGO_NOT)
    # "Enhertu not reimbursed": one drug unavailable is its exposure status, not a general limit on the options
    unavailable = [(m.start, m.start + len(_clause_from(lower, m.start))) for m in found
                   if m.categories[:1] == ("UNAVAILABLE",) and (m.label == REGIMEN or _is_drug(m.label, lexicon))]
    _read_flag(_mask(lower, unavailable), text, collect, "access_limited", _ACCESS, _ACCESS_NOT)
    case = bool(_PATIENT.search(lower) or lines or {"her2", "hr", "setting"} & collect.values.keys())
    exposures = {(m.start, m.end): status for m in found if (status := _exposure(m, text, lexicon)) is not None}
    exposures = _coordinated(text, found, exposures, lexicon)
    mentions = _read_therapies(text, lower, turn, lexicon, case, exposures)
    said_not = {t.therapy: t.words for t in mentions if t.status == "never_received"}
    for therapy in [t for t in mentions if t.received and t.therapy in said_not and t.therapy != "adc"]:
        collect.add(therapy.therapy, "not received", said_not[therapy.therapy])  # "never had chemo ... s/p 2 lines of chemo"
        collect.add(therapy.therapy, "received", therapy.words)
    therapies = [_early_course(t) for t in _dedupe(mentions)]  # a course for early disease is over, whatever line follows
    if (metastatic or _METASTATIC.search(lower)) and ((lines and max(lines)[0] >= 2) or _LINES_BEHIND.search(lower)):
        now = max(lines)[0] if lines else None
        therapies = [_on_line_now(t) if now is not None and _of_line(t, now) else _moved_on(t) for t in therapies]
    if True not in [value for value, _ in collect.values.get("oligoprogression", [])]:
        # oligoprogression on a drug that works elsewhere keeps it current: local therapy, then the same drug (CURB)
        therapies = _progressed_later(lower, therapies, [(m.start, m.end) for m in found if m.label == REGIMEN
                                                         or _is_drug(m.label, lexicon)])
    if any(t.therapy == "cdk4/6 inhibitor" and t.status == "progressed" for t in therapies):
        _read_cdk_months(lower, text, collect)  # the criterion is time to progression, not a course stopped or ongoing
    received = [t for t in therapies if t.received]
    naive = _NAIVE.search(lower)
    if naive and naive.group(0).startswith("not") and re.search(
            r"\b(?:mets?|metastas[ie]s|lesions?|brain|nodules?|deposits?)\b(?:[^.;]|\.(?=\d)){0,60}$", lower[:naive.start()]):
        naive = None  # "3 new brain mets, mild headache, not yet treated": the lesions are untreated, not she
    # courses for early disease, over, leave a patient untreated for her metastases ("relapse 3 years after adjuvant
    # AC-T; no therapy given for metastatic disease yet")
    early_only = bool(received) and all(t.status == "completed" and not t.progressed for t in received) and \
        naive is not None and bool(_FOR_METASTASES.search(naive.group(0)) or _FOR_METASTASES.match(lower, naive.end()))
    if naive and (not received or early_only):
        collect.add("treatment_naive", True, text[naive.start():naive.end()])
    elif naive and any(t.progressed for t in received) and not re.search(r"\b(?:first|1st)[\s-]*line\b", naive.group(0)):
        # "treatment-naive, progressed on Trodelvy": one of the two is wrong
        collect.add("prior treatment", "none", text[naive.start():naive.end()])
        collect.add("prior treatment", "some", next(t.words for t in received if t.progressed))
    elif lines and max(lines)[0] == 1 and not received and re.search(r"\b(?:first|1st)[\s-]*line\b|\b1l\b", lower):
        collect.add("treatment_naive", True, max(lines)[1])
    if "her2" not in collect.values:
        directed = next((t for t in received if t.therapy in _HER2_DIRECTED), None)
        if directed:
            collect.add("her2", "positive", directed.words)  # only HER2-positive disease gets these
    if "setting" not in collect.values and any(t.progressed for t in received) and not _NEOADJ.search(lower):
        first = next(t for t in received if t.progressed)
        collect.add("setting", "metastatic", first.words)  # progression on a treatment: advanced disease
    elif "setting" not in collect.values and (given := next((t for t in received if t.therapy in _METASTATIC_ONLY), None)):
        collect.add("setting", "metastatic", given.words)  # "prior SG stopped for toxicity": given only for metastases
    facts, conflicts = collect.resolve()
    for name, fact in scoped.items():
        if lexicon.registry.fact(name).read_by == "patterns":
            facts[name] = fact.model_copy(update={"turn": turn})
    if "sex" not in facts and (pregnancy := facts.get("pregnancy")) is not None:
        facts["sex"] = Fact(value="female", words=pregnancy.words, turn=turn)  # "20 weeks pregnant", "not pregnant"
    if "endocrine_lines" not in facts and (setting := facts.get("setting")) is not None and setting.value == "metastatic":
        counted = _endocrine_lines(lower, mentions)
        if counted:
            facts["endocrine_lines"] = Fact(value=len(counted), words=", ".join(counted), turn=turn)
    biomarkers = tuple(_read_biomarkers(text, lower, turn, found))
    topics = tuple(
        Fact(value=name, words=text[m.start():m.end()], turn=turn)
        for name, pattern in _TOPICS.items() if (m := pattern.search(lower))
    )
    therapies = _stopped_for_ild(facts, therapies)
    therapies = _held_without_naming(lower, therapies, lexicon.registry)
    toxicities = tuple(_severe_toxicities(text, therapies, lexicon.registry, turn))
    return PatientFacts(**facts, therapies=tuple(therapies), biomarkers=biomarkers, topics=topics,
                        toxicities=toxicities), tuple(conflicts)


def _read_her2(lower: str, text: str, collect: _Collector) -> None:
    found: list[tuple[int, str, str]] = []
    taken: list[tuple[int, int]] = []
    for value, pattern in _HER2_PATTERNS:
        for match in pattern.finditer(lower):
            if any(a < match.end() and match.start() < b for a, b in taken):
                continue  # "HER2-low" must not also read as "HER2-" negative
            negation = _negation_start(lower, match.start())
            if negation is not None:
                cue = re.match(_NEG, lower[negation:])
                between = lower[negation + (cue.end() if cue else 0):match.start()]
                if re.search(r"\b(?:sure|certain|clear|known)\b", between):
                    continue  # "not sure about HER2+ status": unknown, neither positive nor negative
                if re.search(r"\b(?:for|in|with|after|on|than|instead)\b", between):
                    negation = None  # "why not T-DM1 for HER2+ MBC": the negation is of the drug, not of HER2
            if negation is not None:
                if value == "positive":
                    found.append((match.start(), "negative", text[negation:match.end()]))
                    taken.append(match.span())
                continue
            found.append((match.start(), value, text[match.start():match.end()]))
            taken.append(match.span())
    ratio = _ISH_RATIO.search(lower)
    if ratio and not any(v in {"positive", "low"} for _, v, _ in found):
        by_ratio = "positive" if float(ratio.group(1)) >= 2.0 else ("low" if _HER2_EQUIVOCAL.search(lower) else None)
        if by_ratio:
            found.append((ratio.start(), by_ratio, text[ratio.start():ratio.end()]))
    if not found and (m := _HER2_EQUIVOCAL.search(lower)):
        collect.add("her2", "equivocal", text[m.start():m.end()])
        return
    if {"low", "ultralow"} <= {v for _, v, _ in found} and re.search(
            r"low\s*(?:/|or|and|,)\s*(?:her2[\s-]*)?ultra[\s-]*low|ultra[\s-]*low\s*(?:/|or|and|,)\s*(?:her2[\s-]*)?low", lower):
        found = [f for f in found if f[1] != "ultralow"]  # "HER2-low/ultralow": the group DESTINY-Breast06 enrolled
    specific = {v for _, v, _ in found if v in {"low", "ultralow", "zero"}}
    for _, value, words in sorted(found):
        if value == "negative" and specific:
            continue  # "HER2-negative (IHC 1+)": the specific reading wins, it is not a conflict
        if value == "zero" and "ultralow" in specific:
            continue  # "IHC 0 with faint staining" is how ultralow is described
        collect.add("her2", value, words)


_ER = re.compile(r"\b(?:er|o?estrogen[\s-]*receptors?)(?:\s*|-(?=pos|neg))(?:status\s*)?(?:is\s+|was\s+)?(?:allred\s*)?(\+|pos\w*|[-−](?![\w])|neg\w*|[<≤]\s*1\s*%|\d{1,3}\s*%|[0-8]\s*/\s*8\b|0\b(?!\.))")
_PR = re.compile(r"\b(?:pr|pgr|progesterone[\s-]*receptors?)(?:\s*|-(?=pos|neg))(?:status\s*)?(?:is\s+|was\s+)?(?:allred\s*)?(\+|pos\w*|[-−](?![\w])|neg\w*|[<≤]\s*1\s*%|\d{1,3}\s*%|[0-8]\s*/\s*8\b|0\b(?!\.))")


def _receptor_value(sign: str) -> str:
    if sign.startswith(("+", "pos")):
        return "positive"
    if sign.startswith(("<", "≤")) or sign == "0":
        return "negative"
    if sign.endswith("8") and "/" in sign:  # an Allred score: 0-2 of 8 is negative, 3-8 positive
        return "positive" if int(sign.split("/")[0]) >= 3 else "negative"
    if sign.endswith("%"):
        return "positive" if int(re.sub(r"\D", "", sign) or 0) >= 1 else "negative"
    return "negative"


def _read_hr(lower: str, text: str, collect: _Collector) -> None:
    """HR-positive if ER or PR is positive; a conflict only when one receptor gets both values."""
    readings: list[tuple[str, str, str]] = []  # (receptor, value, words)
    for name, pattern in (("ER", _ER), ("PR", _PR)):
        for match in pattern.finditer(lower):
            value = _receptor_value(match.group(1))
            if value == "positive" and _negated(lower, match.start()):
                value = "negative"
            readings.append((name, value, text[match.start():match.end()]))
    for match in _HR_POS.finditer(lower):
        if not re.match(r"\b(?:er|pr|pgr|o?estrogen|progesterone)\b", lower[match.start():]) and not _negated(lower, match.start()):
            readings.append(("HR", "positive", text[match.start():match.end()]))
    for match in _HR_NEG.finditer(lower):
        if not re.match(r"\b(?:er|pr|pgr|o?estrogen|progesterone)\b", lower[match.start():]):
            readings.append(("HR", "negative", text[match.start():match.end()]))
    if not readings:
        return
    positives = [r for r in readings if r[1] == "positive"]
    negatives = [r for r in readings if r[1] == "negative"]
    clash = any(n[0] in {p[0], "HR"} or p[0] == "HR" for p in positives for n in negatives)
    if positives and clash:
        collect.add("hr", "positive", positives[0][2])
        collect.add("hr", "negative", negatives[0][2])
    elif positives:
        collect.add("hr", "positive", positives[0][2])
    else:
        collect.add("hr", "negative", negatives[0][2])


def _read_setting(lower: str, text: str, collect: _Collector, drugs: Sequence[tuple[int, int]] = (),
                  metastatic_before: bool = False) -> None:
    metastatic = None if _NOT_METASTATIC.search(lower) else next(
        (m for m in _METASTATIC.finditer(lower) if not _negated(lower, m.start())), None)
    # "EC-TH adjuvant 2019, lung mets 2023, now PD on 1L THP", "Kadcyla was adjuvant (residual disease) back in 2019": a
    # course given for early disease, told in a metastatic history, is the history; the setting is metastatic now
    history = metastatic is not None or metastatic_before
    mentioned = [m for m in _ADJ.finditer(lower) if not _HISTORY.search(lower[max(0, m.start() - 25):m.start()])
                 and not (history and _past_course(lower, m.start(), drugs))]
    adjuvant = next((m for m in mentioned if not _ADJUVANT_DRUG.match(lower, m.end())), None)
    neoadjuvant = next((m for m in _NEOADJ.finditer(lower) if not _HISTORY.search(lower[max(0, m.start() - 25):m.start()])
                        and not (history and _past_course(lower, m.start(), drugs))), None)
    relapse = bool(_RELAPSE.search(lower))
    if relapse:
        adjuvant = neoadjuvant = None  # "relapsed after adjuvant tamoxifen": the treatment history, not the setting
    early = _EARLY.search(lower)
    asked = [m for m in mentioned if (end := re.search(r"[.;!?\n]", lower[m.end():])) and end.group(0) == "?"]
    if adjuvant is None and asked and not (metastatic or relapse):
        adjuvant = asked[0]  # "adjuvant abemaciclib?" with no sign of metastases asks about the adjuvant setting
    if metastatic and not (adjuvant or neoadjuvant):
        collect.add("setting", "metastatic", text[metastatic.start():metastatic.end()])
    elif adjuvant:
        collect.add("setting", "adjuvant", text[adjuvant.start():adjuvant.end()])
        if metastatic and re.search(r"\b(?:metasta\w*|mbc|stage\s*(?:iv|4))\b", lower[metastatic.start():metastatic.end()]):
            collect.add("setting", "metastatic", text[metastatic.start():metastatic.end()])
    elif neoadjuvant:
        collect.add("setting", "neoadjuvant", text[neoadjuvant.start():neoadjuvant.end()])
    elif early:
        collect.add("setting", "early", text[early.start():early.end()])
    # "no residual tumour in breast or nodes" is a pCR told the other way round, not residual disease
    no = next((m for m in _PCR_NO.finditer(lower) if not (m.group(0).startswith("residual") and _negated(lower, m.start()))),
              None)
    yes = _PCR_YES.search(lower)
    if yes and no and not (no.start() <= yes.start() < no.end() or yes.start() <= no.start() < yes.end()):
        collect.add("pcr", True, text[yes.start():yes.end()])  # "pCR but residual tumour in the axilla": ask
        collect.add("pcr", False, text[no.start():no.end()])
    elif no:
        collect.add("pcr", False, text[no.start():no.end()])
    elif yes:
        collect.add("pcr", True, text[yes.start():yes.end()])


_PAST_TIME = re.compile(r"\b(?:19|20)\d\d\b|\bago\b|\bback\s+(?:in|then)\b|\bpreviously\b|\bprior\b|\bhistory\b|\bh/o\b|\bhx\b|"
                        r"\b(?:was|were|had|received|completed|finished|given)\b|\blast\s+year\b|\bat\s+(?:diagnosis|the\s+time)\b")


def _past_course(lower: str, position: int, drugs: Sequence[tuple[int, int]]) -> bool:
    """An early-disease word in a clause that tells a past course: a drug or regimen given there, or a past time
    ("EC-TH adjuvant 2019", "Kadcyla was adjuvant (residual disease) back in 2019", "adjuvant AC-T years ago")."""
    start = max((m.end() for m in re.finditer(r"[,;.!?\n]", lower[:position])), default=0)
    end = position + (m.start() if (m := re.search(r"[,;.!?\n]", lower[position:])) else len(lower) - position)
    if "?" in lower[end:end + 1]:
        return False  # "adjuvant T-DM1?" asks
    return bool(_PAST_TIME.search(lower, start, end)) or any(start <= a < end for a, _ in drugs)


def _read_cdk_months(lower: str, text: str, collect: _Collector) -> None:
    """How long a CDK4/6 inhibitor worked (DESTINY-Breast06's criterion): the duration nearest its mention in the
    sentence ("PD on AI+palbo 1L x 9mo", "letrozole/palbociclib 26 mo, then ...", "palbociclib for 18 months before
    progression"), in months."""
    for sentence in re.finditer(r"[^.;!?\n]+", lower):
        drug = _CDK_NAME.search(sentence.group(0))
        if drug is None:
            continue
        spans = [d for d in _ANY_DURATION.finditer(sentence.group(0)) if not _AGE.match(sentence.group(0), d.end())]
        if not spans:
            continue
        span = min(spans, key=lambda d: min(abs(d.start() - drug.end()), abs(drug.start() - d.end())))
        amount = float(span.group(1))
        months = round(amount * 12 if span.group(2).startswith("y") else amount)
        collect.add("cdk_months", months, text[sentence.start() + span.start():sentence.start() + span.end()])
        return


def _read_brain(lower: str, text: str, collect: _Collector) -> None:
    if (none := _BRAIN_NONE.search(lower)):
        collect.add("brain_mets", "none", text[none.start():none.end()])
        rest = lower[:none.start()] + " " * (none.end() - none.start()) + lower[none.end():]
        if (active := _BRAIN_ACTIVE.search(rest)) and _BRAIN_PRESENT.search(rest):
            collect.add("brain_mets", "active", text[active.start():active.end()])  # "no brain mets ... active brain mets"
        return
    if (lepto := _LEPTOMENINGEAL.search(lower)):
        collect.add("brain_mets", "leptomeningeal", text[lepto.start():lepto.end()])
        return
    present = _BRAIN_PRESENT.search(lower)
    if not present:
        return
    if (active := _BRAIN_ACTIVE.search(lower)):
        collect.add("brain_mets", "active", text[active.start():active.end()])
    elif (stable := _BRAIN_STABLE.search(lower)):
        # "stable", "controlled", "unchanged" say stable; treatment words alone ("treated with SRS") say treated
        said = lower[stable.start():stable.end()]
        value = "stable" if re.search(r"\bstable\b|\bcontrolled\b|\bunchanged\b|\basymptomatic\b", said) or \
            re.search(rf"\b(?:{_BRAIN}|bms?)\b[^.;]{{0,80}}\b(?:stable|controlled|unchanged)\b", lower) else "treated"
        collect.add("brain_mets", value, text[stable.start():stable.end()])
    else:
        collect.add("brain_mets", "present", text[present.start():present.end()])


def _read_flag(lower: str, text: str, collect: _Collector, name: str, yes: re.Pattern[str], no: re.Pattern[str]) -> None:
    if (negative := no.search(lower)):
        collect.add(name, False, text[negative.start():negative.end()])
    elif (positive := yes.search(lower)):
        collect.add(name, True, text[positive.start():positive.end()])


def _negation_start(lower: str, position: int) -> int | None:
    """Where a negation word shortly before a position (in the same clause) starts, if there is one."""
    start = max(0, position - 30)
    window = lower[start:position]
    pieces = re.split(r"[.;,:!?()]|\bbut\b|\band\b|--", window)  # "(IHC 0, no staining) MBC": not MBC
    clause_start = start + len(window) - len(pieces[-1])
    match = re.search(rf"\b{_NEG}\b(?!\s+(?:only|just)\b)[^.]*$", pieces[-1])
    return clause_start + match.start() if match else None


def _negated(lower: str, position: int) -> bool:
    return _negation_start(lower, position) is not None


def _read_therapies(text: str, lower: str, turn: int, lexicon: Lexicon, case: bool,
                    exposures: dict[tuple[int, int], Exposure]) -> list[TherapyFact]:
    """Therapies named, and whether each was received, progressed on, or is current.

    A drug named in a statement counts as received only when the message describes a case; in a
    general question ("MUC4 in trastuzumab resistance") it is a topic, not a treatment history.
    """
    mentions: list[tuple[int, int, tuple[str, ...]]] = []
    for match in lexicon.vocabulary.find(text):
        therapies = _GROUP_THERAPIES.get(match.group)
        if therapies:
            if "chemo" in match.term.lower() and "chemotherapy" not in therapies:
                therapies = (*therapies, "chemotherapy")  # "chemo-immunotherapy"
            mentions.append((match.start, match.end, therapies))
    mentions.extend(_regimens(text, [(a, b) for a, b, _ in mentions]))
    mentions.sort()
    facts: list[TherapyFact] = []
    sentences = [(m.start(), m.end()) for m in re.finditer(r"[^.;!?\n]+", lower)]
    for offset, clause in _clauses(lower):
        in_clause = [(a, b, t) for a, b, t in mentions if offset <= a < offset + len(clause)]
        if not in_clause:
            continue
        is_question = bool(re.search(r"\?", lower[offset:offset + len(clause) + 2])) or bool(
            re.match(r"\s*(?:what|which|should|would|could|can|is|are|do|does|how|any)\b", clause))
        negated_end = -1
        for a, b, therapies in in_clause:
            before = lower[offset:a]
            coordinated = negated_end >= 0 and re.fullmatch(r"(?:\s|,|\bor\b|\bnor\b|\band\b|\ban?\b)*", lower[negated_end:a])
            after = lower[b:b + 40]
            words = text[a:b]
            sentence = next(((x, y) for x, y in sentences if x <= a < y), (offset, offset + len(clause)))
            said = text[sentence[0]:sentence[1]].strip()
            if _ERA_OF.search(before) and _ERA_AFTER.match(lower[b:b + 30]):
                continue  # "dx 2017 (pre-pertuzumab funding)", "the pre-T-DXd era": a time, not a course she had
            if _ERA_OF.search(before):  # "Pre-T-DXd check", "pre-Enhertu echo": the drug is about to be given
                facts.extend(TherapyFact(therapy=t, received=False, progressed=False, current=False, words=words, turn=turn,
                                         status="considered", sentence=said)
                             for i, t in enumerate(therapies) if not _implied(t, i) and t != "adc")
                continue
            if _NO_OTHER.search(before):
                continue  # "anastrozole + ribociclib ... no other ET lines": nothing more than the course already told
            status = _status_at(exposures, a, b)
            explicit = [t for i, t in enumerate(therapies) if not _implied(t, i)]  # "HP planned": both drugs
            asking = before.rsplit(",", 1)[-1]  # the part of the clause the drug stands in
            if status is None and _asked_of(lower, a, b, sentence[1], before):
                # "?capivasertib", "?T-DXd - worth it vs SG?", "SG - what dose and schedule?": the drug is the question
                facts.extend(TherapyFact(therapy=t, received=False, progressed=False, current=False, words=words,
                                         turn=turn, status="considered", sentence=said) for t in explicit if t != "adc")
                continue
            # "after Enhertu, is margetuximab worth it?": the history's cue stands outside the asking part
            asking_part = is_question and bool(_ASKING_START.match(asking)) and _last(_PRIOR_CUE, asking) is None
            if asking_part and status in {"progressed", "received"}:
                status = None
            if status in {"considered", "unavailable", "declined", "contraindicated"} and _AFTER.search(before):
                # "would you use it after THP?", "post THP and Kadcyla, Enhertu not reimbursed": THP is the history
                # the sentence starts from
                status = None
            # never given: the grammar below decides, as ConText's negation of a finding ("no ILD on Enhertu")
            # reaches the drug after it
            if status is not None and status not in {"progressed", "current", "received", "never_received"}:
                # its scope decides: planned, declined, unavailable, contraindicated, stopped, never given
                received = status in lexicon.registry.received_statuses
                facts.extend(TherapyFact(therapy=t, received=received, progressed=False, current=False, words=words,
                                         turn=turn, status=status, sentence=said, implied=_implied(t, i))
                             for i, t in enumerate(therapies if received else explicit))
                if status == "never_received":
                    negated_end = b
                continue
            if re.search(r"\bwhy\s+(?:not|no)\s+(?:\w+\s+){0,2}$", before):
                # "why not T-DM1?" asks about the drug; it does not say she never had it
                facts.extend(TherapyFact(therapy=t, received=False, progressed=False, current=False,
                                         words=words, turn=turn, status="considered", sentence=said) for t in explicit)
                continue
            stopped = bool(_NO_LONGER.search(before) or _ANYMORE.match(after))  # "not on T-DXd anymore": she had it
            negated = (not stopped and (bool(coordinated) or bool(_NEGATED_DRUG.search(before)))) or \
                bool(re.match(r"[\s-]*(?:na[iï]ve|(?:has\s+|was\s+|is\s+)?never\s+(?:been\s+)?(?:given|received|had|tried|used|started)|(?:is\s+|was\s+)?not\s+(?:yet\s+)?(?:available|given|received|accessible|reimbursed|covered|an\s+option|affordable|started|had|tried|used)|(?:isn'?t|wasn'?t|is\s+not)\s+(?:available|accessible|reimbursed|covered|affordable|an\s+option)|unavailable|unaffordable|too\s+expensive)\b", after))
            if negated:
                # "never had capecitabine" says nothing about chemotherapy in general
                facts.extend(TherapyFact(therapy=t, received=False, progressed=False, current=False,
                                         words=words, turn=turn, status="never_received", sentence=said) for t in explicit)
                negated_end = b
                continue
            # "is there any data on T-DXd after SG?": the "on" of a topic asked about is no course she is on
            cue = _last(_PRIOR_CUE, _TOPIC_OF.sub(lambda m: " " * len(m.group(0)), before))
            if cue is None and _HISTORY_LABEL.search(lower[max(0, offset - 30):offset]):
                cue = 0  # "prev: letrozole/palbo, fulvestrant, ...": a list under a history label
            question = _last(_QUESTION_CUE, before)
            pretreated = bool(re.match(r"[\s-]*(?:pretreated|pre-treated|refractory|resistant|exposed|treated|failure|progression)\b", after))
            asked = (question is not None and (cue is None or question > cue)) or bool(
                re.match(r"\s*(?:or|vs\.?|versus)\b", after)) or (asking_part and status is None)
            if (asked or (cue is None and (is_question or not case) and status not in {"current", "progressed"})) \
                    and not pretreated:
                # asked about, or named in a general question: "T-DXd or SG next?" ("which ADC?" names no drug)
                facts.extend(TherapyFact(therapy=t, received=False, progressed=False, current=False,
                                         words=words, turn=turn, status="considered", sentence=said)
                             for t in explicit if t != "adc")
                continue
            progressed = bool(_PROGRESS_CUE.search(lower[sentence[0]:sentence[1]])) or pretreated
            if progressed and not pretreated and _BEFORE_IT.search(before) \
                    and not _PROGRESS_CUE.search(lower[b:sentence[1]]):
                progressed = False  # "the liver mets grew two years ago, before T-DXd": the event came before the drug
            if not pretreated and (_FINISHED_BEFORE.search(before) or _FINISHED_AFTER.match(after) or _RELAPSE_AFTER.search(before)) \
                    and not _STRONG_PROGRESS.search(lower[sentence[0]:sentence[1]]):
                # "after completing 5 years of anastrozole", "adjuvant AC-T 2012 (completed)", "relapsed 6 years after her
                # early cancer was treated with AC-TH": a course that ended, the relapse came after it
                facts.extend(TherapyFact(therapy=t, received=True, progressed=False, current=False, words=words,
                                         turn=turn, status="completed", sentence=said, implied=_implied(t, i))
                             for i, t in enumerate(therapies))
                continue
            ongoing_early = status == "current" or _ONGOING_EARLY.search(before, max(0, len(before) - 60)) is not None or \
                _ONGOING_AFTER.match(after) is not None  # "now on adjuvant T-DM1 cycle 5", "neoadjuvant THP started"
            if progressed and not pretreated and not ongoing_early and (_GIVEN_EARLY.search(before) or _SURGERY_OUTCOME.search(
                    lower[sentence[0]:sentence[1]])) and not _RELAPSE_WORD.search(lower[sentence[0]:sentence[1]]):
                # "residual disease after neoadjuvant THP": a course given for early disease, not a failed line
                facts.extend(TherapyFact(therapy=t, received=True, progressed=False, current=False, words=words,
                                         turn=turn, status="completed", sentence=said, implied=_implied(t, i))
                             for i, t in enumerate(therapies))
                continue
            # searched from an offset, not in a slice: a slice cut inside "non-amplified" leaves an "on"
            current = bool(_CURRENT_CUE.search(before, max(0, len(before) - 25))) and \
                not re.compile(r"\bafter\b|\bpost\b").search(before, max(0, len(before) - 25))
            if not pretreated and (_NOW_BEFORE.search(before, max(0, len(before) - 45)) or (
                    _NOW_AFTER.match(after) and not re.compile(r"\b(?:after|post|following|s/p)\b").search(before, max(0, len(before) - 40)))):
                # "is now on T-DXd second line", "currently cycle 3 of capecitabine (after letrozole ...)", "3L eribulin,
                # currently cycle 2": she is on it now; a progression told earlier in the sentence was another drug's
                current = True
                rest = re.sub(r"\([^)]*\)", " ", lower[b:sentence[1]])
                progressed = bool(_STRONG_PROGRESS.search(rest))
            if ongoing_early and not progressed and _GIVEN_EARLY.search(before):
                current = True
            if not progressed and not current and _GIVEN_EARLY.search(before):
                # "(adj chemo 3y ago)": a course for early disease, over
                facts.extend(TherapyFact(therapy=t, received=True, progressed=False, current=False, words=words,
                                         turn=turn, status="completed", sentence=said, implied=_implied(t, i))
                             for i, t in enumerate(therapies))
                continue
            if current and re.search(r"\brespon\w*|\bstable\b|\bcontrolled\b|\bworking\b|\bshrink\w*", lower[sentence[0]:sentence[1]]) \
                    and not _progression_on(lower, sentence, a, [m[0] for m in mentions]):
                progressed = False
            state: Exposure = "progressed" if progressed else "current" if current else "received"
            if status in {"progressed", "current"} and state != status:
                # the nearest scope cue says how it stands: the grammar saw only "given", or a progression elsewhere in
                # the sentence ("metastatic breast cancer after THP, on T-DXd now")
                state = status
                progressed, current = state == "progressed", state == "current"
            if state == "current" and _progression_on(lower, sentence, a, [m[0] for m in mentions]):
                state, progressed = "progressed", True  # "one new liver lesion, other sites responding on T-DXd"
            induction = state in {"progressed", "received"} and _INDUCTION.search(lower[sentence[0]:sentence[1]]) \
                and not _MAINTAINED.search(lower[b:sentence[1]])
            facts.extend(TherapyFact(therapy=t, received=True, progressed=progressed, current=current,
                                     words=words, turn=turn, status=state, sentence=said, implied=_implied(t, i))
                         if not (induction and t in _INDUCTION_CLASSES) else
                         TherapyFact(therapy=t, received=True, progressed=False, current=False, words=words, turn=turn,
                                     status="completed", sentence=said, implied=_implied(t, i))
                         for i, t in enumerate(therapies))
    return facts


_FAMILY_ASKS = re.compile(r"\b(?:ask\w*|wants?|wanting|wonder\w*|request\w*|enquir\w*|inquir\w*|heard|read|keen|push\w*|"
                          r"hoping|hopes?)\b[^.;!?]*$", re.IGNORECASE)
_FAMILY_OWN = re.compile(r"\b(?:her|his|their)\s+own\b|\bherself\b|\bhimself\b", re.IGNORECASE)  # "asks about T-DM1 for her own cancer"
_NO_OTHER = re.compile(r"\b(?:no|nor|not\s+any|without(?:\s+any)?)\s+(?:other|further|more|additional|subsequent|other\s+prior)\s+$")
_ERA_OF = re.compile(r"\bpre[\s-]?$")
_ERA_AFTER = re.compile(r"[\s-]*(?:era|funding|approval|availability|was\s+(?:funded|approved|available))\b")
# a course told as finished, or the relapse told after it
_FINISHED_BEFORE = re.compile(r"(?<!\bto\s)(?<!\bwill\s)\b(?:completed|finished|completion\s+of|(?:after|since|following)\s+(?:completing|finishing))\s+"
                              r"(?:(?:a|an|the|her|his|all|\d+|one|two|three|four|five|six|full|planned|cycles?|courses?|years?|months?|"
                              r"of|adjuvant|neoadjuvant|neo-adjuvant|extended|weekly|x\s*\d+)\s+){0,6}"
                              r"(?:[^\s.;]+\s+(?:and|\+|,|with)\s+(?:[^\s.;]+\s+){0,4})?$")
_FINISHED_AFTER = re.compile(r"[\w\s-]{0,20}?\(\s*(?:all\s+|course\s+)?(?:completed|finished)\b|\s*(?:x\s*\d+\s*)?(?:,\s*)?(?:all\s+)?(?:were\s+|was\s+)?(?:completed|finished)\b")
_RELAPSE_AFTER = re.compile(r"\b(?:relaps\w*|recur\w*|recurrence)\b(?:[^.;]{0,60}?)\b(?:\d+|one|two|three|four|five|six|seven|eight|nine|ten|"
                            r"several|many|some)\s+(?:\w+\s+)?(?:years?|yrs?|months?|mo)\s+(?:after|following|post)\s+(?:[^\s.;]+\s+){0,12}$")
# a course for early disease under way: "on adjuvant T-DM1", "now receiving neoadjuvant THP", "adjuvant HP for 11 more cycles"
_ONGOING_EARLY = re.compile(r"\b(?:on|receiving|getting|currently|now|started|starting|continu\w*|ongoing|remains\s+on)\s+"
                            r"(?:(?:the|her|his|an?)\s+)?(?:(?:neo[\s-]*)?adj\w*|post[\s-]*operative)\s+(?:[\w-]+\s+){0,3}$")
_ONGOING_AFTER = re.compile(r"[^.;\n]{0,45}?(?:\b(?:cycle|c)\s*\d+\s+of\s+\d+|\b(?:cycle|c)\s*\d+\b(?!\s*(?:was|were|in\s+(?:19|20)\d\d))|"
                            r"\bstarted\s+(?:\d+|two|three|four|five|six|a)\s+(?:weeks?|days?|months?)\s+ago|\bongoing\b|\bfor\s+\d+\s+more\s+cycles?)")
_FOR_METASTASES = re.compile(r"[\w\s]{0,20}?\b(?:for|in)\s+(?:the\s+|her\s+)?(?:metastatic|advanced|mbc|met|mets|recurren\w*|relapse|"
                             r"stage\s*iv)\b|\bfor\s+(?:the\s+)?(?:metastatic|advanced|mbc|recurren\w*|relapse)")
_TOPIC_OF = re.compile(r"\b(?:data|evidence|info(?:rmation)?|literature|experience|results?|studies|study|trials?|papers?|"
                       r"publications?|guidance|recommendations?)\s+(?:\w+\s+){0,2}(?:on|for|with|about|of|regarding)\b")
# she is on the drug now, said just before or after it
_NOW_BEFORE = re.compile(r"\b(?:currently|now|still|presently|remains?|ongoing)\s+(?:on\s+|receiving\s+|taking\s+|getting\s+)?"
                         r"(?:(?:cycle|c)\s*\d+\s+(?:of\s+)?)?(?:[\w-]+\s+){0,1}$|\b(?:cycle|c)\s*\d+\s+of\s+$|"
                         r"\b(?:responding|responds|responded)\s+(?:well\s+|nicely\s+)?to\s+$")
_NOW_AFTER = re.compile(r"\s*(?:(?:as\s+)?(?:first|second|third|fourth|fifth|[1-5])(?:st|nd|rd|th)?[\s-]*(?:line|l)\b)?\s*[,:\u2013\u2014-]?\s*"
                        r"(?:currently\s+(?:on\b|at\b|in\s+cycle|receiving|(?:cycle|c)\s*\d|\d)|currently\s*(?:[.;,)]|$)|now\s+(?:on|at|in)\b|ongoing|"
                        r"(?:cycle|c)\s*\d|since\b)")
_STRONG_PROGRESS = re.compile(r"\bprogress\w*|\bprog(?:d|'d|ed)?\b|\bpd\b(?![-\s]?l1)|\bfail\w*|\brefractory|\bgrow\w*|\bgrew\b|"
                              r"\benlarg\w*|\bnew\s+(?:\w+\s+)?(?:lesions?|mets|metastas[ie]s|nodules?)")
# a drug asked about in clinicians' shorthand: "?capivasertib", "(?T-DXd)", or a drug as the label of a short question
# ("SG - what dose and schedule?", "starting T-DXd 2L - dose?"): no history cue stands between it and the question
_QUERY_MARK = re.compile(r"(?:^|[\s.;,(/])\?\s*\Z")
_LABEL_QUESTION = re.compile(
    r"(?:\s+(?:[1-6]l|(?:first|second|third|fourth|fifth|[1-6](?:st|nd|rd|th))[\s-]*line))?\s*(?:-+|:|\u2013|\u2014)\s*"
    r"[^.;!?\n]{1,60}\?")
# "no longer on Enhertu", "not on T-DXd anymore": a course she had and stopped, not one she never had
_NO_LONGER = re.compile(r"\bno\s+longer\s+(?:on|taking|receiving|getting|having)\s+$")
_ANYMORE = re.compile(r"[\s)]*(?:any\s*more|any\s+longer)\b")


def _asked_of(lower: str, start: int, end: int, sentence_end: int, before: str) -> bool:
    if _QUERY_MARK.search(lower[max(0, start - 8):start] if start > 8 else " " + lower[:start]):
        return True
    if _BARE_BEFORE.match(before) and _BARE_AFTER.match(lower, end):
        return True  # "Then neratinib?", "And T-DM1?", "Neratinib instead?": the drug alone is the question
    label = _LABEL_QUESTION.match(lower, end)
    if label is None or label.end() > sentence_end + 1:
        return False
    told = lower[end:label.end()]
    return not (_PRIOR_CUE.search(told) or _PROGRESS_CUE.search(told) or _PRIOR_CUE.search(before)
                or _PROGRESS_CUE.search(before))


# a question that is the drug alone, after a connector at most: "Then neratinib?", "Or T-DM1 instead?"
_BARE_BEFORE = re.compile(r"\W*(?:(?:and|or|then|so|maybe|perhaps|ok|okay|hmm)\W+)*\Z")
_BARE_AFTER = re.compile(r"\s*(?:(?:then|instead|now|next|maybe|perhaps)\s*)?\?")


_BEFORE_IT = re.compile(r"\b(?:before|prior\s+to|ahead\s+of)\s+(?:\w+\s+){0,2}$")
# "6 cycles of docetaxel with HP, then HP maintenance until progression": the chemotherapy of an induction was
# completed; the maintenance drugs carry the progression
_INDUCTION = re.compile(r"\bmaint(?:enance\b|\b|\.)")
_MAINTAINED = re.compile(r"^\W*(?:\w+\W+){0,1}maint")
_INDUCTION_CLASSES = frozenset({"taxane", "anthracycline", "chemotherapy"})
# the outcome of surgery after neoadjuvant therapy: "residual disease after 6 x TCHP", "pCR after THP"
_SURGERY_OUTCOME = re.compile(r"\bp?cr\b|\bresidual\b|\byp\s*t|\bypt\d|\bnon[\s-]*pcr\b")


_EVENT = re.compile(r"\bprogress(?:ing|ed|ion|ive)\b|\boligoprogress\w*|\boligo[\s-]*pd\b|\bpd\b(?![-\s]?l1)|\bgrow(?:ing|n|s)?\b|\bgrew\b|"
                    r"\benlarg\w*|\bnew\s+(?:\w+\s+){0,2}(?:lesions?|mets?|metastas[ie]s|nodules?|disease)\b")
_RESPONDING = re.compile(r"\brespon\w*|\bstable\b|\bcontrolled\b|\bongoing\b")
_NO_EVENT = re.compile(r"\b(?:no|not|without|nor|never|free\s+of)\s+(?:\w+\s+){0,2}$")
# an event only suspected: "possible slight enlargement of one liver lesion", "? new nodule", "query progression"
_HEDGED = re.compile(r"(?:\b(?:possible|possibly|probable|questionable|equivocal|indeterminate|suspected|suspicious|"
                     r"query|likely|maybe|borderline|doubtful|unclear|pseudo)\b|\?)\s*(?:[\w-]+\s+){0,3}$")
_HEDGED_AFTER = re.compile(r"[^.;!?\n]{0,60}\b(?:indeterminate|equivocal|unclear|not\s+confirmed|unconfirmed|to\s+be\s+confirmed|"
                           r"pending|pseudo[\s-]*progression)\b")
# between an event and the drug now given: the story moved on ("with progression after 12 months and is now on T-DXd")
_MOVED_ON_TO = re.compile(r"\b(?:now|currently|since|then|later|subsequently|[1-6]l|(?:first|second|third|fourth|fifth)[\s-]*line)\b|[;)]")
# an event that a treatment was given for, or one supposed: not a progression on the drug of the sentence
_NOT_ON_IT = re.compile(r"\b(?:for|if|when|whether|unless|should|once)\s+(?:\w+\s+){0,3}$")
_ELSEWHERE = re.compile(r"[\s,]+(?:on|after|through|despite|following|post)\b")


def _progression_on(lower: str, sentence: tuple[int, int], position: int, drugs: Sequence[int]) -> bool:
    """A disease event in the sentence of a current drug ("2 liver lesions growing, rest stable on tucatinib/Herceptin/
    Xeloda", "the brain is progressing, body stable"): progression on it, even where other sites respond; not one
    said of another drug ("PD on THP, now responding to T-DXd")."""
    for event in _EVENT.finditer(lower, sentence[0], sentence[1]):
        if _NO_EVENT.search(lower, max(sentence[0], event.start() - 30), event.start()):
            continue  # "still responding, no PD"
        if _HEDGED.search(lower, max(sentence[0], event.start() - 40), event.start()) or _HEDGED_AFTER.match(lower, event.end()):
            continue  # "possible slight enlargement, indeterminate": not a progression yet
        if event.end() <= position and any(sentence[0] <= d < event.start() and d != position for d in drugs) \
                and _MOVED_ON_TO.search(lower, event.end(), position):
            continue  # "THP in first line with progression after 12 months and is now on T-DXd": THP's progression
        if _NOT_ON_IT.search(lower, max(sentence[0], event.start() - 40), event.start()):
            continue  # "started for progressive brain mets", "what if she developed oligoprogression?"
        first = min((d for d in drugs if d >= event.end()), default=None)
        if _ELSEWHERE.match(lower, event.end()) and first is not None and first != position:
            continue
        return True
    return False


_METASTATIC_START = re.compile(r"\b(?:relapse\w*|recurren\w*|recurred|metasta\w*|mbc|stage\s*iv|de\s*novo|advanced|"
                               r"[1-6]l|(?:first|second|third|1st|2nd|3rd)[\s-]*line)\b")


def _endocrine_lines(lower: str, mentions: Sequence[TherapyFact]) -> list[str]:
    """The endocrine therapies a metastatic line history names ("1L letrozole + palbo, PD at 26 mo; 2L fulvestrant +
    alpelisib"), each once: the lines of endocrine therapy that ended, when no count is written. Not the one she is
    on, nor one given for early disease (in a sentence that says adjuvant, or told before the relapse)."""
    start = _METASTATIC_START.search(lower)
    if start is None:
        return []
    # without a line named ("progressed on anastrozole + palbociclib, then on fulvestrant") only courses told as ended
    # in progression count
    lines_named = _LINE.search(lower) is not None
    counted: dict[str, str] = {}
    for therapy in mentions:
        if therapy.therapy != "endocrine therapy" or not therapy.received or therapy.implied or (
                therapy.current and therapy.status != "progressed"):  # "progressing on 2L fulvestrant": a line that failed
            continue
        if not lines_named and therapy.status != "progressed":
            continue
        sentence = therapy.sentence.lower()
        if _RESPONDING.search(sentence) and not _EVENT.search(sentence):
            continue  # "1L letrozole + palbociclib for 2 years, still responding": the line she is on
        position = lower.find(sentence)
        if _EARLY_OR_UNCLEAR.search(sentence) or (position != -1 and position + len(sentence) < start.start()):
            continue
        counted.setdefault(therapy.words.lower(), therapy.words)
    if not lines_named and len(counted) < 2:
        return []  # one course with no line named: the count is not told
    return list(counted.values())


def _regimens(text: str, drugs: Sequence[tuple[int, int]]) -> list[tuple[int, int, tuple[str, ...]]]:
    """Regimen abbreviations outside the drug names found: "THP", "TCHP", "EC", "FEC-T", "AC-paclitaxel", "AI",
    "H + chemo"."""
    found: list[tuple[int, int, tuple[str, ...]]] = []
    for regimen in _REGIMEN.finditer(text):
        written = regimen.group(0)
        word = (regimen.group(1) or regimen.group(3)).lower()
        sequel = (regimen.group(2) or "").lower()
        if word == "hp" and not sequel:
            continue  # "HP" is in the vocabulary
        if word == "ai" and (not written.isupper() or sequel):
            continue  # "ai" in lower case is not an aromatase inhibitor
        if word in {"th", "ac", "ec", "h", "tc", "fec", "fac", "cmf"} and not re.sub(r"^dd", "", written).isupper():
            continue
        if word == "h" and sequel == "p":
            found.append((regimen.start(), regimen.end(), ("trastuzumab", "pertuzumab")))  # "docetaxel/H/P"
            continue
        if word == "h" and (sequel or not re.match(r"\s*[+/,&]|\s+and\b", text[regimen.end():regimen.end() + 5])):
            continue  # "H" alone is trastuzumab only inside a regimen: "H + chemo", "H/P"
        if word == "tc" and not re.search(r"\b(?:adj\w*|neo[\s-]*adj\w*|x\s*[0-9]|cycles?|[0-9]\s*(?:x|cycles?))\b|\+|\bwith\b",
                                          text[max(0, regimen.start() - 40):regimen.end() + 25], re.IGNORECASE):
            continue  # "TC" is a regimen only where a course is told: "adjuvant TC", "TC x4", "TC + trastuzumab"
        if word == "hp":
            therapies: tuple[str, ...] = ("trastuzumab", "pertuzumab")
        else:
            therapies = _REGIMENS[word]
        therapies = tuple(dict.fromkeys((*therapies, *_SEQUEL.get(sequel, ()))))
        if not any(a <= regimen.start() < b for a, b in drugs):
            found.append((regimen.start(), regimen.end(), therapies))
    return found


def regimen_spans(text: str, vocabulary: Vocabulary) -> list[tuple[int, int]]:
    """Where regimen abbreviations stand, so that their scope is read like a drug's ("Plan THP", "TCHP held")."""
    drugs = [(m.start, m.end) for m in vocabulary.find(text) if m.group in _GROUP_THERAPIES]
    return [(a, b) for a, b, _ in _regimens(text, drugs)]


_AFTER = re.compile(r"\b(?:after|post|following|s/p|status\s+post|beyond)\s+(?:\w+\s+){0,2}$")
_GIVEN_EARLY = re.compile(r"\b(?:neo[\s-]*)?adj(?:uvant\w*|\.)?\s+(?:[\w/+-]+\s+){0,2}$|\bperi[\s-]*operative\s+(?:\w+\s+){0,2}$")
_RELAPSE_WORD = re.compile(r"\bprogress\w*|\bprog(?:d|'d|ed)?\b|\bpd\b(?![-\s]?l1)|\bfail\w*|\brefractory|\bresistan\w*|\brelaps\w*|"
                           r"\brecur\w*|\bmetasta\w*|\bmbc\b|\bgrow\w*|\bnew\s+lesions?")
_EARLY_OR_UNCLEAR = re.compile(r"\b(?:neo[\s-]*)?adj(?:uvant\w*)?\b|\bearly\b|\bunclear\b|\bunknown\b|\bperi[\s-]*operative\b")


def _moved_on(therapy: TherapyFact) -> TherapyFact:
    """A metastatic line history ("4th line; previous: letrozole/palbo, fulvestrant, capecitabine"): a regimen given
    before the line now chosen, with no word on how it ended, ended in progression; not a course given for early
    disease, nor one whose records are unclear."""
    if therapy.status != "received" or _EARLY_OR_UNCLEAR.search(therapy.sentence.lower()):
        return therapy
    return therapy.model_copy(update={"status": "progressed", "progressed": True})


# a line named beside a drug, in its own clause: "Kadcyla 2L", "3L eribulin", "T-DXd as second line", "2L: T-DXd"
_LINE_BESIDE = r"(?:(?:first|second|third|fourth|fifth|[1-5])(?:st|nd|rd|th)?[\s-]*(?:line|l)\b)"
_NOW_CUE = re.compile(r"\b(?:now|currently|current|ongoing|on\s+(?:it|treatment)|cycles?\s*\d+|c\d{1,2}\b|since|continu\w*|"
                      r"remains?|tolerat\w*|respond\w*|response|stable|sd\b|pr\b|partial|started|starting|at\s+\d+\s+months?)")


def _of_line(therapy: TherapyFact, line: int) -> bool:
    """The drug is the one of the line now given or chosen ("is now on T-DXd second line", "Kadcyla 2L - cycle 12")."""
    sentence = therapy.sentence.lower()
    at = sentence.find(therapy.words.lower())
    if at < 0:
        return False
    before = re.split(r"[,;:(]|\band\b|\bthen\b", sentence[max(0, at - 25):at])[-1]
    after = re.split(r"[,;:()]|\band\b|\bthen\b", sentence[at + len(therapy.words):at + len(therapy.words) + 25])[0]
    for match in re.finditer(_LINE_BESIDE, before + " | " + after):
        word = re.match(r"(first|second|third|fourth|fifth|[1-5])", match.group(0))
        if word and (_ORDINALS.get(word.group(1)) or int(word.group(1))) == line:
            return True
    return False


def _on_line_now(therapy: TherapyFact) -> TherapyFact:
    """The drug of the line now given: current when its sentence says she is on it, else as read (not moved on)."""
    if therapy.status == "received" and _NOW_CUE.search(therapy.sentence.lower()):
        return therapy.model_copy(update={"status": "current", "current": True})
    return therapy


# a sentence that tells a course for early disease, or one told as finished: "HER2+ early BC in 2015: 4 x EC then weekly
# paclitaxel ... all completed", "treated with TH for stage I disease", "6 cycles of FAC then mastectomy", "declined
# pertuzumab in the neoadjuvant setting, so had TCH only; ypT1a residual at surgery"
_EARLY_COURSE = re.compile(
    r"\bearly(?:[\s-]stage)?\s+(?:\w+\s+){0,2}(?:bc|breast|disease|cancer)\b|\bebc\b|\bstage\s+(?:i{1,3}|[123])[abc]?\b|"
    r"\b(?:neo[\s-]*)?adj(?:uvant\w*|\.)|\b(?:mastectomy|lumpectomy|quadrantectomy|surgery|mrm|wle|bcs)\b|breast[\s-]*conserving|"
    r"\b(?:all\s+|course\s+|treatment\s+)?(?:completed|finished)\b|\byp?t[0-4is]|\bresidual\s+(?:\w+\s+){0,2}disease\b|\bpcr\b")


def _early_course(therapy: TherapyFact) -> TherapyFact:
    """A course given, with no word on how it ended, in a sentence about early disease or a finished course: over."""
    if therapy.status != "received" or not _EARLY_COURSE.search(therapy.sentence.lower()) or \
            _RELAPSE_WORD.search(therapy.sentence.lower()):
        return therapy
    return therapy.model_copy(update={"status": "completed", "current": False})


def moved_on_in_conversation(facts: PatientFacts, last: Reading) -> PatientFacts:
    """A later turn that tells a progression or asks for a later line ("PD: liver + brain ... 2L?") says that the
    regimens an earlier turn of a metastatic history listed as received ended in progression."""
    if last.turn >= 2 and _tells_progression(last):
        # "on T-DXd since 2023", then "now PD lung/liver + 2 new brain mets": the disease progressed on what she is on
        facts = facts.model_copy(update={"therapies": tuple(
            t.model_copy(update={"status": "progressed", "progressed": True, "current": False})
            if t.status == "current" and t.turn < last.turn else t for t in facts.therapies)})
    lower = last.text.lower()
    line = last.facts.value("line")
    if last.turn < 2 or facts.value("setting") != "metastatic" or not (
            _PROGRESS_CUE.search(lower) or _LINES_BEHIND.search(lower) or (isinstance(line, int) and line >= 2)):
        return facts
    return facts.model_copy(update={"therapies": tuple(
        _moved_on(t) if t.turn < last.turn else t for t in facts.therapies)})


def _progressed_later(lower: str, therapies: list[TherapyFact], drugs: Sequence[tuple[int, int]]) -> list[TherapyFact]:
    """A sentence after the one a current drug stands in that tells a progression and names no drug ("on 1L THP ...
    HP maintenance ongoing for 26 months. Now a solitary new lung nodule - SBRT?"): the disease progressed on it."""
    current = [t for t in therapies if t.status == "current" and t.sentence]
    if not current:
        return therapies
    progressed: set[str] = set()
    for therapy in current:
        at = lower.find(therapy.sentence.lower())
        if at == -1:
            continue
        for sentence in re.finditer(r"[^.;!?\n]+", lower[at + len(therapy.sentence):]):
            start, end = at + len(therapy.sentence) + sentence.start(), at + len(therapy.sentence) + sentence.end()
            if any(start <= a < end for a, _ in drugs):
                break  # the story moves on to a drug of its own
            if _untold_event(lower, start, end):
                progressed.add(therapy.therapy)
                break
    return [t.model_copy(update={"status": "progressed", "progressed": True, "current": False})
            if t.therapy in progressed and t.status == "current" else t for t in therapies]


# an event supposed, asked about in general or given as a time ("after progression", "in case of PD", "until progression")
_SUPPOSED = re.compile(r"\b(?:for|if|when|whether|unless|should|once|after|upon|until|till|before|at|in\s+case\s+of|"
                       r"prevent\w*|delay\w*|risk\s+of|time\s+to)\s+(?:\w+\s+){0,3}$")


# an event told as the past ("brain mets progressed two years ago, treated with SRS"); a year alone may be this one's
# ("PD in liver Aug 2024")
_DATED = re.compile(r"\bago\b|\bpreviously\b|\bprior\b|\bbefore\b|\bhistory\b|\bback\s+in\b|"
                    r"\blast\s+year\b|\bat\s+diagnosis\b|\bin\s+the\s+past\b")


def _untold_event(lower: str, start: int, end: int) -> bool:
    """A progression told between two offsets: not negated, not supposed, not dated in the past."""
    for event in _EVENT.finditer(lower, start, end):
        if _NO_EVENT.search(lower, max(start, event.start() - 30), event.start()) or \
                _HEDGED.search(lower, max(start, event.start() - 40), event.start()) or _HEDGED_AFTER.match(lower, event.end()) or \
                _SUPPOSED.search(lower, max(start, event.start() - 40), event.start()) or \
                _DATED.search(_sentence_of(lower, event.start())):
            continue
        return True
    return False


def _tells_progression(last: Reading) -> bool:
    """A turn that tells a progression of the disease without naming the drug it progressed on ("now PD lung/liver +
    2 new brain mets"); not a supposed one, a negated one, one said of a drug it names ("she had PD on THP in 2021"),
    nor oligoprogression, which the oligoprogression fact carries."""
    if any(t.progressed and t.turn == last.turn for t in last.facts.therapies):
        return False
    if last.facts.value("oligoprogression") is True:
        return False  # a few sites growing while the rest respond: local therapy, the drug stays current (CURB)
    lower = last.text.lower()
    lower = _mask(lower, _what_if_sentences(lower))
    return _untold_event(lower, 0, len(lower))


def therapies_named(text: str, vocabulary: Vocabulary) -> frozenset[str]:
    """The drugs an option's text names, without the classes they imply: "pyrotinib plus capecitabine"."""
    named: set[str] = set()
    text = re.sub(r"\(\s*e\.?g\.?[^)]*\)|\be\.?g\.?\s.*$", " ", text)  # examples are not the option: "another ADC (e.g. SG)"
    for match in vocabulary.find(text):
        therapies = _GROUP_THERAPIES.get(match.group, ())
        named.update(t for i, t in enumerate(therapies) if not _implied(t, i))
    return frozenset(named)


def _implied(therapy: str, position: int) -> bool:
    return position > 0 and therapy in IMPLIED_CLASSES


def _last(pattern: re.Pattern[str], text: str) -> int | None:
    position = None
    for match in pattern.finditer(text):
        position = match.start()
    return position


_ENDED = frozenset({"stopped_toxicity", "completed"})


_RULED_OUT = frozenset({"contraindicated", "declined"})  # never given, and why ("not available then, never had it": never had)


def _dedupe(facts: Iterable[TherapyFact]) -> list[TherapyFact]:
    """One fact per therapy from its mentions: progression wins; a later stop tells how a current course ended;
    a later "now on it" that a completed course goes on (maintenance)."""
    merged: dict[str, TherapyFact] = {}
    for fact in facts:
        known = merged.get(fact.therapy)
        if known is None:
            merged[fact.therapy] = fact
        elif fact.received and known.received:
            if known.implied and not fact.implied:  # "docetaxel-carboplatin": the carboplatin names chemotherapy itself
                known = known.model_copy(update={"implied": False, "words": fact.words})
            if "stopped_toxicity" in {known.status, fact.status} and {known.status, fact.status} <= {"stopped_toxicity", "progressed"} \
                    and known.sentence == fact.sentence:
                # "fulvestrant plus alpelisib: alpelisib stopped for grade 3 hyperglycaemia, fulvestrant continued until
                # progression": the drug's own stop, not the progression its sentence tells of another
                stopped = known if known.status == "stopped_toxicity" else fact
                merged[fact.therapy] = stopped.model_copy(update={"implied": known.implied and fact.implied})
                continue
            if known.status == "progressed" and fact.status == "current" and fact.sentence != known.sentence \
                    and not fact.implied and _NOW_CUE.search(fact.sentence.lower()) \
                    and not _STRONG_PROGRESS.search(fact.sentence.lower()):
                # "1L THP ... until PD. 3L tucatinib + trastuzumab + capecitabine, ongoing at cycle 7": given again, and
                # on it now
                merged[fact.therapy] = fact
                continue
            progressed, current = known.progressed or fact.progressed, known.current or fact.current
            status = "progressed" if progressed else "current" if current else known.status
            if not progressed and fact.status in _ENDED:
                status, current = fact.status, False  # "on T-DXd ... T-DXd permanently discontinued": how it ended
            elif not progressed and known.status in _ENDED and fact.status == "received":
                status, current = known.status, False
            merged[fact.therapy] = known.model_copy(update={"progressed": progressed, "current": current, "status": status})
        elif fact.received or not (fact.status == "considered" or (fact.status == "never_received" and (
                known.received or known.status in _RULED_OUT))):  # "capecitabine contraindicated ... without cape?"
            merged[fact.therapy] = fact  # the status that holds at the end: "no prior T-DXd ... T-DXd is contraindicated"
        elif fact.status == "considered" and known.received and fact.words.lower() != known.words.lower() \
                and f"{fact.therapy}|{fact.words.lower()}" not in merged:
            # "PD on palbociclib - switch to ribociclib?": another drug of the class she progressed on, asked about
            merged[f"{fact.therapy}|{fact.words.lower()}"] = fact
    return list(merged.values())


def _read_biomarkers(text: str, lower: str, turn: int, found: Sequence[Mention]) -> Iterable[BiomarkerFact]:
    untested: set[str] = set()
    # a list shares its cue: "No ESR1/PIK3CA/AKT testing yet" (ConText gives the first marker the nearer "No")
    pending = {m.sentence for m in found if m.label in _MARKER_GROUPS and "NOT_TESTED" in m.categories}
    for mention in found:
        if mention.label in _MARKER_GROUPS and ("NOT_TESTED" in mention.categories or (
                mention.sentence in pending and set(mention.categories) <= {"NEGATED_EXISTENCE"})):
            for marker, pattern in _BIOMARKERS.items():
                if pattern.search(mention.text.lower()) and marker not in untested:
                    untested.add(marker)  # "no ESR1/PIK3CA testing yet": unknown, not wild-type
                    yield BiomarkerFact(marker=marker, positive=False, words=mention.text, turn=turn, status="not_tested")
    for marker, pattern in _BIOMARKERS.items():
        if marker in untested:
            continue
        for match in pattern.finditer(lower):
            after = lower[match.end():match.end() + 30]
            before = lower[max(0, match.start() - 30):match.start()]
            if marker == "AKT1" and re.match(r"[\s-]*(?:inhibitor|pathway)", after):
                continue
            window_after = re.split(r"[,;.]|\band\b|\bbut\b", after)[0]
            window_before = re.split(r"[,;.]|\band\b|\bbut\b", before)[-1]
            negative = _BIOMARKER_NEG.search(window_after) or re.search(rf"\b{_NEG}\b", window_before)
            positive = _BIOMARKER_POS.search(window_after) or re.search(r"germline|\bg$|mutated|altered", window_before) \
                or lower[match.start()] == "g"
            if negative or positive:
                yield BiomarkerFact(marker=marker, positive=not negative,
                                    words=text[match.start():match.end() + len(window_after)].strip(), turn=turn,
                                    status="negative" if negative else "positive")
                break


# --- scope: what ConText says of each mention ------------------------------------------------

_MARKER_GROUPS = frozenset({"PIK3CA", "AKT pathway", "ESR1", "BRCA", "PD-L1"})
_FINDING_FACTS = {"brain metastases": "brain_mets", "interstitial lung disease": "ild"}
# what-if sentences answer a hypothetical patient; "what about X?" asks where X stands for this one
_WHAT_IF = re.compile(
    r"\bwhat\s+(?:about\s+|happens\s+)?if\b|\bsuppose\b|\bsupposing\b|\bhypothetically\b|\bimagine\b|\band\s+if\b|\bwhat\s+would\s+change\s+if\b|"
    r"^\s*if\s+(?:she|he|the\s+patient|they|it|there)\s+(?:had|were|was|did|would|has)\b"
)


def _what_if_sentences(lower: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in re.finditer(r"[^.;!?\n]+[.;!?\n]*", lower) if _WHAT_IF.search(m.group(0))]


def _mask(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """The text with these spans blanked: offsets stay, the words are no longer there to read."""
    chars = list(text)
    for start, end in spans:
        chars[start:end] = " " * (end - start)
    return "".join(chars)


def _sentence_of(text: str, position: int) -> str:
    for match in re.finditer(r"[^.;!?\n]+", text):
        if match.start() <= position < match.end():
            return match.group(0)
    return ""


def _clause_from(text: str, position: int) -> str:
    """The text from a position to the end of its clause (a comma, a stop, a semicolon)."""
    end = re.search(r"[,.;!?\n]|\s(?:but|and|so|as|because)\s", text[position:])
    return text[position:position + end.start()] if end else text[position:]


def _sentence_rest(text: str, position: int) -> str:
    end = re.search(r"[.;!?\n]", text[position:])
    return text[position:position + end.start()] if end else text[position:]


def _sentence_before(text: str, position: int) -> str:
    previous = ""
    for match in re.finditer(r"[^.;!?\n]+", text):
        if match.start() <= position < match.end():
            return previous
        previous = match.group(0)
    return ""


def _status_at(exposures: dict[tuple[int, int], Exposure], start: int, end: int) -> Exposure | None:
    return next((status for (a, b), status in exposures.items() if a < end and start < b), None)


# a drug out of reach only until lately: "wasn't funded until last month, now it is", "not reimbursed until recently"
_AVAILABLE_NOW = re.compile(
    r"\buntil\s+(?:last\s+\w+|recently|this\s+\w+|now|a\s+(?:few\s+)?(?:weeks?|months?)\s+ago)\b|"
    r"\bnow\s+(?:it|they|that)\s+(?:is|are|has|have|does)\b|\b(?:it|they)\s+(?:is|are)\s+now\b|"
    r"\b(?:is|are|has\s+been|have\s+been|was|got)\s+(?:now\s+|since\s+|finally\s+|just\s+)(?:been\s+)?(?:available|funded|approved|reimbursed|covered|licensed|accessible)\b|"
    r"\b(?:available|funded|approved|reimbursed|covered|licensed)\s+(?:now|since)\b", re.IGNORECASE)


# the drug's own words say it was given for early disease: "Kadcyla was adjuvant", "T-DM1 (adjuvant)", "EC-TH adjuvant 2019"
_GIVEN_AS_EARLY = re.compile(r"\s*\(?\s*(?:(?:was|were|had\s+been|has\s+been|given|used|as)\s+)*(?:the\s+|an?\s+)?"
                             r"(?:neo[\s-]*)?adj(?:uvant\w*|\.)?\b|\s*\(?\s*(?:(?:was|were|given|used|as)\s+)*(?:post|peri)[\s-]*operative\b",
                             re.IGNORECASE)
# the cues a past early-disease course may carry besides its own ("she progressed on Enhertu 2L, Kadcyla was adjuvant");
# a plan, a refusal or an asked drug ("Kadcyla adjuvant planned") is not a course she had
_TOLD_OF_A_PAST_COURSE = frozenset({"EARLY_SETTING", "PROGRESSED", "HISTORICAL", "COMPLETED"})
_NOT_THE_REASON = re.compile(r"\b(?:not|no|non|without|nor)\s+(?:for\s+|due\s+to\s+|because\s+of\s+|any\s+|a\s+|signs?\s+of\s+)?"
                             r"[\w-]+(?:\s+effects?|\s+events?)?")
# a course started and then stopped in the same sentence: the stop is how it stands
_LATER_STOP = re.compile(r"[^.;!?\n]*?\b(?:but|then|and)\s+(?:was\s+|were\s+|it\s+was\s+|they\s+were\s+|had\s+to\s+be\s+|"
                         r"has\s+been\s+|have\s+been\s+)?(?:stopped|discontinued|ceased|halted|abandoned|withdrawn|d/c'?d)\b")


def _exposure(mention: Mention, text: str, lexicon: Lexicon) -> Exposure | None:
    """A drug mention's status from its nearest scope cue, by the registry's table; None when no cue."""
    try:
        if mention.label != REGIMEN and lexicon.vocabulary.group(mention.label).kind != "drug":
            return None
    except KeyError:
        return None
    registry = lexicon.registry
    past = "HISTORICAL" in mention.categories  # "Enhertu wasn't available back then": it is now
    end = re.search(r"[.;!?\n]", text[mention.end:])
    asked = end is not None and end.group(0) == "?"  # "stop Enhertu?" asks; it does not say she stopped
    categories = list(mention.categories)
    if categories[:1] == ["CURRENT"] and _LATER_STOP.match(text, mention.end):
        categories.insert(0, "STOPPED")  # "started tucatinib/trastuzumab/cape but stopped after 6 weeks": how it ended
    lead = text[max(0, mention.start - 60):mention.start].lower()
    if categories[:1] == ["EARLY_SETTING"] and not asked and (_ONGOING_EARLY.search(lead) or _ONGOING_AFTER.match(text.lower(), mention.end)):
        return "current"  # "on adjuvant T-DM1", "adjuvant paclitaxel with trastuzumab, cycle 5 of 12": a course under way
    if categories[:1] == ["EARLY_SETTING"] and not asked and set(categories) <= _TOLD_OF_A_PAST_COURSE \
            and (given := _GIVEN_AS_EARLY.match(text, mention.end)) is not None \
            and not _RELAPSE_WORD.search(_clause_from(text.lower(), given.end())):
        return "completed"  # "Kadcyla was adjuvant (residual disease) back in 2019", "T-DM1 adjuvant 2018": a course for early disease
    if categories[:1] == ["UNAVAILABLE"] and _AVAILABLE_NOW.search(_sentence_rest(text, mention.end)):
        return "considered"  # "T-DXd wasn't funded here until last month, now it is": an option now
    for category in categories:
        if asked and category in {"STOPPED", "COMPLETED"}:
            return "considered"
        if past and category in {"UNAVAILABLE", "CONSIDERED"}:
            continue
        if category == "STOPPED":  # stopped for a side effect, at progression, or at the end of a course
            # a reason denied is none: "stopped after 2 yrs for PD (not tox)", "for progression (no side effects)"
            sentence = _NOT_THE_REASON.sub(" ", _sentence_of(text.lower(), mention.start))
            words = set(re.findall(r"[a-z0-9-]+", sentence))
            if not re.search(r"\bprogress|\bpd\b(?![-\s]?l1)|\bfail", sentence):
                # "Grade 3 ILD on T-DXd, hospitalised. T-DXd permanently discontinued.": the reason stands just before
                words |= set(re.findall(r"[a-z0-9-]+", _NOT_THE_REASON.sub(" ", _sentence_before(text.lower(), mention.start))))
            if words & set(registry.toxicity_cues):
                return "stopped_toxicity"
            if re.search(r"\bprogress|\bpd\b(?![-\s]?l1)|\bfail", sentence):
                return "progressed"
            return "completed"
        rule = next((r for r in registry.exposures if category in r.categories), None)
        if rule is not None:
            return rule.status
    return next((r.status for c in mention.categories for r in registry.exposures if c in r.fallback), None)


# "declines any IV chemo, including Enhertu": a drug given as an instance of its neighbour shares its status
_COORDINATOR = re.compile(r"(?:\s|,|\+|/|&|\bbiosimilar\b|\bweekly\b|\bplus\b|\band\b|\btogether\b|\bwith\b|\bor\b|\bvs\.?|\bversus\b|"
                          r"\bincluding\b|\bincl\b\.?|\bsuch\s+as\b|\beven\b|\bespecially\b)*")


def _coordinated(text: str, found: Sequence[Mention], exposures: dict[tuple[int, int], Exposure],
                 lexicon: Lexicon) -> dict[tuple[int, int], Exposure]:
    """A drug joined to its neighbour in a list ("Planning adjuvant T-DM1 plus endocrine therapy", "Herceptin + Perjeta +
    paclitaxel weekly, C4 today") shares its status when no cue of its own reaches it: ConText's scope counts
    tokens, a list does not."""
    drugs = sorted((m for m in found if m.label == REGIMEN or _is_drug(m.label, lexicon)), key=lambda m: m.start)
    result = dict(exposures)
    pairs = list(itertools.pairwise(drugs))
    for source, target in [*pairs, *((b, a) for a, b in reversed(pairs))]:  # forward along the list, then back
        status = result.get((source.start, source.end))
        if status is None or (target.start, target.end) in result or source.sentence != target.sentence:
            continue
        first, second = sorted((source, target), key=lambda m: m.start)
        between = text[first.end:second.start]
        if target is first and "," in between:
            continue  # "post THP and T-DM1, T-DXd unavailable": a cue after a comma speaks of its own drug
        if _AFTER.search(text[:target.start].lower()):
            continue  # "post THP": the history the sentence starts from
        if _COORDINATOR.fullmatch(between):
            result[(target.start, target.end)] = status
    return result


def _is_drug(label: str, lexicon: Lexicon) -> bool:
    try:
        return lexicon.vocabulary.group(label).kind == "drug"
    except KeyError:
        return False


_ANCHOR_CHARS = 30  # "grade 2 drug-induced pneumonitis", "pneumonitis (CTCAE grade 2)"


def _scoped_findings(text: str, found: Sequence[Mention], registry: Registry) -> tuple[str, dict[str, Fact]]:
    """Findings whose scope the registry decides: the text with mentions not about the patient now
    blanked (so no grammar reads them), and the facts read by the registry's patterns and scopes."""
    blank: list[tuple[int, int]] = []
    values: dict[str, list[tuple[str | int | bool, Mention]]] = {}
    for mention in found:
        name = _FINDING_FACTS.get(mention.label, mention.label)
        try:
            fact = registry.fact(name)
        except KeyError:
            continue
        if fact.anchor and not any(other.label in fact.anchor and other.sentence == mention.sentence
                                   and abs(other.start - mention.start) <= _ANCHOR_CHARS for other in found):
            continue
        outcome = next((fact.scope[c] for c in mention.categories if c in fact.scope), "keep")
        if outcome == "drop":
            blank.append((mention.start, mention.end))  # her mother's, or a what-if: not this patient now
            continue
        if fact.read_by == "grammar":
            if outcome != "keep":
                blank.append((mention.start, mention.end))
                values.setdefault(name, []).append((outcome, mention))
            continue
        value = mention.value if outcome == "keep" else outcome
        if value is None:
            continue
        if outcome == "keep" and fact.sentence_cues:  # an affirmed mention: its sentence says active or resolved
            sentence = set(re.findall(r"[a-z0-9-]+", _sentence_of(text.lower(), mention.start)))
            value = next((cue for cue, words in fact.sentence_cues.items() if sentence & set(words)), value)
        values.setdefault(name, []).append((value, mention))
    facts: dict[str, Fact] = {}
    for name, found_values in values.items():
        fact = registry.fact(name)
        distinct = sorted({str(v) for v, _ in found_values})
        combined = fact.combine.get("+".join(distinct))
        value, mention = found_values[-1]  # the latest mention: "LVEF 55% in 2023, now 38%"
        facts[name] = Fact(value=combined if combined is not None else value, words=mention.text, turn=0)
    return _mask(text, blank), facts


# deruxtecan ADCs are stopped for good after ILD of grade 2 or more (the product labels): "on T-DXd 2L, good PR, but gr 2
# pneumonitis at C9 -> pred, now resolved" is a course ended by its toxicity, not the line she is on
_STOPPED_AT_ILD_GRADE = {"trastuzumab deruxtecan": 2, "datopotamab deruxtecan": 2}


# "On Enhertu cycle 5, new dry cough ... Dose held.", "treatment has been withheld since then": a stop told without
# naming the drug is the stop of the one course she is on
_HELD = re.compile(r"\b(?:dose|doses|treatment|therapy|infusion|drug|it|cycle\s*\d*)\s+(?:has\s+been\s+|have\s+been\s+|was\s+|were\s+|is\s+|"
                   r"will\s+be\s+)?(?:held|withheld|deferred|postponed|paused|interrupted|stopped|discontinued|suspended)\b")


def _held_without_naming(lower: str, therapies: list[TherapyFact], registry: Registry) -> list[TherapyFact]:
    current = [t for t in therapies if t.status == "current" and not t.implied and t.therapy not in IMPLIED_CLASSES]
    if len(current) != 1 or (held := _HELD.search(lower)) is None:
        return therapies
    sentence = _sentence_of(lower, held.start())
    if current[0].words.lower() in sentence or (held.group(0).startswith("it") and not re.search(r"\bdose|\bcycle", sentence)):
        return therapies  # the drug's own sentence was read with the drug
    words = set(re.findall(r"[a-z0-9-]+", lower))
    if not words & set(registry.toxicity_cues):
        return therapies
    course = current[0].words
    return [t.model_copy(update={"status": "stopped_toxicity", "current": False, "progressed": False})
            if t.words == course and t.status == "current" else t for t in therapies]


def _stopped_for_ild(facts: dict[str, Fact], therapies: list[TherapyFact]) -> list[TherapyFact]:
    ild, grade = facts.get("ild"), facts.get("ild_grade")
    if ild is None or grade is None or ild.value == "none" or not isinstance(grade.value, int):
        return therapies
    said = ild.words.lower()
    ended = {t.words for t in therapies if grade.value >= _STOPPED_AT_ILD_GRADE.get(t.therapy, 5)
             and t.status == "current" and said in t.sentence.lower()}
    return [t.model_copy(update={"status": "stopped_toxicity", "current": False, "progressed": False, "received": True})
            if t.words in ended and t.status == "current" else t for t in therapies]


_PAUSED = re.compile(r"\b(?:held|withheld|on\s+hold|interrupted|deferred|postponed|paused)\b")
_ENDED_FOR_GOOD = re.compile(r"\b(?:stopped|discontinued|d/c'?d|ceased|abandoned|permanently)\b")


def _severe_toxicities(text: str, therapies: Sequence[TherapyFact], registry: Registry, turn: int) -> Iterable[Fact]:
    """A severe toxicity on a drug: "grade 3 neuropathy on docetaxel", "stopped T-DXd for grade 4 ILD"; a drug stopped
    for a side effect had a treatment-limiting one, whatever its grade. In a sentence naming several drugs the toxicity
    is the nearest one's ("grade 3 neuropathy with docetaxel in 1L THP": docetaxel's, not trastuzumab's)."""
    cues = set(registry.toxicity_cues)
    seen: set[str] = set()
    for therapy in therapies:
        sentence = therapy.sentence.lower()
        if not sentence or therapy.implied or therapy.therapy in seen or (
                therapy.therapy in {"adc", "chemotherapy"} and len(therapies) > 1):
            continue
        severe = re.search(r"\bgrade\s*(?:3|4|iii|iv|≥\s*3|>=\s*3)|\bg[34]\b|\bsevere\b|life[\s-]*threatening|"
                           r"\bhospitali[sz]\w*|\bintolerable\b|\bfatal\b", sentence)
        if therapy.status == "stopped_toxicity":
            if _PAUSED.search(text.lower()) and not _ENDED_FOR_GOOD.search(text.lower()) and not re.search(
                    r"\bgrade\s*(?:3|4|iii|iv)|\bg[34]\b|\bsevere\b|\bhospitali[sz]\w*|\badmi(?:ssion|tted)\b", text.lower()):
                continue  # "T-DXd held pending respiratory review": a pause, not yet a treatment-limiting toxicity
            seen.add(therapy.therapy)
            yield Fact(value=therapy.therapy, words=therapy.sentence, turn=turn)
            continue
        cue = next((m.start() for m in re.finditer(r"[a-z0-9-]+", sentence) if m.group(0) in cues), None)
        if not (severe and cue is not None and therapy.received):
            continue
        if any(t.words == therapy.words and t.status == "stopped_toxicity" for t in therapies):
            continue  # "grade 3 neuropathy with docetaxel in 1L THP, docetaxel dropped": the regimen's drug that stopped had it
        distance = {t.therapy: abs(sentence.find(t.words.lower()) - cue) for t in therapies
                    if t.sentence.lower() == sentence and not t.implied and t.words.lower() in sentence}
        if distance and distance.get(therapy.therapy, 0) > min(distance.values()):
            continue  # another drug of the sentence stands nearer the toxicity
        seen.add(therapy.therapy)
        yield Fact(value=therapy.therapy, words=therapy.sentence, turn=turn)


def _verbatim(facts: PatientFacts, corrected: str, alignment: Alignment) -> PatientFacts:
    """Every fact's words as the user wrote them, not as the speller corrected them."""
    if not alignment.edits:
        return facts
    def fix(words: str) -> str:
        return alignment.verbatim(corrected, words)

    updates: dict[str, object] = {}
    for name, value in facts:
        if isinstance(value, Fact):
            updates[name] = value.model_copy(update={"words": fix(value.words)})
        elif isinstance(value, tuple) and value and hasattr(value[0], "words"):
            updates[name] = tuple(item.model_copy(update={"words": fix(item.words), **(
                {"sentence": fix(item.sentence)} if isinstance(item, TherapyFact) else {})}) for item in value)
    return facts.model_copy(update=updates)
