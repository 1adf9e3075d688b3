"""The `assistant` command: thin wrappers that call one stage each."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from assistant.errors import AssistantError
from assistant.settings import Settings, get_settings, offline_environment


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
    from assistant.index import build_index, index_status

    settings = get_settings()
    before = index_status(settings)
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


# --- search ---------------------------------------------------------------------------------


def _retriever(settings: Settings) -> Any:
    from assistant.index import open_index
    from assistant.retrieve import Retriever

    return Retriever(open_index(settings), settings)


@cli.command()
@click.argument("query", required=False)
@click.option("--k", "k", type=click.IntRange(1, 50), default=None, help="How many passages.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of passages.")
@click.option("--section", default=None, help="Only this section and its subsections, e.g. 6.1.")
@click.option("--study", default=None, help="Only passages that cite or name this study, e.g. DB-04.")
def search(query: str | None, k: int | None, as_json: bool, section: str | None, study: str | None) -> None:
    """Find the review's passages for QUERY (without QUERY: ask in a loop)."""
    settings = get_settings()
    retriever = _retriever(settings)
    if query is not None:
        _print_results(retriever.search(query, k, section=section, study=study), as_json)
        return
    click.echo("Search the review (empty line or Ctrl-D to quit).")
    while True:
        try:
            line = click.prompt("search", default="", show_default=False, prompt_suffix="> ")
        except (EOFError, click.Abort):
            break
        if not line.strip():
            break
        try:
            _print_results(retriever.search(line, k, section=section, study=study), as_json)
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


# --- benchmarks -----------------------------------------------------------------------------


@cli.group(cls=_Group)
def bench() -> None:
    """Benchmarks that print figures (not tests)."""


@bench.command(name="retrieval")
@click.option("--questions", "questions", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="Labelled question files (default: evals/retrieval.jsonl and evals/retrieval_heldout.jsonl).")
@click.option("--repeat", type=click.IntRange(1, 1000), default=5, help="Timed passes over the questions.")
def bench_retrieval(questions: tuple[Path, ...], repeat: int) -> None:
    """Recall@1/5 and MRR for dense, BM25, hybrid and a naive baseline; build, cold-start and query times."""
    from assistant.bench import run_retrieval_benchmark

    settings = get_settings()
    evals = settings.corpus_dir.parent / "evals"
    files = list(questions) or [evals / "retrieval.jsonl", evals / "retrieval_heldout.jsonl"]
    click.echo(run_retrieval_benchmark(settings, files, repeat=repeat))


def main() -> None:  # pragma: no cover - console entry point
    cli()


if __name__ == "__main__":  # pragma: no cover
    cli()
