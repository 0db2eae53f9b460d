"""Login throttling: exponential back-off per username and per address, bounded in memory.

Theory of operation. Every failed login (wrong password, inactive or unknown user alike, so the
throttle is no user-existence oracle) counts against its username and its client address; an
attempt counts as failed from its start, so parallel guesses gain nothing. A key
may fail ``free`` times; each failure after that sets a back-off of ``base * 2**k`` seconds,
capped at ``max_lockout``, during which :meth:`LoginThrottle.check` refuses (429 with
``Retry-After``) without looking at the password. A key that stays quiet for twice
``max_lockout`` starts afresh; a successful login clears its username's count.

An attacker guessing one user's password therefore gets a few tries, then one every few
minutes at most. Meanwhile the user is not locked out forever: an address that logged in as
that user within ``trust_for`` seconds skips the username's back-off (OWASP's "device cookie",
keyed by address here), and anyone else waits ``max_lockout`` at most. The address back-off
still applies to everyone, including trusted addresses.

Memory is bounded: each table is an LRU of at most ``max_keys`` entries. Flooding it with
random usernames evicts the oldest back-offs, which costs the attacker the per-address
back-off first. Pure: the caller passes the clock.
"""

from __future__ import annotations

import math
from collections import Counter, OrderedDict
from dataclasses import dataclass

from aesel.errors import TooManyRequests


@dataclass(slots=True)
class _Backoff:
    failures: int = 0
    until: float = 0.0  # refused before this time
    last: float = 0.0  # time of the last failure


class _Table:
    """One LRU of back-off states, by key."""

    def __init__(self, free: int, base: float, cap: float, max_keys: int) -> None:
        self.free = free
        self.base = base
        self.cap = cap
        self.max_keys = max_keys
        self._states: OrderedDict[str, _Backoff] = OrderedDict()

    def wait(self, key: str, now: float) -> float:
        """Seconds ``key`` must still wait (0 = may try now)."""
        state = self._states.get(key)
        if state is None:
            return 0.0
        if now - state.last > 2 * self.cap:  # quiet long enough: forgiven
            del self._states[key]
            return 0.0
        return max(0.0, state.until - now)

    def fail(self, key: str, now: float) -> None:
        state = self._states.pop(key, None) or _Backoff()
        if now - state.last > 2 * self.cap:
            state = _Backoff()
        state.failures += 1
        state.last = now
        over = state.failures - self.free
        if over > 0:
            state.until = now + min(self.cap, self.base * 2 ** min(over - 1, 30))
        self._states[key] = state
        while len(self._states) > self.max_keys:
            self._states.popitem(last=False)

    def forgive_one(self, key: str) -> None:
        state = self._states.get(key)
        if state is not None:
            state.failures -= 1
            if state.failures <= self.free:
                state.until = 0.0

    def clear(self, key: str) -> None:
        self._states.pop(key, None)

    def __len__(self) -> int:
        return len(self._states)


class LoginThrottle:
    """Decides whether a login attempt may go ahead; see the module docstring."""

    def __init__(
        self,
        *,
        user_failures: int = 5,
        address_failures: int = 20,
        base: float = 1.0,
        max_lockout: float = 300.0,
        trust_for: float = 30 * 24 * 3600.0,
        max_keys: int = 100_000,
    ) -> None:
        self.users = _Table(user_failures, base, max_lockout, max_keys)
        self.addresses = _Table(address_failures, base, max_lockout, max_keys)
        self.trust_for = trust_for
        self.max_keys = max_keys
        self._trusted: OrderedDict[tuple[str, str], float] = OrderedDict()
        self.refused: Counter[str] = Counter()  # by reason, for /metrics

    def _is_trusted(self, username: str, address: str, now: float) -> bool:
        at = self._trusted.get((username, address))
        return at is not None and now - at < self.trust_for

    def attempt(self, username: str, address: str, now: float) -> None:
        """Count a login attempt as failed until :meth:`succeeded` says otherwise, so parallel
        guesses cannot slip in while the password is checked; :class:`TooManyRequests` when
        this attempt must wait."""
        wait = self.addresses.wait(address, now)
        reason = "address"
        trusted = self._is_trusted(username, address, now)
        if not wait and not trusted:
            wait, reason = self.users.wait(username, now), "username"
        if wait:
            self.refused[reason] += 1
            seconds = math.ceil(wait)
            raise TooManyRequests(
                f"too many failed logins for this {reason}: retry in {seconds} s", seconds
            )
        self.addresses.fail(address, now)
        if not trusted:
            self.users.fail(username, now)

    def succeeded(self, username: str, address: str, now: float) -> None:
        """The attempt was right: forget the username's failures, trust the address for it."""
        self.users.clear(username)
        self.addresses.forgive_one(address)
        key = (username, address)
        self._trusted.pop(key, None)
        self._trusted[key] = now
        while len(self._trusted) > self.max_keys:
            self._trusted.popitem(last=False)
