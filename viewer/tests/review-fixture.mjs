// A study for the review-loop browser tests: CMU-1-Small-Region in a project with a label
// schema, three users (vera a viewer, anna an annotator, rex a reviewer), a model's
// pre-labels imported by the admin's CLI (`tessera import --provenance model`), and
// helpers to sign a page in, wait for the viewer and call the API as a user.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { SMALL, SMALL_SLIDE_ID, launchBrowser, nextFrames, runTessera, startServer, waitFullyLoaded } from './harness.mjs';

export const SLIDE_ID = SMALL_SLIDE_ID;
export const PROJECT = 'study';
export const TUMOR = [200, 50, 50];
export const SCHEMA = {
  classes: [
    { name: 'Tumor', color: '#c83232', code: 'T' },
    { name: 'Stroma', color: '#3c64c8', code: 'S' },
  ],
};
export const USERS = { vera: 'viewer', anna: 'annotator', rex: 'reviewer' };
/** The part of the slide the tests look at (level-0 pixels). */
export const REGION = [300, 700, 1300, 1100];
export const LOAD_MS = 60000;

/** A `size` px square Feature at (x, y). */
export function square(x, y, name, properties = {}, size = 100) {
  return {
    type: 'Feature',
    geometry: { type: 'Polygon', coordinates: [[[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]] },
    properties: { objectType: 'annotation', classification: { name }, ...properties },
  };
}

/**
 * Starts the server with the users, the project and `imports` (features per
 * { file, layer, args } written into the data directory first). Resolves
 * { server, tokens, api(user, url, init) }.
 */
export async function startStudy({ imports = [], logName }) {
  const tokens = {};
  const server = await startServer({
    slides: [SMALL],
    logName,
    async setup(dataDir) {
      const data = ['--data', dataDir];
      const schemaFile = path.join(dataDir, 'schema.json');
      await writeFile(schemaFile, JSON.stringify(SCHEMA));
      await runTessera(['project', 'create', PROJECT, ...data]);
      await runTessera(['project', 'add-slide', PROJECT, SLIDE_ID, ...data]);
      await runTessera(['project', 'schema', PROJECT, schemaFile, ...data]);
      for (const [i, { features, layer, args = [] }] of imports.entries()) {
        const file = path.join(dataDir, `import-${i}.geojson`);
        await writeFile(file, JSON.stringify({ type: 'FeatureCollection', features }));
        await runTessera(['import', '--data', dataDir, SLIDE_ID, file, '--layer', layer, ...args]);
      }
      for (const [name, role] of Object.entries(USERS)) {
        const { stdout } = await runTessera(['user', 'add', name, '--role', role, '--project', PROJECT, ...data]);
        tokens[name] = stdout.trim();
      }
    },
  });
  /** { status, body } of a request as `user` (a Bearer token, as another client would send it). */
  async function api(user, url, init = {}) {
    const response = await fetch(`${server.base}${url}`, { ...init, headers: { ...init.headers, authorization: `Bearer ${tokens[user]}` } });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : null };
  }
  return { server, tokens, api };
}

/**
 * A browser (its own profile) with one page signed in as `user` on the slide at REGION.
 * Uncaught page errors and every 403 answer are collected in `errors` and `refused`.
 */
export async function signedInPage(study, user, { width = 1400, height = 860 } = {}) {
  const browser = await launchBrowser({ width, height });
  const page = await browser.context.newPage();
  const errors = [];
  const refused = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('response', (r) => {
    if (r.status() === 403) refused.push(`${r.request().method()} ${new URL(r.url()).pathname}`);
  });
  await page.goto(`${study.server.base}/view/${SLIDE_ID}?region=${REGION.join(',')}`);
  await page.locator('#signin-form').waitFor({ timeout: LOAD_MS });
  await page.locator('#signin-token').fill(study.tokens[user]);
  await page.locator('#signin-submit').click();
  await viewerReady(page);
  assert.equal(await page.locator('#session-user').innerText(), user);
  return { browser, page, errors, refused };
}

/** Waits for tiles, the overlay's first answer and the tools. */
export async function viewerReady(page) {
  await waitFullyLoaded(page, LOAD_MS);
  await page.waitForFunction(() => window.tesseraTools && window.tesseraOverlay?.stats.answers > 0, null, { timeout: LOAD_MS });
}

/** Fits the view to a level-0 rectangle and waits for its tiles. */
export async function showRect(page, [x, y, w, h]) {
  await page.evaluate(([rx, ry, rw, rh]) => {
    const v = window.tesseraViewer;
    v.viewport.fitBounds(v.viewport.imageToViewportRectangle(rx, ry, rw, rh), true);
  }, [x, y, w, h]);
  await waitFullyLoaded(page, LOAD_MS);
}

/** The page coordinates of a level-0 point. */
export function pagePoint(page, x, y) {
  return page.evaluate(([ix, iy]) => {
    const v = window.tesseraViewer;
    const p = v.viewport.imageToViewerElementCoordinates(new window.OpenSeadragon.Point(ix, iy));
    const box = v.element.getBoundingClientRect();
    return [box.x + p.x, box.y + p.y];
  }, [x, y]);
}

/** Draws a rectangle of class key `classKey` over the level-0 box [x0, y0, x1, y1] with
 *  the rectangle tool, as a user drags it, and waits until the server has it. */
export async function drawRectangle(page, [x0, y0, x1, y1], classKey = '1') {
  await page.keyboard.press(classKey);
  await page.keyboard.press('r');
  const from = await pagePoint(page, x0, y0);
  const to = await pagePoint(page, x1, y1);
  await page.mouse.move(...from);
  await page.mouse.down();
  await page.mouse.move(...to, { steps: 10 });
  await page.mouse.up();
  await page.waitForFunction(() => window.tesseraTools.queue.ops.length === 0, null, { timeout: 10000 });
}

/** Selects the annotation under a level-0 point with the select tool, as a user clicks it. */
export async function clickAnnotation(page, x, y, id) {
  await page.keyboard.press('s');
  const [px, py] = await pagePoint(page, x, y);
  await page.mouse.click(px, py);
  await page.waitForFunction((want) => window.tesseraTools.selected?.id === want, id, { timeout: 10000 });
  await page.locator('#selection-body:not([hidden])').waitFor({ timeout: 10000 });
}

/** Resolves once the overlay has taken an answer newer than `since` and drawn it. */
export async function overlayAnswered(page, since) {
  await page.waitForFunction((n) => window.tesseraOverlay.stats.answers > n, since, { timeout: 20000 });
  await nextFrames(page, 3);
}
