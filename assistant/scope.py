"""Each mention of a drug or finding with its scope: negated, historical, hypothetical, about someone
else, planned, declined, unavailable, contraindicated, stopped, not tested.

spaCy (a blank English pipeline, no model weights) splits sentences and tokens; entities come from the
vocabulary (corpus/vocabulary.yaml) and the registry's token patterns (corpus/facts.yaml); medspaCy's
ConText, with its default rules and the project's (corpus/context_rules.json), sets their modifiers.
Nothing here is hand-written negation: what a modifier means for a fact is the registry's data.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

# spaCy comes through context_lib, which loads it without PyTorch (see there)
from assistant.context_lib import (
    ConText,
    ConTextRule,
    Doc,
    Language,
    Matcher,
    Span,
    default_rules_path,
    filter_spans,
    spacy,
)
from assistant.registry import Registry, load_context_rules
from assistant.types import Frozen
from assistant.vocabulary import Vocabulary

# what may stand between a drug named as a label and its statement
_LABEL_SEPARATOR = re.compile(r"\s*(:|->|=>|\u2192|[-\u2013\u2014=(])")
# numbers as clinicians write them: "two", "third", "2nd", "G2", "grade II", "1.5"
_WORDS = {word: n for n, words in enumerate(
    [(), ("one", "first", "i"), ("two", "second", "ii"), ("three", "third", "iii"), ("four", "fourth", "iv"),
     ("five", "fifth"), ("six", "sixth"), ("seven", "seventh"), ("eight", "eighth"), ("nine", "ninth"),
     ("ten", "tenth"), ("eleven",), ("twelve",)]) for word in words}
_DIGITS = re.compile(r"\d+(?:[.,]\d+)?")


def _number(word: str) -> int | None:
    if word in _WORDS:
        return _WORDS[word]
    digits = _DIGITS.search(word)
    return round(float(digits.group(0).replace(",", "."))) if digits else None


REGIMEN = "regimen"  # the label of a regimen abbreviation's mention ("THP"): its therapies are understanding's
_FINDING_GROUPS = ("brain metastases", "interstitial lung disease", "PIK3CA", "AKT pathway", "ESR1", "BRCA",
                   "PD-L1")


class Mention(Frozen):
    """An entity the message names, where it stands, and the ConText categories that modify it."""

    label: str  # a vocabulary group ("trastuzumab deruxtecan") or a registry fact ("lvef")
    start: int  # character offsets in the text read
    end: int
    sentence: int
    value: str | int | bool | None = None  # what a registry pattern read
    categories: tuple[str, ...] = ()  # nearest first
    text: str


class ScopeReader:
    """Builds the pipeline once (a few ms a message after that); the same text always reads the same way."""

    def __init__(self, registry: Registry, vocabulary: Vocabulary, corpus_dir: Path) -> None:
        self.registry = registry
        self.vocabulary = vocabulary
        self._rules, self._replaced = load_context_rules(corpus_dir)
        self._lock = threading.Lock()

    @cached_property
    def _nlp(self) -> Language:
        nlp = spacy.blank("en")
        nlp.add_pipe("sentencizer", config={"punct_chars": [".", "!", "?", ";", "\n"]})
        context: ConText = nlp.add_pipe("medspacy_context", config={"rules": None})
        context.add([ConTextRule.from_dict(rule) for rule in _default_rules(self._replaced)])
        context.add([ConTextRule.from_dict(rule) for rule in self._rules])
        return nlp

    @cached_property
    def _matcher(self) -> Matcher:
        matcher = Matcher(self._nlp.vocab)
        for fact in self.registry.facts:
            for number, spec in enumerate(fact.patterns):
                matcher.add(f"{fact.name}#{number}", [list(spec.pattern)])
        return matcher

    def read(self, text: str, regimens: Sequence[tuple[int, int]] = ()) -> tuple[Mention, ...]:
        """The mentions of a text; `regimens` are where regimen abbreviations stand ("THP"), read as drugs."""
        nlp = self._nlp
        self._matcher  # noqa: B018  (built before the zone: its strings must outlive every message)
        # spaCy keeps every new word in its vocabulary for good; a long-running server reading notes full of names
        # and numbers grew about 1.5 KB a new word. Strings first seen inside the zone are freed after it, so one
        # message at a time: a zone closing in one thread freed strings another thread's message still used.
        with self._lock, nlp.memory_zone():
            opened = self._open_labels(text, regimens)
            if not re.search(r"[.!?;]\s*$", opened):
                opened += " ."  # an answer at the very end ("ILD: none") ends its sentence; offsets before are unchanged
            doc = nlp.make_doc(opened)
            for name, component in nlp.pipeline:
                if name != "medspacy_context":
                    doc = component(doc)
            _end_sentences_after_glued_stops(doc)
            spans, values = self._entities(doc)
            for start, end in regimens:
                span = doc.char_span(start, end, label=REGIMEN, alignment_mode="expand")
                if span is not None:
                    spans.append(span)
            doc.ents = filter_spans(spans)
            doc = nlp.get_pipe("medspacy_context")(doc)
            sentences = list(doc.sents)
            mentions = []
            for ent in doc.ents:
                sentence = next(i for i, s in enumerate(sentences) if s.start <= ent.start < s.end)
                mentions.append(Mention(label=ent.label_, start=ent.start_char, end=ent.end_char, sentence=sentence,
                                        value=values.get((ent.start, ent.end)), categories=_nearest_first(ent),
                                        text=ent.text))
            return tuple(mentions)

    def _open_labels(self, text: str, regimens: Sequence[tuple[int, int]] = ()) -> str:
        """"T-DXd: opted against it", "Enhertu (declined)", "T-DXd – not available", "T-DXd -> pt declined": a drug
        used as a label for its statement. The separator after it (colon, dash, arrow, opening bracket) must not end
        the drug's scope as ConText's terminators or the sentence splitter would; it becomes spaces (offsets unchanged).
        The closing bracket stays: "tucidinostat (chidamide) after palbociclib failure" ends the alias there; a
        bracket that names another drug is about that drug."""
        chars = list(text)
        matches = self.vocabulary.find(text)
        drugs = [(m.start, m.end) for m in matches if self.vocabulary.group(m.group).kind == "drug"]
        drugs = sorted([*drugs, *regimens])
        for _, end in drugs:
            label = _LABEL_SEPARATOR.match(text, end)
            if label is None:
                continue
            if label.group(1) == "(":  # "T-DM1 (T-DXd wasn't available then)" speaks of the drug inside
                close = text.find(")", label.end(1))
                inside = range(label.end(1), close if close != -1 else len(text))
                if any(other in inside for other, _ in drugs):
                    continue
            for i in range(label.start(1), label.end(1)):
                chars[i] = " "
        return "".join(chars)

    def _entities(self, doc: Doc) -> tuple[list[Span], dict[tuple[int, int], Any]]:
        spans: list[Span] = []
        for match in self.vocabulary.find(doc.text):
            group = self.vocabulary.group(match.group)
            if group.kind == "drug" or match.group in _FINDING_GROUPS:
                span = doc.char_span(match.start, match.end, label=match.group, alignment_mode="expand")
                if span is not None:
                    spans.append(span)
        values: dict[tuple[int, int], Any] = {}
        for match_id, start, end in self._matcher(doc):
            name, number = self._nlp.vocab.strings[match_id].split("#")
            spec = self.registry.fact(name).patterns[int(number)]
            value = _value(spec.value, doc[start:end])
            if value is None:
                continue
            span = Span(doc, start, end, label=name)
            spans.append(span)
            values[(start, end)] = value
        return spans, values


_ABBREVIATIONS = frozenset({"dr.", "mr.", "mrs.", "ms.", "prof.", "e.g.", "i.e.", "vs.", "approx.", "ca.", "st.", "no.",
                            "fig.", "ref.", "al.", "inc.", "pt.", "cf."})


def _end_sentences_after_glued_stops(doc: Doc) -> None:
    """spaCy keeps the full stop of "2L." or "3mo." in the token, so the sentencizer sees no stop there and a cue of
    one sentence reached into the next ("progressed on Trodelvy 2L. Is Enhertu worth trying?" read Enhertu as
    progressed). A token ending in a full stop before a capitalised word ends its sentence."""
    for token, following in itertools.pairwise(doc):
        if len(token.text) > 1 and token.text.endswith(".") and following.text[:1].isupper() \
                and token.lower_ not in _ABBREVIATIONS:
            following.is_sent_start = True


def _default_rules(replaced: frozenset[str]) -> list[dict[str, Any]]:
    """medspaCy's English rules, less those the project redefines (where ConText itself looks for them)."""
    path = default_rules_path()
    rules: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["context_rules"]
    return [rule for rule in rules if rule["literal"] not in replaced]


def _nearest_first(ent: Span) -> tuple[str, ...]:
    """The categories modifying an entity, the nearest cue first: "should I give T-DXd after progression
    on T-DM1?" plans T-DXd and says T-DM1 progressed, though both cues cover the whole sentence."""
    ranked = []
    for modifier in ent._.modifiers:
        cue = modifier.modifier_span
        distance = ent.start - cue[1] if cue[1] <= ent.start else cue[0] - ent.end if cue[0] >= ent.end else 0
        ranked.append((max(distance, 0), modifier.category))
    return tuple(dict.fromkeys(category for _, category in sorted(ranked)))


def _value(spec: str | int | bool, span: Span) -> str | int | bool | None:
    if not (isinstance(spec, str) and spec.startswith("$")):
        return spec
    numbers = [n for t in span if (n := _number(t.lower_)) is not None]
    if not numbers:
        return None
    number = numbers[-1]
    if spec.startswith("$under:"):
        return number < int(spec.removeprefix("$under:"))
    if spec == "$karnofsky":
        return 0 if number >= 90 else 1 if number >= 70 else 2 if number >= 50 else 3 if number >= 30 else 4
    return number
