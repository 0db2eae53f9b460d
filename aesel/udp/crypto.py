"""UDP encryption: AES-256-GCM per device (aesel), and AES-256-CBC (Aesel compatibility).

Both are off by default, as in Aesel. Pure functions and small state objects: no sockets.

AES-256-GCM (``--udp-security gcm``)
    A device asks for it at registration (``"encryption": "gcm"``) and gets a random 256-bit
    key (Base64, ``gcm_key`` in the response). Datagrams::

        device -> server:  A5 | len(device key) u8 | device key | nonce (12) | ciphertext+tag (16)
        server -> device:  A5 | 00 | nonce (12) | ciphertext+tag

    The header before the nonce is the associated data. The nonce is a 4-byte direction
    (``00000001`` device to server, ``00000002`` server to device) and a 64-bit big-endian
    counter that the sender increments for every datagram. The server accepts a counter only
    once, within a sliding window of the last 64 (as IPsec and DTLS do), so replayed datagrams
    are dropped (``replayed``), and anything that fails authentication is dropped (``forged``).

AES-256-CBC (``--udp-security cbc``; reference 3.7)
    One cluster-wide key and IV per direction. A datagram is the Base64 text of
    AES-256-CBC(PKCS#7-padded plaintext). Keys are configured as in Aesel (64 hex characters,
    IV 32) and hex-decoded, as the Blender clients do; ``--aes-key-encoding raw`` takes the
    first 32 (16) bytes of the text itself, as the original C++ servers did.
"""

from __future__ import annotations

import base64
import binascii
import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from aesel.errors import BadRequest

MAGIC = 0xA5
TO_SERVER = b"\x00\x00\x00\x01"
TO_DEVICE = b"\x00\x00\x00\x02"
NONCE = 12
TAG = 16
WINDOW = 64


class Forged(BadRequest):
    reason = "forged"


class Replayed(BadRequest):
    reason = "replayed"


class Unauthenticated(BadRequest):
    reason = "unauthenticated"


def new_key() -> bytes:
    return os.urandom(32)


class ReplayWindow:
    """Accepts each 64-bit counter at most once, within the last ``WINDOW`` counters."""

    __slots__ = ("bits", "top")

    def __init__(self) -> None:
        self.top = -1
        self.bits = 0

    def check(self, n: int) -> bool:
        """True when ``n`` is new (does not record it)."""
        if n > self.top:
            return True
        off = self.top - n
        return off < WINDOW and not (self.bits >> off) & 1

    def record(self, n: int) -> None:
        if n > self.top:
            shift = n - self.top
            self.bits = ((self.bits << shift) | 1) & ((1 << WINDOW) - 1) if shift < WINDOW else 1
            self.top = n
        else:
            self.bits |= 1 << (self.top - n)


class GcmChannel:
    """One device's GCM state: the key, the outbound counter and the inbound replay window."""

    __slots__ = ("_aead", "_out", "device", "key", "window")

    def __init__(self, device: str, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError(f"gcm key has {len(key)} bytes, expected 32")
        self.device = device
        self.key = key
        self._aead = AESGCM(key)
        self._out = 0
        self.window = ReplayWindow()

    def seal(self, data: bytes) -> bytes:
        """Encrypt one server-to-device datagram."""
        self._out += 1
        nonce = TO_DEVICE + struct.pack(">Q", self._out)
        head = bytes((MAGIC, 0))
        return head + nonce + self._aead.encrypt(nonce, data, head)

    def open(self, data: bytes, header_len: int) -> bytes:
        """Authenticate and decrypt a device-to-server datagram (header ``data[:header_len]``)."""
        nonce = data[header_len : header_len + NONCE]
        if len(nonce) != NONCE or len(data) < header_len + NONCE + TAG or nonce[:4] != TO_SERVER:
            raise Forged(
                f"gcm datagram has {len(data)} bytes or a bad nonce, expected header, nonce and tag"
            )
        (counter,) = struct.unpack(">Q", nonce[4:])
        if not self.window.check(counter):
            raise Replayed(f"gcm counter {counter} was already used or is too old")
        try:
            plain = self._aead.decrypt(nonce, data[header_len + NONCE :], data[:header_len])
        except InvalidTag:
            raise Forged(
                f"gcm datagram from device {self.device!r} failed authentication"
            ) from None
        self.window.record(counter)
        return plain


def device_seal(key: bytes, device: str, counter: int, data: bytes) -> bytes:
    """What a device sends (for clients and tests): encrypt ``data`` with counter ``counter``."""
    k = device.encode()
    head = bytes((MAGIC, len(k))) + k
    nonce = TO_SERVER + struct.pack(">Q", counter)
    return head + nonce + AESGCM(key).encrypt(nonce, data, head)


def device_open(key: bytes, data: bytes) -> bytes:
    """What a device does with a datagram from the server (for clients and tests)."""
    if len(data) < 2 + NONCE + TAG or data[0] != MAGIC:
        raise ValueError(f"datagram has {len(data)} bytes or no gcm magic, expected a gcm datagram")
    head_len = 2 + data[1]
    nonce = data[head_len : head_len + NONCE]
    return AESGCM(key).decrypt(nonce, data[head_len + NONCE :], data[:head_len])


def split_header(data: bytes) -> tuple[str, int]:
    """The device key of an inbound GCM datagram and the header length."""
    if len(data) < 2:
        raise Forged(f"gcm datagram has {len(data)} bytes, expected a header")
    n = data[1]
    if len(data) < 2 + n:
        raise Forged(f"gcm header names a {n}-byte device key, datagram has {len(data)} bytes")
    try:
        return data[2 : 2 + n].decode(), 2 + n
    except UnicodeDecodeError:
        raise Forged("gcm header device key is not utf-8") from None


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
    """AES-256-CBC with a fixed key and IV, PKCS#7 padding, Base64 text (reference 3.7)."""

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
    """The node's UDP encryption state: which modes are on, and each GCM device's channel."""

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

    @property
    def cbc(self) -> bool:
        return self.cbc_in is not None

    def channel(self, device: str, key: bytes) -> GcmChannel:
        """The device's channel, made (or re-keyed) on registration."""
        ch = self.channels.get(device)
        if ch is None or ch.key != key:
            ch = GcmChannel(device, key)
            self.channels[device] = ch
        return ch

    def is_protected(self, device: str) -> bool:
        return device in self.channels

    def open(self, data: bytes) -> tuple[bytes, str | None]:
        """Decrypt an inbound datagram: ``(plaintext, authenticated device or None)``."""
        if data[:1] == b"\xa5":
            device, head = split_header(data)
            ch = self.channels.get(device)
            if ch is None:
                raise Forged(f"gcm datagram names device {device!r}, which has no gcm key")
            return ch.open(data, head), device
        if self.cbc_in is not None:
            return self.cbc_in.open(data), None
        return data, None
