// Registers this device to a scene, then streams this GameObject's transform over UDP.
using System;
using System.Threading.Tasks;
using UnityEngine;

namespace Aesel.Unity
{
    public class AeselTransformStreamer : MonoBehaviour
    {
        [Tooltip("aesel HTTP API")] public string httpUrl = "http://127.0.0.1:8080";
        [Tooltip("aesel UDP host")] public string udpHost = "127.0.0.1";
        [Tooltip("aesel UDP port")] public int udpPort = 8762;
        public string sceneKey = "";
        [Tooltip("the aesel object this GameObject drives")] public string objectKey = "";
        public string deviceKey = "unity";
        [Tooltip("updates per second")] public float rate = 30f;
        [Tooltip("also receive the scene's events on this socket (register it)")] public bool register = true;

        AeselRest rest;
        internal AeselUdp udp;
        float sinceLast;

        async void Start()
        {
            rest = new AeselRest(httpUrl);
            udp = new AeselUdp(udpHost, udpPort);
            if (!register) return;
            try
            {
                await rest.Register(sceneKey, deviceKey, "127.0.0.1", udp.LocalPort);
            }
            catch (Exception e)
            {
                Debug.LogException(e);
            }
        }

        void Update()
        {
            sinceLast += Time.deltaTime;
            if (udp == null || rate <= 0 || sinceLast < 1f / rate) return;
            sinceLast = 0;
            udp.SendTransform(sceneKey, objectKey, UnityPose.Read(transform), deviceKey);
        }

        async void OnDestroy()
        {
            if (udp != null) udp.Dispose();
            if (rest == null) return;
            if (register)
            {
                try { await rest.Deregister(sceneKey, deviceKey); }
                catch (Exception e) { Debug.LogException(e); }
            }
            rest.Dispose();
        }
    }
}
