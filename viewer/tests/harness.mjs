// Shared pieces of the viewer's browser tests: a real `tessera serve` on a temporary data
// directory, Debian's Chromium through playwright-core (with software WebGL2), pages that
// fail on uncaught errors, and screenshot and pixel helpers.
//
// Exports:
//   viewerDir, RESULTS, BIN, CHROMIUM, SMALL_SLIDE, SMALL_SLIDE_ID, SMALL  paths and ids
//   CHROMIUM_ARGS            launch flags (headless, software WebGL2 through SwiftShader)
//   missingSkip(paths)       `false` when every path exists; else a skip reason, or — under
//                            CI=true — `false` too, so the test runs and fails on the data
//   assertExists(path, what) fails with a readable message when a file is missing
//   freePort()               a loopback port that was free a moment ago
//   waitHealthy(url, child, log, ms)  polls until 200, the child dies, or the deadline
//   startServer({ slides, dataDir, removeDataDir, imports, setup, logName, serveArgs })  tiles
//                            `slides` (paths, or { path, id } to tile under `--id id`)
//                            into `dataDir` (a new temporary one by default, removed on
//                            stop), imports GeoJSON files ({ slideId, file, layer, args }:
//                            `args` are extra `tessera import` flags), awaits
//                            `setup(dataDir)` (e.g. users and projects made with
//                            runTessera), serves it on a free port (`serveArgs`: extra
//                            `tessera serve` flags, e.g. `--cors-origin`).
//                            Returns { base, dataDir, log, stop() }. With TESSERA_URL set it
//                            tiles nothing and returns that server.
//   launchBrowser()          a persistent Chromium context: { context, close() }
//   openPage(context, t)     a new page; uncaught page errors fail test `t`; closed after it
//   waitFullyLoaded(page)    the viewer opened its image and loaded every tile it needs
//   nextFrames(page, n)      waits n animation frames in the page
//   screenshot(page, name, options)  saves test-results/{name}.png, returns the PNG buffer
//   visibleImageRect(page)   the visible level-0 rectangle {x, y, width, height}
//   slideClip(page)          the page rectangle where the slide is drawn (for screenshots)
//   measurePng(page, png, fn)  decodes a PNG in the page and returns fn(rgba, width, height)
//   comparePngs(page, a, b)  { changed, meanDiff } between two screenshots
//   tissueFraction(page, png) share of a screenshot's pixels that look like tissue
//   runTessera(args, opts)   runs the binary, resolves { stdout, stderr }, rejects on failure
//
// Environment:
//   TESSERA_BIN   the tessera binary (default ../target/debug/tessera, relative to viewer/)
//   TESSERA_URL   use an already running server instead of tiling and serving (development)
//   CHROMIUM      the browser (default /usr/bin/chromium)
//   CI=true       missing test data fails instead of skipping
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

export const viewerDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const RESULTS = path.join(viewerDir, 'test-results');
export const BIN = path.resolve(viewerDir, process.env.TESSERA_BIN ?? '../target/debug/tessera');
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
export const SMALL_SLIDE = path.resolve(viewerDir, '../../shared/data/slides/CMU-1-Small-Region.svs');
// Tiled with this explicit id: the file name holds the slide's Aperio Filename (CMU-1), so
// tessera would give it a pseudonymous id by default.
export const SMALL_SLIDE_ID = 'small-region';
export const SMALL = { path: SMALL_SLIDE, id: SMALL_SLIDE_ID };

// Software WebGL2: headless Chromium here has no GPU, so ANGLE renders through SwiftShader.
export const CHROMIUM_ARGS = [
  '--headless=new', '--no-sandbox', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--use-gl=angle', '--use-angle=swiftshader', '--enable-unsafe-swiftshader',
];

/**
 * A skip reason when some of `paths` are missing, for `describe(..., { skip })`. Under
 * CI=true it returns false so the suite runs and its setup fails on the missing data.
 * With TESSERA_URL the server's own data is used, so nothing is required locally.
 */
export function missingSkip(paths) {
  if (process.env.TESSERA_URL) return false;
  const missing = paths.filter((p) => !existsSync(p));
  if (!missing.length || process.env.CI === 'true') return false;
  return `test data not found: ${missing.join(', ')}`;
}

/** Fails with a message naming the file and what it is for. */
export function assertExists(file, what) {
  assert.ok(existsSync(file), `${what} missing (required under CI=true): ${file}`);
}

/** Runs the tessera binary; rejects with its stderr when it fails. */
export async function runTessera(args, { timeout = 60000 } = {}) {
  try {
    return await promisify(execFile)(BIN, args, { timeout, maxBuffer: 64 << 20 });
  } catch (e) {
    throw new Error(`tessera ${args.join(' ')} failed: ${e.stderr || e.message}`);
  }
}

/** A port that was free a moment ago: bind port 0, read the port, close. */
export function freePort() {
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
export async function waitHealthy(url, child, log, deadlineMs) {
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

/**
 * Tiles `slides` into a data directory, imports `imports` ({ slideId, file, layer,
 * args }), runs `setup(dataDir)` (users, projects: anything to do before serving), and
 * starts `tessera serve` on a free loopback port. A temporary `dataDir` is created
 * (and removed by stop()) unless one is given; a given one is kept unless
 * `removeDataDir`. `logName` names the server log written to test-results/ on stop.
 */
export async function startServer({ slides = [], dataDir, removeDataDir, imports = [], setup = null, logName = 'server.log', healthMs = 60000, serveArgs = [] } = {}) {
  await mkdir(RESULTS, { recursive: true });
  if (process.env.TESSERA_URL) {
    const base = process.env.TESSERA_URL.replace(/\/$/, '');
    await waitHealthy(`${base}/healthz`, null, [], 20000);
    return { base, dataDir: null, log: [], stop: async () => {} };
  }
  assertExists(BIN, 'tessera binary (run `cargo build -p server` or set TESSERA_BIN)');
  const tiles = slides.map((s) => (typeof s === 'string' ? { path: s } : s));
  for (const slide of tiles) assertExists(slide.path, 'test slide');
  const ownDir = removeDataDir ?? !dataDir;
  if (!dataDir) dataDir = await mkdtemp(path.join(os.tmpdir(), 'tessera-viewer-data-'));
  for (const { path: slide, id } of tiles) {
    await runTessera(['tile', slide, '-o', dataDir, ...(id ? ['--id', id] : [])], { timeout: 120000 });
  }
  for (const { slideId, file, layer = 'default', args = [] } of imports) {
    await runTessera(['import', '--data', dataDir, slideId, file, '--layer', layer, ...args], { timeout: 300000 });
  }
  if (setup) await setup(dataDir);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const log = [];
  const child = spawn(BIN, ['serve', '--data', dataDir, '--addr', `127.0.0.1:${port}`, ...serveArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (d) => log.push(d.toString()));
  child.stderr.on('data', (d) => log.push(d.toString()));
  await waitHealthy(`${base}/healthz`, child, log, healthMs);

  async function stop() {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    if (ownDir) await rm(dataDir, { recursive: true, force: true });
    if (log.length) await writeFile(path.join(RESULTS, logName), log.join(''));
  }
  return { base, dataDir, log, stop };
}

/** Chromium with a throwaway profile. close() also removes the profile. */
export async function launchBrowser({ width = 1280, height = 800 } = {}) {
  const profileDir = await mkdtemp(path.join(os.tmpdir(), 'tessera-viewer-chromium-'));
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width, height },
  });
  return {
    context,
    async close() {
      await context.close();
      await rm(profileDir, { recursive: true, force: true });
    },
  };
}

/** A fresh page whose uncaught script errors fail test `t`; it is closed after `t`. */
export async function openPage(context, t) {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  t.after(async () => {
    await page.close();
    assert.deepEqual(errors, [], 'uncaught errors in the page');
  });
  return page;
}

/** Waits `n` animation frames in the page. */
export function nextFrames(page, n = 2) {
  return page.evaluate(
    (count) =>
      new Promise((resolve) => {
        const step = (left) => (left ? requestAnimationFrame(() => step(left - 1)) : resolve());
        step(count);
      }),
    n,
  );
}

/** Resolves once the viewer exists, has opened its image and loaded every tile it needs. */
export async function waitFullyLoaded(page, timeout = 20000) {
  await page.waitForFunction(
    () => {
      const v = window.tesseraViewer;
      return v && v.world.getItemCount() > 0 && v.world.getItemAt(0).getFullyLoaded();
    },
    null,
    { timeout },
  );
  // Let OpenSeadragon draw the frame that uses the last tiles.
  await nextFrames(page, 2);
}

/** Saves test-results/{name}.png and returns the PNG. */
export async function screenshot(page, name, options = {}) {
  await mkdir(RESULTS, { recursive: true });
  return page.screenshot({ path: path.join(RESULTS, `${name}.png`), ...options });
}

/** The visible part of the image, in level-0 image pixels. */
export function visibleImageRect(page) {
  return page.evaluate(() => {
    const v = window.tesseraViewer;
    const r = v.viewport.viewportToImageRectangle(v.viewport.getBounds(true));
    return { x: r.x, y: r.y, width: r.width, height: r.height };
  });
}

/** The page rectangle where the slide is drawn, clipped to the viewer element. */
export function slideClip(page) {
  return page.evaluate(() => {
    const v = window.tesseraViewer;
    const r = v.viewport.viewportToViewerElementRectangle(v.world.getItemAt(0).getBounds(true));
    const box = v.element.getBoundingClientRect();
    const left = Math.max(r.x, 0);
    const top = Math.max(r.y, 0);
    const right = Math.min(r.x + r.width, box.width);
    const bottom = Math.min(r.y + r.height, box.height);
    return { x: box.x + left, y: box.y + top, width: right - left, height: bottom - top };
  });
}

/**
 * Decodes a PNG with the browser itself (no image library) and returns
 * `measure(data, width, height)` computed in the page; `measure` must be self-contained
 * (it is sent as source text), `data` is RGBA bytes.
 */
export function measurePng(page, png, measure) {
  return page.evaluate(
    async ([b64, source]) => {
      // Compiled before the first await: the server's Content-Security-Policy has no
      // 'unsafe-eval', and DevTools lifts that only while the evaluation runs synchronously.
      // eslint-disable-next-line no-new-func
      const fn = new Function(`return (${source})`)();
      const img = new Image();
      img.src = `data:image/png;base64,${b64}`;
      await img.decode();
      const canvas = new OffscreenCanvas(img.width, img.height);
      const ctx = canvas.getContext('2d');
      ctx.drawImage(img, 0, 0);
      const { data } = ctx.getImageData(0, 0, img.width, img.height);
      return fn(data, img.width, img.height);
    },
    [png.toString('base64'), measure.toString()],
  );
}

/**
 * Compares two same-sized PNGs in the page: { changed, meanDiff } where `changed` is the
 * fraction of pixels whose largest channel difference exceeds `threshold` and `meanDiff`
 * the mean absolute channel difference (0–255).
 */
export function comparePngs(page, a, b, threshold = 24) {
  return page.evaluate(
    async ([b64a, b64b, limit]) => {
      const decode = async (b64) => {
        const img = new Image();
        img.src = `data:image/png;base64,${b64}`;
        await img.decode();
        const canvas = new OffscreenCanvas(img.width, img.height);
        const ctx = canvas.getContext('2d');
        ctx.drawImage(img, 0, 0);
        return ctx.getImageData(0, 0, img.width, img.height).data;
      };
      const [x, y] = await Promise.all([decode(b64a), decode(b64b)]);
      if (x.length !== y.length) throw new Error('the screenshots differ in size');
      let changed = 0;
      let sum = 0;
      for (let i = 0; i < x.length; i += 4) {
        let max = 0;
        for (let c = 0; c < 3; c++) {
          const d = Math.abs(x[i + c] - y[i + c]);
          sum += d;
          if (d > max) max = d;
        }
        if (max > limit) changed++;
      }
      return { changed: changed / (x.length / 4), meanDiff: sum / ((x.length / 4) * 3) };
    },
    [a.toString('base64'), b.toString('base64'), threshold],
  );
}

/**
 * Fraction of a screenshot's pixels that look like tissue rather than background: either
 * noticeably saturated (max - min channel > 25) or dark (max channel < 200).
 */
export function tissueFraction(page, png) {
  return measurePng(page, png, (data) => {
    let tissue = 0;
    for (let i = 0; i < data.length; i += 4) {
      const max = Math.max(data[i], data[i + 1], data[i + 2]);
      const min = Math.min(data[i], data[i + 1], data[i + 2]);
      if (max - min > 25 || max < 200) tissue++;
    }
    return tissue / (data.length / 4);
  });
}
