// Decoder of the server's compact annotation layout (`format=binary`), specified at the top
// of server/src/annotations/query.rs. Arrays are views or copies over the answer's bytes;
// nothing is turned into per-feature objects, so a 20 000-cell answer stays cheap.

export const LOD_GEOMETRY = 0;
export const LOD_CENTROIDS = 1;
export const LOD_DENSITY = 2;
export const LOD_NAMES = ['geometry', 'centroids', 'density'];

export const TYPE_POINT = 1;
export const TYPE_MULTIPOINT = 2;
export const TYPE_LINESTRING = 3;
export const TYPE_POLYGON = 4;
export const TYPE_MULTIPOLYGON = 5;

/** Status (bits 0-3 of the status byte) → name, in the server's order. */
export const STATUS_NAMES = ['draft', 'submitted', 'reviewed', 'approved', 'rejected'];
/** Provenance (bits 4-5 of the status byte) → name, in the server's order. */
export const PROVENANCE_NAMES = ['human', 'model', 'model-edited'];

const MAGIC = 0x4e4e4154; // "TANN" read as a little-endian u32

/** Rounds up to a multiple of 4. */
const pad4 = (n) => (n + 3) & ~3;

/**
 * Decodes one answer. Returns
 * `{ lod, classes: [{ name, color: [r, g, b] }], count, truncated, geometry | centroids | density }`:
 * - geometry: `{ ids: Uint8Array(count×16), classIndex: Uint16Array, types, statuses, provenances: Uint8Array,
 *   partStart: Uint32Array(count+1), ringStart: Uint32Array(rings+1), ringFlags: Uint8Array,
 *   coords: Float32Array(vertices×2) }`
 * - centroids: `{ xy: Float32Array(count×2), classIndex: Uint16Array }`
 * - density: `{ x, y, cell, columns, rows, counts: Uint32Array(columns×rows×classes) }`
 * Throws on a malformed or truncated buffer, naming what was wrong.
 */
export function decodeAnnotations(buffer) {
  const bytes = new Uint8Array(buffer);
  const view = new DataView(buffer);
  let at = 0;
  const need = (n, what) => {
    if (at + n > bytes.length) throw new Error(`annotation answer truncated in ${what} (${bytes.length} bytes)`);
  };
  need(16, 'header');
  if (view.getUint32(0, true) !== MAGIC) throw new Error('annotation answer is not the binary layout (no TANN magic)');
  const version = bytes[4];
  if (version !== 1) throw new Error(`annotation binary layout version ${version} is not supported`);
  const lod = bytes[5];
  const classCount = view.getUint16(6, true);
  const count = view.getUint32(8, true);
  const truncated = (view.getUint32(12, true) & 1) !== 0;
  at = 16;

  const classes = [];
  const utf8 = new TextDecoder();
  for (let i = 0; i < classCount; i++) {
    need(4, 'class table');
    const color = [bytes[at], bytes[at + 1], bytes[at + 2]];
    const length = bytes[at + 3];
    at += 4;
    need(length, 'class name');
    classes.push({ name: utf8.decode(bytes.subarray(at, at + length)), color });
    at += length;
  }
  at = pad4(at);

  // Typed views need aligned offsets; copies (slice) are used where an array may be unaligned.
  const u32s = (n, what) => {
    need(n * 4, what);
    const out = new Uint32Array(buffer.slice(at, at + n * 4));
    at += n * 4;
    return out;
  };
  const f32s = (n, what) => {
    need(n * 4, what);
    const out = new Float32Array(buffer.slice(at, at + n * 4));
    at += n * 4;
    return out;
  };
  const u16s = (n, what) => {
    need(n * 2, what);
    const out = new Uint16Array(buffer.slice(at, at + n * 2));
    at += n * 2;
    return out;
  };
  const u8s = (n, what) => {
    need(n, what);
    const out = bytes.slice(at, at + n);
    at += n;
    return out;
  };

  const answer = { lod, classes, count, truncated };
  if (lod === LOD_GEOMETRY) {
    need(8, 'geometry sizes');
    const rings = view.getUint32(at, true);
    const vertices = view.getUint32(at + 4, true);
    at += 8;
    const ids = u8s(count * 16, 'ids');
    const classIndex = u16s(count, 'classes');
    at = pad4(at);
    const types = u8s(count, 'types');
    // Bits 0-3 the status, bits 4-5 the provenance (0 human, 1 model, 2 model-edited).
    const statusBytes = u8s(count, 'statuses');
    const statuses = statusBytes.map((b) => b & 0x0f);
    const provenances = statusBytes.map((b) => (b >> 4) & 0x03);
    at = pad4(at);
    const partStart = u32s(count + 1, 'part starts');
    const ringStart = u32s(rings + 1, 'ring starts');
    const ringFlags = u8s(rings, 'ring flags');
    at = pad4(at);
    const coords = f32s(vertices * 2, 'coordinates');
    if (partStart[count] !== rings || ringStart[rings] !== vertices) {
      throw new Error(`annotation answer is inconsistent: ${rings} rings, ${vertices} vertices`);
    }
    answer.geometry = { ids, classIndex, types, statuses, provenances, partStart, ringStart, ringFlags, coords };
  } else if (lod === LOD_CENTROIDS) {
    const xy = f32s(count * 2, 'centroids');
    const classIndex = u16s(count, 'centroid classes');
    answer.centroids = { xy, classIndex };
  } else if (lod === LOD_DENSITY) {
    need(20, 'density grid');
    const x = view.getFloat32(at, true);
    const y = view.getFloat32(at + 4, true);
    const cell = view.getFloat32(at + 8, true);
    const columns = view.getUint32(at + 12, true);
    const rows = view.getUint32(at + 16, true);
    at += 20;
    const counts = u32s(columns * rows * classCount, 'density counts');
    answer.density = { x, y, cell, columns, rows, counts };
  } else {
    throw new Error(`unknown level of detail ${lod} in the annotation answer`);
  }
  return answer;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** The UUID text of feature `i` from a 16-byte-per-feature id array. */
export function uuidAt(ids, i) {
  const b = ids.subarray(i * 16, i * 16 + 16);
  let s = '';
  for (let k = 0; k < 16; k++) {
    s += HEX[b[k]];
    if (k === 3 || k === 5 || k === 7 || k === 9) s += '-';
  }
  return s;
}
