// Browser bench of the annotation table on the demo slide (~1.2 M cells). Run by hand:
//
//   cd viewer && node ../benches/viewer/table-bench.mjs
//
// It reports, it does not assert. For views of three sizes it opens the table sorted by
// area and times, in the page, the choice of a class in the table's filter until the
// filtered rows are drawn largest first (server query, JSON parse, areas, sort, DOM), and
// a re-sort by a click on a column, RUNS times each (alternating Stroma and Lymphocyte).
// Environment: TESSERA_BIN (default ../target/debug/tessera), TESSERA_URL (a running
// server that has the demo slide), BENCH_TABLE_RUNS (default 10), CHROMIUM.
import { launchBrowser, startServer, waitFullyLoaded } from '../../viewer/tests/harness.mjs';
import { DEMO_SLIDE_ID, demoDataDir } from '../../viewer/tests/demo-data.mjs';
import { measureTable } from '../../viewer/tests/table-timing.mjs';

const RUNS = Number(process.env.BENCH_TABLE_RUNS ?? 10);
const VIEWS = [
  ['1280×800 px (1:1 on a 1280-px-wide viewer)', [20000, 15000, 1280, 800]],
  ['2000×1200 px (the test\'s view)', [20000, 15000, 2000, 1200]],
  ['4000×2400 px', [19000, 14000, 4000, 2400]],
];

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
function summary(values) {
  const s = [...values].sort((a, b) => a - b);
  return `median ${quantile(s, 0.5).toFixed(0)} ms, p95 ${quantile(s, 0.95).toFixed(0)} ms, max ${s.at(-1).toFixed(0)} ms`;
}

let server;
if (process.env.TESSERA_URL) {
  server = await startServer();
} else {
  const demo = await demoDataDir((line) => console.log(line));
  server = await startServer({ dataDir: demo.dataDir, removeDataDir: true, logName: 'server-table-bench.log', healthMs: 120000 });
}
const browser = await launchBrowser({ width: 1400, height: 900 });
try {
  const page = await browser.context.newPage();
  console.log(`# Annotation table on ${DEMO_SLIDE_ID}: class filter → sorted by area, ${RUNS} runs per view`);
  for (const [name, region] of VIEWS) {
    await page.goto(`${server.base}/view/${DEMO_SLIDE_ID}?region=${region.join(',')}`);
    await waitFullyLoaded(page, 120000);
    await page.waitForFunction(() => window.tesseraOverlay?.stats.answers > 0, null, { timeout: 120000 });
    await measureTable(page, 'Lymphocyte'); // warm-up
    const filter = [];
    const fetchMs = [];
    const resort = [];
    let rows = 0;
    for (let i = 0; i < RUNS; i++) {
      const f = await measureTable(page, i % 2 ? 'Lymphocyte' : 'Stroma');
      filter.push(f.filterMs);
      fetchMs.push(f.fetchMs);
      resort.push(f.resortMs);
      rows = Math.max(rows, f.rows);
    }
    console.log(`${name}: up to ${rows} rows of a class`);
    console.log(`  class filter → sorted rows drawn: ${summary(filter)}`);
    console.log(`  of which server answer + parse:  ${summary(fetchMs)}`);
    console.log(`  re-sort by a column click:        ${summary(resort)}`);
  }
} finally {
  await browser.close();
  await server.stop();
}
