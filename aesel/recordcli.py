"""``aesel record`` and ``aesel replay``: the recordings API of a running node, from a shell.

    aesel record start SCENE                 # prints the recording id
    aesel record stop SCENE ID
    aesel record list SCENE
    aesel record get SCENE ID -o FILE        # download the record file
    aesel record delete SCENE ID
    aesel replay start SCENE RECORDING [--speed X] [--loop]   # prints the replay id
    aesel replay pause|resume|stop SCENE ID
    aesel replay list SCENE

``--url`` (``AESEL_URL``, default ``http://127.0.0.1:8080``) names the node; ``--token``
(``AESEL_TOKEN``) is sent as ``Authorization: Bearer`` when the node runs with ``--auth``.
Errors print the node's ``err_msg`` and exit 1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any


def _call(args: argparse.Namespace, method: str, path: str, body: Any = None) -> bytes:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(args.url.rstrip("/") + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if args.token:
        req.add_header("Authorization", f"Bearer {args.token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return bytes(r.read())
    except urllib.error.HTTPError as e:
        text = e.read().decode(errors="replace")
        with contextlib.suppress(ValueError, AttributeError):
            text = json.loads(text).get("err_msg", text)
        print(f"aesel {args.command}: {e.code} {text}", file=sys.stderr)
        raise SystemExit(1) from None
    except OSError as e:
        print(f"aesel {args.command}: cannot reach {args.url}: {e}", file=sys.stderr)
        raise SystemExit(1) from None


def _parser() -> argparse.ArgumentParser:
    node = argparse.ArgumentParser(add_help=False)
    node.add_argument("--url", default=os.environ.get("AESEL_URL", "http://127.0.0.1:8080"))
    node.add_argument("--token", default=os.environ.get("AESEL_TOKEN", ""))
    p = argparse.ArgumentParser(prog="aesel", description="recordings of a running aesel node")
    sub = p.add_subparsers(dest="command", required=True)
    record = sub.add_parser(
        "record", parents=[node], help="start, stop, list, download or delete recordings"
    )
    record.add_argument("action", choices=("start", "stop", "list", "get", "delete"))
    record.add_argument("scene")
    record.add_argument("id", nargs="?")
    record.add_argument("-o", "--output", type=Path, help="file for 'get' (default: stdout)")
    replay = sub.add_parser(
        "replay", parents=[node], help="replay a recording into a scene; control replays"
    )
    replay.add_argument("action", choices=("start", "pause", "resume", "stop", "list"))
    replay.add_argument("scene", help="the scene the events go to")
    replay.add_argument("id", nargs="?", help="the recording (start) or the replay")
    replay.add_argument("--speed", type=float, default=1.0, help="0.1 to 10 (default 1)")
    replay.add_argument("--loop", action="store_true", help="start over at the end, until stopped")
    return p


def main(argv: list[str]) -> None:
    args = _parser().parse_args(argv)
    base = f"/v1/scene/{args.scene}"
    if args.action not in ("start", "list") and not args.id:
        _parser().error(f"{args.command} {args.action} needs an id")
    out: bytes
    if args.command == "record":
        if args.action == "get":
            data = _call(args, "GET", f"{base}/recordings/{args.id}")
            if args.output is None:
                sys.stdout.buffer.write(data)
            else:
                args.output.write_bytes(data)
            return
        out = {
            "start": lambda: _call(args, "POST", f"{base}/recordings"),
            "stop": lambda: _call(args, "POST", f"{base}/recordings/{args.id}/stop"),
            "list": lambda: _call(args, "GET", f"{base}/recordings"),
            "delete": lambda: _call(args, "DELETE", f"{base}/recordings/{args.id}"),
        }[args.action]()
    else:
        if args.action == "start" and not args.id:
            _parser().error("replay start needs a recording id")
        body = {"recording": args.id, "speed": args.speed, "loop": args.loop}
        out = {
            "start": lambda: _call(args, "POST", f"{base}/replays", body),
            "pause": lambda: _call(args, "POST", f"{base}/replays/{args.id}/pause"),
            "resume": lambda: _call(args, "POST", f"{base}/replays/{args.id}/resume"),
            "stop": lambda: _call(args, "DELETE", f"{base}/replays/{args.id}"),
            "list": lambda: _call(args, "GET", f"{base}/replays"),
        }[args.action]()
    doc = json.loads(out)
    if args.action == "start":
        print(doc["id"])
    else:
        print(json.dumps(doc, indent=2))
