"""`closedloop demo --serve` ends with the dashboard's URL and a login it made: signing in
with them works while the demo serves, and the demo's answers carry the region -> store
hierarchy the sandbox CRM holds, so the segment table has stores."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import httpx
import pytest

from admin.admin_support import csrf_of
from closedloop.integration.sandbox._seed import STORES

pytestmark = pytest.mark.slow
CLOSEDLOOP = [sys.executable, "-m", "closedloop.daemon"]


def test_demo_prints_a_dashboard_login_that_works() -> None:
    """The printed URL and password sign in; the overview and the store table answer."""
    proc = subprocess.Popen([*CLOSEDLOOP, "demo", "--serve"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "It runs until you press Ctrl-C" in line:
                break
        text = "".join(lines)
        url = re.search(r"Dashboard: (http://127\.0\.0\.1:\d+/admin/)", text)
        login = re.search(r"sign in as (\S+) with password (\S+) ", text)
        assert url is not None, text[-2000:]
        assert login is not None
        assert login.group(1) == "demo-hq"
        base = url.group(1).removesuffix("/admin/")
        with httpx.Client(base_url=base, timeout=10) as client:
            form = client.get("/admin/login")
            signed_in = client.post("/admin/login", data={
                "name": login.group(1), "password": login.group(2), "csrf": csrf_of(form.text)})
            assert (signed_in.status_code, signed_in.headers["location"]) == (303, "/admin/")
            assert client.get("/admin/").status_code == 200
            rows = client.get("/admin/data/segments.json", params={"segment": "store"}).json()
        stores = {r["store"] for r in rows["rows"] if r["answers"]}
        # the stores the sandbox CRM holds, captured on the demo's surveys when queued
        assert stores - {""} <= set(STORES)
        assert stores - {""} != set()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()
