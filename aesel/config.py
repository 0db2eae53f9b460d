"""Settings: defaults < environment (``AESEL_*``) < command-line flags."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    """Every option of ``aesel serve``; each has an ``AESEL_<NAME>`` environment variable."""

    host: str = field(default="127.0.0.1", metadata={"help": "address to bind every port to"})
    http_port: int = field(default=8080, metadata={"help": "HTTP API port (0 = any free port)"})
    udp_port: int = field(default=8762, metadata={"help": "UDP event port (0 = any free port)"})
    data_dir: Path = field(
        default=Path("aesel-data"), metadata={"help": "directory of the embedded store"}
    )
    flush_interval: float = field(
        default=0.1,
        metadata={
            "help": "seconds between write-behind flushes of streamed updates; the most "
            "streamed state a kill -9 can lose"
        },
    )
    max_body: int = field(
        default=1 << 20, metadata={"help": "largest JSON request body in bytes (413 beyond)"}
    )
    udp_max_size: int = field(
        default=8192, metadata={"help": "largest inbound UDP datagram in bytes (dropped beyond)"}
    )
    udp_buffer: int = field(
        default=4 << 20,
        metadata={"help": "UDP socket send/receive buffer in bytes (capped by the kernel)"},
    )
    ws_port: int = field(default=8081, metadata={"help": "WebSocket port (0 = any free port)"})
    ws_max_message: int = field(
        default=1 << 16,
        metadata={"help": "largest inbound WebSocket message in bytes (close 1009 beyond)"},
    )
    ws_high_water: int = field(
        default=256 * 1024,
        metadata={
            "help": "bytes buffered for a WebSocket client before its events coalesce in its outbox"
        },
    )
    ws_ping_interval: float = field(
        default=20.0,
        metadata={
            "help": "seconds between keepalive pings; no pong by the next one closes (0 = off)"
        },
    )
    ws_sndbuf: int = field(
        default=0, metadata={"help": "SO_SNDBUF of WebSocket sockets (0 = kernel default)"}
    )
    slow_timeout: float = field(
        default=2.0,
        metadata={"help": "seconds a subscriber may stay behind before it is disconnected (4008)"},
    )
    max_outbox: int = field(
        default=4096,
        metadata={"help": "objects a slow subscriber's outbox may hold before it is disconnected"},
    )
    udp_security: str = field(
        default="off",
        metadata={
            "help": "UDP encryption: off, gcm (devices may ask for a per-device AES-256-GCM key), "
            "cbc (Aesel's cluster-wide AES-256-CBC) or gcm+cbc"
        },
    )
    aes_key_encoding: str = field(
        default="hex",
        metadata={"help": "how CBC keys are written: hex (as the Aesel clients) or raw"},
    )
    aes_in_key: str = field(default="", metadata={"help": "CBC key for datagrams from devices"})
    aes_in_iv: str = field(default="", metadata={"help": "CBC IV for datagrams from devices"})
    aes_out_key: str = field(default="", metadata={"help": "CBC key for datagrams to devices"})
    aes_out_iv: str = field(default="", metadata={"help": "CBC IV for datagrams to devices"})
    log_level: str = field(default="info", metadata={"help": "debug, info, warning or error"})
    max_asset_size: int = field(
        default=128 << 20, metadata={"help": "largest asset upload in bytes (413 beyond)"}
    )
    auth: bool = field(
        default=False,
        metadata={"help": "require a JWT (POST /login) on every /v1 and /users route"},
    )
    udp_plaintext: str = field(
        default="public",
        metadata={
            "help": "with --auth, what a plaintext (unauthenticated) datagram may do: public "
            "(write public scenes, as any signed-in user may), refuse (nothing), trusted "
            "(everything, for old clients that cannot sign; logged loudly)"
        },
    )
    device_networks: str = field(
        default="127.0.0.0/8,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,::1/128,fc00::/7",
        metadata={
            "help": "comma-separated networks (CIDR) registered devices may be sent datagrams "
            "in; broadcast, multicast and link-local addresses are always refused"
        },
    )
    max_devices_per_scene: int = field(
        default=1000, metadata={"help": "most devices registered to one scene"}
    )
    max_devices_per_user: int = field(
        default=100, metadata={"help": "most devices one user may register (with --auth)"}
    )
    jwt_secret: str = field(
        default="",
        metadata={
            "help": "HS512 secret for login tokens; empty = random at start (tokens then "
            "do not survive a restart)"
        },
    )
    admin_user: str = field(
        default="admin", metadata={"help": "initial admin seeded when --auth is on"}
    )
    admin_password: str = field(
        default="",
        metadata={"help": "initial admin's password; empty = random, logged once at start"},
    )

    @staticmethod
    def env_name(name: str) -> str:
        return "AESEL_" + name.upper()

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]
