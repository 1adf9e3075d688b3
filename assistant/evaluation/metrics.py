"""Scores of one answer against its case, and their aggregates.

Every metric is a ratio of counts kept per case (micro-averaged when grouped), so a group's figure
can be recomputed from its cases, and a metric with nothing to count is None ("n/a"), never 0 or 1.
"""

from __future__ import annotations

import json
import math
import re
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from assistant.evaluation.cases import Aliases, EvalCase, alias_matcher, failed_expectations
from assistant.types import Answer, Frozen, Review, StudyCard

# A number not glued to a word, a dotted version or a fraction: "0.28", "25.7", "12".
_NUMBER = re.compile(r"(?<![\w./-])(\d+(?:\.\d+)?)(?![\w/])")
_MARKER = re.compile(r"\[[\d,\s–-]+\]")  # citation markers such as [7] or [27, 50]
_LIST_NUMBER = re.compile(r"^\s*\d+\.\s", flags=re.M)
_LOCATOR = re.compile(r"\b(?:option|section)s?\s+\d+(?:\.\d+)*\b", flags=re.I)  # "(option 2 below)", "review section 5.2"


def normalise(text: str) -> str:
    """Whitespace-insensitive form: quotes are compared with all whitespace runs as one space."""
    return " ".join(text.split())


class Corpus:
    """What quotes and numbers are checked against: the indexed text, the review and the cards."""

    def __init__(self, indexed_texts: Iterable[str], review: Review, original: str,
                 cards: Sequence[StudyCard]) -> None:
        self._haystack = "\n\x00\n".join(normalise(t) for t in [*indexed_texts, *(p.text for p in review.passages),
                                                                  original])
        self.cards = tuple(cards)
        self._card_numbers = {card.id: set(_NUMBER.findall(card.model_dump_json())) for card in cards}
        self._sections = {p.id: p.section for p in review.passages}
        self._cut_off = next((p.text for p in review.passages if p.id == "review:data-availability:p1"), "")

    def quote_found(self, quote: str) -> bool:
        text = normalise(quote)
        return bool(text) and text in self._haystack

    def supported_numbers(self, answer: Answer) -> set[str]:
        """Numbers an answer may claim: those in a cited quote or in a study card it names or cites."""
        allowed: set[str] = set()
        for citation in answer.citations:
            allowed |= set(_NUMBER.findall(citation.quote))
        cited = {c.ref for c in answer.citations if c.ref is not None}
        trials = {c.trial for c in answer.citations if c.trial}
        lowered = answer.text.lower()
        for card in self.cards:
            if (set(card.refs) & cited or card.name in trials
                    or any(name.lower() in lowered for name in card.names if len(name) > 3)):
                allowed |= self._card_numbers[card.id]
        return allowed

    def non_claims(self, answer: Answer, turns: Sequence[str]) -> set[str]:
        """Numbers that are not claims about the evidence, so they are not counted: the user's own
        words and the facts read back from them (answer.patient), the follow-up questions (HER2
        categories such as "IHC 1+"), section numbers (locators) and the literature cut-off date the
        safety note gives (the review's data-availability statement)."""
        texts = [*turns, json.dumps(answer.patient), *answer.follow_up, self._cut_off,
                 *(c.section or "" for c in answer.citations),
                 *(self._sections.get(c.passage_id or "") or "" for c in answer.citations)]
        return {n for text in texts for n in _NUMBER.findall(text)}


def quote_refs(quote: str) -> set[int]:
    """Reference numbers of the [n] markers inside a quote."""
    found: set[int] = set()
    for marker in _MARKER.findall(quote):
        for part in re.split(r"\s*,\s*", marker.strip("[]")):
            bounds = [int(x) for x in re.split(r"\s*[–-]\s*", part.strip()) if x.strip().isdigit()]
            if bounds:
                found |= set(range(bounds[0], bounds[-1] + 1))
    return found


def answer_numbers(text: str) -> list[str]:
    """The numbers an answer's text states, without citation markers, list numbering, locators ("option 2
    below", "section 5.2") and the '95% CI' label that goes with a card's interval."""
    text = _MARKER.sub(" ", text)
    text = _LIST_NUMBER.sub(" ", text)
    text = _LOCATOR.sub(" ", text)
    text = text.replace("95% CI", " ").replace("95 % CI", " ")
    return _NUMBER.findall(text)


class CaseScore(Frozen):
    """One case's counts; ratios come from sums of these."""

    id: str
    file: str
    split: str
    kind: str  # the expected kind, or "(any)" when the case does not say
    answer_kind: str
    passed: bool
    failures: tuple[str, ...]
    latency_ms: float
    preferred_checked: bool = False
    preferred_ok: bool = False
    options_expected: int = 0
    options_found: int = 0
    forbidden_checked: int = 0
    forbidden_given: int = 0
    refs_expected: int = 0
    refs_found: int = 0
    refs_cited: int = 0
    refs_cited_expected: int = 0  # cited refs in the case's key
    refs_cited_supported: int = 0  # cited refs in the key, or carried by the marker of their own quote
    level_checked: bool = False
    level_ok: bool = False
    quotes: int = 0
    quotes_verbatim: int = 0
    numbers: int = 0
    numbers_supported: int = 0
    numbers_not_claims: int = 0  # echoes, follow-up categories, locators: not counted in `numbers`
    unsupported_numbers: tuple[str, ...] = ()
    bad_quotes: tuple[str, ...] = ()  # citation ids whose quote is not in the corpus


def score_case(case: EvalCase, answer: Answer, latency_ms: float, aliases: Aliases, corpus: Corpus, *,
               file: str, split: str) -> CaseScore:
    expect = case.expect
    matches = alias_matcher(aliases)
    options = [r.option for r in answer.recommendations]
    failures = failed_expectations(expect, answer, aliases)

    preferred_checked = bool(expect.preferred or expect.preferred_none)
    first = options[0] if options else None
    preferred_ok = preferred_checked and (
        (not expect.preferred or (first is not None and matches(expect.preferred, first)))
        and not (first is not None and any(matches(g, first) for g in expect.preferred_none)))

    wanted = [*([expect.preferred] if expect.preferred else []), *expect.options_all]
    options_expected = len(wanted) + (1 if expect.options_any else 0)
    options_found = sum(any(matches(g, o) for o in options) for g in wanted) + (
        1 if expect.options_any and any(matches(g, o) for g in expect.options_any for o in options) else 0)
    forbidden_given = sum(any(matches(g, o) for o in options) for g in expect.options_none)

    cited = {c.ref for c in answer.citations if c.ref is not None}
    expected_refs = set(expect.refs_all) | set(expect.refs_any)
    refs_expected = len(expect.refs_all) + (1 if expect.refs_any else 0)
    refs_found = sum(r in cited for r in expect.refs_all) + (1 if set(expect.refs_any) & cited else 0)

    carried = {c.ref for c in answer.citations if c.ref is not None and c.ref in quote_refs(c.quote)}
    bad_quotes = tuple(c.id for c in answer.citations if not corpus.quote_found(c.quote))
    stated = answer_numbers(answer.text)
    allowed = corpus.supported_numbers(answer)
    echoes = corpus.non_claims(answer, case.turns)
    numbers = [n for n in stated if n in allowed or n not in echoes]
    unsupported = tuple(n for n in numbers if n not in allowed)
    return CaseScore(
        id=case.id, file=file, split=split, kind=expect.kind or "(any)", answer_kind=answer.kind,
        passed=not failures, failures=tuple(failures), latency_ms=latency_ms,
        preferred_checked=preferred_checked, preferred_ok=preferred_ok,
        options_expected=options_expected, options_found=options_found,
        forbidden_checked=len(expect.options_none), forbidden_given=forbidden_given,
        refs_expected=refs_expected, refs_found=refs_found,
        refs_cited=len(cited) if expected_refs else 0,
        refs_cited_expected=len(cited & expected_refs) if expected_refs else 0,
        refs_cited_supported=len(cited & (expected_refs | carried)) if expected_refs else 0,
        level_checked=expect.evidence_level is not None,
        level_ok=expect.evidence_level is not None and answer.evidence_level == expect.evidence_level,
        quotes=len(answer.citations), quotes_verbatim=len(answer.citations) - len(bad_quotes),
        numbers=len(numbers), numbers_supported=len(numbers) - len(unsupported),
        numbers_not_claims=len(stated) - len(numbers),
        unsupported_numbers=unsupported, bad_quotes=bad_quotes,
    )


# --- aggregates ---------------------------------------------------------------------------

# (name, label, higher is better); the order of every table
METRICS: tuple[tuple[str, str, bool], ...] = (
    ("pass_rate", "pass rate", True),
    ("preferred_accuracy", "preferred-option accuracy", True),
    ("option_recall", "option recall", True),
    ("forbidden_option_rate", "forbidden options given", False),
    ("citation_precision", "citation precision", True),
    ("citation_precision_key", "citation precision (key only)", True),
    ("citation_recall", "citation recall", True),
    ("evidence_level_accuracy", "evidence-level accuracy", True),
    ("clarification_accuracy", "clarification accuracy", True),
    ("refusal_accuracy", "refusal accuracy", True),
    ("quote_faithfulness", "quote faithfulness", True),
    ("number_faithfulness", "number faithfulness", True),
    ("latency_p50_ms", "latency p50 (ms)", False),
    ("latency_p95_ms", "latency p95 (ms)", False),
)
LABELS = {name: label for name, label, _ in METRICS}
HIGHER_IS_BETTER = {name: higher for name, _, higher in METRICS}


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..1); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _kind_accuracy(scores: Sequence[CaseScore], kind: str) -> float | None:
    """Among cases with an expected kind: the answer is of `kind` exactly when the case expects it."""
    judged = [s for s in scores if s.kind != "(any)" and (s.kind == kind or s.answer_kind == kind)]
    relevant = [s for s in scores if s.kind != "(any)"]
    if not any(s.kind == kind for s in relevant):
        return None
    return sum((s.kind == kind) == (s.answer_kind == kind) for s in judged) / len(judged)


def summarise(scores: Sequence[CaseScore]) -> dict[str, float | int | None]:
    """The table row of a group of cases: every metric of METRICS, plus n."""
    s = scores
    return {
        "n": len(s),
        "pass_rate": _ratio(sum(x.passed for x in s), len(s)),
        "preferred_accuracy": _ratio(sum(x.preferred_ok for x in s), sum(x.preferred_checked for x in s)),
        "option_recall": _ratio(sum(x.options_found for x in s), sum(x.options_expected for x in s)),
        "forbidden_option_rate": _ratio(sum(x.forbidden_given for x in s), sum(x.forbidden_checked for x in s)),
        "citation_precision": _ratio(sum(x.refs_cited_supported for x in s), sum(x.refs_cited for x in s)),
        "citation_precision_key": _ratio(sum(x.refs_cited_expected for x in s), sum(x.refs_cited for x in s)),
        "citation_recall": _ratio(sum(x.refs_found for x in s), sum(x.refs_expected for x in s)),
        "evidence_level_accuracy": _ratio(sum(x.level_ok for x in s), sum(x.level_checked for x in s)),
        "clarification_accuracy": _kind_accuracy(s, "clarification"),
        "refusal_accuracy": _kind_accuracy(s, "out_of_scope"),
        "quote_faithfulness": _ratio(sum(x.quotes_verbatim for x in s), sum(x.quotes for x in s)),
        "number_faithfulness": _ratio(sum(x.numbers_supported for x in s), sum(x.numbers for x in s)),
        "latency_p50_ms": percentile([x.latency_ms for x in s], 0.5),
        "latency_p95_ms": percentile([x.latency_ms for x in s], 0.95),
    }


def group(scores: Sequence[CaseScore], key: str) -> dict[str, dict[str, float | int | None]]:
    """summarise() per value of a CaseScore field ("file", "kind", "split"), in first-seen order."""
    groups: dict[str, list[CaseScore]] = {}
    for score in scores:
        groups.setdefault(str(getattr(score, key)), []).append(score)
    return {name: summarise(members) for name, members in groups.items()}


# --- retrieval ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RetrievalScore:
    """One labelled question: the labelled passages against what a system ranked first."""

    id: str
    file: str
    kind: str
    recall_at_1: float
    recall_at_5: float
    mrr: float
    ndcg_at_5: float


def score_ranking(qid: str, file: str, kind: str, wanted: Sequence[str],
                  ranked: Sequence[Sequence[str]]) -> RetrievalScore:
    """ranked[i] lists the passage ids the i-th result covers (a naive chunk may cover several).

    Recall@k is the share of labelled passages covered by the first k results; MRR the reciprocal
    rank of the first result covering one; nDCG@5 gains 1 for each result that covers a labelled
    passage not covered earlier. These are the definitions of `assistant bench retrieval`.
    """
    target = set(wanted)
    top1 = set(ranked[0]) if ranked else set()
    top5: set[str] = set().union(*ranked[:5]) if ranked else set()
    first = next((rank for rank, covered in enumerate(ranked, 1) if target & set(covered)), None)
    seen: set[str] = set()
    dcg = 0.0
    for rank, covered in enumerate(ranked[:5], 1):
        new = (target & set(covered)) - seen
        if new:
            dcg += 1 / math.log2(rank + 1)
            seen |= new
    ideal = sum(1 / math.log2(rank + 1) for rank in range(1, min(5, len(target)) + 1))
    return RetrievalScore(qid, file, kind, len(target & top1) / len(target), len(target & top5) / len(target),
                          1 / first if first else 0.0, dcg / ideal if ideal else 0.0)


def summarise_retrieval(scores: Sequence[RetrievalScore]) -> dict[str, float | int | None]:
    if not scores:
        return {"n": 0, "recall_at_1": None, "recall_at_5": None, "mrr": None, "ndcg_at_5": None}
    return {
        "n": len(scores),
        "recall_at_1": statistics.fmean(s.recall_at_1 for s in scores),
        "recall_at_5": statistics.fmean(s.recall_at_5 for s in scores),
        "mrr": statistics.fmean(s.mrr for s in scores),
        "ndcg_at_5": statistics.fmean(s.ndcg_at_5 for s in scores),
    }
