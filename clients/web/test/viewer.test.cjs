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
    await auth.rest('POST', '/v1/scene/secret/object', { objects: [{ name: 'x', transform: at(1, 2, 3) }] }, token);
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
    checks.push('--auth login form -> token -> stream');
  } finally {
    await browser.close();
    await server.stop();
    await auth.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  for (const c of checks) console.log(`ok - ${c}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
