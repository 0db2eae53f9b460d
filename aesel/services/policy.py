"""Who may do what: the one authorization model, decided here for every transport.

Theory of operation
-------------------
Every service method takes the :class:`Principal` asking (REST: the token's user; UDP: the
device that authenticated the datagram, or an anonymous sender; WebSocket: the token's user)
and asks :func:`require` before it reads or changes anything. REST, UDP and WebSocket call the
same service methods, so no transport can skip the question.

Resources with an owner: scenes, assets, asset collections and projects. Everything inside a
scene (objects, properties, their actions and keyframes, locks, registrations, streams in and
out) takes its rights from the scene. Owners are user ids, never usernames.

Actions:

- ``READ``: see it (get, query, download, subscribe to a scene's stream, register a device to a
  scene to receive its events);
- ``WRITE``: change what is inside it (a scene's objects and properties, over REST or streamed);
- ``ADMIN``: change or delete the thing itself (a scene's name, tags, assets and visibility; an
  asset's versions and relationships; a collection's or project's fields).

Roles and the decision (:func:`decide`, the table the README and the matrix test print)::

    auth off                     everyone may do everything (as in Aesel)
    auth on, owner or admin      everything
    auth on, other signed-in     public: READ, WRITE (scenes only) | private: hidden (404)
    auth on, anonymous           public: READ, WRITE (scenes only) | private: hidden (404)

"Anonymous" exists only on UDP: with auth on, a plaintext datagram is anonymous (REST and
WebSocket refuse a missing token before any service runs). By default it may do what a
signed-in stranger may do; ``--udp-plaintext refuse`` drops it, ``trusted`` lets it act as with
auth off (for old clients that cannot sign; logged loudly at start). A resource that is hidden
answers "not found" (its existence is not disclosed); a visible one that may not be changed
answers "forbidden". Resources without an owner (created with auth off) are administered by
admins only.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from aesel.errors import Forbidden, NotFound


class Action(StrEnum):
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    USER = "user"  # signed in, not the owner
    ANONYMOUS = "anonymous"


class Outcome(StrEnum):
    ALLOW = "allow"
    HIDDEN = "hidden"  # 404: the caller may not know it exists
    FORBIDDEN = "forbidden"  # 403: visible, but not the caller's to change


class Kind(StrEnum):
    """What owns the rights: a scene (and everything in it), or a catalog item."""

    SCENE = "scene"
    CATALOG = "catalog"  # assets, collections, projects


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking.

    ``user`` is the user id (``None``: anonymous); ``enforced`` says whether the node checks
    rights at all (``--auth``); ``device`` is the device key a datagram authenticated as;
    ``trusted`` marks plaintext datagrams let in by ``--udp-plaintext trusted``.
    """

    user: str | None = None
    admin: bool = False
    enforced: bool = False
    device: str | None = None
    trusted: bool = False

    @property
    def sees_all(self) -> bool:
        return not self.enforced or self.admin or self.trusted

    def role(self, owner: str) -> Role:
        if self.admin:
            return Role.ADMIN
        if self.user is None:
            return Role.ANONYMOUS
        return Role.OWNER if owner and owner == self.user else Role.USER


OPEN = Principal()
"""The principal of every request on a node run without ``--auth``."""


def decide(role: Role, public: bool, action: Action, kind: Kind = Kind.SCENE) -> Outcome:
    """The decision table for a node with auth on (see the module docstring)."""
    if role in (Role.OWNER, Role.ADMIN):
        return Outcome.ALLOW
    if not public:
        return Outcome.HIDDEN
    if action is Action.READ or (action is Action.WRITE and kind is Kind.SCENE):
        return Outcome.ALLOW
    return Outcome.FORBIDDEN


def outcome(
    who: Principal, action: Action, owner: str, public: bool, kind: Kind = Kind.SCENE
) -> Outcome:
    if who.sees_all:
        return Outcome.ALLOW
    return decide(who.role(owner), public, action, kind)


def allows(
    who: Principal, action: Action, owner: str, public: bool, kind: Kind = Kind.SCENE
) -> bool:
    return outcome(who, action, owner, public, kind) is Outcome.ALLOW


def require(
    who: Principal,
    action: Action,
    owner: str,
    public: bool,
    what: str,
    kind: Kind = Kind.SCENE,
) -> None:
    """Raise :class:`NotFound` (hidden) or :class:`Forbidden` unless ``who`` may do ``action``.

    ``what`` names the resource for the message, e.g. ``"scene 's1'"``.
    """
    result = outcome(who, action, owner, public, kind)
    if result is Outcome.HIDDEN:
        raise NotFound(f"no {what}")
    if result is Outcome.FORBIDDEN:
        raise Forbidden(f"{action} on {what} is for its owner and admins only")
