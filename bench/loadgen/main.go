// aesel-loadgen: publishes transform updates and runs many subscribers, outside the server.
//
// It publishes M objects x S scenes at F Hz (each update carries its send time, in
// microseconds since start, in transform[12]) and receives on N subscribers per scene (UDP
// sockets or WebSocket connections), measuring event-in to delivery latency. It prints one
// JSON line of results, with its own CPU time, so the runner can check it was not the
// bottleneck.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

var start = time.Now()

func nowUS() int64 { return time.Since(start).Microseconds() }

// hist: 1 us buckets up to 2 s, then overflow.
const histMax = 2_000_000

type hist struct {
	b        []uint32
	over     uint64
	n        uint64
	received uint64
}

func newHist() *hist { return &hist{b: make([]uint32, histMax)} }

var marker = []byte(`"transform":[`)

// scan finds every transform in msg and records now - transform[12].
func (h *hist) scan(msg []byte, now int64) {
	for {
		i := bytes.Index(msg, marker)
		if i < 0 {
			return
		}
		msg = msg[i+len(marker):]
		commas := 0
		j := 0
		for j < len(msg) && commas < 12 {
			if msg[j] == ',' {
				commas++
			}
			j++
		}
		k := j
		for k < len(msg) && msg[k] != ',' && msg[k] != ']' {
			k++
		}
		v, err := strconv.ParseFloat(string(msg[j:k]), 64)
		if err != nil {
			continue
		}
		h.received++
		lat := now - int64(v)
		if lat < 0 {
			lat = 0
		}
		if lat >= histMax {
			h.over++
		} else {
			h.b[lat]++
		}
		h.n++
		msg = msg[k:]
	}
}

func merge(hs []*hist) *hist {
	out := newHist()
	for _, h := range hs {
		for i, c := range h.b {
			out.b[i] += c
		}
		out.over += h.over
		out.n += h.n
		out.received += h.received
	}
	return out
}

func (h *hist) q(p float64) float64 {
	if h.n == 0 {
		return -1
	}
	target := uint64(p * float64(h.n))
	var acc uint64
	for i, c := range h.b {
		acc += uint64(c)
		if acc > target {
			return float64(i) / 1000.0
		}
	}
	return 2000.0
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

type config struct {
	mode, proto, url, pub, apiKey   string
	subs, objects, scenes, basePort int
	rate, duration, drain           float64
	keysFile                        string
}

func main() {
	var c config
	flag.StringVar(&c.mode, "mode", "udp", "subscribers: udp or ws")
	flag.StringVar(&c.proto, "proto", "aesel", "ws protocol: aesel, plain, socketio or centrifugo")
	flag.StringVar(&c.url, "url", "", "ws url (plain: ?scene=S is appended)")
	flag.StringVar(&c.pub, "pub", "", "publish to: udp host:port, or centrifugo http://host:port")
	flag.StringVar(&c.apiKey, "api-key", "", "centrifugo api key")
	flag.IntVar(&c.subs, "subs", 100, "subscribers per scene")
	flag.IntVar(&c.objects, "objects", 50, "objects per scene")
	flag.IntVar(&c.scenes, "scenes", 1, "scenes")
	flag.IntVar(&c.basePort, "base-port", 0, "udp subscribers bind base-port + i")
	flag.Float64Var(&c.rate, "rate", 40, "updates per second per object")
	flag.Float64Var(&c.duration, "duration", 10, "seconds of publishing")
	flag.Float64Var(&c.drain, "drain", 1.0, "seconds to wait for stragglers")
	flag.StringVar(&c.keysFile, "keys", "", "json file: scene -> object keys (default: o0..oM)")
	flag.Parse()

	keys := map[string][]string{}
	if c.keysFile != "" {
		data, err := os.ReadFile(c.keysFile)
		must(err)
		must(json.Unmarshal(data, &keys))
	} else {
		for s := 0; s < c.scenes; s++ {
			name := fmt.Sprintf("s%d", s)
			for o := 0; o < c.objects; o++ {
				keys[name] = append(keys[name], fmt.Sprintf("o%d", o))
			}
		}
	}
	scenes := make([]string, 0, len(keys))
	for s := range keys {
		scenes = append(scenes, s)
	}
	sort.Strings(scenes)

	var hists []*hist
	var mu sync.Mutex
	var wg sync.WaitGroup
	var stop atomic.Bool
	var conns []func()
	ready := make(chan struct{}, 1<<20)
	total := len(scenes) * c.subs
	for si, scene := range scenes {
		for i := 0; i < c.subs; i++ {
			h := newHist()
			hists = append(hists, h)
			wg.Add(1)
			idx := si*c.subs + i
			switch c.mode {
			case "udp":
				conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: c.basePort + idx})
				must(err)
				_ = conn.SetReadBuffer(4 << 20)
				conns = append(conns, func() { conn.Close() })
				ready <- struct{}{}
				go func() {
					defer wg.Done()
					buf := make([]byte, 65536)
					for {
						n, _, err := conn.ReadFromUDP(buf)
						if err != nil {
							return
						}
						h.scan(buf[:n], nowUS())
					}
				}()
			case "ws":
				go func(scene string) {
					defer wg.Done()
					u := c.url
					if c.proto == "plain" {
						u += "?scene=" + scene
					} else if c.proto == "socketio" {
						u += "?EIO=4&transport=websocket&scene=" + scene
					}
					d := websocket.Dialer{HandshakeTimeout: 30 * time.Second, ReadBufferSize: 16384}
					var ws *websocket.Conn
					var err error
					for attempt := 0; attempt < 50; attempt++ {
						ws, _, err = d.Dial(u, nil)
						if err == nil {
							break
						}
						time.Sleep(50 * time.Millisecond)
					}
					if err != nil {
						fmt.Fprintln(os.Stderr, "dial:", err)
						ready <- struct{}{}
						return
					}
					mu.Lock()
					conns = append(conns, func() { ws.Close() })
					mu.Unlock()
					switch c.proto {
					case "aesel":
						must(ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"subscribe","scene":"`+scene+`"}`)))
						for { // welcome, then the snapshot
							_, msg, err := ws.ReadMessage()
							must(err)
							if bytes.Contains(msg, []byte(`"type":"snapshot"`)) {
								break
							}
						}
					case "socketio":
						_, _, err := ws.ReadMessage() // the Engine.IO open packet
						must(err)
						must(ws.WriteMessage(websocket.TextMessage, []byte("40")))
						for { // the namespace connect answer
							_, msg, err := ws.ReadMessage()
							must(err)
							if bytes.HasPrefix(msg, []byte("40")) {
								break
							}
						}
					case "centrifugo":
						must(ws.WriteMessage(websocket.TextMessage, []byte(`{"id":1,"connect":{}}`+"\n"+`{"id":2,"subscribe":{"channel":"`+scene+`"}}`)))
						got := 0
						for got < 2 {
							_, msg, err := ws.ReadMessage()
							must(err)
							got += bytes.Count(msg, []byte(`"id":`))
						}
					}
					ready <- struct{}{}
					for {
						_, msg, err := ws.ReadMessage()
						if err != nil {
							return
						}
						if c.proto == "socketio" && len(msg) == 1 && msg[0] == '2' {
							ws.WriteMessage(websocket.TextMessage, []byte("3")) // pong
							continue
						}
						if c.proto == "centrifugo" && bytes.HasPrefix(msg, []byte("{}")) {
							ws.WriteMessage(websocket.TextMessage, []byte("{}")) // pong
							continue
						}
						h.scan(msg, nowUS())
					}
				}(scene)
			}
		}
		if c.mode == "ws" {
			time.Sleep(time.Duration(c.subs) * 200 * time.Microsecond) // pace the handshakes
		}
	}
	for i := 0; i < total; i++ {
		<-ready
	}
	fmt.Println("READY")
	cpu0 := cpuSeconds()
	t0 := time.Now()

	published := publish(c, scenes, keys)
	pubSeconds := time.Since(t0).Seconds()
	fmt.Println("PUBLISHED")
	time.Sleep(time.Duration(c.drain * float64(time.Second)))
	stop.Store(true)
	cpu1 := cpuSeconds()
	mu.Lock()
	for _, f := range conns {
		f()
	}
	mu.Unlock()
	wg.Wait()
	h := merge(hists)
	expected := published * int64(c.subs)
	out := map[string]any{
		"published":       published,
		"expected":        expected,
		"received":        h.received,
		"delivered_pct":   100 * float64(h.received) / float64(max(expected, 1)),
		"p50_ms":          h.q(0.50),
		"p99_ms":          h.q(0.99),
		"p999_ms":         h.q(0.999),
		"over_2s":         h.over,
		"publish_seconds": pubSeconds,
		"loadgen_cpu_s":   cpu1 - cpu0,
	}
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
}

func publish(c config, scenes []string, keys map[string][]string) int64 {
	interval := time.Duration(float64(time.Second) / c.rate)
	ticks := int(c.duration * c.rate)
	var n int64
	var udp *net.UDPConn
	var client *http.Client
	if strings.HasPrefix(c.pub, "http") {
		client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	} else {
		addr, err := net.ResolveUDPAddr("udp", c.pub)
		must(err)
		udp, err = net.DialUDP("udp", nil, addr)
		must(err)
		_ = udp.SetWriteBuffer(4 << 20)
	}
	next := time.Now()
	var buf []byte
	for t := 0; t < ticks; t++ {
		var batch bytes.Buffer
		if client != nil {
			batch.WriteString(`{"commands":[`)
		}
		first := true
		for _, scene := range scenes {
			for _, key := range keys[scene] {
				ts := nowUS()
				buf = buf[:0]
				buf = fmt.Appendf(buf, `{"msg_type":1,"key":"%s","scene":"%s","transform":[1,0,0,%d,0,1,0,0,0,0,1,0,%d,0,0,1]}`, key, scene, t, ts)
				if client != nil {
					if !first {
						batch.WriteByte(',')
					}
					first = false
					fmt.Fprintf(&batch, `{"publish":{"channel":"%s","data":%s}}`, scene, buf)
				} else {
					udp.Write(buf)
				}
				n++
			}
		}
		if client != nil {
			batch.WriteString(`]}`)
			req, _ := http.NewRequest("POST", c.pub+"/api/batch", bytes.NewReader(batch.Bytes()))
			req.Header.Set("Content-Type", "application/json")
			if c.apiKey != "" {
				req.Header.Set("X-API-Key", c.apiKey)
			}
			resp, err := client.Do(req)
			if err == nil {
				resp.Body.Close()
			}
		}
		next = next.Add(interval)
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
	}
	return n
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}
