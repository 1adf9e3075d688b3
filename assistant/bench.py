"""The retrieval benchmark: quality against a labelled set and a naive baseline, and timings, in one run.

Every system is scored the same way: its top-k results are mapped to the review passages they
cover (a result covers a passage when they share at least 100 characters of the original, or the
whole passage if it is shorter), and a question's recall@k is the share of its labelled passages
covered by the first k results.
"""

from __future__ import annotations

import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.index import LoadedIndex, build_index, embeddings
from assistant.settings import Settings
from assistant.types import Frozen, Review, Span

_MIN_OVERLAP = 100
# dev set (used while tuning), then sets written by other authors who saw neither the code nor the
# other sets; each blind set's first-run figure is in docs/retrieval-benchmark.md
RETRIEVAL_SETS = ("retrieval.jsonl", "retrieval_heldout.jsonl", "retrieval_blind.jsonl", "retrieval_blind2.jsonl",
                  "retrieval_blind3.jsonl", "retrieval_blind4.jsonl", "retrieval_blind5.jsonl",
                  "retrieval_blind6.jsonl", "retrieval_blind7.jsonl", "retrieval_blind8.jsonl", "retrieval_blind9.jsonl",
                  "retrieval_blind10.jsonl")
# questions the review does not address (kind "near": in its vocabulary; "far": outside it), for the weak signal
NOT_COVERED = Path("calibration") / "not_covered.jsonl"


class LabelledQuestion(Frozen):
    id: str
    question: str
    passages: tuple[str, ...]
    evidence: tuple[str, ...]
    kind: str
    also: tuple[str, ...] = ()  # passages that on their own would also answer (not scored as required)


class SecondLabel(Frozen):
    """Another annotator's labels for a question, made blind to the first labels and to the system."""

    id: str
    best: str
    required: tuple[str, ...]
    alternatives: tuple[str, ...] = ()
    note: str = ""


SECOND_ANNOTATOR = "retrieval_second_annotator.jsonl"


def load_second_labels(path: Path) -> dict[str, SecondLabel]:
    labels = [SecondLabel.model_validate_json(line)
              for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {label.id: label for label in labels}


def load_questions(path: Path) -> list[LabelledQuestion]:
    return [LabelledQuestion.model_validate_json(line)
            for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@dataclass(frozen=True)
class Quality:
    recall_at_1: float
    recall_at_5: float
    hit_at_5: float
    mrr: float


def score(ranked: Sequence[Sequence[Sequence[str]]], questions: Sequence[LabelledQuestion]) -> Quality:
    """ranked[i] is, per result in order, the passage ids that result covers."""
    r1, r5, h5, rr = [], [], [], []
    for results, question in zip(ranked, questions, strict=True):
        wanted = set(question.passages)
        top1: set[str] = set(results[0]) if results else set()
        top5: set[str] = set().union(*results[:5]) if results else set()
        r1.append(len(wanted & top1) / len(wanted))
        r5.append(len(wanted & top5) / len(wanted))
        h5.append(1.0 if wanted & top5 else 0.0)
        first = next((rank for rank, covered in enumerate(results, 1) if wanted & set(covered)), None)
        rr.append(1 / first if first else 0.0)
    n = len(questions)
    return Quality(sum(r1) / n, sum(r5) / n, sum(h5) / n, sum(rr) / n)


def covered_passages(spans: Sequence[Span], review: Review) -> list[str]:
    covered = []
    for passage in review.passages:
        length = sum(s.end - s.start for s in passage.spans)
        overlap = sum(max(0, min(a.end, b.end) - max(a.start, b.start)) for a in spans for b in passage.spans)
        if overlap >= min(_MIN_OVERLAP, length):
            covered.append(passage.id)
    return covered


def naive_store(settings: Settings, original: str) -> Any:
    """LangChain's RecursiveCharacterTextSplitter (1000/200) over the raw text in an in-memory Chroma
    collection, embedded by the same model; documents carry `start_index` into the original."""
    from langchain_chroma import Chroma
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from assistant.index import chroma_settings

    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200, add_start_index=True)
    documents = splitter.create_documents([original])
    store = Chroma(collection_name="naive-baseline", embedding_function=embeddings(settings),
                   client_settings=chroma_settings(), collection_configuration={"hnsw": {"space": "cosine"}})
    store.add_documents(documents, ids=[f"naive-{i}" for i in range(len(documents))])
    return store


def _naive_baseline(index: LoadedIndex, settings: Settings, original: str) -> Callable[[str], list[list[str]]]:
    """The naive store's top-k, mapped to the review passages each chunk covers."""
    store = naive_store(settings, original)

    def search(question: str) -> list[list[str]]:
        hits = store.similarity_search(question, k=5)
        return [covered_passages([Span(start=d.metadata["start_index"],
                                       end=d.metadata["start_index"] + len(d.page_content))], index.review)
                for d in hits]

    return search


def second_annotator_line(labels: dict[str, SecondLabel], questions: Sequence[LabelledQuestion],
                           hybrid: dict[str, list[list[str]]]) -> str:
    """Agreement with a second, blind annotator, and the hybrid's recall@5 had their labels been the key."""
    relabelled = [q for q in questions if q.id in labels]
    if not relabelled:
        return "Second annotator: no labelled question in these sets."
    agree = sum(set(q.passages) == set(labels[q.id].required) for q in relabelled)
    theirs = [q.model_copy(update={"passages": labels[q.id].required}) for q in relabelled]
    quality = score([hybrid[q.id] for q in theirs], theirs)
    ours = score([hybrid[q.id] for q in relabelled], relabelled)
    return (f"Second annotator (blind to the labels and the system) on {len(relabelled)} of these questions: "
            f"same passages for {agree}; hybrid recall@5 {quality.recall_at_5:.3f} on their labels, "
            f"{ours.recall_at_5:.3f} on ours.")


def weakness_line(retriever: Any, questions: Sequence[LabelledQuestion], hybrid: dict[str, list[list[str]]],
                  not_covered: Path, threshold: float) -> str:
    """How often the weak-retrieval signal (support below the threshold) fires on labelled questions whose
    passages the hybrid found in its top 5, on those it missed, and on questions the review does not address."""
    groups: dict[str, list[float]] = {"found": [], "missed": []}
    for question in questions:
        found = set(question.passages) <= {p for covered in hybrid[question.id][:5] for p in covered}
        groups["found" if found else "missed"].append(retriever.support(question.question))
    if not_covered.is_file():
        import json

        for line in not_covered.read_text(encoding="utf-8").splitlines():
            if line.strip():
                case = json.loads(line)
                groups.setdefault(f"not covered ({case.get('kind', '?')})", []).append(
                    retriever.support(case["question"]))
    rates = "; ".join(f"{name} {sum(1 for v in values if v is not None and v < threshold)}/{len(values)}"
                      for name, values in groups.items() if values)
    return f"Weak-retrieval signal (best passage-key cosine < {threshold:.2f}) flags: {rates}."


def _load_average() -> str:
    import os

    return f"{os.getloadavg()[0]:.1f}"


def _cores() -> int:
    import os

    return os.cpu_count() or 1


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _cold_start(settings: Settings, query: str, runs: int = 3) -> float:
    """Seconds from process start to the first printed result of `assistant search`."""
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "assistant.cli", "search", query, "--k", "1", "--json"],
                       check=True, capture_output=True)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def run_retrieval_benchmark(settings: Settings, question_files: Sequence[Path], *, repeat: int = 5) -> str:
    sets = {path.name: load_questions(path) for path in question_files}
    everything = [q for questions in sets.values() for q in questions]
    lines = [f"Retrieval benchmark: {len(everything)} labelled questions "
             f"({', '.join(f'{name}: {len(qs)}' for name, qs in sets.items())}); k=5 results, "
             "recall = share of a question's labelled passages covered by the first k results."]

    with tempfile.TemporaryDirectory(prefix="bench-index-") as scratch:
        scratch_settings = settings.model_copy(update={"index_dir": Path(scratch)})
        started = time.perf_counter()
        build_index(scratch_settings, force=True)
        build_seconds = time.perf_counter() - started

    build_index(settings)  # the project's own index, built if missing or stale
    from assistant.conversation import Assistant

    assistant = Assistant(settings)
    index = assistant.index
    original = (settings.corpus_dir / "review.txt").read_text(encoding="utf-8")
    baseline = _naive_baseline(index, settings, original)
    hybrid_name = "hybrid (RRF: dense, sentences, BM25, studies, intent, case rules)"
    systems: dict[str, Callable[[str], list[list[str]]]] = {
        "naive baseline (1000/200 chars, dense)": baseline,
        "dense only (MiniLM, Chroma)": lambda q: [[r.passage_id] for r in assistant.search(q, 5, mode="dense")],
        "BM25 only (+ vocabulary, aliases)": lambda q: [[r.passage_id] for r in assistant.search(q, 5, mode="lexical")],
        "hybrid without case rules (the retriever alone)":
            lambda q: [[r.passage_id] for r in assistant.retriever.search(q, 5)],
        hybrid_name: lambda q: [[r.passage_id] for r in assistant.search(q, 5)],
    }
    results = {name: {q.id: system(q.question) for q in everything} for name, system in systems.items()}
    for set_name, questions in [*sets.items(), ("all", everything)]:
        lines.append("")
        lines.append(f"{set_name} ({len(questions)} questions)")
        lines.append(f"| {'system':66} | recall@1 | recall@5 | hit@5 | MRR   |")
        lines.append(f"|{'-' * 68}|----------|----------|-------|-------|")
        for name in systems:
            quality = score([results[name][q.id] for q in questions], questions)
            lines.append(f"| {name:66} | {quality.recall_at_1:8.3f} | {quality.recall_at_5:8.3f} | "
                         f"{quality.hit_at_5:5.3f} | {quality.mrr:5.3f} |")
    hybrid = score([results[hybrid_name][q.id] for q in everything], everything)
    naive = score([results["naive baseline (1000/200 chars, dense)"][q.id] for q in everything], everything)
    lines.append("")
    lines.append(f"All questions: hybrid recall@5 {hybrid.recall_at_5:.3f} vs naive baseline {naive.recall_at_5:.3f} "
                 f"({100 * (hybrid.recall_at_5 - naive.recall_at_5):+.1f} points).")
    second = settings.corpus_dir.parent / "evals" / SECOND_ANNOTATOR
    if second.is_file():
        lines.append(second_annotator_line(load_second_labels(second), everything, results[hybrid_name]))

    not_covered = settings.corpus_dir.parent / "evals" / NOT_COVERED
    lines.append(weakness_line(assistant.retriever, everything, results[hybrid_name], not_covered,
                               settings.weak_support))

    latencies, cpu = [], []
    for question in everything[:3]:  # warm-up: model, vectors and BM25 caches
        assistant.search(question.question)
    for _ in range(repeat):
        for question in everything:
            started, cpu_started = time.perf_counter(), time.process_time()
            assistant.search(question.question)
            latencies.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - cpu_started) * 1000)
    cold = _cold_start(settings, everything[0].question)
    lines.append("")
    lines.append(f"Index build (fresh folder, includes model load and a fresh-process verify): {build_seconds:.1f} s")
    lines.append(f"Cold start, process start to first result (`assistant search`, median of 3): {cold:.2f} s")
    lines.append(f"Warm hybrid search over {len(latencies)} queries: p50 {_percentile(latencies, 0.5):.1f} ms, "
                 f"p95 {_percentile(latencies, 0.95):.1f} ms, max {max(latencies):.1f} ms; CPU time a query "
                 f"p50 {_percentile(cpu, 0.5):.1f} ms, p95 {_percentile(cpu, 0.95):.1f} ms "
                 f"(load average {_load_average()} on {_cores()} cores)")
    lines.append(f"corpus_version {index.corpus_version}; {len(index.chunks)} chunks; "
                 f"model {settings.embedding_model}")
    return "\n".join(lines)


def run_answer_benchmark(settings: Settings, case_files: Sequence[Path], *, repeat: int = 3) -> str:
    """Warm answer latency over every eval conversation, and cold start of `assistant ask`."""
    from assistant.conversation import Assistant
    from assistant.evaluate import load_cases

    build_index(settings)
    conversations = [list(case.turns) for path in case_files for case in load_cases(path)]
    started = time.perf_counter()
    assistant = Assistant(settings)
    assistant.warm_up()
    load_seconds = time.perf_counter() - started
    latencies: list[float] = []
    by_kind: dict[str, list[float]] = {}
    for _ in range(repeat):
        for turns in conversations:
            began = time.perf_counter()
            answer = assistant.answer(turns)
            elapsed = (time.perf_counter() - began) * 1000
            latencies.append(elapsed)
            by_kind.setdefault(answer.kind, []).append(elapsed)
    def cold_start(question: str) -> float:
        timings = []
        for _ in range(3):
            began = time.perf_counter()
            subprocess.run([sys.executable, "-m", "assistant.cli", "ask", question, "--json"], check=True,
                           capture_output=True)
            timings.append(time.perf_counter() - began)
        return statistics.median(timings)

    # A recommendation needs no embedding; an explanation loads the model: both are measured.
    cold_recommendation = cold_start("HER2-low HR-positive metastatic breast cancer after a CDK4/6 inhibitor and chemotherapy")
    cold_explanation = cold_start("Why does oligoprogression happen on an ADC?")
    lines = [
        f"Answer benchmark: {len(conversations)} conversations ({', '.join(p.name for p in case_files)}), "
        f"{repeat} passes, whole conversation replayed per answer.",
        f"Assistant load in-process (index, rules, model, warm-up answer): {load_seconds:.2f} s",
        "Cold start, process start to printed answer (`assistant ask --json`, median of 3): "
        f"recommendation {cold_recommendation:.2f} s; explanation (loads the embedding model) {cold_explanation:.2f} s",
        f"Warm answers ({len(latencies)}): p50 {_percentile(latencies, 0.5):.1f} ms, p95 {_percentile(latencies, 0.95):.1f} ms, "
        f"max {max(latencies):.1f} ms",
    ]
    for kind, values in sorted(by_kind.items()):
        lines.append(f"  {kind:15} n={len(values):4}  p50 {_percentile(values, 0.5):6.1f} ms  p95 {_percentile(values, 0.95):6.1f} ms")
    return "\n".join(lines)


# --- load: the real server in a subprocess, many concurrent clients over loopback ---------------


def free_port() -> int:
    """A port free on 127.0.0.1 now (the server binds it a moment later)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _tree(pid: int) -> dict[int, list[str]]:
    """A process and all its descendants, each with the fields of /proc/PID/stat after the command name."""
    stats: dict[int, list[str]] = {}
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended while we looked
            continue
        stats[int(stat.parent.name)] = fields
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = {}, [pid]
    while todo:
        current = todo.pop()
        if current in stats:
            tree[current] = stats[current]
        todo.extend(children.get(current, []))
    return tree


def tree_rss(pid: int) -> int:
    """Resident memory in bytes of a process and all its descendants (Linux /proc), as a cgroup limit sees
    them (pages shared between workers count once per process)."""
    import os

    page = os.sysconf("SC_PAGE_SIZE")
    return sum(int(fields[21]) * page for fields in _tree(pid).values())


def tree_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by a process and its live descendants."""
    import os

    ticks = os.sysconf("SC_CLK_TCK")
    return sum((int(fields[11]) + int(fields[12])) / ticks for fields in _tree(pid).values())


class ServerProcess:
    """The web app served by uvicorn on 127.0.0.1 at a free port, in its own process (group).

    workers 1: the deployed command, `assistant serve`; more: uvicorn's own command line with the app
    factory (docs/deploy.md). stdout and stderr go to `log_path`; `env` is added to the environment.
    """

    def __init__(self, settings: Settings, log_path: Path, *, workers: int = 1, env: dict[str, str] | None = None,
                 cwd: Path | None = None, prefix: Sequence[str] = ()) -> None:
        import os

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.log_path = log_path
        if workers == 1:
            self.command = [sys.executable, "-m", "assistant.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        else:
            self.command = [sys.executable, "-m", "uvicorn", "assistant.serve.app:from_environment", "--factory",
                            "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers)]
        self.environment = {**os.environ, "ASSISTANT_INDEX_DIR": str(settings.index_dir),
                            "ASSISTANT_CORPUS_DIR": str(settings.corpus_dir), "ASSISTANT_HOST": "127.0.0.1",
                            "ASSISTANT_PORT": str(self.port), **(env or {})}
        self.cwd = cwd
        self.prefix = list(prefix)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 180) -> ServerProcess:
        """Start and wait until every worker answers /api/health (or raise with the log's tail)."""
        import httpx

        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen([*self.prefix, *self.command], stdout=log, stderr=subprocess.STDOUT,
                                            env=self.environment, cwd=self.cwd, start_new_session=True)
        deadline = time.monotonic() + timeout
        ready = 0
        # each new connection may reach another worker: all are ready after enough answers in a row
        while ready < 10 * self.workers:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the server did not answer within {timeout:.0f} s:\n{self.log_tail()}")
            try:
                ok = httpx.get(f"{self.url}/api/health", timeout=5).status_code == 200
            except httpx.TransportError:
                ok = False
            ready = ready + 1 if ok else 0
            if not ok:
                time.sleep(0.25)
        return self

    def rss(self) -> int:
        return tree_rss(self.process.pid) if self.process is not None else 0

    def cpu_seconds(self) -> float:
        return tree_cpu_seconds(self.process.pid) if self.process is not None else 0.0

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM to the process group (uvicorn shuts down gracefully), SIGKILL after 20 s."""
        import os
        import signal

        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        except ProcessLookupError:
            pass

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class LoadResult:
    """What a load run saw; `statuses` holds HTTP codes, and 'timeout' / 'transport' for requests that got none."""

    clients: int
    workers: int
    wall_seconds: float
    latencies_ms: list[float]
    statuses: list[int | str]
    rss: list[tuple[int, float, int]]  # (requests done, seconds since start, bytes)
    kinds: list[str | None]  # each response's Answer kind ("error" for busy), None when it was not an Answer
    server_cpu_seconds: float = 0.0

    @property
    def server_cores(self) -> float:
        """CPU the server got, in cores: about 1 when it had a core to itself (the work holds Python's GIL)."""
        return self.server_cpu_seconds / self.wall_seconds

    @property
    def answers_per_cpu_second(self) -> float:
        """Answers per second of server CPU: its cost, whatever share of the machine it was given."""
        return self.count(200) / self.server_cpu_seconds if self.server_cpu_seconds else 0.0

    @property
    def requests(self) -> int:
        return len(self.statuses)

    def count(self, status: int | str) -> int:
        return sum(1 for s in self.statuses if s == status)

    @property
    def errors(self) -> int:
        """Anything but an answer (200) or 'busy' (503): other statuses, timeouts, broken connections."""
        return sum(1 for s in self.statuses if s not in (200, 503))

    def answered_ms(self) -> list[float]:
        return [t for t, s in zip(self.latencies_ms, self.statuses, strict=True) if s == 200]

    def rss_at(self, share: float) -> int:
        """RSS of the sample nearest `share` of the requests done (0: before the load, 1: after it)."""
        target = share * self.requests
        return min(self.rss, key=lambda sample: abs(sample[0] - target))[2]

    def render(self) -> str:
        mb = 1024 * 1024
        from collections import Counter

        answered = self.answered_ms()
        others = Counter(str(s) for s in self.statuses if s not in (200, 503))
        lines = [
            f"{self.clients} clients, {self.workers} worker(s): {self.requests} requests in {self.wall_seconds:.1f} s "
            f"({self.requests / self.wall_seconds:.1f}/s, answered {len(answered) / self.wall_seconds:.1f}/s)",
            f"  all responses   p50 {_percentile(self.latencies_ms, 0.5):7.1f} ms  p95 {_percentile(self.latencies_ms, 0.95):7.1f} ms"
            f"  max {max(self.latencies_ms):7.1f} ms",
        ]
        if answered:
            lines.append(f"  answered (200)  p50 {_percentile(answered, 0.5):7.1f} ms  p95 {_percentile(answered, 0.95):7.1f} ms"
                         f"  max {max(answered):7.1f} ms")
        lines += [
            f"  200: {self.count(200)}  503 busy: {self.count(503)}  errors: {self.errors}"
            + (f" ({', '.join(f'{s}: {n}' for s, n in sorted(others.items()))})" if others else ""),
            f"  server RSS start {self.rss_at(0) / mb:.0f} MB, middle {self.rss_at(0.5) / mb:.0f} MB, "
            f"end {self.rss_at(1) / mb:.0f} MB (max {max(s[2] for s in self.rss) / mb:.0f} MB); "
            f"server CPU {self.server_cores:.2f} cores, {self.answers_per_cpu_second:.1f} answers per CPU second",
        ]
        return "\n".join(lines)


def conversations_of(case_files: Sequence[Path]) -> list[list[str]]:
    """The turns of every eval case: a client sends them the way the chat does, the whole conversation so far."""
    from assistant.evaluate import load_cases

    return [list(case.turns) for path in case_files for case in load_cases(path) if case.turns]


def drive_load(url: str, conversations: Sequence[Sequence[str]], *, clients: int, requests: int, max_seconds: float,
               rss: Callable[[], int] = lambda: 0, cpu_seconds: Callable[[], float] = lambda: 0.0,
               request_timeout: float = 60, busy_pause: float = 1.0, unique_words: bool = False) -> LoadResult:
    """`clients` concurrent clients (one connection each) POST /api/answer until `requests` are sent or
    `max_seconds` have passed; a request then in flight ends within `request_timeout`. Loopback only.

    A client told "busy" (503) waits `busy_pause` seconds before its next request, as a person retrying
    would: without it the request budget goes on a storm of instant retries. `unique_words`: each conversation
    played gets a word never seen before in its first message (as real notes carry names, dates and ids), so
    whatever a process keeps per distinct word shows in its memory."""
    import asyncio
    import itertools
    import os

    import httpx

    if not url.startswith(("http://127.0.0.1:", "http://localhost:", "http://[::1]:")):
        raise ValueError(f"the load benchmark drives a local server only, not {url}")
    plays = itertools.cycle(conversations)
    played = itertools.count()
    latencies: list[float] = []
    statuses: list[int | str] = []
    kinds: list[str | None] = []
    samples: list[tuple[int, float, int]] = []
    sent = 0

    async def client() -> None:
        nonlocal sent
        async with httpx.AsyncClient(base_url=url, timeout=request_timeout) as http:
            while True:
                conversation = next(plays)
                if unique_words:
                    first = f"{conversation[0]} (case ref q{next(played):06d}x{os.getpid() % 1000:03d})"
                    conversation = [first, *conversation[1:]]
                for turn in range(1, len(conversation) + 1):
                    if sent >= requests or time.monotonic() >= deadline:
                        return
                    sent += 1
                    began = time.perf_counter()
                    status: int | str
                    kind: str | None = None
                    try:
                        response = await http.post("/api/answer", json={"messages": list(conversation[:turn])})
                        status = response.status_code
                    except httpx.TimeoutException:
                        status = "timeout"
                    except httpx.TransportError:
                        status = "transport"
                    latencies.append((time.perf_counter() - began) * 1000)
                    if isinstance(status, int):
                        with contextlib.suppress(ValueError, AttributeError):
                            kind = response.json().get("kind")
                    statuses.append(status)
                    kinds.append(kind)
                    if status == 503:
                        await asyncio.sleep(busy_pause)

    async def sample() -> None:
        while True:
            samples.append((len(statuses), time.monotonic() - start, await asyncio.to_thread(rss)))
            await asyncio.sleep(0.5)

    async def run() -> None:
        sampler = asyncio.create_task(sample())
        try:
            await asyncio.wait_for(asyncio.gather(*(client() for _ in range(clients))),
                                   timeout=max_seconds + request_timeout + 5)
        finally:
            sampler.cancel()

    samples.append((0, 0.0, rss()))
    cpu_before = cpu_seconds()
    start = time.monotonic()
    deadline = start + max_seconds
    asyncio.run(run())
    wall = time.monotonic() - start
    samples.append((len(statuses), wall, rss()))
    return LoadResult(clients=clients, workers=1, wall_seconds=wall, latencies_ms=latencies, statuses=statuses,
                      rss=samples, kinds=kinds, server_cpu_seconds=cpu_seconds() - cpu_before)


def run_load_benchmark(settings: Settings, case_files: Sequence[Path], *, clients: int = 20, requests: int = 2000,
                       max_seconds: float = 300, workers: int = 1, unique_words: bool = False) -> str:
    """Starts the server, warms it, drives the load, prints the figures and how they compare with the targets."""
    import os

    build_index(settings)
    conversations = conversations_of(case_files)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-load-") as scratch:
        folder = Path(scratch)
        server = ServerProcess(settings, folder / "server.log", workers=workers,
                               env={"GRADIO_TEMP_DIR": str(folder / "gradio")})
        with server:
            drive_load(server.url, conversations, clients=8, requests=40 * workers, max_seconds=60)  # warm-up
            result = drive_load(server.url, conversations, clients=clients, requests=requests,
                                max_seconds=max_seconds, rss=server.rss, cpu_seconds=server.cpu_seconds,
                                unique_words=unique_words)
            result.workers = workers
    # the targets: 20 clients all answered, p95 under 2 s; 100 clients p95 under 10 s, the rest "busy"
    answered = result.answered_ms()
    p95 = _percentile(answered, 0.95) if answered else float("inf")
    target = 2000 if clients <= 20 else 10_000
    met = p95 < target and result.errors == 0 and (clients > 20 or result.count(503) == 0)
    verdict = (f"target ({'answered p95 < 2 s, no 503, no errors' if clients <= 20 else 'answered p95 < 10 s, only 200 or 503'}): "
               + ("met" if met else "NOT met"))
    return "\n".join([
        f"Load benchmark: POST /api/answer on 127.0.0.1, {len(conversations)} eval conversations "
        f"({', '.join(p.name for p in case_files)}) played turn by turn, the whole conversation per request"
        f"{', a new word in each' if unique_words else ''}; "
        f"bounded at {requests} requests or {max_seconds:.0f} s; limiter {settings.api_concurrency} running + "
        f"{settings.api_queue_size} waiting per worker.",
        f"server: {' '.join(Path(a).name if a == sys.executable else a for a in server.command)}",
        result.render(),
        verdict,
        f"machine: {os.cpu_count()} cores, load average (1 min) {load_before:.1f} before the server started, "
        f"{os.getloadavg()[0]:.1f} at the end (the server and the clients are part of it)",
    ])
