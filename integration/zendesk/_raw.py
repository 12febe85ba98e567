"""The hot reads as plain JSON on the adapter's own session, without zenpy's objects.

zenpy turns every record of an answer into objects (and their nested ones) that the adapter
only turns back into dicts: about 0.2 ms of CPU per ticket and 0.1 ms per user, ten times
the request's own cost. The reads made for every surveyed ticket (tickets and users
show_many, the notified tickets, the export's pages, the job statuses) go here instead,
through the same counting, pacing session (its auth, its 429 handling) and the same error
mapping (`http_error`); writes and rare reads stay on zenpy.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from functools import partial
from typing import Any

import requests

from closedloop.integration.errors import TransientError
from closedloop.integration.zendesk._errors import http_error
from closedloop.integration.zendesk._paging import CallFn
from closedloop.integration.zendesk.endpoints import ENDPOINTS

PATHS: Mapping[str, str] = {  # the GET paths of endpoints.ENDPOINTS read here
    name: ENDPOINTS[name].split(" ", 1)[1]
    for name in ("tickets_show_many", "users_show_many", "job_statuses_show_many",
                 "incremental_tickets")}
RECORDS: Mapping[str, str] = {"tickets_show_many": "tickets", "users_show_many": "users",
                              "job_statuses_show_many": "job_statuses"}
BATCH = 100  # show_many's limit


class RawReader:
    """GETs that answer the JSON object Zendesk sent (no retry of its own: the caller's)."""

    def __init__(self, session: requests.Session, base_url: str,
                 timeout: tuple[float, float]) -> None:
        self._session, self._base, self._timeout = session, base_url.rstrip("/"), timeout

    def get(self, endpoint: str, params: Mapping[str, str]) -> dict[str, Any]:
        """One GET of `endpoint` (a key of PATHS); a non-2xx answer raises its mapped error,
        a body that is not a JSON object a TransientError (a proxy's page, a cut body)."""
        response = self._session.get(self._base + PATHS[endpoint], params=dict(params),
                                     timeout=self._timeout)
        return json_object(response, endpoint)

    def show_many(self, endpoint: str, ids: list[str], **params: str) -> dict[str, Any]:
        """One show_many answer for at most 100 `ids` (unknown ids are left out by Zendesk)."""
        return self.get(endpoint, {"ids": ",".join(ids), **params})


def answers(call: CallFn, raw: RawReader, endpoint: str, ids: Sequence[str],
            **params: str) -> Iterator[dict[str, Any]]:
    """Each show_many answer (records and sideloads) for `ids`, BATCH per call, each
    through `call` (the adapter's retry policy)."""
    for start in range(0, len(ids), BATCH):
        yield call(endpoint, partial(raw.show_many, endpoint, list(ids[start:start + BATCH]),
                                     **params))


def show_many(call: CallFn, raw: RawReader, endpoint: str,
              ids: Sequence[str]) -> Iterator[dict[str, Any]]:
    """Every record of `ids` as Zendesk sent it (see `answers`)."""
    for data in answers(call, raw, endpoint, ids):
        yield from (r for r in data.get(RECORDS[endpoint]) or [] if isinstance(r, dict))


def json_object(response: requests.Response, endpoint: str) -> dict[str, Any]:
    """The answer's JSON object; a non-2xx answer raises its mapped error, a body that is not
    a JSON object a TransientError (a proxy's page, a cut body): reads and writes alike."""
    if response.status_code >= 400:
        raise http_error(response, endpoint=endpoint)
    try:
        data = response.json()
    except ValueError as exc:
        raise TransientError(f"Zendesk {endpoint} answered {response.status_code} "
                             "with a body that is not JSON") from exc
    if not isinstance(data, dict):
        raise TransientError(f"Zendesk {endpoint} answered {type(data).__name__}, "
                             "not a JSON object")
    return data
