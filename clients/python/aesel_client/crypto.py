"""UDP encryption, the device's side: aesel's per-device AES-256-GCM and Aesel's AES-256-CBC.

Pure functions and small state objects, no sockets (``UdpDevice`` takes one as its
``cipher``). Both match the server byte for byte (``docs/realtime.md`` §4).

AES-256-GCM, framing version 2
    The key comes from the registration (``"encryption": "gcm"`` on a node run with
    ``--udp-security gcm``; ``gcm_key`` in the answer, Base64). Datagrams::

        device -> server:  A5 | 02 | n (u8) | device key (n bytes) | nonce (12) | sealed
        server -> device:  A5 | 02 | 00                          | nonce (12) | sealed
        sealed    = AES-256-GCM(key, nonce, plaintext, associated data = the bytes before the nonce)
        plaintext = sequence (u64 big-endian, below 2^63) | payload

    Nonces: a random 8-byte prefix drawn by each ``GcmChannel`` (so by each process using the
    key), then a 4-byte counter; a new prefix before the counter wraps. Sequences: microseconds
    since the Unix epoch, strictly increasing (``max(last + 1, now)``), so they keep increasing
    across restarts of the device with nothing stored. The server refuses a sequence it accepted
    before (``replayed``) and anything that fails authentication (``forged``); the channel does
    the same with the server's datagrams (a window of 64 below the highest accepted).

AES-256-CBC (Aesel compatibility)
    One key and IV per direction for the whole cluster, configured on the node; a datagram is
    the Base64 text of AES-256-CBC(PKCS#7(plaintext)). The registration answer of a node run
    with ``--udp-security cbc`` carries the key texts (``encryption_key``/``encryption_iv``: the
    device encrypts with them, ``decryption_key``/``decryption_iv``: it decrypts with them);
    they are hex by default (``--aes-key-encoding hex``), or raw text whose first 32 (16) bytes
    are the key (IV).
"""

from __future__ import annotations

import base64
import binascii
import os
import struct
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = 0xA5
VERSION = 2
NONCE = 12
SEQ = 8
TAG = 16
WINDOW = 64
MAX_SEQ = (1 << 63) - 1

KeyEncoding = Literal["hex", "raw"]

_SEQ = struct.Struct(">Q")
_NONCE = struct.Struct(">QI")
_COUNTS = 1 << 32
_ALL_SEEN = (1 << WINDOW) - 1


class CryptoError(ValueError):
    """A datagram the device refused; ``reason`` is the server's name for the same refusal."""

    reason = "forged"


class Forged(CryptoError):
    """Fails authentication, is too short, or is not from the server."""


class Replayed(CryptoError):
    """A server sequence accepted before, or too far below the highest accepted."""

    reason = "replayed"


class UnsupportedVersion(CryptoError):
    """Another GCM framing version."""

    reason = "gcm_version"


class DatagramCipher(Protocol):
    """What ``UdpDevice`` needs: seal an outbound datagram, open an inbound one."""

    def seal(self, payload: bytes) -> bytes: ...

    def open(self, data: bytes) -> bytes: ...


class ReplayWindow:
    """Accepts each sequence once: above ``top``, or among the ``WINDOW`` below it not seen yet.

    Everything at or below a starting ``floor`` is refused.
    """

    __slots__ = ("bits", "top")

    def __init__(self, floor: int = 0) -> None:
        self.top = floor
        self.bits = _ALL_SEEN

    def accept(self, n: int) -> bool:
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


class GcmChannel:
    """A device's AES-256-GCM channel: seals what it sends, opens what the server sends.

    ``key`` is the 32-byte key (or its Base64 text, as the registration answers it).
    ``floor``: the highest server sequence accepted before, for a device that stores it across
    its own restarts (``window.top``); without it a restarted device accepts a replayed server
    datagram once.
    """

    __slots__ = ("_aead", "_clock", "_count", "_prefix", "device", "header", "last_seq", "window")

    def __init__(
        self,
        key: bytes | str,
        device: str,
        *,
        floor: int = 0,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        raw = base64.b64decode(key, validate=True) if isinstance(key, str) else key
        if len(raw) != 32:
            raise ValueError(f"gcm key has {len(raw)} bytes, expected 32")
        k = device.encode()
        if not k or len(k) > 255:
            raise ValueError(f"device key has {len(k)} bytes, expected 1 to 255")
        self.device = device
        self.header = bytes((MAGIC, VERSION, len(k))) + k
        self._aead = AESGCM(raw)
        self._clock = clock
        self.last_seq = 0
        """The sequence of the last datagram sealed (microseconds since the epoch)."""
        self.window = ReplayWindow(floor)
        self._draw()

    def _draw(self) -> None:
        self._prefix = int.from_bytes(os.urandom(8))
        self._count = 0

    def _nonce(self) -> bytes:
        if self._count == _COUNTS:
            self._draw()
        nonce = _NONCE.pack(self._prefix, self._count)
        self._count += 1
        return nonce

    def next_seq(self) -> int:
        self.last_seq = max(self.last_seq + 1, self._clock() // 1000)
        return self.last_seq

    def seal(self, payload: bytes) -> bytes:
        """One device-to-server datagram, with the next nonce and sequence."""
        nonce = self._nonce()
        plain = _SEQ.pack(self.next_seq()) + payload
        return self.header + nonce + self._aead.encrypt(nonce, plain, self.header)

    def open(self, data: bytes) -> bytes:
        """The payload of a server-to-device datagram; raises ``CryptoError`` otherwise."""
        seq, payload = self.unseal(data)
        if not self.window.accept(seq):
            raise Replayed(
                f"gcm sequence {seq} from the server was accepted before or is more than "
                f"{WINDOW} below the highest accepted, {self.window.top}"
            )
        return payload

    def unseal(self, data: bytes) -> tuple[int, bytes]:
        """``(sequence, payload)`` of a server datagram, authenticated, without a replay check."""
        if len(data) < 3 or data[0] != MAGIC:
            raise Forged(f"gcm datagram has {len(data)} bytes or no gcm magic")
        if data[1] != VERSION:
            raise UnsupportedVersion(f"gcm datagram has framing version {data[1]}, expected 2")
        if data[2] != 0:
            raise Forged("gcm datagram names a device, expected one from the server")
        header_len = 3
        body = header_len + NONCE
        if len(data) < body + SEQ + TAG:
            raise Forged(
                f"gcm datagram has {len(data)} bytes, expected at least {body + SEQ + TAG}"
            )
        try:
            plain = self._aead.decrypt(data[header_len:body], data[body:], data[:header_len])
        except InvalidTag:
            raise Forged("gcm datagram failed authentication") from None
        seq = _SEQ.unpack_from(plain)[0]
        if seq > MAX_SEQ:
            raise Forged(f"gcm sequence {seq} is above 2^63 - 1")
        return seq, plain[SEQ:]


def key_bytes(text: str, size: int, encoding: KeyEncoding = "hex") -> bytes:
    """Key or IV bytes from configuration text: hex-decoded, or the first ``size`` raw bytes."""
    if encoding == "raw":
        raw = text.encode()
        if len(raw) < size:
            raise ValueError(f"aes key text has {len(raw)} bytes, expected at least {size}")
        return raw[:size]
    try:
        b = binascii.unhexlify(text)
    except (binascii.Error, ValueError):
        raise ValueError(f"aes key is not hex, expected {size * 2} hex digits") from None
    if len(b) != size:
        raise ValueError(f"aes key has {len(b)} bytes, expected {size}")
    return b


class CbcCipher:
    """Aesel's AES-256-CBC: Base64(AES-256-CBC(PKCS#7(plaintext))), one key and IV per direction.

    ``out_key``/``out_iv`` seal what the device sends (the node's ``--aes-in-key/iv``);
    ``in_key``/``in_iv`` open what it receives (the node's ``--aes-out-key/iv``).
    """

    __slots__ = ("in_iv", "in_key", "out_iv", "out_key")

    def __init__(self, out_key: bytes, out_iv: bytes, in_key: bytes, in_iv: bytes) -> None:
        for name, v, n in (("out key", out_key, 32), ("out iv", out_iv, 16),
                           ("in key", in_key, 32), ("in iv", in_iv, 16)):  # fmt: skip
            if len(v) != n:
                raise ValueError(f"cbc {name} has {len(v)} bytes, expected {n}")
        self.out_key, self.out_iv, self.in_key, self.in_iv = out_key, out_iv, in_key, in_iv

    @classmethod
    def from_text(
        cls,
        out_key: str,
        out_iv: str,
        in_key: str,
        in_iv: str,
        encoding: KeyEncoding = "hex",
    ) -> CbcCipher:
        """From key texts as configured (64 hex digits per key, 32 per IV, by default)."""
        return cls(key_bytes(out_key, 32, encoding), key_bytes(out_iv, 16, encoding),
                   key_bytes(in_key, 32, encoding), key_bytes(in_iv, 16, encoding))  # fmt: skip

    @classmethod
    def from_registration(
        cls, answer: Mapping[str, Any], encoding: KeyEncoding = "hex"
    ) -> CbcCipher:
        """From a registration answer's ``encryption_*`` and ``decryption_*`` fields."""
        try:
            return cls.from_text(str(answer["encryption_key"]), str(answer["encryption_iv"]),
                                 str(answer["decryption_key"]), str(answer["decryption_iv"]),
                                 encoding)  # fmt: skip
        except KeyError as e:
            raise ValueError(f"registration answer has no {e}: the node does not run cbc") from None

    def seal(self, payload: bytes) -> bytes:
        p = padding.PKCS7(128).padder()
        padded = p.update(payload) + p.finalize()
        enc = Cipher(algorithms.AES(self.out_key), modes.CBC(self.out_iv)).encryptor()
        return base64.b64encode(enc.update(padded) + enc.finalize())

    def open(self, data: bytes) -> bytes:
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise Forged(f"cbc datagram of {len(data)} bytes is not base64") from None
        if not raw or len(raw) % 16:
            raise Forged(f"cbc ciphertext has {len(raw)} bytes, expected a multiple of 16")
        dec = Cipher(algorithms.AES(self.in_key), modes.CBC(self.in_iv)).decryptor()
        padded = dec.update(raw) + dec.finalize()
        u = padding.PKCS7(128).unpadder()
        try:
            return u.update(padded) + u.finalize()
        except ValueError:
            raise Forged("cbc datagram has bad padding") from None
