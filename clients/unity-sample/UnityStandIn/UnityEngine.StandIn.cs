// STAND-IN, COMPILE-ONLY: the few UnityEngine types the sample's MonoBehaviours use, so that
// they compile without Unity (`make client-unity`). In a Unity project, delete this file:
// the real UnityEngine provides these types. Nothing here behaves like Unity.
using System;

namespace UnityEngine
{
    public struct Vector3
    {
        public float x, y, z;
        public Vector3(float x, float y, float z) { this.x = x; this.y = y; this.z = z; }
    }

    public struct Quaternion
    {
        public float x, y, z, w;
        public Quaternion(float x, float y, float z, float w) { this.x = x; this.y = y; this.z = z; this.w = w; }
    }

    public class Object { public string name = ""; }

    public class Component : Object
    {
        public Transform transform = new Transform();
        public GameObject gameObject;
    }

    public class Transform : Component
    {
        public Vector3 localPosition;
        public Quaternion localRotation;
        public Vector3 localScale;
    }

    public class GameObject : Object
    {
        public Transform transform = new Transform();
    }

    public class Behaviour : Component { public bool enabled = true; }

    public class MonoBehaviour : Behaviour { }

    public static class Time
    {
        public static float deltaTime;
    }

    public static class Debug
    {
        public static void Log(object message) { }
        public static void LogWarning(object message) { }
        public static void LogException(Exception exception) { }
    }

    [AttributeUsage(AttributeTargets.Field)]
    public class SerializeField : Attribute { }

    [AttributeUsage(AttributeTargets.Field)]
    public class TooltipAttribute : Attribute
    {
        public TooltipAttribute(string tooltip) { }
    }
}
