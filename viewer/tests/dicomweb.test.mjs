// Browser test of Tessera's DICOMweb with a real DICOM viewer (issue 27):
// dicom-microscopy-viewer (npm, the library of the IDC's Slim viewer) and dicomweb-client,
// on a page of another origin — a second loopback port served by Node's `http`, as Slim
// is deployed beside an archive — show CMU-1-Small-Region from `tessera serve`'s
// /dicomweb. The server has users: the page signs in with a viewer's Bearer token (sent
// by dicomweb-client's `headers`), and the page's origin is trusted with `--cors-origin`.
// The page finds the series with QIDO-RS, reads its WADO-RS metadata, builds a
// VolumeImageViewer from the VL Whole Slide Microscopy images and renders it; the test
// waits until every frame the viewer asked for has loaded, then checks that frames came
// from /dicomweb (all answered 200), that the slide is drawn as tissue and that the
// margin beside it is background.
//
// Not covered: annotations from a DICOM ANN instance (Tessera serves none yet).
// The libraries come from node_modules, served by the other origin as they are (no build
// step): dicom-microscopy-viewer's prebuilt `dist/` bundle, its decoding worker and WASM
// codecs from `dist/dynamic-import/` (found through `window.PUBLIC_LIB_URL`), and
// dicomweb-client's UMD `build/`.
// Screenshot: test-results/dicomweb-dmv.png; server log: test-results/server-dicomweb.log.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import {
  CHROMIUM, SMALL, SMALL_SLIDE, SMALL_SLIDE_ID as SLIDE_ID, assertExists, freePort, launchBrowser, missingSkip,
  nextFrames, openPage, runTessera, screenshot, startServer, tissueFraction, viewerDir,
} from './harness.mjs';

// A running server (TESSERA_URL) cannot be given users or a trusted origin from here.
const skip = process.env.TESSERA_URL ? 'needs its own server (TESSERA_URL is set)' : missingSkip([SMALL_SLIDE]);
const PROJECT = 'dicom';
const LOAD_MS = 60000;
const VIEWPORT = { width: 800, height: 600 };

// What the other origin serves from node_modules: prefix → directory.
const LIBRARIES = {
  '/dmv/': path.join(viewerDir, 'node_modules/dicom-microscopy-viewer/dist/'),
  '/dwc/': path.join(viewerDir, 'node_modules/dicomweb-client/build/'),
};
const TYPES = { '.js': 'text/javascript', '.wasm': 'application/wasm', '.map': 'application/json', '.txt': 'text/plain' };

const PAGE = `<!doctype html><meta charset="utf-8"><title>dicom-microscopy-viewer on Tessera</title>
<style>html, body { margin: 0; background: #fff } #viewport { width: ${VIEWPORT.width}px; height: ${VIEWPORT.height}px }</style>
<script>
  // Where the viewer's bundle finds its decoding worker (default ./static/js/, Slim's).
  window.PUBLIC_LIB_URL = '/dmv/dynamic-import/';
</script>
<script src="/dwc/dicomweb-client.js"></script>
<script src="/dmv/dicomMicroscopyViewer.bundle.min.js"></script>
<div id="viewport"></div>`;

describe('dicom-microscopy-viewer on Tessera\'s DICOMweb', { skip }, () => {
  let server;
  let other; // the other origin's Node server
  let otherPort;
  let browser;
  let token;

  before(async () => {
    assertExists(CHROMIUM, 'Chromium (apt-get install chromium, or set CHROMIUM)');
    for (const dir of Object.values(LIBRARIES)) assertExists(dir, 'npm package (run `npm ci` in viewer/)');
    otherPort = await freePort();
    other = http.createServer(async (req, res) => {
      const url = new URL(req.url, 'http://other');
      if (url.pathname === '/') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end(PAGE);
        return;
      }
      const prefix = Object.keys(LIBRARIES).find((p) => url.pathname.startsWith(p));
      const name = prefix && path.normalize(url.pathname.slice(prefix.length));
      if (!prefix || name.startsWith('..') || path.isAbsolute(name)) {
        res.writeHead(404).end();
        return;
      }
      try {
        const body = await readFile(path.join(LIBRARIES[prefix], name));
        res.writeHead(200, { 'content-type': TYPES[path.extname(name)] ?? 'application/octet-stream' });
        res.end(body);
      } catch {
        res.writeHead(404).end();
      }
    });
    await new Promise((resolve, reject) => {
      other.once('error', reject);
      other.listen(otherPort, '127.0.0.1', resolve);
    });

    server = await startServer({
      slides: [SMALL],
      logName: 'server-dicomweb.log',
      serveArgs: ['--cors-origin', `http://127.0.0.1:${otherPort}`],
      async setup(dataDir) {
        const data = ['--data', dataDir];
        await runTessera(['project', 'create', PROJECT, ...data]);
        await runTessera(['project', 'add-slide', PROJECT, SLIDE_ID, ...data]);
        const { stdout } = await runTessera(['user', 'add', 'vera', '--role', 'viewer', '--project', PROJECT, ...data]);
        token = stdout.trim();
        assert.match(token, /^\S{20,}$/, `tessera user add printed no token: ${stdout}`);
      },
    });
    browser = await launchBrowser({ width: 1000, height: 700 });
  });

  after(async () => {
    await browser?.close();
    await new Promise((resolve) => (other ? other.close(resolve) : resolve()));
    await server?.stop();
  });

  test('the viewer shows the slide\'s tissue from WADO-RS frames', { timeout: 120000 }, async (t) => {
    // Without the token the series is not there: DICOMweb needs a role on the slide.
    const anonymous = await fetch(`${server.base}/dicomweb/studies`);
    assert.equal(anonymous.status, 401, `QIDO-RS without a token: ${anonymous.status}`);

    const page = await openPage(browser.context, t);
    const answers = [];
    page.on('response', (r) => {
      if (r.url().startsWith(`${server.base}/dicomweb/`) && r.request().method() === 'GET') {
        answers.push({ url: r.url(), status: r.status(), accept: r.request().headers().accept });
      }
    });
    // Anything the page could not load (the viewer's worker and codecs included).
    const missing = [];
    page.on('response', (r) => {
      if (r.status() >= 400) missing.push(`${r.status()} ${r.url()}`);
    });
    page.on('requestfailed', (r) => missing.push(`${r.failure()?.errorText} ${r.url()}`));
    const consoleErrors = [];
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    await page.goto(`http://127.0.0.1:${otherPort}/`);
    assert.equal(await page.evaluate(() => typeof window.dicomMicroscopyViewer?.viewer?.VolumeImageViewer), 'function',
      'dicom-microscopy-viewer did not load');
    assert.equal(await page.evaluate(() => typeof window.DICOMwebClient?.api?.DICOMwebClient), 'function',
      'dicomweb-client did not load');

    // As Slim does: find the series, read its metadata, keep the volume images, render.
    const opened = await page.evaluate(async ({ url, token }) => {
      const dmv = window.dicomMicroscopyViewer;
      const seen = { started: 0, ended: 0, errors: [] };
      window.seen = seen;
      const container = document.getElementById('viewport');
      container.addEventListener(dmv.events.EVENTS.FRAME_LOADING_STARTED, () => { seen.started++; });
      container.addEventListener(dmv.events.EVENTS.FRAME_LOADING_ENDED, () => { seen.ended++; });
      container.addEventListener(dmv.events.EVENTS.FRAME_LOADING_ERROR, (e) => {
        seen.errors.push(JSON.stringify(e.detail?.payload ?? null));
      });
      const client = new window.DICOMwebClient.api.DICOMwebClient({ url, headers: { Authorization: `Bearer ${token}` } });
      const series = await client.searchForSeries();
      if (series.length !== 1) throw new Error(`QIDO-RS found ${series.length} series`);
      const studyInstanceUID = series[0]['0020000D'].Value[0];
      const seriesInstanceUID = series[0]['0020000E'].Value[0];
      const metadata = await client.retrieveSeriesMetadata({ studyInstanceUID, seriesInstanceUID });
      const images = metadata
        .map((m) => new dmv.metadata.VLWholeSlideMicroscopyImage({ metadata: m }))
        .filter((image) => ['VOLUME', 'THUMBNAIL'].includes(image.ImageType[2]));
      const viewer = new dmv.viewer.VolumeImageViewer({ client, metadata: images });
      viewer.render({ container });
      window.dmvViewer = viewer;
      return { instances: metadata.length, volumes: images.length, size: [images[0].TotalPixelMatrixColumns, images[0].TotalPixelMatrixRows] };
    }, { url: `${server.base}/dicomweb`, token });
    t.diagnostic(`series metadata: ${opened.instances} instances, ${opened.volumes} volume images; level 0 ${opened.size.join(' × ')} px`);
    assert.ok(opened.volumes >= 1, 'no VOLUME image in the series metadata');
    assert.deepEqual(opened.size, [2220, 2967], 'level 0 is not the slide\'s size');

    // Every frame asked for has loaded (or failed), and no new one for a while.
    let last = '';
    let stableSince = Date.now();
    const deadline = Date.now() + LOAD_MS;
    for (;;) {
      const seen = await page.evaluate(() => window.seen);
      const now = `${seen.started}/${seen.ended}`;
      if (now !== last) {
        last = now;
        stableSince = Date.now();
      }
      if (seen.errors.length) {
        const refused = answers.filter((a) => a.status !== 200).map((a) => `${a.status} ${a.url} (Accept: ${a.accept})`);
        assert.fail(`${seen.errors.length} frames failed to load; DICOMweb refused ${refused.slice(0, 5).join(', ')}\n${consoleErrors.slice(0, 10).join('\n')}`);
      }
      if (seen.started > 0 && seen.started === seen.ended && Date.now() - stableSince > 1500) break;
      assert.ok(Date.now() < deadline, `frames still loading after ${LOAD_MS / 1000} s (started/ended ${now}); not loaded: ${missing.join(', ') || 'none'}\n${consoleErrors.join('\n')}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    await nextFrames(page, 3);

    const frames = answers.filter((a) => /\/frames\/\d/.test(a.url));
    t.diagnostic(`DICOMweb answers: ${answers.length} (${frames.length} frame requests); frames loaded ${last}`);
    for (const a of answers) assert.equal(a.status, 200, `${a.url}: ${a.status}`);
    assert.ok(frames.length >= 2, `only ${frames.length} frame requests reached /dicomweb`);

    const box = await page.locator('#viewport').boundingBox();
    await screenshot(page, 'dicomweb-dmv', { clip: box });
    // The viewer opens fitted: the slide's full height, centred. Judge the tissue where the
    // slide is drawn (a few pixels in from its edges), and the margin right of it (left of
    // it is the overview map; the scale bar is at the bottom right) must be background.
    const [width, height] = opened.size;
    const scale = Math.min(box.width / width, box.height / height);
    const drawn = { w: width * scale, h: height * scale };
    const slide = {
      x: box.x + (box.width - drawn.w) / 2 + 4, y: box.y + (box.height - drawn.h) / 2 + 4,
      width: drawn.w - 8, height: drawn.h - 8,
    };
    const fraction = await tissueFraction(page, await page.screenshot({ clip: slide }));
    const marginX = slide.x + slide.width + 12;
    const margin = { x: marginX, y: box.y, width: box.x + box.width - marginX, height: box.height - 60 };
    const outside = await tissueFraction(page, await page.screenshot({ clip: margin }));
    t.diagnostic(`tissue fraction where the slide is drawn (${Math.round(slide.width)}×${Math.round(slide.height)} px): ${fraction.toFixed(3)}; right of it: ${outside.toFixed(3)}`);
    assert.ok(fraction > 0.25, `only ${(fraction * 100).toFixed(1)}% of the slide's pixels look like tissue`);
    assert.ok(outside < 0.02, `${(outside * 100).toFixed(1)}% of the margin right of the slide looks like tissue`);
  });
});
