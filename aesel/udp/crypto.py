"""UDP encryption: AES-256-GCM per device (aesel), and AES-256-CBC (Aesel compatibility).

Both are off by default, as in Aesel. Pure functions and small state objects: no sockets, no
event loop (the store side of the replay floors is :mod:`aesel.udp.floors`).

AES-256-GCM (``--udp-security gcm``), framing version 2
    A device asks for it at registration (``"encryption": "gcm"``) and gets a random 256-bit
    key (Base64, ``gcm_key`` in the response). Datagrams::

        device -> server:  A5 | 02 | len(device key) u8 | device key | nonce (12) | sealed
        server -> device:  A5 | 02 | 00                              | nonce (12) | sealed
        sealed = AES-256-GCM(key, nonce, plaintext, associated data = the header before the nonce)
        plaintext = sequence (u64 big-endian, below 2^63) | payload   (sealed is 16 bytes longer)

    Theory of operation. One repeated (key, nonce) pair breaks GCM, and a device key outlives
    every process that uses it: it is stored with the device, used again after restarts of the
    node and of the device, and by every node that serves the device. So nonces are not counted
    across processes. Each sender (one ``NonceSource`` per key per process) draws a random
    8-byte prefix and counts 4 bytes under it, drawing a new prefix before the count wraps. Two
    nonces under one key can only be equal when two of the prefixes drawn under it are: about
    k²/2^65 for k draws, 3e-8 after a million restarts.

    Replay is judged on the ``sequence`` inside the authenticated plaintext, never on the nonce.
    Senders use microseconds since the Unix epoch, made strictly increasing
    (``max(last + 1, now)``, ``Sequencer``), so a sequence keeps increasing across restarts of
    its sender with nothing stored. The node accepts each sequence of a key once: above the
    highest accepted, or among the 64 below it not seen yet (the window of IPsec and DTLS).
    The highest accepted sequence of each key, its floor, is stored behind the stream (every
    flush interval and at shutdown) and restored at start, so no datagram at or below it is
    accepted again after a restart. After ``kill -9``, the datagrams accepted since the last
    flush (at most one flush interval of them) can be replayed once.

    The header is authenticated: a datagram cannot be moved to another device's name, and one
    the node sent (naming no device) is refused if reflected back. Refusals are counted by
    reason: ``forged`` (fails authentication, too short, or names no device or one without a
    key), ``replayed``, ``gcm_version`` (another framing version, among them aesel's first
    framing, which had no version byte: its second byte was the key length, so a first-framing
    datagram from a device whose key has exactly 2 bytes is counted ``forged`` instead).

AES-256-CBC (``--udp-security cbc``; docs/compat.md §3.7)
    One cluster-wide key and IV per direction. A datagram is the Base64 text of
    AES-256-CBC(PKCS#7-padded plaintext). Keys are configured as in Aesel (64 hex characters,
    IV 32) and hex-decoded, as the Blender clients do; ``--aes-key-encoding raw`` takes the
    first 32 (16) bytes of the text itself, as the original C++ servers did.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import struct
import time
from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from aesel.errors import BadRequest

MAGIC = 0xA5
VERSION = 2
NONCE = 12
SEQ = 8
TAG = 16
WINDOW = 64
MAX_SEQ = (1 << 63) - 1  # stores keep floors as signed 64-bit integers
SERVER_HEADER = bytes((MAGIC, VERSION, 0))  # names no device

_SEQ = struct.Struct(">Q")
_NONCE = struct.Struct(">QI")  # prefix, counter
_COUNTS = 1 << 32
_ALL_SEEN = (1 << WINDOW) - 1


class Forged(BadRequest):
    reason = "forged"


class Replayed(BadRequest):
    reason = "replayed"


class UnsupportedVersion(BadRequest):
    reason = "gcm_version"


def new_key() -> bytes:
    return os.urandom(32)


def key_id(key: bytes) -> str:
    """A name for a key that reveals nothing about it: the replay floor is stored under it."""
    return hashlib.sha256(b"aesel replay floor\0" + key).hexdigest()[:32]


class NonceSource:
    """One sender's nonces under one key: a random 8-byte prefix, then a 4-byte counter.

    Every instance draws its own prefix, and draws again before the counter would wrap.
    """

    __slots__ = ("_count", "_prefix")

    def __init__(self) -> None:
        self._draw()

    def _draw(self) -> None:
        self._prefix = int.from_bytes(os.urandom(8))
        self._count = 0

    def next(self) -> bytes:
        if self._count == _COUNTS:
            self._draw()
        nonce = _NONCE.pack(self._prefix, self._count)
        self._count += 1
        return nonce


class Sequencer:
    """Strictly increasing microseconds since the Unix epoch: ``max(last + 1, now)``."""

    __slots__ = ("_clock", "last")

    def __init__(self, clock: Callable[[], int] = time.time_ns) -> None:
        self._clock = clock  # nanoseconds since the epoch
        self.last = 0

    def next(self) -> int:
        self.last = max(self.last + 1, self._clock() // 1000)
        return self.last


class ReplayWindow:
    """Accepts each sequence once: above ``top`` (the highest accepted), or among the ``WINDOW``
    below it that were not accepted yet. Everything at or below a starting ``floor`` is refused.
    """

    __slots__ = ("bits", "top")

    def __init__(self, floor: int = 0) -> None:
        self.top = floor
        self.bits = _ALL_SEEN  # bit i: top - i was accepted (or is at or below the floor)

    def accept(self, n: int) -> bool:
        """Record ``n`` and return True when it is new; False (recording nothing) otherwise."""
        if n > self.top:
            shift = n - self.top
            self.bits = ((self.bits << shift) | 1) & _ALL_SEEN if shift < WINDOW else 1
            self.top = n
            return True
        off = self.top - n
        if off >= WINDOW or (self.bits >> off) & 1:
            return False
        self.bits |= 1 << off
        return True


def seal(aead: AESGCM, header: bytes, nonce: bytes, seq: int, payload: bytes) -> bytes:
    """One GCM datagram: ``header | nonce | GCM(sequence | payload)``."""
    return header + nonce + aead.encrypt(nonce, _SEQ.pack(seq) + payload, header)


def unseal(aead: AESGCM, data: bytes, header_len: int) -> tuple[int, bytes]:
    """Authenticate and decrypt a datagram whose header is ``data[:header_len]``.

    Returns ``(sequence, payload)``; raises ``Forged``. Replay is the caller's to judge.
    """
    body = header_len + NONCE
    if len(data) < body + SEQ + TAG:
        raise Forged(f"gcm datagram has {len(data)} bytes, expected at least {body + SEQ + TAG}")
    try:
        plain = aead.decrypt(data[header_len:body], data[body:], data[:header_len])
    except InvalidTag:
        raise Forged("gcm datagram failed authentication") from None
    return _SEQ.unpack_from(plain)[0], plain[SEQ:]


def split_header(data: bytes) -> tuple[str, int]:
    """The device key a GCM datagram names (empty from the server) and the header length."""
    if len(data) < 3 or data[0] != MAGIC:
        raise Forged(f"gcm datagram has {len(data)} bytes or no gcm magic, expected a header")
    if data[1] != VERSION:
        raise UnsupportedVersion(f"gcm datagram has framing version {data[1]}, expected {VERSION}")
    n = data[2]
    if len(data) < 3 + n:
        raise Forged(f"gcm header names a {n}-byte device key, datagram has {len(data)} bytes")
    try:
        return data[3 : 3 + n].decode(), 3 + n
    except UnicodeDecodeError:
        raise Forged("gcm header device key is not utf-8") from None


class GcmChannel:
    """The node's side of one device key: outbound nonces and sequence, inbound replay window.

    ``floor`` is the highest sequence of this key accepted in an earlier run (from the store).
    """

    __slots__ = ("_aead", "_nonces", "_seq", "device", "key", "key_id", "window")

    def __init__(self, device: str, key: bytes, floor: int = 0) -> None:
        if len(key) != 32:
            raise ValueError(f"gcm key has {len(key)} bytes, expected 32")
        self.device = device
        self.key = key
        self.key_id = key_id(key)
        self._aead = AESGCM(key)
        self._nonces = NonceSource()
        self._seq = Sequencer()
        self.window = ReplayWindow(floor)

    def seal(self, data: bytes) -> bytes:
        """Encrypt one server-to-device datagram."""
        return seal(self._aead, SERVER_HEADER, self._nonces.next(), self._seq.next(), data)

    def open(self, data: bytes, header_len: int) -> bytes:
        """Authenticate, decrypt and replay-check a device-to-server datagram."""
        try:
            seq, payload = unseal(self._aead, data, header_len)
        except Forged as e:
            raise Forged(f"{e.message} (device {self.device!r})") from None
        if seq > MAX_SEQ:
            raise Forged(f"gcm sequence {seq} from device {self.device!r} is above 2^63 - 1")
        if not self.window.accept(seq):
            raise Replayed(
                f"gcm sequence {seq} from device {self.device!r} was accepted before "
                f"or is more than {WINDOW} below the highest accepted, {self.window.top}"
            )
        return payload


class DeviceChannel:
    """The device's side of its key (for clients and tests): what the future SDK keeps.

    ``floor``: the highest server sequence accepted before, if the device stores it across its
    own restarts; without it, a restarted device accepts a replayed server datagram once.
    """

    __slots__ = ("_aead", "_header", "_nonces", "sequencer", "window")

    def __init__(self, key: bytes, device: str, *, floor: int = 0) -> None:
        k = device.encode()
        if not k or len(k) > 255:
            raise ValueError(f"device key has {len(k)} bytes, expected 1 to 255")
        self._aead = AESGCM(key)
        self._header = bytes((MAGIC, VERSION, len(k))) + k
        self._nonces = NonceSource()
        self.sequencer = Sequencer()
        self.window = ReplayWindow(floor)

    def seal(self, payload: bytes) -> bytes:
        """A device-to-server datagram with the next nonce and sequence."""
        return seal(self._aead, self._header, self._nonces.next(), self.sequencer.next(), payload)

    def open(self, data: bytes) -> bytes:
        """The payload of a server-to-device datagram; ``Forged`` or ``Replayed`` otherwise."""
        seq, payload = _from_server(self._aead, data)
        if not self.window.accept(seq):
            raise Replayed(f"gcm sequence {seq} from the server was accepted before or is too old")
        return payload


def device_seal(key: bytes, device: str, seq: int, payload: bytes) -> bytes:
    """A device-to-server datagram with sequence ``seq`` and a random nonce (for tests)."""
    k = device.encode()
    header = bytes((MAGIC, VERSION, len(k))) + k
    return seal(AESGCM(key), header, os.urandom(NONCE), seq, payload)


def device_open(key: bytes, data: bytes) -> tuple[int, bytes]:
    """``(sequence, payload)`` of a server-to-device datagram, without a replay check."""
    return _from_server(AESGCM(key), data)


def _from_server(aead: AESGCM, data: bytes) -> tuple[int, bytes]:
    device, header_len = split_header(data)
    if device:
        raise Forged(f"gcm datagram names device {device!r}, expected one from the server")
    return unseal(aead, data, header_len)


# -- AES-256-CBC, the Aesel format ------------------------------------------------------------


def cbc_key_bytes(text: str, size: int, encoding: str) -> bytes:
    """Key or IV bytes from configuration text: hex-decoded, or the raw text (Aesel's servers)."""
    if encoding == "raw":
        raw = text.encode()
        if len(raw) < size:
            raise ValueError(f"aes key text has {len(raw)} bytes, expected at least {size}")
        return raw[:size]
    try:
        b = binascii.unhexlify(text)
    except (binascii.Error, ValueError):
        raise ValueError(
            f"aes key is not hex ({len(text)} characters), expected {size * 2} hex digits"
        ) from None
    if len(b) != size:
        raise ValueError(f"aes key has {len(b)} bytes, expected {size}")
    return b


class CbcCodec:
    """AES-256-CBC with a fixed key and IV, PKCS#7 padding, Base64 text (docs/compat.md §3.7)."""

    __slots__ = ("_last_in", "_last_out", "iv", "key")

    def __init__(self, key: bytes, iv: bytes) -> None:
        if len(key) != 32 or len(iv) != 16:
            raise ValueError(f"cbc key/iv have {len(key)}/{len(iv)} bytes, expected 32/16")
        self.key = key
        self.iv = iv
        self._last_in: bytes | None = None
        self._last_out = b""

    def seal(self, data: bytes) -> bytes:
        # a fixed IV makes the ciphertext a function of the plaintext: encrypt a datagram
        # once for all the devices it goes to
        if data is self._last_in:
            return self._last_out
        p = padding.PKCS7(128).padder()
        padded = p.update(data) + p.finalize()
        enc = Cipher(algorithms.AES(self.key), modes.CBC(self.iv)).encryptor()
        out = base64.b64encode(enc.update(padded) + enc.finalize())
        self._last_in, self._last_out = data, out
        return out

    def open(self, data: bytes) -> bytes:
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise Forged(f"cbc datagram of {len(data)} bytes is not base64") from None
        if not raw or len(raw) % 16:
            raise Forged(f"cbc ciphertext has {len(raw)} bytes, expected a multiple of 16")
        dec = Cipher(algorithms.AES(self.key), modes.CBC(self.iv)).decryptor()
        padded = dec.update(raw) + dec.finalize()
        u = padding.PKCS7(128).unpadder()
        try:
            return u.update(padded) + u.finalize()
        except ValueError:
            raise Forged("cbc datagram has bad padding") from None


class UdpSecurity:
    """The node's UDP encryption state: which modes are on, and each GCM device's channel.

    ``floors`` holds each key's replay floor as the store has it (by ``key_id``): filled at
    start before any channel is made, advanced by :class:`aesel.udp.floors.ReplayFloors`.
    """

    def __init__(
        self,
        *,
        gcm: bool = False,
        cbc_in: CbcCodec | None = None,
        cbc_out: CbcCodec | None = None,
    ) -> None:
        self.gcm = gcm
        self.cbc_in = cbc_in
        self.cbc_out = cbc_out
        self.channels: dict[str, GcmChannel] = {}
        self.floors: dict[str, int] = {}

    @property
    def cbc(self) -> bool:
        return self.cbc_in is not None

    def channel(self, device: str, key: bytes) -> GcmChannel:
        """The device's channel, made (or re-keyed) on registration."""
        ch = self.channels.get(device)
        if ch is None or ch.key != key:
            ch = GcmChannel(device, key, self.floors.get(key_id(key), 0))
            self.channels[device] = ch
        return ch

    def unsaved_floors(self) -> dict[str, int]:
        """The highest accepted sequence of each key whose floor the store does not have yet."""
        floors = self.floors
        return {
            ch.key_id: ch.window.top
            for ch in self.channels.values()
            if ch.window.top > floors.get(ch.key_id, 0)
        }

    def is_protected(self, device: str) -> bool:
        return device in self.channels

    def open(self, data: bytes) -> tuple[bytes, str | None]:
        """Decrypt an inbound datagram: ``(plaintext, authenticated device or None)``."""
        if data[:1] == b"\xa5":
            device, header_len = split_header(data)
            ch = self.channels.get(device)
            if ch is None:
                raise Forged(f"gcm datagram names device {device!r}, which has no gcm key")
            return ch.open(data, header_len), device
        if self.cbc_in is not None:
            return self.cbc_in.open(data), None
        return data, None
