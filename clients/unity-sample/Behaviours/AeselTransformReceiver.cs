// Applies the transforms aesel fans out to GameObjects, by object key. Datagrams are read on a
// background task and applied on the main thread in Update (Unity objects are main-thread only).
using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Threading.Tasks;
using UnityEngine;

namespace Aesel.Unity
{
    [Serializable]
    public class KeyedObject
    {
        public string objectKey;
        public GameObject target;
    }

    public class AeselTransformReceiver : MonoBehaviour
    {
        public string httpUrl = "http://127.0.0.1:8080";
        public string udpHost = "127.0.0.1";
        public int udpPort = 8762;
        public string sceneKey = "";
        public string deviceKey = "unity-receiver";
        public List<KeyedObject> objects = new List<KeyedObject>();

        readonly ConcurrentDictionary<string, double[]> latest = new ConcurrentDictionary<string, double[]>();
        readonly Dictionary<string, GameObject> byKey = new Dictionary<string, GameObject>();
        AeselRest rest;
        AeselUdp udp;
        bool running;

        async void Start()
        {
            foreach (var o in objects) byKey[o.objectKey] = o.target;
            rest = new AeselRest(httpUrl);
            udp = new AeselUdp(udpHost, udpPort);
            running = true;
            try
            {
                await rest.Register(sceneKey, deviceKey, "127.0.0.1", udp.LocalPort);
                while (running)
                {
                    var e = await udp.Receive();
                    var t = MiniJson.Transform(e);
                    object key;
                    if (t != null && e.TryGetValue("key", out key)) latest[(string)key] = t;
                }
            }
            catch (ObjectDisposedException) { }
            catch (Exception e) { if (running) Debug.LogException(e); }
        }

        void Update()
        {
            foreach (var key in latest.Keys)
            {
                double[] t;
                GameObject go;
                if (latest.TryRemove(key, out t) && byKey.TryGetValue(key, out go))
                    UnityPose.Apply(go.transform, t);
            }
        }

        void OnDestroy()
        {
            running = false;
            if (udp != null) udp.Dispose();
            if (rest != null) rest.Dispose();
        }
    }
}
