// Browser tests of the drawing tools against the real server on the small CMU slide: shapes
// drawn with real mouse events and keys are stored on the server, come back after a
// reload (a ruler measurement is not stored), undo and redo change the server's state, a
// failed save keeps the shape and says why until the server takes it, and a conflict
// offers a choice. Screenshots go to viewer/test-results/tools-*.png.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import polygonClipping from 'polygon-clipping';
import {
  SMALL, SMALL_SLIDE, SMALL_SLIDE_ID as SLIDE_ID, launchBrowser, measurePng, missingSkip, openPage as openPageIn,
  screenshot, startServer, waitFullyLoaded,
} from './harness.mjs';

// The page loads polygon-clipping as a classic script; here the package stands in for it.
globalThis.polygonClipping = polygonClipping;
const shapes = await import('../static/shapes.js');

const skip = missingSkip([SMALL_SLIDE]);
/** A view of the upper middle of the slide, where there is tissue and room to draw. */
const REGION = '300,300,1200,900';
/** Software WebGL on a shared 2-core machine can be slow to settle; generous, not a speed bar. */
const LOAD_MS = 60000;

describe('drawing tools in Chromium', { skip }, () => {
  let server;
  let browser;
  let base;

  before(async () => {
    server = await startServer({ slides: [SMALL], logName: 'tools-server.log' });
    base = server.base;
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  /** JSON from the API (as another client would see it): { status, body }. */
  async function api(path, init = {}) {
    const response = await fetch(`${base}${path}`, init);
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : null };
  }

  /** Every annotation on the slide, as GeoJSON Features. */
  async function stored() {
    const { status, body } = await api(`/api/slides/${SLIDE_ID}/annotations?format=geojson`);
    assert.equal(status, 200);
    return body.features;
  }

  /** Opens the viewer on REGION with the overlay's first answer in. */
  async function openViewer(t) {
    const page = await openPageIn(browser.context, t);
    const start = Date.now();
    await page.goto(`${base}/view/${SLIDE_ID}?region=${REGION}`);
    await waitFullyLoaded(page, LOAD_MS);
    await page.waitForFunction(() => window.tesseraTools && window.tesseraOverlay?.stats.answers > 0, null, { timeout: LOAD_MS });
    t.diagnostic(`viewer ready in ${Date.now() - start} ms`);
    return page;
  }

  /** The viewer's centre in page pixels. */
  function centre(page) {
    return page.evaluate(() => {
      const r = window.tesseraViewer.element.getBoundingClientRect();
      return [r.x + r.width / 2, r.y + r.height / 2];
    });
  }

  /** Page pixels → level-0 image pixels. */
  function toImage(page, [x, y]) {
    return page.evaluate(([px, py]) => {
      const v = window.tesseraViewer;
      const r = v.element.getBoundingClientRect();
      const p = v.viewport.viewerElementToImageCoordinates(new window.OpenSeadragon.Point(px - r.x, py - r.y));
      return [p.x, p.y];
    }, [x, y]);
  }

  /** Waits until the save queue is empty (everything the page drew is on the server). */
  async function waitSaved(page, timeout = 10000) {
    await page.waitForFunction(() => window.tesseraTools.queue.ops.length === 0, null, { timeout });
  }

  /** Drags with the primary button in `steps` moves. */
  async function drag(page, from, to, steps = 12) {
    await page.mouse.move(...from);
    await page.mouse.down();
    await page.mouse.move(...to, { steps });
    await page.mouse.up();
  }

  /** The id of the annotation the overlay shows at a page point, or null. */
  async function overlayIdAt(page, point) {
    const [x, y] = await toImage(page, point);
    return page.evaluate(([ix, iy]) => window.tesseraOverlay.featureAt(ix, iy)?.id ?? null, [x, y]);
  }

  /** Mean colour of a 5×5 patch around each page point in a screenshot. */
  function patchColours(page, png, points) {
    const source = `(data, width) => ${JSON.stringify(points)}.map(([x, y]) => {
      const sum = [0, 0, 0];
      for (let dy = -2; dy <= 2; dy++) for (let dx = -2; dx <= 2; dx++) {
        const i = ((Math.round(y) + dy) * width + Math.round(x) + dx) * 4;
        for (let c = 0; c < 3; c++) sum[c] += data[i + c];
      }
      return sum.map((s) => s / 25);
    })`;
    // measurePng sends the function as text; build it with the points baked in.
    const measure = new Function(`return ${source}`)();
    measure.toString = () => source;
    return measurePng(page, png, measure);
  }

  const colourDistance = (a, b) => Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);

  test('a polygon, a rectangle, a point and a brush stroke are stored and shown after a reload', { timeout: 90000 }, async (t) => {
    const page = await openViewer(t);
    const started = Date.now();
    const [cx, cy] = await centre(page);
    const blank = await page.screenshot();

    // Polygon by clicks, closed with Enter (class Tumor, key 1).
    await page.keyboard.press('1');
    await page.keyboard.press('p');
    const polygon = [[cx - 260, cy - 160], [cx - 140, cy - 180], [cx - 120, cy - 50], [cx - 250, cy - 40]];
    for (const p of polygon) await page.mouse.click(...p);
    await page.keyboard.press('Enter');
    // Rectangle by a drag (class Stroma, key 2).
    await page.keyboard.press('2');
    await page.keyboard.press('r');
    await drag(page, [cx + 40, cy - 180], [cx + 200, cy - 60]);
    // A point (class Immune cells, key 3).
    await page.keyboard.press('3');
    await page.keyboard.press('o');
    await page.mouse.click(cx - 200, cy + 120);
    // A brush stroke (class Necrosis, key 4) on nothing selected starts a new shape.
    await page.keyboard.press('4');
    await page.keyboard.press('b');
    const brushFrom = [cx + 20, cy + 100];
    const brushTo = [cx + 220, cy + 140];
    await drag(page, brushFrom, brushTo, 20);
    // The new stroke stays selected: a crossing stroke adds to it, Alt+drag erases its tip.
    const brushMiddle = [(brushFrom[0] + brushTo[0]) / 2, (brushFrom[1] + brushTo[1]) / 2];
    const crossing = [[brushMiddle[0], brushMiddle[1] - 90], [brushMiddle[0], brushMiddle[1] + 60]];
    await drag(page, ...crossing, 15);
    await page.keyboard.down('Alt');
    await drag(page, [brushTo[0] - 8, brushTo[1]], [brushTo[0] + 40, brushTo[1]], 8);
    await page.keyboard.up('Alt');
    // A ruler measurement, shown in µm and not saved.
    await page.keyboard.press('m');
    const rulerFrom = [cx - 250, cy + 200];
    const rulerTo = [cx - 50, cy + 200];
    await drag(page, rulerFrom, rulerTo);
    const um = ((await toImage(page, rulerTo))[0] - (await toImage(page, rulerFrom))[0]) * 0.499;
    const label = await page.locator('.ruler-label').textContent();
    t.diagnostic(`ruler: ${label} (expected ${um.toFixed(1)} µm)`);
    assert.match(label, /^\d+(\.\d)? µm$/);
    assert.ok(Math.abs(parseFloat(label) - um) <= Math.max(1, um * 0.01), `ruler label ${label} vs ${um} µm`);
    await screenshot(page, 'tools-drawn');
    await waitSaved(page);
    t.diagnostic(`drawn and saved ${Date.now() - started} ms after the page was ready`);

    const features = await stored();
    assert.equal(features.length, 4, 'four shapes stored, the measurement not');
    t.diagnostic(`stored: ${features.map((f) => `${f.properties.classification.name} ${f.geometry.type}${f.properties.shape ? ` (${f.properties.shape})` : ''}`).join(', ')}`);
    const byClass = Object.fromEntries(features.map((f) => [f.properties.classification.name, f]));
    assert.deepEqual(Object.keys(byClass).sort(), ['Immune cells', 'Necrosis', 'Stroma', 'Tumor']);
    for (const f of features) {
      assert.equal(f.properties.layer, 'manual');
      assert.equal(f.properties.author, 'local');
    }
    const tumor = byClass.Tumor;
    assert.equal(tumor.geometry.type, 'Polygon');
    assert.equal(tumor.geometry.coordinates[0].length, 5, 'four clicked vertices, closed');
    const firstClick = await toImage(page, polygon[0]);
    assert.ok(Math.hypot(tumor.geometry.coordinates[0][0][0] - firstClick[0], tumor.geometry.coordinates[0][0][1] - firstClick[1]) < 3, 'the first vertex is where it was clicked');
    assert.equal(byClass.Stroma.geometry.type, 'Polygon');
    assert.equal(byClass.Stroma.properties.shape, 'rectangle');
    assert.equal(byClass['Immune cells'].geometry.type, 'Point');
    const necrosis = byClass.Necrosis.geometry;
    assert.equal(necrosis.type, 'Polygon');
    const covers = async (point) => shapes.hits(necrosis, await toImage(page, point), 0);
    assert.ok(await covers(brushFrom), 'the stroke covers where it started');
    assert.ok(await covers(brushMiddle), 'the stroke covers its path');
    assert.ok(await covers([brushFrom[0] + 10, brushFrom[1] - 18]), 'the stroke has the brush width');
    assert.ok(await covers([crossing[0][0], crossing[0][1] + 5]), 'the crossing stroke was added');
    assert.ok(!(await covers(brushTo)), 'the erased tip is gone');

    // Reload: nothing comes from this page's memory now, all from the server.
    await page.reload();
    await waitFullyLoaded(page, LOAD_MS);
    await page.waitForFunction(() => window.tesseraOverlay.stats.answers > 0 && window.tesseraOverlay.stats.lastCount >= 4, null, { timeout: 10000 });
    await new Promise((r) => setTimeout(r, 300));
    const reloaded = await page.screenshot();
    await screenshot(page, 'tools-reloaded');
    assert.equal(await page.evaluate(() => window.tesseraTools.queue.restored), 0, 'nothing was left unsaved');

    const places = {
      Tumor: [cx - 190, cy - 110],
      Stroma: [cx + 120, cy - 120],
      'Immune cells': [cx - 200, cy + 120],
      Necrosis: [(brushFrom[0] + brushTo[0]) / 2, (brushFrom[1] + brushTo[1]) / 2],
    };
    const before = await patchColours(page, blank, Object.values(places));
    const afterReload = await patchColours(page, reloaded, Object.values(places));
    Object.keys(places).forEach((name, i) => {
      const change = colourDistance(before[i], afterReload[i]);
      t.diagnostic(`${name}: colour at its place ${before[i].map(Math.round)} → ${afterReload[i].map(Math.round)} (distance ${change.toFixed(1)})`);
      assert.ok(change > 20, `the ${name} annotation is not drawn at its place after the reload`);
    });
    for (const [name, point] of Object.entries(places)) {
      assert.equal(await overlayIdAt(page, point), byClass[name].id, `the overlay has no ${name} at its place`);
    }
  });

  test('undo and redo change the server for create, edit and delete', { timeout: 90000 }, async (t) => {
    const page = await openViewer(t);
    const [cx, cy] = await centre(page);
    const one = async (id) => (await api(`/api/annotations/${id}`)).status;

    await page.keyboard.press('5');
    await page.keyboard.press('r');
    await drag(page, [cx - 60, cy + 180], [cx + 60, cy + 260]);
    await waitSaved(page);
    const created = (await stored()).find((f) => f.properties.classification.name === 'Other');
    assert.ok(created, 'the rectangle was stored');
    const id = created.id;

    // Create: undo removes it from the server, redo stores it again (same id).
    await undoKey(page);
    assert.equal(await one(id), 404, 'undo of a create removes it');
    await page.keyboard.press('Control+Shift+z');
    await waitSaved(page);
    assert.equal(await one(id), 200, 'redo stores it again');

    // Edit: select it, drag its first vertex; undo restores the old corner, redo the new.
    await page.keyboard.press('s');
    const inside = [cx, cy + 220];
    await page.mouse.click(...inside);
    await page.waitForFunction((want) => window.tesseraTools.selected?.id === want, id, { timeout: 10000 });
    const corner = created.geometry.coordinates[0][0];
    const cornerOnPage = await page.evaluate(([x, y]) => {
      const v = window.tesseraViewer;
      const r = v.element.getBoundingClientRect();
      const p = v.viewport.imageToViewerElementCoordinates(new window.OpenSeadragon.Point(x, y));
      return [r.x + p.x, r.y + p.y];
    }, corner);
    await screenshot(page, 'tools-selected');
    await drag(page, cornerOnPage, [cornerOnPage[0] - 40, cornerOnPage[1] - 30]);
    await waitSaved(page);
    const edited = (await api(`/api/annotations/${id}`)).body;
    const movedCorner = edited.geometry.coordinates[0][0];
    t.diagnostic(`corner ${corner} → ${movedCorner}, version ${edited.properties.version}`);
    assert.ok(movedCorner[0] < corner[0] - 20 && movedCorner[1] < corner[1] - 15, 'the dragged vertex moved on the server');
    assert.equal(edited.properties.shape, undefined, 'a reshaped rectangle is no longer hinted as one');
    await page.keyboard.press('Escape');
    await undoKey(page);
    assert.deepEqual((await api(`/api/annotations/${id}`)).body.geometry.coordinates[0][0], corner, 'undo restores the corner');
    await page.keyboard.press('Control+Shift+z');
    await waitSaved(page);
    assert.deepEqual((await api(`/api/annotations/${id}`)).body.geometry.coordinates[0][0], movedCorner, 'redo moves it again');

    // Delete: Delete removes it, undo brings it back, redo removes it again.
    await page.mouse.click(...inside);
    await page.waitForFunction((want) => window.tesseraTools.selected?.id === want, id, { timeout: 10000 });
    await page.keyboard.press('Delete');
    await waitSaved(page);
    assert.equal(await one(id), 404, 'Delete removes it on the server');
    await undoKey(page);
    assert.equal(await one(id), 200, 'undo of a delete restores it');
    await page.keyboard.press('Control+Shift+z');
    await waitSaved(page);
    assert.equal(await one(id), 404, 'redo deletes it again');
    await screenshot(page, 'tools-undo-redo');
  });

  test('a failed save keeps the shape, says why, and is saved once the server answers', { timeout: 90000 }, async (t) => {
    const page = await openViewer(t);
    const [cx, cy] = await centre(page);
    // Creating annotations fails with 503 until unrouted; everything else passes.
    const failCreates = (route) =>
      route.request().method() === 'POST' && /\/annotations\?layer=/.test(route.request().url())
        ? route.fulfill({ status: 503, contentType: 'application/json', body: '{"error":"injected outage"}' })
        : route.continue();
    await page.route('**/api/slides/*/annotations?*', failCreates);

    const countBefore = (await stored()).length;
    await page.keyboard.press('6');
    await page.keyboard.press('i');
    const from = [cx + 150, cy + 60];
    const to = [cx + 300, cy + 180];
    await drag(page, from, to);
    const status = page.locator('#save-status');
    await page.waitForFunction(() => document.getElementById('save-status').dataset.state === 'retrying', null, { timeout: 10000 });
    const message = await status.innerText();
    t.diagnostic(`save status while failing: ${message.replace(/\s+/g, ' ')}`);
    assert.match(message, /Not saved \(1 edit\): POST \/api\/slides\/small-region\/annotations\?layer=manual → 503 injected outage/);
    assert.match(message, /Kept in this browser/);
    const middle = [(from[0] + to[0]) / 2, (from[1] + to[1]) / 2];
    const localId = await overlayIdAt(page, middle);
    assert.ok(localId, 'the unsaved ellipse is still shown');
    assert.equal(await page.locator('.draw-layer .unsaved').count(), 1, 'the unsaved ellipse is marked');
    await screenshot(page, 'tools-save-failed');
    assert.equal((await stored()).length, countBefore, 'nothing reached the server');

    // A reload while the server still fails: the edit comes back from localStorage.
    await page.reload();
    await waitFullyLoaded(page, LOAD_MS);
    await page.waitForFunction(() => window.tesseraTools?.queue.restored === 1, null, { timeout: 10000 });
    assert.match(await page.locator('#tool-hint').innerText(), /Restored 1 unsaved edit/);
    await page.waitForFunction(() => document.getElementById('save-status').dataset.state === 'retrying', null, { timeout: 10000 });
    await page.waitForFunction(() => window.tesseraOverlay.stats.answers > 0, null, { timeout: 10000 });
    assert.equal(await overlayIdAt(page, middle), localId, 'the restored ellipse is shown after the reload');
    await screenshot(page, 'tools-save-restored');

    // The server answers again once "Retry now" is pressed, and that press saves it. The
    // outage lasts until the click so that the queue's own backoff retry cannot save it first
    // and take the button away from under the pointer.
    await page.evaluate(() => {
      document.getElementById('save-status').addEventListener('click', (e) => {
        if (e.target.textContent === 'Retry now') window.retryPressed = true;
      }, true);
    });
    const failUntilPressed = async (route) =>
      (await page.evaluate(() => window.retryPressed === true)) ? route.continue() : failCreates(route);
    await page.route('**/api/slides/*/annotations?*', failUntilPressed);
    await page.unroute('**/api/slides/*/annotations?*', failCreates);
    await status.getByRole('button', { name: 'Retry now' }).click();
    await waitSaved(page);
    await page.waitForFunction(() => document.getElementById('save-status').dataset.state === 'saved');
    assert.equal(await page.locator('.draw-layer .unsaved').count(), 0, 'no longer marked once saved');
    const saved = (await api(`/api/annotations/${localId}`)).body;
    assert.equal(saved.properties.classification.name, 'Region*');
    assert.equal(saved.properties.shape, 'ellipse');
    assert.equal((await stored()).length, countBefore + 1);
    assert.equal(await page.evaluate((slide) => localStorage.getItem(`tessera.unsaved.${slide}`), SLIDE_ID), null, 'the local copy is gone once saved');
  });

  test('an edit on a stale version shows the conflict and can overwrite theirs', { timeout: 60000 }, async (t) => {
    const page = await openViewer(t);
    const [cx, cy] = await centre(page);
    await page.keyboard.press('7');
    await page.keyboard.press('r');
    await drag(page, [cx - 300, cy + 60], [cx - 200, cy + 140]);
    await waitSaved(page);
    const mine = (await stored()).find((f) => f.properties.classification.name === 'Ignore*');
    await page.keyboard.press('s');
    await page.mouse.click(cx - 250, cy + 100);
    await page.waitForFunction((want) => window.tesseraTools.selected?.id === want, mine.id, { timeout: 10000 });

    // Someone else changes its class meanwhile.
    const theirs = { ...mine, properties: { ...mine.properties, classification: { name: 'Stroma', color: [150, 200, 150] } } };
    const put = await api(`/api/annotations/${mine.id}`, {
      method: 'PUT',
      headers: { 'if-match': '"1"', 'x-tessera-user': 'ana', 'content-type': 'application/geo+json' },
      body: JSON.stringify(theirs),
    });
    assert.equal(put.status, 200);

    // We apply another class to our (stale) copy.
    await page.keyboard.press('9');
    await page.locator('.apply-class').click();
    await page.waitForFunction(() => document.getElementById('save-status').dataset.state === 'conflict', null, { timeout: 10000 });
    const message = await page.locator('#save-status').innerText();
    t.diagnostic(`conflict status: ${message.replace(/\s+/g, ' ')}`);
    assert.match(message, /Conflict on .*changed on the server \(now version 2, by ana at \d\d:\d\d\) since version 1/);
    await screenshot(page, 'tools-conflict');
    await page.locator('#save-status').getByRole('button', { name: 'Overwrite with mine' }).click();
    await waitSaved(page);
    const now = (await api(`/api/annotations/${mine.id}`)).body;
    assert.equal(now.properties.classification.name, 'Negative');
    assert.equal(now.properties.version, 3);
  });
});

/** Ctrl+Z, then waits until the page has the server's answer (the change can be redone). */
async function undoKey(page) {
  await page.keyboard.press('Control+z');
  await page.waitForFunction(() => window.tesseraTools.undo.canRedo, null, { timeout: 10000 });
}
