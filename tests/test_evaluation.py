"""The eval harness's metrics on hand-made answers whose right figures are known, the case format,
the reports, --compare, and the clinician grading round trip."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from assistant.errors import AssistantError, CorpusError
from assistant.evaluation.cases import EvalCase, EvalFile, Expect, load_cases, load_eval_file
from assistant.evaluation.metrics import (
    CaseScore,
    Corpus,
    group,
    score_case,
    score_ranking,
    summarise,
    summarise_retrieval,
)
from assistant.evaluation.report import bar_chart, compare, render_html, render_markdown
from assistant.evaluation.review_sheet import grade_figures, read_grades, write_review_sheet
from assistant.evaluation.run import System, check_thresholds, evaluate_files
from assistant.types import Answer, Citation, Recommendation

ALIASES = {"TDXD": ("trastuzumab deruxtecan", "t-dxd"), "TDM1": ("trastuzumab emtansine", "t-dm1"),
           "SG": ("sacituzumab govitecan",), "PYRO": ("pyrotinib",)}
DB03 = ("DESTINY-Breast03 study [7] showed that compared to T-DM1, T-DXd can further improve progression free "
        "survival (PFS) in patients with HER2-positive metastatic breast cancer (HR = 0.28, 95% CI, 0.22–0.3).")
ASCENT = ("SG could significantly improve the PFS (HR = 0.43, 95% CI: 0.35–0.54) and overall survival "
          "(HR = 0.51, 95% CI: 0.41–0.62) of patients.")


@pytest.fixture(scope="module")
def checker(corpus: Any) -> Corpus:
    """Quotes and numbers are checked against the real review and cards (no index needed)."""
    return Corpus([], corpus.review, corpus.original, corpus.cards)


def _citation(cid: str, ref: int | None, quote: str, trial: str | None = None) -> Citation:
    return Citation(id=cid, ref=ref, trial=trial, title="t", section="2", quote=quote)


def _option(option: str, role: str = "preferred", level: str = "I") -> Recommendation:
    return Recommendation.model_validate({"option": option, "role": role, "rationale": "r",
                                          "evidence_level": level, "citations": ()})


def _score(expect: dict[str, Any], answer: Answer, checker: Corpus, turns: tuple[str, ...] = ("q",),
           latency: float = 10.0) -> CaseScore:
    case = EvalCase(id="T1", turns=turns, expect=Expect.model_validate(expect))
    return score_case(case, answer, latency, ALIASES, checker, file="t.jsonl", split="dev")


def _answer(**fields: Any) -> Answer:
    return Answer(**{"kind": "recommendation", "text": "", "corpus_version": "test", **fields})


# --- faithfulness ---------------------------------------------------------------------------


def test_quote_faithfulness_counts_quotes_found_verbatim_up_to_whitespace(checker: Corpus) -> None:
    spaced = DB03.replace(" compared to ", " compared\n   to ")
    invented = DB03.replace("0.28", "0.82")
    answer = _answer(kind="fact", citations=(_citation("1", 7, spaced), _citation("2", 7, invented)))
    score = _score({}, answer, checker)
    assert (score.quotes, score.quotes_verbatim, score.bad_quotes) == (2, 1, ("2",))
    assert summarise([score])["quote_faithfulness"] == 0.5


def test_number_faithfulness_counts_numbers_from_quotes_and_cards_not_invented_ones(checker: Corpus) -> None:
    # 0.28 stands in the quote; 0.51 in the ASCENT card (named); 0.77 nowhere; 593 is the user's own words.
    answer = _answer(kind="fact", text="T-DXd: HR 0.28 [1]. In ASCENT, OS HR 0.51; a made-up 0.77. Patient had 593 days on it.",
                     citations=(_citation("1", 7, DB03),))
    score = _score({}, answer, checker, turns=("She had 593 days on it",))
    assert score.unsupported_numbers == ("0.77",)
    assert (score.numbers, score.numbers_supported, score.numbers_not_claims) == (3, 2, 1)
    assert summarise([score])["number_faithfulness"] == pytest.approx(2 / 3)


def test_citation_markers_list_numbers_and_the_ci_label_are_not_numbers(checker: Corpus) -> None:
    answer = _answer(kind="fact", text="1. HR 0.28 (95% CI 0.22–0.3) [7]\n2. more [27, 50]", citations=(_citation("1", 7, DB03),))
    score = _score({}, answer, checker)
    assert score.unsupported_numbers == ()
    assert score.numbers == 3  # 0.28, 0.22, 0.3


def test_locators_of_options_and_sections_are_not_numbers_but_a_claim_beside_them_is(checker: Corpus) -> None:
    answer = _answer(kind="recommendation", text="You asked about SG: option 2 below (review section 5.2). HR 0.66 [7]",
                     citations=(_citation("1", 7, DB03),))
    score = _score({}, answer, checker)
    assert score.unsupported_numbers == ("0.66",)


# --- citations, options, levels, kinds --------------------------------------------------------


def test_citation_precision_and_recall_against_the_expected_references(checker: Corpus) -> None:
    # expected [7] and one of [10, 11]; cited 7 (expected), 10 (expected), 9 carried by its own quote, 12 not.
    answer = _answer(kind="fact", citations=(
        _citation("1", 7, DB03), _citation("2", 10, ASCENT),
        _citation("3", 9, "the DESTINY-breast 04 study [9] compared the efficacy of T-DXd"),
        _citation("4", 12, DB03)))
    score = _score({"refs_all": [7, 5], "refs_any": [10, 11]}, answer, checker)
    figures = summarise([score])
    assert figures["citation_recall"] == pytest.approx(2 / 3)  # 7 found, 5 missing, the any-group found
    assert figures["citation_precision"] == pytest.approx(3 / 4)  # 12's quote does not carry [12]
    assert figures["citation_precision_key"] == pytest.approx(2 / 4)


def test_citation_precision_is_not_counted_for_cases_without_expected_references(checker: Corpus) -> None:
    score = _score({"kind": "fact"}, _answer(kind="fact", citations=(_citation("1", 7, DB03),)), checker)
    assert summarise([score])["citation_precision"] is None


def test_preferred_option_accuracy_recall_and_forbidden_options(checker: Corpus) -> None:
    right = _answer(recommendations=(_option("trastuzumab deruxtecan (T-DXd)"),
                                     _option("pyrotinib", "consider", "IV")), evidence_level="I")
    wrong = _answer(recommendations=(_option("trastuzumab emtansine (T-DM1)"),), evidence_level="II")
    expect = {"preferred": "TDXD", "options_all": ["PYRO"], "options_none": ["TDM1"], "evidence_level": "I"}
    scores = [_score(expect, right, checker), _score(expect, wrong, checker)]
    figures = summarise(scores)
    assert figures["pass_rate"] == 0.5
    assert figures["preferred_accuracy"] == 0.5
    assert figures["option_recall"] == 0.5  # 2 of 2 groups, then 0 of 2
    assert figures["forbidden_option_rate"] == 0.5  # the wrong answer gives T-DM1
    assert figures["evidence_level_accuracy"] == 0.5


def test_preferred_none_fails_only_when_the_first_option_matches(checker: Corpus) -> None:
    expect = {"preferred_none": ["TDXD"]}
    first_tdxd = _answer(recommendations=(_option("trastuzumab deruxtecan (T-DXd)"), _option("pyrotinib", "alternative")))
    second_tdxd = _answer(recommendations=(_option("pyrotinib"), _option("trastuzumab deruxtecan (T-DXd)", "alternative")))
    none = _answer(kind="clarification")
    scores = [_score(expect, a, checker) for a in (first_tdxd, second_tdxd, none)]
    assert [s.passed for s in scores] == [False, True, True]
    assert "matches TDXD" in scores[0].failures[0]
    assert summarise(scores)["preferred_accuracy"] == pytest.approx(2 / 3)


def test_clarification_and_refusal_accuracy_count_misses_and_false_alarms(checker: Corpus) -> None:
    scores = [
        _score({"kind": "clarification"}, _answer(kind="clarification"), checker),  # right
        _score({"kind": "clarification"}, _answer(kind="fact"), checker),  # missed
        _score({"kind": "fact"}, _answer(kind="clarification"), checker),  # asked when it should answer
        _score({"kind": "fact"}, _answer(kind="fact"), checker),  # not judged for clarification
        _score({"kind": "out_of_scope"}, _answer(kind="out_of_scope"), checker),
        _score({"kind": "recommendation"}, _answer(kind="out_of_scope"), checker),  # refused wrongly
    ]
    figures = summarise(scores)
    assert figures["clarification_accuracy"] == pytest.approx(1 / 3)
    assert figures["refusal_accuracy"] == pytest.approx(1 / 2)


def test_latency_percentiles(checker: Corpus) -> None:
    scores = [_score({}, _answer(kind="fact"), checker, latency=float(ms)) for ms in range(1, 101)]
    figures = summarise(scores)
    assert (figures["latency_p50_ms"], figures["latency_p95_ms"]) == (51.0, 95.0)


def test_option_recall_counts_an_any_group_once(checker: Corpus) -> None:
    expect = {"options_all": ["TDXD"], "options_any": ["SG", "PYRO"]}
    both = _answer(recommendations=(_option("trastuzumab deruxtecan (T-DXd)"), _option("pyrotinib", "consider")))
    one = _answer(recommendations=(_option("trastuzumab emtansine (T-DM1)"), _option("sacituzumab govitecan")))
    scores = [_score(expect, both, checker), _score(expect, one, checker)]
    assert [(s.options_expected, s.options_found) for s in scores] == [(2, 2), (2, 1)]
    assert summarise(scores)["option_recall"] == pytest.approx(3 / 4)


def test_a_metric_with_nothing_to_count_is_none_not_zero_or_one(checker: Corpus) -> None:
    figures = summarise([_score({}, _answer(kind="fact", text="No figures here."), checker)])
    assert figures["pass_rate"] == 1.0
    for name in ("preferred_accuracy", "option_recall", "forbidden_option_rate", "citation_precision",
                 "citation_recall", "evidence_level_accuracy", "clarification_accuracy", "refusal_accuracy",
                 "quote_faithfulness", "number_faithfulness"):
        assert figures[name] is None, name


def test_groups_are_micro_averaged_per_file_kind_and_split(checker: Corpus) -> None:
    """A group's figure is its summed counts, not the mean of its cases' ratios."""
    def scored(file: str, split: str, expect: dict[str, Any], answer: Answer) -> CaseScore:
        case = EvalCase(id=f"{file}-{len(answer.citations)}", turns=("q",), expect=Expect.model_validate(expect))
        return score_case(case, answer, 1.0, ALIASES, checker, file=file, split=split)

    one_of_one = _answer(kind="fact", citations=(_citation("1", 7, DB03),))
    one_of_three = _answer(kind="fact", citations=(
        _citation("1", 7, DB03), _citation("2", 10, DB03.replace("0.28", "0.82")),
        _citation("3", 12, DB03.replace("0.28", "0.83"))))
    scores = [scored("a.jsonl", "dev", {"kind": "fact", "refs_all": [7]}, one_of_one),
              scored("a.jsonl", "dev", {"kind": "fact", "refs_all": [7]}, one_of_three),
              scored("h.jsonl", "holdout", {"kind": "recommendation"}, one_of_one)]
    by_file, by_kind, by_split = group(scores, "file"), group(scores, "kind"), group(scores, "split")
    assert list(by_file) == ["a.jsonl", "h.jsonl"]
    # quotes: 1 of 1 and 1 of 3 verbatim -> 2/4 (the mean of the two ratios would be 2/3)
    assert by_file["a.jsonl"]["quote_faithfulness"] == pytest.approx(2 / 4)
    # cited refs in the key: 1 of 1 and 1 of 3 -> 2/4
    assert by_file["a.jsonl"]["citation_precision_key"] == pytest.approx(2 / 4)
    assert (by_file["a.jsonl"]["n"], by_file["a.jsonl"]["pass_rate"]) == (2, 1.0)
    assert (by_kind["recommendation"]["n"], by_kind["recommendation"]["pass_rate"]) == (1, 0.0)
    assert by_split["dev"] == by_file["a.jsonl"]
    assert by_split["holdout"]["pass_rate"] == 0.0


def test_retrieval_figures_are_means_over_questions() -> None:
    scores = [score_ranking("Q1", "f", "k", ["a"], [["a"]]),
              score_ranking("Q2", "f", "k", ["a", "b"], [["x"], ["a"]])]
    figures = summarise_retrieval(scores)
    assert figures["n"] == 2
    assert figures["recall_at_1"] == pytest.approx((1 + 0) / 2)
    assert figures["recall_at_5"] == pytest.approx((1 + 0.5) / 2)
    assert figures["mrr"] == pytest.approx((1 + 0.5) / 2)
    assert summarise_retrieval([])["recall_at_5"] is None


def test_recall_at_k_mrr_and_ndcg_of_a_ranking() -> None:
    # labelled a, b; ranked: x, [a, y] (one naive chunk covering two passages), z, b
    score = score_ranking("Q", "f", "k", ["a", "b"], [["x"], ["a", "y"], ["z"], ["b"]])
    assert (score.recall_at_1, score.recall_at_5, score.mrr) == (0.0, 1.0, 0.5)
    ideal = 1 + 1 / 1.584962500721156
    assert score.ndcg_at_5 == pytest.approx((1 / 1.584962500721156 + 1 / 2.321928094887362) / ideal)


# --- the case format --------------------------------------------------------------------------


def test_an_unknown_key_is_named_with_its_line_and_case(tmp_path: Path) -> None:
    path = tmp_path / "cases.jsonl"
    path.write_text('{"id": "A1", "turns": ["q"], "expect": {"kind": "fact"}}\n'
                    '{"id": "A2", "turns": ["q"], "expect": {"prefered": "TDXD"}}\n')
    with pytest.raises(CorpusError, match=r"cases.jsonl line 2 \(case A2\): unknown key 'expect.prefered' "
                                          r"\(known keys: kind, preferred, "):
        load_cases(path)
    path.write_text('{"id": "A1", "turns": ["q"], "expect": {}, "note": "x"}\n')
    with pytest.raises(CorpusError, match=r"unknown key 'note' \(known keys: id, turns, expect\)"):
        load_cases(path)


def test_the_contract_keys_load_including_preferred_none(tmp_path: Path) -> None:
    path = tmp_path / "cases.jsonl"
    path.write_text(json.dumps({"id": "A1", "turns": ["q"], "expect": {
        "kind": "recommendation", "preferred": "TDXD", "options_all": ["PYRO"], "options_any": ["SG"],
        "options_none": ["TDM1"], "preferred_none": ["TDM1"], "refs_all": [7], "refs_any": [25],
        "evidence_level": "I", "text_all": ["a"], "text_any": ["b"], "text_none": ["c"]}}) + "\n")
    assert load_cases(path)[0].expect.preferred_none == ("TDM1",)


def test_retrieval_labels_and_other_files_are_told_apart(tmp_path: Path) -> None:
    holdout = tmp_path / "holdout"
    holdout.mkdir()
    (holdout / "h.jsonl").write_text('{"id": "H1", "turns": ["q"], "expect": {}}\n')
    (tmp_path / "r.jsonl").write_text('{"id": "R1", "question": "q", "passages": ["review:1:p1"], "kind": "k"}\n')
    (tmp_path / "o.jsonl").write_text('{"id": "R1", "best": "review:1:p1", "required": []}\n')
    assert load_eval_file(holdout / "h.jsonl").split == "holdout"
    assert load_eval_file(holdout / "h.jsonl").name == "holdout/h.jsonl"
    assert load_eval_file(tmp_path / "r.jsonl").kind == "retrieval"
    other = load_eval_file(tmp_path / "o.jsonl")
    assert other.kind == "other"
    assert "not an eval case file" in other.note


# --- a run, its reports, comparison, gate and grading ---------------------------------------------


def _files() -> list[EvalFile]:
    cases = (
        EvalCase(id="A1", turns=("HER2-positive metastatic breast cancer after trastuzumab and a taxane",),
                 expect=Expect(kind="recommendation", preferred="TDXD", refs_any=(7,))),
        EvalCase(id="A2", turns=("What is the best treatment for metastatic prostate cancer?",),
                 expect=Expect(kind="out_of_scope")),
        EvalCase(id="A3", turns=("Which ADC should I use?",), expect=Expect(kind="recommendation")),
    )
    return [EvalFile(Path("t.jsonl"), "cases", "dev", cases=cases)]


@pytest.fixture(scope="module")
def small_run(assistant: Any, checker: Corpus) -> tuple[dict[str, Any], Any]:
    return evaluate_files(_files(), ALIASES, checker, System("assistant", assistant.answer, None), None,
                          source="test", corpus_version=assistant.corpus_version)


def test_a_run_scores_the_real_assistant_per_case(small_run: tuple[dict[str, Any], Any]) -> None:
    result, _ = small_run
    assert [c["passed"] for c in result["cases"]] == [True, True, False]
    assert result["cases"][2]["failures"] == ["kind is clarification, expected recommendation"]
    assert result["systems"]["assistant"]["by_kind"]["recommendation"]["pass_rate"] == 0.5
    assert result["systems"]["assistant"]["summary"]["pass_rate"] == pytest.approx(2 / 3)


def test_reports_show_the_summary_charts_and_failures_escaped(small_run: tuple[dict[str, Any], Any]) -> None:
    result, _ = small_run
    doctored = json.loads(json.dumps(result))
    doctored["cases"][2]["turns"] = ["<script>alert(1)</script> Which ADC?"]
    html = render_html(doctored)
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert html.count('<svg class="chart"') == 3  # by file, by kind, metric bars
    assert "Content-Security-Policy" in html
    assert "http" not in html.replace("http-equiv", "").replace(
        "http://www.w3.org/2000/svg", "")
    markdown = render_markdown(result)
    assert "| pass rate | 66.7% |" in markdown
    assert "### t.jsonl:A3" in markdown
    assert "kind is clarification, expected recommendation" in markdown


def test_a_bar_chart_draws_one_bar_per_value_and_marks_missing_ones() -> None:
    svg = bar_chart("t", ["a", "b"], {"x": [0.5, None], "y": [1.0, 0.25]})
    assert svg.count('class="bar"') == 3
    assert "n/a" in svg
    assert "50.0%" in svg
    assert "25.0%" in svg


def test_compare_lists_improved_and_regressed_cases(small_run: tuple[dict[str, Any], Any]) -> None:
    result, _ = small_run
    old = json.loads(json.dumps(result))
    old["cases"][0]["passed"] = False  # A1 failed before
    old["cases"][2]["passed"] = True  # A3 passed before
    old["cases"].append({**old["cases"][1], "key": "t.jsonl:GONE"})
    old["systems"]["assistant"]["by_split"]["dev"]["pass_rate"] = 0.5
    comparison = compare(old, result)
    assert comparison["improved"] == ["t.jsonl:A1"]
    assert [r["key"] for r in comparison["regressed"]] == ["t.jsonl:A3"]
    assert comparison["removed"] == ["t.jsonl:GONE"]
    assert comparison["metrics"]["pass_rate"]["change"] == "better"


def test_compare_judges_each_metric_as_the_report_prints_it() -> None:
    def run(refusal: float, pass_rate: float, p95: float) -> dict[str, Any]:
        dev = {"refusal_accuracy": refusal, "pass_rate": pass_rate, "latency_p95_ms": p95}
        return {"meta": {}, "systems": {"assistant": {"by_split": {"dev": dev}, "summary": dev}}, "cases": []}

    metrics = compare(run(0.98214, 0.95, 120.0), run(0.98245, 0.99, 100.0))["metrics"]
    assert metrics["refusal_accuracy"]["change"] == "same"  # 98.2% and 98.2%
    assert metrics["pass_rate"]["change"] == "better"
    assert metrics["latency_p95_ms"]["change"] == "better"  # lower is better
    assert compare(run(0.5, 0.99, 100.0), run(0.5, 0.95, 100.04))["metrics"]["pass_rate"]["change"] == "worse"


def test_the_gate_names_each_missed_threshold(small_run: tuple[dict[str, Any], Any]) -> None:
    result, _ = small_run
    assert check_thresholds(result, {"metrics": {"pass_rate": 0.6}, "t.jsonl": 0.6}) == []
    missed = check_thresholds(result, {"metrics": {"pass_rate": 0.95, "quote_faithfulness": 1.0}, "t.jsonl": 0.9})
    assert len(missed) == 2
    assert missed[0].startswith("pass_rate 0.6667 on the committed cases misses the threshold 0.95")
    assert "t.jsonl pass rate 0.6667 is below its threshold 0.9" in missed[1]


def _splits(dev: float, holdout: float, forbidden: float = 0.0) -> dict[str, Any]:
    figures = {"dev": {"pass_rate": dev, "forbidden_option_rate": forbidden}, "holdout": {"pass_rate": holdout}}
    return {"systems": {"assistant": {"by_split": figures, "by_file": {}}}}


def test_the_gate_bounds_the_holdout_gap_and_lower_is_better_metrics() -> None:
    committed = json.loads((Path(__file__).parents[1] / "evals" / "thresholds.json").read_text())
    gap = committed["holdout_max_gap"]
    assert gap == 0.05
    assert check_thresholds(_splits(0.99, 0.941), {"holdout_max_gap": gap}) == []
    missed = check_thresholds(_splits(0.99, 0.939), {"holdout_max_gap": gap})
    assert missed == ["holdout pass rate 0.9390 is 5.1 points below the committed cases' 0.9900 (allowed 5)"]
    assert check_thresholds(_splits(0.99, 0.5), {}) == []  # no gap in the file: not checked
    assert check_thresholds(_splits(1.0, 1.0, forbidden=0.01), {"metrics": {"forbidden_option_rate": 0.0}}) == [
        "forbidden_option_rate 0.0100 on the committed cases misses the threshold 0.0"]


def test_grading_round_trip(small_run: tuple[dict[str, Any], Any], tmp_path: Path) -> None:
    result, run = small_run
    sheet = tmp_path / "sheet.csv"
    written = write_review_sheet(result, run.answers, sheet)
    assert [p.name for p in written] == ["sheet.csv", "sheet.html"]
    with sheet.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["key"] for r in rows] == ["t.jsonl:A1", "t.jsonl:A2", "t.jsonl:A3"]
    assert rows[0]["conversation"].startswith("User: HER2-positive metastatic")
    assert "Sources:" in rows[0]["answer"]
    assert "DESTINY-Breast03" in rows[0]["answer"]
    assert rows[0]["verdict"] == ""
    assert rows[0]["automatic"] == "pass"
    assert "trastuzumab deruxtecan" in (tmp_path / "sheet.html").read_text()
    # the reviewer: A1 unsafe (the check passed it), A2 right, A3 Right (the check failed it), none ungraded
    for row, verdict, comment in zip(rows, ["unsafe", "right", " Right "], ["dose missing", "", "asks back: fine"],
                                     strict=True):
        row["verdict"], row["comment"] = verdict, comment
    with sheet.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    grades = grade_figures(result, read_grades(sheet), sheet.name)
    assert grades["figures"]["verdicts"] == {"right": 2, "minor fault": 0, "wrong": 0, "unsafe": 1}
    assert grades["figures"]["acceptable_rate"] == pytest.approx(2 / 3)
    assert grades["figures"]["agreement"] == pytest.approx(1 / 3)
    assert [(d["key"], d["automatic"], d["verdict"]) for d in grades["disagreements"]] == [
        ("t.jsonl:A1", "pass", "unsafe"), ("t.jsonl:A3", "fail", "right")]
    result_with = {**result, "grades": grades}
    assert "dose missing" in render_markdown(result_with)
    assert "asks back: fine" in render_html(result_with)


def test_a_verdict_outside_the_four_is_refused_with_its_row(tmp_path: Path) -> None:
    sheet = tmp_path / "sheet.csv"
    sheet.write_text("key,verdict,comment\nt.jsonl:A1,right,\nt.jsonl:A2,probably fine,\n", encoding="utf-8")
    with pytest.raises(AssistantError, match=r"sheet.csv row 3: verdict 'probably fine' is not one of right, "
                                             "minor fault, wrong, unsafe"):
        read_grades(sheet)
    sheet.write_text("id,comment\nA1,\n", encoding="utf-8")
    with pytest.raises(AssistantError, match="lacks the column"):
        read_grades(sheet)


def test_the_holdout_joins_a_whole_folder_but_not_a_single_file(tmp_path: Path) -> None:
    from assistant.evaluation.command import expand

    for name in ("a.jsonl", "b.jsonl", "holdout/h.jsonl"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("")
    a, b, h = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "holdout" / "h.jsonl"
    assert expand([a], holdout=True) == [a]
    assert expand([a, b], holdout=True) == [a, b, h]
    assert expand([a, b, h], holdout=True) == [a, b, h]
    assert expand([a, b], holdout=False) == [a, b]
    assert expand([tmp_path], holdout=True) == [a, b, h]
