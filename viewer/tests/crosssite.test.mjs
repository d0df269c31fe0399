// Cross-site browser test (issue 24): a single-user `tessera serve` with a small synthetic
// slide and a few annotations made by the test, and pages of another origin — a second
// loopback port served by Node's `http` — in Chromium. From those pages:
//
// - reading the export, the slide list or an annotation gets nothing (CORS refuses, or
//   the answer is opaque);
// - a `text/plain` `no-cors` POST (no preflight: create, undo, a review step), a JSON
//   POST, a PUT and a DELETE (preflighted), classic `<form method=post>` submissions
//   (a GeoJSON body smuggled through `enctype=text/plain`, an undo, and one from a
//   sandboxed frame, whose Origin is `null`) change nothing: the server answers every
//   request that reaches those routes 403 (by its own count, from /metrics), and through
//   Node (no Origin) the annotations are exactly as before (ids, versions, statuses,
//   geometries);
// - both names of the machine (`127.0.0.1` and `localhost`) for the page and the server
//   change nothing, and a page on a name that resolves to the server (DNS rebinding,
//   `rebind.test` mapped to 127.0.0.1 in Chromium) gets 421 even from its own origin;
// - an OpenSeadragon page of that other origin, loading OpenSeadragon from the server's
//   `/viewer/osd/`, draws the slide from `/dzi/{id}.dzi` (with and without CORS images)
//   and from IIIF `info.json`.
//
// Last, controls: the same smuggled body from the server's own origin, and from Node
// without an Origin, does create annotations, so the refusals above are the Origin
// rule's. Skipped with TESSERA_URL (it makes its own slide). Screenshots:
// test-results/crosssite-*.png; server log: test-results/server-crosssite.log.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import {
  CHROMIUM, CHROMIUM_ARGS, assertExists, freePort, nextFrames, openPage, runTessera, screenshot, startServer,
  tissueFraction,
} from './harness.mjs';

const skip = process.env.TESSERA_URL ? 'needs its own server (TESSERA_URL is set)' : false;
const SLIDE_ID = 'crosssite';
const SLIDE_SIZE = { width: 2048, height: 1536 };
// A name Chromium resolves to 127.0.0.1 (--host-resolver-rules): a DNS-rebinding attacker's.
const REBIND_NAME = 'rebind.test';
const LOAD_MS = 30000;
// The routes that change annotations, as the server's /metrics names them.
const CREATE = '/api/slides/{id}/annotations';
const UNDO = '/api/slides/{id}/undo';
const REVIEW = '/api/annotations/{uuid}/review';
const ONE = '/api/annotations/{uuid}';
const CHANGING_ROUTES = [CREATE, UNDO, REVIEW, ONE];

/** A GeoJSON Feature (the body of a create or an edit). */
function feature(geometry, className, extra = {}) {
  return { type: 'Feature', geometry, properties: { classification: { name: className }, ...extra } };
}
const square = (x, y, side) => ({
  type: 'Polygon',
  coordinates: [[[x, y], [x + side, y], [x + side, y + side], [x, y + side], [x, y]]],
});

// What a `<form method=post enctype=text/plain>` sends for one field: `name=value\r\n`.
// The name holds a Feature up to an open string, the value closes it: valid JSON.
const SMUGGLED = JSON.stringify(feature(square(1500, 1000, 90), 'Smuggled', { note: '=' }));
const SMUGGLED_NAME = SMUGGLED.slice(0, SMUGGLED.indexOf('"note":"') + '"note":"'.length);
const SMUGGLED_VALUE = SMUGGLED.slice(SMUGGLED_NAME.length + 1);

describe('pages of another origin against a single-user server', { skip }, () => {
  let server;
  let base; // http://127.0.0.1:PORT
  let port;
  let other; // the other origin's Node server
  let otherPort;
  let browser;
  let before_; // the annotations before any attack
  let victim; // { id, version } of the annotation the attacks aim at

  /** The annotations as Node (no Origin) sees them: ids, versions, statuses, geometries. */
  async function annotations() {
    const response = await fetch(`${base}/api/slides/${SLIDE_ID}/annotations/export`);
    assert.equal(response.status, 200, `export through Node: ${response.status}`);
    const { features } = await response.json();
    return features
      .map((f) => ({ id: f.id, version: f.properties.version, status: f.properties.status, geometry: JSON.stringify(f.geometry) }))
      .sort((a, b) => a.id.localeCompare(b.id));
  }

  /** JSON from the API through Node (no Origin header, as a script or curl would call). */
  async function api(method, url, body, headers = {}) {
    const response = await fetch(`${base}${url}`, {
      method,
      headers: { 'content-type': 'application/geo+json', ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : null };
  }

  /**
   * The server's own count of its answers, from `/metrics` (local callers may read it):
   * Map of `route status` (route templates as the router names them) to a count.
   */
  async function answers() {
    const response = await fetch(`${base}/metrics`);
    assert.equal(response.status, 200, `/metrics through Node: ${response.status}`);
    const counts = new Map();
    for (const line of (await response.text()).split('\n')) {
      const m = line.match(/^tessera_http_requests_total\{(.*)\} (\d+)$/);
      if (!m) continue;
      const labels = Object.fromEntries([...m[1].matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
      counts.set(`${labels.route} ${labels.status}`, Number(m[2]));
    }
    return counts;
  }

  /** The answers counted since `since` (from answers()), on `routes` only. */
  async function answersSince(since, routes) {
    const grown = {};
    for (const [key, n] of await answers()) {
      const route = key.slice(0, key.lastIndexOf(' '));
      const more = n - (since.get(key) ?? 0);
      if (more > 0 && routes.includes(route)) grown[key] = more;
    }
    return grown;
  }

  before(async () => {
    assertExists(CHROMIUM, 'Chromium (apt-get install chromium, or set CHROMIUM)');
    server = await startServer({
      logName: 'server-crosssite.log',
      // A small synthetic slide, tiled into the data directory under a fixed id.
      async setup(dataDir) {
        const source = await mkdtemp(path.join(os.tmpdir(), 'tessera-crosssite-'));
        try {
          const svs = path.join(source, 'slide.svs');
          await runTessera(['synth', '-o', svs, '--width', String(SLIDE_SIZE.width), '--height', String(SLIDE_SIZE.height), '--seed', '7']);
          await runTessera(['tile', svs, '-o', dataDir, '--id', SLIDE_ID]);
        } finally {
          await rm(source, { recursive: true, force: true });
        }
      },
    });
    base = server.base;
    port = Number(new URL(base).port);

    // Annotations of the server's own user: two polygons and a point, one edited and one
    // submitted for review (each a new version).
    const made = [];
    for (const f of [
      feature(square(100, 100, 200), 'Tumor'),
      feature(square(600, 400, 150), 'Stroma'),
      feature({ type: 'Point', coordinates: [1000, 800] }, 'Immune cells'),
    ]) {
      const { status, body } = await api('POST', `/api/slides/${SLIDE_ID}/annotations`, f);
      assert.equal(status, 201, `creating an annotation through Node: ${JSON.stringify(body)}`);
      made.push(body);
    }
    const edited = await api('PUT', `/api/annotations/${made[0].id}`, feature(square(120, 100, 220), 'Tumor'), { 'if-match': '"1"' });
    assert.equal(edited.status, 200, JSON.stringify(edited.body));
    const reviewed = await api('POST', `/api/annotations/${made[1].id}/review`, { status: 'submitted' }, { 'content-type': 'application/json' });
    assert.equal(reviewed.status, 200, JSON.stringify(reviewed.body));
    victim = { id: made[0].id, version: edited.body.properties.version };
    before_ = await annotations();
    assert.equal(before_.length, 3);
    assert.deepEqual(before_.map((a) => a.version).sort(), [1, 2, 2]);

    // The other origin: a blank page, and an OpenSeadragon page whose script and tiles
    // come from the tessera server (by either of its names).
    otherPort = await freePort();
    other = http.createServer((req, res) => {
      const url = new URL(req.url, 'http://other');
      const target = url.searchParams.get('server') === 'localhost' ? `http://localhost:${port}` : base;
      const html = url.pathname === '/osd'
        ? `<!doctype html><meta charset="utf-8"><title>another site's slide viewer</title>
<style>html, body { margin: 0; background: #fff } #osd { width: 800px; height: 600px; background: #fff }</style>
<script src="${target}/viewer/osd/openseadragon.min.js"></script>
<div id="osd"></div>`
        : '<!doctype html><meta charset="utf-8"><title>another site</title><p>another site</p>';
      res.writeHead(url.pathname === '/' || url.pathname === '/osd' ? 200 : 404, { 'content-type': 'text/html; charset=utf-8' });
      res.end(html);
    });
    await new Promise((resolve, reject) => {
      other.once('error', reject);
      other.listen(otherPort, '127.0.0.1', resolve);
    });

    // Chromium, with a name that resolves to the loopback address like a rebound one.
    const profileDir = await mkdtemp(path.join(os.tmpdir(), 'tessera-viewer-chromium-'));
    const context = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: [...CHROMIUM_ARGS, `--host-resolver-rules=MAP ${REBIND_NAME} 127.0.0.1`],
      viewport: { width: 1000, height: 700 },
    });
    browser = {
      context,
      async close() {
        await context.close();
        await rm(profileDir, { recursive: true, force: true });
      },
    };
  });

  after(async () => {
    await browser?.close();
    await new Promise((resolve) => (other ? other.close(resolve) : resolve()));
    await server?.stop();
  });

  /**
   * The server's answers to the page's requests that may change state (every method but
   * GET, HEAD and OPTIONS), as Chromium's network layer saw them: [{ method, url, status }].
   */
  function watchChanges(page, target) {
    const seen = [];
    page.on('response', (r) => {
      const method = r.request().method();
      if (r.url().startsWith(target) && !['GET', 'HEAD', 'OPTIONS'].includes(method)) {
        seen.push({ method, url: r.url(), status: r.status() });
      }
    });
    return seen;
  }

  /**
   * Runs in the other origin's page: reads and changes against `target` with fetch.
   * Returns, per attempt, what the page got: { type, status, body } or { error }.
   */
  function fetchAttacks(page, target) {
    return page.evaluate(
      async ({ target, slide, victim, smuggled }) => {
        const out = {};
        const got = async (r) => ({ type: r.type, status: r.status, body: await r.text() });
        async function attempt(name, url, init) {
          try {
            out[name] = await got(await fetch(`${target}${url}`, init));
          } catch (e) {
            out[name] = { error: `${e.name}: ${e.message}` };
          }
        }
        const plain = { 'content-type': 'text/plain' };
        const geojson = { 'content-type': 'application/geo+json' };
        const point = JSON.stringify({ type: 'Feature', geometry: { type: 'Point', coordinates: [5, 5] }, properties: { classification: { name: 'Attacker' } } });
        const moved = JSON.stringify({ type: 'Feature', geometry: { type: 'Point', coordinates: [7, 7] }, properties: { classification: { name: 'Attacker' } } });
        // Reads.
        await attempt('export (cors)', `/api/slides/${slide}/annotations/export`);
        await attempt('export (cors, credentials)', `/api/slides/${slide}/annotations/export`, { credentials: 'include' });
        await attempt('export (no-cors)', `/api/slides/${slide}/annotations/export`, { mode: 'no-cors' });
        await attempt('slide list (cors)', '/api/slides');
        await attempt('annotation (cors)', `/api/annotations/${victim.id}`);
        // Simple requests: no preflight, they reach the server.
        await attempt('POST create (text/plain, no-cors)', `/api/slides/${slide}/annotations`, { method: 'POST', mode: 'no-cors', headers: plain, body: smuggled });
        await attempt('POST undo (no-cors)', `/api/slides/${slide}/undo`, { method: 'POST', mode: 'no-cors' });
        await attempt('POST review (text/plain, no-cors)', `/api/annotations/${victim.id}/review`, { method: 'POST', mode: 'no-cors', headers: plain, body: '{"status":"submitted"}' });
        await attempt('POST create (text/plain, cors)', `/api/slides/${slide}/annotations`, { method: 'POST', headers: plain, body: point });
        // Preflighted requests.
        await attempt('POST create (JSON)', `/api/slides/${slide}/annotations`, { method: 'POST', headers: geojson, body: point });
        await attempt('PUT', `/api/annotations/${victim.id}`, { method: 'PUT', headers: { ...geojson, 'if-match': `"${victim.version}"` }, body: moved });
        await attempt('PUT (text/plain, no If-Match)', `/api/annotations/${victim.id}`, { method: 'PUT', headers: plain, body: moved });
        await attempt('DELETE', `/api/annotations/${victim.id}`, { method: 'DELETE', headers: { 'if-match': `"${victim.version}"` } });
        await attempt('DELETE (no headers)', `/api/annotations/${victim.id}`, { method: 'DELETE' });
        return out;
      },
      { target, slide: SLIDE_ID, victim, smuggled: SMUGGLED },
    );
  }

  /** Asserts the page got nothing from any attempt: a refused fetch, or an opaque answer. */
  function assertGotNothing(results, secrets) {
    for (const [name, r] of Object.entries(results)) {
      if (r.error) {
        assert.match(r.error, /^TypeError: Failed to fetch/, `${name}: ${r.error}`);
        continue;
      }
      assert.deepEqual(r, { type: 'opaque', status: 0, body: '' }, `${name}: the page read an answer`);
    }
    // Nothing the page got names an annotation.
    const all = JSON.stringify(results);
    for (const s of secrets) assert.ok(!all.includes(s), `the page got ${s}`);
  }

  /**
   * Submits a `<form method=post>` built in the page (or in a sandboxed frame of it) and
   * waits until the server has answered it: { status, origin } as the browser saw them
   * for the page's own form; for the frame's, { status } from the server's count of
   * answers on `route` (Chromium blocks the framed answer, X-Frame-Options: DENY, and
   * does not always report that request to Playwright).
   */
  async function submitForm(page, { action, route, enctype, fields, sandboxed = false }) {
    const since = await answers();
    const answer = sandboxed
      ? null
      : page.waitForResponse((r) => r.url() === action && r.request().method() === 'POST', { timeout: LOAD_MS });
    await page.evaluate(
      ({ action, enctype, fields, sandboxed }) => {
        if (!sandboxed) {
          const f = document.createElement('form');
          f.method = 'post';
          f.action = action;
          f.enctype = enctype;
          for (const [name, value] of fields) {
            const input = document.createElement('input');
            input.type = 'hidden';
            input.name = name;
            input.value = value;
            f.append(input);
          }
          document.body.append(f);
          // After this evaluation returns: the submission navigates the page away.
          setTimeout(() => f.submit(), 0);
          return;
        }
        // A sandboxed frame without allow-same-origin: its requests carry `Origin: null`.
        const frame = document.createElement('iframe');
        frame.sandbox = 'allow-forms allow-scripts';
        frame.srcdoc = `<!doctype html><body><script>
          const f = document.createElement('form');
          f.method = 'post'; f.action = ${JSON.stringify(action)}; f.enctype = ${JSON.stringify(enctype)};
          for (const [n, v] of ${JSON.stringify(fields)}) {
            const i = document.createElement('input'); i.type = 'hidden'; i.name = n; i.value = v; f.append(i);
          }
          document.body.append(f); f.submit();
        <\/script></body>`;
        document.body.append(frame);
      },
      { action, enctype, fields, sandboxed },
    );
    if (!sandboxed) {
      const response = await answer;
      // The page goes on to show the answer: let that navigation end first.
      await page.waitForURL(action, { waitUntil: 'commit', timeout: LOAD_MS });
      return { status: response.status(), origin: (await response.request().allHeaders()).origin };
    }
    const deadline = Date.now() + LOAD_MS;
    for (;;) {
      const grown = Object.entries(await answersSince(since, [route]));
      if (grown.length) {
        assert.equal(grown.length, 1, `answers on ${route}: ${JSON.stringify(grown)}`);
        return { status: Number(grown[0][0].slice(route.length + 1)) };
      }
      assert.ok(Date.now() < deadline, `the sandboxed frame's form to ${action} never reached the server`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  // Every combination of the machine's two names for the page and for the server.
  const names = ['127.0.0.1', 'localhost'];
  for (const pageName of names) {
    for (const serverName of names) {
      test(`a page on http://${pageName}:OTHER reads and changes nothing on http://${serverName}:PORT`, { timeout: 60000 }, async (t) => {
        const target = `http://${serverName}:${port}`;
        const home = `http://${pageName}:${otherPort}/`;
        const page = await openPage(browser.context, t);
        const changes = watchChanges(page, target);
        const since = await answers();
        await page.goto(home);

        const results = await fetchAttacks(page, target);
        t.diagnostic(Object.entries(results).map(([k, v]) => `${k}: ${v.error ?? `${v.type} ${v.status}`}`).join('; '));
        assertGotNothing(results, before_.map((a) => a.id));

        // Forms: the GeoJSON smuggled through text/plain, an undo, a review step, and the
        // same from a sandboxed frame (Origin: null).
        const forms = [
          { route: CREATE, action: `${target}/api/slides/${SLIDE_ID}/annotations`, enctype: 'text/plain', fields: [[SMUGGLED_NAME, SMUGGLED_VALUE]] },
          { route: UNDO, action: `${target}/api/slides/${SLIDE_ID}/undo`, enctype: 'application/x-www-form-urlencoded', fields: [['undo', '1']] },
          { route: REVIEW, action: `${target}/api/annotations/${victim.id}/review`, enctype: 'text/plain', fields: [['{"status":"submitted","comment":"', '"}']] },
          { route: CREATE, action: `${target}/api/slides/${SLIDE_ID}/annotations`, enctype: 'text/plain', fields: [[SMUGGLED_NAME, SMUGGLED_VALUE]], sandboxed: true },
          { route: UNDO, action: `${target}/api/slides/${SLIDE_ID}/undo`, enctype: 'multipart/form-data', fields: [['undo', '1']], sandboxed: true },
        ];
        for (const form of forms) {
          await page.goto(home);
          const { status, origin } = await submitForm(page, form);
          const what = `form ${form.enctype} to ${form.action}${form.sandboxed ? ' from a sandboxed frame' : ` (Origin ${origin})`}`;
          assert.equal(status, 403, `${what} was answered ${status}`);
          if (!form.sandboxed) assert.equal(origin, home.replace(/\/$/, ''), `${what}: Origin`);
        }

        // The server refused what reached it, rather than the browser only hiding the
        // answers: every answer on the routes that change annotations was a 403 — the
        // page's no-cors and text/plain POSTs, its GET of an annotation, the forms, and
        // the preflights of the rest.
        const grown = await answersSince(since, CHANGING_ROUTES);
        t.diagnostic(`the server's answers meanwhile: ${JSON.stringify(grown)}`);
        for (const key of Object.keys(grown)) assert.match(key, / 403$/, `the server answered ${key}: ${JSON.stringify(grown)}`);
        const refused = Object.values(grown).reduce((a, b) => a + b, 0);
        assert.ok(refused >= 5 + forms.length, `only ${refused} requests were refused: ${JSON.stringify(grown)}`);
        for (const c of changes) assert.equal(c.status, 403, `${c.method} ${c.url} was answered ${c.status}`);
        assert.deepEqual(await annotations(), before_, 'the annotations changed');
      });
    }
  }

  test('a page on a name that resolves to the server (DNS rebinding) gets 421, even same-origin', { timeout: 60000 }, async (t) => {
    const rebound = `http://${REBIND_NAME}:${port}`;
    const page = await openPage(browser.context, t);
    // The page is in the rebound name's origin, as the attacker's page is once the name
    // points at the machine. (Loaded from the server itself: a page fulfilled from
    // elsewhere would count as a public site, and Chromium's Private Network Access
    // would refuse its requests to a loopback address before the server saw them.)
    const answer = await page.goto(`${rebound}/`);
    assert.equal(answer.status(), 421, `the page under Host ${REBIND_NAME} was answered ${answer.status()}`);
    const results = await page.evaluate(async ({ slide, smuggled }) => {
      const out = {};
      for (const [name, url, init] of [
        ['export', `/api/slides/${slide}/annotations/export`, {}],
        ['tiles', `/dzi/${slide}.dzi`, {}],
        ['create', `/api/slides/${slide}/annotations`, { method: 'POST', headers: { 'content-type': 'application/geo+json' }, body: smuggled }],
        ['undo', `/api/slides/${slide}/undo`, { method: 'POST' }],
      ]) {
        const r = await fetch(url, init);
        out[name] = { status: r.status, body: await r.text() };
      }
      return out;
    }, { slide: SLIDE_ID, smuggled: SMUGGLED });
    for (const [name, r] of Object.entries(results)) {
      assert.equal(r.status, 421, `${name} under Host ${REBIND_NAME}: ${r.status} ${r.body.slice(0, 200)}`);
      for (const a of before_) assert.ok(!r.body.includes(a.id), `${name}: the page read ${a.id}`);
    }
    assert.deepEqual(await annotations(), before_, 'the annotations changed');
  });

  // OpenSeadragon on the other origin: its script from the server, the slide from /dzi/
  // (CORS images, and plain images as OpenSeadragon loads them by default) or IIIF.
  const viewers = [
    { name: 'Deep Zoom, CORS images', source: (t) => `${t}/dzi/${SLIDE_ID}.dzi`, crossOriginPolicy: 'Anonymous', server: '127.0.0.1' },
    { name: 'Deep Zoom, plain images', source: (t) => `${t}/dzi/${SLIDE_ID}.dzi`, crossOriginPolicy: false, server: '127.0.0.1' },
    { name: 'IIIF, CORS images', source: (t) => `${t}/iiif/3/${SLIDE_ID}/info.json`, crossOriginPolicy: 'Anonymous', server: '127.0.0.1' },
    { name: 'Deep Zoom through localhost, CORS images', source: (t) => `${t}/dzi/${SLIDE_ID}.dzi`, crossOriginPolicy: 'Anonymous', server: 'localhost' },
  ];
  for (const v of viewers) {
    test(`an OpenSeadragon page on the other origin draws the slide (${v.name})`, { timeout: 60000 }, async (t) => {
      const target = v.server === 'localhost' ? `http://localhost:${port}` : base;
      const page = await openPage(browser.context, t);
      const tiles = [];
      page.on('response', (r) => {
        if (r.url().startsWith(target) && /\/(dzi|iiif)\//.test(r.url())) tiles.push({ url: r.url(), status: r.status(), cors: r.headers()['access-control-allow-origin'] });
      });
      await page.goto(`http://127.0.0.1:${otherPort}/osd?server=${v.server}`);
      assert.equal(await page.evaluate(() => typeof window.OpenSeadragon), 'function', 'OpenSeadragon did not load from the server');
      await page.evaluate(({ source, crossOriginPolicy }) => {
        window.seen = { loaded: 0, failed: [], openFailed: null };
        const viewer = window.OpenSeadragon({
          id: 'osd', tileSources: source, crossOriginPolicy, drawer: 'canvas',
          showNavigationControl: false, animationTime: 0, immediateRender: true,
        });
        viewer.addHandler('tile-loaded', () => { window.seen.loaded++; });
        viewer.addHandler('tile-load-failed', (e) => { window.seen.failed.push(`${e.tile?.getUrl?.() ?? ''}: ${e.message}`); });
        viewer.addHandler('open-failed', (e) => { window.seen.openFailed = e.message ?? String(e); });
        window.otherViewer = viewer;
      }, { source: v.source(target), crossOriginPolicy: v.crossOriginPolicy });
      await page.waitForFunction(() => {
        const { seen, otherViewer: viewer } = window;
        return seen.openFailed || seen.failed.length
          || (viewer.world.getItemCount() > 0 && viewer.world.getItemAt(0).getFullyLoaded());
      }, null, { timeout: LOAD_MS });
      await nextFrames(page, 3);
      const seen = await page.evaluate(() => window.seen);
      assert.equal(seen.openFailed, null, `OpenSeadragon could not open ${v.source(target)}: ${seen.openFailed}`);
      assert.deepEqual(seen.failed, [], 'tiles failed to load');
      assert.ok(seen.loaded > 0, 'no tile loaded');
      t.diagnostic(`${seen.loaded} tiles loaded; answers: ${tiles.length}`);
      for (const r of tiles) assert.equal(r.status, 200, `${r.url}: ${r.status}`);
      if (v.crossOriginPolicy) {
        for (const r of tiles) assert.equal(r.cors, '*', `${r.url} has no Access-Control-Allow-Origin: *`);
        // CORS images leave the canvas readable: its pixels are the slide, not blank.
        const drawn = await page.evaluate(() => {
          const canvas = window.otherViewer.drawer.canvas;
          const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
          let painted = 0;
          for (let i = 0; i < data.length; i += 4) if (data[i + 3] > 0 && Math.min(data[i], data[i + 1], data[i + 2]) < 230) painted++;
          return painted / (data.length / 4);
        });
        assert.ok(drawn > 0.05, `only ${(drawn * 100).toFixed(1)}% of the canvas is drawn`);
      }
      const png = await screenshot(page, `crosssite-osd-${v.name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}`, {
        clip: { x: 0, y: 0, width: 800, height: 600 },
      });
      const fraction = await tissueFraction(page, png);
      t.diagnostic(`tissue fraction: ${fraction.toFixed(3)}`);
      assert.ok(fraction > 0.05, `only ${(fraction * 100).toFixed(1)}% of the viewer shows tissue`);
    });
  }

  test('controls: the same smuggled body from the server\'s own origin and from Node is stored', { timeout: 60000 }, async (t) => {
    assert.deepEqual(await annotations(), before_, 'the annotations changed before the controls');
    // A page of the server's own origin: the same body, posted as text/plain, is stored.
    const page = await openPage(browser.context, t);
    await page.goto(`${base}/healthz`);
    const own = await page.evaluate(async ({ url, body }) => {
      const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'text/plain' }, body });
      return r.status;
    }, { url: `${base}/api/slides/${SLIDE_ID}/annotations`, body: SMUGGLED });
    assert.equal(own, 201, 'the server\'s own page could not post the body the attacks sent');
    // The form's text/plain body, byte for byte, without an Origin.
    const noOrigin = await api('POST', `/api/slides/${SLIDE_ID}/annotations`, `${SMUGGLED_NAME}=${SMUGGLED_VALUE}\r\n`, { 'content-type': 'text/plain' });
    assert.equal(noOrigin.status, 201, JSON.stringify(noOrigin.body));
    assert.equal((await annotations()).length, before_.length + 2);
  });
});
