"""`assistant eval`: the stages of a run in order, so cli.py only parses options."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.errors import AssistantError, CorpusError
from assistant.evaluate import report as failures_report
from assistant.evaluate import write_answers
from assistant.evaluation.cases import EvalFile, load_aliases, load_eval_file
from assistant.evaluation.metrics import Corpus
from assistant.evaluation.run import System, SystemRun, check_thresholds, evaluate_files
from assistant.settings import Settings


@dataclass(frozen=True)
class EvalOptions:
    cases: tuple[Path, ...]
    aliases: Path | None = None
    answers_out: Path | None = None
    report: Path | None = None
    json_out: Path | None = None
    compare: Path | None = None
    baseline: bool = True
    review_sheet: Path | None = None
    grades: Path | None = None
    api: str | None = None
    thresholds: Path | None = None
    holdout: bool = True


@dataclass
class EvalOutcome:
    result: dict[str, Any]
    text: str  # what the command prints
    written: list[Path]
    gate_failures: list[str]
    pass_rate: float


def expand(paths: Sequence[Path], holdout: bool) -> list[Path]:
    """Files as given, folders as their *.jsonl. With `holdout` and several files (a whole eval
    folder, as `evals/*.jsonl`), the holdout/ folder beside them joins, reported as its own split;
    a single file is run alone, so `eval CASES.jsonl --answers-out` stays exactly the contract's."""
    files: list[Path] = []
    for path in paths:
        files += sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
    if holdout and len(files) > 1:
        folder = files[0].parent / "holdout"
        if folder.is_dir():
            files += [p for p in sorted(folder.glob("*.jsonl")) if p.resolve() not in {f.resolve() for f in files}]
    seen: set[Path] = set()
    unique = []
    for path in files:
        if path.resolve() not in seen:
            seen.add(path.resolve())
            unique.append(path)
    return unique


@contextmanager
def _one_torch_thread() -> Iterator[None]:
    """torch computes on one thread for the run, then as before.

    A run embeds one short query at a time (a question, a conversation), where a second intra-op
    thread saves little; on a machine whose cores are busy with other work the threads wait for each
    other at every layer instead: on 2 cores under a load average of 4.5, one query took 35 ms with
    one thread and 500 ms with two. One thread also keeps the figures from depending on the
    machine's core count.
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def run_eval(options: EvalOptions, settings: Settings) -> EvalOutcome:
    if options.api and not options.baseline:
        return _run_eval(options, settings)  # nothing is embedded here: the server answers
    with _one_torch_thread():
        return _run_eval(options, settings)


def _run_eval(options: EvalOptions, settings: Settings) -> EvalOutcome:
    paths = expand(options.cases, options.holdout)
    files = [load_eval_file(path) for path in paths]
    default_aliases = [paths[0].parent / "aliases.json", paths[0].parent.parent / "aliases.json",
                       settings.corpus_dir.parent / "evals" / "aliases.json"]
    alias_path = options.aliases or next((p for p in default_aliases if p.exists()), None)
    if alias_path is None:
        raise CorpusError("No aliases file: pass --aliases FILE")
    aliases = load_aliases(alias_path)

    result, run, local_version = _answer_and_score(options, settings, files, aliases)
    if options.api:
        served = {a.corpus_version for a in run.answers.values()} - {local_version}
        if served:
            result["meta"]["warning"] = (f"the server answered from corpus_version {', '.join(sorted(served))}, "
                                         f"the local corpus is {local_version}: quotes are checked locally")

    if options.grades:
        from assistant.evaluation.review_sheet import grade_figures, read_grades

        result["grades"] = grade_figures(result, read_grades(options.grades), options.grades.name)
    if options.compare:
        from assistant.evaluation.report import compare, load_result

        result["compare"] = compare(load_result(options.compare), result)

    written: list[Path] = []
    if options.answers_out:
        options.answers_out.parent.mkdir(parents=True, exist_ok=True)
        _write_all_answers(files, run, options.answers_out)
        written.append(options.answers_out)
    from assistant.evaluation.report import print_table, write_report

    if options.report:
        written += write_report(result, options.report)
    if options.json_out:
        options.json_out.parent.mkdir(parents=True, exist_ok=True)
        options.json_out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(options.json_out)
    if options.review_sheet:
        from assistant.evaluation.review_sheet import write_review_sheet

        written += write_review_sheet(result, run.answers, options.review_sheet)

    gate: list[str] = []
    if options.thresholds:
        try:
            thresholds = json.loads(options.thresholds.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise AssistantError(f"The thresholds file {options.thresholds} cannot be read: {exc}") from None
        gate = check_thresholds(result, thresholds)
        result["gate"] = {"thresholds": options.thresholds.name, "failures": gate}

    lines = []
    for eval_file in files:
        if eval_file.cases:
            lines.append(f"{eval_file.name}: " + failures_report(run.results(eval_file.name), list(eval_file.cases)))
        elif eval_file.kind == "other":
            lines.append(f"{eval_file.name}: skipped, {eval_file.note}")
    lines += ["", print_table(result)]
    if "grades" in result:
        figures = result["grades"]["figures"]
        lines.append(f"\nReviewer: {figures['graded']} graded, {figures['verdicts']}, "
                     f"{len(result['grades']['disagreements'])} disagreements with the automatic check.")
    if "warning" in result["meta"]:
        lines.append(f"\nWarning: {result['meta']['warning']}")
    lines += [f"wrote {path}" for path in written]
    lines += [f"GATE: {failure}" for failure in gate]
    summary = result["systems"]["assistant"]["summary"]
    return EvalOutcome(result, "\n".join(lines), written, gate, summary["pass_rate"] or 0.0)


def _answer_and_score(options: EvalOptions, settings: Settings, files: Sequence[EvalFile],
                      aliases: dict[str, tuple[str, ...]]) -> tuple[dict[str, Any], SystemRun, str]:
    """Both systems on every file: the result, the assistant's run and the local corpus_version."""
    if options.api:
        from assistant.evaluation.remote import RemoteAssistant
        from assistant.index import open_index

        index = open_index(settings)
        remote = RemoteAssistant(options.api)
        system = System("assistant", remote.answer, None,
                        note=f"answers from {remote.endpoint}; the API has no search, so retrieval recall is "
                             "measured for the baseline only")
        source = remote.endpoint
    else:
        from assistant.conversation import Assistant

        assistant = Assistant(settings)
        index = assistant.index  # the assistant's own index: opened (and its chroma copied) once

        def search(question: str) -> list[list[str]]:
            return [[r.passage_id] for r in assistant.search(question, 5)]

        system = System("assistant", assistant.answer, search)
        source = "the assistant in-process"
    original = (settings.corpus_dir / "review.txt").read_text(encoding="utf-8")
    corpus = Corpus((chunk.text for chunk in index.chunks), index.review, original, index.cards)
    baseline = None
    if options.baseline:
        from assistant.evaluation.baseline import NaiveBaseline, query_of

        naive = NaiveBaseline(settings, index.review, index.cards, original)
        naive.prepare([query_of(case.turns) for f in files for case in f.cases]
                      + [q.question for f in files for q in f.questions])
        baseline = System("baseline", naive.answer, naive.search, amortised_ms=naive.ms_per_query)
    result, run = evaluate_files(files, aliases, corpus, system, baseline, source=source,
                                 corpus_version=index.corpus_version)
    return result, run, index.corpus_version


def _write_all_answers(files: Sequence[EvalFile], run: Any, path: Path) -> None:
    """The contract's {id, answer} lines; with several files each line also names its file."""
    case_files = [f for f in files if f.cases]
    if len(case_files) == 1:
        write_answers(run.results(case_files[0].name), path)
        return
    with path.open("w", encoding="utf-8") as handle:
        for eval_file in case_files:
            for result in run.results(eval_file.name):
                record = {"id": result.id, "file": eval_file.name, "answer": result.answer.model_dump(mode="json")}
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
