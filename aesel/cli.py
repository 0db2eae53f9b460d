"""``aesel serve``: every option has a flag and an ``AESEL_*`` environment variable.

The flags are generated from :class:`aesel.config.Settings`. The parser never reads the
environment: a flag that is given becomes an init argument of the model (the highest source),
and the model reads ``AESEL_*`` itself. So ``--help`` shows the built-in defaults only, never a
value taken from the environment, and never a secret's.

A setting that does not parse, or names no option, is one line on stderr and exit code 2; a node
that cannot start (a port in use, an unwritable data dir) is one line and exit code 1.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any, Literal, NoReturn, get_args, get_origin

import uvloop
from pydantic import ValidationError

from aesel import __version__
from aesel.config import ENV_PREFIX, KV_PREFIX, Settings, check_consul_url, kv_unknown
from aesel.errors import AeselError
from aesel.net import raise_nofile

log = logging.getLogger("aesel")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _metavar(name: str) -> str:
    kind = Settings.model_fields[name].annotation
    if Settings.is_secret(name):
        return "SECRET"
    choices = get_args(kind) if get_origin(kind) is Literal else ()
    if choices:
        return "{" + ",".join(choices) + "}"
    names = {int: "N", float: "SECONDS", Path: "DIR"}
    return names.get(kind, "TEXT") if isinstance(kind, type) else "TEXT"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aesel", description="aesel realtime 3D scene server")
    parser.add_argument("--version", action="version", version=f"aesel {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser(
        "serve",
        help="run the whole platform in one process on the embedded store",
        description="Run aesel: the HTTP API, UDP event ingress and streaming to devices, "
        "on the embedded store (SQLite in --data-dir). Each option may also be set by the "
        "environment variable named in its help; a flag wins over the environment.",
        argument_default=argparse.SUPPRESS,  # only the flags given reach the settings
    )
    for name, info in Settings.model_fields.items():
        env = Settings.env_name(name)
        default = info.default
        if Settings.is_secret(name):
            shown = "none"
        elif isinstance(default, bool):
            shown = "on" if default else "off"
        else:
            shown = str(default)
        help = f"{info.description} [env {env}; default: {shown}]".replace("%", "%%")
        if info.annotation is bool:
            serve.add_argument(_flag(name), action=argparse.BooleanOptionalAction, help=help)
        else:
            serve.add_argument(_flag(name), metavar=_metavar(name), help=help)
    sub.add_parser(
        "migrate",
        help="copy an embedded data dir into MongoDB and Neo4j (see aesel migrate --help)",
        add_help=False,
    )
    return parser


def _refuse(message: str, code: int = 2) -> NoReturn:
    print(f"aesel serve: error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(code)


def _explain(e: ValidationError, given: dict[str, Any], kv: dict[str, str] | None = None) -> str:
    """One line per bad setting, naming the flag, variable or Consul key it came from."""
    lines = []
    for err in e.errors():
        name = str(err["loc"][0]) if err.get("loc") else "?"
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        msg = msg[:1].lower() + msg[1:]
        where = _flag(name) if name in given else Settings.env_name(name)
        if name not in given and where not in os.environ and name in (kv or {}):
            where = f"consul key {KV_PREFIX}{name}"
        if name in Settings.model_fields and not Settings.is_secret(name):
            where += f"={err.get('input')!r}"
        lines.append(f"invalid {where}: {msg}")
    return "; ".join(lines)


def load_settings(argv: list[str] | None = None) -> Settings:
    """Parse the flags and the environment into :class:`Settings`; exit 2 on any bad value."""
    args = vars(_parser().parse_args(argv))
    args.pop("command", None)
    known = {Settings.env_name(n) for n in Settings.names()}
    unknown = sorted(
        k for k in os.environ if k.upper().startswith(ENV_PREFIX) and k.upper() not in known
    )
    if unknown:
        _refuse(f"{', '.join(unknown)} names no setting of aesel serve (see aesel serve --help)")
    kv = _consul_kv(args)
    try:
        return Settings.load(kv, **args)
    except ValidationError as e:
        _refuse(_explain(e, args, kv))


def _consul_kv(args: dict[str, Any]) -> dict[str, str]:
    """The settings under ``aesel/config/`` in Consul when ``--consul`` is given (read once)."""
    url = args.get("consul", os.environ.get(Settings.env_name("consul"), ""))
    if not url:
        return {}
    try:
        url = check_consul_url(url)
    except ValueError:
        return {}  # the model reports it, naming the flag or variable
    token = args.get("consul_token", os.environ.get(Settings.env_name("consul_token"), ""))
    from aesel.cluster.consul import read_settings

    try:
        kv = read_settings(url, token)
    except AeselError as e:
        _refuse(f"cannot start: {e.message}", code=1)
    unknown = kv_unknown(kv)
    if unknown:
        _refuse(f"{', '.join(unknown)} in consul names no setting of aesel serve (see --help)")
    return kv


GC_YOUNG = 10_000
"""Allocations between two collections of the youngest generation (CPython's default: 700)."""


def settle_gc() -> None:
    """Set the garbage collector up for a long-running node, once it has started.

    Every streamed update allocates about ten short-lived containers (its decoded JSON, the
    moved object, the event, its payload); almost all of them are freed by reference counting
    at once, but each still counts towards the next collection. With CPython's defaults the
    collector then ran every ~70 updates and, every hundredth time, walked the whole heap: a
    fifth to a quarter of a streamed update's CPU on workload (c) (``bench/fanout_profile.py
    --gc``, three rounds on a quiet machine: 42-54 us per event in with the defaults, 32-43
    with this, 31-41 with the collector off). So what
    start-up built (modules, schemas, loaded caches) is frozen out of every later collection
    (``gc.freeze``), and the youngest generation is collected every ``GC_YOUNG`` allocations.
    Cyclic garbage is still collected, a little later.
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG, older, oldest)


async def _serve(settings: Settings) -> None:
    from aesel.app import Node

    try:  # building the node checks what the settings model cannot (the CBC key texts)
        node = Node(settings)
    except (ValueError, AeselError) as e:
        _refuse(f"cannot start: {e}")
    except OSError as e:  # an unreadable jwt-secret file, an unwritable data dir
        log.error("cannot start: %s", e)
        raise SystemExit(1) from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await node.start()
    except (OSError, AeselError) as e:  # a port in use, an unwritable data dir, ...
        log.error("cannot start: %s", e)
        await node.stop()
        raise SystemExit(1) from None
    settle_gc()
    print(
        f"aesel ready http={settings.host}:{node.http_port} udp={settings.host}:{node.udp_port} "
        f"ws={settings.host}:{node.ws_port}",
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        await node.stop()


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["migrate"]:
        from aesel import migrate

        raise SystemExit(migrate.main(args[1:]))
    if args[:1] in (["record"], ["replay"]):  # clients of a running node's REST API
        from aesel.recordcli import main as recordings

        recordings(args)
        return
    settings = load_settings(argv)
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per Consul call
    raise_nofile()
    uvloop.run(_serve(settings))
