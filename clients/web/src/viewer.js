// aesel's scene viewer: REST for the scene list, the WebSocket (binary format) for the scene.
// Bundled by clients/web/build.sh into aesel/rest/static/viewer/viewer.js (see README).
import {
  AmbientLight, BoxGeometry, Color, DirectionalLight, EdgesGeometry, GridHelper, Group,
  LineBasicMaterial, LineSegments, Mesh, MeshStandardMaterial, PerspectiveCamera, Scene, Vector3,
  WebGLRenderer,
} from 'three';
import { OrbitControls } from 'three/examples/jsm/controls/OrbitControls.js';
import { GLTFLoader } from 'three/examples/jsm/loaders/GLTFLoader.js';
import { decodeFrame, isNext } from './wire.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

// -- state the page exposes (the browser test reads window.aeselViewer) --------------------
const state = {
  connection: 'idle', scene: '', epoch: 0, seq: 0, synced: false,
  objects: {}, // key -> {name, position: [x, y, z], model: 'box' | 'gltf', asset, meshes, vertices}
  gltf: { loaded: 0, failed: 0 }, // glTF/GLB assets loaded (once each) and failed
  events: 0, resyncs: 0, connects: 0, rate: 0, rtt: null, dropNext: false,
};
window.aeselViewer = state;

let token = sessionStorage.getItem('aesel-token') || params.get('token') || '';
let wsUrl = '';
let ws = null;
let backoff = 100;
let snapshotParts = [];

// -- three.js -------------------------------------------------------------------------------
const renderer = new WebGLRenderer({ antialias: true, preserveDrawingBuffer: true });
renderer.setPixelRatio(window.devicePixelRatio);
$('view').appendChild(renderer.domElement);
const scene3 = new Scene();
scene3.background = new Color(0x15181d);
scene3.add(new AmbientLight(0xffffff, 0.6));
const sun = new DirectionalLight(0xffffff, 1.6);
sun.position.set(5, 10, 7);
scene3.add(sun);
scene3.add(new GridHelper(40, 40, 0x445566, 0x2a3038));
const camera = new PerspectiveCamera(55, 1, 0.1, 2000);
camera.position.set(8, 8, 12);
const controls = new OrbitControls(camera, renderer.domElement);
controls.enableDamping = true;
const boxGeometry = new BoxGeometry(1, 1, 1);
const edgeGeometry = new EdgesGeometry(boxGeometry);
const meshes = new Map(); // key -> Group (matrix = the object's transform) holding a box or a glTF
const loader = new GLTFLoader();
const models = new Map(); // asset id -> Promise of a loaded glTF scene (null: not a glTF asset)

function resize() {
  renderer.setSize(innerWidth, innerHeight);
  camera.aspect = innerWidth / innerHeight;
  camera.updateProjectionMatrix();
}
addEventListener('resize', resize);
resize();

function colorOf(key) {
  let h = 0;
  for (const c of key) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return new Color().setHSL((h % 360) / 360, 0.6, 0.55);
}

function boxFor(key) {
  const box = new Mesh(boxGeometry, new MeshStandardMaterial({ color: colorOf(key) }));
  box.add(new LineSegments(edgeGeometry, new LineBasicMaterial({ color: 0x000000 })));
  box.traverse((o) => { o.userData.own = true; }); // materials of its own (a model's are shared)
  return box;
}

function disposeOwn(holder) {
  holder.traverse((o) => { if (o.userData.own) o.material.dispose(); });
}

// -- glTF assets: an object whose `assets` name a glTF/GLB asset is drawn as that model ----
const GLTF_TYPES = { glb: 'glb', gltf: 'gltf', 'model/gltf-binary': 'glb', 'model/gltf+json': 'gltf' };

const lookups = new Map(); // "id,id" -> Promise of {id, ext} or null

function gltfAsset(ids) {
  // the assets' metadata says which one is a model (fileType glb/gltf, or its content type)
  const k = ids.join(',');
  if (!lookups.has(k)) {
    lookups.set(k, api('/v1/bulk/asset', { ids }).then((metas) => {
      for (const m of Array.isArray(metas) ? metas : []) {
        const ext = GLTF_TYPES[String(m.fileType).toLowerCase()]
          || GLTF_TYPES[String(m.contentType).toLowerCase()];
        if (ext) return { id: m.key, ext };
      }
      return null;
    }, (e) => {
      lookups.delete(k); // asked again next time (say, after a login)
      throw e;
    }));
  }
  return lookups.get(k);
}

function loadModel(id, ext) {
  if (!models.has(id)) {
    loader.setRequestHeader(token ? { Authorization: `Bearer ${token}` } : {});
    // the file name in the URL is ignored by aesel; it tells the loader the format
    models.set(id, loader.loadAsync(`/v1/asset/${encodeURIComponent(id)}/model.${ext}`).then((g) => {
      state.gltf.loaded += 1;
      return g.scene;
    }, (e) => {
      state.gltf.failed += 1;
      console.warn('aesel: glTF asset', id, 'failed:', e);
      return null;
    }));
  }
  return models.get(id);
}

async function useAssets(key, ids) {
  const found = await gltfAsset(ids).catch(() => null);
  const holder = meshes.get(key);
  if (!found || !holder || holder.userData.assets !== ids.join(',')) return;
  const model = await loadModel(found.id, found.ext);
  const current = meshes.get(key);
  if (!model || current !== holder || holder.userData.assets !== ids.join(',')) return;
  disposeOwn(holder);
  holder.clear();
  holder.add(model.clone());
  let count = 0;
  let vertices = 0;
  holder.traverse((o) => {
    if (o.isMesh) {
      count += 1;
      vertices += o.geometry.getAttribute('position')?.count ?? 0;
    }
  });
  if (state.objects[key]) Object.assign(state.objects[key], { model: 'gltf', asset: found.id, meshes: count, vertices });
}

// A binary transform record carries no name or assets (a new object's event may be one):
// ask REST for the object the first time its key shows up that way.
async function describe(key) {
  const scene = state.scene;
  const path = `/v1/scene/${encodeURIComponent(scene)}/object/${encodeURIComponent(key)}`;
  const o = (await api(path).catch(() => null))?.objects?.[0];
  if (!o || scene !== state.scene || !meshes.has(key)) return;
  setObject(key, o.name, null, { assets: o.assets ?? [] });
}

function setObject(key, name, t, data) {
  let mesh = meshes.get(key);
  if (!mesh) {
    mesh = new Group();
    mesh.add(boxFor(key));
    mesh.userData.assets = '';
    mesh.matrixAutoUpdate = false;
    meshes.set(key, mesh);
    scene3.add(mesh);
  }
  if (t && t.length === 16) {
    // aesel's transform is a row-major 4x4 in a right-handed frame, as Matrix4.set takes it
    mesh.matrix.set(...t);
    mesh.matrixWorldNeedsUpdate = true;
  }
  const prev = state.objects[key];
  state.objects[key] = {
    model: 'box', asset: null, meshes: 1, vertices: 24, ...prev,
    name: name ?? prev?.name ?? '',
    position: t && t.length === 16 ? [t[3], t[7], t[11]] : prev?.position ?? [0, 0, 0],
  };
  const assets = Array.isArray(data?.assets) ? data.assets.map(String) : null;
  if (assets && assets.join(',') !== mesh.userData.assets) { // the assets changed: redraw
    mesh.userData.assets = assets.join(',');
    if (state.objects[key].model !== 'box') {
      disposeOwn(mesh);
      mesh.clear();
      mesh.add(boxFor(key));
      Object.assign(state.objects[key], { model: 'box', asset: null, meshes: 1, vertices: 24 });
    }
    if (assets.length) useAssets(key, assets);
  }
}

function removeObject(key) {
  const mesh = meshes.get(key);
  if (mesh) {
    scene3.remove(mesh);
    disposeOwn(mesh);
    meshes.delete(key);
  }
  delete state.objects[key];
}

function clearObjects() {
  for (const key of [...meshes.keys()]) removeObject(key);
}

// test hook: the colour drawn at the centre of an object's model, as the screen shows it
window.aeselProbe = (key) => {
  const holder = meshes.get(key);
  if (!holder) return null;
  renderer.render(scene3, camera);
  const p = new Vector3().setFromMatrixPosition(holder.matrixWorld).project(camera);
  const c = renderer.domElement;
  const x = Math.round(((p.x + 1) / 2) * c.width);
  const y = Math.round(((1 - p.y) / 2) * c.height);
  const gl = renderer.getContext();
  const rgba = new Uint8Array(4);
  gl.readPixels(x, c.height - 1 - y, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, rgba);
  return { x, y, rgba: [...rgba] };
};

// -- REST ----------------------------------------------------------------------------------
async function api(path, body) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const r = await fetch(path, body ? { method: 'POST', headers, body: JSON.stringify(body) } : { headers });
  if (r.status === 401) {
    showLogin('');
    throw new Error('login required');
  }
  return r.json();
}

async function loadScenes() {
  const doc = await api('/v1/scene/query', { scenes: [{}], num_records: 1000 });
  const select = $('scene');
  const keep = state.scene || params.get('scene') || '';
  select.replaceChildren(new Option('(pick a scene)', ''));
  for (const s of doc.scenes || []) {
    select.add(new Option(s.name ? `${s.name} (${s.key})` : s.key, s.key));
  }
  if (keep) {
    select.value = keep;
    if (select.value === keep && keep !== state.scene) pick(keep);
  }
}

function showLogin(message) {
  $('login').classList.add('shown');
  $('loginError').textContent = message;
}

$('login').addEventListener('submit', async (e) => {
  e.preventDefault();
  const r = await fetch('/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: $('username').value, password: $('password').value }),
  });
  if (r.status !== 200) return showLogin('wrong username or password');
  token = (r.headers.get('authorization') || '').replace(/^Bearer /, '');
  sessionStorage.setItem('aesel-token', token);
  $('login').classList.remove('shown');
  if (ws) ws.close();
  await loadScenes();
});

$('scene').addEventListener('change', (e) => pick(e.target.value));
$('reload').addEventListener('click', () => loadScenes());

// -- WebSocket -----------------------------------------------------------------------------
function setConnection(s) {
  state.connection = s;
  $('state').textContent = s;
  $('state').className = s;
}

function send(msg) {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
}

function pick(key) {
  if (state.scene) send({ type: 'unsubscribe', scene: state.scene });
  state.scene = key;
  state.synced = false;
  clearObjects();
  const url = new URL(location);
  url.searchParams.set('scene', key);
  history.replaceState(null, '', url);
  if (key) send({ type: 'subscribe', scene: key, format: 'binary' });
}

function resync() {
  state.synced = false;
  state.resyncs += 1;
  send({ type: 'resync', scene: state.scene });
}

function onSnapshot(m) {
  if (m.scene !== state.scene) return;
  clearObjects();
  for (const o of m.objects) setObject(o.key, o.name, o.transform, o);
  state.epoch = m.epoch;
  state.seq = m.seq;
  state.synced = true;
}

function onEvent(epoch, seq, msgType, key, transform, data) {
  if (!state.synced) return; // a resync is on its way; the snapshot has everything until then
  if (epoch !== state.epoch || !isNext(state.seq, seq)) return resync();
  state.seq = seq;
  state.events += 1;
  if (msgType === 3) removeObject(key);
  else if (msgType < 8 || (msgType >= 13 && msgType <= 22)) {
    const known = meshes.has(key);
    setObject(key, data?.name, transform || data?.transform, data);
    if (!known && !data) describe(key);
  }
}

function connect() {
  setConnection(state.connects ? 'reconnecting' : 'connecting');
  const url = new URL(wsUrl);
  if (token) url.searchParams.set('token', token);
  ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  ws.onopen = () => {
    state.connects += 1;
    backoff = 100;
    setConnection('open');
    if (state.scene) send({ type: 'subscribe', scene: state.scene, format: 'binary' });
  };
  ws.onmessage = (e) => {
    if (typeof e.data !== 'string') {
      if (state.dropNext) { // test hook: lose this frame, as a slow-consumer coalescing would
        state.dropNext = false;
        return;
      }
      const frame = decodeFrame(e.data);
      if (frame.scene !== state.scene) return;
      if (frame.type === 2) { // a binary snapshot, possibly in several parts
        snapshotParts.push(...frame.records);
        if (frame.more) return;
        const objects = snapshotParts.filter((r) => r.msgType === 0)
          .map((r) => ({ ...r.data, key: r.key, transform: r.transform }));
        snapshotParts = [];
        return onSnapshot({ scene: frame.scene, epoch: frame.epoch, seq: frame.seq, objects });
      }
      for (const r of frame.records) {
        onEvent(frame.epoch, r.seq, r.msgType, r.key, r.transform, r.data);
      }
      return;
    }
    const m = JSON.parse(e.data);
    if (m.type === 'snapshot') onSnapshot(m);
    else if (m.type === 'pong' && pingSent) {
      state.rtt = performance.now() - pingSent;
      pingSent = 0;
    }
    else if (m.type === 'error') console.warn('aesel:', m.code, m.message);
  };
  ws.onclose = (e) => {
    ws = null;
    snapshotParts = [];
    pingSent = 0;
    state.rtt = null;
    state.synced = false;
    if (e.code === 4001 || e.code === 1008) showLogin('the server refused the token');
    setConnection('reconnecting');
    setTimeout(connect, backoff * (0.5 + Math.random() / 2));
    backoff = Math.min(backoff * 2, 5000);
  };
}

// -- overlay: events/s over the last second, ping round trip every second ------------------
// Events carry no send time (the server's event format has none), so the page cannot measure
// how old an event is when it arrives: the overlay shows the round trip of a WebSocket ping to
// the node instead, labelled as such. One ping is out at a time, so a slow pong is not
// measured against a later ping; a ping unanswered for 2 s shows as "> 2000 ms".
let pingSent = 0;
let lastCount = 0;
setInterval(() => {
  state.rate = state.events - lastCount;
  lastCount = state.events;
  if (pingSent && performance.now() - pingSent > 2000) state.rtt = Infinity;
  if (pingSent || !ws || ws.readyState !== WebSocket.OPEN) return;
  pingSent = performance.now();
  send({ type: 'ping' });
}, 1000);

function render() {
  controls.update();
  renderer.render(scene3, camera);
  $('count').textContent = Object.keys(state.objects).length;
  $('rate').textContent = state.rate;
  $('latency').textContent = state.rtt === null ? '–'
    : state.rtt === Infinity ? '> 2000 ms' : `${state.rtt.toFixed(1)} ms`;
  $('seq').textContent = state.synced ? `${state.seq}` : '…';
  $('resyncs').textContent = `${state.resyncs} / ${Math.max(0, state.connects - 1)}`;
  requestAnimationFrame(render);
}

async function main() {
  const config = await (await fetch('/viewer-config.json')).json();
  const port = params.get('ws') || config.ws_port || String(Number(location.port || 80) + 1);
  wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.hostname}:${port}/`;
  render();
  try {
    await loadScenes();
  } catch (e) {
    console.warn(e);
  }
  connect();
}
main();
