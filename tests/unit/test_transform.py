"""Transform maths, checked numerically."""

from __future__ import annotations

import math
import random

import pytest

from aesel.model import transform as tf


def apply(m: tf.Matrix, p: tuple[float, float, float]) -> list[float]:
    v = (*p, 1.0)
    return [sum(m[r * 4 + c] * v[c] for c in range(4)) for r in range(3)]


def test_identity_is_neutral() -> None:
    m = tf.compose_trs([1, 2, 3], None, [0.1, 0.2, 0.3], [2, 2, 2])
    assert tf.close(tf.matmul(tf.IDENTITY, m), m)
    assert tf.close(tf.matmul(m, tf.IDENTITY), m)


def test_translation_sits_at_indexes_3_7_11() -> None:
    m = tf.compose_trs(translation_=[1.5, -2.0, 3.0])
    assert (m[3], m[7], m[11]) == (1.5, -2.0, 3.0)
    assert apply(m, (0, 0, 0)) == [1.5, -2.0, 3.0]


def test_trs_scales_then_rotates_then_translates() -> None:
    # scale x by 2, rotate 90 degrees about z (quaternion), then translate by (10, 0, 0)
    h = math.sqrt(0.5)
    m = tf.compose_trs([10, 0, 0], [h, 0, 0, h], None, [2, 1, 1])
    assert tf.close(apply(m, (1, 0, 0)), [10, 2, 0])


def test_euler_is_preferred_over_quaternion() -> None:
    e = tf.compose_trs(None, [1, 0, 0, 0], [0, math.pi / 2, 0], None)
    assert tf.close(e, tf.rot_y(math.pi / 2))


def test_euler_yxz_matches_glm_order() -> None:
    x, y, z = 0.3, -0.7, 1.1
    assert tf.close(
        tf.euler_yxz(x, y, z), tf.matmul(tf.matmul(tf.rot_y(y), tf.rot_x(x)), tf.rot_z(z))
    )


def test_quaternion_rotates_x_onto_y() -> None:
    h = math.sqrt(0.5)
    assert tf.close(apply(tf.quaternion(h, 0, 0, h), (1, 0, 0)), [0, 1, 0])


def test_zero_quaternion_is_an_error() -> None:
    with pytest.raises(ValueError, match="zero length"):
        tf.quaternion(0, 0, 0, 0)


def test_inverse_of_random_matrices() -> None:
    rng = random.Random(7)
    for _ in range(50):
        m = tf.compose_trs(
            [rng.uniform(-9, 9) for _ in range(3)],
            None,
            [rng.uniform(-3, 3) for _ in range(3)],
            [rng.uniform(0.2, 3) for _ in range(3)],
        )
        assert tf.close(tf.matmul(m, tf.inverse(m)), tf.IDENTITY, 1e-9)


def test_singular_matrix_is_an_error() -> None:
    with pytest.raises(ValueError, match="singular"):
        tf.inverse(tf.scale(1, 0, 1))


def test_euler_xyz_round_trip() -> None:
    rng = random.Random(11)
    for _ in range(200):
        angles = (rng.uniform(-3, 3), rng.uniform(-1.5, 1.5), rng.uniform(-3, 3))
        back = tf.extract_euler_xyz(tf.euler_xyz(*angles))
        assert tf.close(tf.euler_xyz(*back), tf.euler_xyz(*angles), 1e-9)
        assert tf.close(back, angles, 1e-9)


def test_euler_xyz_gimbal_lock_still_reproduces_the_matrix() -> None:
    m = tf.euler_xyz(0.4, math.pi / 2, 0.2)
    assert tf.close(tf.euler_xyz(*tf.extract_euler_xyz(m)), m, 1e-9)


def test_rigid_round_trip() -> None:
    m = tf.rigid([1, 2, 3], [0.1, -0.2, 0.3])
    t, r = tf.split_rigid(m)
    assert tf.close(t, [1, 2, 3]) and tf.close(r, [0.1, -0.2, 0.3])
