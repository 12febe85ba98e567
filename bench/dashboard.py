"""Benchmark: the dashboard's pages over HTTP on the data `bench/report.py` builds.

Serves the daemon's web app (uvicorn on 127.0.0.1) over an existing state database, signs in
as headquarters, a region manager and a store manager, and prints the median and p95 of
--repeat GETs of each page, data endpoint and CSV download (12 weeks, by week):

    python bench/report.py --sqlite /tmp/report-bench.db          # builds 1 M answers
    python bench/dashboard.py sqlite:////tmp/report-bench.db [--repeat 20]

The database is migrated first (the dashboard's tables are added if missing).
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import statistics
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import uvicorn

from closedloop.daemon.store import Store
from closedloop.daemon.web.admin.accounts import Accounts
from closedloop.daemon.web.admin.app import create_admin_app
from closedloop.daemon.web.admin.passwords import hash_password
from closedloop.daemon.web.admin.settings import UserSettings
from closedloop.daemon.web.app import create_app
from closedloop.daemon.web.tokens import TokenSigner

PASSWORD = "bench-password-123"
USERS = {"headquarters": {}, "region": {"region": "region-03"}, "store": {"store": "store-007"}}


def _report_bench() -> object:
    """bench/report.py as a module: the same settings and dates as the data it built."""
    spec = importlib.util.spec_from_file_location("report_bench",
                                                  Path(__file__).with_name("report.py"))
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["report_bench"] = module
    spec.loader.exec_module(module)
    return module


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url", help="state URL holding bench/report.py's data")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--page", action="append", help="time only these paths (repeatable)")
    args = parser.parse_args()
    bench = _report_bench()
    settings = bench.SETTINGS  # type: ignore[attr-defined]
    until = bench.START.date() + timedelta(days=bench.DAYS - 1)  # type: ignore[attr-defined]
    now = datetime.combine(until, datetime.min.time(), UTC) + timedelta(hours=12)
    scope_settings = settings.model_copy(update={"scope": ("region", "store")})
    store = Store(args.url)
    store.migrate()
    digest = hash_password(PASSWORD)
    users = [UserSettings(name=n, password_hash=digest, scope=s) for n, s in USERS.items()]
    admin = create_admin_app(store=store, settings=scope_settings,
                             accounts=Accounts(store, users, scope_settings.scope),
                             secret="bench", clock=lambda: now)
    app = create_app(store=store, signer=TokenSigner("s", timedelta(days=1)), programs={},
                     clock=lambda: now, admin=admin)
    server = _Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                    lifespan="off"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    pages = ["/admin/", "/admin/segments?segment=store", "/admin/segments?segment=team",
             "/admin/comments", "/admin/themes", "/admin/data/trend.json",
             "/admin/export/segments.csv?segment=store"]
    pages = args.page or pages
    print(f"dashboard over HTTP, {args.url.split('://')[0]}, 12 weeks by week, "
          f"median / p95 of {args.repeat}:")
    for who in USERS:
        with httpx.Client(base_url=base, timeout=60) as client:
            form = client.get("/admin/login")
            token = re.search(r'name="csrf" value="([^"]+)"', form.text)
            assert token
            signed = client.post("/admin/login", data={"name": who, "password": PASSWORD,
                                                        "csrf": token.group(1)})
            assert signed.status_code == 303, signed.status_code
            for page in pages:
                times = []
                for _ in range(args.repeat):
                    started = time.perf_counter()
                    answer = client.get(page)
                    times.append(time.perf_counter() - started)
                    assert answer.status_code == 200, (page, answer.status_code)
                times.sort()
                worst = times[min(len(times) - 1, int(0.95 * len(times)))]
                print(f"  {who:12s} {page:42s} {statistics.median(times) * 1000:7.1f} ms  "
                      f"p95 {worst * 1000:7.1f} ms")
    server.should_exit = True
    store.dispose()


if __name__ == "__main__":
    main()
