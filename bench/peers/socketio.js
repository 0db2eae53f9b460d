// Socket.IO: UDP events in, io.to(scene).emit() out (rooms per scene, websocket transport only).
const dgram = require('dgram');
const http = require('http');
const { Server } = require('socket.io');
const [udpPort, wsPort] = process.argv.slice(2).map(Number);
let ready = 0;
const up = () => { if (++ready === 2) console.log('READY'); };
const server = http.createServer();
const io = new Server(server, { transports: ['websocket'], perMessageDeflate: false, serveClient: false });
io.on('connection', (socket) => socket.join(socket.handshake.query.scene || ''));
const sock = dgram.createSocket('udp4');
sock.on('message', (msg) => {
  const ev = JSON.parse(msg.toString());
  io.to(ev.scene || '').emit('e', ev);
});
server.listen(wsPort, '127.0.0.1', up);
sock.bind(udpPort, '127.0.0.1', up);
