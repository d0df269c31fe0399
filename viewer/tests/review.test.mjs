// Browser test of the review panel on CMU-1-Small-Region with eight imported squares:
// listing what is in view with filters, accepting and rejecting one or many (the server
// must store the new status), a conflicting edit shown as an error, and "next
// unreviewed" moving the view to a draft. Screenshots: test-results/review-*.png.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SMALL, SMALL_SLIDE, SMALL_SLIDE_ID as SLIDE_ID, launchBrowser, missingSkip, nextFrames, screenshot, startServer, waitFullyLoaded } from './harness.mjs';

const skip = missingSkip([SMALL_SLIDE]);
const CLASSES = { Tumor: [200, 0, 0], Stroma: [150, 200, 150] };

/** Eight 100 px squares in two rows: Tumor on top, Stroma below. */
function squares() {
  const features = [];
  for (let i = 0; i < 8; i++) {
    const name = i < 4 ? 'Tumor' : 'Stroma';
    const x = 400 + (i % 4) * 300;
    const y = i < 4 ? 800 : 1600;
    features.push({
      type: 'Feature',
      geometry: { type: 'Polygon', coordinates: [[[x, y], [x + 100, y], [x + 100, y + 100], [x, y + 100], [x, y]]] },
      properties: { objectType: 'annotation', classification: { name, color: CLASSES[name] } },
    });
  }
  return { type: 'FeatureCollection', features };
}

describe('review panel', { skip }, () => {
  let server;
  let browser;
  let fixtureDir;
  let page;
  const errors = [];

  const api = async (url, options) => {
    const response = await fetch(`${server.base}${url}`, options);
    assert.ok(response.ok, `${url}: ${response.status} ${await response.clone().text()}`);
    return response.json();
  };
  const statusOf = async (id) => (await api(`/api/annotations/${id}`)).properties.status;
  const rows = () => page.locator('#review-list li');

  before(async () => {
    fixtureDir = await mkdtemp(path.join(os.tmpdir(), 'tessera-viewer-review-'));
    const file = path.join(fixtureDir, 'squares.geojson');
    await writeFile(file, JSON.stringify(squares()));
    server = await startServer({ slides: [SMALL], imports: [{ slideId: SLIDE_ID, file, layer: 'review' }], logName: 'server-review.log' });
    browser = await launchBrowser({ width: 1100, height: 760 });
    page = await browser.context.newPage();
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${server.base}/view/${SLIDE_ID}?region=300,700,1300,1100`);
    await waitFullyLoaded(page, 60000);
    await page.locator('#review-panel summary').click();
  });

  after(async () => {
    await page?.close();
    await browser?.close();
    await server?.stop();
    if (fixtureDir) await rm(fixtureDir, { recursive: true, force: true });
  });

  test('lists the drafts in view and filters by class', { timeout: 30000 }, async () => {
    await page.waitForFunction(() => document.querySelectorAll('#review-list li').length === 8, null, { timeout: 10000 });
    assert.match(await page.locator('#review-info').innerText(), /8 in view/);
    await page.locator('#review-class').selectOption('Stroma');
    await page.waitForFunction(() => document.querySelectorAll('#review-list li').length === 4);
    for (const text of await rows().allInnerTexts()) assert.match(text, /Stroma/);
    await page.locator('#review-class').selectOption('');
    await page.waitForFunction(() => document.querySelectorAll('#review-list li').length === 8);
  });

  test('accepting two and rejecting one stores their status', { timeout: 30000 }, async () => {
    const ids = await rows().evaluateAll((lis) => lis.map((li) => li.dataset.id));
    await rows().nth(0).locator('input[type=checkbox]').check();
    await rows().nth(1).locator('input[type=checkbox]').check();
    // Checked rows are highlighted in the overlay.
    assert.deepEqual((await page.evaluate(() => window.tesseraOverlay.selection)).sort(), [ids[0], ids[1]].sort());
    await nextFrames(page);
    await screenshot(page, 'review-selected');
    await page.locator('#review-accept').click();
    await page.locator('#review-message', { hasText: '2 approved' }).waitFor({ timeout: 10000 });
    assert.equal(await statusOf(ids[0]), 'approved');
    assert.equal(await statusOf(ids[1]), 'approved');
    // Only drafts are listed by default, so the two leave the list.
    await page.waitForFunction(() => document.querySelectorAll('#review-list li').length === 6);

    await page.locator(`#review-list li[data-id="${ids[2]}"] button[title="Reject"]`).click();
    await page.locator('#review-message', { hasText: '1 rejected' }).waitFor({ timeout: 10000 });
    assert.equal(await statusOf(ids[2]), 'rejected');
    await page.waitForFunction(() => document.querySelectorAll('#review-list li').length === 5);
    await page.locator('#review-status').selectOption('approved');
    await page.waitForFunction(() => document.querySelectorAll('#review-list li').length === 2);
    await screenshot(page, 'review-approved');
    await page.locator('#review-status').selectOption('draft');
    await page.waitForFunction(() => document.querySelectorAll('#review-list li').length === 5);
  });

  test('a conflicting edit is shown, not overwritten', { timeout: 30000 }, async () => {
    const id = await rows().nth(0).getAttribute('data-id');
    // Someone else changes it after the panel listed it.
    const feature = await api(`/api/annotations/${id}`);
    feature.properties.status = 'submitted';
    await api(`/api/annotations/${id}`, {
      method: 'PUT',
      headers: { 'if-match': String(feature.properties.version), 'x-tessera-user': 'someone-else' },
      body: JSON.stringify(feature),
    });
    await rows().nth(0).locator('button[title="Accept"]').click();
    const message = page.locator('#review-message.error-text');
    await message.waitFor({ timeout: 10000 });
    assert.match(await message.innerText(), /1 failed: PUT \/api\/annotations\/.*changed by someone else/);
    assert.match(await page.locator('#status.error').innerText(), /changed by someone else/);
    assert.equal(await statusOf(id), 'submitted', 'the other edit was overwritten');
    await screenshot(page, 'review-conflict');
  });

  test('next unreviewed jumps to a draft and selects it', { timeout: 30000 }, async () => {
    // Look elsewhere first, so the jump has to move the view.
    await page.evaluate(() => {
      const v = window.tesseraViewer;
      v.viewport.fitBounds(v.viewport.imageToViewportRectangle(1500, 2500, 400, 300), true);
    });
    await page.locator('#review-next').click();
    await page.locator('#review-message', { hasText: 'Showing the next draft' }).waitFor({ timeout: 10000 });
    const [selected] = await page.evaluate(() => window.tesseraOverlay.selection);
    assert.ok(selected, 'nothing selected');
    assert.equal(await statusOf(selected), 'draft');
    const feature = await api(`/api/annotations/${selected}`);
    const [[x0, y0], , [x1, y1]] = feature.geometry.coordinates[0];
    await page.waitForFunction(
      ([cx, cy]) => {
        const v = window.tesseraViewer;
        const c = v.viewport.viewportToImageCoordinates(v.viewport.getCenter(true));
        return Math.abs(c.x - cx) < 5 && Math.abs(c.y - cy) < 5;
      },
      [(x0 + x1) / 2, (y0 + y1) / 2],
      { timeout: 10000 },
    );
    await waitFullyLoaded(page, 60000);
    await screenshot(page, 'review-next');
    // The next press moves on to another draft.
    await page.locator('#review-next').click();
    await page.waitForFunction((first) => {
      const [id] = window.tesseraOverlay.selection;
      return id && id !== first;
    }, selected);
  });

  test('no uncaught errors in the page', () => assert.deepEqual(errors, []));
});
