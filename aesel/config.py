"""Settings: defaults < environment (``AESEL_*``) < command-line flags.

One pydantic-settings model holds every option of ``aesel serve``. Parsing is strict, so a typo
never fails open: a boolean is one of ``true/false``, ``1/0``, ``yes/no``, ``on/off`` (any case),
an enumeration is a ``Literal``, numbers have ranges, and the secrets are :class:`SecretStr`,
which never print. The command-line flags (:mod:`aesel.cli`) are generated from the fields and
reach the model as its init arguments, the highest source.

Sources, highest first (:meth:`Settings.settings_customise_sources`): flags, the environment,
then the defaults. A Consul KV source will go after the environment, before the defaults.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

ENV_PREFIX = "AESEL_"
MIN_SECRET_BYTES = 64  # HS512 wants a key as long as its 64-byte hash (RFC 7518 section 3.2)

TRUE = frozenset({"true", "1", "yes", "on"})
FALSE = frozenset({"false", "0", "no", "off"})


def _strict_bool(value: object) -> object:
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE:
            return True
        if word in FALSE:
            return False
        raise ValueError("expected true/false, 1/0, yes/no or on/off")
    if isinstance(value, int) and not isinstance(value, bool) and value not in (0, 1):
        raise ValueError(f"expected a boolean, got {value!r}")
    return value


Switch = Annotated[bool, BeforeValidator(_strict_bool)]
Port = Annotated[int, Field(ge=0, le=65535)]
Size = Annotated[int, Field(gt=0)]
Count = Annotated[int, Field(ge=0)]
Seconds = Annotated[float, Field(ge=0, allow_inf_nan=False)]
PositiveSeconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]


def _f(default: Any, help: str) -> Any:
    return Field(default=default, description=help)


class Settings(BaseSettings):
    """Every option of ``aesel serve``; each has an ``AESEL_<NAME>`` environment variable."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, frozen=True, extra="forbid", validate_default=True
    )

    host: str = _f("127.0.0.1", "address to bind every port to")
    http_port: Port = _f(8080, "HTTP API port (0 = any free port)")
    udp_port: Port = _f(8762, "UDP event port (0 = any free port)")
    data_dir: Path = _f(Path("aesel-data"), "directory of the embedded store")
    flush_interval: PositiveSeconds = _f(
        0.1,
        "seconds between write-behind flushes of streamed updates; the most streamed state a "
        "kill -9 can lose",
    )
    max_body: Size = _f(1 << 20, "largest JSON request body in bytes (413 beyond)")
    udp_max_size: Size = _f(8192, "largest inbound UDP datagram in bytes (dropped beyond)")
    udp_buffer: Size = _f(4 << 20, "UDP socket send/receive buffer in bytes (capped by the kernel)")
    ws_port: Port = _f(8081, "WebSocket port (0 = any free port)")
    ws_max_message: Size = _f(
        1 << 16, "largest inbound WebSocket message in bytes (close 1009 beyond)"
    )
    ws_high_water: Size = _f(
        256 * 1024, "bytes buffered for a WebSocket client before its events coalesce in its outbox"
    )
    ws_ping_interval: Seconds = _f(
        20.0, "seconds between keepalive pings; no pong by the next one closes (0 = off)"
    )
    ws_sndbuf: Count = _f(0, "SO_SNDBUF of WebSocket sockets (0 = kernel default)")
    slow_timeout: PositiveSeconds = _f(
        2.0, "seconds a subscriber may stay behind before it is disconnected (4008)"
    )
    max_outbox: Size = _f(
        4096, "objects a slow subscriber's outbox may hold before it is disconnected"
    )
    udp_security: Literal["off", "gcm", "cbc", "gcm+cbc"] = _f(
        "off",
        "UDP encryption: off, gcm (devices may ask for a per-device AES-256-GCM key), "
        "cbc (Aesel's cluster-wide AES-256-CBC) or gcm+cbc",
    )
    aes_key_encoding: Literal["hex", "raw"] = _f(
        "hex", "how CBC keys are written: hex (as the Aesel clients) or raw"
    )
    aes_in_key: SecretStr = _f(SecretStr(""), "CBC key for datagrams from devices")
    aes_in_iv: SecretStr = _f(SecretStr(""), "CBC IV for datagrams from devices")
    aes_out_key: SecretStr = _f(SecretStr(""), "CBC key for datagrams to devices")
    aes_out_iv: SecretStr = _f(SecretStr(""), "CBC IV for datagrams to devices")
    log_level: Literal["debug", "info", "warning", "error"] = _f(
        "info", "debug, info, warning or error"
    )
    mongo_url: SecretStr = _f(
        SecretStr(""),
        "MongoDB URL (mongodb://host:port/db) for objects, properties, assets (GridFS), "
        "collections, projects and users; empty = the embedded store",
    )
    neo4j_url: str = _f(
        "",
        "Neo4j URL (bolt:// or neo4j://) for scenes, devices, registrations and scene links; "
        "empty = the embedded store",
    )
    neo4j_user: str = _f("", "Neo4j user (empty = no authentication)")
    neo4j_password: SecretStr = _f(SecretStr(""), "Neo4j password")
    store_timeout: PositiveSeconds = _f(
        5.0, "seconds a MongoDB or Neo4j call may take before it fails (REST answers 503)"
    )
    kafka: str = _f(
        "",
        "Kafka bootstrap servers (host:port,...): run as one node of a cluster whose nodes share "
        "events, registrations and membership through Kafka; empty = a single node",
    )
    node_id: str = _f("", "this node's name in the cluster (empty = <hostname>-<http port>)")
    kafka_topic_prefix: str = _f(
        "aesel", "prefix of the cluster's Kafka topics (<prefix>.events, <prefix>.state)"
    )
    cluster_lease: PositiveSeconds = _f(
        3.0,
        "seconds without a heartbeat after which a node counts as gone and its UDP devices "
        "are taken over",
    )
    cluster_heartbeat: PositiveSeconds = _f(0.5, "seconds between a node's heartbeats")

    advertise_host: str = _f(
        "", "the address other nodes and clients reach this node at (empty = --host)"
    )
    consul: str = _f(
        "",
        "Consul agent URL (http://127.0.0.1:8500): register this node's endpoints with a health "
        "check, read settings from KV aesel/config/; empty = no Consul",
    )
    max_asset_size: Size = _f(128 << 20, "largest asset upload in bytes (413 beyond)")
    auth: Switch = _f(False, "require a JWT (POST /login) on every /v1 and /users route")
    jwt_secret: SecretStr = _f(
        SecretStr(""),
        f"HS512 secret that signs login tokens, at least {MIN_SECRET_BYTES} bytes; empty = one "
        "generated once and kept in <data-dir>/jwt-secret (owner-only)",
    )
    jwt_previous_secrets: SecretStr = _f(
        SecretStr(""),
        "comma-separated earlier secrets whose tokens are still accepted during a rotation "
        f"(each at least {MIN_SECRET_BYTES} bytes); new tokens are signed with --jwt-secret",
    )
    admin_user: str = _f("admin", "initial admin seeded when --auth is on")
    admin_password: SecretStr = _f(
        SecretStr(""), "initial admin's password; empty = random, logged once at start"
    )
    login_user_failures: Size = _f(
        5, "failed logins for one username before its exponential back-off starts"
    )
    login_address_failures: Size = _f(
        20, "failed logins from one address before its exponential back-off starts"
    )
    login_max_lockout: PositiveSeconds = _f(
        300.0, "longest back-off in seconds after failed logins (429 with Retry-After)"
    )
    udp_plaintext: Literal["public", "refuse", "trusted"] = _f(
        "public",
        "with --auth, what a plaintext (unauthenticated) datagram may do: public (write public "
        "scenes, as any signed-in user may), refuse (nothing), trusted (everything, for old "
        "clients that cannot sign; logged loudly)",
    )
    device_networks: str = _f(
        "127.0.0.0/8,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,::1/128,fc00::/7",
        "comma-separated networks (CIDR) registered devices may be sent datagrams in; "
        "broadcast, multicast and link-local addresses are always refused",
    )
    udp_rate: Count = _f(
        4 << 20,
        "bytes a second the node sends to one UDP destination address at most, shared by every "
        "device registered there (beyond: dropped, counted rate_limited; 0 = no cap)",
    )
    max_devices_per_scene: Size = _f(1000, "most devices registered to one scene")
    max_devices_per_user: Size = _f(100, "most devices one user may register (with --auth)")
    metrics_token: SecretStr = _f(
        SecretStr(""),
        "bearer token GET /metrics requires; with --auth and none set, /metrics is closed (401)",
    )
    header_timeout: PositiveSeconds = _f(
        10.0,
        "seconds a client has to send complete HTTP request headers (from connect or from the "
        "previous response) or finish the WebSocket handshake; closed beyond",
    )
    http_keepalive: Size = _f(5, "seconds an idle HTTP keep-alive connection stays open")
    max_connections_per_address: Count = _f(
        0,
        "connections one client address may hold open on each TCP port (0 = auto: a quarter of "
        "the port's cap, so no one address fills a port)",
    )
    http_max_connections: Count = _f(
        0,
        "connections the HTTP port holds open (0 = auto: a share of the descriptor limit); "
        "more are answered 503 and closed",
    )
    ws_max_connections: Count = _f(
        0,
        "connections the WebSocket port holds open (0 = auto: the descriptor limit less the "
        "HTTP share and headroom); more are refused",
    )

    @field_validator("jwt_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        n = len(value.get_secret_value().encode())
        if 0 < n < MIN_SECRET_BYTES:
            raise ValueError(f"secret has {n} bytes, expected at least {MIN_SECRET_BYTES}")
        return value

    @field_validator("jwt_previous_secrets")
    @classmethod
    def _each_long_enough(cls, value: SecretStr) -> SecretStr:
        for i, s in enumerate(split_secrets(value), 1):
            n = len(s.encode())
            if n < MIN_SECRET_BYTES:
                raise ValueError(f"secret {i} has {n} bytes, expected at least {MIN_SECRET_BYTES}")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # highest first: flags (init arguments), the environment; a Consul KV source goes here
        return (init_settings, env_settings)

    @staticmethod
    def env_name(name: str) -> str:
        return ENV_PREFIX + name.upper()

    @classmethod
    def names(cls) -> list[str]:
        return list(cls.model_fields)

    @classmethod
    def is_secret(cls, name: str) -> bool:
        return cls.model_fields[name].annotation is SecretStr

    def previous_secrets(self) -> list[str]:
        return split_secrets(self.jwt_previous_secrets)


def split_secrets(value: SecretStr) -> list[str]:
    return [s.strip() for s in value.get_secret_value().split(",") if s.strip()]
