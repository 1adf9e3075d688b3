"""The fact-extraction benchmark: precision, recall and F1 per fact type and per exposure status.

Items are labelled notes (evals/facts/*.jsonl, the format of docs/fact-types.md); a reading is turned
into the same labels, and each (type, value) pair counts as one prediction. Drugs are compared per
drug name and status, biomarkers per marker and status.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

from assistant.types import Fact, PatientFacts

Labels = set[tuple[str, str]]  # (kind, value): ("her2", "low"), ("drug:capecitabine", "contraindicated")

# the assistant's therapy names -> the labels' drug names (the assistant folds some agents into classes)
_DRUG_NAMES: dict[str, str | None] = {"tyrosine kinase inhibitor": None, "adc": None}
_BRAIN = {"present": "unspecified"}


def labels_of_item(item: dict[str, object]) -> Labels:
    out: Labels = set()
    for name, value in dict(item.get("facts") or {}).items():  # type: ignore[call-overload]
        out.add((name, _norm(value)))
    for marker, status in dict(item.get("biomarkers") or {}).items():  # type: ignore[call-overload]
        out.add((f"biomarker:{marker}", str(status)))
    for drug, status in dict(item.get("drugs") or {}).items():  # type: ignore[call-overload]
        out.add((f"drug:{drug}", str(status)))
    for drug in item.get("severe_toxicity") or ():  # type: ignore[attr-defined]
        out.add(("severe_toxicity", str(drug)))
    return out


# facts the reader infers from a drug rather than reads ("PD on Kadcyla": HER2-positive, metastatic) are defaults the
# decision may use, not statements the note makes: their words are the drug's (as route.stated tells them apart)
_INFERABLE = frozenset({"her2", "hr", "setting"})


def labels_of_facts(facts: PatientFacts) -> Labels:
    out: Labels = set()
    drug_words = {t.words for t in facts.therapies}
    for field in PatientFacts.model_fields:
        value = getattr(facts, field)
        if isinstance(value, Fact) and field in _INFERABLE and value.words in drug_words:
            continue
        # treatment_naive read from the line asked ("HER2+ MBC, 1L") counts like any fact: labellers disagree on it
        # (facts_blind4 and 6 leave it out, facts_blind7 labels it), and leaving it out of the score hid the latter
        if isinstance(value, Fact):
            shown = _norm(value.value)
            out.add((field, _BRAIN.get(shown, shown) if field == "brain_mets" else shown))
    for marker in facts.biomarkers:
        state = getattr(marker, "status", "positive" if marker.positive else "negative")
        out.add((f"biomarker:{marker.marker}", state))
    for therapy in facts.therapies:
        name = _DRUG_NAMES.get(therapy.therapy, therapy.therapy)
        if name and not getattr(therapy, "implied", False):
            out.add((f"drug:{name}", status_of(therapy)))
    for toxicity in getattr(facts, "toxicities", ()):
        out.add(("severe_toxicity", str(toxicity.value)))
    return out


def _norm(value: object) -> str:
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return str(value).lower()


def _kind(label: tuple[str, str]) -> str:
    """The row a label counts in: a fact type, a biomarker, or an exposure status."""
    name, value = label
    if name.startswith("drug:"):
        return f"exposure:{value}"
    if name.startswith("biomarker:"):
        return f"biomarker:{value}"
    return name


def score(items: Iterable[dict[str, object]], read: Callable[[str], PatientFacts],
          kinds: set[str] | None = None) -> tuple[dict[str, tuple[int, int, int]], float]:
    """Per row (true positives, false positives, false negatives), and the micro-F1 over rows in `kinds`."""
    counts: dict[str, Counter[str]] = {}
    for item in items:
        gold = labels_of_item(item)
        predicted = labels_of_facts(read(str(item["text"])))
        known = {n for n, _ in gold} | {"her2", "hr", "setting"}
        # a prediction counts only for the kinds this set labels, so an extra fact type is not a fault of the set
        predicted = {p for p in predicted if kinds is None or _kind(p) in kinds or p[0] in known}
        for label in gold | predicted:
            row = counts.setdefault(_kind(label), Counter())
            if label in gold and label in predicted:
                row["tp"] += 1
            elif label in predicted:
                row["fp"] += 1
            else:
                row["fn"] += 1
    table = {k: (c["tp"], c["fp"], c["fn"]) for k, c in sorted(counts.items())}
    tp = sum(t for t, _, _ in table.values())
    fp = sum(f for _, f, _ in table.values())
    fn = sum(n for _, _, n in table.values())
    return table, _f1(tp, fp, fn)


def _f1(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def render(title: str, table: dict[str, tuple[int, int, int]], micro: float,
           other: dict[str, tuple[int, int, int]] | None = None) -> str:
    lines = [f"{title}: micro-F1 {micro:.3f}", "",
             "| row | P | R | F1 | n (gold) |" + (" F1 (old reader) |" if other is not None else ""),
             "|---|---|---|---|---|" + ("---|" if other is not None else "")]
    for kind, (tp, fp, fn) in table.items():
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        row = f"| {kind} | {p:.2f} | {r:.2f} | {_f1(tp, fp, fn):.2f} | {tp + fn} |"
        if other is not None:
            o = other.get(kind)
            row += f" {_f1(*o):.2f} |" if o else " - |"
        lines.append(row)
    return "\n".join(lines)


def load_items(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def exposure_accuracy(items: Iterable[dict[str, object]], read: Callable[[str], PatientFacts]) -> float:
    """Of the drugs the labels name that the reader also found, the share with the right status."""
    right = total = 0
    for item in items:
        gold = dict(item.get("drugs") or {})  # type: ignore[call-overload]
        found: dict[str, str] = {}
        for therapy in read(str(item["text"])).therapies:
            found.setdefault(therapy.therapy, status_of(therapy))
        for drug, status in gold.items():
            if drug in found:
                total += 1
                right += found[drug] == status
    return right / total if total else 0.0


def status_of(therapy: object) -> str:
    """A therapy's exposure status; readers before the registry had only received/progressed/current."""
    status = getattr(therapy, "status", None)
    if status is not None:
        return str(status)
    received, progressed, current = (getattr(therapy, n, False) for n in ("received", "progressed", "current"))
    if not received:
        return "never_received"
    return "progressed" if progressed else "current" if current else "received"
