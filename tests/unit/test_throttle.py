"""The login throttle, on a fake clock: back-off per username and address, capped, forgiving a
trusted address, bounded in memory."""

from __future__ import annotations

import pytest

from aesel.errors import TooManyRequests
from aesel.services.throttle import LoginThrottle


def fail(t: LoginThrottle, user: str, address: str, now: float) -> None:
    t.attempt(user, address, now)  # counted as failed unless succeeded() follows


def wait_of(t: LoginThrottle, user: str, address: str, now: float) -> int:
    """Seconds the attempt is told to wait (0 = allowed; an allowed attempt counts as failed)."""
    try:
        t.attempt(user, address, now)
    except TooManyRequests as e:
        return e.retry_after
    return 0


def test_a_username_backs_off_exponentially_after_its_free_failures_capped() -> None:
    t = LoginThrottle(user_failures=3, address_failures=1000, base=1.0, max_lockout=60.0)
    now = 0.0
    for _ in range(3):
        fail(t, "ann", "10.0.0.1", now)  # free
    assert wait_of(t, "ann", "10.0.0.2", now) == 0  # the 4th try goes ahead...
    waits = []
    for _ in range(8):  # ...and each failure after it doubles the wait, up to the cap
        w = wait_of(t, "ann", "10.0.0.3", now)
        assert w > 0
        waits.append(w)
        now += w
        assert wait_of(t, "ann", "10.0.0.3", now) == 0
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60]
    assert t.refused["username"] == 8
    # other usernames and the same address for them are not affected
    assert wait_of(t, "bob", "10.0.0.3", now) == 0


def test_unknown_and_known_usernames_are_throttled_alike() -> None:
    t = LoginThrottle(user_failures=2, address_failures=1000)
    for user in ("ann", "nobody-by-this-name"):
        fail(t, user, "a", 0.0)
        fail(t, user, "a", 0.0)
        assert wait_of(t, user, "b", 0.0) == 0
        assert wait_of(t, user, "b", 0.0) == 1


def test_an_address_that_logged_in_as_the_user_skips_its_back_off() -> None:
    t = LoginThrottle(user_failures=2, address_failures=1000, max_lockout=300.0)
    t.attempt("ann", "home", 0.0)
    t.succeeded("ann", "home", 0.0)
    now = 10.0
    for _ in range(30):  # an attacker elsewhere keeps ann backing off
        w = wait_of(t, "ann", "evil", now)
        now += w or 0.1
    if wait_of(t, "ann", "evil", now) == 0:  # one more failure if that one went ahead
        assert wait_of(t, "ann", "evil", now) > 0
    t2 = now
    assert wait_of(t, "ann", "home", t2) == 0  # ann at home is never locked out
    t.succeeded("ann", "home", t2)
    assert wait_of(t, "ann", "elsewhere", t2) == 0  # and her success clears the back-off


def test_an_address_backs_off_across_usernames() -> None:
    t = LoginThrottle(user_failures=1000, address_failures=4, max_lockout=300.0)
    for i in range(4):
        fail(t, f"user{i}", "spray", 0.0)
    assert wait_of(t, "user9", "spray", 0.0) == 0
    assert wait_of(t, "user10", "spray", 0.0) == 1
    assert t.refused["address"] == 1
    assert wait_of(t, "user10", "other", 0.0) == 0


def test_a_success_does_not_count_against_the_address() -> None:
    t = LoginThrottle(user_failures=1000, address_failures=2)
    for _ in range(10):
        t.attempt("ann", "office", 0.0)
        t.succeeded("ann", "office", 0.0)
    assert wait_of(t, "bob", "office", 0.0) == 0


def test_quiet_keys_are_forgiven() -> None:
    t = LoginThrottle(user_failures=1, address_failures=1000, max_lockout=10.0)
    fail(t, "ann", "a", 0.0)
    fail(t, "ann", "a", 0.0)
    assert wait_of(t, "ann", "a", 0.5) > 0
    assert wait_of(t, "ann", "a", 100.0) == 0  # two caps of quiet: a fresh start
    assert wait_of(t, "ann", "a", 100.0) == 0  # (the 1 free failure, and the one that backs off)
    assert wait_of(t, "ann", "a", 100.0) == 1


@pytest.mark.parametrize("max_keys", [1, 50])
def test_memory_is_bounded(max_keys: int) -> None:
    t = LoginThrottle(max_keys=max_keys)
    for i in range(1000):
        t.attempt(f"user{i}", f"10.0.{i // 256}.{i % 256}", float(i) / 1000)
        t.succeeded(f"user{i}", f"10.0.{i // 256}.{i % 256}", float(i) / 1000)
    assert len(t.users) <= max_keys and len(t.addresses) <= max_keys
    assert len(t._trusted) <= max_keys
