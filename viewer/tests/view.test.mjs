// Browser test of the viewer against the real server: tiles CMU-1-Small-Region into a
// temporary directory, serves it with `tessera serve`, and drives Debian's Chromium
// through playwright-core. Screenshots go to viewer/test-results/.
//
// Environment:
//   TESSERA_BIN   the tessera binary (default ../target/debug/tessera, relative to viewer/)
//   TESSERA_URL   use an already running server instead of tiling and serving (development)
//   CHROMIUM      the browser (default /usr/bin/chromium)
//   CI=true       a missing test slide fails instead of skipping
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';

const viewerDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.resolve(viewerDir, process.env.TESSERA_BIN ?? '../target/debug/tessera');
const SLIDE = path.resolve(viewerDir, '../../shared/data/slides/CMU-1-Small-Region.svs');
const SLIDE_ID = 'CMU-1-Small-Region';
const RESULTS = path.join(viewerDir, 'test-results');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

// Without the slide: skip locally (the SKIP line gives the reason), but fail under CI,
// where it must be present.
const missing = !process.env.TESSERA_URL && !existsSync(SLIDE);
const skip = missing && process.env.CI !== 'true' ? `test slide not found: ${SLIDE}` : false;

/** A port that was free a moment ago: bind port 0, read the port, close. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Polls GET url until it answers 200, the process dies, or the deadline passes. */
async function waitHealthy(url, child, log, deadlineMs) {
  const deadline = Date.now() + deadlineMs;
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) {
      throw new Error(`tessera serve exited with ${child.exitCode}:\n${log.join('')}`);
    }
    try {
      const response = await fetch(url);
      if (response.status === 200) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} did not answer 200 within ${deadlineMs / 1000} s:\n${log.join('')}`);
}

/** Resolves once the viewer exists, has opened its image and loaded every tile it needs. */
async function waitFullyLoaded(page) {
  await page.waitForFunction(
    () => {
      const v = window.tesseraViewer;
      return v && v.world.getItemCount() > 0 && v.world.getItemAt(0).getFullyLoaded();
    },
    null,
    { timeout: 20000 },
  );
  // Let OpenSeadragon draw the frame that uses the last tiles.
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
}

/** The visible part of the image, in level-0 image pixels. */
function visibleImageRect(page) {
  return page.evaluate(() => {
    const v = window.tesseraViewer;
    const r = v.viewport.viewportToImageRectangle(v.viewport.getBounds(true));
    return { x: r.x, y: r.y, width: r.width, height: r.height };
  });
}

/** The ?region= of the page's URL as {x, y, width, height}, or null. */
function urlRegion(page) {
  const value = new URL(page.url()).searchParams.get('region');
  if (!value) return null;
  const [x, y, width, height] = value.split(',').map(Number);
  return { x, y, width, height };
}

/**
 * Fraction of an element's pixels that look like tissue rather than background: either
 * noticeably saturated (max - min channel > 25) or dark (max channel < 200). The PNG is
 * decoded by the browser itself, so the test needs no image library.
 */
async function tissueFraction(page, png) {
  return page.evaluate(async (b64) => {
    const img = new Image();
    img.src = `data:image/png;base64,${b64}`;
    await img.decode();
    const canvas = new OffscreenCanvas(img.width, img.height);
    const ctx = canvas.getContext('2d');
    ctx.drawImage(img, 0, 0);
    const { data } = ctx.getImageData(0, 0, img.width, img.height);
    let tissue = 0;
    for (let i = 0; i < data.length; i += 4) {
      const max = Math.max(data[i], data[i + 1], data[i + 2]);
      const min = Math.min(data[i], data[i + 1], data[i + 2]);
      if (max - min > 25 || max < 200) tissue++;
    }
    return tissue / (data.length / 4);
  }, png.toString('base64'));
}

describe('viewer in Chromium', { skip }, () => {
  let base;
  let server;
  let dataDir;
  let profileDir;
  let context;
  const serverLog = [];

  before(async () => {
    await mkdir(RESULTS, { recursive: true });
    if (process.env.TESSERA_URL) {
      base = process.env.TESSERA_URL.replace(/\/$/, '');
    } else {
      assert.ok(existsSync(SLIDE), `test slide missing (required under CI=true): ${SLIDE}`);
      assert.ok(existsSync(BIN), `no tessera binary at ${BIN}: run \`cargo build -p server\` or set TESSERA_BIN`);
      dataDir = await mkdtemp(path.join(os.tmpdir(), 'tessera-viewer-data-'));
      await promisify(execFile)(BIN, ['tile', SLIDE, '-o', dataDir], { timeout: 30000 });
      const port = await freePort();
      base = `http://127.0.0.1:${port}`;
      server = spawn(BIN, ['serve', '--data', dataDir, '--addr', `127.0.0.1:${port}`], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      server.stdout.on('data', (d) => serverLog.push(d.toString()));
      server.stderr.on('data', (d) => serverLog.push(d.toString()));
    }
    await waitHealthy(`${base}/healthz`, server, serverLog, 20000);

    profileDir = await mkdtemp(path.join(os.tmpdir(), 'tessera-viewer-chromium-'));
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1280, height: 800 },
    });
  });

  after(async () => {
    await context?.close();
    if (server && server.exitCode === null) {
      const exited = new Promise((r) => server.once('exit', r));
      server.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
      if (server.exitCode === null) server.kill('SIGKILL');
    }
    for (const dir of [dataDir, profileDir]) if (dir) await rm(dir, { recursive: true, force: true });
    if (serverLog.length) await writeFile(path.join(RESULTS, 'server.log'), serverLog.join(''));
  });

  /** A fresh page whose uncaught script errors fail the test. */
  async function openPage(t) {
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    t.after(async () => {
      await page.close();
      assert.deepEqual(errors, [], 'uncaught errors in the page');
    });
    return page;
  }

  test('the slide list links to the slide', { timeout: 30000 }, async (t) => {
    const page = await openPage(t);
    await page.goto(`${base}/`);
    const link = page.locator(`a[href="/view/${SLIDE_ID}"]`);
    await link.waitFor({ timeout: 10000 });
    assert.match(await link.innerText(), new RegExp(SLIDE_ID));
    assert.match(await link.innerText(), /2220 × 2967 px/);
    // The thumbnail must have loaded as an image.
    await page.waitForFunction(
      (id) => document.querySelector(`a[href="/view/${id}"] img`)?.naturalWidth > 0,
      SLIDE_ID,
      { timeout: 10000 },
    );
    await page.screenshot({ path: path.join(RESULTS, 'index.png') });
  });

  test('the viewer shows tissue', { timeout: 30000 }, async (t) => {
    const page = await openPage(t);
    await page.goto(`${base}/view/${SLIDE_ID}`);
    await waitFullyLoaded(page);
    await page.screenshot({ path: path.join(RESULTS, 'view.png') });
    // Judge only the part of the canvas where the slide is drawn (the home view leaves
    // margins beside a portrait slide).
    const clip = await page.evaluate(() => {
      const v = window.tesseraViewer;
      const r = v.viewport.viewportToViewerElementRectangle(v.world.getItemAt(0).getBounds(true));
      const box = v.element.getBoundingClientRect();
      const left = Math.max(r.x, 0);
      const top = Math.max(r.y, 0);
      const right = Math.min(r.x + r.width, box.width);
      const bottom = Math.min(r.y + r.height, box.height);
      return { x: box.x + left, y: box.y + top, width: right - left, height: bottom - top };
    });
    assert.ok(clip.width > 200 && clip.height > 200, `the slide is drawn only ${clip.width}×${clip.height} px`);
    const png = await page.screenshot({ clip });
    const fraction = await tissueFraction(page, png);
    t.diagnostic(`tissue fraction where the slide is drawn: ${fraction.toFixed(3)}`);
    assert.ok(fraction > 0.2, `only ${(fraction * 100).toFixed(1)}% of the slide's pixels look like tissue`);
    // The readouts are filled in from the slide's calibration (20×, 0.499 µm/px).
    assert.match(await page.locator('#magnification').innerText(), /^\d+(\.\d+)?×$/);
    assert.match(await page.locator('.scalebar-label').innerText(), /^\d+(\.\d+)? (µm|mm)$/);
  });

  test('?region= opens that region and the URL follows the view', { timeout: 30000 }, async (t) => {
    const page = await openPage(t);
    const want = { x: 1000, y: 1200, width: 400, height: 300 };
    await page.goto(`${base}/view/${SLIDE_ID}?region=1000,1200,400,300`);
    await waitFullyLoaded(page);
    await page.screenshot({ path: path.join(RESULTS, 'region.png') });

    const got = await visibleImageRect(page);
    t.diagnostic(`visible image rectangle: ${JSON.stringify(got)}`);
    const cx = got.x + got.width / 2;
    const cy = got.y + got.height / 2;
    assert.ok(Math.abs(cx - 1200) <= 0.1 * want.width, `centre x ${cx} is not near 1200`);
    assert.ok(Math.abs(cy - 1350) <= 0.1 * want.height, `centre y ${cy} is not near 1350`);
    const slack = 1; // sub-pixel rounding
    assert.ok(got.x <= want.x + slack && got.y <= want.y + slack, 'the requested rectangle starts outside the view');
    assert.ok(got.x + got.width >= want.x + want.width - slack, 'the requested rectangle ends right of the view');
    assert.ok(got.y + got.height >= want.y + want.height - slack, 'the requested rectangle ends below the view');
    assert.ok(got.width <= 3 * want.width, `the view is ${got.width} px wide, far wider than ${want.width}`);

    // A small zoom animates; when it finishes the URL must describe the new view.
    await page.evaluate(
      () =>
        new Promise((resolve, reject) => {
          const v = window.tesseraViewer;
          const timer = setTimeout(() => reject(new Error('no animation-finish')), 10000);
          v.addOnceHandler('animation-finish', () => {
            clearTimeout(timer);
            // Let the page's own animation-finish handler run first.
            setTimeout(resolve, 0);
          });
          v.viewport.zoomBy(1.05);
        }),
    );
    const now = await visibleImageRect(page);
    const inUrl = urlRegion(page);
    t.diagnostic(`after zoom: view ${JSON.stringify(now)}, URL region ${JSON.stringify(inUrl)}`);
    assert.ok(inUrl, `no region in ${page.url()}`);
    for (const key of ['x', 'y', 'width', 'height']) {
      assert.ok(Math.abs(inUrl[key] - now[key]) <= 2, `URL region ${key}=${inUrl[key]} but the view has ${now[key]}`);
    }
    // Still roughly the requested place: centred on it, about as large.
    assert.ok(Math.abs(inUrl.x + inUrl.width / 2 - 1200) <= 0.1 * want.width);
    assert.ok(Math.abs(inUrl.y + inUrl.height / 2 - 1350) <= 0.1 * want.height);
    assert.ok(inUrl.width <= 3 * want.width && inUrl.width >= want.width / 2);

    // Reloading the URL reopens the same place.
    await page.reload();
    await waitFullyLoaded(page);
    const reopened = await visibleImageRect(page);
    for (const key of ['x', 'y', 'width', 'height']) {
      assert.ok(Math.abs(reopened[key] - now[key]) <= 0.02 * now.width + 1, `after reload ${key}=${reopened[key]}, was ${now[key]}`);
    }
    await page.screenshot({ path: path.join(RESULTS, 'region-reloaded.png') });
  });

  test('an unknown slide shows an error', { timeout: 30000 }, async (t) => {
    const page = await openPage(t);
    await page.goto(`${base}/view/no-such-slide`);
    const status = page.locator('#status.error');
    await status.waitFor({ timeout: 10000 });
    assert.match(await status.innerText(), /Unknown slide/);
    await page.screenshot({ path: path.join(RESULTS, 'unknown.png') });
  });
});
