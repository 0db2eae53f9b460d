// A plain C# client for aesel (no Unity dependency): REST with HttpClient, UDP devices with
// UdpClient, WebSocket streaming with ClientWebSocket. Unity 2021+ (.NET Standard 2.1) and
// Mono 6 both provide these. Transforms are aesel's row-major 4x4 in aesel's frame; convert
// with Handedness for Unity.
using System;
using System.Collections.Generic;
using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace Aesel
{
    /// <summary>An error answered by aesel: its err_code and err_msg.</summary>
    public class AeselException : Exception
    {
        public readonly int ErrCode;
        public readonly int Status;

        public AeselException(int status, int errCode, string errMsg)
            : base(errMsg + " (err_code " + errCode + ", status " + status + ")")
        {
            Status = status;
            ErrCode = errCode;
        }
    }

    /// <summary>The HTTP API: scenes, objects, device registration, login.</summary>
    public class AeselRest : IDisposable
    {
        readonly HttpClient http;
        public string Token;

        public AeselRest(string baseUrl)
        {
            http = new HttpClient { BaseAddress = new Uri(baseUrl.TrimEnd('/') + "/") };
        }

        public async Task<Dictionary<string, object>> Request(string method, string path, object body = null)
        {
            var req = new HttpRequestMessage(new HttpMethod(method), path.TrimStart('/'));
            if (body != null) req.Content = new StringContent(MiniJson.Write(body), Encoding.UTF8, "application/json");
            if (Token != null) req.Headers.TryAddWithoutValidation("Authorization", "Bearer " + Token);
            using (var r = await http.SendAsync(req).ConfigureAwait(false))
            {
                string text = await r.Content.ReadAsStringAsync().ConfigureAwait(false);
                var doc = text.StartsWith("{") ? (Dictionary<string, object>)MiniJson.Parse(text) : new Dictionary<string, object>();
                if ((int)r.StatusCode >= 300)
                {
                    object code, msg;
                    doc.TryGetValue("err_code", out code);
                    doc.TryGetValue("err_msg", out msg);
                    throw new AeselException((int)r.StatusCode, code == null ? 101 : Convert.ToInt32(code), (msg ?? r.ReasonPhrase).ToString());
                }
                return doc;
            }
        }

        public async Task<string> Login(string username, string password)
        {
            var body = new Dictionary<string, object> { { "username", username }, { "password", password } };
            var req = new HttpRequestMessage(HttpMethod.Post, "login")
            {
                Content = new StringContent(MiniJson.Write(body), Encoding.UTF8, "application/json"),
            };
            using (var r = await http.SendAsync(req).ConfigureAwait(false))
            {
                if (r.StatusCode != HttpStatusCode.OK) throw new AeselException((int)r.StatusCode, 101, "login refused");
                foreach (var v in r.Headers.GetValues("Authorization")) Token = v.Replace("Bearer ", "");
                return Token;
            }
        }

        static List<object> One(Dictionary<string, object> item) { return new List<object> { item }; }

        static Dictionary<string, object> First(Dictionary<string, object> doc, string field)
        {
            return (Dictionary<string, object>)((List<object>)doc[field])[0];
        }

        /// <summary>Create (or replace) the scene at key.</summary>
        public async Task CreateScene(string key, string name)
        {
            var body = new Dictionary<string, object> { { "scenes", One(new Dictionary<string, object> { { "name", name } }) } };
            await Request("PUT", "/v1/scene/" + key, body).ConfigureAwait(false);
        }

        /// <summary>Create an object; returns its key.</summary>
        public async Task<string> CreateObject(string scene, string name, double[] transform)
        {
            var obj = new Dictionary<string, object> { { "name", name }, { "transform", transform } };
            var doc = await Request("POST", "/v1/scene/" + scene + "/object", new Dictionary<string, object> { { "objects", One(obj) } }).ConfigureAwait(false);
            return (string)First(doc, "objects")["key"];
        }

        public async Task<double[]> GetTransform(string scene, string key)
        {
            var doc = await Request("GET", "/v1/scene/" + scene + "/object/" + key).ConfigureAwait(false);
            return MiniJson.Transform(First(doc, "objects"));
        }

        /// <summary>Register a UDP device (host:port) to a scene: it receives the scene's events.</summary>
        public async Task Register(string scene, string device, string host, int port)
        {
            var dev = new Dictionary<string, object> { { "key", device }, { "hostname", host }, { "port", port } };
            var s = new Dictionary<string, object> { { "key", scene }, { "devices", new List<object> { dev } } };
            await Request("POST", "/v1/scene/" + scene + "/register", new Dictionary<string, object> { { "scenes", One(s) } }).ConfigureAwait(false);
        }

        public async Task Deregister(string scene, string device)
        {
            var dev = new Dictionary<string, object> { { "key", device } };
            var s = new Dictionary<string, object> { { "key", scene }, { "devices", new List<object> { dev } } };
            await Request("POST", "/v1/scene/" + scene + "/deregister", new Dictionary<string, object> { { "scenes", One(s) } }).ConfigureAwait(false);
        }

        public void Dispose() { http.Dispose(); }
    }

    /// <summary>A UDP device: sends transforms to aesel's UDP port, receives the scene's events.
    /// Plaintext only (aesel's per-device GCM framing is being redesigned).</summary>
    public class AeselUdp : IDisposable
    {
        readonly UdpClient udp;
        readonly IPEndPoint server;

        public AeselUdp(string serverHost, int serverPort, int localPort = 0)
        {
            udp = new UdpClient(new IPEndPoint(IPAddress.Loopback, localPort));
            server = new IPEndPoint(IPAddress.Parse(serverHost), serverPort);
        }

        public int LocalPort { get { return ((IPEndPoint)udp.Client.LocalEndPoint).Port; } }

        public void SendTransform(string scene, string key, double[] transform, string device = null)
        {
            var e = new Dictionary<string, object>
            {
                { "msg_type", 1 }, { "key", key }, { "scene", scene }, { "transform", transform },
            };
            if (device != null) e["device"] = device;
            var bytes = Encoding.UTF8.GetBytes(MiniJson.Write(e));
            udp.Send(bytes, bytes.Length, server);
        }

        /// <summary>The next event (Aesel JSON) the node sent to this device.</summary>
        public async Task<Dictionary<string, object>> Receive()
        {
            var r = await udp.ReceiveAsync().ConfigureAwait(false);
            return (Dictionary<string, object>)MiniJson.Parse(Encoding.UTF8.GetString(r.Buffer));
        }

        public void Dispose() { udp.Close(); }
    }

    /// <summary>The WebSocket stream (JSON format): subscribe, then snapshot and events.
    /// Tracks seq per scene and asks for a resync on a gap.</summary>
    public class AeselStream : IDisposable
    {
        readonly ClientWebSocket ws = new ClientWebSocket();
        readonly Dictionary<string, long> lastSeq = new Dictionary<string, long>();
        readonly byte[] buffer = new byte[1 << 16];

        public async Task Connect(string url, string token = null)
        {
            if (token != null) ws.Options.SetRequestHeader("Authorization", "Bearer " + token);
            await ws.ConnectAsync(new Uri(url), CancellationToken.None).ConfigureAwait(false);
            await ReceiveMessage().ConfigureAwait(false); // welcome
        }

        public Task Subscribe(string scene)
        {
            return Send(new Dictionary<string, object> { { "type", "subscribe" }, { "scene", scene }, { "format", "json" } });
        }

        public Task Send(Dictionary<string, object> msg)
        {
            var bytes = Encoding.UTF8.GetBytes(MiniJson.Write(msg));
            return ws.SendAsync(new ArraySegment<byte>(bytes), WebSocketMessageType.Text, true, CancellationToken.None);
        }

        /// <summary>The next server message, parsed (a snapshot, an events batch, an error...).</summary>
        public async Task<Dictionary<string, object>> ReceiveMessage()
        {
            var text = new StringBuilder();
            WebSocketReceiveResult r;
            do
            {
                r = await ws.ReceiveAsync(new ArraySegment<byte>(buffer), CancellationToken.None).ConfigureAwait(false);
                if (r.MessageType == WebSocketMessageType.Close) throw new WebSocketException("closed: " + r.CloseStatus);
                text.Append(Encoding.UTF8.GetString(buffer, 0, r.Count));
            } while (!r.EndOfMessage);
            var doc = (Dictionary<string, object>)MiniJson.Parse(text.ToString());
            await Track(doc).ConfigureAwait(false);
            return doc;
        }

        async Task Track(Dictionary<string, object> doc)
        {
            var type = doc["type"] as string;
            if (type == "snapshot")
            {
                lastSeq[(string)doc["scene"]] = Convert.ToInt64(doc["seq"]);
                return;
            }
            if (type != "events") return;
            var scene = (string)doc["scene"];
            foreach (Dictionary<string, object> e in (List<object>)doc["events"])
            {
                long seq = Convert.ToInt64(e["seq"]), last;
                if (lastSeq.TryGetValue(scene, out last) && seq != last + 1)
                {
                    await Send(new Dictionary<string, object> { { "type", "resync" }, { "scene", scene } }).ConfigureAwait(false);
                    lastSeq.Remove(scene);
                    return;
                }
                lastSeq[scene] = seq;
            }
        }

        public void Dispose() { ws.Dispose(); }
    }
}
