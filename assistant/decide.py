"""Rules as data (corpus/rules/*.yaml) and the small engine that applies them to patient facts.

The engine is pure: the same facts and rules give the same Decision, with no retrieval, clock or
randomness. Rules are sorted by priority then id at load, so rules that fire together always list
their options in the same order.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, cast

import yaml
from jinja2 import Environment, StrictUndefined, TemplateError
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    TypeAdapter,
    ValidationError,
    create_model,
    field_validator,
)

from assistant.errors import CorpusError
from assistant.registry import Registry, load_registry
from assistant.types import (
    DRUG_CLASSES,
    EVIDENCE_ORDER,
    IMPLIED_CLASSES,
    Change,
    EvidenceLevel,
    Exposure,
    Fact,
    Frozen,
    PatientFacts,
    Review,
    Role,
    StudyCard,
    Therapy,
    TherapyFact,
    Topic,
)

# --- facets: what a rule's conditions can test ----------------------------------------------

# the registry's fact types (corpus/facts.yaml; a test keeps the two the same)
_SCALARS = ("her2", "hr", "setting", "pcr", "line", "de_novo", "brain_mets", "oligoprogression", "ild",
            "ild_grade", "oxygen", "access_limited", "treatment_naive", "cdk_months", "endocrine_lines", "pregnancy", "lvef", "heart_failure",
            "ecog", "hepatic_impairment", "renal_impairment", "dpd_deficiency", "sex", "primary_site")
_SETS = ("prior", "failed", "progressed_on", "current", "topic")
_MARKERS = ("PIK3CA", "AKT1", "PTEN", "ESR1", "BRCA", "PD-L1")
FACETS = (*_SCALARS, *_SETS, *(f"biomarker.{m}" for m in _MARKERS), "biomarker.any", "any")

# A fact never mentioned reads as its default; facets without a default must be asked for.
_DEFAULTS: dict[str, object] = {
    "de_novo": False, "brain_mets": "none", "oligoprogression": False, "ild": "none", "oxygen": False, "ild_grade": None,
    "access_limited": False, "current": frozenset(), "topic": frozenset(), "line": None, "cdk_months": None,
    **{f"biomarker.{m}": None for m in _MARKERS},
}
# A broad value that one of these narrower ones would refine: ask, do not guess.
_REFINES: dict[str, dict[str, set[str]]] = {
    "her2": {"negative": {"low", "ultralow", "zero"}, "equivocal": {"positive", "low"}},
    "setting": {"early": {"neoadjuvant", "adjuvant"}},
    "brain_mets": {"present": {"active", "stable", "treated"}},  # "brain mets" alone: ask which, never assume active
}
_UNKNOWN = object()


def _coarse(facts: PatientFacts, name: str) -> bool:
    """The fact was said, with a value that several of the rules' values refine ("brain mets": active or stable?)."""
    fact = getattr(facts, name, None)
    return isinstance(fact, Fact) and isinstance(fact.value, str) and fact.value in _REFINES.get(name, {})


def facet(facts: PatientFacts, name: str) -> object:
    """The value a condition tests; _UNKNOWN when never said and without a default."""
    value: object
    if name in _SCALARS:
        value = facts.value(name)
    elif name == "prior":
        value = facts.prior
    elif name == "progressed_on":
        value = facts.progressed_on
    elif name == "failed":
        value = facts.failed
    elif name == "current":
        value = facts.current
    elif name == "topic":
        value = frozenset(str(t.value) for t in facts.topics)
    elif name == "biomarker.any":
        return any(b.positive for b in facts.biomarkers)
    elif name.startswith("biomarker."):
        value = facts.biomarker(name.split(".", 1)[1])
    else:
        raise KeyError(name)
    if value is None:
        return _DEFAULTS.get(name, _UNKNOWN) if name in _DEFAULTS else _UNKNOWN
    return value


# --- the rule schema ------------------------------------------------------------------------


class Caveat(Frozen):
    """A note shown with an option only when its conditions hold for the patient."""

    when: dict[str, Any]
    text: str  # template


class OptionSpec(Frozen):
    option: str
    role: Role
    beyond_progression: bool = False  # the review supports continuing it after progression ("while continuing T-DXd")
    rationale: str  # template
    studies: tuple[str, ...] = ()  # cards whose evidence supports the option (its level)
    context: tuple[str, ...] = ()  # cards cited for context, not counted for the level
    passages: tuple[str, ...] = ()  # review passages that support it
    note: str | None = None  # template
    when: dict[str, Any] = Field(default_factory=dict)  # extra conditions for this option alone
    caveats: tuple[Caveat, ...] = ()
    # card id -> the card's limited_evidence entries this option rests on (a subgroup, or a population the trial
    # did not enrol): the option takes their level, and its rationale says why
    limited_evidence: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    evidence_level: EvidenceLevel = "V"  # derived from the cards at load, never typed


class Rule(Frozen):
    id: str
    title: str
    section: str
    when: dict[str, Any]
    recommend: tuple[OptionSpec, ...] = ()
    not_covered: str | None = None  # template: what the review does not cover here
    passages: tuple[str, ...] = ()
    perspectives: tuple[str, ...] = ()
    priority: int = 0
    overrides: tuple[str, ...] = ()
    exclusive: bool = False  # when it fires first, the answer is about it alone (a question on one topic)

    @field_validator("id")
    @classmethod
    def _readable_id(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Z0-9]+(?:-[A-Z0-9]+)*", value):
            raise ValueError("rule ids are upper case words joined by hyphens, e.g. HER2POS-MET-2L")
        return value


class ChosenOption(Frozen):
    spec: OptionSpec
    role: Role
    rule_id: str


class Excluded(Frozen):
    """An option the rules gave that this patient's facts take out of the list, and why."""

    option: str
    reason: str  # "declined by the patient", "only after specialist review: ..."
    words: str  # the clinician's words it rests on, verbatim
    review: bool  # True: listed for specialist review; False: not offered


class Decision(Frozen):
    rule_ids: tuple[str, ...] = ()
    options: tuple[ChosenOption, ...] = ()
    excluded: tuple[Excluded, ...] = ()
    warnings: tuple[str, ...] = ()  # safety states, each with what the review says of such patients
    missing: tuple[str, ...] = ()  # facets that would let a rule decide
    not_covered: str | None = None  # id of a rule that says the review does not cover the case
    instead_of: tuple[str, ...] = ()  # drugs out of her reach whose place the review's next options take

    @property
    def preferred(self) -> ChosenOption | None:
        return next((o for o in self.options if o.role == "preferred"), self.options[0] if self.options else None)


def case_passages(decision: Decision, rules: Sequence[Rule]) -> tuple[str, ...]:
    """The review passages a decision rests on: the fired rules' Perspectives, then their evidence."""
    fired = [rule for rule in rules if rule.id in decision.rule_ids]
    perspectives = [p for rule in fired for p in rule.perspectives]
    evidence = [p for rule in fired for p in (*rule.passages, *(p for o in rule.recommend for p in o.passages))]
    return tuple(dict.fromkeys([*perspectives, *evidence]))


# --- loading --------------------------------------------------------------------------------

TemplateFunctions = dict[str, Any]


def load_rules(rules_dir: Path, cards: Sequence[StudyCard], review: Review,
               functions: TemplateFunctions, registry: Registry | None = None) -> tuple[Rule, ...]:
    """Every rule, validated against the facets and their types, the cards and the review; sorted for determinism.

    The fact registry (by default the facts.yaml beside the rules folder) types every condition value.
    """
    if not rules_dir.is_dir():
        raise CorpusError(f"The rules are missing: {rules_dir} is not a folder.")
    types = condition_types(registry or load_registry(rules_dir.parent))
    by_id = {card.id: card for card in cards}
    passage_ids = {p.id for p in review.passages}
    rules: list[Rule] = []
    for path in sorted(rules_dir.glob("*.yaml")):
        rules.extend(_load_file(path, by_id, passage_ids, functions, types))
    ids = [rule.id for rule in rules]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise CorpusError(f"Rule ids must be unique; repeated: {', '.join(duplicates)}")
    for rule in rules:
        unknown = set(rule.overrides) - set(ids)
        if unknown:
            raise CorpusError(f"Rule {rule.id} overrides unknown rules: {', '.join(sorted(unknown))}")
    return tuple(sorted(rules, key=lambda r: (-r.priority, r.id)))


def _load_file(path: Path, cards: dict[str, StudyCard], passages: set[str],
               functions: TemplateFunctions, types: ConditionTypes) -> list[Rule]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise CorpusError(f"Rules file {path.name} is not valid YAML text: {exc}") from None
    if not isinstance(data, list):
        raise CorpusError(f"Rules file {path.name} must be a list of rules.")
    rules = []
    for number, entry in enumerate(data, start=1):
        rule_id = entry.get("id", f"#{number}") if isinstance(entry, dict) else f"#{number}"
        try:
            rule = Rule.model_validate(entry)
            rule = _checked(rule, cards, passages, functions, types)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(p) for p in error["loc"])
            raise CorpusError(f"Rules file {path.name}, rule {rule_id}: {where}: {error['msg']}") from None
        except (ValueError, TemplateError) as exc:
            raise CorpusError(f"Rules file {path.name}, rule {rule_id}: {exc}") from None
        rules.append(rule)
    return rules


def _checked(rule: Rule, cards: dict[str, StudyCard], passages: set[str], functions: TemplateFunctions,
             types: ConditionTypes) -> Rule:
    check_conditions(rule.when, types, "when")
    if bool(rule.recommend) == bool(rule.not_covered):
        raise ValueError("a rule either recommends options or says what is not covered, not both or neither")
    for passage in (*rule.passages, *rule.perspectives):
        if passage not in passages:
            raise ValueError(f"passage {passage!r} is not in the review")
    if rule.not_covered:
        render(rule.not_covered, functions)
    options = []
    for number, option in enumerate(rule.recommend):
        where = f"recommend[{number}] ({option.option[:40]})"
        check_conditions(option.when, types, f"{where}.when")
        for card_id in (*option.studies, *option.context):
            if card_id not in cards:
                raise ValueError(f"option {option.option!r} names an unknown study card {card_id!r}")
        for passage in option.passages:
            if passage not in passages:
                raise ValueError(f"passage {passage!r} is not in the review")
        render(option.rationale, functions)
        if option.note:
            render(option.note, functions)
        for index, caveat in enumerate(option.caveats):
            check_conditions(caveat.when, types, f"{where}.caveats[{index}].when")
            render(caveat.text, functions)
        options.append(_with_evidence_level(option, cards))
    return rule.model_copy(update={"recommend": tuple(options)})


def _with_evidence_level(option: OptionSpec, cards: dict[str, StudyCard]) -> OptionSpec:
    """The option's level from its cards: a card it rests on only through a subgroup or an indirect population
    counts at that entry's level, and the rationale says so; the best supporting card sets the level."""
    for card_id, entry_ids in option.limited_evidence.items():
        if card_id not in option.studies:
            raise ValueError(f"option {option.option!r}: limited_evidence names {card_id!r}, which is not among its "
                             f"studies ({', '.join(option.studies) or 'none'})")
        known = {e.id for e in cards[card_id].limited_evidence}
        for entry_id in entry_ids:
            if entry_id not in known:
                raise ValueError(f"option {option.option!r}: study card {card_id!r} has no limited_evidence "
                                 f"{entry_id!r} (known: {', '.join(sorted(known)) or 'none'})")
    _check_rests_on_what_it_cites(option, cards)
    levels: list[EvidenceLevel] = []
    qualifications: list[str] = []
    for card_id in option.studies:
        card = cards[card_id]
        entries = [card.limited(e) for e in option.limited_evidence.get(card_id, ())]
        if not entries:
            levels.append(card.esmo_level)
            continue
        level = max((e.level for e in entries), key=EVIDENCE_ORDER.index)
        levels.append(level)
        whys = "; ".join(e.why.strip().rstrip(".") for e in entries)
        qualifications.append(f"{card.name} supports this at evidence level {level}, not at its own level "
                              f"{card.esmo_level}: {whys}.")
    level = min(levels, key=EVIDENCE_ORDER.index, default="V")
    rationale = option.rationale
    if qualifications:  # card text is data, never a template
        rationale = f"{rationale.rstrip()} {{% raw %}}{' '.join(qualifications)}{{% endraw %}}"
    return option.model_copy(update={"evidence_level": level, "rationale": rationale})


_RESULT_CALL = re.compile(r"result\(\s*'([^']+)'\s*,\s*'([^']+)'\s*\)")


def cards_quoted(template: str) -> tuple[str, ...]:
    """The study cards whose results a rule's text prints ({{ result('destiny-breast07', 'ORR') }}): what it rests on."""
    return tuple(dict.fromkeys(card_id for card_id, _ in _RESULT_CALL.findall(template)))


def _check_rests_on_what_it_cites(option: OptionSpec, cards: dict[str, StudyCard]) -> None:
    """A rationale that quotes a subgroup's figure from a supporting card must rest on that subgroup: otherwise
    the option would carry the parent trial's level for a subgroup's result."""
    for card_id, measure in _RESULT_CALL.findall(option.rationale):
        card = cards.get(card_id) or next((c for c in cards.values() if c.id.startswith(card_id)), None)
        if card is None or card.id not in option.studies:
            continue
        result = next((r for r in card.results if measure.lower() in r.measure.lower()), None)
        for entry in card.limited_evidence:
            if result and result.measure in entry.results and entry.id not in option.limited_evidence.get(card.id, ()):
                raise ValueError(
                    f"option {option.option!r}: its rationale quotes {card.name}'s {result.measure!r}, which belongs to "
                    f"the card's limited_evidence {entry.id!r} ({entry.kind}, level {entry.level}); rest the option on "
                    f"it (limited_evidence: {{{card.id}: [{entry.id}]}}) or cite it in a note")


# --- typed conditions: what each facet accepts, built from the fact registry ------------------

# The operators that mean something for each kind of facet (decide._test): thresholds only on numbers,
# inclusion only on sets of therapies or topics.
_OPERATORS: dict[str, tuple[str, ...]] = {
    "enum": ("not", "if_unknown"),
    "bool": ("not", "if_unknown"),
    "int": ("gte", "lte", "not", "if_unknown"),
    "set": ("includes", "includes_any", "excludes", "if_unknown"),
}
_KNOWN_OPERATORS = frozenset(op for ops in _OPERATORS.values() for op in ops)


class FacetType:
    """One facet's type: the values a condition may name and the operators that fit it (pydantic-checked)."""

    def __init__(self, name: str, kind: Literal["enum", "bool", "int", "set"], value: Any, describe: str) -> None:
        self.name, self.kind, self.describe = name, kind, describe
        self.value: TypeAdapter[Any] = TypeAdapter(value)
        items = Annotated[list[value], Field(min_length=1)]
        fields: dict[str, Any] = {"if_unknown": (StrictBool, False)}
        if kind == "set":
            fields |= {op: (items | None, None) for op in ("includes", "includes_any", "excludes")}
        else:  # its values are checked one by one, like a plain condition's, for a message naming the bad one
            fields["not_"] = (Any, Field(None, alias="not"))
        if kind == "int":
            fields |= {"gte": (StrictInt | None, None), "lte": (StrictInt | None, None)}
        self.operators: type[BaseModel] = create_model(
            f"Condition_{name.replace('.', '_')}", __config__=ConfigDict(extra="forbid", strict=True), **fields)


ConditionTypes = dict[str, FacetType]


def condition_types(registry: Registry) -> ConditionTypes:
    """Every facet's type: scalars from the registry's typed values, sets from the therapy and topic names."""
    types: ConditionTypes = {}
    for name in _SCALARS:
        try:
            fact = registry.fact(name)
        except KeyError:
            raise CorpusError(f"facts.yaml has no type for the rule facet {name!r}") from None
        if fact.type == "enum":
            values = cast(Any, Literal).__getitem__(fact.values)
            types[name] = FacetType(name, "enum", values, f"one of {', '.join(fact.values)}")
        elif fact.type == "int":
            types[name] = FacetType(name, "int", StrictInt, "a whole number")
        else:
            types[name] = FacetType(name, "bool", StrictBool, "true or false")
    therapies = ", ".join(Therapy.__args__)  # type: ignore[attr-defined]
    for name in ("prior", "failed", "progressed_on", "current"):
        types[name] = FacetType(name, "set", Therapy, f"therapy names ({therapies})")
    types["topic"] = FacetType("topic", "set", Topic, f"topics ({', '.join(Topic.__args__)})")  # type: ignore[attr-defined]
    for marker in (*_MARKERS, "any"):
        types[f"biomarker.{marker}"] = FacetType(f"biomarker.{marker}", "bool", StrictBool, "true or false")
    return types


def check_conditions(conditions: dict[str, Any], types: ConditionTypes, where: str = "when") -> None:
    """Refuse, naming the place and the allowed values, a condition that could never hold or would fail at run time:
    an unknown facet, a value outside the facet's type, an operator that does not fit it, a wrong operand type."""
    if not isinstance(conditions, dict):
        raise ValueError(f"{where}: conditions are a mapping of facet to condition")
    for name, condition in conditions.items():
        here = f"{where}.{name}"
        if name == "any":
            if not isinstance(condition, list) or not condition or not all(isinstance(c, dict) for c in condition):
                raise ValueError(f"{here}: 'any' takes a non-empty list of condition mappings")
            for number, alternative in enumerate(condition):
                check_conditions(alternative, types, f"{here}[{number}]")
            continue
        if name not in types:
            raise ValueError(f"{here}: condition on unknown fact {name!r} (known: {', '.join((*types, 'any'))})")
        _check_condition(types[name], condition, here)


def _check_condition(facet: FacetType, condition: object, where: str) -> None:
    if isinstance(condition, dict):
        unknown = sorted(set(condition) - _KNOWN_OPERATORS)
        if unknown:
            raise ValueError(f"{where}: unknown operators {', '.join(map(repr, unknown))} "
                             f"(operators for {facet.name}: {', '.join(_OPERATORS[facet.kind])})")
        unfit = sorted(set(condition) - set(_OPERATORS[facet.kind]))
        if unfit:
            raise ValueError(f"{where}: operator {', '.join(map(repr, unfit))} does not fit {facet.name}, which takes "
                             f"{facet.describe}; its operators: {', '.join(_OPERATORS[facet.kind])}")
        if not set(condition) - {"if_unknown"}:
            raise ValueError(f"{where}: a condition mapping needs an operator besides if_unknown "
                             f"({', '.join(_OPERATORS[facet.kind])})")
        _validated(facet, facet.operators, condition, where)
        if "not" in condition:
            _check_values(facet, condition["not"], f"{where}.not")
        if isinstance(condition.get("gte"), int) and isinstance(condition.get("lte"), int) \
                and condition["gte"] > condition["lte"]:
            raise ValueError(f"{where}: gte {condition['gte']} above lte {condition['lte']} never holds")
        return
    if facet.kind == "set":
        raise ValueError(f"{where}: {facet.name} is a set of {facet.describe}; test it with "
                         f"{', '.join(o for o in _OPERATORS['set'] if o != 'if_unknown')}, e.g. {{includes: [...]}}")
    _check_values(facet, condition, where)


def _check_values(facet: FacetType, condition: object, where: str) -> None:
    values = condition if isinstance(condition, list) else [condition]
    if not values:
        raise ValueError(f"{where}: an empty list of values never holds")
    for value in values:
        if value is not None:  # null: holds while the fact was never said
            _validated(facet, facet.value, value, where)


def _validated(facet: FacetType, schema: TypeAdapter[Any] | type[BaseModel], data: object, where: str) -> None:
    try:
        if isinstance(schema, TypeAdapter):
            schema.validate_python(data)
        else:
            schema.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        place = ".".join(str(p) for p in (where, *error["loc"]) if p != "not_")
        raise ValueError(f"{place}: {error['input']!r} is not allowed: {facet.name} takes {facet.describe} "
                         f"({error['msg']})") from None


_ENVIRONMENT = Environment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


def render(template: str, functions: TemplateFunctions) -> str:
    return _ENVIRONMENT.from_string(template).render(**functions).strip()


# --- the engine -----------------------------------------------------------------------------

Outcome = Literal[True, False] | None  # None: a fact it needs is unknown


def evaluate(conditions: dict[str, Any], facts: PatientFacts) -> tuple[Outcome, tuple[str, ...]]:
    """Whether all conditions hold; None with the unknown facets when that cannot be told yet."""
    missing: list[str] = []
    for name, condition in conditions.items():
        if name == "any":
            outcomes = [evaluate(alternative, facts) for alternative in condition]
            if any(o is True for o, _ in outcomes):
                continue
            unknown = [m for o, names in outcomes if o is None for m in names]
            if not unknown:
                return False, ()
            missing.extend(unknown)
            continue
        outcome = _test(condition, facet(facts, name), name)
        if outcome is False:
            return False, ()
        if outcome is None:
            missing.append(name)
    return (None, tuple(missing)) if missing else (True, ())


def _test(condition: Any, value: object, name: str) -> Outcome:
    if isinstance(condition, dict):
        if value is _UNKNOWN:
            return True if condition.get("if_unknown") else None
        if isinstance(value, frozenset):
            if not set(condition.get("includes", ())) <= value:
                return False
            if "includes_any" in condition and not set(condition["includes_any"]) & value:
                return False
            return not set(condition.get("excludes", ())) & value
        if "not" in condition:
            banned = condition["not"] if isinstance(condition["not"], list) else [condition["not"]]
            return value not in banned
        if ("gte" in condition or "lte" in condition) and value is None:
            return False  # a number never given does not meet a threshold
        if "gte" in condition and (value is None or value < condition["gte"]):
            return False
        return not ("lte" in condition and (value is None or value > condition["lte"]))
    allowed = condition if isinstance(condition, list) else [condition]
    if value is _UNKNOWN:
        return True if None in allowed else None
    if value in allowed:
        return True
    if isinstance(value, str) and _REFINES.get(name, {}).get(value, set()) & set(allowed):
        return None  # "HER2-negative" where the rule needs "HER2-low": ask which
    return False


def decide(facts: PatientFacts, rules: Sequence[Rule]) -> Decision:
    """Same facts and rules, same Decision."""
    fired: list[Rule] = []
    pending: list[tuple[Rule, tuple[str, ...]]] = []
    for rule in rules:
        outcome, missing = evaluate(rule.when, facts)
        if outcome is True:
            fired.append(rule)
        elif outcome is None:
            pending.append((rule, missing))
    overridden = {rule_id for rule in fired for rule_id in rule.overrides}
    fired = [rule for rule in fired if rule.id not in overridden]
    if not fired:
        missing = _ordered(name for _, names in pending for name in names)
        # whether she has had treatment for metastases refines what she has had: asked by "which treatments has she
        # had?", and never asked once a treatment is known ("progressed on an ADC")
        missing = tuple(name for name in missing if name != "treatment_naive")
        return Decision(missing=missing)
    # a rule that would replace the answer waits on a fact said too coarsely to decide ("brain mets" without active
    # or stable): ask which, rather than answer as if the more specific case did not apply
    coarse = [name for rule, names in pending if fired[0].id in rule.overrides for name in names if _coarse(facts, name)]
    if coarse:
        return Decision(missing=_ordered(coarse))
    if fired[0].not_covered:
        return Decision(rule_ids=(fired[0].id,), not_covered=fired[0].id)
    fired = [fired[0]] if fired[0].exclusive else [rule for rule in fired if not rule.not_covered and not rule.exclusive]
    return Decision(rule_ids=tuple(rule.id for rule in fired), options=_merge(fired, facts))


_ASK_ORDER = ("her2", "hr", "setting", "pcr", "prior", "progressed_on", "brain_mets", "line")


def _ordered(names: Iterable[str]) -> tuple[str, ...]:
    unique = set(names)
    return tuple(sorted(unique, key=lambda n: (_ASK_ORDER.index(n) if n in _ASK_ORDER else 99, n)))


def _merge(rules: Sequence[Rule], facts: PatientFacts) -> tuple[ChosenOption, ...]:
    """The first rule's options in order, then the others'; only the first rule may prefer."""
    chosen: list[ChosenOption] = []
    seen: set[str] = set()
    for number, rule in enumerate(rules):
        for option in rule.recommend:
            if option.when and evaluate(option.when, facts)[0] is not True:
                continue
            key = option.option.lower()
            if key in seen:
                continue
            seen.add(key)
            role = option.role if number == 0 or option.role != "preferred" else "alternative"
            chosen.append(ChosenOption(spec=option, role=role, rule_id=rule.id))
    # Within the first rule, the first applicable option leads when the preferred ones did not apply
    # ("elacestrant for ESR1" or "capivasertib for AKT", whichever the tumour has).
    first = [i for i, c in enumerate(chosen) if rules and c.rule_id == rules[0].id]
    if first and not any(chosen[i].role == "preferred" for i in first) and any(o.role == "preferred" for o in rules[0].recommend):
        chosen[first[0]] = chosen[first[0]].model_copy(update={"role": "preferred"})
    return tuple(chosen)


# --- what would change the decision ----------------------------------------------------------

_ALTERNATIVES: dict[str, tuple[object, ...]] = {
    "her2": ("positive", "low", "ultralow", "zero"),
    "hr": ("positive", "negative"),
    "pcr": (True, False),
    "brain_mets": ("active", "stable", "none"),
    "access_limited": (True, False),
    "oligoprogression": (True, False),
}


def counterfactuals(facts: PatientFacts, rules: Sequence[Rule], decision: Decision,
                    limit: int = 4) -> tuple[Change, ...]:
    """For the facts that decided, the other values that would change the preferred option."""
    current = decision.preferred
    if current is None:
        return ()
    decisive: list[str] = []
    for rule_id in decision.rule_ids[:1]:
        rule = next(r for r in rules if r.id == rule_id)
        decisive.extend(rule.when)
    for name in ("her2", "hr", "brain_mets", "access_limited"):
        if name not in decisive:
            decisive.append(name)
    changes: list[Change] = []
    for name in decisive:
        if name in _ALTERNATIVES:
            now = facet(facts, name)
            for value in _ALTERNATIVES[name]:
                if value == now or now is _UNKNOWN:
                    continue
                change = _try(facts, rules, current, name, now, value, _with_scalar(facts, name, value),
                              frozenset(e.option for e in decision.excluded))
                if change:
                    changes.append(change)
                    break
        elif name == "prior":
            changes.extend(_prior_changes(facts, rules, current, decision))
        if len(changes) >= limit:
            break
    return tuple(changes[:limit])


def _lead(option: str) -> str | None:
    """The drug an option is named for: the one its text names first ("tucatinib plus trastuzumab ..."); a class
    ("endocrine therapy chosen by ...") names no drug."""
    lower = option.lower()
    drugs = set(Therapy.__args__) - DRUG_CLASSES  # type: ignore[attr-defined]
    found = [(lower.find(t), -len(t), t) for t in drugs if t in lower]
    return min(found)[2] if found else None


def _try(facts: PatientFacts, rules: Sequence[Rule], current: ChosenOption, name: str, now: object,
         value: object, changed: PatientFacts, excluded: frozenset[str] = frozenset()) -> Change | None:
    other = decide(changed, rules)
    # a regimen her history rules out (progressed on it, or left it behind) is not what a change would bring; what is
    # declined or unavailable may be the very fact that changes ("if there were no cost or access limits")
    metastatic = facts.value("setting") == "metastatic"
    barred = {t.therapy for t in facts.therapies if metastatic and not t.implied and (
        t.status == "progressed" or (t.status == "received" and not t.current))}
    ranked = sorted(other.options, key=lambda o: o.role != "preferred")
    preferred = next((o for o in ranked if o.spec.option not in excluded
                      and (o.spec.beyond_progression or _lead(o.spec.option) not in barred)), None)
    if preferred is None or preferred.spec.option == current.spec.option:
        return None  # no change, or only a question or a gap in the review
    return Change(fact=name, now=_show(now), alternative=_show(value), preferred=preferred.spec.option,
                  condition=_condition(name, now, value))


def _prior_changes(facts: PatientFacts, rules: Sequence[Rule], current: ChosenOption,
                   decision: Decision) -> list[Change]:
    prior = facts.prior or frozenset()
    changes = []
    for therapy in ("trastuzumab deruxtecan", "chemotherapy", "cdk4/6 inhibitor", "trastuzumab emtansine"):
        if therapy in prior:
            continue
        added = TherapyFact(therapy=therapy, received=True, progressed=True, current=False,
                            words="(hypothetical)", turn=0)
        changed = facts.model_copy(update={"therapies": (*facts.therapies, added)})
        change = _try(facts, rules, current, "prior", "not received", f"progressed on {therapy}", changed,
                      frozenset(e.option for e in decision.excluded))
        if change:
            changes.append(change.model_copy(update={
                "fact": f"prior {therapy}", "condition": f"if the disease had already progressed on {therapy}"}))
            break
    return changes


_WORDS = {
    ("her2", "positive"): "HER2-positive", ("her2", "low"): "HER2-low", ("her2", "ultralow"): "HER2-ultralow",
    ("her2", "zero"): "HER2-0", ("hr", "positive"): "hormone-receptor positive",
    ("hr", "negative"): "hormone-receptor negative", ("brain_mets", "active"): "active brain metastases",
    ("brain_mets", "stable"): "stable brain metastases", ("brain_mets", "none"): "no brain metastases",
    ("brain_mets", "present"): "brain metastases", ("brain_mets", "treated"): "treated brain metastases",
    ("brain_mets", "leptomeningeal"): "leptomeningeal disease",
    ("pcr", True): "a pCR", ("pcr", False): "residual disease (no pCR)",
    ("access_limited", True): "cost or access limits", ("access_limited", False): "no cost or access limits",
    ("oligoprogression", True): "oligoprogression", ("oligoprogression", False): "no oligoprogression",
}


def _condition(name: str, now: object, value: object) -> str:
    """'if the tumour were HER2-0 rather than HER2-low'."""
    def words(v: object) -> str:
        return _WORDS.get((name, v), str(v))

    if name in {"her2", "hr"}:
        return f"if the tumour were {words(value)} rather than {words(now)}"
    return f"if there were {words(value)} rather than {words(now)}"


def _with_scalar(facts: PatientFacts, name: str, value: object) -> PatientFacts:
    return facts.model_copy(update={name: Fact(value=value, words="(hypothetical)", turn=0)})


def _show(value: object) -> str:
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return str(value)


# --- constraints: what takes an option out of the preferred slot for this patient -------------


class ExposureAction(Frozen):
    action: Literal["not_offered", "review"]
    reason: str


class SafetyState(Frozen):
    id: str
    label: str  # "cardiac dysfunction": the reason shown beside an option it moves
    fact: str
    when: list[Any] | dict[str, float]
    drugs: list[str] | Literal["all"]
    action: Literal["not_offered", "review"]
    warning: str  # template: {{ words }}, result(card, measure)


class Constraints(Frozen):
    exposures: dict[str, ExposureAction]
    states: tuple[SafetyState, ...]
    # a class of drugs -> its members among the therapies: "no chemotherapy" (declined, contraindicated, not available)
    # rules out a regimen with capecitabine, "IO contraindicated" one with a PD-1 inhibitor
    classes: dict[str, tuple[str, ...]] = Field(default_factory=dict)


def load_constraints(path: Path, functions: TemplateFunctions, registry: Registry | None = None) -> Constraints:
    """Constraints checked against the facts, their types (the registry beside the file by default) and the
    exposure statuses; every warning renders."""
    try:
        constraints = Constraints.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise CorpusError(f"The constraints are missing: {path}") from None
    except (yaml.YAMLError, ValidationError) as exc:
        raise CorpusError(f"{path.name} breaks its schema: {exc}") from None
    statuses = set(Exposure.__args__)  # type: ignore[attr-defined]
    for status in constraints.exposures:
        if status not in statuses:
            raise CorpusError(f"{path.name}: exposure {status!r} is not a status (known: {', '.join(sorted(statuses))})")
    therapies = set(Therapy.__args__)  # type: ignore[attr-defined]
    for name, members in constraints.classes.items():
        unknown = sorted(({name} | set(members)) - therapies)
        if unknown:
            raise CorpusError(f"{path.name}, classes.{name}: unknown therapies {unknown}")
    types = condition_types(registry or load_registry(path.parent))
    for state in constraints.states:
        if state.fact not in _SCALARS:
            raise CorpusError(f"{path.name}, state {state.id}: unknown fact {state.fact!r}")
        try:
            _check_state_values(state, types[state.fact])
        except ValueError as exc:
            raise CorpusError(f"{path.name}, state {state.id}: {exc}") from None
        if isinstance(state.drugs, list) and set(state.drugs) - therapies:
            raise CorpusError(f"{path.name}, state {state.id}: unknown drugs {sorted(set(state.drugs) - therapies)}")
        try:
            render(state.warning, {**functions, "words": ""})
        except TemplateError as exc:
            raise CorpusError(f"{path.name}, state {state.id}: {exc}") from None
    return constraints


def _check_state_values(state: SafetyState, facet: FacetType) -> None:
    if isinstance(state.when, dict):
        if facet.kind != "int":
            raise ValueError(f"when: thresholds ({', '.join(state.when)}) do not fit {facet.name}, which takes "
                             f"{facet.describe}")
        unknown = set(state.when) - {"lt", "gte"}
        if unknown:
            raise ValueError(f"when: unknown operators {', '.join(sorted(unknown))} (lt, gte)")
        return
    if not state.when:
        raise ValueError("when: an empty list of values never holds")
    for value in state.when:
        _validated(facet, facet.value, value, "when")


def _state_holds(state: SafetyState, value: object) -> bool:
    if isinstance(state.when, dict):
        if not isinstance(value, int | float) or isinstance(value, bool):
            return False
        return all((value < bound) if op == "lt" else (value >= bound) for op, bound in state.when.items())
    return value in state.when


def constrain(decision: Decision, facts: PatientFacts, constraints: Constraints,
              drugs_of: Callable[[str], frozenset[str]], functions: TemplateFunctions) -> Decision:
    """The decision for this patient: options her facts rule out move to `excluded` with the clinician's
    words, the next option takes the preferred slot, and safety states become warnings. Pure, like decide."""
    if not decision.options:
        return decision
    by_drug: dict[str, list[TherapyFact]] = {}
    for therapy in facts.therapies:
        if not therapy.implied:  # "PD on paclitaxel" rules out paclitaxel, not every chemotherapy
            by_drug.setdefault(therapy.therapy, []).append(therapy)
    state_drugs = _states(facts, constraints)
    warnings = [render(state.warning, {**functions, "words": fact.words}) for state, fact in state_drugs]
    kept: list[ChosenOption] = []
    excluded: list[Excluded] = []
    def out(chosen: ChosenOption, named: frozenset[str]) -> tuple[str, str, bool] | None:
        return _excluded(chosen, named, by_drug, constraints, state_drugs, facts)

    for chosen in decision.options:
        named = drugs_of(chosen.spec.option)
        reason = out(chosen, named)
        examples = _examples(chosen.spec.option, drugs_of)
        if reason is None and examples and not named - IMPLIED_CLASSES:
            # "another ADC (e.g. sacituzumab govitecan)": a class stands for its examples; when every example is out
            # of her reach (progressed, not available, declined), the option names nothing she can have
            reasons = [out(chosen, frozenset({drug})) for drug in sorted(examples)]
            if all(r is not None for r in reasons):
                reason = reasons[0]
        items = _alternatives(chosen.spec.option, drugs_of)
        if reason is not None and items and out(chosen, named - frozenset().union(*(d for _, d in items))) is None:
            # "chemotherapy with recognised activity (anthracycline, eribulin or vinorelbine)" with anthracyclines ruled
            # out: the option stands for the others, and the one ruled out is named as not offered
            ruled = [(text, out(chosen, drugs)) for text, drugs in items]
            if any(r is None for _, r in ruled):
                kept.append(chosen)
                excluded.extend(Excluded(option=text, reason=r[0], words=r[1], review=r[2]) for text, r in ruled if r)
                continue
        if reason is None:
            kept.append(chosen)
        else:
            excluded.append(Excluded(option=chosen.spec.option, reason=reason[0], words=reason[1], review=reason[2]))
    if excluded and kept and not any(o.role == "preferred" for o in kept) and \
            any(o.role == "preferred" for o in decision.options):
        kept[0] = kept[0].model_copy(update={"role": "preferred"})  # the review's next option takes its place
    return decision.model_copy(update={"options": tuple(kept), "excluded": tuple(excluded), "warnings": tuple(warnings)})


def decide_for(facts: PatientFacts, rules: Sequence[Rule], constraints: Constraints,
               drugs_of: Callable[[str], frozenset[str]], functions: TemplateFunctions) -> Decision:
    """The options for this patient. When her facts put every option out of reach (not available, declined,
    contraindicated: not a progression, not a specialist review), the options the review gives after those
    drugs take their place, as they would after a progression on them; the decision says whose place."""
    decision = constrain(decide(facts, rules), facts, constraints, drugs_of, functions)
    if decision.options or not decision.excluded:
        return decision
    barred = {t.therapy for t in facts.therapies if not t.implied and t.status in constraints.exposures
              and t.status not in _REGIMEN_STATUSES and constraints.exposures[t.status].action != "review"}
    whole = [drugs_of(e.option) - IMPLIED_CLASSES for e in decision.excluded]
    if any(e.review or not named or not named <= barred for e, named in zip(decision.excluded, whole, strict=True)):
        return decision  # a partner still within reach ("taxane plus a PD-1 inhibitor"), or a review to be had
    out = tuple(sorted(set().union(*whole)))
    moved = tuple(TherapyFact(therapy=drug, received=True, progressed=True, current=False, words="(in its place)",
                              turn=0, status="progressed", implied=True) for drug in out)
    after = constrain(decide(facts.model_copy(update={"therapies": (*facts.therapies, *moved)}), rules), facts,
                      constraints, drugs_of, functions)
    if not after.options:
        return decision
    options = list(after.options)
    if not any(o.role == "preferred" for o in options):
        options[0] = options[0].model_copy(update={"role": "preferred"})
    excluded = (*decision.excluded, *(e for e in after.excluded if e.option not in {x.option for x in decision.excluded}))
    return after.model_copy(update={"options": tuple(options), "excluded": excluded, "instead_of": out,
                                    "warnings": tuple(dict.fromkeys((*decision.warnings, *after.warnings)))})


# statuses that rule out a regimen, not each drug in it: "PD on THP" is not "no trastuzumab ever again"
_REGIMEN_STATUSES = frozenset({"progressed", "received"})
_CLAUSE = re.compile(r"[^;]+")


def said_with_reason(therapy: TherapyFact, limit: int = 200) -> str:
    """The clinician's words for a drug ruled out, with the reason she gave: "she has active lupus nephritis - IO
    contraindicated per rheum", not just "IO". Verbatim: the sentence it was read from, or within a long sentence
    the clause that names it; the drug's own words when the sentence is not known."""
    sentence = therapy.sentence.strip()
    if not sentence or therapy.words.lower() not in sentence.lower():
        return therapy.words
    if len(sentence) <= limit:
        return sentence
    at = sentence.lower().find(therapy.words.lower())
    clause = next((m.group(0).strip() for m in _CLAUSE.finditer(sentence) if m.start() <= at < m.end()), "")
    return clause if therapy.words.lower() in clause.lower() and len(clause) <= limit else therapy.words


_EXAMPLES = re.compile(r"\(\s*e\.?g\.?,?\s*([^)]*)\)", re.I)
_CHOICES = re.compile(r"\((?!\s*e\.?g\b)([^()]*\bor\b[^()]*)\)", re.I)


def _alternatives(option: str, drugs_of: Callable[[str], frozenset[str]]) -> tuple[tuple[str, frozenset[str]], ...]:
    """The drugs an option offers one of: "(anthracycline, eribulin or vinorelbine)" -> each with what it names;
    empty unless every choice names a drug."""
    found = _CHOICES.search(option)
    if not found:
        return ()
    choices = [c.strip() for c in re.split(r",|\bor\b", found.group(1)) if c.strip()]
    named = tuple((choice, drugs_of(choice)) for choice in choices)
    return named if len(named) > 1 and all(drugs for _, drugs in named) else ()


def _examples(option: str, drugs_of: Callable[[str], frozenset[str]]) -> frozenset[str]:
    """The drugs an option gives as examples: "(e.g. sacituzumab govitecan)"."""
    found = _EXAMPLES.search(option)
    return drugs_of(found.group(1)) - IMPLIED_CLASSES if found else frozenset()


def _states(facts: PatientFacts, constraints: Constraints) -> list[tuple[SafetyState, Fact]]:
    states = []
    for state in constraints.states:
        fact = getattr(facts, state.fact)
        if isinstance(fact, Fact) and _state_holds(state, fact.value):
            states.append((state, fact))
    return states


def safety_warnings(facts: PatientFacts, constraints: Constraints, functions: TemplateFunctions) -> tuple[str, ...]:
    """The warnings of the safety states the clinician wrote, for answers that give no options (a dose asked):
    never silent about them."""
    return tuple(render(state.warning, {**functions, "words": fact.words}) for state, fact in _states(facts, constraints))


def _excluded(chosen: ChosenOption, named: frozenset[str], by_drug: dict[str, list[TherapyFact]],
              constraints: Constraints, states: list[tuple[SafetyState, Fact]],
              facts: PatientFacts) -> tuple[str, str, bool] | None:
    classes = {name for name, members in constraints.classes.items() if named & set(members)}
    for drug in sorted(named | classes):  # a drug, or a class it belongs to ("no chemo" for capecitabine)
        for therapy in by_drug.get(drug, ()):
            rule = constraints.exposures.get(therapy.status)
            if rule is None or therapy.status in _REGIMEN_STATUSES:
                continue
            return f"{rule.reason}", said_with_reason(therapy), rule.action == "review"
    progressed = {d for d in named if any(t.status == "progressed" for t in by_drug.get(d, ()))}
    rule = constraints.exposures.get("progressed")
    metastatic = facts.value("setting") == "metastatic"  # in early disease "after TCHP" is a completed course
    # the regimen failed when every drug it names did; a class is the partner ("capivasertib plus fulvestrant"),
    # and an option of classes alone ("chemotherapy") means another regimen of that class
    specific = named - IMPLIED_CLASSES
    # ... or when the drug it is named for did: "tucatinib plus trastuzumab and capecitabine" after "PD on the tucatinib
    # combo" (capecitabine unnamed) is the same failed regimen; trastuzumab and capecitabine are its partners
    option = chosen.spec.option.lower()
    lead = min(specific, key=lambda d: option.find(d) if d in option else len(option), default=None)
    failed = specific <= progressed or (lead is not None and lead in option and lead in progressed)
    if rule and specific and metastatic and failed and not chosen.spec.beyond_progression:
        first = [lead] if lead in progressed else sorted(progressed)  # the words that name the failed drug itself
        words = next(t.words for d in [*first, *sorted(progressed)] for t in by_drug[d] if t.status == "progressed")
        return rule.reason, words, rule.action == "review"
    # a regimen already given for metastatic disease and left behind ("prior THP -> T-DXd -> tucatinib/H/cape"): the
    # drug it is named for was received and she is no longer on it, so she has moved on from it, as the rules' `failed`
    # reads it; offered again only where the review supports continuing it
    moved = constraints.exposures.get("received")
    # ... one line of a history: she had another regimen too (a drug named alone with its partners, "pyrotinib + cape +
    # WBRT - reasonable?", is more likely asked about than left behind)
    history = any(t.received for drug, mentions in by_drug.items() if drug not in named for t in mentions)
    if moved and metastatic and history and lead is not None and lead in option and not chosen.spec.beyond_progression:
        given = [t for t in by_drug.get(lead, ()) if t.status == "received" and t.received and not t.current]
        if given and not any(t.current for t in by_drug.get(lead, ())):
            return moved.reason, given[0].words, moved.action == "review"
    for toxicity in facts.toxicities:
        if toxicity.value in named:
            return "a prior severe toxicity on it", toxicity.words, True
    for state, fact in states:
        if state.drugs == "all" or set(state.drugs) & named:
            return f"because of {state.label}", fact.words, state.action == "review"
    return None
