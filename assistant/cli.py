"""The `assistant` command: thin wrappers that call one stage each."""

from __future__ import annotations

import io
import json
import logging
import sys
from pathlib import Path
from typing import Any

import click

from assistant.errors import AssistantError, InputRejected
from assistant.settings import Settings, get_settings, offline_environment
from assistant.textclean import check_conversation, check_question, clean_text
from assistant.types import PatientFacts


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AssistantError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=_Group)
def cli() -> None:
    """Answers from the review of HER2-targeting ADCs in breast cancer, with citations."""
    offline_environment()


# --- index ----------------------------------------------------------------------------------


@cli.group(cls=_Group)
def index() -> None:
    """Build, check or verify the vector index."""


@index.command(name="build")
@click.option("--force", is_flag=True, help="Rebuild even when the index is up to date.")
def index_build(force: bool) -> None:
    """Build the index if it is missing or stale; switch to it only once verified."""
    from assistant.conversation import check_knowledge
    from assistant.index import build_index, index_status

    settings = get_settings()
    click.echo(check_knowledge(settings))
    before = index_status(settings)
    if before.health == "broken":
        click.echo(f"The current index is broken ({before.message}); building a new one.")
    manifest = build_index(settings, force=force)
    if before.health == "ready" and before.manifest == manifest:
        click.echo(f"Index up to date: corpus_version {manifest.corpus_version}.")
    else:
        click.echo(f"Index built in {manifest.build_seconds:.1f} s: corpus_version {manifest.corpus_version}, "
                   f"{manifest.counts['chunks']} chunks from {manifest.counts['passages']} passages, "
                   f"{manifest.counts['references']} references, {manifest.counts['cards']} study cards.")


@index.command(name="status")
@click.option("--json", "as_json", is_flag=True, help="Print the status and manifest as JSON.")
def index_status_command(as_json: bool) -> None:
    """Say whether the index is ready, missing, stale or broken (exit 1 unless ready)."""
    from assistant.index import index_status

    status = index_status(get_settings())
    if as_json:
        click.echo(status.model_dump_json(indent=2))
    else:
        click.echo(f"{status.health}: {status.message}")
    if status.health != "ready":
        sys.exit(1)


@index.command(name="verify")
@click.option("--build", "build", type=click.Path(path_type=Path), default=None,
              help="A build folder (default: the current build).")
def index_verify(build: Path | None) -> None:
    """Open the index as a reader would and check that it answers."""
    from assistant.errors import IndexNotReady
    from assistant.index import index_status, verify_build

    settings = get_settings()
    if build is None:
        status = index_status(settings)
        if status.build is None:
            raise IndexNotReady(status.message)
        build = settings.index_dir / "builds" / status.build
    manifest = verify_build(build, settings)
    click.echo(f"verified: {build.name} ({manifest.counts['chunks']} chunks answer for themselves)")


@index.command(name="push")
def index_push() -> None:
    """Load the current build's vectors into the Chroma server of ASSISTANT_CHROMA_URL."""
    from assistant.chroma_server import push_build

    settings = get_settings()
    if not settings.chroma_url:
        raise click.ClickException("Set ASSISTANT_CHROMA_URL to the Chroma server first (docs/deploy.md).")
    for name, count in push_build(settings).items():
        click.echo(f"{name}: {count} vectors on {settings.chroma_url}")


# --- search ---------------------------------------------------------------------------------


def _searcher(settings: Settings) -> Any:
    """The assistant's search: hybrid retrieval that also reads a described patient (rules load in ~0.1 s)."""
    from assistant.conversation import Assistant

    return Assistant(settings)


@cli.command()
@click.argument("query", required=False)
@click.option("--k", "k", type=click.IntRange(1, 50), default=None, help="How many passages.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of passages.")
@click.option("--section", default=None, help="Only this section and its subsections, e.g. 6.1.")
@click.option("--study", default=None, help="Only passages that cite or name this study, e.g. DB-04.")
def search(query: str | None, k: int | None, as_json: bool, section: str | None, study: str | None) -> None:
    """Find the review's passages for QUERY (without QUERY: ask in a loop)."""
    settings = get_settings()
    _log_user_text(settings)
    searcher = _searcher(settings)
    if query is not None:
        _print_results(searcher.search(clean_text(query), k, section=section, study=study), as_json)
        return
    _tolerate_invalid_utf8()
    click.echo("Search the review (empty line or Ctrl-D to quit).")
    while True:
        try:
            line = clean_text(click.prompt("search", default="", show_default=False, prompt_suffix="> "))
        except (EOFError, click.Abort):
            break
        if not line.strip():
            break
        try:
            _print_results(searcher.search(line, k, section=section, study=study), as_json)
        except AssistantError as exc:
            click.echo(f"Error: {exc}", err=True)


def _print_results(results: list[Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps([r.model_dump(mode="json") for r in results], indent=2, ensure_ascii=False))
        return
    if not results:
        click.echo("No passage found.")
    for rank, result in enumerate(results, start=1):
        where = f"{result.section}. {result.section_title}" if result.section else result.section_title
        refs = f"  refs {list(result.refs)}" if result.refs else ""
        click.echo(click.style(f"{rank}. [{where}] {result.passage_id}  score {result.score:.4f}{refs}", bold=True))
        click.echo(f"   {result.text}\n")


# --- asking -------------------------------------------------------------------------------


def _assistant(settings: Settings) -> Any:
    from assistant.conversation import Assistant

    return Assistant(settings)


@cli.command()
@click.argument("question")
@click.option("--json", "as_json", is_flag=True, help="Print the Answer object (the public contract).")
def ask(question: str, as_json: bool) -> None:
    """Answer one QUESTION from the review (exit 1 when the question is refused)."""
    settings = get_settings()
    _log_user_text(settings)
    answer = _cleaned(_assistant(settings).answer([check_question(question)]))
    click.echo(answer.model_dump_json(indent=2) if as_json else render_plain(answer))
    if answer.kind == "error":
        sys.exit(1)


@cli.command()
def chat() -> None:
    """A multi-turn conversation in the terminal ('new' starts over, Ctrl-D quits)."""
    settings = get_settings()
    _log_user_text(settings)
    _tolerate_invalid_utf8()
    click.echo("Loading the review and its index...")
    assistant = _assistant(settings)
    assistant.warm_up()
    click.echo(f"Ready (corpus_version {assistant.corpus_version}). Describe a patient or ask about a trial; "
               "'new' starts a new patient, Ctrl-D quits.\n")
    messages: list[str] = []
    while True:
        try:
            line = clean_text(click.prompt(click.style("you", bold=True), prompt_suffix="> ", default="",
                                           show_default=False))
        except (EOFError, click.Abort):
            click.echo()
            break
        if line.strip().lower() in {"new", "/new", "reset"}:
            messages = []
            click.echo("(new conversation)\n")
            continue
        if line.strip().lower() in {"quit", "exit", "/quit"}:
            break
        try:
            check_conversation([*messages, line], settings)
        except InputRejected as exc:
            click.echo(f"{exc}\n")
            continue
        messages.append(line)
        click.echo(render_plain(_cleaned(assistant.answer(messages))))


def _tolerate_invalid_utf8() -> None:
    """Read invalid bytes on stdin as surrogates (clean_text replaces them) rather than fail in input().

    stdout and stderr replace what they cannot encode: a last guard, as everything printed is cleaned.
    """
    if isinstance(sys.stdin, io.TextIOWrapper):
        sys.stdin.reconfigure(errors="surrogateescape")
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="replace")


def _cleaned(answer: Any) -> Any:
    """The answer with every string cleaned of control sequences, for the terminal and the JSON alike."""
    def clean(value: Any) -> Any:
        if isinstance(value, str):
            return clean_text(value)
        if isinstance(value, list):
            return [clean(v) for v in value]
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        return value

    return type(answer).model_validate(clean(answer.model_dump(mode="json")))


class _StderrHandler(logging.Handler):
    """Log lines on the command's stderr, cleaned like everything else it prints."""

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(clean_text(self.format(record)), err=True)


def _log_user_text(settings: Settings) -> None:
    """With ASSISTANT_LOG_USER_TEXT=true, the conversation's log lines (which quote the user) reach stderr."""
    if not settings.log_user_text:
        return
    logger = logging.getLogger("assistant")
    logger.setLevel(logging.INFO)
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        logger.addHandler(handler)


def render_plain(answer: Any) -> str:
    """The answer's Markdown text, then its sources, for a terminal."""
    lines = [answer.text.rstrip(), ""]
    if answer.follow_up and "To answer" not in answer.text:
        lines += [f"? {q}" for q in answer.follow_up] + [""]
    if answer.citations:
        lines.append(click.style("Sources", bold=True))
        for citation in answer.citations:
            where = f", section {citation.section}" if citation.section else ""
            trial = f" {citation.trial}:" if citation.trial else ""
            lines.append(f"  [{citation.id}]{trial} {citation.title}{where}")
    level = f"evidence level {answer.evidence_level}" if answer.evidence_level else "no evidence level"
    lines.append(click.style(f"({answer.kind}; {level}; corpus_version {answer.corpus_version})", dim=True))
    return "\n".join(lines) + "\n"


@cli.command(name="eval")
@click.argument("cases", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--answers-out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write one line per case: {id, answer} (and file, when several files are given).")
@click.option("--aliases", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Alias groups (default: aliases.json beside CASES, else evals/aliases.json).")
@click.option("--min-pass-rate", type=click.FloatRange(0, 1), default=None,
              help="Exit 1 below this share of passing cases.")
@click.option("--report", "report_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write results.json, report.md and a self-contained report.html into this folder.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the metrics (per case, kind, file and split) as JSON.")
@click.option("--compare", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="An earlier results.json: the report shows what improved and what regressed.")
@click.option("--baseline/--no-baseline", default=True, help="Score the naive retrieval baseline too.")
@click.option("--review-sheet", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write a clinician's review sheet (CSV, and an HTML page beside it).")
@click.option("--grades", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="A filled review sheet: the reviewer's figures join the report.")
@click.option("--api", default=None, help="Evaluate a running server via POST URL/api/answer.")
@click.option("--thresholds", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Exit 1 when a threshold of this file (e.g. evals/thresholds.json) is missed.")
@click.option("--holdout/--no-holdout", default=True,
              help="With several CASES, add the holdout/ folder beside them, reported as its own split.")
def eval_command(cases: tuple[Path, ...], answers_out: Path | None, aliases: Path | None,
                 min_pass_rate: float | None, report_dir: Path | None, json_out: Path | None,
                 compare: Path | None, baseline: bool, review_sheet: Path | None, grades: Path | None,
                 api: str | None, thresholds: Path | None, holdout: bool) -> None:
    """Run eval CASES (JSON-lines files or folders): metrics per case, kind and file, a baseline, reports."""
    from assistant.evaluation.command import EvalOptions, run_eval

    outcome = run_eval(EvalOptions(cases=cases, aliases=aliases, answers_out=answers_out, report=report_dir,
                                   json_out=json_out, compare=compare, baseline=baseline,
                                   review_sheet=review_sheet, grades=grades, api=api, thresholds=thresholds,
                                   holdout=holdout), get_settings())
    click.echo(outcome.text)
    if outcome.gate_failures:
        raise click.ClickException(f"{len(outcome.gate_failures)} committed threshold(s) missed")
    if min_pass_rate is not None and outcome.pass_rate < min_pass_rate:
        raise click.ClickException(f"pass rate {outcome.pass_rate:.3f} is below the threshold {min_pass_rate:.3f}")


# --- serving --------------------------------------------------------------------------------


@cli.command()
@click.option("--host", default=None, help="Address to bind (default: Settings.host, 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Port (default: Settings.port, 7860).")
def serve(host: str | None, port: int | None) -> None:
    """The web chat and the HTTP API in one server (uvicorn), at the printed local URL."""
    import uvicorn

    from assistant.serve import create_app

    settings = get_settings()
    updates = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    if updates:
        settings = settings.model_copy(update=updates)
    click.echo("Loading the review and its index...")
    config = uvicorn.Config(create_app(settings), host=settings.host, port=settings.port, log_level="info")
    server = uvicorn.Server(config)
    shown = "localhost" if settings.host in {"127.0.0.1", "0.0.0.0", "::"} else settings.host
    click.echo(f"Chat at http://{shown}:{settings.port}/  (API: /api/answer, OpenAPI: /docs; Ctrl-C stops)")
    server.run()


# --- studies --------------------------------------------------------------------------------


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the cards as JSON.")
def studies(as_json: bool) -> None:
    """List the study cards: name, references, evidence level, verification."""
    from assistant.ingest import load_corpus

    corpus = load_corpus(get_settings().corpus_dir)
    if as_json:
        click.echo(json.dumps([c.model_dump(mode="json") for c in corpus.cards], indent=2, ensure_ascii=False))
        return
    for card in corpus.cards:
        refs = ",".join(str(r) for r in card.refs) or "uncited"
        click.echo(f"{card.name[:60]:60}  [{refs:>6}]  level {card.esmo_level:3}  {card.verification}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the typed entries as JSON.")
def references(as_json: bool) -> None:
    """The review's reference list, parsed: authors, title, journal, year, volume, pages, DOI."""
    from assistant.ingest import load_corpus

    review = load_corpus(get_settings().corpus_dir).review
    if as_json:
        click.echo(json.dumps([r.model_dump(mode="json") for r in review.references], indent=2, ensure_ascii=False))
        return
    for ref in review.references:
        authors = ", ".join(ref.authors[:3]) + (" et al." if ref.et_al or len(ref.authors) > 3 else "")
        click.echo(f"[{ref.number}] {authors}. {ref.title}. {ref.journal} {ref.year or ''}")


# --- benchmarks -----------------------------------------------------------------------------


@cli.group(cls=_Group)
def bench() -> None:
    """Benchmarks that print figures (not tests)."""


@bench.command(name="retrieval")
@click.option("--questions", "questions", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="Labelled question files (default: every evals/retrieval*.jsonl).")
@click.option("--repeat", type=click.IntRange(1, 1000), default=5, help="Timed passes over the questions.")
def bench_retrieval(questions: tuple[Path, ...], repeat: int) -> None:
    """Recall@1/5 and MRR for dense, BM25, hybrid and a naive baseline; build, cold-start and query times."""
    from assistant.bench import RETRIEVAL_SETS, run_retrieval_benchmark

    settings = get_settings()
    evals = settings.corpus_dir.parent / "evals"
    files = list(questions) or [evals / name for name in RETRIEVAL_SETS]
    click.echo(run_retrieval_benchmark(settings, files, repeat=repeat))


@bench.command(name="answers")
@click.option("--cases", "cases", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="Eval case files whose conversations are timed (default: every evals/*.jsonl case file).")
@click.option("--repeat", type=click.IntRange(1, 100), default=3, help="Timed passes over the conversations.")
def bench_answers(cases: tuple[Path, ...], repeat: int) -> None:
    """Warm answer latency p50/p95 and cold start, printed."""
    from assistant.bench import run_answer_benchmark

    settings = get_settings()
    evals = settings.corpus_dir.parent / "evals"
    files = list(cases) or sorted(p for p in evals.glob("*.jsonl") if not p.name.startswith("retrieval"))
    click.echo(run_answer_benchmark(settings, files, repeat=repeat))


@bench.command(name="facts")
@click.option("--items", "items", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="Labelled fact files (default: every evals/facts/*.jsonl).")
@click.option("--baseline", type=click.Path(exists=True, path_type=Path), default=None,
              help="A JSON table written by an earlier reader (--json-out), shown beside.")
@click.option("--json-out", type=click.Path(path_type=Path), default=None, help="Write the table as JSON.")
def bench_facts(items: tuple[Path, ...], baseline: Path | None, json_out: Path | None) -> None:
    """Precision, recall and F1 per fact type and exposure status, micro-F1, exposure accuracy."""
    import json

    from assistant.bench_facts import exposure_accuracy, load_items, render, score
    from assistant.conversation import Assistant
    from assistant.understand import read

    settings = get_settings()
    assistant = Assistant(settings)
    files = list(items) or sorted((settings.corpus_dir.parent / "evals" / "facts").glob("*.jsonl"))
    for path in files:
        labelled = load_items(path)

        def facts_of(text: str) -> PatientFacts:
            return read(text, 1, assistant.lexicon, settings.max_message_chars).facts

        table, micro = score(labelled, facts_of)
        old = None
        if baseline is not None:
            old = {k: tuple(v) for k, v in json.loads(baseline.read_text())["table"].items()}
        click.echo(render(f"{path.name} ({len(labelled)} items)", table, micro, old))
        click.echo(f"exposure status accuracy (drugs found): {exposure_accuracy(labelled, facts_of):.3f}")
        if json_out is not None:
            json_out.write_text(json.dumps({"table": table, "micro_f1": micro}, indent=1))


@bench.command(name="api")
@click.option("--cases", "cases", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="Eval case files whose conversations are sent (default: evals/cases.jsonl).")
@click.option("--conversations", type=click.IntRange(1, 10000), default=60, help="How many conversations.")
@click.option("--clients", type=click.IntRange(2, 100), default=20, help="Concurrent clients in the second run.")
def bench_api(cases: tuple[Path, ...], conversations: int, clients: int) -> None:
    """Answer latency p50/p95 over real HTTP (1 and N clients on loopback) against in-process calls."""
    from assistant.index import build_index
    from assistant.serve.bench import run_api_benchmark

    settings = get_settings()
    build_index(settings)
    files = list(cases) or [settings.corpus_dir.parent / "evals" / "cases.jsonl"]
    click.echo(run_api_benchmark(settings, files, conversations=conversations, clients=clients))


@bench.command(name="load")
@click.option("--clients", type=click.IntRange(1, 500), default=20, help="Concurrent clients (one connection each).")
@click.option("--requests", "requests", type=click.IntRange(1, 1_000_000), default=2000,
              help="Stop after this many requests ...")
@click.option("--max-seconds", type=click.FloatRange(1, 86_400), default=300, help="... or after this many seconds.")
@click.option("--workers", type=click.IntRange(1, 16), default=1, help="uvicorn worker processes of the server.")
@click.option("--cases", "cases", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="Eval case files whose turns are sent (default: evals/cases.jsonl).")
@click.option("--unique-words", is_flag=True, help="Put a word never seen before in each conversation (as real notes).")
def bench_load(clients: int, requests: int, max_seconds: float, workers: int, cases: tuple[Path, ...],
               unique_words: bool) -> None:
    """Start the server on 127.0.0.1, drive POST /api/answer from N clients; latency, 503s, errors, RSS."""
    from assistant.bench import run_load_benchmark

    settings = get_settings()
    files = list(cases) or [settings.corpus_dir.parent / "evals" / "cases.jsonl"]
    click.echo(run_load_benchmark(settings, files, clients=clients, requests=requests, max_seconds=max_seconds,
                                  workers=workers, unique_words=unique_words))


def main() -> None:  # pragma: no cover - console entry point
    cli()


if __name__ == "__main__":  # pragma: no cover
    cli()
