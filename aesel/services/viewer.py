"""Who is asking: what private things a request may see."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Viewer:
    """The caller of a request. With auth off (``auth=False``) everything is visible."""

    user: str | None = None
    admin: bool = False
    auth: bool = False

    @property
    def sees_all(self) -> bool:
        return not self.auth or self.admin

    def can_see(self, owner: str, public: bool) -> bool:
        return public or self.sees_all or (self.user is not None and owner == self.user)


OPEN = Viewer()
