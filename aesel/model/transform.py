"""4x4 transform maths, pure Python.

Conventions (reference sections 2.1 and 2.4):

- An object transform is a **row-major** 4x4 matrix of 16 numbers; the translation sits at
  indexes 3, 7 and 11. Points are column vectors: ``p' = M @ p``.
- The legacy object fields compose as ``T @ R @ S``: scale first, then rotation (Euler
  preferred over the quaternion), then translation. Legacy Euler angles are radians in
  ``glm::eulerAngleYXZ(y, x, z)`` order; quaternions are ``[w, x, y, z]``.
- A device or scene transform is ``{"translation": [x, y, z], "rotation": [x, y, z]}`` with
  Euler radians composed as ``Rx @ Ry @ Rz`` (Crazy Ivan's post-multiplied per-axis
  rotations, read back with ``extractEulerAngleXYZ``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Matrix = tuple[float, ...]  # 16 numbers, row-major

IDENTITY: Matrix = (
    1.0, 0.0, 0.0, 0.0,
    0.0, 1.0, 0.0, 0.0,
    0.0, 0.0, 1.0, 0.0,
    0.0, 0.0, 0.0, 1.0,
)  # fmt: skip


def matmul(a: Matrix, b: Matrix) -> Matrix:
    """``a @ b`` for row-major 4x4 matrices."""
    return tuple(
        a[r * 4] * b[c]
        + a[r * 4 + 1] * b[4 + c]
        + a[r * 4 + 2] * b[8 + c]
        + a[r * 4 + 3] * b[12 + c]
        for r in range(4)
        for c in range(4)
    )


def inverse(m: Matrix) -> Matrix:
    """General 4x4 inverse by Gauss-Jordan elimination with partial pivoting.

    Raises ``ValueError`` for a singular matrix.
    """
    a = [list(m[r * 4 : r * 4 + 4]) + [1.0 if r == c else 0.0 for c in range(4)] for r in range(4)]
    for col in range(4):
        pivot = max(range(col, 4), key=lambda r: abs(a[r][col]))
        if abs(a[pivot][col]) < 1e-12:
            raise ValueError("matrix is singular")
        a[col], a[pivot] = a[pivot], a[col]
        p = a[col][col]
        a[col] = [v / p for v in a[col]]
        for r in range(4):
            if r != col and a[r][col] != 0.0:
                f = a[r][col]
                a[r] = [v - f * w for v, w in zip(a[r], a[col], strict=True)]
    return tuple(a[r][4 + c] for r in range(4) for c in range(4))


def translation(x: float, y: float, z: float) -> Matrix:
    return (
        1.0, 0.0, 0.0, x,
        0.0, 1.0, 0.0, y,
        0.0, 0.0, 1.0, z,
        0.0, 0.0, 0.0, 1.0,
    )  # fmt: skip


def scale(x: float, y: float, z: float) -> Matrix:
    return (
        x, 0.0, 0.0, 0.0,
        0.0, y, 0.0, 0.0,
        0.0, 0.0, z, 0.0,
        0.0, 0.0, 0.0, 1.0,
    )  # fmt: skip


def rot_x(a: float) -> Matrix:
    c, s = math.cos(a), math.sin(a)
    return (
        1.0, 0.0, 0.0, 0.0,
        0.0, c, -s, 0.0,
        0.0, s, c, 0.0,
        0.0, 0.0, 0.0, 1.0,
    )  # fmt: skip


def rot_y(a: float) -> Matrix:
    c, s = math.cos(a), math.sin(a)
    return (
        c, 0.0, s, 0.0,
        0.0, 1.0, 0.0, 0.0,
        -s, 0.0, c, 0.0,
        0.0, 0.0, 0.0, 1.0,
    )  # fmt: skip


def rot_z(a: float) -> Matrix:
    c, s = math.cos(a), math.sin(a)
    return (
        c, -s, 0.0, 0.0,
        s, c, 0.0, 0.0,
        0.0, 0.0, 1.0, 0.0,
        0.0, 0.0, 0.0, 1.0,
    )  # fmt: skip


def quaternion(w: float, x: float, y: float, z: float) -> Matrix:
    """Rotation matrix of the quaternion ``[w, x, y, z]`` (normalised first)."""
    n = math.sqrt(w * w + x * x + y * y + z * z)
    if n < 1e-12:
        raise ValueError("quaternion has zero length")
    w, x, y, z = w / n, x / n, y / n, z / n
    return (
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y), 0.0,
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x), 0.0,
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y), 0.0,
        0.0, 0.0, 0.0, 1.0,
    )  # fmt: skip


def euler_yxz(x: float, y: float, z: float) -> Matrix:
    """``glm::eulerAngleYXZ(yaw=y, pitch=x, roll=z)`` = ``Ry @ Rx @ Rz``."""
    return matmul(matmul(rot_y(y), rot_x(x)), rot_z(z))


def euler_xyz(x: float, y: float, z: float) -> Matrix:
    """Crazy Ivan's device/scene rotation: ``Rx @ Ry @ Rz``."""
    return matmul(matmul(rot_x(x), rot_y(y)), rot_z(z))


def extract_euler_xyz(m: Matrix) -> tuple[float, float, float]:
    """Inverse of :func:`euler_xyz` for the rotation part of ``m`` (no scale).

    For ``Rx(a) @ Ry(b) @ Rz(c)``: ``m[0][2] = sin b``, ``m[0][0] = cos b cos c``,
    ``m[0][1] = -cos b sin c``, ``m[1][2] = -sin a cos b``, ``m[2][2] = cos a cos b``.
    """
    sb = max(-1.0, min(1.0, m[2]))
    b = math.asin(sb)
    if abs(sb) < 1.0 - 1e-9:
        a = math.atan2(-m[6], m[10])
        c = math.atan2(-m[1], m[0])
    else:  # gimbal lock: only a +/- c is determined; put it all in a
        a = math.atan2(m[9], m[5])
        c = 0.0
    return (a, b, c)


def compose_trs(
    translation_: Sequence[float] | None = None,
    quaternion_: Sequence[float] | None = None,
    euler: Sequence[float] | None = None,
    scale_: Sequence[float] | None = None,
) -> Matrix:
    """The legacy fields composed as ``T @ R @ S`` (Euler preferred over the quaternion)."""
    m = IDENTITY
    if scale_ is not None:
        m = scale(*scale_)
    if euler is not None:
        m = matmul(euler_yxz(*euler), m)
    elif quaternion_ is not None:
        m = matmul(quaternion(*quaternion_), m)
    if translation_ is not None:
        m = matmul(translation(*translation_), m)
    return m


def rigid(translation_: Sequence[float], rotation: Sequence[float]) -> Matrix:
    """A device/scene transform ``{translation, rotation}`` as a matrix ``T @ Rxyz``."""
    return matmul(translation(*translation_), euler_xyz(*rotation))


def split_rigid(m: Matrix) -> tuple[list[float], list[float]]:
    """The ``(translation, rotation)`` pair of a rigid matrix, inverse of :func:`rigid`."""
    return [m[3], m[7], m[11]], list(extract_euler_xyz(m))


def close(a: Sequence[float], b: Sequence[float], tol: float = 1e-9) -> bool:
    return len(a) == len(b) and all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))
