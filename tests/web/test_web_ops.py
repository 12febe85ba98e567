"""The operator's routes over real HTTP: /healthz, /readyz and /metrics on the bare app (no
runtime: the store's figures only), with the database answering and with it gone."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from closedloop.daemon.store import Store
from closedloop.daemon.web.tokens import TokenSigner


def samples(text: str) -> dict[str, float]:
    return {s.name: s.value for family in text_string_to_metric_families(text)
            for s in family.samples if not s.labels}


def test_alive_ready_and_metrics_with_the_database_up(client: httpx.Client) -> None:
    """200 everywhere; /readyz lists no source (none configured), the store answers."""
    assert (client.get("/healthz").status_code, client.get("/healthz").json()) == (
        200, {"status": "ok"})
    ready = client.get("/readyz")
    assert (ready.status_code, ready.json()) == (
        200, {"status": "ready", "store": "ok", "sources": {}})
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert samples(metrics.text)["closedloop_store_up"] == 1
    assert samples(metrics.text)["closedloop_answers"] == 0


def test_metrics_say_the_store_is_down_instead_of_failing(
    tmp_path: Path, signer: TokenSigner,
    serve: Callable[[Store, TokenSigner], AbstractContextManager[httpx.Client]],
) -> None:
    """A database gone: /metrics still answers 200 with closedloop_store_up 0, /readyz 503,
    /healthz 200 (the process serves)."""
    folder = tmp_path / "state"
    folder.mkdir()
    broken = Store(f"sqlite:///{folder / 'state.db'}")
    broken.migrate()
    broken.dispose()
    shutil.rmtree(folder)
    with serve(broken, signer) as client:
        metrics = client.get("/metrics")
        assert metrics.status_code == 200
        assert samples(metrics.text)["closedloop_store_up"] == 0
        assert "closedloop_answers" not in samples(metrics.text)
        assert client.get("/readyz").status_code == 503
        assert client.get("/healthz").status_code == 200
