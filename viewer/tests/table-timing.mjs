// The annotation table's figures on the demo slide, shared by tests/table.test.mjs (which
// prints them) and benches/viewer/table-bench.mjs (which repeats them): with the table
// open on a view, the time from choosing a class in its filter to the filtered rows being
// drawn sorted by area (server query + parse + area + sort + DOM), and the time of a
// re-sort by clicking a column. Measured in the page with performance.now().

/** Waits until the table has drawn an answer newer than `since` (its request count). */
export async function tableLoaded(page, since, timeout = 30000) {
  await page.waitForFunction((n) => Number(document.getElementById('table-drawer')?.dataset.loaded ?? 0) > n, since, { timeout });
}

/** The table's request count now. */
export const tableRequests = (page) => page.evaluate(() => window.tesseraTable.stats.requests);

/**
 * Opens the table (if closed) on the current view sorted by area (largest first), then
 * filters it to `className`. Resolves { filterMs, fetchMs, sortMs, rows, truncated,
 * resortMs } where filterMs is class choice → sorted rows drawn and resortMs a click on
 * "Area" (ascending) → rows drawn.
 */
export async function measureTable(page, className) {
  if (!(await page.evaluate(() => window.tesseraTable.open))) {
    const since = await tableRequests(page);
    await page.keyboard.press('t');
    await tableLoaded(page, since);
  }
  // Sorted by area, largest first (a click on "Area" sorts descending first).
  const order = await page.locator('#table-head button[data-sort="area"]').getAttribute('data-order');
  if (order !== 'desc') {
    await page.locator('#table-head button[data-sort="area"]').click();
    if ((await page.locator('#table-head button[data-sort="area"]').getAttribute('data-order')) !== 'desc') await page.locator('#table-head button[data-sort="area"]').click();
  }
  const since = await tableRequests(page);
  await page.locator('#table-class').selectOption(className);
  await tableLoaded(page, since);
  const s = await page.evaluate(() => ({ ...window.tesseraTable.stats }));
  await page.locator('#table-head button[data-sort="area"]').click(); // ascending
  const resortMs = await page.evaluate(() => window.tesseraTable.stats.lastMs);
  await page.locator('#table-head button[data-sort="area"]').click(); // back to largest first
  return { filterMs: s.lastMs, fetchMs: s.lastFetchMs, sortMs: s.lastSortMs, rows: s.rows, truncated: s.truncated, resortMs };
}
