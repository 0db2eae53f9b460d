"""Ordering the changes of one object across nodes: a hybrid logical clock and a filter.

Every change gets a *stamp* where it is accepted: the wall clock in ns, bumped past the
last stamp this node issued or saw (so a change made after seeing another node's change
is stamped after it, whatever the clocks say). Ties between nodes are broken by the origin.

The accepting node delivers its change at once, before Kafka; the other nodes get it later.
Two nodes changing one object at the same moment would otherwise deliver the two changes in
opposite orders and end on different states. :class:`Stamps` makes every node end on the
same one: a change older than the last one delivered for its object is dropped (counted as
``stale``). So each subscriber sees each object's changes in increasing stamp order, and all
nodes converge on the change with the highest stamp (last writer wins).

Memory is bounded: an object's last stamp is forgotten ``horizon`` ns after it was set; a
change delayed by more than that is delivered (and may be older than what was shown).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

Stamp = tuple[int, str]  # (hybrid clock in ns, origin)


class Stamps:
    def __init__(
        self,
        origin: str,
        *,
        horizon: float = 30.0,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.origin = origin
        self.horizon = int(horizon * 1e9)
        self.clock = clock
        self._now = 0
        self._last: OrderedDict[str, Stamp] = OrderedDict()  # key -> last stamp, oldest first
        self.stale = 0

    def issue(self, key: str) -> int:
        """A stamp for a change to ``key`` accepted here; it is now ``key``'s last."""
        now = self.clock()
        self._now = now = now if now > self._now else self._now + 1
        self._set(key, (now, self.origin))
        return now

    def admit(self, key: str, stamp: int, origin: str) -> bool:
        """Whether a change from another node is newer than what was delivered for ``key``."""
        if stamp > self._now:
            self._now = stamp
        last = self._last.get(key)
        if last is not None and (stamp, origin) <= last:
            self.stale += 1
            return False
        self._set(key, (stamp, origin))
        return True

    def _set(self, key: str, stamp: Stamp) -> None:
        last = self._last
        last[key] = stamp
        last.move_to_end(key)
        edge = self._now - self.horizon
        while last:
            oldest = next(iter(last.values()))
            if oldest[0] >= edge:
                break
            last.popitem(last=False)

    def __len__(self) -> int:
        return len(self._last)
