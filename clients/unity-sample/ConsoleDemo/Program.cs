// The plain client against a live aesel: create a scene and an object, register a UDP device,
// subscribe over the WebSocket, stream a transform over UDP, and receive it back on both paths.
// Usage: mono AeselConsole.exe HTTP_URL WS_URL UDP_HOST UDP_PORT   (exit 0 when all arrived)
using System;
using System.Collections.Generic;
using System.Threading.Tasks;
using Aesel;

static class Program
{
    static async Task<int> Run(string httpUrl, string wsUrl, string udpHost, int udpPort)
    {
        string scene = "unity-" + Guid.NewGuid().ToString("N").Substring(0, 8);
        var start = new double[] { 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1 };
        // 90 degrees about +Y, at (1, 2, 3)
        var moved = new double[] { 0, 0, 1, 1, 0, 1, 0, 2, -1, 0, 0, 3, 0, 0, 0, 1 };
        using (var rest = new AeselRest(httpUrl))
        using (var udp = new AeselUdp(udpHost, udpPort))
        using (var stream = new AeselStream())
        {
            await rest.CreateScene(scene, "unity sample");
            string key = await rest.CreateObject(scene, "cube", start);
            await rest.Register(scene, "unity-console", "127.0.0.1", udp.LocalPort);
            Console.WriteLine("registered device unity-console on udp port " + udp.LocalPort);
            await stream.Connect(wsUrl);
            await stream.Subscribe(scene);
            var snapshot = await stream.ReceiveMessage();
            if ((string)snapshot["type"] != "snapshot") throw new Exception("expected a snapshot, got " + snapshot["type"]);

            udp.SendTransform(scene, key, moved, "unity-console");

            var viaUdp = await Within(udp.Receive(), "the UDP fan-out");
            Expect(MiniJson.Transform(viaUdp), moved, "UDP fan-out");
            while (true)
            {
                var m = await Within(stream.ReceiveMessage(), "the WebSocket event");
                if ((string)m["type"] != "events") continue;
                var data = (Dictionary<string, object>)((Dictionary<string, object>)((List<object>)m["events"])[0])["data"];
                Expect(MiniJson.Transform(data), moved, "WebSocket event");
                break;
            }
            Expect(await rest.GetTransform(scene, key), moved, "REST after the stream");
            Console.WriteLine("in Unity: " + Handedness.ToUnity(moved));
            return 0;
        }
    }

    static async Task<T> Within<T>(Task<T> task, string what)
    {
        if (await Task.WhenAny(task, Task.Delay(10000)) != task) throw new TimeoutException("no " + what + " within 10 s");
        return await task;
    }

    static void Expect(double[] got, double[] want, string what)
    {
        for (int i = 0; i < 16; i++)
            if (got == null || Math.Abs(got[i] - want[i]) > 1e-6)
                throw new Exception(what + ": transform differs at index " + i);
        Console.WriteLine("ok - " + what + " carried the transform");
    }

    static int Main(string[] args)
    {
        if (args.Length != 4)
        {
            Console.Error.WriteLine("usage: AeselConsole.exe HTTP_URL WS_URL UDP_HOST UDP_PORT");
            return 2;
        }
        try
        {
            return Run(args[0], args[1], args[2], int.Parse(args[3])).GetAwaiter().GetResult();
        }
        catch (Exception e)
        {
            Console.Error.WriteLine("FAIL - " + e);
            return 1;
        }
    }
}
