// The Node `ws` broadcast idiom: UDP events in, client.send() to every subscriber of the scene.
const dgram = require('dgram');
const { WebSocketServer } = require('ws');
const [udpPort, wsPort] = process.argv.slice(2).map(Number);
const subs = new Map();
let ready = 0;
const up = () => { if (++ready === 2) console.log('READY'); };
const wss = new WebSocketServer({ host: '127.0.0.1', port: wsPort, perMessageDeflate: false, backlog: 4096 }, up);
wss.on('connection', (ws, req) => {
  const scene = new URL(req.url, 'http://x').searchParams.get('scene') || '';
  if (!subs.has(scene)) subs.set(scene, new Set());
  subs.get(scene).add(ws);
  ws.on('close', () => subs.get(scene).delete(ws));
});
const sock = dgram.createSocket('udp4');
sock.on('message', (msg) => {
  const s = msg.toString();
  const m = s.match(/"scene":"([^"]*)"/);
  const set = subs.get(m ? m[1] : '');
  if (set) for (const ws of set) ws.send(s);
});
sock.bind(udpPort, '127.0.0.1', up);
