// The viewer in real headless Chromium (Playwright) against a real `aesel serve`:
// pick a scene, boxes where REST put them, a UDP move, a lost frame -> resync, a server
// restart -> reconnect, the --auth login form, and /docs offline. Writes test-output/*.png.
// Run by `make client-web`; NODE_PATH must hold playwright-core (clients/web/install.sh).
'use strict';
const { chromium } = require('playwright-core');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const dgram = require('node:dgram');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const AESEL = process.env.VIEWER_AESEL_BIN || path.resolve(__dirname, '../../../.venv/bin/aesel');
const OUT = path.resolve(__dirname, '../test-output');
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
  '--no-first-run', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--enable-unsafe-swiftshader', '--use-angle=swiftshader'];

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

class Server {
  constructor(dataDir, args = []) {
    this.dataDir = dataDir;
    this.args = args;
  }
  async init() {
    this.http = await freePort();
    this.ws = await freePort();
    this.udp = await freePort(); // a free TCP port number is almost always free for UDP too
    return this;
  }
  start() {
    this.proc = spawn(AESEL, ['serve', '--data-dir', this.dataDir, '--http-port', `${this.http}`,
      '--ws-port', `${this.ws}`, '--udp-port', `${this.udp}`, ...this.args],
    { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    this.proc.stderr.on('data', (d) => { err += d; });
    return new Promise((resolve, reject) => {
      let out = '';
      this.proc.stdout.on('data', (d) => {
        out += d;
        if (out.includes('aesel ready')) resolve();
      });
      this.proc.on('exit', (code) => reject(new Error(`aesel exited ${code}: ${err}`)));
    });
  }
  stop() {
    if (!this.proc || this.proc.exitCode !== null) return Promise.resolve();
    const p = new Promise((resolve) => this.proc.once('exit', resolve));
    this.proc.kill('SIGTERM');
    return p;
  }
  url(p) { return `http://127.0.0.1:${this.http}${p}`; }
  async rest(method, p, body, token) {
    const headers = { 'content-type': 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    const r = await fetch(this.url(p), { method, headers, body: body && JSON.stringify(body) });
    if (r.status !== 200) assert.fail(`${method} ${p}: ${r.status} ${await r.text()}`);
    return r;
  }
}

const at = (x, y, z) => [1, 0, 0, x, 0, 1, 0, y, 0, 0, 1, z, 0, 0, 0, 1];

function sendUdp(server, msg) {
  const s = dgram.createSocket('udp4');
  return new Promise((resolve) => s.send(JSON.stringify(msg), server.udp, '127.0.0.1', () => {
    s.close();
    resolve();
  }));
}

// A GLB made here: an octahedron (6 vertices, 8 triangles), magenta and emissive so it shows
// the same under any light. glTF 2.0 binary: a 12-byte header, a JSON chunk, a BIN chunk.
function makeGlb() {
  const r = 0.8;
  const positions = new Float32Array([r, 0, 0, -r, 0, 0, 0, r, 0, 0, -r, 0, 0, 0, r, 0, 0, -r]);
  const indices = new Uint16Array([0, 2, 4, 2, 1, 4, 1, 3, 4, 3, 0, 4, 2, 0, 5, 1, 2, 5, 3, 1, 5, 0, 3, 5]);
  const bin = Buffer.concat([Buffer.from(positions.buffer), Buffer.from(indices.buffer)]);
  const gltf = {
    asset: { version: '2.0', generator: 'aesel viewer test' },
    scene: 0, scenes: [{ nodes: [0] }], nodes: [{ mesh: 0, name: 'octahedron' }],
    meshes: [{ primitives: [{ attributes: { POSITION: 0 }, indices: 1, material: 0 }] }],
    materials: [{ pbrMetallicRoughness: { baseColorFactor: [1, 0, 1, 1], metallicFactor: 0 },
      emissiveFactor: [1, 0, 1], doubleSided: true }],
    buffers: [{ byteLength: bin.length }],
    bufferViews: [{ buffer: 0, byteOffset: 0, byteLength: positions.byteLength, target: 34962 },
      { buffer: 0, byteOffset: positions.byteLength, byteLength: indices.byteLength, target: 34963 }],
    accessors: [{ bufferView: 0, componentType: 5126, count: 6, type: 'VEC3', min: [-r, -r, -r], max: [r, r, r] },
      { bufferView: 1, componentType: 5123, count: indices.length, type: 'SCALAR' }],
  };
  const pad = (b, fill) => Buffer.concat([b, Buffer.alloc((4 - (b.length % 4)) % 4, fill)]);
  const json = pad(Buffer.from(JSON.stringify(gltf)), 0x20);
  const data = pad(bin, 0);
  const chunk = (type, body) => {
    const head = Buffer.alloc(8);
    head.writeUInt32LE(body.length, 0);
    head.writeUInt32LE(type, 4);
    return Buffer.concat([head, body]);
  };
  const body = Buffer.concat([chunk(0x4e4f534a, json), chunk(0x004e4942, data)]);
  const header = Buffer.alloc(12);
  header.writeUInt32LE(0x46546c67, 0); // "glTF"
  header.writeUInt32LE(2, 4);
  header.writeUInt32LE(12 + body.length, 8);
  return Buffer.concat([header, body]);
}

async function uploadGlb(server, token) {
  const form = new FormData();
  form.append('file', new Blob([makeGlb()], { type: 'model/gltf-binary' }), 'octahedron.glb');
  const q = `content-type=model%2Fgltf-binary&file-type=glb&name=octahedron&isPublic=${!token}`;
  const headers = token ? { authorization: `Bearer ${token}` } : {};
  const r = await fetch(server.url(`/v1/asset?${q}`), { method: 'POST', body: form, headers });
  if (r.status !== 200) assert.fail(`upload: ${r.status} ${await r.text()}`);
  return (await r.text()).trim();
}

const pageConsole = []; // the page's console errors, shown when the test fails
const viewer = (page) => page.evaluate(() => JSON.parse(JSON.stringify(window.aeselViewer)));
const waitFor = (page, fn, arg) => page.waitForFunction(fn, arg, { timeout: 15000 });

async function main() {
  fs.mkdirSync(OUT, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aesel-viewer-'));
  const server = await new Server(path.join(tmp, 'data')).init();
  const auth = await new Server(path.join(tmp, 'auth'), ['--auth', '--admin-password', 'pw']).init();
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_FLAGS });
  const checks = [];
  try {
    await server.start();
    await server.rest('PUT', '/v1/scene/demo', { scenes: [{ name: 'Demo' }] });
    await server.rest('PUT', '/v1/scene/other', { scenes: [{ name: 'Other' }] });
    const placed = { a: at(-3, 0.5, 0), b: at(0, 0.5, -2), c: at(3, 1.5, 1) };
    const keys = {};
    for (const [name, t] of Object.entries(placed)) {
      const r = await server.rest('POST', '/v1/scene/demo/object', { objects: [{ name, transform: t }] });
      keys[name] = (await r.json()).objects[0].key;
    }

    const page = await browser.newPage({ viewport: { width: 900, height: 600 } });
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => { if (m.type() === 'error') pageConsole.push(m.text()); });
    await page.goto(server.url('/viewer'));
    await waitFor(page, () => document.querySelectorAll('#scene option').length === 3);
    await page.selectOption('#scene', 'demo');
    await waitFor(page, () => window.aeselViewer.synced && Object.keys(window.aeselViewer.objects).length === 3);
    let v = await viewer(page);
    for (const [name, t] of Object.entries(placed)) {
      assert.deepEqual(v.objects[keys[name]].position, [t[3], t[7], t[11]], `${name} where REST put it`);
    }
    assert.equal(v.connection, 'open');
    checks.push('scene picked; 3 boxes at their REST transforms');

    // an object naming a GLB asset is drawn as that model (GLTFLoader), at its transform
    const asset = await uploadGlb(server);
    const r = await server.rest('POST', '/v1/scene/demo/object',
      { objects: [{ name: 'model', transform: at(0, 1, 4), assets: [asset] }] });
    keys.model = (await r.json()).objects[0].key;
    await waitFor(page, (k) => window.aeselViewer.objects[k]?.model === 'gltf', keys.model);
    v = await viewer(page);
    assert.deepEqual(v.objects[keys.model], { model: 'gltf', asset, meshes: 1, vertices: 6,
      name: 'model', position: [0, 1, 4] });
    assert.equal(v.objects[keys.a].model, 'box');
    const probe = await page.evaluate((k) => window.aeselProbe(k), keys.model);
    const [red, green, blue] = probe.rgba;
    assert.ok(red > 200 && green < 80 && blue > 200, `the model's magenta on screen: ${probe.rgba}`);
    const boxProbe = await page.evaluate((k) => window.aeselProbe(k), keys.a);
    assert.notDeepEqual(boxProbe.rgba.slice(0, 3), probe.rgba.slice(0, 3));
    await page.screenshot({ path: path.join(OUT, 'viewer-gltf.png') });
    checks.push('GLB asset drawn as its mesh at the object\'s transform (viewer-gltf.png)');

    await sendUdp(server, { msg_type: 1, key: keys.a, scene: 'demo', transform: at(-3, 4, 0) });
    await waitFor(page, (k) => window.aeselViewer.objects[k].position[1] === 4, keys.a);
    await page.waitForTimeout(300); // let a frame render before the screenshot (not an assertion)
    await page.screenshot({ path: path.join(OUT, 'viewer.png') });
    checks.push('UDP move seen by the page (viewer.png)');

    // a lost frame: the next event shows a gap, the viewer resyncs and catches up
    await page.evaluate(() => { window.aeselViewer.dropNext = true; });
    await sendUdp(server, { msg_type: 1, key: keys.b, scene: 'demo', transform: at(0, 2, -2) });
    await waitFor(page, () => !window.aeselViewer.dropNext);
    await sendUdp(server, { msg_type: 1, key: keys.c, scene: 'demo', transform: at(3, 3, 1) });
    await waitFor(page, () => window.aeselViewer.resyncs === 1 && window.aeselViewer.synced);
    v = await viewer(page);
    assert.deepEqual(v.objects[keys.b].position, [0, 2, -2], 'the lost move came with the snapshot');
    assert.deepEqual(v.objects[keys.c].position, [3, 3, 1]);
    checks.push('lost frame -> gap -> resync');

    // restart: the viewer reconnects by itself and resubscribes
    const epoch = v.epoch;
    await server.stop();
    await waitFor(page, () => window.aeselViewer.connection === 'reconnecting');
    await server.start();
    await waitFor(page, () => window.aeselViewer.connects === 2 && window.aeselViewer.synced);
    await sendUdp(server, { msg_type: 1, key: keys.a, scene: 'demo', transform: at(-5, 1, 0) });
    await waitFor(page, (k) => window.aeselViewer.objects[k].position[0] === -5, keys.a);
    v = await viewer(page);
    assert.notEqual(v.epoch, epoch);
    assert.equal(v.connection, 'open');
    await waitFor(page, (k) => window.aeselViewer.objects[k]?.model === 'gltf', keys.model);
    await page.screenshot({ path: path.join(OUT, 'viewer-after-restart.png') });
    checks.push('server restart -> reconnect -> live again');

    // /docs from the packaged Swagger UI (this machine has no internet)
    await page.goto(server.url('/docs'));
    await waitFor(page, () => document.querySelector('.swagger-ui .info .title')?.textContent.includes('aesel'));
    checks.push('/docs renders offline');
    assert.deepEqual(errors, []);

    // --auth: a login form, then the same JWT for REST and the WebSocket
    await auth.start();
    const login = await fetch(auth.url('/login'), { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: 'pw' }) });
    const token = login.headers.get('authorization').replace('Bearer ', '');
    await auth.rest('PUT', '/v1/scene/secret', { scenes: [{ name: 'Secret' }] }, token);
    const privateAsset = await uploadGlb(auth, token); // private: the loader must send the token
    await auth.rest('POST', '/v1/scene/secret/object',
      { objects: [{ name: 'x', transform: at(1, 2, 3), assets: [privateAsset] }] }, token);
    const page2 = await browser.newPage();
    await page2.goto(auth.url('/viewer/?scene=secret'));
    await waitFor(page2, () => document.querySelector('#login').classList.contains('shown'));
    await page2.fill('#username', 'admin');
    await page2.fill('#password', 'wrong');
    await page2.click('#login button');
    await waitFor(page2, () => document.querySelector('#loginError').textContent !== '');
    await page2.fill('#password', 'pw');
    await page2.click('#login button');
    await waitFor(page2, () => window.aeselViewer.synced && Object.keys(window.aeselViewer.objects).length === 1);
    assert.deepEqual(Object.values((await viewer(page2)).objects)[0].position, [1, 2, 3]);
    await waitFor(page2, () => Object.values(window.aeselViewer.objects)[0].model === 'gltf');
    checks.push('--auth login form -> token -> stream, a private GLB loaded with the token');
  } finally {
    await browser.close();
    await server.stop();
    await auth.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  for (const c of checks) console.log(`ok - ${c}`);
}

main().catch((e) => {
  for (const line of pageConsole.slice(-20)) console.error(`page console: ${line}`);
  console.error(e);
  process.exit(1);
});
