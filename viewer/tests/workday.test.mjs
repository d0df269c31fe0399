// Browser test of a day's work through a cohort (issue 30), every step a click or a key:
// anna (annotator) signs in and sees only her two assigned slides, opens the first with
// the keyboard, draws a rectangle, marks the slide done (Shift+D: the confirmation lists
// her draft) and lands on her next slide; rex (reviewer) filters the list to submitted
// work, sees her slide as submitted, opens it and approves her rectangle, after which the
// slide is reviewed; the project's progress page shows the figures the API returns.
// Screenshots: test-results/workday-*.png.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { link, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { SMALL_SLIDE, launchBrowser, missingSkip, runTessera, screenshot, startServer } from './harness.mjs';
import { SCHEMA, clickAnnotation, drawRectangle, viewerReady } from './review-fixture.mjs';

const skip = process.env.TESSERA_URL ? 'needs its own server (TESSERA_URL is set)' : missingSkip([SMALL_SLIDE]);
const PROJECT = 'study';
const SLIDES = ['day-1', 'day-2', 'day-3', 'day-4'];
const USERS = { anna: 'annotator', otto: 'annotator', rex: 'reviewer' };
/** The rectangle anna draws (level-0 pixels). */
const BOX = [700, 1000, 1100, 1300];

describe('a day through a cohort: assigned, drawn, done, reviewed, counted', { skip }, () => {
  let server;
  const tokens = {};
  const browsers = [];
  let id;

  async function api(user, url) {
    const response = await fetch(`${server.base}${url}`, { headers: { authorization: `Bearer ${tokens[user]}` } });
    return { status: response.status, body: await response.json() };
  }

  /** A browser of its own, signed in as `user` on the slide list. */
  async function signedIn(user) {
    const browser = await launchBrowser({ width: 1400, height: 860 });
    browsers.push(browser);
    const page = await browser.context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${server.base}/`);
    await page.locator('#signin-form').waitFor({ timeout: 30000 });
    await page.locator('#signin-token').fill(tokens[user]);
    await page.locator('#signin-submit').click();
    await page.waitForFunction(() => window.tesseraList !== undefined, null, { timeout: 30000 });
    return { page, errors };
  }

  before(async () => {
    server = await startServer({
      slides: [{ path: SMALL_SLIDE, id: SLIDES[0] }],
      logName: 'server-workday.log',
      async setup(dataDir) {
        const data = ['--data', dataDir];
        for (const s of SLIDES.slice(1)) await link(path.join(dataDir, `${SLIDES[0]}.tess`), path.join(dataDir, `${s}.tess`));
        const schemaFile = path.join(dataDir, 'schema.json');
        await writeFile(schemaFile, JSON.stringify(SCHEMA));
        await runTessera(['project', 'create', PROJECT, ...data]);
        await runTessera(['project', 'add-slide', PROJECT, ...SLIDES, ...data]);
        await runTessera(['project', 'schema', PROJECT, schemaFile, ...data]);
        for (const [name, role] of Object.entries(USERS)) {
          const { stdout } = await runTessera(['user', 'add', name, '--role', role, '--project', PROJECT, ...data]);
          tokens[name] = stdout.trim();
        }
        await runTessera(['assign', PROJECT, 'day-1', 'day-2', '--annotator', 'anna', '--reviewer', 'rex', ...data]);
        await runTessera(['assign', PROJECT, 'day-3', '--annotator', 'otto', '--reviewer', 'rex', ...data]);
      },
    });
  });

  after(async () => {
    for (const b of browsers) await b.close();
    await server?.stop();
  });

  test('anna sees her slides, draws on the first, marks it done and lands on the next', { timeout: 120000 }, async () => {
    const { page, errors } = await signedIn('anna');
    assert.equal(await page.locator('#filter-assignee').inputValue(), 'me');
    assert.deepEqual(await page.locator('#slides tr').evaluateAll((rows) => rows.map((r) => r.dataset.id)), ['day-1', 'day-2']);
    assert.equal(await page.locator('#slides tr[data-id="day-1"] .state').innerText(), 'not started');
    await screenshot(page, 'workday-anna-list');

    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/view\/day-1$/, { timeout: 10000 });
    await viewerReady(page);
    await page.locator('#workflow:not([hidden])').waitFor({ timeout: 10000 });
    assert.equal(await page.locator('#assignment-state').innerText(), 'not started');
    assert.match(await page.locator('#assignment-who').innerText(), /annotating: anna · review: rex/);

    await drawRectangle(page, BOX, '1'); // Tumor
    const drawn = await api('anna', '/api/slides/day-1/annotations?bbox=0,0,3000,3000');
    assert.equal(drawn.body.features.length, 1);
    id = drawn.body.features[0].id;
    assert.equal(drawn.body.features[0].properties.status, 'draft');

    await page.keyboard.press('Shift+D');
    await page.locator('#confirm-dialog').waitFor({ timeout: 10000 });
    assert.match(await page.locator('#confirm-text').innerText(), /Submit your 1 draft on day-1/);
    const items = await page.locator('#confirm-items li').allInnerTexts();
    assert.equal(items.length, 1);
    assert.match(items[0], new RegExp(`^Tumor · manual · .* · ${id.slice(0, 8)}$`));
    await screenshot(page, 'workday-anna-confirm');
    await page.locator('#confirm-ok').click();
    await page.waitForURL(/\/view\/day-2$/, { timeout: 10000 });
    await page.locator('#workflow:not([hidden])').waitFor({ timeout: 10000 });
    assert.equal(await page.locator('#assignment-state').innerText(), 'not started');

    const day1 = await api('anna', '/api/slides/day-1/assignment');
    assert.equal(day1.body.state, 'submitted');
    assert.equal(day1.body.own.submitted, 1);
    assert.deepEqual(errors, []);
  });

  test('rex finds it submitted, approves it, and the slide is reviewed', { timeout: 120000 }, async () => {
    const { page, errors } = await signedIn('rex');
    assert.equal(await page.locator('#filter-assignee').inputValue(), '', 'a reviewer starts on every slide');
    await page.waitForFunction(() => window.tesseraList?.total === 4, null, { timeout: 10000 });
    await page.locator('#filter-state').selectOption('submitted');
    await page.waitForFunction(() => window.tesseraList?.total === 1, null, { timeout: 10000 });
    const row = page.locator('#slides tr[data-id="day-1"]');
    assert.equal(await row.locator('.state').innerText(), 'submitted');
    assert.match(await row.locator('.counts-cell').innerText(), /1 submitted/);
    await screenshot(page, 'workday-rex-list');
    await row.locator('a').click();
    await page.waitForURL(/\/view\/day-1$/, { timeout: 10000 });
    await viewerReady(page);
    await page.locator('#workflow:not([hidden])').waitFor({ timeout: 10000 });
    assert.equal(await page.locator('#assignment-state').innerText(), 'submitted');
    assert.equal(await page.locator('#mark-done').isHidden(), true, 'a reviewer has nothing to mark done');

    await clickAnnotation(page, (BOX[0] + BOX[2]) / 2, (BOX[1] + BOX[3]) / 2, id);
    await page.locator('#selection-actions button', { hasText: 'Mark reviewed' }).click();
    await page.locator('#selection-status', { hasText: 'reviewed' }).waitFor({ timeout: 10000 });
    await page.locator('#selection-actions button', { hasText: 'Approve' }).click();
    await page.locator('#selection-status', { hasText: 'approved' }).waitFor({ timeout: 10000 });
    const day1 = await api('rex', '/api/slides/day-1/assignment');
    assert.equal(day1.body.state, 'reviewed');
    assert.equal(day1.body.counts.approved, 1);
    assert.deepEqual(errors, []);
  });

  test('the progress page shows what the API counts', { timeout: 60000 }, async () => {
    const { page, errors } = await signedIn('rex');
    await page.goto(`${server.base}/progress/${PROJECT}`);
    await page.waitForFunction(() => window.tesseraProgress !== undefined, null, { timeout: 20000 });
    const { body: p } = await api('rex', `/api/projects/${PROJECT}/progress`);
    assert.equal(p.slides, 4);
    assert.equal(p.assigned, 3);
    assert.deepEqual(p.states, { not_started: 2, in_progress: 0, submitted: 0, reviewed: 1 });
    const anna = p.annotators.find((a) => a.user === 'anna');
    assert.deepEqual(anna.slides, { not_started: 1, in_progress: 0, submitted: 0, reviewed: 1 });
    assert.equal(anna.annotations.approved, 1);
    assert.equal(anna.per_day.reduce((n, d) => n + d.done, 0), 1);
    const rexRow = p.reviewers.find((a) => a.user === 'rex');
    assert.equal(rexRow.assigned, 3);
    assert.equal(rexRow.per_day.reduce((n, d) => n + d.review_steps, 0), 2);
    // The page shows the same figures.
    for (const s of Object.keys(p.states)) {
      assert.equal(await page.locator(`#states td[data-key="${s}"]`).innerText(), String(p.states[s]), s);
    }
    for (const a of p.annotators) {
      const tr = page.locator(`#annotators tr[data-user="${a.user}"]`);
      for (const s of Object.keys(a.slides)) assert.equal(await tr.locator(`td[data-key="${s}"]`).innerText(), String(a.slides[s]), `${a.user} ${s}`);
      for (const s of Object.keys(a.annotations)) {
        assert.equal(await tr.locator(`td[data-key="annotations.${s}"]`).innerText(), String(a.annotations[s]), `${a.user} ${s}`);
      }
    }
    assert.equal(await page.locator('#reviewers tr[data-user="rex"] td[data-key="reviewed"]').innerText(), '1');
    await screenshot(page, 'workday-progress', { fullPage: true });
    assert.deepEqual(errors, []);
  });
});
