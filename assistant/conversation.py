"""The assistant: one conversation's messages in, one Answer out.

The state is a pure function of the user's messages, replayed on every turn, so any process can
answer any turn and the same conversation always gets the same answer. Nothing is stored between
calls; nothing a user wrote is logged unless settings.log_user_text is set.
"""

from __future__ import annotations

import functools
import itertools
import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import yaml
from pydantic import ValidationError

from assistant.compose import Composer, card_functions, load_safety, md, population_fits
from assistant.decide import (
    Decision,
    case_passages,
    counterfactuals,
    decide,
    decide_for,
    load_constraints,
    load_rules,
    safety_warnings,
)
from assistant.errors import CorpusError, InputRejected
from assistant.index import open_index
from assistant.ingest import load_corpus
from assistant.ingest.mapped import sentence_bounds
from assistant.ingest.references import citation_refs
from assistant.registry import load_registry
from assistant.retrieve import Mode, Retriever, check_query, lexical_tokens
from assistant.route import (
    GIST_GROUPS,
    HEAD_TO_HEAD,
    NOTES,
    OUTCOMES,
    ROUTES,
    Ask,
    Handler,
    Route,
    Situation,
    asks_for_the_gist,
    asks_of,
    case_facts,
    choose,
    decision_facts,
    drug_asked,
    drugs_asked,
    notes_for,
    question_parts,
    treatment_beside,
)
from assistant.scope import ScopeReader
from assistant.settings import Settings
from assistant.types import (
    EVIDENCE_ORDER,
    IMPLIED_CLASSES,
    Answer,
    Comparison,
    Fact,
    Frozen,
    Passage,
    PatientFacts,
    Review,
    ScoredPassage,
    StudyCard,
)
from assistant.understand import (
    Conflict,
    Lexicon,
    Reading,
    moved_on_in_conversation,
    read,
    therapies_named,
)
from assistant.vocabulary import Vocabulary

log = logging.getLogger(__name__)



class Assistant:
    """Answers a conversation from the review; build once per process (loading takes a few seconds)."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.index = open_index(self.settings)
        self.retriever = Retriever(self.index, self.settings)
        self.rules = load_rules(self.settings.corpus_dir / "rules", self.index.cards, self.index.review,
                                card_functions(self.index.cards))
        root = self.settings.corpus_dir.parent
        self.registry = load_registry(self.settings.corpus_dir)
        self.constraints = load_constraints(self.settings.corpus_dir / "constraints.yaml", card_functions(self.index.cards))
        self._drugs_of = functools.lru_cache(maxsize=512)(lambda option: therapies_named(option, self.index.vocabulary))
        self.composer = Composer(self.index, self.retriever, self.rules, root / "prompts",
                                 self.settings.corpus_dir / "safety.yaml", self.registry)
        self.lexicon = Lexicon(self.index.vocabulary, self.retriever.speller,
                               lambda text: self.retriever.named_studies(text, by_drug=False),
                               lambda text: self.retriever.named_studies(text, by_drug=True),
                               self.registry, ScopeReader(self.registry, self.index.vocabulary, self.settings.corpus_dir))
        # a fact's question is the registry's; the others (treatments, empty message) are prompts
        self.questions = {**self.registry.follow_ups, **_load_texts(root / "prompts" / "follow_up.yaml")}
        self.messages = _load_texts(root / "prompts" / "messages.yaml")
        self.provenance = load_provenance(self.settings.corpus_dir / "provenance.yaml")
        self.glossary = load_glossary(self.settings.corpus_dir / "glossary.yaml", self.index.review,
                                      self.index.cards, self.index.vocabulary)
        self._sentence_concepts: dict[tuple[str, int, int], frozenset[str]] = {}

    @property
    def corpus_version(self) -> str:
        return self.index.corpus_version

    def warm_up(self) -> None:
        """Load the model and build the lexical index now rather than on the first question."""
        self.retriever.search("antibody-drug conjugate resistance")
        self.answer(["HER2-low HR-positive metastatic breast cancer after a CDK4/6 inhibitor and chemotherapy"])

    def search(self, query: str, k: int | None = None, *, section: str | None = None, study: str | None = None,
               mode: Mode = "hybrid") -> list[ScoredPassage]:
        """Hybrid search that also reads the query as a case: when it describes a patient the rules
        decide for, the passages those rules rest on join the fusion (the retriever's case ranking)."""
        passages: tuple[str, ...] = ()
        if mode == "hybrid":
            reading = read(check_query(query, self.settings.max_query_chars), 1, self.lexicon,
                           self.settings.max_query_chars)
            passages = case_passages(decide(reading.facts, self.rules), self.rules)
        return self.retriever.search(query, k, section=section, study=study, mode=mode, case_passages=passages)

    def answer(self, messages: Sequence[str]) -> Answer:
        """The answer to the last message, given the conversation so far."""
        situation = self.situation(messages)
        if isinstance(situation, Answer):
            return situation
        last = situation.reading
        answer = self._route(situation)
        if last.facts.uncovered and answer.kind != "error" and not answer.text.startswith("**Not covered by the review:**"):
            # never silent about what the review does not cover: "disitamab vedotin" is not read as another drug
            names = ", ".join(md(str(f.value)) for f in last.facts.uncovered)
            answer = answer.model_copy(update={"text": f"{answer.text}\n\n{self.messages['uncovered'].format(names=names)}"})
        return answer

    # --- routing: the table is assistant/route.py; these methods are its handlers ------------

    def situation(self, messages: Sequence[str]) -> Situation | Answer:
        """The last message, what it asks and the conversation's facts; an Answer when there is nothing to
        route (no message, or a last message that cannot be read)."""
        if not messages:
            return self.composer.clarification([self.questions["empty"]], PatientFacts())
        readings: list[Reading | None] = []
        for turn, message in enumerate(messages, start=1):
            try:
                metastatic = any(r is not None and r.facts.value("setting") == "metastatic" for r in readings)
                readings.append(read(message, turn, self.lexicon, self.settings.max_message_chars, metastatic=metastatic))
            except InputRejected as exc:
                if turn == len(messages):
                    return self.composer.error(str(exc))
                readings.append(None)  # an earlier unreadable turn adds nothing
        last = readings[-1]
        assert last is not None
        if self.settings.log_user_text:
            log.info("turn %d: %s", last.turn, last.text)
        facts = PatientFacts()
        for reading in readings[:-1]:
            if reading is not None:  # its what-if sentences are not in reading.facts: they asked, not told
                facts = merge_facts(facts, reading.facts, keep_topics=False)
        if not (last.correction or last.hypothetical):
            changed = silent_changes(facts, last.facts)
            if changed:
                last = last.model_copy(update={"conflicts": (*last.conflicts, *changed)})
        facts = moved_on_in_conversation(merge_facts(facts, last.facts, keep_topics=True), last)
        if last.what_if is not None:  # this turn answers the hypothetical patient; later turns forget it
            facts = merge_facts(facts, last.what_if, keep_topics=True)
        reading = last
        comparison = functools.cache(lambda: self._comparison(reading))  # read once per question
        anchors = tuple(g for g in last.domain_terms if self.index.vocabulary.group(g).kind != "intent"
                        and g not in {"cost-effectiveness", "abstract", "conclusion"})
        asks = asks_of(last)
        return Situation(
            reading=last, facts=facts, turns=len(messages), asks=asks, anchors=anchors,
            find_studies=lambda: self._studies(reading, comparison(), level_asked=Ask.EVIDENCE_LEVEL in asks),
            find_comparison=comparison,
            find_previous=lambda: self.answer(messages[:-1]) if len(messages) > 1 else None,
            find_treatment_beside=lambda: treatment_beside(reading.text, lambda piece: read(
                piece, reading.turn, self.lexicon, self.settings.max_message_chars)),
            find_decision=lambda: decide_for(facts, self.rules, self.constraints, self._drugs_of, self.composer.functions),
            safety_facts=frozenset(state.fact for state in self.constraints.states),
        )

    def _studies(self, last: Reading, comparison: Comparison | None, level_asked: bool = False) -> tuple[str, ...]:
        """The study cards a question is about: named, described, or reached through a drug only one study
        tested when a result is asked ("head-to-head data for tucatinib vs pyrotinib?" compares drugs; it is
        not the results of tucatinib's trial)."""
        described = self._described_study(last, said_study=not level_asked) if (
            last.asks_result or last.measures or level_asked) else ()
        found = last.studies or described or (
            # a result asked, or a measure asked in a question ("what median PFS did SKB264 reach?"), not a measure
            # word in a note ("no CNS dz, ECOG 1, tucatinib available.")
            last.drug_studies if (last.asks_result or (last.measures and last.intent == "question" and not case_facts(last.facts)))
            and not last.patient_words and comparison is None else ())
        if _AFTER_PROGRESSION.search(last.text):
            # "In DESTINY-Breast03, what did patients get after progressing on T-DXd?": the trial's own analysis of
            # what came after it (a card "<trial>-post-progression"), not its main result
            ids = {card.id for card in self.index.cards}
            found = tuple(f"{s}-post-progression" if f"{s}-post-progression" in ids else s for s in found)
        return tuple(dict.fromkeys(found))

    def _route(self, situation: Situation, routes: Sequence[Route] = ROUTES) -> Answer:
        route = choose(situation, routes)
        return self._handlers[route.handler](situation, route)

    @functools.cached_property
    def _handlers(self) -> dict[Handler, Callable[[Situation, Route], Answer]]:
        """The answer each kind of route gives; the table names them."""
        return {
            "unreadable": lambda s, r: self.composer.error(self.messages["markup_only"]),
            "empty": lambda s, r: self.composer.clarification([self.questions["empty"]], s.facts),
            "refuse": self._refuse,
            "about_review": lambda s, r: self.composer.about_review(self.provenance, s.facts),
            "why": self._why,
            "fact": self._fact,
            "fact_previous": lambda s, r: self.composer.fact(
                [card for card in self.index.cards if s.previous and card.name in {c.trial for c in s.previous.citations}],
                s.reading.measures, s.reading.text, s.facts),
            "explain_studies": lambda s, r: self._warned(
                self._explain(s.reading, s.facts, s.comparison, self._cards(s.studies)), s),
            "ask_patient": lambda s, r: self.composer.clarification(
                [self.questions[n] for n in ("her2", "setting", "prior")], s.facts, covers=[self.questions["covers"]],
                notes=self._notes(s), warnings=self._warnings(s)),
            "explain": lambda s, r: self._warned(self._explain(s.reading, s.facts, s.comparison), s),
            "recommend": lambda s, r: self._route(s, OUTCOMES),
            "ask_conflicts": lambda s, r: self.composer.clarification([], s.facts, conflicts=s.reading.conflicts,
                                                                      notes=self._notes(s), warnings=self._warnings(s)),
            "not_covered": lambda s, r: self.composer.not_covered(
                next(rule for rule in self.rules if rule.id == s.decision.not_covered), s.facts, self._notes(s)),
            "recommendation": self._recommend,
            "ask_missing": lambda s, r: self.composer.clarification(
                [self.questions[name] for name in s.decision.missing[:3] if name in self.questions], s.facts,
                covers=[self.questions["covers"]], notes=self._notes(s), warnings=self._warnings(s),
                about=self._asked_elsewhere(s.reading, s.decision), query=s.reading.text),
            "no_recommendation": lambda s, r: self.composer.out_of_scope(self.messages["no_recommendation"], s.facts,
                                                                         self.questions["covers"]),
        }

    def _notes(self, situation: Situation) -> list[str]:
        return [self.messages[name] for name in notes_for(situation)]

    def _warnings(self, situation: Situation) -> tuple[str, ...]:
        """The warnings for the safety states the conversation holds: a question back or a refusal never
        passes over a state the clinician wrote."""
        return safety_warnings(situation.facts, self.constraints, self.composer.functions)

    def _warned(self, answer: Answer, situation: Situation) -> Answer:
        """An explanation for a conversation that holds a safety state ("grade 2 pneumonitis ... continue T-DXd or
        switch?") opens with its warning, as every other answer does: never silent about a state she has."""
        return self.composer.warned(answer, self._warnings(situation))

    def _why(self, situation: Situation, route: Route) -> Answer:
        """Why the previous answer; "why not X?" after a recommendation first says where X stands for this patient
        (its place among the options, or not offered and why) and what the review and its studies say of X, cited,
        then the reasons for the options."""
        previous = situation.previous
        assert previous is not None  # the row requires an earlier answer with citations
        if not (drug_asked(situation) and previous.kind == "recommendation"):
            return self.composer.why(previous, situation.facts)
        last = situation.reading
        about = _named_drugs(last, [(_asked_words(last, therapy), therapy) for therapy in drugs_asked(last)])
        return self.composer.why(previous, situation.facts, self._asked_notes(last, situation.decision), about, last.text)

    def _fact(self, situation: Situation, route: Route) -> Answer:
        """A study's card; reached through the drug asked beside a study the review never names ("NEFERT-T results for
        neratinib?"), the answer first says that study is not covered: the card is the drug's own study in the review."""
        last = situation.reading
        answer = self.composer.fact(self._cards(situation.studies), last.measures, last.text, situation.facts)
        unknown = () if last.studies else self._unknown_studies(last)
        if not unknown:
            return answer
        opening = self.messages["unknown_beside"].format(names=", ".join(md(name) for name in unknown))
        return answer.model_copy(update={"text": f"{opening}\n\n{answer.text}"})

    def _refuse(self, situation: Situation, route: Route) -> Answer:
        assert route.message is not None
        reason = self.messages[route.message]
        if route.message == "other_cancer":
            reason = reason.format(what=md(situation.reading.other_cancer))
        last = situation.reading
        # "What did CLEOPATRA show?": the study asked is named, not only a topic outside the review (a capitalised word
        # in a message that asks no study's result, "parse a FASTA file", is no study)
        asks_study = bool({Ask.STUDY_RESULT, Ask.MEASURE} & situation.asks) or bool(_STUDY_WORD.search(last.text))
        unknown = (*(str(f.value) for f in last.facts.uncovered), *self._unknown_studies(last)) if (
            route.message == "outside" and asks_study) else ()
        if unknown:
            reason = self.messages["unknown_study"].format(names=", ".join(md(name) for name in unknown))
        detail = self.messages[route.detail] if route.detail else None
        return self.composer.out_of_scope(reason, situation.facts, detail, self._warnings(situation))

    def _cards(self, studies: Sequence[str]) -> list[StudyCard]:
        return [card for card in self.index.cards if card.id in studies]

    def _recommend(self, situation: Situation, route: Route) -> Answer:
        """The options for the patient; a drug the message asks about ("why not T-DM1?") is placed first."""
        decision, facts = situation.decision, situation.facts
        changes = counterfactuals(facts, self.rules, decision) if decision.options else ()
        notes = self._notes(situation)
        about: list[tuple[str, str]] = []
        if drug_asked(situation) or self._weighs_drug(situation):
            notes = [*self._asked_notes(situation.reading, decision), *notes]
            about = self._asked_elsewhere(situation.reading, decision)
        return self.composer.recommendation(decision, facts, changes, notes, about, situation.reading.text)

    def _weighs_drug(self, situation: Situation) -> bool:
        """"Lapatinib + capecitabine 3L - still reasonable or is neratinib better?", "heard about SKB264 ... anything in
        the review?": a drug not received set against another, or whose data are asked, in a question asks where it
        stands and what the review says of it as much as "what about neratinib?" does."""
        last = situation.reading
        lower = last.text.lower()
        return bool(drugs_asked(last)) and lower.rstrip().endswith("?") and bool(
            _COMPARISON_WORD.search(lower) or _DATA_ASKED.search(lower))

    def _asked_elsewhere(self, last: Reading, decision: Decision) -> list[tuple[str, str]]:
        """Drugs asked about that no option names and no exclusion explains ("can I add atezolizumab?",
        "is tucidinostat an option?"): (the user's words, therapy), for what the review says of each."""
        about: list[tuple[str, str]] = []
        uncovered = [str(f.value).lower() for f in last.facts.uncovered]
        for therapy in drugs_asked(last):
            # an option that names it only as an example ("a clinical trial (e.g. ... SKB264)") says nothing of it
            if any(therapy in self._drugs_of(re.split(r"\(\s*e\.g\.", o.spec.option)[0]) for o in decision.options) or any(
                    therapy in self._drugs_of(e.option) for e in decision.excluded):
                continue
            words = _asked_words(last, therapy)
            if any(words.lower() in name for name in uncovered):
                continue  # "trastuzumab" of "trastuzumab duocarmazine": the uncovered drug is named as such
            if all(words.lower() != w.lower() for w, _ in about):
                about.append((words, therapy))
        return about

    def _asked_notes(self, last: Reading, decision: Decision) -> list[str]:
        """Where each drug the message asks about stands for this patient: its place among the options, or
        not offered and why, or not an option the review gives here. A drug class ("a TKI") is placed only
        when an option names it: its members are not listed by class."""
        said: list[tuple[str, list[str], str, dict[str, object]]] = []  # (words, therapies, message, values)
        for therapy in drugs_asked(last):
            words = _asked_words(last, therapy)
            place = next((number for number, option in enumerate(decision.options, start=1)
                          if therapy in self._drugs_of(option.spec.option)), None)
            excluded = next((e for e in decision.excluded if therapy in self._drugs_of(e.option)), None)
            if place is not None:
                option = decision.options[place - 1]
                key = {"preferred": "asked_preferred", "alternative": "asked_alternative", "consider": "asked_consider"}[option.role]
                # "T-DXd" (or "T-DM1, another anti-HER2 ADC"), not "pyrotinib plus capecitabine"
                alone = self._drugs_of(option.spec.option) - {"adc"} == {therapy}
                values: dict[str, object] = {"it": self.messages["asked_it_is" if alone else "asked_part_of"], "number": place}
            elif excluded is not None:
                key, values = ("asked_review" if excluded.review else "asked_not_offered"), {"reason": excluded.reason}
            elif therapy not in _CLASSES:
                key, values = "asked_absent", {}
            else:
                continue
            same = next((entry for entry in said if entry[0] == words and entry[2] == key and entry[3] == values), None)
            if same is not None:  # "HP": trastuzumab and pertuzumab stand in the same place
                same[1].append(therapy)
            else:
                said.append((words, [therapy], key, values))
        notes = []
        for words, therapies, key, values in said:
            drug = words if [words.lower()] == therapies else f"{md(words)} ({', '.join(therapies)})"  # the user's words first
            notes.append(self.messages[key].format(drug=drug, **values))
        return notes

    def _explain(self, last: Reading, facts: PatientFacts, comparison: Comparison | None,
                 studies: Sequence[StudyCard] = ()) -> Answer:
        if asks_for_the_gist(last) and not (last.studies or decision_facts(last.facts) or any(
                self.index.vocabulary.group(g).kind == "concept" and g not in GIST_GROUPS for g in last.domain_terms)):
            gist = [self.index.review.passage(p) for p in ("review:abstract", "review:7:p1")]
            return self.composer.explanation(last.text, facts, [(p, p.text) for p in gist])
        entries = self._definition(last)
        if entries:
            quotes = [(self.index.review.passage(q.passage), q.text) for e in entries for q in e.quotes]
            definitions = [(card, str(getattr(card, e.card.field))) for e in entries if e.card
                           for card in self.index.cards if card.id == e.card.id]
            return self.composer.explanation(last.text, facts, quotes, definitions)
        unknown = self._unknown_studies(last)
        if unknown and not studies and comparison is None:
            # "APHINITY - any OS benefit with pertuzumab?": the review never names the study, so the sentences nearest
            # the question answer something else (SOPHIA's OS). What it says of the drug asked stands instead, from
            # the drug's own studies; with no drug, only what the review says of the topic asked.
            about = _named_drugs(last, [(t.words, t.therapy) for t in last.facts.therapies])
            if about:
                return self.composer.explanation(last.text, facts, [], unknown=unknown, about=about)
            topics = [g for g in last.domain_terms if self.index.vocabulary.group(g).kind in {"finding", "concept"}]
            passages = [(p, q) for p, q in self.explaining_passages(last.text) if topics and any(
                m.group in topics for m in self.index.vocabulary.find(q))]
            answer = self.composer.explanation(last.text, facts, passages, unknown=unknown)
            if passages:
                return answer
            return answer.model_copy(update={"text": f"{answer.text.rstrip()}\n\n{self.questions['covers']}"})
        if not studies and comparison is None and self.retriever.retrieve(last.text, 1).weak:
            # No passage key is near the question: the nearest sentences would answer something else, so
            # the answer says the review may not address it and what the review does cover.
            answer = self.composer.explanation(last.text, facts, [], unknown=unknown)
            return answer.model_copy(update={"text": f"{answer.text.rstrip()}\n\n{self.questions['covers']}"})
        trials = frozenset(ref for card in comparison.trials for ref in card.refs) if comparison else frozenset()
        passages = self.explaining_passages(last.text, trials=trials)
        if not passages and not studies:
            return self.composer.out_of_scope(self.messages["not_discussed"], facts)
        return self.composer.explanation(last.text, facts, passages, comparison=comparison, studies=studies,
                                         measures=last.measures, unknown=unknown)

    def _described_study(self, last: Reading, said_study: bool = True) -> tuple[str, ...]:
        """"The trial of T-DXd vs T-DM1": the one study card whose drugs include every drug named. An evidence
        level asked of a comparison ("what level is the claim that pyrotinib beats T-DM1?") need not say "study",
        nor need a result asked of two treatments set against each other ("novel anti-HER2 ADCs vs T-DM1 - any
        data?") or a measure asked of two given together ("pyrotinib + brain RT - CNS symptom relief rate?"): only a
        study gave them so.
        Treatments are drugs, drug classes and the therapies a study's arms name (radiotherapy)."""
        vocabulary = self.index.vocabulary
        named = [m for m in vocabulary.find(last.text) if vocabulary.group(m.group).kind in {"drug", "class"}
                 or m.group in self._arm_therapies]
        compared = {g for a, b in itertools.pairwise(named)
                    if re.fullmatch(r"\s*(?:vs\.?|versus|compared\s+(?:with|to)|against|or|beats?|better\s+than|superior\s+to|over)\s*",
                                    last.text[a.end:b.start], re.I)
                    for g in (a.group, b.group)}
        combined = bool(last.measures) and any(  # "pyrotinib + brain RT - CNS response rate?"; "any data combining
            # T-DXd with pertuzumab?" asks what the review says of the combination, which an explanation answers
            re.fullmatch(rf"{_COMBINED.pattern}(?:\w+\s+)?", last.text[a.end:b.start].lower()) for a, b in itertools.pairwise(named))
        contrasted = any(re.fullmatch(r"\s*(?:vs\.?|versus|compared\s+(?:with|to)|against)\s*", last.text[a.end:b.start], re.I)
                         for a, b in itertools.pairwise(named))  # "X vs Y - any data?"; "X or Y?" is a choice
        if said_study and not (contrasted or combined) and not re.search(r"\b(?:trial|study|phase\s*(?:3|iii|2|ii))\b",
                                                                       last.text.lower()):
            return ()
        named = [m for m in named if vocabulary.group(m.group).kind != "class" or m.group in compared]
        drugs = compared or {m.group for m in named}
        if len(drugs) < 2:
            return ()
        matching = [card for card in self.index.cards if drugs <= self._tested(card)]
        if not matching:
            return ()
        # the trial rather than real-world studies of the same drugs, then the population the question describes
        level = min((c.esmo_level for c in matching), key=EVIDENCE_ORDER.index)
        words = set(lexical_tokens(last.text))
        ranked = sorted(((len(words & set(lexical_tokens(f"{c.population} {c.design}"))), c.id)
                         for c in matching if c.esmo_level == level), reverse=True)
        if len(ranked) > 1 and ranked[0][0] == ranked[1][0]:
            return ()
        return (ranked[0][1],)

    @functools.cached_property
    def _arm_drugs(self) -> dict[str, tuple[frozenset[str], ...]]:
        """Card id -> the drug groups each of its arms names (read once, not per question)."""
        vocabulary = self.index.vocabulary
        return {card.id: tuple(frozenset(m.group for m in vocabulary.find(arm)) for arm in card.arms)
                for card in self.index.cards}

    @functools.cached_property
    def _arm_therapies(self) -> frozenset[str]:
        """The concepts a study's arms name as treatment (local treatment: "whole-brain RT + pyrotinib")."""
        vocabulary = self.index.vocabulary
        return frozenset(g for arms in self._arm_drugs.values() for arm in arms for g in arm
                         if vocabulary.group(g).kind == "concept")

    def _tested(self, card: StudyCard) -> set[str]:
        """The drug groups a study gave: its drugs and the drugs its arms name."""
        return set(card.drugs).union(*self._arm_drugs[card.id])

    def _comparison(self, last: Reading) -> Comparison | None:
        """"Why T-DXd over pyrotinib? Any head-to-head trial?": the regimens compared and the studies that gave them
        all, each in an arm without the other (none: the answer says the review cites no direct comparison). Drugs
        joined by "+", "plus" or "with" are one regimen: "T-DM1 + pertuzumab instead of chemo" compares the
        combination with chemotherapy, which KRISTINE did, not pertuzumab with chemotherapy."""
        lower = last.text.lower()
        named = [m for m in self.index.vocabulary.find(last.text) if self.index.vocabulary.group(m.group).kind == "drug"]
        regimens: list[tuple[list[str], int, int]] = []  # (groups, start, end)
        for match in named:
            if regimens and _COMBINED.fullmatch(last.text[regimens[-1][2]:match.start].lower()):
                groups, start, _ = regimens[-1]
                regimens[-1] = ([*groups, match.group] if match.group not in groups else groups, start, match.end)
            else:
                regimens.append(([match.group], match.start, match.end))
        compared: list[tuple[str, ...]] = []
        for (a, _, a_end), (b, b_start, _) in itertools.pairwise(regimens):
            if set(a) != set(b) and _COMPARED.fullmatch(last.text[a_end:b_start].lower()):
                compared += [r for r in (tuple(a), tuple(b)) if r not in compared]
        if len(compared) < 2 and HEAD_TO_HEAD.search(lower):
            compared = [(g,) for g in dict.fromkeys(m.group for m in named)]
        if len(compared) < 2 or not (HEAD_TO_HEAD.search(lower) or _COMPARISON_WORD.search(lower)):
            return None
        every = {g for regimen in compared for g in regimen}

        def apart(card: StudyCard) -> bool:  # each regimen in an arm without the others: compared, not combined
            arms = self._arm_drugs[card.id]
            return all(any(set(r) <= arm and not every <= arm for arm in arms) for r in compared)

        # a trial in another population ("why SG rather than T-DXd for HER2-0 TNBC?" and a HER2-low cohort) did not
        # compare them for the patients asked about
        asked = self._findings(last.text)
        trials = tuple(card for card in self.index.cards if every <= self._tested(card) and apart(card)
                       and population_fits(asked, self._findings(card.population)))
        return Comparison(drugs=tuple(" + ".join(r) for r in compared), trials=trials)

    def _unknown_studies(self, last: Reading) -> tuple[str, ...]:
        """Study names the question asks about that the review never uses ("What OS benefit did CLEOPATRA show?"):
        a capitalised name no passage, study card or vocabulary group knows, and not an uncovered name already said.
        The answer says the review does not report it rather than let nearby sentences stand for its results."""
        known = [(m.start, m.end) for m in self.index.vocabulary.find(last.text)]
        said = {str(f.value).lower() for f in last.facts.uncovered}
        names = []
        for match in _STUDY_NAME.finditer(last.text):
            name = match.group(0)
            if any(a <= match.start() < b for a, b in known) or name.lower() in said or self.retriever.named_studies(name) \
                    or name.lower() in self._review_words or name.lower() in self.retriever.speller.known:
                continue
            names.append(name)
        return tuple(dict.fromkeys(names))

    @functools.cached_property
    def _review_words(self) -> frozenset[str]:
        """Every word of the review and its study cards, lower-cased (read once)."""
        text = " ".join([p.text for p in self.index.review.passages] + [
            f"{c.name} {' '.join(c.aliases)} {c.population} {' '.join(c.arms)}" for c in self.index.cards])
        return frozenset(re.findall(r"[a-z0-9][a-z0-9-]*", text.lower()))

    def _asked_groups(self, query: str) -> list[str]:
        """The findings and concepts a question names, in its order (the answer should speak of each)."""
        vocabulary = self.index.vocabulary
        return list(dict.fromkeys(m.group for m in vocabulary.find(query)
                                  if vocabulary.group(m.group).kind in {"finding", "concept"}))

    def _findings(self, text: str) -> frozenset[str]:
        """The findings (HER2 status, hormone receptors, ...) a text names, as vocabulary groups."""
        vocabulary = self.index.vocabulary
        return frozenset(m.group for m in vocabulary.find(text) if vocabulary.group(m.group).kind == "finding")

    def _definition(self, last: Reading) -> list[GlossaryEntry]:
        """The glossary entries a "what is X (vs Y)?" question asks for, when it asks only that."""
        lower = last.text.lower()
        asked = _DEFINE.search(lower)
        if not asked or len(last.text.split()) > 20:
            return []
        entries: list[GlossaryEntry] = []
        previous_end = asked.end()
        for match in self.index.vocabulary.find(last.text):
            if match.start < asked.end():
                continue
            entry = next((e for e in self.glossary if e.term == match.group), None)
            between = lower[previous_end:match.start]
            if entry is None or not re.fullmatch(
                    r"[\s,]*(?:(?:an?|the|by|meant|term|so[\s-]*called|vs\.?|versus|or|and|from|between|biological|main|key|"
                    r"known|mechanisms?|causes?|reasons?|of|for|to|means|how|it|differs|different)\s+)*[\s\"'“]*", between):
                break
            if entry not in entries:
                entries.append(entry)
            previous_end = match.end
        return entries[:3]

    def _concepts(self, passage_id: str, start: int, end: int) -> frozenset[str]:
        """The vocabulary groups a review sentence uses (the review does not change while the process runs)."""
        key = (passage_id, start, end)
        if key not in self._sentence_concepts:
            text = self.index.review.passage(passage_id).text[start:end]
            self._sentence_concepts[key] = frozenset(m.group for m in self.index.vocabulary.find(text))
        return self._sentence_concepts[key]

    def explaining_passages(self, query: str, limit: int = 2, *, trials: frozenset[int] = frozenset()
                            ) -> list[tuple[Passage, str]]:
        """The few sentences that answer, from the passages retrieval ranks best.

        Sentences are scored by the rare words and concepts they share with the question, by their
        meaning, by their passage's place in the search, and by whether they have the shape of an
        answer to the relation the question asks about (an order for "which first", a difference for
        "X vs Y", a cause for "why", a study for "what is the evidence", a gap for "is there any
        data"). A quote that states a study's result without naming it starts at the sentence that
        cites the study, so the answer rests on it (and carries its evidence level).
        """
        candidates = self._scored_sentences(query, trials)
        if candidates and candidates[0][2].kind == "perspective":
            # A Perspective is the review's conclusion; its grounds (the trials, the figures) are in the
            # paragraphs of its own section, which the second quote should come from when they answer too.
            section = candidates[0][2].section
            grounds = [(score + (_RELATION_BONUS if p.section == section and p.kind != "perspective" else 0.0),
                        position, p, start, end) for score, position, p, start, end in candidates[1:]]
            candidates = [candidates[0], *sorted(grounds, key=lambda c: (-c[0], c[2].id, -c[1]))]
        # A question in several parts ("Why might a second ADC fail, and what does the review suggest instead?")
        # gets the best sentence for each part first: the whole question's ranking would answer only one of them.
        seeds: list[tuple[float, int, Passage, int, int]] = []
        vocabulary = self.index.vocabulary
        whole = {(c[2].id, c[3]): c[0] for c in candidates}  # a part is read in the context of the whole question
        for part in question_parts(query, lambda piece: any(
                vocabulary.group(m.group).kind != "intent" for m in vocabulary.find(piece))):
            ranked = sorted(((score + whole.get((p.id, start), 0.0), position, p, start, end)
                             for score, position, p, start, end in self._scored_sentences(part, trials)),
                            key=lambda c: (-c[0], c[2].id, -c[1]))
            best = next((c for c in ranked if not any(c[2].id == s[2].id and c[3] == s[3] for s in seeds)), None)
            if best is not None:
                seeds.append(best)
        if len(seeds) > 1:
            limit = max(limit, len(seeds))
            candidates = [*seeds, *(c for c in candidates if not any(c[2].id == s[2].id and c[3] == s[3] for s in seeds))]
        else:
            seeds = []
        floor = 0.6 * (candidates[len(seeds)][0] if len(candidates) > len(seeds) else 0.0)
        spans: dict[str, tuple[Passage, int, int]] = {}  # one contiguous span per passage, in best-first order
        for picked, (score, _, passage, start, end) in enumerate(candidates[:limit + 1]):
            if (seeds and picked >= len(seeds) and score < floor) or (not seeds and picked and score < 0.6 * candidates[0][0]):
                break
            known = spans.get(passage.id)
            if known is None:
                if picked == limit:  # one more sentence only when it joins a quote already chosen
                    break
                spans[passage.id] = (passage, start, end)
            elif len(sentence_bounds(passage.text[min(end, known[2]):max(start, known[1])])) <= 1:
                # a neighbour (at most one sentence apart): one quote; a distant sentence would make a wall of text
                spans[passage.id] = (passage, min(start, known[1]), max(end, known[2]))
        for passage, start, end in list(spans.values()):
            # A Perspective cites nothing: the answer rests on the grounds its own section gives, the paragraph
            # sentence that says the same in most of its words (with the one before when it opens "Therefore"), which
            # joins it when it cites a study and no quote from that section's paragraphs was chosen.
            if passage.kind != "perspective" or any(
                    p.section == passage.section and p.kind != "perspective" for p, _, _ in spans.values()):
                continue
            said = self.retriever.term_weights(passage.text[start:end])  # its words, the rare ones weighing most
            restated = max(((sum(said.get(t, 0.0) for t in set(lexical_tokens(p.text[a:b]))), p.id, a, b)
                            for p in self.index.review.passages if p.section == passage.section and p.kind == "paragraph"
                            for a, b in sentence_bounds(p.text)), default=None)
            weight = sum(said.get(t, 0.0) for t in set(lexical_tokens(passage.text[start:end])))
            if restated is None or restated[0] < max(3.0, 0.1 * weight):  # a tenth of what it says, at least
                continue
            ground = self.index.review.passage(restated[1])
            a, b = restated[2], restated[3]
            before = [bound for bound in sentence_bounds(ground.text) if bound[1] <= a]
            if before and _CONCLUSION.match(ground.text[a:b]):
                a = before[-1][0]
            if citation_refs(ground.text[a:b], 10_000) and ground.id not in spans:
                spans[ground.id] = (ground, a, b)
        # A finding or concept the question names that no chosen sentence speaks of ("HER2-low vs ultralow vs 0": none
        # of the sentences says ultralow) gets the best sentence that does: the answer leaves no part of it unanswered.
        covered = {g for p, a, b in spans.values() for g in self._concepts(p.id, a, b)}
        for group in self._asked_groups(query):
            if group in covered:
                continue
            missing = set(self._asked_groups(query)) - covered
            # the sentence that names most of what is missing, then one that cites a study (the answer rests on it)
            naming = sorted((c for c in candidates if group in self._concepts(c[2].id, c[3], c[4])),
                            key=lambda c: (-len(missing & self._concepts(c[2].id, c[3], c[4])),
                                           not citation_refs(c[2].text[c[3]:c[4]], 10_000), -c[0]))
            for _, _, passage, start, end in naming:
                known = spans.get(passage.id)
                if known is None:
                    spans[passage.id] = (passage, start, end)
                elif len(sentence_bounds(passage.text[min(end, known[2]):max(start, known[1])])) <= 1:
                    spans[passage.id] = (passage, min(start, known[1]), max(end, known[2]))
                else:
                    continue  # a distant sentence of a passage already quoted would make a wall of text
                covered |= self._concepts(passage.id, start, end)
                break
        relations = _relations(query)
        if _CAUSE in relations:  # "why": the cause often follows the sentence that restates the question
            for passage_id, (passage, start, end) in spans.items():
                bounds = sentence_bounds(passage.text)
                following = next(((s, e) for s, e in bounds if s >= end), None)
                if following and _CAUSE.search(passage.text[following[0]:following[1]]):
                    end = following[1]
                # ... or precedes a conclusion ("Compared to ADCs, pyrotinib has better accessibility ...
                # Therefore, ... pyrotinib has been one of the prioritized regimens")
                previous = [b for b in bounds if b[1] <= start]
                if previous and _CONCLUSION.match(passage.text[start:end]):
                    start = previous[-1][0]
                spans[passage_id] = (passage, start, end)
        return [(passage, self.composer.expand_quote(passage, *_from_citing_sentence(passage, *_to_results(passage, start, end))))
                for passage, start, end in spans.values()]

    def _scored_sentences(self, query: str, trials: frozenset[int] = frozenset()
                          ) -> list[tuple[float, int, Passage, int, int]]:
        """(score, -position, passage, start, end) of the candidate sentences, best first; `trials`: the
        references of the trials that compared the drugs a question compares, whose sentences are the answer."""
        weights = self.retriever.term_weights(query)
        relations = _relations(query)
        vocabulary = self.index.vocabulary
        drugs_named = [m for m in vocabulary.find(query) if vocabulary.group(m.group).kind == "drug"]
        ordered = any(  # "SG after T-DXd?", "T-DXd then SG": an order of two drugs asked
            a.group != b.group and _IN_ORDER.fullmatch(query[a.end:b.start]) for a, b in itertools.pairwise(drugs_named))
        if ordered and _SEQUENCE not in relations:
            relations.append(_SEQUENCE)
        # every sentence's meaning, not only the closest few: a sentence just outside them would lose
        # several points to one inside for a hair's difference in cosine
        meaning = self.retriever.sentence_similarities(query, len(self.index.sentence_vectors.ids))
        ranks = {r.passage_id: rank for rank, r in enumerate(self.retriever.search(query, 6))}
        for rank, result in enumerate(self.retriever.search(query, 3, mode="lexical")):  # the words, when meaning misleads
            ranks.setdefault(result.passage_id, rank)
        asked = {m.group for m in vocabulary.find(query) if vocabulary.group(m.group).kind == "concept"}
        drugs = {m.group for m in vocabulary.find(query) if vocabulary.group(m.group).kind == "drug"}
        if len(drugs) > 1 and (_AGAINST in relations or ordered):  # "why not T-DM1 ... than chemo?": the reason against
            asked |= drugs  # one treatment set against another, or one given after the other, is in the sentences naming both
        rarity = self.retriever.concept_idf
        # what the question is about: its drugs, findings and concepts (not its settings, outcomes or intents)
        topics = frozenset(m.group for m in vocabulary.find(query) if vocabulary.group(m.group).kind in {"drug", "finding", "concept"})
        closest = sorted(meaning.items(), key=lambda item: -item[1])[:12]
        for (passage_id, _, _), _ in closest:
            ranks.setdefault(passage_id, 6)
        measures = _asked_measures(query)
        # The abstract restates the body in general words; an explanation quotes the body, where the
        # detail and the citations are, unless the gist is what was asked for.
        skipped = {"backmatter", "title"} if "asks for a summary" in self.retriever.intents(query) \
            else {"backmatter", "title", "abstract"}
        candidates: list[tuple[float, int, Passage, int, int]] = []
        for passage_id, rank in ranks.items():
            passage = self.index.review.passage(passage_id)
            if passage.kind in skipped:
                continue
            for position, (start, end) in enumerate(sentence_bounds(passage.text)):
                sentence = passage.text[start:end]
                shared = sum(weights.get(t, 0.0) for t in set(lexical_tokens(sentence)))
                similar = meaning.get((passage_id, start, end), 0.0)
                if shared <= 0 and similar <= 0.2:
                    continue
                # a study cited where the evidence is asked for counts twice: the answer rests on it
                # ... in a sentence about what is asked: "lack of direct head-to-head studies" of T-DM1 and HP does not
                # answer whether tucatinib and pyrotinib were compared
                about = not topics or bool(topics & self._concepts(passage_id, start, end))
                bonus = sum(_RELATION_BONUS * (2 if shape is _EVIDENCE else 1) for shape in relations
                            if about and shape.search(sentence))
                # the question's own concept, phrase and all ("cross-resistance"), weighs as much as its rarity
                bonus += sum(rarity.get(group, 0.0) for group in self._concepts(passage_id, start, end) if group in asked)
                if measures and _states_measures(sentence, measures):  # "give PFS and OS HRs": the figures
                    bonus += _RELATION_BONUS
                if trials and set(citation_refs(sentence, 10_000)) & trials:  # "why X over Y?": the trial that compared them
                    bonus += 4 * _RELATION_BONUS  # decisive: the question is what that trial answers
                score = (shared + bonus + _RANK_WEIGHT * (6 - rank)
                         + self.settings.sentence_meaning_weight * max(0.0, similar - 0.2))
                candidates.append((score, -position, passage, start, end))
        candidates.sort(key=lambda c: (-c[0], c[2].id, -c[1]))
        return candidates


_DEFINE = re.compile(
    r"^\s*(?:(?:can|could|would)\s+you\s+|please\s+)?(?:explain\s+|tell\s+me\s+)?(?:what\s+(?:exactly\s+)?(?:is|are)|what'?s|define|definition\s+of|meaning\s+of|explain\s+what|"
    r"what\s+(?:exactly\s+)?counts\s+as|what\s+does|how\s+(?:is|are)|what\s+(?:exactly\s+)?(?:distinguishes|separates|differentiates)|"
    r"(?:what\s+is\s+)?the\s+difference\s+between|what\s+do(?:es)?\s+(?:\w+\s+){0,2}mean\s+by)\b"
)


class CardField(Frozen):
    id: str
    field: str


class GlossaryQuote(Frozen):
    passage: str
    text: str


class GlossaryEntry(Frozen):
    term: str
    quotes: tuple[GlossaryQuote, ...]
    card: CardField | None = None


def load_glossary(path: Path, review: Review, cards: Sequence[StudyCard], vocabulary: Vocabulary) -> tuple[GlossaryEntry, ...]:
    """Definitions, each quote checked to be verbatim in its passage and each card field to exist."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        entries = tuple(GlossaryEntry.model_validate(item) for item in data)
    except FileNotFoundError:
        raise CorpusError(f"The glossary is missing: {path}") from None
    except (yaml.YAMLError, ValidationError, TypeError) as exc:
        raise CorpusError(f"{path.name} is not a valid glossary: {exc}") from None
    groups = {group.name for group in vocabulary.groups}
    by_id = {card.id: card for card in cards}
    for entry in entries:
        if entry.term not in groups:
            raise CorpusError(f"{path.name}: term {entry.term!r} is not a vocabulary group")
        for quote in entry.quotes:
            try:
                passage = review.passage(quote.passage)
            except KeyError:
                raise CorpusError(f"{path.name}: {entry.term}: no passage {quote.passage}") from None
            if quote.text not in passage.text:
                raise CorpusError(f"{path.name}: {entry.term}: a quote is not verbatim in {quote.passage}")
        if entry.card and (entry.card.id not in by_id or not hasattr(by_id[entry.card.id], entry.card.field)):
            raise CorpusError(f"{path.name}: {entry.term}: no card field {entry.card.id}.{entry.card.field}")
    return entries


_CAUSE = re.compile(  # the shape of an answer to "why"
    r"\b(?:stems?\s+from|due\s+to|because|caused\s+by|leads?\s+to|lead\s+to|leading\s+to|results?\s+in|resulting\s+in|"
    r"therefore|thereby|so\s+that|mechanism|through|basis|essence|directly\s+affect)\b", re.I)
_CONCLUSION = re.compile(r"\s*(?:therefore|thus|hence|consequently|as\s+a\s+result|for\s+this\s+reason)\b", re.I)
_SEQUENCE = re.compile(  # the shape of an answer about order: which first, what after which
    r"\b(?:sequen\w*|initial|first[\s-]+line|as\s+the\s+first|subsequent\w*|followed\s+by|after\s+(?:the\s+)?(?:progression|failure)|"
    r"then|prior\s+(?:to|exposure)|cross[\s-]*resist\w*)\b", re.I)
_ABSENCE = re.compile(  # the shape of an answer to "is there any data?": what is known, or that it is not
    r"\b(?:no\s+(?:data|evidence|stud(?:y|ies)|trials?|consensus|significant)|lack\w*|unclear|uncertain|unknown|limited|"
    r"remains?|not\s+(?:yet\s+)?(?:been|clear|established)|few|further\s+(?:research|studies|exploration)|need\w*|showed|found)\b", re.I)
_CUES = [
    (re.compile(r"\bsequenc\w*|\b(?:the\s+)?order\b|\bwhich\s+(?:adc\s+)?first\b|\b(?:then|followed\s+by)\b.*\b(?:then|vs\.?|versus|or)\b"
                r"|\bafter\s+(?:the\s+)?(?:other|first)\b|\b(?:work|respond|help|effective)\w*\s+after\b", re.I), _SEQUENCE),
    (re.compile(r"\b(?:any|is\s+there\s+(?:any\s+)?|what)\s+(?:\w+\s+)?(?:data|evidence)\b|\bhas\s+anyone\b|\bany\s+(?:trials?|stud(?:y|ies))\b", re.I),
     _ABSENCE),
    (re.compile(r"^\s*(?:\w+\s+)?why\b|\b(?:explanation|reason|cause|basis|mechanism)s?\s+(?:for|of|behind)\b", re.I), _CAUSE),
    (re.compile(r"^\s*where\b", re.I), re.compile(r"\b(?:liver|lungs?|lymph|bone|brain|sites?|areas?|organs?)\b", re.I)),
    (re.compile(r"^\s*(?:what\s+(?:is|are)|what's|define|definition|describe)\b", re.I), re.compile(
        r"\b(?:is|are|refers?\s+to|defined|means|essence)\b", re.I)),
    (re.compile(r"^\s*how\b", re.I), re.compile(r"\b(?:by|through|via|can|should|necessary)\b", re.I)),
]


def _answer_cue(query: str) -> re.Pattern[str] | None:
    for question, cue in _CUES:
        if question.search(query):
            return cue
    return None


_EVIDENCE = re.compile(  # the shape of an answer to "what is the evidence?": a study it cites
    r"\[\d+\]", re.I)
_DIFFERENCE = re.compile(  # the shape of an answer to "X vs Y?", "does it depend on X?": a difference, or none
    r"\b(?:compared|than|vs\.?|versus|differen\w*|differ|both|regardless|irrespective|no\s+significant|superior|"
    r"inferior|better|distinguish\w*|divided|classify\w*|whether)\b", re.I)
_AGAINST = re.compile(  # the shape of an answer to "why not X?": a reason against it, a worse result or a caution
    r"\b(?:lower|worse|inferior|shorter|less\s+(?:effective|active)|too\s+early|not\s+(?:yet|superior|better|recommended|"
    r"prolonged|improved?|significant)|no\s+(?:benefit|significant|improvement)|lack\w*|excluded|higher\s+(?:toxicity|rate\s+of\s+"
    r"adverse)|interruption|discontinu\w*|negative\s+impact)\b", re.I)
_RELATION_CUES = [
    (re.compile(r"\bwhy\s+(?:not|(?:do|does|did|would|should)\s*n[o']t|(?:do|does|did|would|should)\s+(?:we|you|they|one|i)\s+not)\b|"
                r"\bwhy\s+(?:is|are|was|were)\s*n[o']t\b|\bwhy\s+(?:we|you|they)\s+(?:don'?t|do\s+not|can'?t|shouldn'?t)\b", re.I),
     _AGAINST),
    (re.compile(r"\b(?:evidence|data|trials?|stud(?:y|ies)|show(?:s|ed)?|support\w*|hrs?|hazard|results?)\b", re.I),
     _EVIDENCE),
    (re.compile(r"\bvs\.?\b|\bversus\b|\bover\b|\bcompar\w*|\bbetter\b|\bworse\b|\bdiffer\w*|\bdepends?\s+on\b"
                r"|\bsplit\b|\bseparat\w*|\bdistinguish\w*|\brather\s+than\b|\binstead\s+of\b|\bequivalent\b", re.I),
     _DIFFERENCE),
]
_IN_ORDER = re.compile(r"\s*(?:(?:straight|directly|right|immediately)\s+)?(?:after|following|post|before|then|followed\s+by|->|→)"
                       r"\s+(?:(?:progression|pd|failure)\s+(?:on|of)\s+)?", re.I)
_RELATION_BONUS = 3.0  # a sentence with the shape of the asked relation: about one rare shared word
_RANK_WEIGHT = 0.6  # per place in the search's first six: the passages, not only the words, decide
_MEASURES = {
    "pfs": re.compile(r"\b(?:pfs|progression[\s-]*free)\b", re.I),
    "os": re.compile(r"\b(?:os|overall\s+survival)\b", re.I),
    "hr": re.compile(r"\b(?:hrs?|hazard\s+ratios?)\b(?!\s*[+-]|\s*(?:positive|negative))", re.I),
    "orr": re.compile(r"\b(?:orr|objective\s+response|response\s+rate)\b", re.I),
}


def _relations(query: str) -> list[re.Pattern[str]]:
    """The shapes of answer a question asks for: each relation it names (an order, a difference, a cause,
    a study, a gap in the evidence), the first matching row of _CUES and every row of _RELATION_CUES."""
    shapes = [cue] if (cue := _answer_cue(query)) else []
    shapes += [shape for question, shape in _RELATION_CUES if question.search(query) and shape not in shapes]
    return shapes


def _asked_measures(query: str) -> list[re.Pattern[str]]:
    """The outcome measures a question asks figures for ("give PFS and OS HRs")."""
    return [pattern for pattern in _MEASURES.values() if pattern.search(query)]


def _states_measures(sentence: str, measures: Sequence[re.Pattern[str]]) -> bool:
    """A sentence that gives a figure for one of the measures asked."""
    return bool(re.search(r"\d", sentence)) and any(m.search(sentence) for m in measures)


_INTRODUCES = re.compile(  # a sentence that says what a study set out to do, not what it found
    r"\b(?:explored|analy[sz]ed|investigated|evaluated|enrolled|compared|assessed|aimed|designed)\b", re.I)
_FOUND = re.compile(r"\b(?:results?|showed|shown|demonstrated|found|improved?|prolong\w*|reduced?)\b", re.I)


def _to_results(passage: Passage, start: int, end: int, reach: int = 2) -> tuple[int, int]:
    """A span ending on a sentence that only introduces a study ("ASCENT study [10] explored ...") runs
    on to the sentence, within `reach`, that gives its results ("The results showed ... HR = 0.43")."""
    bounds = sentence_bounds(passage.text)
    last = next((b for b in reversed(bounds) if b[1] <= end + 1 and b[0] < end), None)
    if last is None or not _INTRODUCES.search(passage.text[last[0]:last[1]]) or _FOUND.search(passage.text[last[0]:last[1]]):
        return start, end
    for s, e in [b for b in bounds if b[0] >= last[1]][:reach]:
        if _FOUND.search(passage.text[s:e]):
            return start, e
    return start, end


_REFERS_BACK = re.compile(  # a sentence that continues the one before it: "The results showed", "Among them"
    r"\s*(?:the\s+results?|these|this|those|such|from\s+these|among\s+them|of\s+them|in\s+(?:this|that|these|the\s+same)|"
    r"it|they|however,?\s+in|subgroup)\b", re.I)


def _from_citing_sentence(passage: Passage, start: int, end: int, reach: int = 3) -> tuple[int, int]:
    """A span that cites no study but continues, sentence by sentence ("The results showed ...", "From
    these real-world data ..."), one that does ("MD Anderson [38] analyzed ...") starts there, at most
    `reach` sentences back: the quote then names what it rests on. A span that opens a new thought is
    left as it is."""
    if citation_refs(passage.text[start:end], 10_000):
        return start, end
    before = [b for b in sentence_bounds(passage.text) if b[1] <= start]
    opening = start
    for s, e in reversed(before[-reach:]):
        if not _REFERS_BACK.match(passage.text[opening:end]):
            break
        opening = s
        if citation_refs(passage.text[s:e], 10_000):
            return s, end
    return start, end


def load_provenance(path: Path) -> dict[str, object]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        missing = {"title", "authors", "funding", "literature_cutoff", "references", "unknown"} - data["publication"].keys()
        if missing:
            raise KeyError(", ".join(sorted(missing)))
    except (FileNotFoundError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise CorpusError(f"{path.name} is not a valid provenance file: {exc}") from None
    return dict(data)


def check_knowledge(settings: Settings) -> str:
    """Load and validate every knowledge file (cards, rules, safety notes, glossary, prompts) without a model.

    Run before an index build, so a broken file stops the build with its name and entry.
    """
    corpus = load_corpus(settings.corpus_dir)
    functions = card_functions(corpus.cards)
    rules = load_rules(settings.corpus_dir / "rules", corpus.cards, corpus.review, functions)
    load_safety(settings.corpus_dir / "safety.yaml", functions)
    load_constraints(settings.corpus_dir / "constraints.yaml", functions)
    glossary = load_glossary(settings.corpus_dir / "glossary.yaml", corpus.review, corpus.cards, corpus.vocabulary)
    load_provenance(settings.corpus_dir / "provenance.yaml")
    prompts = settings.corpus_dir.parent / "prompts"
    registry = load_registry(settings.corpus_dir)
    questions = {**registry.follow_ups, **_load_texts(prompts / "follow_up.yaml")}
    missing = {"her2", "hr", "setting", "pcr", "prior", "empty", "covers"} - questions.keys()
    if missing:
        raise CorpusError(f"prompts/follow_up.yaml lacks questions for: {', '.join(sorted(missing))}")
    messages = _load_texts(prompts / "messages.yaml")
    named = set(re.findall(r'self\.messages\["(\w+)"\]', Path(__file__).read_text()))
    named |= {key for route in ROUTES for key in (route.message, route.detail) if key} | {note.message for note in NOTES}
    absent = named - messages.keys()
    if absent:
        raise CorpusError(f"prompts/messages.yaml lacks: {', '.join(sorted(absent))}")
    return (f"{len(corpus.cards)} study cards, {len(rules)} rules, {len(registry.facts)} fact types, {len(glossary)} glossary terms, "
            f"{len(corpus.vocabulary.groups)} vocabulary groups: valid")


def merge_facts(base: PatientFacts, new: PatientFacts, *, keep_topics: bool) -> PatientFacts:
    """Later words win: a fact said again (or corrected) replaces the earlier one."""
    updates: dict[str, object] = {}
    for name in PatientFacts.model_fields:
        if name in {"therapies", "biomarkers", "topics", "toxicities", "uncovered"}:
            continue
        if getattr(new, name) is not None:
            updates[name] = getattr(new, name)
    therapies = {t.therapy: t for t in base.therapies}
    for therapy in new.therapies:  # "what about T-DXd?" after "progressed on T-DXd" asks; it does not undo
        known = therapies.get(therapy.therapy)
        if known is not None and therapy.status == "received" and known.received and known.status != "received":
            continue  # "on T-DXd since 2023", then "the liver grew before T-DXd": named again, nothing new on how it stands
        if known is None or therapy.status != "considered" or known.status == "considered":
            therapies[therapy.therapy] = therapy
    if base.her2 is not None and base.her2.value == "equivocal" and new.her2 is not None and new.her2.value == "negative" \
            and re.search(r"\b(?:ish|fish|sish|cish|ddish)\b", new.her2.words, re.IGNORECASE):
        # "HER2 2+, ISH pending", then "ISH non-amplified": IHC 2+ with a negative ISH is HER2-low
        updates["her2"] = Fact(value="low", words=new.her2.words, turn=new.her2.turn)
    if (lines := _lines_told_over_turns(base.endocrine_lines, new.endocrine_lines)) is not None:
        updates["endocrine_lines"] = lines
    markers = {b.marker: b for b in base.biomarkers}
    markers.update({b.marker: b for b in new.biomarkers})
    updates["therapies"] = tuple(therapies.values())
    updates["biomarkers"] = tuple(markers.values())
    updates["toxicities"] = tuple({str(t.value): t for t in (*base.toxicities, *new.toxicities)}.values())
    updates["uncovered"] = tuple({str(t.value): t for t in (*base.uncovered, *new.uncovered)}.values())
    updates["topics"] = new.topics if keep_topics else base.topics
    return base.model_copy(update=updates)


_A_COUNT = re.compile(r"\d|\b(?:one|two|three|four|five|six|first|second|third|fourth|lines?)\b", re.IGNORECASE)


def _lines_told_over_turns(before: Fact | None, now: Fact | None) -> Fact | None:
    """Lines of endocrine therapy counted from the courses each message names add up over the turns ("1L letrozole +
    ribociclib, PD", then "she also had fulvestrant 2L, progressed": two lines, which DESTINY-Breast06 asks for). A
    count written as such ("two lines of ET") replaces the earlier one as any later fact does; None keeps that rule."""
    if before is None or now is None or _A_COUNT.search(before.words) or _A_COUNT.search(now.words):
        return None
    told = [w for w in before.words.split(", ") if w]
    added = [w for w in now.words.split(", ") if w and w.lower() not in {t.lower() for t in told}]
    if not added:
        return None
    return Fact(value=len(told) + len(added), words=", ".join([*told, *added]), turn=now.turn)


def silent_changes(before: PatientFacts, now: PatientFacts) -> list[Conflict]:
    """HER2 or HR status that a later message changes without saying it corrects anything.

    "Sorry, ISH was negative" or "the new biopsy shows" update the fact; "she's ER 80% and HER2 IHC 0"
    after "HER2-positive, ER negative" is a contradiction to ask about, not a silent update.
    A refinement ("HER2-negative", then "IHC 1+") is not a change.
    """
    changed = []
    inferred = {t.words for t in before.therapies}  # "HER2-positive" read from "T-DM1" is a guess, not a statement
    for name in ("her2", "hr"):
        old, new = getattr(before, name), getattr(now, name)
        if old is None or new is None or old.value == new.value or old.words in inferred:
            continue
        values = {old.value, new.value}
        if "equivocal" in values or ("negative" in values and "positive" not in values):
            continue
        changed.append(Conflict(fact=name, first=old.words, second=new.words))
    return changed


# between two drugs a question compares: "T-DXd vs T-DM1", "T-DXd over pyrotinib", "T-DXd or SG", "T-DXd than T-DM1"
_COMPARED = re.compile(  # not "with": a combination; "preferred over", "better than", "superior to" compare too
    r"\s*(?:,|\)|\()?\s*(?:(?:(?:is|are|was|were)\s+)?(?:preferred|favou?red|chosen|recommended|ranked|prioriti[sz]ed)\s+)?"
    r"(?:vs\.?|versus|over|against|or|than|compared\s+(?:with|to)|rather\s+than|instead\s+of|and|(?:better|worse)\s+than|"
    r"(?:superior|inferior)\s+to)\s*")
_COMBINED = re.compile(r"\s*(?:\+|plus|with|combined\s+with|in\s+combination\s+with|/)\s*")  # one regimen: "T-DM1 + pertuzumab"
_STUDY_NAME = re.compile(r"\b[A-Z][A-Z0-9]{4,}(?:-[A-Za-z0-9]+)*\b")  # "CLEOPATRA", "MONALEESA-2": a trial's capitalised name
_STUDY_WORD = re.compile(r"\b(?:trials?|stud(?:y|ies)|results?|data)\b", re.I)
_DATA_ASKED = re.compile(r"\banything\s+(?:in|from|on)\s+the\s+(?:review|literature|paper)\b|"
                         r"\b(?:any|what(?:'s|\s+is)?(?:\s+the)?)\s+(?:\w+\s+)?(?:data|evidence)\b")
_COMPARISON_WORD = re.compile(
    r"\b(?:vs\.?|versus|over|compared?|comparison|better|worse|superior|inferior|rather\s+than|instead\s+of|than|prefer\w*)\b")


# drug classes: placed when an option names the class, never said to be absent (their members may be options)
# what came after the trial's own drug: "after progression on T-DXd", "subsequent therapy", "next-line"
_AFTER_PROGRESSION = re.compile(r"\b(?:after|post|progress\w*|pd)\W+(?:\w+\W+){0,2}(?:t-?dxd|enhertu|trastuzumab\s+deruxtecan)\b|"
                                r"\bsubsequent[\s-]+(?:therap|treatment|line)\w*|\bnext[\s-]*line\b", re.IGNORECASE)
def _named_drugs(last: Reading, named: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """(the user's words, therapy) of the drugs a message names, for what the review says of each: not a class ("a TKI",
    the "ADC" of "T-DXd", which has no studies of its own), not a drug the review does not cover (named as such), and
    each name once ("HP" is trastuzumab and pertuzumab)."""
    uncovered = [str(f.value).lower() for f in last.facts.uncovered]
    about: list[tuple[str, str]] = []
    for words, therapy in named:
        if therapy in _CLASSES or any(words.lower() in name for name in uncovered):
            continue
        if all(words.lower() != w.lower() and therapy != t for w, t in about):
            about.append((words, therapy))
    return about


def _asked_words(last: Reading, therapy: str) -> str:
    """The user's words for a therapy asked about ("Enhertu"), or its name when none were kept."""
    return next((t.words for t in last.facts.therapies if t.therapy == therapy and not t.received), therapy)


_CLASSES = IMPLIED_CLASSES | {"cdk4/6 inhibitor", "immunotherapy", "parp inhibitor", "pi3k inhibitor", "akt inhibitor",
                              "taxane", "anthracycline"}


def _load_texts(path: Path) -> dict[str, str]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, yaml.YAMLError) as exc:
        raise CorpusError(f"The text file {path} cannot be read: {exc}") from None
    return {str(k): str(v) for k, v in data.items()}
