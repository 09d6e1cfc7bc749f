"""The HMAC replay guard's cost per signed request, by how many (timestamp, signature) pairs
are live (accepted within the five-minute window).

Compares the guard in ``lamdis_http._auth`` with the one it replaced, which rebuilt its map
on every request once more than 1,024 pairs were live. Pure CPU, no network.

    python bench/replay_guard.py            # prints a Markdown table
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable

from lamdis_http._auth import SIGNATURE_WINDOW_SECONDS, _ReplayGuard, timestamp_seconds


class _ScanningGuard:
    """The guard before issue 9 item 13, kept here only as the baseline."""

    def __init__(self, window: float) -> None:
        self._window = window
        self._seen: dict[tuple[str, str], float] = {}

    def accept(self, timestamp: str, sig: str, *, now: float) -> bool:
        if len(self._seen) > 1024:
            self._seen = {k: v for k, v in self._seen.items() if v > now}
        key = (timestamp, sig)
        expiry = self._seen.get(key)
        if expiry is not None and expiry > now:
            return False
        self._seen[key] = float(timestamp_seconds(timestamp) or now) + self._window + 1
        return True


def per_request_us(make: Callable[[], object], live: int, requests: int) -> float:
    guard = make()
    now = 1_800_000_000.0
    ts = str(int(now))
    if isinstance(guard, _ScanningGuard):  # filling it request by request is quadratic
        guard._seen = {(ts, f"live-{n}"): now + guard._window + 1 for n in range(live)}
    else:
        for n in range(live):
            guard.accept(ts, f"live-{n}", now=now)  # type: ignore[attr-defined]
    started = time.process_time()
    for n in range(requests):
        # requests arrive over 100 s: pairs keep being added, none leaves the window yet
        guard.accept(ts, f"new-{n}", now=now + n * 100 / requests)  # type: ignore[attr-defined]
    return (time.process_time() - started) / requests * 1e6


def main() -> None:
    print(f"Python {platform.python_version()}, {platform.processor() or platform.machine()}")
    print()
    print("| live pairs | guard now: CPU µs per request | guard before: CPU µs per request |")
    print("|---|---|---|")
    for live in (1_000, 10_000, 100_000):
        now_us = per_request_us(lambda: _ReplayGuard(SIGNATURE_WINDOW_SECONDS), live, 20_000)
        before_us = per_request_us(lambda: _ScanningGuard(SIGNATURE_WINDOW_SECONDS), live, 200)
        print(f"| {live:,} | {now_us:.2f} | {before_us:.2f} |")


if __name__ == "__main__":
    main()
