"""Sign-in throttling: a sliding window of attempts per source address and per username, in memory.

Each process keeps its own window (several instances each admit the limit); the database lock-out
(`UserRepository.claim_attempt`) is the shared limit behind it."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from moderation.exceptions import ModerationError

MAX_TRACKED_KEYS = 100_000


class TooManyAttempts(ModerationError):
    code = "too_many_attempts"
    status = 429


class SlidingWindow:
    """At most `limit` hits per key in any `window_seconds`; memory bounded by `MAX_TRACKED_KEYS`."""

    def __init__(
        self, limit: int, window_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window_seconds
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> bool:
        """Count one attempt for `key`; False (and not counted) when the key is over its limit."""
        now = self._clock()
        with self._lock:
            hits = self._hits.get(key)
            if hits is None:
                if len(self._hits) >= MAX_TRACKED_KEYS:
                    self._prune(now)
                hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return False
            hits.append(now)
            return True

    def _prune(self, now: float) -> None:
        stale = [k for k, hits in self._hits.items() if not hits or hits[-1] <= now - self.window]
        for key in stale:
            del self._hits[key]
        if len(self._hits) >= MAX_TRACKED_KEYS:  # still full of live keys: forget the oldest half
            for key in list(self._hits)[: MAX_TRACKED_KEYS // 2]:
                del self._hits[key]


class SignInThrottle:
    """Both windows of the sign-in form; `admit` raises `too_many_attempts` (429)."""

    def __init__(self, per_address: int, per_username: int, window_seconds: float) -> None:
        self.by_address = SlidingWindow(per_address, window_seconds)
        self.by_username = SlidingWindow(per_username, window_seconds)

    def admit(self, address: str, username: str) -> None:
        if not self.by_address.hit(address) or not self.by_username.hit(username.casefold()):
            raise TooManyAttempts("too many sign-in attempts; wait a few minutes and try again")
