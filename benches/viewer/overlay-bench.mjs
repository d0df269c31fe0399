// Browser bench of the annotation overlay on the demo slide (~1.2 M cells). Run by hand:
//
//   cd viewer && node ../benches/viewer/overlay-bench.mjs
//
// It reports, it does not assert. Figures:
//   - server: time of a viewport's annotation request (binary, lod=auto, budget 20000),
//     fetched from node over loopback, for full-resolution, mid-zoom and whole-slide boxes;
//   - browser: time from navigation start to the overlay's first frame with data, and to
//     OpenSeadragon's `open`, for each zoom;
//   - frame times while panning (requestAnimationFrame intervals over a scripted pan of
//     a few seconds) and the overlay's own draw time (CPU side of its WebGL calls).
// Headless Chromium here renders WebGL through SwiftShader (software), so browser figures
// are a floor for real GPUs, not a prediction.
//
// Environment: TESSERA_BIN (default ../target/debug/tessera; a release build gives the
// server figures the bar is about), TESSERA_URL (bench a running server that
// already has the demo slide), BENCH_PAN_SECONDS (default 4), CHROMIUM.
import { rm } from 'node:fs/promises';
import { launchBrowser, startServer, waitFullyLoaded } from '../../viewer/tests/harness.mjs';
import { DEMO_SLIDE_ID, demoDataDir } from '../../viewer/tests/demo-data.mjs';

const PAN_SECONDS = Number(process.env.BENCH_PAN_SECONDS ?? 4);
const VIEWS = [
  { name: 'full resolution (1:1)', region: [20000, 15000, 1280, 800] },
  { name: 'mid zoom (centroids)', region: [16000, 12000, 9000, 5600] },
  { name: 'whole slide (density)', region: null },
];

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
const ms = (v) => `${v.toFixed(1)} ms`;
function summary(values) {
  const s = [...values].sort((a, b) => a - b);
  return `median ${ms(quantile(s, 0.5))}, p95 ${ms(quantile(s, 0.95))}, max ${ms(s[s.length - 1])} (n=${s.length})`;
}

async function serverTimes(base) {
  console.log('\n## Server: one viewport request (node fetch over loopback, 30 runs after 3 warm-ups)');
  const boxes = [
    ['1280×800 at 1:1', '20000,15000,1280,800'],
    ['5120×3200 (4:1 out)', '20000,15000,5120,3200'],
    ['9000×5600 (mid zoom)', '16000,12000,9000,5600'],
    ['whole slide', '0,0,48000,36000'],
  ];
  for (const [name, bbox] of boxes) {
    const url = `${base}/api/slides/${DEMO_SLIDE_ID}/annotations?bbox=${bbox}&format=binary&lod=auto&budget=20000`;
    const times = [];
    let lod;
    let count;
    let bytes;
    for (let i = 0; i < 33; i++) {
      const start = performance.now();
      const response = await fetch(url);
      const body = await response.arrayBuffer();
      if (i >= 3) times.push(performance.now() - start);
      lod = response.headers.get('x-tessera-lod');
      count = response.headers.get('x-tessera-count');
      bytes = body.byteLength;
    }
    console.log(`${name}: ${lod}, ${count} features, ${(bytes / 1024).toFixed(0)} KiB — ${summary(times)}`);
  }
}

async function benchView(context, base, view) {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.addInitScript(() => {
    window.addEventListener('DOMContentLoaded', () => {
      const poll = () => {
        const v = window.tesseraViewer;
        if (!v) return setTimeout(poll, 5);
        v.addOnceHandler('open', () => (window.benchOpenMs = performance.now()));
      };
      poll();
    });
  });
  const query = view.region ? `?region=${view.region.join(',')}` : '';
  await page.goto(`${base}/view/${DEMO_SLIDE_ID}${query}`);
  await page.waitForFunction(() => window.tesseraOverlay?.stats.firstFrameMs !== null, null, { timeout: 60000 });
  const first = await page.evaluate(() => ({ ...window.tesseraOverlay.stats, openMs: window.benchOpenMs ?? null }));
  await waitFullyLoaded(page, 120000);

  // Pan right and back in small steps, one per frame, recording frame intervals: once
  // with the overlay hidden (tiles alone), once shown, so its share is visible.
  const panOnce = (visible) =>
    page.evaluate(
      async ([seconds, show]) => {
        const v = window.tesseraViewer;
        const o = window.tesseraOverlay;
        o.setVisible(show);
        const before = { requests: o.stats.requests, aborted: o.stats.aborted };
        const intervals = [];
        const draws = [];
        const start = performance.now();
        let last = start;
        let step = 0;
        await new Promise((resolve) => {
          const frame = (now) => {
            intervals.push(now - last);
            last = now;
            if (show && o.stats.lastDrawMs !== null) draws.push(o.stats.lastDrawMs);
            const direction = Math.floor(step / 30) % 2 ? -1 : 1;
            v.viewport.panBy(new window.OpenSeadragon.Point(direction * 0.02 * v.viewport.getBounds().width, 0), true);
            step++;
            if (now - start < seconds * 1000) requestAnimationFrame(frame);
            else resolve();
          };
          requestAnimationFrame(frame);
        });
        o.setVisible(true);
        return { intervals: intervals.slice(1), draws, frames: intervals.length, requests: o.stats.requests - before.requests, aborted: o.stats.aborted - before.aborted };
      },
      [PAN_SECONDS, visible],
    );
  const hidden = await panOnce(false);
  const pan = await panOnce(true);
  await page.close();
  console.log(`\n## ${view.name}`);
  console.log(
    `first overlay frame ${ms(first.firstFrameMs)} after navigation start` +
      (first.openMs ? ` (OpenSeadragon open at ${ms(first.openMs)}, so ${ms(first.firstFrameMs - first.openMs)} after open)` : '') +
      `; answer: ${first.lastLod}, ${first.lastCount} features, ${(first.lastBytes / 1024).toFixed(0)} KiB, request+decode+upload ${ms(first.lastRequestMs)}`,
  );
  console.log(`panning ${PAN_SECONDS} s, overlay hidden: ${hidden.frames} frames; frame interval ${summary(hidden.intervals)}`);
  console.log(`panning ${PAN_SECONDS} s, overlay shown:  ${pan.frames} frames; frame interval ${summary(pan.intervals)}`);
  console.log(`overlay draw (CPU side) ${summary(pan.draws)}; requests during the pan ${pan.requests}, aborted ${pan.aborted}`);
  if (errors.length) console.log(`page errors: ${errors.join('; ')}`);
}

async function main() {
  let server;
  let dataDir;
  if (process.env.TESSERA_URL) {
    server = await startServer();
  } else {
    const demo = await demoDataDir((line) => console.log(line));
    dataDir = demo.dataDir;
    console.log(`demo cells imported in ${(demo.importMs / 1000).toFixed(1)} s`);
    server = await startServer({ dataDir, removeDataDir: true, logName: 'server-bench.log', healthMs: 120000 });
  }
  const browser = await launchBrowser();
  try {
    await serverTimes(server.base);
    for (const view of VIEWS) await benchView(browser.context, server.base, view);
  } finally {
    await browser.close();
    await server.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
