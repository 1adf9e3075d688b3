"""Write corpus/studies/*.yaml from the team's checked reference (shared/reference/trial-facts.yaml).

Run once per update of the reference: `python scripts/import_trial_facts.py ../shared/reference/trial-facts.yaml`.
It carries only what that file shows as retrieved: any text it marks "(from memory, unverified)" is
cut, leaving "unverified". Names, abbreviations and the drugs each study tested are added from the
table below (the reference mixes drug names into its aliases). Nothing at run time reads shared/.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]

# id -> (match on the reference's name, aliases to add, drugs tested, reference aliases to drop)
ENRICH: dict[str, tuple[str, list[str], list[str]]] = {
    "kristine": ("KRISTINE", ["KRISTINE", "TRIO-021"], ["trastuzumab emtansine", "pertuzumab", "docetaxel", "carboplatin", "trastuzumab"]),
    "katherine": ("KATHERINE", ["KATHERINE"], ["trastuzumab emtansine", "trastuzumab"]),
    "destiny-breast03": ("DESTINY-Breast03", ["DESTINY-Breast03", "DESTINY-Breast 03", "DESTINY Breast 03", "DESTINY-Breast 3", "DESTINY Breast-03", "DB-03", "DB03", "DB 03", "DB-3", "DB3", "NCT03529110"], ["trastuzumab deruxtecan", "trastuzumab emtansine"]),
    "destiny-breast03-post-progression": ("DESTINY-Breast03 post-progression", ["DESTINY-Breast03 post-progression analysis", "DESTINY-Breast03 subsequent-therapy analysis"], ["trastuzumab emtansine", "tyrosine kinase inhibitors"]),
    "li-2021-pyrotinib-vs-tdm1": ("Pyrotinib vs T-DM1", ["Li et al 2021", "Li 2021", "Li F 2021", "Li F et al. 2021", "pyrotinib versus T-DM1 real-world study"], ["pyrotinib", "trastuzumab emtansine"]),
    "destiny-breast04": ("DESTINY-Breast04", ["DESTINY-Breast04", "DESTINY-Breast 04", "DESTINY-breast 04", "DESTINY Breast 04", "DESTINY-Breast 4", "DB-04", "DB04", "DB 04", "DB-4", "DB4", "NCT03734029"], ["trastuzumab deruxtecan"]),
    "ascent": ("ASCENT", ["ASCENT", "NCT02574455", "IMMU-132-05"], ["sacituzumab govitecan"]),
    "tropics-02": ("TROPiCS-02", ["TROPiCS-02", "TROPICs-02", "TROPICS-02", "TROPICS02", "TROPiCS 02", "TROPICS 2", "NCT03901339"], ["sacituzumab govitecan"]),
    "ji-2023-novel-adcs-vs-tdm1": ("Novel anti-HER2 ADCs", ["Ji et al 2023", "Ji et al", "Ji 2023", "Ji C et al. 2023", "novel anti-HER2 ADC real-world study"], ["trastuzumab deruxtecan", "trastuzumab emtansine"]),
    "kate2": ("KATE2", ["KATE2", "KATE-2", "KATE 2", "NCT02924883"], ["trastuzumab emtansine", "atezolizumab"]),
    "destiny-breast07": ("DESTINY-Breast07", ["DESTINY-Breast07", "DESTINY-Breast 07", "DESTINY Breast 07", "DB-07", "DB07", "DB 07", "DB-7", "DB7", "NCT04538742"], ["trastuzumab deruxtecan", "pertuzumab"]),
    "destiny-breast02": ("DESTINY-Breast02", ["DESTINY-Breast02", "DESTINY-Breast 02", "Destiny Breast-02", "DESTINY Breast 02", "DB-02", "DB02", "DB 02", "DB-2", "DB2", "NCT03523585"], ["trastuzumab deruxtecan", "capecitabine", "trastuzumab", "lapatinib"]),
    "her2climb": ("HER2CLIMB", ["HER2CLIMB", "HER2-CLIMB", "HER2 CLIMB", "NCT02614794"], ["tucatinib", "trastuzumab", "capecitabine"]),
    "nala": ("NALA", ["NALA", "NCT01808573"], ["neratinib", "lapatinib", "capecitabine"]),
    "sophia": ("SOPHIA", ["SOPHIA", "NCT02492711"], ["margetuximab", "trastuzumab"]),
    "daisy": ("DAISY", ["DAISY", "NCT04132960"], ["trastuzumab deruxtecan"]),
    "destiny-breast06": ("DESTINY-Breast06", ["DESTINY-Breast06", "DESTINY-Breast 06", "DESTINY-breast 06", "DESTINY Breast 06", "DB-06", "DB06", "DB 06", "DB-6", "DB6", "NCT04494425"], ["trastuzumab deruxtecan"]),
    "md-anderson-real-world": ("MD Anderson", ["MD Anderson", "MDACC", "Raghavendra", "MD Anderson real-world study", "Raghavendra SABCS 2023"], ["trastuzumab deruxtecan", "sacituzumab govitecan"]),
    "bylieve": ("BYLieve", ["BYLieve", "BYLIEVE", "NCT03056755"], ["alpelisib", "fulvestrant"]),
    "capitello-291": ("CAPItello-291", ["CAPItello-291", "CAPItello 291", "CAPItello291", "NCT04305496"], ["capivasertib", "fulvestrant"]),
    "maintain": ("MAINTAIN", ["MAINTAIN", "MANTAIN", "NCT02632045"], ["ribociclib", "fulvestrant", "exemestane"]),
    "emerald": ("EMERALD", ["EMERALD", "NCT03778931"], ["elacestrant"]),
    "olympiad": ("OlympiAD", ["OlympiAD", "NCT02000622"], ["olaparib"]),
    "yuan-2023-abemaciclib-vs-tucidinostat": ("Abemaciclib-based", ["Yuan et al 2023", "Yuan 2023", "Yuan Y et al. 2023", "HDAC inhibitor versus CDK4/6 switch real-world study"], ["abemaciclib", "tucidinostat"]),
    "torchlight": ("TORCHLIGHT", ["TORCHLIGHT", "NCT03777579"], ["toripalimab", "nab-paclitaxel"]),
    "begonia": ("BEGONIA", ["BEGONIA", "BEGONIA arm 7", "BEGONIA cohort 7"], ["datopotamab deruxtecan", "durvalumab"]),
    "skb264-phase2": ("SKB264", ["SKB264 phase 2 study", "KL264-01"], ["SKB264", "sacituzumab tirumotecan", "sac-TMT", "MK-2870"]),
    "debbrah": ("DEBBRAH", ["DEBBRAH", "NCT04420598"], ["trastuzumab deruxtecan"]),
    "tuxedo-1": ("TUXEDO-1", ["TUXEDO-1", "TUXEDO 1", "TUXEDO1", "NCT04752059"], ["trastuzumab deruxtecan"]),
    "destiny-breast12": ("DESTINY-Breast12", ["DESTINY-Breast12", "DESTINY-Breast 12", "DESTINY Breast 12", "DB-12", "DB12", "DB 12", "NCT04739761"], ["trastuzumab deruxtecan"]),
    "permeate": ("PERMEATE", ["PERMEATE", "PERMATE"], ["pyrotinib", "capecitabine"]),
    "yang-2024-brain-rt-pyrotinib": ("Brain radiotherapy", ["Yang et al 2024", "Yang 2024", "Yang Z et al. 2024", "brain radiotherapy with pyrotinib and capecitabine phase 2"], ["pyrotinib", "capecitabine", "brain radiotherapy"]),
    "curb": ("CURB", ["CURB", "Consolidative Use of Radiotherapy to Block oligoprogression"], ["stereotactic body radiotherapy"]),
    "sabr-5": ("SABR-5", ["SABR-5", "SABR 5", "SABR5", "NCT02933242"], ["stereotactic ablative radiotherapy"]),
    "destiny-breast01": ("DESTINY-Breast01", ["DESTINY-Breast01", "DESTINY-Breast 01", "DESTINY Breast 01", "DB-01", "DB01", "DB 01", "DB-1", "DB1", "NCT03248492"], ["trastuzumab deruxtecan"]),
}

_RECOLLECTION = re.compile(r"\s*[;,]?\s*\(?\s*(?:exact values? unverified;\s*)?from memory,? unverified:?[^)]*\)?", re.IGNORECASE)
_RECOLLECTION_SENTENCE = re.compile(r"\s*From memory \(unverified\).*?\.(?=\s|$)", re.IGNORECASE)


def sanitise(value: str) -> str:
    """Cut recollections: 'unverified (from memory, unverified: 18.0%)' -> 'unverified'."""
    value = _RECOLLECTION_SENTENCE.sub("", value)
    if "from memory" in value.lower():
        had_exact = "exact value" in value.lower()
        value = _RECOLLECTION.sub("", value).strip()
        if had_exact:
            value = f"{value} (exact value unverified)"
        value = value or "unverified"
    return value.strip()


def card(entry: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    name = entry["name"]
    matches = sorted((k for k, (key, _, _) in ENRICH.items() if name.startswith(key)),
                     key=lambda k: -len(ENRICH[k][0]))
    if not matches:
        raise SystemExit(f"no enrichment for {name!r}")
    card_id = matches[0]  # the longest matching key: "DESTINY-Breast03 post-progression" over "DESTINY-Breast03"
    _, aliases, drugs = ENRICH[card_id]
    ref = entry["ref"]
    refs = [] if ref is None else (ref if isinstance(ref, list) else [ref])
    verification = str(entry["verification"])
    status, _, note = verification.partition(" (")
    mcbs = str(entry.get("esmo_mcbs", ""))
    result = {
        "name": name,
        "refs": refs,
        "aliases": [a for a in aliases if a != name],
        "drugs": drugs,
        "design": entry["design"],
        "population": entry["population"],
        "arms": list(entry["arms"]),
        "n": str(entry["n"]),
        "primary_endpoint": entry["primary_endpoint"],
        "esmo_level": entry["esmo_level"],
        "esmo_mcbs": None if mcbs in {"", "n/a", "not found"} else mcbs,
        "verification": status,
        "verification_note": note.rstrip(")") or None,
        "results": [
            {
                "measure": sanitise(r["measure"]),
                "comparison": sanitise(r["arm_or_comparison"]),
                "value": sanitise(str(r["value"])),
                "ci": sanitise(str(r["ci"])),
                "source": r["source"],
            }
            for r in entry["results"]
        ],
        "review_claims": [sanitise(c) for c in entry["review_claims"]],
        "discrepancies": [sanitise(d) for d in entry["discrepancies"]],
        "sources": list(entry["sources"]),
    }
    return card_id, result


def main(source: str) -> None:
    data = yaml.safe_load(Path(source).read_text(encoding="utf-8"))
    out = ROOT / "corpus" / "studies"
    out.mkdir(parents=True, exist_ok=True)
    header = (
        "# Study card: facts checked against primary sources (from shared/reference/trial-facts.yaml,\n"
        "# imported by scripts/import_trial_facts.py; unchecked recollections in it were cut).\n"
        "# Schema: assistant.types.StudyCard. 'review_claims' are what the review says; 'discrepancies'\n"
        "# where it differs from the primary source.\n"
    )
    for entry in data["studies"]:
        card_id, body = card(entry)
        text = yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=110)
        (out / f"{card_id}.yaml").write_text(header + text, encoding="utf-8")
        print("wrote", card_id)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(ROOT.parent / "shared" / "reference" / "trial-facts.yaml"))
