// Unit tests of the review loop's pure parts: which steps and controls each role gets
// (roles.js, mirroring the server's rules), the status styles and their keys
// (overlay-style.js), grouping by class and style (overlay-geometry.js), areas
// (measure.js), the table's rows and sorting (annotation-table.js), history wording
// (selection-panel.js), kept image adjustments (adjust.js) and the keyboard help.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { allowedSteps, atLeast, legalSteps, mayComment, mayEdit, slideRole } from '../static/roles.js';
import { STATUS_STYLES, STYLE_KEYS, styleKey } from '../static/overlay-style.js';
import { batchFromFeatures, buildIndices } from '../static/overlay-geometry.js';
import { areaPx, areaUm2, formatArea } from '../static/measure.js';
import { restoredSettings } from '../static/adjust.js';

// The table, the selection panel and the keyboard help import DOM-free helpers only at
// module level, so they load in node.
const { sortRows, tableRow } = await import('../static/annotation-table.js');
const { historyText, lastComment } = await import('../static/selection-panel.js');
const { helpRows } = await import('../static/keys-help.js');

const feature = (properties, geometry = { type: 'Polygon', coordinates: [[[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]]] }) => ({ id: 'x', geometry, properties });
const labels = (steps) => steps.map((s) => `${s.label}→${s.to}`);

describe('roles', () => {
  test('roles are ordered', () => {
    assert.ok(atLeast('admin', 'reviewer'));
    assert.ok(atLeast('reviewer', 'annotator'));
    assert.ok(!atLeast('annotator', 'reviewer'));
    assert.ok(!atLeast('viewer', 'annotator'));
  });

  test('legal steps follow the server\'s workflow', () => {
    assert.deepEqual(legalSteps('draft', 'human'), ['submitted']);
    assert.deepEqual(legalSteps('draft', 'model'), ['submitted', 'approved', 'rejected']);
    assert.deepEqual(legalSteps('submitted'), ['draft', 'reviewed', 'rejected']);
    assert.deepEqual(legalSteps('approved'), []);
    assert.deepEqual(legalSteps('rejected'), ['draft']);
  });

  test('an annotator submits, withdraws and reworks their own work, and decides nothing', () => {
    const own = (status) => feature({ status, author: 'anna', provenance: 'human' });
    assert.deepEqual(labels(allowedSteps(own('draft'), 'annotator', 'anna')), ['Submit→submitted']);
    assert.deepEqual(labels(allowedSteps(own('submitted'), 'annotator', 'anna')), ['Withdraw→draft']);
    assert.deepEqual(labels(allowedSteps(own('rejected'), 'annotator', 'anna')), ['Rework→draft']);
    assert.deepEqual(allowedSteps(own('reviewed'), 'annotator', 'anna'), []);
    assert.deepEqual(allowedSteps(feature({ status: 'draft', author: 'bob' }), 'annotator', 'anna'), []);
    assert.deepEqual(allowedSteps(feature({ status: 'draft', provenance: 'model', author: 'cellnet' }), 'annotator', 'anna'), []);
    assert.deepEqual(allowedSteps(own('draft'), 'viewer', 'anna'), []);
  });

  test('a reviewer sees the decisions', () => {
    const theirs = (status, provenance = 'human') => feature({ status, author: 'anna', provenance });
    assert.deepEqual(labels(allowedSteps(theirs('submitted'), 'reviewer', 'rex')), ['Mark reviewed→reviewed', 'Reject→rejected']);
    assert.deepEqual(labels(allowedSteps(theirs('reviewed'), 'reviewer', 'rex')), ['Approve→approved', 'Reject→rejected']);
    assert.deepEqual(labels(allowedSteps(theirs('draft', 'model'), 'reviewer', 'rex')), ['Approve→approved', 'Reject→rejected']);
    assert.deepEqual(allowedSteps(theirs('approved'), 'reviewer', 'rex'), []);
  });

  test('comments and edits follow the server\'s guards', () => {
    const anna = feature({ author: 'anna', provenance: 'human' });
    const model = feature({ author: 'cellnet', provenance: 'model' });
    assert.ok(mayComment(anna, 'annotator', 'anna'));
    assert.ok(!mayComment(anna, 'annotator', 'bob'));
    assert.ok(mayComment(model, 'annotator', 'bob'));
    assert.ok(mayComment(anna, 'reviewer', 'rex'));
    assert.ok(!mayComment(anna, 'viewer', 'anna'));
    assert.ok(mayEdit(anna, 'annotator', 'anna'));
    assert.ok(!mayEdit(anna, 'reviewer', 'rex'));
    assert.ok(mayEdit(anna, 'admin', 'root'));
  });

  test('the role on a slide: single-user is an admin', () => {
    assert.deepEqual(slideRole({ single_user: true, user: null, grants: [] }, null), { user: 'local', role: 'admin' });
    const session = { user: 'anna', grants: [{ project: 'study', role: 'annotator' }, { project: null, role: 'viewer' }] };
    assert.deepEqual(slideRole(session, 'study'), { user: 'anna', role: 'annotator' });
    assert.deepEqual(slideRole(session, 'other'), { user: 'anna', role: 'viewer' });
  });
});

describe('status styles', () => {
  test('a model\'s draft is a pre-label; anything else is styled by its status', () => {
    assert.equal(styleKey('draft', 'model'), 'prelabel');
    assert.equal(styleKey(0, 1), 'prelabel');
    assert.equal(styleKey('draft', 'model-edited'), 'draft');
    assert.equal(styleKey('approved', 'model'), 'approved');
    assert.equal(styleKey(3, 0), 'approved');
    for (const key of STYLE_KEYS) assert.ok(STATUS_STYLES[key].label && STATUS_STYLES[key].description);
    assert.ok(STATUS_STYLES.draft.dash && !STATUS_STYLES.approved.dash);
    assert.ok(STATUS_STYLES.approved.width > STATUS_STYLES.submitted.width);
  });

  test('draw groups split by class and style', () => {
    const square = (id, cls, status, provenance) => ({
      id,
      geometry: { type: 'Polygon', coordinates: [[[0, 0], [5, 0], [5, 5], [0, 0]]] },
      properties: { classification: { name: cls, color: [1, 2, 3] }, status, provenance },
    });
    const batch = batchFromFeatures([square('a', 'T', 'draft', 'human'), square('b', 'T', 'approved', 'human'), square('c', 'T', 'draft', 'model'), square('d', 'T', 'approved', 'human')]);
    assert.deepEqual(batch.styles, ['draft', 'approved', 'prelabel', 'approved']);
    assert.deepEqual([...batch.provenances], [0, 0, 1, 0]);
    const groups = buildIndices(batch).groups.map((g) => `${g.name}/${g.style}/${g.lines[1] / 2}`);
    assert.deepEqual(groups, ['T/draft/3', 'T/approved/6', 'T/prelabel/3']);
  });
});

describe('measures, table, history', () => {
  const slide = { mpp_x: 0.5, mpp_y: 0.5 };
  test('areas subtract holes and convert to µm²', () => {
    const ring = (x, y, s) => [[x, y], [x + s, y], [x + s, y + s], [x, y + s], [x, y]];
    const g = { type: 'Polygon', coordinates: [ring(0, 0, 10), ring(2, 2, 2)] };
    assert.equal(areaPx(g), 96);
    assert.equal(areaUm2(g, slide), 24);
    assert.equal(formatArea(g, slide), '24 µm²');
    assert.equal(areaUm2(g, {}), null);
    assert.equal(areaPx({ type: 'Point', coordinates: [1, 1] }), 0);
  });

  test('table rows sort by any column, both ways, ties by id', () => {
    const rows = [
      tableRow({ id: 'b', geometry: { type: 'Polygon', coordinates: [[[0, 0], [4, 0], [4, 4], [0, 0]]] }, properties: { classification: { name: 'T' }, status: 'draft' } }, slide),
      tableRow({ id: 'a', geometry: { type: 'Polygon', coordinates: [[[0, 0], [8, 0], [8, 8], [0, 0]]] }, properties: { classification: { name: 'S' }, provenance: 'model', model: { name: 'net', version: '2' }, confidence: 0.5 } }, slide),
      tableRow({ id: 'c', geometry: { type: 'Polygon', coordinates: [[[0, 0], [4, 0], [4, 4], [0, 0]]] }, properties: { classification: { name: 'T' }, status: 'approved' } }, slide),
    ];
    assert.equal(rows[1].origin, 'model (net 2)');
    assert.equal(rows[1].confidence, 0.5);
    assert.equal(rows[1].area, 8);
    assert.deepEqual(sortRows(rows, 'area', true).map((r) => r.id), ['a', 'b', 'c']);
    assert.deepEqual(sortRows(rows, 'area', false).map((r) => r.id), ['b', 'c', 'a']);
    assert.deepEqual(sortRows(rows, 'class', false).map((r) => r.id), ['a', 'b', 'c']);
    assert.deepEqual(sortRows(rows, 'status', false).map((r) => r.id), ['c', 'a', 'b']);
  });

  test('history entries read as steps, and the last comment is found', () => {
    const entries = [
      { kind: 'create', author: 'anna' },
      { kind: 'review', author: 'anna', detail: { from: 'draft', to: 'submitted', comment: null } },
      { kind: 'review', author: 'rex', detail: { from: 'submitted', to: 'rejected', comment: 'misses the lower gland' } },
      { kind: 'review', author: 'anna', detail: { from: 'rejected', to: 'draft', comment: null } },
      { kind: 'comment', author: 'anna', detail: { comment: 'fixed' }, undone: false },
    ];
    assert.deepEqual(entries.map(historyText), ['created', 'submitted (draft → submitted)', 'rejected (submitted → rejected)', 'reworked (rejected → draft)', 'commented']);
    assert.equal(lastComment(entries).detail.comment, 'fixed');
    assert.equal(lastComment(entries.slice(0, 4)).author, 'rex');
    assert.equal(lastComment(entries.slice(0, 2)), null);
  });

  test('kept image adjustments are checked before use', () => {
    const good = { brightness: 0.1, contrast: 1.2, gamma: 1, black: [0, 0, 0], white: [255, 250, 255] };
    assert.deepEqual(restoredSettings(JSON.stringify(good)), good);
    assert.equal(restoredSettings(JSON.stringify({ ...good, gamma: 99 })), null);
    assert.equal(restoredSettings('not json'), null);
    assert.equal(restoredSettings(null), null);
  });

  test('the keyboard help lists the drawing keys and the page\'s own', () => {
    const keys = helpRows().map(([k]) => k);
    for (const k of ['s', 'p', 'Ctrl+z', 'a', 't', '?', '1…9']) assert.ok(keys.includes(k), k);
  });
});
