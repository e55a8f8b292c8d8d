// Recent generations kept in this browser (IndexedDB), bounded by count and by bytes; the oldest go first.
const DB = "duble", STORE = "generations";
export const MAX_ENTRIES = 30;
export const MAX_BYTES = 50 * 1024 * 1024;

function open() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE, {keyPath: "id", autoIncrement: true});
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function done(tx) {
  return new Promise((resolve, reject) => { tx.oncomplete = resolve; tx.onerror = () => reject(tx.error); });
}

export async function list() {
  const db = await open();
  const tx = db.transaction(STORE, "readonly");
  const req = tx.objectStore(STORE).getAll();
  await done(tx);
  db.close();
  return req.result.sort((a, b) => b.id - a.id);
}

export async function add(entry) {
  const db = await open();
  const tx = db.transaction(STORE, "readwrite");
  tx.objectStore(STORE).add(entry);
  await done(tx);
  db.close();
  const all = await list();
  let bytes = 0;
  const drop = [];
  all.forEach((e, i) => {
    bytes += e.wav.size;
    if (i >= MAX_ENTRIES || bytes > MAX_BYTES) drop.push(e.id);
  });
  if (drop.length) {
    const db2 = await open();
    const tx2 = db2.transaction(STORE, "readwrite");
    for (const id of drop) tx2.objectStore(STORE).delete(id);
    await done(tx2);
    db2.close();
  }
}

export function wavBlob(chunks, rateHz) {
  const length = chunks.reduce((n, c) => n + c.byteLength, 0) & ~1;
  const out = new Uint8Array(44 + length);
  const v = new DataView(out.buffer);
  const text = (o, s) => { for (let i = 0; i < s.length; i++) out[o + i] = s.charCodeAt(i); };
  text(0, "RIFF"); v.setUint32(4, 36 + length, true); text(8, "WAVEfmt ");
  v.setUint32(16, 16, true); v.setUint16(20, 1, true); v.setUint16(22, 1, true); v.setUint32(24, rateHz, true);
  v.setUint32(28, rateHz * 2, true); v.setUint16(32, 2, true); v.setUint16(34, 16, true);
  text(36, "data"); v.setUint32(40, length, true);
  let at = 44;
  for (const c of chunks) {
    const bytes = new Uint8Array(c, 0, Math.min(c.byteLength, 44 + length - at));
    out.set(bytes, at);
    at += bytes.length;
  }
  return new Blob([out], {type: "audio/wav"});
}
