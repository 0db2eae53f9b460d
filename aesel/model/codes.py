"""Message types and error codes of the Aesel wire protocol (docs/compat.md §1.2).

These numbers are part of the wire format: clients switch on them. Never renumber.
"""

from enum import IntEnum


class MsgType(IntEnum):
    """``msg_type`` of object and property messages (CLyman)."""

    OBJ_CRT = 0
    OBJ_UPD = 1
    OBJ_GET = 2
    OBJ_DEL = 3
    OBJ_QUERY = 4
    OBJ_LOCK = 5
    OBJ_UNLOCK = 6
    OBJ_OVERWRITE = 7
    PROP_CRT = 8
    PROP_UPD = 9
    PROP_GET = 10
    PROP_DEL = 11
    PROP_QUERY = 12
    ASSET_ADD = 13
    ASSET_DEL = 14
    OBJ_FRAME_CRT = 15
    OBJ_FRAME_UPD = 16
    OBJ_FRAME_GET = 17
    OBJ_FRAME_DEL = 18
    OBJ_ACTION_CRT = 19
    OBJ_ACTION_UPD = 20
    OBJ_ACTION_GET = 21
    OBJ_ACTION_DEL = 22
    PROP_FRAME_CRT = 23
    PROP_FRAME_UPD = 24
    PROP_FRAME_GET = 25
    PROP_FRAME_DEL = 26
    PROP_ACTION_CRT = 27
    PROP_ACTION_UPD = 28
    PROP_ACTION_GET = 29
    PROP_ACTION_DEL = 30


class SceneMsg(IntEnum):
    """``msg_type`` of scene messages (Crazy Ivan)."""

    CRT = 0
    UPD = 1
    GET = 2
    DEL = 3
    ENTER = 4
    LEAVE = 5
    DEVICE_ALIGN = 6
    DEVICE_GET = 7
    CACHE_ADD = 8
    CACHE_DEL = 9
    ASSET_ADD = 10
    ASSET_DEL = 11


class ErrCode(IntEnum):
    """``err_code`` values of REST bodies (and UDP/WebSocket error replies)."""

    NO_ERROR = 100
    ERROR = 101
    NOT_FOUND = 102
    TRANSLATION_ERROR = 110
    PROCESSING_ERROR = 120
    BAD_MSG_TYPE = 121
    INSUFF_DATA = 122
    LOCK_EXISTS = 123
    DEVICE_LOCK = 130


class CloseCode(IntEnum):
    """WebSocket close codes aesel uses (4000-4999 are application codes)."""

    NORMAL = 1000
    GOING_AWAY = 1001  # the node is shutting down
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003  # e.g. a binary message where JSON text was expected
    TOO_BIG = 1009  # a message larger than ws_max_message
    INTERNAL = 1011
    BAD_REQUEST = 4000  # too many malformed messages in a row
    UNAUTHORIZED = 4001  # the token expired, or its user was deleted or deactivated
    SLOW = 4008  # the client fell behind the stream (slow consumer)
    TOO_MANY_SUBSCRIPTIONS = 4029
