"""Record a scene's event stream; replay a recording into a scene.

Theory of operation
-------------------
**Recording.** The :class:`Recorder` is a bus handler: every event of a scene being recorded is
encoded at once (``aesel.model.recording.event``, with its time since the recording started)
and appended to that recording's in-memory buffer; nothing awaits on the event path. A task
writes the buffers to the :class:`~aesel.storage.base.RecordingStore` every ``flush_interval``
seconds, so a crash loses at most the events of the last interval (the store trims a torn tail
at the next start). Stopping flushes the rest and finishes the file.

**The store away.** Bytes leave a recording's memory only when the store acknowledged them. An
append that fails (MongoDB away, a full disk: ``BackendUnavailable``) keeps its bytes as the
recording's *in-flight* chunk, which the next flush hands the store again, unchanged (the store
makes that retry idempotent: ``RecordingStore.append_recording``), before anything recorded
since; events go on being buffered behind it, in order. An outage therefore delays a recording
and loses nothing, up to :data:`MAX_PENDING` bytes not yet stored per recording: past that, the
recording's new events are dropped (counted as ``recording_overflow`` in ``aesel_drops_total``,
logged rate-limited), leaving a gap. Failed flushes are logged rate-limited too, one line each,
not a traceback. A flush that finds the store away does not try the other recordings (each
would wait out the same timeout); the one that failed is tried last next time.

**Stopping.** A stop ends the recording at once: no later event is recorded. It then writes what
is pending and finishes the recording in the store; when the store fails, the stop raises (503,
``backend unavailable``) and the recording stays on this node, *stopping*, with everything
pending: each flush retries it, and finishes it as soon as the store takes it. Stopping it again
(or deleting it) retries at once; once finished, a stop answers the finished recording. A node
shut down while its store is away loses the pending bytes (logged with their number); the store
keeps what it acknowledged, finished by the next start's recovery.

**Replay.** :class:`Replays` validates the *whole* recording first (a corrupt or truncated one
is refused with ``corrupt_recording`` before any event is sent), then a task sends each event
when its time comes, scaled by the speed (0.1x to 10x), as an ordinary change through the
object and property services, with the rights of whoever started it: the write-behind state,
the bus, every subscriber and any recorder see it like any other change. Keys: replaying into
the recorded scene updates the recorded objects where they still exist; an object that does not
exist there (another scene, or deleted since) is created once and its new key used for the rest
of the replay, loops included. Object and property creates, updates and deletes are replayed;
action and keyframe events are counted as ``skipped``.

A replay is ``playing``, ``paused``, ``done`` (played once, or stopped) or ``failed``. Pausing
keeps the position; resuming continues from it.

Rights: starting, stopping and deleting a recording need ``ADMIN`` on the scene; listing and
downloading ``READ`` (what a subscriber could have seen). A replay needs ``READ`` on the
recording's scene and ``WRITE`` on the target scene.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from aesel.errors import AeselError, BackendUnavailable, BadRequest, NotFound
from aesel.logutil import LogLimiter
from aesel.model import recording as rec
from aesel.model.codes import MsgType
from aesel.model.event import Event
from aesel.model.ids import new_uuid
from aesel.model.wire import ObjectIn, PropertyIn
from aesel.services.objects import ObjectService
from aesel.services.policy import Action, Principal
from aesel.services.properties import PropertyService
from aesel.services.scenes import SceneService
from aesel.storage.base import RecordingInfo, RecordingStore

log = logging.getLogger(__name__)

MIN_SPEED, MAX_SPEED = 0.1, 10.0


def _why(e: Exception) -> str:
    return e.message if isinstance(e, AeselError) else repr(e)


async def _require(scenes: SceneService, scene: str, who: Principal, action: Action) -> None:
    """``action`` on ``scene``; whoever sees everything may also reach the recordings of a
    scene deleted since."""
    if not who.sees_all:
        await scenes.get(scene, who, action)


#: Bytes a recording may hold that its store has not acknowledged. At a busy scene's rate
#: (1000 events a second of about 300 bytes) that is some three minutes of the store away; past
#: it, a recording drops new events rather than let a long outage take the node's memory.
MAX_PENDING = 64 << 20
#: An append carries at most this (or one larger record): far below MongoDB's 16 MiB document
#: limit however much piled up during an outage, and a retry resends no more than this.
MAX_CHUNK = 1 << 20


@dataclass(slots=True)
class _Active:
    info: RecordingInfo
    t0: int  # monotonic ns at start
    buffer: list[bytes] = field(default_factory=list)  # records not yet handed to the store
    inflight: bytes | None = None  # handed to the store and not acknowledged: resent as it is
    pending: int = 0  # bytes in ``inflight`` and ``buffer``
    events: int = 0  # events in the recording (stored or pending)
    stopping: bool = False  # stopped: no more events; finished once the store takes it


class Recorder:
    """Records scenes' event streams into a ``RecordingStore``; see the module docstring."""

    def __init__(
        self,
        store: RecordingStore,
        scenes: SceneService,
        *,
        flush_interval: float = 0.1,
        drops: Counter[str] | None = None,
        max_pending: int = MAX_PENDING,
        now_ns: Callable[[], int] = time.time_ns,
        mono_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self.store = store
        self.scenes = scenes
        self.flush_interval = flush_interval
        self.drops = drops if drops is not None else Counter()
        self.max_pending = max_pending
        self.now_ns = now_ns
        self.mono_ns = mono_ns
        self._active: dict[str, _Active] = {}  # recording id -> state, stopping ones included
        self._by_scene: dict[str, list[_Active]] = {}  # the ones recording events
        self._lock = asyncio.Lock()  # one writer of the store at a time
        self._task: asyncio.Task[None] | None = None
        self._overflow = LogLimiter(log)
        self._failures = LogLimiter(log)

    # -- the bus handler: synchronous, no awaits ------------------------------------------

    def recording(self, scene: str) -> bool:
        """Whether a recording of ``scene`` is running on this node."""
        return bool(self._by_scene.get(scene))

    def on_event(self, event: Event) -> None:
        active = self._by_scene.get(event.scene)
        if not active:
            return
        now = self.mono_ns()
        for a in active:
            record = rec.event(max(0, now - a.t0), event.payload)
            if a.pending + len(record) > self.max_pending:
                self.drops["recording_overflow"] += 1
                self._overflow.warning(
                    "recording %s: %d bytes not stored yet (the store is away?), event dropped",
                    a.info.id, a.pending,
                )  # fmt: skip
                continue
            a.buffer.append(record)
            a.pending += len(record)
            a.events += 1

    # -- lifecycle ------------------------------------------------------------------------

    async def open(self) -> None:
        n = await self.store.recover_recordings()
        if n:
            log.warning("recordings: %d recording(s) left active by a crash were finished", n)
        self._task = asyncio.get_running_loop().create_task(self._flusher(), name="recorder")

    async def close(self) -> None:
        if self._task is not None:
            async with self._lock:  # never cancel a write half done: let the flush end
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for a in list(self._active.values()):
            try:
                await self._finish(a)
            except Exception as e:
                log.error(
                    "recording %s: not finished at shutdown, %d bytes (%d events in all) lost: %s",
                    a.info.id, a.pending, a.events, _why(e),
                )  # fmt: skip

    async def _flusher(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval)
            try:
                await self.flush()
            except Exception:
                log.exception("recordings: flush failed")

    async def flush(self) -> None:
        """Hand the store every recording's pending bytes, and finish the stopping ones. A
        failure leaves a recording's bytes pending for the next flush; it does not raise."""
        async with self._lock:
            for a in list(self._active.values()):
                try:
                    await self._write(a)
                    if a.stopping:
                        await self._seal(a)
                except Exception as e:
                    self._failures.warning(
                        "recording %s: store failed, %d bytes pending, will retry: %s",
                        a.info.id, a.pending, _why(e),
                    )  # fmt: skip
                    # tried last next time, so one that keeps failing holds up no other
                    self._active[a.info.id] = self._active.pop(a.info.id)
                    if isinstance(e, BackendUnavailable):
                        break  # the store is away: the next ones would wait out the same timeout

    async def _write(self, a: _Active) -> None:
        """Append ``a``'s pending bytes, in order, in chunks of at most ``MAX_CHUNK``; raises
        what the store raises, the chunk it failed on kept in flight for the next try. Only
        what is buffered on entry is written: a stream faster than the store cannot hold the
        lock forever."""
        left = len(a.buffer)
        while a.inflight is not None or left:
            if a.inflight is None:
                n, size = 1, len(a.buffer[0])
                while n < left and size + len(a.buffer[n]) <= MAX_CHUNK:
                    size += len(a.buffer[n])
                    n += 1
                a.inflight = b"".join(a.buffer[:n])
                del a.buffer[:n]
                left -= n
            await self.store.append_recording(a.info.id, a.inflight)
            a.pending -= len(a.inflight)
            a.inflight = None

    async def _seal(self, a: _Active) -> None:
        await self.store.finish_recording(a.info.id)
        self._active.pop(a.info.id, None)

    async def _finish(self, a: _Active) -> None:
        """End recording ``a`` (no later event is recorded), write what it holds and finish it;
        when the store fails this raises, and ``a`` stays, stopping, for the flusher or the next
        stop to finish."""
        a.stopping = True
        on_scene = self._by_scene.get(a.info.scene, [])
        if a in on_scene:
            on_scene.remove(a)
            if not on_scene:
                del self._by_scene[a.info.scene]
        async with self._lock:
            if self._active.get(a.info.id) is a:  # else the flusher finished it meanwhile
                await self._write(a)
                await self._seal(a)

    # -- the API --------------------------------------------------------------------------

    async def start(self, scene: str, who: Principal) -> RecordingInfo:
        await self.scenes.get(scene, who, Action.ADMIN)
        info = RecordingInfo(new_uuid(), scene, self.now_ns(), 0, True)
        first = rec.start(rec.Meta(info.id, scene, info.started))
        await self.store.create_recording(info, first)
        a = _Active(info, self.mono_ns())
        self._active[info.id] = a
        self._by_scene.setdefault(scene, []).append(a)
        return info

    async def _get(self, scene: str, id: str, who: Principal, action: Action) -> RecordingInfo:
        await _require(self.scenes, scene, who, action)
        for info in await self.store.recordings(scene):
            if info.id == id:
                return info
        raise NotFound(f"no recording {id!r} of scene {scene!r}")

    async def stop(self, scene: str, id: str, who: Principal) -> RecordingInfo:
        """Stop recording ``id`` (a stopped one stays stopped). A running one is found without
        the store, so a stop ends it even while the store is away (then raising)."""
        a = self._active.get(id)
        if a is not None and a.info.scene == scene:
            await _require(self.scenes, scene, who, Action.ADMIN)
            await self._finish(a)
        return await self._get(scene, id, who, Action.ADMIN)

    async def listing(self, scene: str, who: Principal) -> list[RecordingInfo]:
        await _require(self.scenes, scene, who, Action.READ)
        return await self.store.recordings(scene)

    async def download(self, scene: str, id: str, who: Principal) -> bytes:
        await self._get(scene, id, who, Action.READ)
        if id in self._active:
            await self.flush()
        data = await self.store.read_recording(id)
        if data is None:
            raise NotFound(f"no recording {id!r} of scene {scene!r}")
        return data

    async def delete(self, scene: str, id: str, who: Principal) -> None:
        await self._get(scene, id, who, Action.ADMIN)
        a = self._active.get(id)
        if a is not None:
            await self._finish(a)
        await self.store.delete_recording(id)

    def events(self, id: str) -> int | None:
        """Events recorded so far by a running recording (``None`` when it is not running)."""
        a = self._active.get(id)
        return a.events if a is not None else None


class ReplayState(StrEnum):
    PLAYING = "playing"
    PAUSED = "paused"
    DONE = "done"
    FAILED = "failed"


@dataclass(eq=False, slots=True)
class Replay:
    """One replay of a recording into ``scene``; ``position`` is in recording nanoseconds."""

    id: str
    recording: str
    scene: str
    speed: float
    loop: bool
    who: Principal
    same_scene: bool
    state: ReplayState = ReplayState.PLAYING
    sent: int = 0
    skipped: int = 0
    errors: int = 0
    loops: int = 0
    keys: dict[str, str] = field(default_factory=dict)  # recorded key -> key in the scene
    anchor_t: int = 0  # recording time at anchor_wall
    anchor_wall: float = 0.0  # loop time
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "recording": self.recording,
            "scene": self.scene,
            "speed": self.speed,
            "loop": self.loop,
            "state": str(self.state),
            "sent": self.sent,
            "skipped": self.skipped,
            "errors": self.errors,
            "loops": self.loops,
        }


_OBJ_UPSERT = frozenset({MsgType.OBJ_CRT, MsgType.OBJ_UPD, MsgType.OBJ_OVERWRITE})
_PROP_UPSERT = frozenset({MsgType.PROP_CRT, MsgType.PROP_UPD})
_OBJ_FIELDS = ("name", "type", "subtype", "parent", "asset_sub_id", "assets", "transform")
_PROP_FIELDS = ("name", "parent", "asset_sub_id", "values")
KEEP_FINISHED = 100


class Replays:
    """Replays of recordings into scenes; see the module docstring."""

    def __init__(
        self,
        store: RecordingStore,
        scenes: SceneService,
        objects: ObjectService,
        properties: PropertyService,
    ) -> None:
        self.store = store
        self.scenes = scenes
        self.objects = objects
        self.properties = properties
        self._replays: dict[str, Replay] = {}
        self._ids = itertools.count(1)

    async def start(
        self, scene: str, recording: str, speed: float, loop: bool, who: Principal
    ) -> Replay:
        if not MIN_SPEED <= speed <= MAX_SPEED:
            raise BadRequest(f"replay speed is {speed}, expected {MIN_SPEED} to {MAX_SPEED}")
        await self.scenes.get(scene, who, Action.WRITE)
        data = await self.store.read_recording(recording)
        if data is None:
            raise NotFound(f"no recording {recording!r}")
        meta, entries = rec.decode(data)  # the whole file, before any event is sent
        await _require(self.scenes, meta.scene, who, Action.READ)
        r = Replay(f"r{next(self._ids)}", recording, scene, speed, loop, who, meta.scene == scene)
        self._replays[r.id] = r
        r.task = asyncio.get_running_loop().create_task(self._run(r, entries), name=r.id)
        self._prune()
        return r

    def _prune(self) -> None:
        finished = [k for k, r in self._replays.items() if r.state in _FINISHED]
        for k in finished[: max(0, len(finished) - KEEP_FINISHED)]:
            del self._replays[k]

    async def get(self, scene: str, id: str, who: Principal, action: Action) -> Replay:
        await self.scenes.get(scene, who, action)
        r = self._replays.get(id)
        if r is None or r.scene != scene:
            raise NotFound(f"no replay {id!r} into scene {scene!r}")
        return r

    async def listing(self, scene: str, who: Principal) -> list[Replay]:
        await self.scenes.get(scene, who)
        return [r for r in self._replays.values() if r.scene == scene]

    async def pause(self, scene: str, id: str, who: Principal) -> Replay:
        r = await self.get(scene, id, who, Action.WRITE)
        if r.state is ReplayState.PLAYING:
            r.anchor_t = self._position(r)
            r.state = ReplayState.PAUSED
            r.wake.set()
        return r

    async def resume(self, scene: str, id: str, who: Principal) -> Replay:
        r = await self.get(scene, id, who, Action.WRITE)
        if r.state is ReplayState.PAUSED:
            r.anchor_wall = asyncio.get_running_loop().time()
            r.state = ReplayState.PLAYING
            r.wake.set()
        return r

    async def stop(self, scene: str, id: str, who: Principal) -> Replay:
        r = await self.get(scene, id, who, Action.WRITE)
        if r.task is not None and not r.task.done():
            r.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await r.task
            r.state = ReplayState.DONE
        return r

    async def close(self) -> None:
        for r in self._replays.values():
            if r.task is not None:
                r.task.cancel()
        tasks = [r.task for r in self._replays.values() if r.task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- the replay task ------------------------------------------------------------------

    def _position(self, r: Replay) -> int:
        elapsed = asyncio.get_running_loop().time() - r.anchor_wall
        return r.anchor_t + int(elapsed * r.speed * 1e9)

    async def _until(self, r: Replay, t: int) -> None:
        """Return when the replay's clock reaches recording time ``t`` (pauses hold it)."""
        loop = asyncio.get_running_loop()
        while True:
            if r.state is ReplayState.PAUSED:
                r.wake.clear()
                await r.wake.wait()
                continue
            delay = (t - r.anchor_t) / 1e9 / r.speed - (loop.time() - r.anchor_wall)
            if delay <= 0:
                return
            r.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(r.wake.wait(), delay)

    async def _run(self, r: Replay, entries: list[rec.Entry]) -> None:
        loop = asyncio.get_running_loop()
        # a loop lasts at least 1 ms, so a recording of simultaneous events cannot spin
        period = max(entries[-1].t if entries else 0, 1_000_000)
        try:
            while True:
                r.anchor_t, r.anchor_wall = 0, loop.time()
                for e in entries:
                    await self._until(r, e.t)
                    try:
                        await self._apply(r, e.payload)
                    except AeselError as err:
                        r.errors += 1
                        log.debug("replay %s: event refused: %s", r.id, err.message)
                r.loops += 1
                if not r.loop:
                    break
                await self._until(r, period)
            r.state = ReplayState.DONE
        except asyncio.CancelledError:
            r.state = ReplayState.DONE
            raise
        except Exception:
            r.state = ReplayState.FAILED
            log.exception("replay %s failed", r.id)

    async def _target(self, r: Replay, key: str, live: Any) -> str | None:
        """The key in the target scene of recorded ``key``, or None when it has none yet."""
        target = r.keys.get(key)
        if target is None and r.same_scene:
            found = await live.get(key)
            if found is not None and found.scene == r.scene:
                target = r.keys[key] = key
        return target

    async def _apply(self, r: Replay, p: dict[str, Any]) -> None:
        msg_type = p["msg_type"]
        key = str(p.get("key") or "")
        t_in = time.perf_counter_ns()
        if msg_type in _OBJ_UPSERT:
            fields = {f: p[f] for f in _OBJ_FIELDS if p.get(f) is not None}
            if fields.get("parent"):
                fields["parent"] = r.keys.get(fields["parent"], fields["parent"])
            target = await self._target(r, key, self.objects.table)
            if target is None:
                [obj] = await self.objects.create([ObjectIn(**fields)], r.scene, r.who)
                r.keys[key] = obj.key
            else:
                inp = ObjectIn(key=target, scene=r.scene, **fields)
                self.objects.stream(inp, MsgType.OBJ_UPD, r.who, t_in)
        elif msg_type in _PROP_UPSERT:
            fields = {f: p[f] for f in _PROP_FIELDS if p.get(f) is not None}
            if fields.get("parent"):
                fields["parent"] = r.keys.get(fields["parent"], fields["parent"])
            target = await self._target(r, key, self.properties.table)
            if target is None:
                [prop] = await self.properties.create([PropertyIn(**fields)], r.scene, r.who)
                r.keys[key] = prop.key
            else:
                inp2 = PropertyIn(key=target, scene=r.scene, **fields)
                self.properties.stream(inp2, MsgType.PROP_UPD, r.who, t_in)
        elif msg_type == MsgType.OBJ_DEL:
            target = await self._target(r, key, self.objects.table)
            r.keys.pop(key, None)
            if target is not None:
                await self.objects.delete(target, r.who)
        elif msg_type == MsgType.PROP_DEL:
            target = await self._target(r, key, self.properties.table)
            r.keys.pop(key, None)
            if target is not None:
                await self.properties.delete(target, r.who)
        else:
            r.skipped += 1
            return
        r.sent += 1


_FINISHED = frozenset({ReplayState.DONE, ReplayState.FAILED})


@dataclass(frozen=True, slots=True)
class Recordings:
    """The recorder and the replays of one node, as the REST adapter sees them."""

    recorder: Recorder
    replays: Replays
