// Tests of the aesel <-> Unity conversion and of MiniJson (a console program: exit 1 on failure).
using System;
using System.Collections.Generic;
using Aesel;

static class HandednessTests
{
    static int failures;

    static void Check(bool ok, string what)
    {
        Console.WriteLine((ok ? "ok - " : "FAIL - ") + what);
        if (!ok) failures++;
    }

    static bool Near(double a, double b) { return Math.Abs(a - b) < 1e-9; }

    static bool Near(double[] a, double[] b)
    {
        if (a.Length != b.Length) return false;
        for (int i = 0; i < a.Length; i++) if (!Near(a[i], b[i])) return false;
        return true;
    }

    // aesel transform applied to an aesel point (row-major, column vector)
    static double[] Mul(double[] m, double[] v)
    {
        var o = new double[3];
        for (int r = 0; r < 3; r++) o[r] = m[4 * r] * v[0] + m[4 * r + 1] * v[1] + m[4 * r + 2] * v[2] + m[4 * r + 3];
        return o;
    }

    static double[] MirrorPoint(double[] v) { return new[] { v[0], v[1], -v[2] }; }

    // a right-handed rotation about a unit axis (Rodrigues), scaled per axis, then translated
    static double[] Trs(double ax, double ay, double az, double angle, double[] s, double[] t)
    {
        double c = Math.Cos(angle), si = Math.Sin(angle), k = 1 - c;
        double[] r =
        {
            c + ax * ax * k, ax * ay * k - az * si, ax * az * k + ay * si,
            ay * ax * k + az * si, c + ay * ay * k, ay * az * k - ax * si,
            az * ax * k - ay * si, az * ay * k + ax * si, c + az * az * k,
        };
        return new[]
        {
            r[0] * s[0], r[1] * s[1], r[2] * s[2], t[0],
            r[3] * s[0], r[4] * s[1], r[5] * s[2], t[1],
            r[6] * s[0], r[7] * s[1], r[8] * s[2], t[2],
            0, 0, 0, 1,
        };
    }

    static int Main()
    {
        var identity = new double[] { 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1 };
        var p = Handedness.ToUnity(identity);
        Check(Near(p.Qw, 1) && Near(p.Qx, 0) && Near(p.Sx, 1) && Near(p.Pz, 0), "identity -> identity pose");

        p = Handedness.ToUnity(Trs(0, 1, 0, 0, new double[] { 1, 1, 1 }, new double[] { 1, 2, 3 }));
        Check(Near(p.Px, 1) && Near(p.Py, 2) && Near(p.Pz, -3), "translation (1, 2, 3) -> Unity position (1, 2, -3)");

        // +90 degrees about +Y in aesel (right-handed) takes +X to -Z; in Unity that is
        // Quaternion.Euler(0, -90, 0) = (0, -sin 45, 0, cos 45), which takes Vector3.right to +Z
        p = Handedness.ToUnity(Trs(0, 1, 0, Math.PI / 2, new double[] { 1, 1, 1 }, new double[] { 0, 0, 0 }));
        double h = Math.Sqrt(0.5);
        Check(Near(p.Qx, 0) && Near(p.Qy, -h) && Near(p.Qz, 0) && Near(p.Qw, h), "90 deg about +Y -> Unity Euler(0, -90, 0)");
        Check(Near(Handedness.Apply(p, new double[] { 1, 0, 0 }), new double[] { 0, 0, 1 }), "... which maps Unity right to Unity forward");

        // the defining property: converting then transforming = transforming then converting,
        // for many rotations (every quaternion branch), scales and points
        var rng = new Random(7);
        bool all = true, round = true;
        for (int n = 0; n < 2000; n++)
        {
            double ax = rng.NextDouble() - 0.5, ay = rng.NextDouble() - 0.5, az = rng.NextDouble() - 0.5;
            double len = Math.Sqrt(ax * ax + ay * ay + az * az);
            var m = Trs(ax / len, ay / len, az / len, (rng.NextDouble() * 2 - 1) * Math.PI,
                new[] { 0.5 + rng.NextDouble(), 0.5 + rng.NextDouble(), 0.5 + rng.NextDouble() },
                new[] { rng.NextDouble() * 20 - 10, rng.NextDouble() * 20 - 10, rng.NextDouble() * 20 - 10 });
            var v = new[] { rng.NextDouble() - 0.5, rng.NextDouble() - 0.5, rng.NextDouble() - 0.5 };
            var pose = Handedness.ToUnity(m);
            all &= Near(Handedness.Apply(pose, MirrorPoint(v)), MirrorPoint(Mul(m, v)));
            round &= Near(Handedness.FromUnity(pose), m);
        }
        Check(all, "Unity pose of M moves mirrored points exactly as M moves aesel points (2000 cases)");
        Check(round, "FromUnity(ToUnity(M)) == M (2000 cases)");

        var mirrored = Handedness.MirrorZ(Handedness.MirrorZ(Trs(1, 0, 0, 1, new double[] { 1, 2, 3 }, new double[] { 4, 5, 6 })));
        Check(Near(mirrored, Trs(1, 0, 0, 1, new double[] { 1, 2, 3 }, new double[] { 4, 5, 6 })), "MirrorZ is its own inverse");

        try
        {
            Handedness.ToUnity(new double[12]);
            Check(false, "12 numbers are refused");
        }
        catch (ArgumentException e)
        {
            Check(e.Message.Contains("12 numbers, expected 16"), "12 numbers are refused: " + e.Message);
        }

        var doc = (Dictionary<string, object>)MiniJson.Parse("{\"a\": [1, -2.5e1, true, null], \"s\": \"x\\\"\\u00e9\"}");
        Check(((List<object>)doc["a"]).Count == 4 && (double)((List<object>)doc["a"])[1] == -25 && (string)doc["s"] == "x\"\u00e9",
            "MiniJson reads numbers, literals, escapes");
        Check(MiniJson.Write(doc) == "{\"a\":[1,-25,true,null],\"s\":\"x\\\"\u00e9\"}", "MiniJson writes it back");

        Console.WriteLine(failures == 0 ? "all passed" : failures + " failed");
        return failures == 0 ? 0 : 1;
    }
}
