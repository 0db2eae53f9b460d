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
    log_level: str = field(default="info", metadata={"help": "debug, info, warning or error"})
    max_asset_size: int = field(
        default=128 << 20, metadata={"help": "largest asset upload in bytes (413 beyond)"}
    )
    auth: bool = field(
        default=False,
        metadata={"help": "require a JWT (POST /login) on every /v1 and /users route"},
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
