// Unit tests of the viewer's scale bar, magnification and region arithmetic (no browser).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatMagnification, formatRegion, magnification, parseRegion, scaleBar } from '../static/scale.js';

test('scale bar picks the longest 1/2/5 length that fits', () => {
  // 0.499 µm/px at 1:1: 160 px span 79.84 µm, so 50 µm (about 100 px).
  const bar = scaleBar(0.499);
  assert.equal(bar.um, 50);
  assert.equal(bar.label, '50 µm');
  assert.ok(Math.abs(bar.px - 50 / 0.499) < 1e-9);
  assert.equal(scaleBar(10).label, '1 mm'); // 1600 µm fit: 1 mm
  assert.equal(scaleBar(40).label, '5 mm'); // 6400 µm fit: 5 mm
  assert.equal(scaleBar(0.01).label, '1 µm'); // 1.6 µm fit: 1 µm
  assert.equal(scaleBar(0.001).label, '0.1 µm');
  assert.equal(scaleBar(1 / 160).label, '1 µm'); // exactly round: no 0.5 from float error
  for (const upp of [0.0123, 0.37, 3.3, 77, 1234]) {
    const b = scaleBar(upp);
    assert.ok(b.px <= 160 + 1e-9 && b.px > 160 / 5 - 1e-9, `${upp}: ${b.px} px`);
  }
  assert.equal(scaleBar(undefined), null);
  assert.equal(scaleBar(0), null);
  assert.equal(scaleBar(Infinity), null);
});

test('magnification from objective power, else from mpp', () => {
  assert.equal(magnification(1, 20, 0.5), 20);
  assert.equal(magnification(0.25, 40, 0.25), 10);
  assert.equal(magnification(1, null, 0.25), 40); // 10 µm/px is 1×
  assert.equal(magnification(1, null, null), null);
  assert.equal(formatMagnification(20), '20.0×');
  assert.equal(formatMagnification(5.126), '5.13×');
  assert.equal(formatMagnification(0.25), '0.250×');
  assert.equal(formatMagnification(null), '');
});

test('regions parse strictly and format as whole pixels', () => {
  assert.deepEqual(parseRegion('1000,1200,400,300'), { x: 1000, y: 1200, w: 400, h: 300 });
  assert.deepEqual(parseRegion(' -5.5, 0,1,2 '), { x: -5.5, y: 0, w: 1, h: 2 });
  for (const bad of [null, '', '1,2,3', '1,2,3,4,5', 'a,b,c,d', '1,2,0,4', '1,2,3,-4', '1,,3,4']) {
    assert.equal(parseRegion(bad), null, String(bad));
  }
  assert.equal(formatRegion({ x: 947.7, y: 1200.2, width: 504.59, height: 299.5 }), '948,1200,505,300');
});
