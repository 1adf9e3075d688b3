"""`assistant bench api`: answer latency over real HTTP on loopback, 1 and N clients, against in-process.

A benchmark prints figures; it asserts nothing. The server is the real app (uvicorn, the limiter, the
middleware) on 127.0.0.1 at a free port, sharing the Assistant that the in-process timings use, so the
difference is the cost of HTTP, JSON and the server.
"""

from __future__ import annotations

import socket
import statistics
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from assistant.settings import Settings


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _line(label: str, values: Sequence[float], wall: float) -> str:
    return (f"{label:34} n={len(values):4}  p50 {_percentile(values, 0.5):7.1f} ms  p95 {_percentile(values, 0.95):7.1f} ms"
            f"  mean {statistics.fmean(values):7.1f} ms  {len(values) / wall:6.1f} answers/s")


def run_api_benchmark(settings: Settings, case_files: Sequence[Path], *, conversations: int = 60,
                      clients: int = 20) -> str:
    import uvicorn

    from assistant.conversation import Assistant
    from assistant.evaluate import load_cases
    from assistant.serve import create_app

    turns = [list(case.turns) for path in case_files for case in load_cases(path)][:conversations]
    assistant = Assistant(settings)
    assistant.warm_up()

    began = time.perf_counter()
    in_process = []
    for conversation in turns:
        start = time.perf_counter()
        assistant.answer(conversation)
        in_process.append((time.perf_counter() - start) * 1000)
    in_process_wall = time.perf_counter() - began

    app = create_app(settings, assistant=assistant)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/api/answer"
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the benchmark server did not start within 60 s")
            time.sleep(0.05)
        statuses: list[int] = []

        def timed(client: httpx.Client, conversation: list[str]) -> float:
            start = time.perf_counter()
            response = client.post(url, json={"messages": conversation}, timeout=120)
            statuses.append(response.status_code)
            return (time.perf_counter() - start) * 1000

        with httpx.Client() as client:
            timed(client, turns[0])  # one warm-up request: connection and first route call
            statuses.clear()
            began = time.perf_counter()
            one_client = [timed(client, conversation) for conversation in turns]
            one_wall = time.perf_counter() - began

        def worker(index: int) -> list[float]:
            with httpx.Client() as client:
                return [timed(client, conversation) for conversation in turns[index::clients]]

        began = time.perf_counter()
        with ThreadPoolExecutor(max_workers=clients) as pool:
            many = [t for result in pool.map(worker, range(clients)) for t in result]
        many_wall = time.perf_counter() - began
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()

    overhead = _percentile(one_client, 0.5) - _percentile(in_process, 0.5)
    busy = sum(1 for s in statuses if s == 503)
    other = sum(1 for s in statuses if s not in (200, 503))
    return "\n".join([
        f"API benchmark: {len(turns)} eval conversations ({', '.join(p.name for p in case_files)}), "
        f"whole conversation per request, POST /api/answer on 127.0.0.1 (limiter {settings.api_concurrency} "
        f"running + {settings.api_queue_size} waiting).",
        _line("in-process Assistant.answer", in_process, in_process_wall),
        _line("HTTP, 1 client", one_client, one_wall),
        _line(f"HTTP, {clients} concurrent clients", many, many_wall),
        f"HTTP overhead at p50 (1 client minus in-process): {overhead:.1f} ms; "
        f"answers 'busy' (503): {busy}; other non-200: {other}",
    ])
