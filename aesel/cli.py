"""``aesel serve``: every option has a flag and an ``AESEL_*`` environment variable."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

import uvloop

from aesel import __version__
from aesel.config import Settings
from aesel.errors import AeselError


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
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    defaults = Settings()
    for f in fields(Settings):
        env = Settings.env_name(f.name)
        default: Any = getattr(defaults, f.name)
        kind: Any = type(default) if not isinstance(default, Path) else Path
        if isinstance(default, bool):
            if env in os.environ:
                default = os.environ[env].strip().lower() in ("1", "true", "yes", "on")
            serve.add_argument(
                "--" + f.name.replace("_", "-"),
                action=argparse.BooleanOptionalAction,
                default=default,
                help=f"{f.metadata['help']} [env {env}]",
            )
            continue
        if env in os.environ:
            try:
                default = kind(os.environ[env])
            except ValueError:
                parser.error(f"{env}={os.environ[env]!r} is not a valid {kind.__name__}")
        serve.add_argument(
            "--" + f.name.replace("_", "-"),
            type=kind,
            default=default,
            help=f"{f.metadata['help']} [env {env}]",
        )
    return parser


async def _serve(settings: Settings) -> None:
    from aesel.app import Node

    node = Node(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await node.start()
    except (OSError, AeselError) as e:  # a port in use, an unwritable data dir, ...
        logging.getLogger("aesel").error("cannot start: %s", e)
        await node.stop()
        raise SystemExit(1) from None
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
    args = _parser().parse_args(argv)
    settings = Settings(**{name: getattr(args, name) for name in Settings.names()})
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    uvloop.run(_serve(settings))
