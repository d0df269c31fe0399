// Browser test of the annotation table on the demo slide's 1.2 M cells (issue 29): on a
// view of about 2 000 cells, the table filtered to one class and sorted by area lists only
// that class, largest first; a click on a row selects that cell (the Selected panel shows
// it) and centres the view on it. The time from choosing the class to the sorted rows
// being drawn is printed (not asserted: debug binary, shared machine); the bench
// benches/viewer/table-bench.mjs repeats it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, screenshot, startServer, waitFullyLoaded } from './harness.mjs';
import { DEMO_SLIDE_ID, demoDataDir } from './demo-data.mjs';
import { measureTable } from './table-timing.mjs';

/** A 20×-like field on tissue with cells of every class. */
const REGION = [20000, 15000, 2000, 1200];

describe('annotation table on the demo slide (1.2 M cells)', () => {
  let server;
  let browser;
  let page;
  const errors = [];

  before(async () => {
    const demo = await demoDataDir((line) => console.log(`# ${line}`));
    console.log(`# demo data: ${demo.builtMs === null ? 'cached slide' : `slide built in ${(demo.builtMs / 1000).toFixed(1)} s`}, cells imported in ${(demo.importMs / 1000).toFixed(1)} s`);
    server = await startServer({ dataDir: demo.dataDir, removeDataDir: true, logName: 'server-table.log', healthMs: 120000 });
    browser = await launchBrowser({ width: 1400, height: 900 });
    page = await browser.context.newPage();
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${server.base}/view/${DEMO_SLIDE_ID}?region=${REGION.join(',')}`);
    await waitFullyLoaded(page, 120000);
    await page.waitForFunction(() => window.tesseraOverlay?.stats.answers > 0, null, { timeout: 120000 });
  });

  after(async () => {
    await page?.close();
    await browser?.close();
    await server?.stop();
  });

  test('filtered to a class and sorted by area; a click selects and centres the cell', { timeout: 180000 }, async (t) => {
    // A warm-up pass (the server loads the slide's index on first use), then the measured one.
    await measureTable(page, 'Tumor');
    await page.locator('#table-class').selectOption('');
    const figures = await measureTable(page, 'Stroma');
    t.diagnostic(
      `table, class filter → sorted by area: ${figures.filterMs.toFixed(0)} ms for ${figures.rows} rows in view ` +
        `(server answer and parse ${figures.fetchMs.toFixed(0)} ms, sort ${figures.sortMs.toFixed(1)} ms); re-sort by a click ${figures.resortMs.toFixed(1)} ms`,
    );
    assert.ok(figures.rows > 100, `only ${figures.rows} Stroma cells in view`);
    assert.equal(figures.truncated, false);

    const rows = await page.locator('#table-body .table-row').evaluateAll((trs) =>
      trs.map((tr) => ({ id: tr.dataset.id, cls: tr.querySelector('[data-col="class"]').textContent, area: Number(tr.querySelector('[data-col="area"]').textContent.replace(/,/g, '')) })),
    );
    assert.ok(rows.length > 10);
    assert.ok(rows.every((r) => r.cls === 'Stroma'), 'a row of another class is listed');
    for (let i = 1; i < rows.length; i++) assert.ok(rows[i - 1].area >= rows[i].area, `not sorted by area at row ${i}`);
    await screenshot(page, 'table-stroma-by-area');

    // A click on the fourth row selects that cell and centres the view on it.
    const pick = rows[3];
    await page.locator(`#table-body .table-row[data-id="${pick.id}"]`).click();
    await page.waitForFunction((id) => window.tesseraTools.selected?.id === id, pick.id, { timeout: 10000 });
    await page.locator('#selection-class', { hasText: 'Stroma' }).waitFor({ timeout: 10000 });
    const feature = await (await fetch(`${server.base}/api/annotations/${pick.id}`)).json();
    const xs = feature.geometry.coordinates[0].map((p) => p[0]);
    const ys = feature.geometry.coordinates[0].map((p) => p[1]);
    const cx = (Math.min(...xs) + Math.max(...xs)) / 2;
    const cy = (Math.min(...ys) + Math.max(...ys)) / 2;
    await page.waitForFunction(
      ([x, y]) => {
        const v = window.tesseraViewer;
        const c = v.viewport.viewportToImageCoordinates(v.viewport.getCenter(true));
        return Math.abs(c.x - x) < 3 && Math.abs(c.y - y) < 3;
      },
      [cx, cy],
      { timeout: 10000 },
    );
    assert.deepEqual(await page.evaluate(() => window.tesseraOverlay.selection), [pick.id]);
    assert.equal(await page.locator(`#table-body .table-row.selected[data-id="${pick.id}"]`).count(), 1);
    await waitFullyLoaded(page, 60000);
    await screenshot(page, 'table-picked');
  });

  test('no uncaught errors in the page', () => assert.deepEqual(errors, []));
});
