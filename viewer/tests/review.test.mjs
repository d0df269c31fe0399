// Browser test of the review panel on CMU-1-Small-Region with eight imported squares
// (status `submitted`) and four model pre-labels (drafts, provenance `model`): listing what
// awaits review in view with filters; Accept moving each one step (submitted → reviewed →
// approved) with a comment kept in the history, after a confirmation naming the count when
// more than one; Reject; an illegal step not offered (and skipped in bulk); a conflicting
// change shown with the server's reason; "next unreviewed" moving the view to submitted
// work, then to pending pre-labels; bulk decisions on pre-labels by confidence and class.
// Screenshots: test-results/review-*.png.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SMALL, SMALL_SLIDE, SMALL_SLIDE_ID as SLIDE_ID, launchBrowser, missingSkip, nextFrames, screenshot, startServer, waitFullyLoaded } from './harness.mjs';

const skip = missingSkip([SMALL_SLIDE]);
const CLASSES = { Tumor: [200, 0, 0], Stroma: [150, 200, 150] };
/** The view the tests look at (level-0 pixels): every square and pre-label is in it. */
const REGION = [300, 700, 1300, 1100];

function square(x, y, name, properties = {}) {
  return {
    type: 'Feature',
    geometry: { type: 'Polygon', coordinates: [[[x, y], [x + 100, y], [x + 100, y + 100], [x, y + 100], [x, y]]] },
    properties: { objectType: 'annotation', classification: { name, color: CLASSES[name] }, ...properties },
  };
}

/** Eight 100 px squares in two rows, submitted for review: Tumor on top, Stroma below. */
function squares() {
  const features = [];
  for (let i = 0; i < 8; i++) features.push(square(400 + (i % 4) * 300, i < 4 ? 800 : 1600, i < 4 ? 'Tumor' : 'Stroma', { status: 'submitted' }));
  return { type: 'FeatureCollection', features };
}

/** Four pre-labels between the rows (imported as a model's output, so drafts with provenance model). */
const PRE_LABELS = [['Tumor', 0.9], ['Stroma', 0.8], ['Tumor', 0.3], ['Stroma', 0.2]];
function preLabels() {
  return {
    type: 'FeatureCollection',
    features: PRE_LABELS.map(([name, confidence], i) => square(400 + i * 300, 1200, name, { confidence })),
  };
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
  const rowCount = (n) => page.waitForFunction((want) => document.querySelectorAll('#review-list li').length === want, n, { timeout: 10000 });
  const showRegion = async () => {
    await page.evaluate(([x, y, w, h]) => {
      const v = window.tesseraViewer;
      v.viewport.fitBounds(v.viewport.imageToViewportRectangle(x, y, w, h), true);
    }, REGION);
    await waitFullyLoaded(page, 60000);
  };

  before(async () => {
    fixtureDir = await mkdtemp(path.join(os.tmpdir(), 'tessera-viewer-review-'));
    const file = path.join(fixtureDir, 'squares.geojson');
    await writeFile(file, JSON.stringify(squares()));
    const model = path.join(fixtureDir, 'model.geojson');
    await writeFile(model, JSON.stringify(preLabels()));
    server = await startServer({
      slides: [SMALL],
      imports: [
        { slideId: SLIDE_ID, file, layer: 'review' },
        { slideId: SLIDE_ID, file: model, layer: 'model', args: ['--provenance', 'model', '--model', 'cellnet', '--model-version', '2.1'] },
      ],
      logName: 'server-review.log',
    });
    browser = await launchBrowser({ width: 1100, height: 760 });
    page = await browser.context.newPage();
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${server.base}/view/${SLIDE_ID}?region=${REGION.join(',')}`);
    await waitFullyLoaded(page, 60000);
    await page.locator('#review-panel summary').click();
  });

  after(async () => {
    await page?.close();
    await browser?.close();
    await server?.stop();
    if (fixtureDir) await rm(fixtureDir, { recursive: true, force: true });
  });

  test('lists what awaits review in view (submitted, by default) and filters by class', { timeout: 30000 }, async () => {
    assert.equal(await page.locator('#review-status').inputValue(), 'submitted');
    await rowCount(8);
    assert.match(await page.locator('#review-info').innerText(), /8 in view/);
    await page.locator('#review-class').selectOption('Stroma');
    await rowCount(4);
    for (const text of await rows().allInnerTexts()) assert.match(text, /Stroma/);
    await page.locator('#review-class').selectOption('');
    await rowCount(8);
  });

  test('accept moves one step at a time with the comment kept; reject rejects', { timeout: 40000 }, async () => {
    const ids = await rows().evaluateAll((lis) => lis.map((li) => li.dataset.id));
    await rows().nth(0).locator('input[type=checkbox]').check();
    await rows().nth(1).locator('input[type=checkbox]').check();
    // Checked rows are highlighted in the overlay.
    assert.deepEqual((await page.evaluate(() => window.tesseraOverlay.selection)).sort(), [ids[0], ids[1]].sort());
    await nextFrames(page);
    await screenshot(page, 'review-selected');
    await page.locator('#review-comment').fill('outline follows the gland');
    await page.locator('#review-accept').click();
    // Two at once: the count is confirmed first.
    assert.equal(await page.locator('#confirm-text').innerText(), 'Accept 2 annotations?');
    await page.locator('#confirm-ok').click();
    await page.locator('#review-message', { hasText: 'Accepted 2 (2 → reviewed)' }).waitFor({ timeout: 10000 });
    assert.equal(await statusOf(ids[0]), 'reviewed');
    assert.equal(await statusOf(ids[1]), 'reviewed');
    const { history } = await api(`/api/annotations/${ids[0]}/history`);
    assert.deepEqual(history.at(-1).detail, { from: 'submitted', to: 'reviewed', comment: 'outline follows the gland' });
    // The comment went with that decision; the box is empty for the next.
    assert.equal(await page.locator('#review-comment').inputValue(), '');
    // Only submitted work is listed by default, so the two leave the list.
    await rowCount(6);

    // Accept again: reviewed → approved.
    await page.locator('#review-comment').fill('');
    await page.locator('#review-status').selectOption('reviewed');
    await rowCount(2);
    await page.locator('#review-panel input[title="Select all listed"]').check();
    await page.locator('#review-accept').click();
    await page.locator('#confirm-ok').click();
    await page.locator('#review-message', { hasText: 'Accepted 2 (2 → approved)' }).waitFor({ timeout: 10000 });
    assert.equal(await statusOf(ids[0]), 'approved');
    assert.equal(await statusOf(ids[1]), 'approved');
    await rowCount(0);
    await page.locator('#review-status').selectOption('approved');
    await rowCount(2);
    await screenshot(page, 'review-approved');
    // Nothing is left to accept or reject on an approved annotation.
    assert.equal(await rows().nth(0).locator('button[data-action="accept"]').isDisabled(), true);
    assert.equal(await rows().nth(0).locator('button[data-action="reject"]').isDisabled(), true);

    await page.locator('#review-status').selectOption('submitted');
    await rowCount(6);
    await page.locator(`#review-list li[data-id="${ids[2]}"] button[data-action="reject"]`).click();
    await page.locator('#review-message', { hasText: 'Rejected 1 (1 → rejected)' }).waitFor({ timeout: 10000 });
    assert.equal(await statusOf(ids[2]), 'rejected');
    await rowCount(5);
  });

  test('an illegal step is not offered, and is refused with the server\'s reason when tried', { timeout: 30000 }, async () => {
    await page.locator('#review-status').selectOption('approved');
    await rowCount(2);
    const id = await rows().nth(0).getAttribute('data-id');
    assert.equal(await rows().nth(0).locator('button[data-action="reject"]').isDisabled(), true);
    // Checked and rejected in bulk anyway: the panel skips it rather than asking.
    await rows().nth(0).locator('input[type=checkbox]').check();
    await page.locator('#review-reject').click();
    await page.locator('#review-message', { hasText: 'Rejected 0, 1 skipped (already approved)' }).waitFor({ timeout: 10000 });
    assert.equal(await statusOf(id), 'approved');
    await rows().nth(0).locator('input[type=checkbox]').uncheck();
    await page.locator('#review-status').selectOption('submitted');
    await rowCount(5);
  });

  test('a conflicting change (someone else moved it first) is shown, not overwritten', { timeout: 30000 }, async () => {
    const id = await rows().nth(0).getAttribute('data-id');
    // Someone else reviews it after the panel listed it.
    const feature = await api(`/api/annotations/${id}`);
    await api(`/api/annotations/${id}/review`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'if-match': `"${feature.properties.version}"`, 'x-tessera-user': 'someone-else' },
      body: JSON.stringify({ status: 'reviewed' }),
    });
    await rows().nth(0).locator('button[data-action="accept"]').click();
    const message = page.locator('#review-message.error-text');
    await message.waitFor({ timeout: 10000 });
    assert.match(await message.innerText(), /1 failed: POST \/api\/annotations\/.*\/review: changed by someone else since you loaded it \(stale version/);
    assert.match(await page.locator('#status.error').innerText(), /changed by someone else/);
    const now = await api(`/api/annotations/${id}`);
    assert.equal(now.properties.status, 'reviewed');
    assert.equal(now.properties.version, feature.properties.version + 1, 'the other change was overwritten');
    await screenshot(page, 'review-conflict');
    await rowCount(4);
  });

  test('next unreviewed jumps to submitted work, then to pending pre-labels', { timeout: 60000 }, async () => {
    // Look elsewhere first, so the jump has to move the view.
    await page.evaluate(() => {
      const v = window.tesseraViewer;
      v.viewport.fitBounds(v.viewport.imageToViewportRectangle(1500, 2500, 400, 300), true);
    });
    await page.locator('#review-next').click();
    await page.locator('#review-message', { hasText: 'Showing the next submitted annotation' }).waitFor({ timeout: 10000 });
    const [selected] = await page.evaluate(() => window.tesseraOverlay.selection);
    assert.ok(selected, 'nothing selected');
    assert.equal(await statusOf(selected), 'submitted');
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

    // Four are still submitted; the fifth press moves on to a pre-label.
    const shown = [selected];
    for (let i = 1; i < 5; i++) {
      await page.locator('#review-next').click();
      await page.waitForFunction((previous) => {
        const [id] = window.tesseraOverlay.selection;
        return id && id !== previous;
      }, shown.at(-1));
      shown.push((await page.evaluate(() => window.tesseraOverlay.selection))[0]);
    }
    assert.equal(new Set(shown).size, 5);
    for (const id of shown.slice(0, 4)) assert.equal(await statusOf(id), 'submitted');
    await page.locator('#review-message', { hasText: 'Showing the next pending pre-label' }).waitFor({ timeout: 10000 });
    const preLabel = await api(`/api/annotations/${shown[4]}`);
    assert.equal(preLabel.properties.provenance, 'model');
    assert.equal(preLabel.properties.status, 'draft');
  });

  test('pre-labels in view are accepted and rejected by confidence and class', { timeout: 60000 }, async () => {
    await showRegion();
    await page.locator('#review-status').selectOption('draft');
    // The list reloads after the filter changes: wait for the drafts, not just for four rows.
    await page.waitForFunction(() => {
      const items = [...document.querySelectorAll('#review-list li')];
      return items.length === 4 && items.every((li) => li.innerText.includes('pre-label'));
    }, null, { timeout: 10000 });
    const byConfidence = async () => {
      const { features } = await api(`/api/slides/${SLIDE_ID}/annotations?layer=model`);
      return Object.fromEntries(features.map((f) => [f.properties.confidence.toFixed(1), f.properties.status]));
    };

    await page.locator('#prelabel-threshold').fill('0.5');
    await page.locator('#prelabel-class').selectOption('Tumor');
    assert.equal(await page.locator('#prelabel-accept').innerText(), 'Accept ≥ 0.5');
    await page.locator('#prelabel-accept').click();
    assert.equal(await page.locator('#confirm-text').innerText(), 'Accept 1 pre-label in view?');
    await page.locator('#confirm-ok').click();
    await page.locator('#prelabel-message', { hasText: 'Accepted 1 pre-label in view (→ approved)' }).waitFor({ timeout: 10000 });
    assert.deepEqual(await byConfidence(), { '0.9': 'approved', '0.8': 'draft', '0.3': 'draft', '0.2': 'draft' });

    await page.locator('#prelabel-class').selectOption('');
    await page.locator('#prelabel-accept').click();
    await page.locator('#confirm-ok').click();
    await page.locator('#prelabel-message', { hasText: 'Accepted 1 pre-label in view' }).waitFor({ timeout: 10000 });
    await page.locator('#prelabel-reject').click();
    assert.equal(await page.locator('#confirm-text').innerText(), 'Reject 2 pre-labels in view?');
    await page.locator('#confirm-ok').click();
    await page.locator('#prelabel-message', { hasText: 'Rejected 2 pre-labels in view (→ rejected)' }).waitFor({ timeout: 10000 });
    assert.deepEqual(await byConfidence(), { '0.9': 'approved', '0.8': 'approved', '0.3': 'rejected', '0.2': 'rejected' });
    await rowCount(0);
    await page.locator('#prelabel-accept').click();
    await page.locator('#prelabel-message', { hasText: 'No pending pre-labels in view match' }).waitFor({ timeout: 10000 });
    await screenshot(page, 'review-prelabels');
  });

  test('no uncaught errors in the page', () => assert.deepEqual(errors, []));
});
