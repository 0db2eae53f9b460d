// Conversion between aesel's frame and Unity's.
//
// aesel: right-handed, +Y up, a transform is a row-major 4x4 (16 numbers, translation at
// indexes 3, 7, 11), applied to column vectors: p' = M p (the same as three.js and glTF).
// Unity: left-handed, +Y up, +Z forward; Transform.localPosition/localRotation/localScale.
//
// The two frames differ by a mirror of the Z axis, S = diag(1, 1, -1). A transform M becomes
// S M S: every entry whose row or column (but not both) is Z changes sign. For the parts:
// position (x, y, z) -> (x, y, -z); rotation quaternion (x, y, z, w) -> (-x, -y, z, w);
// scale unchanged. The conversion is its own inverse.
using System;

namespace Aesel
{
    /// <summary>A decomposed transform in Unity's frame (plain numbers, no UnityEngine).</summary>
    public struct Pose
    {
        public double Px, Py, Pz;
        public double Qx, Qy, Qz, Qw;
        public double Sx, Sy, Sz;

        public override string ToString()
        {
            return string.Format("pos ({0:0.###}, {1:0.###}, {2:0.###}) rot ({3:0.###}, {4:0.###}, {5:0.###}, {6:0.###}) scale ({7:0.###}, {8:0.###}, {9:0.###})",
                Px, Py, Pz, Qx, Qy, Qz, Qw, Sx, Sy, Sz);
        }
    }

    public static class Handedness
    {
        static readonly double[] Mirror = { 1, 1, -1, 1 };

        /// <summary>S M S: an aesel row-major 4x4 to the same transform in Unity's frame, row-major.</summary>
        public static double[] MirrorZ(double[] m)
        {
            if (m == null || m.Length != 16)
                throw new ArgumentException("transform has " + (m == null ? 0 : m.Length) + " numbers, expected 16");
            var o = new double[16];
            for (int r = 0; r < 4; r++)
                for (int c = 0; c < 4; c++)
                    o[4 * r + c] = m[4 * r + c] * Mirror[r] * Mirror[c];
            return o;
        }

        /// <summary>An aesel transform to Unity's localPosition, localRotation, localScale.</summary>
        public static Pose ToUnity(double[] aesel)
        {
            var u = MirrorZ(aesel);
            var p = new Pose { Px = u[3], Py = u[7], Pz = u[11] };
            // scale = length of each basis column; a mirrored basis keeps its sign on X
            p.Sx = Math.Sqrt(u[0] * u[0] + u[4] * u[4] + u[8] * u[8]);
            p.Sy = Math.Sqrt(u[1] * u[1] + u[5] * u[5] + u[9] * u[9]);
            p.Sz = Math.Sqrt(u[2] * u[2] + u[6] * u[6] + u[10] * u[10]);
            double det = u[0] * (u[5] * u[10] - u[6] * u[9]) - u[1] * (u[4] * u[10] - u[6] * u[8])
                         + u[2] * (u[4] * u[9] - u[5] * u[8]);
            if (det < 0) p.Sx = -p.Sx;
            double r00 = u[0] / p.Sx, r10 = u[4] / p.Sx, r20 = u[8] / p.Sx;
            double r01 = u[1] / p.Sy, r11 = u[5] / p.Sy, r21 = u[9] / p.Sy;
            double r02 = u[2] / p.Sz, r12 = u[6] / p.Sz, r22 = u[10] / p.Sz;
            double tr = r00 + r11 + r22;
            if (tr > 0)
            {
                double s = Math.Sqrt(tr + 1.0) * 2;
                p.Qw = 0.25 * s; p.Qx = (r21 - r12) / s; p.Qy = (r02 - r20) / s; p.Qz = (r10 - r01) / s;
            }
            else if (r00 > r11 && r00 > r22)
            {
                double s = Math.Sqrt(1.0 + r00 - r11 - r22) * 2;
                p.Qw = (r21 - r12) / s; p.Qx = 0.25 * s; p.Qy = (r01 + r10) / s; p.Qz = (r02 + r20) / s;
            }
            else if (r11 > r22)
            {
                double s = Math.Sqrt(1.0 + r11 - r00 - r22) * 2;
                p.Qw = (r02 - r20) / s; p.Qx = (r01 + r10) / s; p.Qy = 0.25 * s; p.Qz = (r12 + r21) / s;
            }
            else
            {
                double s = Math.Sqrt(1.0 + r22 - r00 - r11) * 2;
                p.Qw = (r10 - r01) / s; p.Qx = (r02 + r20) / s; p.Qy = (r12 + r21) / s; p.Qz = 0.25 * s;
            }
            return p;
        }

        /// <summary>Unity's position, rotation and scale to an aesel row-major 4x4.</summary>
        public static double[] FromUnity(Pose p)
        {
            double n = Math.Sqrt(p.Qx * p.Qx + p.Qy * p.Qy + p.Qz * p.Qz + p.Qw * p.Qw);
            double x = p.Qx / n, y = p.Qy / n, z = p.Qz / n, w = p.Qw / n;
            var u = new double[]
            {
                (1 - 2 * (y * y + z * z)) * p.Sx, 2 * (x * y - z * w) * p.Sy, 2 * (x * z + y * w) * p.Sz, p.Px,
                2 * (x * y + z * w) * p.Sx, (1 - 2 * (x * x + z * z)) * p.Sy, 2 * (y * z - x * w) * p.Sz, p.Py,
                2 * (x * z - y * w) * p.Sx, 2 * (y * z + x * w) * p.Sy, (1 - 2 * (x * x + y * y)) * p.Sz, p.Pz,
                0, 0, 0, 1,
            };
            return MirrorZ(u);
        }

        /// <summary>Apply a Unity pose to a point in Unity's frame (what Transform.TransformPoint does).</summary>
        public static double[] Apply(Pose p, double[] v)
        {
            double sx = v[0] * p.Sx, sy = v[1] * p.Sy, sz = v[2] * p.Sz;
            // q v q*, expanded
            double tx = 2 * (p.Qy * sz - p.Qz * sy), ty = 2 * (p.Qz * sx - p.Qx * sz), tz = 2 * (p.Qx * sy - p.Qy * sx);
            return new[]
            {
                sx + p.Qw * tx + (p.Qy * tz - p.Qz * ty) + p.Px,
                sy + p.Qw * ty + (p.Qz * tx - p.Qx * tz) + p.Py,
                sz + p.Qw * tz + (p.Qx * ty - p.Qy * tx) + p.Pz,
            };
        }
    }
}
