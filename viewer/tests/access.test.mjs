// Browser test of signing in on a server with users (issue 6): the slide list and the
// slide page ask for a token, a wrong one is refused, a viewer sees the slide and its
// tiles and the class picker offers the project schema's classes with their guidelines,
// a viewer gets no drawing tools and an annotator no pre-label decisions (the server
// refuses both, naming the role needed), an annotator's polygon is saved under their name, an ended session brings the
// form back, sign-out returns to it, and the token never appears in a URL or in storage.
// The users, the project and its schema are made with the `tessera` binary before the
// server starts. Screenshots: test-results/access-*.png.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  SMALL, SMALL_SLIDE, SMALL_SLIDE_ID as SLIDE_ID, launchBrowser, missingSkip, runTessera, screenshot, startServer, waitFullyLoaded,
} from './harness.mjs';

// A running server (TESSERA_URL) cannot be given users from here.
const skip = process.env.TESSERA_URL ? 'needs its own server (TESSERA_URL is set)' : missingSkip([SMALL_SLIDE]);
const PROJECT = 'study';
const SCHEMA = {
  classes: [
    { name: 'Tumor', color: '#c83232', code: 'T', guideline: 'Invasive carcinoma: outline each nest, not single cells.' },
    { name: 'Stroma', color: '#96c896', code: 'S', guideline: 'Desmoplastic stroma around the tumour nests.' },
    { name: 'Necrosis', color: '#323232' },
  ],
};
const LOAD_MS = 60000;

describe('access control in the viewer', { skip }, () => {
  let server;
  let browser;
  let page;
  const tokens = {};
  const errors = [];
  const urls = [];

  /** JSON from the API as `user` (a Bearer token, as another client would send it). */
  async function api(user, url, init = {}) {
    const response = await fetch(`${server.base}${url}`, { ...init, headers: { ...init.headers, authorization: `Bearer ${tokens[user]}` } });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : null };
  }

  async function signIn(token) {
    await page.locator('#signin-form').waitFor({ timeout: LOAD_MS });
    await page.locator('#signin-token').fill(token);
    await page.locator('#signin-submit').click();
  }

  /** Waits for the slide page to be ready to draw: tiles, the overlay's first answer, the tools. */
  async function viewerReady() {
    await waitFullyLoaded(page, LOAD_MS);
    await page.waitForFunction(() => window.tesseraTools && window.tesseraOverlay?.stats.answers > 0, null, { timeout: LOAD_MS });
  }

  /** Draws a polygon by clicks around the viewer's centre and closes it with Enter. */
  async function drawPolygon(dx = 0) {
    const [cx, cy] = await page.evaluate(() => {
      const r = window.tesseraViewer.element.getBoundingClientRect();
      return [r.x + r.width / 2, r.y + r.height / 2];
    });
    await page.keyboard.press('p');
    for (const [x, y] of [[-200, -120], [-80, -140], [-60, -20], [-190, 0]]) await page.mouse.click(cx + x + dx, cy + y);
    await page.keyboard.press('Enter');
  }

  before(async () => {
    server = await startServer({
      slides: [SMALL],
      logName: 'server-access.log',
      async setup(dataDir) {
        const data = ['--data', dataDir];
        const schemaFile = path.join(dataDir, 'schema.json');
        await writeFile(schemaFile, JSON.stringify(SCHEMA));
        await runTessera(['project', 'create', PROJECT, ...data]);
        await runTessera(['project', 'add-slide', PROJECT, SLIDE_ID, ...data]);
        await runTessera(['project', 'schema', PROJECT, schemaFile, ...data]);
        for (const [name, role] of [['vera', 'viewer'], ['anna', 'annotator']]) {
          const { stdout } = await runTessera(['user', 'add', name, '--role', role, '--project', PROJECT, ...data]);
          tokens[name] = stdout.trim();
          assert.match(tokens[name], /^\S{20,}$/, `tessera user add printed no token: ${stdout}`);
        }
      },
    });
    browser = await launchBrowser({ width: 1200, height: 800 });
    page = await browser.context.newPage();
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('request', (r) => urls.push(r.url()));
  });

  after(async () => {
    await page?.close();
    await browser?.close();
    await server?.stop();
  });

  test('the slide list asks for a token and refuses a wrong one', { timeout: 30000 }, async () => {
    assert.equal((await fetch(`${server.base}/api/slides`)).status, 401);
    await page.goto(`${server.base}/`);
    await page.locator('#signin-form').waitFor();
    assert.equal(await page.locator('#signin-token').getAttribute('type'), 'password');
    assert.equal(await page.locator('#slides li').count(), 0);
    await signIn('tsr_not-a-token');
    const error = page.locator('#signin-error');
    await error.waitFor();
    assert.match(await error.innerText(), /Sign-in failed: the token is not valid/);
    await screenshot(page, 'access-wrong-token');
  });

  test('a viewer signs in and sees the slide list, then the slide and its tiles', { timeout: 90000 }, async () => {
    await page.locator('#signin-token').fill(tokens.vera);
    await page.locator('#signin-submit').click();
    await page.locator('#signin-form').waitFor({ state: 'detached' });
    await page.locator(`#slides a[href="/view/${SLIDE_ID}"]`).waitFor({ timeout: 10000 });
    assert.equal(await page.locator('#session-user').innerText(), 'vera');
    assert.equal(await page.locator('#session-role').innerText(), `viewer in ${PROJECT}`);
    await page.locator(`#slides a[href="/view/${SLIDE_ID}"]`).click();
    await viewerReady();
    assert.equal(await page.locator('#signin-form').count(), 0, 'the session cookie did not carry over');
    assert.equal(await page.locator('#session-role').innerText(), 'viewer');
    assert.equal(await page.locator('#sign-out').isVisible(), true);
    await screenshot(page, 'access-viewer');
  });

  test('the class picker offers the schema\'s classes with their guidelines', { timeout: 30000 }, async () => {
    await page.locator('.class-picker[data-schema="1"]').waitFor({ timeout: 10000 });
    const names = await page.locator('.class-choice').evaluateAll((bs) => bs.map((b) => b.dataset.class));
    assert.deepEqual(names, ['Tumor', 'Stroma', 'Necrosis']);
    assert.match(await page.locator('.class-picker summary').innerText(), /study schema v1/);
    assert.match(await page.locator('.class-choice[data-class="Tumor"]').getAttribute('title'), /Tumor \(T\): Invasive carcinoma/);
    assert.match(await page.locator('#class-guideline').innerText(), /Tumor \(T\): Invasive carcinoma: outline each nest/);
    // The swatch has the schema's colour.
    assert.equal(await page.locator('.class-choice[data-class="Tumor"] .swatch').evaluate((s) => s.style.background), 'rgb(200, 50, 50)');
    await page.locator('.class-choice[data-class="Stroma"]').click();
    assert.match(await page.locator('#class-guideline').innerText(), /Stroma \(S\): Desmoplastic stroma/);
    await page.keyboard.press('3');
    assert.match(await page.locator('#class-guideline').innerText(), /Necrosis: no guideline/);
    await page.keyboard.press('1');
    await screenshot(page, 'access-schema');
  });

  test('a viewer gets no drawing tools, and the drawing keys draw nothing', { timeout: 30000 }, async () => {
    assert.equal(await page.locator('#toolbar').isVisible(), false);
    await drawPolygon();
    assert.match(await page.locator('#tool-hint').innerText(), /Drawing needs role annotator \(you are viewer\)/);
    assert.equal(await page.evaluate(() => window.tesseraTools.queue.ops.length), 0);
    await screenshot(page, 'access-viewer-no-tools');
    const { body } = await api('anna', `/api/slides/${SLIDE_ID}/annotations`);
    assert.equal(body.features.length, 0);
  });

  test('sign-out returns to the form; an annotator then saves a polygon', { timeout: 90000 }, async () => {
    await page.locator('#sign-out').click();
    await page.locator('#signin-form').waitFor({ timeout: 10000 });
    assert.equal(await page.evaluate(async () => (await fetch('/api/session')).status), 401);
    await screenshot(page, 'access-signed-out');

    await signIn(tokens.anna);
    await viewerReady();
    assert.equal(await page.locator('#session-user').innerText(), 'anna');
    assert.equal(await page.locator('#session-role').innerText(), 'annotator');
    // The viewer's refused edit stays with the viewer: it is not sent as anna's.
    assert.equal(await page.evaluate(() => window.tesseraTools.queue.ops.length), 0);
    await page.keyboard.press('1');
    await drawPolygon(40);
    await page.waitForFunction(() => window.tesseraTools.queue.ops.length === 0, null, { timeout: 10000 });
    const { body } = await api('anna', `/api/slides/${SLIDE_ID}/annotations`);
    assert.equal(body.features.length, 1);
    assert.equal(body.features[0].properties.author, 'anna');
    assert.equal(body.features[0].properties.classification.name, 'Tumor');
    await screenshot(page, 'access-annotator-saved');
  });

  test('an annotator is offered no pre-label decisions (the server would refuse them)', { timeout: 30000 }, async () => {
    await page.locator('#review-panel summary').click();
    assert.equal(await page.locator('#prelabel-section').isVisible(), false);
    assert.equal(await page.locator('#review-reject').isVisible(), false);
    assert.equal(await page.locator('#review-accept').innerText(), 'Submit');
    const { status, body } = await api('anna', `/api/slides/${SLIDE_ID}/pre-labels/decide`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ decision: 'accept' }),
    });
    assert.equal(status, 403);
    assert.match(body.error, /needs role reviewer.*\(you are annotator\)/);
  });

  test('an ended session brings the form back, and signing in reloads the page', { timeout: 90000 }, async () => {
    // The session cookie is gone (as after it expires): the next request is refused.
    await browser.context.clearCookies();
    await page.evaluate(() => window.tesseraOverlay.refresh());
    await page.locator('#signin-form').waitFor({ timeout: 10000 });
    assert.match(await page.locator('#signin-reason').innerText(), /Your session has ended/);
    const reloaded = page.waitForEvent('load', { timeout: LOAD_MS });
    await signIn(tokens.anna);
    await reloaded;
    await viewerReady();
    assert.equal(await page.locator('#session-user').innerText(), 'anna');
  });

  test('the token never appears in a URL or in the page\'s storage', async () => {
    assert.ok(urls.length > 20, `only ${urls.length} requests seen`);
    for (const token of Object.values(tokens)) {
      assert.ok(!urls.some((u) => u.includes(token)), 'a token was sent in a URL');
    }
    const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie);
    for (const token of Object.values(tokens)) assert.ok(!stored.includes(token), 'a token was kept in the page');
    assert.ok(!stored.includes('tessera_session'), 'the session cookie is readable by scripts');
  });

  test('no uncaught errors in the page', () => assert.deepEqual(errors, []));
});
