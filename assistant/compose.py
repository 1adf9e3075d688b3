"""Compose: a Decision, a study card or retrieved sentences, turned into the Answer of the contract.

Text comes from the templates in prompts/; numbers come from study cards (through result()) or from
quoted passages; quotes are verbatim slices of the indexed text, and each citation keeps the spans
of the original review it was read from.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from assistant.decide import ChosenOption, Decision, Rule, cards_quoted, evaluate, render
from assistant.errors import CorpusError
from assistant.index import LoadedIndex
from assistant.ingest import passage_quote_spans
from assistant.ingest.mapped import sentence_bounds
from assistant.ingest.references import citation_refs
from assistant.registry import Registry
from assistant.retrieve import Retriever, lexical_tokens
from assistant.types import (
    DRUG_CLASSES,
    EVIDENCE_ORDER,
    Answer,
    Change,
    Citation,
    Comparison,
    Kind,
    NotOffered,
    Passage,
    PatientFacts,
    Recommendation,
    StudyCard,
    StudyResult,
)

_CONTINUES = re.compile(r"(?:The\s+results?|Results|It|This|These|Its|Their|In\s+(?:this|that)\s+(?:study|trial))\b")
# a sentence that goes on about the study of the one before: "However, both studies excluded ...", "The results ..."
_GOES_ON = re.compile(r"\s*(?:(?:however|moreover|furthermore|besides|in\s+addition),?\s+)?(?:both|these|this|the|its|their|it|they|"
                      r"in\s+(?:this|that|both))\s+(?:\w+\s+){0,2}?(?:stud(?:y|ies)|trials?|results?|analys[ie]s|patients|cohorts?|data)\b",
                      re.I)
_NO_CI = {"n/a", "unverified", "not retrieved", "not reported in abstract", "truncated in source", "as shown", ""}


def format_result(result: StudyResult) -> str:
    """A card's figure with its interval, the interval next to the hazard ratio it belongs to."""
    ci = result.ci.strip()
    if ci.lower() in _NO_CI or ci.lower().startswith("unverified"):
        return result.value
    label = "" if re.match(r"\d+%\s*CI", ci) else "95% CI "
    hazard = re.search(r"\bHR\s+(?:approx\s+)?\d+(?:\.\d+)?", result.value)
    if hazard and result.value.count("HR ") == 1:
        return f"{result.value[:hazard.end()]} ({label}{ci}){result.value[hazard.end():]}"
    return f"{result.value} ({label}{ci})"


def card_functions(cards: Sequence[StudyCard]) -> dict[str, Any]:
    """Functions the rule, safety and prompt templates may call; unknown names fail at load."""
    by_id = {card.id: card for card in cards}

    def result(card_id: str, measure: str) -> str:
        card = by_id.get(card_id) or next((c for c in cards if c.id.startswith(card_id)), None)
        if card is None:
            raise ValueError(f"no study card {card_id!r}")
        for item in card.results:
            if measure.lower() in item.measure.lower():
                return format_result(item)
        raise ValueError(f"study card {card.id!r} has no result whose measure contains {measure!r}")

    return {"result": result}


def md(text: object) -> str:
    """Words from a user, safe inside Markdown: no HTML, no links, no emphasis."""
    escaped = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"([\\`*_\[\]()!#|~])", r"\\\1", escaped)


# The axes a population is described on, each finding with the values it allows: a question about one value ("HER2-0
# TNBC") is not answered by a study of another (a HER2-low cohort). Vocabulary group names.
_AXES: tuple[dict[str, frozenset[str]], ...] = (
    {"HER2-positive": frozenset({"positive"}), "HER2-low": frozenset({"low"}), "HER2-ultralow": frozenset({"ultralow"}),
     "HER2-0": frozenset({"zero"}), "triple negative breast cancer": frozenset({"low", "ultralow", "zero"})},
    {"hormone receptor positive": frozenset({"positive"}), "hormone receptor negative": frozenset({"negative"}),
     "triple negative breast cancer": frozenset({"negative"})},
)


def population_fits(asked: Iterable[str], population: Iterable[str]) -> bool:
    """A study's population (the findings it names) fits the one a question describes: on each axis the question
    narrows (every finding it names there allows the value), the study names a value it allows, or none."""
    asked, population = set(asked), set(population)
    for axis in _AXES:
        wanted = [axis[g] for g in asked if g in axis]
        studied = [axis[g] for g in population if g in axis]
        narrowed = frozenset.intersection(*wanted) if wanted else frozenset()
        # "HER2-low vs ultralow vs 0" names several values: it sets them side by side, it narrows nothing
        if narrowed and studied and not narrowed & frozenset().union(*studied):
            return False
    return True


def _sheets(cards: Sequence[StudyCard], measures: Sequence[str], query: str, citations: _Citations) -> list[dict[str, Any]]:
    """Each study's card facts, the results asked for and the review's sentences about it, for fact.md.j2's sheets."""
    sheets = []
    for card in cards:
        ids = citations.card(card, f"{card.name} {query}", answering=query)
        sheets.append({"card": card, "results": _results_for(card, measures), "citations": ids,
                       "quotes": [c for c in citations.items if c.id in ids]})
    return sheets


@dataclass
class _Citations:
    """Citations of one answer, numbered by reference (or by review passage) in order of first use."""

    composer: Composer
    items: list[Citation] = field(default_factory=list)

    def _add(self, citation: Citation) -> str:
        for item in self.items:
            if item.id == citation.id:
                return item.id
        self.items.append(citation)
        return citation.id

    def passage(self, passage: Passage, quote: str | None = None, trial: str | None = None) -> str:
        quote = quote or passage.text
        label = passage_label(passage)
        same = [c for c in self.items if c.passage_id == passage.id and c.ref is None]
        if same and all(c.quote != quote for c in same):
            label = f"{label}.{len(same) + 1}"  # another quote of the same passage: S3-1.2
        title = self.composer.review_title
        where = f"{passage.section}. {passage.section_title}" if passage.section else (passage.section_title or "")
        kind = ", Perspectives" if passage.kind == "perspective" else ""
        return self._add(Citation(
            id=label, ref=None, trial=trial, title=f"{title}, {where}{kind}", section=passage.section,
            quote=quote, passage_id=passage.id,
            spans=passage_quote_spans(passage, quote, self.composer.original),
        ))

    def reference(self, ref: int, passage: Passage, quote: str, trial: str | None) -> str:
        reference = self.composer.index.review.reference(ref)
        return self._add(Citation(
            id=str(ref), ref=ref, trial=trial, title=reference.title, section=passage.section, quote=quote,
            passage_id=passage.id, spans=passage_quote_spans(passage, quote, self.composer.original),
        ))

    def card(self, card: StudyCard, hint: str, sections: Sequence[str] = (), answering: str | None = None) -> list[str]:
        """Cite a study: each of its references with the review's sentence that cites it; `answering`: a question
        about the study, whose words choose among the review's sentences on it (one that names it without its
        reference included, with the sentence after it that goes on about it)."""
        ids: list[str] = []
        answered: int | None = None
        said = self.composer.quote_answering(card, answering) if answering else None
        if said is not None and (said[2] or not card.refs):
            passage, quote, _ = said
            if not card.refs:
                return [self.passage(passage, quote, trial=card.name)]
            # the reference the sentence cites (the first when it names the study without one); the others as before
            answered = next((ref for ref in card.refs if ref in _refs_in(quote)), card.refs[0])
            ids.append(self.reference(answered, passage, quote, card.name))
        for ref in card.refs:
            if ref == answered:
                continue
            found = self.composer.quote_for_ref(ref, hint, sections)
            if found:
                ids.append(self.reference(ref, found[0], found[1], card.name))
        if not card.refs:
            found = self.composer.quote_naming(card, hint) or self.composer.quote_of_claims(card)
            if found:
                ids.append(self.passage(found[0], found[1], trial=card.name))
        return ids


def passage_label(passage: Passage) -> str:
    """Short citation id of a review passage: P2-1 (Perspectives of section 2, statement 1), S5.1-3."""
    if passage.kind == "perspective":
        return f"P{passage.section}-{passage.statement}"
    match = re.match(r"review:([\d.]+):p(\d+)$", passage.id)
    if match:
        return f"S{match.group(1)}-{match.group(2)}"
    return "R-" + passage.id.split(":", 1)[1].replace(":", "-")


class Composer:
    """Turns decisions and findings into Answers; one per process, read-only after construction."""

    def __init__(self, index: LoadedIndex, retriever: Retriever, rules: Sequence[Rule], prompts_dir: Path,
                 safety_path: Path, registry: Registry) -> None:
        self.index = index
        self.registry = registry
        self.retriever = retriever
        self.rules = {rule.id: rule for rule in rules}
        self.cards = {card.id: card for card in index.cards}
        self.functions = card_functions(index.cards)
        self.environment = Environment(
            loader=FileSystemLoader(str(prompts_dir)), undefined=StrictUndefined, autoescape=False,
            trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False,
        )
        self.environment.filters["md"] = md
        self.environment.globals.update(self.functions)
        self.safety = load_safety(safety_path, self.functions)

    @cached_property
    def original(self) -> str:
        return (self.index.settings.corpus_dir / "review.txt").read_text(encoding="utf-8")

    @cached_property
    def _card_terms(self) -> dict[str, tuple[tuple[str, str], ...]]:
        """Card id -> (term, vocabulary group) of each drug its drugs and arms name, read once per process."""
        vocabulary = self.index.vocabulary
        return {card.id: tuple((m.term.lower(), m.group) for text in (*card.drugs, *card.arms) for m in vocabulary.find(text))
                for card in self.index.cards}

    @property
    def review_title(self) -> str:
        return "Ma & Li review"

    def _render(self, template: str, **values: Any) -> str:
        text = self.environment.get_template(template).render(**values)
        return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"

    def answer(self, kind: Kind, text: str, **fields: Any) -> Answer:
        return Answer(kind=kind, text=text, corpus_version=self.index.corpus_version, **fields)

    # --- quotes ---------------------------------------------------------------------------

    def quote_for_ref(self, ref: int, hint: str, sections: Sequence[str] = ()) -> tuple[Passage, str] | None:
        """The review sentence that cites [ref], from the passage retrieval ranks best for the hint."""
        candidates = [p for p in self.index.review.passages if ref in p.refs]
        if not candidates:
            return None
        preferred = [p for p in candidates if p.section in sections] or candidates
        if len(preferred) > 1:
            ranked = {r.passage_id: i for i, r in enumerate(self.retriever.search(hint, 50))}
            preferred.sort(key=lambda p: (ranked.get(p.id, 99), p.id))
        passage = preferred[0]
        bounds = sentence_bounds(passage.text)
        for number, (start, end) in enumerate(bounds):
            if ref in citation_refs(passage.text[start:end], 10_000):
                # "ASCENT study [10] explored ... The results showed ...": keep the results with the study.
                if number + 1 < len(bounds) and _CONTINUES.match(passage.text, bounds[number + 1][0]):
                    end = bounds[number + 1][1]
                return passage, self._with_context(passage, start, end)
        return passage, passage.text

    def quote_answering(self, card: StudyCard, question: str) -> tuple[Passage, str, bool] | None:
        """The review's sentence on a study (citing it or naming it) that shares most of the question's rare words,
        with the sentence after it when that goes on about it ("However, both studies excluded patients with active
        brain metastases"); (passage, quote, whether the words chosen are more than the study's name). A sentence that
        cites the study wins a tie."""
        refs = set(card.refs)
        weights = self.retriever.term_weights(question)
        name = set(lexical_tokens(card.name)) | {t for alias in card.aliases for t in lexical_tokens(alias)}
        best: tuple[float, Passage, int, int] | None = None
        for passage in self.index.review.passages:
            if passage.kind != "paragraph":
                continue
            bounds = sentence_bounds(passage.text)
            for i, (start, end) in enumerate(bounds):
                sentence = passage.text[start:end]
                cites = bool(refs & set(citation_refs(sentence, 10_000)))
                if not cites and card not in self.retriever.named_studies(sentence, by_drug=False):
                    continue
                score, stop = self._shared(weights, passage.text[start:end], name) + (0.5 if cites else 0.0), end
                if i + 1 < len(bounds) and _GOES_ON.match(passage.text, bounds[i + 1][0]) and not citation_refs(
                        passage.text[bounds[i + 1][0]:bounds[i + 1][1]], 10_000):
                    going_on = self._shared(weights, passage.text[bounds[i + 1][0]:bounds[i + 1][1]], name)  # its own share of the question: "excluded ... active brain metastases"
                    if going_on > 1.0:
                        score, stop = score + going_on, bounds[i + 1][1]
                if best is None or score > best[0]:
                    best = (score, passage, start, stop)
        if best is None:
            return None
        score, passage, start, end = best
        return passage, self._with_context(passage, start, end), score > 0.5

    @staticmethod
    def _shared(weights: dict[str, float], text: str, leave_out: set[str]) -> float:
        """The weight of the rare words a text shares with a question, less some (a study's own name)."""
        return sum(weights.get(t, 0.0) for t in set(lexical_tokens(text)) - leave_out)

    def quote_naming(self, card: StudyCard, hint: str) -> tuple[Passage, str] | None:
        """The review sentence that names an uncited study."""
        for passage in self.index.review.passages:
            for start, end in sentence_bounds(passage.text):
                if card in self.retriever.named_studies(passage.text[start:end], by_drug=False):
                    return passage, self._with_context(passage, start, end)
        return None

    def quote_of_claims(self, card: StudyCard) -> tuple[Passage, str] | None:
        """The review sentence that states an uncited analysis's figures ("49 % (64/130)"): its own words are the
        only source the answer can show."""
        figures = {f for claim in card.review_claims for f in re.findall(r"\b\d+/\d+\b", claim)}
        for passage in self.index.review.passages:
            for start, end in sentence_bounds(passage.text):
                if figures and any(f in passage.text[start:end] for f in figures):
                    return passage, self._with_context(passage, start, end)
        return None

    def expand_quote(self, passage: Passage, start: int, end: int) -> str:
        """A quote for an explanation: with the sentence before it when that one carries the citation the
        claim rests on ("DAISY study [32] ... The expression level of HER2 will directly affect ...")."""
        if not citation_refs(passage.text[start:end], 10_000):
            previous = [b for b in sentence_bounds(passage.text) if b[1] <= start]
            if previous and citation_refs(passage.text[previous[-1][0]:previous[-1][1]], 10_000):
                start = previous[-1][0]
            elif len(previous) >= 2 and previous[-1][1] - previous[-1][0] < 120 and citation_refs(
                    passage.text[previous[-2][0]:previous[-2][1]], 10_000):
                start = previous[-2][0]  # "MD Anderson [38] analyzed ... Among them, 38% ... The results showed ..."
        return self._with_context(passage, start, end)

    def _with_context(self, passage: Passage, start: int, end: int) -> str:
        """A sentence, with the one before it when it opens mid-thought ("limited data [8] has ...")."""
        text = passage.text[start:end]
        if start > 0 and (text[:1].islower() or len(text) < 70):
            previous = [b for b in sentence_bounds(passage.text) if b[1] <= start]
            if previous:
                return passage.text[previous[-1][0]:end]
        return text

    def best_sentences(self, passage: Passage, query: str, limit: int = 2) -> str:
        """The sentence of a passage that best answers the query (rare shared words weigh most),
        with its neighbour when that also answers; one verbatim span."""
        bounds = sentence_bounds(passage.text)
        if len(bounds) <= 1:
            return passage.text
        weights = self.retriever.term_weights(query)
        scores = [sum(weights.get(t, 0.0) for t in set(lexical_tokens(passage.text[a:b]))) for a, b in bounds]
        best = max(range(len(bounds)), key=lambda i: (scores[i], -i))
        first = last = best
        if limit > 1:
            neighbours = [i for i in (best - 1, best + 1) if 0 <= i < len(bounds)]
            runner = max(neighbours, key=lambda i: (scores[i], -i))
            if scores[runner] >= 0.5 * scores[best] > 0 or passage.text[bounds[best][0]:bounds[best][1]][:1].islower():
                first, last = min(best, runner), max(best, runner)
        return self._with_context(passage, bounds[first][0], bounds[last][1])

    # --- recommendation -------------------------------------------------------------------

    def recommendation(self, decision: Decision, facts: PatientFacts, changes: Sequence[Change],
                       notes: Sequence[str] = (), about: Sequence[tuple[str, str]] = (), query: str = "") -> Answer:
        """The options; `about` holds (the user's words, therapy) for drugs asked about that no option names:
        what the review and its studies say of each, cited, or that the review does not discuss it."""
        citations = _Citations(self)
        rules = [self.rules[rule_id] for rule_id in decision.rule_ids]
        recommendations = [self._recommendation(option, citations, facts) for option in decision.options]
        said_about = [(md(words), *self.review_on(words, therapy, query, citations)) for words, therapy in about]
        perspectives = []
        for rule in rules[:1]:
            for passage_id in rule.perspectives:
                passage = self.index.review.passage(passage_id)
                perspectives.append((passage, citations.passage(passage)))
        safety = self.safety_note(recommendations, facts)
        preferred = next((r for r in recommendations if r.role == "preferred"), None)
        not_offered = tuple(NotOffered(option=e.option, reason=e.reason, words=e.words, review=e.review)
                            for e in decision.excluded)
        text = self._render(
            "recommendation.md.j2", rule=rules[0], rules=rules, recommendations=recommendations,
            preferred=preferred, perspectives=perspectives, patient=describe_patient(facts, self.registry), changes=changes,
            safety=safety, notes=notes, warnings=decision.warnings,
            not_offered=[(e.option, e.reason, md(e.words), e.review) for e in decision.excluded], about=said_about,
            instead_of=decision.instead_of,
        )
        return self.answer(
            "recommendation", text, recommendations=tuple(recommendations), citations=tuple(citations.items),
            evidence_level=preferred.evidence_level if preferred else None, patient=patient_record(facts, self.registry),
            rule_ids=decision.rule_ids, what_would_change=tuple(changes), safety_note=safety,
            not_offered=not_offered, warnings=decision.warnings,
        )

    def _recommendation(self, chosen: ChosenOption, citations: _Citations, facts: PatientFacts) -> Recommendation:
        spec = chosen.spec
        notes = [render(spec.note, self.functions)] if spec.note else []
        notes += [render(c.text, self.functions) for c in spec.caveats if evaluate(c.when, facts)[0] is True]
        rule = self.rules[chosen.rule_id]
        ids: list[str] = []
        hint = f"{spec.option} {rule.title}"
        for card_id in (*spec.studies, *spec.context):
            ids.extend(citations.card(self.cards[card_id], hint, [rule.section]))
        for passage_id in spec.passages:
            passage = self.index.review.passage(passage_id)
            if passage.kind == "perspective":
                ids.append(citations.passage(passage))
            elif not any(c.passage_id == passage_id for c in citations.items if c.id in ids):
                ids.append(citations.passage(passage, self.best_sentences(passage, hint)))
        return Recommendation(
            option=spec.option, role=chosen.role, rationale=render(spec.rationale, self.functions),
            evidence_level=spec.evidence_level, citations=tuple(dict.fromkeys(ids)),
            studies=tuple(self.cards[c].name for c in spec.studies),
            note=" ".join(notes) or None,
        )

    def safety_note(self, recommendations: Sequence[Recommendation], facts: PatientFacts) -> str:
        options = " ".join(r.option.lower() for r in recommendations)
        notes: list[str] = []
        unlisted: list[str] = []
        for entry in self.safety["drugs"]:
            hits = [m for m in entry["match"] if m in options]
            if not hits:
                continue
            if "{{ drugs }}" in entry["note"]:
                unlisted.extend(hits)
                continue
            notes.append(render(entry["note"], self.functions))
        if unlisted:
            generic = next(e for e in self.safety["drugs"] if "{{ drugs }}" in e["note"])
            values: dict[str, Any] = {**self.functions, "drugs": ", ".join(unlisted)}
            notes.append(render(generic["note"], values))
        if facts.value("ild") in {"active", "resolved"} and "deruxtecan" in options:
            notes.append(self.safety["ild_history"])
        notes.append(self.safety["general"])
        return " ".join(dict.fromkeys(notes))

    def review_on(self, words: str, therapy: str, query: str, citations: _Citations,
                  setting: str | None = None, patient: str = "") -> tuple[list[str], list[str]]:
        """What the review says of a drug asked about: the studies it cites that gave the drug (design and
        headline result), else the review's sentences naming it; ([], []) when it never names it. Returns
        the lines and their citation ids, each line's ids at its end. `setting`: the patient's ("metastatic"),
        whose studies come first (T-DM1's DESTINY-Breast03 before KATHERINE); `patient`: her description, whose
        findings (HER2-low) choose among the studies as the question's own do."""
        word = words.lower().strip()
        vocabulary = self.index.vocabulary
        groups = [m.group for m in vocabulary.find(words)]
        group = groups[0] if groups else None
        terms = {word}
        if group is not None and (therapy not in DRUG_CLASSES or group.lower().startswith(word)):
            # a drug's other names ("Margenza"), or a class named by itself ("chemo"); a class's members
            # ("gemcitabine", read as chemotherapy) are other drugs
            terms |= {t.lower() for t in vocabulary.group(group).terms} if therapy not in DRUG_CLASSES else {group.lower()}

        def gave(card: StudyCard, names: set[str]) -> bool:
            """The card gave the drug: a vocabulary match of its drugs or arms names it ("trastuzumab" is not
            "trastuzumab deruxtecan")."""
            return any(term in names or (matched == group and therapy not in DRUG_CLASSES)
                       for term, matched in self._card_terms[card.id]) or any(
                re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", " ".join(card.drugs).lower()) for n in names)

        def compared_with(card: StudyCard) -> bool:  # the drug only in a comparator arm
            return not any(t in d.lower() for d in card.drugs for t in terms) and any(
                t in arm.lower() for arm in card.arms[1:] for t in terms)

        itself = therapy in DRUG_CLASSES and group is not None and group.lower().startswith(word)  # "chemo"
        cards = [c for c in self.index.cards if gave(c, terms) and not (itself and compared_with(c))]
        ranked = {r.passage_id: i for i, r in enumerate(self.retriever.search(f"{words} {query}", 50))}

        # the drugs the question names with it ("SG straight after T-DXd?", "atezolizumab added to Kadcyla?"): a study that
        # gave them together answers the question asked, before the drug's strongest study of something else
        named = {m.group for m in vocabulary.find(query) if vocabulary.group(m.group).kind == "drug"} - {group}

        asked = self.findings(f"{query} {patient}")

        def rank(card: StudyCard) -> tuple[bool, int, bool, int, int]:
            places = [ranked.get(p.id, 99) for p in self.index.review.passages if set(card.refs) & set(p.refs)]
            # the drugs it tested, not those of its comparator arm ("chemotherapy" of ASCENT's control)
            together = len(named & {m.group for text in card.drugs for m in vocabulary.find(text)})
            # then a study of the patients described (HR-positive HER2-low: not ASCENT's triple-negative disease)
            elsewhere = not population_fits(asked, self.findings(card.population))
            metastatic = bool(_METASTATIC.search(f"{card.population} {card.design}"))
            other_setting = setting is not None and metastatic != (setting == "metastatic")
            return other_setting, -together, elsewhere, EVIDENCE_ORDER.index(card.esmo_level), min(places, default=99)

        lines, ids = [], []
        for card in sorted(cards, key=rank)[:2]:
            said = self._review_sentence(card, f"{words} {query}")
            if said is not None:  # the review's sentence on the study that answers the question, cited with it
                passage, quote, ref = said
                citations.reference(ref, passage, quote, card.name)
            cited = citations.card(card, f"{words} {query}")
            shown = sorted((r for r in card.results if not r.value.lower().startswith("unverified")),
                           key=lambda r: not _OUTCOME.search(r.measure))[:1]  # an outcome, not a baseline count
            result = f": {shown[0].measure}: {format_result(shown[0])}" if shown else ""
            control = next((arm for arm in card.arms[1:] if any(t in arm.lower() for t in terms)), None)
            if control is not None and compared_with(card):
                # "gemcitabine" in ASCENT's comparator: the result is not the drug's own
                result = f": {words} only within the comparator arm ({control}); the trial tested {card.arms[0]}{result}"
            said_quote = next((c.quote for c in citations.items if c.id in cited), None)
            lines.append(f"{card.name} ({card.design}; {card.population}){result}"
                         + (f"; the review: \u201c{said_quote}\u201d" if said_quote else "")
                         + (f" [{'] ['.join(cited)}]" if cited else ""))
            ids.extend(cited)
        if lines:
            lines += self._unanswered_concepts(query, lines, citations)
            return lines, ids
        weights = self.retriever.term_weights(f"{words} {query}")
        best: tuple[float, Passage, int, int] | None = None
        for passage in self.index.review.passages:
            if passage.kind == "perspective":
                continue
            for start, end in sentence_bounds(passage.text):
                sentence = passage.text[start:end].lower()
                if not any(re.search(rf"(?<![\w-]){re.escape(t)}(?![\w-])", sentence) for t in terms):
                    continue
                score = sum(weights.get(t, 0.0) for t in set(lexical_tokens(sentence))) + (10.0 if word in sentence else 0.0)
                if best is None or score > best[0]:
                    best = (score, passage, start, end)
        if best is None:
            return [], []
        _, passage, start, end = best
        quote = self.expand_quote(passage, start, end)
        refs = _refs_in(quote)
        cited = [citations.reference(ref, passage, quote, self._trial_for(ref)) for ref in refs] or [citations.passage(passage, quote)]
        return [f"\u201c{quote}\u201d [{'] ['.join(cited)}]"], cited

    def _review_sentence(self, card: StudyCard, hint: str, reach: int = 2) -> tuple[Passage, str, int] | None:
        """The review's words on a study that best answer the hint: from the sentence citing it to the one, within
        `reach` after it and citing nothing else, whose rare words the hint shares most ("MD Anderson [38] analyzed
        ... The results showed ... SG sequential T-DXd"); (passage, quote, the reference cited)."""
        refs = set(card.refs)
        weights = self.retriever.term_weights(hint)
        best: tuple[float, Passage, int, int, int] | None = None
        for passage in self.index.review.passages:
            if passage.kind == "perspective" or not refs & set(passage.refs):
                continue
            bounds = sentence_bounds(passage.text)
            for i, (start, end) in enumerate(bounds):
                cited = refs & set(citation_refs(passage.text[start:end], 10_000))
                if not cited:
                    continue
                for j in range(i, min(i + reach + 1, len(bounds))):
                    a, b = bounds[j]
                    if j > i and citation_refs(passage.text[a:b], 10_000):
                        break  # the next study's sentence
                    score = sum(weights.get(t, 0.0) for t in set(lexical_tokens(passage.text[a:b]))) - 0.5 * (j - i)
                    if best is None or score > best[0]:
                        best = (score, passage, start, b, min(cited))
        if best is None:
            return None
        _, passage, start, end, ref = best
        following = next(((a, b) for a, b in sentence_bounds(passage.text) if a >= end), None)
        if following and _CONTINUES.match(passage.text, following[0]) and not citation_refs(passage.text[following[0]:following[1]], 10_000):
            end = following[1]  # "TROPiCS-02 [11] explored ... The results showed ...": its result with it
        return passage, self._with_context(passage, start, end), ref

    def _unanswered_concepts(self, query: str, said: Sequence[str], citations: _Citations) -> list[str]:
        """The review's sentence on each concept the question names that nothing said so far speaks of ("... or is
        there cross-resistance?"), cited: the question's own point is answered, not only the drug's studies."""
        vocabulary = self.index.vocabulary

        def plain(text: str) -> str:
            return re.sub(r"[\s-]+", " ", text.lower())

        spoken = plain(" ".join(said))
        lines = []
        asked = {m.group: m.term for m in vocabulary.find(query) if vocabulary.group(m.group).kind == "concept"}
        for group, term in asked.items():
            if plain(term) in spoken or plain(vocabulary.group(group).name) in spoken:
                continue  # in the question's own words ("cross-resistance"), not a looser term of the same group
            weights = self.retriever.term_weights(query)
            best: tuple[float, Passage, int, int] | None = None
            for passage in self.index.review.passages:
                if passage.kind not in {"paragraph", "perspective"}:
                    continue
                for start, end in sentence_bounds(passage.text):
                    if group not in {m.group for m in vocabulary.find(passage.text[start:end])}:
                        continue
                    score = sum(weights.get(t, 0.0) for t in set(lexical_tokens(passage.text[start:end])))
                    if best is None or score > best[0]:
                        best = (score, passage, start, end)
            if best is None:
                continue
            _, passage, start, end = best
            quote = self.expand_quote(passage, start, end)
            ids = [citations.reference(ref, passage, quote, self._trial_for(ref)) for ref in _refs_in(quote)] or [
                citations.passage(passage, quote)]
            lines.append(f"On {vocabulary.group(group).name}: \u201c{quote}\u201d [{'] ['.join(ids)}]")
            spoken += " " + plain(quote)
        return lines

    # --- other kinds ----------------------------------------------------------------------

    def not_covered(self, rule: Rule, facts: PatientFacts, notes: Sequence[str] = ()) -> Answer:
        citations = _Citations(self)
        quotes = []
        for passage_id in rule.passages:
            passage = self.index.review.passage(passage_id)
            quote = passage.text if passage.kind == "perspective" else self.best_sentences(passage, rule.title)
            ids = [citations.passage(passage, quote)]  # and the studies the quote cites ("DEBBRAH study [48]")
            ids += [citations.reference(ref, passage, quote, self._trial_for(ref)) for ref in _refs_in(quote)]
            quotes.append({"quote": quote, "ids": ids})
        # the studies whose figures the explanation prints ("DESTINY-Breast07 ... ORR 76%") are cited beside it
        studied = [i for card_id in cards_quoted(rule.not_covered or "") if card_id in self.cards
                   for i in citations.card(self.cards[card_id], rule.title)]
        text = self._render("not_covered.md.j2", rule=rule, explanation=render(rule.not_covered or "", self.functions),
                            patient=describe_patient(facts, self.registry), quotes=quotes, notes=notes, studied=studied)
        return self.answer("out_of_scope", text, citations=tuple(citations.items), patient=patient_record(facts, self.registry),
                           rule_ids=(rule.id,))

    def fact(self, cards: Sequence[StudyCard], measures: Sequence[str], query: str, facts: PatientFacts) -> Answer:
        citations = _Citations(self)
        sheets = _sheets(cards, measures, query, citations)
        level = min((c.esmo_level for c in cards), key=EVIDENCE_ORDER.index)
        text = self._render("fact.md.j2", sheets=sheets, format_result=format_result)
        return self.answer("fact", text, citations=tuple(citations.items), evidence_level=level,
                           patient=patient_record(facts, self.registry))

    def explanation(self, query: str, facts: PatientFacts, passages: Sequence[tuple[Passage, str]],
                    definitions: Sequence[tuple[StudyCard, str]] = (), comparison: Comparison | None = None,
                    studies: Sequence[StudyCard] = (), measures: Sequence[str] = (), unknown: Sequence[str] = (),
                    about: Sequence[tuple[str, str]] = ()) -> Answer:
        """The review's sentences that answer; a comparison says whether any cited trial compared the drugs
        directly; the studies the question names ("why T-DXd over T-DM1? which trial?", "explain KATE2") come
        with their verified results. The evidence level is that of the studies the answer rests on (the named
        ones, else the head-to-head trials, else those its first, best-matching quote cites), none when it
        rests on no study. `unknown`: study names the question uses that the review never does, said first;
        `about`: (the user's words, therapy) for drugs asked with them ("PHILA results for pyrotinib?"): what the review
        and the drug's own studies say of each, cited, in place of sentences on something else."""
        citations = _Citations(self)
        said_about = [(md(words), *self.review_on(words, therapy, query, citations)) for words, therapy in about]
        sheets = _sheets(studies, measures, query, citations)
        head_to_head = []
        if comparison is not None:
            head_to_head = [{"card": card, "citations": citations.card(card, query),
                             "randomized": "random" in card.design.lower()} for card in comparison.trials]
        separate: list[dict[str, Any]] = []
        if comparison is not None and not any(h["randomized"] for h in head_to_head):
            # no randomized trial set them side by side: what each rests on, in the population asked
            separate = [{"drug": name, "card": card, "citations": citations.card(card, f"{name} {query}")}
                        for name, card in self._each_studied(comparison, query)]
        quotes = []
        for passage, quote in passages:
            ids = [citations.passage(passage, quote)]
            for ref in _refs_in(quote):
                ids.append(citations.reference(ref, passage, quote, self._trial_for(ref)))
            quotes.append({"passage": passage, "quote": quote, "citations": ids})
        # the best quote that cites a study is what the answer rests on (a guideline's reference has no study card)
        cited = next((refs for _, quote in passages if (refs := set(_refs_in(quote)))
                      and any(refs & set(card.refs) for card in self.index.cards)), set())
        cards = [{"card": card, "text": text, "citations": citations.card(card, query)} for card, text in definitions]
        drugs = [" plus ".join(self.index.vocabulary.group(g).name for g in regimen.split(" + "))
                 for regimen in comparison.drugs] if comparison else []  # a regimen's drugs are joined by " + "
        text = self._render("explanation.md.j2", quotes=quotes, definitions=cards, comparison=comparison,
                            drugs=drugs, head_to_head=head_to_head, sheets=sheets, format_result=format_result,
                            separate=separate, unknown=[md(name) for name in unknown], about=said_about)
        resting = list(studies) or (list(comparison.trials) if comparison and comparison.trials else [
            card for card in self.index.cards if set(card.refs) & cited]) or [item["card"] for item in separate]
        level = min((c.esmo_level for c in resting), key=EVIDENCE_ORDER.index) if resting else None
        return self.answer("explanation", text, citations=tuple(citations.items), evidence_level=level,
                           patient=patient_record(facts, self.registry))

    def findings(self, text: str) -> frozenset[str]:
        """The findings (HER2 status, hormone receptors, ...) a text names, as vocabulary groups."""
        vocabulary = self.index.vocabulary
        return frozenset(m.group for m in vocabulary.find(text) if vocabulary.group(m.group).kind == "finding")

    def _gave_regimen(self, card: StudyCard, groups: set[str]) -> bool:
        """The study gave these drugs as its own (not as a comparator), several of them in one arm, not in two compared."""
        vocabulary = self.index.vocabulary
        return groups <= {m.group for text in card.drugs for m in vocabulary.find(text)} and (
            len(groups) == 1 or any(groups <= {m.group for m in vocabulary.find(arm)} for arm in card.arms))

    def _each_studied(self, comparison: Comparison, query: str) -> list[tuple[str, StudyCard]]:
        """For each regimen compared, the study that gave it (as its own drug, not as a comparator) in the population
        the question describes: the one whose population names most of the question's findings, then the strongest."""
        asked = self.findings(query)
        vocabulary = self.index.vocabulary
        found = []
        for regimen in comparison.drugs:
            groups = set(regimen.split(" + "))

            fitting = [card for card in self.index.cards
                       if self._gave_regimen(card, groups) and population_fits(asked, self.findings(card.population))]
            if fitting:
                best = min(fitting, key=lambda c: (-len(asked & self.findings(c.population)),
                                                   EVIDENCE_ORDER.index(c.esmo_level), c.id))
                found.append((" plus ".join(vocabulary.group(g).name for g in regimen.split(" + ")), best))
        return found

    def about_review(self, provenance: dict[str, Any], facts: PatientFacts) -> Answer:
        """What is known and not known about the review itself, from its provenance and back matter."""
        citations = _Citations(self)
        for passage_id in ("review:funding:p1", "review:data-availability:p1", "review:declaration-of-competing-interest:p1"):
            citations.passage(self.index.review.passage(passage_id))
        text = self._render("about_review.md.j2", publication=provenance["publication"], citations=citations.items)
        return self.answer("fact", text, citations=tuple(citations.items), patient=patient_record(facts, self.registry))

    def why(self, previous: Answer, facts: PatientFacts, notes: Sequence[str] = (),
            about: Sequence[tuple[str, str]] = (), query: str = "") -> Answer:
        """Why the previous recommendation: its rationale, the trials and the review's Perspective. `notes`: where each
        drug asked ("why not T-DM1?") stands for this patient; `about`: (the user's words, therapy) for those drugs, with
        what the review and its studies say of each, cited, before the reasons."""
        citations = _Citations(self, list(previous.citations))
        # the patient the answer was for (HER2-positive metastatic disease), not only the short "why not T-DM1?": the
        # studies of her disease before the drug's studies in another setting
        patient = "; ".join(describe_patient(facts, self.registry))
        setting = facts.value("setting")
        said_about = [(md(words), *self.review_on(words, therapy, query, citations, str(setting) if setting else None,
                                                  patient)) for words, therapy in about]
        text = self._render("why.md.j2", previous=previous, citations={c.id: c for c in citations.items},
                            notes=notes, about=said_about)
        return self.answer("explanation", text, citations=tuple(citations.items), evidence_level=previous.evidence_level,
                           patient=patient_record(facts, self.registry), rule_ids=previous.rule_ids)

    def clarification(self, questions: Sequence[str], facts: PatientFacts, conflicts: Sequence[Any] = (),
                      covers: Iterable[str] = (), notes: Sequence[str] = (), about: Sequence[tuple[str, str]] = (),
                      query: str = "", warnings: Sequence[str] = ()) -> Answer:
        """Questions back; `notes`: what the message held beside the question (ignored instructions, dosing);
        `about`: drugs asked about, with what the review and its studies say of each while the case is incomplete;
        `warnings`: the safety states the conversation holds, said before the questions."""
        citations = _Citations(self)
        said_about = [(md(words), *self.review_on(words, therapy, query, citations)) for words, therapy in about]
        text = self._render("clarification.md.j2", questions=questions, conflicts=conflicts,
                            patient=describe_patient(facts, self.registry), covers=list(covers), notes=notes,
                            about=said_about, warnings=warnings)
        record = patient_record(facts, self.registry)
        if conflicts:
            record["conflicts"] = [c.model_dump() for c in conflicts]
        follow_up = tuple(questions) or tuple(
            f"Which is right for {c.fact.replace('_', ' ')}: \"{c.first}\" or \"{c.second}\"?" for c in conflicts)
        return self.answer("clarification", text, follow_up=follow_up, patient=record, citations=tuple(citations.items),
                           warnings=tuple(warnings))

    def out_of_scope(self, reason: str, facts: PatientFacts, detail: str | None = None,
                     warnings: Sequence[str] = ()) -> Answer:
        text = self._render("out_of_scope.md.j2", reason=reason, detail=detail, warnings=warnings)
        return self.answer("out_of_scope", text, patient=patient_record(facts, self.registry), warnings=tuple(warnings))

    def warned(self, answer: Answer, warnings: Sequence[str]) -> Answer:
        """An answer built without the safety states (an explanation) opening with their warnings, rendered as
        every other answer renders them."""
        if not warnings or answer.warnings:
            return answer
        opening = self._render("warnings.md.j2", warnings=warnings)
        return answer.model_copy(update={"warnings": tuple(warnings), "text": f"{opening.rstrip()}\n\n{answer.text}"})

    def error(self, message: str) -> Answer:
        return self.answer("error", self._render("error.md.j2", message=message))

    def _trial_for(self, ref: int) -> str | None:
        return next((card.name for card in self.index.cards if ref in card.refs), None)


_METASTATIC = re.compile(r"\bmetasta|\bMBC\b|\badvanced\b|\bunresectable\b", re.I)
_OUTCOME = re.compile(r"\b(?:PFS|OS|ORR|DFS|IDFS|pCR|survival|response|hazard)\b", re.I)


def _refs_in(text: str) -> tuple[int, ...]:
    return citation_refs(text, 10_000)


_MEASURE_WORDS = {
    "pfs": ("pfs", "progression"), "os": ("os", "survival"), "orr": ("orr", "response", "rr"),
    "pcr": ("pcr",), "idfs": ("idfs",), "hazard ratio": ("hr ",), "safety": ("ae", "ild", "diarrh", "rash", "toxic"),
    "cns": ("cns", "brain", "intracranial"),
}


def _results_for(card: StudyCard, measures: Sequence[str]) -> list[StudyResult]:
    """The results a question asks about, or the headline ones (primary first)."""
    wanted = [w for m in measures for w in _MEASURE_WORDS.get(m, ())]
    chosen = [r for r in card.results if any(w in f" {r.measure.lower()} " for w in wanted)] if wanted else []
    return chosen or list(card.results[:4])


def load_safety(path: Path, functions: dict[str, Any]) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for entry in data["drugs"]:
            if "{{ drugs }}" not in entry["note"]:
                render(entry["note"], functions)
        data["general"] = data["general"].strip()
        data["ild_history"] = data["ild_history"].strip()
        return dict(data)
    except FileNotFoundError:
        raise CorpusError(f"The safety notes are missing: {path}") from None
    except (yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise CorpusError(f"{path.name} is not a valid safety file: {exc}") from None


# --- the patient, for the answer and for the text ----------------------------------------------

def _labels(registry: Registry) -> dict[str, str]:
    return {fact.name: fact.label for fact in registry.facts}


def patient_record(facts: PatientFacts, registry: Registry) -> dict[str, object]:
    """The contract's `patient` object: each fact with the words it was read from."""
    record: dict[str, object] = {}
    for name in _labels(registry):
        fact = getattr(facts, name)
        if fact is not None:
            record[name] = {"value": fact.value, "words": fact.words, "turn": fact.turn}
    if facts.therapies:
        record["therapies"] = [t.model_dump() for t in facts.therapies]
    if facts.biomarkers:
        record["biomarkers"] = [b.model_dump() for b in facts.biomarkers]
    if facts.toxicities:
        record["toxicities"] = [{"value": t.value, "words": t.words, "turn": t.turn} for t in facts.toxicities]
    if facts.uncovered:
        record["uncovered"] = [{"value": t.value, "words": t.words, "turn": t.turn} for t in facts.uncovered]
    if facts.topics:
        record["topics"] = [{"value": t.value, "words": t.words, "turn": t.turn} for t in facts.topics]
    return record


def describe_patient(facts: PatientFacts, registry: Registry) -> list[str]:
    """One line per fact: "HER2: low (read from 'IHC 1+')", user words escaped; labels from the registry."""
    lines = []
    for fact_type in registry.facts:
        fact = getattr(facts, fact_type.name)
        if fact is None:
            continue
        value = fact_type.value_labels.get(str(fact.value), "yes" if fact.value is True else "no" if fact.value is False else str(fact.value))
        lines.append(f"{fact_type.label}: {value} (from \"{md(fact.words)}\")")
    shown = [t for t in facts.therapies if t.therapy != "adc"]
    received = [t for t in shown if t.received]
    if received:
        parts = [f"{t.therapy} ({registry.exposure_label(t.status)})" if t.status != "received" else t.therapy for t in received]
        lines.append("treatments: " + ", ".join(parts))
    others: dict[str, list[str]] = {}
    for t in shown:
        if not t.received:
            others.setdefault(registry.exposure_label(t.status), []).append(f"{t.therapy} (from \"{md(t.words)}\")")
    lines.extend(f"{label}: {', '.join(items)}" for label, items in others.items())
    for toxicity in facts.toxicities:
        lines.append(f"severe toxicity on {toxicity.value} (from \"{md(toxicity.words)}\")")
    for marker in facts.biomarkers:
        state = {"positive": "altered", "negative": "not altered", "not_tested": "not tested yet"}[marker.status]
        lines.append(f"{marker.marker}: {state} (from \"{md(marker.words)}\")")
    return lines
