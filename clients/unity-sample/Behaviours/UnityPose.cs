// Between Aesel.Pose (plain numbers) and UnityEngine's Transform.
using UnityEngine;

namespace Aesel.Unity
{
    public static class UnityPose
    {
        /// <summary>An aesel transform onto a Unity Transform (local position, rotation, scale).</summary>
        public static void Apply(Transform t, double[] aeselTransform)
        {
            var p = Handedness.ToUnity(aeselTransform);
            t.localPosition = new Vector3((float)p.Px, (float)p.Py, (float)p.Pz);
            t.localRotation = new Quaternion((float)p.Qx, (float)p.Qy, (float)p.Qz, (float)p.Qw);
            t.localScale = new Vector3((float)p.Sx, (float)p.Sy, (float)p.Sz);
        }

        /// <summary>A Unity Transform's local position, rotation and scale as an aesel transform.</summary>
        public static double[] Read(Transform t)
        {
            var p = new Pose
            {
                Px = t.localPosition.x, Py = t.localPosition.y, Pz = t.localPosition.z,
                Qx = t.localRotation.x, Qy = t.localRotation.y, Qz = t.localRotation.z, Qw = t.localRotation.w,
                Sx = t.localScale.x, Sy = t.localScale.y, Sz = t.localScale.z,
            };
            return Handedness.FromUnity(p);
        }
    }
}
