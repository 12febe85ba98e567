"""Random fault injection for both sandboxes: what a CRM does on a bad day, seeded.

Each API call (admin calls never) draws one outcome from a seeded generator:
- `5xx`: a 500/502/503 answer; nothing applied.
- `429`: a rate-limit answer with `Retry-After` (seconds); nothing applied.
- `slow`: the answer comes `slow_seconds` late (past a client's timeout, it is a lost answer).
- `lost`: the call is applied, then the answer is lost: a 504 (what a gateway sends when the
  backend took too long) or, with `lost_as = "drop"`, the connection closed with no answer.
  This is the case idempotent creates exist for.
Rates are per class and independent of the fixed `fail_next` plan (which is consumed first).
`paths` limits the faults to path prefixes (empty: every API path); `lost_paths` limits the
`lost` class further (e.g. to the creates whose idempotency is under test). Configure with
`SandboxServer.set_faults(...)` or over HTTP: `POST /_sandbox/faults` with a JSON body of the
same keys, `GET` to read the settings and the counts of faults injected, `DELETE` to stop.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

KINDS = ("5xx", "429", "slow", "lost")
_STATUSES = (500, 502, 503)


class FaultConfigError(ValueError):
    """A fault setting that cannot be used; the message names the key."""


@dataclass(frozen=True)
class FaultRates:
    """Per-call probabilities of each fault class (their sum at most 1)."""

    error_5xx: float = 0.0
    rate_429: float = 0.0
    slow: float = 0.0
    lost: float = 0.0
    seed: int = 0
    slow_seconds: float = 1.0
    retry_after: float = 1.0
    lost_as: str = "504"  # or "drop"
    paths: tuple[str, ...] = field(default_factory=tuple)
    lost_paths: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def from_json(cls, body: Any) -> FaultRates:
        """Rates from the admin endpoint's body: {"5xx": 0.2, "429": 0.1, ...}."""
        if not isinstance(body, dict):
            raise FaultConfigError("the body must be a JSON object")
        known = {"5xx", "429", "slow", "lost", "seed", "slow_seconds", "retry_after",
                 "lost_as", "paths", "lost_paths"}
        unknown = sorted(set(body) - known)
        if unknown:
            raise FaultConfigError(f"unknown key {unknown[0]!r}; known: {sorted(known)}")

        def number(key: str, default: float) -> float:
            value = body.get(key, default)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise FaultConfigError(f"{key!r} must be a number >= 0")
            return float(value)

        paths = body.get("paths", [])
        lost_paths = body.get("lost_paths", [])
        for key, value in (("paths", paths), ("lost_paths", lost_paths)):
            if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
                raise FaultConfigError(f"{key!r} must be a list of path prefixes")
        seed = body.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise FaultConfigError("'seed' must be an integer")
        return cls(error_5xx=number("5xx", 0), rate_429=number("429", 0),
                   slow=number("slow", 0), lost=number("lost", 0), seed=seed,
                   slow_seconds=number("slow_seconds", 1.0),
                   retry_after=number("retry_after", 1.0),
                   lost_as=str(body.get("lost_as", "504")), paths=tuple(paths),
                   lost_paths=tuple(lost_paths)).checked()

    def checked(self) -> FaultRates:
        total = self.error_5xx + self.rate_429 + self.slow + self.lost
        if total > 1:
            raise FaultConfigError(f"the rates add up to {total:g}; at most 1")
        if self.lost_as not in ("504", "drop"):
            raise FaultConfigError("'lost_as' must be \"504\" or \"drop\"")
        return self

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        return {"5xx": data.pop("error_5xx"), "429": data.pop("rate_429"), **data,
                "paths": list(self.paths), "lost_paths": list(self.lost_paths)}


@dataclass(frozen=True)
class Fault:
    kind: str  # one of KINDS
    status: int = 0  # the answer's status for 5xx / lost (0: drop the connection)


class RandomFaults:
    """The sandbox's current rates, its seeded generator and the count of faults injected."""

    def __init__(self) -> None:
        self.rates: FaultRates | None = None
        self.injected: Counter[str] = Counter()
        self._rng = random.Random(0)  # noqa: S311 - a test double, not crypto
        self._lock = threading.Lock()

    def configure(self, rates: FaultRates | None) -> None:
        with self._lock:
            self.rates = None if rates is None else rates.checked()
            self._rng = random.Random(rates.seed if rates else 0)  # noqa: S311
            self.injected.clear()

    def draw(self, path: str) -> Fault | None:
        """The fault this call gets, if any."""
        with self._lock:
            rates = self.rates
            if rates is None or (rates.paths and not path.startswith(rates.paths)):
                return None
            roll = self._rng.random()
            status = self._rng.choice(_STATUSES)
            lost = rates.lost if not rates.lost_paths or path.startswith(rates.lost_paths) \
                else 0.0
            for kind, rate in (("5xx", rates.error_5xx), ("429", rates.rate_429),
                               ("slow", rates.slow), ("lost", lost)):
                if roll < rate:
                    self.injected[kind] += 1
                    if kind == "lost":
                        status = 504 if rates.lost_as == "504" else 0
                    return Fault(kind, status if kind in ("5xx", "lost") else 429)
                roll -= rate
            return None

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"rates": self.rates.public() if self.rates else None,
                    "injected": dict(self.injected)}
