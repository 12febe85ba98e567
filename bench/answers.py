"""Benchmark: the answer endpoint against a bare Starlette app, same server, same load.

Two server processes run side by side under the daemon's own uvicorn settings (the app's are
read from `service.make_server`, the bare app's copied from them: one worker, the same loop
and HTTP implementation, lifespan off, no access log): the daemon's web app built from a
config by `build_runtime` over a seeded store, and a bare Starlette app that answers the same
paths with a page of the same size (GET) and reads the same small form before a 303 (POST).
One load generator drives both: wrk (Debian package `wrk`: `apt-get install -y wrk`), 16
keep-alive connections on 2 threads, with bench/answers.lua giving every request the next
path of a file, so each POST carries a distinct signed token and records a real answer (the
browser's scripted POST: `via=script`).

    python bench/answers.py [--db sqlite|postgresql] [--pg URL] [--seconds 5] [--rounds 3]
                            [--connections 16] [--json]

Runs are interleaved (app, bare, then bare, app, ... for GET and for POST) after a warm-up;
each figure is the median over the rounds. Printed per method: requests/s and p50/p99 latency
of each server, the ratio app req/s / bare req/s, each server's CPU time per request (user +
system of all its threads, from /proc: steadier than req/s on a busy box) and the load
average around the runs (the box is shared: a figure is only worth its load). The app logs
as the daemon does (INFO, JSON lines; written to /dev/null); the daemon's jobs do not run.
Afterwards each POST answered 303 (wrk notes its token from the Location header) is looked
up in the database: "answered but not stored" must be 0.
PostgreSQL runs in a schema of its own in `--pg` (default $CLOSEDLOOP_TEST_PG_URL), dropped
at the end.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

LUA = Path(__file__).with_name("answers.lua")
PROGRAM = "support-csat"
SCORE = 5
GET_SENDS = 2_000  # GET paths cycle over these (a GET records nothing)


def _config(state_url: str) -> dict[str, Any]:
    return {
        "daemon": {"state_url": state_url},
        "sources": {"hubspot": {"crm": "hubspot", "base_url": "http://127.0.0.1:9"}},
        "mail": {"host": "127.0.0.1", "port": 25, "from_address": "f@acme.example"},
        "programs": [{"name": PROGRAM, "type": "csat", "source": "hubspot",
                      "company": "Acme"}],
    }


def _secrets() -> Any:
    from closedloop.daemon.env_secrets import Secrets

    return Secrets(secret_key="b" * 40, source_tokens={"hubspot": "bench-token"})


def serve(kind: str, state_url: str, port: int, page_size: int) -> None:
    """Child process: the daemon's web app (`app`) or the bare Starlette app (`bare`)."""
    from closedloop.daemon.config import parse_config
    from closedloop.daemon.logging import configure
    from closedloop.daemon.runtime import build_runtime
    from closedloop.daemon.service import make_server

    sys.stderr = open(os.devnull, "w")  # noqa: SIM115 (the child's whole life)
    configure("json")  # the daemon's own logging (INFO, JSON lines), written nowhere
    rt = build_runtime(parse_config(_config(state_url), "bench"), _secrets())
    server = make_server(rt, "127.0.0.1", port)
    if kind == "bare":
        import uvicorn

        app = server.config
        server = uvicorn.Server(uvicorn.Config(
            bare_app(page_size), host="127.0.0.1", port=port, log_level="warning",
            access_log=False, lifespan=app.lifespan, loop=app.loop, http=app.http,
            workers=app.workers))
    server.run()


def bare_app(page_size: int) -> Any:
    """The reference: routing, a page of the landing's size, a form read, a redirect."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, RedirectResponse, Response
    from starlette.routing import Route

    page = "<!doctype html>" + "x" * max(page_size - 15, 0)

    async def landing(request: Request) -> Response:
        return HTMLResponse(page)

    async def record(request: Request) -> Response:
        form = await request.form()
        assert form.get("via") is not None
        return RedirectResponse(f"../../c/{request.path_params['token']}", status_code=303)

    return Starlette(routes=[Route("/r/{token}/{score}", landing, methods=["GET"]),
                             Route("/r/{token}/{score}", record, methods=["POST"])])


def seed(state_url: str, sends: int) -> list[str]:
    """`sends` sent surveys; their answer tokens (signed as the daemon signs them)."""
    from closedloop.daemon.config import parse_config
    from closedloop.daemon.runtime import build_runtime
    from closedloop.daemon.store.tables import Send

    rt = build_runtime(parse_config(_config(state_url), "bench"), _secrets())
    rt.store.migrate()
    now = datetime.now(UTC)
    with rt.store.engine.begin() as conn:
        for start in range(1, sends + 1, 5000):
            conn.execute(Send.__table__.insert(), [
                {"id": i, "idem_key": f"bench-{i}", "program": PROGRAM, "survey_type": "csat",
                 "source": "hubspot", "contact_id": str(i), "ticket_id": f"t{i}",
                 "email": f"c{i}@example.com", "language": "en", "created_at": now,
                 "due_at": now, "status": "sent", "sent_at": now}
                for i in range(start, min(start + 5000, sends + 1))])
    tokens = [rt.signer.make(i, now) for i in range(1, sends + 1)]
    rt.close()
    return tokens


def answered_sends(state_url: str) -> set[int]:
    """The ids of the sends with a stored answer."""
    from sqlalchemy import select

    from closedloop.daemon.store import Store
    from closedloop.daemon.store.tables import Response

    store = Store(state_url)
    with store.engine.connect() as conn:
        ids = set(conn.scalars(select(Response.__table__.c.send_id)))
    store.dispose()
    return ids


def wrk(port: int, paths: Path, method: str, seconds: int, connections: int,
        answered: Path) -> dict[str, Any]:
    """One wrk run; its figures, and the tokens of the POSTs answered 303 in `answered`."""
    threads = 2
    out = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(int(seconds), 1)}s",
         "--timeout", "10s", "-s", str(LUA), f"http://127.0.0.1:{port}", "--",
         str(paths), method, str(threads), "1" if method == "GET" else "0"],
        check=False, capture_output=True, text=True, timeout=seconds + 60,
        env={**os.environ, "ANSWERED_FILE": str(answered)})
    if out.returncode:
        raise SystemExit(f"wrk failed: {out.stderr.strip() or out.stdout.strip()}")
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("{")][-1]
    figures: dict[str, Any] = json.loads(line)
    figures["rps"] = figures["ok"] / figures["seconds"]
    return figures


def wait_ready(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/nothing", timeout=1).close()
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
            continue
        return
    raise SystemExit(f"server on port {port} did not start")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def run(args: argparse.Namespace, state_url: str) -> dict[str, Any]:
    per_run = int(args.seconds * args.max_rate)
    tokens = seed(state_url, GET_SENDS + per_run * (args.rounds + 1))
    work = Path(tempfile.mkdtemp(prefix="bench-answers-"))
    get_paths = work / "get.txt"
    get_paths.write_text("".join(f"/r/{t}/{SCORE}\n" for t in tokens[:GET_SENDS]))
    post_files = []
    for n in range(args.rounds + 1):  # the first slice is the warm-up's
        chunk = tokens[GET_SENDS + n * per_run: GET_SENDS + (n + 1) * per_run]
        path = work / f"post{n}.txt"
        path.write_text("".join(f"/r/{t}/{SCORE}\n" for t in chunk))
        post_files.append(path)
    ctx = mp.get_context("spawn")
    ports = {"app": free_port(), "bare": free_port()}
    servers: dict[str, Any] = {}
    try:
        for kind, port in ports.items():  # the app first: the bare page is as long as its own
            if kind == "bare":
                with urllib.request.urlopen(f"http://127.0.0.1:{ports['app']}/r/{tokens[0]}/"
                                            f"{SCORE}", timeout=10) as landing:
                    page_size = len(landing.read())
            servers[kind] = ctx.Process(target=serve, args=(kind, state_url, port,
                                                            page_size if kind == "bare" else 0),
                                        daemon=True)
            servers[kind].start()
            wait_ready(port)
        runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
        loads: list[float] = [os.getloadavg()[0]]
        answered: list[str] = []  # tokens of the app's POSTs answered 303
        sink = work / "answered.txt"
        for kind in ("app", "bare"):  # warm-up: imports, caches, connection pools
            wrk(ports[kind], get_paths, "GET", 1, args.connections, sink)
            wrk(ports[kind], post_files[0], "POST", 1, args.connections, sink)
            if kind == "app":
                answered += sink.read_text().split()
        for n in range(args.rounds):
            order = ("app", "bare") if n % 2 == 0 else ("bare", "app")
            for method in ("GET", "POST"):
                for kind in order:
                    paths = get_paths if method == "GET" else post_files[n + 1]
                    cpu = cpu_seconds(servers[kind].pid)
                    figures = wrk(ports[kind], paths, method, args.seconds, args.connections,
                                  sink)
                    figures["cpu_us"] = (cpu_seconds(servers[kind].pid) - cpu) * 1e6 / max(
                        figures["requests"], 1)
                    figures["load"] = os.getloadavg()[0]
                    loads.append(figures["load"])
                    runs.setdefault((kind, method), []).append(figures)
                    if kind == "app" and method == "POST":
                        answered += sink.read_text().split()
    finally:
        for proc in servers.values():
            proc.terminate()
            proc.join(timeout=10)
        shutil.rmtree(work, ignore_errors=True)
    ids = {token: i for i, token in enumerate(tokens, start=1)}
    stored = answered_sends(state_url)
    check = {"posts_answered": len(answered),
             "distinct_tokens_answered": len(set(answered)),
             "answered_not_stored": len({ids[t] for t in answered} - stored),
             "answers_stored": len(stored)}
    return summarize(runs, loads, check, args)


def summarize(runs: dict[tuple[str, str], list[dict[str, Any]]], loads: list[float],
              check: dict[str, int], args: argparse.Namespace) -> dict[str, Any]:
    def med(kind: str, method: str, key: str) -> float:
        return round(statistics.median(r[key] for r in runs[(kind, method)]), 2)

    out: dict[str, Any] = {"db": args.db, "connections": args.connections,
                           "seconds_per_run": args.seconds, "rounds": args.rounds}
    for method in ("GET", "POST"):
        m = method.lower()
        for kind in ("app", "bare"):
            out[f"{m}_{kind}_rps"] = med(kind, method, "rps")
            out[f"{m}_{kind}_p50_ms"] = med(kind, method, "p50_ms")
            out[f"{m}_{kind}_p99_ms"] = med(kind, method, "p99_ms")
            out[f"{m}_{kind}_cpu_us_per_request"] = med(kind, method, "cpu_us")
            out[f"{m}_{kind}_non_2xx_3xx"] = sum(r["other_status"] for r in runs[(kind, method)])
            out[f"{m}_{kind}_socket_errors"] = sum(r["socket_errors"]
                                                   for r in runs[(kind, method)])
        out[f"{m}_ratio"] = round(out[f"{m}_app_rps"] / out[f"{m}_bare_rps"], 3)
        out[f"{m}_p99_ms"] = out[f"{m}_app_p99_ms"]
    out["post_tokens_reused"] = sum(r["reused"] for r in runs[("app", "POST")])
    out.update(check)
    out["load_avg_1m"] = {"min": min(loads), "max": max(loads),
                          "median": round(statistics.median(loads), 2)}
    out["cpus"] = os.cpu_count()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg", default=os.environ.get("CLOSEDLOOP_TEST_PG_URL"),
                        help="PostgreSQL URL (a schema is made in it and dropped)")
    parser.add_argument("--seconds", type=int, default=5, help="length of each run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--max-rate", type=int, default=4000,
                        help="POST tokens made per run second (more than any run answers)")
    parser.add_argument("--json", action="store_true", help="one JSON object")
    args = parser.parse_args()
    from closedloop.daemon.logging import configure

    configure("json", level=40)  # stdout carries the figures only
    if shutil.which("wrk") is None:
        sys.exit("bench/answers.py needs wrk (Debian: apt-get install -y wrk)")
    if args.db == "postgresql":
        if not args.pg:
            sys.exit("--db postgresql needs --pg URL or CLOSEDLOOP_TEST_PG_URL")
        figures = _on_postgresql(args)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            figures = run(args, f"sqlite:///{Path(tmp) / 'bench.db'}")
    if args.json:
        print(json.dumps(figures))
        return
    report(figures)


def _on_postgresql(args: argparse.Namespace) -> dict[str, Any]:
    from pg_scratch import scratch_schema

    with scratch_schema(args.pg, "bench_answers") as url:
        return run(args, url)


def report(f: dict[str, Any]) -> None:
    load = f["load_avg_1m"]
    print(f"answer endpoint vs bare Starlette ({f['db']}, {f['connections']} connections, "
          f"{f['rounds']} interleaved rounds of {f['seconds_per_run']} s, medians; "
          f"load average {load['min']:.1f}-{load['max']:.1f} on {f['cpus']} CPUs)")
    print(f"{'':6}{'app req/s':>11}{'bare req/s':>12}{'ratio':>8}"
          f"{'app p50':>9}{'app p99':>9}{'bare p50':>10}{'bare p99':>10}  (ms)")
    for m in ("get", "post"):
        print(f"{m.upper():6}{f[f'{m}_app_rps']:>11.0f}{f[f'{m}_bare_rps']:>12.0f}"
              f"{f[f'{m}_ratio']:>8.3f}{f[f'{m}_app_p50_ms']:>9.1f}{f[f'{m}_app_p99_ms']:>9.1f}"
              f"{f[f'{m}_bare_p50_ms']:>10.1f}{f[f'{m}_bare_p99_ms']:>10.1f}")
    print("ratio = app req/s / bare req/s (requests answered 200/303 per second of run)")
    print(f"server CPU per request (user+system, all threads): GET app "
          f"{f['get_app_cpu_us_per_request']:.0f} µs, bare {f['get_bare_cpu_us_per_request']:.0f}"
          f" µs; POST app {f['post_app_cpu_us_per_request']:.0f} µs, bare "
          f"{f['post_bare_cpu_us_per_request']:.0f} µs")
    print(f"POSTs answered 303: {f['posts_answered']} ({f['distinct_tokens_answered']} distinct "
          f"tokens, {f['post_tokens_reused']} reused); answers stored: {f['answers_stored']} "
          f"(more: POSTs cut off by the end of a run); answered but not stored: "
          f"{f['answered_not_stored']}")
    print(f"other statuses: GET {f['get_app_non_2xx_3xx']}, POST {f['post_app_non_2xx_3xx']}; "
          f"socket errors: GET {f['get_app_socket_errors']}, POST {f['post_app_socket_errors']}")


if __name__ == "__main__":
    main()
