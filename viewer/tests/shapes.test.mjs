// Unit tests of static/shapes.js (the drawing tools' geometry), in Node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import polygonClipping from 'polygon-clipping';

// The page loads polygon-clipping as a classic script; here the package stands in for it.
globalThis.polygonClipping = polygonClipping;
const shapes = await import('../static/shapes.js');

/** Area of a Polygon or MultiPolygon (shoelace; holes subtract). */
function area(geometry) {
  const ring = (r) => r.slice(1).reduce((s, p, i) => s + (r[i][0] * p[1] - p[0] * r[i][1]), 0) / 2;
  const polys = geometry.type === 'Polygon' ? [geometry.coordinates] : geometry.coordinates;
  return polys.reduce((s, poly) => s + Math.abs(ring(poly[0])) - poly.slice(1).reduce((h, r) => h + Math.abs(ring(r)), 0), 0);
}

/** Every ring of an areal geometry is closed. */
function assertClosed(geometry) {
  const polys = geometry.type === 'Polygon' ? [geometry.coordinates] : geometry.coordinates;
  for (const poly of polys) {
    for (const r of poly) assert.deepEqual(r[0], r[r.length - 1], 'ring not closed');
  }
}

test('rectangle from any two opposite corners', () => {
  const g = shapes.rectangle([30, 40], [10, 20]);
  assert.equal(g.type, 'Polygon');
  assert.deepEqual(g.coordinates[0][0], [10, 20]);
  assert.equal(area(g), 20 * 20);
  assertClosed(g);
});

test('ellipse inscribed in its box has area close to πab', () => {
  const g = shapes.ellipse([0, 0], [200, 100], 180);
  assertClosed(g);
  const want = Math.PI * 100 * 50;
  assert.ok(Math.abs(area(g) - want) / want < 0.002, `area ${area(g)} vs ${want}`);
  const [minX, minY, maxX, maxY] = shapes.bounds(g);
  assert.ok(minX >= -1e-9 && minY >= -1e-9 && maxX <= 200 + 1e-9 && maxY <= 100 + 1e-9);
});

test('a one-point brush stroke is a disc; a straight stroke a capsule', () => {
  const dot = shapes.brushStroke([[100, 100]], 10);
  assert.ok(Math.abs(area(dot) - Math.PI * 100) / (Math.PI * 100) < 0.03, `disc area ${area(dot)}`);
  const line = shapes.brushStroke([[0, 50], [25, 50], [50, 50], [100, 50]], 10);
  assert.equal(line.type, 'Polygon');
  assertClosed(line);
  const want = 100 * 20 + Math.PI * 100;
  assert.ok(Math.abs(area(line) - want) / want < 0.01, `capsule area ${area(line)} vs ${want}`);
  assert.equal(shapes.brushStroke([], 5), null);
});

test('brush adds to and erases from a shape, holes and splits included', () => {
  const square = shapes.rectangle([0, 0], [100, 100]);
  const outside = shapes.brushStroke([[150, 50], [200, 50]], 10);
  const grown = shapes.applyBrush(square, outside, 'add');
  assert.equal(grown.type, 'MultiPolygon', 'a separate stroke is a second polygon');
  assert.ok(area(grown) > area(square));

  const middle = shapes.brushStroke([[50, 50]], 10);
  const holed = shapes.applyBrush(square, middle, 'subtract');
  assert.equal(holed.type, 'Polygon');
  assert.equal(holed.coordinates.length, 2, 'erasing inside makes a hole');
  assert.ok(Math.abs(area(holed) - (10000 - Math.PI * 100)) < 10);

  const across = shapes.brushStroke([[50, -20], [50, 120]], 5);
  const split = shapes.applyBrush(square, across, 'subtract');
  assert.equal(split.type, 'MultiPolygon');
  assert.equal(split.coordinates.length, 2, 'a stroke across splits the shape in two');

  const everything = shapes.brushStroke([[50, 50]], 200);
  assert.equal(shapes.applyBrush(square, everything, 'subtract'), null, 'erasing all leaves nothing');
  assert.deepEqual(shapes.applyBrush(null, middle, 'add'), middle, 'painting on nothing starts a shape');
  assert.equal(shapes.applyBrush(null, middle, 'subtract'), null);
});

test('a self-crossing outline becomes separate polygons, a flat one nothing', () => {
  const bowTie = shapes.polygonFromOutline([[0, 0], [10, 10], [10, 0], [0, 10]]);
  assert.equal(bowTie.type, 'MultiPolygon');
  assert.equal(bowTie.coordinates.length, 2);
  assert.ok(Math.abs(area(bowTie) - 50) < 1e-9);
  assert.equal(shapes.polygonFromOutline([[0, 0], [5, 5], [10, 10]]), null);
  assert.equal(shapes.polygonFromOutline([[0, 0], [5, 5]]), null);
  const plain = shapes.polygonFromOutline([[0, 0], [10, 0], [10, 10], [10, 10], [0, 10]]);
  assert.equal(plain.type, 'Polygon');
  assert.equal(area(plain), 100);
});

test('fitToSlide clips areas, clamps lines, refuses points off the slide, rounds to 1/100 px', () => {
  const half = shapes.fitToSlide(shapes.rectangle([-50, 10.123456], [50, 20]), 1000, 800);
  assert.equal(area(half), 50 * (20 - 10.12));
  for (const [x, y] of half.coordinates[0]) {
    assert.ok(x >= 0 && x <= 1000 && y >= 0 && y <= 800);
    assert.equal(Math.round(x * 100) / 100, x);
    assert.equal(Math.round(y * 100) / 100, y);
  }
  assert.equal(shapes.fitToSlide(shapes.rectangle([-50, -50], [-10, -10]), 1000, 800), null);
  assert.equal(shapes.fitToSlide({ type: 'Point', coordinates: [-3, 900.456] }, 1000, 800), null);
  assert.deepEqual(shapes.fitToSlide({ type: 'Point', coordinates: [999.996, 800] }, 1000, 800).coordinates, [1000, 800]);
  assert.deepEqual(shapes.fitToSlide({ type: 'MultiPoint', coordinates: [[-1, 5], [3, 4]] }, 1000, 800).coordinates, [[3, 4]]);
  assert.deepEqual(
    shapes.fitToSlide({ type: 'LineString', coordinates: [[1.006, 2], [2000, 3]] }, 1000, 800).coordinates,
    [[1.01, 2], [1000, 3]],
  );
});

test('simplify keeps corners and drops jitter', () => {
  const jittery = [];
  for (let x = 0; x <= 100; x++) jittery.push([x, x % 2 ? 0.2 : -0.2]);
  jittery.push([100, 100]);
  const out = shapes.simplify(jittery, 1);
  assert.deepEqual(out, [[0, -0.2], [100, -0.2], [100, 100]]);
  assert.deepEqual(shapes.simplify([[0, 0], [1, 1]], 1), [[0, 0], [1, 1]]);
});

test('ruler length in µm and its label', () => {
  assert.equal(shapes.rulerLength([0, 0], [300, 400], 0.5), 250);
  assert.equal(shapes.rulerLength([0, 0], [0, 100], 0.5, 0.25), 25);
  assert.equal(shapes.rulerLength([0, 0], [1, 1], null), null);
  assert.equal(shapes.formatLength(85.34), '85.3 µm');
  assert.equal(shapes.formatLength(250), '250 µm');
  assert.equal(shapes.formatLength(1240), '1.24 mm');
  assert.equal(shapes.formatLength(12400), '12.4 mm');
  assert.equal(shapes.formatLength(null), '');
});

test('vertex editing keeps rings closed and refuses to leave too few vertices', () => {
  const square = shapes.rectangle([0, 0], [10, 10]);
  const v = shapes.vertices(square);
  assert.equal(v.length, 4, 'the closing repeat is not a handle');
  const moved = shapes.moveVertex(square, 0, 0, [-5, -5]);
  assert.deepEqual(moved.coordinates[0][0], [-5, -5]);
  assert.deepEqual(moved.coordinates[0][4], [-5, -5], 'moving the first vertex moves the closing one');
  assert.deepEqual(square.coordinates[0][0], [0, 0], 'the original is untouched');

  const mids = shapes.midpoints(square);
  assert.equal(mids.length, 4);
  assert.deepEqual([mids[0].x, mids[0].y], [5, 0]);
  const inserted = shapes.insertVertex(square, mids[0].part, mids[0].index, [5, -3]);
  assert.equal(shapes.vertices(inserted).length, 5);
  assert.deepEqual(inserted.coordinates[0][1], [5, -3]);

  const removed = shapes.removeVertex(inserted, 0, 0);
  assert.equal(shapes.vertices(removed).length, 4);
  assert.deepEqual(removed.coordinates[0][0], removed.coordinates[0][removed.coordinates[0].length - 1]);
  const triangle = shapes.removeVertex(square, 0, 1);
  assert.equal(shapes.removeVertex(triangle, 0, 0), null, 'a ring keeps 3 vertices');
  assert.equal(shapes.removeVertex({ type: 'Point', coordinates: [1, 2] }, 0, 0), null);
  const line = { type: 'LineString', coordinates: [[0, 0], [1, 1]] };
  assert.equal(shapes.removeVertex(line, 0, 0), null, 'a line keeps 2 vertices');

  const point = shapes.moveVertex({ type: 'Point', coordinates: [1, 2] }, 0, 0, [3, 4]);
  assert.deepEqual(point, { type: 'Point', coordinates: [3, 4] });
  const multi = { type: 'MultiPolygon', coordinates: [square.coordinates, shapes.rectangle([20, 20], [30, 30]).coordinates] };
  assert.equal(shapes.vertices(multi).length, 8);
  assert.deepEqual(shapes.moveVertex(multi, 1, 2, [40, 40]).coordinates[1][0][2], [40, 40]);
});

test('a dragged vertex that folds a polygon is repaired into valid pieces', () => {
  // Dragging the first corner of a square past the opposite side makes the ring cross itself.
  const crossing = shapes.moveVertex(shapes.rectangle([0, 0], [10, 10]), 0, 0, [20, 5]);
  const fixed = shapes.repairAreal(crossing);
  assert.equal(fixed.type, 'MultiPolygon', 'the two loops become two polygons');
  assertClosed(fixed);
  // The edge back from (0,10) to (20,5) crosses x = 10 at y = 7.5: triangles of 37.5 and 12.5.
  assert.ok(Math.abs(area(fixed) - 50) < 1e-9, `area ${area(fixed)}`);
  // Folded onto itself (out along one edge and back) it encloses nothing.
  const folded = shapes.moveVertex(shapes.rectangle([0, 0], [10, 10]), 0, 1, [0, 10]);
  assert.equal(shapes.repairAreal(folded), null);
});

test('hit tests: inside areas but not holes, near points and lines', () => {
  const holed = { type: 'Polygon', coordinates: [shapes.rectangle([0, 0], [10, 10]).coordinates[0], shapes.rectangle([4, 4], [6, 6]).coordinates[0]] };
  assert.ok(shapes.hits(holed, [1, 1], 0));
  assert.ok(!shapes.hits(holed, [5, 5], 0), 'a hole is not the shape');
  assert.ok(!shapes.hits(holed, [11, 5], 0));
  assert.ok(shapes.hits({ type: 'Point', coordinates: [5, 5] }, [7, 5], 3));
  assert.ok(!shapes.hits({ type: 'Point', coordinates: [5, 5] }, [9, 5], 3));
  assert.ok(shapes.hits({ type: 'LineString', coordinates: [[0, 0], [10, 0]] }, [5, 2], 3));
  assert.ok(!shapes.hits({ type: 'LineString', coordinates: [[0, 0], [10, 0]] }, [15, 0], 3));
  assert.deepEqual(shapes.translate(shapes.rectangle([0, 0], [1, 1]), 2, 3).coordinates[0][0], [2, 3]);
});
