// aesel's binary event frame (docs/realtime.md section 3), little-endian:
// u8 version=1 | u8 type=1 | u64 epoch | u16 count | u8 len + scene | records
// [type 2, a snapshot part: u32 seq | u8 more] | records, each
// u8 msg_type | u32 seq | u8 len + key | u8 flags | 12 x f32 (flag 1) and/or u32 len + JSON
const utf8 = new TextDecoder();

export function decodeFrame(buffer) {
  const v = new DataView(buffer);
  const bytes = new Uint8Array(buffer);
  const type = v.getUint8(1);
  if (v.getUint8(0) !== 1 || (type !== 1 && type !== 2)) throw new Error('not an aesel frame');
  const epoch = Number(v.getBigUint64(2, true));
  const count = v.getUint16(10, true);
  let pos = 12;
  const n = v.getUint8(pos);
  const scene = utf8.decode(bytes.subarray(pos + 1, pos + 1 + n));
  pos += 1 + n;
  let snapSeq = 0;
  let more = false;
  if (type === 2) {
    snapSeq = v.getUint32(pos, true);
    more = v.getUint8(pos + 4) === 1;
    pos += 5;
  }
  const records = [];
  for (let i = 0; i < count; i++) {
    const msgType = v.getUint8(pos);
    const seq = v.getUint32(pos + 1, true);
    const klen = v.getUint8(pos + 5);
    const key = utf8.decode(bytes.subarray(pos + 6, pos + 6 + klen));
    pos += 6 + klen;
    const flags = v.getUint8(pos);
    pos += 1;
    let t = null;
    let data = null;
    if (flags & 1) {
      t = new Array(16);
      for (let j = 0; j < 12; j++) t[j] = v.getFloat32(pos + 4 * j, true);
      t[12] = 0; t[13] = 0; t[14] = 0; t[15] = 1;
      pos += 48;
    }
    if (flags & 2 || !(flags & 1)) {
      const len = v.getUint32(pos, true);
      data = JSON.parse(utf8.decode(bytes.subarray(pos + 4, pos + 4 + len)));
      pos += 4 + len;
    }
    records.push({ msgType, seq, key, transform: t || data?.transform || null, data });
  }
  return { type, epoch, scene, seq: snapSeq, more, records };
}

// seq follows last modulo 2^32 (binary records carry it as u32)
export function isNext(last, seq) {
  return ((seq - last - 1) >>> 0) === 0;
}
