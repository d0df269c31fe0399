// Unit tests of the overlay's pure parts: the binary decoder (against an encoder written
// from the layout in server/src/annotations/query.rs), batches, fan indices, hit tests,
// the image-adjustment tables, magnification zooms, review helpers, the schema's classes
// in the class picker and the session's roles.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { LOD_CENTROIDS, LOD_DENSITY, LOD_GEOMETRY, decodeAnnotations, uuidAt } from '../static/annotations-binary.js';
import { batchFromBinary, batchFromFeatures, buildIndices, hitTest } from '../static/overlay-geometry.js';
import { NEUTRAL, channelTable, isNeutral } from '../static/adjust.js';
import { imageZoomFor } from '../static/orientation.js';
import { acceptStep, geometryBounds, isPendingPreLabel, jumpRect, modelText } from '../static/review.js';
import { classDescription, hexColor, schemaClasses } from '../static/classes.js';
import { describeGrants, roleIn } from '../static/session.js';

/** Little-endian byte writer with 4-byte padding, mirroring the server's layout. */
class Writer {
  constructor() {
    this.bytes = [];
  }
  u8(...v) {
    this.bytes.push(...v);
  }
  u16(v) {
    this.u8(v & 255, v >> 8);
  }
  u32(v) {
    const b = new Uint8Array(new Uint32Array([v]).buffer);
    this.u8(...b);
  }
  f32(v) {
    this.u8(...new Uint8Array(new Float32Array([v]).buffer));
  }
  pad() {
    while (this.bytes.length % 4) this.u8(0);
  }
  buffer() {
    return new Uint8Array(this.bytes).buffer;
  }
}

function header(w, lod, classes, count, flags = 0) {
  w.u8(...Buffer.from('TANN'), 1, lod);
  w.u16(classes.length);
  w.u32(count);
  w.u32(flags);
  for (const { name, color } of classes) {
    const utf8 = Buffer.from(name);
    w.u8(...color, utf8.length, ...utf8);
  }
  w.pad();
}

const CLASSES = [
  { name: 'Tumor', color: [200, 0, 0] },
  { name: 'Stroma', color: [150, 200, 150] },
];
const UUID_A = '00112233-4455-6677-8899-aabbccddeeff';
const UUID_B = 'ffeeddcc-bbaa-9988-7766-554433221100';
const uuidBytes = (u) => Buffer.from(u.replaceAll('-', ''), 'hex');

/**
 * Two features: a square with a square hole (Tumor, draft) and a point (Stroma, approved).
 * The square is written clockwise in image coordinates and so is its hole, so the fans
 * must flip the hole.
 */
function geometryAnswer() {
  const w = new Writer();
  header(w, LOD_GEOMETRY, CLASSES, 2);
  const rings = [
    { flags: 1, points: [[0, 0], [100, 0], [100, 100], [0, 100]] },
    { flags: 0, points: [[40, 40], [60, 40], [60, 60], [40, 60]] },
    { flags: 0, points: [[300, 300]] },
  ];
  const vertices = rings.reduce((n, r) => n + r.points.length, 0);
  w.u32(rings.length);
  w.u32(vertices);
  w.u8(...uuidBytes(UUID_A), ...uuidBytes(UUID_B));
  w.u16(0);
  w.u16(1);
  w.pad();
  w.u8(4, 1); // Polygon, Point
  w.u8(0x10, 0x23); // draft from a model, approved and model-edited (provenance in bits 4-5)
  w.pad();
  [0, 2, 3].forEach((v) => w.u32(v));
  let v = 0;
  w.u32(0);
  for (const r of rings) w.u32((v += r.points.length));
  w.u8(...rings.map((r) => r.flags));
  w.pad();
  for (const r of rings) for (const [x, y] of r.points) w.f32(x), w.f32(y);
  return w.buffer();
}

describe('binary annotation answers', () => {
  test('geometry decodes ids, classes, types, rings and coordinates', () => {
    const a = decodeAnnotations(geometryAnswer());
    assert.equal(a.lod, LOD_GEOMETRY);
    assert.equal(a.count, 2);
    assert.equal(a.truncated, false);
    assert.deepEqual(a.classes, CLASSES);
    const g = a.geometry;
    assert.equal(uuidAt(g.ids, 0), UUID_A);
    assert.equal(uuidAt(g.ids, 1), UUID_B);
    assert.deepEqual([...g.classIndex], [0, 1]);
    assert.deepEqual([...g.types], [4, 1]);
    assert.deepEqual([...g.statuses], [0, 3]);
    assert.deepEqual([...g.provenances], [1, 2]);
    assert.deepEqual([...g.partStart], [0, 2, 3]);
    assert.deepEqual([...g.ringStart], [0, 4, 8, 9]);
    assert.deepEqual([...g.ringFlags], [1, 0, 0]);
    assert.deepEqual([...g.coords.slice(-2)], [300, 300]);
  });

  test('centroids and density decode; the truncated flag is read', () => {
    let w = new Writer();
    header(w, LOD_CENTROIDS, CLASSES, 3, 1);
    [1, 2, 3, 4, 5, 6].forEach((v) => w.f32(v));
    [1, 0, 1].forEach((v) => w.u16(v));
    const c = decodeAnnotations(w.buffer());
    assert.equal(c.truncated, true);
    assert.deepEqual([...c.centroids.xy], [1, 2, 3, 4, 5, 6]);
    assert.deepEqual([...c.centroids.classIndex], [1, 0, 1]);

    w = new Writer();
    header(w, LOD_DENSITY, CLASSES, 10);
    [0, 0, 256].forEach((v) => w.f32(v));
    w.u32(2);
    w.u32(1);
    [3, 4, 0, 3].forEach((v) => w.u32(v));
    const d = decodeAnnotations(w.buffer());
    assert.deepEqual({ ...d.density, counts: [...d.density.counts] }, { x: 0, y: 0, cell: 256, columns: 2, rows: 1, counts: [3, 4, 0, 3] });
  });

  test('bad input is refused with a reason', () => {
    assert.throws(() => decodeAnnotations(new ArrayBuffer(8)), /truncated in header/);
    assert.throws(() => decodeAnnotations(new TextEncoder().encode('{"type":"FeatureCollection"}').buffer), /no TANN magic/);
    const cut = geometryAnswer().slice(0, 100);
    assert.throws(() => decodeAnnotations(cut), /truncated/);
  });
});

describe('overlay geometry', () => {
  const batch = batchFromBinary(decodeAnnotations(geometryAnswer()));

  test('batches carry string ids, class names and bounds', () => {
    assert.deepEqual(batch.ids, [UUID_A, UUID_B]);
    assert.deepEqual(batch.classNames, ['Tumor', 'Stroma']);
    assert.deepEqual([...batch.bounds], [0, 0, 100, 100, 300, 300, 300, 300]);
  });

  test('fans wind exterior rings and holes opposite ways; outlines close each ring', () => {
    const indices = buildIndices(batch);
    assert.equal(indices.groups.length, 2);
    const tumor = indices.groups.find((g) => g.name === 'Tumor');
    assert.deepEqual(tumor.fans, [0, 12]); // 2 + 2 triangles
    assert.deepEqual(tumor.lines, [0, 16]); // 4 + 4 segments
    const signed = (t) => {
      const [a, b, c] = t.map((v) => [batch.coords[2 * v], batch.coords[2 * v + 1]]);
      return Math.sign((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]));
    };
    const tri = (k) => [...indices.fans.slice(3 * k, 3 * k + 3)];
    assert.equal(signed(tri(0)), signed(tri(1)));
    assert.notEqual(signed(tri(0)), signed(tri(2)), 'the hole must wind against its shell');
    assert.equal(signed(tri(2)), signed(tri(3)));
    assert.deepEqual([...indices.points], [8]);
  });

  test('excluded features are left out', () => {
    const indices = buildIndices(batch, (i) => i !== 0);
    assert.deepEqual(indices.groups.map((g) => g.name), ['Stroma']);
    assert.equal(indices.fans.length, 0);
  });

  test('hit tests respect holes, tolerance and exclusion', () => {
    assert.equal(hitTest(batch, 10, 10, 1), 0);
    assert.equal(hitTest(batch, 50, 50, 1), -1, 'inside the hole');
    assert.equal(hitTest(batch, 303, 300, 5), 1);
    assert.equal(hitTest(batch, 310, 300, 5), -1);
    assert.equal(hitTest(batch, 10, 10, 1, (i) => i !== 0), -1);
  });

  test('GeoJSON features become the same kind of batch, smallest hit wins', () => {
    const local = batchFromFeatures([
      { id: 'big', geometry: { type: 'Polygon', coordinates: [[[0, 0], [1000, 0], [1000, 1000], [0, 1000], [0, 0]]] }, properties: { classification: { name: 'Tumor', color: [255, 0, 0] } } },
      { id: 'small', geometry: { type: 'Polygon', coordinates: [[[10, 10], [20, 10], [20, 20], [10, 10]]] }, properties: { classification: { name: 'Stroma', color: [0, 255, 0] }, status: 'rejected' } },
      { id: 'line', geometry: { type: 'LineString', coordinates: [[0, 500], [1000, 500]] }, properties: {} },
      { id: 'odd', geometry: { type: 'GeometryCollection', geometries: [] }, properties: {} },
    ]);
    assert.equal(local.count, 3);
    assert.deepEqual(local.skipped, ['odd']);
    assert.deepEqual([...local.ringStart], [0, 4, 7, 9], 'closing vertices dropped from polygon rings only');
    assert.deepEqual([...local.statuses], [0, 4, 0]);
    assert.equal(local.ids[hitTest(local, 18, 12, 1)], 'small');
    assert.equal(local.ids[hitTest(local, 600, 501, 2)], 'line');
    assert.equal(local.ids[hitTest(local, 600, 600, 2)], 'big');
    assert.deepEqual(local.colors.get('Tumor'), [255, 0, 0]);
  });
});

describe('image adjustments', () => {
  test('neutral settings give the identity table', () => {
    assert.ok(isNeutral(NEUTRAL));
    const t = channelTable(NEUTRAL, 0);
    assert.equal(t.length, 256);
    t.forEach((v, i) => assert.ok(Math.abs(v - i / 255) < 1e-9));
  });

  test('levels stretch a channel; contrast and brightness move values', () => {
    const levels = { ...NEUTRAL, black: [50, 0, 0], white: [100, 255, 255] };
    assert.ok(!isNeutral(levels));
    const red = channelTable(levels, 0);
    assert.equal(red[50], 0);
    assert.equal(red[100], 1);
    assert.ok(Math.abs(red[75] - 0.5) < 1e-9);
    assert.ok(Math.abs(channelTable(levels, 1)[75] - 75 / 255) < 1e-9, 'green untouched');
    const contrast = channelTable({ ...NEUTRAL, contrast: 2 }, 2);
    assert.ok(contrast[64] < 64 / 255 && contrast[192] > 192 / 255);
    assert.ok(channelTable({ ...NEUTRAL, brightness: 0.1 }, 0)[100] > 100 / 255);
    assert.ok(channelTable({ ...NEUTRAL, gamma: 2 }, 0)[64] > 64 / 255, 'gamma > 1 brightens mid-tones');
  });
});

describe('orientation and review helpers', () => {
  test('magnification zooms come from objective power, else mpp', () => {
    assert.equal(imageZoomFor(40, { objective_power: 20, mpp_x: 0.5 }), 2);
    assert.equal(imageZoomFor(10, { objective_power: null, mpp_x: 0.25 }), 0.25);
    assert.equal(imageZoomFor(10, { objective_power: null, mpp_x: null }), null);
  });

  test('a jump keeps small features in context', () => {
    const bounds = geometryBounds({ type: 'Polygon', coordinates: [[[10, 20], [30, 20], [30, 60], [10, 20]]] });
    assert.deepEqual(bounds, { x: 10, y: 20, w: 20, h: 40 });
    assert.deepEqual(jumpRect(bounds), { x: -180, y: -160, w: 400, h: 400 });
    assert.equal(jumpRect({ x: 0, y: 0, w: 1000, h: 100 }).w, 1500);
  });
});

describe('review steps, schema classes and roles', () => {
  const feature = (status, provenance = 'human') => ({ properties: { status, provenance } });

  test('accept moves one step toward approval', () => {
    assert.equal(acceptStep(feature('draft')), 'submitted');
    assert.equal(acceptStep(feature('draft', 'model')), 'approved');
    assert.equal(acceptStep(feature('draft', 'model-edited')), 'submitted');
    assert.equal(acceptStep(feature('submitted')), 'reviewed');
    assert.equal(acceptStep(feature('submitted', 'model')), 'reviewed');
    assert.equal(acceptStep(feature('reviewed')), 'approved');
    assert.equal(acceptStep(feature('approved')), null);
    assert.equal(acceptStep(feature('rejected')), null);
    assert.equal(isPendingPreLabel(feature('draft', 'model')), true);
    assert.equal(isPendingPreLabel(feature('submitted', 'model')), false);
    assert.equal(isPendingPreLabel(feature('draft')), false);
    assert.equal(modelText({ provenance: 'model', model: { name: 'cellnet', version: '2.1' }, confidence: 0.91234 }), 'cellnet 2.1 · confidence 0.912');
    assert.equal(modelText({ provenance: 'human' }), '');
  });

  test('a schema becomes the picker\'s classes', () => {
    assert.deepEqual(hexColor('#c83232'), [200, 50, 50]);
    assert.equal(hexColor('red'), null);
    assert.equal(schemaClasses(null), null);
    assert.equal(schemaClasses({ classes: [] }), null);
    const [tumor, other] = schemaClasses({ classes: [{ name: 'Tumor', color: '#C83232', code: 'T', guideline: 'Nests.' }, { name: 'Other', color: 'bad' }] });
    assert.deepEqual(tumor, { name: 'Tumor', color: [200, 50, 50], code: 'T', guideline: 'Nests.' });
    assert.deepEqual(other.color, [255, 200, 0]);
    assert.equal(classDescription(tumor), 'Tumor (T): Nests.');
    assert.equal(classDescription(other), 'Other: no guideline');
  });

  test('the role on a slide is the higher of the global and the project grant', () => {
    const session = { user: 'ana', grants: [{ project: null, role: 'viewer' }, { project: 'p1', role: 'reviewer' }] };
    assert.equal(roleIn(session, 'p1'), 'reviewer');
    assert.equal(roleIn(session, 'p2'), 'viewer');
    assert.equal(roleIn(session, null), 'viewer');
    assert.equal(roleIn({ grants: [{ project: 'p1', role: 'annotator' }] }, 'p2'), null);
    assert.equal(describeGrants({ grants: [{ project: null, role: 'admin' }] }), 'admin');
    assert.equal(describeGrants(session), 'viewer everywhere, reviewer in p1');
  });
});
