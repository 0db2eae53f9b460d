"""Response envelopes of the Aesel API (docs/compat.md §1.2)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from starlette.responses import Response

from aesel.model.codes import ErrCode
from aesel.model.entities import Object3D, Property, Scene


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def ok_list(field: str, msg_type: int, items: Iterable[dict[str, Any]], **extra: Any) -> JSON:
    records = list(items)
    return JSON(
        {
            "msg_type": msg_type,
            "err_code": int(ErrCode.NO_ERROR),
            "num_records": len(records),
            **extra,
            field: records,
        }
    )


def objects(msg_type: int, objs: Iterable[Object3D]) -> JSON:
    return ok_list("objects", msg_type, (o.to_json() for o in objs))


def properties(msg_type: int, props: Iterable[Property]) -> JSON:
    return ok_list("properties", msg_type, (p.to_json() for p in props))


def scenes(msg_type: int, items: Iterable[Scene | dict[str, Any]], **extra: Any) -> JSON:
    return ok_list(
        "scenes", msg_type, (s.to_json() if isinstance(s, Scene) else s for s in items), **extra
    )


def error(status: int, err_code: int, message: str) -> JSON:
    return JSON({"err_code": err_code, "err_msg": message}, status_code=status)
